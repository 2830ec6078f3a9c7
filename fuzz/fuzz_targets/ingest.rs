#![no_main]
//! cargo-fuzz target `ingest`: see `qm_fuzz::ingest::validate`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| qm_fuzz::ingest::validate(data));
