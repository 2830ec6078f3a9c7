//! Where a restarted writer picks up. It re-folds the whole log (state is rebuilt, never
//! stored), but must not re-record decisions that are already in `QM_DECISIONS`, except
//! those that may have been lost in flight when it died.

use qm_bus::{subjects, BusError};
use qm_model::{decode, DecisionRecorded};

/// The first input sequence whose decisions must be (re)published. At most
/// `inflight_max` publishes were unacknowledged when the previous writer stopped, and
/// JetStream stores one connection's publishes in order, so everything before the
/// decision `inflight_max` places from the end is known to be stored. Rounds from
/// there on are published again; dedup drops those already stored.
pub async fn first_input_to_publish(js: &async_nats::jetstream::Context, inflight_max: u64) -> Result<u64, BusError> {
    let last = qm_bus::streams::last_sequence(js, subjects::DECISIONS_STREAM).await?;
    if last == 0 {
        return Ok(0);
    }
    let probe = last.saturating_sub(inflight_max).max(1);
    let stream = js
        .get_stream(subjects::DECISIONS_STREAM)
        .await
        .map_err(|e| BusError::Stream { stream: subjects::DECISIONS_STREAM.into(), message: e.to_string() })?;
    let message = stream
        .direct_get(probe)
        .await
        .map_err(|e| BusError::Stream { stream: subjects::DECISIONS_STREAM.into(), message: e.to_string() })?;
    match decode::<DecisionRecorded>(&message.payload) {
        Ok(envelope) => Ok(envelope.body.input_seq),
        // Unreadable history: republish everything; dedup keeps it harmless.
        Err(_) => Ok(0),
    }
}
