//! End to end over a real nats-server: ingest -> policy -> actuator and back, as the
//! `qm` CLI sees it. Needs `cargo build --workspace --bins` first (scripts/test.sh does it).

mod common;

use common::*;
use qm_bus::read::read_all;
use qm_bus::subjects;
use qm_model::{decode, InputEvent, InputRejected, RejectCode};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demand_in_becomes_an_applied_grant_visible_in_status() -> anyhow::Result<()> {
    let system = System::start()?;
    let client = start_small_fleet(&system).await?;

    declare_demand(&client, "train-1", 8).await?;
    let status = eventually(Duration::from_secs(20), || {
        let status = system.status()?;
        Ok((applied(&status, "train-1") == 8).then_some(status))
    })
    .await?;
    let pool = &status["pools"][0];
    assert_eq!(pool["id"], "use-h100");
    assert_eq!(pool["granted_chips"], 8);
    let tables = system.qm(&["status"])?;
    assert!(tables.contains("train-1") && tables.contains("use-h100:8"), "{tables}");

    // The CLI path works too: a second workload declared with `qm demand`.
    system.qm(&["demand", "eval-1", "--team", "ml", "--chips", "4", "--accepts", "h100=1.0"])?;
    applied_within(&system, "eval-1", 4, Duration::from_secs(20)).await?;

    // Each service reports health and what it did on its metrics endpoint.
    for service in SERVICES {
        assert!(system.http_get(service, "/healthz")?.ends_with("ok\n"), "{service} unhealthy");
    }
    let ingest = system.http_get("qm-ingest", "/metrics")?;
    assert!(ingest.contains("qm_ingest_requests_total{outcome=\"accepted\"} 4"), "{ingest}");
    let policy = system.http_get("qm-policy", "/metrics")?;
    assert!(policy.contains("qm_policy_decisions_total{action=\"grant\"} 2"), "{policy}");
    let actuator = system.http_get("qm-actuator", "/metrics")?;
    assert!(actuator.contains("qm_actuator_decisions_total{outcome=\"applied\"} 2"), "{actuator}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_precise_error_and_a_dead_letter() -> anyhow::Result<()> {
    let system = System::start()?;
    let client = start_small_fleet(&system).await?;

    let garbage = send_raw(&client, "qm.in.demand.ml.w1", b"\xc1not msgpack".to_vec(), None).await?;
    let unknown_team = InputEvent::DemandDeclared { spec: workload("ghosts", "w2", 8), chips_desired: 8 };
    let unknown = send_until_answered(&client, "qm.in.demand.ghosts.w2", &unknown_team, None).await?;
    let mut spoofed = workload("ml", "w3", 8);
    spoofed.team = "ml".into();
    let wrong_team = InputEvent::DemandDeclared { spec: spoofed, chips_desired: 8 };
    let forbidden = send_until_answered(&client, "qm.in.demand.other.w3", &wrong_team, None).await?;
    let oversized = send_raw(&client, "qm.in.usage.ml.w1", vec![0u8; qm_model::limits::MESSAGE_BYTES_MAX + 1], None).await?;

    let code = |reply: &qm_model::IngestReply| match reply {
        qm_model::IngestReply::Rejected { code, .. } => Some(*code),
        qm_model::IngestReply::Accepted { .. } => None,
    };
    assert_eq!(code(&garbage), Some(RejectCode::Malformed), "{garbage:?}");
    assert_eq!(code(&unknown), Some(RejectCode::Unknown), "{unknown:?}");
    assert_eq!(code(&forbidden), Some(RejectCode::Forbidden), "{forbidden:?}");
    assert_eq!(code(&oversized), Some(RejectCode::TooLarge), "{oversized:?}");

    let js = system.bus().await?;
    let dead: Vec<InputRejected> = read_all(&js, subjects::DEAD_STREAM, 1)
        .await?
        .iter()
        .map(|entry| decode::<InputRejected>(&entry.payload).map(|e| e.body))
        .collect::<Result<_, _>>()?;
    assert_eq!(dead.len(), 4, "{dead:?}");
    assert_eq!(dead[0].subject, "qm.in.demand.ml.w1");
    assert!(dead[0].error.starts_with("Malformed"), "{}", dead[0].error);
    assert_eq!(dead[0].payload, b"\xc1not msgpack");
    assert!(dead[1].error.contains("ghosts"), "{}", dead[1].error);
    // Nothing refused reached the input log: only 2 declarations (+ ticks).
    let inputs = read_all(&js, subjects::INPUT_STREAM, 1).await?;
    assert!(inputs.iter().all(|e| !e.subject.starts_with("qm.input.demand")), "refused demand was stored");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_idempotency_key_is_stored_once_with_the_original_id() -> anyhow::Result<()> {
    let system = System::start()?;
    let client = start_small_fleet(&system).await?;
    let event = InputEvent::DemandDeclared { spec: workload("ml", "w1", 8), chips_desired: 4 };
    let first = send_until_answered(&client, "qm.in.demand.ml.w1", &event, Some("k-1")).await?;
    let second = send_until_answered(&client, "qm.in.demand.ml.w1", &event, Some("k-1")).await?;
    match (first, second) {
        (
            qm_model::IngestReply::Accepted { event_id: a, sequence: s1, duplicate: false },
            qm_model::IngestReply::Accepted { event_id: b, sequence: s2, duplicate: true },
        ) => {
            assert_eq!(a, b);
            assert_eq!(s1, s2);
        }
        other => panic!("unexpected replies {other:?}"),
    }
    let js = system.bus().await?;
    let demands = read_all(&js, subjects::INPUT_STREAM, 1).await?.into_iter().filter(|e| e.subject == "qm.input.demand.ml.w1").count();
    assert_eq!(demands, 1);
    Ok(())
}
