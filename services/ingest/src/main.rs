//! `qm-ingest`: parses flags, sets up logging, and runs [`qm_ingest::run`].

use clap::Parser;
use qm_bus::clock::SystemClock;
use qm_bus::connect::ConnectSettings;
use qm_bus::StreamSettings;
use std::time::Duration;

/// Quartermaster ingest service.
#[derive(Parser)]
struct Args {
    /// NATS server URL.
    #[arg(long, env = "QM_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    /// Milliseconds between ticks (0 = no ticks).
    #[arg(long, env = "QM_TICK_MS", default_value_t = 1000)]
    tick_ms: u64,
    /// Requests handled at once.
    #[arg(long, env = "QM_INFLIGHT_MAX", default_value_t = 512)]
    inflight_max: usize,
    /// Address for `/metrics` and `/healthz`, e.g. 127.0.0.1:9101.
    #[arg(long, env = "QM_METRICS_ADDR")]
    metrics_addr: Option<std::net::SocketAddr>,
    /// Copies of each stream: 1 on one server, 3 on a cluster to survive a node loss.
    #[arg(long, env = "QM_STREAM_REPLICAS", default_value_t = 1)]
    stream_replicas: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    qm_runtime::init_logging("info");
    let args = Args::parse();
    let config = qm_ingest::IngestConfig {
        nats: ConnectSettings { url: args.nats_url, name: "qm-ingest".into(), ..Default::default() },
        tick_interval: Duration::from_millis(args.tick_ms),
        inflight_max: args.inflight_max,
        metrics_addr: args.metrics_addr,
        streams: StreamSettings { replicas: args.stream_replicas, ..Default::default() },
        ..Default::default()
    };
    qm_ingest::run(config, SystemClock, qm_runtime::shutdown_signal()).await
}
