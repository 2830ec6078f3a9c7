//! Shadow mode's report: what the policy's advisory decisions would have changed,
//! compared with the allocation really in force, given as today's standing
//! reservations (team x pool -> chips, held whether used or not).

use crate::summary::summarize;
use crate::whatif::TimedDecision;
use qm_model::{Action, InputEvent, LogEvent, LogRecord, PoolId, ReclaimCause, RuleId, TeamId, WorkloadId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One standing reservation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reservation {
    pub team: TeamId,
    pub pool: PoolId,
    pub chips: u32,
}

/// Today's reservations, as a file (`[[reservation]]` tables in TOML).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Reservations {
    #[serde(default)]
    pub reservation: Vec<Reservation>,
}

/// One team under both regimes, in chip-hours.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TeamShadow {
    pub reserved_idle: f64,
    pub policy_idle: f64,
    pub served_by_reservations: f64,
    pub served_by_policy: f64,
}

/// What the policy would have changed.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ShadowReport {
    pub span_hours: f64,
    pub advisory_decisions: u64,
    pub reserved_chip_hours: f64,
    /// Reserved chip-hours not busy: the waste standing reservations cause.
    pub reserved_idle_chip_hours: f64,
    /// Granted-but-idle chip-hours under the policy.
    pub policy_idle_chip_hours: f64,
    /// Idle chip-hours the policy would have given back.
    pub idle_chip_hours_given_back: f64,
    /// Chip-hours of declared demand.
    pub demand_chip_hours: f64,
    pub served_by_reservations_chip_hours: f64,
    pub served_by_policy_chip_hours: f64,
    /// Critical workloads the policy would have preempted, or left short for any reason
    /// other than waiting out the grace of a reclaim made for them. Must be empty.
    pub critical_workloads_affected: Vec<WorkloadId>,
    /// Critical workloads that waited for capacity being reclaimed for them (the
    /// borrower's drain grace): a delay, not a stranding.
    pub critical_workloads_delayed: Vec<WorkloadId>,
    pub teams: BTreeMap<TeamId, TeamShadow>,
}

/// Compares advisory `decisions` (applied at once, as if in force) with `reservations`
/// over the inputs of `log`.
pub fn report(log: &[LogRecord], decisions: &[TimedDecision], reservations: &Reservations) -> ShadowReport {
    let policy = summarize(log, decisions);
    let reserved = reservation_side(log, reservations);
    let mut report = ShadowReport {
        span_hours: policy.span_hours,
        advisory_decisions: decisions.len() as u64,
        reserved_chip_hours: reserved.values().map(|r| r.reserved).sum(),
        reserved_idle_chip_hours: reserved.values().map(|r| r.idle).sum(),
        policy_idle_chip_hours: policy.idle_granted_chip_hours,
        idle_chip_hours_given_back: 0.0,
        demand_chip_hours: reserved.values().map(|r| r.demand).sum(),
        served_by_reservations_chip_hours: reserved.values().map(|r| r.served).sum(),
        served_by_policy_chip_hours: 0.0,
        critical_workloads_affected: critical_with(log, decisions, |action| match action {
            Action::Reclaim { cause, .. } => !matches!(cause, ReclaimCause::IdleGiveBack | ReclaimCause::PoolShrink),
            _ => false,
        }),
        critical_workloads_delayed: Vec::new(),
        teams: BTreeMap::new(),
    };
    // Served under the policy = wanted minus unmet, the same definition as for reservations.
    report.served_by_policy_chip_hours = (report.demand_chip_hours - policy.unmet_chip_hours).max(0.0);
    let waiting = |d: &TimedDecision, awaiting: bool| {
        matches!(d.decision.action, Action::Pending { .. }) && (d.decision.reason.rule == RuleId::AwaitingReclaim) == awaiting
    };
    let stranded: Vec<TimedDecision> = decisions.iter().filter(|d| waiting(d, false)).cloned().collect();
    let delayed: Vec<TimedDecision> = decisions.iter().filter(|d| waiting(d, true)).cloned().collect();
    let any = |_: &Action| true;
    report.critical_workloads_affected.extend(critical_with(log, &stranded, any));
    report.critical_workloads_affected.sort();
    report.critical_workloads_affected.dedup();
    report.critical_workloads_delayed = critical_with(log, &delayed, any);
    report.idle_chip_hours_given_back = (report.reserved_idle_chip_hours - report.policy_idle_chip_hours).max(0.0);
    let teams: BTreeSet<&TeamId> = reserved.keys().chain(policy.teams.keys()).collect();
    for team in teams {
        let r = reserved.get(team).cloned().unwrap_or_default();
        let p = policy.teams.get(team).cloned().unwrap_or_default();
        report.teams.insert(
            team.clone(),
            TeamShadow {
                reserved_idle: r.idle,
                policy_idle: p.granted_chip_hours - p.busy_chip_hours,
                served_by_reservations: r.served,
                served_by_policy: (r.demand - p.unmet_chip_hours).max(0.0),
            },
        );
    }
    report
}

#[derive(Clone, Default)]
struct ReservedTeam {
    reserved: f64,
    idle: f64,
    demand: f64,
    served: f64,
}

/// Integrates, per team: chips reserved, reserved-but-idle, demand, and demand that fit
/// in the reservation.
fn reservation_side(log: &[LogRecord], reservations: &Reservations) -> BTreeMap<TeamId, ReservedTeam> {
    let mut reserved: BTreeMap<TeamId, f64> = BTreeMap::new();
    for r in &reservations.reservation {
        *reserved.entry(r.team.clone()).or_default() += f64::from(r.chips);
    }
    let mut desired: BTreeMap<WorkloadId, (TeamId, f64)> = BTreeMap::new();
    let mut busy: BTreeMap<WorkloadId, f64> = BTreeMap::new();
    let mut out: BTreeMap<TeamId, ReservedTeam> = BTreeMap::new();
    let mut last_ms = log.first().map_or(0, |r| r.time_ms);
    for record in log {
        let hours = (record.time_ms - last_ms).max(0) as f64 / 3_600_000.0;
        last_ms = last_ms.max(record.time_ms);
        let mut team_demand: BTreeMap<&TeamId, f64> = BTreeMap::new();
        let mut team_busy: BTreeMap<&TeamId, f64> = BTreeMap::new();
        for (workload, (team, chips)) in &desired {
            *team_demand.entry(team).or_default() += chips;
            *team_busy.entry(team).or_default() += busy.get(workload).copied().unwrap_or(0.0);
        }
        for (team, chips) in &reserved {
            let demand = team_demand.get(team).copied().unwrap_or(0.0);
            let used = team_busy.get(team).copied().unwrap_or(0.0).min(*chips);
            let entry = out.entry(team.clone()).or_default();
            entry.reserved += chips * hours;
            entry.idle += (chips - used) * hours;
            entry.served += demand.min(*chips) * hours;
        }
        for (team, demand) in team_demand {
            out.entry(team.clone()).or_default().demand += demand * hours;
        }
        if let LogEvent::Input(event) = &record.event {
            match event {
                InputEvent::DemandDeclared { spec, chips_desired } => {
                    desired.insert(spec.id.clone(), (spec.team.clone(), f64::from(*chips_desired)));
                }
                InputEvent::UsageReported { workload, chips_busy, .. } => {
                    busy.insert(workload.clone(), *chips_busy);
                }
                InputEvent::WorkloadFinished { workload } => {
                    desired.remove(workload);
                    busy.remove(workload);
                }
                _ => {}
            }
        }
    }
    out
}

/// Critical workloads with an advisory decision that `hit` selects.
fn critical_with(log: &[LogRecord], decisions: &[TimedDecision], hit: impl Fn(&Action) -> bool) -> Vec<WorkloadId> {
    let critical: BTreeSet<&WorkloadId> = log
        .iter()
        .filter_map(|r| match &r.event {
            LogEvent::Input(InputEvent::DemandDeclared { spec, .. }) if spec.critical => Some(&spec.id),
            _ => None,
        })
        .collect();
    let affected: BTreeSet<WorkloadId> = decisions
        .iter()
        .filter(|d| critical.contains(&d.decision.workload))
        .filter(|d| hit(&d.decision.action))
        .map(|d| d.decision.workload.clone())
        .collect();
    affected.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::small_history;
    use crate::whatif::replay;

    #[test]
    fn reservations_left_idle_show_up_as_capacity_given_back() {
        let log = small_history();
        // Today: ml holds 12 H100 and search 8 A100, used or not.
        let reservations = Reservations {
            reservation: vec![
                Reservation { team: "ml".into(), pool: "use-h100".into(), chips: 12 },
                Reservation { team: "search".into(), pool: "use-a100".into(), chips: 8 },
            ],
        };
        let decisions = replay(&log, None).decisions;
        let report = report(&log, &decisions, &reservations);
        assert!((report.reserved_chip_hours - 20.0 * report.span_hours).abs() < 1e-6);
        assert!(report.reserved_idle_chip_hours > report.policy_idle_chip_hours, "{report:?}");
        assert!(report.idle_chip_hours_given_back > 0.0);
        // search-batch (24 chips) arrives later: its reservation of 8 cannot serve it.
        assert!(report.served_by_policy_chip_hours > report.served_by_reservations_chip_hours, "{report:?}");
        assert!(report.critical_workloads_affected.is_empty(), "{:?}", report.critical_workloads_affected);
        assert_eq!(report.advisory_decisions, decisions.len() as u64);
    }
}
