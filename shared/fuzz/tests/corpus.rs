//! The fuzz corpus on stable, in CI: every file of `fuzz/corpus/<target>/` through its
//! target, then a bounded, seeded mutation run from those files (bit flips, byte
//! changes, inserts, cuts, splices). No coverage guidance (that is `fuzz/`, on nightly):
//! this keeps what fuzzing found fixed and shakes the corpus a little on every run.
//! `QM_FUZZ_MUTATIONS` sets mutations per corpus file (default 20); a failing input is
//! written to `target/fuzz-findings/` and its target and seed printed.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target)
}

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(corpus_dir(target))
        .unwrap_or_else(|e| panic!("fuzz/corpus/{target}: {e}"))
        .filter_map(Result::ok)
        .map(|entry| (entry.file_name().to_string_lossy().into_owned(), std::fs::read(entry.path()).expect("read")))
        .collect();
    files.sort();
    files
}

/// xorshift64: the mutation run's one source of choices.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

fn mutate(input: &[u8], other: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(out.len() + 1);
        let last = out.len().saturating_sub(1);
        match rng.below(5) {
            0 if !out.is_empty() => out[at.min(last)] ^= 1 << rng.below(8),
            1 if !out.is_empty() => out[at.min(last)] = [0, 0xff, 0x7f, 0x80, 0xc0, 0xc1][rng.below(6)],
            2 => out.insert(at, rng.below(256) as u8),
            3 => out.truncate(at),
            _ => {
                let from = rng.below(other.len() + 1);
                out.splice(at.., other[from..].iter().copied());
            }
        }
    }
    out
}

fn run_or_report(target: &str, run: fn(&[u8]), input: &[u8], what: &str) {
    if catch_unwind(AssertUnwindSafe(|| run(input))).is_err() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/fuzz-findings");
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(format!("{target}-{}", what.replace(['/', ' '], "_")));
        let _ = std::fs::write(&path, input);
        panic!("fuzz target {target} failed on {what}; input written to {}", path.display());
    }
}

#[test]
fn every_corpus_file_passes_its_target() {
    for (target, run) in qm_fuzz::TARGETS {
        let files = corpus(target);
        assert!(!files.is_empty(), "fuzz/corpus/{target} is empty");
        for (name, bytes) in &files {
            run_or_report(target, run, bytes, name);
        }
        println!("{target}: {} corpus files", files.len());
    }
}

#[test]
fn seeded_mutations_of_the_corpus_pass_their_targets() {
    let per_file: usize = std::env::var("QM_FUZZ_MUTATIONS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    for (target, run) in qm_fuzz::TARGETS {
        let files = corpus(target);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut executions = 0;
        for (i, (name, bytes)) in files.iter().enumerate() {
            for n in 0..per_file {
                let other = &files[(i + n + 1) % files.len()].1;
                let input = mutate(bytes, other, &mut rng);
                run_or_report(target, run, &input, &format!("{name} mutation {n}"));
                executions += 1;
            }
        }
        println!("{target}: {executions} mutated inputs");
    }
}
