//! Small worlds for unit tests.

use crate::world::{JobSpec, Pattern, PoolSpec, Shape, TeamSpec, World};

/// A batch job of `chips` on pool 0 (tp 1) with `hours` of work, arriving at `at_h`.
pub fn job(id: &str, team: usize, at_h: f64, chips: u32, hours: f64) -> JobSpec {
    let arrival_ms = (at_h * 3.6e6) as i64;
    JobSpec {
        id: id.into(),
        team,
        arrival_ms,
        chips,
        chips_min: chips,
        gang: true,
        shape: Shape::Batch,
        work: f64::from(chips) * hours * 3600.0,
        end_ms: arrival_ms + (hours * 3.6e6) as i64,
        tp: vec![1.0, 0.5],
        busy_fraction: 1.0,
        pattern: Pattern::Flat,
        critical: false,
        urgency: 0.0,
    }
}

/// Two pools (8 fast chips, 8 half-speed chips), two teams with half of each.
pub fn tiny_world() -> World {
    let pool = |id: &str, acc: &str, tp: f64| PoolSpec {
        id: id.into(),
        region: "r".into(),
        accelerator: acc.into(),
        chips: 8,
        price: 1.0,
        nominal_tp: tp,
    };
    let team = |id: &str| TeamSpec { id: id.into(), guarantee: 6.0, weight: 1.0, tier: Default::default(), reserved: vec![4, 4] };
    World {
        name: "tiny".into(),
        description: String::new(),
        seed: 1,
        horizon_ms: 10 * 3_600_000,
        tick_ms: 60_000,
        actuation_delay_ms: 0,
        drain_grace_s: 60,
        critical_wait_max_ms: 900_000,
        pools: vec![pool("r/fast", "fast", 1.0), pool("r/slow", "slow", 0.5)],
        teams: vec![team("a"), team("b")],
        jobs: vec![job("j0", 0, 0.0, 4, 1.0), job("j1", 1, 0.0, 4, 2.0)],
        outages: Vec::new(),
        policy: Default::default(),
    }
}
