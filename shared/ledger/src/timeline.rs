//! `qm why` and `qm history`: recorded decisions (and what the actuator did with them)
//! as a readable timeline with the reasons and the numbers each rule compared.

use qm_model::{Action, ActuationEvent, DecisionRecorded, Envelope, FigureName, PoolId, RuleId, TeamId, WorkloadId};
use serde::Serialize;
use std::fmt::Write;

/// One line of a timeline.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Entry {
    pub time_ms: i64,
    pub workload: WorkloadId,
    /// `decision` or `actuation`.
    pub kind: &'static str,
    pub summary: String,
    /// For decisions: rule, message and figures.
    pub rule: Option<RuleId>,
    pub message: Option<String>,
    pub figures: Vec<(FigureName, f64)>,
    pub input_seq: Option<u64>,
    pub policy_version: Option<String>,
    pub advisory: bool,
}

/// Which decisions `qm history` shows.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub team: Option<TeamId>,
    pub pool: Option<PoolId>,
    pub workload: Option<WorkloadId>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
}

impl Filter {
    fn admits(&self, envelope: &Envelope<DecisionRecorded>) -> bool {
        let decision = &envelope.body.decision;
        self.team.as_ref().is_none_or(|t| &decision.team == t)
            && self.workload.as_ref().is_none_or(|w| &decision.workload == w)
            && self.pool.as_ref().is_none_or(|p| action_pool(&decision.action) == Some(p))
            && self.since_ms.is_none_or(|t| envelope.time_ms >= t)
            && self.until_ms.is_none_or(|t| envelope.time_ms <= t)
    }
}

/// The pool an action is about, if any.
pub fn action_pool(action: &Action) -> Option<&PoolId> {
    match action {
        Action::Grant { pool, .. } | Action::Reclaim { pool, .. } | Action::Revoke { pool, .. } | Action::Release { pool } => Some(pool),
        Action::Pending { .. } => None,
    }
}

/// A short description of an action.
pub fn describe_action(action: &Action) -> String {
    match action {
        Action::Grant { pool, chips } => format!("grant: hold {chips} chips in {pool}"),
        Action::Reclaim { pool, chips, grace_s, cause, .. } => {
            format!("reclaim ({cause:?}): shrink to {chips} in {pool} within {grace_s} s")
        }
        Action::Revoke { pool, chips } => format!("revoke: down to {chips} in {pool} (grace over)"),
        Action::Release { pool } => format!("release {pool} (finished)"),
        Action::Pending { chips_wanted } => format!("pending: {chips_wanted} chips not granted"),
    }
}

fn decision_entry(envelope: &Envelope<DecisionRecorded>) -> Entry {
    let d = &envelope.body.decision;
    Entry {
        time_ms: envelope.time_ms,
        workload: d.workload.clone(),
        kind: "decision",
        summary: describe_action(&d.action),
        rule: Some(d.reason.rule.clone()),
        message: Some(d.reason.message.clone()),
        figures: d.reason.figures.iter().map(|f| (f.name.clone(), f.value)).collect(),
        input_seq: Some(envelope.body.input_seq),
        policy_version: Some(envelope.body.policy_version.clone()),
        advisory: envelope.body.advisory,
    }
}

fn actuation_entry(envelope: &Envelope<ActuationEvent>) -> (WorkloadId, Entry) {
    let (workload, summary) = match &envelope.body {
        ActuationEvent::GrantApplied { workload, pool, chips, .. } => (workload, format!("applied: holds {chips} in {pool}")),
        ActuationEvent::DrainRequested { workload, pool, chips, .. } => (workload, format!("drain requested: to {chips} in {pool}")),
        ActuationEvent::GrantRevoked { workload, pool, chips, .. } => (workload, format!("revoked: holds {chips} in {pool}")),
        ActuationEvent::ActuationFailed { workload, error, .. } => (workload, format!("FAILED: {error}")),
    };
    let entry = Entry {
        time_ms: envelope.time_ms,
        workload: workload.clone(),
        kind: "actuation",
        summary,
        rule: None,
        message: None,
        figures: Vec::new(),
        input_seq: None,
        policy_version: None,
        advisory: false,
    };
    (workload.clone(), entry)
}

/// `qm why`: every decision about `workload` and every actuation report, by time
/// (decisions before the reports they caused at the same millisecond).
pub fn why(workload: &WorkloadId, decisions: &[Envelope<DecisionRecorded>], actuation: &[Envelope<ActuationEvent>]) -> Vec<Entry> {
    let mut entries: Vec<Entry> = decisions.iter().filter(|e| &e.body.decision.workload == workload).map(decision_entry).collect();
    entries.extend(actuation.iter().map(actuation_entry).filter(|(w, _)| w == workload).map(|(_, e)| e));
    entries.sort_by_key(|e| (e.time_ms, e.kind != "decision"));
    entries
}

/// `qm history`: recorded decisions that pass `filter`, in log order.
pub fn history(decisions: &[Envelope<DecisionRecorded>], filter: &Filter) -> Vec<Entry> {
    decisions.iter().filter(|e| filter.admits(e)).map(decision_entry).collect()
}

/// Entries as text, one or two lines each; `time_origin_ms` makes times relative.
pub fn render(entries: &[Entry]) -> String {
    let mut out = String::new();
    for e in entries {
        let seq = e.input_seq.map(|s| format!("@{s}")).unwrap_or_default();
        let shadow = if e.advisory { " [advisory]" } else { "" };
        let _ = writeln!(out, "{} {:<10} {:<20} {}{}{}", format_time(e.time_ms), e.kind, e.workload.as_str(), e.summary, shadow, if seq.is_empty() { String::new() } else { format!("  (input {seq})") });
        if let (Some(rule), Some(message)) = (&e.rule, &e.message) {
            let figures = e.figures.iter().map(|(n, v)| format!("{n}={}", trim(*v))).collect::<Vec<_>>().join(" ");
            let _ = writeln!(out, "{:>24} why: [{rule}] {message}; {figures}", "");
        }
    }
    out
}

fn trim(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

/// Unix milliseconds as `HH:MM:SS.mmm` (UTC) — enough to read a day's timeline.
pub fn format_time(time_ms: i64) -> String {
    let ms = time_ms.rem_euclid(86_400_000);
    format!("{:02}:{:02}:{:02}.{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::small_history;
    use qm_core::Engine;
    use qm_model::{decision_envelope, PolicyConfig};

    fn recorded() -> Vec<Envelope<DecisionRecorded>> {
        let mut engine = Engine::new(PolicyConfig::default());
        let mut out = Vec::new();
        for record in small_history() {
            for (i, d) in engine.step(record.sequence, record.time_ms, &record.event).into_iter().enumerate() {
                out.push(decision_envelope((&record).into(), i as u32, &engine.policy().version, false, d));
            }
        }
        out
    }

    #[test]
    fn why_tells_one_workloads_story_with_reasons() {
        let decisions = recorded();
        let story = why(&"ml-train".into(), &decisions, &[]);
        assert!(!story.is_empty());
        assert!(story.iter().all(|e| e.workload.as_str() == "ml-train"));
        assert!(story.windows(2).all(|w| w[0].time_ms <= w[1].time_ms));
        assert!(story.iter().all(|e| e.rule.is_some() && e.message.is_some()), "{story:?}");
        assert!(story.iter().any(|e| !e.figures.is_empty()), "{story:?}");
        let text = render(&story);
        assert!(text.contains("why: ["), "{text}");
    }

    #[test]
    fn history_filters_by_team_pool_and_time() {
        let decisions = recorded();
        let all = history(&decisions, &Filter::default());
        assert_eq!(all.len(), decisions.len());
        let search = history(&decisions, &Filter { team: Some("search".into()), ..Default::default() });
        assert!(!search.is_empty() && search.len() < all.len());
        assert!(search.iter().all(|e| e.workload.as_str().starts_with("search")));
        let h100 = history(&decisions, &Filter { pool: Some("use-h100".into()), ..Default::default() });
        assert!(h100.iter().all(|e| e.summary.contains("use-h100")));
        let late = decisions.last().map(|d| d.time_ms).unwrap_or_default();
        let only_last = history(&decisions, &Filter { since_ms: Some(late), ..Default::default() });
        assert!(only_last.iter().all(|e| e.time_ms >= late) && !only_last.is_empty());
    }

    #[test]
    fn formats_times_of_day() {
        assert_eq!(format_time(3_723_004), "01:02:03.004");
    }
}
