//! The invariant checker auditors (and the crash tests) run over the three logs: what
//! must hold however often services crashed and messages were redelivered.

use qm_model::{Action, ActuationEvent, DecisionRecorded, Envelope, InputEvent, LogEvent, LogRecord, PoolId, WorkloadId};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// One broken invariant, with what is needed to find it in the logs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Violation {
    /// Two recorded decisions claim one log position (a writer repeated itself).
    DecisionRecordedTwice { input_seq: u64, index: u32 },
    /// A decision that changes a grant was never reported applied (or failed).
    DecisionNotApplied { decision_id: Uuid, workload: WorkloadId },
    /// The actuator reported one decision more than once: applied twice.
    DecisionAppliedTwice { decision_id: Uuid },
    /// The actuator applied a decision the log does not have.
    UnknownDecisionApplied { decision_id: Uuid },
    /// At some point of the actuation log, a pool held more chips than it has.
    PoolOverGranted { pool: PoolId, held: u32, chips: u32, actuation_position: usize },
}

/// What the checker looked at, and what it found.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct InvariantReport {
    pub decisions: u64,
    pub actuation_events: u64,
    pub violations: Vec<Violation>,
}

/// Checks the logs. `decisions` and `actuation` are in stream order; pool sizes come
/// from the input log (the largest size each pool ever declared, so a shrink in flight
/// is not mistaken for an over-grant).
pub fn check(log: &[LogRecord], decisions: &[Envelope<DecisionRecorded>], actuation: &[Envelope<ActuationEvent>]) -> InvariantReport {
    let mut report = InvariantReport { decisions: decisions.len() as u64, actuation_events: actuation.len() as u64, violations: Vec::new() };
    let mut positions = BTreeSet::new();
    for d in decisions {
        if !positions.insert((d.body.input_seq, d.body.index)) {
            report.violations.push(Violation::DecisionRecordedTwice { input_seq: d.body.input_seq, index: d.body.index });
        }
    }
    let known: BTreeSet<Uuid> = decisions.iter().map(|d| d.id).collect();
    let mut reported = BTreeSet::new();
    for event in actuation {
        let id = event.body.decision_id();
        if !reported.insert(id) {
            report.violations.push(Violation::DecisionAppliedTwice { decision_id: id });
        }
        if !known.contains(&id) {
            report.violations.push(Violation::UnknownDecisionApplied { decision_id: id });
        }
    }
    for d in decisions.iter().filter(|d| !d.body.advisory && !matches!(d.body.decision.action, Action::Pending { .. })) {
        if !reported.contains(&d.id) {
            report.violations.push(Violation::DecisionNotApplied { decision_id: d.id, workload: d.body.decision.workload.clone() });
        }
    }
    check_capacity(log, actuation, &mut report);
    report
}

fn check_capacity(log: &[LogRecord], actuation: &[Envelope<ActuationEvent>], report: &mut InvariantReport) {
    let mut capacity: BTreeMap<PoolId, u32> = BTreeMap::new();
    for record in log {
        if let LogEvent::Input(InputEvent::PoolDeclared(pool)) = &record.event {
            let chips = capacity.entry(pool.id.clone()).or_default();
            *chips = (*chips).max(pool.chips);
        }
    }
    let mut held: BTreeMap<(PoolId, WorkloadId), u32> = BTreeMap::new();
    let mut flagged = BTreeSet::new();
    for (position, event) in actuation.iter().enumerate() {
        let (pool, workload, chips) = match &event.body {
            ActuationEvent::GrantApplied { pool, workload, chips, .. } | ActuationEvent::GrantRevoked { pool, workload, chips, .. } => {
                (pool, workload, *chips)
            }
            ActuationEvent::DrainRequested { .. } | ActuationEvent::ActuationFailed { .. } => continue,
        };
        held.insert((pool.clone(), workload.clone()), chips);
        let in_pool: u32 = held.range((pool.clone(), WorkloadId::default())..).take_while(|((p, _), _)| p == pool).map(|(_, c)| c).sum();
        let chips_max = capacity.get(pool).copied().unwrap_or(0);
        if in_pool > chips_max && flagged.insert(pool.clone()) {
            report.violations.push(Violation::PoolOverGranted { pool: pool.clone(), held: in_pool, chips: chips_max, actuation_position: position });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::small_history;
    use crate::whatif::replay;
    use qm_model::{decision_envelope, deterministic_id, Envelope};

    fn logs() -> (Vec<LogRecord>, Vec<Envelope<DecisionRecorded>>, Vec<Envelope<ActuationEvent>>) {
        let log = small_history();
        let mut decisions = Vec::new();
        let mut actuation = Vec::new();
        let mut index_in_round: BTreeMap<u64, u32> = BTreeMap::new();
        for d in replay(&log, None).decisions {
            let cause = log.iter().find(|r| r.sequence == d.input_seq).cloned().expect("cause");
            let index = index_in_round.entry(d.input_seq).or_default();
            let envelope = decision_envelope((&cause).into(), *index, "default-1", false, d.decision);
            *index += 1;
            if let Some(report) = envelope.body.decision.applied_report(envelope.id) {
                actuation.push(Envelope::new(deterministic_id(0, 3, actuation.len() as u64, 0), envelope.time_ms, "test", Some(envelope.id), report));
            }
            decisions.push(envelope);
        }
        (log, decisions, actuation)
    }

    #[test]
    fn clean_logs_pass() {
        let (log, decisions, actuation) = logs();
        let report = check(&log, &decisions, &actuation);
        assert!(report.violations.is_empty(), "{:?}", report.violations);
        assert!(report.decisions > 0 && report.actuation_events > 0);
    }

    #[test]
    fn each_kind_of_damage_is_caught() {
        let (log, decisions, actuation) = logs();
        let mut repeated = decisions.clone();
        repeated.push(decisions[0].clone());
        assert!(matches!(check(&log, &repeated, &actuation).violations[0], Violation::DecisionRecordedTwice { .. }));

        let mut applied_twice = actuation.clone();
        applied_twice.push(actuation[0].clone());
        assert!(check(&log, &decisions, &applied_twice).violations.iter().any(|v| matches!(v, Violation::DecisionAppliedTwice { .. })));

        let missing = actuation[1..].to_vec();
        assert!(check(&log, &decisions, &missing).violations.iter().any(|v| matches!(v, Violation::DecisionNotApplied { .. })));

        let mut over = actuation.clone();
        let mut huge = actuation[0].clone();
        if let ActuationEvent::GrantApplied { chips, .. } = &mut huge.body {
            *chips = 1_000;
        }
        over.push(huge);
        assert!(check(&log, &decisions, &over).violations.iter().any(|v| matches!(v, Violation::PoolOverGranted { .. })));
    }
}
