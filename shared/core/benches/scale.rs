//! The policy core at the scale of `docs/SCALE.md`'s shard: 100,000 workloads on 200
//! pools of 5,000 chips (1M chips), 50 teams, about 25% more demand than chips. A full
//! round, a demand change in that busy fleet, a usage report, the replay fold, and the
//! folded state's heap bytes per workload. Results go in `BENCHMARKS.md`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use qm_core::fixtures::{pool, spec, team};
use qm_core::fold;
use qm_core::state::{FleetState, GrantMap, PoolState, TeamState, WorkloadState};
use qm_core::Engine;
use qm_model::{Action, ActuationEvent, InputEvent, LogEvent, PolicyConfig, Pool, Uuid};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;
use std::hint::black_box;
use std::time::Duration;

/// Counts heap bytes, for the state's footprint.
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Heap bytes `make`'s result holds.
fn held<T>(make: impl FnOnce() -> T) -> (T, usize) {
    let region = Region::new(GLOBAL);
    let value = make();
    let stats = region.change();
    (value, stats.bytes_allocated.saturating_sub(stats.bytes_deallocated))
}

const TYPES: [&str; 8] = ["h100", "h200", "a100", "l4", "mi300x", "tpu-v5e", "tpu-v5p", "tpu-v6e"];
const WORKLOADS: usize = 100_000;
const CHIPS_PER_POOL: u32 = 5_000;

/// The folded state of the fleet before any decision: pools, teams and demands.
fn declared() -> FleetState {
    let mut state = FleetState::default();
    for i in 0..200 {
        let p = Pool { price_per_chip_hour: 1.0 + (i % 8) as f64, ..pool(&format!("p{i:03}"), &format!("r{:02}", i / 8), TYPES[i % 8], CHIPS_PER_POOL) };
        state.pools.insert(p.id.clone(), PoolState { pool: p, retired: false });
    }
    for t in 0..50 {
        let t = team(&format!("t{t:02}"), 8_000.0);
        state.teams.insert(t.id.clone(), TeamState { team: t, usage_recent: 0.0, usage_now: 0.0, usage_at_ms: 0 });
    }
    let mut x: u64 = 7;
    let mut rnd = move |n: u64| {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (x >> 33) % n
    };
    for i in 0..WORKLOADS {
        let a = rnd(8) as usize;
        let b = (a + 1 + rnd(7) as usize) % 8;
        let accepts = [(TYPES[a], 0.5 + rnd(50) as f64 / 100.0), (TYPES[b], 0.3 + rnd(50) as f64 / 100.0)];
        let mut s = spec(&format!("w{i:06}"), &format!("t{:02}", i % 50), &accepts);
        s.gang = rnd(4) == 0;
        s.critical = rnd(100) == 0;
        s.preemptible = !s.critical;
        let desired = 1 + rnd(24) as u32;
        let w = WorkloadState {
            spec: s,
            chips_desired: desired,
            declared_at_ms: 0,
            chips_busy: f64::from(desired),
            idle_since_ms: None,
            idle_cap: None,
            grants: GrantMap::new(),
            failed_pools: Default::default(),
            pending: None,
            last_failure: None,
            finished: false,
        };
        state.workloads.insert(w.spec.id.clone(), w);
    }
    state
}

/// The engine's serialized shape: what a snapshot holds.
#[derive(serde::Serialize)]
struct Snapshot<'a> {
    state: &'a FleetState,
    policy: &'a PolicyConfig,
    pinned: bool,
    last_seq: u64,
    wake_ms: Option<i64>,
}

/// An engine restored from a snapshot of `state` at log position `seq`.
fn restored(state: &FleetState, seq: u64) -> Engine {
    let snapshot = Snapshot { state, policy: &PolicyConfig::default(), pinned: false, last_seq: seq, wake_ms: None };
    rmp_serde::from_slice(&rmp_serde::to_vec_named(&snapshot).expect("encode")).expect("an engine decodes from its snapshot")
}

/// The busy fleet after three rounds an hour apart, every decision applied.
fn busy() -> (Engine, u64, i64) {
    let mut state = declared();
    let mut now = 0;
    for seq in 1..=3u64 {
        now += 3_600_000;
        let mut engine = restored(&state, seq);
        let version = PolicyConfig { version: format!("settle-{seq}"), ..PolicyConfig::default() };
        engine.step(seq + 1, now, &LogEvent::Input(InputEvent::PolicyPublished(version)));
        state = engine.state().clone();
        for w in state.workloads.values_mut() {
            for g in w.grants.values_mut() {
                g.applied = g.decided;
            }
        }
    }
    (restored(&state, 4), 4, now)
}

/// The log a replay folds: pools, teams, every demand, every grant applied and a usage
/// report per workload.
fn replay_log(state: &FleetState) -> Vec<LogEvent> {
    let mut log: Vec<LogEvent> = Vec::new();
    log.extend(state.pools.values().map(|p| LogEvent::Input(InputEvent::PoolDeclared(p.pool.clone()))));
    log.extend(state.teams.values().map(|t| LogEvent::Input(InputEvent::TeamDeclared(t.team.clone()))));
    for w in state.workloads.values() {
        log.push(LogEvent::Input(InputEvent::DemandDeclared { spec: w.spec.clone(), chips_desired: w.chips_desired }));
    }
    for w in state.workloads.values() {
        for (pool, g) in &w.grants {
            let e = ActuationEvent::GrantApplied { decision_id: Uuid::nil(), workload: w.spec.id.clone(), pool: pool.clone(), chips: g.decided };
            log.push(LogEvent::Actuation(e));
        }
        let e = InputEvent::UsageReported { workload: w.spec.id.clone(), chips_busy: f64::from(w.chips_desired) / 2.0, window_s: 60 };
        log.push(LogEvent::Input(e));
    }
    log
}

fn bench(c: &mut Criterion) {
    let ((mut engine, mut seq, now), engine_bytes) = held(busy);
    let state = engine.state();
    let waiting = state.workloads.values().filter(|w| w.chips_wanted_total() > w.target_total()).count();
    let granted: u32 = state.workloads.values().flat_map(|w| w.grants.values()).map(|g| g.decided).sum();
    let (copy, state_bytes) = held(|| engine.state().clone());
    drop(black_box(copy));
    eprintln!(
        "fleet: {WORKLOADS} workloads, {} chips, {granted} granted, {waiting} waiting; heap bytes per workload: engine {}, folded state {}",
        200 * CHIPS_PER_POOL,
        engine_bytes / WORKLOADS,
        state_bytes / WORKLOADS
    );
    let mut group = c.benchmark_group("scale_100k_workloads_1m_chips");
    group.sample_size(10).measurement_time(Duration::from_secs(8));
    let policies = [PolicyConfig::default(), PolicyConfig { version: "b".into(), ..PolicyConfig::default() }];
    let mut k = 0usize;
    group.bench_function("full_round", |b| {
        b.iter(|| {
            k += 1;
            seq += 1;
            let e = LogEvent::Input(InputEvent::PolicyPublished(policies[k % 2].clone()));
            black_box(engine.step(seq, now, &e))
        })
    });
    let pick = engine.state().workloads.values().find(|w| !w.grants.is_empty() && !w.spec.gang && w.chips_desired > 1);
    let (s, desired) = pick.map(|w| (w.spec.clone(), w.chips_desired)).expect("an elastic workload holds a grant");
    group.bench_function("demand_change_busy", |b| {
        b.iter(|| {
            k += 1;
            seq += 1;
            let chips = if k % 2 == 0 { desired } else { desired - 1 };
            let e = LogEvent::Input(InputEvent::DemandDeclared { spec: s.clone(), chips_desired: chips });
            let out = engine.step(seq, now, &e);
            // The actuator's reports, so capacity accounting stays steady.
            for d in &out {
                let report = match &d.action {
                    Action::Grant { pool, chips } => ActuationEvent::GrantApplied { decision_id: Uuid::nil(), workload: d.workload.clone(), pool: pool.clone(), chips: *chips },
                    Action::Revoke { pool, chips } => ActuationEvent::GrantRevoked { decision_id: Uuid::nil(), workload: d.workload.clone(), pool: pool.clone(), chips: *chips },
                    _ => continue,
                };
                seq += 1;
                black_box(engine.step(seq, now, &LogEvent::Actuation(report)));
            }
            black_box(out)
        })
    });
    let ids: Vec<_> = engine.state().workloads.keys().step_by(97).cloned().collect();
    group.bench_function("usage_report", |b| {
        b.iter(|| {
            k += 1;
            seq += 1;
            let e = InputEvent::UsageReported { workload: ids[k % ids.len()].clone(), chips_busy: 1.0 + (k % 3) as f64, window_s: 60 };
            black_box(engine.step(seq, now, &LogEvent::Input(e)))
        })
    });
    eprintln!("incremental path decided {} entries", engine.incremental_steps());
    let log = replay_log(engine.state());
    let policy = PolicyConfig::default();
    group.throughput(Throughput::Elements(log.len() as u64));
    group.bench_function(BenchmarkId::new("replay_fold", format!("{}_events", log.len())), |b| {
        b.iter(|| {
            let mut state = FleetState::default();
            for e in &log {
                match e {
                    LogEvent::Input(e) => black_box(fold::apply_input(&mut state, &policy, e)),
                    LogEvent::Actuation(e) => black_box(fold::apply_actuation(&mut state, e)),
                };
            }
            state
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
