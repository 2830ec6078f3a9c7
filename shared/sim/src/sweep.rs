//! Seed sweeps: every allocator on every scenario under seeds 1..=N, reported as the
//! mean and a 95% confidence interval (Student's t) of the numbers the targets are
//! stated in, so one lucky seed cannot carry a claim.

use crate::alloc::NAMES;
use crate::bound::optimum_bound;
use crate::sim::RunOptions;
use crate::suite::run_world;
use crate::world::World;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Two-sided 95% Student's t quantiles for 1..=30 degrees of freedom.
const T95: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110,
    2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/// Mean and half-width of the 95% interval of `xs` (half-width 0 for fewer than 2).
pub fn mean_ci(xs: &[f64]) -> (f64, f64) {
    let n = xs.len();
    if n == 0 {
        return (0.0, 0.0);
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return (mean, 0.0);
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let t = T95.get(n - 2).copied().unwrap_or(1.96);
    (mean, t * (var / n as f64).sqrt())
}

/// The numbers of one run that a sweep aggregates.
#[derive(Clone, Debug, Default)]
pub struct Sample {
    pub util: f64,
    pub norm_util: f64,
    /// Utilization / the optimum bound's.
    pub util_of_bound: f64,
    /// Normalized utilization / the optimum bound's.
    pub of_bound: f64,
    /// Work done / normalized capacity (`Metrics::work_norm`).
    pub work: f64,
    pub jct_mean_h: f64,
    pub churn: f64,
    /// Quartermaster's decisions per batch job (0 for baselines).
    pub decisions_per_job: f64,
    pub critical_stranded: f64,
}

/// Samples per (scenario, allocator), in report order.
pub type Sweep = BTreeMap<(String, usize), Vec<Sample>>;

/// Runs every allocator on `load(seed)` for each seed and collects the samples.
pub fn sweep<E>(seeds: &[u64], mut load: impl FnMut(u64) -> Result<Vec<World>, E>) -> Result<Sweep, E> {
    let mut out = Sweep::new();
    for &seed in seeds {
        for w in load(seed)? {
            let r = run_world(&w, &NAMES, &RunOptions::default(), false);
            let b = optimum_bound(&w);
            let batch = r.results.first().map_or(0, |x| x.metrics.jobs_batch).max(1);
            for (k, res) in r.results.iter().enumerate() {
                let m = &res.metrics;
                let decisions = if res.allocator == "quartermaster" { r.qm_rules.values().sum::<u64>() } else { 0 };
                out.entry((w.name.clone(), k)).or_default().push(Sample {
                    util: m.utilization,
                    norm_util: m.utilization_norm,
                    util_of_bound: if b.utilization > 0.0 { m.utilization / b.utilization } else { 0.0 },
                    of_bound: if b.utilization_norm > 0.0 { m.utilization_norm / b.utilization_norm } else { 0.0 },
                    work: m.work_norm,
                    jct_mean_h: m.jct_mean_h,
                    churn: (m.preemptions + m.moves) as f64,
                    decisions_per_job: decisions as f64 / batch as f64,
                    critical_stranded: m.critical_stranded as f64,
                });
            }
        }
    }
    Ok(out)
}

/// The sweep as a markdown table: mean ± 95% half-width per metric.
pub fn markdown(s: &Sweep) -> String {
    let mut out = String::from(
        "| scenario | allocator | runs | util % | util / bound % | norm util % | norm util / bound % | work % | JCT mean h | preempt+moves | decisions/job | crit stranded |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for ((scenario, k), xs) in s {
        let f = |get: fn(&Sample) -> f64, scale: f64, digits: usize| {
            let v: Vec<f64> = xs.iter().map(|x| get(x) * scale).collect();
            let (m, h) = mean_ci(&v);
            format!("{m:.digits$} ± {h:.digits$}")
        };
        let _ = writeln!(
            out,
            "| {scenario} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            NAMES.get(*k).unwrap_or(&"?"),
            xs.len(),
            f(|x| x.util, 100.0, 1),
            f(|x| x.util_of_bound, 100.0, 1),
            f(|x| x.norm_util, 100.0, 1),
            f(|x| x.of_bound, 100.0, 1),
            f(|x| x.work, 100.0, 1),
            f(|x| x.jct_mean_h, 1.0, 2),
            f(|x| x.churn, 1.0, 0),
            f(|x| x.decisions_per_job, 1.0, 2),
            f(|x| x.critical_stranded, 1.0, 1),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_interval_table() {
        // (samples, mean, half-width)
        let cases: [(&[f64], f64, f64); 4] =
            [(&[], 0.0, 0.0), (&[3.0], 3.0, 0.0), (&[1.0, 3.0], 2.0, 12.706), (&[2.0, 2.0, 2.0], 2.0, 0.0)];
        for (xs, m, h) in cases {
            let (a, b) = mean_ci(xs);
            assert!((a - m).abs() < 1e-9 && (b - h).abs() < 1e-3, "{xs:?}: {a} {b}");
        }
    }
}
