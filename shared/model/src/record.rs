//! How a decision is recorded, in one place, so the policy service that writes the
//! record and `qm replay` that recomputes it produce the same bytes.

use crate::envelope::{deterministic_id, Envelope};
use crate::events::{Decision, DecisionRecorded, LogRecord};
use uuid::Uuid;

/// Tag in deterministic decision ids, telling them apart from other streams' ids.
pub const DECISION_ID_TAG: u8 = 2;
/// The source named in every decision envelope. Fixed, not per instance: any writer
/// (leader or standby) must produce identical bytes for the same log position.
pub const DECISION_SOURCE: &str = "policy";

/// Which log entry a round ran on: its sequence, envelope id and time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RoundCause {
    pub input_seq: u64,
    pub cause_id: Uuid,
    pub time_ms: i64,
}

impl From<&LogRecord> for RoundCause {
    fn from(record: &LogRecord) -> Self {
        Self { input_seq: record.sequence, cause_id: record.id, time_ms: record.time_ms }
    }
}

/// The envelope of decision `index` of the round run on `cause`. Every field is a
/// function of the log: that is what lets a replay compare bytes.
pub fn decision_envelope(
    cause: RoundCause,
    index: u32,
    policy_version: &str,
    advisory: bool,
    decision: Decision,
) -> Envelope<DecisionRecorded> {
    let id = deterministic_id(cause.time_ms, DECISION_ID_TAG, cause.input_seq, index);
    let body = DecisionRecorded {
        input_seq: cause.input_seq,
        index,
        policy_version: policy_version.to_owned(),
        advisory,
        decision,
    };
    Envelope::new(id, cause.time_ms, DECISION_SOURCE, Some(cause.cause_id), body)
}
