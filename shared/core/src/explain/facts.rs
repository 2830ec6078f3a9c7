//! The facts behind one workload's grant, and the sentences that say them.

use crate::decide::place::compute_shares;
use crate::decide::view::View;
use crate::decide::Round;
use crate::state::{FleetState, WorkloadState};
use crate::Engine;
use qm_model::{AcceleratorType, PoolId, PriorityTier, Reason, ReclaimCause, Region, TeamId, WorkloadId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Everything `qm explain WORKLOAD` says, for people (`lines`) and scripts (the rest).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    pub workload: WorkloadId,
    pub team: TeamId,
    /// The engine's clock (unix ms) the explanation is for.
    pub now_ms: i64,
    /// Chips the workload asked for.
    pub chips_desired: u32,
    /// What the policy tries to grant: `chips_desired`, or less under an idle cap.
    pub chips_wanted: u32,
    /// Chips granted once pending shrinks land, all pools.
    pub chips_held: u32,
    /// Chips the actuator reports as held, all pools.
    pub chips_applied: u32,
    pub grants: Vec<GrantFact>,
    /// Cap set by idle give-back, and the last measured busy chips.
    pub idle_cap: Option<u32>,
    pub chips_busy: f64,
    /// The reason last recorded for the chips it is still waiting for.
    pub blocker: Option<Reason>,
    pub team_facts: Option<TeamFacts>,
    /// Every pool of a type the workload accepts, best useful free capacity first.
    pub pools: Vec<PoolFact>,
    /// The largest ask (a multiple of its step, at least `chips_min`) the policy would
    /// grant in full right now, when that is less than what it wants.
    pub largest_ask_granted_now: Option<u32>,
    /// The explanation in plain words.
    pub lines: Vec<String>,
}

/// One grant of the workload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GrantFact {
    pub pool: PoolId,
    pub decided: u32,
    pub applied: u32,
    /// After pending shrinks.
    pub target: u32,
    /// A shrink in its grace: to how many chips, by when, why.
    pub reclaim: Option<(u32, i64, ReclaimCause)>,
}

/// The team's standing, in normalized compute (H100-equivalent chips).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TeamFacts {
    pub tier: PriorityTier,
    pub guarantee: f64,
    pub limit: Option<f64>,
    pub held: f64,
    pub demand: f64,
    pub fair_share: f64,
}

/// A pool the workload could run in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PoolFact {
    pub pool: PoolId,
    pub region: Region,
    pub accelerator: AcceleratorType,
    pub relative_throughput: f64,
    pub healthy: u32,
    /// Free now without handing a chip out twice.
    pub free_now: u32,
    /// Free once pending shrinks land.
    pub free_planned: u32,
    /// `None` when the workload may be placed here; else why not.
    pub closed: Option<String>,
    /// Other teams' chips here, largest first.
    pub holders: Vec<Holder>,
    /// Chips finished work still holds here until the actuator reports its release.
    #[serde(default)]
    pub releasing: u32,
}

/// A team holding chips in a pool, and whether it holds more than its fair share: the
/// teams owner reclaim takes chips back from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Holder {
    pub team: TeamId,
    pub chips: u32,
    pub borrowing: bool,
}

/// Explains `workload`'s grant, or `None` when the engine does not know it (never
/// declared, or finished and forgotten).
pub fn explain(engine: &Engine, workload: &WorkloadId) -> Option<Explanation> {
    let state = engine.state();
    let w = state.workloads.get(workload)?;
    let view = shares(state, engine);
    let team_facts = view.teams.get(&w.spec.team).map(|t| TeamFacts {
        tier: t.tier,
        guarantee: t.guarantee,
        limit: t.limit,
        held: t.held,
        demand: t.demand,
        fair_share: t.fair,
    });
    let grants = w
        .grants
        .iter()
        .map(|(pool, g)| GrantFact {
            pool: pool.clone(),
            decided: g.decided,
            applied: g.applied,
            target: g.target(),
            reclaim: g.reclaim.as_ref().map(|r| (r.chips_to, r.deadline_ms, r.cause)),
        })
        .collect();
    let (want, held) = (w.chips_wanted_total(), w.target_total());
    let mut out = Explanation {
        workload: workload.clone(),
        team: w.spec.team.clone(),
        now_ms: state.now_ms,
        chips_desired: w.chips_desired,
        chips_wanted: want,
        chips_held: held,
        chips_applied: w.grants.values().map(|g| g.applied).sum(),
        grants,
        idle_cap: w.idle_cap,
        chips_busy: w.chips_busy,
        blocker: if want > held { w.pending.as_ref().map(|p| p.reason.clone()) } else { None },
        team_facts,
        pools: pool_facts(state, &view, w),
        largest_ask_granted_now: None,
        lines: Vec::new(),
    };
    if want > held {
        out.largest_ask_granted_now = largest_ask_granted_now(engine, w).filter(|&c| c < want);
    }
    out.lines = super::whatif::sentences(&out);
    Some(out)
}

/// Every team's standing (guarantee, fair share, held, demand), by id: what `qm top`
/// shows for all teams at once, computed as [`explain`] computes one team's.
pub fn team_standings(engine: &Engine) -> BTreeMap<TeamId, TeamFacts> {
    let view = shares(engine.state(), engine);
    view.teams
        .into_iter()
        .map(|(id, t)| {
            let facts = TeamFacts { tier: t.tier, guarantee: t.guarantee, limit: t.limit, held: t.held, demand: t.demand, fair_share: t.fair };
            (id, facts)
        })
        .collect()
}

/// The round's view with fair shares computed, from a copy of the state.
fn shares(state: &FleetState, engine: &Engine) -> View {
    let mut copy = state.clone();
    let mut round = Round::new(&mut copy, engine.policy());
    compute_shares(&mut round);
    round.view
}

fn pool_facts(state: &FleetState, view: &View, w: &WorkloadState) -> Vec<PoolFact> {
    let team = view.teams.get(&w.spec.team);
    let regions = team.map(|t| t.regions.as_slice()).unwrap_or(&[]);
    let mut holders: BTreeMap<&PoolId, BTreeMap<&TeamId, u32>> = BTreeMap::new();
    for (id, other) in &state.workloads {
        if id == &w.spec.id {
            continue;
        }
        for (pool, g) in &other.grants {
            *holders.entry(pool).or_default().entry(&other.spec.team).or_default() += g.occupied();
        }
    }
    let mut out: Vec<PoolFact> = Vec::new();
    for p in &view.pools {
        let Some(tp) = w.spec.throughput_on(&p.accelerator).filter(|t| *t > 0.0) else { continue };
        let closed = if p.healthy == 0 {
            Some("no healthy chips (retired or down)".to_owned())
        } else if !regions.is_empty() && !regions.contains(&p.region) {
            Some(format!("{} is outside team {}'s regions", p.region, w.spec.team))
        } else if w.failed_pools.contains(&p.id) {
            Some("actuation failed here; avoided until the demand changes".to_owned())
        } else {
            None
        };
        let mut here: Vec<Holder> = holders
            .get(&p.id)
            .into_iter()
            .flatten()
            .filter(|(_, c)| **c > 0)
            .map(|(t, c)| Holder {
                team: (*t).clone(),
                chips: *c,
                borrowing: view.teams.get(*t).is_some_and(|tv| tv.held > tv.fair + 1e-9),
            })
            .collect();
        here.sort_by(|a, b| b.chips.cmp(&a.chips).then(a.team.cmp(&b.team)));
        out.push(PoolFact {
            pool: p.id.clone(),
            region: p.region.clone(),
            accelerator: p.accelerator.clone(),
            relative_throughput: tp,
            healthy: p.healthy,
            free_now: p.free_now(),
            free_planned: p.free_planned(),
            closed,
            holders: here,
            releasing: state.releasing.get(&p.id).map_or(0, |by| by.values().sum()),
        });
    }
    // Open pools first, then by useful free compute, then id: a stable, total order.
    out.sort_by(|a, b| {
        let useful = |f: &PoolFact| f64::from(f.free_now) * f.relative_throughput;
        a.closed.is_some().cmp(&b.closed.is_some()).then(useful(b).total_cmp(&useful(a))).then(a.pool.cmp(&b.pool))
    });
    out
}

/// Binary search over asks (multiples of the step from `chips_min` up to what it wants)
/// for the largest one a what-if grants in full now.
fn largest_ask_granted_now(engine: &Engine, w: &WorkloadState) -> Option<u32> {
    let step = w.spec.chips_step.max(1);
    let lo_ask = w.spec.chips_min.max(1).div_ceil(step) * step;
    let want = w.chips_wanted_total();
    if lo_ask >= want {
        return None;
    }
    let granted = |ask: u32| super::whatif::what_if(engine, &w.spec, ask).now.total >= ask;
    let (mut lo, mut hi) = (lo_ask / step, (want - 1) / step);
    if !granted(lo * step) {
        return None;
    }
    // Invariant: lo*step is granted; look for the largest granted up to hi*step.
    for _ in 0..32 {
        if lo >= hi {
            break;
        }
        let mid = lo + (hi - lo).div_ceil(2);
        if granted(mid * step) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Some(lo * step)
}
