//! Input sent through ingest the way a client does, with the retries a test needs while
//! services start, restart or a stream elects a leader; and the fleet fixtures the tests
//! declare (prices from shared/data/accelerators).

use anyhow::bail;
use qm_bus::request::request;
use qm_bus::Bus;
use qm_model::{
    decode_value, encode_value, AcceleratorThroughput, IngestReply, InputEvent, Pool, PriorityTier, RejectCode, Team,
    WorkloadSpec, IDEMPOTENCY_KEY_HEADER,
};
use std::time::{Duration, Instant};

/// How long one request waits for ingest's answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// Sends encoded `payload` to ingest on `subject`, with an optional idempotency key.
pub async fn send_raw(bus: &Bus, subject: &str, payload: Vec<u8>, key: Option<&str>) -> anyhow::Result<IngestReply> {
    let headers: Vec<(&str, &str)> = key.map(|key| (IDEMPOTENCY_KEY_HEADER, key)).into_iter().collect();
    let reply = request(bus, subject, payload, &headers, REQUEST_TIMEOUT).await?;
    Ok(decode_value(&reply)?)
}

/// Sends `event` until ingest answers other than `unavailable`, for up to `within`; the
/// same idempotency key on every try makes the retries safe.
pub async fn send_until_answered(
    bus: &Bus,
    subject: &str,
    event: &InputEvent,
    key: Option<&str>,
    within: Duration,
) -> anyhow::Result<IngestReply> {
    let deadline = Instant::now() + within;
    loop {
        match send_raw(bus, subject, encode_value(event)?, key).await {
            Ok(IngestReply::Rejected { code: RejectCode::Unavailable, .. }) | Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => return other,
        }
    }
}

/// The stored event id and log sequence, or the rejection as an error.
pub fn expect_accepted(reply: IngestReply) -> anyhow::Result<(uuid::Uuid, u64)> {
    match reply {
        IngestReply::Accepted { event_id, sequence, .. } => Ok((event_id, sequence)),
        IngestReply::Rejected { code, message } => bail!("rejected ({code:?}): {message}"),
    }
}

/// Polls `check` until it returns `Some`, or fails after `timeout`.
pub async fn eventually<T>(timeout: Duration, mut check: impl FnMut() -> anyhow::Result<Option<T>>) -> anyhow::Result<T> {
    let deadline = Instant::now() + timeout;
    let mut last_error = None;
    while Instant::now() < deadline {
        match check() {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(e) => last_error = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("condition not met within {timeout:?}; last error: {last_error:?}")
}

/// A team with a guarantee of `guarantee` chips.
pub fn team(id: &str, guarantee: f64) -> Team {
    Team { id: id.into(), guarantee, limit: None, weight: 1.0, tier: PriorityTier::Normal, regions: vec![], headroom_fraction: 0.1 }
}

/// An H100 pool; price from AWS Capacity Blocks (shared/data/accelerators).
pub fn h100_pool(id: &str, chips: u32) -> Pool {
    Pool {
        id: id.into(),
        region: "us-east".into(),
        accelerator: "h100".into(),
        chips,
        healthy_chips: chips,
        allocation_unit: 1,
        price_per_chip_hour: 4.916,
    }
}

/// A preemptible training workload of 1 to `chips_max` H100s, with a short drain grace.
pub fn workload(team: &str, id: &str, chips_max: u32) -> WorkloadSpec {
    let h100 = vec![AcceleratorThroughput { accelerator: "h100".into(), relative_throughput: 1.0 }];
    WorkloadSpec { drain_grace_s: 5, ..WorkloadSpec::elastic(id, team, h100, chips_max) }
}

/// Demand for all `chips` of [`workload`].
pub fn demand(team: &str, id: &str, chips: u32) -> InputEvent {
    InputEvent::DemandDeclared { spec: workload(team, id, chips), chips_desired: chips }
}
