//! The side-by-side check against the real Gavel simulator (EVALUATION.md): runs the
//! named allocators on one scenario and prints mean JCT, preemptions, moves and wall time.
//!
//! `cargo run --release -p qm-sim --example gavel_vc -- scenarios/gavel/vc-2869ce.toml [--seed N] gavel gavel-fifo`

use qm_sim::alloc::by_name;
use qm_sim::{run, suite, RunOptions};
use std::path::Path;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: gavel_vc SCENARIO [--seed N] [ALLOCATOR...]")?;
    let mut names: Vec<String> = args.collect();
    let mut seed = None;
    if let Some(i) = names.iter().position(|a| a == "--seed") {
        seed = Some(names.get(i + 1).ok_or("--seed needs a value")?.parse::<u64>()?);
        names.drain(i..i + 2);
    }
    let w = suite::load_scenario(Path::new(&path), seed)?;
    let names = if names.is_empty() { vec!["gavel".to_owned(), "gavel-fifo".to_owned()] } else { names };
    println!("{} ({} jobs, seed {})", w.name, w.jobs.len(), w.seed);
    println!("| allocator | jobs done | mean JCT h | p95 JCT h | preemptions | moves | wall s |");
    println!("|---|---|---|---|---|---|---|");
    for n in &names {
        let mut a = by_name(n).ok_or_else(|| format!("unknown allocator {n}"))?;
        let t = Instant::now();
        let m = run(&w, a.as_mut(), &RunOptions::default()).metrics;
        println!(
            "| {n} | {}/{} | {:.2} | {:.2} | {} | {} | {:.1} |",
            m.jobs_done,
            m.jobs_batch,
            m.jct_mean_h,
            m.jct_p95_h,
            m.preemptions,
            m.moves,
            t.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
