//! Random workload generators: Poisson arrivals (optionally diurnal or with a launch
//! spike), heavy-tailed durations, sizes and profiles drawn from lists. Every draw comes
//! from a stream forked off the scenario seed, so one seed reproduces the workload.

use crate::rng::Rng;
use crate::scenario::{make_job, ScenarioFile};
use crate::world::{JobSpec, PoolSpec, Shape};
use serde::Deserialize;

/// How long jobs run on their reference type.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "dist", rename_all = "snake_case", deny_unknown_fields)]
pub enum Duration {
    Exp { mean_h: f64 },
    Lognormal { median_h: f64, sigma: f64 },
    Pareto { min_h: f64, alpha: f64 },
}

/// A generator section as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratorFile {
    pub team: String,
    /// Profiles to draw from, uniformly.
    pub profiles: Vec<String>,
    /// Mean arrivals per hour.
    pub rate_per_h: f64,
    #[serde(default)]
    pub start_h: f64,
    pub end_h: Option<f64>,
    /// Sizes to draw from, uniformly.
    pub chips: Vec<u32>,
    pub duration: Duration,
    /// Longest duration kept (heavy tails are cut here), hours.
    #[serde(default = "max_h")]
    pub max_h: f64,
    /// Arrival rate swings by this fraction over the day (peak at `peak_h`).
    #[serde(default)]
    pub diurnal_amplitude: f64,
    #[serde(default = "peak_h")]
    pub peak_h: f64,
    #[serde(default)]
    pub critical: bool,
    #[serde(default)]
    pub urgency: f64,
    /// Prefix of generated ids; default: the team.
    pub prefix: Option<String>,
}

fn max_h() -> f64 {
    48.0
}
fn peak_h() -> f64 {
    14.0
}

/// Draws the jobs of generator `k`.
pub fn generate(
    g: &GeneratorFile,
    k: usize,
    f: &ScenarioFile,
    pools: &[PoolSpec],
    team: usize,
) -> Result<Vec<JobSpec>, String> {
    if g.chips.is_empty() || g.profiles.is_empty() || g.rate_per_h <= 0.0 {
        return Err(format!("generator {k}: needs chips, profiles and a positive rate"));
    }
    for p in &g.profiles {
        if !f.profiles.contains_key(p) {
            return Err(format!("generator {k}: unknown profile {p}"));
        }
    }
    let mut rng = Rng::fork(f.seed, k as u64 + 1);
    let end_h = g.end_h.unwrap_or(f.horizon_h).min(f.horizon_h);
    let peak_rate = g.rate_per_h * (1.0 + g.diurnal_amplitude.max(0.0));
    let prefix = g.prefix.clone().unwrap_or_else(|| g.team.clone());
    let mut out = Vec::new();
    let mut t = g.start_h;
    loop {
        // Thinning: draw at the peak rate, keep with probability rate(t) / peak.
        t += rng.exp(1.0 / peak_rate);
        if t >= end_h {
            break;
        }
        let swing = (std::f64::consts::TAU * (t - g.peak_h) / 24.0).cos();
        let rate = g.rate_per_h * (1.0 + g.diurnal_amplitude * swing);
        let keep = rng.unit() < rate / peak_rate;
        let chips = g.chips[rng.below(g.chips.len())];
        let prof = &g.profiles[rng.below(g.profiles.len())];
        let dur_h = match g.duration {
            Duration::Exp { mean_h } => rng.exp(mean_h),
            Duration::Lognormal { median_h, sigma } => rng.lognormal(median_h, sigma),
            Duration::Pareto { min_h, alpha } => rng.pareto(min_h, alpha),
        }
        .clamp(1.0 / 60.0, g.max_h);
        if !keep {
            continue;
        }
        let id = format!("{prefix}-{k}-{:04}", out.len());
        let mut j = make_job(pools, &f.profiles[prof], id, team, t * 3.6e6, chips, dur_h * 3.6e6, Shape::Batch, true);
        j.critical = g.critical;
        j.urgency = g.urgency;
        out.push(j);
    }
    Ok(out)
}
