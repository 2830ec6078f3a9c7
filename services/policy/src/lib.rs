//! Policy service: the single writer of decisions. Folds `QM_INPUT` (input and sourced
//! actuation reports, in one order) through the pure core and records each round's
//! decisions in `QM_DECISIONS` with ids fixed by log position, so a restarted writer's
//! repeats are dropped by JetStream dedup instead of applied twice.
//!
//! - [`service`]: the NATS shell: rebuild from the log, follow, publish decisions.
//! - [`resume`]: where a restarted writer must start publishing again.

pub mod resume;
pub mod service;

pub use service::{run, PolicyServiceConfig};
