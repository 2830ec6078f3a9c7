//! The sharded policy of `docs/SCALE.md`, simulated at its scale: 1M chips in 200 pools
//! over 50 regions, 50 teams, 100,000 workloads. One unsharded engine decides the whole
//! fleet; then one engine per region decides that region's pools and the workloads
//! submitted there, each team's guarantee split across regions by the global budget step
//! (in proportion to the team's demand in each region). Both run the real core, three
//! rounds an hour apart with every decision applied. Printed: how far the sharded
//! allocation is from the unsharded one, per team and in total.
//!
//! `cargo run --release -p qm-sim --example sharded [workloads]`

use qm_core::fixtures::{pool, synthetic_demands, team};
use qm_core::state::{FleetState, PoolState, TeamState, WorkloadState};
use qm_core::Engine;
use qm_model::{InputEvent, LogEvent, PolicyConfig, Pool, Team, WorkloadSpec};
use std::collections::BTreeMap;
use std::time::Instant;

const TYPES: [&str; 8] = ["h100", "h200", "a100", "l4", "mi300x", "tpu-v5e", "tpu-v5p", "tpu-v6e"];
const REGIONS: usize = 50;
const POOLS_PER_REGION: usize = 4;
const CHIPS_PER_POOL: u32 = 5_000;
const TEAMS: usize = 50;

/// The whole fleet: pools (with their region index), teams, workloads (with the region
/// they were submitted in) and what each wants.
struct Fleet {
    pools: Vec<(usize, Pool)>,
    teams: Vec<Team>,
    workloads: Vec<(usize, WorkloadSpec, u32)>,
}

/// Region `r` has four of the eight types, starting at `2r mod 8`; a workload is
/// submitted in a region that has its first accepted type.
fn fleet(n: usize) -> Fleet {
    let mut pools = Vec::new();
    for r in 0..REGIONS {
        for j in 0..POOLS_PER_REGION {
            let t = (2 * r + j) % TYPES.len();
            let p = Pool { price_per_chip_hour: 1.0 + t as f64, ..pool(&format!("r{r:02}-{}", TYPES[t]), &format!("r{r:02}"), TYPES[t], CHIPS_PER_POOL) };
            pools.push((r, p));
        }
    }
    let capacity = f64::from(CHIPS_PER_POOL) * pools.len() as f64;
    // Guarantees add up to half the fleet, in H100-equivalents at about 0.75 each.
    let teams = (0..TEAMS).map(|t| team(&format!("t{t:02}"), 0.5 * 0.75 * capacity / TEAMS as f64)).collect();
    let workloads = synthetic_demands(n, TEAMS, &TYPES, 24, 11)
        .into_iter()
        .enumerate()
        .map(|(i, (s, desired))| {
            // Regions with its first type: those whose four types starting at 2r mod 8
            // include it; the workloads of a type are spread over them in turn.
            let a = TYPES.iter().position(|t| s.accepts[0].accelerator.as_str() == *t).unwrap_or(0);
            let homes: Vec<usize> = (0..REGIONS).filter(|r| (0..POOLS_PER_REGION).any(|j| (2 * r + j) % 8 == a)).collect();
            (homes[i % homes.len()], s, desired)
        })
        .collect();
    Fleet { pools, teams, workloads }
}

/// The folded state of some pools, teams and workloads, before any decision.
fn declared<'a>(pools: impl Iterator<Item = &'a Pool>, teams: &[Team], workloads: impl Iterator<Item = (&'a WorkloadSpec, u32)>) -> FleetState {
    let mut state = FleetState::default();
    for p in pools {
        state.pools.insert(p.id.clone(), PoolState { pool: p.clone(), retired: false });
    }
    for t in teams {
        state.teams.insert(t.id.clone(), TeamState { team: t.clone(), usage_recent: 0.0, usage_now: 0.0, usage_at_ms: 0 });
    }
    for (s, desired) in workloads {
        let mut w = WorkloadState::declared(s.clone(), desired, 0);
        w.chips_busy = f64::from(desired);
        state.workloads.insert(s.id.clone(), w);
    }
    state
}

/// Three full rounds an hour apart, every decision applied before the next.
fn settle(mut state: FleetState) -> FleetState {
    let mut now = 0;
    for seq in 1..=3u64 {
        now += 3_600_000;
        let mut engine = Engine::restore(state, PolicyConfig::default(), seq);
        engine.step(seq + 1, now, &LogEvent::Input(InputEvent::Tick));
        state = engine.state().clone();
        for w in state.workloads.values_mut() {
            for g in w.grants.values_mut() {
                g.applied = g.decided;
            }
        }
    }
    state
}

/// Normalized compute held per team, and chips granted in all.
fn held(state: &FleetState, into: &mut BTreeMap<String, f64>) -> u64 {
    let mut chips = 0u64;
    for w in state.workloads.values() {
        for (pid, g) in &w.grants {
            let tp = state.pools.get(pid).and_then(|p| w.spec.throughput_on(&p.pool.accelerator)).unwrap_or(0.0);
            *into.entry(w.spec.team.to_string()).or_default() += f64::from(g.decided) * tp;
            chips += u64::from(g.decided);
        }
    }
    chips
}

/// The global budget step: each team's guarantee split across regions in proportion to
/// its demand there (normalized at the best accepted type). What crosses regions: one
/// demand figure per team per region up, one guarantee per team per region down.
fn budgets(fleet: &Fleet) -> Vec<Vec<Team>> {
    let index: BTreeMap<&qm_model::TeamId, usize> = fleet.teams.iter().enumerate().map(|(i, t)| (&t.id, i)).collect();
    let mut demand = vec![vec![0.0f64; TEAMS]; REGIONS];
    for (r, s, desired) in &fleet.workloads {
        let tp = s.accepts.iter().map(|a| a.relative_throughput).fold(0.0, f64::max);
        if let Some(&t) = index.get(&s.team) {
            demand[*r][t] += f64::from(*desired) * tp;
        }
    }
    (0..REGIONS)
        .map(|r| {
            fleet
                .teams
                .iter()
                .enumerate()
                .map(|(t, team)| {
                    let total: f64 = demand.iter().map(|d| d[t]).sum();
                    let share = if total > 0.0 { demand[r][t] / total } else { 0.0 };
                    Team { guarantee: team.guarantee * share, ..team.clone() }
                })
                .collect()
        })
        .collect()
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let fleet = fleet(n);
    let chips_total = u64::from(CHIPS_PER_POOL) * fleet.pools.len() as u64;
    println!("fleet: {n} workloads, {} pools in {REGIONS} regions, {chips_total} chips, {TEAMS} teams", fleet.pools.len());

    let start = Instant::now();
    let all = declared(fleet.pools.iter().map(|(_, p)| p), &fleet.teams, fleet.workloads.iter().map(|(_, s, d)| (s, *d)));
    let one = settle(all);
    let mut held_one = BTreeMap::new();
    let chips_one = held(&one, &mut held_one);
    println!("unsharded: {chips_one} chips granted ({:.1}% of the fleet), {:.1} s", 100.0 * chips_one as f64 / chips_total as f64, start.elapsed().as_secs_f64());

    let start = Instant::now();
    let budgets = budgets(&fleet);
    let (mut held_sharded, mut chips_sharded, mut slowest) = (BTreeMap::new(), 0u64, 0.0f64);
    for (r, teams) in budgets.iter().enumerate() {
        let shard_start = Instant::now();
        let pools = fleet.pools.iter().filter(|(pr, _)| *pr == r).map(|(_, p)| p);
        let workloads = fleet.workloads.iter().filter(|(wr, _, _)| *wr == r).map(|(_, s, d)| (s, *d));
        let state = settle(declared(pools, teams, workloads));
        chips_sharded += held(&state, &mut held_sharded);
        slowest = slowest.max(shard_start.elapsed().as_secs_f64());
    }
    println!(
        "sharded by region: {chips_sharded} chips granted ({:.1}% of the fleet), {:.1} s for all {REGIONS} shards in turn, slowest shard {:.2} s",
        100.0 * chips_sharded as f64 / chips_total as f64,
        start.elapsed().as_secs_f64(),
        slowest
    );

    // Distance: L1 over teams of normalized compute held, relative to the unsharded total.
    let total_one: f64 = held_one.values().sum();
    let l1: f64 = fleet
        .teams
        .iter()
        .map(|t| {
            let id = t.id.to_string();
            (held_one.get(&id).copied().unwrap_or(0.0) - held_sharded.get(&id).copied().unwrap_or(0.0)).abs()
        })
        .sum();
    let worst = fleet
        .teams
        .iter()
        .map(|t| {
            let id = t.id.to_string();
            let a = held_one.get(&id).copied().unwrap_or(0.0);
            let b = held_sharded.get(&id).copied().unwrap_or(0.0);
            if a > 0.0 { (b - a).abs() / a } else { 0.0 }
        })
        .fold(0.0, f64::max);
    println!(
        "distance: team allocation L1 = {:.2}% of the unsharded total; worst team {:.2}% off its unsharded holding; chips granted {:+.2}%",
        100.0 * l1 / total_one.max(1e-9),
        100.0 * worst,
        100.0 * (chips_sharded as f64 - chips_one as f64) / chips_one.max(1) as f64
    );
}
