//! How the cost of a policy round grows with the fleet: a full round, a round caused by
//! one demand change, and a usage report, at 1k, 10k and 100k workloads (200 pools, 50
//! teams); and the replay fold (no rules) over a log of 10k workloads' events.
//! `shared/core/benches/round.rs` has the 10k round; this adds the sizes around it.

mod fleet_state;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use qm_core::fold;
use qm_core::state::FleetState;
use qm_model::{ActuationEvent, InputEvent, LogEvent, PolicyConfig, Uuid};
use std::hint::black_box;
use std::time::Duration;

const SIZES: [usize; 3] = [1_000, 10_000, 100_000];

fn rounds(c: &mut Criterion) {
    let policies = [PolicyConfig::default(), PolicyConfig { version: "b".into(), ..PolicyConfig::default() }];
    let mut full = c.benchmark_group("policy_round_full");
    full.sample_size(10).measurement_time(Duration::from_secs(5));
    let mut fleets = Vec::new();
    for n in SIZES {
        let (mut engine, mut seq, now) = fleet_state::steady(n);
        let mut k = 0usize;
        full.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                k += 1;
                seq += 1;
                // A new policy version forces a full round over an unchanged fleet.
                let e = LogEvent::Input(InputEvent::PolicyPublished(policies[k % 2].clone()));
                black_box(engine.step(seq, now, &e))
            })
        });
        fleets.push((n, engine, seq, now));
    }
    full.finish();

    let mut demand = c.benchmark_group("policy_round_demand_change");
    demand.sample_size(10).measurement_time(Duration::from_secs(5));
    for (n, engine, seq, now) in &mut fleets {
        let held = engine.state().workloads.values().find(|w| !w.grants.is_empty() && !w.spec.gang).map(|w| (w.spec.clone(), w.chips_desired));
        let (spec, desired) = held.expect("some workload holds a grant");
        let mut k = 0u32;
        demand.bench_with_input(BenchmarkId::from_parameter(*n), n, |b, _| {
            b.iter(|| {
                k += 1;
                *seq += 1;
                let chips = if k % 2 == 0 { desired } else { desired + 1 };
                let e = LogEvent::Input(InputEvent::DemandDeclared { spec: spec.clone(), chips_desired: chips });
                let out = engine.step(*seq, *now, &e);
                // Report every grant and revoke applied, as the actuator would.
                for d in &out {
                    let report = match &d.action {
                        qm_model::Action::Grant { pool, chips } => Some(ActuationEvent::GrantApplied { decision_id: Uuid::nil(), workload: d.workload.clone(), pool: pool.clone(), chips: *chips }),
                        qm_model::Action::Revoke { pool, chips } => Some(ActuationEvent::GrantRevoked { decision_id: Uuid::nil(), workload: d.workload.clone(), pool: pool.clone(), chips: *chips }),
                        _ => None,
                    };
                    if let Some(report) = report {
                        *seq += 1;
                        black_box(engine.step(*seq, *now, &LogEvent::Actuation(report)));
                    }
                }
                black_box(out)
            })
        });
    }
    demand.finish();

    let mut usage = c.benchmark_group("policy_usage_report");
    for (n, engine, seq, now) in &mut fleets {
        let ids: Vec<_> = engine.state().workloads.keys().take(1000).cloned().collect();
        let mut k = 0usize;
        usage.bench_with_input(BenchmarkId::from_parameter(*n), n, |b, _| {
            b.iter(|| {
                k += 1;
                *seq += 1;
                let e = LogEvent::Input(InputEvent::UsageReported { workload: ids[k % ids.len()].clone(), chips_busy: 1.0 + (k % 3) as f64, window_s: 60 });
                black_box(engine.step(*seq, *now, &e))
            })
        });
    }
    usage.finish();
}

/// The log a replay folds: pools, teams, every workload's demand, its grant applied,
/// and a usage report each.
fn replay_log(n: usize) -> Vec<LogEvent> {
    let (engine, _, _) = fleet_state::steady(n);
    let state = engine.state();
    let mut log: Vec<LogEvent> = Vec::new();
    log.extend(state.pools.values().map(|p| LogEvent::Input(InputEvent::PoolDeclared(p.pool.clone()))));
    log.extend(state.teams.values().map(|t| LogEvent::Input(InputEvent::TeamDeclared(t.team.clone()))));
    for w in state.workloads.values() {
        log.push(LogEvent::Input(InputEvent::DemandDeclared { spec: w.spec.clone(), chips_desired: w.chips_desired }));
    }
    for w in state.workloads.values() {
        for (pool, g) in &w.grants {
            log.push(LogEvent::Actuation(ActuationEvent::GrantApplied { decision_id: Uuid::nil(), workload: w.spec.id.clone(), pool: pool.clone(), chips: g.decided }));
        }
        log.push(LogEvent::Input(InputEvent::UsageReported { workload: w.spec.id.clone(), chips_busy: f64::from(w.chips_desired), window_s: 60 }));
    }
    log
}

fn replay(c: &mut Criterion) {
    let log = replay_log(10_000);
    let policy = PolicyConfig::default();
    let mut group = c.benchmark_group("replay_fold");
    group.sample_size(10).throughput(Throughput::Elements(log.len() as u64));
    group.bench_function(BenchmarkId::from_parameter(format!("{}_events", log.len())), |b| {
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

criterion_group!(benches, rounds, replay);
criterion_main!(benches);
