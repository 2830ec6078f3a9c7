//! Throughput-aware max-min fairness, as Gavel does it, approximated greedily: every
//! round (6 minutes, Gavel's default) all jobs are ranked by the normalized service they
//! have had per hour of age divided by their team's weight (least served first; critical
//! jobs first), and each in turn gets the pool where it runs fastest that has room,
//! keeping its current pool unless another is 20% faster. Jobs not chosen are preempted. Between
//! rounds, arrivals only fill free chips. Like Gavel it allocates by request, not use.

use crate::alloc::queue::{fit, Book};
use crate::alloc::{Allocator, Holdings, SimEvent};
use crate::world::World;

/// Round length, as in Gavel's simulator.
const ROUND_MS: i64 = 360_000;

/// Gavel-like max-min fairness on normalized throughput.
#[derive(Default)]
pub struct Gavel {
    book: Book,
    /// Normalized chip-seconds each job has received (chips × tp / best tp).
    attained: Vec<f64>,
    last_ms: i64,
    next_round_ms: i64,
}

impl Gavel {
    fn best_pool(&self, world: &World, j: usize, keep: Option<usize>) -> Option<(usize, u32)> {
        let job = &world.jobs[j];
        let mut best: Option<(usize, u32, f64)> = None;
        for p in 0..world.pools.len() {
            if !job.accepts(p) {
                continue;
            }
            let Some(c) = fit(world, j, self.book.free(p)) else { continue };
            // Staying put wins unless another pool is 20% faster: moves cost a restart.
            let score = job.tp[p] * if keep == Some(p) { 1.2 } else { 1.0 };
            if best.is_none_or(|b| score > b.2) {
                best = Some((p, c, score));
            }
        }
        best.map(|(p, c, _)| (p, c))
    }

    fn fill(&mut self, world: &World, order: &[usize], prev: &std::collections::BTreeMap<usize, (usize, u32)>) {
        for &j in order {
            if let Some((p, c)) = self.best_pool(world, j, prev.get(&j).map(|x| x.0)) {
                self.book.place(j, p, c);
            }
        }
    }
}

impl Allocator for Gavel {
    fn name(&self) -> &'static str {
        "gavel"
    }

    fn start(&mut self, world: &World) {
        self.book = Book::new(world);
        self.attained = vec![0.0; world.jobs.len()];
    }

    fn step(&mut self, now_ms: i64, events: &[SimEvent], world: &World) {
        let dt_s = (now_ms - self.last_ms) as f64 / 1000.0;
        for (&j, &(p, c)) in &self.book.running {
            let best = world.jobs[j].tp.iter().copied().fold(0.0, f64::max);
            self.attained[j] += f64::from(c) * world.jobs[j].tp[p] / best * dt_s;
        }
        self.last_ms = now_ms;
        self.book.apply(events);
        let prev = self.book.running.clone();
        if now_ms >= self.next_round_ms {
            self.next_round_ms = now_ms + ROUND_MS;
            let mut order: Vec<usize> = self.book.running.keys().chain(self.book.waiting.iter()).copied().collect();
            let key = |j: usize| {
                let job = &world.jobs[j];
                let age_h = ((now_ms - job.arrival_ms) as f64 / 3.6e6).max(1e-6);
                let w = world.teams[job.team].weight.max(1e-9);
                self.attained[j] / 3600.0 / age_h / f64::from(job.chips) / w
            };
            order.sort_by(|&a, &b| {
                (!world.jobs[a].critical).cmp(&!world.jobs[b].critical).then(key(a).total_cmp(&key(b))).then(a.cmp(&b))
            });
            for &j in &order {
                self.book.evict(j);
            }
            self.fill(world, &order, &prev);
        } else {
            let order: Vec<usize> = self.book.waiting.iter().copied().collect();
            self.fill(world, &order, &prev);
        }
        self.book.sync();
    }

    fn holdings(&self) -> &Holdings {
        &self.book.holdings
    }

    fn next_wake_ms(&self) -> Option<i64> {
        Some(self.next_round_ms)
    }
}
