//! What-if: a demand that was never sent, decided by the real core on a copy of the
//! engine, then followed through drain graces as if every decision applied at once.

use super::facts::Explanation;
use crate::Engine;
use qm_model::{
    deterministic_id, Action, Decision, InputEvent, LogEvent, PoolId, ReclaimCause, Reason, TeamId, WorkloadId,
    WorkloadSpec,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most rounds followed after the first (each one waits out the next drain deadline).
const SETTLE_ROUNDS_MAX: usize = 8;
/// Tag of the made-up decision ids in what-if actuation reports (never written anywhere).
const WHAT_IF_TAG: u8 = 15;

/// What `qm explain --demand` says.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WhatIf {
    pub workload: WorkloadId,
    pub team: TeamId,
    pub chips_desired: u32,
    /// Right after the demand's round.
    pub now: Outcome,
    /// After every drain grace it starts has run out, assuming decisions apply at once.
    pub settled: Outcome,
    /// When the settled outcome is reached (unix ms of the policy clock).
    pub settled_at_ms: i64,
    /// Other workloads that would hold fewer chips in the settled outcome.
    pub others: Vec<Loss>,
    /// Every decision the what-if made, in order.
    pub decisions: Vec<Decision>,
    pub lines: Vec<String>,
}

/// Where the asking workload stands at one point of the what-if.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub granted: BTreeMap<PoolId, u32>,
    pub total: u32,
    /// Why the rest is not granted, when some is not.
    pub pending: Option<Reason>,
}

/// Chips another workload would lose.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Loss {
    pub workload: WorkloadId,
    pub team: TeamId,
    pub pool: PoolId,
    pub chips_before: u32,
    pub chips_after: u32,
    /// The reclaim cause, when a reclaim decision said it.
    pub cause: Option<ReclaimCause>,
}

/// Decides `spec` asking for `chips_desired` now, on a copy of `engine`.
///
/// Losses are measured against a second copy that sees the same time pass without the
/// demand, so rules that would fire anyway (idle give-back, say) are not blamed on it.
pub fn what_if(engine: &Engine, spec: &WorkloadSpec, chips_desired: u32) -> WhatIf {
    let mut e = engine.clone();
    let seq = e.last_seq() + 1;
    let start = e.now_ms();
    let demand = InputEvent::DemandDeclared { spec: spec.clone(), chips_desired };
    let first_round = e.step(seq, start, &LogEvent::Input(demand));
    let first = outcome(&e, &spec.id, &first_round);
    let mut decisions = first_round.clone();
    let ticks = settle(&mut e, first_round, seq, start, None, &mut decisions);
    let settled = outcome(&e, &spec.id, &decisions);
    let mut baseline = engine.clone();
    let mut ignored = Vec::new();
    settle(&mut baseline, Vec::new(), seq, start, Some(&ticks), &mut ignored);
    let others = losses(&holdings(&baseline), &holdings(&e), &spec.id, &decisions);
    let mut out = WhatIf {
        workload: spec.id.clone(),
        team: spec.team.clone(),
        chips_desired,
        now: first,
        settled,
        settled_at_ms: ticks.last().copied().unwrap_or(start),
        others,
        decisions,
        lines: Vec::new(),
    };
    out.lines = what_if_sentences(&out, start);
    out
}

/// Applies `batch` as an ideal actuator would, to a fixpoint, then waits out drain
/// deadlines with ticks: at the next deadline (`ticks: None`, returning the tick times)
/// or at the given times. Every decision made is appended to `log`.
fn settle(e: &mut Engine, mut batch: Vec<Decision>, mut seq: u64, start: i64, ticks: Option<&[i64]>, log: &mut Vec<Decision>) -> Vec<i64> {
    let mut times = Vec::new();
    let mut now = start;
    for round in 0..=SETTLE_ROUNDS_MAX {
        for _ in 0..SETTLE_ROUNDS_MAX {
            let mut next = Vec::new();
            for (i, d) in batch.iter().enumerate() {
                let id = deterministic_id(now, WHAT_IF_TAG, seq, u32::try_from(i).unwrap_or(u32::MAX));
                if let Some(report) = d.applied_report(id) {
                    seq += 1;
                    next.extend(e.step(seq, now, &LogEvent::Actuation(report)));
                }
            }
            log.extend(next.iter().cloned());
            batch = next;
            if batch.is_empty() {
                break;
            }
        }
        let at = match ticks {
            Some(given) => match given.get(round) {
                Some(&t) => t,
                None => break,
            },
            None => match next_deadline(e) {
                Some(deadline) if round < SETTLE_ROUNDS_MAX => deadline + 1,
                _ => break,
            },
        };
        now = now.max(at);
        times.push(now);
        seq += 1;
        batch = e.step(seq, now, &LogEvent::Input(InputEvent::Tick));
        log.extend(batch.iter().cloned());
    }
    times
}

type Holdings = BTreeMap<(WorkloadId, PoolId), (TeamId, u32)>;

fn holdings(e: &Engine) -> Holdings {
    let mut out = BTreeMap::new();
    for (id, w) in &e.state().workloads {
        for (pool, g) in &w.grants {
            out.insert((id.clone(), pool.clone()), (w.spec.team.clone(), g.target()));
        }
    }
    out
}

fn outcome(e: &Engine, id: &WorkloadId, decisions: &[Decision]) -> Outcome {
    let Some(w) = e.state().workloads.get(id) else { return Outcome::default() };
    let granted: BTreeMap<PoolId, u32> =
        w.grants.iter().filter(|(_, g)| g.target() > 0).map(|(p, g)| (p.clone(), g.target())).collect();
    let total = granted.values().sum();
    let pending = if total < w.chips_wanted_total() {
        let last = decisions.iter().rev().find(|d| &d.workload == id && matches!(d.action, Action::Pending { .. }));
        last.map(|d| d.reason.clone()).or_else(|| w.pending.as_ref().map(|p| p.reason.clone()))
    } else {
        None
    };
    Outcome { granted, total, pending }
}

fn next_deadline(e: &Engine) -> Option<i64> {
    let now = e.now_ms();
    let deadlines = e.state().workloads.values().flat_map(|w| w.grants.values()).filter_map(|g| g.reclaim.as_ref());
    deadlines.map(|r| r.deadline_ms).filter(|&d| d >= now).min()
}

fn losses(before: &Holdings, after: &Holdings, asker: &WorkloadId, decisions: &[Decision]) -> Vec<Loss> {
    let mut out = Vec::new();
    for ((workload, pool), (team, chips_before)) in before {
        if workload == asker {
            continue;
        }
        let chips_after = after.get(&(workload.clone(), pool.clone())).map_or(0, |(_, c)| *c);
        if chips_after >= *chips_before {
            continue;
        }
        let cause = decisions.iter().find_map(|d| match &d.action {
            Action::Reclaim { pool: p, cause, .. } if &d.workload == workload && p == pool => Some(*cause),
            _ => None,
        });
        out.push(Loss {
            workload: workload.clone(),
            team: team.clone(),
            pool: pool.clone(),
            chips_before: *chips_before,
            chips_after,
            cause,
        });
    }
    out
}

fn chips_in(granted: &BTreeMap<PoolId, u32>) -> String {
    if granted.is_empty() {
        return "nothing".to_owned();
    }
    granted.iter().map(|(p, c)| format!("{c} in {p}")).collect::<Vec<_>>().join(", ")
}

fn what_if_sentences(w: &WhatIf, now_ms: i64) -> Vec<String> {
    let mut lines = vec![format!(
        "If {} (team {}) asked for {} chips now, it would get {} at once.",
        w.workload,
        w.team,
        w.chips_desired,
        chips_in(&w.now.granted)
    )];
    if w.settled.total != w.now.total || w.settled.granted != w.now.granted {
        let wait_s = (w.settled_at_ms - now_ms).max(0) / 1000;
        lines.push(format!("After {wait_s} s of drain grace it would hold {}.", chips_in(&w.settled.granted)));
    }
    if let Some(reason) = &w.settled.pending {
        lines.push(format!("The rest would wait ({}): {}", reason.rule, reason.message));
    }
    if w.others.is_empty() {
        lines.push("Nobody else would lose chips.".to_owned());
    }
    for l in &w.others {
        let cause = l.cause.map(|c| format!(" ({c:?})")).unwrap_or_default();
        lines.push(format!(
            "{} (team {}) would go from {} to {} chips in {}{cause}.",
            l.workload, l.team, l.chips_before, l.chips_after, l.pool
        ));
    }
    lines
}

/// The plain-words lines of an [`Explanation`].
pub(super) fn sentences(x: &Explanation) -> Vec<String> {
    let mut lines = Vec::new();
    let applied = if x.chips_applied == x.chips_held { String::new() } else { format!(" ({} applied so far)", x.chips_applied) };
    if x.chips_wanted <= x.chips_held {
        lines.push(format!("{} (team {}) holds {} chips{applied}: all it wants.", x.workload, x.team, x.chips_held));
    } else {
        lines.push(format!(
            "{} (team {}) wants {} chips and holds {}{applied}: {} pending.",
            x.workload,
            x.team,
            x.chips_wanted,
            x.chips_held,
            x.chips_wanted - x.chips_held
        ));
    }
    if let Some(cap) = x.idle_cap.filter(|&c| c < x.chips_desired) {
        lines.push(format!(
            "It asked for {} but is capped at {cap} by idle give-back (last measured busy: {:.1} chips); reporting use near its grant lifts the cap.",
            x.chips_desired, x.chips_busy
        ));
    }
    for g in x.grants.iter().filter(|g| g.reclaim.is_some()) {
        if let Some((to, deadline_ms, cause)) = g.reclaim {
            let left_s = (deadline_ms - x.now_ms).max(0) / 1000;
            lines.push(format!("It is being asked to shrink to {to} chips in {} ({cause:?}), {left_s} s of grace left.", g.pool));
        }
    }
    if let Some(b) = &x.blocker {
        lines.push(format!("Blocked by rule {}: {}", b.rule, b.message));
    }
    if let Some(t) = &x.team_facts {
        let limit = t.limit.map(|l| format!(", limit {l:.1}")).unwrap_or_default();
        lines.push(format!(
            "Team {} holds {:.1} H100-equivalents against a guarantee of {:.1} and a fair share of {:.1}{limit}.",
            x.team, t.held, t.guarantee, t.fair_share
        ));
    }
    if x.chips_wanted > x.chips_held {
        pool_sentences(x, &mut lines);
        if let Some(ask) = x.largest_ask_granted_now {
            lines.push(format!("Asking for {ask} chips instead would be granted in full now."));
        }
    }
    lines
}

fn pool_sentences(x: &Explanation, lines: &mut Vec<String>) {
    let missing = x.chips_wanted - x.chips_held;
    if x.pools.is_empty() {
        lines.push("No pool has a type it accepts: add a type to its accepts, or a pool of one.".to_owned());
    }
    for p in &x.pools {
        if let Some(why) = &p.closed {
            lines.push(format!("{} ({}): closed to it, {why}.", p.pool, p.accelerator));
            continue;
        }
        let holders: Vec<String> = p
            .holders
            .iter()
            .map(|h| format!("{} {}{}", h.team, h.chips, if h.borrowing { " (beyond its fair share)" } else { "" }))
            .collect();
        let mut held_by = if holders.is_empty() { String::new() } else { format!("; held by {}", holders.join(", ")) };
        if p.releasing > 0 {
            held_by.push_str(&format!("; {} still held by finished work until its release is reported", p.releasing));
        }
        let soon = if p.free_planned > p.free_now { format!(", {} once drains finish", p.free_planned) } else { String::new() };
        lines.push(format!(
            "{} ({} {}, {:.3}x): {} of {} healthy chips free now{soon}{held_by}.",
            p.pool, p.region, p.accelerator, p.relative_throughput, p.free_now, p.healthy
        ));
        if p.free_now >= missing && p.free_now > 0 {
            lines.push(format!(
                "  {missing} {} would be free now in {} at {:.3}x throughput ({:.1} H100-equivalents).",
                p.accelerator,
                p.pool,
                p.relative_throughput,
                f64::from(missing) * p.relative_throughput
            ));
        }
        let lent = p.holders.iter().filter(|h| h.borrowing && h.team != x.team).map(|h| h.chips).sum::<u32>();
        let owed = x.team_facts.as_ref().is_some_and(|t| t.held + 1e-9 < t.fair_share);
        if lent > 0 && owed {
            lines.push(format!(
                "  {lent} chips there are held by teams beyond their fair shares while team {} is below its own: owner reclaim takes them back (from grants past the minimum lifetime, after the holders' drain grace).",
                x.team
            ));
        }
    }
}
