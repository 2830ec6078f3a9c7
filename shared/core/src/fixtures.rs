//! Builders for tests, examples and the simulator: pools, teams, workload specs and a
//! `Given` harness that steps an engine with increasing sequence numbers.

use crate::Engine;
use qm_model::{
    AcceleratorThroughput, ActuationEvent, Action, Decision, InputEvent, LogEvent, PolicyConfig, Pool, PriorityTier,
    Team, WorkloadSpec,
};

/// A pool `id` of `chips` healthy chips of `accelerator` in `region`, unit 1, $1/chip-hour.
pub fn pool(id: &str, region: &str, accelerator: &str, chips: u32) -> Pool {
    Pool {
        id: id.into(),
        region: region.into(),
        accelerator: accelerator.into(),
        chips,
        healthy_chips: chips,
        allocation_unit: 1,
        price_per_chip_hour: 1.0,
    }
}

/// A team with a guarantee, weight 1, normal tier, every region.
pub fn team(id: &str, guarantee: f64) -> Team {
    Team {
        id: id.into(),
        guarantee,
        limit: None,
        weight: 1.0,
        tier: PriorityTier::Normal,
        regions: Vec::new(),
        headroom_fraction: 0.0,
    }
}

/// An elastic, preemptible workload of `team` that runs on the listed types.
pub fn spec(id: &str, team: &str, accepts: &[(&str, f64)]) -> WorkloadSpec {
    WorkloadSpec {
        id: id.into(),
        team: team.into(),
        kind: Default::default(),
        accepts: accepts
            .iter()
            .map(|(a, t)| AcceleratorThroughput { accelerator: (*a).into(), relative_throughput: *t })
            .collect(),
        chips_min: 1,
        chips_max: 100_000,
        chips_step: 1,
        gang: false,
        preemptible: true,
        critical: false,
        drain_grace_s: 60,
        urgency: 0.0,
        deadline_ms: None,
        risk_tolerance: 0.5,
    }
}

/// Steps an engine through a scenario: sequence numbers count up, time is explicit,
/// and every grant/revoke can be acknowledged the way an ideal actuator would.
pub struct Given {
    pub engine: Engine,
    pub seq: u64,
    pub now_ms: i64,
}

impl Given {
    /// A fresh engine under `policy`, at time 0.
    pub fn new(policy: PolicyConfig) -> Self {
        Self { engine: Engine::new(policy), seq: 0, now_ms: 0 }
    }

    /// Declares `pools`, in order: the fleet a scenario starts from.
    pub fn with_pools(mut self, pools: &[Pool]) -> Self {
        for p in pools {
            self.input(InputEvent::PoolDeclared(p.clone()));
        }
        self
    }

    /// Declares teams by (id, guarantee), in order, built by [`team`].
    pub fn with_teams(mut self, teams: &[(&str, f64)]) -> Self {
        for (id, guarantee) in teams {
            self.input(InputEvent::TeamDeclared(team(id, *guarantee)));
        }
        self
    }

    /// Steps one log entry at the next sequence number and the current time.
    pub fn step(&mut self, e: &LogEvent) -> Vec<Decision> {
        self.seq += 1;
        self.engine.step(self.seq, self.now_ms, e)
    }

    /// Steps one input at the current time.
    pub fn input(&mut self, e: InputEvent) -> Vec<Decision> {
        self.step(&LogEvent::Input(e))
    }

    /// Steps one actuation report at the current time.
    pub fn actuation(&mut self, e: ActuationEvent) -> Vec<Decision> {
        self.step(&LogEvent::Actuation(e))
    }

    /// Moves time forward by `s` seconds and steps a tick.
    pub fn tick_after(&mut self, s: i64) -> Vec<Decision> {
        self.now_ms += s * 1000;
        self.input(InputEvent::Tick)
    }

    /// Declares demand.
    pub fn demand(&mut self, spec: &WorkloadSpec, chips: u32) -> Vec<Decision> {
        self.input(InputEvent::DemandDeclared { spec: spec.clone(), chips_desired: chips })
    }

    /// Declares demand and acknowledges what it decides ([`Given::ack`]): the usual
    /// "given a workload holds its grant" step. Returns every decision along the way.
    pub fn granted(&mut self, spec: &WorkloadSpec, chips: u32) -> Vec<Decision> {
        let decisions = self.demand(spec, chips);
        self.ack(decisions)
    }

    /// Acknowledges decisions as an ideal actuator would (grants and revokes applied
    /// at once), folding the acknowledgements and everything they cause, to a fixpoint.
    /// Returns every decision made along the way, acknowledged ones included.
    pub fn ack(&mut self, decisions: Vec<Decision>) -> Vec<Decision> {
        let mut all = Vec::new();
        let mut queue = decisions;
        let mut guard = 0;
        while !queue.is_empty() && guard < 1000 {
            guard += 1;
            let mut next = Vec::new();
            for d in &queue {
                if let Some(e) = ack_of(d) {
                    next.extend(self.actuation(e));
                }
            }
            all.append(&mut queue);
            queue = next;
        }
        all
    }
}

/// The grants among `decisions` for `workload`, as (pool, chips).
pub fn grants_to(decisions: &[Decision], workload: &str) -> Vec<(String, u32)> {
    decisions
        .iter()
        .filter(|d| d.workload.as_str() == workload)
        .filter_map(|d| match &d.action {
            Action::Grant { pool, chips } => Some((pool.to_string(), *chips)),
            _ => None,
        })
        .collect()
}

/// What an ideal actuator reports for a decision: grants, revokes and releases applied
/// in full (nil decision id); `None` for decisions that apply nothing by themselves.
pub fn ack_of(d: &Decision) -> Option<ActuationEvent> {
    let (decision_id, workload) = (qm_model::Uuid::nil(), d.workload.clone());
    match &d.action {
        Action::Grant { pool, chips } => Some(ActuationEvent::GrantApplied { decision_id, workload, pool: pool.clone(), chips: *chips }),
        Action::Revoke { pool, chips } => Some(ActuationEvent::GrantRevoked { decision_id, workload, pool: pool.clone(), chips: *chips }),
        Action::Release { pool } => Some(ActuationEvent::GrantRevoked { decision_id, workload, pool: pool.clone(), chips: 0 }),
        _ => None,
    }
}

/// A 64-bit linear congruential generator: deterministic draws for synthetic fleets.
struct Lcg(u64);

impl Lcg {
    /// The next draw in `0..m`.
    fn below(&mut self, m: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % m.max(1)
    }
}

/// `n` synthetic demands for benches and simulations at scale, the same for a given
/// `seed`: workload `w{i:06}` of team `t{i mod teams:02}` accepts two of `types` (the
/// first at 0.5-1.0, the second at 0.3-0.8 relative throughput), a quarter are gangs, 1%
/// critical (and not preemptible), and each wants 1 to `max_chips` chips.
pub fn synthetic_demands(n: usize, teams: usize, types: &[&str], max_chips: u32, seed: u64) -> Vec<(WorkloadSpec, u32)> {
    let mut rng = Lcg(seed);
    let kinds = types.len() as u64;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let (a, hop) = (rng.below(kinds) as usize, 1 + rng.below(kinds - 1) as usize);
        let (first, second) = (0.5 + rng.below(50) as f64 / 100.0, 0.3 + rng.below(50) as f64 / 100.0);
        let accepts = [(types[a], first), (types[(a + hop) % types.len()], second)];
        let mut s = spec(&format!("w{i:06}"), &format!("t{:02}", i % teams.max(1)), &accepts);
        (s.gang, s.critical) = (rng.below(4) == 0, rng.below(100) == 0);
        s.preemptible = !s.critical;
        out.push((s, 1 + rng.below(u64::from(max_chips)) as u32));
    }
    out
}
