//! Guarantees and weighted fair share of the surplus, in normalized compute.
//!
//! fair_t = g_t + s_t where g_t = min(guarantee_t, cap_t) (scaled down together if the
//! guarantees exceed capacity), cap_t = min(demand_t, limit_t), and the surplus
//! C - sum(g) is water-filled over teams with cap_t > g_t in proportion to
//! w_t / (1 + usage_fairness_weight * borrowed_recent_t / max(guarantee_t, 1)),
//! where borrowed_recent_t = max(0, usage_recent_t - guarantee_t).

use crate::decide::view::TeamView;
use qm_model::{PolicyConfig, TeamId};
use std::collections::BTreeMap;

/// Sets `fair` on every team for a fleet of normalized `capacity`.
pub fn fair_shares(teams: &mut BTreeMap<TeamId, TeamView>, capacity: f64, policy: &PolicyConfig) {
    let capacity = capacity.max(0.0);
    let cap = |t: &TeamView| t.demand.min(t.limit.unwrap_or(f64::INFINITY)).max(0.0);
    let mut guaranteed: f64 = teams.values().map(|t| t.guarantee.min(cap(t))).sum();
    let scale = if guaranteed > capacity && guaranteed > 0.0 { capacity / guaranteed } else { 1.0 };
    for t in teams.values_mut() {
        t.fair = t.guarantee.min(cap(t)) * scale;
    }
    guaranteed *= scale;
    let mut surplus = (capacity - guaranteed).max(0.0);
    let fw = if policy.usage_fairness_weight.is_finite() { policy.usage_fairness_weight.max(0.0) } else { 0.0 };
    let eff_weight = |t: &TeamView| {
        let borrowed = (t.usage_recent - t.guarantee).max(0.0);
        t.weight / (1.0 + fw * borrowed / t.guarantee.max(1.0))
    };
    // Water-filling: teams whose remaining need is below their proportional part are
    // filled and leave; the rest share what is left. At most one pass per team.
    let mut active: Vec<TeamId> =
        teams.iter().filter(|(_, t)| cap(t) > t.fair + 1e-9).map(|(id, _)| id.clone()).collect();
    while surplus > 1e-9 && !active.is_empty() {
        let total_w: f64 = active.iter().map(|id| eff_weight(&teams[id])).sum();
        if total_w <= 0.0 {
            break;
        }
        let per_w = surplus / total_w;
        let mut filled = Vec::new();
        for id in &active {
            let t = &teams[id];
            if cap(t) - t.fair <= per_w * eff_weight(t) {
                filled.push(id.clone());
            }
        }
        if filled.is_empty() {
            for id in &active {
                let w = eff_weight(&teams[id]);
                if let Some(t) = teams.get_mut(id) {
                    t.fair += per_w * w;
                }
            }
            break;
        }
        for id in &filled {
            if let Some(t) = teams.get_mut(id) {
                let need = cap(t) - t.fair;
                t.fair += need;
                surplus -= need;
            }
        }
        active.retain(|id| !filled.contains(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn team(guarantee: f64, demand: f64, weight: f64) -> TeamView {
        TeamView { guarantee, demand, weight, ..TeamView::default() }
    }

    fn shares(teams: &[(&str, TeamView)], capacity: f64) -> Vec<f64> {
        let mut m: BTreeMap<TeamId, TeamView> = teams.iter().map(|(n, t)| (TeamId::from(*n), t.clone())).collect();
        fair_shares(&mut m, capacity, &PolicyConfig::default());
        m.values().map(|t| (t.fair * 1000.0).round() / 1000.0).collect()
    }

    #[test]
    fn given_teams_when_sharing_then_guarantee_then_weighted_surplus() {
        // (given teams, capacity, then fair shares in team-id order)
        // (teams, capacity, expected fair shares)
        type Case<'a> = (Vec<(&'a str, TeamView)>, f64, Vec<f64>);
        let cases: Vec<Case> = vec![
            // guarantees first, surplus split by weight
            (vec![("a", team(10.0, 100.0, 1.0)), ("b", team(10.0, 100.0, 3.0))], 60.0, vec![20.0, 40.0]),
            // a team without demand gets nothing; its guarantee is lent
            (vec![("a", team(30.0, 0.0, 1.0)), ("b", team(10.0, 100.0, 1.0))], 60.0, vec![0.0, 60.0]),
            // a team that needs less than its part leaves the rest to others
            (vec![("a", team(0.0, 5.0, 1.0)), ("b", team(0.0, 100.0, 1.0))], 60.0, vec![5.0, 55.0]),
            // oversubscribed guarantees are scaled down together
            (vec![("a", team(60.0, 100.0, 1.0)), ("b", team(60.0, 100.0, 1.0))], 60.0, vec![30.0, 30.0]),
        ];
        for (teams, cap, want) in cases {
            assert_eq!(shares(&teams, cap), want);
        }
    }

    #[test]
    fn given_recent_borrower_when_sharing_then_it_gets_less_surplus() {
        let mut hog = team(10.0, 100.0, 1.0);
        hog.usage_recent = 50.0; // borrowed 40 lately
        let shares = shares(&[("a", hog), ("b", team(10.0, 100.0, 1.0))], 60.0);
        assert!(shares[0] < shares[1], "{shares:?}");
        assert!(shares[0] >= 10.0, "guarantee kept: {shares:?}");
    }
}
