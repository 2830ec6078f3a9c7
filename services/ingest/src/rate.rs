//! Per-team rate limits on what a team sends (demand, usage, finish): one token bucket
//! per team, so a team's flood (a runaway client, a leaked key) is refused with
//! `rate_limited` before it costs a decode or a log append, and cannot crowd out the
//! other teams. Operators' input (pools, teams, policy) is not limited: it is rare and
//! trusted. The caller passes the time, so the rules are tested without a clock.

use dashmap::DashMap;
use std::time::Instant;

/// How fast each team may send.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateSettings {
    /// Sustained requests per second per team; 0 turns the limit off.
    pub per_s: f64,
    /// Requests a team may send at once after being quiet (the bucket's size).
    pub burst: f64,
}

impl Default for RateSettings {
    /// Well above what a team's workloads send (a demand change or a usage window per
    /// workload every few seconds), well below what one team could do to ingest.
    fn default() -> Self {
        Self { per_s: 2_000.0, burst: 4_000.0 }
    }
}

/// One bucket per team seen; only declared teams get one, so the map stays as small as
/// the fleet's team list.
#[derive(Debug, Default)]
pub struct TeamLimiter {
    settings: RateSettings,
    buckets: DashMap<String, Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl TeamLimiter {
    pub fn new(settings: RateSettings) -> Self {
        Self { settings, buckets: DashMap::new() }
    }

    pub fn settings(&self) -> RateSettings {
        self.settings
    }

    /// Takes one token from `team`'s bucket at `now`; false when it has none left.
    pub fn allow(&self, team: &str, now: Instant) -> bool {
        let RateSettings { per_s, burst } = self.settings;
        if per_s <= 0.0 {
            return true;
        }
        let burst = burst.max(1.0);
        // The common case takes no allocation: the team's bucket exists.
        let mut bucket = match self.buckets.get_mut(team) {
            Some(bucket) => bucket,
            None => self.buckets.entry(team.to_owned()).or_insert(Bucket { tokens: burst, at: now }),
        };
        let elapsed_s = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed_s * per_s).min(burst);
        bucket.at = bucket.at.max(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The team a rate-limited request speaks for: `qm.in.{demand,usage,finish}.<team>.…`.
pub fn limited_team(subject: &str) -> Option<&str> {
    let mut tokens = subject.strip_prefix("qm.in.")?.split('.');
    let kind = tokens.next()?;
    let team = tokens.next()?;
    matches!(kind, "demand" | "usage" | "finish").then_some(team)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    fn limiter(per_s: f64, burst: f64) -> TeamLimiter {
        TeamLimiter::new(RateSettings { per_s, burst })
    }

    #[test]
    fn a_burst_is_allowed_then_the_sustained_rate() {
        let l = limiter(10.0, 5.0);
        let t0 = Instant::now();
        assert_eq!((0..8).filter(|_| l.allow("ml", t0)).count(), 5, "the burst");
        assert!(!l.allow("ml", t0 + Duration::from_millis(50)), "half a token is not a request");
        assert!(l.allow("ml", t0 + Duration::from_millis(100)), "one token after 1/rate");
        // Quiet for a minute: back to a full burst, not more.
        let later = t0 + Duration::from_secs(60);
        assert_eq!((0..20).filter(|_| l.allow("ml", later)).count(), 5);
    }

    #[test]
    fn teams_have_their_own_buckets_and_zero_turns_it_off() {
        let l = limiter(1.0, 2.0);
        let t0 = Instant::now();
        assert!(l.allow("ml", t0) && l.allow("ml", t0) && !l.allow("ml", t0));
        assert!(l.allow("cv", t0), "ml's flood does not limit cv");
        let off = limiter(0.0, 0.0);
        assert!((0..10_000).all(|_| off.allow("ml", t0)));
    }

    #[test]
    fn time_going_backwards_grants_nothing() {
        let l = limiter(10.0, 1.0);
        let t0 = Instant::now() + Duration::from_secs(10);
        assert!(l.allow("ml", t0));
        assert!(!l.allow("ml", t0 - Duration::from_secs(5)));
    }

    #[test]
    fn only_what_teams_send_is_limited() {
        assert_eq!(limited_team("qm.in.demand.ml.w1"), Some("ml"));
        assert_eq!(limited_team("qm.in.usage.ml.w1"), Some("ml"));
        assert_eq!(limited_team("qm.in.finish.ml.w1"), Some("ml"));
        assert_eq!(limited_team("qm.in.team.ml"), None);
        assert_eq!(limited_team("qm.in.pool.p1"), None);
        assert_eq!(limited_team("qm.in.policy"), None);
        assert_eq!(limited_team("qm.in.demand"), None);
        assert_eq!(limited_team("qm.input.demand.ml.w1"), None);
    }

    proptest! {
        /// Over any schedule of requests, a team gets at most burst + rate * elapsed.
        #[test]
        fn never_more_than_burst_plus_rate_times_elapsed(
            per_s in 1.0f64..1_000.0,
            burst in 1.0f64..100.0,
            gaps_us in proptest::collection::vec(0u64..20_000, 1..400),
        ) {
            let l = limiter(per_s, burst);
            let t0 = Instant::now();
            let mut now = t0;
            let mut allowed = 0u32;
            for gap in gaps_us {
                now += Duration::from_micros(gap);
                allowed += u32::from(l.allow("ml", now));
            }
            let bound = burst + per_s * now.duration_since(t0).as_secs_f64();
            prop_assert!(f64::from(allowed) <= bound.floor() + 1e-9, "{allowed} > {bound}");
        }
    }
}
