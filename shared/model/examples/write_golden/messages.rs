//! The golden messages, by log: input, decisions, actuation reports, a dead letter,
//! requests to ingest and its replies. Ids and times are fixed, so vectors are stable.

use crate::fleet::*;
use qm_model::*;

/// 2026-01-01T00:00:00Z: every golden time is an offset from here, so vectors are stable.
pub const T0_MS: i64 = 1_767_225_600_000;
/// `deterministic_id` stream tags for golden ids. 2 is what the policy service uses for
/// decisions; the others only keep golden ids of different logs apart (ingest and the
/// actuator use random UUIDv7s).
const INPUT_TAG: u8 = 1;
const DECISION_TAG: u8 = 2;
const ACTUATION_TAG: u8 = 3;
const DEAD_TAG: u8 = 4;
/// The source the actuator writes in its envelopes (services/actuator, `source`).
const ACTUATION_SOURCE: &str = "actuator";
/// Sequence of the golden `Tick` in `QM_INPUT` (the tenth input).
const TICK_SEQ: u64 = 10;

/// The id ingest gave the input stored at `sequence` (deterministic here, random in ingest).
fn input_id(sequence: u64) -> Uuid {
    deterministic_id(input_time(sequence), INPUT_TAG, sequence, 0)
}

/// Inputs are a second apart, except the tick, which comes after the reclaim's grace.
fn input_time(sequence: u64) -> i64 {
    if sequence == TICK_SEQ {
        return reclaim_deadline_ms() + 2_000;
    }
    T0_MS + i64::try_from(sequence).unwrap_or(0) * 1_000
}

/// The deadline of the reclaims decided on the usage report (sequence 8), 600 s grace.
fn reclaim_deadline_ms() -> i64 {
    input_time(8) + 600_000
}

/// Input as stored in `QM_INPUT`, one per variant, at sequences 1 to 11.
pub fn inputs() -> Vec<(&'static str, Envelope<InputEvent>)> {
    let events = [
        ("PoolDeclared", InputEvent::PoolDeclared(h100_pool())),
        ("PoolRetired", InputEvent::PoolRetired { pool: "use-a100".into() }),
        ("TeamDeclared.high", InputEvent::TeamDeclared(team("llm-training", PriorityTier::High))),
        ("TeamDeclared.critical", InputEvent::TeamDeclared(team("inference", PriorityTier::Critical))),
        ("PolicyPublished", InputEvent::PolicyPublished(policy())),
        (
            "DemandDeclared.training",
            InputEvent::DemandDeclared { spec: spec(WorkloadKind::Training), chips_desired: 32 },
        ),
        (
            "DemandDeclared.inference",
            InputEvent::DemandDeclared { spec: spec(WorkloadKind::Inference), chips_desired: 16 },
        ),
        ("UsageReported", InputEvent::UsageReported { workload: "llama-ft-7".into(), chips_busy: 27.5, window_s: 60 }),
        ("WorkloadFinished", InputEvent::WorkloadFinished { workload: "llama-ft-7".into() }),
        ("Tick", InputEvent::Tick),
        ("HaltResolved", InputEvent::HaltResolved { sequence: 9, resolution: HaltResolution::Skip }),
    ];
    events
        .into_iter()
        .zip(1u64..)
        .map(|((name, event), sequence)| {
            let source = if matches!(event, InputEvent::Tick) { "ingest" } else { "qm-cli" };
            (name, Envelope::new(input_id(sequence), input_time(sequence), source, None, event))
        })
        .collect()
}

/// A reason with figures.
fn reason(rule: &str, message: &str, figures: &[(&str, f64)]) -> Reason {
    figures.iter().fold(Reason::new(rule.into(), message), |r, &(name, value)| r.with(name.into(), value))
}

/// Decisions as stored in `QM_DECISIONS`: every action, and every reclaim cause.
pub fn decisions() -> Vec<(&'static str, Envelope<DecisionRecorded>)> {
    let reclaim = |cause, chips| Action::Reclaim {
        pool: "use-h100".into(),
        chips,
        grace_s: 600,
        deadline_ms: reclaim_deadline_ms(),
        cause,
    };
    let rows: Vec<(&'static str, u64, Action, Reason)> = vec![
        (
            "Grant",
            6,
            Action::Grant { pool: "use-h100".into(), chips: 32 },
            reason(
                "guarantee",
                "llm-training holds 0 of its guarantee of 48",
                &[("team_held", 0.0), ("guarantee", 48.0)],
            ),
        ),
        (
            "Reclaim.idle_give_back",
            8,
            reclaim(ReclaimCause::IdleGiveBack, 32),
            reason(
                "idle_give_back",
                "27.5 of 32 chips busy over 600 s",
                &[("chips_busy", 27.5), ("chips_granted", 32.0), ("idle_threshold_fraction", 0.5)],
            ),
        ),
        (
            "Reclaim.owner_reclaim",
            8,
            reclaim(ReclaimCause::OwnerReclaim, 16),
            reason(
                "owner_reclaim",
                "inference wants back lent capacity",
                &[("owner_held", 16.0), ("owner_guarantee", 32.0)],
            ),
        ),
        (
            "Reclaim.preemption",
            8,
            reclaim(ReclaimCause::Preemption, 8),
            reason("preemption", "critical work outranks high", &[("gain", 3_600.0), ("preemption_cost", 600.0)]),
        ),
        (
            "Reclaim.move",
            8,
            reclaim(ReclaimCause::Move, 0),
            reason(
                "placement",
                "h200 gives more throughput per dollar",
                &[("value_from", 0.2034), ("value_to", 0.2359)],
            ),
        ),
        (
            "Reclaim.pool_shrink",
            8,
            reclaim(ReclaimCause::PoolShrink, 24),
            reason("pool_shrink", "use-h100 has 56 healthy chips", &[("healthy_chips", 56.0)]),
        ),
        (
            "Revoke",
            TICK_SEQ,
            Action::Revoke { pool: "use-h100".into(), chips: 24 },
            reason("grace_over", "the drain grace of 600 s is over", &[("deadline_ms", reclaim_deadline_ms() as f64)]),
        ),
        ("Release", 9, Action::Release { pool: "use-h100".into() }, reason("finished", "llama-ft-7 finished", &[])),
        (
            "Pending",
            7,
            Action::Pending { chips_wanted: 16 },
            reason("no_capacity", "no accepted pool has 16 free chips", &[("chips_free", 8.0), ("chips_wanted", 16.0)]),
        ),
    ];
    rows.into_iter()
        .map(|(name, sequence, action, reason)| {
            let index = 0;
            // Sequence 7 is chat-serve's demand; every other row is about llama-ft-7.
            let (workload, team) =
                if sequence == 7 { ("chat-serve", "inference") } else { ("llama-ft-7", "llm-training") };
            let body = DecisionRecorded {
                input_seq: sequence,
                index,
                policy_version: "2026-01-a".into(),
                // One shadow-mode decision, so `advisory: true` has a vector too.
                advisory: name == "Pending",
                decision: Decision { workload: workload.into(), team: team.into(), action, reason },
            };
            let time_ms = input_time(sequence);
            let id = deterministic_id(time_ms, DECISION_TAG, sequence, index);
            (name, Envelope::new(id, time_ms, DECISION_SOURCE, Some(input_id(sequence)), body))
        })
        .collect()
}

/// Actuation reports as stored in `QM_ACTUATION`, one per variant (and a failure with no pool).
pub fn actuations() -> Vec<(&'static str, Envelope<ActuationEvent>)> {
    let decision_id = |sequence: u64| deterministic_id(input_time(sequence), DECISION_TAG, sequence, 0);
    let workload = || WorkloadId::from("llama-ft-7");
    let pool = || PoolId::from("use-h100");
    let rows = [
        (
            "GrantApplied",
            6,
            ActuationEvent::GrantApplied { decision_id: decision_id(6), workload: workload(), pool: pool(), chips: 32 },
        ),
        (
            "DrainRequested",
            8,
            ActuationEvent::DrainRequested {
                decision_id: decision_id(8),
                workload: workload(),
                pool: pool(),
                chips: 24,
                deadline_ms: reclaim_deadline_ms(),
            },
        ),
        (
            "GrantRevoked",
            TICK_SEQ,
            ActuationEvent::GrantRevoked {
                decision_id: decision_id(TICK_SEQ),
                workload: workload(),
                pool: pool(),
                chips: 24,
            },
        ),
        (
            "ActuationFailed",
            6,
            ActuationEvent::ActuationFailed {
                decision_id: decision_id(6),
                workload: workload(),
                pool: Some(pool()),
                error: "backend refused: quota exceeded".into(),
            },
        ),
        // The type allows a failure about no pool; today's actuator always names one.
        (
            "ActuationFailed.no_pool",
            9,
            ActuationEvent::ActuationFailed {
                decision_id: decision_id(9),
                workload: workload(),
                pool: None,
                error: "workload unknown to the backend".into(),
            },
        ),
        // What the actuator reports for a `Release` (the workload finished, sequence 9).
        (
            "GrantRevoked.release",
            9,
            ActuationEvent::GrantRevoked { decision_id: decision_id(9), workload: workload(), pool: pool(), chips: 0 },
        ),
    ];
    rows.into_iter()
        .enumerate()
        .map(|(i, (name, decided_at, event))| {
            let time_ms = input_time(decided_at) + 250;
            let id = deterministic_id(time_ms, ACTUATION_TAG, decided_at, u32::try_from(i).unwrap_or(0));
            let cause = event.decision_id();
            (name, Envelope::new(id, time_ms, ACTUATION_SOURCE, Some(cause), event))
        })
        .collect()
}

/// A demand that ingest refused (chips_min 0), kept with its raw bytes.
pub fn dead_letter() -> Envelope<InputRejected> {
    let bad = InputEvent::DemandDeclared {
        spec: WorkloadSpec { chips_min: 0, ..spec(WorkloadKind::Batch) },
        chips_desired: 8,
    };
    let payload = encode_value(&bad).unwrap_or_default();
    let body = InputRejected {
        subject: "qm.in.demand.research.sdxl-batch-3".into(),
        error: "OutOfRange: chips_min = 0 is outside 1..=100000".into(),
        payload,
    };
    let time_ms = input_time(20);
    Envelope::new(deterministic_id(time_ms, DEAD_TAG, 1, 0), time_ms, "ingest", None, body)
}

/// Bare requests to ingest, covering the tiers and kinds the stored input does not.
pub fn requests() -> Vec<(&'static str, InputEvent)> {
    vec![
        ("PoolDeclared", InputEvent::PoolDeclared(tpu_pool())),
        ("PoolRetired", InputEvent::PoolRetired { pool: "ase-tpu-v5e".into() }),
        ("TeamDeclared.normal", InputEvent::TeamDeclared(team("research", PriorityTier::Normal))),
        ("TeamDeclared.low", InputEvent::TeamDeclared(team("scavenger", PriorityTier::Low))),
        ("PolicyPublished.default", InputEvent::PolicyPublished(PolicyConfig::default())),
        ("DemandDeclared.batch", InputEvent::DemandDeclared { spec: spec(WorkloadKind::Batch), chips_desired: 16 }),
        (
            "DemandDeclared.interactive",
            InputEvent::DemandDeclared { spec: spec(WorkloadKind::Interactive), chips_desired: 0 },
        ),
        (
            "UsageReported",
            InputEvent::UsageReported { workload: "chat-serve".into(), chips_busy: 15.25, window_s: 300 },
        ),
        ("WorkloadFinished", InputEvent::WorkloadFinished { workload: "sdxl-batch-3".into() }),
    ]
}

/// Ingest's replies: accepted, a repeat, and every reject code.
pub fn replies() -> Vec<(&'static str, IngestReply)> {
    let rejected = |code, message: &str| IngestReply::Rejected { code, message: message.to_owned() };
    vec![
        ("Accepted", IngestReply::Accepted { event_id: input_id(6), sequence: 6, duplicate: false }),
        ("Accepted.duplicate", IngestReply::Accepted { event_id: input_id(6), sequence: 6, duplicate: true }),
        (
            "Rejected.malformed",
            rejected(
                RejectCode::Malformed,
                "malformed message: at DemandDeclared.spec.chips_min: invalid type: string \"8\", expected u32",
            ),
        ),
        ("Rejected.too_large", rejected(RejectCode::TooLarge, "message of 70000 bytes exceeds the limit of 65536")),
        (
            "Rejected.bad_subject",
            rejected(RejectCode::BadSubject, "a UsageReported cannot be sent to qm.in.pool.use-h100"),
        ),
        ("Rejected.out_of_range", rejected(RejectCode::OutOfRange, "chips_min = 0 is outside 1..=100000")),
        ("Rejected.unknown", rejected(RejectCode::Unknown, "team research was never declared")),
        (
            "Rejected.forbidden",
            rejected(RejectCode::Forbidden, "workload chat-serve belongs to team inference, not research"),
        ),
        ("Rejected.unavailable", rejected(RejectCode::Unavailable, "cannot publish to QM_INPUT: timed out")),
        (
            "Rejected.conflict",
            rejected(
                RejectCode::Conflict,
                "idempotency key \"llama-ft-7-resize-3\" was used for a different request (stored at input sequence 6)",
            ),
        ),
        (
            "Rejected.unsupported_version",
            rejected(RejectCode::UnsupportedVersion, "request schema version 2: this ingest reads versions 1 to 1"),
        ),
        (
            "Rejected.rate_limited",
            rejected(
                RejectCode::RateLimited,
                "team research sent more than 2000 requests/s (burst 4000): retry later with the same idempotency key",
            ),
        ),
    ]
}
