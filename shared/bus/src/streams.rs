//! The four streams, created idempotently by whichever service starts first (on a
//! secured server: by the admin, see [`crate::provision`]; services only check them).

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
        ensure_stream(bus, config).await?;
    }
    Ok(())
}

/// Reads the stream's config first and writes only if it is missing or differs, so a
/// service on a secured server (allowed to read stream info, never to create or change
/// a stream) starts when the admin has provisioned the streams, and says which one is
/// missing or different otherwise.
async fn ensure_stream(bus: &Bus, config: stream::Config) -> Result<(), BusError> {
    let name = config.name.clone();
    let stream_error = |e: &dyn std::fmt::Display| BusError::Stream { stream: name.clone(), message: e.to_string() };
    if let Ok(mut existing) = bus.js().get_stream(&name).await {
        let info = existing.info().await.map_err(|e| stream_error(&e))?;
        if same_settings(&info.config, &config) {
            return Ok(());
        }
    }
    bus.js().create_or_update_stream(config.clone()).await.map_err(|e| {
        stream_error(&format!("{e} (on a secured server only the admin creates or changes streams: qm creds apply)"))
    })?;
    Ok(())
}

/// Whether a stream already has every setting `wanted` sets (the server fills in the rest).
fn same_settings(existing: &stream::Config, wanted: &stream::Config) -> bool {
    let sources = |c: &stream::Config| c.sources.iter().flatten().map(|s| s.name.clone()).collect::<Vec<_>>();
    // The server reports "no limit" as -1 where a config left at default says 0.
    let limit = |n: i64| if n <= 0 { -1 } else { n };
    existing.subjects == wanted.subjects
        && existing.num_replicas == wanted.num_replicas
        && existing.duplicate_window == wanted.duplicate_window
        && existing.storage == wanted.storage
        && existing.discard == wanted.discard
        && existing.allow_direct == wanted.allow_direct
        && limit(existing.max_bytes) == limit(wanted.max_bytes)
        && existing.max_age == wanted.max_age
        && limit(existing.max_messages) == limit(wanted.max_messages)
        && sources(existing) == sources(wanted)
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
    let signature = crate::read::signature_of(Some(&message.headers));
    Ok(Entry { sequence: message.sequence, subject: message.subject.to_string(), payload: message.payload, pending: 0, signature })
}

/// Deletes a durable consumer, so its reader starts over (operators; tests of recovery).
pub async fn delete_consumer(bus: &Bus, stream_name: &str, consumer: &str) -> Result<(), BusError> {
    let stream_error = |e: &dyn std::fmt::Display| BusError::Stream { stream: stream_name.to_owned(), message: e.to_string() };
    let stream = bus.js().get_stream(stream_name).await.map_err(|e| stream_error(&e))?;
    stream.delete_consumer(consumer).await.map_err(|e| stream_error(&e))?;
    Ok(())
}
