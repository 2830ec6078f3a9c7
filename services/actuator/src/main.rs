//! `qm-actuator`: parses flags, sets up logging, and runs [`qm_actuator::run`].

use clap::{Parser, ValueEnum};
use qm_actuator::{ActuatorConfig, ExecBackend, SimFleet};
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
    /// Where decisions take effect.
    #[arg(long, env = "QM_BACKEND", value_enum, default_value_t = BackendKind::Sim)]
    backend: BackendKind,
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

/// The backends this binary can run; each is one arm in `main`.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum BackendKind {
    /// An in-process simulated fleet.
    Sim,
    /// Runs --exec-command per decision.
    Exec,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    qm_runtime::init_logging("info");
    let args = Args::parse();
    let config = ActuatorConfig {
        nats: ConnectSettings { url: args.nats_url, name: "qm-actuator".into(), ..Default::default() },
        metrics_addr: args.metrics_addr,
        streams: StreamSettings { replicas: args.stream_replicas, ..Default::default() },
        ..Default::default()
    };
    let shutdown = qm_runtime::shutdown_signal();
    match args.backend {
        BackendKind::Sim => qm_actuator::run(config, SimFleet::default(), SystemClock, shutdown).await,
        BackendKind::Exec => {
            let Some(command) = args.exec_command else { anyhow::bail!("--backend exec needs --exec-command") };
            let backend = ExecBackend::shell(command, Duration::from_secs(args.exec_timeout_s));
            qm_actuator::run(config, backend, SystemClock, shutdown).await
        }
    }
}
