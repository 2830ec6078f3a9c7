//! Writes the golden replay fixture, `tests/fixtures/golden_replay.{log,decisions}.frames`:
//! a synthetic log (seeded, no clock, no randomness beyond the seed) and the decision
//! envelopes the core made for it, byte for byte. `tests/golden_replay.rs` replays the
//! log and demands the same bytes, so a change that alters any decision fails until the
//! fixture is regenerated on purpose (and the commit says why):
//!
//! `cargo run -p qm-ledger --example write_golden_replay`
//!
//! The log plays a fleet of six pools (prices and per-type throughputs from
//! `../shared/data/accelerators`), four teams and about a hundred workloads over four
//! hours: arrivals, demand changes, idle and returning use, finishes, a pool shrink, a
//! retirement and its return, a price change, team changes, three policy versions (the
//! last with batched rounds), and an actuator that applies grants after a delay, fails
//! one in forty, and sometimes drains early.

use qm_core::Engine;
use qm_ledger::frames::write_frames;
use qm_model::*;
use std::collections::BTreeMap;

const SEED: u64 = 0x5eed_0f_90_1d_e4;
/// Ten seconds a step, 1,440 steps: four hours of log time.
const STEP_MS: i64 = 10_000;
const STEPS: u64 = 1_440;
const WORKLOADS_MAX: usize = 90;
/// Until here requests are small and the fleet has room.
const ROOMY_STEP: u64 = 90;
/// From here on nothing arrives and work finishes faster.
const DRAIN_STEP: u64 = 1_100;
const START_MS: i64 = 1_767_225_600_000;

/// splitmix64: small, seeded, the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn permille(&mut self, p: u64) -> bool {
        self.below(1000) < p
    }
    fn tenths(&mut self) -> f64 {
        self.below(11) as f64 / 10.0
    }
}

/// Workload classes: a row of `relative_throughput` in accelerators.json each.
const CLASSES: [(&str, WorkloadKind, &[(&str, f64)]); 4] = [
    ("lora", WorkloadKind::Training, &[("h100", 1.0), ("a100", 0.499)]),
    ("llama", WorkloadKind::Inference, &[("h100", 1.0), ("h200", 1.276)]),
    ("gptj", WorkloadKind::Inference, &[("h100", 1.0), ("l4", 0.102), ("tpu-v5e", 0.193)]),
    ("sdxl", WorkloadKind::Batch, &[("h100", 1.0), ("h200", 1.065), ("tpu-v5e", 0.214)]),
];

/// Pools: (id, region, type, chips, allocation unit, price per chip-hour).
const POOLS: [(&str, &str, &str, u32, u32, f64); 8] = [
    ("use-h100", "us-east", "h100", 64, 8, 4.916),
    ("usw-h100", "us-west", "h100", 32, 1, 4.916),
    ("use-h200", "us-east", "h200", 32, 8, 5.408),
    ("use-a100", "us-east", "a100", 64, 1, 1.844),
    ("usw-l4", "us-west", "l4", 48, 1, 0.75),
    ("use-tpu-v5e", "us-east", "tpu-v5e", 64, 4, 1.2),
    // Only the scripted `probe` jobs run here (see `probe`): a fast type and a slow one.
    ("use-mi300x", "us-east", "mi300x", 8, 1, 3.0),
    ("use-tpu-v6e", "us-east", "tpu-v6e", 32, 1, 2.7),
];

/// The `probe` team's scripted jobs, (step, job, chips): 8-chip jobs run ten minutes
/// each on the MI300X pool, one after another, so finished work shows the type freeing
/// chips often; then one fills the pool and a 4-chip job arrives, five times faster
/// there than on TPU v6e, and waits for MI300X (`faster_type_soon`) instead of taking
/// TPU.
const PROBE: [(u64, usize, u32); 6] = [(250, 0, 8), (312, 1, 8), (374, 2, 8), (436, 3, 8), (498, 4, 8), (500, 5, 4)];
const PROBE_FINISH: [(u64, usize); 6] = [(310, 0), (372, 1), (434, 2), (496, 3), (560, 4), (640, 5)];

fn pool(k: usize, healthy: u32, price: f64) -> Pool {
    let (id, region, accelerator, chips, unit, _) = POOLS[k];
    Pool {
        id: id.into(),
        region: region.into(),
        accelerator: accelerator.into(),
        chips,
        healthy_chips: healthy,
        allocation_unit: unit,
        price_per_chip_hour: price,
    }
}

fn team(id: &str, guarantee: f64, weight: f64, tier: PriorityTier, limit: Option<f64>, regions: &[&str]) -> Team {
    Team {
        id: id.into(),
        guarantee,
        limit,
        weight,
        tier,
        regions: regions.iter().map(|r| (*r).into()).collect(),
        headroom_fraction: if tier == PriorityTier::High { 0.2 } else { 0.0 },
    }
}

/// How a workload's measured use behaves.
#[derive(Clone, Copy, PartialEq)]
enum Use {
    Busy,
    Idle,
    /// Idle until the given step, then busy on every chip it holds.
    Returns(u64),
}

struct Live {
    spec: WorkloadSpec,
    applied: BTreeMap<PoolId, u32>,
    usage: Use,
}

struct Gen {
    rng: Rng,
    engine: Engine,
    now_ms: i64,
    log: Vec<LogRecord>,
    decisions: Vec<Vec<u8>>,
    live: BTreeMap<WorkloadId, Live>,
    /// Actuation reports not delivered yet: (due, order, report).
    inflight: Vec<(i64, u64, ActuationEvent)>,
    order: u64,
    grants: u64,
    born: usize,
    rules: BTreeMap<String, u64>,
}

impl Gen {
    fn append(&mut self, event: LogEvent) {
        let sequence = self.log.len() as u64 + 1;
        let record = LogRecord { sequence, id: deterministic_id(self.now_ms, 1, sequence, 0), time_ms: self.now_ms, event };
        let decisions = self.engine.step(record.sequence, record.time_ms, &record.event);
        for (index, decision) in decisions.into_iter().enumerate() {
            let index = index as u32;
            *self.rules.entry(decision.reason.rule.to_string()).or_default() += 1;
            let envelope = decision_envelope((&record).into(), index, &self.engine.policy().version, false, decision.clone());
            self.decisions.push(encode(&envelope).expect("a decision encodes"));
            self.act(envelope.id, &decision);
        }
        self.log.push(record);
    }

    fn input(&mut self, event: InputEvent) {
        self.append(LogEvent::Input(event));
    }

    fn later(&mut self, after_ms: i64, report: ActuationEvent) {
        self.order += 1;
        self.inflight.push((self.now_ms + after_ms, self.order, report));
    }

    /// Plays the actuator for one decision.
    fn act(&mut self, decision_id: Uuid, d: &Decision) {
        let workload = d.workload.clone();
        let delay = 1_000 + self.rng.below(4) as i64 * 1_000;
        match &d.action {
            Action::Grant { pool, chips } => {
                self.grants += 1;
                let report = if self.grants % 40 == 17 {
                    ActuationEvent::ActuationFailed {
                        decision_id,
                        workload,
                        pool: Some(pool.clone()),
                        error: "backend refused the grant".into(),
                    }
                } else {
                    ActuationEvent::GrantApplied { decision_id, workload, pool: pool.clone(), chips: *chips }
                };
                self.later(delay, report);
            }
            Action::Reclaim { pool, chips, grace_s, deadline_ms, .. } => {
                let drain = ActuationEvent::DrainRequested {
                    decision_id,
                    workload: workload.clone(),
                    pool: pool.clone(),
                    chips: *chips,
                    deadline_ms: *deadline_ms,
                };
                self.later(1_000, drain);
                if self.rng.permille(300) {
                    // The workload drains early and hands the chips back itself.
                    let early = i64::from(*grace_s) * 500;
                    self.later(early, ActuationEvent::GrantRevoked { decision_id, workload, pool: pool.clone(), chips: *chips });
                }
            }
            Action::Revoke { pool, chips } => {
                self.later(delay, ActuationEvent::GrantRevoked { decision_id, workload, pool: pool.clone(), chips: *chips })
            }
            Action::Release { pool } => {
                self.later(1_000, ActuationEvent::GrantRevoked { decision_id, workload, pool: pool.clone(), chips: 0 })
            }
            Action::Pending { .. } => {}
        }
    }

    fn deliver_due(&mut self) {
        let now = self.now_ms;
        let mut due: Vec<_> = self.inflight.iter().filter(|(at, _, _)| *at <= now).cloned().collect();
        self.inflight.retain(|(at, _, _)| *at > now);
        due.sort_by_key(|(at, order, _)| (*at, *order));
        for (_, _, report) in due {
            if let ActuationEvent::GrantApplied { workload, pool, chips, .. }
            | ActuationEvent::GrantRevoked { workload, pool, chips, .. } = &report
            {
                if let Some(l) = self.live.get_mut(workload) {
                    l.applied.insert(pool.clone(), *chips);
                }
            }
            self.append(LogEvent::Actuation(report));
        }
    }

    fn spec(&mut self, step: u64) -> WorkloadSpec {
        let n = self.born;
        self.born += 1;
        let (class, kind, accepts) = CLASSES[self.rng.below(4) as usize];
        let team = match (class, self.rng.below(2)) {
            ("lora", 0) => "llm-training",
            ("lora", _) | ("sdxl", 0) => "research",
            ("llama", _) | ("gptj", 0) => "inference",
            _ => "batch",
        };
        let mut spec = WorkloadSpec::elastic(
            format!("{class}-{n:03}"),
            team,
            accepts.iter().map(|(a, tp)| AcceleratorThroughput { accelerator: (*a).into(), relative_throughput: *tp }).collect(),
            [4, 8, 12, 16, 24, 32, 48][self.rng.below(7) as usize],
        );
        spec.kind = kind;
        spec.chips_min = 1 + self.rng.below(4) as u32;
        spec.chips_step = [1, 1, 2, 4][self.rng.below(4) as usize];
        spec.chips_min = spec.chips_min.div_ceil(spec.chips_step) * spec.chips_step;
        if kind == WorkloadKind::Training && self.rng.permille(250) {
            spec.gang = true;
            spec.chips_max = [8, 16, 32][self.rng.below(3) as usize];
            spec.chips_step = spec.chips_max;
            spec.chips_min = spec.chips_max;
        }
        spec.critical = team == "inference" && self.rng.permille(200);
        spec.preemptible = !spec.critical && !self.rng.permille(100);
        spec.drain_grace_s = [30, 60, 120, 300][self.rng.below(4) as usize];
        spec.urgency = self.rng.tenths();
        spec.risk_tolerance = self.rng.tenths();
        if self.rng.permille(200) {
            spec.deadline_ms = Some(START_MS + (step as i64 + 360 + self.rng.below(720) as i64) * STEP_MS);
        }
        // Two that no rule can serve: an undeclared team, and a type no pool has.
        if n == 37 {
            spec.team = "ghost".into();
        }
        if n == 41 {
            spec.accepts = vec![AcceleratorThroughput { accelerator: "mi300x".into(), relative_throughput: 0.959 }];
        }
        spec
    }

    fn arrive(&mut self, step: u64, roomy: bool) {
        let mut spec = self.spec(step);
        if roomy {
            spec.gang = false;
            spec.chips_min = spec.chips_step;
        }
        let most = if roomy { 4 } else { spec.chips_max };
        let desired = most.min(spec.chips_min.max(1 + self.rng.below(u64::from(most)) as u32));
        let desired = if spec.gang { spec.chips_max } else { desired };
        let usage = match self.rng.below(5) {
            0 => Use::Idle,
            1 => Use::Returns(step + 60 + self.rng.below(120)),
            _ => Use::Busy,
        };
        self.live.insert(spec.id.clone(), Live { spec: spec.clone(), applied: BTreeMap::new(), usage });
        self.input(InputEvent::DemandDeclared { spec, chips_desired: desired });
    }

    fn pick(&mut self) -> Option<WorkloadId> {
        let ids: Vec<&WorkloadId> = self.live.keys().collect();
        (!ids.is_empty()).then(|| ids[self.rng.below(ids.len() as u64) as usize].clone())
    }

    fn change_demand(&mut self, roomy: bool) {
        let Some(id) = self.pick() else { return };
        let spec = self.live[&id].spec.clone();
        let chips = if roomy {
            spec.chips_min * (1 + self.rng.below(2) as u32)
        } else if spec.gang || self.rng.permille(150) {
            if self.rng.permille(300) { 0 } else { spec.chips_max }
        } else {
            self.rng.below(u64::from(spec.chips_max) + 1) as u32
        };
        self.input(InputEvent::DemandDeclared { spec, chips_desired: chips });
    }

    fn finish(&mut self) {
        let Some(id) = self.pick() else { return };
        self.live.remove(&id);
        self.input(InputEvent::WorkloadFinished { workload: id });
    }

    /// Ends the two workloads no rule can serve: while they wait, the fleet is never
    /// quiet, and the log should also exercise the incremental path.
    fn finish_unserved(&mut self) {
        let unserved: Vec<WorkloadId> = self
            .live
            .iter()
            .filter(|(_, l)| l.spec.team.as_str() == "ghost" || l.spec.accepts.iter().any(|a| a.accelerator.as_str() == "mi300x"))
            .map(|(id, _)| id.clone())
            .collect();
        for id in unserved {
            self.live.remove(&id);
            self.input(InputEvent::WorkloadFinished { workload: id });
        }
    }

    fn report_usage(&mut self, step: u64) {
        let reports: Vec<(WorkloadId, f64)> = self
            .live
            .iter()
            .filter_map(|(id, l)| {
                let applied: u32 = l.applied.values().sum();
                let fraction = match l.usage {
                    Use::Busy => 0.9,
                    Use::Idle => 0.2,
                    Use::Returns(at) if step < at => 0.1,
                    Use::Returns(_) => 1.0,
                };
                (applied > 0).then(|| (id.clone(), (f64::from(applied) * fraction * 4.0).round() / 4.0))
            })
            .collect();
        for (workload, chips_busy) in reports {
            self.input(InputEvent::UsageReported { workload, chips_busy, window_s: 120 });
        }
    }

    /// The fleet's scripted changes, by step.
    fn scripted(&mut self, step: u64) {
        match step {
            0 => {
                for k in 0..POOLS.len() {
                    self.input(InputEvent::PoolDeclared(pool(k, POOLS[k].3, POOLS[k].5)));
                }
                self.input(InputEvent::TeamDeclared(team("llm-training", 48.0, 2.0, PriorityTier::High, None, &[])));
                self.input(InputEvent::TeamDeclared(team("inference", 32.0, 1.0, PriorityTier::High, None, &[])));
                self.input(InputEvent::TeamDeclared(team("research", 8.0, 1.0, PriorityTier::Normal, Some(40.0), &[])));
                self.input(InputEvent::TeamDeclared(team("batch", 0.0, 0.5, PriorityTier::Low, None, &["us-east"])));
                self.input(InputEvent::TeamDeclared(team("probe", 16.0, 1.0, PriorityTier::Normal, None, &[])));
            }
            240 => {
                let mut policy = PolicyConfig { version: "golden-2".into(), ..PolicyConfig::default() };
                policy.cost_weight = 0.8;
                policy.usage_fairness_weight = 2.0;
                policy.usage_half_life_s = 1_800;
                policy.grant_lifetime_min_s = 300;
                policy.idle_window_s = 240;
                let by_type = [("h200".into(), 16.0)].into_iter().collect();
                policy.team_guarantees_by_type.insert("inference".into(), by_type);
                self.input(InputEvent::PolicyPublished(policy));
            }
            420 => self.finish_unserved(),
            400 => self.input(InputEvent::PoolDeclared(pool(1, 12, POOLS[1].5))),
            520 => self.input(InputEvent::PoolRetired { pool: "use-h200".into() }),
            600 => self.input(InputEvent::TeamDeclared(team("research", 24.0, 1.5, PriorityTier::Normal, Some(40.0), &[]))),
            // Research asks for a whole h200 pool, more than its limit allows (40
            // normalized, 31 h200 chips): the team-limit rule, whatever the fleet does.
            1 => {
                let mut spec = qm_core::fixtures::spec("wide-000", "research", &[("h200", 1.276)]);
                (spec.kind, spec.chips_min, spec.chips_max, spec.chips_step) = (WorkloadKind::Training, 8, 32, 8);
                self.live.insert(spec.id.clone(), Live { spec: spec.clone(), applied: BTreeMap::new(), usage: Use::Busy });
                self.input(InputEvent::DemandDeclared { spec, chips_desired: 32 });
            }
            700 => self.input(InputEvent::PoolDeclared(pool(2, 24, POOLS[2].5))),
            820 => self.input(InputEvent::PoolDeclared(pool(3, 64, 2.4))),
            960 => {
                let mut policy = PolicyConfig { version: "golden-3".into(), round_batch_ms: 20_000, ..PolicyConfig::default() };
                policy.cost_weight = 0.3;
                policy.hysteresis_fraction = 0.2;
                self.input(InputEvent::PolicyPublished(policy));
            }
            1_100 => self.input(InputEvent::TeamDeclared(team("batch", 16.0, 1.0, PriorityTier::Normal, None, &["us-east"]))),
            _ => {}
        }
    }

    /// The `probe` team's arrivals and finishes at `step` ([`PROBE`]).
    fn probe(&mut self, step: u64) {
        let id = |k: usize| format!("probe-{k}");
        for &(_, k) in PROBE_FINISH.iter().filter(|(at, _)| *at == step) {
            self.input(InputEvent::WorkloadFinished { workload: id(k).as_str().into() });
        }
        for &(_, k, chips) in PROBE.iter().filter(|(at, _, _)| *at == step) {
            let mut spec = qm_core::fixtures::spec(&id(k), "probe", &[("mi300x", 1.0), ("tpu-v6e", 0.2)]);
            (spec.kind, spec.chips_min, spec.chips_max) = (WorkloadKind::Batch, chips, chips);
            self.input(InputEvent::DemandDeclared { spec, chips_desired: chips });
        }
    }

    fn run(&mut self) {
        for step in 0..STEPS {
            self.now_ms = START_MS + step as i64 * STEP_MS;
            self.deliver_due();
            self.scripted(step);
            self.probe(step);
            // A roomy start (small requests, often changed: the incremental path's
            // case), then a crowded fleet, then a drain.
            let roomy = step < ROOMY_STEP;
            if self.born < WORKLOADS_MAX && step < DRAIN_STEP && self.rng.permille(if step < 200 { 250 } else { 70 }) {
                self.arrive(step, roomy);
            }
            if self.rng.permille(if roomy { 200 } else { 60 }) {
                self.change_demand(roomy);
            }
            // Late on the fleet drains: room for moves, and quiet rounds for the
            // incremental path.
            if step > 240 && self.rng.permille(if step < DRAIN_STEP { 50 } else { 100 }) {
                self.finish();
            }
            if step % 24 == 6 {
                self.report_usage(step);
            }
            if step % 3 == 0 {
                self.input(InputEvent::Tick);
            }
            if std::env::var_os("GOLDEN_TRACE").is_some() && step % 60 == 0 {
                let st = self.engine.state();
                let wanting = st.workloads.values().filter(|w| w.chips_wanted_total() > w.target_total()).count();
                eprintln!("step {step}: {} live, {wanting} wanting, {} incremental", st.workloads.len(), self.engine.incremental_steps());
            }
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut g = Gen {
        rng: Rng(SEED),
        engine: Engine::new(PolicyConfig::default()),
        now_ms: START_MS,
        log: Vec::new(),
        decisions: Vec::new(),
        live: BTreeMap::new(),
        inflight: Vec::new(),
        order: 0,
        grants: 0,
        born: 0,
        rules: BTreeMap::new(),
    };
    g.run();
    let log: Vec<Vec<u8>> = g.log.iter().map(encode_value).collect::<Result<_, _>>()?;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    std::fs::create_dir_all(&dir)?;
    let log_bytes = write_frames(&log)?;
    let decision_bytes = write_frames(&g.decisions)?;
    std::fs::write(dir.join("golden_replay.log.frames"), &log_bytes)?;
    std::fs::write(dir.join("golden_replay.decisions.frames"), &decision_bytes)?;
    println!(
        "{} log entries ({} bytes), {} decisions ({} bytes), {} incremental steps",
        g.log.len(),
        log_bytes.len(),
        g.decisions.len(),
        decision_bytes.len(),
        g.engine.incremental_steps()
    );
    let mut kinds: BTreeMap<&str, u64> = BTreeMap::new();
    for r in &g.log {
        let name = match &r.event {
            LogEvent::Input(e) => e.type_name(),
            LogEvent::Actuation(e) => e.type_name(),
        };
        *kinds.entry(name).or_default() += 1;
    }
    println!("{kinds:?}");
    for (rule, n) in &g.rules {
        println!("{rule:>24} {n}");
    }
    Ok(())
}
