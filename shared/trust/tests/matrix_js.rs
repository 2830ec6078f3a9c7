//! The JetStream half of the permission matrix, against a real nats-server with the
//! generated accounts file: each service does its job through the real `qm-bus` code,
//! and nobody but the admin may create, change, purge or delete streams and consumers.

mod common;

use async_nats::jetstream::consumer;
use common::*;
use futures::StreamExt;
use qm_bus::lease::{Lease, LeaseStore};
use qm_bus::snapshot::SnapshotStore;
use qm_bus::subjects::*;
use qm_bus::{publish, read};
use qm_model::{Envelope, InputEvent};

fn tick() -> Envelope<InputEvent> {
    Envelope::new(uuid_v7(), 1, "test", None, InputEvent::Tick)
}

fn uuid_v7() -> qm_model::Uuid {
    qm_model::Uuid::now_v7()
}

#[tokio::test]
async fn each_service_can_do_its_job() -> anyhow::Result<()> {
    let (server, admin) = provisioned(&["ml"]).await?;
    let ingest = connect_as(&server, "ingest").await?;
    publish::publish(&ingest.bus, input("tick", &[]), "t1", &tick()).await?;
    publish::publish(&ingest.bus, dead("demand"), "d1", &tick()).await?;
    let known = read::follow_filtered(&ingest.bus, INPUT_STREAM, 1, Some("qm.input.tick")).await?;
    assert_eq!(Box::pin(known).next().await.transpose()?.map(|e| e.sequence), Some(1));
    ingest.js.get_stream(INPUT_STREAM).await?.direct_get(1).await?;

    let policy = connect_as(&server, "policy").await?;
    assert_eq!(read::read_all(&policy.bus, INPUT_STREAM, 1).await?.len(), 1);
    publish::publish(&policy.bus, decision("ml", "w1"), "dec1", &tick()).await?;
    publish::publish(&policy.bus, decision("cv", "w2"), "dec2", &tick()).await?;
    assert_eq!(read::read_all(&policy.bus, DECISIONS_STREAM, 1).await?.len(), 2);
    let leases = LeaseStore::open(&policy.bus, &Default::default()).await?;
    let mut lease = Lease::acquire(&leases, "policy-writer", "p1").await?.ok_or_else(|| anyhow::anyhow!("lease not acquired"))?;
    lease.renew().await?;
    assert_eq!(leases.holder("policy-writer").await?.as_deref(), Some("p1"));
    lease.release().await?;
    let snapshots = SnapshotStore::open(&policy.bus, &Default::default()).await?;
    snapshots.put("policy-engine", b"one").await?;
    snapshots.put("policy-engine", b"two").await?;
    assert_eq!(snapshots.get("policy-engine").await?.as_deref(), Some(&b"two"[..]));

    let actuator = connect_as(&server, "actuator").await?;
    let mut deliveries = Box::pin(read::durable(&actuator.bus, DECISIONS_STREAM, "qm-actuator", 16).await?);
    let first = deliveries.next().await.ok_or_else(|| anyhow::anyhow!("no decision"))??;
    first.ack().await?;
    publish::publish(&actuator.bus, actuation("ml", "w1"), "a1", &tick()).await?;
    assert_eq!(read::read_all(&actuator.bus, ACTUATION_STREAM, 1).await?.len(), 1);

    let auditor = connect_as(&server, "auditor").await?;
    for stream in [INPUT_STREAM, DECISIONS_STREAM, ACTUATION_STREAM, DEAD_STREAM] {
        assert!(!read::read_all(&auditor.bus, stream, 1).await?.is_empty(), "auditor reads {stream}");
    }
    assert_eq!(settled_count(&admin, INPUT_STREAM, 2).await?, 2, "the tick, and the report sourced in");
    Ok(())
}

#[tokio::test]
async fn a_team_reads_its_own_decisions_and_grants_and_nothing_else() -> anyhow::Result<()> {
    let (server, _admin) = provisioned(&["ml", "cv"]).await?;
    let policy = connect_as(&server, "policy").await?;
    publish::publish(&policy.bus, decision("ml", "w1"), "dec1", &tick()).await?;
    publish::publish(&policy.bus, decision("cv", "w2"), "dec2", &tick()).await?;
    let actuator = connect_as(&server, "actuator").await?;
    publish::publish(&actuator.bus, actuation("cv", "w2"), "act1", &tick()).await?;
    publish::publish(&actuator.bus, actuation("ml", "w1"), "act2", &tick()).await?;
    // A report written before subjects carried the team: no team can name it.
    publish::publish(&actuator.bus, "qm.act.w3".to_owned(), "act3", &tick()).await?;
    let ml = connect_as(&server, "team-ml").await?;
    for (stream, own, others) in [
        (DECISIONS_STREAM, "qm.decision.ml.>", ["qm.decision.cv.>", "qm.decision.>", "qm.decision.*.w2"]),
        (ACTUATION_STREAM, "qm.act.ml.>", ["qm.act.cv.>", "qm.act.>", "qm.act.*"]),
    ] {
        // Opened without stream info: a team is not allowed it.
        let handle = ml.js.get_stream_no_info(stream).await?;
        let config = consumer::pull::OrderedConfig { name: Some(format!("ml-{stream}")), filter_subject: own.into(), ..Default::default() };
        let mut messages = handle.create_consumer(config).await?.messages().await?;
        let message = tokio::time::timeout(WAIT * 5, messages.next()).await?.ok_or_else(|| anyhow::anyhow!("nothing in {stream}"))??;
        assert_eq!(message.subject.as_str(), own.replace('>', "w1"), "team ml reads its own first entry of {stream}");
        for (i, filter) in others.iter().chain(&[own, ""]).enumerate() {
            // Its own filter is refused too when unnamed (the filter is then in the body).
            let name = (*filter != own).then(|| format!("other{i}"));
            let config = consumer::pull::OrderedConfig { name, filter_subject: (*filter).into(), ..Default::default() };
            assert!(handle.create_consumer(config).await.is_err(), "team ml must not read {stream} through {filter:?}");
        }
        assert!(ml.js.get_stream(stream).await.is_err(), "team ml must not read {stream}'s info (it names other teams' workloads)");
        assert!(handle.direct_get(1).await.is_err(), "nor get an entry of {stream} by sequence");
        assert!(handle.direct_get_last_for_subject(own.replace('>', "w1")).await.is_ok(), "its own last entry of {stream}, directly");
    }
    let actuations = ml.js.get_stream_no_info(ACTUATION_STREAM).await?;
    assert!(actuations.direct_get_last_for_subject("qm.act.cv.w2").await.is_err(), "another team's last grant, directly");
    assert!(actuations.direct_get_last_for_subject("qm.act.w3").await.is_err(), "a report without a team, directly");
    let decisions = ml.js.get_stream_no_info(DECISIONS_STREAM).await?;
    assert!(decisions.direct_get_last_for_subject("qm.decision.cv.w2").await.is_err(), "another team's last decision, directly");
    assert!(ml.refused("$JS.API.STREAM.INFO.QM_ACTUATION").await, "the server reports the stream info request as a violation");
    for stream in [INPUT_STREAM, DEAD_STREAM, "KV_qm_leases"] {
        assert!(ml.js.get_stream(stream).await.is_err(), "team ml must not read {stream}'s info");
    }
    assert!(read::read_all(&ml.bus, INPUT_STREAM, 1).await.is_err(), "a team must not read the input log");
    assert!(ml.js.query_account().await.is_err(), "nor the account's JetStream info");
    Ok(())
}

#[tokio::test]
async fn nobody_but_the_admin_creates_changes_purges_or_deletes() -> anyhow::Result<()> {
    let (server, admin) = provisioned(&["ml"]).await?;
    let ingest = connect_as(&server, "ingest").await?;
    publish::publish(&ingest.bus, input("tick", &[]), "t1", &tick()).await?;
    for name in ["ingest", "policy", "actuator", "operator", "auditor", "team-ml"] {
        let conn = connect_as(&server, name).await?;
        let js = &conn.js;
        let new_stream = async_nats::jetstream::stream::Config { name: "EVIL".into(), subjects: vec!["evil.>".into()], ..Default::default() };
        assert!(js.create_stream(new_stream).await.is_err(), "{name} created a stream");
        assert!(js.delete_stream(INPUT_STREAM).await.is_err(), "{name} deleted QM_INPUT");
        assert!(js.delete_consumer_from_stream("qm-actuator", DECISIONS_STREAM).await.is_err(), "{name} deleted the actuator's consumer");
        let shrunk = async_nats::jetstream::stream::Config { name: INPUT_STREAM.into(), subjects: vec![INPUT_SUBJECTS.into()], max_messages: 1, ..Default::default() };
        assert!(js.update_stream(shrunk).await.is_err(), "{name} changed QM_INPUT's limits");
        for stream in [INPUT_STREAM, DEAD_STREAM, "KV_qm_leases"] {
            let purge = js.request::<_, _, serde_json::Value>(format!("STREAM.PURGE.{stream}"), &serde_json::json!({})).await;
            assert!(!answered_ok(&purge), "{name} purged {stream}: {purge:?}");
        }
        let delete_msg = js.request::<_, _, serde_json::Value>(format!("STREAM.MSG.DELETE.{INPUT_STREAM}"), &serde_json::json!({"seq": 1})).await;
        assert!(!answered_ok(&delete_msg), "{name} deleted an input entry");
        assert!(conn.refused("$JS.API.STREAM.DELETE.QM_INPUT").await, "the server reports {name}'s attempt as a violation");
    }
    assert_eq!(stored(&admin, INPUT_STREAM).await?, 1, "QM_INPUT kept its entry");
    admin.js.get_stream(DECISIONS_STREAM).await?.consumer_info("qm-actuator").await?;
    assert!(admin.js.get_stream("EVIL").await.is_err());
    Ok(())
}

/// Whether a raw JetStream API request got a success answer (an answer at all means the
/// server let it through; an error answer still refuses).
fn answered_ok(response: &Result<serde_json::Value, async_nats::jetstream::context::RequestError>) -> bool {
    matches!(response, Ok(answer) if answer.get("error").is_none())
}

#[tokio::test]
async fn only_the_actuator_consumes_decisions_and_readers_cannot_make_durables() -> anyhow::Result<()> {
    let (server, _admin) = provisioned(&["ml"]).await?;
    let policy = connect_as(&server, "policy").await?;
    publish::publish(&policy.bus, decision("ml", "w1"), "dec1", &tick()).await?;
    for name in ["policy", "auditor", "operator", "team-ml"] {
        let conn = connect_as(&server, name).await?;
        let stolen = tokio::time::timeout(WAIT * 3, async {
            let mut deliveries = Box::pin(read::durable(&conn.bus, DECISIONS_STREAM, "qm-actuator", 16).await?);
            deliveries.next().await.transpose()
        })
        .await;
        assert!(!matches!(stolen, Ok(Ok(Some(_)))), "{name} pulled a decision from the actuator's consumer");
    }
    // The unnamed create endpoint (all a full reader may use) refuses a durable name.
    let auditor = connect_as(&server, "auditor").await?;
    let body = serde_json::json!({"stream_name": INPUT_STREAM, "config": {"durable_name": "evil", "ack_policy": "explicit"}});
    let durable = auditor.js.request::<_, _, serde_json::Value>(format!("CONSUMER.CREATE.{INPUT_STREAM}"), &body).await;
    assert!(!answered_ok(&durable), "an auditor created a durable consumer: {durable:?}");
    Ok(())
}
