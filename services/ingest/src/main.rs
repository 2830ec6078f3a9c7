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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    qm_runtime::init_logging("info");
    let args = Args::parse();
    let config = qm_ingest::IngestConfig {
        service: args.common.service_settings("qm-ingest"),
        tick_interval: Duration::from_millis(args.tick_ms),
        inflight_max: args.inflight_max,
        ..Default::default()
    };
    qm_ingest::run(config, SystemClock, qm_runtime::shutdown_signal()).await
}
