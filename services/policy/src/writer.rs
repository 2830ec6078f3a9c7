//! Publishing decision records: the writer's half of the policy service. Everything
//! here runs only while this instance holds the writer lease.

use crate::recent::Round;
use qm_bus::publish::{self, PendingAck};
use qm_bus::subjects;
use qm_model::{deterministic_id, Action, DecisionRecorded, Envelope};
use qm_runtime::metrics::LabeledCounter;
use std::collections::{HashSet, VecDeque};

/// Tag in deterministic decision ids, telling them apart from other streams' ids.
pub const DECISION_ID_TAG: u8 = 2;

/// Publishes rounds with pipelined acks, at most `inflight_max` unacknowledged.
pub struct Publisher {
    js: async_nats::jetstream::Context,
    unacked: VecDeque<PendingAck>,
    inflight_max: usize,
    shadow: bool,
    source: String,
    recorded: LabeledCounter,
    /// Decisions known stored (from the resume point): not sent again.
    skip: HashSet<uuid::Uuid>,
}

impl Publisher {
    pub fn new(js: async_nats::jetstream::Context, inflight_max: usize, shadow: bool, source: String, recorded: LabeledCounter) -> Self {
        Self { js, unacked: VecDeque::new(), inflight_max: inflight_max.max(1), shadow, source, recorded, skip: HashSet::new() }
    }

    /// Decisions that need not be sent again (replaces the previous set).
    pub fn skip(&mut self, stored: HashSet<uuid::Uuid>) {
        self.skip = stored;
    }

    /// Records every decision of a round. The message id depends only on the log
    /// position, so publishing a round twice (a restart, or two writers for a moment)
    /// stores it once.
    pub async fn publish(&mut self, round: &Round) -> anyhow::Result<()> {
        for (index, decision) in round.decisions.iter().enumerate() {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            let id = deterministic_id(round.time_ms, DECISION_ID_TAG, round.input_seq, index);
            if self.skip.remove(&id) {
                continue;
            }
            let subject = subjects::decision(decision.team.as_str(), decision.workload.as_str());
            self.recorded.inc(action_name(&decision.action));
            let body = DecisionRecorded {
                input_seq: round.input_seq,
                index,
                policy_version: round.policy_version.clone(),
                advisory: self.shadow,
                decision: decision.clone(),
            };
            let envelope = Envelope::new(id, round.time_ms, self.source.clone(), Some(round.cause), body);
            self.unacked.push_back(publish::send(&self.js, subject, &id.to_string(), &envelope).await?);
            if self.unacked.len() >= self.inflight_max {
                self.settle(self.inflight_max / 2).await?;
            }
        }
        Ok(())
    }

    /// Waits for acks until at most `keep` are outstanding. A failed ack stops the
    /// service: a restart rebuilds and republishes from a safe point.
    pub async fn settle(&mut self, keep: usize) -> anyhow::Result<()> {
        while self.unacked.len() > keep {
            if let Some(pending) = self.unacked.pop_front() {
                pending.stored().await?;
            }
        }
        Ok(())
    }
}

/// The metric label of an action.
pub fn action_name(action: &Action) -> &'static str {
    match action {
        Action::Grant { .. } => "grant",
        Action::Reclaim { .. } => "reclaim",
        Action::Revoke { .. } => "revoke",
        Action::Release { .. } => "release",
        Action::Pending { .. } => "pending",
    }
}
