//! Today's practice: each team owns a standing reservation per pool, negotiated by hand.
//! Its jobs run only inside it, first come first served; nobody else may use it, idle
//! or not; nothing is ever preempted.

use crate::alloc::queue::{choose, Book};
use crate::alloc::{Allocator, Holdings, SimEvent};
use crate::world::World;

/// Static standing reservations.
#[derive(Default)]
pub struct Reservations {
    book: Book,
    /// chips used per team per pool.
    used: Vec<Vec<u32>>,
}

impl Allocator for Reservations {
    fn name(&self) -> &'static str {
        "reservations"
    }

    fn start(&mut self, world: &World) {
        self.book = Book::new(world);
        self.used = vec![vec![0; world.pools.len()]; world.teams.len()];
    }

    fn step(&mut self, _now_ms: i64, events: &[SimEvent], world: &World) {
        self.book.apply(events);
        for u in &mut self.used {
            u.iter_mut().for_each(|c| *c = 0);
        }
        for (&j, &(p, c)) in &self.book.running {
            self.used[world.jobs[j].team][p] += c;
        }
        let waiting: Vec<usize> = self.book.waiting.iter().copied().collect();
        let pools: Vec<usize> = (0..world.pools.len()).collect();
        for j in waiting {
            let t = world.jobs[j].team;
            let room = |p: usize| world.teams[t].reserved[p].saturating_sub(self.used[t][p]).min(self.book.free(p));
            if let Some((p, c)) = choose(world, j, &pools, room) {
                self.book.place(j, p, c);
                self.used[t][p] += c;
            }
        }
        self.book.sync();
    }

    fn holdings(&self) -> &Holdings {
        &self.book.holdings
    }
}
