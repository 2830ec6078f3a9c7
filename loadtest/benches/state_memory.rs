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
        let held = stats.bytes_allocated as i64 - stats.bytes_deallocated as i64 + stats.bytes_reallocated as i64;
        let snapshot = rmp_serde::to_vec_named(&engine).map_or(0, |b| b.len());
        println!(
            "| {n} | {:.1} MiB | {:.0} | {:.0} |",
            held as f64 / (1024.0 * 1024.0),
            held as f64 / n as f64,
            snapshot as f64 / n as f64
        );
        drop(engine);
    }
}
