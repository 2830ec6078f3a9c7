//! Fold: apply a log entry, or a decision the core just made, to the state.
//!
//! No rules live here; this is what a replay runs. Each fold reports what kind of
//! change it made so the engine can skip the decision round when nothing material moved.

use crate::state::{FleetState, GrantMap, PendingReclaim, PendingState, PoolState, TeamState, WorkloadState};
use qm_model::{Action, ActuationEvent, Decision, InputEvent, LogEvent, PolicyConfig, PoolId, WorkloadId};

/// What a folded event changed, from the decision round's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Nothing changed (a duplicate, an unknown workload, a tick).
    Nothing,
    /// Something changed that no rule reacts to right away.
    Quiet,
    /// Measured use changed; the engine asks the rules whether that matters.
    Usage,
    /// A workload's request (`chips_desired`) changed: the engine applies the
    /// new-request rule (`decide::renew`), then runs a round.
    NewRequest,
    /// Capacity, demand, teams or pools changed: run a decision round.
    Round,
}

/// Folds one log entry, input or actuation report, with no rules: what a replay of the
/// state alone runs. The policy is the one in force (see [`apply_input`]).
pub fn apply(state: &mut FleetState, policy: &PolicyConfig, event: &LogEvent) -> Effect {
    match event {
        LogEvent::Input(e) => apply_input(state, policy, e),
        LogEvent::Actuation(e) => apply_actuation(state, e),
    }
}

/// Folds one input fact. `policy` supplies only the idle threshold that defines the
/// fact "this grant is idle"; everything that acts on it lives in `decide`.
pub fn apply_input(state: &mut FleetState, policy: &PolicyConfig, event: &InputEvent) -> Effect {
    let now = state.now_ms;
    match event {
        InputEvent::PoolDeclared(pool) => match state.pools.get(&pool.id) {
            Some(p) if !p.retired && &p.pool == pool => Effect::Nothing,
            _ => {
                state.pools.insert(pool.id.clone(), PoolState { pool: pool.clone(), retired: false });
                Effect::Round
            }
        },
        InputEvent::PoolRetired { pool } => match state.pools.get_mut(pool) {
            Some(p) if !p.retired => {
                p.retired = true;
                Effect::Round
            }
            _ => Effect::Nothing,
        },
        InputEvent::TeamDeclared(team) => match state.teams.get_mut(&team.id) {
            Some(t) if &t.team == team => Effect::Nothing,
            Some(t) => {
                t.team = team.clone();
                Effect::Round
            }
            None => {
                let ts = TeamState { team: team.clone(), usage_recent: 0.0, usage_now: 0.0, usage_at_ms: now };
                state.teams.insert(team.id.clone(), ts);
                Effect::Round
            }
        },
        // The engine owns the policy (it may be pinned); `guard::Guard` acts on
        // resolutions, outside the fold: nothing to fold here.
        InputEvent::PolicyPublished(_) | InputEvent::Tick | InputEvent::HaltResolved { .. } => Effect::Nothing,
        InputEvent::DemandDeclared { spec, chips_desired } => apply_demand(state, spec, *chips_desired),
        InputEvent::UsageReported { workload, chips_busy, .. } => {
            apply_usage(state, policy, workload, *chips_busy)
        }
        InputEvent::WorkloadFinished { workload } => match state.workloads.get_mut(workload) {
            Some(w) if !w.finished => {
                w.finished = true;
                Effect::Round
            }
            _ => Effect::Nothing,
        },
    }
}

fn apply_demand(state: &mut FleetState, spec: &qm_model::WorkloadSpec, chips_desired: u32) -> Effect {
    let now = state.now_ms;
    match state.workloads.get_mut(&spec.id) {
        Some(w) if w.finished => Effect::Nothing,
        Some(w) if &w.spec == spec && w.chips_desired == chips_desired => Effect::Nothing,
        Some(w) => {
            let renewed = w.chips_desired != chips_desired;
            w.spec = spec.clone();
            w.chips_desired = chips_desired;
            if renewed { Effect::NewRequest } else { Effect::Round }
        }
        None => {
            let w = WorkloadState::declared(spec.clone(), chips_desired, now);
            state.workloads.insert(spec.id.clone(), w);
            Effect::Round
        }
    }
}

fn apply_usage(state: &mut FleetState, policy: &PolicyConfig, id: &WorkloadId, chips_busy: f64) -> Effect {
    let now = state.now_ms;
    let Some(w) = state.workloads.get_mut(id) else { return Effect::Nothing };
    if w.finished || !chips_busy.is_finite() {
        return Effect::Nothing;
    }
    let busy = chips_busy.max(0.0);
    let applied: u32 = w.grants.values().map(|g| g.applied).sum();
    let idle = applied > 0 && busy < policy.idle_threshold_fraction * f64::from(applied);
    let idle_since = if idle { Some(w.idle_since_ms.unwrap_or(now)) } else { None };
    if w.chips_busy == busy && w.idle_since_ms == idle_since {
        return Effect::Nothing;
    }
    let old_busy = w.chips_busy;
    w.chips_busy = busy;
    w.idle_since_ms = idle_since;
    // Team use in normalized compute, decayed: the fair-share rule reads it.
    let tp = w
        .home_pool()
        .and_then(|p| state.pools.get(p))
        .and_then(|p| w.spec.throughput_on(&p.pool.accelerator))
        .unwrap_or(1.0);
    if let Some(t) = state.teams.get_mut(&w.spec.team) {
        decay_usage(t, now, policy.usage_half_life_s);
        t.usage_now += (busy - old_busy) * tp;
    }
    Effect::Usage
}

/// Brings a team's decayed use up to `now`: an exponential moving average of its
/// instantaneous use with the policy's half-life.
pub fn decay_usage(t: &mut TeamState, now: i64, half_life_s: u32) {
    let dt_s = (now - t.usage_at_ms).max(0) as f64 / 1000.0;
    if dt_s > 0.0 {
        let keep = if half_life_s == 0 { 0.0 } else { crate::maths::exp2(-dt_s / f64::from(half_life_s)) };
        t.usage_recent = t.usage_now + (t.usage_recent - t.usage_now) * keep;
        t.usage_at_ms = now;
    }
}

/// Folds what the actuator reports. Capacity is freed only on its word.
pub fn apply_actuation(state: &mut FleetState, event: &ActuationEvent) -> Effect {
    match event {
        ActuationEvent::GrantApplied { workload, pool, chips, .. }
        | ActuationEvent::GrantRevoked { workload, pool, chips, .. } => {
            let live = state.workloads.get(workload).is_some_and(|w| !w.finished);
            let released = fold_release_report(state, workload, pool, *chips, live);
            let Some(w) = state.workloads.get_mut(workload).filter(|w| !w.finished) else {
                return if released { Effect::Round } else { Effect::Nothing };
            };
            if w.grants.get(pool).map_or(0, |g| g.applied) == *chips {
                return if released { Effect::Round } else { Effect::Nothing };
            }
            let g = w.grants.entry(pool.clone()).or_default();
            let before = g.occupied();
            g.applied = *chips;
            let after = g.occupied();
            drop_empty(&mut w.grants, pool);
            if before != after || released { Effect::Round } else { Effect::Quiet }
        }
        ActuationEvent::DrainRequested { .. } => Effect::Nothing,
        ActuationEvent::ActuationFailed { decision_id, workload, pool, .. } => {
            let Some(w) = state.workloads.get_mut(workload) else { return Effect::Nothing };
            if w.last_failure == Some(*decision_id) {
                return Effect::Nothing;
            }
            w.last_failure = Some(*decision_id);
            let pools: Vec<PoolId> = match pool {
                Some(p) => vec![p.clone()],
                None => w.grants.keys().cloned().collect(),
            };
            for p in pools {
                // The backend's truth wins: what was decided there did not happen.
                if let Some(g) = w.grants.get_mut(&p) {
                    g.decided = g.applied;
                    g.reclaim = None;
                }
                w.failed_pools.insert(p.clone());
                drop_empty(&mut w.grants, &p);
            }
            Effect::Round
        }
    }
}

/// Folds a decision the core just made, so later rules in the same round see it.
pub fn apply_decision(state: &mut FleetState, d: &Decision) {
    let now = state.now_ms;
    let Some(w) = state.workloads.get_mut(&d.workload) else { return };
    match &d.action {
        Action::Grant { pool, chips } => {
            let g = w.grants.entry(pool.clone()).or_default();
            if *chips > g.target() {
                g.since_ms = now;
            }
            g.decided = *chips;
            g.reclaim = None;
        }
        Action::Reclaim { pool, chips, deadline_ms, cause, .. } => {
            let g = w.grants.entry(pool.clone()).or_default();
            g.reclaim = Some(PendingReclaim { chips_to: *chips, deadline_ms: *deadline_ms, cause: *cause });
            if *cause == qm_model::ReclaimCause::IdleGiveBack {
                w.idle_cap = Some(*chips);
            }
            drop_empty(&mut w.grants, pool);
        }
        Action::Revoke { pool, chips } => {
            let g = w.grants.entry(pool.clone()).or_default();
            g.decided = *chips;
            if g.reclaim.as_ref().is_some_and(|r| r.chips_to >= *chips) {
                g.reclaim = None;
            }
            drop_empty(&mut w.grants, pool);
        }
        Action::Release { pool } => {
            // Forgotten here, but counted until the actuator reports the chips let go.
            let held = w.grants.remove(pool).map_or(0, |g| g.occupied());
            let still = held.max(state.releasing_in(pool, &d.workload));
            state.set_releasing(pool, &d.workload, still);
        }
        Action::Pending { chips_wanted } => {
            w.pending = Some(PendingState { chips_wanted: *chips_wanted, reason: d.reason.clone() });
        }
    }
}

/// A report about `workload` in `pool` while a release of that id there is in flight:
/// the backend keeps one holding per workload and pool, and the report says what it is
/// now. A live workload's grant carries it from here on (the release is over); otherwise
/// the release holds what was reported (0 ends it). Returns whether the release changed.
fn fold_release_report(state: &mut FleetState, workload: &WorkloadId, pool: &PoolId, chips: u32, live: bool) -> bool {
    let before = state.releasing_in(pool, workload);
    if before == 0 {
        return false;
    }
    state.set_releasing(pool, workload, if live { 0 } else { chips });
    state.releasing_in(pool, workload) != before
}

fn drop_empty(grants: &mut GrantMap, pool: &PoolId) {
    if grants.get(pool).is_some_and(|g| g.decided == 0 && g.applied == 0) {
        grants.remove(pool);
    }
}
