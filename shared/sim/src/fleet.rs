//! Fleets for traces: a fleet derived from the trace when none is given, and the check
//! that every gang fits some pool it accepts.
//!
//! A derived fleet has one pool per GPU type the trace names (one `gpu` pool if none),
//! each sized to a high percentile over time of the chips its jobs would request if each
//! ran from submission for its duration, and never smaller than its largest gang. A job
//! that accepts several types (or `any`) counts toward each in proportion to the types'
//! own demand, and the largest of its pools grows to fit its gang if none does.

use crate::trace::{ParsedTrace, TraceRow};
use crate::world::{PoolSpec, World};
use std::collections::BTreeMap;

/// Time-weighted percentile of concurrent demand a derived pool is sized to.
pub const DEMAND_PERCENTILE: f64 = 0.95;

/// Pools derived from `parsed` (speeds unknown: nominal 1.0, price 1.0).
pub fn derive_pools(parsed: &ParsedTrace) -> Vec<PoolSpec> {
    let mut types: Vec<String> = parsed.rows.iter().flat_map(|r| r.gpu_types.iter().cloned()).collect();
    types.sort();
    types.dedup();
    if types.is_empty() {
        types.push("gpu".into());
    }
    let ix = |t: &str| types.iter().position(|x| x == t);
    let accepted = |r: &TraceRow| -> Vec<usize> {
        let v: Vec<usize> = r.gpu_types.iter().filter_map(|t| ix(t)).collect();
        if v.is_empty() { (0..types.len()).collect() } else { v }
    };
    // Pinned chip-seconds per type weigh where flexible jobs go.
    let mut pinned = vec![0.0; types.len()];
    for r in parsed.rows.iter().filter(|r| accepted(r).len() == 1) {
        pinned[accepted(r)[0]] += f64::from(r.num_gpus) * r.duration_s;
    }
    let mut steps: Vec<Vec<(f64, f64)>> = vec![Vec::new(); types.len()];
    let mut largest = vec![1u32; types.len()];
    for r in &parsed.rows {
        let acc = accepted(r);
        let weight: f64 = acc.iter().map(|&t| pinned[t]).sum();
        for &t in &acc {
            let f = if weight > 0.0 { pinned[t] / weight } else { 1.0 / acc.len() as f64 };
            let g = f64::from(r.num_gpus) * f;
            steps[t].push((r.submit_s, g));
            steps[t].push((r.submit_s + r.duration_s, -g));
            if acc.len() == 1 {
                largest[t] = largest[t].max(r.num_gpus);
            }
        }
    }
    let mut chips: Vec<u32> = steps
        .iter_mut()
        .zip(&largest)
        .map(|(s, &big)| (percentile_level(s, DEMAND_PERCENTILE).ceil() as u32).max(big).max(1))
        .collect();
    for r in parsed.rows.iter().filter(|r| accepted(r).len() > 1) {
        let acc = accepted(r);
        if acc.iter().all(|&t| chips[t] < r.num_gpus) {
            let t = *acc.iter().max_by_key(|&&t| (chips[t], std::cmp::Reverse(t))).unwrap_or(&acc[0]);
            chips[t] = r.num_gpus;
        }
    }
    types
        .iter()
        .zip(chips)
        .map(|(t, c)| PoolSpec {
            id: format!("local/{t}"),
            region: "local".into(),
            accelerator: t.clone(),
            chips: c,
            price: 1.0,
            nominal_tp: 1.0,
        })
        .collect()
}

/// The level that concurrent demand stays at or below for fraction `q` of the time
/// between the first step and the last; `steps` are (time, change).
fn percentile_level(steps: &mut [(f64, f64)], q: f64) -> f64 {
    steps.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut levels: Vec<(f64, f64)> = Vec::new();
    let mut level = 0.0;
    for w in steps.windows(2) {
        level += w[0].1;
        let dt = w[1].0 - w[0].0;
        if dt > 0.0 {
            levels.push((level.max(0.0), dt));
        }
    }
    let total: f64 = levels.iter().map(|l| l.1).sum();
    if total <= 0.0 {
        return steps.iter().map(|s| s.1).fold(0.0, f64::max);
    }
    levels.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut seen = 0.0;
    for (v, dt) in &levels {
        seen += dt;
        if seen >= q * total {
            return *v;
        }
    }
    levels.last().map_or(0.0, |l| l.0)
}

/// Jobs whose gang fits no pool they accept (at full health): they can never run.
pub fn unfit_jobs(world: &World) -> Vec<usize> {
    (0..world.jobs.len())
        .filter(|&j| {
            let job = &world.jobs[j];
            let need = if job.gang { job.chips } else { job.chips_min.max(1) };
            !(0..world.pools.len()).any(|p| job.accepts(p) && world.pools[p].chips >= need)
        })
        .collect()
}

/// A warning for each size of gang that fits nowhere, for the user to read.
pub fn fit_warnings(world: &World) -> Vec<String> {
    let mut by_size: BTreeMap<u32, usize> = BTreeMap::new();
    for j in unfit_jobs(world) {
        *by_size.entry(world.jobs[j].chips).or_default() += 1;
    }
    by_size
        .into_iter()
        .map(|(size, n)| format!("warning: {n} job(s) of {size} chips fit no pool they accept and will never run"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::parse;

    #[test]
    fn pools_follow_concurrent_demand_and_fit_every_gang() {
        // v100: 4 chips for 100 s at a time, back to back, plus one 16-chip gang for 1 s.
        let mut csv = String::from("job_id,submit_s,duration_s,num_gpus,gpu_type\n");
        for i in 0..50 {
            csv.push_str(&format!("v{i},{},100,4,v100\n", i * 100));
        }
        csv.push_str("big,10,1,16,v100\nk,0,5000,2,k80\nany,0,10,40,any\n");
        let pools = derive_pools(&parse(&csv));
        let chips: Vec<(&str, u32)> = pools.iter().map(|p| (p.accelerator.as_str(), p.chips)).collect();
        // k80's demand is 2 (its share of the flexible job lasts 10 s of 5,000); v100's is 4
        // almost always, 16 for its gang; the 40-chip flexible job grows the largest pool.
        assert_eq!(chips, [("k80", 2), ("v100", 40)]);
        assert!(parse(&csv).rows.iter().all(|r| pools.iter().any(|p| p.chips >= r.num_gpus)));
    }

    #[test]
    fn percentile_is_time_weighted() {
        // Level 10 for 1 s, level 1 for 99 s: the 95th percentile is 1.
        let mut s = vec![(0.0, 10.0), (1.0, -9.0), (100.0, -1.0)];
        assert_eq!(percentile_level(&mut s, 0.95), 1.0);
        assert_eq!(percentile_level(&mut s, 1.0), 10.0);
    }
}
