//! The per-round view: capacity and team holdings derived from the folded state, kept
//! up to date as the round makes decisions so later rules see earlier ones.

use crate::state::{FleetState, WorkloadState};
use qm_model::{AcceleratorType, PolicyConfig, PoolId, PriorityTier, Region, TeamId};
use std::collections::BTreeMap;

/// One pool as the rules see it this round.
#[derive(Clone, Debug)]
pub struct PoolView {
    pub id: PoolId,
    pub region: Region,
    pub accelerator: AcceleratorType,
    /// Healthy chips; zero for a retired pool.
    pub healthy: u32,
    pub unit: u32,
    pub price: f64,
    /// Chips counted as taken: max(decided, applied) summed over grants, plus what
    /// releases not yet reported may still hold.
    pub occupied: u32,
    /// Chips that will be taken once pending shrinks land: target summed over grants.
    pub planned: u32,
    /// Chips granted by the core (decided) summed over grants: never above `healthy`.
    pub decided: u32,
}

impl PoolView {
    /// Chips that can be granted right now without handing out a chip twice.
    pub fn free_now(&self) -> u32 {
        self.healthy.saturating_sub(self.occupied)
    }

    /// Chips that will be free once in-flight reclaims land.
    pub fn free_planned(&self) -> u32 {
        self.healthy.saturating_sub(self.planned)
    }
}

/// One team as the rules see it this round, all in normalized compute.
#[derive(Clone, Debug, Default)]
pub struct TeamView {
    pub tier: PriorityTier,
    pub guarantee: f64,
    pub limit: Option<f64>,
    pub weight: f64,
    pub regions: Vec<Region>,
    pub headroom: f64,
    /// Recent measured use, decayed.
    pub usage_recent: f64,
    /// Held after pending shrinks land (targets).
    pub held: f64,
    /// `held` in fixed point ([`norm_fp`] units): sums are exact and order-free, so the
    /// engine can keep it up to date between rounds and get the same bits a fresh
    /// build gives.
    pub held_fp: i128,
    /// What its live workloads want.
    pub demand: f64,
    /// Its fair share this round: guarantee plus its part of the surplus.
    pub fair: f64,
    /// Per-type guarantees (policy `team_guarantees_by_type`), in chips of the type.
    pub by_type: BTreeMap<AcceleratorType, TypeShare>,
}

/// A team's guarantee on one accelerator type and where it stands, in chips.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TypeShare {
    /// Chips of the type the team is guaranteed (whole chips: the declared value, floored).
    pub guarantee: u32,
    /// Chips of the type it holds (targets).
    pub held: u32,
    /// Chips wanted by its workloads that accept the type.
    pub demand: u32,
}

impl TypeShare {
    /// Chips of the type still owed: guarantee, capped by demand, minus holdings.
    pub fn owed(&self) -> u32 {
        self.guarantee.min(self.demand).saturating_sub(self.held)
    }
}

impl TeamView {
    /// How far the team is along its fair share; below 1 it is owed capacity.
    pub fn ratio(&self) -> f64 {
        if self.fair <= 1e-9 {
            if self.held > 0.0 { f64::INFINITY } else { 0.0 }
        } else {
            self.held / self.fair
        }
    }
}

/// Fixed-point scale of normalized compute: 1e-9 of an H100-equivalent chip.
pub const FP_SCALE: f64 = 1e9;

/// `chips * tp` in fixed point. Every sum of normalized compute that the engine keeps
/// between rounds is a sum of these, so it is exact whatever the order of additions.
pub fn norm_fp(chips: u32, tp: f64) -> i128 {
    (f64::from(chips) * tp * FP_SCALE).round() as i128
}

/// A fixed-point sum back to normalized compute.
pub fn from_fp(x: i128) -> f64 {
    x as f64 / FP_SCALE
}

/// Capacity and teams for one round.
#[derive(Clone, Debug, Default)]
pub struct View {
    pub pools: Vec<PoolView>,
    pub pool_index: BTreeMap<PoolId, usize>,
    /// Pools by accelerator type, so placement looks only where a workload can run.
    pub by_type: BTreeMap<AcceleratorType, Vec<usize>>,
    pub teams: BTreeMap<TeamId, TeamView>,
}

impl View {
    /// Derives the view from the folded state. O(workloads + pools).
    pub fn build(state: &FleetState, policy: &PolicyConfig) -> Self {
        let mut v = View::default();
        for (id, p) in &state.pools {
            let i = v.pools.len();
            v.pool_index.insert(id.clone(), i);
            v.by_type.entry(p.pool.accelerator.clone()).or_default().push(i);
            v.pools.push(PoolView {
                id: id.clone(),
                region: p.pool.region.clone(),
                accelerator: p.pool.accelerator.clone(),
                healthy: if p.retired { 0 } else { p.pool.healthy_chips.min(p.pool.chips) },
                unit: p.pool.allocation_unit.max(1),
                price: p.pool.price_per_chip_hour,
                occupied: 0,
                planned: 0,
                decided: 0,
            });
        }
        v.teams = View::build_teams(state, policy);
        for w in state.workloads.values() {
            for (pid, g) in &w.grants {
                let Some(&i) = v.pool_index.get(pid) else { continue };
                v.pools[i].occupied += g.occupied();
                v.pools[i].planned += g.target();
                v.pools[i].decided += g.decided;
                let tp = v.tp(w, i);
                if let Some(t) = v.teams.get_mut(&w.spec.team) {
                    t.held_fp += norm_fp(g.target(), tp);
                    if let Some(s) = t.by_type.get_mut(&v.pools[i].accelerator) {
                        s.held += g.target();
                    }
                }
            }
        }
        // Released grants whose release the actuator has not reported: still taken.
        for (pid, by_workload) in &state.releasing {
            let Some(&i) = v.pool_index.get(pid) else { continue };
            v.pools[i].occupied += by_workload.values().sum::<u32>();
        }
        for t in v.teams.values_mut() {
            t.held = from_fp(t.held_fp);
        }
        v
    }

    /// Refreshes the declared team fields from the state, keeping holdings: the cached
    /// view's teams then equal a fresh build's. Round outputs (`demand`, `fair`) reset.
    pub fn refresh_teams(&mut self, state: &FleetState, policy: &PolicyConfig) {
        let mut old = std::mem::replace(&mut self.teams, View::build_teams(state, policy));
        for (id, t) in self.teams.iter_mut() {
            let Some(o) = old.remove(id) else { continue };
            t.held_fp = o.held_fp;
            t.held = from_fp(t.held_fp);
            for (a, s) in t.by_type.iter_mut() {
                s.held = o.by_type.get(a).map_or(0, |x| x.held);
            }
        }
    }

    fn build_teams(state: &FleetState, policy: &PolicyConfig) -> BTreeMap<TeamId, TeamView> {
        let headroom_default = policy.headroom_fraction;
        let mut teams = BTreeMap::new();
        for (id, t) in &state.teams {
            let team = &t.team;
            teams.insert(
                id.clone(),
                TeamView {
                    tier: team.tier,
                    guarantee: team.guarantee.max(0.0),
                    limit: team.limit,
                    weight: if team.weight > 0.0 { team.weight } else { 1.0 },
                    regions: team.regions.clone(),
                    headroom: if team.headroom_fraction > 0.0 { team.headroom_fraction } else { headroom_default },
                    usage_recent: t.usage_recent,
                    by_type: policy
                        .team_guarantees_by_type
                        .get(id)
                        .into_iter()
                        .flatten()
                        .filter(|(_, g)| g.is_finite() && **g >= 1.0)
                        .map(|(a, g)| (a.clone(), TypeShare { guarantee: g.floor().min(1e9) as u32, ..TypeShare::default() }))
                        .collect(),
                    ..TeamView::default()
                },
            );
        }
        teams
    }

    /// A workload's relative throughput in a pool (0 where it does not run).
    pub fn tp(&self, w: &WorkloadState, pool: usize) -> f64 {
        w.spec.throughput_on(&self.pools[pool].accelerator).unwrap_or(0.0).max(0.0)
    }

    /// Pools the workload may be placed in: accepted type, team region, healthy, not failed.
    pub fn candidates(&self, w: &WorkloadState) -> Vec<usize> {
        let regions = self.teams.get(&w.spec.team).map(|t| t.regions.as_slice()).unwrap_or(&[]);
        let mut out = Vec::new();
        for a in &w.spec.accepts {
            // Written so that NaN, which is not positive, is skipped too.
            #[allow(clippy::neg_cmp_op_on_partial_ord)]
            if !(a.relative_throughput > 0.0) {
                continue;
            }
            for &i in self.by_type.get(&a.accelerator).map(Vec::as_slice).unwrap_or(&[]) {
                let p = &self.pools[i];
                if p.healthy > 0
                    && (regions.is_empty() || regions.contains(&p.region))
                    && !w.failed_pools.contains(&p.id)
                {
                    out.push(i);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}
