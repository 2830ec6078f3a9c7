//! The soft-priority policy: the parsed, validated form of the versioned TOML file.
//! Every knob has a default so that an empty file is a valid, documented policy.

use crate::{AcceleratorType, TeamId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Policy knobs. See `docs/POLICY.md` for the formulas they feed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
// No `deny_unknown_fields`: readers must skip knobs a newer writer added (schema
// evolution). The strict check for typos lives where people write TOML (`qm policy`).
#[serde(default)]
pub struct PolicyConfig {
    /// Operator-chosen version label, recorded in every decision.
    pub version: String,
    /// A grant whose measured use stays below this fraction of it is idle.
    pub idle_threshold_fraction: f64,
    /// How long a grant must stay idle before it is shrunk, in seconds.
    pub idle_window_s: u32,
    /// Default headroom kept above measured use when giving idle capacity back.
    pub headroom_fraction: f64,
    /// A grant lives at least this long before it can be reclaimed or moved, in seconds.
    pub grant_lifetime_min_s: u32,
    /// A change smaller than this fraction of the current grant is not worth making.
    pub hysteresis_fraction: f64,
    /// Cost of one preemption or move, in normalized-compute-seconds, weighed against the gain.
    pub preemption_cost: f64,
    /// Weight of launch urgency in a workload's priority score.
    pub urgency_weight: f64,
    /// Weight of deadline pressure in a workload's priority score.
    pub deadline_weight: f64,
    /// Weight of price in placement: 0 ignores cost, 1 places by throughput per dollar.
    pub cost_weight: f64,
    /// How fast past usage fades when comparing teams' recent consumption, in seconds.
    pub usage_half_life_s: u32,
    /// Deadline pressure rises linearly from 0 to 1 over this many seconds before a deadline.
    pub deadline_horizon_s: u32,
    /// Weight of risk tolerance when choosing whom to reclaim from: tolerant work goes first.
    pub risk_weight: f64,
    /// How strongly a team's recent borrowing lowers its share of the surplus (0 = ignore).
    pub usage_fairness_weight: f64,
    /// Per-accelerator-type guarantees, in chips of that type, for teams that need a
    /// specific type (e.g. `[team_guarantees_by_type.llm-training] h100 = 32`). Additive:
    /// absent or empty means none, and an empty map is not written, so encodings of
    /// policies without it are unchanged.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub team_guarantees_by_type: BTreeMap<TeamId, BTreeMap<AcceleratorType, f64>>,
    /// Batches decision rounds in busy fleets: after a full round, entries that would
    /// need another one within this many milliseconds of log time are folded and decided
    /// together by the first entry (usually a tick) at or after the window. 0 (the
    /// default) decides every entry at once. Not written when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub round_batch_ms: u32,
    /// Moves a workload that has all it asked for up to a faster pool whose type has chips
    /// nobody waits for, when the move is expected to pay for its restart (the time it has
    /// run on its grant stands in for the time it will still run). Off by default: it
    /// shortens long jobs on mixed fleets and costs restarts where jobs are short. With it
    /// on, every entry is decided by a full round. Not written when off.
    #[serde(default, skip_serializing_if = "is_false")]
    pub upgrade_moves: bool,
    /// Lets a new workload wait for its fastest type, instead of running on a slower
    /// one, while finished work shows that type freeing chips sooner than the slowdown
    /// would cost (docs/POLICY.md, placement). On by default; written only when off.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub wait_for_faster_type: bool,
}

fn yes() -> bool {
    true
}

fn is_true(x: &bool) -> bool {
    *x
}

fn is_false(x: &bool) -> bool {
    !*x
}

fn is_zero(x: &u32) -> bool {
    *x == 0
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            version: "default-1".to_owned(),
            idle_threshold_fraction: 0.5,
            idle_window_s: 300,
            headroom_fraction: 0.1,
            grant_lifetime_min_s: 600,
            hysteresis_fraction: 0.1,
            preemption_cost: 600.0,
            urgency_weight: 1.0,
            deadline_weight: 1.0,
            cost_weight: 0.5,
            usage_half_life_s: 3_600,
            deadline_horizon_s: 86_400,
            risk_weight: 1.0,
            usage_fairness_weight: 1.0,
            team_guarantees_by_type: BTreeMap::new(),
            round_batch_ms: 0,
            upgrade_moves: false,
            wait_for_faster_type: true,
        }
    }
}
