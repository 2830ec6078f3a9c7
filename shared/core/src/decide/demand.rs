//! Demand sums: each team's demand and each type's reference throughput, in fixed point.
//!
//! A workload's contribution is a pure function of its own state and the pools, and the
//! sums are exact integer sums, so the engine can keep them between rounds (subtract a
//! workload's old contribution, add its new one) and get the bits a full round gets.

use crate::decide::view::{norm_fp, View, FP_SCALE};
use crate::state::WorkloadState;
use qm_model::{AcceleratorType, TeamId};
use std::collections::BTreeMap;

/// What one workload adds to the sums.
#[derive(Clone, Debug, PartialEq)]
pub struct Contribution {
    pub team: TeamId,
    /// `wanted * tp` (home pool's tp, else best) in fixed point.
    pub demand: i128,
    /// Declared throughput per accepted type, in fixed point.
    pub accepts: Vec<(AcceleratorType, i128)>,
    /// Chips wanted, counted on each type it accepts that its team has a per-type
    /// guarantee on (the only place per-type demand is read).
    pub want: u32,
    /// Those types.
    pub guaranteed: Vec<AcceleratorType>,
}

/// Per-team demand and per-type (throughput sum, count), over workloads that count.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sums {
    pub demand: BTreeMap<TeamId, i128>,
    pub ref_tp: BTreeMap<AcceleratorType, (i128, i64)>,
    /// Chips wanted per (team, type) by workloads that accept the type: what a per-type
    /// guarantee is capped by.
    pub type_demand: BTreeMap<(TeamId, AcceleratorType), i64>,
}

/// A workload's contribution, or `None` if it wants nothing the rules act on (nothing,
/// less than its minimum) or its team is not declared.
pub fn contribution(view: &View, w: &WorkloadState) -> Option<Contribution> {
    let want = w.chips_wanted_total();
    if want == 0 || want < w.spec.chips_min || !view.teams.contains_key(&w.spec.team) {
        return None;
    }
    let tp = home_or_best_tp(view, w);
    let accepts = w
        .spec
        .accepts
        .iter()
        .map(|a| (a.accelerator.clone(), (a.relative_throughput.max(0.0) * FP_SCALE).round() as i128))
        .collect();
    let by_type = &view.teams[&w.spec.team].by_type;
    let guaranteed = if by_type.is_empty() {
        Vec::new()
    } else {
        w.spec
            .accepts
            .iter()
            .filter(|a| a.relative_throughput > 0.0 && by_type.contains_key(&a.accelerator))
            .map(|a| a.accelerator.clone())
            .collect()
    };
    Some(Contribution { team: w.spec.team.clone(), demand: norm_fp(want, tp), accepts, want, guaranteed })
}

/// The throughput demand is counted at: the home pool's, else the best accepted type
/// that has a pool.
pub fn home_or_best_tp(view: &View, w: &WorkloadState) -> f64 {
    if let Some(i) = w.home_pool().and_then(|p| view.pool_index.get(p)) {
        return view.tp(w, *i);
    }
    best_tp(view, w)
}

/// The workload's throughput on the best accepted type that has a pool.
pub fn best_tp(view: &View, w: &WorkloadState) -> f64 {
    w.spec
        .accepts
        .iter()
        .filter(|a| view.by_type.contains_key(&a.accelerator))
        .map(|a| a.relative_throughput.max(0.0))
        .fold(0.0, f64::max)
}

impl Sums {
    /// Adds (`sign` = 1) or removes (`sign` = -1) a contribution. Entries that reach a
    /// zero count are dropped, so the maps equal freshly built ones.
    pub fn add(&mut self, c: &Contribution, sign: i128) {
        // Look up before inserting: keys are strings, and cloning one per workload per
        // round showed up in profiles.
        match self.demand.get_mut(&c.team) {
            Some(d) => *d += sign * c.demand,
            None => {
                self.demand.insert(c.team.clone(), sign * c.demand);
            }
        }
        for a in &c.guaranteed {
            let key = (c.team.clone(), a.clone());
            let d = self.type_demand.entry(key).or_insert(0);
            *d += sign as i64 * i64::from(c.want);
            if *d == 0 {
                self.type_demand.remove(&(c.team.clone(), a.clone()));
            }
        }
        for (a, tp) in &c.accepts {
            let emptied = match self.ref_tp.get_mut(a) {
                Some(e) => {
                    e.0 += sign * tp;
                    e.1 += sign as i64;
                    e.1 == 0
                }
                None => {
                    self.ref_tp.insert(a.clone(), (sign * tp, sign as i64));
                    false
                }
            };
            if emptied {
                self.ref_tp.remove(a);
            }
        }
    }

    /// Mean declared throughput on a type over workloads that count (1.0 if none).
    pub fn ref_tp(&self, a: &AcceleratorType) -> f64 {
        self.ref_tp.get(a).map_or(1.0, |(s, n)| (*s as f64 / FP_SCALE) / (*n).max(1) as f64)
    }

    /// Chips a team's workloads that accept type `a` want.
    pub fn type_demand_of(&self, t: &TeamId, a: &AcceleratorType) -> u32 {
        self.type_demand.get(&(t.clone(), a.clone())).map_or(0, |d| (*d).clamp(0, i64::from(u32::MAX)) as u32)
    }

    /// A team's demand in normalized compute.
    pub fn demand_of(&self, t: &TeamId) -> f64 {
        self.demand.get(t).map_or(0.0, |d| *d as f64 / FP_SCALE)
    }
}
