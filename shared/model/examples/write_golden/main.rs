//! Writes the golden vectors in `schemas/golden/`: one `.msgpack` (the bytes on the
//! wire) and one `.json` (the same value through serde_json, for people) per case.
//!
//! Run `cargo run -p qm-model --example write_golden` after a deliberate change to the
//! encoding, review the diff of `schemas/golden/`, and commit it with the change. The
//! test `tests/golden.rs` only reads these files, so an accidental change fails it.
//!
//! A file's name says how to read it (`tests/golden.rs` dispatches on the prefix):
//! `input.*`, `decision.*`, `actuation.*`, `dead.*` are envelopes as stored in
//! `QM_INPUT`, `QM_DECISIONS`, `QM_ACTUATION`, `QM_DEAD`; `request.*` is a bare
//! `InputEvent` as sent to ingest on `qm.in.>`; `reply.*` is a bare `IngestReply`.
mod fleet;
mod messages;
// The golden test's own case type: one list of kinds for the writer and the reader.
#[allow(dead_code)]
#[path = "../../tests/golden/vectors.rs"]
mod vectors;

use messages::*;
use std::path::{Path, PathBuf};
use vectors::Decoded as Golden;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = golden_dir();
    std::fs::create_dir_all(&dir)?;
    // Start clean so a case removed here does not linger as a stale vector.
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if matches!(path.extension().and_then(|e| e.to_str()), Some("msgpack" | "json")) {
            std::fs::remove_file(path)?;
        }
    }
    let cases = cases();
    for (name, golden) in &cases {
        let (bytes, json) = golden.encode()?;
        write(&dir, name, "msgpack", &bytes)?;
        write(&dir, name, "json", json.as_bytes())?;
    }
    println!("wrote {} golden vectors to {}", cases.len(), dir.display());
    Ok(())
}

fn golden_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/golden");
    dir.canonicalize().unwrap_or(dir)
}

fn write(dir: &Path, name: &str, ext: &str, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(dir.join(format!("{name}.{ext}")), bytes)
}

fn cases() -> Vec<(String, Golden)> {
    let mut cases = Vec::new();
    cases.extend(inputs().into_iter().map(|(n, e)| (format!("input.{n}"), Golden::Input(e))));
    cases.extend(decisions().into_iter().map(|(n, e)| (format!("decision.{n}"), Golden::Decision(e))));
    cases.extend(actuations().into_iter().map(|(n, e)| (format!("actuation.{n}"), Golden::Actuation(e))));
    cases.push(("dead.InputRejected".to_owned(), Golden::Dead(dead_letter())));
    cases.extend(requests().into_iter().map(|(n, v)| (format!("request.{n}"), Golden::Request(v))));
    cases.extend(replies().into_iter().map(|(n, v)| (format!("reply.{n}"), Golden::Reply(v))));
    cases
}
