//! The three logs. Input events and actuation events are facts in the past tense;
//! decisions are imperative. Each log has one enum so a stream holds one body type.

use crate::domain::{Pool, Team, WorkloadSpec};
use crate::ids::{PoolId, TeamId, WorkloadId};
use crate::policy::PolicyConfig;
use crate::reason::Reason;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What ingest accepted into `QM_INPUT`: the only outside facts the policy ever sees.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum InputEvent {
    /// A pool was added or changed (size, health, price).
    PoolDeclared(Pool),
    /// A pool was taken out of service; its grants must move.
    PoolRetired { pool: PoolId },
    /// A team was added or its guarantee, weight or tier changed.
    TeamDeclared(Team),
    /// A new version of the soft-priority policy took effect.
    PolicyPublished(PolicyConfig),
    /// A workload declared how many chips it wants now (0 = none, keep the spec).
    DemandDeclared { spec: WorkloadSpec, chips_desired: u32 },
    /// Measured use of a workload's grant over a window, rolled up by ingest.
    UsageReported { workload: WorkloadId, chips_busy: f64, window_s: u32 },
    /// A workload finished; its capacity is free.
    WorkloadFinished { workload: WorkloadId },
    /// Time passed. Written to the log so that time-based rules replay exactly.
    Tick,
    /// An operator resolved the halt at log entry `sequence` (a poison entry: folding it
    /// failed). In the log so that every instance and every replay resolves it alike.
    HaltResolved { sequence: u64, resolution: HaltResolution },
}

/// What an operator decided about an entry the policy could not fold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HaltResolution {
    /// The entry is left out of the fold; folding resumes after it.
    Skip,
    /// Fold the entry again (after a fix was deployed).
    Retry,
}

impl InputEvent {
    /// The event's type name, as written in the envelope.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::PoolDeclared(_) => "PoolDeclared",
            Self::PoolRetired { .. } => "PoolRetired",
            Self::TeamDeclared(_) => "TeamDeclared",
            Self::PolicyPublished(_) => "PolicyPublished",
            Self::DemandDeclared { .. } => "DemandDeclared",
            Self::UsageReported { .. } => "UsageReported",
            Self::WorkloadFinished { .. } => "WorkloadFinished",
            Self::Tick => "Tick",
            Self::HaltResolved { .. } => "HaltResolved",
        }
    }
}

/// Why a reclaim happens; drives how the workload is told and how it is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReclaimCause {
    /// Reserved-but-idle capacity given back.
    IdleGiveBack,
    /// A guaranteed owner wants back what was lent.
    OwnerReclaim,
    /// Higher-priority work needs the chips.
    Preemption,
    /// The workload moves to a better pool.
    Move,
    /// The pool shrank or was retired.
    PoolShrink,
}

/// What the policy wants done to one workload's grant in one pool.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Action {
    /// Hold `chips` in `pool` from now on (a new grant or growth).
    Grant { pool: PoolId, chips: u32 },
    /// Ask the workload to shrink to `chips` in `pool` by `deadline_ms` (now + grace).
    Reclaim { pool: PoolId, chips: u32, grace_s: u32, deadline_ms: i64, cause: ReclaimCause },
    /// Take the chips above `chips` away now: the grace of an earlier reclaim is over.
    Revoke { pool: PoolId, chips: u32 },
    /// The workload finished; its grant in `pool` ends.
    Release { pool: PoolId },
    /// Demand that cannot be met now, and how much of it.
    Pending { chips_wanted: u32 },
}

/// One decision of the policy core.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub workload: WorkloadId,
    pub team: TeamId,
    pub action: Action,
    pub reason: Reason,
}

impl Decision {
    /// What the actuator reports once this decision has taken effect in full; `None` for
    /// decisions with nothing to apply (pending). Used by the actuator's simulated
    /// backend and by replays that assume every decision applies at once.
    pub fn applied_report(&self, decision_id: Uuid) -> Option<ActuationEvent> {
        let workload = self.workload.clone();
        Some(match &self.action {
            Action::Grant { pool, chips } => ActuationEvent::GrantApplied { decision_id, workload, pool: pool.clone(), chips: *chips },
            Action::Reclaim { pool, chips, deadline_ms, .. } => ActuationEvent::DrainRequested {
                decision_id,
                workload,
                pool: pool.clone(),
                chips: *chips,
                deadline_ms: *deadline_ms,
            },
            Action::Revoke { pool, chips } => ActuationEvent::GrantRevoked { decision_id, workload, pool: pool.clone(), chips: *chips },
            Action::Release { pool } => ActuationEvent::GrantRevoked { decision_id, workload, pool: pool.clone(), chips: 0 },
            Action::Pending { .. } => return None,
        })
    }
}

/// A decision as recorded in `QM_DECISIONS`: where in the logs it was computed, so that
/// a replay can recompute it and compare.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecorded {
    /// Sequence in `QM_INPUT` of the log event whose round produced this decision.
    pub input_seq: u64,
    /// Position of this decision within its round.
    pub index: u32,
    pub policy_version: String,
    /// Shadow mode: recorded for comparison, never applied.
    pub advisory: bool,
    pub decision: Decision,
}

/// What the actuator reports back: what really happened on the backend.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ActuationEvent {
    /// The workload now holds `chips` in `pool`.
    GrantApplied { decision_id: Uuid, workload: WorkloadId, pool: PoolId, chips: u32 },
    /// The workload was asked to shrink to `chips` by `deadline_ms`.
    DrainRequested { decision_id: Uuid, workload: WorkloadId, pool: PoolId, chips: u32, deadline_ms: i64 },
    /// Chips were taken away; the workload now holds `chips` in `pool`.
    GrantRevoked { decision_id: Uuid, workload: WorkloadId, pool: PoolId, chips: u32 },
    /// The backend could not apply the decision.
    ActuationFailed { decision_id: Uuid, workload: WorkloadId, pool: Option<PoolId>, error: String },
}

impl ActuationEvent {
    /// The event's type name, as written in the envelope.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::GrantApplied { .. } => "GrantApplied",
            Self::DrainRequested { .. } => "DrainRequested",
            Self::GrantRevoked { .. } => "GrantRevoked",
            Self::ActuationFailed { .. } => "ActuationFailed",
        }
    }

    /// The decision this event reports on.
    pub fn decision_id(&self) -> Uuid {
        match self {
            Self::GrantApplied { decision_id, .. }
            | Self::DrainRequested { decision_id, .. }
            | Self::GrantRevoked { decision_id, .. }
            | Self::ActuationFailed { decision_id, .. } => *decision_id,
        }
    }
}

/// One entry of the policy's totally ordered log, `QM_INPUT`: outside input accepted by
/// ingest, and actuation reports, which `QM_INPUT` sources from `QM_ACTUATION` so that
/// one sequence orders everything the policy folds (that is what makes replay exact).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum LogEvent {
    Input(InputEvent),
    Actuation(ActuationEvent),
}

/// One decoded entry of `QM_INPUT` with its position and envelope facts: what the
/// policy, `qm status` and `qm replay` fold. Serializable for fixtures that keep a log
/// in a file (the golden replay fixture); on the bus it travels as an envelope.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// Sequence in `QM_INPUT`.
    pub sequence: u64,
    /// The envelope id: what decisions name as their cause.
    pub id: Uuid,
    pub time_ms: i64,
    pub event: LogEvent,
}

/// Input that ingest refused, kept in `QM_DEAD` with the reason.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputRejected {
    /// The subject the input arrived on.
    pub subject: String,
    /// The error sent back to the sender.
    pub error: String,
    /// The raw bytes, cut to the size limit.
    #[serde(with = "serde_bytes_compat")]
    pub payload: Vec<u8>,
}

/// Encodes bytes as MessagePack bin rather than an array of integers.
mod serde_bytes_compat {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(bytes)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
                let mut out = Vec::new();
                while let Some(b) = seq.next_element::<u8>()? {
                    out.push(b);
                }
                Ok(out)
            }
        }
        d.deserialize_byte_buf(Visitor)
    }
}
