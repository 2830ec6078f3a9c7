//! The NATS shell around the policy core.

use crate::resume::first_input_to_publish;
use futures::StreamExt;
use qm_bus::connect::{connect, jetstream as js_context, ConnectSettings};
use qm_bus::publish::{self, PendingAck};
use qm_bus::read::{self, decode_log};
use qm_bus::{subjects, StreamSettings};
use qm_core::Engine;
use qm_model::{deterministic_id, Action, DecisionRecorded, Envelope, PolicyConfig};
use qm_runtime::metrics::{spawn_endpoint, LabeledCounter, Registry};
use std::collections::VecDeque;
use std::future::Future;

/// Tag in deterministic decision ids, telling them apart from other streams' ids.
pub const DECISION_ID_TAG: u8 = 2;

/// The policy service's settings.
#[derive(Clone, Debug)]
pub struct PolicyServiceConfig {
    pub nats: ConnectSettings,
    pub streams: StreamSettings,
    /// The policy until the log publishes one.
    pub policy: PolicyConfig,
    /// Shadow mode: record decisions as advisory; the actuator applies none of them.
    pub shadow: bool,
    /// Decisions published but not yet acknowledged, at most.
    pub publish_inflight_max: usize,
    pub source: String,
    /// Where to serve `/metrics` and `/healthz`; `None` serves nothing.
    pub metrics_addr: Option<std::net::SocketAddr>,
}

impl Default for PolicyServiceConfig {
    fn default() -> Self {
        Self {
            nats: ConnectSettings { name: "qm-policy".into(), ..Default::default() },
            streams: StreamSettings::default(),
            policy: PolicyConfig::default(),
            shadow: false,
            publish_inflight_max: 512,
            source: "policy".into(),
            metrics_addr: None,
        }
    }
}

/// Rebuilds from the log, then decides on each new entry until `shutdown` resolves.
pub async fn run(config: PolicyServiceConfig, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let client = connect(&config.nats).await?;
    let js = js_context(client.clone(), config.publish_inflight_max);
    qm_bus::streams::ensure_streams(&js, &config.streams).await?;
    let inflight_max = config.publish_inflight_max.max(1);
    let publish_from = first_input_to_publish(&js, inflight_max as u64).await?;
    tracing::info!(publish_from, shadow = config.shadow, "policy rebuilding from QM_INPUT");

    let mut registry = Registry::default();
    let entries_folded = LabeledCounter::register(&mut registry, "qm_policy_log_entries", "Log entries folded, by kind", "kind");
    let decisions_recorded = LabeledCounter::register(&mut registry, "qm_policy_decisions", "Decisions recorded, by action", "action");
    spawn_endpoint(config.metrics_addr, registry);

    let mut engine = Engine::new(config.policy.clone());
    let mut entries = Box::pin(read::follow(&js, subjects::INPUT_STREAM, 1).await?);
    let mut unacked: VecDeque<PendingAck> = VecDeque::new();
    let mut caught_up = false;
    tokio::pin!(shutdown);
    loop {
        let entry = tokio::select! {
            next = entries.next() => match next {
                Some(entry) => entry?,
                None => break,
            },
            _ = &mut shutdown => break,
        };
        let record = match decode_log(&entry) {
            Ok(record) => record,
            Err(e) => {
                entries_folded.inc("undecodable");
                // Skipped the same way on replay, so decisions stay reproducible.
                tracing::error!(error = %e, sequence = entry.sequence, subject = %entry.subject, "undecodable log entry skipped");
                continue;
            }
        };
        entries_folded.inc(match record.event {
            qm_model::LogEvent::Input(_) => "input",
            qm_model::LogEvent::Actuation(_) => "actuation",
        });
        let decisions = engine.step(record.sequence, record.time_ms, &record.event);
        if record.sequence >= publish_from {
            for (index, decision) in decisions.into_iter().enumerate() {
                let index = u32::try_from(index).unwrap_or(u32::MAX);
                let id = deterministic_id(record.time_ms, DECISION_ID_TAG, record.sequence, index);
                let subject = subjects::decision(decision.team.as_str(), decision.workload.as_str());
                decisions_recorded.inc(action_name(&decision.action));
                let body = DecisionRecorded {
                    input_seq: record.sequence,
                    index,
                    policy_version: engine.policy().version.clone(),
                    advisory: config.shadow,
                    decision,
                };
                let envelope = Envelope::new(id, record.time_ms, config.source.clone(), Some(record.id), body);
                unacked.push_back(publish::send(&js, subject, &id.to_string(), &envelope).await?);
                if unacked.len() >= inflight_max {
                    settle(&mut unacked, inflight_max / 2).await?;
                }
            }
        }
        if entry.pending == 0 {
            settle(&mut unacked, 0).await?;
            if !caught_up {
                caught_up = true;
                tracing::info!(sequence = entry.sequence, "policy caught up; deciding live");
            }
        }
    }
    settle(&mut unacked, 0).await?;
    tracing::info!("policy stopped");
    Ok(())
}

/// Waits for acks until at most `keep` are outstanding. A failed ack stops the service:
/// a restart rebuilds and republishes from a safe point.
async fn settle(unacked: &mut VecDeque<PendingAck>, keep: usize) -> anyhow::Result<()> {
    while unacked.len() > keep {
        if let Some(pending) = unacked.pop_front() {
            pending.stored().await?;
        }
    }
    Ok(())
}

/// The metric label of an action.
pub fn action_name(action: &Action) -> &'static str {
    match action {
        Action::Grant { .. } => "grant",
        Action::Reclaim { .. } => "reclaim",
        Action::Revoke { .. } => "revoke",
        Action::Release { .. } => "release",
        Action::Pending { .. } => "pending",
    }
}
