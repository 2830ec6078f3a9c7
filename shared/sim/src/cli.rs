//! What `qm sim` does, as a library call so the binary stays thin: load a scenario, a
//! directory of scenarios or a CSV trace; run Quartermaster (or one named allocator, or
//! every allocator with `compare`); print a table; with `compare`, write reports.

use crate::alloc::NAMES;
use crate::report;
use crate::sim::RunOptions;
use crate::suite::{self, ScenarioReport};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The `qm sim` request.
#[derive(Clone, Debug, Default)]
pub struct SimRequest {
    /// A scenario file (`.toml`), a directory of them, or a CSV trace (`.csv`).
    pub input: PathBuf,
    /// Run every allocator and the bound, and write reports to `out`.
    pub compare: bool,
    /// Run only this allocator (default: quartermaster; ignored with `compare`).
    pub allocator: Option<String>,
    /// Fleet file for a CSV trace (a scenario file whose workloads are ignored).
    pub fleet: Option<PathBuf>,
    /// Overrides every scenario's seed.
    pub seed: Option<u64>,
    /// Where `compare` writes its reports.
    pub out: PathBuf,
    /// Skip the LP bound.
    pub no_bound: bool,
    /// Print progress to stderr.
    pub progress: bool,
    /// Sweep seeds 1..=N over every allocator instead (mean and 95% interval).
    pub seeds: Option<u64>,
    /// What-if: Quartermaster's policy in every scenario, instead of each scenario's own.
    pub policy: Option<qm_model::PolicyConfig>,
}

/// Why `qm sim` failed.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Scenario(#[from] crate::scenario::ScenarioError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("unknown allocator {0}; known: {1}")]
    UnknownAllocator(String, String),
    #[error("plot: {0}")]
    Plot(String),
}

/// Runs the request, printing tables to `out`; returns the reports.
pub fn execute(req: &SimRequest, out: &mut dyn std::io::Write) -> Result<Vec<ScenarioReport>, SimError> {
    if let Some(n) = req.seeds {
        let seeds: Vec<u64> = (1..=n.max(1)).collect();
        let s = crate::sweep::sweep(&seeds, |seed| load_worlds(req, Some(seed), &mut std::io::sink()))?;
        write!(out, "{}", crate::sweep::markdown(&s))?;
        return Ok(Vec::new());
    }
    let names: Vec<&str> = if req.compare {
        NAMES.to_vec()
    } else {
        let n = req.allocator.as_deref().unwrap_or("quartermaster");
        if crate::alloc::by_name(n).is_none() {
            return Err(SimError::UnknownAllocator(n.into(), NAMES.join(", ")));
        }
        vec![n]
    };
    let worlds = load_worlds(req, req.seed, out)?;
    let opts = RunOptions { progress: req.progress, ..Default::default() };
    let mut reports = Vec::new();
    for w in &worlds {
        let start = Instant::now();
        writeln!(out, "scenario {} (seed {}, {} jobs)", w.name, w.seed, w.jobs.len())?;
        let pools: Vec<String> = w.pools.iter().map(|p| format!("{} {}", p.id, p.chips)).collect();
        writeln!(out, "fleet: {}", pools.join(", "))?;
        for warning in crate::fleet::fit_warnings(w) {
            writeln!(out, "{warning}")?;
        }
        let r = suite::run_world(w, &names, &opts, req.compare && !req.no_bound);
        write!(out, "{}", report::table(&r))?;
        writeln!(out, "({:.1} s)\n", start.elapsed().as_secs_f64())?;
        reports.push(r);
    }
    if req.compare {
        write_reports(&reports, &req.out)?;
        writeln!(out, "reports written to {}", req.out.display())?;
    }
    Ok(reports)
}

/// The worlds of the request's input: a directory of scenarios, a CSV trace, or one file.
fn load_worlds(req: &SimRequest, seed: Option<u64>, out: &mut dyn std::io::Write) -> Result<Vec<crate::World>, SimError> {
    let mut worlds = Vec::new();
    if req.input.is_dir() {
        for f in suite::scenario_files(&req.input)? {
            worlds.push(suite::load_scenario(&f, seed)?);
        }
    } else if req.input.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
        let (w, parsed) = suite::load_trace(&req.input, req.fleet.as_deref(), seed)?;
        writeln!(
            out,
            "trace {}: {} jobs, {} rows skipped, {} values defaulted",
            req.input.display(),
            parsed.rows.len(),
            parsed.skipped.len(),
            parsed.defaulted
        )?;
        for (line, why) in parsed.skipped.iter().take(10) {
            writeln!(out, "  skipped line {line}: {why}")?;
        }
        worlds.push(w);
    } else {
        worlds.push(suite::load_scenario(&req.input, seed)?);
    }
    if let Some(policy) = &req.policy {
        for w in &mut worlds {
            w.policy = policy.clone();
        }
    }
    Ok(worlds)
}

/// Writes one page and two plots per scenario, and `SUMMARY.md`.
pub fn write_reports(reports: &[ScenarioReport], dir: &Path) -> Result<(), SimError> {
    std::fs::create_dir_all(dir)?;
    for r in reports {
        std::fs::write(dir.join(format!("{}.md", r.world.name)), report::scenario_markdown(r))?;
        report::write_plots(r, dir).map_err(SimError::Plot)?;
    }
    let mut s = String::from("# Evaluation summary (generated)\n\nRegenerate: `cargo run --release -p qm -- sim scenarios --compare --out docs/eval`\n\n");
    s.push_str(&report::summary_markdown(reports));
    s.push_str("\nOne page per scenario, with plots, beside this file.\n");
    std::fs::write(dir.join("SUMMARY.md"), s)?;
    Ok(())
}
