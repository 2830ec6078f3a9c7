//! What a run is judged by. Everything is integrated exactly over the piecewise-constant
//! intervals of the event loop, in chip-hours, so no sampling error creeps in.

use std::fmt::Write as _;

/// The final numbers of one run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metrics {
    /// Productive busy chip-hours / healthy chip-hours (rework excluded).
    pub utilization: f64,
    /// Busy normalized compute / healthy normalized compute: utilization that counts an
    /// H100 chip-hour as worth more than an L4 chip-hour.
    pub utilization_norm: f64,
    pub healthy_chip_h: f64,
    /// Chip-hours busy on work that counts (rework excluded).
    pub busy_chip_h: f64,
    /// Chip-hours busy redoing work lost to preemptions and moves (not in `busy_chip_h`).
    pub rework_chip_h: f64,
    /// Chip-hours held but not used.
    pub idle_reserved_chip_h: f64,
    /// Chip-hours of real need not covered by what jobs held.
    pub unmet_chip_h: f64,
    /// Unmet chip-hours that free, usable chips could have covered.
    pub stranded_chip_h: f64,
    /// Mean length of an idle episode (a job holding more than twice what it uses), minutes;
    /// episodes still open at the end count until the end.
    pub give_back_min: f64,
    pub jobs_batch: u64,
    pub jobs_done: u64,
    pub jct_mean_h: f64,
    pub jct_p95_h: f64,
    /// Jain's index over teams of (entitlement met / entitlement wanted).
    pub jain: f64,
    /// The worst team's fraction of its wanted entitlement met.
    pub worst_team_share: f64,
    /// Fleet cost (healthy chip-hours × price) per busy normalized-compute-hour.
    pub cost_per_busy_nh: f64,
    /// Normalized work done (reference-type chip-hours).
    pub work_nh: f64,
    /// Work done / healthy normalized compute: what the fleet delivered, at each job's
    /// own speed. Unlike `utilization_norm` it does not reward running a job where it is
    /// slow: a job on a type it runs well on does the same work in fewer chip-hours.
    pub work_norm: f64,
    pub preemptions: u64,
    pub moves: u64,
    pub critical_stranded: u64,
}

/// One sample of the time series the plots draw.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sample {
    pub t_h: f64,
    pub utilization: f64,
    /// Normalized busy compute per team, as a fraction of the fleet's normalized capacity.
    pub team_share: Vec<f64>,
}

/// Jain's fairness index of `xs`: 1 = equal, 1/n = one takes all. Empty: 1.
pub fn jain(xs: &[f64]) -> f64 {
    let s: f64 = xs.iter().sum();
    let s2: f64 = xs.iter().map(|x| x * x).sum();
    if xs.is_empty() || s2 == 0.0 {
        1.0
    } else {
        s * s / (xs.len() as f64 * s2)
    }
}

/// The `q` quantile (nearest rank) of `xs`; 0 for none.
pub fn quantile(xs: &[f64], q: f64) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

impl Metrics {
    /// One line per metric, stable formatting: the determinism test compares these bytes.
    pub fn fingerprint(&self) -> String {
        let mut s = String::new();
        let _ = write!(s, "{self:?}");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jain_table() {
        for (xs, want) in [
            (vec![], 1.0),
            (vec![1.0, 1.0, 1.0], 1.0),
            (vec![1.0, 0.0], 0.5),
            (vec![1.0, 0.0, 0.0, 0.0], 0.25),
            (vec![0.5, 1.0], 0.9),
        ] {
            assert!((jain(&xs) - want).abs() < 1e-9, "{xs:?}");
        }
    }

    #[test]
    fn quantile_table() {
        let xs: Vec<f64> = (1..=20).map(f64::from).collect();
        for (q, want) in [(0.5, 10.0), (0.95, 19.0), (1.0, 20.0), (0.0, 1.0)] {
            assert_eq!(quantile(&xs, q), want, "q={q}");
        }
        assert_eq!(quantile(&[], 0.5), 0.0);
    }
}
