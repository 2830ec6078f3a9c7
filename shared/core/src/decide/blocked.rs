//! Why a workload that wants more could not get it this round, as data. A busy round
//! blocks many workloads and reports few of them (a pending report goes out only when
//! its chips or rule change), so the sentence and the figures of the [`Reason`] are
//! written only for the reports that are emitted.

use crate::decide::view::View;
use crate::decide::wait::FasterSoon;
use crate::state::WorkloadState;
use qm_model::{FigureName, Reason, RuleId, WorkloadId};

/// What a placement attempt saw when no candidate pool would do.
#[derive(Clone, Debug, PartialEq)]
pub struct Shortfall {
    pub want: u32,
    pub have: u32,
    /// The most chips free in any candidate pool.
    pub free_max: u32,
    pub team_held: f64,
    pub team_fair: f64,
}

/// Why a workload is blocked, with the numbers its pending report will show.
#[derive(Clone, Debug, PartialEq)]
pub enum Blocked {
    /// Its team is not declared.
    UnknownTeam,
    /// No healthy pool of a type it accepts in its team's regions.
    NoAcceptedPool,
    /// Every candidate pool is closed to it by the team limit.
    TeamLimit(Shortfall),
    /// A gang: no candidate pool has its whole size free.
    GangNoFit(Shortfall),
    /// No candidate pool has room for any growth worth making.
    NoRoom(Shortfall),
    /// Placed, but not in full.
    Short { want: u32, have: u32 },
    /// Chips are being reclaimed for it in pool `pool` (an index into the round's view).
    AwaitingReclaim { pool: usize, need: u32, coming_free: u32 },
    /// The grants it could reclaim are younger than the minimum lifetime.
    MinLifetime { lifetime_min_s: u32, reclaimable_at_ms: i64, team_held: f64, team_fair: f64 },
    /// A new workload waits for a faster type that is expected to free chips soon.
    FasterSoon(FasterSoon),
}

impl Blocked {
    /// The rule its pending report names.
    pub fn rule(&self) -> RuleId {
        match self {
            Self::UnknownTeam => RuleId::UnknownTeam,
            Self::NoAcceptedPool => RuleId::NoAcceptedPool,
            Self::TeamLimit(_) => RuleId::TeamLimit,
            Self::GangNoFit(_) => RuleId::GangNoFit,
            Self::NoRoom(_) | Self::Short { .. } => RuleId::NoCapacity,
            Self::AwaitingReclaim { .. } => RuleId::AwaitingReclaim,
            Self::MinLifetime { .. } => RuleId::MinLifetime,
            Self::FasterSoon(_) => RuleId::FasterTypeSoon,
        }
    }

    /// Whether taking chips from others cannot help: nothing to place it in, or its
    /// team may not hold more.
    pub fn reclaim_cannot_help(&self) -> bool {
        matches!(self, Self::UnknownTeam | Self::NoAcceptedPool | Self::TeamLimit(_))
    }

    /// The reason its pending report carries.
    pub fn reason(&self, id: &WorkloadId, w: &WorkloadState, view: &View) -> Reason {
        match self {
            Self::UnknownTeam => Reason::new(RuleId::UnknownTeam, format!("team {} is not declared", w.spec.team)),
            Self::NoAcceptedPool => Reason::new(
                RuleId::NoAcceptedPool,
                format!("no healthy pool of a type {id} accepts in its team's regions"),
            ),
            Self::TeamLimit(s) => s.figures(Reason::new(self.rule(), format!("{id}'s team is at its limit"))),
            Self::GangNoFit(s) => s.figures(Reason::new(
                self.rule(),
                format!("{id} needs {} chips at once; no candidate pool has them free", s.want),
            )),
            Self::NoRoom(s) => {
                s.figures(Reason::new(self.rule(), format!("{id} wants {} chips; no candidate pool has room", s.want)))
            }
            Self::Short { want, have } => {
                Reason::new(RuleId::NoCapacity, format!("{id} got {have} of {want} chips; no room for the rest"))
                    .with(FigureName::ChipsWanted, f64::from(*want))
                    .with(FigureName::ChipsHeld, f64::from(*have))
            }
            Self::AwaitingReclaim { pool, need, coming_free } => {
                let pool = &view.pools[*pool].id;
                Reason::new(RuleId::AwaitingReclaim, format!("{id} waits for {need} chips being reclaimed in {pool}"))
                    .with(FigureName::ChipsNeeded, f64::from(*need))
                    .with(FigureName::ChipsComingFree, f64::from(*coming_free))
            }
            Self::MinLifetime { lifetime_min_s, reclaimable_at_ms, team_held, team_fair } => Reason::new(
                RuleId::MinLifetime,
                format!("{id} waits for borrowed grants to reach their minimum lifetime"),
            )
            .with(FigureName::GrantLifetimeMinS, f64::from(*lifetime_min_s))
            .with(FigureName::ReclaimableAtMs, *reclaimable_at_ms as f64)
            .with(FigureName::TeamHeld, *team_held)
            .with(FigureName::TeamFairShare, *team_fair),
            Self::FasterSoon(f) => {
                let pool = &view.pools[f.fast_pool];
                let fast_tp = w.spec.throughput_on(&pool.accelerator).unwrap_or(0.0);
                Reason::new(
                    RuleId::FasterTypeSoon,
                    format!(
                        "{id} waits for {}: expected to free chips in {:.0} s, sooner than the {:.0} s longer it would run on a slower type",
                        pool.accelerator,
                        f.expected_wait_ms / 1000.0,
                        f.slowdown_ms / 1000.0
                    ),
                )
                .with(FigureName::ExpectedWaitS, (f.expected_wait_ms / 1000.0).round())
                .with(FigureName::SlowdownS, (f.slowdown_ms / 1000.0).round())
                .with(FigureName::RelativeThroughput, fast_tp)
            }
        }
    }
}

impl Shortfall {
    fn figures(&self, reason: Reason) -> Reason {
        reason
            .with(FigureName::ChipsWanted, f64::from(self.want))
            .with(FigureName::ChipsHeld, f64::from(self.have))
            .with(FigureName::LargestFreeChips, f64::from(self.free_max))
            .with(FigureName::TeamHeld, self.team_held)
            .with(FigureName::TeamFairShare, self.team_fair)
    }
}
