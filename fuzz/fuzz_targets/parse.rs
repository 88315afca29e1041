#![no_main]
//! Any bytes, as a UDP datagram and as a TCP stream: parse, validate,
//! re-emit. See `sip::fuzzing::parse` for the invariants checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sip::fuzzing::parse(data));
