//! The simulated world after a scenario or trace is loaded: pools, teams, jobs and
//! outages, all indexed by position so the event loop never hashes.

use qm_model::{PolicyConfig, PriorityTier};

/// One pool of the fleet (one accelerator type in one region).
#[derive(Clone, Debug, PartialEq)]
pub struct PoolSpec {
    pub id: String,
    pub region: String,
    pub accelerator: String,
    pub chips: u32,
    /// US dollars per chip-hour.
    pub price: f64,
    /// Normalized compute of one chip (H100 or the scenario's reference = 1.0).
    pub nominal_tp: f64,
}

/// One team: its entitlement as Quartermaster sees it and as today's practice sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct TeamSpec {
    pub id: String,
    /// Guarantee in normalized compute (Quartermaster, fairness entitlement).
    pub guarantee: f64,
    pub weight: f64,
    pub tier: PriorityTier,
    /// Standing reservation / nominal quota, chips per pool (static and Kueue baselines).
    pub reserved: Vec<u32>,
}

/// Whether a job finishes when its work is done or runs for a fixed lifetime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Training or batch: `work` units, then done.
    Batch,
    /// A service or standing reservation: runs from arrival for its lifetime.
    Service,
}

/// How a service's real need moves over the day.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pattern {
    Flat,
    /// need = peak * (1 - amplitude * (1 - cos(2π (h - peak_h) / 24)) / 2).
    Diurnal { amplitude: f64, peak_h: f64 },
}

/// One job or service.
#[derive(Clone, Debug, PartialEq)]
pub struct JobSpec {
    pub id: String,
    pub team: usize,
    pub arrival_ms: i64,
    /// Chips requested (the most it can use).
    pub chips: u32,
    /// Fewest chips it can run on (= chips for a gang).
    pub chips_min: u32,
    pub gang: bool,
    pub shape: Shape,
    /// Work units (batch): chips × duration on the reference type × its throughput.
    pub work: f64,
    /// End of life (service), unix ms of virtual time.
    pub end_ms: i64,
    /// Throughput per pool; 0 = the job cannot run there.
    pub tp: Vec<f64>,
    /// Fraction of held chips the job really keeps busy at its peak (hoarders: small).
    pub busy_fraction: f64,
    pub pattern: Pattern,
    pub critical: bool,
    pub urgency: f64,
}

impl JobSpec {
    /// Chips the job really needs at `t_ms` (its own demand, not what it asked for).
    pub fn need(&self, t_ms: i64) -> f64 {
        let base = f64::from(self.chips) * self.busy_fraction;
        match self.pattern {
            Pattern::Flat => base,
            Pattern::Diurnal { amplitude, peak_h } => {
                let h = t_ms as f64 / 3.6e6;
                let phase = std::f64::consts::TAU * (h - peak_h) / 24.0;
                base * (1.0 - amplitude * (1.0 - phase.cos()) / 2.0)
            }
        }
    }

    /// Whether the job may run in pool `p`.
    pub fn accepts(&self, p: usize) -> bool {
        self.tp.get(p).is_some_and(|&t| t > 0.0)
    }
}

/// A pool's healthy chips drop to `healthy` between `start_ms` and `end_ms`.
#[derive(Clone, Debug, PartialEq)]
pub struct Outage {
    pub pool: usize,
    pub start_ms: i64,
    pub end_ms: i64,
    pub healthy: u32,
}

/// Everything one run needs. Jobs are sorted by arrival, then id.
#[derive(Clone, Debug, PartialEq)]
pub struct World {
    pub name: String,
    pub description: String,
    pub seed: u64,
    pub horizon_ms: i64,
    pub tick_ms: i64,
    pub actuation_delay_ms: i64,
    pub drain_grace_s: u32,
    /// A critical job unmet for longer than this, with capacity it could use, is stranded.
    pub critical_wait_max_ms: i64,
    pub pools: Vec<PoolSpec>,
    pub teams: Vec<TeamSpec>,
    pub jobs: Vec<JobSpec>,
    pub outages: Vec<Outage>,
    pub policy: PolicyConfig,
}

impl World {
    /// Healthy chips of pool `p` at `t_ms`.
    pub fn healthy(&self, p: usize, t_ms: i64) -> u32 {
        self.outages
            .iter()
            .filter(|o| o.pool == p && o.start_ms <= t_ms && t_ms < o.end_ms)
            .map(|o| o.healthy)
            .fold(self.pools[p].chips, u32::min)
    }

    /// Times at which some pool's health changes, sorted.
    pub fn health_changes(&self) -> Vec<i64> {
        let mut v: Vec<i64> = self.outages.iter().flat_map(|o| [o.start_ms, o.end_ms]).collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}
