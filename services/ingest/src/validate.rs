//! Validation of one request: pure, so every rule is unit-tested without a server.
//! Checks the subject's shape, that the subject matches the body (a team speaks only
//! for itself), ranges, and references to known teams, pools and workloads.

use crate::known::Known;
use qm_model::limits::*;
use qm_model::{InputEvent, PolicyConfig, Pool, RejectCode, Team, WorkloadSpec};

/// A refusal, sent back to the sender and kept as a dead letter.
#[derive(Clone, Debug, PartialEq)]
pub struct Rejection {
    pub code: RejectCode,
    pub message: String,
}

impl Rejection {
    fn new(code: RejectCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

/// Where an accepted event is stored, and under which scope its idempotency key lives.
#[derive(Clone, Debug, PartialEq)]
pub struct Accepted {
    pub event: InputEvent,
    /// `QM_INPUT` subject, e.g. `qm.input.demand.ml.w1`.
    pub subject: String,
    /// Idempotency keys are unique per scope (the request subject's tokens).
    pub key_scope: String,
}

/// The kind token of a request subject (`qm.in.<kind>...`), for dead-letter subjects.
pub fn request_kind(subject: &str) -> &str {
    match subject.strip_prefix("qm.in.").and_then(|rest| rest.split('.').next()) {
        Some(kind @ ("demand" | "usage" | "finish" | "pool" | "team" | "policy" | "halt")) => kind,
        _ => "unknown",
    }
}

/// Checks a decoded event against the subject it arrived on and what ingest knows.
pub fn validate(subject: &str, event: InputEvent, known: &Known) -> Result<Accepted, Rejection> {
    let tokens: Vec<&str> = subject.split('.').collect();
    let route = match tokens.as_slice() {
        ["qm", "in", rest @ ..] => rest,
        _ => return Err(Rejection::new(RejectCode::BadSubject, format!("subject {subject} is not under qm.in"))),
    };
    // Only one arm accepts, so the subject and scope are built once, when it does.
    let accepted = |event| {
        let key_scope = route.join(".");
        Ok(Accepted { event, subject: format!("qm.input.{key_scope}"), key_scope })
    };
    match (route, event) {
        (["demand", team, workload], InputEvent::DemandDeclared { spec, chips_desired }) => {
            same("team", team, spec.team.as_str())?;
            same("workload", workload, spec.id.as_str())?;
            check_demand(&spec, chips_desired, known)?;
            accepted(InputEvent::DemandDeclared { spec, chips_desired })
        }
        (["usage", team, workload], InputEvent::UsageReported { workload: id, chips_busy, window_s }) => {
            same("workload", workload, id.as_str())?;
            owned_by(known, team, workload)?;
            finite_at_least("chips_busy", chips_busy, 0.0)?;
            within("window_s", u64::from(window_s), 1, u64::from(USAGE_WINDOW_S_MAX))?;
            accepted(InputEvent::UsageReported { workload: id, chips_busy, window_s })
        }
        (["finish", team, workload], InputEvent::WorkloadFinished { workload: id }) => {
            same("workload", workload, id.as_str())?;
            owned_by(known, team, workload)?;
            accepted(InputEvent::WorkloadFinished { workload: id })
        }
        (["pool", pool], InputEvent::PoolDeclared(body)) => {
            same("pool", pool, body.id.as_str())?;
            check_pool(&body)?;
            accepted(InputEvent::PoolDeclared(body))
        }
        (["pool", pool], InputEvent::PoolRetired { pool: id }) => {
            same("pool", pool, id.as_str())?;
            if !known.has_pool(pool) {
                return Err(Rejection::new(RejectCode::Unknown, format!("pool {pool} was never declared")));
            }
            accepted(InputEvent::PoolRetired { pool: id })
        }
        (["team", team], InputEvent::TeamDeclared(body)) => {
            same("team", team, body.id.as_str())?;
            check_team(&body)?;
            accepted(InputEvent::TeamDeclared(body))
        }
        (["policy"], InputEvent::PolicyPublished(policy)) => {
            check_policy(&policy)?;
            accepted(InputEvent::PolicyPublished(policy))
        }
        // Operators only (the permissions say who may send to `qm.in.halt`). Whether the
        // fold is halted there is for the policy to see: a resolution of an entry that
        // folded fine is a harmless no-op (`qm_core::guard`).
        (["halt"], InputEvent::HaltResolved { sequence, resolution }) => {
            within("sequence", sequence, 1, u64::MAX)?;
            accepted(InputEvent::HaltResolved { sequence, resolution })
        }
        (_, InputEvent::Tick) => Err(Rejection::new(RejectCode::Forbidden, "ticks are written by ingest itself")),
        (_, event) => Err(Rejection::new(
            RejectCode::BadSubject,
            format!("a {} cannot be sent to {subject}", event.type_name()),
        )),
    }
}

fn same(what: &str, in_subject: &str, in_body: &str) -> Result<(), Rejection> {
    check_id(what, in_body)?;
    if in_subject != in_body {
        return Err(Rejection::new(
            RejectCode::Forbidden,
            format!("subject names {what} {in_subject} but the body is about {in_body}"),
        ));
    }
    Ok(())
}

fn owned_by(known: &Known, team: &str, workload: &str) -> Result<(), Rejection> {
    match known.owned_by(workload, team) {
        Some(true) => Ok(()),
        None => Err(Rejection::new(RejectCode::Unknown, format!("workload {workload} never declared demand"))),
        Some(false) => Err(Rejection::new(
            RejectCode::Forbidden,
            format!("workload {workload} belongs to team {}, not {team}", known.workload_team(workload).unwrap_or_default()),
        )),
    }
}

/// Ids become subject tokens, so they must not contain `.`, wildcards or spaces.
fn check_id(what: &str, id: &str) -> Result<(), Rejection> {
    let valid_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if id.is_empty() || id.len() > ID_BYTES_MAX || !id.chars().all(valid_char) {
        return Err(Rejection::new(
            RejectCode::OutOfRange,
            format!("{what} id {id:?} must be 1 to {ID_BYTES_MAX} characters of A-Z a-z 0-9 - _"),
        ));
    }
    Ok(())
}

fn within(what: &str, value: u64, min: u64, max: u64) -> Result<(), Rejection> {
    if value < min || value > max {
        return Err(Rejection::new(RejectCode::OutOfRange, format!("{what} = {value} is outside {min}..={max}")));
    }
    Ok(())
}

fn finite_at_least(what: &str, value: f64, min: f64) -> Result<(), Rejection> {
    if !value.is_finite() || value < min {
        return Err(Rejection::new(RejectCode::OutOfRange, format!("{what} = {value} must be a finite number >= {min}")));
    }
    Ok(())
}

fn fraction(what: &str, value: f64) -> Result<(), Rejection> {
    if !(0.0..=1.0).contains(&value) {
        return Err(Rejection::new(RejectCode::OutOfRange, format!("{what} = {value} must be within 0..=1")));
    }
    Ok(())
}

fn check_demand(spec: &WorkloadSpec, chips_desired: u32, known: &Known) -> Result<(), Rejection> {
    if !known.has_team(spec.team.as_str()) {
        return Err(Rejection::new(RejectCode::Unknown, format!("team {} was never declared", spec.team)));
    }
    if known.owned_by(spec.id.as_str(), spec.team.as_str()) == Some(false) {
        return Err(Rejection::new(
            RejectCode::Forbidden,
            format!("workload {} already belongs to team {}", spec.id, known.workload_team(spec.id.as_str()).unwrap_or_default()),
        ));
    }
    if spec.accepts.is_empty() || spec.accepts.len() > ACCEPTED_TYPES_MAX {
        return Err(Rejection::new(
            RejectCode::OutOfRange,
            format!("accepts lists {} types; 1 to {ACCEPTED_TYPES_MAX} allowed", spec.accepts.len()),
        ));
    }
    for accepted in &spec.accepts {
        check_id("accelerator", accepted.accelerator.as_str())?;
        if !accepted.relative_throughput.is_finite() || accepted.relative_throughput <= 0.0 {
            return Err(Rejection::new(
                RejectCode::OutOfRange,
                format!("relative_throughput on {} must be a finite number > 0", accepted.accelerator),
            ));
        }
    }
    within("chips_step", u64::from(spec.chips_step), 1, u64::from(WORKLOAD_CHIPS_MAX))?;
    within("chips_min", u64::from(spec.chips_min), 1, u64::from(WORKLOAD_CHIPS_MAX))?;
    within("chips_max", u64::from(spec.chips_max), u64::from(spec.chips_min), u64::from(WORKLOAD_CHIPS_MAX))?;
    if chips_desired != 0 {
        within("chips_desired", u64::from(chips_desired), u64::from(spec.chips_min), u64::from(spec.chips_max))?;
    }
    within("drain_grace_s", u64::from(spec.drain_grace_s), 0, u64::from(DRAIN_GRACE_S_MAX))?;
    fraction("urgency", spec.urgency)?;
    fraction("risk_tolerance", spec.risk_tolerance)?;
    if spec.critical && spec.preemptible {
        return Err(Rejection::new(RejectCode::OutOfRange, "a critical workload cannot be preemptible"));
    }
    Ok(())
}

fn check_pool(pool: &Pool) -> Result<(), Rejection> {
    check_id("region", pool.region.as_str())?;
    check_id("accelerator", pool.accelerator.as_str())?;
    within("chips", u64::from(pool.chips), 0, u64::from(POOL_CHIPS_MAX))?;
    within("healthy_chips", u64::from(pool.healthy_chips), 0, u64::from(pool.chips))?;
    within("allocation_unit", u64::from(pool.allocation_unit), 1, u64::from(pool.chips.max(1)))?;
    finite_at_least("price_per_chip_hour", pool.price_per_chip_hour, 0.0)
}

fn check_team(team: &Team) -> Result<(), Rejection> {
    finite_at_least("guarantee", team.guarantee, 0.0)?;
    if let Some(limit) = team.limit {
        finite_at_least("limit", limit, team.guarantee)?;
    }
    if !team.weight.is_finite() || team.weight <= 0.0 {
        return Err(Rejection::new(RejectCode::OutOfRange, format!("weight = {} must be > 0", team.weight)));
    }
    for region in &team.regions {
        check_id("region", region.as_str())?;
    }
    if !(0.0..=10.0).contains(&team.headroom_fraction) {
        return Err(Rejection::new(RejectCode::OutOfRange, "headroom_fraction must be within 0..=10"));
    }
    Ok(())
}

/// The core owns the meaning of every knob, so its validation is the one that counts.
fn check_policy(policy: &PolicyConfig) -> Result<(), Rejection> {
    if policy.version.is_empty() || policy.version.len() > ID_BYTES_MAX {
        return Err(Rejection::new(RejectCode::OutOfRange, format!("policy version must be 1 to {ID_BYTES_MAX} characters")));
    }
    qm_core::validate_policy(policy).map_err(|e| Rejection::new(RejectCode::OutOfRange, e.to_string()))
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
