//! What-if replays: the recorded inputs under a chosen policy. Recorded actuation
//! reports belong to the recorded decisions, not to these, so they are skipped and
//! every replayed decision is assumed to take effect at once (the simulated backend's
//! behaviour). Replaying the recorded policy the same way gives the fair baseline.

use qm_core::Engine;
use qm_model::{deterministic_id, Decision, LogEvent, LogRecord, PolicyConfig};

/// Id tag of the synthetic decisions of a what-if replay.
const WHATIF_ID_TAG: u8 = 5;
/// Synthetic actuation entries folded per log entry, at most; engine positions are
/// `log sequence * STRIDE + k`, which keeps them ordered and unique.
const STRIDE: u64 = 1_024;

/// A decision with when and on which log entry it was made.
#[derive(Clone, Debug, PartialEq)]
pub struct TimedDecision {
    pub time_ms: i64,
    pub input_seq: u64,
    pub decision: Decision,
}

/// Replays `log` with instant actuation; `policy` pins a policy (what-if), `None`
/// follows the policies the log published.
pub fn replay(log: &[LogRecord], policy: Option<&PolicyConfig>) -> Vec<TimedDecision> {
    let mut engine = Engine::new(PolicyConfig::default());
    if let Some(policy) = policy {
        engine.pin_policy(policy.clone());
    }
    let mut out = Vec::new();
    for record in log {
        if matches!(record.event, LogEvent::Actuation(_)) {
            continue;
        }
        let base = record.sequence.saturating_mul(STRIDE);
        let mut pending = engine.step(base, record.time_ms, &record.event);
        let mut k = 0u64;
        while !pending.is_empty() && k + 1 < STRIDE {
            let mut reports = Vec::new();
            for decision in pending.drain(..) {
                let id = deterministic_id(record.time_ms, WHATIF_ID_TAG, base + k, out.len() as u32);
                if let Some(report) = decision.applied_report(id) {
                    reports.push(report);
                }
                out.push(TimedDecision { time_ms: record.time_ms, input_seq: record.sequence, decision });
            }
            for report in reports {
                k += 1;
                if k >= STRIDE {
                    break;
                }
                pending.extend(engine.step(base + k, record.time_ms, &LogEvent::Actuation(report)));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::small_history;

    #[test]
    fn the_same_policy_replays_to_the_same_decisions() {
        let log = small_history();
        let a = replay(&log, None);
        let b = replay(&log, Some(&PolicyConfig::default()));
        assert!(!a.is_empty());
        assert_eq!(a, b);
    }

    #[test]
    fn a_longer_idle_window_gives_back_later() {
        let log = small_history();
        let give_backs = |policy: &PolicyConfig| {
            replay(&log, Some(policy))
                .into_iter()
                .filter(|d| matches!(d.decision.action, qm_model::Action::Reclaim { cause: qm_model::ReclaimCause::IdleGiveBack, .. }))
                .map(|d| d.time_ms)
                .next()
        };
        let quick = PolicyConfig { idle_window_s: 60, ..Default::default() };
        let slow = PolicyConfig { idle_window_s: 900, ..Default::default() };
        let (quick_at, slow_at) = (give_backs(&quick), give_backs(&slow));
        assert!(quick_at.is_some(), "idle ml-train was never given back");
        assert!(slow_at.is_none() || slow_at > quick_at, "{quick_at:?} vs {slow_at:?}");
    }
}
