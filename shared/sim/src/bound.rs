//! The offline optimum bound: an LP relaxation that knows the whole future, may split
//! jobs across pools and chips fractionally, never pays a restart, and rounds every
//! slot's capacity up. Any real schedule is feasible for it, so its optimum is an upper
//! bound on busy chip-hours (hence on productive utilization) that no policy can beat.
//! Solved with `microlp` (pure Rust simplex); only for small cases, because the LP has
//! one variable per job, pool and time slot.

use crate::world::{Shape, World};
use microlp::{ComparisonOp, LinearExpr, OptimizationDirection, Problem};

/// Most LP variables the bound is attempted with.
pub const VARS_MAX: usize = 6_000;
/// Fewest time slots worth a bound; coarser than this says too little.
const SLOTS_MIN: usize = 12;
const SLOTS_MAX: usize = 48;

/// The bound, or why there is none.
#[derive(Clone, Debug, PartialEq)]
pub enum Bound {
    /// Upper bound on productive utilization, and the slots used.
    Utilization { value: f64, slots: usize },
    /// The case is too large or the solver failed.
    NotComputed(String),
}

/// Computes the bound for `world`.
pub fn utilization_bound(world: &World) -> Bound {
    let jobs: Vec<usize> = (0..world.jobs.len()).filter(|&j| world.jobs[j].arrival_ms < world.horizon_ms).collect();
    let np = world.pools.len();
    let per_slot = (jobs.len() * np).max(1);
    let slots = (VARS_MAX / per_slot).min(SLOTS_MAX);
    if slots < SLOTS_MIN {
        return Bound::NotComputed(format!("too large for the LP ({} jobs × {np} pools)", jobs.len()));
    }
    let dt_ms = world.horizon_ms as f64 / slots as f64;
    let slot = |k: usize| ((k as f64 * dt_ms) as i64, ((k + 1) as f64 * dt_ms) as i64);
    let mut lp = Problem::new(OptimizationDirection::Maximize);
    let dt_h = dt_ms / 3.6e6;
    let mut pool_rows: Vec<Vec<LinearExpr>> = (0..np).map(|_| (0..slots).map(|_| LinearExpr::empty()).collect()).collect();
    let mut healthy_ch = 0.0;
    for k in 0..slots {
        let (a, b) = slot(k);
        for p in 0..np {
            healthy_ch += f64::from(world.healthy(p, a).min(world.healthy(p, (a + b) / 2))) * dt_h;
        }
    }
    for &j in &jobs {
        let spec = &world.jobs[j];
        let mut work = LinearExpr::empty();
        for k in 0..slots {
            let (a, b) = slot(k);
            let alive = match spec.shape {
                Shape::Batch => b > spec.arrival_ms,
                Shape::Service => b > spec.arrival_ms && a < spec.end_ms,
            };
            if !alive {
                continue;
            }
            let cap = match spec.shape {
                Shape::Batch => f64::from(spec.chips) * spec.busy_fraction,
                Shape::Service => [a, (a + b) / 2, b].iter().map(|&t| spec.need(t)).fold(0.0, f64::max),
            };
            let mut row = LinearExpr::empty();
            for p in (0..np).filter(|&p| spec.accepts(p)) {
                let x = lp.add_var(dt_h, (0.0, cap));
                row.add(x, 1.0);
                pool_rows[p][k].add(x, 1.0);
                work.add(x, spec.tp[p] * dt_h * 3600.0);
            }
            lp.add_constraint(row, ComparisonOp::Le, cap);
        }
        if spec.shape == Shape::Batch {
            lp.add_constraint(work, ComparisonOp::Le, spec.work);
        }
    }
    for (p, rows) in pool_rows.into_iter().enumerate() {
        for (k, row) in rows.into_iter().enumerate() {
            let (a, b) = slot(k);
            let cap = [a, (a + b) / 2, b - 1].iter().map(|&t| world.healthy(p, t)).max().unwrap_or(0);
            lp.add_constraint(row, ComparisonOp::Le, f64::from(cap));
        }
    }
    match lp.solve() {
        // Healthy chip-hours use the slot minimum, busy the slot maximum: both loosen.
        Ok(sol) if healthy_ch > 0.0 => Bound::Utilization { value: (sol.objective() / healthy_ch).min(1.0), slots },
        Ok(_) => Bound::NotComputed("no healthy capacity".into()),
        Err(e) => Bound::NotComputed(format!("solver: {e}")),
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
        let Bound::Utilization { value, .. } = utilization_bound(&w) else { panic!("no bound") };
        for name in crate::alloc::NAMES {
            let mut a = by_name(name).expect("known");
            let m = crate::sim::run(&w, a.as_mut(), &Default::default()).metrics;
            assert!(m.utilization <= value + 1e-6, "{name}: {} > {value}", m.utilization);
        }
        // Easy case: one 4-chip job of 1 h on an otherwise empty fleet. Busy chip-hours
        // are largest on the half-speed pool (2 h there), which the bound finds.
        w.jobs = vec![job("a0", 0, 0.0, 4, 1.0)];
        let Bound::Utilization { value, .. } = utilization_bound(&w) else { panic!("no bound") };
        assert!((value - 8.0 / 64.0).abs() < 1e-6, "{value}");
    }
}
