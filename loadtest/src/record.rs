//! What a phase measured: latency histograms, counts, and the decision and actuation
//! messages seen, matched back to the demand that caused them once the phase is over.
//!
//! Matching follows the causation chain the system writes: a decision's envelope names
//! the input event it was decided on (the event id ingest returned), and an actuation
//! report names the decision it applied. Matching after the phase, not as messages
//! arrive, means a decision seen before its ingest reply is still counted.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Latencies are kept in microseconds, 1 µs to 2 minutes, 3 significant figures.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("constant bounds are valid")
}

/// Nanoseconds since the run's start, so every task stamps on one clock.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    pub base: Instant,
}

impl Clock {
    pub fn new() -> Self {
        Self { base: Instant::now() }
    }

    pub fn ns(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }

    pub fn now_ns(&self) -> u64 {
        self.ns(Instant::now())
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

/// Everything one phase records.
pub struct Recorder {
    /// Intended send time to reply, µs.
    pub ack: Histogram<u64>,
    pub accepted: u64,
    pub duplicates: u64,
    /// Failed requests by kind (`timeout`, `rejected:<code>`, ...).
    pub errors: BTreeMap<String, u64>,
    /// Accepted demand changes: event id, intended send time (ns), and whether it asked for more.
    demands: Vec<(Uuid, u64, bool)>,
    /// Decisions seen: decision id, causing event id, time seen (ns).
    decisions: Vec<(Uuid, Uuid, u64)>,
    /// `GrantApplied` reports seen: decision id, time seen (ns).
    applied: Vec<(Uuid, u64)>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            ack: histogram(),
            accepted: 0,
            duplicates: 0,
            errors: BTreeMap::new(),
            demands: Vec::new(),
            decisions: Vec::new(),
            applied: Vec::new(),
        }
    }
}

impl Recorder {
    pub fn ok(&mut self, latency: Duration, duplicate: bool) {
        self.ack.saturating_record(micros(latency));
        self.accepted += 1;
        self.duplicates += u64::from(duplicate);
    }

    pub fn error(&mut self, kind: String) {
        *self.errors.entry(kind).or_default() += 1;
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn demand(&mut self, event_id: Uuid, intended_ns: u64, up: bool) {
        self.demands.push((event_id, intended_ns, up));
    }

    pub fn decision(&mut self, id: Uuid, cause: Uuid, seen_ns: u64) {
        self.decisions.push((id, cause, seen_ns));
    }

    pub fn grant_applied(&mut self, decision_id: Uuid, seen_ns: u64) {
        self.applied.push((decision_id, seen_ns));
    }

    /// Demands whose first decision was seen, and "up" demands whose grant was applied.
    pub fn matched(&self) -> Matched {
        let mut first_decision: HashMap<Uuid, u64> = HashMap::with_capacity(self.decisions.len());
        let mut cause_of: HashMap<Uuid, Uuid> = HashMap::with_capacity(self.decisions.len());
        for &(id, cause, seen) in &self.decisions {
            first_decision.entry(cause).and_modify(|t| *t = (*t).min(seen)).or_insert(seen);
            cause_of.insert(id, cause);
        }
        let mut first_applied: HashMap<Uuid, u64> = HashMap::new();
        for &(decision, seen) in &self.applied {
            if let Some(&cause) = cause_of.get(&decision) {
                first_applied.entry(cause).and_modify(|t| *t = (*t).min(seen)).or_insert(seen);
            }
        }
        let mut out = Matched { decision: histogram(), applied: histogram(), demands: 0, ups: 0 };
        for &(event, intended, up) in &self.demands {
            out.demands += 1;
            out.ups += u64::from(up);
            if let Some(&seen) = first_decision.get(&event) {
                out.decision.saturating_record(micros_ns(seen.saturating_sub(intended)));
            }
            if up {
                if let Some(&seen) = first_applied.get(&event) {
                    out.applied.saturating_record(micros_ns(seen.saturating_sub(intended)));
                }
            }
        }
        out
    }
}

/// Demand-to-decision and demand-to-applied-grant latencies of one phase.
pub struct Matched {
    pub decision: Histogram<u64>,
    pub applied: Histogram<u64>,
    /// Demand changes accepted, and how many of them asked for more chips.
    pub demands: u64,
    pub ups: u64,
}

/// Percentiles of one histogram, in milliseconds, and the points of its distribution.
#[derive(Clone, Debug, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// (percentile, ms) from 0 to 99.99, for plotting.
    #[serde(skip)]
    pub curve: Vec<(f64, f64)>,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Self {
        let ms = |q: f64| if h.is_empty() { 0.0 } else { h.value_at_quantile(q) as f64 / 1000.0 };
        let curve = if h.is_empty() {
            Vec::new()
        } else {
            // Evenly spaced on a "nines" axis: 0, 50, 75, 87.5, ... up to 99.99.
            (0..=40).map(|k| 1.0 - 0.5f64.powf(f64::from(k) / 3.0)).filter(|q| *q <= 0.9999).map(|q| (q * 100.0, ms(q))).collect()
        };
        Self {
            count: h.len(),
            p50_ms: ms(0.5),
            p90_ms: ms(0.9),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
            max_ms: if h.is_empty() { 0.0 } else { h.max() as f64 / 1000.0 },
            curve,
        }
    }
}

pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

fn micros_ns(ns: u64) -> u64 {
    (ns / 1000).max(1)
}
