//! The two procedures: `run` (baselines, open loop at a target rate, closed-loop ingest
//! throughput) and `ramp` (step the rate up until p99 demand-to-grant passes a bound).

use crate::fleet::{Fleet, FleetShape};
use crate::ingest::{operation, set_up_fleet, watch_outputs, Outputs};
use crate::loops::{closed_loop, open_loop, LoopResult};
use crate::record::{Clock, Percentiles, Recorder};
use crate::report::{machine, OpenLoop, RampReport, RampStep, Rate, RunReport};
use crate::system::{System, SystemSettings};
use crate::{baseline, plot};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Settings shared by `run` and `ramp`.
#[derive(Clone, Debug)]
pub struct Common {
    /// Use this running system instead of starting one (then no per-process figures).
    pub nats_url: Option<String>,
    pub system: SystemSettings,
    pub fleet: FleetShape,
    /// Requests (and raw acks) in flight in closed loops; cap of the open loop is 16x.
    pub inflight: usize,
    /// Send an idempotency key with every request, as a careful sender does.
    pub keys: bool,
    /// Where reports and plots go.
    pub out: PathBuf,
}

/// `run`'s own settings.
#[derive(Clone, Debug)]
pub struct RunSettings {
    pub rate_per_s: f64,
    pub duration: Duration,
    /// Length of each closed-loop and baseline phase.
    pub phase: Duration,
}

/// `ramp`'s own settings.
#[derive(Clone, Debug)]
pub struct RampSettings {
    pub start_per_s: f64,
    pub factor: f64,
    pub max_per_s: f64,
    pub step: Duration,
    pub bound_p99_ms: f64,
}

/// A started system with its watchers.
struct Bench {
    system: System,
    client: async_nats::Client,
    js: async_nats::jetstream::Context,
    clock: Clock,
    recorder: Arc<Mutex<Recorder>>,
    fleet: Arc<Fleet>,
}

async fn server(common: &Common) -> anyhow::Result<Bench> {
    let system = match &common.nats_url {
        Some(url) => System::external(url),
        None => System::start_server(common.system.auth)?,
    };
    system.provision(&common.system).await?;
    let settings = qm_bus::ConnectSettings {
        url: system.url().to_owned(),
        name: "qm-loadtest".into(),
        publish_inflight_max: common.inflight,
        credentials: system.creds("admin"),
        ..Default::default()
    };
    // Raw handles: the load test measures NATS itself beside the system (same-run baselines).
    let bus = qm_bus::connect(&settings).await?;
    let (client, js) = (bus.raw_client().clone(), bus.raw_jetstream().clone());
    Ok(Bench {
        system,
        client,
        js,
        clock: Clock::new(),
        recorder: Arc::new(Mutex::new(Recorder::default())),
        fleet: Arc::new(Fleet::new(common.fleet.clone())),
    })
}

async fn start_system(bench: &mut Bench, common: &Common) -> anyhow::Result<Arc<Outputs>> {
    if common.nats_url.is_none() {
        eprintln!("starting qm-ingest, qm-policy, qm-actuator from {}", common.system.bin_dir.display());
        bench.system.start_services(&common.system)?;
    }
    let outputs = watch_outputs(bench.system.url(), bench.system.connect_options("admin")?, bench.recorder.clone(), bench.clock).await?;
    let started = Instant::now();
    set_up_fleet(&bench.client, &bench.fleet, &outputs).await?;
    eprintln!("fleet declared and granted in {:.1} s", started.elapsed().as_secs_f64());
    Ok(outputs)
}

/// Mean size of a stored input envelope over the request mix.
fn payload_bytes(fleet: &Fleet) -> usize {
    let probe = Fleet::new(fleet.shape.clone());
    let sizes: Vec<usize> = (0..1000)
        .filter_map(|i| {
            let event = probe.request(i).event;
            let envelope = qm_model::Envelope::new(uuid::Uuid::now_v7(), 1_700_000_000_000, "ingest", None, event);
            qm_model::encode(&envelope).ok().map(|b| b.len())
        })
        .collect();
    sizes.iter().sum::<usize>() / sizes.len().max(1)
}

/// One open-loop phase through ingest; returns the report after decisions drain.
async fn ingest_open_loop(bench: &mut Bench, outputs: &Outputs, common: &Common, label: &str, rate: f64, duration: Duration, first: u64) -> anyhow::Result<OpenLoop> {
    *bench.recorder.lock().map_err(|_| anyhow::anyhow!("poisoned"))? = Recorder::default();
    let watch = bench.system.watch();
    let before = watch.start();
    let tag = format!("{label}-{}", uuid::Uuid::now_v7());
    let op = operation(bench.client.clone(), bench.fleet.clone(), bench.recorder.clone(), bench.clock, tag, common.keys);
    let offset = Arc::new(move |i, t| op(first + i, t));
    let result = open_loop(label, rate, duration, common.inflight * 16, offset, true).await;
    let processes = watch.since(&before);
    // Let decisions and grants of the last requests arrive.
    outputs.wait_quiet(Duration::from_millis(750), Instant::now() + Duration::from_secs(15)).await;
    bench.system.check_alive()?;
    let recorder = bench.recorder.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    let matched = recorder.matched();
    Ok(OpenLoop {
        target_per_s: rate,
        seconds: result.elapsed.as_secs_f64(),
        accepted_per_s: recorder.accepted as f64 / result.elapsed.as_secs_f64().max(1e-9),
        accepted: recorder.accepted,
        errors: recorder.errors.clone(),
        ingest_ack: Percentiles::of(&recorder.ack),
        demand_to_decision: Percentiles::of(&matched.decision),
        demand_to_grant_applied: Percentiles::of(&matched.applied),
        demands: matched.demands,
        demands_up: matched.ups,
        processes,
    })
}

/// Raw JetStream at full speed with `inflight` acks outstanding.
async fn raw_js_max(bench: &Bench, common: &Common, bytes: usize, phase: Duration) -> anyhow::Result<Rate> {
    baseline::raw_stream(&bench.js).await?;
    let op = baseline::raw_publish(bench.js.clone(), bytes, common.fleet.workloads as u64);
    Ok(Rate::of(&closed_loop("raw JetStream max", common.inflight, phase, op, true).await))
}

/// Ingest's closed-loop rate with policy and actuator paused (SIGSTOP), or `None` if they
/// could not be. A stopped policy cannot renew its writer lease, so the phase is cut into
/// slices of a third of the lease TTL; between slices both run for a moment (not measured)
/// and the lease keeper renews. Renewals come every TTL/3, so the lease is at most about
/// two thirds of its TTL old when a renewal is due.
async fn ingest_alone(bench: &Bench, common: &Common, phase: Duration, first: u64) -> Option<Rate> {
    const PAUSED: [&str; 2] = ["qm-policy", "qm-actuator"];
    let slice = Duration::from_millis(common.system.lease_ttl_ms / 3).max(Duration::from_millis(100));
    let resumed = Duration::from_millis(300);
    let op = operation(bench.client.clone(), bench.fleet.clone(), bench.recorder.clone(), bench.clock, format!("alone-{}", uuid::Uuid::now_v7()), common.keys);
    let next = Arc::new(std::sync::atomic::AtomicU64::new(first));
    let mut total: Option<LoopResult> = None;
    let started = Instant::now();
    while started.elapsed() < phase {
        if !bench.system.pause(&PAUSED, true) {
            return None;
        }
        let (op, next) = (op.clone(), next.clone());
        // Request numbers keep counting across slices, so idempotency keys never repeat.
        let offset = Arc::new(move |_, t| op(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed), t));
        let length = slice.min(phase.saturating_sub(started.elapsed())).max(Duration::from_millis(50));
        let part = closed_loop("ingest alone", common.inflight, length, offset, false).await;
        bench.system.pause(&PAUSED, false);
        match &mut total {
            None => total = Some(part),
            Some(sum) => sum.merge(&part),
        }
        tokio::time::sleep(resumed).await;
    }
    let rate = Rate::of(&total?);
    eprintln!("  [ingest alone] {:.0}/s over {:.1} s paused, in slices of {} ms", rate.ok_per_s, rate.seconds, slice.as_millis());
    Some(rate)
}

/// `/proc/loadavg`'s first three fields: other work on the machine skews every figure.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")).unwrap_or_default()
}

/// `qm-loadtest run`.
pub async fn run(common: &Common, settings: &RunSettings) -> anyhow::Result<RunReport> {
    let mut bench = server(common).await?;
    let bytes = payload_bytes(&bench.fleet);
    eprintln!("baselines on {} ({} byte payloads)", bench.system.url(), bytes);
    let raw_js_max = raw_js_max(&bench, common, bytes, settings.phase).await?;
    let op = baseline::raw_publish(bench.js.clone(), bytes, common.fleet.workloads as u64);
    let raw_js_at_target = Rate::of(&open_loop("raw JetStream at target", settings.rate_per_s, settings.phase, common.inflight * 16, op, true).await);
    let echo = baseline::echo_responder(bench.system.url(), bench.system.connect_options("admin")?).await?;
    let op = baseline::request_reply(bench.client.clone(), bytes);
    // The first request sets up the client's reply subscription; keep it out of the figures.
    op(0, Instant::now()).await.map_err(|e| anyhow::anyhow!("echo warm-up: {e}"))?;
    let core_rr_max = Rate::of(&closed_loop("core request/reply max", common.inflight, settings.phase, op.clone(), true).await);
    let core_rr_at_target = Rate::of(&open_loop("core request/reply at target", settings.rate_per_s, settings.phase, common.inflight * 16, op, true).await);
    echo.abort();

    let outputs = start_system(&mut bench, common).await?;
    let open = ingest_open_loop(&mut bench, &outputs, common, "ingest open loop", settings.rate_per_s, settings.duration, 0).await?;

    *bench.recorder.lock().map_err(|_| anyhow::anyhow!("poisoned"))? = Recorder::default();
    let watch = bench.system.watch();
    let before = watch.start();
    let op = operation(bench.client.clone(), bench.fleet.clone(), bench.recorder.clone(), bench.clock, format!("max-{}", uuid::Uuid::now_v7()), common.keys);
    let first = (settings.rate_per_s * settings.duration.as_secs_f64()) as u64 + 1;
    let offset = Arc::new(move |i, t| op(first + i, t));
    let ingest_max = Rate::of(&closed_loop("ingest max", common.inflight, settings.phase, offset, true).await);
    let ingest_max_processes = watch.since(&before);
    bench.system.check_alive()?;

    // Ingest alone: policy and actuator paused (SIGSTOP), to tell ingest's own limit
    // apart from the CPU the rest of the system takes on the same cores.
    let lost_before = bench.system.counter("qm-policy", "qm_policy_lease_events", "event=\"lost\"");
    let first = first + ingest_max.ok + ingest_max.failed + 1;
    let ingest_alone = ingest_alone(&bench, common, settings.phase, first).await;
    let lost_after = bench.system.counter("qm-policy", "qm_policy_lease_events", "event=\"lost\"");
    let policy_lease_lost = lost_before.zip(lost_after).map(|(before, after)| (after - before).round() as u64);
    if policy_lease_lost.is_some_and(|lost| lost > 0) {
        eprintln!("warning: the policy lost its writer lease during the paused phase");
    }

    let report = RunReport {
        machine: machine(),
        auth: common.system.auth && common.nats_url.is_none(),
        fleet: common.fleet.clone(),
        payload_bytes: bytes,
        inflight: common.inflight,
        raw_js_max,
        raw_js_at_target,
        core_rr_max,
        core_rr_at_target,
        ingest_max,
        ingest_max_processes,
        ingest_alone,
        policy_lease_lost,
        open_loop: open,
        load_average: load_average(),
    };
    std::fs::create_dir_all(&common.out)?;
    std::fs::write(common.out.join("run.json"), serde_json::to_string_pretty(&report)?)?;
    std::fs::write(common.out.join("run.md"), report.markdown())?;
    let o = &report.open_loop;
    plot::latency(
        &common.out.join("latency.svg"),
        &format!("Latency from intended send time at {:.0} events/s (open loop)", o.target_per_s),
        &[
            ("demand to applied grant", &o.demand_to_grant_applied),
            ("demand to decision", &o.demand_to_decision),
            ("ingest ack", &o.ingest_ack),
            ("raw JetStream publish ack", &report.raw_js_at_target.latency),
            ("core NATS request/reply", &report.core_rr_at_target.latency),
        ],
    )?;
    Ok(report)
}

/// `qm-loadtest ramp`.
pub async fn ramp(common: &Common, settings: &RampSettings) -> anyhow::Result<RampReport> {
    let mut bench = server(common).await?;
    let bytes = payload_bytes(&bench.fleet);
    let raw_js_max = raw_js_max(&bench, common, bytes, Duration::from_secs(3)).await?;
    let outputs = start_system(&mut bench, common).await?;
    let mut steps = Vec::new();
    let mut sustainable: Option<f64> = None;
    let mut rate = settings.start_per_s;
    let mut first = 0u64;
    while rate <= settings.max_per_s {
        let label = format!("ramp {rate:.0}/s");
        let o = ingest_open_loop(&mut bench, &outputs, common, &label, rate, settings.step, first).await?;
        first += o.accepted + o.errors.values().sum::<u64>() + 1;
        let errors: u64 = o.errors.values().sum();
        let grant_p99_ms = o.demand_to_grant_applied.p99_ms;
        let passed = o.demand_to_grant_applied.count > 0
            && o.demand_to_grant_applied.p99_ms <= settings.bound_p99_ms
            && o.accepted_per_s >= 0.95 * rate
            && (errors as f64) <= 0.001 * (o.accepted + errors) as f64;
        eprintln!(
            "ramp {rate:.0}/s: accepted {:.0}/s, errors {errors}, grant p50 {:.2} ms p99 {:.2} ms -> {}",
            o.accepted_per_s,
            o.demand_to_grant_applied.p50_ms,
            o.demand_to_grant_applied.p99_ms,
            if passed { "passed" } else { "over the bound" }
        );
        steps.push(RampStep {
            target_per_s: rate,
            accepted_per_s: o.accepted_per_s,
            errors,
            ingest_ack: o.ingest_ack,
            demand_to_decision: o.demand_to_decision,
            demand_to_grant_applied: o.demand_to_grant_applied,
            passed,
            processes: o.processes,
        });
        if passed && sustainable.is_none_or(|s| s < rate) {
            sustainable = Some(rate);
        }
        // Keep climbing past a failed step to draw the curve (a busy machine makes single
        // steps noisy), until the system clearly cannot keep up.
        let overwhelmed = o.accepted_per_s < 0.9 * rate || grant_p99_ms > 20.0 * settings.bound_p99_ms || errors > 0;
        if overwhelmed {
            break;
        }
        rate = (rate * settings.factor).round();
    }
    let report = RampReport { machine: format!("{}, load average {}", machine(), load_average()), fleet: common.fleet.clone(), bound_p99_ms: settings.bound_p99_ms, raw_js_max, steps, sustainable_per_s: sustainable };
    std::fs::create_dir_all(&common.out)?;
    std::fs::write(common.out.join("ramp.json"), serde_json::to_string_pretty(&report)?)?;
    std::fs::write(common.out.join("ramp.md"), report.markdown())?;
    plot::ramp(&common.out.join("ramp.svg"), &report.steps, settings.bound_p99_ms)?;
    Ok(report)
}
