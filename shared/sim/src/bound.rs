//! The offline optimum bound: an LP relaxation that knows the whole future, may split
//! jobs across pools and chips fractionally, ignores gangs and never pays a restart. Any
//! real schedule's *productive* busy chip-hours (rework excluded) are feasible for it, so
//! its optimum bounds utilization, and with nominal speeds as weights, normalized
//! utilization. Rework is excluded on purpose: chips redoing lost work are busy, but a
//! policy that preempts more would otherwise "beat" the optimum by wasting more.
//!
//! To stay solvable (`microlp`, pure Rust) on any trace, jobs are merged into classes:
//! same arrival slot, same accepted pools, throughput rounded down to a grid. A class has
//! the summed caps and work of its members and, per pool, their lowest throughput, so any
//! schedule of the members is feasible for the class: merging only loosens the bound. The
//! grid and the slots coarsen until the LP has at most [`VARS_MAX`] variables. Where the
//! solver fails, a closed-form per-job bound (each job busy on its slowest pool until its
//! work is done or time is up, capped by capacity) is reported instead.

use crate::world::{JobSpec, Shape, World};
use microlp::{ComparisonOp, LinearExpr, OptimizationDirection, Problem};
use std::collections::BTreeMap;

/// Most LP variables the bound is attempted with.
pub const VARS_MAX: usize = 6_000;
/// (slots, throughput grid steps per octave; `None` = exact, `Some(0)` = pools only).
const PLANS: [(usize, Option<u32>); 13] = [
    (48, None),
    (24, None),
    (48, Some(8)),
    (24, Some(8)),
    (24, Some(4)),
    (12, None),
    (12, Some(4)),
    (24, Some(2)),
    (12, Some(2)),
    (24, Some(1)),
    (12, Some(1)),
    (24, Some(0)),
    (12, Some(0)),
];

/// An upper bound on (productive) utilization and normalized utilization.
#[derive(Clone, Debug, PartialEq)]
pub struct Bound {
    pub utilization: f64,
    pub utilization_norm: f64,
    /// How it was computed, for the report ("LP, 24 slots, 310 classes" or why not).
    pub method: String,
}

/// A class of merged jobs.
struct Class {
    first: usize,
    /// Cap on busy chips per slot (0 outside the class's life).
    caps: Vec<f64>,
    /// Work units (batch); `None` for services.
    work: Option<f64>,
    /// Lowest throughput per pool; 0 = not accepted.
    tp: Vec<f64>,
}

/// Computes the bound for `world`.
pub fn optimum_bound(world: &World) -> Bound {
    let healthy = healthy_hours(world);
    if healthy.0 <= 0.0 {
        return Bound { utilization: 0.0, utilization_norm: 0.0, method: "no healthy capacity".into() };
    }
    let closed = closed_form(world, healthy);
    for (slots, grid) in PLANS {
        let classes = classes(world, slots, grid);
        let vars: usize = classes.iter().map(|c| c.tp.iter().filter(|&&t| t > 0.0).count() * (slots - c.first)).sum();
        if vars > VARS_MAX {
            continue;
        }
        let grid_s = grid.map_or("exact throughputs".into(), |g| if g == 0 { "pools only".into() } else { format!("throughput grid 1/{g} octave") });
        let method = format!("LP, {slots} slots, {} classes, {grid_s}", classes.len());
        let chip = solve(world, &classes, slots, false);
        let norm = solve(world, &classes, slots, true);
        return match (chip, norm) {
            (Ok(a), Ok(b)) => Bound {
                utilization: (a / healthy.0).min(closed.utilization),
                utilization_norm: (b / healthy.1).min(closed.utilization_norm),
                method,
            },
            (Err(e), _) | (_, Err(e)) => Bound { method: format!("closed form (LP solver: {e})"), ..closed },
        };
    }
    Bound { method: "closed form (LP too large)".into(), ..closed }
}

/// Healthy chip-hours and normalized chip-hours over the horizon, exactly.
fn healthy_hours(w: &World) -> (f64, f64) {
    let mut cuts: Vec<i64> = w.health_changes().into_iter().filter(|&t| t > 0 && t < w.horizon_ms).collect();
    cuts.insert(0, 0);
    cuts.push(w.horizon_ms);
    let (mut chip, mut norm) = (0.0, 0.0);
    for win in cuts.windows(2) {
        let dt_h = (win[1] - win[0]) as f64 / 3.6e6;
        for (p, pool) in w.pools.iter().enumerate() {
            let h = f64::from(w.healthy(p, win[0]));
            chip += h * dt_h;
            norm += h * pool.nominal_tp * dt_h;
        }
    }
    (chip, norm)
}

/// Largest healthy count of pool `p` at any time in `[a, b)`.
fn healthy_max(w: &World, p: usize, a: i64, b: i64) -> u32 {
    let inside = w.health_changes().into_iter().filter(|&t| t > a && t < b);
    std::iter::once(a).chain(inside).map(|t| w.healthy(p, t)).max().unwrap_or(0)
}

/// The most chips a job needs at any time in `[a, b)`.
fn need_max(j: &JobSpec, a: i64, b: i64) -> f64 {
    let base = f64::from(j.chips) * j.busy_fraction;
    match j.pattern {
        crate::world::Pattern::Flat => base,
        crate::world::Pattern::Diurnal { peak_h, .. } => {
            // Between two daily peaks the need is monotone, so its maximum on an interval
            // without a peak is at an end.
            let (ah, bh) = (a as f64 / 3.6e6, b as f64 / 3.6e6);
            let next_peak = peak_h + 24.0 * ((ah - peak_h) / 24.0).ceil();
            if next_peak < bh {
                base
            } else {
                j.need(a).max(j.need(b))
            }
        }
    }
}

fn quantize(tp: f64, grid: Option<u32>) -> u64 {
    match grid {
        _ if tp <= 0.0 => 0,
        None => tp.to_bits(),
        Some(0) => 1,
        Some(g) => ((tp.log2() * f64::from(g)).floor() as i64 + (1 << 20)) as u64,
    }
}

fn classes(w: &World, slots: usize, grid: Option<u32>) -> Vec<Class> {
    let dt = w.horizon_ms as f64 / slots as f64;
    let slot_of = |t: i64| ((t as f64 / dt).floor() as usize).min(slots - 1);
    let bounds = |k: usize| ((k as f64 * dt) as i64, ((k + 1) as f64 * dt) as i64);
    let mut by_key: BTreeMap<(bool, usize, Vec<u64>), Class> = BTreeMap::new();
    for j in w.jobs.iter().filter(|j| j.arrival_ms < w.horizon_ms) {
        let batch = j.shape == Shape::Batch;
        let first = slot_of(j.arrival_ms);
        let key_tp: Vec<u64> = j.tp.iter().map(|&t| quantize(t, if batch { grid } else { Some(0) })).collect();
        let c = by_key.entry((batch, first, key_tp)).or_insert_with(|| Class {
            first,
            caps: vec![0.0; slots],
            work: batch.then_some(0.0),
            tp: j.tp.clone(),
        });
        for (m, &t) in c.tp.iter_mut().zip(&j.tp) {
            *m = m.min(t);
        }
        if let Some(wk) = c.work.as_mut() {
            *wk += j.work;
        }
        for (k, cap) in c.caps.iter_mut().enumerate().skip(first) {
            let (a, b) = bounds(k);
            *cap += match j.shape {
                Shape::Batch => f64::from(j.chips) * j.busy_fraction,
                Shape::Service if b > j.arrival_ms && a < j.end_ms => need_max(j, a.max(j.arrival_ms), b.min(j.end_ms)),
                Shape::Service => 0.0,
            };
        }
    }
    by_key.into_values().collect()
}

/// The LP's optimum: busy chip-hours, or with `norm` nominal-speed-weighted ones.
fn solve(w: &World, classes: &[Class], slots: usize, norm: bool) -> Result<f64, String> {
    let np = w.pools.len();
    let dt_ms = w.horizon_ms as f64 / slots as f64;
    let dt_h = dt_ms / 3.6e6;
    let mut lp = Problem::new(OptimizationDirection::Maximize);
    let mut pool_rows: Vec<Vec<LinearExpr>> = (0..np).map(|_| (0..slots).map(|_| LinearExpr::empty()).collect()).collect();
    for c in classes {
        let mut work = LinearExpr::empty();
        for (k, &cap) in c.caps.iter().enumerate().skip(c.first) {
            if cap <= 0.0 {
                continue;
            }
            let mut row = LinearExpr::empty();
            for p in (0..np).filter(|&p| c.tp[p] > 0.0) {
                let weight = if norm { w.pools[p].nominal_tp } else { 1.0 };
                let x = lp.add_var(weight * dt_h, (0.0, cap));
                row.add(x, 1.0);
                pool_rows[p][k].add(x, 1.0);
                work.add(x, c.tp[p] * dt_h * 3600.0);
            }
            lp.add_constraint(row, ComparisonOp::Le, cap);
        }
        if let Some(wk) = c.work {
            lp.add_constraint(work, ComparisonOp::Le, wk);
        }
    }
    for (p, rows) in pool_rows.into_iter().enumerate() {
        for (k, row) in rows.into_iter().enumerate() {
            let (a, b) = ((k as f64 * dt_ms) as i64, ((k + 1) as f64 * dt_ms) as i64);
            lp.add_constraint(row, ComparisonOp::Le, f64::from(healthy_max(w, p, a, b)));
        }
    }
    lp.solve().map(|s| s.objective()).map_err(|e| e.to_string())
}

/// Each job busy on its slowest accepted pool until its work is done or the horizon
/// comes, never more than the fleet's healthy capacity.
fn closed_form(w: &World, healthy: (f64, f64)) -> Bound {
    let (mut chip, mut norm) = (0.0, 0.0);
    for j in w.jobs.iter().filter(|j| j.arrival_ms < w.horizon_ms) {
        let peak = f64::from(j.chips) * j.busy_fraction;
        let life_h = match j.shape {
            Shape::Batch => (w.horizon_ms - j.arrival_ms) as f64 / 3.6e6,
            Shape::Service => (j.end_ms.min(w.horizon_ms) - j.arrival_ms).max(0) as f64 / 3.6e6,
        };
        let hours_on = |p: usize| match j.shape {
            Shape::Batch => life_h.min(j.work / (f64::from(j.chips) * j.tp[p]) / 3600.0),
            Shape::Service => life_h,
        };
        let ok = (0..w.pools.len()).filter(|&p| j.accepts(p));
        chip += ok.clone().map(|p| peak * hours_on(p)).fold(0.0, f64::max);
        norm += ok.map(|p| peak * hours_on(p) * w.pools[p].nominal_tp).fold(0.0, f64::max);
    }
    Bound {
        utilization: (chip / healthy.0).min(1.0),
        utilization_norm: (norm / healthy.1).min(1.0),
        method: "closed form".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alloc::by_name;
    use crate::testutil::{job, tiny_world};

    #[test]
    fn bound_is_above_every_allocator_and_exact_when_easy() {
        let mut w = tiny_world();
        w.horizon_ms = 4 * 3_600_000;
        w.jobs = vec![job("a0", 0, 0.0, 4, 1.0), job("a1", 0, 0.0, 4, 1.0), job("b0", 1, 0.5, 8, 1.0)];
        let b = optimum_bound(&w);
        assert!(b.method.starts_with("LP"), "{b:?}");
        for name in crate::alloc::NAMES {
            let mut a = by_name(name).expect("known");
            let m = crate::sim::run(&w, a.as_mut(), &Default::default()).metrics;
            assert!(m.utilization <= b.utilization + 1e-6, "{name}: {} > {b:?}", m.utilization);
            assert!(m.utilization_norm <= b.utilization_norm + 1e-6, "{name}: {} > {b:?}", m.utilization_norm);
        }
        // Easy case: one 4-chip job of 1 h on an otherwise empty fleet. Busy chip-hours
        // are largest on the half-speed pool (2 h there), normalized ones equal (4 nh).
        w.jobs = vec![job("a0", 0, 0.0, 4, 1.0)];
        let b = optimum_bound(&w);
        assert!((b.utilization - 8.0 / 64.0).abs() < 1e-6, "{b:?}");
        assert!((b.utilization_norm - 4.0 / 48.0).abs() < 1e-6, "{b:?}");
    }

    #[test]
    fn merging_jobs_only_loosens_the_bound() {
        // Many jobs with distinct speeds: the coarsest plan is at least the exact one.
        let mut w = tiny_world();
        w.horizon_ms = 6 * 3_600_000;
        w.jobs = (0..12u32)
            .map(|i| {
                let mut j = job(&format!("j{i}"), (i % 2) as usize, f64::from(i) * 0.4, 2, 1.0);
                j.tp = vec![1.0, 0.3 + 0.05 * f64::from(i)];
                j
            })
            .collect();
        let exact = solve(&w, &classes(&w, 12, None), 12, false).expect("solves");
        let coarse = solve(&w, &classes(&w, 12, Some(0)), 12, false).expect("solves");
        assert!(coarse >= exact - 1e-6, "{coarse} < {exact}");
        let closed = closed_form(&w, healthy_hours(&w));
        assert!(closed.utilization * healthy_hours(&w).0 >= exact - 1e-6);
    }

    #[test]
    fn diurnal_need_peaks_inside_an_interval() {
        let mut j = job("s", 0, 0.0, 10, 100.0);
        j.shape = Shape::Service;
        j.pattern = crate::world::Pattern::Diurnal { amplitude: 0.8, peak_h: 14.0 };
        let h = |x: f64| (x * 3.6e6) as i64;
        assert!((need_max(&j, h(13.0), h(15.0)) - 10.0).abs() < 1e-9);
        assert!((need_max(&j, h(15.0), h(16.0)) - j.need(h(15.0))).abs() < 1e-9);
        assert!((need_max(&j, h(37.5), h(38.5)) - 10.0).abs() < 1e-9, "next day's peak");
    }
}
