//! What finished work has shown about the fleet: how fast each accelerator type frees
//! chips, and how long each team's work runs. Placement reads it to choose between
//! running a new workload now on a slow type and waiting for a fast one
//! (`decide::wait`). Kept in the folded state, updated only by the round that releases
//! finished work, from log time alone, so replay rebuilds it bit for bit.

use crate::maths;
use qm_model::{AcceleratorType, TeamId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Finished work, summarized.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Completions {
    /// Chips released by finished work, per accelerator type, decayed over time.
    pub freed: BTreeMap<AcceleratorType, Decayed>,
    /// Per team: how long its finished work ran, at the speed of its best type.
    pub run: BTreeMap<TeamId, RunningMean>,
}

/// A sum whose terms fade by half every half-life: recent events count most.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Decayed {
    pub value: f64,
    /// When `value` was last brought up to date (unix ms).
    pub at_ms: i64,
}

impl Decayed {
    /// The sum as of `now_ms`.
    pub fn at(&self, now_ms: i64, half_life_ms: f64) -> f64 {
        let age = (now_ms - self.at_ms).max(0) as f64;
        self.value * maths::exp2(-age / half_life_ms.max(1.0))
    }

    /// Adds `x` at `now_ms`.
    pub fn add(&mut self, now_ms: i64, half_life_ms: f64, x: f64) {
        self.value = self.at(now_ms, half_life_ms) + x;
        self.at_ms = self.at_ms.max(now_ms);
    }

    /// The rate the sum stands for, per ms: a steady stream of `r` per ms sums to
    /// `r * half_life / ln 2`.
    pub fn rate_per_ms(&self, now_ms: i64, half_life_ms: f64) -> f64 {
        self.at(now_ms, half_life_ms) * std::f64::consts::LN_2 / half_life_ms.max(1.0)
    }
}

/// A mean over the last few samples (a plain mean for the first [`RunningMean::SPAN`],
/// then each new sample weighs `1 / SPAN`), so it follows a team whose work changes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunningMean {
    pub mean: f64,
    pub samples: u32,
}

impl RunningMean {
    pub const SPAN: u32 = 16;

    pub fn add(&mut self, x: f64) {
        if !x.is_finite() {
            return;
        }
        self.samples = self.samples.saturating_add(1);
        let n = self.samples.min(Self::SPAN);
        self.mean += (x - self.mean) / f64::from(n);
    }
}

impl Completions {
    /// Records `chips` of type `accelerator` released by finished work at `now_ms`; the
    /// sum halves every `half_life_s` (the policy's `usage_half_life_s`).
    pub fn record_release(&mut self, accelerator: &AcceleratorType, chips: u32, now_ms: i64, half_life_s: u32) {
        if chips > 0 {
            self.freed.entry(accelerator.clone()).or_default().add(now_ms, half_life_ms(half_life_s), f64::from(chips));
        }
    }

    /// Records how long a team's finished workload ran, in ms at its best type's speed.
    pub fn record_run(&mut self, team: &TeamId, best_type_ms: f64) {
        if best_type_ms > 0.0 {
            self.run.entry(team.clone()).or_default().add(best_type_ms);
        }
    }

    /// The mean run of a team's finished work at its best type's speed, if any finished.
    pub fn mean_run_ms(&self, team: &TeamId) -> Option<f64> {
        self.run.get(team).filter(|m| m.samples > 0).map(|m| m.mean)
    }

    /// Chips per ms that type `accelerator` has been freeing lately.
    pub fn freeing_per_ms(&self, accelerator: &AcceleratorType, now_ms: i64, half_life_s: u32) -> f64 {
        self.freed.get(accelerator).map_or(0.0, |d| d.rate_per_ms(now_ms, half_life_ms(half_life_s)))
    }
}

/// A half-life in seconds as ms, at least one second.
fn half_life_ms(half_life_s: u32) -> f64 {
    f64::from(half_life_s.max(1)) * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steady_stream_reads_back_as_its_rate() {
        // One chip a minute for ten half-lives of an hour reads as about one a minute.
        let hl = 3_600_000.0;
        let mut d = Decayed::default();
        for m in 0..600 {
            d.add(m * 60_000, hl, 1.0);
        }
        let per_min = d.rate_per_ms(600 * 60_000, hl) * 60_000.0;
        assert!((per_min - 1.0).abs() < 0.02, "{per_min}");
        // And fades by half over a half-life without events.
        let later = d.at(600 * 60_000 + 3_600_000, hl);
        assert!((later / d.at(600 * 60_000, hl) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn the_running_mean_is_plain_then_follows_recent_samples() {
        let mut m = RunningMean::default();
        for x in [1.0, 2.0, 3.0] {
            m.add(x);
        }
        assert!((m.mean - 2.0).abs() < 1e-12);
        for _ in 0..200 {
            m.add(10.0);
        }
        assert!((m.mean - 10.0).abs() < 1e-3, "{}", m.mean);
        m.add(f64::NAN);
        assert!(m.mean.is_finite());
    }

    #[test]
    fn an_event_older_than_the_last_does_not_move_the_clock_back() {
        let mut d = Decayed::default();
        d.add(1_000, 1_000.0, 1.0);
        d.add(500, 1_000.0, 1.0);
        assert_eq!(d.at_ms, 1_000);
        assert!((d.value - 2.0).abs() < 1e-12);
    }
}
