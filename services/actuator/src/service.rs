//! The NATS shell around a [`Backend`].

use futures::{FutureExt, StreamExt};
use qm_bus::publish::PendingAck;
use qm_bus::read::Delivery;
use std::collections::VecDeque;
use qm_bus::clock::Clock;
use qm_bus::{publish, read, subjects, Bus};
use qm_backend::{Backend, Effect};
use qm_model::{decode, ActuationEvent, DecisionRecorded, Envelope};
use qm_runtime::metrics::LabeledCounter;
use qm_runtime::{Bootstrap, ServiceSettings};
use std::collections::HashSet;
use std::future::Future;
use uuid::Uuid;

/// The actuator's settings.
#[derive(Clone, Debug)]
pub struct ActuatorConfig {
    pub service: ServiceSettings,
    /// Durable consumer name; two actuators with one name share the work.
    pub consumer: String,
    /// Decisions delivered but not yet acked, at most.
    pub ack_pending_max: i64,
    pub source: String,
}

impl Default for ActuatorConfig {
    fn default() -> Self {
        Self {
            service: ServiceSettings::named("qm-actuator"),
            consumer: "qm-actuator".into(),
            ack_pending_max: 1_024,
            source: "actuator".into(),
        }
    }
}

/// Applies decisions to `backend` until `shutdown` resolves.
pub async fn run<B: Backend, C: Clock>(
    config: ActuatorConfig,
    mut backend: B,
    clock: C,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let mut started = Bootstrap::start(&config.service, 1_024).await?;
    let outcomes = LabeledCounter::register(&mut started.registry, "qm_actuator_decisions", "Decisions handled, by outcome", "outcome");
    let bus = started.serve_metrics();
    let mut reported = rebuild(&bus, &mut backend).await?;
    tracing::info!(backend = backend.name(), decisions_reported = reported.len(), "actuator ready");
    let mut deliveries = Box::pin(read::durable(&bus, subjects::DECISIONS_STREAM, &config.consumer, config.ack_pending_max).await?);
    // Reports are published pipelined; a decision is acked only once its report is
    // stored, so a crash never loses an application, only repeats one the reported set skips.
    let mut unsettled: VecDeque<(Option<PendingAck>, Delivery)> = VecDeque::new();
    let inflight_max = usize::try_from(config.ack_pending_max).unwrap_or(1).max(1);
    tokio::pin!(shutdown);
    loop {
        let next = if unsettled.is_empty() {
            tokio::select! {
                next = deliveries.next() => next,
                _ = &mut shutdown => break,
            }
        } else {
            match deliveries.next().now_or_never() {
                Some(next) => next,
                // Nothing more ready: settle what is in flight before waiting.
                None => {
                    settle(&mut unsettled, 0).await?;
                    continue;
                }
            }
        };
        let Some(delivery) = next else { break };
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
                unsettled.push_back((None, delivery));
                continue;
            }
        };
        let mut report_ack = None;
        if envelope.body.advisory {
            outcomes.inc("advisory_skipped");
        } else if reported.contains(&envelope.id) {
            outcomes.inc("already_applied");
        } else {
            match Effect::of(envelope.id, &envelope.body) {
                Some(effect) => {
                    let outcome = backend.apply(&effect).await;
                    if let Err(e) = &outcome {
                        tracing::warn!(backend = backend.name(), kind = e.kind(), error = %e, decision = %envelope.id, "actuation failed");
                    }
                    outcomes.inc(if outcome.is_ok() { "applied" } else { "failed" });
                    let event = qm_backend::report(&effect, &outcome);
                    report_ack = Some(report(&bus, &clock, &config.source, envelope.id, event).await?);
                }
                None => outcomes.inc("nothing_to_do"),
            }
            reported.insert(envelope.id);
        }
        unsettled.push_back((report_ack, delivery));
        if unsettled.len() >= inflight_max {
            settle(&mut unsettled, inflight_max / 2).await?;
        }
    }
    settle(&mut unsettled, 0).await?;
    tracing::info!("actuator stopped");
    Ok(())
}

/// Sends an actuation event without waiting for its ack. The message id is the decision
/// id, so a decision re-applied after a crash between apply and ack is reported once.
async fn report<C: Clock>(
    bus: &Bus,
    clock: &C,
    source: &str,
    decision_id: Uuid,
    event: ActuationEvent,
) -> anyhow::Result<PendingAck> {
    let subject = subjects::actuation(event_workload(&event));
    let envelope = Envelope::new(Uuid::now_v7(), clock.now_ms(), source, Some(decision_id), event);
    Ok(publish::send(bus, subject, &format!("act:{decision_id}"), &envelope).await?)
}

/// Waits for reports to be stored, then acks their decisions, in order, until at most
/// `keep` remain in flight.
async fn settle(unsettled: &mut VecDeque<(Option<PendingAck>, Delivery)>, keep: usize) -> anyhow::Result<()> {
    while unsettled.len() > keep {
        let Some((report_ack, delivery)) = unsettled.pop_front() else { break };
        if let Some(report_ack) = report_ack {
            report_ack.stored().await?;
        }
        delivery.ack().await?;
    }
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
async fn rebuild(bus: &Bus, backend: &mut impl Backend) -> anyhow::Result<HashSet<Uuid>> {
    let mut reported = HashSet::new();
    for entry in read::read_all(bus, subjects::ACTUATION_STREAM, 1).await? {
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
