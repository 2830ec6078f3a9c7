//! Quartermaster: the real policy core (`qm_core::Engine`) under virtual time. The
//! adapter translates simulator events into log entries, and plays the actuator: every
//! Grant, Revoke or Release is applied after the scenario's actuation delay and reported back as
//! `GrantApplied` / `GrantRevoked`, because the core never assumes a grant took effect.
//! What a job holds is what the actuator applied, never what the core decided.

use crate::alloc::{Allocator, Holdings, SimEvent};
use crate::world::{JobSpec, Shape, World};
use qm_core::Engine;
use qm_model::{
    AcceleratorThroughput, AcceleratorType, Action, ActuationEvent, Decision, InputEvent, LogEvent, Pool, PoolId,
    Region, Team, TeamId, Uuid, WorkloadId, WorkloadKind, WorkloadSpec,
};
use std::collections::{BTreeMap, VecDeque};

/// Most log entries folded in one step before the adapter stops and says so: a guard
/// against a decide/actuate loop that never settles.
const ENTRIES_PER_STEP_MAX: usize = 100_000;

/// The Quartermaster adapter.
#[derive(Default)]
pub struct Quartermaster {
    engine: Option<Engine>,
    seq: u64,
    delay_ms: i64,
    tick_s: u32,
    tick_ms: i64,
    /// Workloads declared and not finished: while any exist, the core gets a tick every
    /// `tick_ms` (its time-based rules: grace periods, idle windows, lifetimes).
    live: usize,
    last_ms: i64,
    job_by_id: BTreeMap<WorkloadId, usize>,
    pool_by_id: BTreeMap<PoolId, usize>,
    /// Applied chips per (job, pool): the actuator's truth.
    applied: BTreeMap<(usize, usize), u32>,
    /// Actuation reports not delivered yet: (due time, report), in decision order.
    inflight: VecDeque<(i64, ActuationEvent)>,
    holdings: Holdings,
    /// Decisions per rule, for the report.
    pub rules: BTreeMap<String, u64>,
    /// Steps cut short by [`ENTRIES_PER_STEP_MAX`] (should stay 0).
    pub runaway_steps: u64,
}

fn pool_id(world: &World, p: usize) -> PoolId {
    PoolId(world.pools[p].id.clone())
}

/// The workload spec a simulated job declares.
pub fn spec_of(world: &World, j: &JobSpec) -> WorkloadSpec {
    let mut accepts: Vec<AcceleratorThroughput> = Vec::new();
    for (p, pool) in world.pools.iter().enumerate() {
        if j.accepts(p) && !accepts.iter().any(|a| a.accelerator.0 == pool.accelerator) {
            accepts.push(AcceleratorThroughput {
                accelerator: AcceleratorType(pool.accelerator.clone()),
                relative_throughput: j.tp[p],
            });
        }
    }
    WorkloadSpec {
        id: WorkloadId(j.id.clone()),
        team: TeamId(world.teams[j.team].id.clone()),
        kind: if j.shape == Shape::Service { WorkloadKind::Inference } else { WorkloadKind::Training },
        accepts,
        chips_min: j.chips_min,
        chips_max: j.chips,
        chips_step: if j.gang { j.chips } else { 1 },
        gang: j.gang,
        preemptible: !j.critical,
        critical: j.critical,
        drain_grace_s: world.drain_grace_s,
        urgency: j.urgency,
        deadline_ms: None,
        risk_tolerance: 0.5,
    }
}

impl Quartermaster {
    fn engine(&mut self) -> &mut Engine {
        self.engine.get_or_insert_with(|| Engine::new(Default::default()))
    }

    /// Folds one entry and handles the decisions it produced.
    fn feed(&mut self, now_ms: i64, event: LogEvent) {
        self.seq += 1;
        let seq = self.seq;
        let decisions = self.engine().step(seq, now_ms, &event);
        for (i, d) in decisions.into_iter().enumerate() {
            self.act(now_ms, seq, i, d);
        }
    }

    /// Plays the actuator for one decision.
    fn act(&mut self, now_ms: i64, seq: u64, index: usize, d: Decision) {
        *self.rules.entry(d.reason.rule.to_string()).or_default() += 1;
        let decision_id = Uuid::from_u128((u128::from(seq) << 32) | index as u128);
        if !self.job_by_id.contains_key(&d.workload) {
            return;
        }
        let due = now_ms + self.delay_ms;
        let report = match d.action {
            Action::Grant { pool, chips } => ActuationEvent::GrantApplied { decision_id, workload: d.workload, pool, chips },
            Action::Revoke { pool, chips } => ActuationEvent::GrantRevoked { decision_id, workload: d.workload, pool, chips },
            // Reported like any other: the core counts the chips until the release is.
            Action::Release { pool } => ActuationEvent::GrantRevoked { decision_id, workload: d.workload, pool, chips: 0 },
            // The workload is told to drain; its chips go when the core revokes them.
            Action::Reclaim { .. } | Action::Pending { .. } => return,
        };
        self.inflight.push_back((due, report));
    }

    fn deliver_due(&mut self, now_ms: i64) -> usize {
        let mut n = 0;
        while let Some(pos) = self.inflight.iter().position(|(due, _)| *due <= now_ms) {
            let Some((_, ev)) = self.inflight.remove(pos) else { break };
            if let ActuationEvent::GrantApplied { workload, pool, chips, .. }
            | ActuationEvent::GrantRevoked { workload, pool, chips, .. } = &ev
            {
                if let (Some(&j), Some(&p)) = (self.job_by_id.get(workload), self.pool_by_id.get(pool)) {
                    if *chips == 0 {
                        self.applied.remove(&(j, p));
                    } else {
                        self.applied.insert((j, p), *chips);
                    }
                }
            }
            self.feed(now_ms, LogEvent::Actuation(ev));
            n += 1;
            if n >= ENTRIES_PER_STEP_MAX {
                self.runaway_steps += 1;
                break;
            }
        }
        n
    }
}

impl Allocator for Quartermaster {
    fn name(&self) -> &'static str {
        "quartermaster"
    }

    fn start(&mut self, world: &World) {
        *self = Self::default();
        self.engine = Some(Engine::new(world.policy.clone()));
        self.delay_ms = world.actuation_delay_ms;
        self.tick_s = (world.tick_ms / 1000).max(1) as u32;
        self.tick_ms = world.tick_ms.max(1);
        self.job_by_id = world.jobs.iter().enumerate().map(|(i, j)| (WorkloadId(j.id.clone()), i)).collect();
        self.pool_by_id = (0..world.pools.len()).map(|p| (pool_id(world, p), p)).collect();
        for (p, pool) in world.pools.iter().enumerate() {
            let ev = InputEvent::PoolDeclared(Pool {
                id: pool_id(world, p),
                region: Region(pool.region.clone()),
                accelerator: AcceleratorType(pool.accelerator.clone()),
                chips: pool.chips,
                healthy_chips: pool.chips,
                allocation_unit: 1,
                price_per_chip_hour: pool.price,
            });
            self.feed(0, LogEvent::Input(ev));
        }
        for t in &world.teams {
            let ev = InputEvent::TeamDeclared(Team {
                id: TeamId(t.id.clone()),
                guarantee: t.guarantee,
                limit: None,
                weight: t.weight,
                tier: t.tier,
                regions: Vec::new(),
                headroom_fraction: 0.0,
            });
            self.feed(0, LogEvent::Input(ev));
        }
        self.deliver_due(0);
    }

    fn step(&mut self, now_ms: i64, events: &[SimEvent], world: &World) {
        self.last_ms = now_ms;
        for e in events {
            let ev = match e {
                SimEvent::Arrived(j) => {
                    self.live += 1;
                    let job = &world.jobs[*j];
                    InputEvent::DemandDeclared { spec: spec_of(world, job), chips_desired: job.chips }
                }
                SimEvent::Finished(j) => {
                    // The job is gone: its chips are physically free at once.
                    self.live = self.live.saturating_sub(1);
                    self.applied.retain(|(k, _), _| k != j);
                    InputEvent::WorkloadFinished { workload: WorkloadId(world.jobs[*j].id.clone()) }
                }
                SimEvent::Usage { job, busy } => InputEvent::UsageReported {
                    workload: WorkloadId(world.jobs[*job].id.clone()),
                    chips_busy: *busy,
                    window_s: self.tick_s,
                },
                SimEvent::Health { pool, healthy } => {
                    let p = &world.pools[*pool];
                    InputEvent::PoolDeclared(Pool {
                        id: pool_id(world, *pool),
                        region: Region(p.region.clone()),
                        accelerator: AcceleratorType(p.accelerator.clone()),
                        chips: p.chips,
                        healthy_chips: *healthy,
                        allocation_unit: 1,
                        price_per_chip_hour: p.price,
                    })
                }
            };
            self.feed(now_ms, LogEvent::Input(ev));
            self.deliver_due(now_ms);
        }
        self.feed(now_ms, LogEvent::Input(InputEvent::Tick));
        self.deliver_due(now_ms);
        let mut h = Holdings::new();
        for (&(j, p), &c) in &self.applied {
            if c > 0 {
                h.entry(j).or_default().push((p, c));
            }
        }
        self.holdings = h;
    }

    fn holdings(&self) -> &Holdings {
        &self.holdings
    }

    fn next_wake_ms(&self) -> Option<i64> {
        let tick = (self.live > 0).then(|| (self.last_ms / self.tick_ms + 1) * self.tick_ms);
        self.inflight.iter().map(|(d, _)| *d).chain(tick).min()
    }
}
