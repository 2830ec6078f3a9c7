//! `qm status`: a sorted, serializable picture of pools, teams and workloads.

use crate::decide::view::View;
use crate::state::FleetState;
use qm_model::{AcceleratorType, PolicyConfig, PoolId, Reason, Region, TeamId, WorkloadId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The whole fleet as the policy sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FleetStatus {
    /// The engine's clock (unix ms).
    pub now_ms: i64,
    pub pools: Vec<PoolStatus>,
    pub teams: Vec<TeamStatus>,
    pub workloads: Vec<WorkloadStatus>,
    /// Set when the fold is halted at a poison entry: everything above is the state
    /// before it, and nothing after it is decided until an operator resolves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub halt: Option<crate::guard::Halt>,
}

/// One pool: size, health and what is counted as granted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PoolStatus {
    pub id: PoolId,
    pub region: Region,
    pub accelerator: AcceleratorType,
    pub chips: u32,
    pub healthy_chips: u32,
    /// Chips counted as taken: max(decided, applied) over grants.
    pub granted_chips: u32,
    pub retired: bool,
}

/// One team, in normalized compute (H100-equivalent chips).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TeamStatus {
    pub id: TeamId,
    pub guarantee: f64,
    /// Normalized compute granted (after pending shrinks).
    pub granted: f64,
    /// Normalized compute its workloads want.
    pub demand: f64,
}

/// One workload: demand, grants decided, grants applied, pending state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkloadStatus {
    pub id: WorkloadId,
    pub team: TeamId,
    pub chips_desired: u32,
    /// Chips decided per pool (after pending shrinks).
    pub granted: BTreeMap<PoolId, u32>,
    /// Chips the actuator reports as held, per pool.
    pub applied: BTreeMap<PoolId, u32>,
    /// Chips wanted beyond the grant, if any.
    pub pending_chips: u32,
    /// Why the pending chips are not granted, as last reported.
    pub pending_reason: Option<Reason>,
}

impl FleetStatus {
    /// Builds the status from the folded state; all lists are sorted by id.
    pub fn of(state: &FleetState, policy: &PolicyConfig) -> Self {
        let view = View::build(state, policy);
        let pools = view
            .pools
            .iter()
            .map(|p| {
                let ps = &state.pools[&p.id];
                PoolStatus {
                    id: p.id.clone(),
                    region: p.region.clone(),
                    accelerator: p.accelerator.clone(),
                    chips: ps.pool.chips,
                    healthy_chips: ps.pool.healthy_chips,
                    granted_chips: p.occupied,
                    retired: ps.retired,
                }
            })
            .collect();
        let mut demand: BTreeMap<&TeamId, f64> = BTreeMap::new();
        let mut workloads = Vec::new();
        for (id, w) in &state.workloads {
            let want = w.chips_wanted_total();
            let have = w.target_total();
            let tp = w
                .home_pool()
                .and_then(|p| view.pool_index.get(p))
                .map(|&i| view.tp(w, i))
                .unwrap_or_else(|| w.spec.accepts.iter().map(|a| a.relative_throughput).fold(0.0, f64::max));
            *demand.entry(&w.spec.team).or_default() += f64::from(want) * tp;
            workloads.push(WorkloadStatus {
                id: id.clone(),
                team: w.spec.team.clone(),
                chips_desired: w.chips_desired,
                granted: w.grants.iter().filter(|(_, g)| g.target() > 0).map(|(p, g)| (p.clone(), g.target())).collect(),
                applied: w.grants.iter().filter(|(_, g)| g.applied > 0).map(|(p, g)| (p.clone(), g.applied)).collect(),
                pending_chips: want.saturating_sub(have),
                pending_reason: if want > have { w.pending.as_ref().map(|p| p.reason.clone()) } else { None },
            });
        }
        let teams = view
            .teams
            .iter()
            .map(|(id, t)| TeamStatus {
                id: id.clone(),
                guarantee: t.guarantee,
                granted: t.held,
                demand: demand.get(id).copied().unwrap_or(0.0),
            })
            .collect();
        Self { now_ms: state.now_ms, pools, teams, workloads, halt: None }
    }
}
