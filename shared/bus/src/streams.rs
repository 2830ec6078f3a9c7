//! The four streams, created idempotently by whichever service starts first (on a
//! secured server: by the admin, see [`crate::provision`]; services only check them).

use crate::error::BusError;
use crate::subjects::*;
use crate::bus::Bus;
use crate::read::Entry;
use async_nats::jetstream::stream;
use std::time::Duration;

/// Settings of the four streams, with limits that fit each one's role.
#[derive(Clone, Debug)]
pub struct StreamSettings {
    /// Copies of each stream: 1 on one server, 3 on a cluster to survive a node loss.
    pub replicas: usize,
    /// How long JetStream remembers a `Nats-Msg-Id` to drop a repeat. Long enough to cover
    /// a service's crash and restart, so a restarted writer's repeats are dropped.
    pub duplicate_window: Duration,
    /// Keep logs in memory instead of on disk (tests and benchmarks only).
    pub in_memory: bool,
    /// Largest message a log (input, decisions, actuation) stores: well above any
    /// genuine entry (ingest refuses input over 64 KiB before it gets here).
    pub log_message_bytes_max: i32,
    /// Dead letters: at most this many bytes, then the oldest are dropped, so a flood of
    /// refused input can never fill the store the logs need.
    pub dead_bytes_max: i64,
    /// Dead letters older than this are dropped.
    pub dead_age_max: Duration,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            replicas: 1,
            duplicate_window: Duration::from_secs(600),
            in_memory: false,
            log_message_bytes_max: 1 << 20,
            dead_bytes_max: 256 << 20,
            dead_age_max: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

impl StreamSettings {
    /// A log: the system of record. It never drops old entries to make room (a full
    /// log refuses new ones, and ingest answers `unavailable`), so a genuine log has no
    /// gaps and `qm audit` can report any as tampering.
    fn log(&self, name: &str, subjects: &str) -> stream::Config {
        stream::Config {
            discard: stream::DiscardPolicy::New,
            max_message_size: self.log_message_bytes_max,
            ..self.base(name, subjects)
        }
    }

    /// Dead letters: for operators to look at, bounded in bytes and age, oldest first out.
    fn dead(&self) -> stream::Config {
        stream::Config {
            discard: stream::DiscardPolicy::Old,
            max_bytes: self.dead_bytes_max,
            max_age: self.dead_age_max,
            max_message_size: self.log_message_bytes_max,
            ..self.base(DEAD_STREAM, DEAD_SUBJECTS)
        }
    }

    fn base(&self, name: &str, subjects: &str) -> stream::Config {
        stream::Config {
            name: name.to_owned(),
            subjects: vec![subjects.to_owned()],
            num_replicas: self.replicas,
            duplicate_window: self.duplicate_window,
            storage: if self.in_memory { stream::StorageType::Memory } else { stream::StorageType::File },
            allow_direct: true,
            ..Default::default()
        }
    }
}

/// Creates (or updates to the expected config) `QM_INPUT`, `QM_DECISIONS`,
/// `QM_ACTUATION` and `QM_DEAD`. `QM_INPUT` sources `QM_ACTUATION`, which gives the
/// policy a single total order over input and actuation reports.
pub async fn ensure_streams(bus: &Bus, settings: &StreamSettings) -> Result<(), BusError> {
    for config in configs(settings) {
        ensure_stream(bus, config).await?;
    }
    Ok(())
}

/// The four streams' configs, in creation order (a source before the stream sourcing it).
fn configs(settings: &StreamSettings) -> [stream::Config; 4] {
    let actuation = settings.log(ACTUATION_STREAM, ACTUATION_SUBJECTS);
    let mut input = settings.log(INPUT_STREAM, INPUT_SUBJECTS);
    input.sources = Some(vec![stream::Source { name: ACTUATION_STREAM.to_owned(), ..Default::default() }]);
    let decisions = settings.log(DECISIONS_STREAM, DECISION_SUBJECTS);
    [actuation, input, decisions, settings.dead()]
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
        if same_shape(&info.config, &config) {
            if !same_limits(&info.config, &config) {
                tracing::info!(stream = %name, "stream limits differ from this service's defaults; keeping the provisioned ones");
            }
            return Ok(());
        }
    }
    bus.js().create_or_update_stream(config.clone()).await.map_err(|e| {
        stream_error(&format!("{e} (on a secured server only the admin creates or changes streams: qm creds apply)"))
    })?;
    Ok(())
}

/// Whether a stream is the one `wanted` describes: subjects, sources, storage, copies,
/// dedup window and what it discards when full. Only these make a service refuse it.
fn same_shape(existing: &stream::Config, wanted: &stream::Config) -> bool {
    let sources = |c: &stream::Config| c.sources.iter().flatten().map(|s| s.name.clone()).collect::<Vec<_>>();
    existing.subjects == wanted.subjects
        && existing.num_replicas == wanted.num_replicas
        && existing.duplicate_window == wanted.duplicate_window
        && existing.storage == wanted.storage
        && existing.discard == wanted.discard
        && existing.allow_direct == wanted.allow_direct
        && sources(existing) == sources(wanted)
}

/// Whether a stream has the limits `wanted` sets. They are the admin's to choose (`qm
/// creds apply`), as the lease TTL is: a service with other defaults keeps them.
fn same_limits(existing: &stream::Config, wanted: &stream::Config) -> bool {
    // The server reports "no limit" as -1 where a config left at default says 0.
    let limit = |n: i64| if n <= 0 { -1 } else { n };
    limit(existing.max_bytes) == limit(wanted.max_bytes)
        && existing.max_age == wanted.max_age
        && limit(existing.max_messages) == limit(wanted.max_messages)
        && limit(existing.max_message_size.into()) == limit(wanted.max_message_size.into())
}

/// Sequence of the last message in a stream (0 when empty).
pub async fn last_sequence(bus: &Bus, stream_name: &str) -> Result<u64, BusError> {
    Ok(info(bus, stream_name).await?.state.last_sequence)
}

/// A stream's state now: messages held, first and last sequence.
pub(crate) async fn state(bus: &Bus, stream_name: &str) -> Result<stream::State, BusError> {
    Ok(info(bus, stream_name).await?.state)
}

/// Whether `stream_name` holds any message whose subject matches `filter`: tells a
/// filtered read that waits in vain (nothing matches) from one that waits on a stream
/// without a leader.
pub async fn holds_subject(bus: &Bus, stream_name: &str, filter: &str) -> Result<bool, BusError> {
    use futures::StreamExt;
    let stream_error = |e: &dyn std::fmt::Display| BusError::Stream { stream: stream_name.to_owned(), message: e.to_string() };
    let stream = bus.js().get_stream(stream_name).await.map_err(|e| stream_error(&e))?;
    let mut subjects = stream.info_with_subjects(filter).await.map_err(|e| stream_error(&e))?;
    match subjects.next().await {
        Some(Ok(_)) => Ok(true),
        Some(Err(e)) => Err(stream_error(&e)),
        None => Ok(false),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_never_drop_old_entries_and_dead_letters_are_bounded() {
        let settings = StreamSettings::default();
        let [actuation, input, decisions, dead] = configs(&settings);
        for log in [&actuation, &input, &decisions] {
            assert_eq!(log.discard, stream::DiscardPolicy::New, "{}", log.name);
            assert!(log.max_bytes <= 0 && log.max_age.is_zero() && log.max_messages <= 0, "{} drops entries", log.name);
            assert!(log.max_message_size > 64 << 10, "{} refuses genuine entries", log.name);
        }
        assert_eq!(dead.discard, stream::DiscardPolicy::Old);
        assert!(dead.max_bytes > 0 && !dead.max_age.is_zero());
        assert_eq!(input.sources.iter().flatten().map(|s| s.name.as_str()).collect::<Vec<_>>(), [ACTUATION_STREAM]);
    }

    #[test]
    fn other_limits_are_kept_but_another_shape_is_not() {
        let [_, input, _, dead] = configs(&StreamSettings::default());
        let admins = stream::Config { max_bytes: 1 << 30, max_age: Duration::from_secs(60), ..dead.clone() };
        assert!(same_shape(&admins, &dead) && !same_limits(&admins, &dead));
        let dropping_input = stream::Config { discard: stream::DiscardPolicy::Old, ..input.clone() };
        assert!(!same_shape(&dropping_input, &input));
        let unsourced = stream::Config { sources: None, ..input.clone() };
        assert!(!same_shape(&unsourced, &input));
    }
}
