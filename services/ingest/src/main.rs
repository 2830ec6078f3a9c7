//! `qm-ingest`: parses flags, sets up logging, and runs [`qm_ingest::run`].

use clap::Parser;
use qm_bus::clock::SystemClock;
use qm_runtime::CommonArgs;
use std::time::Duration;

/// Quartermaster ingest service.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// Milliseconds between ticks (0 = no ticks).
    #[arg(long, env = "QM_TICK_MS", default_value_t = 1000)]
    tick_ms: u64,
    /// Requests handled at once.
    #[arg(long, env = "QM_INFLIGHT_MAX", default_value_t = 512)]
    inflight_max: usize,
    /// Demand, usage and finish requests per second each team may send (0 = no limit).
    #[arg(long, env = "QM_TEAM_RATE_PER_S", default_value_t = qm_ingest::rate::RateSettings::default().per_s)]
    team_rate_per_s: f64,
    /// Requests a quiet team may send at once, above its rate.
    #[arg(long, env = "QM_TEAM_BURST", default_value_t = qm_ingest::rate::RateSettings::default().burst)]
    team_burst: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    qm_runtime::init_logging("info");
    let args = Args::parse();
    let config = qm_ingest::IngestConfig {
        service: args.common.service_settings("qm-ingest"),
        tick_interval: Duration::from_millis(args.tick_ms),
        inflight_max: args.inflight_max,
        team_rate: qm_ingest::rate::RateSettings { per_s: args.team_rate_per_s, burst: args.team_burst },
        ..Default::default()
    };
    qm_ingest::run(config, SystemClock, qm_runtime::shutdown_signal()).await
}
