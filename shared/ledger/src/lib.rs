//! The auditor's tools. Everything here is pure: callers read the streams (via
//! `qm-bus`) and hand over decoded records, so the same code serves the CLI, tests and
//! the simulator, and nothing here can disturb the running system.
//!
//! - [`frames`]: length-prefixed MessagePack files (the golden replay fixture).
//! - [`verify`]: re-fold the log and compare every recorded decision byte for byte.
//! - [`whatif`]: replay the same inputs under another policy, with instant actuation.
//! - [`summary`]: per-team chip-hours, utilization, pending time, churn of a replay.
//! - [`timeline`]: `qm why` (one workload's decisions and actuation) and `qm history`.
//! - [`invariants`]: what must hold over the logs despite crashes and redelivery.
//! - [`shadow`]: what advisory decisions would have changed against standing reservations.

pub mod frames;
pub mod invariants;
pub mod shadow;
pub mod summary;
pub mod timeline;
pub mod verify;
pub mod whatif;

#[cfg(test)]
mod fixtures;
