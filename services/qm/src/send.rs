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

/// Sends and fails unless ingest accepted.
pub async fn send_accepted(
    client: &qm_bus::Bus,
    subject: String,
    event: &InputEvent,
    idempotency_key: Option<&str>,
) -> anyhow::Result<(uuid::Uuid, u64)> {
    match send(client, subject, event, idempotency_key).await? {
        IngestReply::Accepted { event_id, sequence, .. } => Ok((event_id, sequence)),
        IngestReply::Rejected { code, message } => bail!("rejected ({code:?}): {message}"),
    }
}
