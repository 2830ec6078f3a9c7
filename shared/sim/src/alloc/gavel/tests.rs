//! Round mechanics on small worlds (given / when / then).

use super::*;
use crate::alloc::by_name;
use crate::sim::{run, RunOptions};
use crate::testutil::{job, tiny_world};

fn steps(w: &World, a: &mut Gavel, at_ms: &[(i64, Vec<SimEvent>)]) {
    a.start(w);
    for (t, ev) in at_ms {
        a.step(*t, ev, w);
    }
}

#[test]
fn arrivals_wait_for_the_round_and_time_share_a_full_pool() {
    // Given one 8-chip pool and three 8-chip jobs: the first arrives at 0.5 h, the others
    // mid-round. Then only the first runs until the round ends; then the newcomers wait
    // for the next allocation (32 min after the last), and after it the three take turns.
    // (Not at 0: Gavel reads a last recomputation at time 0 as "never".)
    let mut w = tiny_world();
    w.pools.truncate(1);
    w.jobs = vec![job("a", 0, 0.5, 8, 10.0), job("b", 0, 0.51, 8, 10.0), job("c", 1, 0.51, 8, 10.0)];
    for j in &mut w.jobs {
        j.tp.truncate(1);
    }
    let mut g = Gavel::new(Policy::MaxMinPerf);
    let t0 = 1_800_000;
    steps(&w, &mut g, &[(t0, vec![SimEvent::Arrived(0)]), (t0 + 36_000, vec![SimEvent::Arrived(1), SimEvent::Arrived(2)])]);
    assert_eq!(g.holdings().keys().copied().collect::<Vec<_>>(), [0], "b and c wait for the round");
    let mut ran = [0u32; 3];
    let mut t = t0 + ROUND_MS;
    while t <= t0 + 40 * ROUND_MS {
        g.step(t, &[], &w);
        for &j in g.holdings().keys() {
            ran[j] += 1;
        }
        if t < t0 + RESET_MIN_MS {
            assert_eq!(g.holdings().keys().copied().collect::<Vec<_>>(), [0], "no allocation for b, c yet at {t}");
        }
        t += ROUND_MS;
    }
    assert_eq!(g.recomputations, 2, "at a's arrival and once 32 min had passed");
    let after: u32 = ran.iter().sum();
    assert_eq!(after, 40, "one job per round, the pool never idle");
    assert!(ran[1] >= 11 && ran[2] >= 11, "b and c get their thirds after the recomputation: {ran:?}");
}

#[test]
fn a_round_ends_when_all_its_jobs_have_finished() {
    let mut w = tiny_world();
    w.jobs = vec![job("a", 0, 0.0, 8, 0.01)];
    let mut g = Gavel::new(Policy::MaxMinPerf);
    steps(&w, &mut g, &[(0, vec![SimEvent::Arrived(0)])]);
    assert_eq!(g.next_wake_ms(), Some(ROUND_MS));
    g.step(36_000, &[SimEvent::Finished(0)], &w);
    assert_eq!(g.next_wake_ms(), None, "nothing left to run: no round");
    assert!(g.holdings().is_empty());
}

#[test]
fn holdings_never_exceed_healthy_chips_and_fifo_never_preempts() {
    // Given Gavel's shapes on the tiny fleet, when run, then no pool is oversubscribed
    // (the simulator would clip it; check the allocator itself) and FIFO preempts nothing.
    let mut w = tiny_world();
    w.jobs = (0..12).map(|i| job(&format!("j{i}"), i % 2, f64::from(i as u32) * 0.2, [1, 2, 4, 8][i % 4], 1.5)).collect();
    for policy in [Policy::MaxMinPerf, Policy::Fifo] {
        let mut g = Gavel::new(policy);
        g.start(&w);
        let mut t = 0;
        let mut next = 0;
        while t < 40 * ROUND_MS {
            let mut ev = Vec::new();
            while next < w.jobs.len() && w.jobs[next].arrival_ms <= t {
                ev.push(SimEvent::Arrived(next));
                next += 1;
            }
            g.step(t, &ev, &w);
            let mut used = vec![0u32; w.pools.len()];
            for h in g.holdings().values() {
                for &(p, c) in h {
                    used[p] += c;
                }
            }
            assert!(used.iter().zip(&w.pools).all(|(u, p)| *u <= p.chips), "{policy:?} at {t}: {used:?}");
            t += 60_000;
        }
    }
    let m = run(&w, by_name("gavel-fifo").expect("known").as_mut(), &RunOptions::default()).metrics;
    assert_eq!(m.jobs_done, 12);
    assert_eq!(m.preemptions + m.moves, 0, "FIFO keeps a job where it started: {m:?}");
}

#[test]
fn max_min_uses_the_slow_pool_for_the_job_that_loses_least_there() {
    // Given a fast and a slow pool and two 8-chip jobs: a runs 4x slower on the slow pool,
    // b only 1.25x. Then b goes to the slow pool and a to the fast one, both at once.
    let mut w = tiny_world();
    let mut a = job("a", 0, 0.0, 8, 1.0);
    a.tp = vec![1.0, 0.25];
    let mut b = job("b", 1, 0.0, 8, 1.0);
    b.tp = vec![1.0, 0.8];
    w.jobs = vec![a, b];
    let mut g = Gavel::new(Policy::MaxMinPerf);
    steps(&w, &mut g, &[(0, vec![SimEvent::Arrived(0), SimEvent::Arrived(1)])]);
    assert_eq!(g.holdings().get(&0), Some(&vec![(0, 8)]));
    assert_eq!(g.holdings().get(&1), Some(&vec![(1, 8)]));
}
