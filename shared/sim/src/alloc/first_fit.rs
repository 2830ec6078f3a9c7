//! Heterogeneity-agnostic first-fit: one FIFO for the whole fleet; each job goes to the
//! first pool (in fleet order) with room, whatever it runs like there. No teams, no
//! preemption; jobs that do not fit yet are skipped (backfill).

use crate::alloc::queue::{choose, Book};
use crate::alloc::{Allocator, Holdings, SimEvent};
use crate::world::World;

/// First-fit over pools in fleet order.
#[derive(Default)]
pub struct FirstFit {
    book: Book,
}

impl Allocator for FirstFit {
    fn name(&self) -> &'static str {
        "first-fit"
    }

    fn start(&mut self, world: &World) {
        self.book = Book::new(world);
    }

    fn step(&mut self, _now_ms: i64, events: &[SimEvent], world: &World) {
        self.book.apply(events);
        let waiting: Vec<usize> = self.book.waiting.iter().copied().collect();
        let pools: Vec<usize> = (0..world.pools.len()).collect();
        for j in waiting {
            if let Some((p, c)) = choose(world, j, &pools, |p| self.book.free(p)) {
                self.book.place(j, p, c);
            }
        }
        self.book.sync();
    }

    fn holdings(&self) -> &Holdings {
        &self.book.holdings
    }
}
