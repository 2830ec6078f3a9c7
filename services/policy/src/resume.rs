//! Where a new writer (a restart, or a standby taking over) picks up: which decisions
//! must be published again because the previous writer may have lost them in flight.

use qm_bus::read::read_all;
use qm_bus::{subjects, BusError};
use qm_model::{decode, DecisionRecorded};
use std::collections::HashSet;

/// Where to resume publishing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResumePoint {
    /// The first input sequence whose decisions must be (re)published.
    pub from: u64,
    /// Ids of decisions at or after `from` that are already stored: skipped rather than
    /// left to dedup, because on a quiet system they may be older than the duplicate window.
    pub stored: HashSet<uuid::Uuid>,
}

/// At most `inflight_max` publishes were unacknowledged when the previous writer stopped,
/// and JetStream stores one connection's publishes in order, so everything before the
/// decision `inflight_max` places from the end is known to be stored. Rounds from there
/// on are published again, except the decisions found stored in that tail.
pub async fn resume_point(bus: &qm_bus::Bus, inflight_max: u64) -> Result<ResumePoint, BusError> {
    let last = qm_bus::streams::last_sequence(bus, subjects::DECISIONS_STREAM).await?;
    if last == 0 {
        return Ok(ResumePoint::default());
    }
    let probe = last.saturating_sub(inflight_max).max(1);
    let mut point = ResumePoint { from: u64::MAX, stored: HashSet::new() };
    for entry in read_all(bus, subjects::DECISIONS_STREAM, probe).await? {
        match decode::<DecisionRecorded>(&entry.payload) {
            Ok(envelope) => {
                point.from = point.from.min(envelope.body.input_seq);
                point.stored.insert(envelope.id);
            }
            // Unreadable history: republish everything; dedup keeps it harmless.
            Err(_) => return Ok(ResumePoint::default()),
        }
    }
    if point.from == u64::MAX {
        point.from = 0;
    }
    Ok(point)
}
