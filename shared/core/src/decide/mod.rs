//! Decide: every rule of the policy, run as one round over the folded state.
//!
//! A round runs the phases of [`PHASES`] in order; each phase walks workloads in id
//! order or in an explicit, totally ordered priority order, so the same state always
//! yields the same decisions in the same order. The same table drives the full round
//! and the scoped round of the engine's incremental path: each phase says what it looks
//! at there ([`Scope`]), so a new rule is one file and one line in the table.

pub mod blocked;
pub mod demand;
pub mod incremental;
pub mod pending;
pub mod place;
pub mod reclaim;
pub mod relocate;
pub mod renew;
pub mod score;
pub mod share;
pub mod shrink;
pub mod view;
pub mod wait;

#[cfg(test)]
mod scenarios;
#[cfg(test)]
mod scenarios_place;
#[cfg(test)]
mod scenarios_policy;
#[cfg(test)]
mod scenarios_quality;
#[cfg(test)]
mod scenarios_wait;

use crate::fold;
use crate::state::FleetState;
use blocked::Blocked;
use demand::Sums;
use incremental::Scoped;
use place::Wanting;
use qm_model::{Action, Decision, PolicyConfig, Reason, WorkloadId};
use std::collections::BTreeMap;
use view::View;

/// What a phase looks at in a scoped round (the engine's incremental path;
/// `incremental` argues why each choice is exact).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Skipped: when the incremental path runs it has nothing to act on.
    FullOnly,
    /// The changed workload and the active set (every workload the rules still owe
    /// something or have something to take back from).
    Changed,
    /// Those and every workload whose idle window is over.
    ChangedAndIdleExpired,
    /// Those and every workload the round has decided for so far.
    ChangedAndTouched,
}

/// One phase of a round: a rule, and what it looks at in a scoped round.
pub struct Phase {
    pub name: &'static str,
    pub run: fn(&mut Round),
    pub scoped: Scope,
}

/// The phases of a round, in order.
pub const PHASES: &[Phase] = &[
    Phase { name: "release_finished", run: shrink::release_finished, scoped: Scope::FullOnly },
    Phase { name: "fit_pools", run: shrink::fit_pools, scoped: Scope::FullOnly },
    Phase { name: "follow_demand_down", run: shrink::follow_demand_down, scoped: Scope::Changed },
    Phase { name: "give_back_idle", run: shrink::give_back_idle, scoped: Scope::ChangedAndIdleExpired },
    Phase { name: "compute_shares", run: place::compute_shares, scoped: Scope::Changed },
    Phase { name: "place", run: place::place, scoped: Scope::Changed },
    Phase { name: "reclaim", run: reclaim::reclaim_for, scoped: Scope::Changed },
    Phase { name: "upgrade", run: relocate::upgrade, scoped: Scope::FullOnly },
    Phase { name: "revoke_due", run: shrink::revoke_due, scoped: Scope::ChangedAndTouched },
    Phase { name: "report_pending", run: pending::report, scoped: Scope::Changed },
];

/// One decision round in progress: the state, the derived view and what was decided.
pub struct Round<'a> {
    pub state: &'a mut FleetState,
    pub policy: &'a PolicyConfig,
    pub view: View,
    pub out: Vec<Decision>,
    /// Why each workload that wants more could not get it this round.
    pub blocked: BTreeMap<WorkloadId, Blocked>,
    /// Chips of planned-free capacity already promised to claimants this round, per pool.
    pub reserved: Vec<u32>,
    /// Free chips placement keeps for a waiting claimant this round, per pool, and who
    /// each hold is for (`place::hold_for`).
    pub holds: Vec<u32>,
    pub held_for: BTreeMap<WorkloadId, (usize, u32)>,
    /// The earliest future time at which a time-based rule may fire.
    pub wake_ms: Option<i64>,
    /// `None` in a full round; in a scoped round (the engine's incremental path), the
    /// only workloads the per-workload phases look at.
    pub scope: Option<Vec<WorkloadId>>,
    /// Set by `compute_shares`: the workloads that want more, queued per team.
    pub wanting: Wanting,
    /// Set by `place`: the workloads still wanting, in claim order, for `reclaim`.
    pub unplaced: Vec<WorkloadId>,
    /// Set by `compute_shares`: the demand sums it used.
    pub sums: Sums,
    /// Set by `compute_shares`, per pool: the price placement counts for it this round
    /// (`score::placement_price`).
    pub placement_price: Vec<f64>,
    /// Set by `compute_shares`, per accelerator type: chips wanted beyond what they hold
    /// by the workloads waiting at round start that accept the type.
    pub waiting_for: BTreeMap<qm_model::AcceleratorType, u64>,
    /// Set by `compute_shares`, per accelerator type: the largest speedup
    /// ([`wait::speedup`]) of a waiting workload whose best type it is.
    pub waiting_speedup: BTreeMap<qm_model::AcceleratorType, f64>,
    /// In a scoped round: the changed workload and what the engine kept for it.
    pub scoped: Option<Scoped>,
}

/// The workloads a phase walks: all of them, in id order, or the round's scope.
pub fn members<'s>(
    workloads: &'s BTreeMap<WorkloadId, crate::state::WorkloadState>,
    scope: Option<&'s [WorkloadId]>,
) -> Box<dyn Iterator<Item = (&'s WorkloadId, &'s crate::state::WorkloadState)> + 's> {
    match scope {
        None => Box::new(workloads.iter()),
        Some(ids) => Box::new(ids.iter().filter_map(|id| workloads.get_key_value(id))),
    }
}

impl<'a> Round<'a> {
    pub(crate) fn new(state: &'a mut FleetState, policy: &'a PolicyConfig) -> Self {
        let view = View::build(state, policy);
        Self::with_view(state, policy, view, None)
    }

    fn with_view(state: &'a mut FleetState, policy: &'a PolicyConfig, view: View, scoped: Option<Scoped>) -> Self {
        let reserved = vec![0; view.pools.len()];
        let holds = vec![0; view.pools.len()];
        let placement_price = view.pools.iter().map(|p| p.price).collect();
        Self {
            state,
            policy,
            view,
            out: Vec::new(),
            blocked: BTreeMap::new(),
            reserved,
            holds,
            held_for: BTreeMap::new(),
            wake_ms: None,
            scope: None,
            wanting: Wanting::default(),
            unplaced: Vec::new(),
            sums: Sums::default(),
            placement_price,
            waiting_for: BTreeMap::new(),
            waiting_speedup: BTreeMap::new(),
            scoped,
        }
    }

    /// Runs every phase of [`PHASES`] in order; in a scoped round, each on its scope.
    fn run_phases(&mut self) {
        for phase in PHASES {
            if let Some(s) = &self.scoped {
                self.scope = Some(match phase.scoped {
                    Scope::FullOnly => continue,
                    Scope::Changed => s.scope(),
                    Scope::ChangedAndIdleExpired => s.idle_scope(),
                    Scope::ChangedAndTouched => s.scope_and(self.touched()),
                });
            }
            (phase.run)(self);
        }
    }

    /// The workloads the round has decided for, and in a scoped round the changed one,
    /// sorted.
    pub fn touched(&self) -> Vec<WorkloadId> {
        let mut ids: Vec<WorkloadId> = self.out.iter().map(|d| d.workload.clone()).collect();
        ids.extend(self.scoped.as_ref().map(|s| s.changed.clone()));
        ids.sort();
        ids.dedup();
        ids
    }

    /// Placement score of workload `w` in pool `i` at this round's placement price.
    pub fn placement_score(&self, w: &crate::state::WorkloadState, i: usize) -> f64 {
        score::placement_score(self.view.tp(w, i), self.placement_price[i], self.policy)
    }

    /// The engine's clock.
    pub fn now(&self) -> i64 {
        self.state.now_ms
    }

    /// Records that a time-based rule may fire at `at_ms`.
    pub fn wake_at(&mut self, at_ms: i64) {
        if at_ms > self.now() {
            self.wake_ms = Some(self.wake_ms.map_or(at_ms, |w| w.min(at_ms)));
        }
    }

    /// Makes a decision: folds it into the state, keeps the view in step, records it.
    pub fn emit(&mut self, id: &WorkloadId, action: Action, reason: Reason) {
        let Some(w) = self.state.workloads.get(id) else { return };
        let team = w.spec.team.clone();
        let pool = match &action {
            Action::Grant { pool, .. }
            | Action::Reclaim { pool, .. }
            | Action::Revoke { pool, .. }
            | Action::Release { pool } => Some(pool.clone()),
            Action::Pending { .. } => None,
        };
        let idx = pool.as_ref().and_then(|p| self.view.pool_index.get(p).copied());
        let before = |s: &FleetState| {
            let g = pool.as_ref().and_then(|p| s.workloads.get(id).and_then(|w| w.grants.get(p)));
            let (target, decided) = g.map_or((0, 0), |g| (g.target(), g.decided));
            (pool.as_ref().map_or(0, |p| s.occupied_by(id, p)), target, decided)
        };
        let (occ0, tgt0, dec0) = before(self.state);
        // A scoped round keeps the demand sums live: the decision's change to the
        // workload's contribution is applied as it is made.
        let live = self.scoped.is_some() && pool.is_some();
        let old = if live { demand::contribution(&self.view, w) } else { None };
        let decision = Decision { workload: id.clone(), team: team.clone(), action, reason };
        fold::apply_decision(self.state, &decision);
        let (occ1, tgt1, dec1) = before(self.state);
        if let (true, Some(s)) = (live, self.scoped.as_mut()) {
            s.note_start(id, &old);
            if let Some(k) = &old {
                s.sums.add(k, -1);
            }
            if let Some(k) = self.state.workloads.get(id).and_then(|w| demand::contribution(&self.view, w)) {
                s.sums.add(&k, 1);
            }
        }
        if let (Some(i), Some(w)) = (idx, self.state.workloads.get(id)) {
            let tp = self.view.tp(w, i);
            let p = &mut self.view.pools[i];
            p.occupied = (p.occupied + occ1).saturating_sub(occ0);
            p.planned = (p.planned + tgt1).saturating_sub(tgt0);
            p.decided = (p.decided + dec1).saturating_sub(dec0);
            if let Some(t) = self.view.teams.get_mut(&team) {
                t.held_fp += view::norm_fp(tgt1, tp) - view::norm_fp(tgt0, tp);
                t.held = view::from_fp(t.held_fp);
                if let Some(s) = t.by_type.get_mut(&p.accelerator) {
                    s.held = (s.held + tgt1).saturating_sub(tgt0);
                }
            }
        }
        self.out.push(decision);
    }
}

/// Runs one decision round ([`PHASES`]). Returns the decisions, in order, and the
/// earliest future time (unix ms) at which a time-based rule may fire without any new
/// event.
pub fn round(state: &mut FleetState, policy: &PolicyConfig) -> (Vec<Decision>, Option<i64>) {
    let (out, wake, _) = round_full(state, policy);
    (out, wake)
}

/// A full round that also hands back its final view, which the engine keeps.
pub fn round_full(state: &mut FleetState, policy: &PolicyConfig) -> (Vec<Decision>, Option<i64>, View) {
    let mut r = Round::new(state, policy);
    r.run_phases();
    let Round { mut out, wake_ms, view, .. } = r;
    coalesce_grants(&mut out);
    (out, wake_ms, view)
}

/// Keeps only the last of several grants to one workload in one pool in a round (the
/// entitled pass and the borrow pass may both grow it): a grant states the total, so
/// the last one alone folds to the same state, and the log says it once.
fn coalesce_grants(out: &mut Vec<Decision>) {
    let mut later: std::collections::BTreeSet<(WorkloadId, qm_model::PoolId)> = Default::default();
    let mut keep = vec![true; out.len()];
    for (k, d) in out.iter().enumerate().rev() {
        match &d.action {
            Action::Grant { pool, .. } => {
                if !later.insert((d.workload.clone(), pool.clone())) {
                    keep[k] = false;
                }
            }
            // Anything else about the workload in between: both grants stay.
            _ => later.retain(|(w, _)| *w != d.workload),
        }
    }
    let mut k = 0;
    out.retain(|_| {
        k += 1;
        keep[k - 1]
    });
}
