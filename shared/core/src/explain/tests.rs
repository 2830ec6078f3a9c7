//! Given a fleet, when a workload is explained or a demand is tried, then the facts
//! and the what-if match what the core decides, and the engine is left untouched.

use super::*;
use crate::fixtures::{pool, spec, Given};
use qm_model::{Action, PolicyConfig, ReclaimCause, RuleId, WorkloadSpec};

/// Two teams with guarantees of 8, one 16-chip H100 pool and an 8-chip A100 pool.
fn fleet() -> Given {
    Given::new(PolicyConfig::default())
        .with_pools(&[pool("use-h100", "us-east", "h100", 16), pool("euw-a100", "eu-west", "a100", 8)])
        .with_teams(&[("research", 8.0), ("prod", 8.0)])
}

/// Like [`fleet`] without the A100 pool: capacity nobody waiting can use counts in
/// fair shares, so with it research's 16 H100 chips are within its fair share of 16.
fn h100_fleet() -> Given {
    Given::new(PolicyConfig::default())
        .with_pools(&[pool("use-h100", "us-east", "h100", 16)])
        .with_teams(&[("research", 8.0), ("prod", 8.0)])
}

fn h100_only(id: &str, team: &str) -> WorkloadSpec {
    spec(id, team, &[("h100", 1.0)])
}

/// research's workload borrows the whole H100 pool (prod has no demand yet), long
/// enough ago that its grant is past the minimum lifetime.
fn research_borrows_everything(g: &mut Given) {
    g.granted(&h100_only("big", "research"), 16);
    let lifetime_s = i64::from(g.engine.policy().grant_lifetime_min_s);
    g.tick_after(lifetime_s + 1);
}

#[test]
fn given_an_unknown_workload_when_explained_then_none() {
    let g = fleet();
    assert!(explain(&g.engine, &"nope".into()).is_none());
}

#[test]
fn given_a_satisfied_workload_when_explained_then_it_says_so_and_nothing_blocks() {
    let mut g = fleet();
    research_borrows_everything(&mut g);
    let x = explain(&g.engine, &"big".into()).expect("known");
    assert_eq!((x.chips_wanted, x.chips_held, x.chips_applied), (16, 16, 16));
    assert!(x.blocker.is_none() && x.largest_ask_granted_now.is_none());
    assert!(x.lines[0].contains("all it wants"), "{:?}", x.lines);
}

#[test]
fn given_a_gang_that_fits_no_pool_when_explained_then_blocker_pools_and_a_smaller_ask() {
    let mut g = fleet();
    let mut gang = spec("gang-24", "prod", &[("h100", 1.0), ("a100", 0.499)]);
    gang.gang = true;
    g.granted(&gang, 24);
    let x = explain(&g.engine, &"gang-24".into()).expect("known");
    assert_eq!((x.chips_wanted, x.chips_held), (24, 0));
    assert_eq!(x.blocker.as_ref().map(|b| &b.rule), Some(&RuleId::GangNoFit), "{:?}", x.blocker);
    // Both pools are open and listed, the one with more useful free compute first.
    let pools: Vec<(&str, u32)> = x.pools.iter().map(|p| (p.pool.as_str(), p.free_now)).collect();
    assert_eq!(pools, vec![("use-h100", 16), ("euw-a100", 8)]);
    // A gang of 16 fits the H100 pool now; the what-if core says so.
    assert_eq!(x.largest_ask_granted_now, Some(16));
    assert!(x.lines.iter().any(|l| l.contains("Asking for 16 chips instead")), "{:?}", x.lines);
}

#[test]
fn given_chips_being_reclaimed_for_it_when_explained_then_they_show_as_free_once_drains_finish() {
    let mut g = h100_fleet();
    research_borrows_everything(&mut g);
    let d = g.demand(&h100_only("serve", "prod"), 8);
    assert!(d.iter().any(|d| matches!(d.action, Action::Reclaim { cause: ReclaimCause::OwnerReclaim, .. })), "{d:?}");
    // Not acknowledged: research still holds all 16 while its drain grace runs.
    let x = explain(&g.engine, &"serve".into()).expect("known");
    let h100 = x.pools.iter().find(|p| p.pool.as_str() == "use-h100").expect("listed");
    assert_eq!((h100.free_now, h100.free_planned), (0, 8));
    assert_eq!(h100.holders, vec![Holder { team: "research".into(), chips: 16, borrowing: false }]);
    assert!(x.lines.iter().any(|l| l.contains("8 once drains finish")), "{:?}", x.lines);
}

#[test]
fn given_a_team_beyond_its_fair_share_when_explained_then_it_is_marked_and_reclaim_promised() {
    let mut g = h100_fleet();
    research_borrows_everything(&mut g);
    // A minimum grant lifetime of a day keeps research's grant from being reclaimed.
    let mut serve = h100_only("serve", "prod");
    serve.chips_min = 8;
    g.engine.pin_policy(PolicyConfig { grant_lifetime_min_s: 86_400, ..PolicyConfig::default() });
    g.demand(&serve, 8);
    let x = explain(&g.engine, &"serve".into()).expect("known");
    let h100 = x.pools.iter().find(|p| p.pool.as_str() == "use-h100").expect("listed");
    assert!(h100.holders.iter().any(|h| h.team.as_str() == "research" && h.borrowing), "{:?}", h100.holders);
    assert!(x.lines.iter().any(|l| l.contains("beyond their fair shares")), "{:?}", x.lines);
}

#[test]
fn given_a_team_below_its_guarantee_when_what_if_then_the_borrower_loses_by_owner_reclaim() {
    let mut g = h100_fleet();
    research_borrows_everything(&mut g);
    let before = g.engine.clone();
    let w = what_if(&g.engine, &h100_only("serve", "prod"), 8);
    assert_eq!(g.engine, before, "what_if must not touch the engine");
    assert_eq!(w.settled.total, 8, "{:?}", w.lines);
    assert!(w.now.total < 8, "the chips come after research's drain grace: {:?}", w.now);
    let loss = w.others.iter().find(|l| l.workload.as_str() == "big").expect("research loses");
    assert_eq!((loss.chips_before, loss.chips_after), (16, 8));
    assert_eq!(loss.cause, Some(ReclaimCause::OwnerReclaim));
    assert!(w.decisions.iter().any(|d| matches!(d.action, Action::Reclaim { .. })));
    assert!(w.settled_at_ms > g.engine.now_ms());
    assert!(w.lines.iter().any(|l| l.contains("would go from 16 to 8")), "{:?}", w.lines);
}

#[test]
fn given_free_chips_when_what_if_then_granted_at_once_and_nobody_loses() {
    let g = fleet();
    let w = what_if(&g.engine, &h100_only("small", "research"), 4);
    assert_eq!(w.now.granted.get(&"use-h100".into()), Some(&4));
    assert_eq!(w.settled, w.now);
    assert!(w.others.is_empty());
    assert!(w.lines.iter().any(|l| l == "Nobody else would lose chips."), "{:?}", w.lines);
}

#[test]
fn given_more_than_the_fleet_when_what_if_then_the_rest_waits_with_a_reason() {
    let g = fleet();
    let w = what_if(&g.engine, &h100_only("huge", "research"), 64);
    assert_eq!(w.settled.total, 16);
    assert!(w.settled.pending.is_some(), "{:?}", w.settled);
}


#[test]
fn given_teams_when_standings_then_each_matches_what_explain_says_for_its_workloads() {
    let mut g = h100_fleet();
    research_borrows_everything(&mut g);
    g.demand(&h100_only("serve", "prod"), 8);
    let standings = team_standings(&g.engine);
    assert_eq!(standings.keys().map(|t| t.as_str()).collect::<Vec<_>>(), ["prod", "research"]);
    for name in ["big", "serve"] {
        let x = explain(&g.engine, &name.into()).expect("known");
        assert_eq!(Some(&standings[&x.team]), x.team_facts.as_ref(), "{name}");
    }
    let big = explain(&g.engine, &"big".into()).expect("known");
    assert_eq!(standings[&"research".into()].held, f64::from(big.chips_held), "H100 at 1.0x: held is chips (after pending shrinks)");
    assert!(standings[&"prod".into()].demand > 0.0);
}

#[test]
fn given_finished_work_whose_release_is_not_reported_when_explained_then_its_chips_show_as_still_held() {
    let mut g = h100_fleet();
    research_borrows_everything(&mut g);
    // big finishes; its release is decided but the actuator has not reported it.
    let d = g.input(qm_model::InputEvent::WorkloadFinished { workload: "big".into() });
    assert!(d.iter().any(|d| matches!(d.action, Action::Release { .. })), "{d:?}");
    g.demand(&h100_only("serve", "prod"), 8);
    let x = explain(&g.engine, &"serve".into()).expect("known");
    let h100 = x.pools.iter().find(|p| p.pool.as_str() == "use-h100").expect("listed");
    assert_eq!((h100.free_now, h100.releasing), (0, 16), "{h100:?}");
    assert!(x.lines.iter().any(|l| l.contains("16 still held by finished work")), "{:?}", x.lines);
    // Once the release is reported the chips are free and no longer listed as held.
    g.ack(d);
    let x = explain(&g.engine, &"serve".into()).expect("known");
    let h100 = x.pools.iter().find(|p| p.pool.as_str() == "use-h100").expect("listed");
    assert_eq!(h100.releasing, 0, "{h100:?}");
}
