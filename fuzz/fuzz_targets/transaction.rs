#![no_main]
//! Any bytes, as a script of transaction-layer inputs (messages over UDP and
//! TCP, TU responses and requests, clock jumps, transport errors). See
//! `sip::fuzzing::transaction`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sip::fuzzing::transaction(data));
