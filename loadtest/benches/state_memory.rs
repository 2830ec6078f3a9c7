//! Memory per workload in the policy state: heap bytes held by a steady engine of
//! 1k, 10k and 100k workloads (200 pools, 50 teams), counted by a counting allocator,
//! divided by the workload count. Prints a Markdown table.

mod fleet_state;

use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn main() {
    // `cargo bench` passes `--bench`; any other argument is a filter we do not need.
    println!("| workloads | heap held by the engine | bytes per workload | serialized snapshot per workload |\n|---:|---:|---:|---:|");
    for n in [1_000usize, 10_000, 100_000] {
        let region = Region::new(GLOBAL);
        let (engine, _, _) = fleet_state::steady(n);
        let stats = region.change();
        let held = stats.bytes_allocated as i64 - stats.bytes_deallocated as i64;
        let snapshot = rmp_serde::to_vec_named(&engine).map_or(0, |b| b.len());
        println!(
            "| {n} | {:.1} MiB | {:.0} | {:.0} |",
            held as f64 / (1024.0 * 1024.0),
            held as f64 / n as f64,
            snapshot as f64 / n as f64
        );
        if n == 100_000 {
            breakdown(&engine, n);
        }
        drop(engine);
    }
}

/// Heap bytes of one thing, measured by building it under a fresh region.
fn held<T>(make: impl FnOnce() -> T) -> (T, f64) {
    let region = Region::new(GLOBAL);
    let value = make();
    let stats = region.change();
    (value, (stats.bytes_allocated as i64 - stats.bytes_deallocated as i64) as f64)
}

/// Where the bytes of a workload go, by cloning parts of the state one at a time.
fn breakdown(engine: &qm_core::Engine, n: usize) {
    let state = engine.state();
    let per = |b: f64| b / n as f64;
    let (_a, workloads) = held(|| state.workloads.clone());
    let (_b, specs) = held(|| state.workloads.values().map(|w| w.spec.clone()).collect::<Vec<_>>());
    let (_c, grants) = held(|| state.workloads.values().map(|w| w.grants.clone()).collect::<Vec<_>>());
    let (_d, pending) = held(|| state.workloads.values().map(|w| w.pending.clone()).collect::<Vec<_>>());
    let with_pending = state.workloads.values().filter(|w| w.pending.is_some()).count();
    println!("\nAt {n} workloads, bytes per workload: workloads map cloned {:.0}; of which specs {:.0} (plus {} inline in the map), \
grant maps {:.0}, pending reports {:.0} ({with_pending} workloads have one); `WorkloadState` is {} bytes inline.",
        per(workloads), per(specs) - std::mem::size_of::<qm_model::WorkloadSpec>() as f64, std::mem::size_of::<qm_model::WorkloadSpec>(),
        per(grants) - std::mem::size_of::<std::collections::BTreeMap<qm_model::PoolId, qm_core::state::GrantState>>() as f64,
        per(pending) - std::mem::size_of::<Option<qm_core::state::PendingState>>() as f64,
        std::mem::size_of::<qm_core::state::WorkloadState>());
}
