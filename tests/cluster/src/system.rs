//! Input sent through ingest to the cluster, retried until accepted: a stream may be
//! electing a new leader after a node loss. The service processes, the `qm` CLI and the
//! fixtures are `qm_testkit`'s, shared with the single-server integration tests.

use anyhow::bail;
use qm_bus::Bus;
use qm_model::{IngestReply, InputEvent, RejectCode};
use std::time::Duration;

pub use qm_testkit::ingest::{demand, eventually, h100_pool, team};
pub use qm_testkit::services::{applied, Services};

/// Sends `event` to ingest until it is accepted, retrying timeouts and `unavailable` for
/// up to `timeout`; the same idempotency key on every try stores it once. Returns the log
/// sequence.
pub async fn send(bus: &Bus, subject: &str, event: &InputEvent, key: &str, timeout: Duration) -> anyhow::Result<u64> {
    match qm_testkit::ingest::send_until_answered(bus, subject, event, Some(key), timeout).await {
        Ok(IngestReply::Accepted { sequence, .. }) => Ok(sequence),
        Ok(IngestReply::Rejected { code, message }) if code != RejectCode::Unavailable => {
            bail!("{subject} rejected ({code:?}): {message}")
        }
        other => bail!("{subject} not accepted within {timeout:?}: {other:?}"),
    }
}
