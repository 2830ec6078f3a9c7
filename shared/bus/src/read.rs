//! Reading a stream in order from a sequence: how services rebuild at start and then
//! follow new messages. The reading consumer is ephemeral, so nothing on the server
//! remembers a reader's position: each service keeps its own (state is rebuilt from the log).

use crate::error::BusError;
use crate::bus::Bus;
use async_nats::jetstream::{self, consumer};
use bytes::Bytes;
use futures::{Stream, StreamExt};

/// One stored message.
#[derive(Clone, Debug)]
pub struct Entry {
    pub sequence: u64,
    pub subject: String,
    pub payload: Bytes,
    /// Messages still after this one when it was delivered: 0 means caught up.
    pub pending: u64,
    /// The writer's signature headers, if the entry has them (see `qm_trust::sign`).
    pub signature: Option<qm_trust::Signature>,
}

impl Entry {
    /// Checks that the entry was signed by the role that writes its subject, with a key
    /// `registry` knows.
    pub fn verify<'r>(&self, registry: &'r qm_trust::Registry) -> Result<&'r qm_trust::Identity, qm_trust::SignatureError> {
        let (signer, signature) = match &self.signature {
            Some(s) => (Some(s.signer.as_str()), Some(s.signature.as_str())),
            None => (None, None),
        };
        qm_trust::verify(&self.subject, &self.payload, signer, signature, registry)
    }
}

/// The signature headers of a stored message.
pub(crate) fn signature_of(headers: Option<&async_nats::HeaderMap>) -> Option<qm_trust::Signature> {
    let headers = headers?;
    let signer = headers.get(qm_trust::SIGNER_HEADER)?.as_str().to_owned();
    let signature = headers.get(qm_trust::SIGNATURE_HEADER)?.as_str().to_owned();
    Some(qm_trust::Signature { signer, signature })
}

/// Reads `stream_name` in order from `from_sequence` (1 = the start), then follows.
pub async fn follow(
    bus: &Bus,
    stream_name: &str,
    from_sequence: u64,
) -> Result<impl Stream<Item = Result<Entry, BusError>> + Send + 'static, BusError> {
    follow_filtered(bus, stream_name, from_sequence, None).await
}

/// Like [`follow`], restricted to subjects matching `filter`.
///
/// The follower keeps order itself: its consumer is ephemeral with one replica and no
/// acks, and any gap or repeat in the consumer's delivery count recreates it from the
/// next expected sequence. After a cluster node is lost the consumer can also go silent
/// while the server keeps answering (so no heartbeat check fires): when nothing arrives
/// for [`STALL_CHECK`] although the stream has moved past the next expected sequence, or
/// the consumer errs or ends, it is recreated from that sequence too.
pub async fn follow_filtered(
    bus: &Bus,
    stream_name: &str,
    from_sequence: u64,
    filter: Option<&str>,
) -> Result<impl Stream<Item = Result<Entry, BusError>> + Send + 'static, BusError> {
    let mut follower = Follower {
        bus: bus.clone(),
        stream_name: stream_name.to_owned(),
        filter: filter.map(str::to_owned),
        next_sequence: from_sequence.max(1),
        consumer: None,
        delivered: 0,
    };
    // Fail fast on a missing stream instead of retrying forever.
    follower.consumer = Some(open_consumer(&follower.bus, &follower.stream_name, follower.filter.as_deref(), follower.next_sequence).await?);
    Ok(futures::stream::unfold(follower, |mut follower| async move {
        let entry = follower.next_entry().await;
        Some((entry, follower))
    }))
}

/// How long a silent consumer may stay silent before the stream is checked for progress.
pub const STALL_CHECK: std::time::Duration = std::time::Duration::from_secs(5);

/// Entries with their consumer sequence (which counts this consumer's deliveries, so a
/// gap in it means a lost message even when a filter skips stream sequences).
type EntryStream = std::pin::Pin<Box<dyn Stream<Item = Result<(Entry, u64), BusError>> + Send>>;

/// Messages asked for per pull. Catching up on a long log is pull-bound: the client
/// library's ordered consumer asks for 500 at a time; bigger pulls cost fewer requests.
pub const PULL_BATCH: usize = 2_000;

struct Follower {
    bus: Bus,
    stream_name: String,
    filter: Option<String>,
    next_sequence: u64,
    consumer: Option<EntryStream>,
    /// The last consumer sequence delivered by the current consumer.
    delivered: u64,
}

/// An ephemeral, unacknowledged pull consumer on `stream_name` from `next_sequence`:
/// what the client library's ordered consumer is (one replica, in memory, no acks), with
/// bigger pulls. Order is checked by the follower, which recreates it on any gap.
async fn open_consumer(bus: &Bus, stream_name: &str, filter: Option<&str>, next_sequence: u64) -> Result<EntryStream, BusError> {
    let stream_error = |e: &dyn std::fmt::Display| BusError::Stream { stream: stream_name.to_owned(), message: e.to_string() };
    let stream = bus.js().get_stream(stream_name).await.map_err(|e| stream_error(&e))?;
    let deliver_policy = if next_sequence <= 1 {
        consumer::DeliverPolicy::All
    } else {
        consumer::DeliverPolicy::ByStartSequence { start_sequence: next_sequence }
    };
    let config = consumer::pull::Config::from(consumer::pull::OrderedConfig {
        deliver_policy,
        filter_subject: filter.unwrap_or_default().to_owned(),
        ..Default::default()
    });
    let consumer = stream.create_consumer(config).await.map_err(|e| stream_error(&e))?;
    let messages = consumer
        .stream()
        .max_messages_per_batch(PULL_BATCH)
        .heartbeat(std::time::Duration::from_secs(5))
        .expires(std::time::Duration::from_secs(30))
        .messages()
        .await
        .map_err(|e| stream_error(&e))?;
    let name = stream_name.to_owned();
    Ok(Box::pin(messages.map(move |item| received(&name, item).map(|(entry, consumer_sequence, _)| (entry, consumer_sequence)))))
}

/// A message a pull consumer on `stream_name` delivered, read as an [`Entry`], with its
/// consumer sequence (what the follower checks order by) and the message itself (what a
/// durable consumer acks).
fn received<E: std::fmt::Display>(
    stream_name: &str,
    item: Result<jetstream::Message, E>,
) -> Result<(Entry, u64, jetstream::Message), BusError> {
    let consume_error = |e: &dyn std::fmt::Display| BusError::Consume { stream: stream_name.to_owned(), message: e.to_string() };
    let message = item.map_err(|e| consume_error(&e))?;
    let info = message.info().map_err(|e| consume_error(&e))?;
    let entry = Entry {
        sequence: info.stream_sequence,
        subject: message.subject.to_string(),
        payload: message.payload.clone(),
        pending: info.pending,
        signature: signature_of(message.headers.as_ref()),
    };
    let consumer_sequence = info.consumer_sequence;
    Ok((entry, consumer_sequence, message))
}

impl Follower {
    /// The next entry, recreating the consumer as often as needed. Errors are only
    /// returned when the consumer cannot even be recreated.
    async fn next_entry(&mut self) -> Result<Entry, BusError> {
        let mut failures = 0u32;
        loop {
            let consumer = match self.consumer.as_mut() {
                Some(consumer) => consumer,
                None => match open_consumer(&self.bus, &self.stream_name, self.filter.as_deref(), self.next_sequence).await {
                    Ok(consumer) => {
                        self.delivered = 0;
                        self.consumer.insert(consumer)
                    }
                    Err(e) => {
                        failures += 1;
                        if failures >= 20 {
                            return Err(e);
                        }
                        tracing::warn!(error = %e, stream = %self.stream_name, "cannot recreate consumer; retrying");
                        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                        continue;
                    }
                },
            };
            match tokio::time::timeout(STALL_CHECK, consumer.next()).await {
                Ok(Some(Ok((entry, consumer_sequence)))) => {
                    if consumer_sequence != self.delivered + 1 || entry.sequence < self.next_sequence {
                        // A lost or repeated delivery: start again where we are.
                        tracing::warn!(stream = %self.stream_name, next = self.next_sequence, got = entry.sequence, "consumer out of order; recreating");
                        self.consumer = None;
                        continue;
                    }
                    self.delivered = consumer_sequence;
                    self.next_sequence = entry.sequence + 1;
                    return Ok(entry);
                }
                Ok(Some(Err(e))) => {
                    tracing::warn!(error = %e, stream = %self.stream_name, next = self.next_sequence, "consumer failed; recreating");
                    self.consumer = None;
                }
                Ok(None) => self.consumer = None,
                Err(_silent) => {
                    if stalled(&self.bus, &self.stream_name, self.next_sequence).await {
                        tracing::warn!(stream = %self.stream_name, next = self.next_sequence, "consumer silent while the stream grew; recreating");
                        self.consumer = None;
                    }
                }
            }
        }
    }

}

/// Whether the stream holds messages at or past the next expected sequence. With a
/// filter this may be a false alarm (the new messages may not match); recreating the
/// consumer then costs one request and loses nothing.
async fn stalled(bus: &Bus, stream_name: &str, next_sequence: u64) -> bool {
    crate::streams::last_sequence(bus, stream_name).await.is_ok_and(|last| last >= next_sequence)
}

/// Reads every message now in `stream_name` from `from_sequence` and stops: for
/// one-shot rebuilds (`qm status`, `qm replay`). Also on a log with holes: a purged
/// log (no messages) or deleted last entries (it stops when nothing is pending).
pub async fn read_all(bus: &Bus, stream_name: &str, from_sequence: u64) -> Result<Vec<Entry>, BusError> {
    let state = crate::streams::state(bus, stream_name).await?;
    let last = state.last_sequence;
    let mut out = Vec::new();
    if last < from_sequence.max(1) || state.messages == 0 {
        return Ok(out);
    }
    let mut messages = Box::pin(follow(bus, stream_name, from_sequence).await?);
    while let Some(entry) = messages.next().await {
        let entry = entry?;
        let done = entry.sequence >= last || entry.pending == 0;
        out.push(entry);
        if done {
            break;
        }
    }
    Ok(out)
}

/// A message from a durable consumer: processed at least once, acked when done.
pub struct Delivery {
    pub entry: Entry,
    message: jetstream::Message,
}

impl Delivery {
    /// Tells the server this message is done. Not confirmed (no double ack): a lost ack
    /// means a redelivery, which consumers must handle idempotently anyway.
    pub async fn ack(&self) -> Result<(), BusError> {
        self.message.ack().await.map_err(|e| BusError::Consume { stream: String::new(), message: e.to_string() })
    }
}

/// The settings of a durable consumer; `replicas` 0 follows the stream's.
fn durable_config(durable_name: &str, ack_pending_max: i64, replicas: usize) -> consumer::pull::Config {
    consumer::pull::Config {
        durable_name: Some(durable_name.to_owned()),
        ack_policy: consumer::AckPolicy::Explicit,
        max_ack_pending: ack_pending_max,
        ack_wait: std::time::Duration::from_secs(30),
        num_replicas: replicas,
        ..Default::default()
    }
}

/// Creates the durable consumer [`durable`] would, if absent: for an admin provisioning
/// a secured server, where the consumer's user may read it but not create it.
pub async fn ensure_durable(bus: &Bus, stream_name: &str, durable_name: &str, ack_pending_max: i64, replicas: usize) -> Result<(), BusError> {
    let stream_error = |e: &dyn std::fmt::Display| BusError::Stream { stream: stream_name.to_owned(), message: e.to_string() };
    let stream = bus.js().get_stream(stream_name).await.map_err(|e| stream_error(&e))?;
    let config = durable_config(durable_name, ack_pending_max, replicas);
    stream.get_or_create_consumer(durable_name, config).await.map_err(|e| stream_error(&e))?;
    Ok(())
}

/// A durable, explicitly acked consumer: the server remembers the position, and
/// anything not acked within `ack_wait` is delivered again.
pub async fn durable(
    bus: &Bus,
    stream_name: &str,
    durable_name: &str,
    ack_pending_max: i64,
) -> Result<impl Stream<Item = Result<Delivery, BusError>> + Send + 'static, BusError> {
    let stream_error = |e: &dyn std::fmt::Display| BusError::Stream { stream: stream_name.to_owned(), message: e.to_string() };
    let stream = bus.js().get_stream(stream_name).await.map_err(|e| stream_error(&e))?;
    let config = durable_config(durable_name, ack_pending_max, 0);
    let consumer = stream.get_or_create_consumer(durable_name, config).await.map_err(|e| stream_error(&e))?;
    // Short pull expiry and heartbeats: after a server in a cluster is lost, a pull
    // waiting on it is re-issued within seconds, not after the default 30 s expiry.
    let messages = consumer
        .stream()
        .expires(std::time::Duration::from_secs(5))
        .heartbeat(std::time::Duration::from_secs(2))
        .messages()
        .await
        .map_err(|e| stream_error(&e))?;
    let name = stream_name.to_owned();
    Ok(messages.map(move |item| received(&name, item).map(|(entry, _, message)| Delivery { entry, message })))
}

pub use qm_model::LogRecord;

/// Decodes an entry of `QM_INPUT`, telling input and actuation apart by subject.
pub fn decode_log(entry: &Entry) -> Result<LogRecord, qm_model::DecodeError> {
    use qm_model::{decode, ActuationEvent, InputEvent, LogEvent};
    let (id, time_ms, event) = if entry.subject.starts_with(crate::subjects::ACTUATION_PREFIX) {
        let envelope = decode::<ActuationEvent>(&entry.payload)?;
        (envelope.id, envelope.time_ms, LogEvent::Actuation(envelope.body))
    } else {
        let envelope = decode::<InputEvent>(&entry.payload)?;
        (envelope.id, envelope.time_ms, LogEvent::Input(envelope.body))
    };
    Ok(LogRecord { sequence: entry.sequence, id, time_ms, event })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(subject: &str, payload: &'static [u8]) -> Entry {
        Entry { sequence: 7, subject: subject.into(), payload: Bytes::from_static(payload), pending: 0, signature: None }
    }

    /// Logs written before actuation subjects carried the team (`qm.act.<workload>`) must
    /// fold exactly as new ones (`qm.act.<team>.<workload>`): the payload is the same
    /// bytes, and only the prefix tells an actuation report from input.
    #[test]
    fn old_and_new_actuation_subjects_decode_alike() {
        let golden: &'static [u8] = include_bytes!("../../../schemas/golden/actuation.GrantApplied.msgpack");
        let old = decode_log(&entry("qm.act.w1", golden)).expect("old subject");
        let new = decode_log(&entry(&crate::subjects::actuation("ml", "w1"), golden)).expect("new subject");
        assert!(matches!(old.event, qm_model::LogEvent::Actuation(_)), "{old:?}");
        assert_eq!(old, new);
        let tick: &'static [u8] = include_bytes!("../../../schemas/golden/input.Tick.msgpack");
        assert!(matches!(decode_log(&entry("qm.input.tick", tick)).expect("tick").event, qm_model::LogEvent::Input(_)));
    }
}
