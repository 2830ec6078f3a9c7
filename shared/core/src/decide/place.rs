//! Fair shares and placement: who gets free chips first, and where each workload runs.
//!
//! Teams take turns: the team furthest below its fair share goes next (a team with a
//! critical workload waiting goes before all), teams above their share come after and
//! by tier. Within a team, critical first, then soft priority, then age, then id.
//! A workload is placed in the candidate pool with the highest
//! `placement_score * chips it can get there`, i.e. useful throughput per cost, given
//! what is free.

use crate::decide::demand::contribution;
use crate::decide::relocate;
use crate::decide::score::{grain, placement_price, priority, round_down, round_up, size_for};
use crate::decide::share::fair_shares;
use crate::decide::{members, Round};
use crate::state::WorkloadState;
use crate::decide::blocked::{Blocked, Shortfall};
use qm_model::{AcceleratorType, Action, FigureName, Reason, RuleId, TeamId, WorkloadId};
use std::collections::BTreeMap;

/// Workloads that want more than they hold, queued per team in priority order.
#[derive(Clone, Debug, Default)]
pub struct Wanting {
    pub queues: Vec<(TeamId, Vec<WorkloadId>)>,
}

/// Sums demand, computes normalized capacity and every team's fair share, and queues
/// the workloads that want more (into `r.wanting`, the sums into `r.sums`). A full
/// round sums over every workload; a scoped round (the engine's incremental path)
/// starts from the kept sums of every other workload and adds the changed one.
pub fn compute_shares(r: &mut Round) {
    let now = r.now();
    // A scoped round's sums are live over the whole fleet already (see `incremental`).
    let live = r.scoped.as_ref().map(|s| s.sums.clone());
    let counted = live.is_some();
    let mut sums = live.unwrap_or_default();
    let mut queues: BTreeMap<TeamId, Vec<QueueKey>> = BTreeMap::new();
    // Chips wanted beyond what they hold by the queued workloads, per type they accept.
    // The queue holds every wanting workload in a scoped round too (they are all in the
    // active set), so the sums agree with a full round's.
    let mut waiting_for: BTreeMap<AcceleratorType, u64> = r.view.by_type.keys().map(|a| (a.clone(), 0)).collect();
    let mut waiting_speedup: BTreeMap<AcceleratorType, f64> = BTreeMap::new();
    for (id, w) in members(&r.state.workloads, r.scope.as_deref()) {
        let want = w.chips_wanted_total();
        if want == 0 || want < w.spec.chips_min {
            continue;
        }
        let have = w.target_total();
        let known = if counted {
            r.view.teams.contains_key(&w.spec.team)
        } else {
            contribution(&r.view, w).map(|c| sums.add(&c, 1)).is_some()
        };
        if !known {
            if want > have {
                r.blocked.insert(id.clone(), Blocked::UnknownTeam);
            }
            continue;
        }
        if want > have {
            let key = QueueKey { critical: w.spec.critical, priority: priority(w, r.policy, now), declared_at_ms: w.declared_at_ms, id: id.clone() };
            queues.entry(w.spec.team.clone()).or_default().push(key);
            for acc in w.spec.accepts.iter().filter(|a| a.relative_throughput > 0.0) {
                if let Some(u) = waiting_for.get_mut(&acc.accelerator) {
                    *u += u64::from(want - have);
                }
            }
            // Only the wait rule reads it; a policy without the rule skips the work.
            let speedup = if r.policy.wait_for_faster_type { crate::decide::wait::speedup(&r.view, w) } else { None };
            if let Some((best, ratio)) = speedup {
                let m = waiting_speedup.entry(best).or_insert(0.0);
                *m = m.max(ratio);
            }
        }
    }
    r.placement_price = placement_prices(&r.view, &waiting_for);
    r.waiting_for = waiting_for;
    r.waiting_speedup = waiting_speedup;
    for (id, t) in r.view.teams.iter_mut() {
        t.demand = sums.demand_of(id);
        // Per-type guarantees raise the team's normalized guarantee to what they are
        // worth (capped by the demand on each type), so fair shares make room for them.
        let mut typed = 0.0;
        for (a, share) in t.by_type.iter_mut() {
            share.demand = sums.type_demand_of(id, a);
            typed += f64::from(share.guarantee.min(share.demand)) * sums.ref_tp(a);
        }
        t.guarantee = t.guarantee.max(typed);
    }
    let capacity: f64 = r.view.pools.iter().map(|p| f64::from(p.healthy) * sums.ref_tp(&p.accelerator)).sum();
    fair_shares(&mut r.view.teams, capacity, r.policy);
    let queues = queues
        .into_iter()
        .map(|(team, mut q)| {
            q.sort_by(QueueKey::order);
            (team, q.into_iter().map(|k| k.id).collect())
        })
        .collect();
    r.wanting = Wanting { queues };
    r.sums = sums;
}

/// Each pool's placement price this round ([`placement_price`]): contended when the
/// chips wanted by queued workloads that accept its type exceed that type's free chips.
fn placement_prices(view: &crate::decide::view::View, waiting_for: &BTreeMap<AcceleratorType, u64>) -> Vec<f64> {
    let cheapest = view.pools.iter().filter(|p| p.healthy > 0).map(|p| p.price).fold(f64::INFINITY, f64::min);
    let free_of = |a: &AcceleratorType| -> u64 { view.by_type.get(a).into_iter().flatten().map(|&i| u64::from(view.pools[i].free_now())).sum() };
    let contended: BTreeMap<&AcceleratorType, bool> = waiting_for.iter().map(|(a, &w)| (a, w > free_of(a))).collect();
    view.pools.iter().map(|p| placement_price(p.price, contended.get(&p.accelerator).copied().unwrap_or(true), cheapest)).collect()
}

/// A workload's place in its team's queue: critical first, then higher soft
/// priority, then older, then id.
struct QueueKey {
    critical: bool,
    priority: f64,
    declared_at_ms: i64,
    id: WorkloadId,
}

impl QueueKey {
    fn order(a: &Self, b: &Self) -> std::cmp::Ordering {
        b.critical
            .cmp(&a.critical)
            .then(b.priority.total_cmp(&a.priority))
            .then(a.declared_at_ms.cmp(&b.declared_at_ms))
            .then(a.id.cmp(&b.id))
    }
}

/// Which placement pass is running: entitled work first, then borrowing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pass {
    /// Teams below their fair share (and critical work) take free chips, each grant
    /// capped so the team does not pass its fair share.
    Entitled,
    /// What is still free goes to whoever still wants, beyond fair share.
    Borrow,
}

/// Hands out free chips, team by team, in two passes: first every team below its fair
/// share fills up to it, then what is left is lent. Without the first pass a team far
/// below a small fair share could take a whole large request and strand chips that were
/// just reclaimed for a team owed more (the guarantee property's counterexample).
/// Leaves in `r.unplaced` the workloads still wanting, in the order they were first
/// considered (that order is their claim order for reclaims).
pub fn place(r: &mut Round) {
    let wanting = std::mem::take(&mut r.wanting);
    let mut considered = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    // Round-start holdings, so the hysteresis rule compares against what the workload
    // held before this round, not after the first pass.
    let mut held_start: BTreeMap<WorkloadId, u32> = BTreeMap::new();
    for pass in [Pass::Entitled, Pass::Borrow] {
        run_pass(r, &wanting, pass, &mut |id: &WorkloadId, held: u32| {
            if seen.insert(id.clone()) {
                considered.push(id.clone());
                held_start.insert(id.clone(), held);
            }
            held_start[id]
        });
    }
    let mut unplaced = Vec::new();
    for id in considered {
        let w = &r.state.workloads[&id];
        let (want, have) = (w.chips_wanted_total(), w.target_total());
        if want <= have {
            r.blocked.remove(&id);
            continue;
        }
        if !r.blocked.contains_key(&id) {
            r.blocked.insert(id.clone(), Blocked::Short { want, have });
        }
        unplaced.push(id);
    }
    r.wanting = wanting;
    r.unplaced = unplaced;
}

/// Whether a team is still owed chips of a type the workload accepts.
fn type_owed(r: &Round, team: &TeamId, id: &WorkloadId) -> bool {
    let (Some(tv), Some(w)) = (r.view.teams.get(team), r.state.workloads.get(id)) else { return false };
    !tv.by_type.is_empty()
        && w.spec.accepts.iter().any(|a| a.relative_throughput > 0.0 && tv.by_type.get(&a.accelerator).is_some_and(|s| s.owed() > 0))
}

/// Which team's head goes next: critical work first, then teams below their fair
/// share, then higher tier, then lowest share ratio; ties keep queue order.
struct TurnKey {
    critical: bool,
    at_share: bool,
    tier: qm_model::PriorityTier,
    share_ratio: f64,
}

impl TurnKey {
    fn order(&self, other: &Self) -> std::cmp::Ordering {
        (other.critical, self.at_share, other.tier)
            .cmp(&(self.critical, other.at_share, self.tier))
            .then(self.share_ratio.total_cmp(&other.share_ratio))
    }
}

/// One pass over the team queues. `first_seen` records the claim order and returns
/// the workload's holding at round start.
fn run_pass(r: &mut Round, wanting: &Wanting, pass: Pass, first_seen: &mut dyn FnMut(&WorkloadId, u32) -> u32) {
    let mut heads = vec![0usize; wanting.queues.len()];
    // Each queue's turn key, kept between picks: a placement changes only the placed
    // workload's team, so only the queue just picked from needs a new key.
    let mut keys: Vec<Option<TurnKey>> = (0..wanting.queues.len()).map(|k| turn_key(r, wanting, &heads, k, pass)).collect();
    loop {
        let mut best: Option<(usize, &TurnKey)> = None;
        for (k, key) in keys.iter().enumerate() {
            let Some(key) = key else { continue };
            if best.is_none_or(|(_, b)| key.order(b).is_lt()) {
                best = Some((k, key));
            }
        }
        let Some((k, _)) = best else { break };
        let id = wanting.queues[k].1[heads[k]].clone();
        heads[k] += 1;
        place_head(r, &id, pass, first_seen);
        keys[k] = turn_key(r, wanting, &heads, k, pass);
    }
}

/// The turn key of queue `k`'s head, or `None` if the queue is done or sits this pass out.
fn turn_key(r: &Round, wanting: &Wanting, heads: &[usize], k: usize, pass: Pass) -> Option<TurnKey> {
    let (team, q) = &wanting.queues[k];
    let id = q.get(heads[k])?;
    let critical = r.state.workloads.get(id).is_some_and(|w| w.spec.critical);
    let tv = &r.view.teams[team];
    // A team owed chips of a type its head accepts goes first in the entitled
    // pass: otherwise chips reclaimed for that guarantee go to whoever is
    // furthest below its fair share, and the reclaim starts over.
    let owed = pass == Pass::Entitled && type_owed(r, team, id);
    let ratio = if owed { 0.0 } else { tv.ratio() };
    if pass == Pass::Entitled && !critical && ratio >= 1.0 {
        // Sits the entitled pass out; its queue goes on in the borrow pass.
        return None;
    }
    Some(TurnKey { critical, at_share: ratio >= 1.0, tier: tv.tier, share_ratio: ratio })
}

/// Places one queue head: what it holds at round start is noted for the hysteresis rule.
fn place_head(r: &mut Round, id: &WorkloadId, pass: Pass, first_seen: &mut dyn FnMut(&WorkloadId, u32) -> u32) {
    let w = &r.state.workloads[id];
    let (want, have) = (w.chips_wanted_total(), w.target_total());
    let start = first_seen(id, have);
    if want <= have {
        return;
    }
    let capped = pass == Pass::Entitled && !w.spec.critical;
    // Only work that is owed chips holds free ones: a team with a fair share of 0 also
    // takes a turn in the entitled pass (its ratio is 0), and its hold used to keep the
    // chips reclaimed for a guaranteed team for its own borrow-pass grants, which the
    // next claim reclaimed again (found by the guarantee property test).
    let team = w.spec.team.clone();
    let owed = w.spec.critical || type_owed(r, &team, id) || r.view.teams.get(&team).is_some_and(|t| t.fair - t.held > 1e-9);
    match try_place(r, id, capped, start) {
        Err(reason) => {
            // Holds keep free chips where they are coming free; one waiting for a
            // faster type would hold them in whatever pool that is.
            let holds = !matches!(reason, Blocked::FasterSoon(_));
            if pass == Pass::Entitled && owed && holds && !reason.reclaim_cannot_help() {
                hold_for(r, id);
            }
            r.blocked.insert(id.clone(), reason);
        }
        Ok(()) => {
            r.blocked.remove(id);
        }
    }
}

/// What a workload can hold in pool `i` this round: its request sized to the pool's
/// grain (see [`size_for`]), cut to what is free there plus what it already holds there,
/// to the team limit and, when `fair_cap`, to the team's fair share. `None` if the pool
/// is closed to it by the team limit.
pub(crate) fn fit(r: &Round, w: &WorkloadState, i: usize, fair_cap: bool) -> Option<u32> {
    let (all, capped) = fits(r, w, i)?;
    Some(if fair_cap { capped } else { all })
}

/// [`fit`] without and with the fair-share cap, computed once.
fn fits(r: &Round, w: &WorkloadState, i: usize) -> Option<(u32, u32)> {
    let p = &r.view.pools[i];
    let team = &r.view.teams[&w.spec.team];
    let tp = r.view.tp(w, i);
    let g = grain(w, p);
    let want = w.chips_wanted_total();
    let held_here = w.grants.get(&p.id).map_or(0, |g| g.target());
    let room = held_here + free_for(r, &w.spec.id, i);
    // Chips the team limit (and, in the entitled pass, the fair share) still allows.
    let norm_to_chips = |left: f64| if tp > 0.0 { (left / tp + 1e-9 + f64::from(held_here)).floor().min(1e9) as u32 } else { 0 };
    let by_limit = norm_to_chips(team.limit.map_or(f64::INFINITY, |l| (l - team.held).max(0.0)));
    // A per-type guarantee on this pool's type lets the team past its fair share there.
    let type_room = team.by_type.get(&p.accelerator).map_or(0, |s| held_here + s.owed());
    let by_fair = norm_to_chips((team.fair - team.held).max(0.0)).max(type_room);
    let total = |cap: u32| {
        if w.spec.gang {
            if want.is_multiple_of(g) && want <= room && want <= cap { want } else { 0 }
        } else {
            round_down(size_for(want, w.spec.chips_max, g).min(room).min(cap), g)
        }
    };
    let all = total(u32::MAX);
    if all > by_limit {
        return None;
    }
    Some((all, total(by_fair)))
}

/// Grants a workload what it wants, or as much of it as fits, or says why not.
/// `fair_cap`: the entitled pass, where a grant may not take the team past its fair share.
/// `start`: what the workload held at round start, for the hysteresis rule.
fn try_place(r: &mut Round, id: &WorkloadId, fair_cap: bool, start: u32) -> Result<(), Blocked> {
    let w = &r.state.workloads[id];
    let (want, have) = (w.chips_wanted_total(), w.target_total());
    let home = w.home_pool().and_then(|p| r.view.pool_index.get(p)).copied();
    let pools = match home {
        Some(i) => vec![i],
        None => r.view.candidates(w),
    };
    if pools.is_empty() {
        return Err(Blocked::NoAcceptedPool);
    }
    let look = best_pool(r, w, &pools, fair_cap, start);
    if let Some(from) = home {
        let stays = look.best.as_ref().map_or(have, |b| b.total);
        // Moves wait for the borrow pass, so the entitled pass is about shares only.
        if !fair_cap && stays < want && relocate::try_move(r, id, from, stays) {
            return Ok(());
        }
    }
    let w = &r.state.workloads[id];
    let Some(best) = look.best else {
        let team = &r.view.teams[&w.spec.team];
        let s = Shortfall { want, have, free_max: look.free_max, team_held: team.held, team_fair: team.fair };
        return Err(if look.limited {
            Blocked::TeamLimit(s)
        } else if w.spec.gang {
            Blocked::GangNoFit(s)
        } else {
            Blocked::NoRoom(s)
        });
    };
    if let Some(wait) = crate::decide::wait::faster_soon(r, w, &pools, best.pool) {
        r.wake_at(wait.until_ms);
        return Err(wait.into());
    }
    grant(r, id, best);
    Ok(())
}

/// Chips free for workload `id` in pool `i`: free now, less what placement keeps for
/// other claimants this round.
pub(crate) fn free_for(r: &Round, id: &WorkloadId, i: usize) -> u32 {
    let own = r.held_for.get(id).map_or(0, |&(at, c)| if at == i { c } else { 0 });
    r.view.pools[i].free_now().saturating_sub(r.holds[i]) + own
}

/// Keeps free chips for a workload that is owed chips (critical, or its team below its
/// fair share) but found too few free to be placed, in the first pool (by placement
/// score) where chips are already being reclaimed and the free ones plus those cover
/// its minimum. Without the hold, each chip a reclaim frees went to whoever came next
/// in the round (a borrower growing by one chip), and the claim reclaimed it again from
/// that workload: a loop of one-chip preemptions every grace period. The hold lasts the
/// round; the reclaim phase then counts the free chips for the claimant, and the next
/// round places it once enough have come free.
fn hold_for(r: &mut Round, id: &WorkloadId) {
    let Some(w) = r.state.workloads.get(id) else { return };
    if r.held_for.contains_key(id) {
        return;
    }
    let (want, have) = (w.chips_wanted_total(), w.target_total());
    let pools = match w.home_pool().and_then(|p| r.view.pool_index.get(p)) {
        Some(&i) => vec![i],
        None => {
            let mut c = r.view.candidates(w);
            let score = |i: usize| r.placement_score(w, i);
            c.sort_by(|a, b| score(*b).total_cmp(&score(*a)).then(a.cmp(b)));
            c
        }
    };
    let need = want.saturating_sub(have);
    for i in pools {
        let p = &r.view.pools[i];
        let g = grain(w, p);
        let need_min = if w.spec.gang { want } else { round_up(w.spec.chips_min.saturating_sub(have).max(1), g) };
        let free = free_for(r, id, i);
        let coming = p.occupied.saturating_sub(p.planned);
        if free > 0 && coming > 0 && free + coming >= need_min {
            let hold = free.min(need);
            r.holds[i] += hold;
            r.held_for.insert(id.clone(), (i, hold));
            return;
        }
    }
}

/// The pool a placement goes to, and the grant there.
struct Placement {
    /// `placement_score * useful chips`: what the pool is chosen by.
    score: f64,
    pool: usize,
    total: u32,
}

/// What a look over the candidate pools found.
struct Look {
    best: Option<Placement>,
    /// The most chips free in any candidate pool.
    free_max: u32,
    /// Some pool was closed by the team limit.
    limited: bool,
}

/// The candidate pool with the highest placement value where growth is worth a change.
fn best_pool(r: &Round, w: &WorkloadState, pools: &[usize], fair_cap: bool, start: u32) -> Look {
    let want = w.chips_wanted_total();
    let hyst = r.policy.hysteresis_fraction.max(0.0);
    let mut look = Look { best: None, free_max: 0, limited: false };
    for &i in pools {
        let p = &r.view.pools[i];
        let free = free_for(r, &w.spec.id, i);
        look.free_max = look.free_max.max(free);
        let held_here = w.grants.get(&p.id).map_or(0, |g| g.target());
        // A full pool offers no growth (room is what the workload holds there) and, where
        // the workload runs at all, cannot be closed by the team limit (`fits` never caps
        // below what is held): most pools, in a busy fleet.
        if free == 0 && r.view.tp(w, i) > 0.0 && held_here <= 1_000_000_000 {
            continue;
        }
        // The pool is chosen by what the workload could get there in all (so it goes
        // where its whole request fits), the grant by what this pass allows.
        let Some((room_all, capped)) = fits(r, w, i) else {
            look.limited = true;
            continue;
        };
        let total = if fair_cap { capped } else { room_all };
        if total <= held_here || total < w.spec.chips_min {
            continue;
        }
        // Growth must be worth a change, unless it completes the request.
        let base = start.min(held_here);
        if base > 0 && total < want && f64::from(total - base) < (hyst * f64::from(base)).max(1.0) {
            continue;
        }
        // Useful chips: an allocation unit may force a grant above the request.
        let score = r.placement_score(w, i) * f64::from(room_all.min(want));
        if look.best.as_ref().is_none_or(|b| score > b.score) {
            look.best = Some(Placement { score, pool: i, total });
        }
    }
    look
}

/// Grants workload `id` its placement, naming the rule it falls under: its team's
/// guarantee (or a per-type guarantee), its fair share, or borrowing beyond it.
fn grant(r: &mut Round, id: &WorkloadId, at: Placement) {
    let w = &r.state.workloads[id];
    let want = w.chips_wanted_total();
    let team = &r.view.teams[&w.spec.team];
    let Placement { score, pool: i, total } = at;
    let p = &r.view.pools[i];
    let pool = p.id.clone();
    let tp = r.view.tp(w, i);
    let held_here = w.grants.get(&pool).map_or(0, |g| g.target());
    let type_owed_here = team.by_type.get(&p.accelerator).map_or(0, |s| s.owed());
    let rule = if type_owed_here > 0 {
        RuleId::Guarantee
    } else if team.held + f64::from(total - held_here) * tp <= team.fair + 1e-9 {
        if team.held < team.guarantee { RuleId::Guarantee } else { RuleId::FairShare }
    } else {
        RuleId::Borrow
    };
    let reason = Reason::new(rule, format!("{id} gets {total} chips in {pool} (wants {want})"))
        .with(FigureName::ChipsWanted, f64::from(want))
        .with(FigureName::ChipsGranted, f64::from(total))
        .with(FigureName::RelativeThroughput, tp)
        .with(FigureName::PricePerChipHour, p.price)
        .with(FigureName::PlacementPrice, r.placement_price[i])
        .with(FigureName::PlacementScore, score)
        .with(FigureName::PoolFreeChips, f64::from(p.free_now()))
        .with(FigureName::TeamHeld, team.held)
        .with(FigureName::TeamGuarantee, team.guarantee)
        .with(FigureName::TeamFairShare, team.fair);
    r.emit(id, Action::Grant { pool, chips: total }, reason);
}
