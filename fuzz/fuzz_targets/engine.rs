#![no_main]
//! cargo-fuzz target `engine`: see `qm_fuzz::engine::steps`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| qm_fuzz::engine::steps(data));
