//! Placement on the demo fleet (`examples/demo-fleet.toml`): a workload goes where it
//! gets its whole request, and a workload left short where it runs moves once a pool
//! that can hold all of it opens up.

use crate::fixtures::{grants_to as grants, pool, spec, team, Given};
use qm_model::{Action, Decision, InputEvent, PolicyConfig, Pool, ReclaimCause, WorkloadSpec};

/// The pools of `examples/demo-fleet.toml`: (id, region, type, chips, unit, price).
const DEMO_POOLS: [(&str, &str, &str, u32, u32, f64); 7] = [
    ("use-h100", "us-east", "h100", 64, 8, 4.916),
    ("use-a100", "us-east", "a100", 64, 8, 1.844),
    ("use-l4", "us-east", "l4", 32, 1, 0.75),
    ("euw-h200", "eu-west", "h200", 32, 8, 5.408),
    ("euw-h100", "eu-west", "h100", 32, 8, 4.916),
    ("ase-tpu-v5e", "asia-se", "tpu-v5e", 64, 4, 1.2),
    ("ase-tpu-v6e", "asia-se", "tpu-v6e", 32, 4, 2.70),
];

fn demo_fleet() -> Given {
    let mut g = Given::new(PolicyConfig::default());
    for (id, region, acc, chips, unit, price) in DEMO_POOLS {
        let p = Pool { allocation_unit: unit, price_per_chip_hour: price, ..pool(id, region, acc, chips) };
        g.input(InputEvent::PoolDeclared(p));
    }
    g.input(InputEvent::TeamDeclared(team("research", 16.0)));
    g.input(InputEvent::TeamDeclared(team("llm-training", 48.0)));
    g
}

/// The demo's `gptj-eval` template: h100 = 1.0, l4 = 0.102, tpu-v5e = 0.193; 4..16 by 4.
fn gptj(id: &str) -> WorkloadSpec {
    let mut s = spec(id, "research", &[("h100", 1.0), ("l4", 0.102), ("tpu-v5e", 0.193)]);
    s.chips_min = 4;
    s.chips_max = 16;
    s.chips_step = 4;
    s.drain_grace_s = 10;
    s
}

#[test]
fn given_euw_h100_mostly_taken_when_gptj_wants_12_then_it_gets_all_of_it_in_use_h100() {
    let mut g = demo_fleet();
    // Given: a first workload takes 24 of euw-h100's 32 chips (ties go to the lower id).
    let first = WorkloadSpec { chips_max: 32, ..gptj("gptj-eval-1") };
    let d = g.demand(&first, 24);
    assert_eq!(grants(&d, "gptj-eval-1"), vec![("euw-h100".to_string(), 24)]);
    g.ack(d);
    // When: gptj-eval-2 asks for 12. euw-h100 has 8 free; use-h100 has 64.
    let d = g.demand(&gptj("gptj-eval-2"), 12);
    // Then: it goes where the whole request fits. With 8-chip allocation units, 12
    // chips take two units (16 chips, within its max of 16); nothing stays pending.
    assert_eq!(grants(&d, "gptj-eval-2"), vec![("use-h100".to_string(), 16)], "{d:?}");
    assert!(!d.iter().any(|d| matches!(d.action, Action::Pending { .. })), "{d:?}");
    let all = g.ack(d);
    assert!(g.tick_after(3_600).is_empty(), "steady: no churn from the rounded-up grant: {all:?}");
    let st = g.engine.status();
    let w = st.workloads.iter().find(|w| w.id.as_str() == "gptj-eval-2").expect("listed");
    assert_eq!((w.pending_chips, w.granted.get(&"use-h100".into()).copied()), (0, Some(16)));
}

/// `llama` (llm-training) fills use-h100 with 64 chips; gptj-eval-1 takes 24 chips and
/// gptj-eval-2, asking for 12, gets the 8 left in euw-h100.
fn gptj_short_in_euw(g: &mut Given) {
    let mut big = spec("llama", "llm-training", &[("h100", 1.0)]);
    big.chips_step = 8;
    let d = g.demand(&big, 64);
    assert_eq!(grants(&d, "llama"), vec![("use-h100".to_string(), 64)]);
    g.ack(d);
    let d = g.demand(&WorkloadSpec { chips_max: 32, ..gptj("gptj-eval-1") }, 24);
    g.ack(d);
    let d = g.demand(&gptj("gptj-eval-2"), 12);
    assert_eq!(grants(&d, "gptj-eval-2"), vec![("euw-h100".to_string(), 8)], "{d:?}");
    g.ack(d);
}

#[test]
fn given_gptj_short_in_euw_h100_when_use_h100_frees_then_it_moves_after_min_lifetime() {
    let mut g = demo_fleet();
    // Given: another team fills use-h100, and euw-h100 has 8 free chips.
    gptj_short_in_euw(&mut g);
    // When: use-h100 frees up 100 s later. The grant in euw-h100 is younger than the
    // minimum lifetime, so the move waits, and the core wakes up when it may happen.
    g.now_ms += 100_000;
    let d = g.input(InputEvent::WorkloadFinished { workload: "llama".into() });
    let d = g.ack(d);
    assert!(grants(&d, "gptj-eval-2").is_empty(), "{d:?}");
    let d = g.tick_after(499);
    assert!(grants(&d, "gptj-eval-2").is_empty(), "{d:?}");
    // Then: at 600 s it moves, make-before-break: the new grant first, then the old
    // pool is reclaimed with the workload's drain grace.
    let d = g.tick_after(1);
    assert_eq!(grants(&d, "gptj-eval-2"), vec![("use-h100".to_string(), 16)], "{d:?}");
    assert!(
        d.iter().any(|d| d.workload.as_str() == "gptj-eval-2"
            && matches!(&d.action, Action::Reclaim { pool, chips: 0, grace_s: 10, cause: ReclaimCause::Move, .. } if pool.as_str() == "euw-h100")),
        "{d:?}"
    );
    g.ack(d);
    let d = g.tick_after(10);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].action, Action::Revoke { pool: "euw-h100".into(), chips: 0 });
    g.ack(d);
    assert!(g.tick_after(3_600).is_empty(), "no move back and forth");
}

#[test]
fn a_gain_below_the_move_cost_is_not_worth_a_move() {
    // The same situation as above, but a restart costs 6000 normalized-compute-seconds:
    // spread over the 600 s minimum lifetime that needs a gain of 10 normalized chips,
    // and moving from 8 to 12 useful H100 chips gains 4. It stays.
    let mut g = Given::new(PolicyConfig { preemption_cost: 6000.0, ..PolicyConfig::default() });
    for (id, region, acc, chips, unit, price) in DEMO_POOLS {
        let p = Pool { allocation_unit: unit, price_per_chip_hour: price, ..pool(id, region, acc, chips) };
        g.input(InputEvent::PoolDeclared(p));
    }
    g.input(InputEvent::TeamDeclared(team("research", 16.0)));
    g.input(InputEvent::TeamDeclared(team("llm-training", 48.0)));
    gptj_short_in_euw(&mut g);
    g.now_ms += 100_000;
    g.input(InputEvent::WorkloadFinished { workload: "llama".into() });
    let d = g.tick_after(3_600);
    assert!(grants(&d, "gptj-eval-2").is_empty(), "{d:?}");
}

/// Two teams sharing 8 H100s and 32 L4s; `vision` holds its fair share on L4 and then
/// needs H100s for a job that only runs there. `by_type`: vision's per-type guarantee.
fn typed_fleet(by_type: Option<f64>) -> (Given, WorkloadSpec) {
    let mut policy = PolicyConfig::default();
    if let Some(h100) = by_type {
        policy.team_guarantees_by_type.insert("vision".into(), [("h100".into(), h100)].into_iter().collect());
    }
    let mut g = Given::new(policy);
    g.input(InputEvent::PoolDeclared(pool("h", "us", "h100", 8)));
    g.input(InputEvent::PoolDeclared(pool("l", "us", "l4", 32)));
    g.input(InputEvent::TeamDeclared(team("vision", 0.0)));
    g.input(InputEvent::TeamDeclared(team("lm", 0.0)));
    for (id, t, acc, tp, chips) in [("render", "vision", "l4", 0.5, 24), ("big", "lm", "h100", 1.0, 8), ("small", "lm", "l4", 0.5, 32)] {
        let d = g.demand(&spec(id, t, &[(acc, tp)]), chips);
        g.ack(d);
    }
    let train = spec("train", "vision", &[("h100", 1.0)]);
    (g, train)
}

fn settle(g: &mut Given) -> Vec<Decision> {
    let mut all = Vec::new();
    for _ in 0..6 {
        let d = g.tick_after(700);
        all.extend(g.ack(d));
    }
    all
}

#[test]
fn given_per_type_guarantee_when_team_needs_that_type_then_it_gets_it_back() {
    // Without a per-type guarantee: vision is at its fair share in normalized compute
    // (all on L4), so its H100-only job waits.
    let (mut g, train) = typed_fleet(None);
    let d = g.demand(&train, 4);
    g.ack(d);
    settle(&mut g);
    let held = |g: &Given, w: &str| g.engine.state().workloads[&w.into()].grants.get(&"h".into()).map_or(0, |x| x.target());
    assert_eq!(held(&g, "train"), 0);
    // With `vision: h100 = 4`: it reclaims 4 H100s from lm (after the minimum lifetime,
    // with grace), and lm rebalances on L4 through the fair-share rules.
    let (mut g, train) = typed_fleet(Some(4.0));
    let d = g.demand(&train, 4);
    g.ack(d);
    let all = settle(&mut g);
    assert_eq!(held(&g, "train"), 4, "{all:?}");
    assert!(all.iter().any(|d| d.workload.as_str() == "train" && d.reason.rule == qm_model::RuleId::Guarantee), "{all:?}");
    let st = g.engine.status();
    let lm = st.teams.iter().find(|t| t.id.as_str() == "lm").expect("lm");
    assert!(lm.granted >= 8.0, "lm keeps a fair part: {}", lm.granted);
    assert!(g.tick_after(3_600).is_empty(), "settled");
}

#[test]
fn per_type_guarantee_is_capped_by_demand_on_that_type() {
    // vision is guaranteed 6 H100s but its job wants 2: it takes 2, and lm keeps 6.
    let (mut g, train) = typed_fleet(Some(6.0));
    let d = g.demand(&train, 2);
    g.ack(d);
    settle(&mut g);
    let big = g.engine.state().workloads[&"big".into()].grants[&"h".into()].target();
    let tr = g.engine.state().workloads[&"train".into()].grants[&"h".into()].target();
    assert_eq!((tr, big), (2, 6));
}
