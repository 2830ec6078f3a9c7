//! Quartermaster's shared vocabulary: what every service, the policy core and the
//! simulator agree on.
//!
//! - [`ids`]: newtype identifiers for pools, teams, workloads, accelerator types.
//! - [`domain`]: pools, teams and workload specs as declared by operators and workloads.
//! - [`policy`]: the versioned soft-priority policy (the parsed form of the TOML file).
//! - [`events`]: input facts, decisions and actuation facts: the three logs.
//! - [`reason`]: why a decision was made: typed rule ids and figure names.
//! - [`envelope`]: the versioned envelope every message travels in, and its codec.
//! - [`ingest`]: ingest's reply to senders.
//! - [`record`]: how a decision is recorded, shared by the writer and replay.
//! - [`limits`]: size and range limits that ingest enforces and tests share.

pub mod domain;
pub mod envelope;
pub mod events;
pub mod ids;
pub mod ingest;
pub mod limits;
pub mod policy;
pub mod reason;
pub mod record;

pub use domain::*;
pub use envelope::*;
pub use events::*;
pub use ids::*;
pub use ingest::*;
pub use policy::*;
pub use reason::*;
pub use record::*;
/// Re-exported so crates that build actuation events need not depend on `uuid` directly.
pub use uuid::Uuid;
