//! The NATS shell around [`crate::backend`].

use crate::backend::{Backend, BackendConfig};
use futures::StreamExt;
use qm_bus::clock::Clock;
use qm_bus::connect::{connect, jetstream as js_context, ConnectSettings};
use qm_bus::{publish, read, subjects, StreamSettings};
use qm_model::{decode, ActuationEvent, DecisionRecorded, Envelope};
use qm_runtime::metrics::{spawn_endpoint, LabeledCounter, Registry};
use std::collections::HashSet;
use std::future::Future;
use uuid::Uuid;

/// The actuator's settings.
#[derive(Clone, Debug)]
pub struct ActuatorConfig {
    pub nats: ConnectSettings,
    pub streams: StreamSettings,
    pub backend: BackendConfig,
    /// Durable consumer name; two actuators with one name share the work.
    pub consumer: String,
    /// Decisions delivered but not yet acked, at most.
    pub ack_pending_max: i64,
    pub source: String,
    /// Where to serve `/metrics` and `/healthz`; `None` serves nothing.
    pub metrics_addr: Option<std::net::SocketAddr>,
}

impl Default for ActuatorConfig {
    fn default() -> Self {
        Self {
            nats: ConnectSettings { name: "qm-actuator".into(), ..Default::default() },
            streams: StreamSettings::default(),
            backend: BackendConfig::Sim,
            consumer: "qm-actuator".into(),
            ack_pending_max: 1_024,
            source: "actuator".into(),
            metrics_addr: None,
        }
    }
}

/// Applies decisions until `shutdown` resolves.
pub async fn run<C: Clock>(config: ActuatorConfig, clock: C, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let client = connect(&config.nats).await?;
    let js = js_context(client.clone(), 256);
    qm_bus::streams::ensure_streams(&js, &config.streams).await?;
    let mut registry = Registry::default();
    let outcomes = LabeledCounter::register(&mut registry, "qm_actuator_decisions", "Decisions handled, by outcome", "outcome");
    spawn_endpoint(config.metrics_addr, registry);
    let mut backend = Backend::new(&config.backend);
    let mut reported = rebuild(&js, &mut backend).await?;
    tracing::info!(decisions_reported = reported.len(), "actuator ready");
    let mut deliveries = Box::pin(read::durable(&js, subjects::DECISIONS_STREAM, &config.consumer, config.ack_pending_max).await?);
    tokio::pin!(shutdown);
    loop {
        let delivery = tokio::select! {
            next = deliveries.next() => match next {
                Some(delivery) => delivery,
                None => break,
            },
            _ = &mut shutdown => break,
        };
        let delivery = match delivery {
            Ok(delivery) => delivery,
            Err(e) => {
                tracing::warn!(error = %e, "decision consumer error");
                continue;
            }
        };
        let envelope = match decode::<DecisionRecorded>(&delivery.entry.payload) {
            Ok(envelope) => envelope,
            Err(e) => {
                // The policy wrote it, so this is a bug or a newer schema: keep it visible, move on.
                tracing::error!(error = %e, sequence = delivery.entry.sequence, "undecodable decision skipped");
                delivery.ack().await?;
                continue;
            }
        };
        if envelope.body.advisory {
            outcomes.inc("advisory_skipped");
        } else if reported.contains(&envelope.id) {
            outcomes.inc("already_applied");
        } else {
            match backend.apply(envelope.id, &envelope.body).await {
                Some(event) => {
                    outcomes.inc(if matches!(event, ActuationEvent::ActuationFailed { .. }) { "failed" } else { "applied" });
                    report(&js, &clock, &config.source, envelope.id, event).await?;
                }
                None => outcomes.inc("nothing_to_do"),
            }
            reported.insert(envelope.id);
        }
        delivery.ack().await?;
    }
    tracing::info!("actuator stopped");
    Ok(())
}

/// Publishes an actuation event. The message id is the decision id, so a decision
/// re-applied after a crash between apply and ack is reported once.
async fn report<C: Clock>(
    js: &async_nats::jetstream::Context,
    clock: &C,
    source: &str,
    decision_id: Uuid,
    event: ActuationEvent,
) -> anyhow::Result<()> {
    let subject = subjects::actuation(event_workload(&event));
    let envelope = Envelope::new(Uuid::now_v7(), clock.now_ms(), source, Some(decision_id), event);
    publish::publish(js, subject, &format!("act:{decision_id}"), &envelope).await?;
    Ok(())
}

fn event_workload(event: &ActuationEvent) -> &str {
    match event {
        ActuationEvent::GrantApplied { workload, .. }
        | ActuationEvent::DrainRequested { workload, .. }
        | ActuationEvent::GrantRevoked { workload, .. }
        | ActuationEvent::ActuationFailed { workload, .. } => workload.as_str(),
    }
}

/// Reads every earlier report: which decisions are done, and what the backend holds.
async fn rebuild(js: &async_nats::jetstream::Context, backend: &mut Backend) -> anyhow::Result<HashSet<Uuid>> {
    let mut reported = HashSet::new();
    for entry in read::read_all(js, subjects::ACTUATION_STREAM, 1).await? {
        match decode::<ActuationEvent>(&entry.payload) {
            Ok(envelope) => {
                reported.insert(envelope.body.decision_id());
                backend.recall(&envelope.body);
            }
            Err(e) => tracing::error!(error = %e, sequence = entry.sequence, "undecodable actuation event skipped"),
        }
    }
    Ok(reported)
}
