//! Gavel (Narayanan et al., OSDI 2020) as its own simulator runs it
//! (github.com/stanford-futuredata/gavel, `scheduler/scheduler.py`):
//!
//! - Work happens in rounds of 6 minutes. Jobs that arrive mid-round wait for the next
//!   round; a job that finishes mid-round leaves its GPUs idle until the round ends; a
//!   round ends early only when every job in it has finished. With nothing running, the
//!   next round starts at the next arrival.
//! - The policy gives each job a time fraction per worker type (pool): [`lp`] for
//!   heterogeneity-aware max-min fairness (`max_min_fairness_perf`), [`fifo`] for
//!   heterogeneity-blind FIFO. It is recomputed only when the job set has changed and at
//!   least 32 minutes have passed since the last recomputation (Gavel's
//!   `minimum_time_between_allocation_resets`), so a new job may wait for it.
//! - Each round, a job's priority on a type is its allocation divided by the fraction of
//!   that type's time it has had since the last recomputation; types are filled fastest
//!   first, each in priority order (ties: deficit, then allocation), a job at most once,
//!   whole gangs only. A job keeps its GPUs when it is scheduled again on the same type.
//! - Restarts: Gavel's simulator charges nothing for a job moved or paused between
//!   rounds; here the simulator charges its own restart penalty, as for every allocator.
//!
//! Gavel knows no critical jobs or quotas; team weights are its priority weights.

pub mod fifo;
pub mod lp;

use crate::alloc::queue::Book;
use crate::alloc::{Allocator, Holdings, SimEvent};
use crate::world::World;
use std::collections::{BTreeMap, BTreeSet};

/// Round length, Gavel's `time_per_iteration` default.
pub const ROUND_MS: i64 = 360_000;
/// Gavel's `minimum_time_between_allocation_resets` default.
const RESET_MIN_MS: i64 = 1_920_000;
/// Gavel seeds every job's time on every type with half a round.
const HALF_ROUND_S: f64 = ROUND_MS as f64 / 2000.0;

/// Which allocation policy feeds the rounds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Policy {
    /// `max_min_fairness_perf`: the LP in [`lp`].
    #[default]
    MaxMinPerf,
    /// `fifo`: arrival order, a random type with room, no preemption by the policy.
    Fifo,
}

/// Gavel's round-based scheduler over one allocation policy.
#[derive(Default)]
pub struct Gavel {
    policy: Policy,
    book: Book,
    /// Jobs admitted at a round start and not finished.
    active: BTreeSet<usize>,
    /// Arrived since the current round started.
    pending: Vec<usize>,
    /// Time fraction per pool of each job in the last allocation (finished jobs linger
    /// until the next recomputation, as in Gavel).
    allocation: BTreeMap<usize, Vec<f64>>,
    /// Seconds each active job ran on each pool since the last recomputation (+ half a round).
    job_time: BTreeMap<usize, Vec<f64>>,
    worker_time: Vec<f64>,
    deficit: BTreeMap<usize, Vec<f64>>,
    last_reset_ms: i64,
    need_update: bool,
    /// Start of the round under way; `None` when nothing runs.
    round_start: Option<i64>,
    /// Pools in the order rounds fill them: fastest nominal type first.
    order: Vec<usize>,
    fifo: fifo::Fifo,
    /// Allocations computed (LP solves for max-min), for reports and tests.
    pub recomputations: u64,
}

impl Gavel {
    /// Gavel with `policy`.
    pub fn new(policy: Policy) -> Self {
        Self { policy, ..Self::default() }
    }

    /// Adds the time job `j` has run this round on pool `p` to its and the pool's totals.
    fn account(&mut self, j: usize, p: usize, now_ms: i64) {
        let Some(start) = self.round_start else { return };
        let s = (now_ms - start) as f64 / 1000.0;
        if let Some(t) = self.job_time.get_mut(&j) {
            t[p] += s;
        }
        self.worker_time[p] += s;
    }

    /// Gavel's `_reset_time_run_so_far` followed by a new allocation.
    fn reset(&mut self, now_ms: i64, world: &World) {
        let elapsed_s = (now_ms - self.last_reset_ms) as f64 / 1000.0;
        let np = world.pools.len();
        for (j, t) in &mut self.job_time {
            let d = self.deficit.entry(*j).or_insert_with(|| vec![0.0; np]);
            for p in 0..np {
                let should = self.allocation.get(j).map_or(0.0, |a| a[p]) * elapsed_s;
                d[p] += should - (t[p] - HALF_ROUND_S);
                t[p] = HALF_ROUND_S;
            }
        }
        self.worker_time = vec![HALF_ROUND_S * self.job_time.len() as f64; np];
        let capacity: Vec<f64> = self.book.healthy.iter().map(|&h| f64::from(h)).collect();
        let jobs: Vec<usize> = self.active.iter().copied().collect();
        self.allocation = match self.policy {
            Policy::MaxMinPerf => {
                let lp_jobs: Vec<lp::LpJob> = jobs
                    .iter()
                    .map(|&j| {
                        let job = &world.jobs[j];
                        lp::LpJob { tp: job.tp.clone(), chips: job.chips, weight: world.teams[job.team].weight }
                    })
                    .collect();
                // A failed solve keeps the last allocation rather than stopping the cluster.
                match lp::max_min_perf(&lp_jobs, &capacity) {
                    Some(x) => jobs.iter().copied().zip(x).collect(),
                    None => std::mem::take(&mut self.allocation),
                }
            }
            Policy::Fifo => self.fifo.allocate(&jobs, world, &capacity),
        };
        self.recomputations += 1;
        self.last_reset_ms = now_ms;
        self.need_update = false;
    }

    /// Priority of job `j` on pool `p` (Gavel's `_update_priorities`).
    fn priority(&self, j: usize, p: usize, world: &World) -> f64 {
        let Some(a) = self.allocation.get(&j).map(|a| a[p]) else { return 0.0 };
        if a == 0.0 || world.jobs[j].tp[p] <= 0.0 {
            return 0.0;
        }
        let t = self.job_time.get(&j).map_or(0.0, |t| t[p]);
        let fraction = if self.worker_time[p] > 0.0 { t / self.worker_time[p] } else { 0.0 };
        if fraction > 0.0 {
            a / fraction
        } else {
            a * 1e9
        }
    }

    /// Picks the jobs of the next round: job -> pool (Gavel's `_schedule_jobs_on_workers_helper`).
    /// Jobs the allocation does not know yet take room but do not run, as in Gavel.
    fn select(&self, world: &World) -> BTreeMap<usize, usize> {
        let mut left: Vec<u32> = self.book.healthy.clone();
        let mut queue = Vec::new();
        for &p in &self.order {
            let mut entries: Vec<(usize, f64, f64, f64)> = self
                .active
                .iter()
                .map(|&j| {
                    let d = self.deficit.get(&j).map_or(0.0, |d| d[p]);
                    let a = self.allocation.get(&j).map_or(0.0, |a| a[p]);
                    (j, self.priority(j, p, world), d, a)
                })
                .collect();
            // Stable and descending, so equal keys keep arrival order, as Python's sort.
            entries.sort_by(|x, y| y.1.total_cmp(&x.1).then(y.2.total_cmp(&x.2)).then(y.3.total_cmp(&x.3)));
            queue.extend(entries.into_iter().map(|(j, prio, _, _)| (j, p, prio)));
        }
        let mut chosen = BTreeMap::new();
        for (j, p, prio) in queue {
            let job = &world.jobs[j];
            if left[p] == 0 || chosen.contains_key(&j) || job.tp[p] <= 0.0 || job.chips > left[p] {
                continue;
            }
            if self.policy == Policy::Fifo && prio <= 0.0 {
                continue;
            }
            left[p] -= job.chips;
            chosen.insert(j, p);
        }
        chosen.retain(|j, _| self.allocation.contains_key(j));
        chosen
    }

    /// Ends the round under way (if any) at `now_ms` and starts the next one.
    fn new_round(&mut self, now_ms: i64, world: &World) {
        let running: Vec<(usize, usize)> = self.book.running.iter().map(|(j, (p, _))| (*j, *p)).collect();
        for (j, p) in running {
            self.account(j, p, now_ms);
        }
        for j in std::mem::take(&mut self.pending) {
            if self.active.insert(j) {
                self.job_time.insert(j, vec![HALF_ROUND_S; world.pools.len()]);
                self.deficit.insert(j, vec![0.0; world.pools.len()]);
                self.need_update = true;
            }
        }
        if self.need_update && (now_ms - self.last_reset_ms >= RESET_MIN_MS || self.last_reset_ms == 0) {
            self.reset(now_ms, world);
        }
        let mut chosen = self.select(world);
        if chosen.is_empty() && !self.active.is_empty() && !arrivals_after(world, now_ms) {
            // Gavel forces a recomputation when nothing runs and nothing else will arrive.
            self.reset(now_ms, world);
            chosen = self.select(world);
        }
        let stay: Vec<usize> = self.book.running.iter().filter(|(j, (p, _))| chosen.get(j) != Some(p)).map(|(j, _)| *j).collect();
        for j in stay {
            self.book.evict(j);
        }
        for (&j, &p) in &chosen {
            if !self.book.running.contains_key(&j) {
                self.book.place(j, p, world.jobs[j].chips);
            }
        }
        self.round_start = (!chosen.is_empty()).then_some(now_ms);
    }
}

/// Whether some job of `world` arrives after `now_ms` (within the horizon).
fn arrivals_after(world: &World, now_ms: i64) -> bool {
    let i = world.jobs.partition_point(|j| j.arrival_ms <= now_ms);
    world.jobs.get(i).is_some_and(|j| j.arrival_ms < world.horizon_ms)
}

impl Allocator for Gavel {
    fn name(&self) -> &'static str {
        match self.policy {
            Policy::MaxMinPerf => "gavel",
            Policy::Fifo => "gavel-fifo",
        }
    }

    fn start(&mut self, world: &World) {
        *self = Self::new(self.policy);
        self.book = Book::new(world);
        self.worker_time = vec![0.0; world.pools.len()];
        self.order = (0..world.pools.len()).collect();
        self.order.sort_by(|&a, &b| world.pools[b].nominal_tp.total_cmp(&world.pools[a].nominal_tp).then(a.cmp(&b)));
        self.fifo = fifo::Fifo::new(world.seed);
    }

    fn step(&mut self, now_ms: i64, events: &[SimEvent], world: &World) {
        let before = self.book.running.clone();
        let mut arrived = false;
        for e in events {
            match e {
                SimEvent::Arrived(j) => {
                    self.pending.push(*j);
                    arrived = true;
                }
                SimEvent::Finished(j) => {
                    if let Some(&(p, _)) = before.get(j) {
                        self.account(*j, p, now_ms);
                    }
                    self.active.remove(j);
                    self.pending.retain(|k| k != j);
                    self.job_time.remove(j);
                    self.deficit.remove(j);
                    self.need_update = true;
                }
                SimEvent::Health { .. } => self.need_update = true,
                SimEvent::Usage { .. } => {}
            }
        }
        // Jobs an outage stops have run until now.
        for j in self.book.apply(events) {
            if let Some(&(p, _)) = before.get(&j) {
                self.account(j, p, now_ms);
            }
        }
        let due = match self.round_start {
            Some(start) => now_ms >= start + ROUND_MS || self.book.running.is_empty(),
            None => arrived || events.iter().any(|e| matches!(e, SimEvent::Health { .. })),
        };
        if due {
            self.new_round(now_ms, world);
        }
        self.book.sync();
    }

    fn holdings(&self) -> &Holdings {
        &self.book.holdings
    }

    fn next_wake_ms(&self) -> Option<i64> {
        self.round_start.map(|s| s + ROUND_MS)
    }
}

#[cfg(test)]
mod tests;
