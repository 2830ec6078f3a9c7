//! Numbers that describe a replay, for side-by-side comparison of policies: chip-hours
//! granted and busy, utilization, unmet demand, pending time, cost and churn, per team.
//! Integrated over the log's own timeline (event times), so they are reproducible.

use crate::whatif::TimedDecision;
use qm_model::{Action, InputEvent, LogEvent, LogRecord, PoolId, ReclaimCause, TeamId, WorkloadId};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

/// One team's share of a replay.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TeamSummary {
    pub granted_chip_hours: f64,
    pub busy_chip_hours: f64,
    /// Chip-hours wanted but not held. A grant given back for idleness lowers what its
    /// workload counts as wanting, until it declares demand again or is grown.
    pub unmet_chip_hours: f64,
    /// Workload-hours spent with less than the desired size.
    pub pending_workload_hours: f64,
    pub preemptions: u64,
}

/// The whole replay.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    pub span_hours: f64,
    pub healthy_chip_hours: f64,
    pub granted_chip_hours: f64,
    pub busy_chip_hours: f64,
    /// Granted chip-hours that sat idle (held but not busy).
    pub idle_granted_chip_hours: f64,
    pub unmet_chip_hours: f64,
    pub cost_usd: f64,
    pub decisions: u64,
    pub grants: u64,
    pub idle_give_backs: u64,
    /// Reclaims for owners or higher-priority work (preemptions), and moves.
    pub preemptions: u64,
    pub moves: u64,
    pub teams: BTreeMap<TeamId, TeamSummary>,
}

impl Summary {
    /// Granted / healthy chip-hours.
    pub fn allocation(&self) -> f64 {
        ratio(self.granted_chip_hours, self.healthy_chip_hours)
    }

    /// Busy / healthy chip-hours: how much of the fleet did useful work.
    pub fn productive_utilization(&self) -> f64 {
        ratio(self.busy_chip_hours, self.healthy_chip_hours)
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

#[derive(Default)]
struct Fleet {
    healthy: BTreeMap<PoolId, (u32, f64)>,
    held: BTreeMap<(WorkloadId, PoolId), u32>,
    busy: BTreeMap<WorkloadId, f64>,
    desired: BTreeMap<WorkloadId, (TeamId, u32)>,
    /// Size an idle grant was given back to: the workload's effective demand until it
    /// declares demand again or the policy grows it (its use came back).
    idle_cap: BTreeMap<WorkloadId, u32>,
}

impl Fleet {
    fn held_by(&self, workload: &WorkloadId) -> u32 {
        self.held.range((workload.clone(), PoolId::default())..).take_while(|((w, _), _)| w == workload).map(|(_, c)| c).sum()
    }

    fn accrue(&self, hours: f64, summary: &mut Summary) {
        if hours <= 0.0 {
            return;
        }
        summary.healthy_chip_hours += self.healthy.values().map(|(chips, _)| f64::from(*chips)).sum::<f64>() * hours;
        for ((_, pool), chips) in &self.held {
            let price = self.healthy.get(pool).map_or(0.0, |(_, price)| *price);
            summary.cost_usd += f64::from(*chips) * price * hours;
        }
        for (workload, (team, desired)) in &self.desired {
            let held = f64::from(self.held_by(workload));
            let busy = self.busy.get(workload).copied().unwrap_or(0.0).min(held);
            let wanted = self.idle_cap.get(workload).map_or(*desired, |cap| (*cap).min(*desired));
            let unmet = (f64::from(wanted) - held).max(0.0);
            let entry = summary.teams.entry(team.clone()).or_default();
            entry.granted_chip_hours += held * hours;
            entry.busy_chip_hours += busy * hours;
            entry.unmet_chip_hours += unmet * hours;
            if unmet > 0.0 {
                entry.pending_workload_hours += hours;
            }
            summary.granted_chip_hours += held * hours;
            summary.busy_chip_hours += busy * hours;
            summary.idle_granted_chip_hours += (held - busy) * hours;
            summary.unmet_chip_hours += unmet * hours;
        }
    }

    fn apply_input(&mut self, event: &InputEvent) {
        match event {
            InputEvent::PoolDeclared(pool) => {
                self.healthy.insert(pool.id.clone(), (pool.healthy_chips, pool.price_per_chip_hour));
            }
            InputEvent::PoolRetired { pool } => {
                self.healthy.remove(pool);
            }
            InputEvent::DemandDeclared { spec, chips_desired } => {
                self.desired.insert(spec.id.clone(), (spec.team.clone(), *chips_desired));
                self.idle_cap.remove(&spec.id);
            }
            InputEvent::UsageReported { workload, chips_busy, .. } => {
                self.busy.insert(workload.clone(), *chips_busy);
            }
            InputEvent::WorkloadFinished { workload } => {
                self.desired.remove(workload);
                self.busy.remove(workload);
                self.idle_cap.remove(workload);
            }
            InputEvent::TeamDeclared(_)
            | InputEvent::PolicyPublished(_)
            | InputEvent::Tick
            | InputEvent::HaltResolved { .. } => {}
        }
    }

    fn apply_decision(&mut self, decision: &TimedDecision, summary: &mut Summary) {
        let d = &decision.decision;
        summary.decisions += 1;
        let key = |pool: &PoolId| (d.workload.clone(), pool.clone());
        match &d.action {
            Action::Grant { pool, chips } => {
                summary.grants += 1;
                self.held.insert(key(pool), *chips);
                if let Some(cap) = self.idle_cap.get_mut(&d.workload) {
                    *cap = (*cap).max(*chips);
                }
            }
            Action::Revoke { pool, chips } => {
                self.held.insert(key(pool), *chips);
            }
            Action::Release { pool } => {
                self.held.remove(&key(pool));
            }
            Action::Reclaim { cause, chips, .. } => match cause {
                ReclaimCause::IdleGiveBack => {
                    summary.idle_give_backs += 1;
                    self.idle_cap.insert(d.workload.clone(), *chips);
                }
                ReclaimCause::Move => summary.moves += 1,
                ReclaimCause::OwnerReclaim | ReclaimCause::Preemption => {
                    summary.preemptions += 1;
                    summary.teams.entry(d.team.clone()).or_default().preemptions += 1;
                }
                ReclaimCause::PoolShrink => {}
            },
            Action::Pending { .. } => {}
        }
        self.held.retain(|_, chips| *chips > 0);
    }
}

/// Integrates a replay's decisions over the log's timeline.
pub fn summarize(log: &[LogRecord], decisions: &[TimedDecision]) -> Summary {
    let mut summary = Summary::default();
    let mut fleet = Fleet::default();
    let mut next = decisions.iter().peekable();
    let (first_ms, mut last_ms) = match log.first() {
        Some(record) => (record.time_ms, record.time_ms),
        None => return summary,
    };
    for record in log {
        let now_ms = record.time_ms.max(last_ms);
        fleet.accrue((now_ms - last_ms) as f64 / 3_600_000.0, &mut summary);
        last_ms = now_ms;
        if let LogEvent::Input(event) = &record.event {
            fleet.apply_input(event);
        }
        while let Some(decision) = next.next_if(|d| d.input_seq <= record.sequence) {
            fleet.apply_decision(decision, &mut summary);
        }
    }
    summary.span_hours = (last_ms - first_ms) as f64 / 3_600_000.0;
    summary
}

/// Two summaries side by side as a text table.
pub fn side_by_side(left_name: &str, left: &Summary, right_name: &str, right: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{:<34} {:>16} {:>16}", "", left_name, right_name);
    let rows: [(&str, f64, f64); 12] = [
        ("span (hours)", left.span_hours, right.span_hours),
        ("healthy chip-hours", left.healthy_chip_hours, right.healthy_chip_hours),
        ("granted chip-hours", left.granted_chip_hours, right.granted_chip_hours),
        ("busy chip-hours", left.busy_chip_hours, right.busy_chip_hours),
        ("idle granted chip-hours", left.idle_granted_chip_hours, right.idle_granted_chip_hours),
        ("unmet demand chip-hours", left.unmet_chip_hours, right.unmet_chip_hours),
        ("allocation (granted/healthy)", left.allocation(), right.allocation()),
        ("productive utilization", left.productive_utilization(), right.productive_utilization()),
        ("cost (USD)", left.cost_usd, right.cost_usd),
        ("idle give-backs", left.idle_give_backs as f64, right.idle_give_backs as f64),
        ("preemptions", left.preemptions as f64, right.preemptions as f64),
        ("moves", left.moves as f64, right.moves as f64),
    ];
    for (name, a, b) in rows {
        let _ = writeln!(out, "{name:<34} {a:>16.3} {b:>16.3}");
    }
    let teams: std::collections::BTreeSet<&TeamId> = left.teams.keys().chain(right.teams.keys()).collect();
    let _ = writeln!(out, "\nper team: granted chip-hours / unmet chip-hours / pending workload-hours / preemptions");
    for team in teams {
        let cell = |s: &Summary| {
            let t = s.teams.get(team).cloned().unwrap_or_default();
            format!("{:.2}/{:.2}/{:.2}/{}", t.granted_chip_hours, t.unmet_chip_hours, t.pending_workload_hours, t.preemptions)
        };
        let _ = writeln!(out, "{:<34} {:>16} {:>16}", team.as_str(), cell(left), cell(right));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::small_history;
    use crate::whatif::replay;
    use qm_model::PolicyConfig;

    #[test]
    fn integrates_over_the_timeline() {
        let log = small_history();
        let summary = summarize(&log, &replay(&log, None).decisions);
        // 32 healthy chips from t=0 to t=1260 s = 0.35 h.
        assert!((summary.span_hours - 0.35).abs() < 1e-9, "{}", summary.span_hours);
        assert!((summary.healthy_chip_hours - 32.0 * 0.35).abs() < 1e-6);
        assert!(summary.granted_chip_hours <= summary.healthy_chip_hours + 1e-9);
        assert!(summary.busy_chip_hours <= summary.granted_chip_hours + 1e-9);
        assert!(summary.grants > 0);
        assert_eq!(summary.teams.len(), 2);
    }

    #[test]
    fn giving_idle_capacity_back_sooner_leaves_less_idle() {
        let log = small_history();
        let quick = PolicyConfig { idle_window_s: 60, ..Default::default() };
        let never = PolicyConfig { idle_window_s: 100_000, ..Default::default() };
        let a = summarize(&log, &replay(&log, Some(&quick)).decisions);
        let b = summarize(&log, &replay(&log, Some(&never)).decisions);
        assert!(a.idle_granted_chip_hours < b.idle_granted_chip_hours, "{} vs {}", a.idle_granted_chip_hours, b.idle_granted_chip_hours);
        let table = side_by_side("quick", &a, "never", &b);
        assert!(table.contains("idle granted chip-hours") && table.contains("ml"), "{table}");
    }
}
