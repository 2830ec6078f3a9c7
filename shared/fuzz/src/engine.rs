//! `Engine::step` on arbitrary event sequences over a small fleet, with the core's
//! invariants as the oracle: no panic; never more chips decided in a pool than it has
//! healthy; a critical workload is never reclaimed; a revoke after a grace only once the
//! grace is over; the same log gives the same decisions, byte for byte, whether folded
//! in one engine or in one restored from a snapshot taken midway.

use crate::bytes::Bytes;
use qm_core::fixtures::{ack_of, pool, spec, team};
use qm_core::Engine;
use qm_model::{encode_value, Action, ActuationEvent, Decision, InputEvent, LogEvent, PolicyConfig, PriorityTier, RuleId};
use std::collections::BTreeMap;

const TYPES: [&str; 3] = ["h100", "a100", "l4"];
const TEAMS: [&str; 3] = ["t0", "t1", "t2"];
const WORKLOADS: u32 = 6;

/// The log the bytes describe: fleet declarations, then demand, usage, finishes, ticks,
/// pool health changes and actuation reports (acks of what was decided, or failures).
/// Built against a reference engine, because actuation reports answer its decisions.
fn log_of(data: &[u8]) -> Vec<(i64, LogEvent)> {
    let mut b = Bytes::new(data);
    let mut log = Vec::new();
    let policy = PolicyConfig { round_batch_ms: if b.byte() % 4 == 0 { 60_000 } else { 0 }, ..PolicyConfig::default() };
    log.push((0, LogEvent::Input(InputEvent::PolicyPublished(policy))));
    for (i, id) in ["p0", "p1", "p2"].iter().enumerate() {
        let chips = b.below(24);
        log.push((0, LogEvent::Input(InputEvent::PoolDeclared(pool(id, "r", TYPES[i], chips)))));
    }
    for id in TEAMS {
        let tier = [PriorityTier::Low, PriorityTier::Normal, PriorityTier::High, PriorityTier::Critical][b.below(4) as usize];
        let declared = qm_model::Team { tier, ..team(id, f64::from(b.below(12))) };
        log.push((0, LogEvent::Input(InputEvent::TeamDeclared(declared))));
    }
    let mut engine = Engine::new(PolicyConfig::default());
    let mut unacked: Vec<Decision> = Vec::new();
    let (mut seq, mut now_ms) = (0u64, 0i64);
    let mut fold = |engine: &mut Engine, log: &mut Vec<(i64, LogEvent)>, unacked: &mut Vec<Decision>, from: usize| {
        for (time, event) in &log[from..] {
            seq += 1;
            unacked.extend(engine.step(seq, *time, event));
        }
    };
    fold(&mut engine, &mut log, &mut unacked, 0);
    while !b.is_empty() && log.len() < 400 {
        let from = log.len();
        let w = b.below(WORKLOADS);
        let id = format!("w{w}");
        let event = match b.below(8) {
            0 | 1 => {
                let accepts: Vec<(&str, f64)> = TYPES.iter().filter(|_| b.byte() % 2 == 0).map(|t| (*t, 0.5)).collect();
                let mut s = spec(&id, TEAMS[(w % 3) as usize], &accepts);
                (s.chips_max, s.chips_step, s.gang, s.critical, s.preemptible) =
                    (1 + b.below(16), 1 + b.below(3), b.byte() % 5 == 0, b.byte() % 6 == 0, b.byte() % 3 != 0);
                s.chips_min = s.chips_step;
                LogEvent::Input(InputEvent::DemandDeclared { chips_desired: b.below(20), spec: s })
            }
            2 => LogEvent::Input(InputEvent::UsageReported { workload: id.into(), chips_busy: f64::from(b.below(16)), window_s: 10 }),
            3 => LogEvent::Input(InputEvent::WorkloadFinished { workload: id.into() }),
            4 => {
                now_ms += i64::from(b.below(900)) * 1000;
                LogEvent::Input(InputEvent::Tick)
            }
            5 => {
                let i = b.below(3) as usize;
                let mut p = pool(&format!("p{i}"), "r", TYPES[i], 24);
                p.healthy_chips = b.below(25);
                LogEvent::Input(InputEvent::PoolDeclared(p))
            }
            6 => match unacked.pop().as_ref().and_then(ack_of) {
                Some(report) => LogEvent::Actuation(report),
                None => continue,
            },
            _ => match unacked.pop() {
                Some(Decision { workload, action: Action::Grant { pool, .. }, .. }) => {
                    let (decision_id, error) = (qm_model::Uuid::nil(), "backend down".to_owned());
                    LogEvent::Actuation(ActuationEvent::ActuationFailed { decision_id, workload, pool: Some(pool), error })
                }
                _ => continue,
            },
        };
        log.push((now_ms, event));
        fold(&mut engine, &mut log, &mut unacked, from);
    }
    log
}

/// Folds `log` through `engine` from position `from` (sequence = position + 1),
/// checking the invariants; returns each decision's bytes.
fn fold_checked(engine: &mut Engine, log: &[(i64, LogEvent)], from: usize, graces: &mut BTreeMap<(String, String), i64>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (i, (time_ms, event)) in log.iter().enumerate().skip(from) {
        for d in engine.step(i as u64 + 1, *time_ms, event) {
            check_decision(engine, &d, graces);
            out.push(encode_value(&d).expect("a decision encodes"));
        }
        check_state(engine);
    }
    out
}

/// A critical workload is never reclaimed; a revoke for an ended grace comes only after
/// the deadline of the reclaim it ends (kept in `graces`, by workload and pool).
fn check_decision(engine: &Engine, d: &Decision, graces: &mut BTreeMap<(String, String), i64>) {
    let critical = engine.state().workloads.get(&d.workload).is_some_and(|w| w.spec.critical);
    if let Action::Reclaim { pool, deadline_ms, .. } = &d.action {
        assert!(!critical, "critical work reclaimed: {d:?}");
        graces.insert((d.workload.to_string(), pool.to_string()), *deadline_ms);
    } else if let (Action::Revoke { pool, .. }, RuleId::GraceOver) = (&d.action, &d.reason.rule) {
        let deadline = graces.get(&(d.workload.to_string(), pool.to_string())).copied();
        assert!(deadline.is_some_and(|at| engine.now_ms() >= at), "revoked before its grace: {d:?} (deadline {deadline:?})");
    }
}

/// No pool has more chips decided than healthy ones (none, once retired).
fn check_state(engine: &Engine) {
    let s = engine.state();
    let mut decided: BTreeMap<&qm_model::PoolId, u32> = BTreeMap::new();
    for (pool, grant) in s.workloads.values().flat_map(|w| w.grants.iter()) {
        *decided.entry(pool).or_default() += grant.decided;
    }
    for (pool, chips) in decided {
        let healthy = s.pools.get(pool).map_or(0, |p| if p.retired { 0 } else { p.pool.healthy_chips });
        assert!(chips <= healthy, "{pool}: {chips} decided > {healthy} healthy");
    }
}

/// The target: build the log, fold it with the checks, fold it again through a snapshot
/// taken at a point the bytes choose, and compare.
pub fn steps(data: &[u8]) {
    let log = log_of(data);
    let mut whole = Engine::new(PolicyConfig::default());
    let decided = fold_checked(&mut whole, &log, 0, &mut BTreeMap::new());

    let cut = data.first().map_or(0, |b| usize::from(*b) % (log.len() + 1));
    let mut head = Engine::new(PolicyConfig::default());
    let mut graces = BTreeMap::new();
    let mut again = fold_checked(&mut head, &log[..cut], 0, &mut graces);
    let bytes = rmp_serde::to_vec_named(&head).expect("an engine encodes");
    let mut restored: Engine = rmp_serde::from_slice(&bytes).expect("a snapshot decodes");
    again.extend(fold_checked(&mut restored, &log, cut, &mut graces));
    assert!(again == decided, "snapshot at {cut} + tail decided differently from the whole log");
    assert!(restored == whole, "snapshot at {cut} + tail folded to another state");
}
