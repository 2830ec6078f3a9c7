//! The policy core at the scale of `docs/SCALE.md`'s shard: 100,000 workloads on 200
//! pools of 5,000 chips (1M chips), 50 teams, about 25% more demand than chips. A full
//! round, a demand change in that busy fleet, a usage report, the replay fold, and the
//! folded state's heap bytes per workload. Results go in `BENCHMARKS.md`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use qm_core::fixtures::{pool, synthetic_demands, team};
use qm_core::fold;
use qm_core::state::{FleetState, PoolState, TeamState, WorkloadState};
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
    for (spec, desired) in synthetic_demands(WORKLOADS, 50, &TYPES, 24, 7) {
        let mut w = WorkloadState::declared(spec, desired, 0);
        w.chips_busy = f64::from(desired);
        state.workloads.insert(w.spec.id.clone(), w);
    }
    state
}

/// The busy fleet after three rounds an hour apart, every decision applied.
fn busy() -> (Engine, u64, i64) {
    let mut state = declared();
    let mut now = 0;
    for seq in 1..=3u64 {
        now += 3_600_000;
        let mut engine = Engine::restore(state, PolicyConfig::default(), seq);
        let version = PolicyConfig { version: format!("settle-{seq}"), ..PolicyConfig::default() };
        engine.step(seq + 1, now, &LogEvent::Input(InputEvent::PolicyPublished(version)));
        state = engine.state().clone();
        for w in state.workloads.values_mut() {
            for g in w.grants.values_mut() {
                g.applied = g.decided;
            }
        }
    }
    (Engine::restore(state, PolicyConfig::default(), 4), 4, now)
}

/// The log a replay folds: pools, teams, every demand, then per workload its grants
/// applied and one usage report.
fn replay_log(state: &FleetState) -> Vec<LogEvent> {
    let declare = state.pools.values().map(|p| InputEvent::PoolDeclared(p.pool.clone()));
    let teams = state.teams.values().map(|t| InputEvent::TeamDeclared(t.team.clone()));
    let demands = state.workloads.values().map(|w| InputEvent::DemandDeclared { spec: w.spec.clone(), chips_desired: w.chips_desired });
    let mut log: Vec<LogEvent> = declare.chain(teams).chain(demands).map(LogEvent::Input).collect();
    for (id, w) in &state.workloads {
        log.extend(w.grants.iter().map(|(pool, g)| {
            LogEvent::Actuation(ActuationEvent::GrantApplied { decision_id: Uuid::nil(), workload: id.clone(), pool: pool.clone(), chips: g.decided })
        }));
        let busy = f64::from(w.chips_desired) / 2.0;
        log.push(LogEvent::Input(InputEvent::UsageReported { workload: id.clone(), chips_busy: busy, window_s: 60 }));
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
    // A new policy version forces a full round over the unchanged fleet.
    let versions: Vec<LogEvent> = ["a", "b"]
        .iter()
        .map(|v| LogEvent::Input(InputEvent::PolicyPublished(PolicyConfig { version: (*v).into(), ..PolicyConfig::default() })))
        .collect();
    let mut k = 0usize;
    group.bench_function("full_round", |b| b.iter(|| {
        (k, seq) = (k + 1, seq + 1);
        black_box(engine.step(seq, now, &versions[k % 2]))
    }));
    let pick = engine.state().workloads.values().find(|w| !w.grants.is_empty() && !w.spec.gang && w.chips_desired > 1);
    let (s, desired) = pick.map(|w| (w.spec.clone(), w.chips_desired)).expect("an elastic workload holds a grant");
    group.bench_function("demand_change_busy", |b| {
        b.iter(|| {
            k += 1;
            seq += 1;
            let chips = if k.is_multiple_of(2) { desired } else { desired - 1 };
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
    // What the policy writer reads for /metrics at most once a second.
    group.bench_function("fleet_gauges", |b| b.iter(|| black_box(qm_core::gauges::FleetGauges::of(&engine))));
    let log = replay_log(engine.state());
    let policy = PolicyConfig::default();
    group.throughput(Throughput::Elements(log.len() as u64));
    group.bench_function(BenchmarkId::new("replay_fold", format!("{}_events", log.len())), |b| {
        b.iter(|| {
            let mut state = FleetState::default();
            for e in &log {
                black_box(fold::apply(&mut state, &policy, e));
            }
            state
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
