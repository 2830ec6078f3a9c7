//! Rules that take chips away: finished work, shrunk pools, lower demand, idle
//! capacity, and revocation once a grace period is over.

use crate::decide::score::{grain, round_down, round_up, size_for, victim_score};
use crate::decide::{members, Round};
use qm_model::{Action, FigureName, PoolId, Reason, ReclaimCause, RuleId, WorkloadId};

/// A finished workload's grants end; the workload is then forgotten.
pub fn release_finished(r: &mut Round) {
    let done: Vec<WorkloadId> =
        r.state.workloads.iter().filter(|(_, w)| w.finished).map(|(id, _)| id.clone()).collect();
    for id in done {
        record_completion(r, &id);
        let pools: Vec<PoolId> = r.state.workloads[&id].grants.keys().cloned().collect();
        for pool in pools {
            let reason = Reason::new(RuleId::Finished, format!("{id} finished; its grant in {pool} ends"));
            r.emit(&id, Action::Release { pool }, reason);
        }
        r.state.workloads.remove(&id);
    }
}

/// Notes what a finished workload shows about the fleet (`crate::history`): the chips
/// it frees per type, and how long it ran on its largest grant, scaled to its best
/// type's speed (an hour at half speed is half an hour of work on the best type).
fn record_completion(r: &mut Round, id: &WorkloadId) {
    let now = r.now();
    let half_life_s = r.policy.usage_half_life_s;
    let w = &r.state.workloads[id];
    let best = crate::decide::demand::best_tp(&r.view, w);
    let mut freed = Vec::new();
    let mut longest: Option<(u32, f64)> = None;
    for (pool, g) in w.grants.iter() {
        let Some(&i) = r.view.pool_index.get(pool) else { continue };
        let chips = g.occupied();
        freed.push((r.view.pools[i].accelerator.clone(), chips));
        let tp = r.view.tp(w, i);
        if chips > 0 && best > 0.0 && longest.is_none_or(|(c, _)| chips > c) {
            longest = Some((chips, (now - g.since_ms).max(0) as f64 * (tp / best).min(1.0)));
        }
    }
    let team = w.spec.team.clone();
    let batch = !w.spec.critical;
    let history = &mut r.state.completions;
    for (accelerator, chips) in freed {
        history.record_release(&accelerator, chips, now, half_life_s);
    }
    if let (Some((_, run_ms)), true) = (longest, batch) {
        history.record_run(&team, run_ms);
    }
}

/// Who loses chips first when a pool shrinks: non-critical work, then lowest victim
/// score, then id.
struct RevokeKey {
    critical: bool,
    victim_score: f64,
    id: WorkloadId,
}

impl RevokeKey {
    fn order(a: &Self, b: &Self) -> std::cmp::Ordering {
        a.critical.cmp(&b.critical).then(a.victim_score.total_cmp(&b.victim_score)).then(a.id.cmp(&b.id))
    }
}

/// A pool that shrank (or was retired) below what it has granted: the chips are gone
/// already, so grants are revoked at once, lowest victim score first, critical last.
pub fn fit_pools(r: &mut Round) {
    for i in 0..r.view.pools.len() {
        if r.view.pools[i].decided <= r.view.pools[i].healthy {
            continue;
        }
        let pool = r.view.pools[i].id.clone();
        let now = r.now();
        let mut holders: Vec<RevokeKey> = r
            .state
            .workloads
            .iter()
            .filter(|(_, w)| w.grants.get(&pool).is_some_and(|g| g.decided > 0))
            .map(|(id, w)| RevokeKey { critical: w.spec.critical, victim_score: victim_score(w, r.policy, now), id: id.clone() })
            .collect();
        holders.sort_by(RevokeKey::order);
        for RevokeKey { id, .. } in holders {
            let (healthy, planned) = (r.view.pools[i].healthy, r.view.pools[i].decided);
            if planned <= healthy {
                break;
            }
            let w = &r.state.workloads[&id];
            let held = w.grants[&pool].decided;
            let g = grain(w, &r.view.pools[i]);
            let over = planned - healthy;
            let mut keep = round_down(held.saturating_sub(over), g);
            if w.spec.gang || keep < w.spec.chips_min {
                keep = 0;
            }
            let rule = if healthy == 0 { RuleId::PoolRetired } else { RuleId::PoolShrink };
            let reason = Reason::new(rule, format!("{pool} has {healthy} healthy chips for {planned} granted"))
                .with(FigureName::PoolHealthyChips, f64::from(healthy))
                .with(FigureName::PoolGrantedChips, f64::from(planned))
                .with(FigureName::ChipsKept, f64::from(keep));
            r.emit(&id, Action::Revoke { pool: pool.clone(), chips: keep }, reason);
        }
    }
}

/// A workload that asks for fewer chips than it holds gets the difference revoked at
/// once: it asked, so no grace is needed.
pub fn follow_demand_down(r: &mut Round) {
    let mut cuts = Vec::new();
    for (id, w) in members(&r.state.workloads, r.scope.as_deref()) {
        let desired = w.chips_desired;
        if w.target_total() <= desired {
            continue;
        }
        let mut left = desired;
        for (pool, g) in &w.grants {
            let Some(&i) = r.view.pool_index.get(pool) else { continue };
            let held = g.target();
            // A gang shrinks to its new size in one go, or to nothing if that size
            // does not fit the pool's grain. An elastic grant may stay at the request
            // rounded up to the pool's grain, as placement grants it (`size_for`).
            let gr = grain(w, &r.view.pools[i]);
            let allowed = if w.spec.gang { left } else { size_for(left, w.spec.chips_max, gr) };
            let mut keep = round_down(held.min(allowed), gr);
            if keep < w.spec.chips_min {
                keep = 0;
            }
            left -= keep.min(left);
            if keep < held {
                cuts.push((id.clone(), pool.clone(), keep, held, desired));
            }
        }
    }
    for (id, pool, keep, held, desired) in cuts {
        let reason = Reason::new(RuleId::DemandDrop, format!("{id} asks for {desired} chips and holds {held} in {pool}"))
            .with(FigureName::ChipsDesired, f64::from(desired))
            .with(FigureName::ChipsHeld, f64::from(held))
            .with(FigureName::ChipsKept, f64::from(keep));
        r.emit(&id, Action::Revoke { pool, chips: keep }, reason);
    }
}

/// When the idle give-back notice for a workload idle since `since_ms` is due: its drain
/// grace before the idle window ends (at the first low report if the grace is longer),
/// so the chips go back when the window is over, not a grace period later. The notice is
/// called off at its deadline if use came back meanwhile (see [`revoke_due`]).
pub fn idle_notice_ms(since_ms: i64, grace_s: u32, policy: &qm_model::PolicyConfig) -> i64 {
    let window_ms = i64::from(policy.idle_window_s) * 1000;
    since_ms + (window_ms - i64::from(grace_s) * 1000).max(0)
}

/// Whether a workload has been idle for the whole idle window by now.
fn idle_for_window(w: &crate::state::WorkloadState, policy: &qm_model::PolicyConfig, now: i64) -> bool {
    w.idle_since_ms.is_some_and(|s| s + i64::from(policy.idle_window_s) * 1000 <= now)
}

/// Reserved-but-idle capacity is given back: a grant whose measured use stayed below
/// `idle_threshold_fraction` of it for `idle_window_s` shrinks to
/// `round_up(busy * (1 + headroom))` (at least `chips_min`). The workload is told its
/// drain grace before the window ends ([`idle_notice_ms`]), so the chips are free at the
/// end of the window. Critical and gang workloads are left alone: one cannot be shrunk by
/// policy, the other cannot be shrunk in part.
pub fn give_back_idle(r: &mut Round) {
    let now = r.now();
    let mut shrinks = Vec::new();
    for (id, w) in members(&r.state.workloads, r.scope.as_deref()) {
        let Some(since) = w.idle_since_ms else { continue };
        if w.spec.critical || w.spec.gang {
            continue;
        }
        let notice_ms = idle_notice_ms(since, w.spec.drain_grace_s, r.policy);
        if now < notice_ms {
            r.wake_ms = Some(r.wake_ms.map_or(notice_ms, |x| x.min(notice_ms)));
            continue;
        }
        let Some(pool) = w.home_pool() else { continue };
        let Some(&i) = r.view.pool_index.get(pool) else { continue };
        let g = &w.grants[pool];
        if g.reclaim.is_some() {
            continue;
        }
        let headroom = r.view.teams.get(&w.spec.team).map_or(r.policy.headroom_fraction, |t| t.headroom);
        let held = g.target();
        let want = (w.chips_busy * (1.0 + headroom.max(0.0))).ceil().min(f64::from(held)) as u32;
        let keep = round_up(want.max(w.spec.chips_min), grain(w, &r.view.pools[i])).min(held);
        let step = (r.policy.hysteresis_fraction * f64::from(held)).max(1.0);
        if f64::from(held - keep) < step {
            continue;
        }
        let grace_s = w.spec.drain_grace_s;
        let reason = Reason::new(
            RuleId::IdleGiveBack,
            format!("{id} used {:.1} of {held} chips for {}s; keeping use plus headroom", w.chips_busy, (now - since) / 1000),
        )
        .with(FigureName::ChipsBusy, w.chips_busy)
        .with(FigureName::ChipsHeld, f64::from(held))
        .with(FigureName::IdleThresholdFraction, r.policy.idle_threshold_fraction)
        .with(FigureName::IdleS, ((now - since) / 1000) as f64)
        .with(FigureName::HeadroomFraction, headroom)
        .with(FigureName::ChipsKept, f64::from(keep));
        let action = Action::Reclaim {
            pool: pool.clone(),
            chips: keep,
            grace_s,
            deadline_ms: now + i64::from(grace_s) * 1000,
            cause: ReclaimCause::IdleGiveBack,
        };
        shrinks.push((id.clone(), action, reason));
    }
    for (id, action, reason) in shrinks {
        r.emit(&id, action, reason);
    }
}

/// Once a reclaim's grace is over, the chips above its target are revoked.
pub fn revoke_due(r: &mut Round) {
    let now = r.now();
    let mut due = Vec::new();
    for (id, w) in members(&r.state.workloads, r.scope.as_deref()) {
        for (pool, g) in &w.grants {
            if let Some(rc) = &g.reclaim {
                if rc.deadline_ms <= now {
                    due.push((id.clone(), pool.clone(), rc.chips_to.min(g.decided), g.decided, rc.cause));
                } else {
                    r.wake_ms = Some(r.wake_ms.map_or(rc.deadline_ms, |x| x.min(rc.deadline_ms)));
                }
            }
        }
    }
    for (id, pool, chips, held, cause) in due {
        if matches!(cause, ReclaimCause::OwnerReclaim | ReclaimCause::Preemption) && !anyone_waits_for(r, &id, &pool) {
            // The work the chips were taken for was served elsewhere or went away: the
            // victim keeps what it holds instead of losing it for nobody.
            let msg = format!("nobody waits for {id}'s chips in {pool} any more; it keeps {held}");
            let reason = Reason::new(RuleId::ReclaimCancelled, msg).with(FigureName::ChipsHeld, f64::from(held));
            r.emit(&id, Action::Grant { pool, chips: held }, reason);
            continue;
        }
        if cause == ReclaimCause::IdleGiveBack && !r.state.workloads.get(&id).is_some_and(|w| idle_for_window(w, r.policy, now)) {
            // The notice came within the idle window and use came back before its end:
            // the workload keeps its chips and its cap goes.
            if let Some(w) = r.state.workloads.get_mut(&id) {
                w.idle_cap = None;
            }
            let msg = format!("{id} is busy again before its idle window ended; it keeps {held} in {pool}");
            let reason = Reason::new(RuleId::ReclaimCancelled, msg).with(FigureName::ChipsHeld, f64::from(held));
            r.emit(&id, Action::Grant { pool, chips: held }, reason);
            continue;
        }
        let reason = Reason::new(RuleId::GraceOver, format!("{id}'s grace in {pool} is over ({cause:?}); revoking to {chips}"))
            .with(FigureName::ChipsHeld, f64::from(held))
            .with(FigureName::ChipsKept, f64::from(chips));
        r.emit(&id, Action::Revoke { pool, chips }, reason);
    }
}

/// Whether a workload other than `victim` is blocked this round and could run in `pool`.
fn anyone_waits_for(r: &Round, victim: &WorkloadId, pool: &PoolId) -> bool {
    let Some(&i) = r.view.pool_index.get(pool) else { return true };
    r.blocked.keys().filter(|b| *b != victim).any(|b| r.state.workloads.get(b).is_some_and(|w| r.view.candidates(w).contains(&i)))
}
