//! The actuator's ack pipeline as a pure type: which delivered decisions to apply, which
//! to skip and why, and when to settle (wait for reports to be stored, then ack their
//! decisions in order). The service (`service.rs`) does the IO it asks for.
//!
//! Why this order: reports are published pipelined, and a decision is acked only once its
//! report is stored, so a crash never loses an application, only repeats one, which the
//! reported set (rebuilt from `QM_ACTUATION` at start) then skips.
//!
//! Two rules keep one workload's decisions applied in decision order across failures
//! (both found by scripts/chaos.sh, which saw a pool over-granted without them):
//! - a decision is applied only once every earlier report for the same workload is
//!   stored ([`Pipeline::settle_before`]): otherwise a lost report followed by a stored
//!   later one leaves the older decision unreported, and a restart applies it again on
//!   top of the newer one;
//! - a delivered decision older than one already applied here for the same workload and
//!   pool is stale ([`Handling::Stale`]): a restarted actuator gets new decisions at once
//!   but the old process's unacked ones only when their ack wait runs out, after the
//!   newer ones. It is not applied; it is reported as the holding it leaves unchanged.

use qm_backend::Effect;
use qm_model::{ActuationEvent, DecisionRecorded, Envelope, PoolId, TeamId, WorkloadId};
use std::collections::{HashMap, HashSet, VecDeque};
use uuid::Uuid;

/// What to do with one delivered decision.
#[derive(Clone, Debug, PartialEq)]
pub enum Handling {
    /// Apply it and report the outcome.
    Apply(Effect),
    /// Older than a decision already applied for the same workload and pool: not
    /// applied; report this event (what the workload holds there, unchanged) under the
    /// decision's team.
    Stale(TeamId, ActuationEvent),
    /// Nothing to apply; ack it once everything before it is settled. The reason is a
    /// metrics label.
    Skip(Skipped),
}

/// Why a delivered decision is not applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skipped {
    /// Undecodable: a bug or a newer schema (logged by the service).
    Undecodable,
    /// Shadow mode: recorded, never applied.
    Advisory,
    /// Reported before (a redelivery, or a restart that lost its consumer position).
    AlreadyApplied,
    /// Pending: nothing to do on a backend.
    NothingToDo,
}

impl Skipped {
    /// The `qm_actuator_decisions_total{outcome}` label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Undecodable => "undecodable",
            Self::Advisory => "advisory_skipped",
            Self::AlreadyApplied => "already_applied",
            Self::NothingToDo => "nothing_to_do",
        }
    }
}

/// Decisions delivered and not yet acked, in delivery order, each with what must be
/// stored before its ack (`T`: the service's report ack and delivery handle).
#[derive(Debug)]
pub struct Pipeline<T> {
    reported: HashSet<Uuid>,
    /// Each unsettled delivery with the workload its report is about, if any.
    unsettled: VecDeque<(Option<WorkloadId>, T)>,
    inflight_max: usize,
    /// Per workload and pool: the log position (input sequence, index) of the newest
    /// decision applied by this process, and the chips it left there.
    newest: HashMap<(WorkloadId, PoolId), ((u64, u32), u32)>,
}

impl<T> Pipeline<T> {
    /// A pipeline that knows which decisions were reported before, holding at most
    /// `inflight_max` unsettled deliveries.
    pub fn new(reported: HashSet<Uuid>, inflight_max: usize) -> Self {
        Self { reported, unsettled: VecDeque::new(), inflight_max: inflight_max.max(1), newest: HashMap::new() }
    }

    /// Decisions reported so far.
    pub fn reported(&self) -> usize {
        self.reported.len()
    }

    /// Decides what a delivered decision needs (`None`: it did not decode). A decision
    /// to apply is counted as reported from here on, so a redelivery is skipped.
    pub fn on_delivery(&mut self, decision: Option<&Envelope<DecisionRecorded>>) -> Handling {
        let Some(envelope) = decision else { return Handling::Skip(Skipped::Undecodable) };
        if envelope.body.advisory {
            return Handling::Skip(Skipped::Advisory);
        }
        if !self.reported.insert(envelope.id) {
            return Handling::Skip(Skipped::AlreadyApplied);
        }
        let Some(effect) = Effect::of(envelope.id, &envelope.body) else { return Handling::Skip(Skipped::NothingToDo) };
        let position = (envelope.body.input_seq, envelope.body.index);
        let key = (effect.workload.clone(), effect.pool.clone());
        match self.newest.get(&key) {
            Some(&(newest, chips)) if newest > position => Handling::Stale(
                effect.team,
                ActuationEvent::GrantApplied { decision_id: effect.decision_id, workload: effect.workload, pool: effect.pool, chips },
            ),
            _ => {
                // A drain only asks (the holding is unchanged, and not known here).
                if effect.verb != qm_backend::Verb::Drain {
                    self.newest.insert(key, (position, effect.chips));
                }
                Handling::Apply(effect)
            }
        }
    }

    /// The backend could not apply `effect`: what the workload holds there is not known
    /// from it, so it no longer makes older decisions stale (they apply as delivered).
    pub fn apply_failed(&mut self, effect: &Effect) {
        self.newest.remove(&(effect.workload.clone(), effect.pool.clone()));
    }

    /// How many of the oldest unsettled deliveries must be settled before a decision
    /// about `workload` is applied: through the last one about the same workload.
    pub fn settle_before(&self, workload: &WorkloadId) -> usize {
        self.unsettled.iter().rposition(|(w, _)| w.as_ref() == Some(workload)).map_or(0, |i| i + 1)
    }

    /// Holds a handled delivery until it is settled; returns how many of the oldest to
    /// settle now (half the pipeline once it is full, so settling overlaps new work).
    pub fn hold(&mut self, workload: Option<WorkloadId>, item: T) -> usize {
        self.unsettled.push_back((workload, item));
        if self.unsettled.len() >= self.inflight_max {
            self.unsettled.len() - self.inflight_max / 2
        } else {
            0
        }
    }

    /// How many to settle when nothing more is ready, or at shutdown: all of them.
    pub fn idle(&self) -> usize {
        self.unsettled.len()
    }

    /// The oldest unsettled delivery, to settle next.
    pub fn next_to_settle(&mut self) -> Option<T> {
        self.unsettled.pop_front().map(|(_, item)| item)
    }

    /// Whether every delivery is settled.
    pub fn is_settled(&self) -> bool {
        self.unsettled.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qm_model::{Action, Decision, Reason};

    fn envelope(id: u128, action: Action, advisory: bool) -> Envelope<DecisionRecorded> {
        let decision = Decision { workload: "w".into(), team: "ml".into(), action, reason: Reason::new(qm_model::RuleId::Guarantee, "within guarantee") };
        let body = DecisionRecorded { input_seq: 1, index: 0, policy_version: "v1".into(), advisory, decision };
        Envelope::new(Uuid::from_u128(id), 0, "policy", None, body)
    }

    fn grant() -> Action {
        Action::Grant { pool: "use-h100".into(), chips: 4 }
    }

    /// Given decisions reported before start, when these are delivered, then each is
    /// applied once or skipped for the right reason.
    #[test]
    fn each_delivery_is_applied_once_or_skipped_for_a_reason() {
        let mut pipeline: Pipeline<()> = Pipeline::new(HashSet::from([Uuid::from_u128(9)]), 8);
        let cases: Vec<(Option<Envelope<DecisionRecorded>>, Option<Skipped>)> = vec![
            (Some(envelope(1, grant(), false)), None),
            (Some(envelope(1, grant(), false)), Some(Skipped::AlreadyApplied)),
            (Some(envelope(9, grant(), false)), Some(Skipped::AlreadyApplied)),
            (Some(envelope(2, grant(), true)), Some(Skipped::Advisory)),
            (Some(envelope(3, Action::Pending { chips_wanted: 2 }, false)), Some(Skipped::NothingToDo)),
            (Some(envelope(3, Action::Pending { chips_wanted: 2 }, false)), Some(Skipped::AlreadyApplied)),
            (None, Some(Skipped::Undecodable)),
        ];
        for (i, (delivered, expected)) in cases.iter().enumerate() {
            match (pipeline.on_delivery(delivered.as_ref()), expected) {
                (Handling::Apply(effect), None) => assert_eq!(effect.decision_id, Uuid::from_u128(1), "case {i}"),
                (Handling::Skip(reason), Some(expected)) => assert_eq!(reason, *expected, "case {i}"),
                (handling, _) => panic!("case {i}: {handling:?}, expected {expected:?}"),
            }
        }
        assert_eq!(pipeline.reported(), 3, "1, 3 and the one known at start");
    }

    /// Given a pipeline of 4, deliveries are settled half at a time once it is full, in
    /// delivery order, and all of them when idle.
    #[test]
    fn settles_oldest_first_half_at_a_time() {
        let mut pipeline = Pipeline::new(HashSet::new(), 4);
        let to_settle: Vec<usize> = (0..4).map(|i| pipeline.hold(None, i)).collect();
        assert_eq!(to_settle, [0, 0, 0, 2]);
        assert_eq!((pipeline.next_to_settle(), pipeline.next_to_settle()), (Some(0), Some(1)));
        assert_eq!(pipeline.hold(None, 4), 0);
        assert_eq!(pipeline.idle(), 3);
        let rest: Vec<_> = std::iter::from_fn(|| pipeline.next_to_settle()).collect();
        assert_eq!(rest, [2, 3, 4]);
        assert!(pipeline.is_settled());
    }

    fn at(id: u128, input_seq: u64, action: Action) -> Envelope<DecisionRecorded> {
        let mut e = envelope(id, action, false);
        e.body.input_seq = input_seq;
        e
    }

    /// Issue 15 (chaos): a restarted actuator got a newer decision for a workload before
    /// the old process's unacked older one; applying the older one after it over-granted
    /// the pool. Given a newer decision applied, an older one for the same workload and
    /// pool is stale (reported as the unchanged holding), one for another pool is not.
    #[test]
    fn an_older_decision_delivered_after_a_newer_one_is_stale() {
        let mut pipeline: Pipeline<()> = Pipeline::new(HashSet::new(), 8);
        let shrink = Action::Revoke { pool: "use-h100".into(), chips: 1 };
        assert!(matches!(pipeline.on_delivery(Some(&at(2, 20, shrink))), Handling::Apply(_)));
        match pipeline.on_delivery(Some(&at(1, 10, grant()))) {
            Handling::Stale(_, ActuationEvent::GrantApplied { decision_id, chips, .. }) => {
                assert_eq!((decision_id, chips), (Uuid::from_u128(1), 1), "reported as the holding the newer decision left");
            }
            other => panic!("{other:?}"),
        }
        let failed = Action::Revoke { pool: "use-h100".into(), chips: 0 };
        match pipeline.on_delivery(Some(&at(5, 40, failed))) {
            Handling::Apply(effect) => pipeline.apply_failed(&effect),
            other => panic!("{other:?}"),
        }
        assert!(matches!(pipeline.on_delivery(Some(&at(6, 15, grant()))), Handling::Apply(_)), "after a failure, no holding is claimed");
        let elsewhere = Action::Grant { pool: "use-a100".into(), chips: 4 };
        assert!(matches!(pipeline.on_delivery(Some(&at(3, 5, elsewhere))), Handling::Apply(_)));
        assert!(matches!(pipeline.on_delivery(Some(&at(4, 30, grant()))), Handling::Apply(_)), "a newer one applies");
    }

    /// A decision about a workload waits for every earlier report about it, not for
    /// the others': settle through the last unsettled one about the same workload.
    #[test]
    fn a_decision_waits_only_for_its_own_workloads_earlier_reports() {
        let mut pipeline = Pipeline::new(HashSet::new(), 16);
        for (i, w) in ["a", "b", "a", "c"].iter().enumerate() {
            pipeline.hold(Some(WorkloadId::from(*w)), i);
        }
        pipeline.hold(None, 4);
        assert_eq!(pipeline.settle_before(&"a".into()), 3);
        assert_eq!(pipeline.settle_before(&"c".into()), 4);
        assert_eq!(pipeline.settle_before(&"d".into()), 0);
    }
}
