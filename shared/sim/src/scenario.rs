//! Scenario files (TOML): fleet, teams, workload profiles, explicit workloads, random
//! generators, outages, an optional trace, policy overrides. `scenarios/README.md` at the
//! repo root documents every field; [`load`] turns a file into a [`World`].

use crate::gen;
use crate::trace;
use crate::world::{JobSpec, Outage, Pattern, PoolSpec, Shape, TeamSpec, World};
use qm_model::{PolicyConfig, PriorityTier};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Why a scenario could not be loaded. Each case is the user's to fix in the file.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
    /// The TOML does not match the schema.
    #[error("{path}: {source}")]
    Parse { path: String, source: toml::de::Error },
    /// The file parses but says something impossible (unknown pool, no pools, ...).
    #[error("{0}")]
    Invalid(String),
}

/// A scenario file as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "default_seed")]
    pub seed: u64,
    pub horizon_h: f64,
    #[serde(default = "default_tick_s")]
    pub tick_s: u32,
    #[serde(default)]
    pub sim: SimSettings,
    #[serde(default)]
    pub policy: Option<PolicyConfig>,
    /// Nominal normalized compute per chip of each accelerator type.
    #[serde(default)]
    pub types: BTreeMap<String, f64>,
    #[serde(default, rename = "pool")]
    pub pools: Vec<PoolFile>,
    #[serde(default, rename = "team")]
    pub teams: Vec<TeamFile>,
    /// Per-type throughput of a class of work, any common base.
    #[serde(default)]
    pub profiles: BTreeMap<String, BTreeMap<String, f64>>,
    #[serde(default, rename = "workload")]
    pub workloads: Vec<WorkloadFile>,
    #[serde(default, rename = "generator")]
    pub generators: Vec<gen::GeneratorFile>,
    #[serde(default, rename = "outage")]
    pub outages: Vec<OutageFile>,
    #[serde(default)]
    pub trace: Option<TraceRef>,
}

fn default_seed() -> u64 {
    1
}
fn default_tick_s() -> u32 {
    60
}

/// Simulation knobs that are not policy.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimSettings {
    /// Seconds between a decision and the actuator's report that it took effect.
    pub actuation_delay_s: u32,
    /// Drain grace every workload declares, seconds.
    pub drain_grace_s: u32,
    /// A critical job unmet longer than this while usable capacity exists is stranded.
    pub critical_wait_max_s: u32,
}

impl Default for SimSettings {
    fn default() -> Self {
        Self { actuation_delay_s: 0, drain_grace_s: 120, critical_wait_max_s: 900 }
    }
}

/// A pool as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolFile {
    pub id: String,
    pub region: String,
    pub accelerator: String,
    pub chips: u32,
    #[serde(default)]
    pub price: f64,
}

/// A team as written: `share` of the fleet's normalized compute, unless `guarantee` is set.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamFile {
    pub id: String,
    #[serde(default)]
    pub share: f64,
    pub guarantee: Option<f64>,
    #[serde(default = "one")]
    pub weight: f64,
    #[serde(default)]
    pub tier: PriorityTier,
    /// Standing reservation per pool (chips); default: `share` of every pool.
    pub reserved: Option<BTreeMap<String, u32>>,
}

fn one() -> f64 {
    1.0
}

/// Whether a workload runs to a work target or for a lifetime.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ShapeFile {
    #[default]
    Batch,
    Service,
}

/// An explicit workload (or `count` copies of it).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadFile {
    pub id: String,
    pub team: String,
    pub profile: String,
    #[serde(default)]
    pub arrival_h: f64,
    pub chips: u32,
    /// Batch: run time on the reference type at `chips`; service: lifetime.
    pub duration_h: f64,
    #[serde(default)]
    pub shape: ShapeFile,
    #[serde(default = "one")]
    pub busy_fraction: f64,
    /// Diurnal swing of the need, 0 = flat.
    #[serde(default)]
    pub diurnal_amplitude: f64,
    #[serde(default = "default_peak_h")]
    pub peak_h: f64,
    #[serde(default)]
    pub critical: bool,
    /// Default: batch jobs are gangs, services are elastic.
    pub gang: Option<bool>,
    #[serde(default)]
    pub urgency: f64,
    #[serde(default = "one_u32")]
    pub count: u32,
    /// Hours between copies.
    #[serde(default)]
    pub every_h: f64,
}

fn default_peak_h() -> f64 {
    14.0
}
fn one_u32() -> u32 {
    1
}

/// A pool's healthy chips drop for a while.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutageFile {
    pub pool: String,
    pub start_h: f64,
    pub end_h: f64,
    #[serde(default)]
    pub healthy_chips: u32,
}

/// A CSV trace to replay, relative to the scenario file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceRef {
    pub path: String,
    /// Multiplies every submit time and duration (compress a long trace).
    #[serde(default = "one")]
    pub time_scale: f64,
}

/// Reads and builds a scenario file.
pub fn load(path: &Path) -> Result<World, ScenarioError> {
    let p = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io { path: p.clone(), source })?;
    let file: ScenarioFile = toml::from_str(&text).map_err(|source| ScenarioError::Parse { path: p, source })?;
    build(&file, path.parent())
}

/// Builds a world from a parsed file; `dir` resolves a relative trace path.
pub fn build(f: &ScenarioFile, dir: Option<&Path>) -> Result<World, ScenarioError> {
    let bad = |m: String| ScenarioError::Invalid(format!("{}: {m}", f.name));
    if f.pools.is_empty() {
        return Err(bad("no pools".into()));
    }
    let pools: Vec<PoolSpec> = f
        .pools
        .iter()
        .map(|p| PoolSpec {
            id: p.id.clone(),
            region: p.region.clone(),
            accelerator: p.accelerator.clone(),
            chips: p.chips,
            price: p.price,
            nominal_tp: f.types.get(&p.accelerator).copied().unwrap_or(1.0),
        })
        .collect();
    let pool_ix = |id: &str| pools.iter().position(|p| p.id == id);
    let capacity: f64 = pools.iter().map(|p| f64::from(p.chips) * p.nominal_tp).sum();
    let mut teams = Vec::new();
    for t in &f.teams {
        let mut reserved: Vec<u32> = pools.iter().map(|p| (f64::from(p.chips) * t.share).floor() as u32).collect();
        if let Some(r) = &t.reserved {
            reserved = vec![0; pools.len()];
            for (pid, c) in r {
                let i = pool_ix(pid).ok_or_else(|| bad(format!("team {} reserves unknown pool {pid}", t.id)))?;
                reserved[i] = *c;
            }
        }
        let guarantee = t.guarantee.unwrap_or(t.share * capacity);
        teams.push(TeamSpec { id: t.id.clone(), guarantee, weight: t.weight, tier: t.tier, reserved });
    }
    let team_ix = |id: &str| teams.iter().position(|t| t.id == id);
    let mut jobs = Vec::new();
    for w in &f.workloads {
        let team = team_ix(&w.team).ok_or_else(|| bad(format!("workload {} has unknown team {}", w.id, w.team)))?;
        let prof = f.profiles.get(&w.profile).ok_or_else(|| bad(format!("unknown profile {}", w.profile)))?;
        for k in 0..w.count {
            let id = if w.count == 1 { w.id.clone() } else { format!("{}-{k}", w.id) };
            let arrival_h = w.arrival_h + f64::from(k) * w.every_h;
            let pattern = if w.diurnal_amplitude > 0.0 {
                Pattern::Diurnal { amplitude: w.diurnal_amplitude, peak_h: w.peak_h }
            } else {
                Pattern::Flat
            };
            let shape = if w.shape == ShapeFile::Service { Shape::Service } else { Shape::Batch };
            let gang = w.gang.unwrap_or(shape == Shape::Batch);
            let mut j = make_job(&pools, prof, id, team, arrival_h * 3.6e6, w.chips, w.duration_h * 3.6e6, shape, gang);
            j.busy_fraction = w.busy_fraction.clamp(0.0, 1.0);
            j.pattern = pattern;
            j.critical = w.critical;
            j.urgency = w.urgency;
            jobs.push(j);
        }
    }
    for (k, g) in f.generators.iter().enumerate() {
        let team = team_ix(&g.team).ok_or_else(|| bad(format!("generator {k} has unknown team {}", g.team)))?;
        jobs.extend(gen::generate(g, k, f, &pools, team).map_err(bad)?);
    }
    if let Some(t) = &f.trace {
        let path = dir.map_or_else(|| Path::new(&t.path).to_path_buf(), |d| d.join(&t.path));
        let text = std::fs::read_to_string(&path)
            .map_err(|source| ScenarioError::Io { path: path.display().to_string(), source })?;
        let parsed = trace::parse(&text);
        jobs.extend(trace::to_jobs(&parsed.rows, &pools, &mut teams, t.time_scale));
    }
    let mut outages = Vec::new();
    for o in &f.outages {
        let pool = pool_ix(&o.pool).ok_or_else(|| bad(format!("outage of unknown pool {}", o.pool)))?;
        outages.push(Outage { pool, start_ms: h_ms(o.start_h), end_ms: h_ms(o.end_h), healthy: o.healthy_chips });
    }
    finish_world(f, pools, teams, jobs, outages)
}

fn finish_world(
    f: &ScenarioFile,
    pools: Vec<PoolSpec>,
    teams: Vec<TeamSpec>,
    mut jobs: Vec<JobSpec>,
    outages: Vec<Outage>,
) -> Result<World, ScenarioError> {
    jobs.retain(|j| j.tp.iter().any(|&t| t > 0.0) && j.chips > 0);
    jobs.sort_by(|a, b| a.arrival_ms.cmp(&b.arrival_ms).then(a.id.cmp(&b.id)));
    let mut policy = f.policy.clone().unwrap_or_default();
    if f.policy.is_none() {
        policy.version = "sim-default".into();
    }
    Ok(World {
        name: f.name.clone(),
        description: f.description.clone(),
        seed: f.seed,
        horizon_ms: h_ms(f.horizon_h),
        tick_ms: i64::from(f.tick_s.max(1)) * 1000,
        actuation_delay_ms: i64::from(f.sim.actuation_delay_s) * 1000,
        drain_grace_s: f.sim.drain_grace_s,
        critical_wait_max_ms: i64::from(f.sim.critical_wait_max_s) * 1000,
        pools,
        teams,
        jobs,
        outages,
        policy,
    })
}

/// Hours to milliseconds.
pub fn h_ms(h: f64) -> i64 {
    (h * 3.6e6).round() as i64
}

/// A job from a profile: throughput per pool from the profile by accelerator type; the
/// reference type (duration measured there) is the profile's fastest type.
#[allow(clippy::too_many_arguments)]
pub fn make_job(
    pools: &[PoolSpec],
    profile: &BTreeMap<String, f64>,
    id: String,
    team: usize,
    arrival_ms: f64,
    chips: u32,
    duration_ms: f64,
    shape: Shape,
    gang: bool,
) -> JobSpec {
    let tp: Vec<f64> = pools.iter().map(|p| profile.get(&p.accelerator).copied().unwrap_or(0.0)).collect();
    let tp_ref = profile.values().copied().fold(0.0, f64::max);
    let arrival_ms = arrival_ms.round() as i64;
    JobSpec {
        id,
        team,
        arrival_ms,
        chips,
        chips_min: if gang { chips } else { 1 },
        gang,
        shape,
        work: f64::from(chips) * duration_ms / 1000.0 * tp_ref,
        end_ms: arrival_ms + duration_ms.round() as i64,
        tp,
        busy_fraction: 1.0,
        pattern: Pattern::Flat,
        critical: false,
        urgency: 0.0,
    }
}
