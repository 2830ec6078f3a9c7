//! `qm-agent`: parses flags, sets up logging, connects, and runs [`qm_agent::run`].

use anyhow::Context;
use clap::Parser;
use qm_agent::AgentConfig;
use qm_bus::clock::SystemClock;
use qm_runtime::CommonArgs;
use std::path::PathBuf;
use std::time::Duration;

/// Quartermaster usage collector for Slurm.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// The slurm backend's TOML config (pools -> partition and GPU type).
    #[arg(long, env = "QM_SLURM_CONFIG")]
    slurm_config: PathBuf,
    /// Seconds per usage window.
    #[arg(long, env = "QM_USAGE_WINDOW_S", default_value_t = 30)]
    window_s: u32,
    /// Milliseconds between samples.
    #[arg(long, env = "QM_USAGE_SAMPLE_MS", default_value_t = 5_000)]
    sample_ms: u64,
    /// Where the rollup is checkpointed.
    #[arg(long, env = "QM_USAGE_CHECKPOINT", default_value = "qm-agent-usage.toml")]
    checkpoint: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    qm_runtime::init_logging("info");
    let args = Args::parse();
    let text = std::fs::read_to_string(&args.slurm_config).with_context(|| format!("reading {}", args.slurm_config.display()))?;
    let config = AgentConfig {
        slurm: qm_slurm::SlurmConfig::from_toml(&text)?,
        window_s: args.window_s,
        sample_every: Duration::from_millis(args.sample_ms),
        checkpoint: args.checkpoint,
        ..Default::default()
    };
    let settings = args.common.service_settings("qm-agent");
    let bus = qm_bus::connect(&settings.nats).await?;
    qm_agent::run(config, bus, SystemClock, qm_runtime::shutdown_signal()).await
}
