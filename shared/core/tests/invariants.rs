//! Property tests over random fleets and event sequences: capacity, grace, critical
//! work, determinism, snapshots and idempotence. Proptest prints the failing case and
//! its seed; `PROPTEST_CASES` scales the run.

use proptest::prelude::*;
use qm_core::fixtures::{ack_of, pool, spec, team, Given};
use qm_core::Engine;
use qm_model::{
    Action, ActuationEvent, Decision, InputEvent, LogEvent, PolicyConfig, PriorityTier, ReclaimCause, RuleId, Uuid,
};
use std::collections::BTreeMap;

const TYPES: [&str; 3] = ["h100", "a100", "l4"];

#[derive(Clone, Debug)]
enum Op {
    Demand { w: usize, chips: u32 },
    Usage { w: usize, busy: u32 },
    Finish { w: usize },
    Tick { s: u32 },
    Health { p: usize, healthy: u32 },
    Ack,
    Fail { w: usize },
}

/// (team, accepted (type, throughput in tenths), chips step, gang, preemptible, grace in minutes).
type WorkloadDraw = (usize, Vec<(usize, u32)>, u32, bool, bool, u32);

#[derive(Clone, Debug)]
struct Scenario {
    pools: Vec<(usize, u32)>,
    teams: Vec<(u32, u8)>,
    workloads: Vec<WorkloadDraw>,
    ops: Vec<Op>,
    /// `round_batch_ms` of the policy (0: every entry decided at once).
    batch_ms: u32,
    /// `upgrade_moves` of the policy.
    upgrades: bool,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let pools = prop::collection::vec((0..3usize, 0..16u32), 1..5);
    let teams = prop::collection::vec((0..8u32, 0..4u8), 1..4);
    let workloads = prop::collection::vec(
        (0..3usize, prop::collection::vec((0..3usize, 2..10u32), 1..3), 1..3u32, any::<bool>(), any::<bool>(), 0..3u32),
        1..8,
    );
    let op = prop_oneof![
        3 => (0..8usize, 0..12u32).prop_map(|(w, chips)| Op::Demand { w, chips }),
        2 => (0..8usize, 0..12u32).prop_map(|(w, busy)| Op::Usage { w, busy }),
        1 => (0..8usize).prop_map(|w| Op::Finish { w }),
        3 => (0..700u32).prop_map(|s| Op::Tick { s }),
        1 => (0..5usize, 0..16u32).prop_map(|(p, healthy)| Op::Health { p, healthy }),
        4 => Just(Op::Ack),
        1 => (0..8usize).prop_map(|w| Op::Fail { w }),
    ];
    let batch = prop_oneof![3 => Just(0u32), 1 => Just(120_000u32)];
    (pools, teams, workloads, prop::collection::vec(op, 1..60), batch, any::<bool>())
        .prop_map(|(pools, teams, workloads, ops, batch_ms, upgrades)| Scenario { pools, teams, workloads, ops, batch_ms, upgrades })
}

fn tier(t: u8) -> PriorityTier {
    [PriorityTier::Low, PriorityTier::Normal, PriorityTier::High, PriorityTier::Critical][usize::from(t % 4)]
}

/// Turns a scenario into a log. Actuation events are derived from the decisions so far
/// (an ideal actuator that acts when the scenario says `Ack`), so the log depends on
/// the engine: `run` builds and steps it in one pass.
struct Run {
    /// The engine, stepped at increasing sequence numbers.
    given: Given,
    unacked: Vec<Decision>,
    log: Vec<(i64, Decision)>,
    reclaims: BTreeMap<(String, String), i64>,
    dup: bool,
    snapshot_at: Option<usize>,
}

impl Run {
    fn step(&mut self, e: LogEvent) {
        let out = self.given.step(&e);
        if self.dup {
            let before = self.given.engine.state().clone();
            let again = self.given.step(&e);
            assert!(again.is_empty(), "duplicate {e:?} decided {again:?}");
            assert_eq!(&before, self.given.engine.state(), "duplicate {e:?} changed state");
        }
        for d in out {
            self.check_decision(&d);
            self.unacked.push(d.clone());
            self.log.push((self.given.now_ms, d));
        }
        check_state(&self.given.engine);
    }

    fn check_decision(&mut self, d: &Decision) {
        assert!(!matches!(d.reason.rule, RuleId::Other(_)), "{d:?}");
        let key = |p: &qm_model::PoolId| (d.workload.to_string(), p.to_string());
        let critical = self.given.engine.state().workloads.get(&d.workload).is_some_and(|w| w.spec.critical);
        match &d.action {
            Action::Reclaim { pool, deadline_ms, cause, .. } => {
                assert!(!critical, "critical work reclaimed: {d:?}");
                assert!(*deadline_ms >= self.given.now_ms);
                // A move reclaims the pool it leaves, and only a move uses that cause.
                assert_eq!(*cause == ReclaimCause::Move, d.reason.rule == RuleId::Move, "{d:?}");
                self.reclaims.insert(key(pool), *deadline_ms);
            }
            Action::Revoke { pool, .. } => {
                let rule = &d.reason.rule;
                assert!(matches!(rule, RuleId::GraceOver | RuleId::DemandDrop | RuleId::PoolShrink | RuleId::PoolRetired), "{d:?}");
                if *rule == RuleId::GraceOver {
                    let deadline = self.reclaims.get(&key(pool)).copied().expect("grace_over follows a reclaim");
                    assert!(self.given.now_ms >= deadline, "revoked before its grace: {d:?}");
                }
            }
            _ => {}
        }
    }
}

/// Never more decided than healthy; a lone critical workload with nothing is never
/// left without a reclaim in flight while preemptible lower-tier work holds a pool it accepts.
fn check_state(engine: &Engine) {
    let s = engine.state();
    for (pid, p) in &s.pools {
        let healthy = if p.retired { 0 } else { p.pool.healthy_chips };
        let decided: u32 = s.workloads.values().filter_map(|w| w.grants.get(pid)).map(|g| g.decided).sum();
        assert!(decided <= healthy, "{pid}: {decided} decided > {healthy} healthy");
    }
    for (id, w) in &s.workloads {
        // A batched round has not looked at the latest entries yet.
        if engine.round_pending() {
            break;
        }
        if !w.spec.critical || w.finished || w.target_total() > 0 || w.chips_wanted_total() < w.spec.chips_min {
            continue;
        }
        if w.pending.as_ref().is_some_and(|p| p.reason.rule == RuleId::AwaitingReclaim) {
            continue;
        }
        let my_tier = s.teams.get(&w.spec.team).map(|t| t.team.tier);
        for (pid, p) in &s.pools {
            if p.retired || w.spec.throughput_on(&p.pool.accelerator).is_none_or(|t| t <= 0.0) || w.failed_pools.contains(pid) {
                continue;
            }
            let planned: u32 = s.workloads.values().filter_map(|v| v.grants.get(pid)).map(|g| g.target()).sum();
            let free = p.pool.healthy_chips.saturating_sub(planned);
            let takeable: u32 = s
                .workloads
                .values()
                .filter(|v| v.spec.preemptible && !v.spec.critical)
                .filter(|v| s.teams.get(&v.spec.team).map(|t| t.team.tier) <= my_tier)
                .filter_map(|v| v.grants.get(pid))
                .filter(|g| g.reclaim.is_none())
                .map(|g| g.target())
                .sum();
            assert!(free + takeable < w.spec.chips_min, "critical {id} stranded: {pid} has {free} free + {takeable} takeable");
        }
    }
}

fn run(sc: &Scenario, dup: bool, snapshot_at: Option<usize>) -> Vec<(i64, Decision)> {
    let policy = PolicyConfig { round_batch_ms: sc.batch_ms, upgrade_moves: sc.upgrades, ..PolicyConfig::default() };
    let mut r = Run {
        given: Given { now_ms: 1_000, ..Given::new(policy) },
        unacked: Vec::new(),
        log: Vec::new(),
        reclaims: BTreeMap::new(),
        dup,
        snapshot_at,
    };
    for (i, (t, chips)) in sc.pools.iter().enumerate() {
        r.step(LogEvent::Input(InputEvent::PoolDeclared(pool(&format!("p{i}"), "us", TYPES[*t], *chips))));
    }
    for (i, (g, t)) in sc.teams.iter().enumerate() {
        let tm = qm_model::Team { tier: tier(*t), ..team(&format!("t{i}"), f64::from(*g)) };
        r.step(LogEvent::Input(InputEvent::TeamDeclared(tm)));
    }
    let specs: Vec<qm_model::WorkloadSpec> = sc
        .workloads
        .iter()
        .enumerate()
        .map(|(i, (t, acc, step, gang, preemptible, grace))| {
            let accepts: Vec<(&str, f64)> = acc.iter().map(|(a, tp)| (TYPES[*a], f64::from(*tp) / 10.0)).collect();
            let mut s = spec(&format!("w{i}"), &format!("t{}", t % sc.teams.len()), &accepts);
            // One critical workload at most (the first), elastic and never preemptible.
            s.critical = i == 0 && *gang && !*preemptible;
            s.gang = *gang && !s.critical;
            s.chips_step = if s.critical { 1 } else { *step };
            s.chips_min = s.chips_step;
            s.preemptible = *preemptible;
            s.drain_grace_s = grace * 60;
            s
        })
        .collect();
    for (k, op) in sc.ops.iter().enumerate() {
        if r.snapshot_at == Some(k) {
            // Named fields, as the policy service writes snapshots (additive fields are skipped
            // when at their default, which only a named encoding can express).
            let bytes = rmp_serde::to_vec_named(&r.given.engine).expect("snapshot encodes");
            r.given.engine = rmp_serde::from_slice(&bytes).expect("snapshot decodes");
        }
        let wid = |w: &usize| qm_model::WorkloadId::from(format!("w{}", w % specs.len()));
        match op {
            Op::Demand { w, chips } => {
                let s = specs[w % specs.len()].clone();
                r.step(LogEvent::Input(InputEvent::DemandDeclared { spec: s, chips_desired: *chips }));
            }
            Op::Usage { w, busy } => r.step(LogEvent::Input(InputEvent::UsageReported {
                workload: wid(w),
                chips_busy: f64::from(*busy),
                window_s: 60,
            })),
            Op::Finish { w } => r.step(LogEvent::Input(InputEvent::WorkloadFinished { workload: wid(w) })),
            Op::Tick { s } => {
                r.given.now_ms += i64::from(*s) * 1000;
                r.step(LogEvent::Input(InputEvent::Tick));
            }
            Op::Health { p, healthy } => {
                let (t, chips) = sc.pools[p % sc.pools.len()];
                let mut pl = pool(&format!("p{}", p % sc.pools.len()), "us", TYPES[t], chips);
                pl.healthy_chips = (*healthy).min(chips);
                r.step(LogEvent::Input(InputEvent::PoolDeclared(pl)));
            }
            Op::Ack => {
                for d in std::mem::take(&mut r.unacked) {
                    if let Some(e) = ack_of(&d) {
                        r.step(LogEvent::Actuation(e));
                    }
                }
            }
            Op::Fail { w } => {
                let e = ActuationEvent::ActuationFailed { decision_id: Uuid::nil(), workload: wid(w), pool: None, error: "x".into() };
                r.step(LogEvent::Actuation(e));
            }
        }
    }
    r.log
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Capacity, grace and critical invariants hold after every step (checked in `run`),
    /// and the same log gives the same bytes.
    #[test]
    fn invariants_and_determinism(sc in scenario()) {
        let a = run(&sc, false, None);
        let b = run(&sc, false, None);
        prop_assert_eq!(rmp_serde::to_vec(&a).expect("encodes"), rmp_serde::to_vec(&b).expect("encodes"));
    }

    /// Applying every entry twice changes nothing; a snapshot taken midway and restored
    /// gives the same decisions as the full log.
    #[test]
    fn duplicates_and_snapshots_change_nothing(sc in scenario(), at in 0..60usize) {
        let plain = run(&sc, false, None);
        let dup = run(&sc, true, None);
        prop_assert_eq!(&plain, &dup);
        let snap = run(&sc, false, Some(at));
        prop_assert_eq!(&plain, &snap);
    }
}
