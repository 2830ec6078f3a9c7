//! Ingest: the only door for outside input. Validates each request, answers the sender
//! with the stored event id or a precise error, stamps time, dedups by the sender's
//! idempotency key, appends to `QM_INPUT`, and keeps every refusal in `QM_DEAD`.
//!
//! - [`validate`]: the pure rules, one request at a time.
//! - [`known`]: declared teams, pools and workload owners, for reference checks.
//! - [`rate`]: per-team rate limits (token buckets) on what teams send.
//! - [`service`]: the NATS shell: request loop, tick writer, rebuild at start.

pub mod known;
pub mod rate;
pub mod service;
pub mod validate;

pub use service::{run, IngestConfig};
