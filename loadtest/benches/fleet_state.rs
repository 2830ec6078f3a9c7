//! Builds a steady fleet of any size for the policy benches, fast: the folded state is
//! written directly (its fields are public) and turned into an [`Engine`] through the
//! engine's serialized form (the snapshot format), then one round places every workload
//! and the grants are marked applied, as an ideal actuator would report.
//! Stepping 100,000 demands one by one would take one round each: hours, not seconds.

use qm_core::fixtures::{pool, spec, team};
use qm_core::state::{FleetState, PoolState, TeamState, WorkloadState};
use qm_core::Engine;
use qm_model::{InputEvent, LogEvent, PolicyConfig, Pool};
use serde::Serialize;

pub const TYPES: [&str; 8] = ["h100", "h200", "a100", "l4", "mi300x", "tpu-v5e", "tpu-v5p", "tpu-v6e"];
pub const POOLS: usize = 200;
pub const TEAMS: usize = 50;

/// The engine's serialized shape (see `qm_core::Engine`): what a snapshot holds.
#[derive(Serialize)]
struct Snapshot<'a> {
    state: &'a FleetState,
    policy: &'a PolicyConfig,
    pinned: bool,
    last_seq: u64,
    wake_ms: Option<i64>,
}

/// An engine restored from a state, as a standby restores a snapshot.
pub fn engine_from(state: &FleetState, policy: &PolicyConfig, last_seq: u64) -> Engine {
    let snapshot = Snapshot { state, policy, pinned: false, last_seq, wake_ms: None };
    let bytes = rmp_serde::to_vec_named(&snapshot).expect("encode snapshot");
    rmp_serde::from_slice(&bytes).expect("an Engine decodes from its snapshot shape")
}

/// The workloads of the benchmark fleet: the shape of `shared/core/benches/round.rs`
/// (two accepted types, a quarter gangs, 1% critical, 1 to 8 chips), scaled to `n`.
pub fn workloads(n: usize) -> Vec<(qm_model::WorkloadSpec, u32)> {
    let mut x: u64 = 42;
    let mut rnd = move |m: u64| {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (x >> 33) % m
    };
    (0..n)
        .map(|w| {
            let a = rnd(8) as usize;
            let b = (a + 1 + rnd(7) as usize) % 8;
            let accepts = [(TYPES[a], 0.5 + rnd(50) as f64 / 100.0), (TYPES[b], 0.3 + rnd(50) as f64 / 100.0)];
            let mut s = spec(&format!("w{w:06}"), &format!("t{:02}", w % TEAMS), &accepts);
            s.gang = rnd(4) == 0;
            s.critical = rnd(100) == 0;
            s.preemptible = !s.critical;
            (s, 1 + rnd(8) as u32)
        })
        .collect()
}

/// A steady fleet of `n` workloads on 200 pools and 50 teams, wanting about 25% more
/// than the fleet holds (pool sizes and guarantees scale with `n`), every grant applied.
pub fn steady(n: usize) -> (Engine, u64, i64) {
    let policy = PolicyConfig::default();
    let scale = n as f64 / 10_000.0;
    let chips = ((200.0 * scale).round() as u32).max(1);
    let mut state = FleetState::default();
    for i in 0..POOLS {
        let p = Pool { price_per_chip_hour: 1.0 + (i % 8) as f64, ..pool(&format!("p{i:03}"), &format!("r{}", i / 8), TYPES[i % 8], chips) };
        state.pools.insert(p.id.clone(), PoolState { pool: p, retired: false });
    }
    for t in 0..TEAMS {
        let t = team(&format!("t{t:02}"), 400.0 * scale);
        state.teams.insert(t.id.clone(), TeamState { team: t, usage_recent: 0.0, usage_now: 0.0, usage_at_ms: 0 });
    }
    for (s, desired) in workloads(n) {
        let w = WorkloadState {
            spec: s.clone(),
            chips_desired: desired,
            declared_at_ms: 0,
            chips_busy: f64::from(desired),
            idle_since_ms: None,
            idle_cap: None,
            grants: qm_core::state::GrantMap::new(),
            failed_pools: Default::default(),
            pending: None,
            last_failure: None,
            finished: false,
        };
        state.workloads.insert(s.id.clone(), w);
    }
    let now = 3_600_000;
    state.now_ms = now;
    let mut engine = engine_from(&state, &policy, 1);
    // One round places everything; then every grant is reported applied.
    let placing = PolicyConfig { version: "place".into(), ..policy.clone() };
    engine.step(2, now, &LogEvent::Input(InputEvent::PolicyPublished(placing)));
    let mut state = engine.state().clone();
    for w in state.workloads.values_mut() {
        for g in w.grants.values_mut() {
            g.applied = g.decided;
        }
    }
    (engine_from(&state, &policy, 2), 2, now)
}
