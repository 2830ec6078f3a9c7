//! The incremental path: what the engine keeps between rounds, and a round scoped to the
//! workloads the rules can act on, which gives exactly the decisions a full round would.
//!
//! **Active set**: a workload some rule may act on, judged from its own state alone: it
//! wants more than it holds (and at least its minimum), holds more than it asks for, has
//! a reclaim in flight, carries a pending report, or is finished. Every other workload
//! is a no-op in every phase of a full round: nothing to release, cut, revoke, queue,
//! place, claim for or report. Idle give-back is the one rule that acts on otherwise
//! settled workloads, once their idle window is over; the engine keeps the windows.
//! In a quiet fleet the active set is empty; in a busy one it is the waiting work.
//!
//! **When** (checked by the engine before it folds the entry): the kept state exists (it
//! is rebuilt, O(workloads), on the first entry after a full round that can use it),
//! nothing is finished, no pool has more decided than healthy, no time-based rule is due,
//! and the entry is a demand from a new workload or a new size for a workload whose
//! spec is otherwise unchanged, or an actuation report that changed a pool's occupancy.
//!
//! **Why the result equals a full round's**: the scoped round runs the same phases, each
//! over its scope ([`crate::decide::Scope`]) walked in id order: the changed workload and
//! the active set, plus the workloads whose idle window is over (give-back) or that the
//! round has decided for so far (revocation). A per-workload phase therefore sees its
//! members in the order the full walk would and skips only workloads it would leave
//! alone. The two phases that only act on a fleet out of balance (release of finished
//! work, pool fit) have nothing to do under the conditions above. What the rules read
//! of the whole fleet they read through the view (pool occupancy, team holdings), kept
//! up to date decision by decision; the demand sums, kept exact in fixed point and live
//! (every decision's change to a workload's contribution is applied as it is made, and
//! after the round each changed workload's start contribution is traded for its final one);
//! fair shares, recomputed from those sums (O(teams)); and the holders of a pool, read
//! from the state when a claim needs victims. After the round the active set is brought
//! up to date for every workload the round decided for.
//! `tests/incremental.rs` checks the claim against forced full rounds on random logs,
//! and debug builds check the kept state against a fresh build after every scoped round.

use crate::decide::demand::{contribution, Contribution, Sums};
use crate::decide::view::View;
use crate::decide::{coalesce_grants, Round};
use crate::state::{FleetState, WorkloadState};
use qm_model::{Decision, PolicyConfig, WorkloadId};
use std::collections::{BTreeMap, BTreeSet};

/// What the engine keeps between rounds. Derived state: never serialized, rebuilt after
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
    /// The workloads some rule may act on (see the module doc).
    pub active: BTreeSet<WorkloadId>,
    /// Those the rules owe something or are taking chips from (see [`owed`]): while
    /// there are none the fleet is quiet.
    pub owed: BTreeSet<WorkloadId>,
    /// Some workload is finished: its release is a full round's work.
    finished: bool,
    /// Whether the sums, idle windows and active set have been built (a full round
    /// leaves only its view; the rest is built when an entry can use it).
    built: bool,
}

/// Whether the rules still owe a workload something: it wants more than it holds and
/// at least its minimum.
pub fn wanting(w: &WorkloadState) -> bool {
    let want = w.chips_wanted_total();
    want > 0 && want >= w.spec.chips_min && want > w.target_total()
}

/// Whether the rules owe the workload something, or are taking chips from it: it is
/// finished, wants more than it holds, or has a reclaim in flight.
pub fn owed(w: &WorkloadState) -> bool {
    w.finished || wanting(w) || w.grants.values().any(|g| g.reclaim.is_some())
}

/// Whether some phase of a round may act on the workload (see the module doc).
pub fn active(w: &WorkloadState) -> bool {
    owed(w) || w.target_total() > w.chips_desired || w.pending.is_some()
}

/// When a workload's idle give-back notice is due (before its idle window ends, see
/// `shrink::idle_notice_ms`), if idle give-back may ever act on it.
pub fn idle_end(w: &WorkloadState, policy: &PolicyConfig) -> Option<i64> {
    if w.spec.critical || w.spec.gang {
        return None;
    }
    w.idle_since_ms.map(|s| crate::decide::shrink::idle_notice_ms(s, w.spec.drain_grace_s, policy))
}

impl Cache {
    /// What a full round leaves: its final view; the rest is built by [`Cache::build`].
    pub fn kept_view(view: View) -> Self {
        Cache { view, ..Cache::default() }
    }

    /// The kept state built from the folded state and a view that matches it.
    /// O(workloads).
    pub fn after_full_round(state: &FleetState, policy: &PolicyConfig, view: View) -> Self {
        let mut c = Self::kept_view(view);
        c.build(state, policy);
        c
    }

    /// Whether it has been built.
    pub fn built(&self) -> bool {
        self.built
    }

    /// Builds the sums, idle windows and active set from the state. O(workloads).
    pub fn build(&mut self, state: &FleetState, policy: &PolicyConfig) {
        let view = std::mem::take(&mut self.view);
        *self = Cache { view, built: true, ..Cache::default() };
        for (id, w) in &state.workloads {
            if let Some(k) = contribution(&self.view, w) {
                self.sums.add(&k, 1);
            }
            self.set_idle(id, idle_end(w, policy));
            self.note(id, Some(w));
            self.finished |= w.finished;
        }
    }

    /// Brings the active and owed sets up to date for one workload (`None`: gone).
    fn note(&mut self, id: &WorkloadId, w: Option<&WorkloadState>) {
        if w.is_some_and(active) {
            self.active.insert(id.clone());
        } else {
            self.active.remove(id);
        }
        if w.is_some_and(owed) {
            self.owed.insert(id.clone());
        } else {
            self.owed.remove(id);
        }
    }

    /// Whether a scoped round may decide the next entry (see the module doc).
    pub fn usable(&self) -> bool {
        self.built && !self.finished && self.view.pools.iter().all(|p| p.decided <= p.healthy)
    }

    /// Whether the fleet is quiet: nobody is owed anything and no reclaim is in flight.
    pub fn quiet(&self) -> bool {
        self.owed.is_empty()
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

/// What a scoped round knows beyond the state: the changed workload, the active set and
/// the live demand sums.
#[derive(Clone, Debug)]
pub struct Scoped {
    /// The workload whose entry is being decided.
    pub changed: WorkloadId,
    /// The active set and the changed workload, sorted.
    active: Vec<WorkloadId>,
    /// Other workloads whose idle window is over, sorted.
    idle_expired: Vec<WorkloadId>,
    /// Demand sums over every workload as it stands now: `Round::emit` applies each
    /// decision's change to them.
    pub sums: Sums,
    /// The contribution each workload the round may change had at round start: after
    /// the round, the kept sums trade these for the final ones. Workloads with a reclaim
    /// in flight are noted up front (calling one off changes the workload before its
    /// decision is made); the rest as the round first decides for them.
    start: BTreeMap<WorkloadId, Option<Contribution>>,
}

impl Scoped {
    /// The changed workload and the active set, sorted.
    pub fn scope(&self) -> Vec<WorkloadId> {
        self.active.clone()
    }

    /// The scope and the workloads whose idle window is over, sorted.
    pub fn idle_scope(&self) -> Vec<WorkloadId> {
        merged(&self.active, self.idle_expired.clone())
    }

    /// The scope and `ids` (sorted, no duplicates), sorted.
    pub fn scope_and(&self, ids: Vec<WorkloadId>) -> Vec<WorkloadId> {
        merged(&self.active, ids)
    }

    /// Notes a workload's contribution before the round's first decision for it.
    pub fn note_start(&mut self, id: &WorkloadId, c: &Option<Contribution>) {
        if !self.start.contains_key(id) {
            self.start.insert(id.clone(), c.clone());
        }
    }
}

/// `a` and `b` (both sorted, no duplicates) merged, sorted, without duplicates.
fn merged(a: &[WorkloadId], mut b: Vec<WorkloadId>) -> Vec<WorkloadId> {
    b.extend_from_slice(a);
    b.sort_unstable();
    b.dedup();
    b
}

/// Runs the phases of a round for workload `x`'s entry, on the kept view, each on its
/// scope (see [`crate::decide::Scope`]). `old` is `x`'s contribution to the kept sums
/// before the entry was folded. Returns the decisions and the next wake-up; the kept
/// state is brought up to date.
pub fn round_scoped(
    state: &mut FleetState,
    policy: &PolicyConfig,
    cache: &mut Cache,
    x: &WorkloadId,
    old: Option<&Contribution>,
) -> (Vec<Decision>, Option<i64>) {
    let now = state.now_ms;
    let mut view = std::mem::take(&mut cache.view);
    view.refresh_teams(state, policy);
    let mut sums = std::mem::take(&mut cache.sums);
    if let Some(k) = old {
        sums.add(k, -1);
    }
    let now_x = state.workloads.get(x).and_then(|w| contribution(&view, w));
    if let Some(k) = &now_x {
        sums.add(k, 1);
    }
    let mut start = BTreeMap::from([(x.clone(), now_x)]);
    for id in &cache.owed {
        if let Some(w) = state.workloads.get(id).filter(|w| w.grants.values().any(|g| g.reclaim.is_some())) {
            start.insert(id.clone(), contribution(&view, w));
        }
    }
    let base = sums.clone();
    let mut members: Vec<WorkloadId> = cache.active.iter().cloned().collect();
    if let Err(i) = members.binary_search(x) {
        members.insert(i, x.clone());
    }
    // Idle give-back also acts on every workload whose idle window is over: a full round
    // looks at them every time, and their outcome may have changed since (a grant made
    // after the give-back phase of the last round).
    let mut idle_expired: Vec<WorkloadId> =
        cache.idle_by_time.iter().take_while(|(at, _)| *at <= now).map(|(_, id)| id.clone()).collect();
    idle_expired.sort_unstable();
    let scoped = Scoped { changed: x.clone(), active: members, idle_expired, sums, start };
    let mut r = Round::with_view(state, policy, view, Some(scoped));
    r.run_phases();
    let touched = r.touched();
    let Round { mut out, wake_ms, view, scoped, .. } = r;
    coalesce_grants(&mut out);
    let wake = match (wake_ms, cache.next_idle_end(now)) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    cache.view = view;
    let mut kept = base;
    for (id, c) in scoped.map(|s| s.start).unwrap_or_default() {
        if let Some(k) = c {
            kept.add(&k, -1);
        }
        if let Some(k) = state.workloads.get(&id).and_then(|w| contribution(&cache.view, w)) {
            kept.add(&k, 1);
        }
    }
    cache.sums = kept;
    for id in touched {
        cache.note(&id, state.workloads.get(&id));
    }
    (out, wake)
}
