//! The NATS shell around a [`Backend`].

use futures::{FutureExt, StreamExt};
use qm_bus::publish::PendingAck;
use qm_bus::read::Delivery;
use qm_bus::clock::Clock;
use qm_bus::{publish, read, subjects, Bus};
use crate::pipeline::{Handling, Pipeline};
use qm_backend::Backend;
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
    /// The identities whose keys sign the logs (`trust.json` of `qm init`). When set,
    /// a decision not signed by the policy is refused: dead-lettered, counted, logged,
    /// and nothing is applied.
    pub trust: Option<qm_trust::Registry>,
}

impl Default for ActuatorConfig {
    fn default() -> Self {
        Self {
            service: ServiceSettings::named("qm-actuator"),
            consumer: "qm-actuator".into(),
            ack_pending_max: 1_024,
            source: "actuator".into(),
            trust: None,
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
    let reported = rebuild(&bus, &mut backend).await?;
    tracing::info!(backend = backend.name(), decisions_reported = reported.len(), "actuator ready");
    let mut deliveries = Box::pin(read::durable(&bus, subjects::DECISIONS_STREAM, &config.consumer, config.ack_pending_max).await?);
    let inflight_max = usize::try_from(config.ack_pending_max).unwrap_or(1);
    let mut pipeline: Pipeline<Unsettled> = Pipeline::new(reported, inflight_max);
    tokio::pin!(shutdown);
    loop {
        let next = if pipeline.is_settled() {
            tokio::select! {
                next = deliveries.next() => next,
                _ = &mut shutdown => break,
            }
        } else {
            match deliveries.next().now_or_never() {
                Some(next) => next,
                // Nothing more ready: settle what is in flight before waiting.
                None => {
                    settle(&mut pipeline, usize::MAX).await?;
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
        if let Some(refusal) = config.trust.as_ref().and_then(|trust| delivery.entry.verify(trust).err()) {
            outcomes.inc("refused_signature");
            tracing::error!(sequence = delivery.entry.sequence, subject = %delivery.entry.subject, error = %refusal, "decision refused: not signed by the policy; nothing applied");
            dead_letter(&bus, &clock, &config.source, &delivery.entry, &refusal).await;
            let due = pipeline.hold(None, (None, delivery));
            settle(&mut pipeline, due).await?;
            continue;
        }
        let envelope = decode::<DecisionRecorded>(&delivery.entry.payload)
            // The policy wrote it, so this is a bug or a newer schema: keep it visible, move on.
            .map_err(|e| tracing::error!(error = %e, sequence = delivery.entry.sequence, "undecodable decision skipped"))
            .ok();
        let (workload, report_ack) = match pipeline.on_delivery(envelope.as_ref()) {
            Handling::Skip(why) => {
                outcomes.inc(why.label());
                (None, None)
            }
            Handling::Stale(team, event) => {
                outcomes.inc("stale");
                tracing::warn!(decision = %event.decision_id(), workload = event_workload(&event), "decision older than one already applied for its workload: not applied");
                let workload = event_workload(&event).into();
                let earlier = pipeline.settle_before(&workload);
                settle(&mut pipeline, earlier).await?;
                (Some(workload), Some(report(&bus, &clock, &config.source, &team, event.decision_id(), event).await?))
            }
            Handling::Apply(effect) => {
                // Every earlier report about this workload stored first (see pipeline.rs).
                let earlier = pipeline.settle_before(&effect.workload);
                settle(&mut pipeline, earlier).await?;
                let outcome = backend.apply(&effect).await;
                if let Err(e) = &outcome {
                    tracing::warn!(backend = backend.name(), kind = e.kind(), error = %e, decision = %effect.decision_id, "actuation failed");
                    pipeline.apply_failed(&effect);
                }
                outcomes.inc(if outcome.is_ok() { "applied" } else { "failed" });
                let event = qm_backend::report(&effect, &outcome);
                (Some(effect.workload.clone()), Some(report(&bus, &clock, &config.source, &effect.team, effect.decision_id, event).await?))
            }
        };
        let due = pipeline.hold(workload, (report_ack, delivery));
        settle(&mut pipeline, due).await?;
    }
    settle(&mut pipeline, usize::MAX).await?;
    tracing::info!("actuator stopped");
    Ok(())
}

/// A handled decision waiting for its ack: its report's pending ack, if it has one.
type Unsettled = (Option<PendingAck>, Delivery);

/// Sends an actuation event without waiting for its ack, under the effect's team (so the
/// team may read its own grants). The message id is the decision id, so a decision
/// re-applied after a crash between apply and ack is reported once.
async fn report<C: Clock>(
    bus: &Bus,
    clock: &C,
    source: &str,
    team: &qm_model::TeamId,
    decision_id: Uuid,
    event: ActuationEvent,
) -> anyhow::Result<PendingAck> {
    let subject = subjects::actuation(team.as_str(), event_workload(&event));
    let envelope = Envelope::new(Uuid::now_v7(), clock.now_ms(), source, Some(decision_id), event);
    Ok(publish::send(bus, subject, &format!("act:{decision_id}"), &envelope).await?)
}

/// Keeps a refused decision in `QM_DEAD` with the reason; if even that fails, the error
/// log line and the metric still tell.
async fn dead_letter<C: Clock>(bus: &Bus, clock: &C, source: &str, entry: &read::Entry, refusal: &qm_trust::SignatureError) {
    let body = qm_model::InputRejected {
        subject: entry.subject.clone(),
        error: format!("unsigned_decision: {refusal}"),
        payload: entry.payload.to_vec(),
    };
    let id = Uuid::now_v7();
    let envelope = Envelope::new(id, clock.now_ms(), source, None, body);
    if let Err(e) = publish::publish(bus, subjects::dead("decision"), &id.to_string(), &envelope).await {
        tracing::error!(error = %e, "could not keep the refused decision as a dead letter");
    }
}

/// Settles the `count` oldest deliveries (all, if fewer): waits for each report to be
/// stored, then acks its decision, in order.
async fn settle(pipeline: &mut Pipeline<Unsettled>, count: usize) -> anyhow::Result<()> {
    for _ in 0..count {
        let Some((report_ack, delivery)) = pipeline.next_to_settle() else { break };
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
