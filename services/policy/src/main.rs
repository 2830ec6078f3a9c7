//! `qm-policy`: parses flags, loads the policy file, sets up logging, and runs [`qm_policy::run`].

use anyhow::Context;
use clap::Parser;
use qm_bus::connect::ConnectSettings;
use qm_model::PolicyConfig;

/// Quartermaster policy service.
#[derive(Parser)]
struct Args {
    /// NATS server URL.
    #[arg(long, env = "QM_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    /// Policy file (TOML) used until the log publishes a policy.
    #[arg(long, env = "QM_POLICY_FILE")]
    policy: Option<std::path::PathBuf>,
    /// Shadow mode: decisions are recorded as advisory and never applied.
    #[arg(long, env = "QM_SHADOW")]
    shadow: bool,
    /// Address for `/metrics` and `/healthz`, e.g. 127.0.0.1:9102.
    #[arg(long, env = "QM_METRICS_ADDR")]
    metrics_addr: Option<std::net::SocketAddr>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    qm_runtime::init_logging("info");
    let args = Args::parse();
    let policy = match &args.policy {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
            toml::from_str::<PolicyConfig>(&text).with_context(|| format!("parse {}", path.display()))?
        }
        None => PolicyConfig::default(),
    };
    let config = qm_policy::PolicyServiceConfig {
        nats: ConnectSettings { url: args.nats_url, name: "qm-policy".into(), ..Default::default() },
        policy,
        shadow: args.shadow,
        metrics_addr: args.metrics_addr,
        ..Default::default()
    };
    qm_policy::run(config, qm_runtime::shutdown_signal()).await
}
