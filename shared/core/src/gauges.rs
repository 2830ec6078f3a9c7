//! Fleet gauges: what the policy service exports on `/metrics` after its rounds, read
//! from the folded state and never written back. Pure like the rest of the core (the
//! service adds clocks and the endpoint), so every number is tested without a bus.
//!
//! Label cardinality is bounded by construction: labels are only team, pool,
//! accelerator type, region (all declared by the operator) and a rule id from the
//! closed [`RuleId`] vocabulary; a workload id is never a label (workloads are counted).
//! On top of that the [`TEAMS_LABELLED_MAX`] teams holding most chips keep their name
//! and the rest are summed as team [`OTHER`]; likewise past [`POOLS_LABELLED_MAX`] pools
//! (largest first), which keep their type and region so sums by type stay exact.

use crate::state::{FleetState, WorkloadState};
use crate::Engine;
use qm_model::{PoolId, RuleId, TeamId};
use std::collections::{BTreeMap, BTreeSet};

/// Teams named in labels, at most; the others are summed as [`OTHER`].
pub const TEAMS_LABELLED_MAX: usize = 50;
/// Pools named in labels, at most; the others are summed as [`OTHER`] per type and region.
pub const POOLS_LABELLED_MAX: usize = 200;
/// The label value of teams or pools past the bounds.
pub const OTHER: &str = "_other";
/// The reason label of pending chips no round has given a reason for yet.
pub const UNDECIDED: &str = "undecided";

/// Chips one team holds in one pool (rows with nothing in them are left out).
#[derive(Clone, Debug, PartialEq)]
pub struct TeamPoolChips {
    pub team: String,
    pub pool: String,
    pub accelerator: String,
    pub region: String,
    /// Counted as taken: decided or still reported held, as `qm status` counts pools.
    pub granted: u32,
    /// Reported held by the actuator.
    pub applied: u32,
    /// Measured busy (usage reports, split over pools by [`busy_by_pool`]).
    pub busy: f64,
}

impl TeamPoolChips {
    /// Held but not busy: what idle give-back works on.
    pub fn idle(&self) -> f64 {
        (f64::from(self.applied) - self.busy).max(0.0)
    }
}

/// One pool's size, so utilization is a ratio of two exported series.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolChips {
    pub pool: String,
    pub accelerator: String,
    pub region: String,
    /// Declared chips.
    pub capacity: u32,
    /// Healthy chips; 0 once retired (a retired pool takes no grants).
    pub healthy: u32,
    /// Counted as taken, by all teams.
    pub granted: u32,
}

/// A team's standing in normalized compute (H100-equivalent chips).
#[derive(Clone, Debug, PartialEq)]
pub struct TeamShare {
    pub team: String,
    pub guarantee: f64,
    pub fair_share: f64,
    pub held: f64,
    pub demand: f64,
}

/// Workloads waiting for chips, and how many chips, by team and reason.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingCount {
    pub team: String,
    /// The rule id of the last pending report, or [`UNDECIDED`].
    pub reason: String,
    pub workloads: u32,
    pub chips: u32,
}

/// Every fleet gauge at one log position; all lists are sorted by their labels.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FleetGauges {
    pub chips: Vec<TeamPoolChips>,
    pub pools: Vec<PoolChips>,
    pub teams: Vec<TeamShare>,
    pub pending: Vec<PendingCount>,
}

impl FleetGauges {
    /// Reads the gauges from the engine's folded state (it is not changed).
    pub fn of(engine: &Engine) -> Self {
        let state = engine.state();
        // Summed under borrowed ids first: labels (owned strings) are made once per row,
        // not once per grant (that was half the time at 10k workloads).
        let mut by_pair: BTreeMap<(&TeamId, &PoolId), (u32, u32, f64)> = BTreeMap::new();
        let mut waiting: BTreeMap<(&TeamId, &str), (u32, u32)> = BTreeMap::new();
        for w in state.workloads.values() {
            let applied_total: u32 = w.grants.values().map(|g| g.applied).sum();
            // As [`busy_by_pool`] splits it, without a map per workload.
            let busy = w.chips_busy.clamp(0.0, f64::from(applied_total));
            for (pool, g) in &w.grants {
                let sums = by_pair.entry((&w.spec.team, pool)).or_default();
                sums.0 += g.occupied();
                sums.1 += g.applied;
                if applied_total > 0 {
                    sums.2 += busy * f64::from(g.applied) / f64::from(applied_total);
                }
            }
            let (want, have) = (w.chips_wanted_total(), w.target_total());
            if want > have {
                let reason = w.pending.as_ref().map_or(UNDECIDED, |p| reason_label(&p.reason.rule));
                let counts = waiting.entry((&w.spec.team, reason)).or_default();
                counts.0 += 1;
                counts.1 += want - have;
            }
        }
        let labels = Labels::new(state, &by_pair);
        let mut chips: BTreeMap<(String, String, String, String), TeamPoolChips> = BTreeMap::new();
        for ((team, pool), (granted, applied, busy)) in by_pair {
            let Some((name, accelerator, region)) = labels.pool(pool) else { continue };
            let team = labels.team(team);
            let key = (team.clone(), name.clone(), accelerator.clone(), region.clone());
            let row = chips
                .entry(key)
                .or_insert_with(|| TeamPoolChips { team, pool: name, accelerator, region, granted: 0, applied: 0, busy: 0.0 });
            row.granted += granted;
            row.applied += applied;
            row.busy += busy;
        }
        let mut pending: BTreeMap<(String, String), PendingCount> = BTreeMap::new();
        for ((team, reason), (workloads, chips_waiting)) in waiting {
            let team = labels.team(team);
            let row = pending
                .entry((team.clone(), reason.to_owned()))
                .or_insert_with(|| PendingCount { team, reason: reason.to_owned(), workloads: 0, chips: 0 });
            row.workloads += workloads;
            row.chips += chips_waiting;
        }
        let mut pools: BTreeMap<(String, String, String), PoolChips> = BTreeMap::new();
        for (id, p) in &state.pools {
            let Some((name, accelerator, region)) = labels.pool(id) else { continue };
            let row = pools.entry((name.clone(), accelerator.clone(), region.clone())).or_insert_with(|| PoolChips {
                pool: name,
                accelerator,
                region,
                capacity: 0,
                healthy: 0,
                granted: 0,
            });
            row.capacity += p.pool.chips;
            row.healthy += if p.retired { 0 } else { p.pool.healthy_chips };
        }
        for c in chips.values() {
            if let Some(row) = pools.get_mut(&(c.pool.clone(), c.accelerator.clone(), c.region.clone())) {
                row.granted += c.granted;
            }
        }
        let mut teams: BTreeMap<String, TeamShare> = BTreeMap::new();
        for (id, t) in crate::explain::team_standings(engine) {
            let team = labels.team(&id);
            let row = teams.entry(team.clone()).or_insert_with(|| TeamShare { team, guarantee: 0.0, fair_share: 0.0, held: 0.0, demand: 0.0 });
            row.guarantee += t.guarantee;
            row.fair_share += t.fair_share;
            row.held += t.held;
            row.demand += t.demand;
        }
        Self {
            chips: chips.into_values().collect(),
            pools: pools.into_values().collect(),
            teams: teams.into_values().collect(),
            pending: pending.into_values().collect(),
        }
    }
}

/// The reason label of a rule: known ids as written on the wire; a name this build does
/// not know (another version's) is "other", so it cannot add series.
pub fn reason_label(rule: &RuleId) -> &str {
    match rule {
        RuleId::Other(_) => "other",
        known => known.as_str(),
    }
}

/// Which teams and pools keep their name in labels.
struct Labels {
    teams: BTreeSet<TeamId>,
    /// Pool id -> (label, type, region) for every declared pool.
    pools: BTreeMap<PoolId, (String, String, String)>,
}

impl Labels {
    fn new(state: &FleetState, by_pair: &BTreeMap<(&TeamId, &PoolId), (u32, u32, f64)>) -> Self {
        let mut held: BTreeMap<&TeamId, u64> = state.teams.keys().map(|t| (t, 0)).collect();
        for ((team, _), (granted, _, _)) in by_pair {
            *held.entry(*team).or_default() += u64::from(*granted);
        }
        let mut ranked: Vec<(&TeamId, u64)> = held.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let teams = ranked.into_iter().take(TEAMS_LABELLED_MAX).map(|(t, _)| t.clone()).collect();
        let mut by_size: Vec<_> = state.pools.iter().collect();
        by_size.sort_by(|a, b| b.1.pool.chips.cmp(&a.1.pool.chips).then_with(|| a.0.cmp(b.0)));
        let pools = by_size
            .into_iter()
            .enumerate()
            .map(|(rank, (id, p))| {
                let name = if rank < POOLS_LABELLED_MAX { id.as_str().to_owned() } else { OTHER.to_owned() };
                (id.clone(), (name, p.pool.accelerator.as_str().to_owned(), p.pool.region.as_str().to_owned()))
            })
            .collect();
        Self { teams, pools }
    }

    fn team(&self, id: &TeamId) -> String {
        if self.teams.contains(id) { id.as_str().to_owned() } else { OTHER.to_owned() }
    }

    /// A grant in a pool the log never declared has no type to report: left out.
    fn pool(&self, id: &PoolId) -> Option<(String, String, String)> {
        self.pools.get(id).cloned()
    }
}

/// A workload's measured busy chips split over its pools in proportion to what it holds
/// in each: usage is reported per workload, not per pool. Never more than held.
pub fn busy_by_pool(w: &WorkloadState) -> BTreeMap<PoolId, f64> {
    let applied: u32 = w.grants.values().map(|g| g.applied).sum();
    if applied == 0 {
        return BTreeMap::new();
    }
    let busy = w.chips_busy.clamp(0.0, f64::from(applied));
    w.grants
        .iter()
        .filter(|(_, g)| g.applied > 0)
        .map(|(p, g)| (p.clone(), busy * f64::from(g.applied) / f64::from(applied)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{pool, spec, team, Given};
    use qm_model::{InputEvent, PolicyConfig};

    /// research (guarantee 12) wants 16 H100 and gets the 8 there are, using 2; prod runs
    /// 4 chips of serving on A100.
    fn fleet() -> Given {
        let mut g = Given::new(PolicyConfig::default())
            .with_pools(&[pool("use-h100", "us-east", "h100", 8), pool("euw-a100", "eu-west", "a100", 16)])
            .with_teams(&[("research", 12.0), ("prod", 0.0)]);
        g.granted(&spec("train", "research", &[("h100", 1.0)]), 16);
        g.granted(&spec("serve", "prod", &[("a100", 0.5)]), 4);
        g.input(InputEvent::UsageReported { workload: "train".into(), chips_busy: 2.0, window_s: 10 });
        g
    }

    #[test]
    fn chips_by_team_and_pool_pools_shares_and_pending_by_reason() {
        let g = fleet();
        let gauges = FleetGauges::of(&g.engine);
        let row = |team: &str| gauges.chips.iter().find(|c| c.team == team).cloned().expect("row");
        let research = row("research");
        assert_eq!((research.pool.as_str(), research.accelerator.as_str(), research.region.as_str()), ("use-h100", "h100", "us-east"));
        assert_eq!((research.granted, research.applied), (8, 8));
        assert!((research.busy - 2.0).abs() < 1e-9 && (research.idle() - 6.0).abs() < 1e-9, "{research:?}");
        let prod = row("prod");
        assert_eq!((prod.pool.as_str(), prod.granted, prod.applied, prod.busy), ("euw-a100", 4, 4, 0.0));
        assert_eq!(gauges.chips.len(), 2, "no rows for pools a team holds nothing in");

        let h100 = gauges.pools.iter().find(|p| p.pool == "use-h100").expect("pool");
        assert_eq!((h100.capacity, h100.healthy, h100.granted), (8, 8, 8));
        let a100 = gauges.pools.iter().find(|p| p.pool == "euw-a100").expect("pool");
        assert_eq!((a100.capacity, a100.healthy, a100.granted), (16, 16, 4));

        let share = gauges.teams.iter().find(|t| t.team == "research").expect("team");
        assert_eq!((share.guarantee, share.held), (12.0, 8.0));
        assert!(share.demand >= 16.0 - 1e-9, "{share:?}");

        assert_eq!(gauges.pending.len(), 1, "{:?}", gauges.pending);
        let waiting = &gauges.pending[0];
        assert_eq!((waiting.team.as_str(), waiting.workloads, waiting.chips), ("research", 1, 8));
        assert_ne!(waiting.reason, UNDECIDED, "the round said why");
        assert!(RuleId::ALL.iter().any(|r| r.as_str() == waiting.reason), "{}", waiting.reason);
    }

    /// 60 teams and 210 pools of 4 chips: the labels stop at the bounds, the totals do not change.
    #[test]
    fn teams_and_pools_past_the_bounds_are_summed_as_other() {
        let mut g = Given::new(PolicyConfig::default());
        let pools = POOLS_LABELLED_MAX + 10;
        let teams = TEAMS_LABELLED_MAX + 10;
        for p in 0..pools {
            let accelerator = if p % 2 == 0 { "h100" } else { "a100" };
            g.input(InputEvent::PoolDeclared(pool(&format!("p{p:03}"), "us-east", accelerator, 4)));
        }
        for t in 0..teams {
            g.input(InputEvent::TeamDeclared(team(&format!("t{t:02}"), 0.0)));
            g.granted(&spec(&format!("w{t:02}"), &format!("t{t:02}"), &[("h100", 1.0), ("a100", 1.0)]), 4);
        }
        let gauges = FleetGauges::of(&g.engine);
        let team_labels: BTreeSet<&str> = gauges.chips.iter().map(|c| c.team.as_str()).collect();
        let pool_labels: BTreeSet<&str> = gauges.pools.iter().map(|p| p.pool.as_str()).collect();
        assert_eq!(team_labels.len(), TEAMS_LABELLED_MAX + 1, "{team_labels:?}");
        assert!(team_labels.contains(OTHER));
        assert_eq!(pool_labels.len(), POOLS_LABELLED_MAX + 1);
        assert!(gauges.teams.len() <= TEAMS_LABELLED_MAX + 1);

        let granted: u32 = gauges.chips.iter().map(|c| c.granted).sum();
        let held: u32 = g.engine.state().workloads.values().flat_map(|w| w.grants.values()).map(|g| g.occupied()).sum();
        assert_eq!(granted, held);
        assert_eq!(granted, u32::try_from(teams).expect("small") * 4, "each team's 4 chips, one pool each");
        let capacity = |accelerator: &str| gauges.pools.iter().filter(|p| p.accelerator == accelerator).map(|p| p.capacity).sum::<u32>();
        assert_eq!(capacity("h100") + capacity("a100"), u32::try_from(pools).expect("small") * 4);
        assert_eq!(capacity("h100"), u32::try_from(pools.div_ceil(2)).expect("small") * 4, "the other pools keep their type");
        let pool_granted: u32 = gauges.pools.iter().map(|p| p.granted).sum();
        assert_eq!(pool_granted, granted);
    }

    #[test]
    fn an_unknown_rule_name_is_one_label() {
        assert_eq!(reason_label(&RuleId::Other("from_a_newer_build".into())), "other");
        assert_eq!(reason_label(&RuleId::NoCapacity), "no_capacity");
    }
}
