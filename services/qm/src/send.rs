//! Sending input to ingest and reading its reply.

use anyhow::{bail, Context};
use qm_bus::request::request;
use qm_bus::subjects;
use qm_model::{decode_value, encode_value, IngestReply, InputEvent, IDEMPOTENCY_KEY_HEADER, SOURCE_HEADER};
use std::time::Duration;

/// The request subject an input event belongs on.
pub fn subject_for(event: &InputEvent) -> String {
    match event {
        InputEvent::DemandDeclared { spec, .. } => subjects::ingest_request("demand", &[spec.team.as_str(), spec.id.as_str()]),
        InputEvent::PoolDeclared(pool) => subjects::ingest_request("pool", &[pool.id.as_str()]),
        InputEvent::PoolRetired { pool } => subjects::ingest_request("pool", &[pool.as_str()]),
        InputEvent::TeamDeclared(team) => subjects::ingest_request("team", &[team.id.as_str()]),
        InputEvent::PolicyPublished(_) => subjects::ingest_request("policy", &[]),
        InputEvent::HaltResolved { .. } => subjects::ingest_request("halt", &[]),
        // Usage and finish name the team in the subject; callers use `subject_for_team`.
        InputEvent::UsageReported { .. } | InputEvent::WorkloadFinished { .. } | InputEvent::Tick => String::new(),
    }
}

/// The request subject for input about a team's workload.
pub fn subject_for_team(kind: &str, team: &str, workload: &str) -> String {
    subjects::ingest_request(kind, &[team, workload])
}

/// Sends one input event and waits for ingest's answer.
pub async fn send(
    client: &qm_bus::Bus,
    subject: String,
    event: &InputEvent,
    idempotency_key: Option<&str>,
) -> anyhow::Result<IngestReply> {
    let payload = encode_value(event)?;
    let mut headers = vec![(SOURCE_HEADER, "qm-cli")];
    if let Some(key) = idempotency_key {
        headers.push((IDEMPOTENCY_KEY_HEADER, key));
    }
    let reply = request(client, &subject, payload, &headers, Duration::from_secs(5))
        .await
        .with_context(|| format!("no answer from ingest on {subject}: is `qm up` (or qm-ingest) running?"))?;
    Ok(decode_value(&reply)?)
}

/// How `qm` keeps asking while ingest is briefly down (restarting, not started yet):
/// doubling waits from `backoff_initial` up to `backoff_max`, for at most `within` in
/// all. Every try carries the same idempotency key, so a request that was stored but
/// whose answer was lost is stored once.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Retry {
    pub within: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self { within: Duration::from_secs(15), backoff_initial: Duration::from_millis(100), backoff_max: Duration::from_secs(2) }
    }
}

impl Retry {
    /// The wait before try `attempt + 1` (0-based), if one is still due `elapsed` after
    /// the first try started.
    pub fn wait_before_next(&self, attempt: u32, elapsed: Duration) -> Option<Duration> {
        let wait = self.backoff_initial.saturating_mul(1u32 << attempt.min(16)).min(self.backoff_max);
        (elapsed + wait <= self.within).then_some(wait)
    }
}

/// Whether a failed request may be tried again as is: nobody served the subject, or no
/// answer came in time (the key makes a repeat harmless).
fn retryable(error: &anyhow::Error) -> bool {
    matches!(
        error.downcast_ref::<qm_bus::BusError>(),
        Some(qm_bus::BusError::Request { kind: qm_bus::RequestFailure::NoResponders | qm_bus::RequestFailure::TimedOut, .. })
    )
}

/// Sends, retrying under `retry` while ingest does not answer, and fails unless ingest
/// accepted. Without a key of the caller's, a fresh one is used for all tries.
pub async fn send_accepted(
    client: &qm_bus::Bus,
    subject: String,
    event: &InputEvent,
    idempotency_key: Option<&str>,
    retry: &Retry,
) -> anyhow::Result<(uuid::Uuid, u64)> {
    let generated;
    let key = match idempotency_key {
        Some(key) => key,
        None => {
            generated = format!("qm-cli-{}", uuid::Uuid::now_v7());
            &generated
        }
    };
    let started = std::time::Instant::now();
    let mut attempt = 0;
    let reply = loop {
        match send(client, subject.clone(), event, Some(key)).await {
            Ok(reply) => break reply,
            Err(e) if retryable(&e) => match retry.wait_before_next(attempt, started.elapsed()) {
                Some(wait) => {
                    if attempt == 0 {
                        eprintln!("ingest is not answering on {subject}; retrying for up to {:?} (idempotency key {key})", retry.within);
                    }
                    attempt += 1;
                    tokio::time::sleep(wait).await;
                }
                None => return Err(e.context(format!("gave up after {} tries in {:.1} s", attempt + 1, started.elapsed().as_secs_f64()))),
            },
            Err(e) => return Err(e),
        }
    };
    match reply {
        IngestReply::Accepted { event_id, sequence, .. } => Ok((event_id, sequence)),
        IngestReply::Rejected { code, message } => bail!("rejected ({code:?}): {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_and_stop_at_the_deadline() {
        let retry = Retry { within: Duration::from_secs(3), backoff_initial: Duration::from_millis(100), backoff_max: Duration::from_secs(1) };
        let mut elapsed = Duration::ZERO;
        let mut waits = Vec::new();
        for attempt in 0.. {
            let Some(wait) = retry.wait_before_next(attempt, elapsed) else { break };
            waits.push(wait.as_millis());
            elapsed += wait;
        }
        assert_eq!(waits, [100, 200, 400, 800, 1000]);
        assert!(elapsed <= retry.within);
        assert_eq!(Retry { within: Duration::ZERO, ..Retry::default() }.wait_before_next(0, Duration::ZERO), None, "0 s: one try");
        assert_eq!(retry.wait_before_next(60, Duration::ZERO), Some(Duration::from_secs(1)), "no overflow on long runs");
    }

    #[test]
    fn only_unanswered_requests_are_retried() {
        let failure = |kind| anyhow::Error::new(qm_bus::BusError::Request { subject: "s".into(), kind, message: "m".into() });
        assert!(retryable(&failure(qm_bus::RequestFailure::NoResponders).context("no answer from ingest")));
        assert!(retryable(&failure(qm_bus::RequestFailure::TimedOut)));
        assert!(!retryable(&failure(qm_bus::RequestFailure::Other)));
        assert!(!retryable(&anyhow::anyhow!("rejected (malformed)")));
    }
}
