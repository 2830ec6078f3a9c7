//! Given/when/then scenarios for the policy behaviours of issue 4 (1, 2, 5, 6, 7);
//! heterogeneity and policy-file effects are in `scenarios_policy`.

use crate::fixtures::{pool, spec, Given};
use qm_model::{Action, Decision, InputEvent, PolicyConfig, ReclaimCause, RuleId, WorkloadSpec};

fn fleet(chips: u32, teams: &[(&str, f64)]) -> Given {
    Given::new(PolicyConfig::default()).with_pools(&[pool("us/h100", "us", "h100", chips)]).with_teams(teams)
}

fn actions(ds: &[Decision], workload: &str) -> Vec<Action> {
    ds.iter().filter(|d| d.workload.as_str() == workload).map(|d| d.action.clone()).collect()
}

/// An elastic, preemptible workload of `team` that runs on the fleet's H100s.
fn job(id: &str, team: &str) -> WorkloadSpec {
    spec(id, team, &[("h100", 1.0)])
}

fn grant(chips: u32) -> Action {
    Action::Grant { pool: "us/h100".into(), chips }
}

#[test]
fn idle_capacity_is_given_back_and_goes_to_pending_demand() {
    let mut g = fleet(10, &[("a", 10.0), ("b", 0.0)]);
    g.granted(&job("idle", "a"), 8);
    let gang = WorkloadSpec { gang: true, ..job("gang", "b") };
    let d = g.demand(&gang, 6);
    assert_eq!(d[0].reason.rule, RuleId::GangNoFit, "{d:?}");
    // When: idle uses 1 of 8 chips for the idle window (300 s).
    g.input(InputEvent::UsageReported { workload: "idle".into(), chips_busy: 1.0, window_s: 60 });
    assert!(g.tick_after(239).is_empty(), "no notice before the window's last grace period");
    let d = g.tick_after(1);
    // Then: its 60 s grace before the window ends, it is told it will shrink to
    // ceil(1 * 1.1) = 2; the gang is told it now waits for those chips.
    let shrink = actions(&d, "idle");
    assert!(matches!(shrink[..], [Action::Reclaim { chips: 2, grace_s: 60, cause: ReclaimCause::IdleGiveBack, .. }]));
    assert_eq!(d[0].reason.rule, RuleId::IdleGiveBack);
    assert_eq!(d[1].reason.rule, RuleId::AwaitingReclaim);
    // The chips go when the idle window is over, not a grace period later.
    let d = g.tick_after(60);
    assert_eq!(actions(&d, "idle"), vec![Action::Revoke { pool: "us/h100".into(), chips: 2 }]);
    // The freed chips go to pending demand in the round that frees them.
    let all = g.ack(d);
    assert_eq!(actions(&all, "gang"), vec![grant(6)], "{all:?}");
    // And the idle workload does not grow back while its use stays low.
    assert!(g.tick_after(3600).is_empty());
}

#[test]
fn an_idle_notice_is_called_off_when_use_comes_back_before_the_window_ends() {
    // Given: w holds 8 and has used 1 for 240 s of its 300 s idle window; with headroom
    // 4 it is told to shrink to ceil(1 * 5) = 5 at the window's end (its 60 s grace).
    let mut g = Given::new(PolicyConfig { headroom_fraction: 4.0, ..PolicyConfig::default() })
        .with_pools(&[pool("us/h100", "us", "h100", 10)])
        .with_teams(&[("a", 10.0)]);
    let w = job("w", "a");
    g.granted(&w, 8);
    g.input(InputEvent::UsageReported { workload: "w".into(), chips_busy: 1.0, window_s: 60 });
    let d = g.tick_after(240);
    assert!(matches!(actions(&d, "w")[..], [Action::Reclaim { chips: 5, cause: ReclaimCause::IdleGiveBack, .. }]), "{d:?}");
    // When: within the grace its use comes back above the idle threshold (4 of 8), if
    // not to the cap.
    g.now_ms += 30_000;
    assert!(g.input(InputEvent::UsageReported { workload: "w".into(), chips_busy: 4.5, window_s: 60 }).is_empty());
    // Then: at the deadline it was not idle for the whole window, so it keeps its 8.
    let d = g.tick_after(30);
    assert_eq!(actions(&d, "w"), vec![grant(8)], "{d:?}");
    assert_eq!(d[0].reason.rule, RuleId::ReclaimCancelled);
    assert!(g.tick_after(3_600).is_empty(), "and nothing more happens while it is busy");
}

#[test]
fn a_capped_workload_whose_use_comes_back_grows_to_its_demand_again() {
    // Given: a workload asked for 8, idled at 1 busy, and was given back to 2.
    let mut g = fleet(10, &[("a", 10.0)]);
    let w = job("w", "a");
    g.granted(&w, 8);
    g.input(InputEvent::UsageReported { workload: "w".into(), chips_busy: 1.0, window_s: 60 });
    g.tick_after(300);
    let d = g.tick_after(60);
    assert_eq!(actions(&d, "w"), vec![Action::Revoke { pool: "us/h100".into(), chips: 2 }]);
    g.ack(d);
    // Steady low use keeps the cap: no decisions.
    g.input(InputEvent::UsageReported { workload: "w".into(), chips_busy: 1.5, window_s: 60 });
    assert!(g.tick_after(600).is_empty());
    // When: its use fills the capped grant (busy on both chips).
    let d = g.input(InputEvent::UsageReported { workload: "w".into(), chips_busy: 2.0, window_s: 60 });
    // Then: the cap is lifted and it grows back to its declared 8 chips.
    assert_eq!(actions(&d, "w"), vec![grant(8)], "{d:?}");
}

#[test]
fn owner_reclaims_fair_share_from_borrower_after_min_lifetime_with_grace() {
    let mut g = fleet(10, &[("a", 2.0), ("b", 2.0)]);
    let borrower = job("bw", "b");
    let d = g.demand(&borrower, 10);
    assert_eq!(actions(&d, "bw"), vec![grant(10)]);
    g.ack(d);
    // Given the borrower's grant is young, the owner waits (min lifetime), told why.
    g.now_ms += 100_000;
    let owner = job("ow", "a");
    let d = g.demand(&owner, 10);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].reason.rule, RuleId::MinLifetime);
    // When the lifetime is over: reclaim to restore the fair share (5), not just the quota (2).
    let d = g.tick_after(500);
    let reclaim = actions(&d, "bw");
    assert!(
        matches!(reclaim[..], [Action::Reclaim { chips: 5, grace_s: 60, cause: ReclaimCause::OwnerReclaim, .. }]),
        "{d:?}"
    );
    assert!(g.tick_after(59).is_empty(), "grace is honoured");
    let d = g.tick_after(1);
    let all = g.ack(d);
    // The owner gets its fair share; both keep wanting 5 more, reported once as pending.
    assert_eq!(actions(&all, "ow"), vec![grant(5), Action::Pending { chips_wanted: 5 }], "{all:?}");
    assert!(g.tick_after(10_000).is_empty(), "no churn at fair share");
}

#[test]
fn critical_work_preempts_lower_tier_at_once_and_is_never_preempted() {
    let mut g = fleet(4, &[("low", 0.0), ("prod", 0.0)]);
    g.granted(&job("batch", "low"), 4);
    let crit = WorkloadSpec { critical: true, preemptible: false, ..job("crit", "prod") };
    let d = g.demand(&crit, 4);
    assert!(
        matches!(actions(&d, "batch")[..], [Action::Reclaim { chips: 0, cause: ReclaimCause::Preemption, .. }]),
        "{d:?}"
    );
    let d = g.tick_after(60);
    let all = g.ack(d);
    assert_eq!(actions(&all, "crit"), vec![grant(4)]);
    // Another critical workload cannot take the critical one's chips.
    let d = g.demand(&WorkloadSpec { critical: true, ..job("crit2", "prod") }, 4);
    assert!(actions(&d, "crit").is_empty());
    assert!(matches!(actions(&d, "crit2")[..], [Action::Pending { chips_wanted: 4 }]), "{d:?}");
}

#[test]
fn gang_is_all_or_nothing_and_steady_state_is_silent() {
    let mut g = fleet(8, &[("a", 0.0)]);
    g.granted(&job("small", "a"), 4);
    let gang = WorkloadSpec { gang: true, ..job("gang", "a") };
    let d = g.demand(&gang, 6);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].action, Action::Pending { chips_wanted: 6 });
    // Pending is reported once, not every round.
    assert!(g.tick_after(10).is_empty());
    assert!(g.demand(&gang, 6).is_empty());
    // When the small job finishes and its release is reported, the gang gets all 6 at once.
    let d = g.input(InputEvent::WorkloadFinished { workload: "small".into() });
    assert_eq!(actions(&d, "small"), vec![Action::Release { pool: "us/h100".into() }]);
    let all = g.ack(d);
    assert_eq!(actions(&all, "gang"), vec![Action::Pending { chips_wanted: 6 }, grant(6)], "waits for the release, then gets it");
}

#[test]
fn growth_below_hysteresis_is_not_worth_a_change() {
    let mut g = fleet(21, &[("a", 0.0)]);
    g.granted(&job("filler", "a"), 1);
    let w = job("w", "a");
    let d = g.demand(&w, 20);
    assert_eq!(actions(&d, "w"), vec![grant(20)]);
    g.ack(d);
    // Given w holds 20 and wants 30, one chip frees: 1 < 10% of 20, no change.
    let d = g.input(InputEvent::WorkloadFinished { workload: "filler".into() });
    let d2 = g.demand(&w, 30);
    assert!(actions(&d, "w").is_empty() && !d2.iter().any(|d| matches!(d.action, Action::Grant { .. })), "{d2:?}");
}

#[test]
fn every_decision_carries_a_rule_and_figures() {
    let mut g = fleet(4, &[("a", 1.0), ("b", 1.0)]);
    let mut all = Vec::new();
    for (i, t) in ["a", "b", "a"].iter().enumerate() {
        all.extend(g.granted(&job(&format!("w{i}"), t), 3));
    }
    all.extend(g.tick_after(10_000));
    assert!(!all.is_empty());
    for d in &all {
        assert!(!matches!(d.reason.rule, RuleId::Other(_)) && !d.reason.message.is_empty(), "{d:?}");
        if !matches!(d.action, Action::Release { .. }) {
            assert!(!d.reason.figures.is_empty(), "{d:?}");
        }
    }
}

/// Issue 15 (chaos, after the actuator partition): the round that released a finished
/// workload's grant handed its chips out at once, before the actuator had let them go;
/// a release applied late (a redelivery after newer grants) then left the pool
/// over-granted. Given a full pool and demand waiting for it, when the holder finishes,
/// then its chips count as taken until the release is reported, reports about other
/// workloads do not free them, and a new workload of the same id starts from nothing.
#[test]
fn a_finished_workloads_chips_are_granted_again_only_once_its_release_is_reported() {
    let mut g = fleet(8, &[("a", 8.0), ("b", 0.0)]);
    let d = g.demand(&spec("old", "a", &[("h100", 1.0)]), 8);
    g.ack(d);
    let d = g.demand(&spec("new", "b", &[("h100", 1.0)]), 8);
    assert!(actions(&d, "new").iter().all(|a| matches!(a, Action::Pending { .. })), "{d:?}");
    let d = g.input(InputEvent::WorkloadFinished { workload: "old".into() });
    assert_eq!(actions(&d, "old"), vec![Action::Release { pool: "us/h100".into() }]);
    assert!(!actions(&d, "new").iter().any(|a| matches!(a, Action::Grant { .. })), "granted before the release was reported: {d:?}");
    assert_eq!(g.engine.status().pools[0].granted_chips, 8, "the released chips still count");
    let unrelated = qm_model::ActuationEvent::GrantRevoked { decision_id: qm_model::Uuid::nil(), workload: "other".into(), pool: "us/h100".into(), chips: 0 };
    assert!(g.actuation(unrelated).is_empty());
    // The same id declared again while its release is in flight: a new workload, which
    // waits for the chips like the others.
    let d = g.demand(&spec("old", "a", &[("h100", 1.0)]), 2);
    assert!(actions(&d, "old").iter().all(|a| matches!(a, Action::Pending { .. })), "{d:?}");
    let released = qm_model::ActuationEvent::GrantRevoked { decision_id: qm_model::Uuid::nil(), workload: "old".into(), pool: "us/h100".into(), chips: 0 };
    let d = g.actuation(released);
    assert_eq!(actions(&d, "old"), vec![grant(2)], "{d:?}");
    assert_eq!(actions(&d, "new")[0], grant(6), "{d:?}");
}
