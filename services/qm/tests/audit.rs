//! The auditor's commands against a live system: the log replays to the same decisions
//! byte for byte, explains each workload, filters history, answers what-ifs, and shadow
//! mode records advisory decisions that nothing applies.

mod common;

use common::*;
use qm_bus::read::read_all;
use qm_bus::subjects;
use qm_model::{decode, DecisionRecorded, InputEvent};
use std::time::Duration;

async fn busy_history(system: &System) -> anyhow::Result<()> {
    let client = system.bus().await?;
    let mut critical = team("serving", 8.0);
    critical.tier = qm_model::PriorityTier::Critical;
    declare_fleet(&client, &[team("ml", 8.0), critical], &[h100_pool("use-h100", 16)]).await?;
    for (team, id, chips) in [("ml", "train-a", 8), ("ml", "train-b", 8), ("serving", "serve-a", 8)] {
        let mut spec = workload(team, id, chips);
        if team == "serving" {
            spec.critical = true;
            spec.preemptible = false;
        }
        let event = InputEvent::DemandDeclared { spec, chips_desired: chips };
        expect_accepted(send_until_answered(&client, &format!("qm.in.demand.{team}.{id}"), &event, None).await?)?;
    }
    let usage = InputEvent::UsageReported { workload: "train-a".into(), chips_busy: 1.0, window_s: 10 };
    expect_accepted(send_until_answered(&client, "qm.in.usage.ml.train-a", &usage, None).await?)?;
    let finish = InputEvent::WorkloadFinished { workload: "train-b".into() };
    expect_accepted(send_until_answered(&client, "qm.in.finish.ml.train-b", &finish, None).await?)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_replays_byte_for_byte_and_explains_every_workload() -> anyhow::Result<()> {
    let system = System::start()?;
    busy_history(&system).await?;
    eventually(Duration::from_secs(20), || Ok((applied(&system.status()?, "serve-a") == 8).then_some(()))).await?;
    // Let a few ticks land so time-based rounds are in the log too.
    tokio::time::sleep(Duration::from_millis(600)).await;

    let replay = system.qm(&["replay"])?;
    assert!(replay.contains("MATCH"), "{replay}");
    let report: serde_json::Value = serde_json::from_str(&system.qm(&["replay", "--json"])?)?;
    assert_eq!(report["divergences"], 0);
    assert!(report["decisions_matched"].as_u64().unwrap_or(0) >= 4, "{report}");

    let why = system.qm(&["why", "train-b"])?;
    assert!(why.contains("grant") && why.contains("release"), "{why}");
    assert!(why.contains("applied: holds 8") && why.contains("why: ["), "{why}");

    let history: serde_json::Value = serde_json::from_str(&system.qm(&["history", "--team", "serving", "--json"])?)?;
    let entries = history.as_array().cloned().unwrap_or_default();
    assert!(!entries.is_empty() && entries.iter().all(|e| e["workload"] == "serve-a"), "{history}");

    let policy = std::env::temp_dir().join(format!("qm-whatif-{}.toml", std::process::id()));
    std::fs::write(&policy, "version = \"what-if-1\"\nidle_window_s = 1\n")?;
    let what_if = system.qm(&["replay", "--policy", policy.to_str().unwrap_or_default()])?;
    assert!(what_if.contains("with what-if-1") && what_if.contains("idle granted chip-hours"), "{what_if}");
    std::fs::write(&policy, "version = \"typo\"\nidle_windw_s = 1\n")?;
    let typo = system.qm(&["replay", "--policy", policy.to_str().unwrap_or_default()]);
    assert!(typo.is_err_and(|e| e.to_string().contains("idle_windw_s")));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_mode_records_advisory_decisions_and_applies_none() -> anyhow::Result<()> {
    let system = System::start_with_env(&[("QM_SHADOW", "true")])?;
    busy_history(&system).await?;
    let js = system.bus().await?;
    let decisions = eventually(Duration::from_secs(20), || {
        let entries = futures::executor::block_on(read_all(&js, subjects::DECISIONS_STREAM, 1))?;
        Ok((entries.len() >= 4).then_some(entries))
    })
    .await?;
    for entry in &decisions {
        assert!(decode::<DecisionRecorded>(&entry.payload)?.body.advisory, "a shadow decision was not advisory");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(read_all(&js, subjects::ACTUATION_STREAM, 1).await?.is_empty(), "the actuator applied a shadow decision");

    let reservations = std::env::temp_dir().join(format!("qm-reservations-{}.toml", std::process::id()));
    std::fs::write(
        &reservations,
        "[[reservation]]\nteam = \"ml\"\npool = \"use-h100\"\nchips = 8\n\n[[reservation]]\nteam = \"serving\"\npool = \"use-h100\"\nchips = 8\n",
    )?;
    let report: serde_json::Value =
        serde_json::from_str(&system.qm(&["shadow-report", "--reservations", reservations.to_str().unwrap_or_default(), "--json"])?)?;
    assert!(report["advisory_decisions"].as_u64().unwrap_or(0) >= 4, "{report}");
    assert_eq!(report["critical_workloads_affected"], serde_json::json!([]), "{report}");
    assert!(system.qm(&["replay"])?.contains("MATCH"));
    Ok(())
}
