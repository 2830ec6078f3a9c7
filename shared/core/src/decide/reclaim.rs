//! Reclaims for work that could not be placed from free chips.
//!
//! Two rules, both honouring the victim's drain grace (the chips are revoked by a later
//! round once the deadline passes, see `shrink::revoke_due`):
//! - **Owner reclaim**: a team below its fair share by more than
//!   `max(hysteresis_fraction * fair, preemption_cost / grant_lifetime_min_s)` (the
//!   second term 0 when the lifetime is 0, see `score::restart_toll`) takes
//!   chips back from teams above their fair share (same or lower tier), from grants at
//!   least `grant_lifetime_min_s` old, never pushing the lender below
//!   `(1 - hysteresis_fraction) * fair`.
//! - **Critical preemption**: a critical workload takes chips from preemptible,
//!   non-critical work of the same or lower tier, whatever its age or share.
//!
//! Victims go in order: most over fair share first, then lowest victim score, then id.
//! Critical and non-preemptible work is never a victim.

use crate::decide::score::{grain, restart_toll, round_down, round_up, victim_score};
use crate::decide::view::TeamView;
use crate::decide::Round;
use crate::state::WorkloadState;
use crate::decide::blocked::Blocked;
use qm_model::{Action, FigureName, Reason, ReclaimCause, RuleId, TeamId, WorkloadId};
use std::collections::BTreeMap;

/// Reclaims for each blocked workload in claim order (`r.unplaced`), or explains why not.
pub fn reclaim_for(r: &mut Round) {
    let unplaced = std::mem::take(&mut r.unplaced);
    let mut holders: Option<Vec<Holders>> = None;
    for id in &unplaced {
        if r.blocked.get(id).is_some_and(Blocked::reclaim_cannot_help) {
            continue;
        }
        let h = holders.get_or_insert_with(|| index_holders(r));
        if let Some(reason) = claim(r, id, h) {
            r.blocked.insert(id.clone(), reason);
        }
    }
    r.unplaced = unplaced;
}

/// Who holds chips in each pool, built once per round and only when a claim needs it.
fn index_holders(r: &Round) -> Vec<Holders> {
    let mut out = vec![Holders::new(); r.view.pools.len()];
    for (id, w) in &r.state.workloads {
        for (pool, g) in &w.grants {
            if g.target() > 0 {
                if let Some(&i) = r.view.pool_index.get(pool) {
                    match out[i].get_mut(&w.spec.team) {
                        Some(ids) => ids.push(id.clone()),
                        None => {
                            out[i].insert(w.spec.team.clone(), vec![id.clone()]);
                        }
                    }
                }
            }
        }
    }
    out
}

/// Who holds chips in one pool, by team: a claim looks only at the teams it may take
/// from.
type Holders = BTreeMap<TeamId, Vec<WorkloadId>>;

struct Take {
    victim: WorkloadId,
    keep: u32,
    grace_s: u32,
}

/// What a claimant is owed, worked out once per claim.
struct Claimant {
    critical: bool,
    team: TeamView,
    want: u32,
    hyst: f64,
    /// Normalized compute the team is below its fair share.
    deficit: f64,
    /// Whether the deficit is worth a reclaim.
    fair_due: bool,
}

impl Claimant {
    fn of(r: &Round, w: &WorkloadState) -> Option<Self> {
        let team = r.view.teams.get(&w.spec.team)?.clone();
        let hyst = r.policy.hysteresis_fraction.max(0.0);
        let deficit = team.fair - team.held;
        let threshold = (hyst * team.fair).max(restart_toll(r.policy));
        let fair_due = deficit > threshold;
        Some(Self { critical: w.spec.critical, team, want: w.chips_wanted_total(), hyst, deficit, fair_due })
    }

    /// Chips of type `a` the team is owed under a per-type guarantee, when worth a reclaim.
    fn type_due(&self, a: &qm_model::AcceleratorType) -> u32 {
        let worth = |s: &crate::decide::view::TypeShare| f64::from(s.owed()) >= (self.hyst * f64::from(s.guarantee)).max(1.0);
        self.team.by_type.get(a).map_or(0, |s| if worth(s) { s.owed() } else { 0 })
    }
}

/// What a claimant asks for in one pool, beyond what it holds there.
struct Ask {
    need: u32,
    /// The least it settles for: an elastic claimant takes part, down to its minimum.
    need_min: u32,
    /// The claim is for a per-type guarantee.
    typed: bool,
}

fn claim(r: &mut Round, id: &WorkloadId, holders: &[Holders]) -> Option<Blocked> {
    let w = &r.state.workloads[id];
    let c = Claimant::of(r, w)?;
    if !c.critical && !c.fair_due && !w.spec.accepts.iter().any(|a| a.relative_throughput > 0.0 && c.type_due(&a.accelerator) > 0) {
        return None;
    }
    let mut pools = match w.home_pool().and_then(|p| r.view.pool_index.get(p)) {
        Some(&i) => vec![i],
        None => r.view.candidates(w),
    };
    // Work waiting for a faster type claims only pools faster than the one it refused.
    if let Some(Blocked::FasterSoon(f)) = r.blocked.get(id) {
        pools.retain(|&i| r.view.tp(w, i) > f.refused_tp);
    }
    let score = |i: usize| r.placement_score(w, i);
    pools.sort_by(|a, b| score(*b).total_cmp(&score(*a)).then(a.cmp(b)));
    let mut young_until: Option<i64> = None;
    for i in pools {
        let Some(ask) = ask_in(r, &r.state.workloads[id], &c, i) else { continue };
        let avail = r.view.pools[i].free_planned().saturating_sub(r.reserved[i]);
        if avail >= ask.need_min {
            let got = ask.need.min(avail);
            r.reserved[i] += got;
            return Some(Blocked::AwaitingReclaim { pool: i, need: got, coming_free: avail });
        }
        let (takes, covered, young) = plan_takes(r, id, i, ask.need - avail, &holders[i], ask.typed);
        if let Some(t) = young {
            young_until = Some(young_until.map_or(t, |y: i64| y.min(t)));
        }
        if takes.is_empty() || avail + covered < ask.need_min {
            continue;
        }
        let need = ask.need.min(avail + covered);
        emit_takes(r, id, &c, i, takes, need);
        r.reserved[i] += need;
        let avail = r.view.pools[i].free_planned();
        return Some(Blocked::AwaitingReclaim { pool: i, need, coming_free: avail });
    }
    let t = young_until?;
    r.wake_at(t);
    Some(Blocked::MinLifetime {
        lifetime_min_s: r.policy.grant_lifetime_min_s,
        reclaimable_at_ms: t,
        team_held: c.team.held,
        team_fair: c.team.fair,
    })
}

/// What claimant `w` asks for in pool `i`, or `None` if it has no claim there.
fn ask_in(r: &Round, w: &WorkloadState, c: &Claimant, i: usize) -> Option<Ask> {
    let p = &r.view.pools[i];
    let tp = r.view.tp(w, i);
    let g = grain(w, p);
    let held_here = w.grants.get(&p.id).map_or(0, |g| g.target());
    let mut total = round_down(c.want, g);
    let typed = if c.critical { 0 } else { c.type_due(&p.accelerator) };
    if !c.critical && !c.fair_due && typed == 0 {
        return None;
    }
    if w.spec.gang {
        if !c.want.is_multiple_of(g) {
            return None;
        }
    } else if !c.critical && tp > 0.0 {
        // A per-type claim asks for what the type guarantee owes, no more.
        let extra = if typed > 0 { typed } else { (c.deficit / tp).floor().clamp(0.0, 1e9) as u32 };
        total = total.min(round_down(held_here + extra, g)).max(round_up(w.spec.chips_min, g));
    }
    if !w.spec.gang {
        total = total.min(round_down(p.healthy, g));
    }
    if total <= held_here || total > p.healthy || total < w.spec.chips_min {
        return None;
    }
    let need = total - held_here;
    let need_min = if w.spec.gang { need } else { round_up(w.spec.chips_min, g).saturating_sub(held_here).max(g.min(need)) };
    Some(Ask { need, need_min, typed: typed > 0 })
}

/// Asks each victim to shrink, with its grace, for claimant `id`'s `need` chips in pool `i`.
fn emit_takes(r: &mut Round, id: &WorkloadId, c: &Claimant, i: usize, takes: Vec<Take>, need: u32) {
    let now = r.now();
    let pool = r.view.pools[i].id.clone();
    let (cause, rule) = if c.critical {
        (ReclaimCause::Preemption, RuleId::CriticalPreemption)
    } else {
        (ReclaimCause::OwnerReclaim, RuleId::OwnerReclaim)
    };
    for t in takes {
        let victim = &r.state.workloads[&t.victim];
        let vt = &r.view.teams[&victim.spec.team];
        let held = victim.grants[&pool].target();
        let reason = Reason::new(rule.clone(), format!("{} needs {need} chips in {pool}; {} shrinks to {}", id, t.victim, t.keep))
            .with(FigureName::ClaimantTeamHeld, c.team.held)
            .with(FigureName::ClaimantTeamFairShare, c.team.fair)
            .with(FigureName::VictimTeamHeld, vt.held)
            .with(FigureName::VictimTeamFairShare, vt.fair)
            .with(FigureName::ChipsHeld, f64::from(held))
            .with(FigureName::ChipsKept, f64::from(t.keep))
            .with(FigureName::ChipsNeeded, f64::from(need));
        let deadline_ms = now + i64::from(t.grace_s) * 1000;
        let action = Action::Reclaim { pool: pool.clone(), chips: t.keep, grace_s: t.grace_s, deadline_ms, cause };
        r.emit(&t.victim, action, reason);
    }
}

/// Picks victims in pool `i` for up to `short` chips. Returns the takes, the chips they
/// cover, and the earliest time a too-young victim becomes eligible.
///
/// `typed`: the claim is for a per-type guarantee. Then a lender need not be above its
/// fair share; it keeps its own guarantee (normalized) and its own per-type guarantee on
/// this type instead, and rebalances elsewhere through the fair-share rules.
fn plan_takes(
    r: &Round,
    id: &WorkloadId,
    i: usize,
    short: u32,
    holders: &Holders,
    typed: bool,
) -> (Vec<Take>, u32, Option<i64>) {
    let critical = r.state.workloads[id].spec.critical;
    let (victims, young) = victims(r, id, i, holders, typed);
    let pool = &r.view.pools[i];
    let mut remaining = short;
    let mut takes = Vec::new();
    let mut lent = Lent::default();
    for vid in victims {
        let vw = &r.state.workloads[vid];
        let held = vw.grants[&pool.id].target();
        let vtp = r.view.tp(vw, i);
        // Chips the lender can give without going below (1 - hysteresis) * fair. The
        // claimant takes what the floor allows rather than skipping the lender: skipping
        // left a team below its guarantee with no reclaim at all.
        let floor_chips = if critical { held } else { lent.floor_chips(r, vw, i, typed) };
        let take = take_size(vw, grain(vw, pool), held, floor_chips, remaining);
        if take == 0 {
            continue;
        }
        lent.record(&vw.spec.team, take, if critical { 0.0 } else { f64::from(take) * vtp });
        takes.push(Take { victim: vid.clone(), keep: held - take, grace_s: vw.spec.drain_grace_s });
        remaining = remaining.saturating_sub(take);
        if remaining == 0 {
            break;
        }
    }
    (takes, short - remaining, young)
}

/// The order victims are asked in: most over fair share first, then lowest victim
/// score, then id.
struct VictimKey<'a> {
    share_ratio: f64,
    victim_score: f64,
    id: &'a WorkloadId,
}

impl VictimKey<'_> {
    fn order(&self, other: &Self) -> std::cmp::Ordering {
        other
            .share_ratio
            .total_cmp(&self.share_ratio)
            .then(self.victim_score.total_cmp(&other.victim_score))
            .then(self.id.cmp(other.id))
    }
}

/// Who in pool `i` claimant `id` may take chips from, in order, and the earliest time a
/// grant still too young becomes eligible.
fn victims<'r>(r: &'r Round, id: &WorkloadId, i: usize, holders: &'r Holders, typed: bool) -> (Vec<&'r WorkloadId>, Option<i64>) {
    let now = r.now();
    let w = &r.state.workloads[id];
    let Some(tv) = r.view.teams.get(&w.spec.team) else { return (Vec::new(), None) };
    // Victims come from teams of the same or lower tier, for an owner reclaim only other
    // teams above their fair share: the holders of any other team need not be looked at
    // (their order does not matter: victims are sorted below).
    let above_fair = |vt: &TeamView| vt.held.partial_cmp(&vt.fair).is_none_or(|o| o.is_gt());
    let lends = |t: &TeamId| {
        r.view.teams.get(t).is_some_and(|vt| {
            vt.tier <= tv.tier && (w.spec.critical || (*t != w.spec.team && (typed || above_fair(vt))))
        })
    };
    let pool = &r.view.pools[i];
    let lifetime_ms = i64::from(r.policy.grant_lifetime_min_s) * 1000;
    let mut young = None;
    let mut keys: Vec<VictimKey> = Vec::new();
    for vid in holders.iter().filter(|(t, _)| lends(t)).flat_map(|(_, ids)| ids) {
        let Some(vw) = r.state.workloads.get(vid) else { continue };
        let Some(vg) = vw.grants.get(&pool.id) else { continue };
        if vid == id || vw.finished || !vw.spec.preemptible || vw.spec.critical || vg.target() == 0 || vg.reclaim.is_some() {
            continue;
        }
        let Some(vt) = r.view.teams.get(&vw.spec.team) else { continue };
        if vt.tier > tv.tier {
            continue;
        }
        if !w.spec.critical {
            if vw.spec.team == w.spec.team || (!typed && vt.held <= vt.fair) {
                continue;
            }
            if now < vg.since_ms + lifetime_ms {
                let t = vg.since_ms + lifetime_ms;
                young = Some(young.map_or(t, |y: i64| y.min(t)));
                continue;
            }
        }
        keys.push(VictimKey { share_ratio: vt.ratio(), victim_score: victim_score(vw, r.policy, now), id: vid });
    }
    keys.sort_by(|a, b| a.order(b));
    (keys.into_iter().map(|k| k.id).collect(), young)
}

/// What lending teams have given up so far in this claim.
#[derive(Default)]
struct Lent {
    /// Normalized compute per team.
    loss: Vec<(TeamId, f64)>,
    /// Chips per team, in this pool.
    taken: Vec<(TeamId, u32)>,
}

impl Lent {
    /// Chips victim `vw` can give in pool `i` without taking its team below
    /// `(1 - hysteresis) * fair` (for a per-type claim: below its guarantee), nor below
    /// its own per-type guarantee on the pool's type.
    fn floor_chips(&self, r: &Round, vw: &WorkloadState, i: usize, typed: bool) -> u32 {
        let vt = &r.view.teams[&vw.spec.team];
        let vtp = r.view.tp(vw, i);
        let hyst = r.policy.hysteresis_fraction.max(0.0);
        let lost = self.loss.iter().find(|(t, _)| *t == vw.spec.team).map_or(0.0, |x| x.1);
        let keep = if typed { vt.guarantee } else { vt.fair * (1.0 - hyst) };
        let room = vt.held - lost - keep;
        let by_fair = if room <= 0.0 || vtp <= 0.0 { 0 } else { (room / vtp + 1e-9).floor().min(1e9) as u32 };
        let lost_here = self.taken.iter().filter(|(t, _)| *t == vw.spec.team).map(|x| x.1).sum::<u32>();
        let by_type = vt
            .by_type
            .get(&r.view.pools[i].accelerator)
            .map_or(u32::MAX, |s| s.held.saturating_sub(lost_here).saturating_sub(s.guarantee.min(s.demand)));
        by_fair.min(by_type)
    }

    /// Notes that `team` gave `chips` chips worth `cost` normalized compute.
    fn record(&mut self, team: &TeamId, chips: u32, cost: f64) {
        self.taken.push((team.clone(), chips));
        if cost > 0.0 {
            match self.loss.iter_mut().find(|(t, _)| t == team) {
                Some(x) => x.1 += cost,
                None => self.loss.push((team.clone(), cost)),
            }
        }
    }
}

/// How many of its `held` chips a victim gives for the `remaining` chips still
/// needed, given what its team can spare (`floor_chips`) and its grain `g`.
fn take_size(vw: &WorkloadState, g: u32, held: u32, floor_chips: u32, remaining: u32) -> u32 {
    let min_keep = round_up(vw.spec.chips_min, g);
    let need = round_up(remaining, g);
    if vw.spec.gang {
        if held <= floor_chips { held } else { 0 }
    } else if need <= held.saturating_sub(min_keep) && need <= floor_chips {
        need
    } else if held <= floor_chips {
        // Shrinking below its minimum would stop it anyway: take all.
        held
    } else {
        round_down(floor_chips.min(held.saturating_sub(min_keep)), g)
    }
}
