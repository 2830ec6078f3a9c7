//! The fleet and its tenants as operators and workloads declare them.

use crate::ids::{AcceleratorType, PoolId, Region, TeamId, WorkloadId};
use serde::{Deserialize, Serialize};

/// One accelerator type in one region: the unit the policy places work into.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pool {
    pub id: PoolId,
    pub region: Region,
    pub accelerator: AcceleratorType,
    /// Chips installed.
    pub chips: u32,
    /// Chips that can be granted now; the rest are down or draining for repair.
    pub healthy_chips: u32,
    /// Grants are multiples of this many chips (a host, a TPU slice).
    pub allocation_unit: u32,
    /// List price per chip-hour, in US dollars.
    pub price_per_chip_hour: f64,
}

/// How much a team's work matters relative to other teams' when capacity is short.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PriorityTier {
    /// Best effort: runs on what nobody else needs.
    Low,
    #[default]
    Normal,
    High,
    /// Production: outranks every other tier.
    Critical,
}

/// A team: the owner of workloads and of a guarantee.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Team {
    pub id: TeamId,
    /// Compute the team is entitled to whenever it has demand, in normalized compute
    /// units (one unit = one H100-equivalent chip, see [`AcceleratorThroughput`]).
    pub guarantee: f64,
    /// Most normalized compute the team may hold, borrowing included; `None` = no limit.
    pub limit: Option<f64>,
    /// Share of surplus capacity relative to other teams (weighted fair share).
    pub weight: f64,
    pub tier: PriorityTier,
    /// Regions the team may run in; empty means every region.
    #[serde(default)]
    pub regions: Vec<Region>,
    /// Extra capacity, as a fraction of measured use, kept when idle capacity is given back.
    #[serde(default)]
    pub headroom_fraction: f64,
}

/// What a workload is, which shapes how it is preempted and placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WorkloadKind {
    #[default]
    Training,
    Inference,
    Batch,
    Interactive,
}

/// How fast a workload runs on one chip of a type, relative to one H100 chip (= 1.0).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AcceleratorThroughput {
    pub accelerator: AcceleratorType,
    pub relative_throughput: f64,
}

/// A workload's declared needs. Sent with every demand declaration so that a workload
/// can change shape (say, accept a new accelerator type) without a separate call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkloadSpec {
    pub id: WorkloadId,
    pub team: TeamId,
    #[serde(default)]
    pub kind: WorkloadKind,
    /// Accelerator types the workload can run on, with its per-type throughput.
    pub accepts: Vec<AcceleratorThroughput>,
    /// Fewest chips worth running on; a grant below this is never made.
    pub chips_min: u32,
    /// Most chips the workload can use.
    pub chips_max: u32,
    /// Grants grow and shrink in multiples of this many chips.
    pub chips_step: u32,
    /// All-or-nothing: gets exactly its desired size or nothing.
    #[serde(default)]
    pub gang: bool,
    /// Whether capacity may be taken away before the workload finishes.
    pub preemptible: bool,
    /// A critical workload is never preempted and never stranded behind lower tiers.
    #[serde(default)]
    pub critical: bool,
    /// Seconds the workload gets to checkpoint and drain after a reclaim is requested.
    pub drain_grace_s: u32,
    /// Launch urgency from 0 (none) to 1 (drop everything), weighed by the policy.
    #[serde(default)]
    pub urgency: f64,
    /// Completion deadline, unix milliseconds; urgency rises as it nears.
    #[serde(default)]
    pub deadline_ms: Option<i64>,
    /// 0 = keep me away from preemption at any cost, 1 = happy to run on borrowed capacity.
    #[serde(default)]
    pub risk_tolerance: f64,
}

impl WorkloadSpec {
    /// An elastic, preemptible training workload of `team` running on `accepts`, from 1 to
    /// `chips_max` chips in steps of 1, with a 30 s drain grace: the shape generated load,
    /// synthetic logs and benchmarks use.
    pub fn elastic(id: impl Into<WorkloadId>, team: impl Into<TeamId>, accepts: Vec<AcceleratorThroughput>, chips_max: u32) -> Self {
        Self {
            id: id.into(),
            team: team.into(),
            kind: WorkloadKind::Training,
            accepts,
            chips_min: 1,
            chips_max,
            chips_step: 1,
            gang: false,
            preemptible: true,
            critical: false,
            drain_grace_s: 30,
            urgency: 0.0,
            deadline_ms: None,
            risk_tolerance: 0.5,
        }
    }

    /// Relative throughput on a type, if the workload accepts that type.
    pub fn throughput_on(&self, accelerator: &AcceleratorType) -> Option<f64> {
        self.accepts
            .iter()
            .find(|a| &a.accelerator == accelerator)
            .map(|a| a.relative_throughput)
    }
}
