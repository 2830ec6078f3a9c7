//! What ingest answers a sender, and the headers a sender may set.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Header with the sender's idempotency key: a repeat with the same key (per subject)
/// is acknowledged with the original event id and stored once.
pub const IDEMPOTENCY_KEY_HEADER: &str = "Qm-Idempotency-Key";
/// Header naming the sender, recorded as the event's source: 1 to
/// [`crate::limits::SOURCE_BYTES_MAX`] characters of `A-Z a-z 0-9 - _ . : @`.
pub const SOURCE_HEADER: &str = "Qm-Source";
/// Header with the schema version of a request's body (requests carry no envelope).
/// Missing means 1; ingest refuses versions it does not read with `unsupported_version`.
pub const SCHEMA_VERSION_HEADER: &str = "Qm-Schema-Version";

/// Ingest's answer to every request on `qm.in.>`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum IngestReply {
    /// Stored in `QM_INPUT` (or already there, for a repeat).
    Accepted { event_id: Uuid, sequence: u64, duplicate: bool },
    /// Refused; nothing was stored in `QM_INPUT`, a dead letter was kept.
    Rejected { code: RejectCode, message: String },
}

/// Why input was refused, as a stable code a sender can branch on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectCode {
    /// The bytes are not a valid MessagePack input event: fix the sender.
    Malformed,
    /// Larger than the size limit.
    TooLarge,
    /// The subject is not one ingest serves, or does not match the body.
    BadSubject,
    /// A value is out of its allowed range.
    OutOfRange,
    /// Refers to a team, pool or workload that was never declared.
    Unknown,
    /// The sender may not speak for this team or workload.
    Forbidden,
    /// Ingest could not store the event; retry with the same idempotency key.
    Unavailable,
    /// The idempotency key was already used for a different request: pick a new key
    /// for a new request, or resend the original one unchanged.
    Conflict,
    /// The request's `Qm-Schema-Version` is one this ingest does not read: send an older
    /// shape, or upgrade ingest.
    UnsupportedVersion,
    /// The team sent more than its rate allows: retry later, with the same idempotency key.
    RateLimited,
}
