//! Gavel's heterogeneity-blind FIFO (policy `fifo`, `FIFOPolicy` in mode `base`): jobs
//! in arrival order each get one worker type, drawn at random among the types with room
//! for the whole gang, and keep it until they finish; when the head of the queue fits
//! nowhere, everyone behind it waits (no backfill).
//!
//! Gavel's own code (policies/fifo.py at c4fa400) means this but, in `base` mode, never
//! reads the type it draws: it assigns the last type in name order whether or not it
//! has room, so v100 is oversubscribed and time-shared while k80 and p100 idle. This
//! is the policy as described, not that slip (EVALUATION.md compares both).

use crate::rng::Rng;
use crate::world::World;
use std::collections::BTreeMap;

/// FIFO's standing assignment: job -> pool.
#[derive(Clone, Debug)]
pub struct Fifo {
    assigned: BTreeMap<usize, usize>,
    rng: Rng,
}

impl Default for Fifo {
    fn default() -> Self {
        Self::new(0)
    }
}

impl Fifo {
    /// An empty queue whose draws come from `seed`.
    pub fn new(seed: u64) -> Self {
        Self { assigned: BTreeMap::new(), rng: Rng::fork(seed, 0x6a7e1) }
    }

    /// The allocation for the `active` jobs (ascending = arrival order) on `capacity`:
    /// 1.0 on the assigned pool, 0 elsewhere; unassigned jobs get all zeros.
    pub fn allocate(&mut self, active: &[usize], world: &World, capacity: &[f64]) -> BTreeMap<usize, Vec<f64>> {
        self.assigned.retain(|j, _| active.binary_search(j).is_ok());
        let mut room: Vec<f64> = capacity.to_vec();
        for (&j, &p) in &self.assigned {
            room[p] -= f64::from(world.jobs[j].chips);
        }
        for &j in active {
            if self.assigned.contains_key(&j) {
                continue;
            }
            let job = &world.jobs[j];
            let fits: Vec<usize> = (0..room.len()).filter(|&p| job.tp[p] > 0.0 && room[p] >= f64::from(job.chips)).collect();
            if fits.is_empty() {
                break;
            }
            let p = fits[self.rng.below(fits.len())];
            room[p] -= f64::from(job.chips);
            self.assigned.insert(j, p);
        }
        active
            .iter()
            .map(|&j| {
                let mut row = vec![0.0; capacity.len()];
                if let Some(&p) = self.assigned.get(&j) {
                    row[p] = 1.0;
                }
                (j, row)
            })
            .collect()
    }
}
