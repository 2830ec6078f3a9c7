//! Publishing decision records: the writer's half of the policy service. Everything
//! here runs only while this instance holds the writer lease.

use crate::recent::Round;
use qm_bus::publish::{self, PendingAck};
use qm_bus::subjects;
use qm_model::{decision_envelope, Action, RoundCause};
use qm_runtime::metrics::{LabeledCounter, Seconds};
use std::collections::{HashSet, VecDeque};

pub use qm_model::DECISION_ID_TAG;

/// Publishes rounds with pipelined acks, at most `inflight_max` unacknowledged.
/// What the publisher counts: decisions sent by action and by rule, and the lag from
/// an input's time stamp to its round being sent (what operators feel as "how long
/// until the policy answers"; measured here, in the shell, by this host's clock).
pub struct PublisherMetrics {
    pub actions: LabeledCounter,
    pub rules: LabeledCounter,
    pub lag: Seconds,
}

pub struct Publisher {
    bus: qm_bus::Bus,
    unacked: VecDeque<PendingAck>,
    inflight_max: usize,
    shadow: bool,
    metrics: PublisherMetrics,
    /// Decisions known stored (from the resume point): not sent again.
    skip: HashSet<uuid::Uuid>,
}

impl Publisher {
    pub fn new(bus: qm_bus::Bus, inflight_max: usize, shadow: bool, metrics: PublisherMetrics) -> Self {
        Self { bus, unacked: VecDeque::new(), inflight_max: inflight_max.max(1), shadow, metrics, skip: HashSet::new() }
    }

    /// Decisions that need not be sent again (replaces the previous set).
    pub fn skip(&mut self, stored: HashSet<uuid::Uuid>) {
        self.skip = stored;
    }

    /// Records every decision of a round. The message id depends only on the log
    /// position, so publishing a round twice (a restart, or two writers for a moment)
    /// stores it once.
    pub async fn publish(&mut self, round: &Round) -> anyhow::Result<()> {
        let mut sent = false;
        for (index, decision) in round.decisions.iter().enumerate() {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            let cause = RoundCause { input_seq: round.input_seq, cause_id: round.cause, time_ms: round.time_ms };
            let envelope = decision_envelope(cause, index, &round.policy_version, self.shadow, decision.clone());
            let id = envelope.id;
            if self.skip.remove(&id) {
                continue;
            }
            let subject = subjects::decision(decision.team.as_str(), decision.workload.as_str());
            self.metrics.actions.inc(action_name(&decision.action));
            self.metrics.rules.inc(qm_core::gauges::reason_label(&decision.reason.rule));
            sent = true;
            self.unacked.push_back(publish::send(&self.bus, subject, &id.to_string(), &envelope).await?);
            if self.unacked.len() >= self.inflight_max {
                self.settle(self.inflight_max / 2).await?;
            }
        }
        // Once per round, and only for rounds sent now: a republished round's lag is
        // that of the takeover, which is what its decisions waited.
        if sent {
            self.metrics.lag.observe(lag_seconds(round.time_ms, now_ms()));
        }
        Ok(())
    }

    /// Forgets the outstanding acks after a failure: the next takeover's resume probe
    /// finds out what was stored, and the rest is published again.
    pub fn abandon(&mut self) {
        self.unacked.clear();
    }

    /// Waits for acks until at most `keep` are outstanding. A failed ack is the caller's
    /// to handle: it stands by, and its next takeover republishes from a safe point.
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

/// This host's clock in unix ms (0 if it is before 1970).
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Seconds from an input stamped at `stamped_ms` to `now_ms`; a stamp from a clock ahead
/// of this one counts as no lag.
pub fn lag_seconds(stamped_ms: i64, now_ms: i64) -> f64 {
    (now_ms.saturating_sub(stamped_ms)).max(0) as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::lag_seconds;

    #[test]
    fn lag_is_seconds_since_the_stamp_and_never_negative() {
        assert_eq!(lag_seconds(1_000, 3_500), 2.5);
        assert_eq!(lag_seconds(5_000, 4_000), 0.0, "a stamp from a clock ahead of ours");
        assert_eq!(lag_seconds(i64::MIN, i64::MAX), i64::MAX as f64 / 1000.0);
    }
}
