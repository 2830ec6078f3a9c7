#![no_main]
//! cargo-fuzz target `policy_toml`: see `qm_fuzz::decoders::policy_toml`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| qm_fuzz::decoders::policy_toml(data));
