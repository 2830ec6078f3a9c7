//! What-if replays: the recorded inputs under a chosen policy. Recorded actuation
//! reports belong to the recorded decisions, not to these, so they are skipped and
//! every replayed decision is assumed to take effect at once (the simulated backend's
//! behaviour). Replaying the recorded policy the same way gives the fair baseline.
//!
//! The fold goes through the same poison-entry guard as the policy service
//! (`qm_core::guard`): a panic while folding an entry halts the what-if there (a typed
//! [`Halt`] in the result, not a crash of the CLI), entries after it are held, and the
//! log's own `HaltResolved` entries resolve the what-if's halt by the same sequential
//! rule. Under another policy a different entry may fail, or none: the what-if's halt
//! is its own, not necessarily the recorded fold's.

use qm_core::{Engine, FoldFault, Guard, Halt, Step};
use qm_model::{deterministic_id, Decision, LogEvent, LogRecord, PolicyConfig};

/// Id tag of the synthetic decisions of a what-if replay.
const WHATIF_ID_TAG: u8 = 5;
/// Synthetic actuation entries folded per log entry, at most; engine positions are
/// `log sequence * STRIDE + k`, which keeps them ordered and unique.
const STRIDE: u64 = 1_024;
/// The stream named in a what-if's halt: the log entries it folds are `QM_INPUT`'s.
const STREAM: &str = "QM_INPUT";

/// A decision with when and on which log entry it was made.
#[derive(Clone, Debug, PartialEq)]
pub struct TimedDecision {
    pub time_ms: i64,
    pub input_seq: u64,
    pub decision: Decision,
}

/// What a what-if replay decided, and where its fold halted, if it did: the decisions
/// are those of the entries before the halt (and of entries after a resolved one).
#[derive(Clone, Debug, PartialEq)]
pub struct WhatIf {
    pub decisions: Vec<TimedDecision>,
    pub halt: Option<Halt>,
}

/// Replays `log` with instant actuation; `policy` pins a policy (what-if), `None`
/// follows the policies the log published.
pub fn replay(log: &[LogRecord], policy: Option<&PolicyConfig>) -> WhatIf {
    replay_with(log, policy, None)
}

/// As [`replay`], with a fold fault injected (`QM_FAULT_FOLD_PANIC`, for tests).
pub fn replay_with(log: &[LogRecord], policy: Option<&PolicyConfig>, fault: Option<FoldFault>) -> WhatIf {
    let mut guard = Guard::new(STREAM).with_fault(fault);
    // Each pass that ends in a rebuild has acted on one more resolution (the guard
    // acts on each at most once), so this ends after at most one pass per resolution.
    loop {
        guard.rebuilding();
        if let Some(decisions) = fold_once(log, policy, &mut guard) {
            return WhatIf { decisions, halt: guard.halt().cloned() };
        }
    }
}

/// One pass over `log` from an empty engine; `None` when a resolution says to rebuild
/// (the engine may be half-updated by the failed fold, so the pass starts over).
fn fold_once(log: &[LogRecord], policy: Option<&PolicyConfig>, guard: &mut Guard) -> Option<Vec<TimedDecision>> {
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
        let (seq, time_ms) = (record.sequence, record.time_ms);
        let mut pending = match guard.step_with(&mut engine, seq, &record.event, |e| e.step(base, time_ms, &record.event)) {
            Step::Decided(decisions) => decisions,
            Step::Rebuild { .. } => return None,
            Step::Halted(_) | Step::Held | Step::Skipped => continue,
        };
        let mut k = 0u64;
        while !pending.is_empty() && k + 1 < STRIDE {
            let mut reports = Vec::new();
            for decision in pending.drain(..) {
                let id = deterministic_id(time_ms, WHATIF_ID_TAG, base + k, out.len() as u32);
                if let Some(report) = decision.applied_report(id) {
                    reports.push(report);
                }
                out.push(TimedDecision { time_ms, input_seq: seq, decision });
            }
            for report in reports {
                k += 1;
                if k >= STRIDE {
                    break;
                }
                // A synthetic report that fails to fold halts at the entry it answers.
                let event = LogEvent::Actuation(report);
                match guard.step_with(&mut engine, seq, &event, |e| e.step(base + k, time_ms, &event)) {
                    Step::Decided(decisions) => pending.extend(decisions),
                    _ => break,
                }
            }
            if guard.halt().is_some() {
                break;
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::small_history;
    use qm_model::{HaltResolution, InputEvent};

    #[test]
    fn the_same_policy_replays_to_the_same_decisions() {
        let log = small_history();
        let a = replay(&log, None);
        let b = replay(&log, Some(&PolicyConfig::default()));
        assert!(!a.decisions.is_empty() && a.halt.is_none());
        assert_eq!(a, b);
    }

    #[test]
    fn a_longer_idle_window_gives_back_later() {
        let log = small_history();
        let give_backs = |policy: &PolicyConfig| {
            replay(&log, Some(policy))
                .decisions
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

    /// The log with `search-batch`'s demand (the poison entry in these tests) and, when
    /// `resolution` is given, an operator's resolution of it two entries later.
    fn poisoned_log(resolution: Option<HaltResolution>) -> (Vec<LogRecord>, u64) {
        let mut log = small_history();
        let poison = demand_of(&log, "search-batch");
        if let Some(resolution) = resolution {
            let at = log.iter().position(|r| r.sequence == poison + 2).expect("entries after the poison");
            let record = LogRecord { event: LogEvent::Input(InputEvent::HaltResolved { sequence: poison, resolution }), ..log[at].clone() };
            log.insert(at, record);
            for (record, sequence) in log.iter_mut().zip(1u64..) {
                record.sequence = sequence;
            }
        }
        (log, poison)
    }

    fn demand_of(log: &[LogRecord], workload: &str) -> u64 {
        log.iter()
            .find(|r| matches!(&r.event, LogEvent::Input(InputEvent::DemandDeclared { spec, .. }) if spec.id.as_str() == workload))
            .map(|r| r.sequence)
            .expect("the demand is in the log")
    }

    fn fault(spec: &str) -> Option<FoldFault> {
        Some(spec.parse().expect("fault spec"))
    }

    /// Given an entry whose fold panics, the what-if halts there with a typed halt
    /// instead of crashing, and decides nothing after it.
    #[test]
    fn a_panicking_entry_halts_the_what_if_instead_of_crashing() {
        let (log, poison) = poisoned_log(None);
        let quick = PolicyConfig { idle_window_s: 60, ..Default::default() };
        for policy in [None, Some(&quick)] {
            let what_if = replay_with(&log, policy, fault("search-batch"));
            let halt = what_if.halt.expect("halted");
            assert_eq!((halt.stream.as_str(), halt.sequence), ("QM_INPUT", poison));
            assert!(halt.error.contains("search-batch"), "{}", halt.error);
            assert!(what_if.decisions.iter().all(|d| d.input_seq < poison), "decided after the halt");
            let clean = replay(&log, policy);
            let before: Vec<_> = clean.decisions.into_iter().filter(|d| d.input_seq < poison).collect();
            assert_eq!(what_if.decisions, before, "the entries before the halt decide as without the fault");
        }
    }

    /// The log's own resolutions resolve the what-if's halt: a skip leaves the entry out
    /// and the rest is decided; a retry of a failure that happens once folds it.
    #[test]
    fn the_logs_resolutions_resolve_the_what_ifs_halt() {
        let (log, poison) = poisoned_log(Some(HaltResolution::Skip));
        // Once: the fault also fires on the usage reports about search-batch that follow.
        let skipped = replay_with(&log, None, fault("search-batch:1"));
        assert_eq!(skipped.halt, None);
        assert!(skipped.decisions.iter().any(|d| d.input_seq > poison + 2), "nothing decided after the skip");
        assert!(skipped.decisions.iter().all(|d| d.decision.workload.as_str() != "search-batch"), "the skipped demand was decided");

        let (log, _) = poisoned_log(Some(HaltResolution::Retry));
        let retried = replay_with(&log, None, fault("search-batch:1"));
        assert_eq!(retried, replay(&log, None), "a retried transient failure folds as if it never failed");
        let still_failing = replay_with(&log, None, fault("search-batch"));
        assert_eq!(still_failing.halt.map(|h| h.sequence), Some(poison), "a retry that fails again stays halted");
    }
}
