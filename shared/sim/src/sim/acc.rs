//! Per-metric accumulators. Each one keeps what it integrates over time and is told only
//! what changed: a job's contribution (added and removed by the loop), a pool's health,
//! an interval's length. Between two events every rate is constant, so integrating is
//! `rate × dt`, with no pass over the jobs.

/// What one job adds to the fleet's rates while its holdings and need stay the same.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Contrib {
    /// Chips busy on work that counts (not redoing work lost to a restart).
    pub busy: f64,
    /// Chips busy redoing work lost to a preemption or move.
    pub rework: f64,
    /// Chips held but not busy.
    pub idle: f64,
    /// Chips the job needs but is not busy on.
    pub unmet: f64,
    /// `busy` weighted by each pool's nominal speed.
    pub busy_norm: f64,
    /// Normalized work per second that counts.
    pub work: f64,
    pub team: usize,
    /// Entitlement demand met, in the job's own throughput.
    pub team_got: f64,
    /// Entitlement demand wanted, in the job's own best throughput.
    pub team_want: f64,
}

/// The fleet's current rates: sums of the active jobs' contributions.
#[derive(Clone, Debug, Default)]
pub(super) struct Rates {
    pub busy: f64,
    pub rework: f64,
    pub idle: f64,
    pub unmet: f64,
    pub busy_norm: f64,
    pub work: f64,
    pub team_got: Vec<f64>,
    pub team_want: Vec<f64>,
    /// Unmet chips that free chips the jobs accept could cover (recomputed per event).
    pub stranded: f64,
}

impl Rates {
    pub fn new(teams: usize) -> Self {
        Self { team_got: vec![0.0; teams], team_want: vec![0.0; teams], ..Self::default() }
    }

    /// Adds (`sign` = 1) or removes (`sign` = -1) one job's contribution.
    pub fn apply(&mut self, c: &Contrib, sign: f64) {
        self.busy += sign * c.busy;
        self.rework += sign * c.rework;
        self.idle += sign * c.idle;
        self.unmet += sign * c.unmet;
        self.busy_norm += sign * c.busy_norm;
        self.work += sign * c.work;
        self.team_got[c.team] += sign * c.team_got;
        self.team_want[c.team] += sign * c.team_want;
    }
}

/// Healthy capacity, its normalized value and its cost.
#[derive(Default)]
pub(super) struct Capacity {
    pub chip_h: f64,
    pub norm_h: f64,
    pub cost: f64,
    /// Current rates: healthy chips, normalized, dollars per hour.
    pub now: (f64, f64, f64),
}

impl Capacity {
    pub fn set(&mut self, chips: f64, norm: f64, cost: f64) {
        self.now = (chips, norm, cost);
    }
    pub fn integrate(&mut self, dt_h: f64) {
        self.chip_h += self.now.0 * dt_h;
        self.norm_h += self.now.1 * dt_h;
        self.cost += self.now.2 * dt_h;
    }
}

/// Busy, rework, idle, unmet and stranded chip-hours and normalized work.
#[derive(Default)]
pub(super) struct Usage {
    pub busy: f64,
    pub rework: f64,
    pub busy_norm: f64,
    pub idle: f64,
    pub unmet: f64,
    pub stranded: f64,
    pub work: f64,
}

impl Usage {
    pub fn integrate(&mut self, r: &Rates, dt_h: f64) {
        self.busy += r.busy.max(0.0) * dt_h;
        self.rework += r.rework.max(0.0) * dt_h;
        self.busy_norm += r.busy_norm.max(0.0) * dt_h;
        self.idle += r.idle.max(0.0) * dt_h;
        self.unmet += r.unmet.max(0.0) * dt_h;
        self.stranded += r.stranded * dt_h;
        self.work += r.work.max(0.0) * dt_h;
    }
}

/// Per team: entitled demand met and wanted, chip... normalized hours.
pub(super) struct Fairness {
    pub guarantee: Vec<f64>,
    pub met: Vec<f64>,
    pub wanted: Vec<f64>,
}

impl Fairness {
    pub fn new(guarantee: Vec<f64>) -> Self {
        let n = guarantee.len();
        Self { guarantee, met: vec![0.0; n], wanted: vec![0.0; n] }
    }
    pub fn integrate(&mut self, r: &Rates, dt_h: f64) {
        for t in 0..self.guarantee.len() {
            let entitled = r.team_want[t].max(0.0).min(self.guarantee[t]);
            self.wanted[t] += entitled * dt_h;
            self.met[t] += r.team_got[t].max(0.0).min(entitled) * dt_h;
        }
    }
    /// Each team's fraction of its wanted entitlement met (teams that wanted some).
    pub fn shares(&self) -> Vec<f64> {
        (0..self.met.len()).filter(|&t| self.wanted[t] > 1e-9).map(|t| self.met[t] / self.wanted[t]).collect()
    }
}

/// Idle episodes (a job holding more than twice what it uses), minutes each.
#[derive(Default)]
pub(super) struct IdleEpisodes {
    pub minutes: Vec<f64>,
}

impl IdleEpisodes {
    /// Updates `since` for a job that is (`idle_now`) or is not idle at `t`.
    pub fn observe(&mut self, since: &mut Option<i64>, idle_now: bool, t: i64) {
        match (idle_now, *since) {
            (true, None) => *since = Some(t),
            (false, Some(_)) => self.end(since, t),
            _ => {}
        }
    }
    pub fn end(&mut self, since: &mut Option<i64>, t: i64) {
        if let Some(s) = since.take() {
            self.minutes.push((t - s) as f64 / 60_000.0);
        }
    }
    pub fn mean(&self) -> f64 {
        if self.minutes.is_empty() {
            0.0
        } else {
            self.minutes.iter().sum::<f64>() / self.minutes.len() as f64
        }
    }
}

/// Preemptions and moves as the workloads saw them.
#[derive(Default)]
pub(super) struct Churn {
    pub preemptions: u64,
    pub moves: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contributions_add_and_remove_exactly() {
        let mut r = Rates::new(2);
        let c = Contrib { busy: 4.0, idle: 1.0, team: 1, team_got: 2.0, team_want: 3.0, ..Contrib::default() };
        r.apply(&c, 1.0);
        r.apply(&c, 1.0);
        r.apply(&c, -1.0);
        assert_eq!((r.busy, r.idle, r.team_got[1], r.team_want[1], r.team_got[0]), (4.0, 1.0, 2.0, 3.0, 0.0));
        let mut u = Usage::default();
        u.integrate(&r, 0.5);
        assert_eq!((u.busy, u.idle), (2.0, 0.5));
    }

    #[test]
    fn fairness_caps_met_at_the_entitlement() {
        // Table: (guarantee, wanted rate, got rate) -> share.
        for (g, want, got, share) in [(4.0, 8.0, 4.0, 1.0), (4.0, 8.0, 2.0, 0.5), (4.0, 2.0, 2.0, 1.0), (4.0, 2.0, 1.0, 0.5)] {
            let mut f = Fairness::new(vec![g]);
            let mut r = Rates::new(1);
            r.team_want[0] = want;
            r.team_got[0] = got;
            f.integrate(&r, 1.0);
            assert!((f.shares()[0] - share).abs() < 1e-12, "{g} {want} {got}");
        }
    }

    #[test]
    fn idle_episodes_measure_from_start_to_end() {
        let mut e = IdleEpisodes::default();
        let mut since = None;
        e.observe(&mut since, true, 0);
        e.observe(&mut since, true, 60_000);
        e.observe(&mut since, false, 180_000);
        assert_eq!(e.minutes, [3.0]);
        assert_eq!(e.mean(), 3.0);
    }
}
