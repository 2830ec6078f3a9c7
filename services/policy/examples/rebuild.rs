//! How long a policy instance takes to rebuild its engine, and what a snapshot saves.
//!
//! 1. Fold N synthetic log entries in memory (the core alone), in chunks so 10M entries
//!    need not sit in memory at once; generation is not timed.
//! 2. Publish M entries to a spawned nats-server (file storage, as in production), then
//!    read + decode + fold them the way the service does, and time that.
//! 3. Encode, store, load and decode a snapshot of the resulting engine.
//!
//! `cargo run --release -p qm-policy --example rebuild -- --memory 1000000 --memory 10000000 --jetstream 1000000`
//! Results and the exact command: docs/REBUILD.md.

use anyhow::Context;
use clap::Parser;
use futures::StreamExt;
use qm_bus::connect::{connect, ConnectSettings};
use qm_bus::read::{decode_log, follow};
use qm_bus::snapshot::{SnapshotSettings, SnapshotStore};
use qm_bus::{subjects, StreamSettings};
use qm_core::Engine;
use qm_model::{ActuationEvent, Envelope, InputEvent, LogEvent, PolicyConfig};
use qm_policy::snapshot::Snapshot;
use qm_policy::synthetic::{SyntheticConfig, SyntheticLog};
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// Entries to fold in memory (repeatable).
    #[arg(long)]
    memory: Vec<u64>,
    /// Entries to publish to JetStream and then read + fold (repeatable).
    #[arg(long)]
    jetstream: Vec<u64>,
    /// Entries to publish, then time the real `qm-policy` binary (next to this example's
    /// directory) to "caught up": its first start (as writer, publishing every decision),
    /// a restart without snapshots (the whole log from JetStream), and a restart from its
    /// snapshot (repeatable).
    #[arg(long)]
    service: Vec<u64>,
    /// Workloads in the synthetic fleet (state size grows with this, not with the log).
    #[arg(long, default_value_t = 400)]
    workloads: u32,
    #[arg(long, default_value_t = 16)]
    pools: u32,
    /// One entry in this many is a demand change or finish (each runs a decision round).
    #[arg(long, default_value_t = 200)]
    demand_one_in: u64,
}

const CHUNK: usize = 250_000;

/// Publishes in flight while writing the log (set-up, not timed as rebuild).
const PUBLISH_INFLIGHT: usize = 4_096;

/// Publishes `n` entries to a fresh server, then starts the real policy binary three
/// times and times each start to its "policy caught up" log line.
async fn service_rebuild(args: &Args, n: u64) -> anyhow::Result<()> {
    let nats = qm_testkit::NatsServer::start()?;
    let settings = ConnectSettings { url: nats.url(), name: "rebuild".into(), publish_inflight_max: PUBLISH_INFLIGHT, ..Default::default() };
    let js = connect(&settings).await?;
    qm_bus::streams::ensure_streams(&js, &StreamSettings::default()).await?;
    publish_log(args, &js, n).await?;
    let runs: [(&str, &[(&str, &str)]); 3] = [
        ("first start as writer (publishes every decision; stores a snapshot once caught up)", &[]),
        ("restart without snapshots: the whole log from JetStream", &[("QM_NO_SNAPSHOTS", "true")]),
        ("restart from the snapshot", &[]),
    ];
    for (what, env) in runs {
        let (ready_s, cpu_s) = time_policy_start(&nats.url(), env).await?;
        println!("qm-policy, {n} entries, {what}: ready in {ready_s:.1} s ({:.0} entries/s), {cpu_s:.1} s policy CPU", n as f64 / ready_s);
        if what.starts_with("first") {
            // The snapshot is stored in the background once caught up: wait for it.
            let store = SnapshotStore::open(&js, &SnapshotSettings::default()).await?;
            let deadline = Instant::now() + Duration::from_secs(30);
            while store.get("policy-engine").await?.is_none() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    Ok(())
}

/// Starts `qm-policy`, waits for "policy caught up" on its log, stops it gracefully;
/// returns the seconds to that line and the process's CPU seconds until then.
async fn time_policy_start(url: &str, env: &[(&str, &str)]) -> anyhow::Result<(f64, f64)> {
    use std::io::BufRead;
    let exe = std::env::current_exe()?;
    let mut dir = exe.parent().context("no parent dir")?.to_path_buf();
    if dir.ends_with("examples") {
        dir.pop();
    }
    let binary = dir.join("qm-policy");
    anyhow::ensure!(binary.exists(), "{} not built: cargo build --release -p qm-policy", binary.display());
    let start = Instant::now();
    let mut child = std::process::Command::new(&binary)
        .env("QM_NATS_URL", url)
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let stderr = child.stderr.take().context("no stderr")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("policy caught up") {
                let _ = tx.send(());
            }
        }
    });
    let ready = rx.recv_timeout(Duration::from_secs(1_800));
    let spent = start.elapsed().as_secs_f64();
    let cpu = cpu_s(&format!("/proc/{pid}/stat"));
    let _ = std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
    let _ = child.wait();
    ready.context("qm-policy did not catch up within 30 minutes")?;
    Ok((spent, cpu))
}

fn synthetic(args: &Args) -> SyntheticLog {
    SyntheticLog::new(SyntheticConfig {
        pools: args.pools,
        workloads: args.workloads,
        demand_one_in: args.demand_one_in,
        ..Default::default()
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    println!(
        "fleet: {} pools, {} workloads, one demand change in {}; size_of LogEvent = {} B",
        args.pools,
        args.workloads,
        args.demand_one_in,
        std::mem::size_of::<LogEvent>()
    );
    for &n in &args.memory {
        let engine = fold_in_memory(&args, n);
        snapshot_figures(&engine, None).await?;
    }
    for &n in &args.service {
        service_rebuild(&args, n).await?;
    }
    for &n in &args.jetstream {
        let nats = qm_testkit::NatsServer::start()?;
        let settings = ConnectSettings { url: nats.url(), name: "rebuild".into(), publish_inflight_max: PUBLISH_INFLIGHT, ..Default::default() };
        let js = connect(&settings).await?;
        qm_bus::streams::ensure_streams(&js, &StreamSettings::default()).await?;
        publish_log(&args, &js, n).await?;
        let engine = read_and_fold(&js, n).await?;
        let store = SnapshotStore::open(&js, &SnapshotSettings::default()).await?;
        snapshot_figures(&engine, Some(&store)).await?;
    }
    Ok(())
}

/// Folds `n` entries, timing only the engine's steps.
fn fold_in_memory(args: &Args, n: u64) -> Engine {
    let mut log = synthetic(args);
    let mut engine = Engine::new(PolicyConfig::default());
    let (mut folded, mut decisions, mut spent, mut cpu) = (0u64, 0usize, Duration::ZERO, 0.0);
    while folded < n {
        let chunk: Vec<_> = log.by_ref().take(CHUNK.min((n - folded) as usize)).collect();
        let (start, cpu_start) = (Instant::now(), thread_cpu_s());
        for (seq, time_ms, event) in &chunk {
            decisions += engine.step(*seq, *time_ms, event).len();
        }
        spent += start.elapsed();
        cpu += thread_cpu_s() - cpu_start;
        folded += chunk.len() as u64;
    }
    let status = engine.status();
    println!(
        "memory fold: {n} entries in {:.2} s wall, {cpu:.2} s CPU ({:.0} entries per CPU second), {decisions} decisions; {} workloads, {} holding grants",
        spent.as_secs_f64(),
        n as f64 / cpu.max(1e-9),
        status.workloads.len(),
        status.workloads.iter().filter(|w| !w.granted.is_empty()).count()
    );
    engine
}

/// CPU time of the calling thread in seconds (`/proc`, 10 ms resolution): on a shared
/// machine, wall time measures the neighbours as much as the fold.
fn thread_cpu_s() -> f64 {
    cpu_s("/proc/thread-self/stat")
}

/// CPU time of this whole process (client side of a JetStream read) in seconds.
fn process_cpu_s() -> f64 {
    cpu_s("/proc/self/stat")
}

fn cpu_s(path: &str) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the command name (which ends with ')'): utime and stime are the 14th
    // and 15th of the line, so the 12th and 13th after it.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Publishes `n` synthetic entries: input to `QM_INPUT`, actuation reports to
/// `QM_ACTUATION`, which the server sources into `QM_INPUT` as in production.
async fn publish_log(args: &Args, js: &qm_bus::Bus, n: u64) -> anyhow::Result<()> {
    let start = Instant::now();
    let mut pending = std::collections::VecDeque::new();
    for (seq, time_ms, event) in synthetic(args).take(n as usize) {
        let id = qm_model::deterministic_id(time_ms, 9, seq, 0);
        let (subject, payload) = match event {
            LogEvent::Input(e) => (input_subject(&e), qm_model::encode(&Envelope::new(id, time_ms, "bench", None, e))?),
            LogEvent::Actuation(e) => (actuation_subject(&e), qm_model::encode(&Envelope::new(id, time_ms, "bench", None, e))?),
        };
        pending.push_back(qm_bus::publish::send_bytes(js, subject, &id.to_string(), payload).await?);
        if pending.len() >= PUBLISH_INFLIGHT {
            for ack in pending.drain(..PUBLISH_INFLIGHT / 2) {
                ack.stored().await?;
            }
        }
    }
    for ack in pending {
        ack.stored().await?;
    }
    // Sourcing is asynchronous: wait until every entry is in QM_INPUT.
    while qm_bus::streams::last_sequence(js, subjects::INPUT_STREAM).await? < n {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let spent = start.elapsed().as_secs_f64();
    println!("jetstream publish: {n} entries in {spent:.1} s ({:.0}/s), file storage", n as f64 / spent);
    Ok(())
}

fn input_subject(e: &InputEvent) -> String {
    let kind = e.type_name().to_ascii_lowercase();
    match e {
        InputEvent::DemandDeclared { spec, .. } => subjects::input(&kind, &[spec.id.as_str()]),
        InputEvent::UsageReported { workload, .. } | InputEvent::WorkloadFinished { workload } => {
            subjects::input(&kind, &[workload.as_str()])
        }
        _ => subjects::input(&kind, &[]),
    }
}

/// The fold reads the team from state, never from the subject, so one synthetic team
/// token stands for all (as the input subjects above leave the team out).
fn actuation_subject(e: &ActuationEvent) -> String {
    match e {
        ActuationEvent::GrantApplied { workload, .. }
        | ActuationEvent::DrainRequested { workload, .. }
        | ActuationEvent::GrantRevoked { workload, .. }
        | ActuationEvent::ActuationFailed { workload, .. } => subjects::actuation("bench", workload.as_str()),
    }
}

/// Reads `QM_INPUT` from the start with the service's own reader, decodes, folds.
async fn read_and_fold(js: &qm_bus::Bus, n: u64) -> anyhow::Result<Engine> {
    let (start, cpu_start) = (Instant::now(), process_cpu_s());
    let mut engine = Engine::new(PolicyConfig::default());
    let mut entries = Box::pin(follow(js, subjects::INPUT_STREAM, 1).await?);
    let mut decisions = 0usize;
    while let Some(entry) = entries.next().await {
        let entry = entry?;
        let record = decode_log(&entry).context("decode")?;
        decisions += engine.step(record.sequence, record.time_ms, &record.event).len();
        if entry.sequence >= n {
            break;
        }
    }
    let (spent, cpu) = (start.elapsed().as_secs_f64(), process_cpu_s() - cpu_start);
    println!(
        "jetstream read + decode + fold: {n} entries in {spent:.2} s wall ({:.0} entries/s), {cpu:.2} s client CPU, {decisions} decisions",
        n as f64 / spent
    );
    Ok(engine)
}

/// Snapshot size, encode and decode time, and store/load time through the object store.
async fn snapshot_figures(engine: &Engine, store: Option<&SnapshotStore>) -> anyhow::Result<()> {
    let policy = PolicyConfig::default();
    let start = Instant::now();
    let bytes = Snapshot::encode(engine, &policy)?;
    let encode_ms = start.elapsed().as_secs_f64() * 1e3;
    let start = Instant::now();
    let decoded = Snapshot::decode(&bytes, &policy)?;
    let decode_ms = start.elapsed().as_secs_f64() * 1e3;
    anyhow::ensure!(decoded.engine == *engine, "snapshot round trip changed the engine");
    print!("snapshot at seq {}: {} bytes, encode {encode_ms:.1} ms, decode {decode_ms:.1} ms", engine.last_seq(), bytes.len());
    if let Some(store) = store {
        let start = Instant::now();
        store.put("policy-engine", &bytes).await?;
        let put_ms = start.elapsed().as_secs_f64() * 1e3;
        let start = Instant::now();
        let loaded = store.get("policy-engine").await?.context("stored snapshot missing")?;
        let _ = Snapshot::decode(&loaded, &policy)?;
        let load_ms = start.elapsed().as_secs_f64() * 1e3;
        print!(", object store put {put_ms:.1} ms, get + decode {load_ms:.1} ms");
    }
    println!();
    Ok(())
}
