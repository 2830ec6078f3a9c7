//! Waiting for a faster type (`decide::wait`): a new workload whose fast type is full
//! waits for it when finished work shows that type freeing chips sooner than running
//! slowly would cost, and is placed on the slow type once the wait stops paying.

use crate::fixtures::{grants_to as grants, pool, spec, team, Given};
use qm_model::{Action, Decision, InputEvent, PolicyConfig, RuleId, WorkloadSpec};

/// 8 H100 chips and 32 TPU chips; team `a` is owed far more than the fleet.
fn fleet() -> Given {
    let mut g = Given::new(PolicyConfig::default());
    g.input(InputEvent::PoolDeclared(pool("fast", "r", "h100", 8)));
    g.input(InputEvent::PoolDeclared(pool("slow", "r", "tpu", 32)));
    g.input(InputEvent::TeamDeclared(team("a", 100.0)));
    g
}

/// A rigid job of `chips` on H100 (1.0) or TPU (`tpu`).
fn job(id: &str, chips: u32, tpu: f64) -> WorkloadSpec {
    let mut s = spec(id, "a", &[("h100", 1.0), ("tpu", tpu)]);
    s.chips_min = chips;
    s.chips_max = chips;
    s
}

fn pending_rule(ds: &[Decision], workload: &str) -> Option<RuleId> {
    ds.iter().find(|d| d.workload.as_str() == workload && matches!(d.action, Action::Pending { .. })).map(|d| d.reason.rule.clone())
}

/// Four 8-chip jobs run 30 minutes each on H100, one after another: the type frees
/// about 14 chips an hour lately, and team `a`'s work runs 30 minutes at full speed.
fn with_history(g: &mut Given) {
    for k in 0..4 {
        let id = format!("past-{k}");
        let d = g.demand(&job(&id, 8, 0.2), 8);
        assert_eq!(grants(&d, &id), vec![("fast".to_string(), 8)], "{d:?}");
        g.ack(d);
        g.tick_after(1_800);
        let d = g.input(InputEvent::WorkloadFinished { workload: id.as_str().into() });
        g.ack(d);
    }
}

/// H100 is full with `busy`.
fn fast_full(g: &mut Given) {
    let d = g.demand(&job("busy", 8, 0.2), 8);
    assert_eq!(grants(&d, "busy"), vec![("fast".to_string(), 8)], "{d:?}");
    g.ack(d);
}

/// The fleet with its history, and H100 full.
fn busy_fleet() -> Given {
    let mut g = fleet();
    with_history(&mut g);
    fast_full(&mut g);
    g
}

/// [`busy_fleet`], where `x` (4 chips, 5x faster on H100) arrives and is asserted to
/// wait; with the decisions of its arrival.
fn x_waiting() -> (Given, Vec<Decision>) {
    let mut g = busy_fleet();
    let d = g.demand(&job("x", 4, 0.2), 4);
    assert!(grants(&d, "x").is_empty(), "it waits instead of taking TPU: {d:?}");
    assert_eq!(pending_rule(&d, "x"), Some(RuleId::FasterTypeSoon), "{d:?}");
    (g, d)
}

#[test]
fn given_a_fast_type_that_frees_chips_often_when_a_job_arrives_then_it_waits_and_gets_the_fast_type() {
    // At a fifth of its speed on TPU the job would run 2 h longer; H100 is expected to
    // free its 4 chips in about 20 minutes.
    let (mut g, d) = x_waiting();
    let reason = &d.iter().find(|d| d.workload.as_str() == "x").expect("reported").reason;
    assert!(reason.figures.iter().any(|f| f.name == qm_model::FigureName::ExpectedWaitS && f.value < 7_200.0), "{reason:?}");
    // When H100 frees chips, the job gets them.
    g.tick_after(600);
    let d = g.input(InputEvent::WorkloadFinished { workload: "busy".into() });
    let all = g.ack(d);
    assert_eq!(grants(&all, "x"), vec![("fast".to_string(), 4)], "{all:?}");
}

#[test]
fn given_no_finished_work_when_a_job_arrives_to_a_full_fast_type_then_it_runs_on_the_slow_type() {
    let mut g = fleet();
    fast_full(&mut g);
    let d = g.demand(&job("x", 4, 0.2), 4);
    assert_eq!(grants(&d, "x"), vec![("slow".to_string(), 4)], "nothing says the wait is short: {d:?}");
}

#[test]
fn given_a_job_waiting_for_a_fast_type_when_the_wait_stops_paying_then_it_runs_on_the_slow_type() {
    let (mut g, _) = x_waiting();
    // H100 stays full: as the release rate fades, the expected wait grows past what is
    // left of the 2 h the slow type would cost, and the job is placed there, never
    // later than the whole slowdown after it arrived.
    let placed_after_s = (1..=13).find_map(|step| {
        let d = g.tick_after(600);
        let got = grants(&d, "x");
        (!got.is_empty()).then_some((step * 600, got))
    });
    let (after, got) = placed_after_s.expect("placed on the slow type within the slowdown");
    assert_eq!(got, vec![("slow".to_string(), 4)]);
    assert!(after <= 7_200, "waited {after} s");
}

#[test]
fn given_the_wait_budget_is_spent_when_only_its_wake_up_comes_then_the_job_is_placed() {
    let (mut g, _) = x_waiting();
    // One tick, past the whole slowdown: the wake-up set for it lets the round run.
    let d = g.tick_after(7_300);
    assert_eq!(grants(&d, "x"), vec![("slow".to_string(), 4)], "{d:?}");
}

#[test]
fn given_critical_work_when_the_fast_type_is_full_then_it_never_waits() {
    let mut g = busy_fleet();
    let crit = WorkloadSpec { critical: true, preemptible: false, ..job("crit", 4, 0.2) };
    let d = g.demand(&crit, 4);
    // Placed at once (on TPU, or on H100 by preemption): never left waiting.
    assert!(pending_rule(&d, "crit") != Some(RuleId::FasterTypeSoon), "{d:?}");
    assert!(!grants(&d, "crit").is_empty() || d.iter().any(|d| d.reason.rule == RuleId::CriticalPreemption), "{d:?}");
}

#[test]
fn given_a_job_that_gains_more_waiting_when_one_that_gains_less_arrives_then_that_one_runs_slowly() {
    // x gains 5x on H100 and waits; y gains only 1.25x and takes TPU rather than queue
    // for the chips x needs more.
    let (mut g, _) = x_waiting();
    let d = g.demand(&job("y", 4, 0.8), 4);
    assert_eq!(grants(&d, "y"), vec![("slow".to_string(), 4)], "{d:?}");
}

#[test]
fn given_the_policy_turns_waiting_off_when_a_job_arrives_to_a_full_fast_type_then_it_runs_on_the_slow_type() {
    let mut g = busy_fleet();
    let off = PolicyConfig { version: "no-wait".into(), wait_for_faster_type: false, ..PolicyConfig::default() };
    g.input(InputEvent::PolicyPublished(off));
    let d = g.demand(&job("x", 4, 0.2), 4);
    assert_eq!(grants(&d, "x"), vec![("slow".to_string(), 4)], "{d:?}");
}
