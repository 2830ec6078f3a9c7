//! The allocators compared: Quartermaster (the real core) and the baselines. Each one
//! sees the same events and exposes what each job holds; the simulator does the rest.
//!
//! - [`quartermaster`]: wraps `qm_core::Engine`, plays its actuator.
//! - [`reservations`]: static standing reservations (today's practice).
//! - [`kueue`]: nominal quota per team, borrowing from the cohort, reclaim on demand.
//! - [`first_fit`]: one FIFO queue, first pool that fits, blind to throughput.
//! - [`gavel`]: Gavel's round-based scheduler, with its max-min LP (`gavel`) or its FIFO
//!   (`gavel-fifo`, by name only: not in the default comparison).
//! - [`queue`]: shared bookkeeping for the baselines (waiting queue, placements, outages).

pub mod first_fit;
pub mod gavel;
pub mod kueue;
pub mod quartermaster;
pub mod queue;
pub mod reservations;

use crate::world::World;
use std::collections::BTreeMap;

/// What each job holds: job index -> (pool index, chips), pools ascending.
pub type Holdings = BTreeMap<usize, Vec<(usize, u32)>>;

/// What happened in the simulated world since the allocator's last step.
#[derive(Clone, Debug, PartialEq)]
pub enum SimEvent {
    /// Job `0` arrived and wants its chips.
    Arrived(usize),
    /// Job `0` finished (work done or lifetime over); its chips are free.
    Finished(usize),
    /// Job `job` keeps `busy` chips busy (measured use over the last window).
    Usage { job: usize, busy: f64 },
    /// Pool `pool` now has `healthy` healthy chips.
    Health { pool: usize, healthy: u32 },
}

/// A policy under evaluation.
pub trait Allocator {
    /// Short name for tables and plots.
    fn name(&self) -> &'static str;
    /// Called once before time starts.
    fn start(&mut self, world: &World);
    /// Folds the events at `now_ms` (possibly none: a tick) and updates holdings.
    fn step(&mut self, now_ms: i64, events: &[SimEvent], world: &World);
    /// What each job holds now.
    fn holdings(&self) -> &Holdings;
    /// The next time the allocator wants a step without new events (actuation delays).
    fn next_wake_ms(&self) -> Option<i64> {
        None
    }
}

/// The allocators by name, in report order.
pub const NAMES: [&str; 5] = ["quartermaster", "reservations", "kueue", "first-fit", "gavel"];

/// A fresh allocator by name.
pub fn by_name(name: &str) -> Option<Box<dyn Allocator>> {
    Some(match name {
        "quartermaster" | "qm" => Box::new(quartermaster::Quartermaster::default()),
        "reservations" | "static" => Box::new(reservations::Reservations::default()),
        "kueue" => Box::new(kueue::Kueue::default()),
        "first-fit" => Box::new(first_fit::FirstFit::default()),
        "gavel" => Box::new(gavel::Gavel::new(gavel::Policy::MaxMinPerf)),
        "gavel-fifo" => Box::new(gavel::Gavel::new(gavel::Policy::Fifo)),
        _ => return None,
    })
}
