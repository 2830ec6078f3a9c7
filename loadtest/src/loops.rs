//! The two ways of offering load.
//!
//! - [`open_loop`]: operation `i` is due at `start + i / rate`, whatever happened to
//!   earlier ones, and its latency is counted from that intended time. A slow system
//!   cannot slow the generator down and so hide its own queueing (coordinated omission).
//!   In-flight operations are capped; past the cap the generator waits, and the wait
//!   shows up in the latencies because they start at the intended time.
//! - [`closed_loop`]: `concurrency` workers each run operations back to back: the
//!   highest rate the target sustains with that much pipelining.

use crate::record::{histogram, micros};
use futures::future::BoxFuture;
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One operation: given its number and intended start, does it and says how it went.
pub type Operation = Arc<dyn Fn(u64, Instant) -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// Counters a progress line reads while a loop runs.
#[derive(Debug, Default)]
pub struct Counters {
    pub started: AtomicU64,
    pub ok: AtomicU64,
    pub failed: AtomicU64,
}

/// What a loop did.
pub struct LoopResult {
    pub label: String,
    pub ok: u64,
    pub failed: u64,
    /// Time from the first intended start to the last completion.
    pub elapsed: Duration,
    /// Intended start (open loop) or real start (closed loop) to completion, µs.
    pub latency: Histogram<u64>,
}

impl LoopResult {
    /// Completed operations per second.
    pub fn ok_per_s(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Adds another run of the same operation: counts, time and latencies add up.
    pub fn merge(&mut self, other: &LoopResult) {
        self.ok += other.ok;
        self.failed += other.failed;
        self.elapsed += other.elapsed;
        let _ = self.latency.add(&other.latency);
    }
}

/// Runs `op` open loop at `rate_per_s` for `duration`, at most `inflight_max` at once.
pub async fn open_loop(
    label: &str,
    rate_per_s: f64,
    duration: Duration,
    inflight_max: usize,
    op: Operation,
    progress: bool,
) -> LoopResult {
    let counters = Arc::new(Counters::default());
    let latency = Arc::new(Mutex::new(histogram()));
    let permits = Arc::new(tokio::sync::Semaphore::new(inflight_max.max(1)));
    let total = (rate_per_s * duration.as_secs_f64()).round() as u64;
    let start = Instant::now() + Duration::from_millis(5);
    let ticker = progress.then(|| spawn_progress(label, Some(rate_per_s), duration, counters.clone(), start));
    let mut tasks = Vec::with_capacity(total.min(1 << 20) as usize);
    let mut i = 0u64;
    while i < total {
        let intended = start + Duration::from_secs_f64(i as f64 / rate_per_s);
        if intended > Instant::now() {
            tokio::time::sleep_until(intended.into()).await;
        }
        // Everything due by now goes out in this batch (timers tick in milliseconds).
        let now = Instant::now();
        while i < total {
            let intended = start + Duration::from_secs_f64(i as f64 / rate_per_s);
            if intended > now {
                break;
            }
            let Ok(permit) = permits.clone().acquire_owned().await else { break };
            counters.started.fetch_add(1, Ordering::Relaxed);
            let (op, counters, latency) = (op.clone(), counters.clone(), latency.clone());
            tasks.push(tokio::spawn(async move {
                let outcome = op(i, intended).await;
                finish(&counters, &latency, outcome, intended);
                drop(permit);
            }));
            i += 1;
        }
        if tasks.len() > 4096 {
            tasks.retain(|t| !t.is_finished());
        }
    }
    result(label, &counters, latency, start, tasks, ticker).await
}

/// Runs `op` from `concurrency` workers back to back for `duration`.
pub async fn closed_loop(label: &str, concurrency: usize, duration: Duration, op: Operation, progress: bool) -> LoopResult {
    let counters = Arc::new(Counters::default());
    let latency = Arc::new(Mutex::new(histogram()));
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + duration;
    let ticker = progress.then(|| spawn_progress(label, None, duration, counters.clone(), start));
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (op, counters, latency, next) = (op.clone(), counters.clone(), latency.clone(), next.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    counters.started.fetch_add(1, Ordering::Relaxed);
                    let began = Instant::now();
                    let outcome = op(i, began).await;
                    finish(&counters, &latency, outcome, began);
                }
            })
        })
        .collect();
    result(label, &counters, latency, start, workers, ticker).await
}

fn finish(counters: &Counters, latency: &Mutex<Histogram<u64>>, outcome: Result<(), String>, from: Instant) {
    match outcome {
        Ok(()) => {
            counters.ok.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut h) = latency.lock() {
                h.saturating_record(micros(from.elapsed()));
            }
        }
        Err(_) => {
            counters.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Waits for a loop's `tasks` to end, stops its progress line, and sums up what it did
/// from `start` to the last completion.
async fn result(
    label: &str,
    counters: &Counters,
    latency: Arc<Mutex<Histogram<u64>>>,
    start: Instant,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    ticker: Option<tokio::task::JoinHandle<()>>,
) -> LoopResult {
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = start.elapsed();
    if let Some(ticker) = ticker {
        ticker.abort();
    }
    let latency = latency.lock().map(|h| h.clone()).unwrap_or_else(|_| histogram());
    LoopResult {
        label: label.to_owned(),
        ok: counters.ok.load(Ordering::Relaxed),
        failed: counters.failed.load(Ordering::Relaxed),
        elapsed,
        latency,
    }
}

/// Prints one line a second: elapsed, done per second, failures, in flight.
fn spawn_progress(
    label: &str,
    target: Option<f64>,
    duration: Duration,
    counters: Arc<Counters>,
    start: Instant,
) -> tokio::task::JoinHandle<()> {
    let label = label.to_owned();
    tokio::spawn(async move {
        let mut timer = tokio::time::interval_at((start + Duration::from_secs(1)).into(), Duration::from_secs(1));
        let mut last_ok = 0;
        loop {
            timer.tick().await;
            let (started, ok, failed) = (
                counters.started.load(Ordering::Relaxed),
                counters.ok.load(Ordering::Relaxed),
                counters.failed.load(Ordering::Relaxed),
            );
            let target = target.map_or(String::new(), |t| format!(" target {t:.0}/s"));
            eprintln!(
                "  [{label}] {:5.1}s/{:.0}s{target}  done {:7}/s  total {ok}  failed {failed}  in flight {}",
                start.elapsed().as_secs_f64(),
                duration.as_secs_f64(),
                ok - last_ok,
                started.saturating_sub(ok + failed),
            );
            last_ok = ok;
        }
    })
}
