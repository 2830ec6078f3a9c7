//! Waiting for a faster type. Placement is work-conserving: a new workload whose best
//! type is full goes to the best pool with room, however slow. That is right when the
//! fast type stays full, and wrong when it frees chips every few minutes: a job placed
//! at a fifth of its speed runs five times as long, and nothing moves it back. So a new
//! workload waits instead when the wait it can expect for its fastest type is shorter
//! than what running slowly would cost it:
//!
//! - expected run `D`: the mean run of its team's finished work, at the best type's speed
//!   (`crate::history`); no finished work yet, no waiting;
//! - slowdown cost `D * (tp_fast / tp_here - 1)`;
//! - expected wait: the chips wanted on the fast type by all waiting work that accepts
//!   it (this workload's included; what is free there did not fit it), over the rate
//!   at which finished work has lately been freeing that type;
//! - the fast type's chips go to the waiting work that gains most from them: a
//!   workload waits only if no waiting workload whose best type it is would gain more
//!   from it than it would (speedup over its second-best type);
//! - it waits while the expected wait is below the slowdown cost less the time it has
//!   waited already, so the wait is bounded by the cost it avoids, and a wake-up is set
//!   for when that budget runs out.
//!
//! Everything it reads comes from the log (finished work, the round's queue), so
//! replay decides alike. Critical work, work that already holds chips and work pinned
//! to a pool never wait here.

use crate::decide::blocked::Blocked;
use crate::decide::place::free_for;
use crate::decide::view::View;
use crate::decide::Round;
use crate::state::WorkloadState;
use qm_model::AcceleratorType;

/// Why a workload waits for a faster type, with the numbers compared.
#[derive(Clone, Debug, PartialEq)]
pub struct FasterSoon {
    /// The fastest pool it could run in (an index into the round's view).
    pub fast_pool: usize,
    /// Its throughput in the pool placement would have chosen: claims for it look only
    /// at faster pools.
    pub refused_tp: f64,
    pub expected_wait_ms: f64,
    pub slowdown_ms: f64,
    /// When the wait stops being worth it.
    pub until_ms: i64,
}

/// Whether workload `w`, about to be placed in pool `chosen` of its `candidates`
/// (`View::candidates`, which placement has already listed), should wait for a faster
/// type instead (see the module doc).
pub fn faster_soon(r: &Round, w: &WorkloadState, candidates: &[usize], chosen: usize) -> Option<FasterSoon> {
    if !r.policy.wait_for_faster_type || w.spec.critical || w.target_total() > 0 || w.home_pool().is_some() {
        return None;
    }
    // Only a team below its fair share waits: it takes its turn before every team at
    // or above its share, so chips its fast type frees come to it first, as the
    // expected wait assumes. Work beyond its share borrows what is free, however slow.
    let team = r.view.teams.get(&w.spec.team)?;
    if team.fair - team.held <= 1e-9 {
        return None;
    }
    let tp_here = r.view.tp(w, chosen);
    if tp_here <= 0.0 {
        return None;
    }
    let want = w.chips_wanted_total();
    let need = if w.spec.gang { want } else { w.spec.chips_min.max(1) };
    // The fastest pool that could ever hold it; ties go to the lower index.
    let mut fast: Option<(usize, f64)> = None;
    for &i in candidates {
        let tp = r.view.tp(w, i);
        if r.view.pools[i].healthy >= need && fast.is_none_or(|(_, t)| tp > t) {
            fast = Some((i, tp));
        }
    }
    let (fast_pool, tp_fast) = fast?;
    if tp_fast <= tp_here * (1.0 + 1e-9) {
        return None;
    }
    let fast_type = &r.view.pools[fast_pool].accelerator;
    let same_type: Vec<usize> = candidates.iter().copied().filter(|&i| &r.view.pools[i].accelerator == fast_type).collect();
    // Room on the fast type now: placement chose the slower pool on price, not for want
    // of room, and that choice stands.
    if same_type.iter().any(|&i| free_for(r, &w.spec.id, i) >= need) {
        return None;
    }
    // The chips the fast type frees go to the waiting work that gains most from it: one
    // that gains less runs on the slower type now rather than queue for them.
    let (_, own) = speedup(&r.view, w)?;
    if own * (1.0 + 1e-9) < r.waiting_speedup.get(fast_type).copied().unwrap_or(0.0) {
        return None;
    }
    let run_ms = r.state.completions.mean_run_ms(&w.spec.team)?;
    let slowdown_ms = run_ms * (tp_fast / tp_here - 1.0);
    let waited_ms = (r.now() - w.declared_at_ms).max(0) as f64;
    let budget_ms = slowdown_ms - waited_ms;
    if budget_ms <= 0.0 {
        return None;
    }
    let rate = r.state.completions.freeing_per_ms(fast_type, r.now(), r.policy.usage_half_life_s);
    if rate <= 0.0 {
        return None;
    }
    // What is free on the type now did not fit it (split across pools, or kept for
    // another claimant), so only chips yet to be freed count.
    let ahead = r.waiting_for.get(fast_type).copied().unwrap_or(0).max(u64::from(want));
    let expected_wait_ms = ahead as f64 / rate;
    if expected_wait_ms >= budget_ms {
        return None;
    }
    let until_ms = w.declared_at_ms.saturating_add(slowdown_ms.ceil().min(1e15) as i64);
    Some(FasterSoon { fast_pool, refused_tp: tp_here, expected_wait_ms, slowdown_ms, until_ms })
}

/// A workload's best type (among those with pools) and how much faster it runs there
/// than on its second-best type; `None` with fewer than two such types.
pub fn speedup(view: &View, w: &WorkloadState) -> Option<(AcceleratorType, f64)> {
    let mut best: Option<(&AcceleratorType, f64)> = None;
    let mut second = 0.0_f64;
    for a in w.spec.accepts.iter().filter(|a| a.relative_throughput > 0.0 && view.by_type.contains_key(&a.accelerator)) {
        let tp = a.relative_throughput;
        match best {
            Some((b, t)) if tp > t || (tp == t && a.accelerator < *b) => {
                second = second.max(t);
                best = Some((&a.accelerator, tp));
            }
            Some(_) => second = second.max(tp),
            None => best = Some((&a.accelerator, tp)),
        }
    }
    let (b, t) = best?;
    (second > 0.0).then(|| (b.clone(), t / second))
}

impl From<FasterSoon> for Blocked {
    fn from(f: FasterSoon) -> Self {
        Blocked::FasterSoon(f)
    }
}
