//! The four streams, created idempotently by whichever service starts first.

use crate::error::BusError;
use crate::subjects::*;
use crate::bus::Bus;
use crate::read::Entry;
use async_nats::jetstream::stream;
use std::time::Duration;

/// Settings shared by the four streams.
#[derive(Clone, Debug)]
pub struct StreamSettings {
    /// Copies of each stream: 1 on one server, 3 on a cluster to survive a node loss.
    pub replicas: usize,
    /// How long JetStream remembers a `Nats-Msg-Id` to drop a repeat. Long enough to cover
    /// a service's crash and restart, so a restarted writer's repeats are dropped.
    pub duplicate_window: Duration,
    /// Keep logs in memory instead of on disk (tests and benchmarks only).
    pub in_memory: bool,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self { replicas: 1, duplicate_window: Duration::from_secs(600), in_memory: false }
    }
}

impl StreamSettings {
    fn config(&self, name: &str, subjects: &str) -> stream::Config {
        stream::Config {
            name: name.to_owned(),
            subjects: vec![subjects.to_owned()],
            num_replicas: self.replicas,
            duplicate_window: self.duplicate_window,
            storage: if self.in_memory { stream::StorageType::Memory } else { stream::StorageType::File },
            // Logs are the system of record: never drop old events to make room.
            discard: stream::DiscardPolicy::New,
            allow_direct: true,
            ..Default::default()
        }
    }
}

/// Creates (or updates to the expected config) `QM_INPUT`, `QM_DECISIONS`,
/// `QM_ACTUATION` and `QM_DEAD`. `QM_INPUT` sources `QM_ACTUATION`, which gives the
/// policy a single total order over input and actuation reports.
pub async fn ensure_streams(bus: &Bus, settings: &StreamSettings) -> Result<(), BusError> {
    let actuation = settings.config(ACTUATION_STREAM, ACTUATION_SUBJECTS);
    let mut input = settings.config(INPUT_STREAM, INPUT_SUBJECTS);
    input.sources = Some(vec![stream::Source { name: ACTUATION_STREAM.to_owned(), ..Default::default() }]);
    let decisions = settings.config(DECISIONS_STREAM, DECISION_SUBJECTS);
    let dead = settings.config(DEAD_STREAM, DEAD_SUBJECTS);
    for config in [actuation, input, decisions, dead] {
        let name = config.name.clone();
        bus.js()
            .create_or_update_stream(config)
            .await
            .map_err(|e| BusError::Stream { stream: name, message: e.to_string() })?;
    }
    Ok(())
}

/// Sequence of the last message in a stream (0 when empty).
pub async fn last_sequence(bus: &Bus, stream_name: &str) -> Result<u64, BusError> {
    Ok(info(bus, stream_name).await?.state.last_sequence)
}

/// The server leading `stream_name` now (on a cluster), as JetStream reports it.
pub async fn leader(bus: &Bus, stream_name: &str) -> Result<Option<String>, BusError> {
    Ok(info(bus, stream_name).await?.cluster.and_then(|cluster| cluster.leader))
}

async fn info(bus: &Bus, stream_name: &str) -> Result<stream::Info, BusError> {
    let stream_error = |e: &dyn std::fmt::Display| BusError::Stream { stream: stream_name.to_owned(), message: e.to_string() };
    let mut stream = bus.js().get_stream(stream_name).await.map_err(|e| stream_error(&e))?;
    Ok(stream.info().await.map_err(|e| stream_error(&e))?.clone())
}

/// The message at `sequence`, read directly (streams allow direct get): for looking one
/// entry up without a consumer.
pub async fn get(bus: &Bus, stream_name: &str, sequence: u64) -> Result<Entry, BusError> {
    let stream_error = |e: &dyn std::fmt::Display| BusError::Stream { stream: stream_name.to_owned(), message: e.to_string() };
    let stream = bus.js().get_stream(stream_name).await.map_err(|e| stream_error(&e))?;
    let message = stream.direct_get(sequence).await.map_err(|e| stream_error(&e))?;
    Ok(Entry { sequence: message.sequence, subject: message.subject.to_string(), payload: message.payload, pending: 0 })
}

/// Deletes a durable consumer, so its reader starts over (operators; tests of recovery).
pub async fn delete_consumer(bus: &Bus, stream_name: &str, consumer: &str) -> Result<(), BusError> {
    let stream_error = |e: &dyn std::fmt::Display| BusError::Stream { stream: stream_name.to_owned(), message: e.to_string() };
    let stream = bus.js().get_stream(stream_name).await.map_err(|e| stream_error(&e))?;
    stream.delete_consumer(consumer).await.map_err(|e| stream_error(&e))?;
    Ok(())
}
