//! Talking to the system under test: requests to ingest, the fleet set-up, and the
//! core NATS subscriptions that see decisions and actuation reports as they are published.

use crate::fleet::{Fleet, Request};
use crate::loops::Operation;
use crate::record::{Clock, Recorder};
use anyhow::{bail, Context};
use futures::{FutureExt, StreamExt};
use qm_model::{decode, decode_value, encode_value, ActuationEvent, DecisionRecorded, IngestReply, IDEMPOTENCY_KEY_HEADER};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long one request may take before it counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends one request to ingest.
pub async fn send(client: &async_nats::Client, request: &Request, key: Option<String>) -> Result<IngestReply, String> {
    let payload = encode_value(&request.event).map_err(|e| format!("encode: {e}"))?;
    let mut headers = async_nats::HeaderMap::new();
    if let Some(key) = key {
        headers.insert(IDEMPOTENCY_KEY_HEADER, key.as_str());
    }
    let message = async_nats::Request::new().payload(payload.into()).headers(headers).timeout(Some(REQUEST_TIMEOUT));
    let reply = client.send_request(request.subject.clone(), message).await.map_err(|e| match e.kind() {
        async_nats::RequestErrorKind::TimedOut => "timeout".to_owned(),
        async_nats::RequestErrorKind::NoResponders => "no_responders".to_owned(),
        _ => "request_failed".to_owned(),
    })?;
    decode_value(&reply.payload).map_err(|_| "bad_reply".to_owned())
}

/// The operation the load loops run: request `i` of the fleet's stream, recorded.
pub fn operation(
    client: async_nats::Client,
    fleet: Arc<Fleet>,
    recorder: Arc<Mutex<Recorder>>,
    clock: Clock,
    run_tag: String,
    keys: bool,
) -> Operation {
    Arc::new(move |i, intended: Instant| {
        let (client, fleet, recorder, run_tag) = (client.clone(), fleet.clone(), recorder.clone(), run_tag.clone());
        async move {
            let request = fleet.request(i);
            let key = keys.then(|| format!("{run_tag}-{i}"));
            let outcome = send(&client, &request, key).await;
            let latency = intended.elapsed();
            let mut recorder = recorder.lock().map_err(|_| "poisoned".to_owned())?;
            match outcome {
                Ok(IngestReply::Accepted { event_id, duplicate, .. }) => {
                    recorder.ok(latency, duplicate);
                    if let Some(up) = request.demand {
                        recorder.demand(event_id, clock.ns(intended), up);
                    }
                    Ok(())
                }
                Ok(IngestReply::Rejected { code, .. }) => {
                    let kind = format!("rejected:{code:?}");
                    recorder.error(kind.clone());
                    Err(kind)
                }
                Err(kind) => {
                    recorder.error(kind.clone());
                    Err(kind)
                }
            }
        }
        .boxed()
    })
}

/// Declares teams and pools, then every workload's first demand, and waits until the
/// policy has decided on all of them, so the measured phase starts from a steady fleet.
pub async fn set_up_fleet(client: &async_nats::Client, fleet: &Fleet, seen: &Outputs) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    // Ingest may still be starting: retry the first request until it answers.
    let first = fleet.teams().remove(0);
    let request = Request { subject: format!("qm.in.team.{}", first.id), event: qm_model::InputEvent::TeamDeclared(first), demand: None };
    loop {
        match send(client, &request, None).await {
            Ok(IngestReply::Accepted { .. }) => break,
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
            other => bail!("ingest did not accept the first team: {other:?}"),
        }
    }
    let mut requests: Vec<Request> = Vec::new();
    for team in fleet.teams().into_iter().skip(1) {
        requests.push(Request { subject: format!("qm.in.team.{}", team.id), event: qm_model::InputEvent::TeamDeclared(team), demand: None });
    }
    for pool in fleet.pools() {
        requests.push(Request { subject: format!("qm.in.pool.{}", pool.id), event: qm_model::InputEvent::PoolDeclared(pool), demand: None });
    }
    send_all(client, requests, 1).await.context("declare teams and pools")?;
    let before = seen.decisions.load(Ordering::Relaxed);
    let demands = (0..fleet.shape.workloads).map(|w| fleet.initial_demand(w)).collect();
    send_all(client, demands, 64).await.context("declare initial demand")?;
    // Each first demand gets at least one decision; then wait for the log to go quiet.
    let want = before + fleet.shape.workloads as u64;
    while seen.decisions.load(Ordering::Relaxed) < want {
        if Instant::now() > deadline {
            bail!("the policy decided on {} of {} initial demands within 60 s", seen.decisions.load(Ordering::Relaxed) - before, fleet.shape.workloads);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    seen.wait_quiet(Duration::from_millis(500), deadline).await;
    Ok(())
}

/// Sends requests, `concurrency` at a time; fails on the first refusal.
async fn send_all(client: &async_nats::Client, requests: Vec<Request>, concurrency: usize) -> anyhow::Result<()> {
    let results: Vec<_> = futures::stream::iter(requests)
        .map(|request| async move { (send(client, &request, None).await, request.subject) })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    for (reply, subject) in results {
        match reply {
            Ok(IngestReply::Accepted { .. }) => {}
            other => bail!("{subject}: {other:?}"),
        }
    }
    Ok(())
}

/// Counts of decisions and actuation reports seen on the bus, for the set-up and drain.
#[derive(Debug, Default)]
pub struct Outputs {
    pub decisions: AtomicU64,
    pub reports: AtomicU64,
    /// When the last message arrived (ns on the run clock).
    pub last_ns: AtomicU64,
    clock: Option<Clock>,
}

impl Outputs {
    /// Waits until nothing has arrived for `quiet`, or until `deadline`.
    pub async fn wait_quiet(&self, quiet: Duration, deadline: Instant) {
        let Some(clock) = self.clock else { return };
        while Instant::now() < deadline {
            let idle_ns = clock.now_ns().saturating_sub(self.last_ns.load(Ordering::Relaxed));
            if idle_ns >= u64::try_from(quiet.as_nanos()).unwrap_or(u64::MAX) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Subscribes (core NATS, so it sees messages as they are published) to decisions and
/// actuation reports, and records them into whichever recorder is current.
pub async fn watch_outputs(url: &str, options: async_nats::ConnectOptions, recorder: Arc<Mutex<Recorder>>, clock: Clock) -> anyhow::Result<Arc<Outputs>> {
    let client = options.name("qm-loadtest-watch").subscription_capacity(1 << 20).connect(url).await?;
    let outputs = Arc::new(Outputs { clock: Some(clock), ..Default::default() });
    let mut decisions = client.subscribe("qm.decision.>").await?;
    let mut reports = client.subscribe("qm.act.>").await?;
    crate::baseline::subscribed(&client).await?;
    let (rec, out) = (recorder.clone(), outputs.clone());
    tokio::spawn(async move {
        while let Some(message) = decisions.next().await {
            let seen = clock.now_ns();
            out.decisions.fetch_add(1, Ordering::Relaxed);
            out.last_ns.store(seen, Ordering::Relaxed);
            if let Ok(envelope) = decode::<DecisionRecorded>(&message.payload) {
                if let (Some(cause), Ok(mut rec)) = (envelope.causation_id, rec.lock()) {
                    rec.decision(envelope.id, cause, seen);
                }
            }
        }
    });
    let out = outputs.clone();
    tokio::spawn(async move {
        let _keep = client;
        while let Some(message) = reports.next().await {
            let seen = clock.now_ns();
            out.reports.fetch_add(1, Ordering::Relaxed);
            out.last_ns.store(seen, Ordering::Relaxed);
            if let Ok(envelope) = decode::<ActuationEvent>(&message.payload) {
                if let (ActuationEvent::GrantApplied { decision_id, .. }, Ok(mut rec)) = (&envelope.body, recorder.lock()) {
                    rec.grant_applied(*decision_id, seen);
                }
            }
        }
    });
    Ok(outputs)
}
