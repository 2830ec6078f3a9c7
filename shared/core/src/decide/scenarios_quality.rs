//! Scenarios for allocation quality: a reclaim whose beneficiary was served elsewhere is
//! called off; a blocked workload is not re-reported while nothing changes for it; an
//! owner reclaim needs no amortization when no minimum lifetime is promised.

use crate::fixtures::{pool, spec, Given};
use qm_model::{Action, Decision, InputEvent, PolicyConfig, Pool};

fn actions(d: &[Decision], w: &str) -> Vec<Action> {
    d.iter().filter(|x| x.workload.as_str() == w).map(|x| x.action.clone()).collect()
}

fn fleet(pools: &[Pool], teams: &[(&str, f64)]) -> Given {
    Given::new(PolicyConfig::default()).with_pools(pools).with_teams(teams)
}

#[test]
fn reclaim_is_called_off_when_its_beneficiary_was_served_elsewhere() {
    // Given: b borrows the whole of p1 for longer than the minimum lifetime.
    let mut g = fleet(&[pool("p1", "r", "h100", 10)], &[("a", 5.0), ("b", 5.0)]);
    g.granted(&spec("bw", "b", &[("h100", 1.0)]), 10);
    g.now_ms += 700_000;
    // When a's work arrives, b is asked to give 5 back (owner reclaim, 60 s grace).
    let d = g.demand(&spec("aw", "a", &[("h100", 1.0)]), 5);
    assert!(actions(&d, "bw").iter().any(|a| matches!(a, Action::Reclaim { chips: 5, .. })), "{d:?}");
    // ... but within the grace a new pool comes up and a's work runs there.
    let d = g.input(InputEvent::PoolDeclared(pool("p2", "r", "h100", 5)));
    assert_eq!(actions(&d, "aw"), vec![Action::Grant { pool: "p2".into(), chips: 5 }], "{d:?}");
    g.ack(d);
    // Then: at the deadline nobody waits for b's chips: b keeps all 10, no revoke.
    let d = g.tick_after(60);
    assert_eq!(actions(&d, "bw"), vec![Action::Grant { pool: "p1".into(), chips: 10 }], "{d:?}");
    assert_eq!(d[0].reason.rule, qm_model::RuleId::ReclaimCancelled);
    assert!(g.tick_after(3_600).is_empty(), "and nothing more happens");
}

#[test]
fn without_a_minimum_lifetime_an_owner_reclaims_at_once() {
    // Given: no minimum lifetime, so no promise to amortize a preemption over; b borrows
    // the whole pool.
    let policy = PolicyConfig { grant_lifetime_min_s: 0, ..PolicyConfig::default() };
    let mut g = Given::new(policy).with_pools(&[pool("p1", "r", "h100", 10)]).with_teams(&[("a", 5.0), ("b", 5.0)]);
    g.granted(&spec("bw", "b", &[("h100", 1.0)]), 10);
    // When a's work arrives a second later, b is asked for a's fair share back at once
    // (the toll `preemption_cost / lifetime` used to divide by 0 clamped to 1 s and ask
    // for a deficit of 600 chips: the reclaim never fired).
    g.now_ms += 1_000;
    let d = g.demand(&spec("aw", "a", &[("h100", 1.0)]), 5);
    assert!(actions(&d, "bw").iter().any(|a| matches!(a, Action::Reclaim { chips: 5, .. })), "{d:?}");
}

#[test]
fn chips_freed_while_a_critical_claim_drains_wait_for_it() {
    // Given: b's workloads fill the pool (y 5, x 3, z 1) and y wants one more; a's
    // critical workload needs 4, so chips are reclaimed for it with a grace.
    let mut g = fleet(&[pool("p", "r", "h100", 9)], &[("a", 0.0), ("b", 9.0)]);
    for (id, chips) in [("y", 5), ("x", 3), ("z", 1)] {
        g.granted(&spec(id, "b", &[("h100", 1.0)]), chips);
    }
    g.demand(&spec("y", "b", &[("h100", 1.0)]), 6);
    let mut c = spec("c", "a", &[("h100", 1.0)]);
    (c.critical, c.preemptible, c.chips_min, c.chips_step) = (true, false, 4, 4);
    let d = g.demand(&c, 4);
    let reclaimed: u32 = d
        .iter()
        .filter_map(|d| match d.action {
            Action::Reclaim { chips, .. } => Some(chips),
            _ => None,
        })
        .count() as u32;
    assert!(reclaimed > 0, "{d:?}");
    // When: z finishes inside the grace and its chip is free.
    let d = g.input(InputEvent::WorkloadFinished { workload: "z".into() });
    // Then: the chip is kept for c (chips are still coming for it), not handed to y,
    // which the claim would then reclaim again.
    assert!(!d.iter().any(|x| matches!(x.action, Action::Grant { .. })), "{d:?}");
    assert!(!d.iter().any(|x| matches!(x.action, Action::Reclaim { .. })), "no second reclaim: {d:?}");
    // And once the grace is over c gets its 4 chips.
    let d = g.tick_after(60);
    let all = g.ack(d);
    assert!(actions(&all, "c").contains(&Action::Grant { pool: "p".into(), chips: 4 }), "{all:?}");
}

/// One V100 and one K80 pool of 4 chips; `slow` runs on the K80 because `fast` held the
/// V100s, and `fast` has just finished. `backlog`: a V100 gang that waits (5 chips).
fn upgrade_fleet(upgrade_moves: bool, backlog: bool) -> Given {
    let mut g = Given::new(PolicyConfig { upgrade_moves, ..PolicyConfig::default() })
        .with_pools(&[pool("v", "r", "v100", 4), pool("k", "r", "k80", 4)])
        .with_teams(&[("t", 0.0)]);
    g.granted(&spec("fast", "t", &[("v100", 1.0)]), 4);
    let d = g.demand(&spec("slow", "t", &[("v100", 1.0), ("k80", 0.25)]), 4);
    assert_eq!(actions(&d, "slow"), vec![Action::Grant { pool: "k".into(), chips: 4 }], "{d:?}");
    g.ack(d);
    if backlog {
        g.demand(&qm_model::WorkloadSpec { gang: true, ..spec("backlog", "t", &[("v100", 1.0)]) }, 5);
    }
    let d = g.input(InputEvent::WorkloadFinished { workload: "fast".into() });
    g.ack(d);
    g
}

fn moved_up(d: &[Decision]) -> bool {
    let a = actions(d, "slow");
    a.contains(&Action::Grant { pool: "v".into(), chips: 4 })
        && a.iter().any(|x| matches!(x, Action::Reclaim { pool, chips: 0, cause: qm_model::ReclaimCause::Move, .. } if pool.as_str() == "k"))
}

#[test]
fn upgrade_moves_work_up_to_a_faster_pool_nobody_waits_for_once_it_pays() {
    // The grant on the K80 must be old enough: the promised lifetime (600 s) and the
    // restart paid by the gain, 600 / (1 - 0.25) = 800 s at the default preemption cost.
    let mut g = upgrade_fleet(true, false);
    let d = g.tick_after(799);
    assert!(!moved_up(&d), "too young to pay for the restart: {d:?}");
    let d = g.tick_after(1);
    assert!(moved_up(&d), "{d:?}");
    assert!(d.iter().all(|x| x.reason.rule == qm_model::RuleId::Move || x.workload.as_str() != "slow"));
    // Make-before-break: the K80 is released after the drain grace once the V100s are up.
    g.ack(d);
    let d = g.tick_after(60);
    let d = g.ack(d);
    let a = actions(&d, "slow");
    assert!(a.contains(&Action::Revoke { pool: "k".into(), chips: 0 }) || a.iter().any(|x| matches!(x, Action::Release { .. })), "{a:?}");
}

#[test]
fn no_upgrade_when_off_or_into_a_type_others_wait_for() {
    for (upgrade_moves, backlog) in [(false, false), (true, true)] {
        let mut g = upgrade_fleet(upgrade_moves, backlog);
        let d = g.tick_after(3_600);
        assert!(!moved_up(&d), "upgrade_moves {upgrade_moves}, backlog {backlog}: {d:?}");
    }
}
