//! A deterministic synthetic log for tests and the rebuild measurement: a fleet is
//! declared, then workloads come and go, report usage (the bulk of a real log), time
//! ticks, and every decision is acknowledged by an actuation report, the way the
//! actuator closes the loop. One seed gives one log.

use crate::writer::DECISION_ID_TAG;
use qm_core::Engine;
use qm_model::{
    deterministic_id, AcceleratorThroughput, InputEvent, LogEvent, PolicyConfig, Pool, PriorityTier, Team,
    WorkloadSpec,
};
use std::collections::VecDeque;

/// The shape of a synthetic log.
#[derive(Clone, Debug)]
pub struct SyntheticConfig {
    pub seed: u64,
    pub pools: u32,
    pub teams: u32,
    /// Workload ids are drawn from this many.
    pub workloads: u32,
    /// One entry in this many is a demand change or a finish (each runs a decision round,
    /// which dominates fold time); the rest are usage reports, ticks and acks.
    pub demand_one_in: u64,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        Self { seed: 42, pools: 16, teams: 8, workloads: 400, demand_one_in: 200 }
    }
}

/// The log as an iterator of `(sequence, time_ms, event)`, starting at sequence 1.
pub struct SyntheticLog {
    config: SyntheticConfig,
    rng: u64,
    seq: u64,
    time_ms: i64,
    /// Fleet declarations still to emit.
    preamble: VecDeque<InputEvent>,
    /// Actuation reports owed for decisions already taken.
    acks: VecDeque<qm_model::ActuationEvent>,
    /// Decides, so the acks name real decisions; not the engine under test.
    engine: Engine,
}

const TYPES: [&str; 4] = ["h100", "a100", "l4", "tpu-v5e"];

impl SyntheticLog {
    pub fn new(config: SyntheticConfig) -> Self {
        let mut preamble = VecDeque::new();
        for p in 0..config.pools {
            preamble.push_back(InputEvent::PoolDeclared(Pool {
                id: format!("p{p}").into(),
                region: format!("r{}", p % 3).into(),
                accelerator: TYPES[p as usize % TYPES.len()].into(),
                chips: 64,
                healthy_chips: 64,
                allocation_unit: 1,
                price_per_chip_hour: 1.0 + f64::from(p % 4),
            }));
        }
        for t in 0..config.teams {
            preamble.push_back(InputEvent::TeamDeclared(Team {
                id: format!("t{t}").into(),
                guarantee: 32.0,
                limit: None,
                weight: 1.0,
                tier: PriorityTier::Normal,
                regions: vec![],
                headroom_fraction: 0.1,
            }));
        }
        let rng = config.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        Self {
            config,
            rng,
            seq: 0,
            time_ms: 1_700_000_000_000,
            preamble,
            acks: VecDeque::new(),
            engine: Engine::new(PolicyConfig::default()),
        }
    }

    fn rnd(&mut self, n: u64) -> u64 {
        self.rng = self.rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.rng >> 33) % n.max(1)
    }

    fn spec(&mut self, w: u64) -> WorkloadSpec {
        let a = (w % TYPES.len() as u64) as usize;
        let b = (a + 1) % TYPES.len();
        let accepts = vec![
            AcceleratorThroughput { accelerator: TYPES[a].into(), relative_throughput: 1.0 },
            AcceleratorThroughput { accelerator: TYPES[b].into(), relative_throughput: 0.6 },
        ];
        WorkloadSpec::elastic(format!("w{w}"), format!("t{}", w % u64::from(self.config.teams.max(1))), accepts, 8)
    }

    fn next_event(&mut self) -> LogEvent {
        if let Some(e) = self.preamble.pop_front() {
            return LogEvent::Input(e);
        }
        if !self.acks.is_empty() && self.rnd(4) == 0 {
            if let Some(ack) = self.acks.pop_front() {
                return LogEvent::Actuation(ack);
            }
        }
        let w = self.rnd(u64::from(self.config.workloads.max(1)));
        if self.rnd(self.config.demand_one_in) == 0 {
            return LogEvent::Input(if self.rnd(5) == 0 {
                InputEvent::WorkloadFinished { workload: format!("w{w}").into() }
            } else {
                let chips = 1 + self.rnd(8) as u32;
                InputEvent::DemandDeclared { spec: self.spec(w), chips_desired: chips }
            });
        }
        if self.rnd(20) == 0 {
            return LogEvent::Input(InputEvent::Tick);
        }
        // Mostly busy; one workload in ten hoards (uses a fifth), so idle give-back fires.
        let busy = if w % 10 == 0 { 0.2 } else { 8.0 };
        LogEvent::Input(InputEvent::UsageReported { workload: format!("w{w}").into(), chips_busy: busy, window_s: 60 })
    }
}

impl Iterator for SyntheticLog {
    type Item = (u64, i64, LogEvent);

    fn next(&mut self) -> Option<Self::Item> {
        self.seq += 1;
        self.time_ms += 50;
        let event = self.next_event();
        let decisions = self.engine.step(self.seq, self.time_ms, &event);
        for (index, decision) in decisions.iter().enumerate() {
            let id = deterministic_id(self.time_ms, DECISION_ID_TAG, self.seq, u32::try_from(index).unwrap_or(u32::MAX));
            self.acks.extend(decision.applied_report(id));
        }
        Some((self.seq, self.time_ms, event))
    }
}
