//! Pending reports: what each blocked workload waits for, reported when it changes.

use crate::decide::blocked::Blocked;
use crate::decide::view::View;
use crate::decide::Round;
use crate::state::WorkloadState;
use qm_model::{Action, Reason, RuleId, WorkloadId};
use std::collections::BTreeMap;

/// Reports each blocked workload's pending state when it changes (chips wanted, or what
/// it waits for: [`same_wait`]), not every round, so a steady state writes nothing to
/// the log.
pub fn report(r: &mut Round) {
    let blocked = std::mem::take(&mut r.blocked);
    let mut emits = Vec::new();
    match r.scope.clone() {
        // Scoped ids are few: look each up rather than walk the fleet.
        Some(ids) => {
            for id in &ids {
                if let Some(w) = r.state.workloads.get_mut(id) {
                    check(id, w, &blocked, &r.view, &mut emits);
                }
            }
        }
        None => {
            for (id, w) in r.state.workloads.iter_mut() {
                check(id, w, &blocked, &r.view, &mut emits);
            }
        }
    }
    for (id, chips_wanted, reason) in emits {
        r.emit(&id, Action::Pending { chips_wanted }, reason);
    }
    r.blocked = blocked;
}

/// Whether two pending rules tell the workload the same thing. Waiting for chips to free
/// up is one state, whether the round saw no pool with room (`no_capacity`,
/// `gang_no_fit`), grants too young to reclaim (`min_lifetime`) or a faster type worth
/// waiting for (`faster_type_soon`): which of these a round finds flips as fair shares move, and re-reporting each flip was most of the
/// log under contention. Chips coming (`awaiting_reclaim`) and the hard limits are
/// news, and are reported.
fn same_wait(a: &RuleId, b: &RuleId) -> bool {
    let waiting = |r: &RuleId| matches!(r, RuleId::NoCapacity | RuleId::GangNoFit | RuleId::MinLifetime | RuleId::FasterTypeSoon);
    a == b || (waiting(a) && waiting(b))
}

/// Queues a pending report for a blocked workload whose report changed; only then is
/// its reason written out.
fn check(
    id: &WorkloadId,
    w: &mut WorkloadState,
    blocked: &BTreeMap<WorkloadId, Blocked>,
    view: &View,
    emits: &mut Vec<(WorkloadId, u32, Reason)>,
) {
    let want = w.chips_wanted_total();
    let have = w.target_total();
    match blocked.get(id) {
        Some(b) if want > have => {
            let chips_wanted = want - have;
            let same = w.pending.as_ref().is_some_and(|p| p.chips_wanted == chips_wanted && same_wait(&p.reason.rule, &b.rule()));
            if !same {
                emits.push((id.clone(), chips_wanted, b.reason(id, w, view)));
            }
        }
        // Satisfied (or nothing to report): the grant itself was the decision.
        _ => {
            if want <= have {
                w.pending = None;
            }
        }
    }
}

