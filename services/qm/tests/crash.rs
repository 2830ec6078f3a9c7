//! Crash safety: SIGKILL each service in turn under a steady stream of demand, restart
//! it, and check over the logs that no demand was lost, no decision is missing or
//! recorded twice, no decision was applied twice and no chip was granted twice.

mod common;

use common::*;
use qm_bus::read::read_all;
use qm_bus::subjects;
use qm_model::{decode, Action, ActuationEvent, DecisionRecorded, InputEvent};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const WORKLOADS: u32 = 90;
const CHIPS_EACH: u32 = 2;
const POOL_CHIPS: u32 = 256;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_each_service_mid_stream_loses_nothing_and_duplicates_nothing() -> anyhow::Result<()> {
    let mut system = System::start()?;
    let client = system.client().await?;
    declare_fleet(&client, &[team("ml", 64.0)], &[h100_pool("use-h100", POOL_CHIPS)]).await?;

    let sender_client = client.clone();
    let sender = tokio::spawn(async move {
        for i in 0..WORKLOADS {
            let id = format!("w{i}");
            let event = InputEvent::DemandDeclared { spec: workload("ml", &id, CHIPS_EACH), chips_desired: CHIPS_EACH };
            // The key makes retries through a dead ingest safe.
            let reply = send_until_answered(&sender_client, &format!("qm.in.demand.ml.{id}"), &event, Some(&id)).await?;
            expect_accepted(reply)?;
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        anyhow::Ok(())
    });

    for round in 0..2 {
        for service in SERVICES {
            tokio::time::sleep(Duration::from_millis(300 + 100 * round)).await;
            system.kill_service(service);
            tokio::time::sleep(Duration::from_millis(200)).await;
            system.start_service(service)?;
        }
    }
    sender.await??;

    // No demand lost: every workload ends up holding what it asked for.
    eventually(Duration::from_secs(30), || {
        let status = system.status()?;
        let short: Vec<String> = (0..WORKLOADS)
            .map(|i| format!("w{i}"))
            .filter(|id| applied(&status, id) != u64::from(CHIPS_EACH))
            .collect();
        Ok(short.is_empty().then_some(()))
    })
    .await?;

    let js = system.js().await?;
    // Each demand stored exactly once despite retries.
    let inputs = read_all(&js, subjects::INPUT_STREAM, 1).await?;
    let mut demand_count: BTreeMap<String, u32> = BTreeMap::new();
    for entry in inputs.iter().filter(|e| e.subject.starts_with("qm.input.demand.")) {
        *demand_count.entry(entry.subject.clone()).or_default() += 1;
    }
    assert_eq!(demand_count.len(), WORKLOADS as usize);
    assert!(demand_count.values().all(|&n| n == 1), "demand stored twice: {demand_count:?}");

    // Each decision recorded once, at a unique log position.
    let decisions: Vec<_> = read_all(&js, subjects::DECISIONS_STREAM, 1)
        .await?
        .iter()
        .map(|e| decode::<DecisionRecorded>(&e.payload))
        .collect::<Result<_, _>>()?;
    let mut positions = BTreeSet::new();
    for d in &decisions {
        assert!(positions.insert((d.body.input_seq, d.body.index)), "decision recorded twice: {:?}", d.body);
    }
    let ids: BTreeSet<_> = decisions.iter().map(|d| d.id).collect();
    assert_eq!(ids.len(), decisions.len());

    // Each decision applied at most once, every applying decision applied, and the pool
    // never held more chips than it has, at any point of the actuation log.
    let actuation: Vec<ActuationEvent> = read_all(&js, subjects::ACTUATION_STREAM, 1)
        .await?
        .iter()
        .map(|e| decode::<ActuationEvent>(&e.payload).map(|e| e.body))
        .collect::<Result<_, _>>()?;
    let mut reported = BTreeSet::new();
    let mut holdings: BTreeMap<String, u32> = BTreeMap::new();
    for event in &actuation {
        assert!(reported.insert(event.decision_id()), "decision applied twice: {event:?}");
        if let ActuationEvent::GrantApplied { workload, chips, .. } | ActuationEvent::GrantRevoked { workload, chips, .. } = event {
            holdings.insert(workload.to_string(), *chips);
        }
        let held: u32 = holdings.values().sum();
        assert!(held <= POOL_CHIPS, "pool over-granted: {held} > {POOL_CHIPS}");
        assert!(!matches!(event, ActuationEvent::ActuationFailed { .. }), "{event:?}");
    }
    for d in decisions.iter().filter(|d| !matches!(d.body.decision.action, Action::Pending { .. })) {
        assert!(reported.contains(&d.id), "decision never applied: {:?}", d.body);
    }
    Ok(())
}
