//! The incremental path: what the engine keeps between rounds, and a round scoped to one
//! workload that gives exactly the decisions a full round would give, in the one case
//! where that is provable cheaply.
//!
//! **When** (checked by the engine before it folds the entry): the last round left the
//! fleet *quiet* — no workload wants more than it holds (counting every workload whose
//! request is at least its minimum), no reclaim is in flight, nothing finished, no pool
//! has more decided than healthy — no time-based rule is due, and the entry is a demand
//! from a new workload or a new size for a workload whose spec is otherwise unchanged,
//! or an actuation report that changed a pool's occupancy.
//!
//! **Why the result equals a full round's**: in a quiet fleet every phase of a full
//! round is a no-op for every other workload — release, pool fit, demand drop and
//! revocation have nothing to act on; idle give-back acts only on workloads whose window
//! is over, and any input that changes one of those makes the engine due, so it runs a
//! full round; other workloads want nothing, so they are not queued, claim nothing and
//! report nothing. What remains is the changed workload's own phases, which read the
//! fleet only through the view (pool occupancy, team holdings), the demand sums and the
//! fair shares. The engine keeps the view up to date decision by decision, keeps the
//! sums in exact fixed point (a workload's contribution is subtracted and added back),
//! recomputes fair shares from them (O(teams)), and keeps the idle windows that set the
//! next wake-up. If the scoped round touches any other workload (a reclaim), its
//! decisions are still exact but the kept state is dropped, so the next round is full.
//! `tests/incremental.rs` checks the claim against forced full rounds on random logs.

use crate::decide::demand::{contribution, Contribution, Sums};
use crate::decide::view::View;
use crate::decide::{coalesce_grants, Round};
use crate::state::{FleetState, WorkloadState};
use qm_model::{Decision, PolicyConfig, WorkloadId};
use std::collections::{BTreeMap, BTreeSet};

/// What the engine keeps between rounds. Derived state: never serialized, rebuilt by
/// every full round.
#[derive(Clone, Debug, Default)]
pub struct Cache {
    /// The view as of the last decision: pool occupancy and team holdings.
    pub view: View,
    /// Demand sums over every workload's current contribution.
    pub sums: Sums,
    /// When each idle-eligible workload's idle window ends.
    pub idle_at: BTreeMap<WorkloadId, i64>,
    /// The same, ordered by time, for the next wake-up.
    pub idle_by_time: BTreeSet<(i64, WorkloadId)>,
    /// Whether the fleet is quiet (see the module doc).
    pub quiet: bool,
}

/// Whether the rules still owe a workload something: it wants more than it holds and
/// at least its minimum.
pub fn wanting(w: &WorkloadState) -> bool {
    let want = w.chips_wanted_total();
    want > 0 && want >= w.spec.chips_min && want > w.target_total()
}

/// When a workload's idle window ends, if idle give-back may ever act on it.
pub fn idle_end(w: &WorkloadState, policy: &PolicyConfig) -> Option<i64> {
    if w.spec.critical || w.spec.gang {
        return None;
    }
    w.idle_since_ms.map(|s| s + i64::from(policy.idle_window_s) * 1000)
}

impl Cache {
    /// Builds the kept state from a full round's final state and view (or from the state
    /// and a fresh view when none is kept). O(workloads).
    pub fn after_full_round(state: &FleetState, policy: &PolicyConfig, view: View) -> Self {
        let mut c = Cache { view, quiet: true, ..Cache::default() };
        c.quiet = c.view.pools.iter().all(|p| p.decided <= p.healthy);
        for (id, w) in &state.workloads {
            if let Some(k) = contribution(&c.view, w) {
                c.sums.add(&k, 1);
            }
            c.set_idle(id, idle_end(w, policy));
            if w.finished || wanting(w) || w.grants.values().any(|g| g.reclaim.is_some()) {
                c.quiet = false;
            }
        }
        c
    }

    /// Records when a workload's idle window ends (or that it has none).
    pub fn set_idle(&mut self, id: &WorkloadId, at: Option<i64>) {
        if let Some(old) = self.idle_at.remove(id) {
            self.idle_by_time.remove(&(old, id.clone()));
        }
        if let Some(at) = at {
            self.idle_at.insert(id.clone(), at);
            self.idle_by_time.insert((at, id.clone()));
        }
    }

    /// The first idle window that ends after `now`.
    fn next_idle_end(&self, now: i64) -> Option<i64> {
        self.idle_by_time.range((now.saturating_add(1), WorkloadId::from(""))..).next().map(|(at, _)| *at)
    }
}

/// What a scoped round knows beyond the state: the changed workload, and the kept
/// demand sums of every other workload.
#[derive(Clone, Debug)]
pub struct Scoped {
    /// The workload whose entry is being decided.
    pub changed: WorkloadId,
    /// Other workloads whose idle window is over, with their contributions at round
    /// start: idle give-back may change them before shares are computed.
    idle_expired: Vec<(WorkloadId, Option<Contribution>)>,
    /// Every other workload's contribution, as the kept sums hold it.
    base: Sums,
    /// The changed workload's contribution as `compute_shares` counted it.
    pub changed_at_shares: Option<Contribution>,
}

impl Scoped {
    /// The changed workload and the workloads whose idle window is over, sorted.
    pub fn idle_scope(&self) -> Vec<WorkloadId> {
        let mut ids: Vec<WorkloadId> = self.idle_expired.iter().map(|(id, _)| id.clone()).collect();
        ids.push(self.changed.clone());
        ids.sort();
        ids
    }

    /// The sums `compute_shares` starts from: the kept ones, brought up to date for the
    /// idle workloads the round has decided for so far. Notes the changed workload's
    /// contribution as it stands now.
    pub fn base_for_shares(&mut self, out: &[Decision], state: &FleetState, view: &View) -> Sums {
        let mut base = std::mem::take(&mut self.base);
        for (id, old) in &self.idle_expired {
            if out.iter().any(|d| &d.workload == id) {
                if let Some(k) = old {
                    base.add(k, -1);
                }
                if let Some(k) = state.workloads.get(id).and_then(|w| contribution(view, w)) {
                    base.add(&k, 1);
                }
            }
        }
        self.changed_at_shares = state.workloads.get(&self.changed).and_then(|w| contribution(view, w));
        base
    }
}

/// Runs the phases of a round for workload `x`, on the kept view, each on its scope
/// (see [`crate::decide::Scope`]). `base` holds every other workload's contribution.
/// Returns the decisions and the next wake-up, and whether the kept state is still
/// valid afterwards (false once another workload was touched).
pub fn round_scoped(
    state: &mut FleetState,
    policy: &PolicyConfig,
    cache: &mut Cache,
    x: &WorkloadId,
    base: Sums,
) -> (Vec<Decision>, Option<i64>, bool) {
    let now = state.now_ms;
    let mut view = std::mem::take(&mut cache.view);
    view.refresh_teams(state, policy);
    // Idle give-back also acts on every workload whose idle window is over: a full round
    // looks at them every time, and their outcome may have changed since (a grant made
    // after the give-back phase of the last round).
    let idle_expired = cache
        .idle_by_time
        .iter()
        .take_while(|(at, _)| *at <= now)
        .map(|(_, id)| id)
        .filter(|id| *id != x)
        .map(|id| (id.clone(), state.workloads.get(id).and_then(|w| contribution(&view, w))))
        .collect();
    let scoped = Scoped { changed: x.clone(), idle_expired, base, changed_at_shares: None };
    let mut r = Round::with_view(state, policy, view, Some(scoped));
    r.run_phases();
    let touched = r.touched();
    let Round { mut out, wake_ms, view, sums: mut kept, scoped, .. } = r;
    coalesce_grants(&mut out);
    let wake = match (wake_ms, cache.next_idle_end(now)) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    cache.view = view;
    let alone = touched.len() == 1;
    if alone {
        // The sums the round used hold `x` as it was at shares; the kept ones, `x` as
        // it ends up.
        if let Some(k) = scoped.and_then(|s| s.changed_at_shares) {
            kept.add(&k, -1);
        }
        if let Some(w) = state.workloads.get(x) {
            if let Some(k) = contribution(&cache.view, w) {
                kept.add(&k, 1);
            }
            cache.quiet = !wanting(w) && w.grants.values().all(|g| g.reclaim.is_none());
        }
        cache.sums = kept;
    }
    (out, wake, alone)
}
