//! The results, as JSON (for tools) and as Markdown (for BENCHMARKS.md).

use crate::fleet::FleetShape;
use crate::loops::LoopResult;
use crate::procstat::Usage;
use crate::record::Percentiles;
use serde::Serialize;
use std::fmt::Write as _;

/// One rate figure with its latency.
#[derive(Clone, Debug, Serialize)]
pub struct Rate {
    pub label: String,
    pub ok_per_s: f64,
    pub ok: u64,
    pub failed: u64,
    pub seconds: f64,
    pub latency: Percentiles,
}

impl Rate {
    pub fn of(result: &LoopResult) -> Self {
        Self {
            label: result.label.clone(),
            ok_per_s: result.ok_per_s(),
            ok: result.ok,
            failed: result.failed,
            seconds: result.elapsed.as_secs_f64(),
            latency: Percentiles::of(&result.latency),
        }
    }
}

/// The open-loop phase at the target rate.
#[derive(Clone, Debug, Serialize)]
pub struct OpenLoop {
    pub target_per_s: f64,
    pub seconds: f64,
    pub accepted_per_s: f64,
    pub accepted: u64,
    pub errors: std::collections::BTreeMap<String, u64>,
    pub ingest_ack: Percentiles,
    pub demand_to_decision: Percentiles,
    pub demand_to_grant_applied: Percentiles,
    /// Demand changes accepted, "up" demands among them (each should end in a grant).
    pub demands: u64,
    pub demands_up: u64,
    pub processes: Vec<Usage>,
}

/// Everything `qm-loadtest run` measured.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    pub machine: String,
    /// Auth on the server, credentials and signatures in the services (`--no-auth`: off).
    pub auth: bool,
    pub fleet: FleetShape,
    /// Bytes of one stored input envelope (mean over the request mix); the raw baseline's payload.
    pub payload_bytes: usize,
    /// Acks (raw) or requests (ingest) in flight in the closed-loop figures.
    pub inflight: usize,
    pub raw_js_max: Rate,
    pub raw_js_at_target: Rate,
    pub core_rr_max: Rate,
    pub core_rr_at_target: Rate,
    pub ingest_max: Rate,
    pub ingest_max_processes: Vec<Usage>,
    /// Ingest's closed-loop rate with policy and actuator paused, if they could be.
    pub ingest_alone: Option<Rate>,
    /// Times the policy lost its writer lease during the paused phase (should be 0);
    /// `None` when its metrics could not be read.
    pub policy_lease_lost: Option<u64>,
    pub open_loop: OpenLoop,
    /// `/proc/loadavg` at the end (1, 5, 15 minutes): work from outside the test.
    pub load_average: String,
}

/// One step of the ramp.
#[derive(Clone, Debug, Serialize)]
pub struct RampStep {
    pub target_per_s: f64,
    pub accepted_per_s: f64,
    pub errors: u64,
    pub ingest_ack: Percentiles,
    pub demand_to_decision: Percentiles,
    pub demand_to_grant_applied: Percentiles,
    pub passed: bool,
    pub processes: Vec<Usage>,
}

/// What `qm-loadtest ramp` measured.
#[derive(Clone, Debug, Serialize)]
pub struct RampReport {
    pub machine: String,
    pub fleet: FleetShape,
    pub bound_p99_ms: f64,
    pub raw_js_max: Rate,
    pub steps: Vec<RampStep>,
    /// The highest target rate whose step passed (p99 demand-to-grant within the bound,
    /// at least 95% of the target accepted, under 0.1% errors). Steps go on past a failed
    /// one until the system is overwhelmed (under 90% accepted, p99 over 20x the bound, or errors).
    pub sustainable_per_s: Option<f64>,
}

/// CPU model, cores and memory, from `/proc`.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split(':').nth(1)).map(|s| s.trim().to_owned()))
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().next().and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse::<f64>().ok()))
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    format!("{cpu}, {cores} cores, {mem_gib:.0} GiB")
}

fn pct(p: &Percentiles) -> String {
    format!("{:.2} / {:.2} / {:.2} / {:.2} ms ({} samples)", p.p50_ms, p.p90_ms, p.p99_ms, p.p999_ms, p.count)
}

fn processes(out: &mut String, usage: &[Usage]) {
    let _ = writeln!(out, "| process | CPU (% of one core) | RSS (MiB) | peak RSS (MiB) |\n|---|---:|---:|---:|");
    for u in usage {
        let _ = writeln!(out, "| {} | {:.0} | {:.1} | {:.1} |", u.name, u.cpu_percent, u.rss_mib, u.rss_peak_mib);
    }
}

impl RunReport {
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let o = &self.open_loop;
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        let auth = if self.auth { "on (each service as itself, signing; the actuator verifying)" } else { "off (--no-auth)" };
        let _ = writeln!(s, "Machine: {} (load average at the end {}). Auth and signatures: {auth}. Fleet: {} teams, {} pools, {} workloads; {:.0}% of requests are demand changes, the rest usage samples. Stored event: {} bytes. Pipelining: {} in flight.\n",
            self.machine, self.load_average, self.fleet.teams, self.fleet.pools, self.fleet.workloads, self.fleet.demand_fraction * 100.0, self.payload_bytes, self.inflight);
        let _ = writeln!(s, "| throughput (closed loop, {} in flight) | per second | ratio |\n|---|---:|---:|", self.inflight);
        let _ = writeln!(s, "| raw JetStream persisted publish + msg-id dedup | {:.0} | 1.00 |", self.raw_js_max.ok_per_s);
        let _ = writeln!(s, "| core NATS request/reply | {:.0} | {:.2} |", self.core_rr_max.ok_per_s, ratio(self.core_rr_max.ok_per_s, self.raw_js_max.ok_per_s));
        let _ = writeln!(s, "| **ingest accepted** (full system running) | **{:.0}** | **{:.2}** of raw JetStream, {:.2} of core request/reply |\n",
            self.ingest_max.ok_per_s, ratio(self.ingest_max.ok_per_s, self.raw_js_max.ok_per_s), ratio(self.ingest_max.ok_per_s, self.core_rr_max.ok_per_s));
        if let Some(alone) = &self.ingest_alone {
            let lease = match self.policy_lease_lost {
                Some(0) => "the policy kept its writer lease".to_owned(),
                Some(n) => format!("**the policy lost its writer lease {n} times**"),
                None => "lease not checked".to_owned(),
            };
            let _ = writeln!(s, "Ingest alone (policy and actuator paused in slices shorter than the lease TTL; {lease}): {:.0}/s, {:.2} of raw JetStream.\n", alone.ok_per_s, ratio(alone.ok_per_s, self.raw_js_max.ok_per_s));
        }
        let _ = writeln!(s, "Open loop at {:.0} events/s for {:.0} s: accepted {:.0}/s, errors {:?}.\n", o.target_per_s, o.seconds, o.accepted_per_s, o.errors);
        let _ = writeln!(s, "| latency from intended send time | p50 / p90 / p99 / p99.9 |\n|---|---|");
        let _ = writeln!(s, "| raw JetStream publish ack (same rate) | {} |", pct(&self.raw_js_at_target.latency));
        let _ = writeln!(s, "| core NATS request/reply (same rate) | {} |", pct(&self.core_rr_at_target.latency));
        let _ = writeln!(s, "| ingest acknowledgement | {} |", pct(&o.ingest_ack));
        let _ = writeln!(s, "| demand to decision | {} |", pct(&o.demand_to_decision));
        let _ = writeln!(s, "| demand to applied grant | {} |", pct(&o.demand_to_grant_applied));
        let _ = writeln!(s, "\nRatios at {:.0}/s: ingest ack p99 = {:.1}x raw JetStream ack p99; demand-to-grant p99 = {:.1}x.\n",
            o.target_per_s, ratio(o.ingest_ack.p99_ms, self.raw_js_at_target.latency.p99_ms), ratio(o.demand_to_grant_applied.p99_ms, self.raw_js_at_target.latency.p99_ms));
        let _ = writeln!(s, "Processes during the open-loop phase:\n");
        processes(&mut s, &o.processes);
        let _ = writeln!(s, "\nProcesses during the closed-loop ingest phase:\n");
        processes(&mut s, &self.ingest_max_processes);
        s
    }
}

impl RampReport {
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "Machine: {}. Fleet: {} teams, {} pools, {} workloads. Bound: p99 demand-to-grant {} ms. Raw JetStream (same run): {:.0}/s.\n",
            self.machine, self.fleet.teams, self.fleet.pools, self.fleet.workloads, self.bound_p99_ms, self.raw_js_max.ok_per_s);
        let _ = writeln!(s, "| target/s | accepted/s | errors | ingest ack p99 | decision p99 | grant p50 | grant p99 | grant p99.9 | passed |\n|---:|---:|---:|---:|---:|---:|---:|---:|:---:|");
        for st in &self.steps {
            let _ = writeln!(s, "| {:.0} | {:.0} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {} |", st.target_per_s, st.accepted_per_s, st.errors,
                st.ingest_ack.p99_ms, st.demand_to_decision.p99_ms, st.demand_to_grant_applied.p50_ms, st.demand_to_grant_applied.p99_ms,
                st.demand_to_grant_applied.p999_ms, if st.passed { "yes" } else { "no" });
        }
        match self.sustainable_per_s {
            Some(rate) => {
                let _ = writeln!(s, "\nHighest sustainable rate: **{rate:.0} events/s** ({:.2} of raw JetStream).", rate / self.raw_js_max.ok_per_s.max(1e-9));
            }
            None => {
                let _ = writeln!(s, "\nNo step met the bound.");
            }
        }
        s
    }
}
