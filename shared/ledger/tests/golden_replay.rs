//! The golden replay fixture: a committed log and the exact decision envelopes the core
//! made for it (`tests/fixtures/golden_replay.*.frames`, written by
//! `cargo run -p qm-ledger --example write_golden_replay`). Replaying the log must give
//! the same bytes, through the same `verify` that `qm replay` runs: a change to any rule,
//! any formula or the maths under them shows up here, and so does a machine or
//! toolchain that computes differently. Regenerate only on purpose, saying why.

use qm_core::Engine;
use qm_ledger::frames::read_frames;
use qm_ledger::verify::verify;
use qm_model::*;
use std::collections::BTreeSet;

const LOG: &[u8] = include_bytes!("fixtures/golden_replay.log.frames");
const DECISIONS: &[u8] = include_bytes!("fixtures/golden_replay.decisions.frames");

fn log() -> Vec<LogRecord> {
    let frames = read_frames(LOG).expect("log frames");
    frames.iter().map(|f| decode_value::<LogRecord>(f).expect("a log record")).collect()
}

fn recorded() -> Vec<&'static [u8]> {
    read_frames(DECISIONS).expect("decision frames")
}

#[test]
fn replaying_the_golden_log_gives_the_recorded_decisions_byte_for_byte() {
    let log = log();
    let recorded = recorded();
    let report = verify(&log, &recorded);
    assert!(report.matches(), "{report:#?}");
    assert_eq!(report.entries_folded, log.len() as u64);
    assert_eq!(report.decisions_recomputed, recorded.len() as u64);
    assert_eq!(report.decisions_matched, recorded.len() as u64);
}

#[test]
fn full_rounds_alone_give_the_same_bytes_and_the_log_takes_the_incremental_path() {
    // The fixture pins both paths: forced full rounds must reproduce it too, and the
    // default engine must have decided a fair number of entries incrementally. Only
    // while rounds are not batched: with `round_batch_ms` a forced full round waits for
    // the batch where the incremental path decides at once, by design.
    let log = log();
    let recorded = recorded();
    let mut fast = Engine::new(PolicyConfig::default());
    let mut full = Engine::new(PolicyConfig::default());
    full.set_full_rounds_only(true);
    let mut at = 0;
    for record in &log {
        if full.policy().round_batch_ms > 0 {
            break;
        }
        let a = fast.step(record.sequence, record.time_ms, &record.event);
        let b = full.step(record.sequence, record.time_ms, &record.event);
        assert_eq!(a, b, "paths differ at seq {}", record.sequence);
        for (i, d) in b.into_iter().enumerate() {
            let envelope = decision_envelope(record.into(), i as u32, &full.policy().version, false, d);
            assert_eq!(encode(&envelope).expect("encode"), recorded[at], "decision {at} (seq {})", record.sequence);
            at += 1;
        }
    }
    assert!(at > recorded.len() / 2, "compared {at} of {} decisions", recorded.len());
    assert!(fast.incremental_steps() >= 20, "only {} incremental steps", fast.incremental_steps());
}

#[test]
fn the_golden_log_exercises_every_event_and_the_decisions_every_rule() {
    let mut events = BTreeSet::new();
    for record in log() {
        events.insert(match &record.event {
            LogEvent::Input(e) => e.type_name(),
            LogEvent::Actuation(e) => e.type_name(),
        });
    }
    let all_events = [
        "PoolDeclared",
        "PoolRetired",
        "TeamDeclared",
        "PolicyPublished",
        "DemandDeclared",
        "UsageReported",
        "WorkloadFinished",
        "Tick",
        "GrantApplied",
        "DrainRequested",
        "GrantRevoked",
        "ActuationFailed",
    ];
    assert_eq!(events, all_events.into_iter().collect(), "event kinds in the log");
    let mut rules = BTreeSet::new();
    let mut causes = BTreeSet::new();
    let mut versions = BTreeSet::new();
    for bytes in recorded() {
        let body = decode::<DecisionRecorded>(bytes).expect("a decision envelope").body;
        rules.insert(body.decision.reason.rule.to_string());
        versions.insert(body.policy_version);
        if let Action::Reclaim { cause, .. } = body.decision.action {
            causes.insert(cause);
        }
    }
    let all_rules = [
        RuleId::AwaitingReclaim,
        RuleId::Borrow,
        RuleId::CriticalPreemption,
        RuleId::DemandDrop,
        RuleId::FairShare,
        RuleId::FasterTypeSoon,
        RuleId::Finished,
        RuleId::GangNoFit,
        RuleId::GraceOver,
        RuleId::Guarantee,
        RuleId::IdleGiveBack,
        RuleId::MinLifetime,
        RuleId::Move,
        RuleId::NoAcceptedPool,
        RuleId::NoCapacity,
        RuleId::OwnerReclaim,
        RuleId::PoolRetired,
        RuleId::PoolShrink,
        RuleId::TeamLimit,
        RuleId::UnknownTeam,
    ];
    assert_eq!(rules, all_rules.iter().map(|r| r.to_string()).collect(), "rules in the decisions");
    let all_causes = [ReclaimCause::IdleGiveBack, ReclaimCause::OwnerReclaim, ReclaimCause::Preemption, ReclaimCause::Move];
    assert_eq!(causes, all_causes.into_iter().collect());
    assert_eq!(versions, ["default-1", "golden-2", "golden-3"].map(String::from).into_iter().collect());
}
