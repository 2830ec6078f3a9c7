//! The NATS shell around [`crate::validate`].

use crate::known::Known;
use crate::rate::{limited_team, RateSettings, TeamLimiter};
use crate::validate::{request_kind, validate, Rejection};
use futures::StreamExt;
use qm_bus::clock::Clock;
use qm_bus::request::{respond, serve, Incoming};
use qm_bus::{publish, read, subjects, Bus};
use qm_runtime::metrics::LabeledCounter;
use qm_runtime::{Bootstrap, ServiceSettings};
use qm_model::limits::{IDEMPOTENCY_KEY_BYTES_MAX, MESSAGE_BYTES_MAX, SOURCE_BYTES_MAX};
use qm_model::{
    decode, decode_value, encode_value, Envelope, IngestReply, InputEvent, InputRejected, RejectCode,
    IDEMPOTENCY_KEY_HEADER, SCHEMA_VERSION, SCHEMA_VERSION_HEADER, SOURCE_HEADER,
};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Ingest's settings.
#[derive(Clone, Debug)]
pub struct IngestConfig {
    pub service: ServiceSettings,
    /// Requests handled at once; also bounds publishes awaiting their ack.
    pub inflight_max: usize,
    /// How often a `Tick` is written so time-based rules fire; zero disables ticks.
    pub tick_interval: Duration,
    /// Name recorded as the source of ticks and of input whose sender gave none.
    pub source: String,
    /// How fast each team may send demand, usage and finish.
    pub team_rate: RateSettings,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            service: ServiceSettings::named("qm-ingest"),
            inflight_max: 512,
            tick_interval: Duration::from_secs(1),
            source: "ingest".into(),
            team_rate: RateSettings::default(),
        }
    }
}

struct Shared<C> {
    bus: Bus,
    known: Known,
    limiter: TeamLimiter,
    clock: C,
    source: String,
    /// Requests by outcome: accepted, duplicate, or the reject code.
    requests: LabeledCounter,
}

/// Serves `qm.in.>` until `shutdown` resolves, then drains in-flight requests.
pub async fn run<C: Clock>(config: IngestConfig, clock: C, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let mut started = Bootstrap::start(&config.service, config.inflight_max).await?;
    let requests = LabeledCounter::register(&mut started.registry, "qm_ingest_requests", "Requests by outcome", "outcome");
    let bus = started.serve_metrics();
    let shared = Arc::new(Shared { bus: bus.clone(), known: Known::default(), limiter: TeamLimiter::new(config.team_rate), clock, source: config.source.clone(), requests });
    rebuild_known(&shared).await?;
    tracing::info!(url = %config.service.nats.url, "ingest ready");

    let requests = serve(&bus, subjects::INGEST_REQUESTS, "qm-ingest").await?;
    let ticks = tick_loop(shared.clone(), config.tick_interval);
    let serve = requests.for_each_concurrent(config.inflight_max, |request| {
        let shared = shared.clone();
        async move { handle(&shared, request).await }
    });
    tokio::select! {
        _ = serve => tracing::warn!("request subscription ended"),
        _ = ticks => {}
        _ = shutdown => tracing::info!("ingest shutting down"),
    }
    bus.flush().await.ok();
    Ok(())
}

/// How long start-up waits for the next entry of a filtered read of the input log.
const READ_WAIT: Duration = Duration::from_secs(10);

/// Learns declared teams, pools and workload owners from the log.
async fn rebuild_known<C: Clock>(shared: &Shared<C>) -> anyhow::Result<()> {
    let known_subjects = ["qm.input.team.>", "qm.input.pool.>", "qm.input.demand.>"];
    let last = qm_bus::streams::last_sequence(&shared.bus, subjects::INPUT_STREAM).await?;
    if last == 0 {
        return Ok(());
    }
    for filter in known_subjects {
        let mut entries = Box::pin(read::follow_filtered(&shared.bus, subjects::INPUT_STREAM, 1, Some(filter)).await?);
        // An ordered consumer reports how many remain; stop when caught up. A wait that
        // times out is the end only if nothing matches the filter: after a restart of the
        // cluster the stream may have no leader yet, and a known set missing teams or pools
        // would reject their valid input as `unknown` until ingest restarted (found by
        // scripts/chaos.sh). So it fails start-up instead, and the supervisor retries.
        let mut remaining = true;
        let mut read = 0u64;
        while remaining {
            let next = tokio::time::timeout(READ_WAIT, entries.next()).await;
            let entry = match next {
                Ok(Some(entry)) => entry?,
                Ok(None) => anyhow::bail!("reading {filter} from {}: the consumer ended", subjects::INPUT_STREAM),
                Err(_) if read == 0 && !qm_bus::streams::holds_subject(&shared.bus, subjects::INPUT_STREAM, filter).await? => break,
                Err(_) => anyhow::bail!("reading {filter} from {}: no entry within {READ_WAIT:?} after {read} (no stream leader?)", subjects::INPUT_STREAM),
            };
            read += 1;
            remaining = entry.pending > 0;
            if let Ok(envelope) = decode::<InputEvent>(&entry.payload) {
                shared.known.observe(&envelope.body);
            }
        }
    }
    Ok(())
}

async fn handle<C: Clock>(shared: &Shared<C>, request: Incoming) {
    if !request.wants_reply() {
        // Fire-and-forget input still goes through; the sender just hears nothing.
        tracing::debug!(subject = %request.subject, "request without reply subject");
        let _ = accept(shared, &request).await;
        return;
    };
    let reply = match accept(shared, &request).await {
        Ok(reply) => {
            let duplicate = matches!(reply, IngestReply::Accepted { duplicate: true, .. });
            shared.requests.inc(if duplicate { "duplicate" } else { "accepted" });
            reply
        }
        Err(rejection) => {
            shared.requests.inc(&format!("{:?}", rejection.code).to_lowercase());
            tracing::debug!(code = ?rejection.code, message = %rejection.message, "input rejected");
            dead_letter(shared, &request, &rejection).await;
            IngestReply::Rejected { code: rejection.code, message: rejection.message }
        }
    };
    match encode_value(&reply) {
        Ok(bytes) => {
            if let Err(e) = respond(&shared.bus, &request, bytes).await {
                tracing::warn!(error = %e, "could not send reply");
            }
        }
        Err(e) => tracing::error!(error = %e, "could not encode reply"),
    }
}

/// Validates and stores one request; the `Err` is what the sender is told.
async fn accept<C: Clock>(shared: &Shared<C>, request: &Incoming) -> Result<IngestReply, Rejection> {
    let reject = |code, message: String| Rejection { code, message };
    check_rate(shared, &request.subject)?;
    if request.payload.len() > MESSAGE_BYTES_MAX {
        return Err(reject(
            RejectCode::TooLarge,
            format!("message of {} bytes exceeds the limit of {MESSAGE_BYTES_MAX}", request.payload.len()),
        ));
    }
    check_schema_version(request.header(SCHEMA_VERSION_HEADER))?;
    let event: InputEvent = decode_value(&request.payload).map_err(|e| reject(RejectCode::Malformed, e.to_string()))?;
    let key = request.header(IDEMPOTENCY_KEY_HEADER);
    if key.as_ref().is_some_and(|k| k.is_empty() || k.len() > IDEMPOTENCY_KEY_BYTES_MAX) {
        return Err(reject(
            RejectCode::OutOfRange,
            format!("idempotency key must be 1 to {IDEMPOTENCY_KEY_BYTES_MAX} bytes"),
        ));
    }
    let source = request.header(SOURCE_HEADER);
    check_source(source)?;
    let accepted = validate(&request.subject, event, &shared.known)?;
    let source = source.map_or_else(|| shared.source.clone(), str::to_owned);
    let id = Uuid::now_v7();
    let message_id = match &key {
        Some(key) => format!("in:{}:{key}", accepted.key_scope),
        None => id.to_string(),
    };
    let envelope = Envelope::new(id, shared.clock.now_ms(), source, None, accepted.event);
    let unavailable = |e: qm_bus::BusError| reject(RejectCode::Unavailable, e.to_string());
    let stored = publish::publish(&shared.bus, accepted.subject, &message_id, &envelope).await.map_err(unavailable)?;
    if !stored.duplicate {
        shared.known.observe(&envelope.body);
        return Ok(IngestReply::Accepted { event_id: id, sequence: stored.sequence, duplicate: false });
    }
    // A repeat: the same request again is answered with the original's id; another
    // request under a used key is a sender bug, refused rather than silently dropped.
    let event_id = match original(shared, stored.sequence).await {
        Some(original) if original.body != envelope.body => {
            return Err(reject(
                RejectCode::Conflict,
                format!(
                    "idempotency key {:?} was used for a different request (stored at input sequence {})",
                    key.unwrap_or_default(),
                    stored.sequence
                ),
            ))
        }
        Some(original) => original.id,
        None => id,
    };
    Ok(IngestReply::Accepted { event_id, sequence: stored.sequence, duplicate: true })
}

/// A declared team over its rate is refused before its request costs a decode or an
/// append (undeclared teams are refused as `unknown` later, and get no bucket).
fn check_rate<C: Clock>(shared: &Shared<C>, subject: &str) -> Result<(), Rejection> {
    let Some(team) = limited_team(subject) else { return Ok(()) };
    if !shared.known.has_team(team) || shared.limiter.allow(team, std::time::Instant::now()) {
        return Ok(());
    }
    let RateSettings { per_s, burst } = shared.limiter.settings();
    Err(Rejection {
        code: RejectCode::RateLimited,
        message: format!("team {team} sent more than {per_s} requests/s (burst {burst}): retry later with the same idempotency key"),
    })
}

/// Requests carry their body's schema version in a header (missing = 1), so that a
/// sender can use a newer request shape and an older ingest refuses it by name.
fn check_schema_version(value: Option<&str>) -> Result<(), Rejection> {
    let Some(value) = value else { return Ok(()) };
    let version: u16 = value.trim().parse().map_err(|_| Rejection {
        code: RejectCode::Malformed,
        message: format!("header {SCHEMA_VERSION_HEADER} = {value:?} is not a version number"),
    })?;
    if version == 0 || version > SCHEMA_VERSION {
        return Err(Rejection {
            code: RejectCode::UnsupportedVersion,
            message: format!("request schema version {version}: this ingest reads versions 1 to {SCHEMA_VERSION}"),
        });
    }
    Ok(())
}

/// `Qm-Source` is recorded in every stored envelope: bounded, and plain enough to log.
fn check_source(value: Option<&str>) -> Result<(), Rejection> {
    let Some(value) = value else { return Ok(()) };
    let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '@');
    if value.is_empty() || value.len() > SOURCE_BYTES_MAX || !value.chars().all(valid_char) {
        return Err(Rejection {
            code: RejectCode::OutOfRange,
            message: format!("header {SOURCE_HEADER} must be 1 to {SOURCE_BYTES_MAX} characters of A-Z a-z 0-9 - _ . : @"),
        });
    }
    Ok(())
}

/// An event already stored, for answering a repeat with the original's id.
async fn original<C: Clock>(shared: &Shared<C>, sequence: u64) -> Option<Envelope<InputEvent>> {
    let entry = qm_bus::streams::get(&shared.bus, subjects::INPUT_STREAM, sequence).await.ok()?;
    decode::<InputEvent>(&entry.payload).ok()
}

/// Bytes of a rate-limited request kept in its dead letter.
const RATE_LIMITED_KEPT_BYTES: usize = 256;

/// Keeps a refused request in `QM_DEAD`. If even that fails, the error is logged: the
/// sender has its error reply either way.
async fn dead_letter<C: Clock>(shared: &Shared<C>, request: &Incoming, rejection: &Rejection) {
    let kind = request_kind(&request.subject);
    // A flood over its rate keeps only enough of each request to tell what it was.
    let keep_max = if rejection.code == RejectCode::RateLimited { RATE_LIMITED_KEPT_BYTES } else { MESSAGE_BYTES_MAX };
    let keep = request.payload.len().min(keep_max);
    let body = InputRejected {
        subject: request.subject.clone(),
        error: format!("{:?}: {}", rejection.code, rejection.message),
        payload: request.payload[..keep].to_vec(),
    };
    let id = Uuid::now_v7();
    let envelope = Envelope::new(id, shared.clock.now_ms(), shared.source.clone(), None, body);
    if let Err(e) = publish::publish(&shared.bus, subjects::dead(kind), &id.to_string(), &envelope).await {
        tracing::error!(error = %e, subject = %request.subject, "could not keep dead letter");
    }
}

/// Writes a `Tick` every interval. The message id is the interval number, so several
/// ingest instances write one tick between them.
async fn tick_loop<C: Clock>(shared: Arc<Shared<C>>, interval: Duration) {
    if interval.is_zero() {
        return std::future::pending().await;
    }
    let interval_ms = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX).max(1);
    let mut timer = tokio::time::interval(interval);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        timer.tick().await;
        let now_ms = shared.clock.now_ms();
        let envelope = Envelope::new(Uuid::now_v7(), now_ms, shared.source.clone(), None, InputEvent::Tick);
        let message_id = format!("tick:{}", now_ms / interval_ms);
        if let Err(e) = publish::publish(&shared.bus, subjects::input("tick", &[]), &message_id, &envelope).await {
            tracing::warn!(error = %e, "could not write tick");
        }
    }
}
