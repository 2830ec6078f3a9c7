//! The folded state: what the log has said so far, with no rules applied.
//!
//! Everything is kept in `BTreeMap`s (or sorted vectors, for grants) so that iteration
//! order, and therefore every decision and every serialized snapshot, is the same on
//! every replay.

use qm_model::{Pool, PoolId, ReclaimCause, Reason, Team, TeamId, WorkloadId, WorkloadSpec};
use serde::{Deserialize, Serialize};

pub use crate::grants::GrantMap;
use std::collections::{BTreeMap, BTreeSet};

/// A pool as last declared, and whether it was retired.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PoolState {
    /// The pool as last declared.
    pub pool: Pool,
    /// Retired pools take no new grants; their grants are revoked and re-placed.
    pub retired: bool,
}

/// A team as last declared, plus its recent measured use (for usage-aware fair share).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TeamState {
    /// The team as last declared.
    pub team: Team,
    /// Exponentially decayed average of the team's measured normalized use.
    pub usage_recent: f64,
    /// The team's latest measured normalized use (sum over its workloads).
    pub usage_now: f64,
    /// When `usage_recent` was last brought up to date (unix ms).
    pub usage_at_ms: i64,
}

/// A shrink that was asked for and whose grace has not run out yet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PendingReclaim {
    /// The size the workload was asked to shrink to.
    pub chips_to: u32,
    /// When the core revokes whatever is above `chips_to`.
    pub deadline_ms: i64,
    /// Why the chips are being taken.
    pub cause: ReclaimCause,
}

/// One workload's grant in one pool: what the core decided and what really happened.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GrantState {
    /// The total the core last granted or revoked to.
    pub decided: u32,
    /// The total the actuator last reported as really held.
    pub applied: u32,
    /// When the grant last grew (unix ms): the start of its minimum lifetime.
    pub since_ms: i64,
    /// A shrink in its grace period, if any.
    pub reclaim: Option<PendingReclaim>,
}

impl GrantState {
    /// Chips that count against the pool's capacity: nothing is handed out twice, so
    /// both what was decided and what the actuator still reports are counted.
    pub fn occupied(&self) -> u32 {
        self.decided.max(self.applied)
    }

    /// Chips the workload will hold once pending shrinks take effect.
    pub fn target(&self) -> u32 {
        match &self.reclaim {
            Some(r) => r.chips_to.min(self.decided),
            None => self.decided,
        }
    }
}

/// The last pending state reported for a workload, so it is reported only on change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PendingState {
    /// Chips wanted beyond what is held.
    pub chips_wanted: u32,
    /// Why they cannot be granted now.
    pub reason: Reason,
}

/// A workload: its spec, demand, measured use and grants.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkloadState {
    /// The spec as last declared.
    pub spec: WorkloadSpec,
    /// Chips the workload last asked for.
    pub chips_desired: u32,
    /// When the workload first declared demand (unix ms): an age tie-break.
    pub declared_at_ms: i64,
    /// Last measured busy chips.
    pub chips_busy: f64,
    /// Since when measured use has stayed below the idle threshold, if it has.
    pub idle_since_ms: Option<i64>,
    /// Cap set by idle give-back; lifted when use comes back or demand changes.
    pub idle_cap: Option<u32>,
    /// Grants per pool; entries at zero are removed.
    pub grants: GrantMap,
    /// Pools where actuation failed; avoided until the workload's demand changes.
    pub failed_pools: BTreeSet<PoolId>,
    /// The pending state last reported.
    pub pending: Option<PendingState>,
    /// The last failed decision reported, so a redelivered failure is not applied twice.
    pub last_failure: Option<qm_model::Uuid>,
    /// Finished: its grants are released in the next round, then it is forgotten.
    pub finished: bool,
}

impl WorkloadState {
    /// A workload as its first demand declares it: no use measured, nothing granted.
    pub fn declared(spec: WorkloadSpec, chips_desired: u32, declared_at_ms: i64) -> Self {
        Self {
            spec,
            chips_desired,
            declared_at_ms,
            chips_busy: 0.0,
            idle_since_ms: None,
            idle_cap: None,
            grants: GrantMap::new(),
            failed_pools: BTreeSet::new(),
            pending: None,
            last_failure: None,
            finished: false,
        }
    }

    /// Chips the workload will hold once pending shrinks take effect, all pools.
    pub fn target_total(&self) -> u32 {
        self.grants.values().map(GrantState::target).sum()
    }

    /// The pool the workload lives in: the one with its largest grant (ties: lowest id).
    pub fn home_pool(&self) -> Option<&PoolId> {
        let mut best: Option<(&PoolId, u32)> = None;
        for (id, g) in &self.grants {
            if g.target() > 0 && best.is_none_or(|(_, c)| g.target() > c) {
                best = Some((id, g.target()));
            }
        }
        best.map(|(id, _)| id)
    }

    /// Demand after idle give-back: what the policy tries to grant.
    pub fn chips_wanted_total(&self) -> u32 {
        match self.idle_cap {
            Some(cap) => self.chips_desired.min(cap),
            None => self.chips_desired,
        }
    }
}

/// Everything the log has said, folded.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FleetState {
    /// Pools by id.
    pub pools: BTreeMap<PoolId, PoolState>,
    /// Teams by id.
    pub teams: BTreeMap<TeamId, TeamState>,
    /// Live workloads by id; finished workloads are removed.
    pub workloads: BTreeMap<WorkloadId, WorkloadState>,
    /// The engine's clock: the latest event time seen (unix ms).
    pub now_ms: i64,
    /// What finished work has shown (release rates, run lengths), for placement.
    /// Defaults when absent, so snapshots written before it still load.
    #[serde(default)]
    pub completions: crate::history::Completions,
    /// Chips that released grants may still hold, by pool and workload, until the
    /// actuator reports the release: a finished workload is forgotten at its release,
    /// but its chips are not free until the backend has let them go (a release applied
    /// late, after a redelivery, would otherwise share them with the grants made from
    /// them: issue 15's over-grant after the actuator partition).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub releasing: BTreeMap<PoolId, BTreeMap<WorkloadId, u32>>,
}

impl FleetState {
    /// Chips counted against `pool` for `workload`: its grant's occupancy there plus
    /// what a release of the same id in that pool may still hold.
    pub fn occupied_by(&self, workload: &WorkloadId, pool: &PoolId) -> u32 {
        let grant = self.workloads.get(workload).and_then(|w| w.grants.get(pool)).map_or(0, GrantState::occupied);
        grant + self.releasing_in(pool, workload)
    }

    /// Chips a release of `workload` in `pool` may still hold (0: none in flight).
    pub fn releasing_in(&self, pool: &PoolId, workload: &WorkloadId) -> u32 {
        self.releasing.get(pool).and_then(|by| by.get(workload)).copied().unwrap_or(0)
    }

    /// Sets what a release of `workload` in `pool` may still hold; 0 ends it.
    pub fn set_releasing(&mut self, pool: &PoolId, workload: &WorkloadId, chips: u32) {
        if chips > 0 {
            self.releasing.entry(pool.clone()).or_default().insert(workload.clone(), chips);
        } else if let Some(by) = self.releasing.get_mut(pool) {
            by.remove(workload);
            if by.is_empty() {
                self.releasing.remove(pool);
            }
        }
    }
}
