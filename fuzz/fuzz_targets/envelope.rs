#![no_main]
//! cargo-fuzz target `envelope`: see `qm_fuzz::decoders::envelope`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| qm_fuzz::decoders::envelope(data));
