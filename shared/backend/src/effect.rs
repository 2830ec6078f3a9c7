//! What a decision asks of a backend, with nothing policy-internal in it.

use qm_model::{Action, DecisionRecorded, PoolId, TeamId, WorkloadId};
use uuid::Uuid;

/// One decision as a backend sees it: the workload's holding in one pool afterwards.
#[derive(Clone, Debug, PartialEq)]
pub struct Effect {
    /// The decision's id: the idempotency key a backend may hand to its scheduler, so
    /// applying the same effect twice (after an actuator crash) changes nothing.
    pub decision_id: Uuid,
    pub workload: WorkloadId,
    /// The workload's team: the account or tenant on schedulers that have one.
    pub team: TeamId,
    pub pool: PoolId,
    /// Chips the workload holds in `pool` afterwards; for a drain, the target to shrink to.
    pub chips: u32,
    pub verb: Verb,
    /// For a drain: seconds of grace the workload has to shrink, and the wall-clock
    /// deadline (ms since the epoch) they end at. Zero for the other verbs.
    pub grace_s: u32,
    pub deadline_ms: i64,
    /// The decision's human-readable reason, for backends that log or annotate.
    pub reason: String,
}

/// What to do to the holding, in scheduler terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    /// Hold `chips` from now on: a new grant or growth. Enforce it as a limit.
    Grant,
    /// Ask the workload to shrink to `chips` within the grace (signal it); the chips
    /// stay held until a later [`Verb::Revoke`] takes them.
    Drain,
    /// Take the chips above `chips` away now (the grace of an earlier drain is over).
    Revoke,
    /// The workload finished: its holding in the pool ends (`chips` is 0).
    Release,
}

impl Verb {
    /// The verb's lower-case name, as exec commands see it in `QM_ACTION`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Grant => "grant",
            Self::Drain => "drain",
            Self::Revoke => "revoke",
            Self::Release => "release",
        }
    }
}

impl Effect {
    /// The effect of a recorded decision; `None` when there is nothing to apply (pending).
    pub fn of(decision_id: Uuid, record: &DecisionRecorded) -> Option<Self> {
        let decision = &record.decision;
        let (pool, chips, verb, grace_s, deadline_ms) = match &decision.action {
            Action::Grant { pool, chips } => (pool, *chips, Verb::Grant, 0, 0),
            Action::Reclaim { pool, chips, grace_s, deadline_ms, .. } => (pool, *chips, Verb::Drain, *grace_s, *deadline_ms),
            Action::Revoke { pool, chips } => (pool, *chips, Verb::Revoke, 0, 0),
            Action::Release { pool } => (pool, 0, Verb::Release, 0, 0),
            Action::Pending { .. } => return None,
        };
        Some(Self {
            decision_id,
            workload: decision.workload.clone(),
            team: decision.team.clone(),
            pool: pool.clone(),
            chips,
            verb,
            grace_s,
            deadline_ms,
            reason: decision.reason.message.clone(),
        })
    }
}
