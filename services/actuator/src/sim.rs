//! The simulated backend: an in-process fleet that records holdings (the demo, the tests).

use qm_backend::{Applied, Backend, BackendError, Effect, Verb};
use qm_model::{ActuationEvent, PoolId, WorkloadId};
use std::collections::BTreeMap;

/// Chips each workload holds in each pool; every effect applies at once.
#[derive(Debug, Default)]
pub struct SimFleet {
    holdings: BTreeMap<(WorkloadId, PoolId), u32>,
}

impl SimFleet {
    fn set(&mut self, workload: &WorkloadId, pool: &PoolId, chips: u32) {
        let key = (workload.clone(), pool.clone());
        if chips == 0 {
            self.holdings.remove(&key);
        } else {
            self.holdings.insert(key, chips);
        }
    }

    /// Chips held per pool, summed over workloads.
    pub fn chips_by_pool(&self) -> BTreeMap<PoolId, u32> {
        let mut out = BTreeMap::new();
        for ((_, pool), chips) in &self.holdings {
            *out.entry(pool.clone()).or_insert(0) += chips;
        }
        out
    }
}

impl Backend for SimFleet {
    fn name(&self) -> &'static str {
        "sim"
    }

    fn recall(&mut self, event: &ActuationEvent) {
        match event {
            ActuationEvent::GrantApplied { workload, pool, chips, .. }
            | ActuationEvent::GrantRevoked { workload, pool, chips, .. } => self.set(workload, pool, *chips),
            ActuationEvent::DrainRequested { .. } | ActuationEvent::ActuationFailed { .. } => {}
        }
    }

    async fn apply(&mut self, effect: &Effect) -> Result<Applied, BackendError> {
        match effect.verb {
            // A drain only asks; chips stay held until revoked.
            Verb::Drain => {}
            Verb::Grant | Verb::Revoke | Verb::Release => self.set(&effect.workload, &effect.pool, effect.chips),
        }
        Ok(Applied::AsAsked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn effect(verb: Verb, chips: u32) -> Effect {
        Effect {
            decision_id: Uuid::from_u128(1),
            workload: "w".into(),
            team: "ml".into(),
            pool: "use-h100".into(),
            chips,
            verb,
            grace_s: 0,
            deadline_ms: 0,
            reason: String::new(),
        }
    }

    /// Given a sequence of verbs, the fleet holds what the last non-drain set.
    #[tokio::test]
    async fn holdings_follow_grants_and_revokes_not_drains() {
        let cases: &[(&[(Verb, u32)], u32)] = &[
            (&[(Verb::Grant, 4)], 4),
            (&[(Verb::Grant, 4), (Verb::Drain, 1)], 4),
            (&[(Verb::Grant, 4), (Verb::Drain, 1), (Verb::Revoke, 1)], 1),
            (&[(Verb::Grant, 4), (Verb::Release, 0)], 0),
        ];
        for (steps, held) in cases {
            let mut fleet = SimFleet::default();
            for (verb, chips) in *steps {
                assert_eq!(fleet.apply(&effect(*verb, *chips)).await, Ok(Applied::AsAsked));
            }
            let total: u32 = fleet.chips_by_pool().values().sum();
            assert_eq!(total, *held, "{steps:?}");
        }
    }
}
