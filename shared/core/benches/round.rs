//! A full decision round and an incremental update at 10,000 workloads, 200 pools and
//! 50 teams. Results go in `BENCHMARKS.md`.

use criterion::{criterion_group, criterion_main, Criterion};
use qm_core::fixtures::{pool, spec, team, Given};
use qm_model::{Action, InputEvent, LogEvent, PolicyConfig, Pool};
use std::hint::black_box;

const TYPES: [&str; 8] = ["h100", "h200", "a100", "l4", "mi300x", "tpu-v5e", "tpu-v5p", "tpu-v6e"];

/// A deterministic fleet: 200 pools (8 types x 25 regions), 50 teams, 10,000 workloads
/// wanting about 25% more than the fleet holds, so pending demand and reclaims exist.
fn fleet() -> Given {
    fleet_sized(8)
}

/// The same fleet shape with workloads of `1..=max_chips` chips: 8 oversubscribes the
/// fleet (contended), 4 leaves it with room (quiet: everyone holds what it asked for).
fn fleet_sized(max_chips: u64) -> Given {
    let mut g = Given::new(PolicyConfig::default());
    let mut x: u64 = 42;
    let mut rnd = move |n: u64| {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (x >> 33) % n
    };
    for i in 0..200 {
        let p = Pool { price_per_chip_hour: 1.0 + (i % 8) as f64, ..pool(&format!("p{i:03}"), &format!("r{}", i / 8), TYPES[i % 8], 200) };
        g.input(InputEvent::PoolDeclared(p));
    }
    for t in 0..50 {
        g.input(InputEvent::TeamDeclared(team(&format!("t{t:02}"), 400.0)));
    }
    let mut ds = Vec::new();
    for w in 0..10_000u64 {
        let a = rnd(8) as usize;
        let b = (a + 1 + rnd(7) as usize) % 8;
        let accepts = [(TYPES[a], 0.5 + rnd(50) as f64 / 100.0), (TYPES[b], 0.3 + rnd(50) as f64 / 100.0)];
        let mut s = spec(&format!("w{w:05}"), &format!("t{:02}", w % 50), &accepts);
        s.gang = rnd(4) == 0;
        s.critical = rnd(100) == 0;
        s.preemptible = !s.critical;
        ds.extend(g.demand(&s, 1 + rnd(max_chips) as u32));
    }
    g.ack(ds);
    g.tick_after(3_600);
    g
}

fn bench(c: &mut Criterion) {
    let mut g = fleet();
    let grants = g.engine.status().workloads.iter().filter(|w| !w.granted.is_empty()).count();
    eprintln!("fleet: {grants} of 10000 workloads hold grants");
    let policies = [PolicyConfig::default(), PolicyConfig { version: "b".into(), ..PolicyConfig::default() }];
    let mut seq = g.seq;
    let now = g.now_ms;
    let mut k = 0usize;
    c.bench_function("full_round_10k_workloads_200_pools_50_teams", |b| {
        b.iter(|| {
            k += 1;
            seq += 1;
            let e = LogEvent::Input(InputEvent::PolicyPublished(policies[k % 2].clone()));
            black_box(g.engine.step(seq, now, &e))
        })
    });
    c.bench_function("incremental_usage_report", |b| {
        b.iter(|| {
            k += 1;
            seq += 1;
            let e = LogEvent::Input(InputEvent::UsageReported {
                workload: format!("w{:05}", k % 10_000).into(),
                chips_busy: 1.0 + (k % 3) as f64,
                window_s: 60,
            });
            black_box(g.engine.step(seq, now, &e))
        })
    });
    // What the policy writer reads for /metrics at most once a second.
    c.bench_function("fleet_gauges_10k_workloads", |b| b.iter(|| black_box(qm_core::gauges::FleetGauges::of(&g.engine))));
    demand_toggle(c, "incremental_demand_change_round", &mut g, &mut seq, now, &mut k);
    // The same contended fleet with rounds batched per second of log time: a demand
    // change inside the window is folded only; the round runs once per window.
    g.engine.pin_policy(PolicyConfig { round_batch_ms: 1_000, ..PolicyConfig::default() });
    seq += 1;
    g.engine.step(seq, now, &LogEvent::Input(InputEvent::Tick));
    demand_toggle(c, "incremental_demand_change_batched_1s", &mut g, &mut seq, now, &mut k);
    let mut q = fleet_sized(4);
    let wanting = q.engine.status().workloads.iter().filter(|w| w.pending_chips > 0).count();
    eprintln!("quiet fleet: {wanting} of 10000 workloads want more than they hold");
    let mut qseq = q.seq;
    let qnow = q.now_ms;
    demand_toggle(c, "incremental_demand_change_quiet_fleet", &mut q, &mut qseq, qnow, &mut k);
    eprintln!("quiet fleet: incremental path decided {} entries", q.engine.incremental_steps());
}

/// One workload holding a grant toggles its demand between its size and one chip less;
/// the revokes are acknowledged so capacity accounting stays steady across iterations.
fn demand_toggle(c: &mut Criterion, name: &str, g: &mut Given, seq: &mut u64, now: i64, k: &mut usize) {
    let s = g.engine.state().workloads.values().find(|w| !w.grants.is_empty() && !w.spec.gang && w.chips_desired > 1);
    let (s, desired) = s.map(|w| (w.spec.clone(), w.chips_desired)).expect("some elastic workload holds a grant");
    c.bench_function(name, |b| {
        b.iter(|| {
            *k += 1;
            *seq += 1;
            let chips = if k.is_multiple_of(2) { desired } else { desired - 1 };
            let e = LogEvent::Input(InputEvent::DemandDeclared { spec: s.clone(), chips_desired: chips });
            let out = g.engine.step(*seq, now, &e);
            for d in &out {
                if let Action::Revoke { pool, chips } = &d.action {
                    *seq += 1;
                    let e = LogEvent::Actuation(qm_model::ActuationEvent::GrantRevoked {
                        decision_id: qm_model::Uuid::nil(),
                        workload: d.workload.clone(),
                        pool: pool.clone(),
                        chips: *chips,
                    });
                    black_box(g.engine.step(*seq, now, &e));
                }
            }
            black_box(out)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
