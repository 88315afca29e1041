#![no_main]
//! Any bytes, as a dial string and as a written number. See
//! `numbering::fuzzing::dial` for the invariants checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| numbering::fuzzing::dial(data));
