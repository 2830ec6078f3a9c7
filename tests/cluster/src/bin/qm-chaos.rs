//! `qm-chaos`: Quartermaster in containers on a 3-node cluster under open-loop load,
//! with seeded faults and the invariants checked after each (scripts/chaos.sh builds the
//! images and runs it; docs in RELIABILITY.md). Exits 1 when any check failed.

use anyhow::Context;
use clap::Parser;
use qm_bus::{connect, ConnectSettings, StreamSettings};
use qm_cluster_tests::chaos::docker::{Deployment, SERVICES};
use qm_cluster_tests::chaos::faults;
use qm_cluster_tests::chaos::load::{self, Sender, CRITICAL, POOLS, TEAMS};
use qm_cluster_tests::chaos::rng::Rng;
use qm_cluster_tests::chaos::verdict::{self, Qm};
use qm_model::InputEvent;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// Seed of the schedule, the gaps and the load (default: from the clock; printed).
    #[arg(long)]
    seed: Option<u64>,
    /// The CI run: each service killed once, only QM_INPUT's leader stopped.
    #[arg(long)]
    short: bool,
    /// SIGKILLs per service (default 2, or 1 with --short).
    #[arg(long)]
    kills_each: Option<u32>,
    /// Requests a second of the open-loop load.
    #[arg(long, default_value_t = 10)]
    rate_per_s: u32,
    /// After each fault ends, the fleet must converge (probe applied, audit clean) within this.
    #[arg(long, default_value_t = 90)]
    bound_s: u64,
    /// Names are qm-chaos-TAG-...
    #[arg(long, default_value_t = std::process::id().to_string())]
    tag: String,
    /// Node i listens on 127.0.0.1:PORT_BASE+i.
    #[arg(long, default_value_t = 24_310)]
    port_base: u16,
    /// The services' image.
    #[arg(long, default_value = "qm:local")]
    qm_image: String,
    /// The qm CLI binary.
    #[arg(long, default_value = "target/debug/qm")]
    qm: std::path::PathBuf,
    /// Corrupt one acknowledged request in the final ledger check: the run must then fail
    /// (shows that the check can).
    #[arg(long)]
    break_check: bool,
    /// Write the per-fault results as JSON here.
    #[arg(long)]
    report: Option<std::path::PathBuf>,
}

/// One fault's outcome.
#[derive(serde::Serialize)]
struct Outcome {
    kind: &'static str,
    detail: String,
    fault_s: f64,
    recovery_s: Option<f64>,
    audit_s: Option<f64>,
    acks_checked: u64,
    audit: String,
    violations: Vec<String>,
}

const REPLICAS: usize = 3;
const INFLIGHT_MAX: usize = 256;
const RETRY_WINDOW: Duration = Duration::from_secs(30);

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
    });
    let started = Instant::now();
    let say = |what: &str| eprintln!("[{:>6.1} s] {what}", started.elapsed().as_secs_f64());
    say(&format!("seed {seed} (rerun: --seed {seed}{})", if args.short { " --short" } else { "" }));
    let mut rng = Rng::new(seed);
    let kills_each = args.kills_each.unwrap_or(if args.short { 1 } else { 2 });
    let schedule = faults::schedule(&mut rng, kills_each, args.short);

    let deployment = Deployment::new(&args.tag, args.port_base, &args.qm_image)?;
    let bus = bring_up(&deployment).await?;
    say("3 nodes, R3 streams, ingest, policy-a, policy-b, actuator up");
    let sender = Arc::new(Sender::new(bus.clone(), format!("chaos-{seed}"), INFLIGHT_MAX, RETRY_WINDOW));
    declare_fleet(&sender).await?;
    let mut checks = Checks {
        qm: Qm { binary: args.qm.clone(), url: deployment.url() },
        bus: bus.clone(),
        sender: Arc::clone(&sender),
        probes: 0,
        known: HashSet::new(),
        bound: Duration::from_secs(args.bound_s),
    };
    let first = checks.converge().await;
    anyhow::ensure!(first.violations.is_empty(), "the fleet did not start: {:?}", first.violations);
    say(&format!("fleet declared, first probe applied in {:.1} s", first.recovery_s.unwrap_or_default()));

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let load_task = tokio::spawn(load::run(Arc::clone(&sender), Rng::new(seed ^ 0x5EED), args.rate_per_s, stop_rx));
    let mut outcomes = Vec::new();
    for (i, fault) in schedule.iter().enumerate() {
        tokio::time::sleep(rng.between_ms(3_000, 8_000)).await;
        let outcome = inject_and_check(fault, &deployment, &mut checks, &mut rng).await;
        say(&format!(
            "fault {}/{}: {} -> recovered in {}, audit clean after {}, {} acks checked, violations: {:?}",
            i + 1,
            schedule.len(),
            outcome.detail,
            secs(outcome.recovery_s),
            secs(outcome.audit_s),
            outcome.acks_checked,
            outcome.violations
        ));
        if !outcome.violations.is_empty() {
            for (service, _, _) in SERVICES {
                eprintln!("--- {service} (last 15 lines)\n{}", deployment.logs(service, 15));
            }
        }
        outcomes.push(outcome);
    }
    let _ = stop_tx.send(true);
    let _ = load_task.await;
    sender.drain(INFLIGHT_MAX, RETRY_WINDOW + Duration::from_secs(5)).await;
    let final_violations = finish(&checks.qm, &bus, &sender, checks.bound, args.break_check).await;
    summarize(&deployment, &sender, &outcomes, &final_violations, started.elapsed());
    if let Some(path) = &args.report {
        let json = serde_json::json!({ "seed": seed, "short": args.short, "rate_per_s": args.rate_per_s, "bound_s": args.bound_s,
            "outcomes": outcomes, "final_violations": final_violations, "wall_s": started.elapsed().as_secs_f64() });
        std::fs::write(path, serde_json::to_string_pretty(&json)?)?;
    }
    let failed = !final_violations.is_empty() || outcomes.iter().any(|o| !o.violations.is_empty());
    if failed {
        eprintln!("CHAOS FAILED (seed {seed})");
        drop(deployment); // exit skips destructors: remove the containers first
        std::process::exit(1);
    }
    eprintln!("chaos passed (seed {seed}): {} faults, every check held", outcomes.len());
    Ok(())
}

fn secs(s: Option<f64>) -> String {
    s.map_or_else(|| "NEVER".into(), |s| format!("{s:.1} s"))
}

/// Starts the nodes, creates the streams (R3) as the services expect them, starts the
/// services; the driver's connection to the cluster.
async fn bring_up(deployment: &Deployment) -> anyhow::Result<qm_bus::Bus> {
    deployment.start_nodes()?;
    let settings = ConnectSettings { url: deployment.url(), name: "qm-chaos".into(), start_timeout: Duration::from_secs(60), ..Default::default() };
    let bus = connect(&settings).await.context("connect to the cluster")?;
    let streams = StreamSettings { replicas: REPLICAS, ..Default::default() };
    let deadline = Instant::now() + Duration::from_secs(90);
    while let Err(e) = qm_bus::streams::ensure_streams(&bus, &streams).await {
        anyhow::ensure!(Instant::now() < deadline, "cluster not ready: {e}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    deployment.start_services(REPLICAS)?;
    Ok(bus)
}

/// The teams, pools and critical workloads, through ingest.
async fn declare_fleet(sender: &Sender) -> anyhow::Result<()> {
    for team in TEAMS {
        sender.send(&format!("qm.in.team.{team}"), &InputEvent::TeamDeclared(qm_testkit::ingest::team(team, 32.0))).await.context("team")?;
    }
    for (pool, chips) in POOLS {
        sender.send(&format!("qm.in.pool.{pool}"), &InputEvent::PoolDeclared(qm_testkit::ingest::h100_pool(pool, chips))).await.context("pool")?;
    }
    for (team, id) in CRITICAL {
        let event = InputEvent::DemandDeclared { spec: load::critical(team, id), chips_desired: load::CRITICAL_CHIPS };
        sender.send(&format!("qm.in.demand.{team}.{id}"), &event).await.context("critical demand")?;
    }
    Ok(())
}

/// One fault injected and undone, then the checks.
async fn inject_and_check(fault: &faults::Fault, deployment: &Deployment, checks: &mut Checks, rng: &mut Rng) -> Outcome {
    let at = Instant::now();
    let injected = faults::inject(fault, deployment, &checks.bus, rng).await;
    let fault_s = at.elapsed().as_secs_f64();
    let mut outcome = checks.converge().await;
    outcome.kind = fault.kind();
    outcome.fault_s = fault_s;
    outcome.detail = match injected {
        Ok(detail) => detail,
        Err(e) => {
            outcome.violations.push(format!("injection failed: {e:#}"));
            format!("INJECTION FAILED: {e:#}")
        }
    };
    outcome
}

/// What the checks after each fault need, and what they carry from one to the next.
struct Checks {
    qm: Qm,
    bus: qm_bus::Bus,
    sender: Arc<Sender>,
    /// Probes sent so far (each has its own workload).
    probes: u32,
    /// Audit violations already reported by an earlier fault.
    known: HashSet<String>,
    bound: Duration,
}

impl Checks {
    /// After a fault: a probe demand applied, the audit clean, no critical workload
    /// stranded, no pool over-granted, within `bound`; and every ack so far in the log.
    async fn converge(&mut self) -> Outcome {
        let Self { qm, bus, sender, probes, known, bound } = self;
        let (bound, started) = (*bound, Instant::now());
        *probes += 1;
        let (probe, team) = (format!("probe-{probes}"), TEAMS[2]);
        let mut outcome = Outcome { kind: "", detail: String::new(), fault_s: 0.0, recovery_s: None, audit_s: None, acks_checked: 0, audit: String::new(), violations: vec![] };
        // Retried for the whole bound: after a restart of everything, ingest may not answer
        // for a while, and that time is part of the recovery measured.
        let demand = qm_testkit::ingest::demand(team, &probe, 1);
        if sender.send_within(&format!("qm.in.demand.{team}.{probe}"), &demand, bound).await.is_none() {
            let rejected = sender.ledger().rejected;
            outcome.violations.push(format!("probe {probe} not acknowledged within {bound:?} (rejections so far: {rejected:?})"));
        }
        let left = || bound.saturating_sub(started.elapsed());
        match verdict::within(left(), || async {
            let status = qm.status().await.map_err(|e| format!("{e:#}"))?;
            if verdict::applied(&status, &probe) < 1 {
                return Err(format!("{probe} not applied"));
            }
            let stranded = verdict::stranded(&status);
            let over = verdict::over_granted(&status);
            if stranded.is_empty() && over.is_empty() { Ok(()) } else { Err(format!("stranded {stranded:?}, over-granted {over:?}")) }
        })
        .await
        {
            Ok(((), _)) => outcome.recovery_s = Some(started.elapsed().as_secs_f64()),
            Err(why) => outcome.violations.push(format!("not converged within {bound:?}: {why}")),
        }
        let seen = known.clone();
        match verdict::within(left(), || verdict::audit(qm, &seen)).await {
            Ok((line, _)) => {
                outcome.audit_s = Some(started.elapsed().as_secs_f64());
                outcome.audit = line;
            }
            Err(why) => {
                known.extend(why.lines().filter(|l| l.starts_with("VIOLATION")).map(str::to_owned));
                outcome.violations.push(format!("audit not clean within {bound:?}: {}", why.trim()));
            }
        }
        let acks = sender.ledger().acks;
        match verdict::within(Duration::from_secs(20), || async { verdict::ledger_check(bus, &acks).await.map_err(|e| format!("{e:#}")) }).await {
            Ok(((violations, checked), _)) => {
                outcome.acks_checked = checked;
                outcome.violations.extend(violations.iter().map(|v| format!("ledger: {v:?}")));
            }
            Err(why) => outcome.violations.push(format!("log not readable: {why}")),
        }
        let finish = InputEvent::WorkloadFinished { workload: probe.as_str().into() };
        let _ = sender.send(&format!("qm.in.finish.{team}.{probe}"), &finish).await;
        outcome
    }
}

/// The end of the run: every ack in the log, audit clean, replay MATCH, nothing stranded.
async fn finish(qm: &Qm, bus: &qm_bus::Bus, sender: &Sender, bound: Duration, break_check: bool) -> Vec<String> {
    let mut violations = Vec::new();
    let mut acks = sender.ledger().acks;
    if break_check {
        let middle = acks.len() / 2;
        if let Some(ack) = acks.get_mut(middle) {
            eprintln!("--break-check: request {} (log sequence {}) expected under a wrong id", ack.request, ack.sequence);
            ack.event_id = uuid::Uuid::from_u128(ack.event_id.as_u128() ^ 1);
        }
    }
    match verdict::ledger_check(bus, &acks).await {
        Ok((found, checked)) => {
            if checked != acks.len() as u64 {
                violations.push(format!("ledger: only {checked} of {} acks within the log's end", acks.len()));
            }
            violations.extend(found.iter().map(|v| format!("ledger: {v:?}")));
        }
        Err(e) => violations.push(format!("log not readable: {e:#}")),
    }
    let none = HashSet::new();
    if let Err(why) = verdict::within(bound, || verdict::audit(qm, &none)).await {
        violations.push(format!("final audit: {}", why.trim()));
    }
    let replay = verdict::within(bound, || async {
        match qm.run(&["replay"]).await {
            Ok((true, text)) if text.contains("MATCH") => Ok(text),
            Ok((_, text)) => Err(text),
            Err(e) => Err(format!("{e:#}")),
        }
    })
    .await;
    match replay {
        Ok((text, _)) => eprintln!("{}", text.lines().take(2).collect::<Vec<_>>().join("\n")),
        Err(why) => violations.push(format!("final replay: {}", why.trim())),
    }
    match qm.status().await {
        Ok(status) => violations.extend(verdict::stranded(&status).into_iter().map(|s| format!("stranded: {s}"))),
        Err(e) => violations.push(format!("final status: {e:#}")),
    }
    violations
}

/// The per-kind table, the ledger totals, and what the services' logs say.
fn summarize(deployment: &Deployment, sender: &Sender, outcomes: &[Outcome], final_violations: &[String], wall: Duration) {
    let ledger = sender.ledger();
    eprintln!("\n{:<32} {:>6} {:>14} {:>14} {:>10}", "fault", "count", "recovery max", "audit max", "violations");
    let mut kinds: Vec<&str> = outcomes.iter().map(|o| o.kind).collect();
    kinds.dedup();
    kinds.sort_unstable();
    kinds.dedup();
    for kind in kinds {
        let of: Vec<&Outcome> = outcomes.iter().filter(|o| o.kind == kind).collect();
        let max = |f: fn(&Outcome) -> Option<f64>| of.iter().map(|o| f(o).unwrap_or(f64::INFINITY)).fold(0.0, f64::max);
        let violations: usize = of.iter().map(|o| o.violations.len()).sum();
        eprintln!("{kind:<32} {:>6} {:>12.1} s {:>12.1} s {violations:>10}", of.len(), max(|o| o.recovery_s), max(|o| o.audit_s));
    }
    eprintln!(
        "\nrequests acknowledged {} (duplicates {}), rejected {:?}, unanswered {}, shed {}, slowest ack {} ms; final violations {:?}",
        ledger.acks.len(),
        ledger.duplicates,
        ledger.rejected,
        ledger.unanswered,
        ledger.shed,
        ledger.ack_ms_max,
        final_violations
    );
    for (service, _, _) in SERVICES {
        let logs = deployment.logs(service, 100_000);
        // A container's log spans its restarts; a service that exits on an error prints
        // `Error:` last (docker's RestartCount is reset by every `docker start`).
        eprintln!(
            "{service}: exited on its own {} times; log lines with 'lease lost' {}, 'standing by' {}",
            logs.lines().filter(|l| l.starts_with("Error:")).count(),
            logs.matches("lease lost").count(),
            logs.matches("standing by").count()
        );
    }
    eprintln!("wall time {:.0} s", wall.as_secs_f64());
}
