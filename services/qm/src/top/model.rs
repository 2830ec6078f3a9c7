//! What `qm top` shows, built from the folded state and the recent decisions: no
//! terminal and no bus, so every number on the screen is tested without either.

use qm_core::explain::team_standings;
/// Shared with the fleet gauges on `/metrics`, so both split usage over pools alike.
pub use qm_core::gauges::busy_by_pool;
use qm_core::Engine;
use qm_ledger::timeline::{self, Entry, Filter};
use qm_model::{AcceleratorType, ActuationEvent, DecisionRecorded, Envelope, PoolId, PriorityTier, Region, RuleId, TeamId, WorkloadId};
use std::collections::{BTreeMap, VecDeque};

/// Decisions and actuation reports kept for the scrolling feed and the drill-downs:
/// older ones are dropped, so a long-running view stays small.
pub const RECENT_MAX: usize = 2_000;
/// Decisions the main screen's feed lists.
pub const FEED_MAX: usize = 100;

/// The tail of `QM_DECISIONS` and `QM_ACTUATION`, bounded by [`RECENT_MAX`].
#[derive(Clone, Debug, Default)]
pub struct Recent {
    decisions: VecDeque<Envelope<DecisionRecorded>>,
    actuation: VecDeque<Envelope<ActuationEvent>>,
}

impl Recent {
    /// Adds a recorded decision, dropping the oldest past the bound.
    pub fn push_decision(&mut self, d: Envelope<DecisionRecorded>) {
        push_bounded(&mut self.decisions, d);
    }

    /// Adds an actuation report, dropping the oldest past the bound.
    pub fn push_actuation(&mut self, a: Envelope<ActuationEvent>) {
        push_bounded(&mut self.actuation, a);
    }

    /// Decisions passing `filter`, newest first, at most `limit`.
    pub fn newest(&self, filter: &Filter, limit: usize) -> Vec<Entry> {
        let decisions: Vec<_> = self.decisions.iter().cloned().collect();
        let mut all = timeline::history(&decisions, filter);
        all.reverse();
        all.truncate(limit);
        all
    }

    /// `qm why` over what is kept: the workload's decisions and actuation, oldest first.
    pub fn why(&self, workload: &WorkloadId) -> Vec<Entry> {
        let decisions: Vec<_> = self.decisions.iter().cloned().collect();
        let actuation: Vec<_> = self.actuation.iter().cloned().collect();
        timeline::why(workload, &decisions, &actuation)
    }
}

fn push_bounded<T>(queue: &mut VecDeque<T>, item: T) {
    if queue.len() == RECENT_MAX {
        queue.pop_front();
    }
    queue.push_back(item);
}

/// Chips in one pool, or summed over pools.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Chips {
    pub healthy: u32,
    /// Counted as taken: decided or still reported held, as `qm status` counts them.
    pub granted: u32,
    /// Reported held by the actuator.
    pub applied: u32,
    /// Measured busy, from usage reports (see [`busy_by_pool`]).
    pub busy: f64,
}

impl Chips {
    /// Healthy chips nobody holds or was granted.
    pub fn free(&self) -> u32 {
        self.healthy.saturating_sub(self.granted)
    }

    /// Held but not busy: what idle give-back works on.
    pub fn idle(&self) -> f64 {
        (f64::from(self.applied) - self.busy).max(0.0)
    }

    fn add(&mut self, other: &Chips) {
        self.healthy += other.healthy;
        self.granted += other.granted;
        self.applied += other.applied;
        self.busy += other.busy;
    }
}

/// A row of the fleet table: a type's total over its pools, or one pool.
#[derive(Clone, Debug, PartialEq)]
pub enum FleetRow {
    Type { accelerator: AcceleratorType, pools: usize, chips: Chips },
    Pool { id: PoolId, accelerator: AcceleratorType, region: Region, retired: bool, chips: Chips },
}

/// Where a team stands against its guarantee and fair share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Wants more than it holds and holds less than its guarantee: owner reclaim is due.
    BelowGuarantee,
    /// Holds more than its fair share: its chips may be taken back for others.
    Borrowing,
    Within,
}

/// A row of the teams table (shares in normalized compute, H100-equivalent chips).
#[derive(Clone, Debug, PartialEq)]
pub struct TeamRow {
    pub id: TeamId,
    pub tier: PriorityTier,
    pub guarantee: f64,
    pub fair_share: f64,
    pub held: f64,
    pub demand: f64,
    pub chips: Chips,
    pub standing: Standing,
}

/// A workload waiting for chips, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingRow {
    pub workload: WorkloadId,
    pub team: TeamId,
    pub chips: u32,
    pub rule: Option<RuleId>,
    pub message: String,
}

/// One screenful of `qm top`.
#[derive(Clone, Debug, PartialEq)]
pub struct Top {
    /// The last input log sequence folded.
    pub log_position: u64,
    pub now_ms: i64,
    pub policy_version: String,
    /// Types in name order, each followed by its pools in (region, id) order.
    pub fleet: Vec<FleetRow>,
    pub teams: Vec<TeamRow>,
    /// Most chips waiting first.
    pub pending: Vec<PendingRow>,
    /// Newest first.
    pub decisions: Vec<Entry>,
    /// Where the fold is halted, if it is (as `qm status` reports it).
    pub halt: Option<qm_core::Halt>,
}

/// Shares closer than this are equal: they are sums of floats.
const SHARE_EPSILON: f64 = 1e-6;

impl Top {
    /// Builds the screen from the engine (folded exactly as the policy folds) and the
    /// recent decisions.
    pub fn build(engine: &Engine, recent: &Recent) -> Self {
        let state = engine.state();
        let status = engine.status();
        let mut by_pool: BTreeMap<&PoolId, Chips> = BTreeMap::new();
        let mut by_team: BTreeMap<&TeamId, Chips> = BTreeMap::new();
        for p in &status.pools {
            by_pool.insert(&p.id, Chips { healthy: if p.retired { 0 } else { p.healthy_chips }, granted: p.granted_chips, ..Chips::default() });
        }
        for w in state.workloads.values() {
            let team = by_team.entry(&w.spec.team).or_default();
            let busy = busy_by_pool(w);
            for (pool, g) in &w.grants {
                team.granted += g.occupied();
                team.applied += g.applied;
                if let Some(chips) = by_pool.get_mut(pool) {
                    chips.applied += g.applied;
                    chips.busy += busy.get(pool).copied().unwrap_or(0.0);
                }
            }
            team.busy += busy.values().sum::<f64>();
        }
        let mut sorted: Vec<_> = status.pools.iter().collect();
        sorted.sort_by(|a, b| (&a.accelerator, &a.region, &a.id).cmp(&(&b.accelerator, &b.region, &b.id)));
        let pools = sorted.into_iter().map(|p| FleetRow::Pool {
                id: p.id.clone(),
                accelerator: p.accelerator.clone(),
                region: p.region.clone(),
                retired: p.retired,
            chips: by_pool.get(&p.id).copied().unwrap_or_default(),
        });
        let mut fleet = Vec::new();
        for row in pools {
            let FleetRow::Pool { accelerator, chips, .. } = &row else { continue };
            let starts_type = !matches!(fleet.last(), Some(FleetRow::Pool { accelerator: a, .. }) if a == accelerator);
            if starts_type {
                fleet.push(FleetRow::Type { accelerator: accelerator.clone(), pools: 0, chips: Chips::default() });
            }
            let total = fleet.iter_mut().rev().find_map(|r| match r {
                FleetRow::Type { pools, chips, .. } => Some((pools, chips)),
                FleetRow::Pool { .. } => None,
            });
            if let Some((count, sum)) = total {
                *count += 1;
                sum.add(chips);
            }
            fleet.push(row);
        }
        let teams = team_standings(engine)
            .into_iter()
            .map(|(id, t)| {
                let standing = if t.held + SHARE_EPSILON < t.guarantee && t.demand > t.held + SHARE_EPSILON {
                    Standing::BelowGuarantee
                } else if t.held > t.fair_share + SHARE_EPSILON {
                    Standing::Borrowing
                } else {
                    Standing::Within
                };
                let chips = by_team.get(&id).copied().unwrap_or_default();
                TeamRow { tier: t.tier, guarantee: t.guarantee, fair_share: t.fair_share, held: t.held, demand: t.demand, chips, standing, id }
            })
            .collect();
        let mut pending: Vec<PendingRow> = status
            .workloads
            .iter()
            .filter(|w| w.pending_chips > 0)
            .map(|w| PendingRow {
                workload: w.id.clone(),
                team: w.team.clone(),
                chips: w.pending_chips,
                rule: w.pending_reason.as_ref().map(|r| r.rule.clone()),
                message: w.pending_reason.as_ref().map(|r| r.message.clone()).unwrap_or_else(|| "not decided yet".to_owned()),
            })
            .collect();
        pending.sort_by(|a, b| b.chips.cmp(&a.chips).then_with(|| a.workload.cmp(&b.workload)));
        Top {
            log_position: engine.last_seq(),
            now_ms: engine.now_ms(),
            policy_version: engine.policy().version.clone(),
            fleet,
            teams,
            pending,
            decisions: recent.newest(&Filter::default(), FEED_MAX),
            halt: None,
        }
    }
}
