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
use qm_model::{Action, FigureName, PoolId, Reason, ReclaimCause, RuleId, WorkloadId};

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
    emit_move(r, id, (from_id, to_id), total, grace_s, figures(Reason::new(RuleId::Move, msg)));
    true
}

/// A make-before-break move: `chips` granted in the new pool, then the old one reclaimed
/// to 0 with the workload's drain grace (cause `Move`), both under `reason`.
fn emit_move(r: &mut Round, id: &WorkloadId, (from, to): (PoolId, PoolId), chips: u32, grace_s: u32, reason: Reason) {
    r.emit(id, Action::Grant { pool: to, chips }, reason.clone());
    let deadline_ms = r.now() + i64::from(grace_s) * 1000;
    r.emit(id, Action::Reclaim { pool: from, chips: 0, grace_s, deadline_ms, cause: ReclaimCause::Move }, reason);
}

/// Free chips of type `a` beyond what the work waiting for it wants: what an upgrade may
/// take without taking from anyone.
fn spare_of(r: &Round, a: &qm_model::AcceleratorType) -> u64 {
    let free: u64 = r.view.by_type.get(a).into_iter().flatten().map(|&i| u64::from(r.view.pools[i].free_now())).sum();
    free.saturating_sub(r.waiting_for.get(a).copied().unwrap_or(0))
}

/// Upgrades (policy `upgrade_moves`): a workload that has all it asked for moves up to a
/// pool where it runs faster, make-before-break, when that type has chips nobody waits
/// for and the move is expected to pay for its restart. How long the work will still run
/// is unknown; the time it has run on its grant stands in for it (for the heavy-tailed
/// run times of training clusters the expected remainder grows with the age), so the
/// gain per chip in normalized compute times that age must reach `preemption_cost`, the
/// whole gain must pass the restart toll and hysteresis, and the grant must be at least
/// `grant_lifetime_min_s` old. A workload not yet old enough sets the round's wake-up.
pub fn upgrade(r: &mut Round) {
    if !r.policy.upgrade_moves || !r.view.by_type.keys().any(|a| spare_of(r, a) > 0) {
        return;
    }
    let ids: Vec<WorkloadId> = crate::decide::members(&r.state.workloads, r.scope.as_deref())
        .filter(|(_, w)| {
            w.spec.preemptible
                && !w.spec.critical
                && w.grants.len() == 1
                && w.grants.values().all(|g| g.reclaim.is_none() && g.decided > 0)
                && w.chips_wanted_total() <= w.target_total()
        })
        .map(|(id, _)| id.clone())
        .collect();
    for id in ids {
        try_upgrade(r, &id);
    }
}

/// The best upgrade for one workload, made if it is due, or the wake-up for when it is.
fn try_upgrade(r: &mut Round, id: &WorkloadId) {
    let w = &r.state.workloads[id];
    let Some((from_id, g)) = w.grants.iter().next() else { return };
    let Some(&from) = r.view.pool_index.get(from_id) else { return };
    let held = g.target();
    let tp_from = r.view.tp(w, from);
    let hyst = r.policy.hysteresis_fraction.max(0.0);
    let cost = if r.policy.preemption_cost.is_finite() { r.policy.preemption_cost.max(0.0) } else { 0.0 };
    let toll = restart_toll(r.policy);
    let mut best: Option<(f64, usize, f64)> = None;
    for i in r.view.candidates(w) {
        let tp = r.view.tp(w, i);
        if i == from || tp <= tp_from * (1.0 + hyst) || spare_of(r, &r.view.pools[i].accelerator) < u64::from(held) {
            continue;
        }
        let gain = f64::from(held) * (tp - tp_from);
        if gain < toll || fit(r, w, i, false) != Some(held) {
            continue;
        }
        if best.is_none_or(|(b, _, _)| gain > b) {
            best = Some((gain, i, tp));
        }
    }
    let Some((gain, to, tp_to)) = best else { return };
    // Old enough: the promised lifetime is over and the gain over the age pays the restart.
    let pays_after_s = (cost / (tp_to - tp_from)).ceil().min(1e12) as i64;
    let ready_ms = g.since_ms + i64::from(r.policy.grant_lifetime_min_s).max(pays_after_s) * 1000;
    if r.now() < ready_ms {
        r.wake_at(ready_ms);
        return;
    }
    let grace_s = w.spec.drain_grace_s;
    let (from_id, to_id) = (from_id.clone(), r.view.pools[to].id.clone());
    let figures = |reason: Reason| {
        reason
            .with(FigureName::ChipsHeld, f64::from(held))
            .with(FigureName::RelativeThroughput, tp_to)
            .with(FigureName::GainNormalized, gain)
            .with(FigureName::GainMin, toll)
    };
    let msg = format!("{id} moves up from {from_id} to {to_id} ({held} chips at {tp_to:.2}x instead of {tp_from:.2}x; nobody waits for {to_id}'s type)");
    emit_move(r, id, (from_id, to_id), held, grace_s, figures(Reason::new(RuleId::Move, msg)));
}
