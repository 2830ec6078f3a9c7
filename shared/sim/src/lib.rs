//! `qm-sim`: the real policy core and the baselines on the same simulated work, under
//! virtual time, with the metrics and reports the evaluation is built from.
//!
//! - [`world`]: pools, teams, jobs and outages of one run, indexed by position.
//! - [`scenario`]: scenario files (TOML) and how they become a [`world::World`].
//! - [`gen`]: random workload generators (Poisson arrivals, heavy-tailed durations).
//! - [`trace`]: CSV job traces with missing values; [`fleet`]: fleets derived from a trace, gang fit.
//! - [`rng`]: the one seeded generator every random choice comes from.
//! - [`alloc`]: the [`alloc::Allocator`] trait, Quartermaster's adapter and the baselines.
//! - [`sim`]: the discrete-event loop that runs one allocator on one world.
//! - [`metrics`]: what a run is judged by.
//! - [`bound`]: the offline optimum bound (an LP relaxation) for small cases.
//! - [`cli`]: what `qm sim` does, callable from the binary.
//! - [`report`]: markdown tables and SVG plots; [`suite`]: every allocator on every scenario;
//!   [`sweep`]: the same under many seeds, mean and 95% interval.

pub mod alloc;
pub mod bound;
pub mod cli;
pub mod fleet;
pub mod gen;
pub mod metrics;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod sim;
pub mod suite;
pub mod sweep;
pub mod trace;
pub mod world;

#[cfg(test)]
pub(crate) mod testutil;

pub use alloc::{Allocator, Holdings, SimEvent};
pub use metrics::Metrics;
pub use sim::{run, RunOptions, RunResult};
pub use world::World;
