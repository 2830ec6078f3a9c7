//! Quota with borrowing and reclaim, as Kueue does it: each team (ClusterQueue) has a
//! nominal quota per pool (flavor), the same chips as its standing reservation; all teams
//! share one cohort. Admission is by request (not by use), FIFO per team with skipping
//! (BestEffortFIFO), flavors tried in fleet order. A job may borrow the cohort's unused
//! quota; when a team wants chips within its own nominal quota that others have
//! borrowed, borrowers are evicted, newest first (reclaimWithinCohort). A critical job
//! may also evict non-critical jobs (priority preemption).

use crate::alloc::queue::{choose, Book};
use crate::alloc::{Allocator, Holdings, SimEvent};
use crate::world::World;

/// Kueue-like quota, borrowing and reclaim.
#[derive(Default)]
pub struct Kueue {
    book: Book,
}

impl Kueue {
    fn team_use(&self, world: &World, t: usize, p: usize) -> u32 {
        self.book.running.iter().filter(|(j, (q, _))| *q == p && world.jobs[**j].team == t).map(|(_, (_, c))| *c).sum()
    }

    /// Jobs whose eviction would let `j` start in `p`, newest first, or `None`.
    fn victims(&self, world: &World, j: usize, p: usize) -> Option<Vec<usize>> {
        let job = &world.jobs[j];
        let t = job.team;
        let own = self.team_use(world, t, p);
        let within_quota = own + job.chips <= world.teams[t].reserved[p];
        let mut over: Vec<i64> = (0..world.teams.len())
            .map(|u| i64::from(self.team_use(world, u, p)) - i64::from(world.teams[u].reserved[p]))
            .collect();
        let mut cands: Vec<usize> = self.book.running.iter().filter(|(_, (q, _))| *q == p).map(|(v, _)| *v).collect();
        cands.sort_unstable_by(|a, b| b.cmp(a));
        let mut free = self.book.free(p);
        let mut out = Vec::new();
        for v in cands {
            if free >= job.chips {
                break;
            }
            let vj = &world.jobs[v];
            let borrower = vj.team != t && over[vj.team] > 0;
            let lower = job.critical && !vj.critical;
            if (within_quota && borrower) || lower {
                let c = self.book.running[&v].1;
                over[vj.team] -= i64::from(c);
                free += c;
                out.push(v);
            }
        }
        (free >= job.chips).then_some(out)
    }
}

impl Allocator for Kueue {
    fn name(&self) -> &'static str {
        "kueue"
    }

    fn start(&mut self, world: &World) {
        self.book = Book::new(world);
    }

    fn step(&mut self, _now_ms: i64, events: &[SimEvent], world: &World) {
        self.book.apply(events);
        // Critical jobs are admitted first (a higher WorkloadPriorityClass), then FIFO.
        let mut waiting: Vec<usize> = self.book.waiting.iter().copied().collect();
        waiting.sort_by_key(|&j| (!world.jobs[j].critical, j));
        for j in waiting {
            if !self.book.waiting.contains(&j) {
                continue;
            }
            let accepted: Vec<usize> = (0..world.pools.len()).filter(|&p| world.jobs[j].accepts(p)).collect();
            // Own quota or borrowing from free cohort capacity first, in flavor order.
            if let Some((p, c)) = choose(world, j, &accepted, |p| self.book.free(p)) {
                self.book.place(j, p, c);
                continue;
            }
            // Then reclaim lent quota (or preempt for critical work).
            if let Some((p, vs)) = accepted.iter().find_map(|&p| self.victims(world, j, p).map(|v| (p, v))) {
                for v in vs {
                    self.book.evict(v);
                }
                self.book.place(j, p, world.jobs[j].chips);
            }
        }
        self.book.sync();
    }

    fn holdings(&self) -> &Holdings {
        &self.book.holdings
    }
}
