//! Errors. The core's decisions never fail (a refusal is a decision with a reason);
//! the only fallible operation is checking a policy before it is published.

use thiserror::Error;

/// Why a policy file was refused. The CLI shows it to the operator, who fixes the file.
#[derive(Debug, Error, PartialEq)]
pub enum PolicyError {
    /// A knob is out of its documented range; the message names the knob and the range.
    #[error("policy knob `{knob}` = {value} is out of range: {range}")]
    OutOfRange { knob: &'static str, value: f64, range: &'static str },
    /// The version label is empty; every decision records it, so it must say something.
    #[error("policy version label is empty")]
    EmptyVersion,
}

/// Checks every knob of a policy against the ranges in `docs/POLICY.md`.
pub fn validate_policy(p: &qm_model::PolicyConfig) -> Result<(), PolicyError> {
    if p.version.trim().is_empty() {
        return Err(PolicyError::EmptyVersion);
    }
    let unit = "a finite number in [0, 1]";
    let nonneg = "a finite number >= 0";
    let checks: [(&'static str, f64, bool, &'static str); 8] = [
        ("idle_threshold_fraction", p.idle_threshold_fraction, (0.0..=1.0).contains(&p.idle_threshold_fraction), unit),
        ("headroom_fraction", p.headroom_fraction, p.headroom_fraction.is_finite() && p.headroom_fraction >= 0.0, nonneg),
        ("hysteresis_fraction", p.hysteresis_fraction, (0.0..=1.0).contains(&p.hysteresis_fraction), unit),
        ("preemption_cost", p.preemption_cost, p.preemption_cost.is_finite() && p.preemption_cost >= 0.0, nonneg),
        ("urgency_weight", p.urgency_weight, p.urgency_weight.is_finite() && p.urgency_weight >= 0.0, nonneg),
        ("deadline_weight", p.deadline_weight, p.deadline_weight.is_finite() && p.deadline_weight >= 0.0, nonneg),
        ("cost_weight", p.cost_weight, (0.0..=1.0).contains(&p.cost_weight), unit),
        ("risk_weight", p.risk_weight, p.risk_weight.is_finite() && p.risk_weight >= 0.0, nonneg),
    ];
    for (knob, value, ok, range) in checks {
        if !ok {
            return Err(PolicyError::OutOfRange { knob, value, range });
        }
    }
    for by_type in p.team_guarantees_by_type.values() {
        for g in by_type.values() {
            if !(g.is_finite() && *g >= 0.0) {
                return Err(PolicyError::OutOfRange { knob: "team_guarantees_by_type", value: *g, range: nonneg });
            }
        }
    }
    let fw = p.usage_fairness_weight;
    if !(fw.is_finite() && fw >= 0.0) {
        return Err(PolicyError::OutOfRange { knob: "usage_fairness_weight", value: fw, range: nonneg });
    }
    Ok(())
}
