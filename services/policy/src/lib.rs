//! Policy service: folds `QM_INPUT` (input and sourced actuation reports, in one order)
//! through the pure core and records each round's decisions in `QM_DECISIONS` with ids
//! fixed by log position. One instance writes at a time (a lease); others stand by,
//! folding the same log, ready to take over.
//!
//! - [`service`]: the NATS shell: start from a snapshot or the log, follow, publish as writer.
//! - [`leader`]: the writer lease keeper (own thread and connection), and why two writers
//!   for a moment are harmless.
//! - [`machine`]: the writer's decisions as a pure state machine (publish, stand by,
//!   resume, republish or fold again, snapshot), tested without IO.
//! - [`writer`]: publishing decision records with deterministic ids, pipelined; decisions
//!   by action and rule, and the input-to-decision lag.
//! - [`gauges`]: the fleet gauges on `/metrics`, read from the engine by the writer.
//! - [`recent`]: recent rounds kept in memory, republished on takeover.
//! - [`resume`]: where a new writer must start publishing again.
//! - [`snapshot`]: the engine snapshot (a cache of the log) and its checks.
//! - [`synthetic`]: a deterministic synthetic log for tests and the rebuild measurement.

pub mod gauges;
pub mod leader;
pub mod machine;
pub mod recent;
pub mod resume;
pub mod service;
pub mod snapshot;
pub mod synthetic;
pub mod writer;

pub use service::{run, PolicyServiceConfig};
