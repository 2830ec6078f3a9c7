//! Steady open-loop load: requests leave at a fixed rate whatever happens to earlier
//! ones (a fault slows answers, not the arrivals), each retried with one idempotency key
//! until ingest answers or the retry window ends, and every acknowledgement goes into
//! the [`Ledger`]. In-flight requests are bounded; past the bound a request is shed and
//! counted, never queued (queueing would make the load closed-loop).

use super::ledger::{Ack, Ledger};
use super::rng::Rng;
use qm_bus::Bus;
use qm_model::{IngestReply, InputEvent, WorkloadSpec};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Semaphore};

/// The teams the load comes from.
pub const TEAMS: [&str; 3] = ["chaos-a", "chaos-b", "chaos-c"];
/// Workloads per team that the load declares, uses and finishes.
pub const WORKLOADS_PER_TEAM: u64 = 6;
/// Largest demand of a load workload: all of them at once (108 chips) plus the critical
/// ones fit the fleet, so every demand can be granted and a probe is never crowded out.
pub const CHIPS_MAX: u64 = 6;
/// The critical workloads, declared once and never finished: none may be stranded.
pub const CRITICAL: [(&str, &str); 2] = [("chaos-a", "crit-a"), ("chaos-b", "crit-b")];
/// Chips each critical workload asks for.
pub const CRITICAL_CHIPS: u32 = 4;
/// The pools: H100s, 128 chips in all.
pub const POOLS: [(&str, u32); 2] = [("use-h100-a", 64), ("use-h100-b", 64)];

/// Sends requests and records the answers.
pub struct Sender {
    bus: Bus,
    ledger: Arc<Mutex<Ledger>>,
    inflight: Arc<Semaphore>,
    next_request: AtomicU64,
    key_prefix: String,
    retry_window: Duration,
}

impl Sender {
    /// A sender whose idempotency keys start with `key_prefix` (unique per run).
    pub fn new(bus: Bus, key_prefix: String, inflight_max: usize, retry_window: Duration) -> Self {
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        Self { bus, ledger, inflight: Arc::new(Semaphore::new(inflight_max)), next_request: AtomicU64::new(1), key_prefix, retry_window }
    }

    /// The ledger so far.
    pub fn ledger(&self) -> Ledger {
        self.ledger.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Sends one request and waits for the outcome, retrying for the sender's window.
    pub async fn send(&self, subject: &str, event: &InputEvent) -> Option<Ack> {
        self.send_within(subject, event, self.retry_window).await
    }

    /// As [`Sender::send`], retrying for `within` (a probe: for the convergence bound).
    pub async fn send_within(&self, subject: &str, event: &InputEvent, within: Duration) -> Option<Ack> {
        let request = self.next_request.fetch_add(1, Ordering::Relaxed);
        let key = format!("{}-{request}", self.key_prefix);
        let started = Instant::now();
        let reply = qm_testkit::ingest::send_until_answered(&self.bus, subject, event, Some(&key), within).await;
        let Ok(mut ledger) = self.ledger.lock() else { return None };
        ledger.ack_ms_max = ledger.ack_ms_max.max(started.elapsed().as_millis() as u64);
        match reply {
            Ok(IngestReply::Accepted { event_id, sequence, duplicate }) => {
                ledger.duplicates += u64::from(duplicate);
                let log_subject = format!("qm.input.{}", subject.strip_prefix("qm.in.").unwrap_or(subject));
                let ack = Ack { request, log_subject, event_id, sequence };
                ledger.acks.push(ack.clone());
                Some(ack)
            }
            Ok(IngestReply::Rejected { code, .. }) => {
                *ledger.rejected.entry(format!("{code:?}")).or_default() += 1;
                None
            }
            Err(_) => {
                ledger.unanswered += 1;
                None
            }
        }
    }

    /// Open loop: sends in the background, or sheds when `inflight_max` are out.
    fn spawn(self: &Arc<Self>, subject: String, event: InputEvent) {
        let Ok(permit) = Arc::clone(&self.inflight).try_acquire_owned() else {
            if let Ok(mut ledger) = self.ledger.lock() {
                ledger.shed += 1;
            }
            return;
        };
        let sender = Arc::clone(self);
        tokio::spawn(async move {
            sender.send(&subject, &event).await;
            drop(permit);
        });
    }

    /// Waits until nothing is in flight (or `within` passes).
    pub async fn drain(&self, inflight_max: usize, within: Duration) {
        let _ = tokio::time::timeout(within, self.inflight.acquire_many(inflight_max as u32)).await;
    }
}

/// A critical workload's spec: never preempted, may not be stranded.
pub fn critical(team: &str, id: &str) -> WorkloadSpec {
    WorkloadSpec { critical: true, preemptible: false, ..qm_testkit::ingest::workload(team, id, CRITICAL_CHIPS) }
}

/// Sends `rate_per_s` requests a second until `stop` says so: demand (half), usage
/// (four in ten) and finishes, for random load workloads, all choices from `rng`.
pub async fn run(sender: Arc<Sender>, mut rng: Rng, rate_per_s: u32, mut stop: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate_per_s.max(1))));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        let team = TEAMS[rng.below(TEAMS.len() as u64) as usize];
        let id = format!("{team}-w{}", rng.below(WORKLOADS_PER_TEAM));
        let (kind, event) = match rng.below(10) {
            0..=4 => {
                let chips = 1 + rng.below(CHIPS_MAX) as u32;
                ("demand", qm_testkit::ingest::demand(team, &id, chips))
            }
            5..=8 => {
                let busy = rng.below(CHIPS_MAX * 10) as f64 / 10.0;
                ("usage", InputEvent::UsageReported { workload: id.as_str().into(), chips_busy: busy, window_s: 10 })
            }
            _ => ("finish", InputEvent::WorkloadFinished { workload: id.as_str().into() }),
        };
        sender.spawn(format!("qm.in.{kind}.{team}.{id}"), event);
    }
}
