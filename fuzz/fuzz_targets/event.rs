#![no_main]
//! cargo-fuzz target `event`: see `qm_fuzz::decoders::event`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| qm_fuzz::decoders::event(data));
