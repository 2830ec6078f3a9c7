//! What ingest knows of the fleet, to refuse references to things never declared.
//! Rebuilt from `QM_INPUT` at start and updated as input is accepted. Request handlers
//! run concurrently, hence concurrent maps.

use dashmap::{DashMap, DashSet};
use qm_model::InputEvent;

/// Declared teams and pools, and which team each workload belongs to.
#[derive(Debug, Default)]
pub struct Known {
    teams: DashSet<String>,
    pools: DashSet<String>,
    workload_teams: DashMap<String, String>,
}

impl Known {
    /// Learns from an accepted (or replayed) input event.
    pub fn observe(&self, event: &InputEvent) {
        match event {
            InputEvent::TeamDeclared(team) => {
                self.teams.insert(team.id.0.clone());
            }
            InputEvent::PoolDeclared(pool) => {
                self.pools.insert(pool.id.0.clone());
            }
            InputEvent::PoolRetired { pool } => {
                self.pools.remove(pool.as_str());
            }
            InputEvent::DemandDeclared { spec, .. } => {
                self.workload_teams.entry(spec.id.0.clone()).or_insert_with(|| spec.team.0.clone());
            }
            InputEvent::UsageReported { .. }
            | InputEvent::WorkloadFinished { .. }
            | InputEvent::PolicyPublished(_)
            | InputEvent::Tick
            | InputEvent::HaltResolved { .. } => {}
        }
    }

    pub fn has_team(&self, team: &str) -> bool {
        self.teams.contains(team)
    }

    pub fn has_pool(&self, pool: &str) -> bool {
        self.pools.contains(pool)
    }

    /// Whether `workload` belongs to `team` (`None`: it never declared demand). Checked on
    /// every usage report, so it compares in place instead of copying the owner out.
    pub fn owned_by(&self, workload: &str, team: &str) -> Option<bool> {
        self.workload_teams.get(workload).map(|owner| owner.value() == team)
    }

    /// The team that first declared demand for `workload`.
    pub fn workload_team(&self, workload: &str) -> Option<String> {
        self.workload_teams.get(workload).map(|team| team.value().clone())
    }
}
