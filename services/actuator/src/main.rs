//! `qm-actuator`: parses flags, sets up logging, and runs [`qm_actuator::run`].

use anyhow::Context;
use clap::{Parser, ValueEnum};
use qm_actuator::{ActuatorConfig, ExecBackend, SimFleet};
use qm_bus::clock::SystemClock;
use qm_runtime::CommonArgs;
use std::time::Duration;

/// Quartermaster actuator service.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// Where decisions take effect.
    #[arg(long, env = "QM_BACKEND", value_enum, default_value_t = BackendKind::Sim)]
    backend: BackendKind,
    /// Command for the exec backend, run through `sh -c` with QM_* variables set.
    #[arg(long, env = "QM_EXEC_COMMAND")]
    exec_command: Option<String>,
    /// Seconds an exec command may run before it counts as failed.
    #[arg(long, env = "QM_EXEC_TIMEOUT_S", default_value_t = 30)]
    exec_timeout_s: u64,
    /// TOML file for the slurm backend: pools -> partition and GPU type (see qm-slurm).
    #[arg(long, env = "QM_SLURM_CONFIG")]
    slurm_config: Option<std::path::PathBuf>,
    /// URL the webhook backend POSTs each decision to (http://).
    #[arg(long, env = "QM_WEBHOOK_URL")]
    webhook_url: Option<String>,
    /// File holding the webhook's HMAC secret (the receiver checks X-Qm-Signature with it).
    #[arg(long, env = "QM_WEBHOOK_SECRET_FILE")]
    webhook_secret_file: Option<std::path::PathBuf>,
    /// The registry of identities (`trust.json` from `qm init`): decisions not signed by
    /// the policy's key are refused.
    #[arg(long, env = "QM_TRUST_FILE")]
    trust_file: Option<std::path::PathBuf>,
}

/// The backends this binary can run; each is one arm in `main`.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum BackendKind {
    /// An in-process simulated fleet.
    Sim,
    /// Runs --exec-command per decision.
    Exec,
    /// Sets Slurm QOS limits per workload and GPU type (--slurm-config).
    Slurm,
    /// POSTs each decision, signed, to --webhook-url.
    Webhook,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    qm_runtime::init_logging("info");
    let args = Args::parse();
    let trust = args.trust_file.as_deref().map(qm_trust::registry::load_registry).transpose()?;
    let config = ActuatorConfig { service: args.common.service_settings("qm-actuator"), trust, ..Default::default() };
    let shutdown = qm_runtime::shutdown_signal();
    match args.backend {
        BackendKind::Sim => qm_actuator::run(config, SimFleet::default(), SystemClock, shutdown).await,
        BackendKind::Exec => {
            let Some(command) = args.exec_command else { anyhow::bail!("--backend exec needs --exec-command") };
            let backend = ExecBackend::shell(command, Duration::from_secs(args.exec_timeout_s));
            qm_actuator::run(config, backend, SystemClock, shutdown).await
        }
        BackendKind::Slurm => {
            let Some(path) = args.slurm_config else { anyhow::bail!("--backend slurm needs --slurm-config") };
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            let backend = qm_slurm::SlurmBackend::new(qm_slurm::SlurmConfig::from_toml(&text)?);
            qm_actuator::run(config, backend, SystemClock, shutdown).await
        }
        BackendKind::Webhook => {
            let (Some(url), Some(secret_file)) = (args.webhook_url, args.webhook_secret_file) else {
                anyhow::bail!("--backend webhook needs --webhook-url and --webhook-secret-file")
            };
            let secret = std::fs::read(&secret_file).with_context(|| format!("reading {}", secret_file.display()))?;
            let secret = secret.trim_ascii().to_vec();
            let backend = qm_webhook::WebhookBackend::new(qm_webhook::WebhookConfig { url, secret, ..Default::default() })?;
            qm_actuator::run(config, backend, SystemClock, shutdown).await
        }
    }
}
