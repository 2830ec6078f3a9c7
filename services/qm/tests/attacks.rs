//! The attacks of issue 11, each against the running system on a secured server (the
//! generated accounts, services as themselves). On a server without auth every one of
//! them succeeded; each test fails if its attack gets through again.

mod common;

use common::*;
use qm_bus::read::read_all;
use qm_bus::{publish, subjects};
use qm_model::{decision_envelope, decode, Action, Decision, InputEvent, InputRejected, Reason, RoundCause, RuleId};
use std::time::Duration;

/// A grant of 10,000 chips on the 16-chip pool, as a forger would write it.
fn forged_grant() -> qm_model::Envelope<qm_model::DecisionRecorded> {
    let decision = Decision {
        workload: "ghost".into(),
        team: "ml".into(),
        action: Action::Grant { pool: "use-h100".into(), chips: 10_000 },
        reason: Reason::new(RuleId::Guarantee, "forged"),
    };
    let cause = RoundCause { input_seq: 1, cause_id: qm_model::Uuid::now_v7(), time_ms: 1 };
    decision_envelope(cause, 0, "forged", false, decision)
}

/// Team ml asks for 4 chips for `workload`, and waits until they are applied.
async fn demand_applied(system: &System, bus: &qm_bus::Bus, workload_id: &str) -> anyhow::Result<()> {
    let event = InputEvent::DemandDeclared { spec: workload("ml", workload_id, 8), chips_desired: 4 };
    expect_accepted(send_until_answered(bus, &format!("qm.in.demand.ml.{workload_id}"), &event, None).await?)?;
    eventually(Duration::from_secs(15), || Ok((applied(&system.status()?, workload_id) == 4).then_some(()))).await
}

fn granted_to_ghost(system: &System) -> anyhow::Result<u64> {
    Ok(applied(&system.status()?, "ghost"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_decision_is_refused_by_the_server_and_by_the_actuator() -> anyhow::Result<()> {
    let system = System::start()?;
    start_small_fleet(&system).await?;
    let envelope = forged_grant();
    // Anyone but the policy: the server refuses the publish outright.
    for name in ["operator", "auditor", "actuator", "ingest"] {
        let bus = system.bus_as(name).await?;
        let stored = tokio::time::timeout(Duration::from_secs(2), publish::publish(&bus, subjects::decision("ml", "ghost"), &format!("forged-{name}"), &envelope)).await;
        assert!(!matches!(stored, Ok(Ok(_))), "{name} stored a decision");
    }
    // Even the admin (who may write anywhere) cannot make one the actuator applies:
    // it is not signed with the policy's key.
    let admin = system.bus_as("admin").await?;
    publish::publish(&admin, subjects::decision("ml", "ghost"), "forged-admin", &envelope).await?;
    let operator = system.bus().await?;
    let refused = eventually(Duration::from_secs(10), || {
        let metrics = system.http_get("qm-actuator", "/metrics")?;
        Ok(metrics.contains("outcome=\"refused_signature\"").then_some(()))
    })
    .await;
    assert!(refused.is_ok(), "the actuator did not count the refusal");
    let letters = read_all(&operator, subjects::DEAD_STREAM, 1).await?;
    let refusal = letters
        .iter()
        .filter(|e| e.subject == "qm.dead.decision")
        .map(|e| decode::<InputRejected>(&e.payload).map(|e| e.body))
        .next()
        .transpose()?;
    let refusal = refusal.ok_or_else(|| anyhow::anyhow!("no dead letter for the forged decision"))?;
    assert!(refusal.error.contains("unsigned_decision"), "{}", refusal.error);
    let reports = read_all(&operator, subjects::ACTUATION_STREAM, 1).await?;
    assert!(reports.iter().all(|e| !e.subject.ends_with(".ghost")), "the forged grant was applied");
    assert_eq!(granted_to_ghost(&system)?, 0);

    // Genuine decisions still apply: the policy signs them.
    demand_applied(&system, &operator, "w1").await?;
    for entry in read_all(&operator, subjects::DECISIONS_STREAM, 1).await?.iter().filter(|e| !e.subject.ends_with(".ghost")) {
        entry.verify(&system.nats.trust().ok_or_else(|| anyhow::anyhow!("auth off"))?.load()?)?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_appends_forged_ticks_and_fleet_changes_by_a_team_are_refused() -> anyhow::Result<()> {
    let system = System::start()?;
    start_small_fleet(&system).await?;
    let operator = system.bus().await?;
    let before = read_all(&operator, subjects::INPUT_STREAM, 1).await?.len();
    for name in ["operator", "auditor", "policy", "actuator"] {
        let bus = system.bus_as(name).await?;
        let tick = qm_model::Envelope::new(qm_model::Uuid::now_v7(), i64::MAX / 2, "forger", None, InputEvent::Tick);
        let stored = tokio::time::timeout(Duration::from_secs(2), publish::publish(&bus, subjects::input("tick", &[]), &format!("tick-{name}"), &tick)).await;
        assert!(!matches!(stored, Ok(Ok(_))), "{name} appended a tick to QM_INPUT");
    }
    // Every entry of the input log is ingest's (or the actuator's, sourced in), signed.
    let trust = system.nats.trust().ok_or_else(|| anyhow::anyhow!("auth off"))?.load()?;
    let entries = read_all(&operator, subjects::INPUT_STREAM, 1).await?;
    assert!(entries.len() >= before, "entries vanished");
    for entry in &entries {
        entry.verify(&trust).map_err(|e| anyhow::anyhow!("entry {} ({}): {e}", entry.sequence, entry.subject))?;
        if entry.subject == "qm.input.tick" {
            assert!(decode::<InputEvent>(&entry.payload)?.time_ms < i64::MAX / 4, "a forged tick reached the log");
        }
    }
    Ok(())
}

/// `qm replay` / `qm audit`: whether they passed (they exit 2 on findings) and stdout.
fn audit_output(system: &System, args: &[&str]) -> anyhow::Result<(bool, String)> {
    let output = system.services.qm_output(args)?;
    Ok((output.status.success(), String::from_utf8(output.stdout)?))
}

/// What only the admin (or someone with the server's files) can do is still seen: a
/// direct append to the input log, a deleted input entry, a purged decision log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_and_audit_find_direct_appends_deletions_and_purges() -> anyhow::Result<()> {
    let system = System::start()?;
    demand_applied(&system, &start_small_fleet(&system).await?, "w1").await?;
    let (passed, clean) = audit_output(&system, &["replay"])?;
    assert!(passed && clean.contains("MATCH") && clean.contains("TAMPER CHECK OK"), "{clean}");
    let (passed, clean) = audit_output(&system, &["audit"])?;
    assert!(passed && clean.contains("TAMPER CHECK OK"), "{clean}");

    // The admin appends straight to the input log, skipping ingest: signed, but by the admin.
    let admin = system.bus_as("admin").await?;
    let tick = qm_model::Envelope::new(qm_model::Uuid::now_v7(), 1, "admin", None, InputEvent::Tick);
    let appended = publish::publish(&admin, subjects::input("tick", &[]), "admin-tick", &tick).await?;
    let (passed, replay) = audit_output(&system, &["replay"])?;
    assert!(!passed, "replay passed over a direct append: {replay}");
    assert!(replay.contains(&format!("TAMPERED: QM_INPUT #{} (qm.input.tick): signed by admin", appended.sequence)), "{replay}");

    // A deleted input entry and a purged decision log are gaps.
    let js = admin.raw_jetstream();
    js.get_stream(subjects::INPUT_STREAM).await?.delete_message(2).await?;
    js.get_stream(subjects::DECISIONS_STREAM).await?.purge().await?;
    let (passed, audit) = audit_output(&system, &["audit", "--json"])?;
    assert!(!passed, "audit passed over a deletion and a purge: {audit}");
    let report: serde_json::Value = serde_json::from_str(&audit)?;
    let findings = report["tamper"]["findings"].as_array().cloned().unwrap_or_default();
    let gap = |stream: &str, first: u64| findings.iter().any(|f| f["finding"] == "gap" && f["stream"] == stream && f["first"] == first);
    assert!(gap("QM_INPUT", 2), "deleted input entry not found: {report}");
    assert!(gap("QM_DECISIONS", 1), "purged decisions not found: {report}");
    Ok(())
}
