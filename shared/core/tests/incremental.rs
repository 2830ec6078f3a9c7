//! The incremental path gives exactly what full rounds give: two engines step the same
//! random log, one with `set_full_rounds_only(true)`; their decisions and states must be
//! equal after every entry. The fleets are roomy so the fleet is often quiet and the
//! incremental path runs; the log is built from the full-round engine's decisions.

use proptest::prelude::*;
use qm_core::fixtures::{ack_of, pool, spec, team};
use qm_core::Engine;
use qm_model::{Decision, InputEvent, LogEvent, PolicyConfig};

const TYPES: [&str; 2] = ["h100", "a100"];

#[derive(Clone, Debug)]
enum Op {
    Demand { w: usize, chips: u32 },
    Usage { w: usize, busy: u32 },
    Tick { s: u32 },
    Ack { n: usize },
    Finish { w: usize },
    Team { t: usize, g: u32 },
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        6 => (0..10usize, 0..12u32).prop_map(|(w, chips)| Op::Demand { w, chips }),
        2 => (0..10usize, 0..8u32).prop_map(|(w, busy)| Op::Usage { w, busy }),
        2 => (0..400u32).prop_map(|s| Op::Tick { s }),
        5 => (1..6usize).prop_map(|n| Op::Ack { n }),
        1 => (0..10usize).prop_map(|w| Op::Finish { w }),
        1 => (0..3usize, 0..20u32).prop_map(|(t, g)| Op::Team { t, g }),
    ];
    prop::collection::vec(op, 1..80)
}

struct Pair {
    inc: Engine,
    full: Engine,
    seq: u64,
    now_ms: i64,
    unacked: Vec<Decision>,
    /// Workloads reported waiting for a faster type, so a test can see the rule ran.
    waited: u64,
}

impl Pair {
    fn step(&mut self, e: LogEvent) {
        self.seq += 1;
        let a = self.inc.step(self.seq, self.now_ms, &e);
        let b = self.full.step(self.seq, self.now_ms, &e);
        assert_eq!(a, b, "decisions differ at seq {} on {e:?}", self.seq);
        assert!(self.inc == self.full, "state differs at seq {} on {e:?}", self.seq);
        self.waited += b.iter().filter(|d| d.reason.rule == qm_model::RuleId::FasterTypeSoon).count() as u64;
        self.unacked.extend(b);
    }
}

/// What a run did beyond agreeing: entries decided incrementally, wait reports.
struct Outcome {
    incremental: u64,
    waited: u64,
}

/// `slow_tp`: each workload's throughput on its second type (1.0 on its first).
fn run(pools: &[(usize, u32, u32)], specs: &[(usize, usize, u32, bool)], ops: &[Op], typed: Option<u32>, slow_tp: f64) -> Outcome {
    let mut policy = PolicyConfig::default();
    if let Some(h100) = typed {
        // A per-type guarantee for one team, so its rules are compared too.
        policy.team_guarantees_by_type.insert("t0".into(), [("h100".into(), f64::from(h100))].into_iter().collect());
    }
    let mut p = Pair { inc: Engine::new(policy.clone()), full: Engine::new(policy), seq: 0, now_ms: 1_000, unacked: Vec::new(), waited: 0 };
    p.full.set_full_rounds_only(true);
    for (i, (t, chips, unit)) in pools.iter().enumerate() {
        let pl = qm_model::Pool { allocation_unit: *unit, ..pool(&format!("p{i}"), "us", TYPES[*t], *chips) };
        p.step(LogEvent::Input(InputEvent::PoolDeclared(pl)));
    }
    for t in 0..3 {
        p.step(LogEvent::Input(InputEvent::TeamDeclared(team(&format!("t{t}"), 4.0))));
    }
    let specs: Vec<qm_model::WorkloadSpec> = specs
        .iter()
        .enumerate()
        .map(|(i, (t, a, step, gang))| {
            let mut s = spec(&format!("w{i}"), &format!("t{t}"), &[(TYPES[*a], 1.0), (TYPES[1 - *a], slow_tp)]);
            s.chips_step = *step;
            s.chips_min = *step;
            s.chips_max = 16;
            s.gang = *gang;
            s.drain_grace_s = 30;
            s
        })
        .collect();
    for op in ops {
        match op {
            Op::Demand { w, chips } => {
                let s = specs[w % specs.len()].clone();
                p.step(LogEvent::Input(InputEvent::DemandDeclared { spec: s, chips_desired: *chips }));
            }
            Op::Usage { w, busy } => p.step(LogEvent::Input(InputEvent::UsageReported {
                workload: format!("w{}", w % specs.len()).into(),
                chips_busy: f64::from(*busy),
                window_s: 60,
            })),
            Op::Tick { s } => {
                p.now_ms += i64::from(*s) * 1000;
                p.step(LogEvent::Input(InputEvent::Tick));
            }
            Op::Ack { n } => {
                let take = (*n).min(p.unacked.len());
                for d in p.unacked.drain(..take).collect::<Vec<_>>() {
                    if let Some(e) = ack_of(&d) {
                        p.step(LogEvent::Actuation(e));
                    }
                }
            }
            Op::Finish { w } => {
                p.step(LogEvent::Input(InputEvent::WorkloadFinished { workload: format!("w{}", w % specs.len()).into() }))
            }
            Op::Team { t, g } => p.step(LogEvent::Input(InputEvent::TeamDeclared(team(&format!("t{t}"), f64::from(*g))))),
        }
    }
    Outcome { incremental: p.inc.incremental_steps(), waited: p.waited }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn incremental_path_equals_full_rounds(
        pools in prop::collection::vec((0..2usize, 8..40u32, prop::sample::select(vec![1u32, 2, 4])), 1..4),
        specs in prop::collection::vec((0..3usize, 0..2usize, 1..4u32, prop::bool::weighted(0.2)), 1..10),
        ops in ops(),
        typed in prop::option::of(1..12u32),
        slow_tp in prop::sample::select(vec![0.5, 0.2]),
    ) {
        run(&pools, &specs, &ops, typed, slow_tp);
    }
}

/// Three rounds of demand changes by eight workloads (`chips(w, round)`), each followed
/// by a few acknowledgements, then a tick of `tick_s` and the rest acknowledged.
fn demand_rounds(chips: impl Fn(u32, u32) -> u32, acks: usize, tick_s: u32) -> Vec<Op> {
    let mut ops = Vec::new();
    for round in 0..3u32 {
        for w in 0..8 {
            ops.push(Op::Demand { w, chips: chips(w as u32, round) });
            ops.push(Op::Ack { n: acks });
        }
        ops.extend([Op::Tick { s: tick_s }, Op::Ack { n: 20 }]);
    }
    ops
}

#[test]
fn incremental_path_runs_in_a_quiet_fleet() {
    // A roomy fleet, demand changes one by one: after the first full round every change
    // is decided by the incremental path (and equals the full round, checked in `run`).
    let pools = [(0, 64, 1), (1, 64, 4)];
    let specs: Vec<(usize, usize, u32, bool)> = (0..8).map(|i| (i % 3, i % 2, 1 + (i as u32 % 2), false)).collect();
    let fast = run(&pools, &specs, &demand_rounds(|w, round| 2 + (w + round) % 5, 3, 30), None, 0.5).incremental;
    assert!(fast >= 24, "incremental path used for {fast} entries (every demand change)");
}

#[test]
fn incremental_path_runs_in_a_busy_fleet() {
    // Far more demand than chips: work is always waiting and reclaims are in flight, yet
    // every demand change is decided by the incremental path (and equals the full round,
    // checked in `run`); ticks past the drain grace make the revokes of full rounds.
    let pools = [(0, 12, 1), (1, 8, 2)];
    let specs: Vec<(usize, usize, u32, bool)> = (0..8).map(|i| (i % 3, i % 2, 1 + (i as u32 % 2), i % 4 == 3)).collect();
    let fast = run(&pools, &specs, &demand_rounds(|w, round| 6 + (w + round) % 6, 2, 40), Some(4), 0.5).incremental;
    assert!(fast >= 24, "incremental path used for {fast} entries (every demand change)");
}

#[test]
fn waiting_for_a_faster_type_decides_alike_on_both_paths() {
    // 8 H100 and 32 A100 chips; team t0's jobs run at a fifth of their speed on A100.
    // Four 8-chip jobs run 30 minutes each on H100 (the history the wait rule reads),
    // then one fills H100 and two more arrive: they wait for H100, then are placed as
    // it frees or as the wait stops paying, while both engines must agree throughout.
    let pools = [(0, 8, 1), (1, 32, 1)];
    let specs: Vec<(usize, usize, u32, bool)> = vec![(0, 0, 8, false); 5].into_iter().chain([(0, 0, 4, false), (0, 0, 2, false)]).collect();
    let mut ops = Vec::new();
    for w in 0..4 {
        ops.extend([Op::Demand { w, chips: 8 }, Op::Ack { n: 5 }, Op::Tick { s: 1_800 }, Op::Finish { w }, Op::Ack { n: 5 }]);
    }
    ops.extend([Op::Demand { w: 4, chips: 8 }, Op::Ack { n: 5 }, Op::Demand { w: 5, chips: 4 }, Op::Demand { w: 6, chips: 2 }]);
    ops.extend([Op::Tick { s: 300 }, Op::Tick { s: 300 }, Op::Finish { w: 4 }, Op::Ack { n: 10 }, Op::Tick { s: 60 }, Op::Ack { n: 10 }]);
    ops.extend((0..8).flat_map(|_| [Op::Tick { s: 900 }, Op::Ack { n: 10 }]));
    let out = run(&pools, &specs, &ops, None, 0.2);
    assert!(out.waited > 0, "the wait rule never ran: the test would prove nothing");
}
