//! The simulated fleet: teams, pools and workloads, and the stream of demand changes
//! and usage samples they send. Deterministic: request `i` is always the same request.
//!
//! Pools are large enough that every demand increase can be granted at once, so each
//! "up" demand ends in a `GrantApplied` and demand-to-grant latency measures the
//! pipeline, not the policy's refusals.

use qm_model::{AcceleratorThroughput, InputEvent, Pool, PriorityTier, Team, WorkloadSpec};
use std::sync::atomic::{AtomicU32, Ordering};

const TYPES: [&str; 6] = ["h100", "h200", "a100", "l4", "tpu-v5e", "tpu-v6e"];
/// Chips a workload asks for when "down" and when "up".
pub const CHIPS_LOW: u32 = 2;
pub const CHIPS_HIGH: u32 = 4;

/// Size of the simulated fleet.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FleetShape {
    pub teams: usize,
    pub pools: usize,
    pub workloads: usize,
    /// Share of requests that are demand changes; the rest are usage samples.
    pub demand_fraction: f64,
}

/// What request `i` is.
#[derive(Clone, Debug)]
pub struct Request {
    pub subject: String,
    pub event: InputEvent,
    /// A demand change, and whether it asks for more chips (so a grant should follow).
    pub demand: Option<bool>,
}

/// The fleet and each workload's current demand, toggled by each demand change.
pub struct Fleet {
    pub shape: FleetShape,
    specs: Vec<WorkloadSpec>,
    desired: Vec<AtomicU32>,
}

impl Fleet {
    pub fn new(shape: FleetShape) -> Self {
        let specs = (0..shape.workloads).map(|w| workload(w, shape.teams)).collect();
        let desired = (0..shape.workloads).map(|_| AtomicU32::new(CHIPS_LOW)).collect();
        Self { shape, specs, desired }
    }

    pub fn teams(&self) -> Vec<Team> {
        (0..self.shape.teams)
            .map(|t| Team {
                id: format!("t{t:04}").into(),
                guarantee: 100.0,
                limit: None,
                weight: 1.0,
                tier: PriorityTier::Normal,
                regions: vec![],
                headroom_fraction: 0.1,
            })
            .collect()
    }

    /// Pools each large enough for the whole fleet's largest demand: placement prefers
    /// the cheapest pool of a type, so any one pool may end up holding most of it.
    pub fn pools(&self) -> Vec<Pool> {
        let chips = u32::try_from(self.shape.workloads * CHIPS_HIGH as usize)
            .unwrap_or(u32::MAX)
            .clamp(1_000, qm_model::limits::POOL_CHIPS_MAX);
        (0..self.shape.pools)
            .map(|p| Pool {
                id: format!("p{p:03}").into(),
                region: format!("r{}", p / TYPES.len()).into(),
                accelerator: TYPES[p % TYPES.len()].into(),
                chips,
                healthy_chips: chips,
                allocation_unit: 1,
                price_per_chip_hour: 1.0 + (p % TYPES.len()) as f64,
            })
            .collect()
    }

    /// The first demand of every workload, at the low size.
    pub fn initial_demand(&self, w: usize) -> Request {
        let spec = self.specs[w].clone();
        let subject = format!("qm.in.demand.{}.{}", spec.team, spec.id);
        Request { subject, event: InputEvent::DemandDeclared { spec, chips_desired: CHIPS_LOW }, demand: Some(false) }
    }

    /// Request `i` of the measured phase: workloads take turns, so one workload's
    /// requests are as far apart as the rate allows.
    pub fn request(&self, i: u64) -> Request {
        let w = (i % self.shape.workloads as u64) as usize;
        let spec = &self.specs[w];
        let is_demand = (mix(i) as f64 / u64::MAX as f64) < self.shape.demand_fraction;
        if is_demand {
            let previous = self.desired[w]
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| Some(if c == CHIPS_LOW { CHIPS_HIGH } else { CHIPS_LOW }))
                .unwrap_or(CHIPS_LOW);
            let chips = if previous == CHIPS_LOW { CHIPS_HIGH } else { CHIPS_LOW };
            let subject = format!("qm.in.demand.{}.{}", spec.team, spec.id);
            let event = InputEvent::DemandDeclared { spec: spec.clone(), chips_desired: chips };
            Request { subject, event, demand: Some(chips > previous) }
        } else {
            // Busy at the largest size ever granted: never idle, so no give-back fires.
            let subject = format!("qm.in.usage.{}.{}", spec.team, spec.id);
            let event = InputEvent::UsageReported { workload: spec.id.clone(), chips_busy: f64::from(CHIPS_HIGH), window_s: 10 };
            Request { subject, event, demand: None }
        }
    }
}

fn workload(w: usize, teams: usize) -> WorkloadSpec {
    let a = w % TYPES.len();
    let b = (a + 1 + (w / TYPES.len()) % (TYPES.len() - 1)) % TYPES.len();
    let accepts = vec![
        AcceleratorThroughput { accelerator: TYPES[a].into(), relative_throughput: 1.0 },
        AcceleratorThroughput { accelerator: TYPES[b].into(), relative_throughput: 0.6 },
    ];
    WorkloadSpec::elastic(format!("w{w:06}"), format!("t{:04}", w % teams.max(1)), accepts, 64)
}

/// splitmix64: a fixed, well-spread hash of the request number.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
