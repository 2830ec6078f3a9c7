//! A dead-letter flood on a small store: refused input keeps being refused and kept
//! (bounded, oldest dropped), a team over its rate gets `rate_limited`, and valid demand
//! is still accepted and granted. Without the dead-letter cap the flood filled the store
//! and ingest answered valid demand with `unavailable`.

mod common;

use common::*;
use qm_bus::provision::Provision;
use qm_bus::{subjects, StreamSettings};
use qm_model::{IngestReply, InputEvent, RejectCode};
use qm_testkit::NatsServer;
use std::time::Duration;

const STORE_BYTES: u64 = 24 << 20;
const DEAD_BYTES: i64 = 2 << 20;

fn code(reply: &IngestReply) -> Option<RejectCode> {
    match reply {
        IngestReply::Rejected { code, .. } => Some(*code),
        IngestReply::Accepted { .. } => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_flood_neither_fills_the_store_nor_blocks_valid_demand() -> anyhow::Result<()> {
    let provision = Provision { streams: StreamSettings { dead_bytes_max: DEAD_BYTES, ..Default::default() }, ..Default::default() };
    let nats = NatsServer::start_secure_with_store(&["ml", "cv"], STORE_BYTES)?.provisioned(provision)?;
    let rate = [("QM_TEAM_RATE_PER_S", "20"), ("QM_TEAM_BURST", "20")];
    let mut system = System { services: Services::start_all_on(&nats, &rate)?, nats };
    let operator = system.bus().await?;
    declare_fleet(&operator, &[team("ml", 4.0), team("cv", 4.0)], &[h100_pool("use-h100", 16)]).await?;

    // 70 KB of garbage, twice the store in all: each refused as too large, each kept
    // (64 KiB of it) as a dead letter. Pool declarations are not rate limited.
    let garbage = vec![0xc1u8; 70_000];
    let rounds = 2 * STORE_BYTES / 65_536;
    for i in 0..rounds {
        let reply = send_raw(&operator, "qm.in.pool.junk", garbage.clone(), None).await?;
        assert_eq!(code(&reply), Some(RejectCode::TooLarge), "request {i}: {reply:?}");
    }
    // A team flooding past its rate is refused before anything is decoded.
    let ml = system.bus_as("team-ml").await?;
    let started = std::time::Instant::now();
    let mut passed = 0u32;
    for _ in 0..100 {
        passed += u32::from(code(&send_raw(&ml, "qm.in.demand.ml.junk", vec![0xc1; 100], None).await?) != Some(RejectCode::RateLimited));
    }
    // At most the burst plus the rate over the time taken (and one for rounding).
    let allowed = 20.0 + 20.0 * started.elapsed().as_secs_f64() + 1.0;
    assert!(f64::from(passed) <= allowed && passed < 100, "{passed} of 100 flood requests got past the rate limit (at most {allowed:.0})");

    // Valid demand: another team at once, the flooding team once its bucket refills.
    let cv = system.bus_as("team-cv").await?;
    let demand = |team: &str, id: &str| InputEvent::DemandDeclared { spec: workload(team, id, 4), chips_desired: 4 };
    expect_accepted(send_until_answered(&cv, "qm.in.demand.cv.c1", &demand("cv", "c1"), None).await?)?;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    expect_accepted(send_until_answered(&ml, "qm.in.demand.ml.m1", &demand("ml", "m1"), None).await?)?;
    for workload in ["c1", "m1"] {
        eventually(Duration::from_secs(20), || Ok((applied(&system.status()?, workload) == 4).then_some(()))).await?;
    }

    let admin = system.bus_as("admin").await?;
    let dead = admin.raw_jetstream().get_stream(subjects::DEAD_STREAM).await?.info().await?.state.clone();
    assert!(dead.bytes <= DEAD_BYTES as u64 + 70_000, "dead letters hold {} bytes, over the cap", dead.bytes);
    assert!(dead.first_sequence > 1, "the oldest dead letters were not dropped");
    system.services.all_running()
}
