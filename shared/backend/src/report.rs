//! The actuation fact for an effect and its outcome: what the policy folds back in.

use crate::{Applied, BackendError, Effect, Verb};
use qm_model::ActuationEvent;

/// What to report once `apply` returned: the chips in force, a drain requested, or the
/// failure with the backend's message.
pub fn report(effect: &Effect, outcome: &Result<Applied, BackendError>) -> ActuationEvent {
    let decision_id = effect.decision_id;
    let workload = effect.workload.clone();
    let pool = effect.pool.clone();
    let chips = effect.chips;
    match (outcome, effect.verb) {
        (Err(error), _) => ActuationEvent::ActuationFailed { decision_id, workload, pool: Some(pool), error: error.to_string() },
        (Ok(Applied::AsAsked), Verb::Drain) => {
            ActuationEvent::DrainRequested { decision_id, workload, pool, chips, deadline_ms: effect.deadline_ms }
        }
        (Ok(_), Verb::Grant) => ActuationEvent::GrantApplied { decision_id, workload, pool, chips },
        (Ok(_), Verb::Drain | Verb::Revoke | Verb::Release) => ActuationEvent::GrantRevoked { decision_id, workload, pool, chips },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qm_model::{Action, Decision, DecisionRecorded, PoolId, Reason, ReclaimCause, TeamId, WorkloadId};
    use uuid::Uuid;

    fn recorded(action: Action) -> DecisionRecorded {
        DecisionRecorded {
            input_seq: 7,
            index: 0,
            policy_version: "v1".into(),
            advisory: false,
            decision: Decision {
                workload: WorkloadId::from("w"),
                team: TeamId::from("ml"),
                action,
                reason: Reason::new(qm_model::RuleId::Guarantee, "within guarantee"),
            },
        }
    }

    fn pool() -> PoolId {
        PoolId::from("use-h100")
    }

    /// Given each action and outcome, the report is what the policy expects; applying
    /// as asked matches `Decision::applied_report`, which replays assume.
    #[test]
    fn reports_by_verb_and_outcome() {
        let id = Uuid::from_u128(1);
        let reclaim = Action::Reclaim { pool: pool(), chips: 2, grace_s: 30, deadline_ms: 9_000, cause: ReclaimCause::IdleGiveBack };
        let cases = [
            Action::Grant { pool: pool(), chips: 4 },
            reclaim.clone(),
            Action::Revoke { pool: pool(), chips: 2 },
            Action::Release { pool: pool() },
        ];
        for action in cases {
            let record = recorded(action);
            let effect = Effect::of(id, &record).expect("not pending");
            assert_eq!(Some(report(&effect, &Ok(Applied::AsAsked))), record.decision.applied_report(id), "{effect:?}");
        }
        let effect = Effect::of(id, &recorded(reclaim)).expect("not pending");
        assert_eq!(effect.grace_s, 30);
        assert_eq!(
            report(&effect, &Ok(Applied::RevokedAtOnce)),
            ActuationEvent::GrantRevoked { decision_id: id, workload: WorkloadId::from("w"), pool: pool(), chips: 2 }
        );
        let failed = report(&effect, &Err(BackendError::Rejected { message: "quota exceeded".into() }));
        assert_eq!(
            failed,
            ActuationEvent::ActuationFailed {
                decision_id: id,
                workload: WorkloadId::from("w"),
                pool: Some(pool()),
                error: "quota exceeded".into()
            }
        );
    }

    #[test]
    fn pending_has_no_effect() {
        assert_eq!(Effect::of(Uuid::from_u128(1), &recorded(Action::Pending { chips_wanted: 3 })), None);
    }
}
