//! Fuzz targets: each takes arbitrary bytes and panics only on a finding (a decoder or
//! validator that panics, a round trip that changes a value, a broken engine invariant).
//! `fuzz/` (cargo-fuzz, nightly, outside the workspace) drives them coverage-guided;
//! `tests/corpus.rs` replays the committed corpus through them on stable, in CI.
//!
//! - [`bytes`]: a reader that turns fuzz bytes into choices.
//! - [`decoders`]: every envelope and body decoder, and the policy TOML.
//! - [`ingest`]: ingest's validation of a request (subject and body).
//! - [`engine`]: `Engine::step` on event sequences, with the invariants as the oracle.

pub mod bytes;
pub mod decoders;
pub mod engine;
pub mod ingest;

/// Every target by name: the corpus directory under `fuzz/corpus/` and the function.
pub const TARGETS: [(&str, fn(&[u8])); 5] = [
    ("envelope", decoders::envelope),
    ("event", decoders::event),
    ("policy_toml", decoders::policy_toml),
    ("ingest", ingest::validate),
    ("engine", engine::steps),
];
