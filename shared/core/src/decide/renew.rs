//! Rules that act on one entry as it is folded, before the engine chooses a round:
//! they change what a workload wants, and so whether and how a round runs.
//!
//! - **New request**: a changed `chips_desired` is a fresh statement of need. It lifts
//!   an idle cap and gives the pools where actuation failed another chance.
//! - **Use came back**: a workload busy on every chip of its capped grant needs more
//!   than the cap, so the cap is lifted and it competes for its declared demand again.
//!   Give-back leaves headroom above use, so steady use never reaches the cap.

use crate::state::FleetState;
use qm_model::WorkloadId;

/// Applies the new-request rule to workload `id`, whose `chips_desired` just changed.
pub fn new_request(state: &mut FleetState, id: &WorkloadId) {
    if let Some(w) = state.workloads.get_mut(id) {
        w.idle_cap = None;
        w.failed_pools.clear();
    }
}

/// Applies the use-came-back rule to workload `id`, whose measured use just changed.
/// Returns whether the cap was lifted: then the workload wants more, and a round runs.
pub fn use_came_back(state: &mut FleetState, id: &WorkloadId) -> bool {
    let Some(w) = state.workloads.get_mut(id) else { return false };
    let applied: u32 = w.grants.values().map(|g| g.applied).sum();
    let back = w.idle_cap.is_some_and(|cap| applied >= cap && w.chips_busy >= f64::from(cap));
    if back {
        w.idle_cap = None;
    }
    back
}
