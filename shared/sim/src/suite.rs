//! Runs allocators on scenarios: one world, a directory of scenario files, or a CSV
//! trace on a given or derived fleet.

use crate::alloc::{by_name, quartermaster::Quartermaster, Allocator};
use crate::bound::{optimum_bound, Bound};
use crate::scenario::{self, ScenarioError, ScenarioFile};
use crate::sim::{run, RunOptions, RunResult};
use crate::trace;
use crate::world::{TeamSpec, World};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every allocator's run of one world, and the bound where one was computed.
#[derive(Clone, Debug)]
pub struct ScenarioReport {
    pub world: World,
    pub results: Vec<RunResult>,
    pub bound: Option<Bound>,
    /// Quartermaster's decisions per rule.
    pub qm_rules: BTreeMap<String, u64>,
}

/// Loads a scenario file, with an optional seed override (applied before generation).
pub fn load_scenario(path: &Path, seed: Option<u64>) -> Result<World, ScenarioError> {
    let p = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io { path: p.clone(), source })?;
    let mut file: ScenarioFile = toml::from_str(&text).map_err(|source| ScenarioError::Parse { path: p, source })?;
    if let Some(s) = seed {
        file.seed = s;
    }
    scenario::build(&file, path.parent())
}

/// A world from a CSV trace: on the fleet (pools, teams, types, policy) of `fleet` if
/// given, else on a derived fleet ([`crate::fleet::derive_pools`]: one pool per GPU type
/// named in the trace, sized to a high percentile of concurrent demand, every gang fits).
/// Groups that are not teams of the fleet (all of them if it names none) share equally
/// what the fleet's teams leave unclaimed.
pub fn load_trace(csv: &Path, fleet: Option<&Path>, seed: Option<u64>) -> Result<(World, trace::ParsedTrace), ScenarioError> {
    let p = csv.display().to_string();
    let text = std::fs::read_to_string(csv).map_err(|source| ScenarioError::Io { path: p.clone(), source })?;
    let parsed = trace::parse(&text);
    if parsed.rows.is_empty() {
        return Err(ScenarioError::Invalid(format!("{p}: no usable rows ({} skipped)", parsed.skipped.len())));
    }
    let end_s = parsed.rows.iter().map(|r| r.submit_s + r.duration_s).fold(0.0, f64::max);
    let mut world = match fleet {
        Some(f) => {
            let mut w = load_scenario(f, seed)?;
            w.jobs.clear();
            w
        }
        None => derived_fleet(&parsed, seed.unwrap_or(1)),
    };
    world.name = csv.file_stem().map_or("trace".into(), |s| s.to_string_lossy().into_owned());
    if fleet.is_none() || world.horizon_ms <= 0 {
        world.horizon_ms = (end_s * 1000.0 * 1.25).ceil() as i64;
    }
    let mut teams = std::mem::take(&mut world.teams);
    let known = teams.len();
    let mut jobs = trace::to_jobs(&parsed.rows, &world.pools, &mut teams, 1.0);
    if fleet.is_none() || teams.len() > known {
        // Groups the fleet did not name split what the named teams left unclaimed.
        let cap: f64 = world.pools.iter().map(|p| f64::from(p.chips) * p.nominal_tp).sum();
        let left = (1.0 - teams[..known].iter().map(|t| t.guarantee).sum::<f64>() / cap.max(1e-9)).max(0.0);
        let share = left / (teams.len() - known).max(1) as f64;
        for t in &mut teams[known..] {
            t.guarantee = share * cap;
            t.reserved = world.pools.iter().map(|p| (f64::from(p.chips) * share).floor() as u32).collect();
        }
    }
    world.teams = teams;
    jobs.sort_by(|a, b| a.arrival_ms.cmp(&b.arrival_ms).then(a.id.cmp(&b.id)));
    world.jobs = jobs;
    Ok((world, parsed))
}

fn derived_fleet(parsed: &trace::ParsedTrace, seed: u64) -> World {
    World {
        name: "trace".into(),
        description: "CSV trace on a derived fleet".into(),
        seed,
        horizon_ms: 0,
        tick_ms: 60_000,
        actuation_delay_ms: 0,
        drain_grace_s: 120,
        critical_wait_max_ms: 900_000,
        pools: crate::fleet::derive_pools(parsed),
        teams: Vec::<TeamSpec>::new(),
        jobs: Vec::new(),
        outages: Vec::new(),
        policy: Default::default(),
    }
}

/// Scenario files of a directory (`*.toml`), sorted by name; `fleet-*` files are fleets
/// for traces, not scenarios.
pub fn scenario_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .filter(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("fleet-")))
        .collect();
    v.sort();
    Ok(v)
}

/// Runs the named allocators on `world`, and the LP bound if asked.
pub fn run_world(world: &World, names: &[&str], opts: &RunOptions, with_bound: bool) -> ScenarioReport {
    let mut results = Vec::new();
    let mut qm_rules = BTreeMap::new();
    for name in names {
        if matches!(*name, "quartermaster" | "qm") {
            let mut q = Quartermaster::default();
            results.push(run(world, &mut q, opts));
            qm_rules = q.rules.clone();
        } else if let Some(mut a) = by_name(name) {
            results.push(run(world, a.as_mut(), opts));
        }
    }
    let bound = with_bound.then(|| optimum_bound(world));
    ScenarioReport { world: world.clone(), results, bound, qm_rules }
}

/// Quartermaster alone, for tests: (metrics, rules).
pub fn run_quartermaster(world: &World) -> RunResult {
    let mut q: Box<dyn Allocator> = Box::new(Quartermaster::default());
    run(world, q.as_mut(), &RunOptions::default())
}
