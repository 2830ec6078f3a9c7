//! One job's state under simulation. Progress is settled lazily: between two changes of a
//! job's holdings its rate is constant, so `remaining` is brought up to date only when the
//! job is touched (a holdings change, a milestone), never on every event.

use super::acc::Contrib;
use crate::world::{JobSpec, Shape, World};

/// Per-job simulation state.
#[derive(Clone, Debug, Default)]
pub(super) struct JobState {
    pub active: bool,
    pub done_ms: Option<i64>,
    /// Work units left, as of `settled_ms`.
    pub remaining: f64,
    /// Work lost to restarts that must be redone before progress counts again.
    pub debt: f64,
    pub settled_ms: i64,
    /// (pool, chips), as the allocator gave them, clipped to what exists.
    pub held: Vec<(usize, u32)>,
    /// The part of `held` the job runs on: all of it, except while it holds more than it
    /// can use (a make-before-break move), when it keeps running where it ran.
    pub running: Vec<(usize, u32)>,
    /// Work units per second at the current holdings.
    pub rate: f64,
    /// What the job adds to the fleet's rates now.
    pub contrib: Contrib,
    /// When the job next finishes or pays off its debt (the heap entry that is current).
    pub milestone_ms: Option<i64>,
    pub reported_busy: Option<f64>,
    pub idle_since: Option<i64>,
    pub unmet_since: Option<i64>,
    pub stranded: bool,
}

impl JobState {
    pub fn new(spec: &JobSpec) -> Self {
        Self { remaining: spec.work, ..Self::default() }
    }

    pub fn total(&self) -> u32 {
        self.held.iter().map(|h| h.1).sum()
    }

    pub fn running_total(&self) -> u32 {
        self.running.iter().map(|h| h.1).sum()
    }

    /// Brings `remaining` and `debt` to time `t`: progress pays the debt first.
    pub fn settle(&mut self, t: i64) {
        if self.rate > 0.0 && t > self.settled_ms {
            let p = self.rate * (t - self.settled_ms) as f64 / 1000.0;
            let pay = p.min(self.debt);
            self.debt -= pay;
            self.remaining = (self.remaining - (p - pay)).max(0.0);
        }
        self.settled_ms = self.settled_ms.max(t);
    }

    /// Whether the job is over at `t` (work done, or lifetime over).
    pub fn done(&self, spec: &JobSpec, t: i64) -> bool {
        match spec.shape {
            Shape::Batch => self.remaining <= spec.work * 1e-9,
            Shape::Service => spec.end_ms <= t,
        }
    }
}

/// Where a job runs once it holds `held`, having run on `before`. A batch job uses at
/// most its request: holding more (a new grant before the old one is revoked), it stays
/// where it ran if that still covers its minimum, else it starts on its fastest chips.
pub(super) fn running_on(spec: &JobSpec, before: &[(usize, u32)], held: &[(usize, u32)]) -> Vec<(usize, u32)> {
    let total: u32 = held.iter().map(|h| h.1).sum();
    if spec.shape != Shape::Batch || total <= spec.chips {
        return held.to_vec();
    }
    let in_held = |p: usize| held.iter().find(|h| h.0 == p).map_or(0, |h| h.1);
    let mut keep: Vec<(usize, u32)> = before.iter().map(|&(p, c)| (p, c.min(in_held(p)))).filter(|h| h.1 > 0).collect();
    if keep.iter().map(|h| h.1).sum::<u32>() < spec.chips_min.max(1) {
        let mut by_speed = held.to_vec();
        by_speed.sort_by(|a, b| spec.tp[b.0].total_cmp(&spec.tp[a.0]).then(a.0.cmp(&b.0)));
        keep = by_speed;
    }
    let mut left = spec.chips;
    let mut out: Vec<(usize, u32)> = keep
        .into_iter()
        .filter_map(|(p, c)| {
            let take = c.min(left);
            left -= take;
            (take > 0).then_some((p, take))
        })
        .collect();
    out.sort_unstable();
    out
}

/// Chips job `spec` keeps busy at `t` running where `s` runs (rework included).
pub(super) fn busy(spec: &JobSpec, s: &JobState, t: i64) -> f64 {
    let held = s.running_total();
    match spec.shape {
        Shape::Batch if held >= spec.chips_min => f64::from(held.min(spec.chips)) * spec.busy_fraction,
        Shape::Batch => 0.0,
        Shape::Service => f64::from(held).min(spec.need(t)),
    }
}

/// Chips the job really needs at `t`.
pub(super) fn need(spec: &JobSpec, t: i64) -> f64 {
    match spec.shape {
        Shape::Batch => f64::from(spec.chips) * spec.busy_fraction,
        Shape::Service => spec.need(t),
    }
}

/// Work units per second at the holdings of `s`.
pub(super) fn rate(spec: &JobSpec, s: &JobState) -> f64 {
    if spec.shape != Shape::Batch || s.running_total() < spec.chips_min {
        return 0.0;
    }
    s.running.iter().map(|&(p, c)| f64::from(c) * spec.tp[p]).sum()
}

/// The job's contribution to the fleet's rates at `t`.
pub(super) fn contribution(w: &World, j: usize, s: &JobState, t: i64) -> Contrib {
    let spec = &w.jobs[j];
    let held = f64::from(s.total());
    let on = busy(spec, s, t);
    let productive = s.debt <= 0.0;
    let run = f64::from(s.running_total());
    let norm: f64 = s.running.iter().map(|&(p, c)| f64::from(c) * w.pools[p].nominal_tp).sum();
    // Fairness counts each job's own speed: a job on the type it runs best on gets all
    // it wanted, even if that type is nominally slow.
    let own: f64 = s.running.iter().map(|&(p, c)| f64::from(c) * spec.tp[p]).sum();
    let busy_share = if run > 0.0 { on / run } else { 0.0 };
    Contrib {
        busy: if productive { on } else { 0.0 },
        rework: if productive { 0.0 } else { on },
        idle: (held - on).max(0.0),
        unmet: (need(spec, t) - on).max(0.0),
        busy_norm: if productive { norm * busy_share } else { 0.0 },
        work: if productive { s.rate } else { 0.0 },
        team: spec.team,
        team_got: own * busy_share,
        team_want: need(spec, t) * spec.tp.iter().copied().fold(0.0, f64::max),
    }
}

/// When a batch job with `s`'s rate next pays off its debt or finishes, from `t`.
pub(super) fn next_milestone(spec: &JobSpec, s: &JobState, t: i64) -> Option<i64> {
    match spec.shape {
        Shape::Service => Some(spec.end_ms),
        Shape::Batch if s.rate > 0.0 => {
            let left = if s.debt > 0.0 { s.debt } else { s.remaining };
            Some(t + (left / s.rate * 1000.0).ceil().max(1.0) as i64)
        }
        Shape::Batch => None,
    }
}
