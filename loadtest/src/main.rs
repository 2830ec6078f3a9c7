//! `qm-loadtest`: parses flags and runs a procedure of [`qm_loadtest::scenario`].

use clap::{Args, Parser, Subcommand};
use qm_loadtest::fleet::FleetShape;
use qm_loadtest::scenario::{self, Common, RampSettings, RunSettings};
use qm_loadtest::system::{default_bin_dir, SystemSettings};
use qm_loadtest::{criterion_results, plot};
use std::path::PathBuf;
use std::time::Duration;

/// Open-loop load test of Quartermaster, with the bus's own limits as the reference.
#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Baselines, then an open-loop run at a target rate, then ingest's closed-loop rate.
    Run {
        #[command(flatten)]
        common: CommonArgs,
        /// Offered events per second in the open-loop phase.
        #[arg(long, default_value_t = 5_000.0)]
        rate: f64,
        /// Seconds of the open-loop phase.
        #[arg(long, default_value_t = 10)]
        duration_s: u64,
        /// Seconds of each baseline and closed-loop phase.
        #[arg(long, default_value_t = 5)]
        phase_s: u64,
    },
    /// Steps the offered rate up until p99 demand-to-grant passes the bound.
    Ramp {
        #[command(flatten)]
        common: CommonArgs,
        #[arg(long, default_value_t = 2_000.0)]
        start: f64,
        /// Each step offers this many times the previous rate.
        #[arg(long, default_value_t = 1.25)]
        factor: f64,
        #[arg(long, default_value_t = 100_000.0)]
        max: f64,
        /// Seconds per step.
        #[arg(long, default_value_t = 5)]
        step_s: u64,
        /// p99 demand-to-applied-grant bound, milliseconds.
        #[arg(long, default_value_t = 15.0)]
        bound_ms: f64,
    },
    /// Tabulates criterion's saved results and plots policy-round cost against fleet size.
    Benches {
        /// criterion's output directory (`<target dir>/criterion`).
        #[arg(long)]
        criterion_dir: PathBuf,
        #[arg(long, default_value = "docs/bench")]
        out: PathBuf,
    },
}

#[derive(Args)]
struct CommonArgs {
    /// Use a running system at this URL instead of starting nats-server and the services.
    #[arg(long)]
    nats_url: Option<String>,
    /// Where the service binaries are; default: next to this binary.
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    #[arg(long, default_value_t = 50)]
    teams: usize,
    #[arg(long, default_value_t = 24)]
    pools: usize,
    #[arg(long, default_value_t = 1_000)]
    workloads: usize,
    /// Share of requests that change demand; the rest report usage.
    #[arg(long, default_value_t = 0.2)]
    demand_fraction: f64,
    /// Requests or acks in flight in closed loops (ingest's own default is 512).
    #[arg(long, default_value_t = 512)]
    inflight: usize,
    /// Send no idempotency keys.
    #[arg(long)]
    no_keys: bool,
    /// Ingest tick interval, milliseconds.
    #[arg(long, default_value_t = 1_000)]
    tick_ms: u64,
    /// The policy's writer lease TTL, milliseconds (its own default).
    #[arg(long, default_value_t = 3_000)]
    lease_ttl_ms: u64,
    /// Tokio worker threads per service (sets `TOKIO_WORKER_THREADS`); default one per core.
    #[arg(long)]
    service_threads: Option<usize>,
    /// Where reports and plots are written.
    #[arg(long, default_value = "docs/bench")]
    out: PathBuf,
    /// Run nats-server without auth and the services without credentials, so nothing is
    /// signed or verified: the comparison run for what auth and signatures cost.
    #[arg(long)]
    no_auth: bool,
}

impl CommonArgs {
    fn common(self) -> Common {
        Common {
            nats_url: self.nats_url,
            system: SystemSettings {
                bin_dir: self.bin_dir.unwrap_or_else(default_bin_dir),
                tick_ms: self.tick_ms,
                ingest_inflight_max: self.inflight,
                lease_ttl_ms: self.lease_ttl_ms,
                service_threads: self.service_threads,
                auth: !self.no_auth,
            },
            fleet: FleetShape { teams: self.teams, pools: self.pools, workloads: self.workloads, demand_fraction: self.demand_fraction },
            inflight: self.inflight,
            keys: !self.no_keys,
            out: self.out,
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Run { common, rate, duration_s, phase_s } => {
            let settings = RunSettings { rate_per_s: rate, duration: Duration::from_secs(duration_s), phase: Duration::from_secs(phase_s) };
            let common = common.common();
            let report = scenario::run(&common, &settings).await?;
            println!("{}", report.markdown());
            eprintln!("wrote run.json, run.md and latency.svg to {}", common.out.display());
        }
        Command::Ramp { common, start, factor, max, step_s, bound_ms } => {
            let settings = RampSettings { start_per_s: start, factor, max_per_s: max, step: Duration::from_secs(step_s), bound_p99_ms: bound_ms };
            let common = common.common();
            let report = scenario::ramp(&common, &settings).await?;
            println!("{}", report.markdown());
            eprintln!("wrote ramp.json, ramp.md and ramp.svg to {}", common.out.display());
        }
        Command::Benches { criterion_dir, out } => {
            let estimates = criterion_results::read(&criterion_dir);
            std::fs::create_dir_all(&out)?;
            std::fs::write(out.join("criterion.md"), criterion_results::markdown(&estimates))?;
            let mut points: Vec<(f64, f64)> = estimates
                .iter()
                .filter_map(|e| e.id.strip_prefix("policy_round_full/").and_then(|n| n.parse::<f64>().ok()).map(|n| (n, e.mean_ns / 1e6)))
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            plot::scale(&out.join("policy_scale.svg"), "Full policy round: 200 pools, 50 teams", &points)?;
            println!("{}", criterion_results::markdown(&estimates));
        }
    }
    Ok(())
}
