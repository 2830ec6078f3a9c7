//! Where an allocator's JCT goes: mean JCT by team and gang size, per allocator.
//! `cargo run --release -p qm-sim --example by_size -- scenarios/gavel-trace.toml [seed]`

use qm_sim::alloc::{by_name, NAMES};
use std::collections::BTreeMap;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| "scenarios/gavel-trace.toml".into());
    let seed = args.next().and_then(|s| s.parse().ok());
    let world = match qm_sim::suite::load_scenario(std::path::Path::new(&path), seed) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    println!("| allocator | team | chips | jobs | done | JCT mean h | ideal h (best type) |\n|---|---|---|---|---|---|---|");
    for name in NAMES {
        let Some(mut a) = by_name(name) else { continue };
        let r = qm_sim::run(&world, a.as_mut(), &Default::default());
        let mut by: BTreeMap<(String, u32), (u32, u32, f64, f64)> = BTreeMap::new();
        for (j, job) in world.jobs.iter().enumerate() {
            let e = by.entry((world.teams[job.team].id.clone(), job.chips)).or_default();
            e.0 += 1;
            if let Some(d) = r.done_ms[j] {
                let best = job.tp.iter().copied().fold(0.0, f64::max);
                e.1 += 1;
                e.2 += (d - job.arrival_ms) as f64 / 3.6e6;
                e.3 += job.work / (f64::from(job.chips) * best) / 3600.0;
            }
        }
        for ((team, chips), (n, done, jct, ideal)) in by {
            let d = f64::from(done.max(1));
            println!("| {name} | {team} | {chips} | {n} | {done} | {:.2} | {:.2} |", jct / d, ideal / d);
        }
    }
}
