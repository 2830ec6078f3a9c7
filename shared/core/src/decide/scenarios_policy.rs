//! Scenarios for heterogeneity (with Gavel's measured throughputs) and for policy
//! knobs changing decisions in predictable ways.

use crate::fixtures::{pool, spec, Given};
use qm_model::{Action, InputEvent, PolicyConfig, Pool};
use std::collections::BTreeMap;

/// Gavel's measured throughputs (steps/s), per job type and accelerator.
fn gavel() -> BTreeMap<String, BTreeMap<String, f64>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/gavel/throughputs.json");
    let text = std::fs::read_to_string(path).expect("gavel data set is present");
    let v: serde_json::Value = serde_json::from_str(&text).expect("gavel json parses");
    serde_json::from_value(v["job_types"].clone()).expect("job_types is a map of maps")
}

/// A job's throughput per type relative to its own V100 throughput.
fn relative(job: &BTreeMap<String, f64>) -> Vec<(String, f64)> {
    let v100 = job["v100"];
    job.iter().map(|(a, t)| (a.clone(), t / v100)).collect()
}

/// A gang of one type that waits (larger than any pool of it): the type is contended.
fn waiting_gang(id: &str, acc: &str) -> qm_model::WorkloadSpec {
    qm_model::WorkloadSpec { gang: true, ..spec(id, "t", &[(acc, 1.0)]) }
}

fn priced(id: &str, acc: &str, chips: u32, price: f64) -> Pool {
    Pool { price_per_chip_hour: price, ..pool(id, "us", acc, chips) }
}

#[test]
fn heterogeneous_demand_spills_to_the_next_best_type_not_stranded() {
    let jobs = gavel();
    let cyclegan = relative(&jobs["CycleGAN"]);
    let accepts: Vec<(&str, f64)> = cyclegan.iter().map(|(a, t)| (a.as_str(), *t)).collect();
    let mut g = Given::new(PolicyConfig { cost_weight: 0.0, ..PolicyConfig::default() })
        .with_pools(&[pool("v", "us", "v100", 4), pool("p", "us", "p100", 4), pool("k", "us", "k80", 4)])
        .with_teams(&[("t", 0.0)]);
    let mut placed = Vec::new();
    for i in 0..3 {
        let mut s = spec(&format!("gan{i}"), "t", &accepts);
        s.gang = true;
        for d in g.demand(&s, 4) {
            if let Action::Grant { pool, .. } = d.action {
                placed.push(pool.to_string());
            }
        }
    }
    // Fastest first (V100 = 1.0, P100 = 0.54, K80 = 0.11 for CycleGAN); none stranded.
    assert_eq!(placed, vec!["v", "p", "k"]);
    let status = g.engine.status();
    let expected = 4.0 * (1.0 + cyclegan[1].1 + cyclegan[0].1);
    assert!((status.teams[0].granted - expected).abs() < 1e-9, "{} vs {expected}", status.teams[0].granted);
}

#[test]
fn each_job_lands_where_it_runs_best_per_dollar() {
    // Gavel jobs differ in how much they gain from a V100: with a $3 V100 that others
    // wait for and a $1 K80 (cost_weight 1), a job goes to the V100 only if it is 3x
    // faster there.
    let jobs = gavel();
    let mut g = Given::new(PolicyConfig { cost_weight: 1.0, ..PolicyConfig::default() })
        .with_pools(&[priced("v", "v100", 100, 3.0), priced("k", "k80", 100, 1.0)])
        .with_teams(&[("t", 0.0)]);
    g.demand(&waiting_gang("backlog", "v100"), 101);
    for (name, job) in &jobs {
        let rel = relative(job);
        let accepts: Vec<(&str, f64)> = rel.iter().map(|(a, t)| (a.as_str(), *t)).collect();
        let k80 = job["k80"] / job["v100"];
        let want = if k80 * 3.0 >= 1.0 { "k" } else { "v" };
        let d = g.demand(&spec(name, "t", &accepts), 1);
        assert_eq!(d[0].action, Action::Grant { pool: want.into(), chips: 1 }, "{name}: k80 at {k80:.2}x");
    }
}

#[test]
fn policy_knobs_change_decisions_predictably() {
    // (cost_weight, H100 contended, expected pool): a $10 H100 vs a $1 L4 at 0.4x for
    // this workload. Price counts only while others wait for H100s: an idle chip costs
    // the fleet the same used or not.
    for (cost_weight, contended, want) in
        [(0.0, true, "h"), (0.5, true, "l"), (1.0, true, "l"), (0.0, false, "h"), (0.5, false, "h"), (1.0, false, "h")]
    {
        let mut g = Given::new(PolicyConfig { cost_weight, ..PolicyConfig::default() })
            .with_pools(&[priced("h", "h100", 8, 10.0), priced("l", "l4", 8, 1.0)])
            .with_teams(&[("t", 0.0)]);
        if contended {
            g.demand(&waiting_gang("backlog", "h100"), 9);
        }
        let d = g.demand(&spec("w", "t", &[("h100", 1.0), ("l4", 0.4)]), 2);
        assert_eq!(d[0].action, Action::Grant { pool: want.into(), chips: 2 }, "cost_weight {cost_weight}, contended {contended}");
        let price = d[0].reason.figures.iter().find(|f| f.name == qm_model::FigureName::PlacementPrice).map(|f| f.value);
        assert_eq!(price, Some(if want == "l" || !contended { 1.0 } else { 10.0 }), "placement price");
    }
    // (urgency_weight, who gets the single free chip): urgency only counts if weighted;
    // without it the older request wins.
    for (urgency_weight, want) in [(0.0, "calm"), (1.0, "urgent")] {
        let mut g = Given::new(PolicyConfig { urgency_weight, ..PolicyConfig::default() }).with_teams(&[("t", 0.0)]);
        let calm = spec("calm", "t", &[("h100", 1.0)]);
        let urgent = qm_model::WorkloadSpec { urgency: 0.9, ..spec("urgent", "t", &[("h100", 1.0)]) };
        g.demand(&calm, 1);
        g.demand(&urgent, 1);
        let d = g.input(InputEvent::PoolDeclared(pool("p", "us", "h100", 1)));
        let granted: Vec<_> = d.iter().filter(|d| matches!(d.action, Action::Grant { .. })).collect();
        assert_eq!(granted[0].workload.as_str(), want, "urgency_weight {urgency_weight}");
    }
    // (deadline in s from now, who wins): pressure rises inside deadline_horizon_s.
    for (deadline_s, want) in [(200_000, "calm"), (3_600, "due")] {
        let mut g = Given::new(PolicyConfig::default()).with_teams(&[("t", 0.0)]);
        g.demand(&spec("calm", "t", &[("h100", 1.0)]), 1);
        let due = qm_model::WorkloadSpec { deadline_ms: Some(deadline_s * 1000), ..spec("due", "t", &[("h100", 1.0)]) };
        g.demand(&due, 1);
        let d = g.input(InputEvent::PoolDeclared(pool("p", "us", "h100", 1)));
        let granted: Vec<_> = d.iter().filter(|d| matches!(d.action, Action::Grant { .. })).collect();
        assert_eq!(granted[0].workload.as_str(), want, "deadline in {deadline_s}s");
    }
}

#[test]
fn headroom_and_idle_threshold_set_the_give_back() {
    // (headroom_fraction, idle_threshold_fraction, busy, expected kept chips or none)
    let cases: [(f64, f64, f64, Option<u32>); 4] =
        [(0.1, 0.5, 2.0, Some(3)), (0.5, 0.5, 2.0, Some(3)), (1.0, 0.5, 2.0, Some(4)), (0.1, 0.2, 2.0, None)];
    for (headroom_fraction, idle_threshold_fraction, busy, want) in cases {
        let mut g = Given::new(PolicyConfig { headroom_fraction, idle_threshold_fraction, ..PolicyConfig::default() })
            .with_pools(&[pool("p", "us", "h100", 10)])
            .with_teams(&[("t", 0.0)]);
        g.granted(&spec("w", "t", &[("h100", 1.0)]), 10);
        g.input(InputEvent::UsageReported { workload: "w".into(), chips_busy: busy, window_s: 60 });
        let d = g.tick_after(3_600);
        let kept = d.iter().find_map(|d| match d.action {
            Action::Reclaim { chips, .. } => Some(chips),
            _ => None,
        });
        assert_eq!(kept, want, "headroom {headroom_fraction}, threshold {idle_threshold_fraction}");
    }
}

#[test]
fn round_batch_ms_decides_a_window_of_entries_together() {
    let mut g = Given::new(PolicyConfig { round_batch_ms: 1_000, ..PolicyConfig::default() })
        .with_pools(&[pool("p", "us", "h100", 8)])
        .with_teams(&[("t", 0.0)]);
    // The team declaration ran a round at t = 0; demand 400 ms later waits for the batch.
    g.now_ms += 400;
    assert!(g.demand(&spec("a", "t", &[("h100", 1.0)]), 4).is_empty());
    assert!(g.demand(&spec("b", "t", &[("h100", 1.0)]), 2).is_empty());
    assert!(g.engine.round_pending());
    assert!(g.tick_after(0).is_empty(), "still inside the window");
    // The first entry at or after the window (a tick) decides the whole batch.
    g.now_ms += 600;
    let d = g.input(InputEvent::Tick);
    let granted: Vec<_> = d.iter().filter(|d| matches!(d.action, Action::Grant { .. })).map(|d| d.workload.as_str()).collect();
    assert_eq!(granted, vec!["a", "b"]);
    assert!(!g.engine.round_pending());
}
