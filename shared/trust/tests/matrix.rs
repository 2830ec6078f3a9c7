//! The permission matrix against a real nats-server started with the generated accounts
//! file: each role can do its job, and is refused (by the server, visibly) the rest.

mod common;

use common::*;
use qm_bus::subjects::*;
use qm_testkit::NatsServer;

#[tokio::test]
async fn a_connection_without_valid_credentials_is_refused() -> anyhow::Result<()> {
    let server = NatsServer::start_secure(&["ml"])?;
    let anonymous = async_nats::ConnectOptions::new().max_reconnects(Some(1)).connect(server.url()).await;
    assert!(anonymous.is_err(), "a connection without credentials must be refused");
    let stranger = nkeys::KeyPair::new_user().seed()?;
    let unknown = async_nats::ConnectOptions::new().nkey(stranger).max_reconnects(Some(1)).connect(server.url()).await;
    assert!(unknown.is_err(), "a key the registry does not know must be refused");
    connect_as(&server, "team-ml").await?;
    Ok(())
}

/// Who may publish each subject: `(subject, allowed senders, refused senders)`.
const SENDS: &[(&str, &[&str], &[&str])] = &[
    ("qm.in.demand.ml.w1", &["team-ml", "operator"], &["team-cv", "auditor", "policy", "actuator"]),
    ("qm.in.usage.ml.w1", &["team-ml", "operator"], &["team-cv"]),
    ("qm.in.finish.ml.w1", &["team-ml", "operator"], &["team-cv"]),
    ("qm.in.team.ml", &["operator"], &["team-ml", "auditor"]),
    ("qm.in.pool.p1", &["operator"], &["team-ml"]),
    ("qm.in.policy", &["operator"], &["team-ml", "policy"]),
    ("qm.input.demand.ml.w1", &["ingest"], &["team-ml", "operator", "policy", "actuator", "auditor"]),
    ("qm.input.tick", &["ingest"], &["team-ml", "operator", "policy", "actuator"]),
    ("qm.dead.demand", &["ingest"], &["team-ml", "operator"]),
    ("qm.decision.ml.w1", &["policy"], &["team-ml", "operator", "ingest", "actuator", "auditor"]),
    ("qm.act.ml.w1", &["actuator"], &["team-ml", "operator", "ingest", "policy", "auditor"]),
    ("$KV.qm_leases.policy-writer", &["policy"], &["team-ml", "operator", "ingest", "actuator", "auditor"]),
];

#[tokio::test]
async fn each_subject_is_sent_only_by_the_roles_it_belongs_to() -> anyhow::Result<()> {
    let (server, admin) = provisioned(&["ml", "cv"]).await?;
    let input_before = stored(&admin, INPUT_STREAM).await?;
    let mut names: Vec<&str> = SENDS.iter().flat_map(|(_, yes, no)| yes.iter().chain(no.iter()).copied()).collect();
    names.sort();
    names.dedup();
    let mut conns = std::collections::BTreeMap::new();
    for name in names {
        conns.insert(name, connect_as(&server, name).await?);
    }
    // Every probe's admin marker is stored too; the probes themselves only when allowed.
    // Actuation reports reach QM_INPUT through its source.
    let mut appended = 0;
    for (subject, yes, no) in SENDS {
        let logged = |s: &str| s.starts_with("qm.input.") || s.starts_with("qm.act.");
        if logged(subject) {
            appended += (yes.len() + no.len()) as u64;
        }
        for name in *yes {
            assert!(delivered(&admin, &conns[name], subject).await?, "{name} should be able to send {subject}");
            appended += u64::from(logged(subject));
        }
        for name in *no {
            let sender = &conns[name];
            assert!(!delivered(&admin, sender, subject).await?, "{name} must not be able to send {subject}");
            assert!(sender.refused(subject).await, "the server should report {name}'s publish to {subject} as a violation");
        }
    }
    let expected = input_before + appended;
    assert_eq!(settled_count(&admin, INPUT_STREAM, expected).await?, expected, "only ingest's appends reach QM_INPUT");
    Ok(())
}

#[tokio::test]
async fn only_ingest_receives_requests_and_each_inbox_is_its_owners() -> anyhow::Result<()> {
    let (server, admin) = provisioned(&["ml", "cv"]).await?;
    let ingest = connect_as(&server, "ingest").await?;
    assert!(readable(&admin, &ingest, "qm.in.demand.ml.w1").await?);
    for name in ["policy", "actuator", "operator", "auditor", "team-cv"] {
        let other = connect_as(&server, name).await?;
        assert!(!readable(&admin, &other, "qm.in.demand.ml.w1").await?, "{name} must not intercept requests");
        assert!(!readable(&admin, &other, "_INBOX.>").await?, "{name} must not read others' inboxes");
    }
    // A team sees its own decisions live, not another team's.
    let ml = connect_as(&server, "team-ml").await?;
    assert!(readable(&admin, &ml, "qm.decision.ml.w1").await?);
    assert!(!readable(&admin, &ml, "qm.decision.cv.w1").await?);
    assert!(ml.refused("qm.decision.cv.w1").await);
    // And its own grants (actuation reports) live, not another team's.
    assert!(readable(&admin, &ml, "qm.act.ml.w1").await?);
    assert!(!readable(&admin, &ml, "qm.act.cv.w1").await?);
    assert!(ml.refused("qm.act.cv.w1").await);
    // Ingest answers a team's request on the team's private inbox. About one run in 40
    // (in a loop of this test alone, and once in a workspace run) the first request never
    // reached ingest; what is tested here is who may talk to whom, so a lost request is
    // asked again (three tries, each bounded), and one that never arrives fails the test.
    let mut requests = ingest.client.subscribe("qm.in.>").await?;
    ingest.client.flush().await?;
    let wait = std::time::Duration::from_secs(3);
    let ml = std::sync::Arc::new(ml);
    let mut answered = None;
    for _ in 0..3 {
        let asker = ml.clone();
        let request = tokio::spawn(async move { asker.client.request("qm.in.demand.ml.w1", "ask".into()).await.map(|m| m.payload) });
        let Ok(Some(message)) = tokio::time::timeout(wait, futures::StreamExt::next(&mut requests)).await else {
            request.abort();
            eprintln!("a request did not reach ingest within {wait:?}; asking again");
            continue;
        };
        ingest.client.publish(message.reply.ok_or_else(|| anyhow::anyhow!("no reply subject"))?, "answer".into()).await?;
        answered = Some(tokio::time::timeout(wait, request).await.map_err(|_| anyhow::anyhow!("no answer within {wait:?}"))???);
        break;
    }
    let answer = answered.ok_or_else(|| anyhow::anyhow!("ingest got none of three requests"))?;
    assert_eq!(&answer[..], b"answer");
    Ok(())
}

