//! Quartermaster over a 3-node JetStream cluster in containers (testcontainers), with R3
//! streams and auth on (an anonymous connection is refused): after the node leading `QM_INPUT` is killed, new demand is still accepted and
//! granted, the log still replays byte for byte, and the auditor finds nothing wrong.
//! Needs a Docker engine (skipped, saying so, when none answers) and the workspace
//! binaries: `cargo build --bins` in the same target dir first (scripts/test.sh does it).

use qm_bus::{connect, ConnectSettings};
use qm_bus::subjects::INPUT_STREAM;
use qm_cluster_tests::cluster::{docker_reachable, nats_server_binary, stream_leader, NatsCluster, NODES_COUNT};
use qm_cluster_tests::system::{applied, demand, eventually, h100_pool, send, team, Services};
use qm_model::InputEvent;
use qm_testkit::services::SERVICES;
use qm_trust::{Names, TrustDir};
use std::time::{Duration, Instant};

const REPLICAS: usize = 3;
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

// In the default suite since the stall (about 1 run in 10 past 90 s) was found: the
// policy exited when its takeover's resume probe timed out while stream leaders were being
// re-elected, leaving no writer. Recovery times over 30 runs: RELIABILITY.md.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r3_streams_keep_granting_after_the_log_leader_node_is_killed() -> anyhow::Result<()> {
    if let Err(why) = docker_reachable().await {
        eprintln!("SKIPPED r3_streams_keep_granting_after_the_log_leader_node_is_killed: no Docker engine reachable ({why:#})");
        return Ok(());
    }
    let started = Instant::now();
    let step = |what: &str| eprintln!("[{:>5.1} s] {what}", started.elapsed().as_secs_f64());

    // Given a 3-node cluster, R3 streams and the three services, all on loopback.
    // Auth on: identities generated for the test, each service as itself, the test as
    // the operator.
    let trust_dir = tempfile::tempdir()?;
    let trust = TrustDir::init(trust_dir.path(), &["ml".to_owned()], &Names::default())?;
    let mut cluster = NatsCluster::start(&nats_server_binary()?, &trust.accounts_path()).await?;
    step(&format!("{NODES_COUNT} nodes up at {}", cluster.url()));
    cluster.wait_for_jetstream(REPLICAS, &trust.creds_path("admin"), Duration::from_secs(60)).await?;
    step("JetStream meta leader elected, R3 streams placed by the admin");
    let mut services = Services::with_trust(&cluster.url(), &[("QM_STREAM_REPLICAS", &REPLICAS.to_string())], trust.clone());
    for name in SERVICES {
        services.start(name)?;
    }
    let anonymous = ConnectSettings { url: cluster.url(), start_timeout: Duration::from_secs(3), ..Default::default() };
    assert!(connect(&anonymous).await.is_err(), "the cluster must refuse a connection without credentials");
    let settings = ConnectSettings { url: cluster.url(), name: "qm-cluster-test".into(), credentials: Some(trust.creds_path("operator")), ..Default::default() };
    let client = connect(&settings).await?;
    let js = client.clone();

    // And a fleet and a first demand, granted and applied.
    send(&client, "qm.in.team.ml", &InputEvent::TeamDeclared(team("ml", 16.0)), "team-ml", SEND_TIMEOUT).await?;
    send(&client, "qm.in.pool.use-h100", &InputEvent::PoolDeclared(h100_pool("use-h100", 32)), "pool-h100", SEND_TIMEOUT)
        .await?;
    send(&client, "qm.in.demand.ml.train-1", &demand("ml", "train-1", 8), "demand-train-1", SEND_TIMEOUT).await?;
    eventually(Duration::from_secs(30), || Ok((applied(&services.status()?, "train-1") == 8).then_some(()))).await?;
    step("train-1: 8 chips granted and applied");

    // When the node leading the input log dies.
    let leader = stream_leader(&js, INPUT_STREAM).await?.ok_or_else(|| anyhow::anyhow!("{INPUT_STREAM} has no leader"))?;
    cluster.kill_node(&leader).await?;
    let killed_at = Instant::now();
    step(&format!("killed {leader}, the {INPUT_STREAM} leader; running: {:?}", cluster.running()));

    // Then new demand is still accepted, granted and applied, and the old grant stands.
    send(&client, "qm.in.demand.ml.eval-1", &demand("ml", "eval-1", 4), "demand-eval-1", Duration::from_secs(60)).await?;
    step("eval-1 accepted by ingest");
    // Often within a second or two. A reader whose pull request (or ephemeral one-replica
    // ordered consumer) sat on the lost node resumes only when async-nats notices, by its
    // 15 s idle heartbeat or 30 s pull expiry: 15 to 45 s were seen.
    let status =
        eventually(Duration::from_secs(90), || Ok(Some(services.status()?).filter(|s| applied(s, "eval-1") == 4))).await?;
    step(&format!("eval-1: 4 chips granted and applied, {:.1} s after the loss", killed_at.elapsed().as_secs_f64()));
    assert_eq!(applied(&status, "train-1"), 8, "{status:#}");
    let new_leader = stream_leader(&js, INPUT_STREAM).await?;
    assert!(new_leader.as_deref().is_some_and(|l| l != leader), "{INPUT_STREAM} leader after the loss: {new_leader:?}");
    services.all_running()?;

    // And the log still replays byte for byte, and every invariant holds.
    let replay = services.qm(&["replay"])?;
    assert!(replay.contains("MATCH"), "{replay}");
    // Decisions of the last ticks may still be on their way to the actuator: retry a while.
    let audit = eventually(Duration::from_secs(20), || services.qm(&["audit"]).map(Some)).await?;
    assert!(audit.contains("OK: no decision") && !audit.contains("VIOLATION"), "{audit}");
    step(&format!("replay MATCH, audit OK ({INPUT_STREAM} now led by {})", new_leader.unwrap_or_default()));
    Ok(())
}
