//! The fleet gauges and the Grafana dashboard over a real system: demand goes in through
//! ingest, the policy's `/metrics` shows the granted, applied, busy and idle chips for
//! the team and pool, pending chips by reason, decisions by rule and the lag; and every
//! metric the dashboard (deploy/grafana/quartermaster.json) queries is one the three
//! services really export, so the dashboard cannot silently query a name that is gone.

mod common;

use common::*;
use qm_model::InputEvent;
use std::collections::BTreeSet;
use std::time::Duration;

/// One sample line of a scrape: `name{labels} value`.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

/// The samples of an OpenMetrics text scrape (comments skipped). Label values here
/// hold no quotes or commas, which keeps this parser small.
fn samples(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let Some((series, value)) = line.rsplit_once(' ') else { continue };
        let Ok(value) = value.parse::<f64>() else { continue };
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let labels = rest
                    .trim_end_matches('}')
                    .split(',')
                    .filter_map(|pair| pair.split_once('='))
                    .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
                    .collect();
                (name, labels)
            }
            None => (series, Vec::new()),
        };
        out.push(Sample { name: name.to_owned(), labels, value });
    }
    out
}

/// The value of the series `name` whose labels include all of `want`, if there is one.
fn value(samples: &[Sample], name: &str, want: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| s.name == name && want.iter().all(|(k, v)| s.labels.iter().any(|(lk, lv)| lk == k && lv == v)))
        .map(|s| s.value)
}

/// Sum of every series `name` (any labels).
fn total(samples: &[Sample], name: &str) -> f64 {
    samples.iter().filter(|s| s.name == name).map(|s| s.value).sum()
}

/// Every metric name (`qm_...`) a PromQL string mentions.
fn metric_names(promql: &str) -> Vec<String> {
    promql
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|token| token.starts_with("qm_"))
        .map(str::to_owned)
        .collect()
}

/// Every query string in the dashboard: panel targets and template variables.
fn dashboard_queries(dashboard: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, v) in map {
                    match (key.as_str(), v) {
                        ("expr" | "definition" | "query", serde_json::Value::String(s)) => out.push(s.clone()),
                        _ => walk(v, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(dashboard, &mut out);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_exports_fleet_gauges_and_the_dashboard_queries_only_exported_metrics() -> anyhow::Result<()> {
    let system = System::start_with_env(&[("QM_GAUGES_EVERY_MS", "200")])?;
    let client = start_small_fleet(&system).await?;
    // train-1 gets 8 of the 16 chips; big-1 wants 20 and gets the other 8: 12 wait.
    declare_demand(&client, "train-1", 8).await?;
    applied_within(&system, "train-1", 8, Duration::from_secs(20)).await?;
    declare_demand(&client, "big-1", 20).await?;
    let usage = InputEvent::UsageReported { workload: "train-1".into(), chips_busy: 7.5, window_s: 10 };
    expect_accepted(send_until_answered(&client, "qm.in.usage.ml.train-1", &usage, None).await?)?;

    let team_pool = [("team", "ml"), ("pool", "use-h100"), ("accelerator", "h100"), ("region", "us-east")];
    let policy = eventually(Duration::from_secs(30), || {
        let scraped = samples(&system.http_get("qm-policy", "/metrics")?);
        let ready = value(&scraped, "qm_fleet_applied_chips", &team_pool) == Some(16.0)
            && value(&scraped, "qm_fleet_busy_chips", &team_pool) == Some(7.5);
        Ok(ready.then_some(scraped))
    })
    .await?;
    assert_eq!(value(&policy, "qm_fleet_granted_chips", &team_pool), Some(16.0));
    assert_eq!(value(&policy, "qm_fleet_idle_chips", &team_pool), Some(8.5));
    let pool = [("pool", "use-h100"), ("accelerator", "h100"), ("region", "us-east")];
    assert_eq!(value(&policy, "qm_pool_capacity_chips", &pool), Some(16.0));
    assert_eq!(value(&policy, "qm_pool_healthy_chips", &pool), Some(16.0));
    assert_eq!(value(&policy, "qm_pool_granted_chips", &pool), Some(16.0));
    assert_eq!(value(&policy, "qm_team_guarantee_normalized_chips", &[("team", "ml")]), Some(8.0));
    assert_eq!(total(&policy, "qm_pending_chips"), 12.0, "{:?}", policy.iter().filter(|s| s.name.starts_with("qm_pending")).collect::<Vec<_>>());
    assert_eq!(total(&policy, "qm_pending_workloads"), 1.0);
    let reasons: Vec<&str> = policy
        .iter()
        .filter(|s| s.name == "qm_pending_chips")
        .flat_map(|s| s.labels.iter().filter(|(k, _)| k == "reason").map(|(_, v)| v.as_str()))
        .collect();
    assert!(reasons.iter().all(|r| qm_model::RuleId::ALL.iter().any(|rule| rule.as_str() == *r)), "{reasons:?}");
    // Two grants at least (train-1, big-1), counted by rule; each round sent has a lag.
    let by_rule: f64 = policy.iter().filter(|s| s.name == "qm_policy_rule_decisions_total").map(|s| s.value).sum();
    assert!(by_rule >= 2.0, "decisions by rule: {by_rule}");
    assert!(policy.iter().filter(|s| s.name == "qm_policy_rule_decisions_total").all(|s| s.labels.iter().all(|(k, _)| k == "rule")));
    let lagged = total(&policy, "qm_policy_decision_lag_seconds_count");
    assert!(lagged >= 2.0, "lag observations: {lagged}");
    let lag_mean = total(&policy, "qm_policy_decision_lag_seconds_sum") / lagged;
    assert!((0.0..30.0).contains(&lag_mean), "mean lag {lag_mean} s");
    // No workload id is a label anywhere.
    for s in &policy {
        assert!(s.labels.iter().all(|(_, v)| v != "train-1" && v != "big-1"), "workload id as a label: {s:?}");
    }

    let mut exported: BTreeSet<String> = BTreeSet::new();
    for service in SERVICES {
        exported.extend(samples(&system.http_get(service, "/metrics")?).into_iter().map(|s| s.name));
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/grafana/quartermaster.json");
    let dashboard: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let queried: BTreeSet<String> = dashboard_queries(&dashboard).iter().flat_map(|q| metric_names(q)).collect();
    assert!(queried.len() >= 15, "the dashboard queries few metrics: {queried:?}");
    let missing: Vec<&String> = queried.iter().filter(|name| !exported.contains(*name)).collect();
    assert!(missing.is_empty(), "the dashboard queries metrics no service exports: {missing:?}\nexported: {exported:?}");
    Ok(())
}
