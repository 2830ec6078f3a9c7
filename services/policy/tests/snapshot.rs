//! A snapshot is only a cache: state from snapshot + tail equals state from the whole
//! log, and the decisions taken after the snapshot are the same as without it. Pure: a
//! synthetic log, no NATS.

use qm_core::Engine;
use qm_model::{Decision, PolicyConfig};
use qm_policy::snapshot::{Snapshot, SnapshotLoadError};
use qm_policy::synthetic::{SyntheticConfig, SyntheticLog};

type Log = Vec<(u64, i64, qm_model::LogEvent)>;

fn fold(engine: &mut Engine, log: &[(u64, i64, qm_model::LogEvent)]) -> Vec<(u64, Vec<Decision>)> {
    log.iter().map(|(seq, time, event)| (*seq, engine.step(*seq, *time, event))).filter(|(_, d)| !d.is_empty()).collect()
}

fn log(seed: u64, len: usize) -> Log {
    SyntheticLog::new(SyntheticConfig { seed, workloads: 60, demand_one_in: 20, ..Default::default() }).take(len).collect()
}

#[test]
fn snapshot_plus_tail_equals_the_full_log_at_every_cut() {
    let policy = PolicyConfig::default();
    for seed in [1, 7, 42] {
        let log = log(seed, 3_000);
        let mut full = Engine::new(policy.clone());
        let full_decisions = fold(&mut full, &log);
        assert!(full_decisions.len() > 50, "seed {seed}: the log should make the engine decide often");
        assert!(full.status().workloads.iter().any(|w| !w.granted.is_empty()), "seed {seed}: some grants expected");

        for cut in [0, 1, 17, 500, 1_234, 2_999, 3_000] {
            let mut head = Engine::new(policy.clone());
            let head_decisions = fold(&mut head, &log[..cut]);
            let bytes = Snapshot::encode(&head, &policy).expect("encodes");
            let snapshot = Snapshot::decode(&bytes, &policy).unwrap_or_else(|e| panic!("seed {seed} cut {cut}: {e}"));
            assert_eq!(snapshot.seq, cut as u64);
            assert_eq!(snapshot.engine, head, "seed {seed} cut {cut}: the round trip changed the engine");

            let mut resumed = snapshot.engine;
            let tail_decisions = fold(&mut resumed, &log[cut..]);
            assert_eq!(resumed, full, "seed {seed} cut {cut}: snapshot + tail differs from the full log");
            let mut joined = head_decisions;
            joined.extend(tail_decisions);
            assert_eq!(joined, full_decisions, "seed {seed} cut {cut}: decisions differ");
        }
    }
}

#[test]
fn a_snapshot_under_another_policy_file_or_damaged_is_refused() {
    let policy = PolicyConfig::default();
    let mut engine = Engine::new(policy.clone());
    fold(&mut engine, &log(3, 200));
    let bytes = Snapshot::encode(&engine, &policy).expect("encodes");

    let other = PolicyConfig { version: "other-file".into(), ..PolicyConfig::default() };
    assert!(matches!(Snapshot::decode(&bytes, &other), Err(SnapshotLoadError::OtherPolicyFile { .. })));
    assert!(matches!(Snapshot::decode(&bytes[..bytes.len() / 2], &policy), Err(SnapshotLoadError::Decode(_))));
    assert!(matches!(Snapshot::decode(b"\xc1", &policy), Err(SnapshotLoadError::Decode(_))));
}
