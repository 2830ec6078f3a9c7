//! The event-driven loop. Time jumps from event to event (arrival, completion or end of
//! rework, pool health change, usage report, allocator wake-up) and touches only the jobs
//! an event concerns: each job's contribution to the fleet's rates is kept up to date when
//! the job changes, so an interval is integrated in O(pools + teams), not O(jobs). Between
//! events every holding is constant, so progress and metrics are exact. No clock.
//!
//! - [`job`]: one job's state, settled lazily; [`acc`]: the per-metric accumulators.

mod acc;
mod job;

use crate::alloc::{Allocator, Holdings, SimEvent};
use crate::metrics::{jain, quantile, Metrics, Sample};
use crate::world::{Pattern, Shape, World};
use acc::{Capacity, Churn, Fairness, IdleEpisodes, Rates, Usage};
use job::{busy, contribution, next_milestone, rate, JobState};
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

/// A preempted or moved batch job loses this much work (restart from checkpoint), seconds.
/// The lost work is redone before the job progresses again; chips busy redoing it count
/// as rework, not as utilization.
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
    /// Simulator steps (times the allocator was stepped).
    pub steps: u64,
    /// When each job finished (virtual ms), by job index; `None` if it did not.
    pub done_ms: Vec<Option<i64>>,
}

struct Loop<'a> {
    w: &'a World,
    jobs: Vec<JobState>,
    healthy: Vec<u32>,
    /// Chips held per pool, and held by critical jobs.
    used: Vec<u32>,
    crit_used: Vec<u32>,
    holders: BTreeSet<usize>,
    /// Active jobs with unmet need, critical jobs, services whose need moves.
    unmet: BTreeSet<usize>,
    critical: BTreeSet<usize>,
    varying: BTreeSet<usize>,
    /// Jobs whose use may have changed since their last usage report.
    usage_dirty: BTreeSet<usize>,
    milestones: BinaryHeap<Reverse<(i64, usize)>>,
    stranded_dirty: bool,
    rates: Rates,
    cap: Capacity,
    usage: Usage,
    fair: Fairness,
    idle: IdleEpisodes,
    churn: Churn,
    series: Vec<Sample>,
    sample_every_ms: i64,
    next_sample_ms: i64,
}

/// Runs `alloc` on `world` and measures it.
pub fn run(world: &World, alloc: &mut dyn Allocator, opts: &RunOptions) -> RunResult {
    let mut l = Loop::new(world, opts);
    alloc.start(world);
    let changes = world.health_changes();
    let (mut t, mut next_arrival, mut next_change, mut steps) = (0i64, 0usize, 0usize, 0u64);
    let mut next_tick = 0i64;
    let mut next_progress = 1;
    let mut events = Vec::new();
    l.set_health(0, &mut events);
    events.clear();
    loop {
        while next_arrival < world.jobs.len() && world.jobs[next_arrival].arrival_ms <= t {
            if world.jobs[next_arrival].arrival_ms < world.horizon_ms {
                l.activate(next_arrival, t);
                events.push(SimEvent::Arrived(next_arrival));
            }
            next_arrival += 1;
        }
        if next_change < changes.len() && changes[next_change] <= t {
            while next_change < changes.len() && changes[next_change] <= t {
                next_change += 1;
            }
            l.set_health(t, &mut events);
        }
        l.milestones_due(t, &mut events);
        if t >= next_tick {
            l.usage_events(t, &mut events);
            next_tick = (t / world.tick_ms + 1) * world.tick_ms;
        }
        alloc.step(t, &events, world);
        steps += 1;
        events.clear();
        l.take_holdings(t, alloc.holdings());
        l.refresh_varying(t);
        if l.stranded_dirty {
            l.recompute_stranded();
        }
        if t >= world.horizon_ms {
            break;
        }
        let mut t_next = world.horizon_ms;
        if !l.usage_dirty.is_empty() || !l.varying.is_empty() {
            t_next = t_next.min(next_tick);
        }
        if let Some(j) = world.jobs.get(next_arrival) {
            t_next = t_next.min(j.arrival_ms);
        }
        if let Some(&c) = changes.get(next_change) {
            t_next = t_next.min(c);
        }
        if let Some(wk) = alloc.next_wake_ms() {
            t_next = t_next.min(wk);
        }
        if let Some(m) = l.next_milestone() {
            t_next = t_next.min(m);
        }
        let t_next = t_next.max(t + 1);
        l.integrate(t, t_next);
        t = t_next;
        if opts.progress && t * 10 >= world.horizon_ms * next_progress {
            eprintln!("  {} / {}: {}%", world.name, alloc.name(), next_progress * 10);
            next_progress += 1;
        }
    }
    l.close(t);
    let done_ms = l.jobs.iter().map(|s| s.done_ms).collect();
    RunResult { allocator: alloc.name().to_owned(), metrics: l.metrics(), series: l.series, steps, done_ms }
}

impl<'a> Loop<'a> {
    fn new(w: &'a World, opts: &RunOptions) -> Self {
        Self {
            w,
            jobs: w.jobs.iter().map(JobState::new).collect(),
            healthy: vec![0; w.pools.len()],
            used: vec![0; w.pools.len()],
            crit_used: vec![0; w.pools.len()],
            holders: BTreeSet::new(),
            unmet: BTreeSet::new(),
            critical: BTreeSet::new(),
            varying: BTreeSet::new(),
            usage_dirty: BTreeSet::new(),
            milestones: BinaryHeap::new(),
            stranded_dirty: true,
            rates: Rates::new(w.teams.len()),
            cap: Capacity::default(),
            usage: Usage::default(),
            fair: Fairness::new(w.teams.iter().map(|t| t.guarantee).collect()),
            idle: IdleEpisodes::default(),
            churn: Churn::default(),
            series: Vec::new(),
            sample_every_ms: (w.horizon_ms / opts.samples.max(1) as i64).max(1),
            next_sample_ms: 0,
        }
    }

    /// Pool health at `t`; an event for each pool whose health changed.
    fn set_health(&mut self, t: i64, events: &mut Vec<SimEvent>) {
        let (mut chips, mut norm, mut cost) = (0.0, 0.0, 0.0);
        for (p, pool) in self.w.pools.iter().enumerate() {
            let h = self.w.healthy(p, t);
            if h != self.healthy[p] {
                self.healthy[p] = h;
                events.push(SimEvent::Health { pool: p, healthy: h });
            }
            chips += f64::from(h);
            norm += f64::from(h) * pool.nominal_tp;
            cost += f64::from(h) * pool.price;
        }
        self.cap.set(chips, norm, cost);
        self.stranded_dirty = true;
    }

    fn activate(&mut self, j: usize, t: i64) {
        let spec = &self.w.jobs[j];
        let s = &mut self.jobs[j];
        s.active = true;
        s.settled_ms = t;
        if spec.shape == Shape::Service {
            s.milestone_ms = Some(spec.end_ms);
            self.milestones.push(Reverse((spec.end_ms, j)));
            if matches!(spec.pattern, Pattern::Diurnal { .. }) {
                self.varying.insert(j);
            }
        }
        if spec.critical {
            self.critical.insert(j);
        }
        self.refresh(j, t);
    }

    /// Recomputes job `j`'s contribution at `t` (its progress settled to `t`).
    fn refresh(&mut self, j: usize, t: i64) {
        let old = std::mem::take(&mut self.jobs[j].contrib);
        self.rates.apply(&old, -1.0);
        self.stranded_dirty = true;
        if !self.jobs[j].active {
            self.unmet.remove(&j);
            return;
        }
        let spec = &self.w.jobs[j];
        let r = rate(spec, &self.jobs[j]);
        self.jobs[j].rate = r;
        let c = contribution(self.w, j, &self.jobs[j], t);
        self.rates.apply(&c, 1.0);
        if c.unmet > 0.0 {
            self.unmet.insert(j);
        } else {
            self.unmet.remove(&j);
        }
        let held = f64::from(self.jobs[j].total());
        let idle_now = held >= 1.0 && busy(spec, &self.jobs[j], t) < 0.5 * held;
        self.idle.observe(&mut self.jobs[j].idle_since, idle_now, t);
        self.jobs[j].contrib = c;
        if spec.shape == Shape::Batch {
            let m = next_milestone(spec, &self.jobs[j], t);
            self.jobs[j].milestone_ms = m;
            if let Some(m) = m {
                self.milestones.push(Reverse((m, j)));
            }
        }
    }

    fn refresh_varying(&mut self, t: i64) {
        let v: Vec<usize> = self.varying.iter().copied().collect();
        for j in v {
            self.refresh(j, t);
        }
    }

    /// Handles every milestone at or before `t`: finishes, and ends of rework.
    fn milestones_due(&mut self, t: i64, events: &mut Vec<SimEvent>) {
        while let Some(&Reverse((m, j))) = self.milestones.peek() {
            if m > t {
                break;
            }
            self.milestones.pop();
            if !self.jobs[j].active || self.jobs[j].milestone_ms != Some(m) {
                continue;
            }
            self.jobs[j].settle(t);
            if self.jobs[j].done(&self.w.jobs[j], t) {
                self.finish(j, t);
                events.push(SimEvent::Finished(j));
            } else {
                self.refresh(j, t);
            }
        }
    }

    fn next_milestone(&mut self) -> Option<i64> {
        while let Some(&Reverse((m, j))) = self.milestones.peek() {
            if self.jobs[j].active && self.jobs[j].milestone_ms == Some(m) {
                return Some(m);
            }
            self.milestones.pop();
        }
        None
    }

    fn finish(&mut self, j: usize, t: i64) {
        self.idle.end(&mut self.jobs[j].idle_since, t);
        self.set_held(j, Vec::new());
        self.jobs[j].running.clear();
        let s = &mut self.jobs[j];
        s.active = false;
        s.done_ms = Some(t);
        s.milestone_ms = None;
        for set in [&mut self.critical, &mut self.varying, &mut self.usage_dirty] {
            set.remove(&j);
        }
        self.refresh(j, t);
    }

    /// Replaces what `j` holds, keeping the per-pool sums and the holder set.
    fn set_held(&mut self, j: usize, new: Vec<(usize, u32)>) {
        let crit = self.w.jobs[j].critical;
        for &(p, c) in &self.jobs[j].held {
            self.used[p] -= c;
            if crit {
                self.crit_used[p] -= c;
            }
        }
        for &(p, c) in &new {
            self.used[p] += c;
            if crit {
                self.crit_used[p] += c;
            }
        }
        if new.is_empty() {
            self.holders.remove(&j);
        } else {
            self.holders.insert(j);
        }
        self.jobs[j].held = new;
    }

    /// Usage reports due at a tick: jobs whose use changed since they last reported.
    fn usage_events(&mut self, t: i64, events: &mut Vec<SimEvent>) {
        let mut due: BTreeSet<usize> = std::mem::take(&mut self.usage_dirty);
        due.extend(self.varying.iter().copied());
        for j in due {
            if !self.jobs[j].active {
                continue;
            }
            let b = (busy(&self.w.jobs[j], &self.jobs[j], t) * 1000.0).round() / 1000.0;
            if self.jobs[j].reported_busy != Some(b) {
                self.jobs[j].reported_busy = Some(b);
                events.push(SimEvent::Usage { job: j, busy: b });
            }
        }
    }

    /// Adopts the allocator's holdings, clipped to what exists, and counts churn. Only
    /// jobs the allocator lists or that held something are looked at.
    fn take_holdings(&mut self, t: i64, h: &Holdings) {
        let mut used = vec![0u32; self.w.pools.len()];
        let mut changed = Vec::new();
        for (&j, v) in h {
            if !self.jobs.get(j).is_some_and(|s| s.active) {
                continue;
            }
            let new: Vec<(usize, u32)> = v
                .iter()
                .filter_map(|&(p, c)| {
                    // Never more than the pool has: what does not exist cannot be held.
                    let c = c.min(self.healthy[p].saturating_sub(used[p]));
                    used[p] += c;
                    (c > 0).then_some((p, c))
                })
                .collect();
            if new != self.jobs[j].held {
                changed.push((j, new));
            }
        }
        let gone: Vec<usize> = self.holders.iter().copied().filter(|j| !h.contains_key(j)).collect();
        changed.extend(gone.into_iter().map(|j| (j, Vec::new())));
        for (j, new) in changed {
            self.change(j, t, new);
        }
    }

    /// Job `j` now holds `new`: settles its progress, charges a restart if it lost its
    /// gang or its pool, and refreshes its contribution.
    fn change(&mut self, j: usize, t: i64, new: Vec<(usize, u32)>) {
        self.jobs[j].settle(t);
        let spec = &self.w.jobs[j];
        let busy_before = busy(spec, &self.jobs[j], t);
        let run_new = job::running_on(spec, &self.jobs[j].running, &new);
        self.set_held(j, new);
        let run_old = std::mem::replace(&mut self.jobs[j].running, run_new);
        let s = &self.jobs[j];
        let busy_after = busy(spec, s, t);
        // A move: it ran somewhere, runs somewhere now, and left a pool it ran in.
        let left_pool = run_old.iter().any(|(p, _)| !s.running.iter().any(|(q, _)| q == p));
        let penalty = f64::from(spec.chips) * RESTART_PENALTY_S * spec.tp.iter().copied().fold(0.0, f64::max);
        let batch = spec.shape == Shape::Batch;
        if busy_after + 1e-9 < busy_before && s.running_total() < spec.chips_min.max(1) {
            self.churn.preemptions += 1;
            if batch {
                self.jobs[j].debt += penalty;
            }
        } else if left_pool && !run_old.is_empty() && !s.running.is_empty() && batch {
            self.churn.moves += 1;
            self.jobs[j].debt += penalty;
        } else if left_pool && !run_old.is_empty() && !s.running.is_empty() {
            self.churn.moves += 1;
        } else if busy_after + 1e-9 < busy_before {
            self.churn.preemptions += 1;
        }
        self.usage_dirty.insert(j);
        self.refresh(j, t);
    }

    /// Stranded chips now: unmet need, in job order, that free chips it accepts cover.
    fn recompute_stranded(&mut self) {
        self.stranded_dirty = false;
        let w = self.w;
        let mut free: Vec<u32> = (0..w.pools.len()).map(|p| self.healthy[p].saturating_sub(self.used[p])).collect();
        let mut left_free: u32 = free.iter().sum();
        let mut stranded = 0.0;
        for &j in &self.unmet {
            if left_free == 0 {
                break;
            }
            let spec = &w.jobs[j];
            let mut left = self.jobs[j].contrib.unmet;
            for p in (0..w.pools.len()).filter(|&p| spec.accepts(p)) {
                let take = if spec.gang {
                    if left >= 0.5 && self.jobs[j].total() == 0 && free[p] >= spec.chips { spec.chips } else { 0 }
                } else {
                    (left.floor() as u32).min(free[p])
                };
                free[p] -= take;
                left_free -= take;
                left -= f64::from(take);
                stranded += f64::from(take);
            }
        }
        self.rates.stranded = stranded;
    }

    /// Integrates every metric over `[t0, t1)`, where all rates are constant.
    fn integrate(&mut self, t0: i64, t1: i64) {
        let dt_h = (t1 - t0) as f64 / 3.6e6;
        self.cap.integrate(dt_h);
        self.usage.integrate(&self.rates, dt_h);
        self.fair.integrate(&self.rates, dt_h);
        self.watch_critical(t0, t1);
        let capacity: f64 = self.w.pools.iter().map(|p| f64::from(p.chips) * p.nominal_tp).sum();
        let healthy = self.cap.now.0;
        while self.next_sample_ms < t1 {
            self.series.push(Sample {
                t_h: self.next_sample_ms as f64 / 3.6e6,
                utilization: if healthy > 0.0 { self.rates.busy.max(0.0) / healthy } else { 0.0 },
                team_share: self.rates.team_got.iter().map(|g| g.max(0.0) / capacity.max(1e-9)).collect(),
            });
            self.next_sample_ms += self.sample_every_ms;
        }
    }

    /// A critical job unmet while capacity it could use exists, for too long, is stranded.
    fn watch_critical(&mut self, t0: i64, t1: i64) {
        let w = self.w;
        for &j in &self.critical {
            let spec = &w.jobs[j];
            let s = &mut self.jobs[j];
            let unmet = s.contrib.unmet;
            let usable = (0..w.pools.len()).filter(|&p| spec.accepts(p)).map(|p| self.healthy[p].saturating_sub(self.crit_used[p]));
            let need = job::need(spec, t0);
            let could = if spec.gang { usable.max().unwrap_or(0) >= spec.chips } else { f64::from(usable.sum::<u32>()) >= need };
            if unmet >= 0.5 && could {
                let since = *s.unmet_since.get_or_insert(t0);
                if t1 - since > w.critical_wait_max_ms {
                    s.stranded = true;
                }
            } else {
                s.unmet_since = None;
            }
        }
    }

    fn close(&mut self, t: i64) {
        let holding: Vec<usize> = (0..self.jobs.len()).filter(|&j| self.jobs[j].idle_since.is_some()).collect();
        for j in holding {
            self.idle.end(&mut self.jobs[j].idle_since, t);
        }
    }

    fn metrics(&self) -> Metrics {
        let (u, c) = (&self.usage, &self.cap);
        let jct: Vec<f64> = (0..self.jobs.len())
            .filter(|&j| self.w.jobs[j].shape == Shape::Batch)
            .filter_map(|j| self.jobs[j].done_ms.map(|d| (d - self.w.jobs[j].arrival_ms) as f64 / 3.6e6))
            .collect();
        let batch = (0..self.jobs.len())
            .filter(|&j| self.w.jobs[j].shape == Shape::Batch && self.w.jobs[j].arrival_ms < self.w.horizon_ms)
            .count();
        let shares = self.fair.shares();
        Metrics {
            utilization: if c.chip_h > 0.0 { u.busy / c.chip_h } else { 0.0 },
            utilization_norm: if c.norm_h > 0.0 { u.busy_norm / c.norm_h } else { 0.0 },
            healthy_chip_h: c.chip_h,
            busy_chip_h: u.busy,
            rework_chip_h: u.rework,
            idle_reserved_chip_h: u.idle,
            unmet_chip_h: u.unmet,
            stranded_chip_h: u.stranded,
            give_back_min: self.idle.mean(),
            jobs_batch: batch as u64,
            jobs_done: jct.len() as u64,
            jct_mean_h: if jct.is_empty() { 0.0 } else { jct.iter().sum::<f64>() / jct.len() as f64 },
            jct_p95_h: quantile(&jct, 0.95),
            jain: jain(&shares),
            worst_team_share: shares.iter().copied().fold(1.0, f64::min),
            cost_per_busy_nh: if u.busy_norm > 0.0 { c.cost / u.busy_norm } else { 0.0 },
            work_nh: u.work,
            work_norm: if c.norm_h > 0.0 { u.work / c.norm_h } else { 0.0 },
            preemptions: self.churn.preemptions,
            moves: self.churn.moves,
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

    /// Plays a fixed script of holdings: (from ms, what job 0 holds); the last step's time.
    struct Script(Vec<(i64, Vec<(usize, u32)>)>, Holdings, i64);

    impl Allocator for Script {
        fn name(&self) -> &'static str {
            "script"
        }
        fn start(&mut self, _: &World) {}
        fn step(&mut self, now_ms: i64, _: &[SimEvent], _: &World) {
            self.2 = now_ms;
            if let Some((_, h)) = self.0.iter().rev().find(|(at, _)| *at <= now_ms) {
                self.1 = [(0, h.clone())].into_iter().filter(|(_, v)| !v.is_empty()).collect();
            }
        }
        fn holdings(&self) -> &Holdings {
            &self.1
        }
        fn next_wake_ms(&self) -> Option<i64> {
            self.0.iter().map(|x| x.0).find(|&at| at > self.2)
        }
    }

    #[test]
    fn make_before_break_move_is_one_move_and_one_restart() {
        // 4 chips, 1 h of work on the fast pool. It runs 0.5 h there, holds both pools
        // for 0.1 h (still running on the fast one only), then runs on the slow pool:
        // 0.5 h of work left + 120 s restart, at half speed.
        let mut w = tiny_world();
        w.jobs = vec![job("a0", 0, 0.0, 4, 1.0)];
        let h = |x: f64| (x * 3.6e6) as i64;
        let script = vec![(0, vec![(0, 4)]), (h(0.5), vec![(0, 4), (1, 4)]), (h(0.6), vec![(1, 4)])];
        let mut a = Script(script, Holdings::new(), 0);
        let m = run(&w, &mut a, &RunOptions::default()).metrics;
        assert_eq!((m.moves, m.preemptions, m.jobs_done), (1, 0, 1), "{m:?}");
        let want = 0.6 + 0.4 / 0.5 + 120.0 / 3600.0 / 0.5;
        assert!((m.jct_mean_h - want).abs() < 1e-3, "{} vs {want}", m.jct_mean_h);
        // Rework: 4 chips × 240 s on the slow pool.
        assert!((m.rework_chip_h - 4.0 * 240.0 / 3600.0).abs() < 1e-3, "{m:?}");
    }
}
