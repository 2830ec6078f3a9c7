//! The discrete-event loop. Time jumps from event to event (arrival, completion, pool
//! health change, usage tick, allocator wake-up); between events every holding is
//! constant, so progress and metrics are integrated exactly. No sleeping, no clock.

use crate::alloc::{Allocator, Holdings, SimEvent};
use crate::metrics::{jain, quantile, Metrics, Sample};
use crate::world::{Shape, World};

/// A preempted or moved batch job loses this much work (restart from checkpoint), seconds.
pub const RESTART_PENALTY_S: f64 = 120.0;

/// How a run reports as it goes.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Print progress to stderr every 10% of the horizon.
    pub progress: bool,
    /// Samples of the time series.
    pub samples: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self { progress: false, samples: 288 }
    }
}

/// One allocator's run of one world.
#[derive(Clone, Debug)]
pub struct RunResult {
    pub allocator: String,
    pub metrics: Metrics,
    pub series: Vec<Sample>,
}

/// Per-job simulation state.
#[derive(Clone, Debug, Default)]
struct JobState {
    active: bool,
    done_ms: Option<i64>,
    remaining: f64,
    held: Vec<(usize, u32)>,
    reported_busy: Option<f64>,
    idle_since: Option<i64>,
    unmet_since: Option<i64>,
    stranded: bool,
}

impl JobState {
    fn total(&self) -> u32 {
        self.held.iter().map(|h| h.1).sum()
    }
}

/// Accumulators integrated over time.
#[derive(Default)]
struct Acc {
    healthy: f64,
    healthy_norm: f64,
    busy: f64,
    idle: f64,
    unmet: f64,
    stranded: f64,
    cost: f64,
    busy_norm: f64,
    work: f64,
    team_met: Vec<f64>,
    team_wanted: Vec<f64>,
    episodes: Vec<f64>,
    preemptions: u64,
    moves: u64,
}

struct Loop<'a> {
    w: &'a World,
    jobs: Vec<JobState>,
    healthy: Vec<u32>,
    acc: Acc,
    series: Vec<Sample>,
    sample_every_ms: i64,
    next_sample_ms: i64,
}

/// Runs `alloc` on `world` and measures it.
pub fn run(world: &World, alloc: &mut dyn Allocator, opts: &RunOptions) -> RunResult {
    let mut l = Loop {
        w: world,
        jobs: world.jobs.iter().map(|j| JobState { remaining: j.work, ..Default::default() }).collect(),
        healthy: world.pools.iter().map(|p| p.chips).collect(),
        acc: Acc {
            team_met: vec![0.0; world.teams.len()],
            team_wanted: vec![0.0; world.teams.len()],
            ..Default::default()
        },
        series: Vec::new(),
        sample_every_ms: (world.horizon_ms / opts.samples.max(1) as i64).max(1),
        next_sample_ms: 0,
    };
    alloc.start(world);
    let changes = world.health_changes();
    let (mut t, mut next_arrival, mut next_tick, mut next_change) = (0i64, 0usize, 0i64, 0usize);
    let mut next_progress = 1;
    let mut events = Vec::new();
    loop {
        while next_arrival < world.jobs.len() && world.jobs[next_arrival].arrival_ms <= t {
            if world.jobs[next_arrival].arrival_ms < world.horizon_ms {
                l.jobs[next_arrival].active = true;
                events.push(SimEvent::Arrived(next_arrival));
            }
            next_arrival += 1;
        }
        while next_change < changes.len() && changes[next_change] <= t {
            next_change += 1;
        }
        for p in 0..world.pools.len() {
            let h = world.healthy(p, t);
            if h != l.healthy[p] {
                l.healthy[p] = h;
                events.push(SimEvent::Health { pool: p, healthy: h });
            }
        }
        l.finish_jobs(t, &mut events);
        if t >= next_tick {
            l.usage_events(t, &mut events);
            next_tick = t + world.tick_ms;
        }
        alloc.step(t, &events, world);
        events.clear();
        l.take_holdings(t, alloc.holdings());
        if t >= world.horizon_ms {
            break;
        }
        let mut t_next = world.horizon_ms.min(next_tick);
        if let Some(j) = world.jobs.get(next_arrival) {
            t_next = t_next.min(j.arrival_ms);
        }
        if let Some(&c) = changes.get(next_change) {
            t_next = t_next.min(c);
        }
        if let Some(wk) = alloc.next_wake_ms() {
            t_next = t_next.min(wk);
        }
        t_next = t_next.min(l.next_completion(t)).max(t + 1);
        l.integrate(t, t_next);
        t = t_next;
        if opts.progress && t * 10 >= world.horizon_ms * next_progress {
            eprintln!("  {} / {}: {}%", world.name, alloc.name(), next_progress * 10);
            next_progress += 1;
        }
    }
    l.close(t);
    RunResult { allocator: alloc.name().to_owned(), metrics: l.metrics(), series: l.series }
}

impl Loop<'_> {
    fn busy(&self, j: usize, t: i64) -> f64 {
        let spec = &self.w.jobs[j];
        let held = self.jobs[j].total();
        match spec.shape {
            Shape::Batch if held >= spec.chips_min => f64::from(held.min(spec.chips)) * spec.busy_fraction,
            Shape::Batch => 0.0,
            Shape::Service => f64::from(held).min(spec.need(t)),
        }
    }

    fn need(&self, j: usize, t: i64) -> f64 {
        let spec = &self.w.jobs[j];
        match spec.shape {
            Shape::Batch => f64::from(spec.chips) * spec.busy_fraction,
            Shape::Service => spec.need(t),
        }
    }

    /// Work units per second.
    fn rate(&self, j: usize) -> f64 {
        let spec = &self.w.jobs[j];
        if spec.shape != Shape::Batch || self.jobs[j].total() < spec.chips_min {
            return 0.0;
        }
        self.jobs[j].held.iter().map(|&(p, c)| f64::from(c) * spec.tp[p]).sum()
    }

    fn next_completion(&self, t: i64) -> i64 {
        let mut best = i64::MAX;
        for (j, s) in self.jobs.iter().enumerate() {
            if !s.active {
                continue;
            }
            let at = match self.w.jobs[j].shape {
                Shape::Service => self.w.jobs[j].end_ms,
                Shape::Batch => {
                    let r = self.rate(j);
                    if r <= 0.0 {
                        continue;
                    }
                    t + (s.remaining / r * 1000.0).ceil() as i64
                }
            };
            best = best.min(at);
        }
        best
    }

    fn finish_jobs(&mut self, t: i64, events: &mut Vec<SimEvent>) {
        for j in 0..self.jobs.len() {
            let s = &self.jobs[j];
            let spec = &self.w.jobs[j];
            let done = match spec.shape {
                Shape::Batch => s.remaining <= spec.work * 1e-9,
                Shape::Service => spec.end_ms <= t,
            };
            if s.active && done {
                self.end_idle(j, t);
                let s = &mut self.jobs[j];
                s.active = false;
                s.done_ms = Some(t);
                s.held.clear();
                events.push(SimEvent::Finished(j));
            }
        }
    }

    fn usage_events(&mut self, t: i64, events: &mut Vec<SimEvent>) {
        for j in 0..self.jobs.len() {
            if !self.jobs[j].active {
                continue;
            }
            let busy = (self.busy(j, t) * 1000.0).round() / 1000.0;
            if self.jobs[j].reported_busy != Some(busy) {
                self.jobs[j].reported_busy = Some(busy);
                events.push(SimEvent::Usage { job: j, busy });
            }
        }
    }

    /// Adopts the allocator's holdings, clipped to what exists, and counts churn.
    fn take_holdings(&mut self, t: i64, h: &Holdings) {
        let mut used = vec![0u32; self.w.pools.len()];
        for j in 0..self.jobs.len() {
            let new: Vec<(usize, u32)> = match h.get(&j) {
                Some(v) if self.jobs[j].active => v
                    .iter()
                    .filter_map(|&(p, c)| {
                        // Never more than the pool has: what does not exist cannot be held.
                        let c = c.min(self.healthy[p].saturating_sub(used[p]));
                        used[p] += c;
                        (c > 0).then_some((p, c))
                    })
                    .collect(),
                _ => Vec::new(),
            };
            if new == self.jobs[j].held {
                continue;
            }
            let busy_before = self.busy(j, t);
            let old = std::mem::replace(&mut self.jobs[j].held, new);
            let spec = &self.w.jobs[j];
            let busy_after = self.busy(j, t);
            let lost_pool = old.iter().any(|(p, _)| !self.jobs[j].held.iter().any(|(q, _)| q == p));
            let new_pool = self.jobs[j].held.iter().any(|(p, _)| !old.iter().any(|(q, _)| q == p));
            let penalty = f64::from(spec.chips) * RESTART_PENALTY_S * spec.tp.iter().copied().fold(0.0, f64::max);
            if busy_after + 1e-9 < busy_before && self.jobs[j].total() < spec.chips_min.max(1) {
                self.acc.preemptions += 1;
                if spec.shape == Shape::Batch {
                    self.jobs[j].remaining += penalty;
                }
            } else if lost_pool && new_pool && !old.is_empty() {
                self.acc.moves += 1;
                if spec.shape == Shape::Batch {
                    self.jobs[j].remaining += penalty;
                }
            } else if busy_after + 1e-9 < busy_before {
                self.acc.preemptions += 1;
            }
        }
    }

    fn end_idle(&mut self, j: usize, t: i64) {
        if let Some(s) = self.jobs[j].idle_since.take() {
            self.acc.episodes.push((t - s) as f64 / 60_000.0);
        }
    }

    fn integrate(&mut self, t0: i64, t1: i64) {
        let dt_h = (t1 - t0) as f64 / 3.6e6;
        let w = self.w;
        let mut free: Vec<u32> = self.healthy.clone();
        let mut crit_cap: Vec<u32> = self.healthy.clone();
        for s in self.jobs.iter().filter(|s| s.active) {
            for &(p, c) in &s.held {
                free[p] = free[p].saturating_sub(c);
            }
        }
        for (j, s) in self.jobs.iter().enumerate() {
            if s.active && w.jobs[j].critical {
                for &(p, c) in &s.held {
                    crit_cap[p] = crit_cap[p].saturating_sub(c);
                }
            }
        }
        let mut team_got = vec![0.0; w.teams.len()];
        let mut team_want = vec![0.0; w.teams.len()];
        for (p, pool) in w.pools.iter().enumerate() {
            self.acc.healthy += f64::from(self.healthy[p]) * dt_h;
            self.acc.healthy_norm += f64::from(self.healthy[p]) * pool.nominal_tp * dt_h;
            self.acc.cost += f64::from(self.healthy[p]) * pool.price * dt_h;
        }
        for j in 0..self.jobs.len() {
            if !self.jobs[j].active {
                continue;
            }
            let spec = &w.jobs[j];
            let (busy, need, held) = (self.busy(j, t0), self.need(j, t0), f64::from(self.jobs[j].total()));
            let rate = self.rate(j);
            self.jobs[j].remaining = (self.jobs[j].remaining - rate * dt_h * 3600.0).max(0.0);
            self.acc.work += rate * dt_h;
            self.acc.busy += busy * dt_h;
            self.acc.idle += (held - busy).max(0.0) * dt_h;
            let unmet = (need - busy).max(0.0);
            self.acc.unmet += unmet * dt_h;
            let norm: f64 = self.jobs[j].held.iter().map(|&(p, c)| f64::from(c) * w.pools[p].nominal_tp).sum();
            let busy_norm = if held > 0.0 { norm * busy / held } else { 0.0 };
            self.acc.busy_norm += busy_norm * dt_h;
            // Fairness counts each job's own speed: a job on the type it runs best on
            // gets all it wanted, even if that type is nominally slow.
            let own: f64 = self.jobs[j].held.iter().map(|&(p, c)| f64::from(c) * spec.tp[p]).sum();
            team_got[spec.team] += if held > 0.0 { own * busy / held } else { 0.0 };
            team_want[spec.team] += need * spec.tp.iter().copied().fold(0.0, f64::max);
            // Stranded: unmet need that free chips it accepts could have covered.
            let mut left = unmet;
            for p in (0..w.pools.len()).filter(|&p| spec.accepts(p)) {
                let take = if spec.gang {
                    if left >= 0.5 && self.jobs[j].total() == 0 && free[p] >= spec.chips { spec.chips } else { 0 }
                } else {
                    (left.floor() as u32).min(free[p])
                };
                free[p] -= take;
                left -= f64::from(take);
                self.acc.stranded += f64::from(take) * dt_h;
            }
            // Idle episode: holding more than twice what it uses.
            let idle_now = held >= 1.0 && busy < 0.5 * held;
            match (idle_now, self.jobs[j].idle_since) {
                (true, None) => self.jobs[j].idle_since = Some(t0),
                (false, Some(_)) => self.end_idle(j, t0),
                _ => {}
            }
            if spec.critical {
                let usable = (0..w.pools.len()).filter(|&p| spec.accepts(p)).map(|p| crit_cap[p]);
                let could = if spec.gang { usable.max().unwrap_or(0) >= spec.chips } else { f64::from(usable.sum::<u32>()) >= need };
                if unmet >= 0.5 && could {
                    let since = *self.jobs[j].unmet_since.get_or_insert(t0);
                    if t1 - since > w.critical_wait_max_ms {
                        self.jobs[j].stranded = true;
                    }
                } else {
                    self.jobs[j].unmet_since = None;
                }
            }
        }
        for t in 0..w.teams.len() {
            let entitled = team_want[t].min(w.teams[t].guarantee);
            self.acc.team_wanted[t] += entitled * dt_h;
            self.acc.team_met[t] += team_got[t].min(entitled) * dt_h;
        }
        let capacity: f64 = w.pools.iter().map(|p| f64::from(p.chips) * p.nominal_tp).sum();
        let healthy: f64 = self.healthy.iter().map(|&h| f64::from(h)).sum();
        while self.next_sample_ms < t1 {
            let busy: f64 = (0..self.jobs.len()).filter(|&j| self.jobs[j].active).map(|j| self.busy(j, t0)).sum();
            self.series.push(Sample {
                t_h: self.next_sample_ms as f64 / 3.6e6,
                utilization: if healthy > 0.0 { busy / healthy } else { 0.0 },
                team_share: team_got.iter().map(|g| g / capacity.max(1e-9)).collect(),
            });
            self.next_sample_ms += self.sample_every_ms;
        }
    }

    fn close(&mut self, t: i64) {
        for j in 0..self.jobs.len() {
            self.end_idle(j, t);
        }
    }

    fn metrics(&self) -> Metrics {
        let a = &self.acc;
        let jct: Vec<f64> = (0..self.jobs.len())
            .filter(|&j| self.w.jobs[j].shape == Shape::Batch)
            .filter_map(|j| self.jobs[j].done_ms.map(|d| (d - self.w.jobs[j].arrival_ms) as f64 / 3.6e6))
            .collect();
        let batch = (0..self.jobs.len())
            .filter(|&j| self.w.jobs[j].shape == Shape::Batch && self.w.jobs[j].arrival_ms < self.w.horizon_ms)
            .count();
        let shares: Vec<f64> = (0..self.w.teams.len())
            .filter(|&t| a.team_wanted[t] > 1e-9)
            .map(|t| a.team_met[t] / a.team_wanted[t])
            .collect();
        Metrics {
            utilization: if a.healthy > 0.0 { a.busy / a.healthy } else { 0.0 },
            utilization_norm: if a.healthy_norm > 0.0 { a.busy_norm / a.healthy_norm } else { 0.0 },
            healthy_chip_h: a.healthy,
            busy_chip_h: a.busy,
            idle_reserved_chip_h: a.idle,
            unmet_chip_h: a.unmet,
            stranded_chip_h: a.stranded,
            give_back_min: if a.episodes.is_empty() { 0.0 } else { a.episodes.iter().sum::<f64>() / a.episodes.len() as f64 },
            jobs_batch: batch as u64,
            jobs_done: jct.len() as u64,
            jct_mean_h: if jct.is_empty() { 0.0 } else { jct.iter().sum::<f64>() / jct.len() as f64 },
            jct_p95_h: quantile(&jct, 0.95),
            jain: jain(&shares),
            worst_team_share: shares.iter().copied().fold(1.0, f64::min),
            cost_per_busy_nh: if a.busy_norm > 0.0 { a.cost / a.busy_norm } else { 0.0 },
            work_nh: a.work,
            preemptions: a.preemptions,
            moves: a.moves,
            critical_stranded: self.jobs.iter().filter(|s| s.stranded).count() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alloc::by_name;
    use crate::testutil::{job, tiny_world};
    use crate::world::{Outage, Pattern};

    fn run_one(w: &World, name: &str) -> Metrics {
        let mut a = by_name(name).expect("known allocator");
        run(w, a.as_mut(), &RunOptions::default()).metrics
    }

    #[test]
    fn jobs_finish_when_their_work_is_done() {
        // Table: (allocator, jobs done, mean JCT hours).
        let w = tiny_world();
        for (name, done, jct) in [("first-fit", 2, 1.5), ("reservations", 2, 1.5), ("kueue", 2, 1.5), ("gavel", 2, 1.5)] {
            let m = run_one(&w, name);
            assert_eq!(m.jobs_done, done, "{name}");
            assert!((m.jct_mean_h - jct).abs() < 0.01, "{name}: {}", m.jct_mean_h);
            // 4 chips × 1 h + 4 chips × 2 h busy over 16 chips × 10 h.
            assert!((m.busy_chip_h - 12.0).abs() < 0.01, "{name}: {}", m.busy_chip_h);
            assert!((m.utilization - 12.0 / 160.0).abs() < 1e-3);
        }
    }

    #[test]
    fn slow_pool_takes_longer_and_reservations_strand_demand() {
        // Team a sends 3 jobs of 4 chips; its reservation is 4 fast + 4 slow chips.
        let mut w = tiny_world();
        w.jobs = vec![job("a0", 0, 0.0, 4, 1.0), job("a1", 0, 0.0, 4, 1.0), job("a2", 0, 0.0, 4, 1.0)];
        let m = run_one(&w, "reservations");
        // a0 on fast (1 h), a1 on slow (2 h), a2 waits for a0: done at 2 h.
        assert_eq!(m.jobs_done, 3);
        assert!((m.jct_mean_h - (1.0 + 2.0 + 2.0) / 3.0).abs() < 0.01, "{}", m.jct_mean_h);
        assert!(m.stranded_chip_h > 3.9, "team b's idle reservation could have run a2: {}", m.stranded_chip_h);
        let ff = run_one(&w, "first-fit");
        assert!((ff.jct_mean_h - (1.0 + 1.0 + 2.0) / 3.0).abs() < 0.01, "{}", ff.jct_mean_h);
    }

    #[test]
    fn hoarder_idles_under_reservations_and_quartermaster_gives_back() {
        let mut w = tiny_world();
        let mut h = job("hoard", 0, 0.0, 8, 10.0);
        h.shape = Shape::Service;
        h.gang = false;
        h.chips_min = 1;
        h.busy_fraction = 0.125;
        h.tp = vec![1.0, 0.0];
        h.pattern = Pattern::Flat;
        let mut b = job("b0", 1, 1.0, 4, 2.0);
        b.tp = vec![1.0, 0.0];
        w.teams[0].reserved = vec![8, 0];
        w.teams[1].reserved = vec![0, 8];
        w.jobs = vec![h, b];
        let r = run_one(&w, "reservations");
        assert_eq!(r.jobs_done, 0, "b0 can never run: its team reserved only slow chips");
        assert!(r.idle_reserved_chip_h > 60.0);
        let q = run_one(&w, "quartermaster");
        assert_eq!(q.jobs_done, 1, "{q:?}");
        assert!(q.idle_reserved_chip_h < 20.0, "{q:?}");
        assert!(q.give_back_min < 30.0, "{q:?}");
    }

    #[test]
    fn outage_cuts_capacity_and_jobs_wait_it_out() {
        let mut w = tiny_world();
        w.jobs = vec![job("a0", 0, 0.0, 4, 2.0)];
        w.jobs[0].tp = vec![1.0, 0.0];
        w.outages = vec![Outage { pool: 0, start_ms: 3_600_000, end_ms: 7_200_000, healthy: 0 }];
        for name in ["first-fit", "kueue", "gavel", "quartermaster"] {
            let m = run_one(&w, name);
            assert!((m.healthy_chip_h - 152.0).abs() < 0.01, "{name}");
            assert_eq!(m.jobs_done, 1, "{name}");
            // 1 h of work, 1 h outage, then 1 h + restart penalty.
            assert!(m.jct_mean_h >= 3.0 && m.jct_mean_h < 3.2, "{name}: {}", m.jct_mean_h);
            assert!(m.preemptions >= 1, "{name}");
        }
    }
}
