//! The simulator's own speed: every allocator on one scenario, wall time, steps and
//! steps per second, and each allocator's time as a ratio to the slowest baseline.
//! `cargo run --release -p qm-sim --example speed -- scenarios/large/gavel-3000h.toml`

use qm_sim::alloc::{by_name, NAMES};
use std::time::Instant;

fn main() {
    let path = std::env::args().nth(1).unwrap_or_else(|| "scenarios/large/gavel-3000h.toml".into());
    let world = match qm_sim::suite::load_scenario(std::path::Path::new(&path), None) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    println!("{}: {} jobs, {:.0} h, {} pools", world.name, world.jobs.len(), world.horizon_ms as f64 / 3.6e6, world.pools.len());
    println!("| allocator | wall s | steps | steps/s | jobs done | JCT mean h |\n|---|---|---|---|---|---|");
    let mut times = Vec::new();
    let total = Instant::now();
    for name in NAMES {
        let Some(mut a) = by_name(name) else { continue };
        let start = Instant::now();
        let r = qm_sim::run(&world, a.as_mut(), &Default::default());
        let s = start.elapsed().as_secs_f64();
        times.push((name, s));
        let m = &r.metrics;
        println!("| {name} | {s:.2} | {} | {:.0} | {}/{} | {:.2} |", r.steps, r.steps as f64 / s, m.jobs_done, m.jobs_batch, m.jct_mean_h);
    }
    let slowest = times.iter().filter(|(n, _)| *n != "quartermaster").map(|t| t.1).fold(0.0, f64::max);
    let qm = times.iter().find(|(n, _)| *n == "quartermaster").map_or(0.0, |t| t.1);
    println!("\ntotal {:.2} s; quartermaster / slowest baseline = {:.2}", total.elapsed().as_secs_f64(), qm / slowest.max(1e-9));
}
