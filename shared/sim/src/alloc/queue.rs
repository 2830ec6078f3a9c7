//! Bookkeeping every baseline shares: the FIFO of waiting jobs, one placement per
//! running job, free chips per pool, and eviction when a pool loses chips.

use crate::alloc::{Holdings, SimEvent};
use crate::world::World;
use std::collections::{BTreeMap, BTreeSet};

/// Waiting and running jobs of a baseline. Jobs are indexed by arrival order, so the
/// waiting set, kept sorted, is the FIFO.
#[derive(Clone, Debug, Default)]
pub struct Book {
    pub waiting: BTreeSet<usize>,
    /// job -> (pool, chips).
    pub running: BTreeMap<usize, (usize, u32)>,
    pub healthy: Vec<u32>,
    pub used: Vec<u32>,
    pub holdings: Holdings,
}

impl Book {
    /// An empty book for `world`'s pools at full health.
    pub fn new(world: &World) -> Self {
        Self {
            healthy: world.pools.iter().map(|p| p.chips).collect(),
            used: vec![0; world.pools.len()],
            ..Self::default()
        }
    }

    /// Free chips in pool `p`.
    pub fn free(&self, p: usize) -> u32 {
        self.healthy[p].saturating_sub(self.used[p])
    }

    /// Folds arrivals, finishes and health changes. Returns the jobs evicted by outages.
    pub fn apply(&mut self, events: &[SimEvent]) -> Vec<usize> {
        let mut evicted = Vec::new();
        for e in events {
            match e {
                SimEvent::Arrived(j) => {
                    self.waiting.insert(*j);
                }
                SimEvent::Finished(j) => {
                    self.waiting.remove(j);
                    self.stop(*j);
                }
                SimEvent::Health { pool, healthy } => {
                    self.healthy[*pool] = *healthy;
                    // Chips that died take their jobs with them, newest first.
                    while self.used[*pool] > self.healthy[*pool] {
                        let Some(j) = self.running.iter().filter(|(_, (p, _))| p == pool).map(|(j, _)| *j).max() else {
                            break;
                        };
                        self.evict(j);
                        evicted.push(j);
                    }
                }
                SimEvent::Usage { .. } => {}
            }
        }
        evicted
    }

    /// Starts job `j` with `chips` in pool `p`.
    pub fn place(&mut self, j: usize, p: usize, chips: u32) {
        self.waiting.remove(&j);
        self.stop(j);
        self.running.insert(j, (p, chips));
        self.used[p] += chips;
    }

    /// Stops job `j` and puts it back in the queue (it keeps its progress).
    pub fn evict(&mut self, j: usize) {
        if self.stop(j) {
            self.waiting.insert(j);
        }
    }

    fn stop(&mut self, j: usize) -> bool {
        match self.running.remove(&j) {
            Some((p, c)) => {
                self.used[p] -= c;
                true
            }
            None => false,
        }
    }

    /// Rebuilds the holdings the simulator reads.
    pub fn sync(&mut self) {
        self.holdings = self.running.iter().map(|(j, (p, c))| (*j, vec![(*p, *c)])).collect();
    }
}

/// Chips a job gets out of `avail`: all it asks for, or for an elastic job as much as
/// there is down to its minimum; `None` if that is not enough.
pub fn fit(world: &World, j: usize, avail: u32) -> Option<u32> {
    let job = &world.jobs[j];
    if avail >= job.chips {
        Some(job.chips)
    } else if !job.gang && avail >= job.chips_min.max(1) {
        Some(avail)
    } else {
        None
    }
}

/// Where job `j` goes among `pools` (in preference order) given the room each offers:
/// the first pool with room for all it asks; else, for an elastic job, the pool with the
/// most room, if that covers its minimum.
pub fn choose(world: &World, j: usize, pools: &[usize], room: impl Fn(usize) -> u32) -> Option<(usize, u32)> {
    let job = &world.jobs[j];
    let ok: Vec<usize> = pools.iter().copied().filter(|&p| job.accepts(p)).collect();
    if let Some(&p) = ok.iter().find(|&&p| room(p) >= job.chips) {
        return Some((p, job.chips));
    }
    let p = ok.iter().copied().max_by_key(|&p| (room(p), std::cmp::Reverse(p)))?;
    fit(world, j, room(p)).map(|c| (p, c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::tiny_world;

    #[test]
    fn outage_evicts_newest_first_and_requeues() {
        let w = tiny_world();
        let mut b = Book::new(&w);
        b.apply(&[SimEvent::Arrived(0), SimEvent::Arrived(1)]);
        b.place(0, 0, 4);
        b.place(1, 0, 4);
        assert_eq!(b.free(0), 0);
        let ev = b.apply(&[SimEvent::Health { pool: 0, healthy: 5 }]);
        assert_eq!(ev, [1]);
        assert!(b.waiting.contains(&1) && b.running.contains_key(&0));
        assert_eq!(b.free(0), 1);
    }
}
