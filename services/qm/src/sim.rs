//! `qm sim`: the policy core and the baselines under virtual time (see `qm_sim`).

use std::path::PathBuf;

/// Arguments of `qm sim`.
#[derive(clap::Args)]
pub struct SimArgs {
    /// A scenario file (.toml), a directory of them (e.g. `scenarios`), or a CSV job trace.
    pub input: PathBuf,
    /// Run every allocator and the LP bound; write a report per scenario, plots and SUMMARY.md.
    #[arg(long)]
    pub compare: bool,
    /// Run this allocator only: quartermaster, reservations, kueue, first-fit, gavel.
    #[arg(long)]
    pub allocator: Option<String>,
    /// Fleet file for a CSV trace (a scenario file; its workloads are ignored).
    #[arg(long)]
    pub fleet: Option<PathBuf>,
    /// Override the scenario's seed (every random choice derives from it).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Where --compare writes its reports.
    #[arg(long, default_value = "sim-report")]
    pub out: PathBuf,
    /// Skip the LP bound.
    #[arg(long)]
    pub no_bound: bool,
    /// Print progress to stderr while simulating.
    #[arg(long)]
    pub progress: bool,
    /// Sweep seeds 1..=N over every allocator: mean and 95% interval per scenario.
    #[arg(long)]
    pub seeds: Option<u64>,
    /// What-if: run Quartermaster under this policy file in every scenario, instead of
    /// each scenario's own policy (checked as `qm policy check` does).
    #[arg(long)]
    pub policy: Option<PathBuf>,
}

/// Runs `qm sim`.
pub fn run(args: SimArgs) -> anyhow::Result<()> {
    let req = qm_sim::cli::SimRequest {
        input: args.input,
        compare: args.compare,
        allocator: args.allocator,
        fleet: args.fleet,
        seed: args.seed,
        out: args.out,
        no_bound: args.no_bound,
        progress: args.progress,
        seeds: args.seeds,
        policy: args.policy.as_deref().map(crate::policy_file::load).transpose()?,
    };
    qm_sim::cli::execute(&req, &mut std::io::stdout())?;
    Ok(())
}
