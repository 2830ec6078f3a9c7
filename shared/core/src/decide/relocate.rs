//! Voluntary moves: a workload that cannot get its request in the pool it runs in moves
//! to a pool that gives it clearly more, make-before-break.
//!
//! A move is a `Grant` in the new pool and a `Reclaim` to 0 (cause `Move`) with the
//! workload's drain grace in the old one, so it keeps running until the new grant is
//! applied. It is worth it only when the placement value
//! `placement_score * useful chips` beats staying by more than `hysteresis_fraction`,
//! the gain in normalized compute is at least
//! `max(hysteresis_fraction * held, preemption_cost / grant_lifetime_min_s)` (what the
//! restart costs, spread over a minimum lifetime), and the grant it leaves is at least
//! `grant_lifetime_min_s` old.

use crate::decide::place::fit;
use crate::decide::score::restart_toll;
use crate::decide::Round;
use qm_model::{Action, FigureName, Reason, ReclaimCause, RuleId, WorkloadId};

/// Moves workload `id` out of pool `from`, where it could hold `stays` chips this round,
/// if another candidate pool is clearly better. Returns whether it moved.
pub fn try_move(r: &mut Round, id: &WorkloadId, from: usize, stays: u32) -> bool {
    let w = &r.state.workloads[id];
    // Moving restarts the work: never for work that may not be interrupted, and a gang
    // holds all of its size or nothing, so it is never short where it runs.
    if !w.spec.preemptible || w.spec.critical || w.spec.gang {
        return false;
    }
    let from_id = &r.view.pools[from].id;
    let Some(g) = w.grants.get(from_id) else { return false };
    if g.reclaim.is_some() || w.grants.len() > 1 {
        return false;
    }
    let want = w.chips_wanted_total();
    let tp_from = r.view.tp(w, from);
    let useful_from = f64::from(stays.min(want));
    let value_from = r.placement_score(w, from) * useful_from;
    let norm_from = useful_from * tp_from;
    let mut best: Option<(f64, usize, u32)> = None;
    for i in r.view.candidates(w) {
        // Cheap filter first: a pool whose free chips are worth no more than staying
        // cannot be a better place (most pools, in a busy fleet).
        if i == from || f64::from(crate::decide::place::free_for(r, id, i)) * r.view.tp(w, i) <= norm_from {
            continue;
        }
        let Some(total) = fit(r, w, i, false) else { continue };
        if total < w.spec.chips_min || total == 0 {
            continue;
        }
        let value = r.placement_score(w, i) * f64::from(total.min(want));
        if best.is_none_or(|(v, _, _)| value > v) {
            best = Some((value, i, total));
        }
    }
    let Some((value, to, total)) = best else { return false };
    let hyst = r.policy.hysteresis_fraction.max(0.0);
    let gain = f64::from(total.min(want)) * r.view.tp(w, to) - norm_from;
    let gain_min = (hyst * norm_from).max(restart_toll(r.policy));
    if value <= value_from * (1.0 + hyst) || gain < gain_min {
        return false;
    }
    let ready_ms = g.since_ms + i64::from(r.policy.grant_lifetime_min_s) * 1000;
    if r.now() < ready_ms {
        r.wake_at(ready_ms);
        return false;
    }
    let (held, grace_s) = (g.target(), w.spec.drain_grace_s);
    let (from_id, to_id) = (from_id.clone(), r.view.pools[to].id.clone());
    let figures = |reason: Reason| {
        reason
            .with(FigureName::ChipsWanted, f64::from(want))
            .with(FigureName::ChipsHeld, f64::from(held))
            .with(FigureName::ChipsGranted, f64::from(total))
            .with(FigureName::ValueStay, value_from)
            .with(FigureName::ValueMove, value)
            .with(FigureName::GainNormalized, gain)
            .with(FigureName::GainMin, gain_min)
    };
    let msg = format!("{id} moves from {from_id} ({held} chips, room for {stays}) to {to_id} ({total} chips, wants {want})");
    r.emit(id, Action::Grant { pool: to_id, chips: total }, figures(Reason::new(RuleId::Move, msg.clone())));
    let action = Action::Reclaim {
        pool: from_id,
        chips: 0,
        grace_s,
        deadline_ms: r.now() + i64::from(grace_s) * 1000,
        cause: ReclaimCause::Move,
    };
    r.emit(id, action, figures(Reason::new(RuleId::Move, msg)));
    true
}
