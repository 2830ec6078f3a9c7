//! The drill-downs of `qm top`: a team, a pool, an accelerator type or a workload, as
//! lines to read and rows to drill further into. Pure, like the main screen.

use super::model::{busy_by_pool, Recent};
use qm_core::explain::{explain, team_standings};
use qm_core::Engine;
use qm_ledger::timeline::{self, Filter};
use qm_model::{AcceleratorType, PoolId, TeamId, WorkloadId};

/// What a drill-down is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Focus {
    Type(AcceleratorType),
    Pool(PoolId),
    Team(TeamId),
    Workload(WorkloadId),
}

/// One drill-down screen.
#[derive(Clone, Debug, PartialEq)]
pub struct Detail {
    pub title: String,
    /// Sentences about the subject.
    pub lines: Vec<String>,
    /// Rows to drill further into (Enter).
    pub items: Vec<(String, Focus)>,
    pub trailer_title: String,
    /// Recent decisions about the subject (for a workload: its `why` chain), newest last.
    pub trailer: Vec<String>,
}

/// Decisions a drill-down lists at most.
const TRAILER_MAX: usize = 40;

/// Builds the drill-down for `focus`.
pub fn detail(engine: &Engine, recent: &Recent, focus: &Focus) -> Detail {
    match focus {
        Focus::Workload(id) => workload(engine, recent, id),
        Focus::Team(id) => team(engine, recent, id),
        Focus::Pool(id) => pool(engine, recent, id),
        Focus::Type(accelerator) => accelerator_type(engine, accelerator),
    }
}

fn workload(engine: &Engine, recent: &Recent, id: &WorkloadId) -> Detail {
    let mut items = Vec::new();
    let lines = match explain(engine, id) {
        Some(x) => {
            items.push((format!("team {}", x.team), Focus::Team(x.team.clone())));
            for g in x.grants.iter().filter(|g| g.target > 0 || g.applied > 0) {
                items.push((format!("pool {}: {} decided, {} applied", g.pool, g.decided, g.applied), Focus::Pool(g.pool.clone())));
            }
            x.lines
        }
        None => vec![format!("{id} is not known now: it never declared demand, or it finished.")],
    };
    let chain = recent.why(id);
    let trailer = tail(timeline::render(&chain).lines().map(str::to_owned).collect());
    Detail { title: format!("workload {id}"), lines, items, trailer_title: "why (recent decisions and actuation)".into(), trailer }
}

fn team(engine: &Engine, recent: &Recent, id: &TeamId) -> Detail {
    let lines = match team_standings(engine).get(id) {
        Some(t) => vec![format!(
            "tier {:?}; holds {:.1} of a fair share of {:.1} (guarantee {:.1}{}); its workloads want {:.1} (H100-equivalent chips)",
            t.tier,
            t.held,
            t.fair_share,
            t.guarantee,
            t.limit.map(|l| format!(", limit {l:.1}")).unwrap_or_default(),
            t.demand
        )],
        None => vec![format!("team {id} is not declared")],
    };
    let items = engine
        .state()
        .workloads
        .values()
        .filter(|w| &w.spec.team == id)
        .map(|w| {
            let applied: u32 = w.grants.values().map(|g| g.applied).sum();
            let busy: f64 = busy_by_pool(w).values().sum();
            let pending = w.chips_wanted_total().saturating_sub(w.target_total());
            let label = format!(
                "{:<24} wants {:>4}  holds {:>4}  applied {:>4}  busy {:>6.1}{}",
                w.spec.id.as_str(),
                w.chips_desired,
                w.target_total(),
                applied,
                busy,
                if pending > 0 { format!("  pending {pending}") } else { String::new() }
            );
            (label, Focus::Workload(w.spec.id.clone()))
        })
        .collect();
    let filter = Filter { team: Some(id.clone()), ..Filter::default() };
    Detail { title: format!("team {id}"), lines, items, trailer_title: "recent decisions".into(), trailer: decisions(recent, &filter) }
}

fn pool(engine: &Engine, recent: &Recent, id: &PoolId) -> Detail {
    let state = engine.state();
    let lines = match state.pools.get(id) {
        Some(p) => vec![format!(
            "{} {} in {}: {} chips, {} healthy{}, allocated in units of {}, {:.3} per chip-hour",
            p.pool.accelerator,
            id,
            p.pool.region,
            p.pool.chips,
            p.pool.healthy_chips,
            if p.retired { ", retired" } else { "" },
            p.pool.allocation_unit.max(1),
            p.pool.price_per_chip_hour
        )],
        None => vec![format!("pool {id} is not declared")],
    };
    let items = state
        .workloads
        .values()
        .filter_map(|w| w.grants.get(id).filter(|g| g.occupied() > 0).map(|g| (w, g)))
        .map(|(w, g)| {
            let reclaim = g.reclaim.as_ref().map(|r| format!("  shrinking to {} ({:?})", r.chips_to, r.cause)).unwrap_or_default();
            let label = format!("{:<24} {:<14} decided {:>4}  applied {:>4}{reclaim}", w.spec.id.as_str(), w.spec.team.as_str(), g.decided, g.applied);
            (label, Focus::Workload(w.spec.id.clone()))
        })
        .collect();
    let filter = Filter { pool: Some(id.clone()), ..Filter::default() };
    Detail { title: format!("pool {id}"), lines, items, trailer_title: "recent decisions".into(), trailer: decisions(recent, &filter) }
}

fn accelerator_type(engine: &Engine, accelerator: &AcceleratorType) -> Detail {
    let status = engine.status();
    let pools: Vec<_> = status.pools.iter().filter(|p| &p.accelerator == accelerator).collect();
    let healthy: u32 = pools.iter().filter(|p| !p.retired).map(|p| p.healthy_chips).sum();
    let granted: u32 = pools.iter().map(|p| p.granted_chips).sum();
    let lines = vec![format!("{accelerator}: {} pools, {healthy} healthy chips, {granted} granted", pools.len())];
    let items = pools
        .iter()
        .map(|p| (format!("{:<14} {:<10} healthy {:>4}  granted {:>4}", p.id.as_str(), p.region.as_str(), p.healthy_chips, p.granted_chips), Focus::Pool(p.id.clone())))
        .collect();
    Detail { title: format!("type {accelerator}"), lines, items, trailer_title: String::new(), trailer: Vec::new() }
}

fn decisions(recent: &Recent, filter: &Filter) -> Vec<String> {
    let mut newest = recent.newest(filter, TRAILER_MAX);
    newest.reverse();
    timeline::render(&newest).lines().map(str::to_owned).collect()
}

fn tail(mut lines: Vec<String>) -> Vec<String> {
    let start = lines.len().saturating_sub(TRAILER_MAX * 2);
    lines.drain(..start);
    lines
}
