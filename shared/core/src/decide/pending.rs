//! Pending reports and the next wake-up time.

use crate::decide::Round;
use qm_model::{Action, WorkloadId};

/// Reports each blocked workload's pending state when it changes (chips wanted or
/// rule), not every round, so a steady state writes nothing to the log.
pub fn report(r: &mut Round) {
    let blocked = std::mem::take(&mut r.blocked);
    let mut emits = Vec::new();
    let scoped: Vec<WorkloadId> = r.scope.clone().unwrap_or_default();
    let all: Box<dyn Iterator<Item = (&WorkloadId, &mut crate::state::WorkloadState)>> = match &r.scope {
        Some(_) => Box::new(r.state.workloads.iter_mut().filter(|(id, _)| scoped.contains(id))),
        None => Box::new(r.state.workloads.iter_mut()),
    };
    for (id, w) in all {
        let want = w.chips_wanted_total();
        let have = w.target_total();
        match blocked.get(id) {
            Some(reason) if want > have => {
                let chips_wanted = want - have;
                let same = w.pending.as_ref().is_some_and(|p| p.chips_wanted == chips_wanted && p.reason.rule == reason.rule);
                if !same {
                    emits.push((id.clone(), chips_wanted, reason.clone()));
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
    for (id, chips_wanted, reason) in emits {
        r.emit(&id, Action::Pending { chips_wanted }, reason);
    }
    r.blocked = blocked;
}

/// Nothing else to schedule yet beyond what the phases recorded.
pub fn schedule_wake(_r: &mut Round) {}
