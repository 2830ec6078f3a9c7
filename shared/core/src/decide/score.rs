//! The written formulas of `docs/POLICY.md`: priority, victim order, placement score,
//! and the chip arithmetic (steps and allocation units).

use crate::decide::view::PoolView;
use crate::state::WorkloadState;
use qm_model::PolicyConfig;

/// Deadline pressure in [0, 1]: 0 until `deadline_horizon_s` before the deadline, then
/// rising linearly to 1 at the deadline, and 1 after it.
pub fn deadline_pressure(w: &WorkloadState, policy: &PolicyConfig, now_ms: i64) -> f64 {
    let Some(deadline) = w.spec.deadline_ms else { return 0.0 };
    let horizon_ms = f64::from(policy.deadline_horizon_s.max(1)) * 1000.0;
    let left_ms = (deadline - now_ms) as f64;
    (1.0 - left_ms / horizon_ms).clamp(0.0, 1.0)
}

/// Soft priority: `urgency_weight * urgency + deadline_weight * pressure`.
pub fn priority(w: &WorkloadState, policy: &PolicyConfig, now_ms: i64) -> f64 {
    let urgency = if w.spec.urgency.is_finite() { w.spec.urgency.clamp(0.0, 1.0) } else { 0.0 };
    policy.urgency_weight * urgency + policy.deadline_weight * deadline_pressure(w, policy, now_ms)
}

/// Victim score: lowest is reclaimed first. Priority minus `risk_weight * risk_tolerance`,
/// so work that said it is happy on borrowed capacity goes before work that is not.
pub fn victim_score(w: &WorkloadState, policy: &PolicyConfig, now_ms: i64) -> f64 {
    let risk = if w.spec.risk_tolerance.is_finite() { w.spec.risk_tolerance.clamp(0.0, 1.0) } else { 0.0 };
    priority(w, policy, now_ms) - policy.risk_weight * risk
}

/// Placement score: useful throughput per unit of cost,
/// `throughput / max(price, 0.01) ^ cost_weight`, at the round's placement price
/// ([`placement_price`]). Higher is better.
pub fn placement_score(tp: f64, price: f64, policy: &PolicyConfig) -> f64 {
    let cw = if policy.cost_weight.is_finite() { policy.cost_weight.clamp(0.0, 1.0) } else { 0.0 };
    tp / crate::maths::pow(price.max(0.01), cw)
}

/// The price placement counts for a pool: its list price while its accelerator type is
/// contended (the workloads waiting for chips that accept the type want more than the
/// type has free), else the fleet's cheapest price. The fleet pays for a chip whether it
/// is used or not, so a chip nobody else is waiting for costs nothing to use: pricing it
/// at list made work run slowly on cheap chips while fast ones sat idle. Pricing it
/// below every real chip would pull work off contended pools that others use anyway;
/// at the cheapest price, spare pools compare with each other by throughput alone, and
/// with contended ones as the cheapest chip would.
pub fn placement_price(list: f64, contended: bool, cheapest: f64) -> f64 {
    if contended { list } else { list.min(cheapest) }
}

/// The least gain, in normalized compute, that pays for one preemption:
/// `preemption_cost / grant_lifetime_min_s`, the cost spread over the minimum lifetime
/// the new grant is promised. A lifetime of 0 promises nothing and turns the toll off
/// (only hysteresis applies); dividing by it instead made reclaims and moves need a gain
/// of the whole cost at once, so with `grant_lifetime_min_s = 0` they never fired.
pub fn restart_toll(policy: &PolicyConfig) -> f64 {
    let cost = if policy.preemption_cost.is_finite() { policy.preemption_cost.max(0.0) } else { 0.0 };
    match policy.grant_lifetime_min_s {
        0 => 0.0,
        s => cost / f64::from(s),
    }
}

/// The granularity of a workload's grants in a pool: a multiple of both its step and
/// the pool's allocation unit.
pub fn grain(w: &WorkloadState, pool: &PoolView) -> u32 {
    lcm(w.spec.chips_step.max(1), pool.unit.max(1))
}

/// The chips a workload needs in a pool of grain `g` to get `want`: `want` rounded up
/// to the grain when that stays within `chips_max` (an allocation unit of 8 serves a
/// request for 12 with 16 chips; the other 4 could go to no one else anyway), else
/// rounded down.
pub fn size_for(want: u32, chips_max: u32, g: u32) -> u32 {
    let up = round_up(want, g);
    if up <= chips_max.max(want) { up } else { round_down(want, g) }
}

/// Largest multiple of `grain` that is at most `chips`.
pub fn round_down(chips: u32, grain: u32) -> u32 {
    chips / grain.max(1) * grain.max(1)
}

/// Smallest multiple of `grain` that is at least `chips`.
pub fn round_up(chips: u32, grain: u32) -> u32 {
    let g = grain.max(1);
    chips.div_ceil(g).saturating_mul(g)
}

fn lcm(a: u32, b: u32) -> u32 {
    let (mut x, mut y) = (a, b);
    while y != 0 {
        (x, y) = (y, x % y);
    }
    (a / x).saturating_mul(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chip_arithmetic_table() {
        // (chips, grain, down, up)
        let cases = [(10, 4, 8, 12), (8, 4, 8, 8), (0, 4, 0, 0), (3, 1, 3, 3), (5, 0, 5, 5)];
        for (chips, g, down, up) in cases {
            assert_eq!(round_down(chips, g), down, "down {chips}/{g}");
            assert_eq!(round_up(chips, g), up, "up {chips}/{g}");
        }
        assert_eq!(lcm(4, 6), 12);
        // (want, max, grain, size): round up within max, else down.
        for (want, max, g, size) in [(12, 16, 8, 16), (12, 12, 8, 8), (8, 16, 8, 8), (3, 100, 1, 3), (0, 8, 8, 0)] {
            assert_eq!(size_for(want, max, g), size, "size_for({want}, {max}, {g})");
        }
        assert_eq!(lcm(1, 8), 8);
    }

    #[test]
    fn placement_price_is_list_only_under_contention() {
        // (list, contended, cheapest, price)
        for (list, contended, cheapest, price) in [(4.92, true, 0.75, 4.92), (4.92, false, 0.75, 0.75), (0.5, false, 0.75, 0.5)] {
            assert_eq!(placement_price(list, contended, cheapest), price, "{list} {contended} {cheapest}");
        }
    }
}
