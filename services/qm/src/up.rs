//! `qm up`: the whole system on one machine, with a demo fleet and demand, showing
//! progress until Ctrl-C (or `--duration-s`), then stopping everything cleanly.
//!
//! Auth is on: the first start generates the identities (`qm init` into
//! `<data-dir>/trust`, one team identity per team of the fleet), starts nats-server with
//! their accounts file, provisions the streams as the admin, and runs each service as
//! itself and the demo as the operator. A connection without credentials is refused.
//!
//! TLS is on too (unless `--no-tls`): the first start also issues a CA and certificates
//! (`<trust>/tls`, `qm init --tls`), nats-server runs with `<trust>/nats-server.conf`
//! (clients must present a certificate the CA signed), and every service and the demo
//! connect with TLS required. A plain-text connection is refused.

use crate::demo::DemoLoad;
use crate::fleet::{FleetFile, DEMO_FLEET, DEMO_POLICY};
use crate::send::{send, send_accepted, subject_for};
use crate::status::summary_line;
use crate::supervise::{listening, nats_server_binary, sibling_binary, Children, Supervised};
use anyhow::{bail, Context};
use futures::StreamExt;
use qm_bus::{connect, Bus};
use qm_runtime::NatsArgs;
use qm_trust::role::team_user;
use qm_trust::{Names, TrustDir};
use qm_bus::read::{decode_log, follow};
use qm_bus::subjects;
use qm_core::Engine;
use qm_model::{Action, Decision, InputEvent, PolicyConfig};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Flags of `qm up`.
#[derive(clap::Args)]
pub struct UpArgs {
    /// Where nats-server keeps its streams and the services their logs.
    #[arg(long, default_value = ".qm-data")]
    data_dir: PathBuf,
    /// Fleet file to declare instead of the built-in demo fleet.
    #[arg(long)]
    fleet: Option<PathBuf>,
    /// Policy file to publish (default: the built-in demo policy, examples/demo-policy.toml).
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Start the system and the fleet, but generate no demand.
    #[arg(long)]
    no_demo: bool,
    /// Stop by itself after this many seconds (0 = run until Ctrl-C).
    #[arg(long, default_value_t = 0)]
    duration_s: u64,
    /// Seed of the demo demand generator.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Actuator backend: `sim` or `exec`.
    #[arg(long, default_value = "sim")]
    backend: String,
    /// Command the exec backend runs per decision.
    #[arg(long)]
    exec_command: Option<String>,
    /// The installation's identities (`qm init`); default `<data-dir>/trust`, generated
    /// on first start.
    #[arg(long)]
    trust_dir: Option<PathBuf>,
    /// Serve each service's /metrics on 127.0.0.1: ingest on this port, policy on the
    /// next, actuator on the one after (for a Prometheus; default: no endpoints).
    #[arg(long)]
    metrics_port_base: Option<u16>,
    /// Run nats-server without TLS (plain text on loopback): for a client that cannot
    /// do TLS. Auth stays on.
    #[arg(long)]
    no_tls: bool,
}

/// Runs the local system until Ctrl-C or the duration ends.
pub async fn run(args: UpArgs, nats: &NatsArgs) -> anyhow::Result<()> {
    let (host, port) = host_port(&nats.nats_url)?;
    std::fs::create_dir_all(&args.data_dir)?;
    let logs = args.data_dir.join("logs");
    let mut children = Children::default();
    let outcome = start_and_watch(&args, nats, &host, port, &logs, &mut children).await;
    println!("stopping services...");
    children.stop(Duration::from_secs(5)).await;
    println!("stopped. Logs are in {}", logs.display());
    outcome
}

async fn start_and_watch(
    args: &UpArgs,
    nats: &NatsArgs,
    host: &str,
    port: u16,
    logs: &std::path::Path,
    children: &mut Children,
) -> anyhow::Result<()> {
    let nats_url = &nats.nats_url;
    let policy = match &args.policy {
        Some(path) => crate::load_policy(path)?,
        None => toml::from_str(DEMO_POLICY)?,
    };
    let fleet = match &args.fleet {
        Some(path) => FleetFile::load(path)?,
        None => FleetFile::parse(DEMO_FLEET)?,
    };
    let teams: Vec<String> = fleet.team.iter().map(|t| t.id.as_str().to_owned()).collect();
    let trust = ensure_trust(&args.trust_dir.clone().unwrap_or_else(|| args.data_dir.join("trust")), &teams)?;
    let server_config = if args.no_tls {
        trust.accounts_path()
    } else {
        ensure_tls(&trust, host)?;
        trust.server_config_path()
    };
    let nats = &with_tls(nats, &trust, !args.no_tls);
    if listening(host, port).await {
        println!("using the nats-server already listening at {nats_url} (it must run with {})", server_config.display());
    } else {
        let store = args.data_dir.join("nats");
        let config = ["-c".to_owned(), server_config.display().to_string()];
        let nats_args = config.into_iter().chain(["-js", "-a", host, "-p", &port.to_string(), "-sd"].iter().map(|s| s.to_string())).chain([store.display().to_string()]).collect::<Vec<_>>();
        children.spawn("nats-server", &nats_server_binary()?, &nats_args, &[], logs)?;
        let tls = if args.no_tls { "" } else { ", TLS (clients verified)" };
        println!("started nats-server with JetStream and auth{tls} at {nats_url} (store {})", store.display());
    }
    let admin = connect(&as_identity(nats, &trust, "admin").connect_settings("qm-up-admin")).await.context("connect as admin")?;
    crate::init::apply(&admin, &crate::init::ProvisionArgs::default()).await?;
    drop(admin);
    let service_env = |name: &str| {
        let mut env = as_identity(nats, &trust, name).env();
        env.push(("QM_TRUST_FILE", trust.registry_path().display().to_string()));
        let offset = ["ingest", "policy", "actuator"].iter().position(|s| *s == name).and_then(|i| u16::try_from(i).ok());
        if let Some(port) = args.metrics_port_base.zip(offset).and_then(|(base, i)| base.checked_add(i)) {
            env.push(("QM_METRICS_ADDR", format!("127.0.0.1:{port}")));
        }
        env
    };
    let mut actuator_env = service_env("actuator");
    actuator_env.push(("QM_BACKEND", args.backend.clone()));
    if let Some(command) = &args.exec_command {
        actuator_env.push(("QM_EXEC_COMMAND", command.clone()));
    }
    let pid = |p: Option<u32>| p.map_or_else(|| "?".to_owned(), |p| p.to_string());
    let ingest_pid = children.spawn("ingest", &sibling_binary("qm-ingest")?, &[], &service_env("ingest"), logs)?;
    let policy_pid = children.spawn("policy", &sibling_binary("qm-policy")?, &[], &service_env("policy"), logs)?;
    let actuator_pid = children.spawn("actuator", &sibling_binary("qm-actuator")?, &[], &actuator_env, logs)?;
    println!(
        "started ingest (pid {}), policy (pid {}) and actuator (pid {}), each as itself; logs in {}; a service that exits is restarted",
        pid(ingest_pid),
        pid(policy_pid),
        pid(actuator_pid),
        logs.display()
    );

    let client = connect(&as_identity(nats, &trust, "operator").connect_settings("qm-up")).await?;
    wait_for_ingest(&client, &policy).await?;
    let declared = declare_fleet(&client, &fleet, &crate::send::Retry::default()).await?;
    println!("policy {} published; {declared} pools and teams declared", policy.version);
    println!("from another shell: export QM_NATS_CREDS={} (operator; teams: team-<team>.nk beside it)", trust.creds_path("operator").display());
    if !args.no_tls {
        let exports: Vec<String> = trust.tls().client_env().into_iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("  and: export {}", exports.join(" "));
    }
    let demo = (!args.no_demo).then(|| DemoLoad::new(fleet.workload_template.clone(), args.seed));
    watch(&client, demo, args.duration_s, children).await
}

/// The identities in `dir`, generated on first use, with an identity for every team of
/// the fleet (teams added to the fleet file later get one on the next start).
fn ensure_trust(dir: &std::path::Path, teams: &[String]) -> anyhow::Result<TrustDir> {
    let names = Names::default();
    let trust = TrustDir::new(dir);
    if !trust.registry_path().exists() {
        println!("generating identities in {} (credentials are secret)", dir.display());
        return Ok(TrustDir::init(dir, teams, &names)?);
    }
    let registry = trust.load()?;
    for team in teams.iter().filter(|t| registry.get(&team_user(t)).is_none()) {
        trust.add_team(team, &names)?;
    }
    Ok(trust)
}

/// `nats` connecting as identity `name` of `trust`.
/// The CA and certificates in `trust`, issued on first use for loopback and `host`.
fn ensure_tls(trust: &TrustDir, host: &str) -> anyhow::Result<()> {
    if trust.tls().exists() && trust.server_config_path().exists() {
        return Ok(());
    }
    println!("issuing a CA and TLS certificates in {}", trust.tls().root.display());
    trust.init_tls(&[host.to_owned()])?;
    Ok(())
}

/// `nats` with TLS required and the installation's CA and client certificate, when `on`.
fn with_tls(nats: &NatsArgs, trust: &TrustDir, on: bool) -> NatsArgs {
    if !on {
        return nats.clone();
    }
    let tls = trust.tls();
    NatsArgs {
        nats_tls_ca: Some(tls.ca()),
        nats_tls_cert: Some(tls.client_cert()),
        nats_tls_key: Some(tls.client_key()),
        nats_tls_required: true,
        ..nats.clone()
    }
}

fn as_identity(nats: &NatsArgs, trust: &TrustDir, name: &str) -> NatsArgs {
    NatsArgs { nats_creds: Some(trust.creds_path(name)), ..nats.clone() }
}

/// Publishes the policy, retrying until ingest answers (it may still be starting).
async fn wait_for_ingest(client: &Bus, policy: &PolicyConfig) -> anyhow::Result<()> {
    let event = InputEvent::PolicyPublished(policy.clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match send(client, subject_for(&event), &event, Some(&format!("policy-{}", policy.version))).await {
            Ok(qm_model::IngestReply::Accepted { .. }) => return Ok(()),
            Ok(qm_model::IngestReply::Rejected { code, message }) => bail!("policy rejected ({code:?}): {message}"),
            Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(200)).await,
            Err(e) => return Err(e.context("ingest did not come up within 30 s")),
        }
    }
}

/// Declares every pool and team of a fleet file; returns how many.
pub async fn declare_fleet(client: &Bus, fleet: &FleetFile, retry: &crate::send::Retry) -> anyhow::Result<usize> {
    let events = fleet
        .team
        .iter()
        .cloned()
        .map(InputEvent::TeamDeclared)
        .chain(fleet.pool.iter().cloned().map(InputEvent::PoolDeclared));
    let mut declared = 0;
    for event in events {
        send_accepted(client, subject_for(&event), &event, None, retry).await.with_context(|| format!("declaring {event:?}"))?;
        declared += 1;
    }
    Ok(declared)
}

/// Drives the demo and prints progress, from a read-only replica of the policy engine
/// that follows the log (so what it shows is what the policy decided).
async fn watch(
    client: &Bus,
    mut demo: Option<DemoLoad>,
    duration_s: u64,
    children: &mut Children,
) -> anyhow::Result<()> {
    let mut entries = Box::pin(follow(client, subjects::INPUT_STREAM, 1).await?);
    let mut replica = Engine::new(PolicyConfig::default());
    let started = Instant::now();
    let mut second = tokio::time::interval(Duration::from_secs(1));
    let shutdown = qm_runtime::shutdown_signal();
    tokio::pin!(shutdown);
    let mut recent: Vec<Decision> = Vec::new();
    let mut decisions_total = 0u64;
    println!("running; Ctrl-C stops everything\n");
    loop {
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            entry = entries.next() => {
                let Some(entry) = entry else { bail!("log subscription ended") };
                if let Ok(record) = decode_log(&entry?) {
                    let decisions = replica.step(record.sequence, record.time_ms, &record.event);
                    decisions_total += decisions.len() as u64;
                    recent.extend(decisions);
                }
            }
            _ = second.tick() => {
                for event in children.supervise() {
                    match event {
                        Supervised::Exited { name, status, restart_in } => println!("{name} exited ({status}); restarting in {restart_in:?} (see its log)"),
                        Supervised::Restarted { name, pid } => println!("restarted {name} (pid {})", pid.unwrap_or_default()),
                        Supervised::GaveUp { name, status } => bail!("{name} exited ({status}) too often in a row; see its log"),
                    }
                }
                let elapsed_s = started.elapsed().as_secs();
                if let Some(demo) = demo.as_mut() {
                    let report = demo.step(client, elapsed_s).await;
                    if report.rejected > 0 {
                        tracing::warn!(rejected = report.rejected, "demo input rejected");
                    }
                }
                if elapsed_s.is_multiple_of(2) {
                    let running = demo.as_ref().map_or(0, DemoLoad::running);
                    println!("[{elapsed_s:>4}s] demo {running:>2}  {}  decisions {decisions_total:>5}  log {}", summary_line(&replica.status()), replica.last_seq());
                    for decision in recent.iter().filter(|d| !matches!(d.action, Action::Pending { .. })).take(3) {
                        println!("        {}", describe(decision));
                    }
                    recent.clear();
                }
                if duration_s > 0 && elapsed_s >= duration_s {
                    return Ok(());
                }
            }
        }
    }
}

/// One decision as a short line.
fn describe(decision: &Decision) -> String {
    let what = match &decision.action {
        Action::Grant { pool, chips } => format!("grant {chips} on {pool}"),
        Action::Reclaim { pool, chips, grace_s, cause, .. } => format!("reclaim to {chips} on {pool} ({cause:?}, grace {grace_s}s)"),
        Action::Revoke { pool, chips } => format!("revoke to {chips} on {pool}"),
        Action::Release { pool } => format!("release {pool}"),
        Action::Pending { chips_wanted } => format!("pending {chips_wanted}"),
    };
    format!("{:<24} {what:<40} [{}] {}", decision.workload.as_str(), decision.reason.rule, decision.reason.message)
}

fn host_port(url: &str) -> anyhow::Result<(String, u16)> {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let (host, port) = rest.rsplit_once(':').context("NATS URL needs host:port")?;
    Ok((host.to_owned(), port.trim_end_matches('/').parse().context("bad port in NATS URL")?))
}
