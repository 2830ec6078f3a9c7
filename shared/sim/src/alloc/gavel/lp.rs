//! Gavel's heterogeneity-aware max-min fairness LP (OSDI 2020, policy
//! `max_min_fairness_perf`), solved with `microlp`.
//!
//! Variables: `x[i][j]`, the fraction of time job `i` runs on worker type (pool) `j`.
//! Maximize `t` subject to, for every job, `sf_i / w_i · Σ_j T_ij x_ij / P_i >= t`
//! (its effective throughput normalized by what an equal split of the cluster would
//! give it, times its GPU count so time × GPUs is what is equalized, over its weight),
//! `Σ_j x_ij <= 1` and, per type, `Σ_i sf_i x_ij <= N_j`. `P_i` is the throughput of
//! Gavel's proportional split (`x_j = N_j / m`, scaled so a row sums to at most 1).
//!
//! The max-min optimum is rarely unique; Gavel's interior-point solver returns some point
//! of the optimal face. A simplex returns a vertex, so a tiny secondary objective (the
//! mean normalized throughput) picks the vertex that also uses the cluster best, and
//! makes the answer deterministic.

use microlp::{ComparisonOp, LinearExpr, OptimizationDirection, Problem};
use std::collections::BTreeMap;

/// One job as the LP sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct LpJob {
    /// Throughput per worker type (any per-job unit); 0 = cannot run there.
    pub tp: Vec<f64>,
    /// GPUs it needs at once (Gavel's scale factor).
    pub chips: u32,
    /// Priority weight (> 0).
    pub weight: f64,
}

/// Weight of the secondary objective relative to `t`: small enough to be lexicographic.
const SECONDARY: f64 = 1e-4;

/// Gavel's proportional-share throughput of `job` among `m` jobs on `capacity`.
fn proportional(job: &LpJob, m: usize, capacity: &[f64]) -> f64 {
    let x: Vec<f64> = capacity.iter().map(|n| n / m as f64).collect();
    let row: f64 = x.iter().sum();
    let scale = if row > 1.0 { 1.0 / row } else { 1.0 };
    job.tp.iter().zip(&x).map(|(t, x)| t * x * scale).sum()
}

/// Time fractions `x[i][j]` of the max-min allocation; `None` if the solver fails.
/// Jobs that can run nowhere get all zeros and do not constrain `t`.
///
/// Identical jobs (same throughputs, size and weight) are one class with one row of
/// variables: by symmetry and convexity some optimum gives them equal shares (the one an
/// interior-point solver such as Gavel's finds), and the LP stays as small as the number
/// of job kinds, not jobs.
pub fn max_min_perf(jobs: &[LpJob], capacity: &[f64]) -> Option<Vec<Vec<f64>>> {
    let m = jobs.len();
    let n = capacity.len();
    if m == 0 {
        return Some(Vec::new());
    }
    let mut classes: BTreeMap<(Vec<u64>, u32, u64), Vec<usize>> = BTreeMap::new();
    for (i, job) in jobs.iter().enumerate() {
        let key = (job.tp.iter().map(|t| t.to_bits()).collect(), job.chips, job.weight.to_bits());
        classes.entry(key).or_default().push(i);
    }
    let mut lp = Problem::new(OptimizationDirection::Maximize);
    let t = lp.add_var(1.0, (0.0, f64::INFINITY));
    let mut per_type: Vec<LinearExpr> = (0..n).map(|_| LinearExpr::empty()).collect();
    let mut rows = Vec::with_capacity(classes.len());
    for members in classes.values() {
        let job = &jobs[members[0]];
        let count = members.len() as f64;
        let prop = proportional(job, m, capacity);
        let mut row = Vec::new();
        if prop > 0.0 {
            let coeff = |j: usize| f64::from(job.chips) * job.tp[j] / prop / job.weight.max(1e-9);
            let mut level = LinearExpr::empty();
            let mut time = LinearExpr::empty();
            for j in (0..n).filter(|&j| job.tp[j] > 0.0 && capacity[j] >= f64::from(job.chips)) {
                let x = lp.add_var(SECONDARY * count * coeff(j) / m as f64, (0.0, 1.0));
                level.add(x, coeff(j));
                time.add(x, 1.0);
                per_type[j].add(x, count * f64::from(job.chips));
                row.push((j, x));
            }
            if !row.is_empty() {
                level.add(t, -1.0);
                lp.add_constraint(level, ComparisonOp::Ge, 0.0);
                lp.add_constraint(time, ComparisonOp::Le, 1.0);
            }
        }
        rows.push((members, row));
    }
    // No job can run anywhere (no type it runs on has room for its gang): nothing bounds
    // the level `t` and the LP is unbounded; everyone gets nothing.
    if rows.iter().all(|(_, row)| row.is_empty()) {
        return Some(vec![vec![0.0; n]; m]);
    }
    for (j, e) in per_type.into_iter().enumerate() {
        lp.add_constraint(e, ComparisonOp::Le, capacity[j]);
    }
    let sol = lp.solve().ok()?;
    let mut out = vec![vec![0.0; n]; m];
    for (members, row) in rows {
        for &(j, x) in &row {
            let v = sol.var_value(x).clamp(0.0, 1.0);
            for &i in members {
                out[i][j] = v;
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(tp: &[f64], chips: u32) -> LpJob {
        LpJob { tp: tp.to_vec(), chips, weight: 1.0 }
    }

    /// Normalized level of job `i` under `x`, as the LP defines it.
    fn level(jobs: &[LpJob], cap: &[f64], x: &[Vec<f64>], i: usize) -> f64 {
        let p = proportional(&jobs[i], jobs.len(), cap);
        f64::from(jobs[i].chips) * jobs[i].tp.iter().zip(&x[i]).map(|(t, x)| t * x).sum::<f64>() / p / jobs[i].weight
    }

    fn assert_feasible(jobs: &[LpJob], cap: &[f64], x: &[Vec<f64>]) {
        for (i, row) in x.iter().enumerate() {
            assert!(row.iter().sum::<f64>() <= 1.0 + 1e-6, "job {i} runs more than all the time: {row:?}");
            assert!(row.iter().all(|&v| (-1e-9..=1.0 + 1e-9).contains(&v)));
        }
        for (j, c) in cap.iter().enumerate() {
            let used: f64 = x.iter().zip(jobs).map(|(r, job)| r[j] * f64::from(job.chips)).sum();
            assert!(used <= c + 1e-6, "type {j} over capacity: {used} > {c}");
        }
    }

    #[test]
    fn jobs_that_run_nowhere_get_nothing_instead_of_an_unbounded_lp() {
        // (throughputs, gang size, capacity): no type both runs the job and fits its gang.
        let cases: [(&[f64], u32, &[f64]); 3] =
            [(&[0.0, 0.0, 0.0], 8, &[0.0, 0.0, 0.0]), (&[1.0, 0.0, 0.0], 8, &[4.0, 8.0, 8.0]), (&[0.0, 0.0, 0.0], 1, &[8.0, 8.0, 8.0])];
        for (tp, chips, cap) in cases {
            let x = max_min_perf(&[job(tp, chips)], cap).expect("solves");
            assert_eq!(x, vec![vec![0.0; 3]], "{tp:?} x{chips} on {cap:?}");
        }
    }

    #[test]
    fn identical_jobs_on_one_type_split_it_evenly() {
        // Given 3 one-GPU jobs and 1 GPU, when solved, then each gets a third of the time.
        let jobs = vec![job(&[1.0], 1); 3];
        let x = max_min_perf(&jobs, &[1.0]).expect("solves");
        for row in &x {
            assert!((row[0] - 1.0 / 3.0).abs() < 1e-6, "{x:?}");
        }
    }

    #[test]
    fn heterogeneity_sends_each_job_where_it_gains_most() {
        // Given one fast and one slow GPU; job A runs 4x faster on the fast one, job B
        // the same on both. Max-min: A takes the fast GPU, B the slow one, both fully
        // (any time-sharing would lower the worse-off job's normalized throughput).
        let jobs = vec![job(&[4.0, 1.0], 1), job(&[1.0, 1.0], 1)];
        let cap = [1.0, 1.0];
        let x = max_min_perf(&jobs, &cap).expect("solves");
        assert_feasible(&jobs, &cap, &x);
        assert!((x[0][0] - 1.0).abs() < 1e-6 && x[0][1].abs() < 1e-6, "{x:?}");
        assert!((x[1][1] - 1.0).abs() < 1e-6 && x[1][0].abs() < 1e-6, "{x:?}");
    }

    #[test]
    fn bigger_jobs_get_less_time_for_equal_gpu_time() {
        // Given a 2-GPU and a 1-GPU job sharing 2 GPUs, levels are 2·x0 and x1 (same
        // proportional share), with 2·x0 + x1 <= 2 and x1 <= 1: the optimum is x0 = 0.5,
        // x1 = 1, level 1 each: both get one GPU's worth of time.
        let jobs = vec![job(&[1.0], 2), job(&[1.0], 1)];
        let cap = [2.0];
        let x = max_min_perf(&jobs, &cap).expect("solves");
        assert_feasible(&jobs, &cap, &x);
        assert!((level(&jobs, &cap, &x, 0) - level(&jobs, &cap, &x, 1)).abs() < 1e-6, "{x:?}");
        assert!((x[0][0] - 0.5).abs() < 1e-6 && (x[1][0] - 1.0).abs() < 1e-6, "{x:?}");
    }

    #[test]
    fn identical_jobs_get_identical_shares() {
        // Given 5 identical 1-GPU jobs and 1 V100-like + 2 K80-like GPUs, and a job that
        // only runs on the fast type, then the 5 share alike and the fit holds.
        let mut jobs = vec![job(&[2.0, 1.0], 1); 5];
        jobs.push(job(&[2.0, 0.0], 1));
        let cap = [1.0, 2.0];
        let x = max_min_perf(&jobs, &cap).expect("solves");
        assert_feasible(&jobs, &cap, &x);
        assert!(x[..5].iter().all(|r| r == &x[0]), "{x:?}");
        assert!(x[5][0] > 0.0 && x[5][1] == 0.0, "{x:?}");
    }

    #[test]
    fn weights_scale_the_share() {
        // Given two identical jobs on one GPU, weights 2 and 1: the first gets 2/3.
        let mut jobs = vec![job(&[1.0], 1), job(&[1.0], 1)];
        jobs[0].weight = 2.0;
        let x = max_min_perf(&jobs, &[1.0]).expect("solves");
        assert!((x[0][0] - 2.0 / 3.0).abs() < 1e-6, "{x:?}");
    }

    #[test]
    fn jobs_that_fit_nowhere_get_nothing_and_block_no_one() {
        let jobs = vec![job(&[1.0, 0.0], 4), job(&[1.0, 1.0], 1)];
        let cap = [2.0, 1.0];
        let x = max_min_perf(&jobs, &cap).expect("solves");
        assert!(x[0].iter().all(|&v| v == 0.0), "{x:?}");
        assert!(x[1].iter().sum::<f64>() > 0.99, "{x:?}");
    }

    #[test]
    fn many_jobs_stay_feasible_and_fair() {
        // Given 300 jobs of Gavel-like shapes on 36 + 36 + 36 GPUs, when solved, then the
        // allocation fits and every runnable job gets the same (min) level or more.
        let mut jobs = Vec::new();
        for i in 0..300u32 {
            let f = f64::from(i % 7 + 1);
            jobs.push(job(&[3.0 * f, 2.0 + f64::from(i % 3), 1.0], [1, 1, 2, 4, 8][(i % 5) as usize]));
        }
        let cap = [36.0, 36.0, 36.0];
        let x = max_min_perf(&jobs, &cap).expect("solves");
        assert_feasible(&jobs, &cap, &x);
        let levels: Vec<f64> = (0..jobs.len()).map(|i| level(&jobs, &cap, &x, i)).collect();
        let min = levels.iter().copied().fold(f64::INFINITY, f64::min);
        assert!(min > 0.0, "everyone gets something");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Any jobs on any cluster: the allocation fits every type, no job runs more than
        /// all the time, and no runnable job is left with nothing (max-min > 0).
        #[test]
        fn allocation_fits_and_starves_no_runnable_job(
            shapes in proptest::collection::vec((0u32..4, proptest::collection::vec(0u8..5, 3), 1.0f64..3.0), 1..40),
            cap in proptest::collection::vec(0u32..12, 3),
        ) {
            let cap: Vec<f64> = cap.into_iter().map(f64::from).collect();
            let jobs: Vec<LpJob> = shapes
                .iter()
                .map(|(k, tp, w)| LpJob { tp: tp.iter().map(|&t| f64::from(t)).collect(), chips: 1 << k, weight: *w })
                .collect();
            let x = max_min_perf(&jobs, &cap).expect("solves");
            assert_feasible(&jobs, &cap, &x);
            for (i, job) in jobs.iter().enumerate() {
                let runnable = (0..3).any(|j| job.tp[j] > 0.0 && cap[j] >= f64::from(job.chips));
                let got: f64 = x[i].iter().sum();
                proptest::prop_assert!(!runnable || got > 1e-9, "job {} runnable but got nothing: {:?}", i, x);
            }
        }
    }
}
