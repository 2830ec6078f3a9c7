//! `qm-actuator`: parses flags, sets up logging, and runs [`qm_actuator::run`].

use clap::Parser;
use qm_actuator::{ActuatorConfig, BackendConfig};
use qm_bus::clock::SystemClock;
use qm_bus::connect::ConnectSettings;
use qm_bus::StreamSettings;
use std::time::Duration;

/// Quartermaster actuator service.
#[derive(Parser)]
struct Args {
    /// NATS server URL.
    #[arg(long, env = "QM_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    /// Backend: `sim` (in-process fleet) or `exec` (runs --exec-command per decision).
    #[arg(long, env = "QM_BACKEND", default_value = "sim")]
    backend: String,
    /// Command for the exec backend, run through `sh -c` with QM_* variables set.
    #[arg(long, env = "QM_EXEC_COMMAND")]
    exec_command: Option<String>,
    /// Seconds an exec command may run before it counts as failed.
    #[arg(long, env = "QM_EXEC_TIMEOUT_S", default_value_t = 30)]
    exec_timeout_s: u64,
    /// Address for `/metrics` and `/healthz`, e.g. 127.0.0.1:9103.
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
    let backend = match (args.backend.as_str(), args.exec_command) {
        ("sim", _) => BackendConfig::Sim,
        ("exec", Some(command)) => BackendConfig::Exec {
            program: "sh".into(),
            args: vec!["-c".into(), command],
            timeout: Duration::from_secs(args.exec_timeout_s),
        },
        ("exec", None) => anyhow::bail!("--backend exec needs --exec-command"),
        (other, _) => anyhow::bail!("unknown backend {other:?}: use sim or exec"),
    };
    let config = ActuatorConfig {
        nats: ConnectSettings { url: args.nats_url, name: "qm-actuator".into(), ..Default::default() },
        backend,
        metrics_addr: args.metrics_addr,
        streams: StreamSettings { replicas: args.stream_replicas, ..Default::default() },
        ..Default::default()
    };
    qm_actuator::run(config, SystemClock, qm_runtime::shutdown_signal()).await
}
