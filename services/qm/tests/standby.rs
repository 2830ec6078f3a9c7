//! Two policy instances share one writer lease: the holder writes, the other folds the
//! log and stands by. SIGKILL the writer under a stream of demand: the standby takes
//! over within a few lease TTLs, every demand is decided and applied, and the decision
//! log holds exactly what a replay of the input log implies (nothing missing, nothing
//! twice). Also: a restart from a snapshot decides the same, and a damaged snapshot only
//! costs a full rebuild.

mod common;

use common::*;
use qm_bus::snapshot::{SnapshotSettings, SnapshotStore};
use qm_model::InputEvent;
use std::time::{Duration, Instant};

const TTL_MS: u64 = 1000;
const CHIPS_EACH: u32 = 2;
const POOL_CHIPS: u32 = 256;

/// The lease bucket's TTL is the admin's to set on a secured server.
fn fast_lease() -> qm_bus::provision::Provision {
    let mut provision = qm_bus::provision::Provision::default();
    provision.lease.ttl = Duration::from_millis(TTL_MS);
    provision
}

/// Starts (or restarts) policy instance `name` as `instance` (its lease holder name),
/// writing a snapshot every `snapshot_every` entries.
fn start_policy(system: &mut System, name: &str, instance: &str, snapshot_every: &str) -> anyhow::Result<()> {
    let env = [("QM_INSTANCE", instance), ("QM_LEASE_TTL_MS", "1000"), ("QM_SNAPSHOT_EVERY", snapshot_every)];
    system.start_instance(name, "qm-policy", &env)
}

/// A system on a fast lease with ingest, the actuator and one policy instance, started
/// as [`start_policy`] does.
fn system_with_policy(name: &str, instance: &str, snapshot_every: &str) -> anyhow::Result<System> {
    let mut system = System::start_bare_with(fast_lease())?;
    start_ingest_and_actuator(&mut system)?;
    start_policy(&mut system, name, instance, snapshot_every)?;
    Ok(system)
}

/// Sends demand for workloads `range`, 25 ms apart, each with its id as idempotency key.
fn send_demand(client: qm_bus::Bus, range: std::ops::Range<u32>) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    tokio::spawn(async move {
        for i in range {
            let id = format!("w{i}");
            let event = InputEvent::DemandDeclared { spec: workload("ml", &id, CHIPS_EACH), chips_desired: CHIPS_EACH };
            expect_accepted(send_until_answered(&client, &format!("qm.in.demand.ml.{id}"), &event, Some(&id)).await?)?;
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        anyhow::Ok(())
    })
}

async fn wait_for_writer(js: &qm_bus::Bus, not: Option<&str>, within: Duration) -> anyhow::Result<String> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(holder) = policy_writer(js).await? {
            if Some(holder.as_str()) != not {
                return Ok(holder);
            }
        }
        anyhow::ensure!(Instant::now() < deadline, "no new writer within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn all_applied(system: &System, workloads: std::ops::Range<u32>) -> anyhow::Result<()> {
    eventually(Duration::from_secs(30), || {
        let status = system.status()?;
        let short = workloads.clone().filter(|i| applied(&status, &format!("w{i}")) != u64::from(CHIPS_EACH)).count();
        Ok((short == 0).then_some(()))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standby_takes_over_when_the_writer_is_killed_and_nothing_is_lost_or_doubled() -> anyhow::Result<()> {
    let mut system = system_with_policy("policy-a", "policy-a", "40")?;
    let js = system.bus().await?;
    assert_eq!(wait_for_writer(&js, None, Duration::from_secs(20)).await?, "policy-a");
    start_policy(&mut system, "policy-b", "policy-b", "40")?;

    let client = system.bus().await?;
    declare_fleet(&client, &[team("ml", 64.0)], &[h100_pool("use-h100", POOL_CHIPS)]).await?;
    let sender = send_demand(client.clone(), 0..100);

    // Kill whichever instance writes, twice, restarting the victim as the new standby.
    let mut takeovers = Vec::new();
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let writer = wait_for_writer(&js, None, Duration::from_secs(10)).await?;
        let victim: &'static str = if writer == "policy-a" { "policy-a" } else { "policy-b" };
        system.kill_service(victim);
        let killed_at = Instant::now();
        let successor = wait_for_writer(&js, Some(victim), Duration::from_millis(6 * TTL_MS)).await?;
        takeovers.push(killed_at.elapsed());
        assert_ne!(successor, victim);
        start_policy(&mut system, victim, victim, "40")?;
    }
    sender.await??;
    // A lease ends at most one TTL after the last renewal; the standby tries every TTL/3.
    for took in &takeovers {
        assert!(*took < Duration::from_millis(3 * TTL_MS), "takeover took {took:?}");
    }
    eprintln!("takeovers after SIGKILL: {takeovers:?}");

    all_applied(&system, 0..100).await?;
    let decided = decisions_match_replay(&js).await?;
    assert!(decided >= 100, "only {decided} decisions");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_from_a_snapshot_decides_the_same_and_a_bad_snapshot_only_costs_time() -> anyhow::Result<()> {
    let mut system = system_with_policy("policy", "policy-1", "10")?;
    let client = system.bus().await?;
    let js = system.bus_as("admin").await?; // only the admin (and the policy) may write snapshots
    declare_fleet(&client, &[team("ml", 64.0)], &[h100_pool("use-h100", POOL_CHIPS)]).await?;
    send_demand(client.clone(), 0..30).await??;
    all_applied(&system, 0..30).await?;

    // A snapshot exists; the restarted writer starts from it and folds only the tail.
    let snapshots = SnapshotStore::open(&js, &SnapshotSettings::default()).await?;
    eventually(Duration::from_secs(10), || {
        let metrics = system.http_get("policy", "/metrics")?;
        Ok(metrics.contains("qm_policy_snapshots_total{outcome=\"stored\"}").then_some(()))
    })
    .await?;
    assert!(snapshots.get("policy-engine").await?.is_some_and(|b| !b.is_empty()));
    system.kill_service("policy");
    let sender = send_demand(client.clone(), 30..60);
    tokio::time::sleep(Duration::from_millis(300)).await;
    start_policy(&mut system, "policy", "policy-2", "10")?;
    sender.await??;
    all_applied(&system, 0..60).await?;
    let metrics = system.http_get("policy", "/metrics")?;
    assert!(metrics.contains("qm_policy_snapshots_total{outcome=\"loaded\"} 1"), "{metrics}");
    decisions_match_replay(&js).await?;

    // A damaged snapshot is refused with a reason, and the full log rebuilds the same state.
    system.kill_service("policy");
    snapshots.put("policy-engine", b"\xc1 not a snapshot").await?;
    start_policy(&mut system, "policy", "policy-3", "1000000")?;
    send_demand(client.clone(), 60..70).await??;
    all_applied(&system, 0..70).await?;
    let metrics = system.http_get("policy", "/metrics")?;
    assert!(metrics.contains("qm_policy_snapshots_total{outcome=\"unusable\"} 1"), "{metrics}");
    decisions_match_replay(&js).await?;
    Ok(())
}
