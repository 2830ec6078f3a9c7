//! The engine: the one entry point the policy service, replay and the simulator call.
//! It owns the folded state, the policy and the log position, and decides when a
//! decision round is worth running and which kind: the incremental path where it
//! provably decides what a full round would (`decide::incremental`), a full round, or,
//! with `round_batch_ms`, a full round deferred to the end of a batch window.

use crate::decide;
use crate::decide::demand::{contribution, Contribution};
use crate::decide::incremental::{idle_end, round_scoped, Cache};
use crate::decide::renew;
use crate::fold::{self, Effect};
use crate::state::FleetState;
use crate::status::FleetStatus;
use qm_model::{Decision, InputEvent, LogEvent, PolicyConfig};
use serde::{Deserialize, Serialize};

/// The policy core: state folded from the log plus the rules. Serializable, because a
/// serialized engine is the snapshot a standby or `qm replay` starts from.
///
/// Equality and the serialized form cover the log-derived fields only: the kept round
/// state (`cache`) is derived and rebuilt by the next full round.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Engine {
    state: FleetState,
    policy: PolicyConfig,
    /// A pinned policy ignores `PolicyPublished` (what-if replays).
    pinned: bool,
    last_seq: u64,
    /// The earliest time a time-based rule may fire without new input (unix ms).
    wake_ms: Option<i64>,
    /// With `round_batch_ms`: when the last full round ran (unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_round_ms: Option<i64>,
    /// With `round_batch_ms`: material entries were folded and await the batch's round.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    dirty: bool,
    /// What the last round leaves for the incremental path (`decide::incremental`).
    #[serde(skip)]
    cache: Option<Box<Cache>>,
    /// Tests and audits: run a full round for every material entry.
    #[serde(skip)]
    full_rounds_only: bool,
    /// How many entries the incremental path decided (for tests and metrics).
    #[serde(skip)]
    incremental_steps: u64,
}

impl PartialEq for Engine {
    fn eq(&self, other: &Self) -> bool {
        self.state == other.state
            && self.policy == other.policy
            && self.pinned == other.pinned
            && self.last_seq == other.last_seq
            && self.wake_ms == other.wake_ms
            && self.last_round_ms == other.last_round_ms
            && self.dirty == other.dirty
    }
}

/// What the engine does with a folded entry.
enum Plan {
    /// Nothing material changed and no time-based rule is due.
    Skip,
    /// The incremental path decides it (`decide::incremental`).
    Incremental(FastPath),
    /// With `round_batch_ms`: decided by the batch's round, at `until_ms` at the latest.
    Defer { until_ms: i64 },
    /// A full round now.
    Full,
}

/// What the engine notes before folding an entry the incremental path may decide.
struct FastPath {
    workload: qm_model::WorkloadId,
    /// The workload's contribution to the demand sums before the entry.
    old: Option<Contribution>,
    /// For an actuation report: the pool and the grant's occupancy before it.
    occupied: Option<(qm_model::PoolId, u32)>,
}

impl Engine {
    /// An empty fleet under `policy`.
    pub fn new(policy: PolicyConfig) -> Self {
        Self {
            state: FleetState::default(),
            policy,
            pinned: false,
            last_seq: 0,
            wake_ms: None,
            last_round_ms: None,
            dirty: false,
            cache: None,
            full_rounds_only: false,
            incremental_steps: 0,
        }
    }

    /// An engine over a state folded elsewhere, as a standby restores a snapshot: the
    /// benches and the simulator's shards start from one. The next material entry runs a
    /// full round.
    pub fn restore(state: FleetState, policy: PolicyConfig, last_seq: u64) -> Self {
        Self { state, last_seq, wake_ms: Some(i64::MIN), ..Self::new(policy) }
    }

    /// Folds one entry of the totally ordered log and runs a decision round if the entry
    /// changed something material or a time-based rule is due. Entries at or below
    /// [`Engine::last_seq`] are ignored (redelivery). The clock only moves forward, to
    /// `time_ms`; the core never reads a system clock.
    pub fn step(&mut self, seq: u64, time_ms: i64, event: &LogEvent) -> Vec<Decision> {
        if seq <= self.last_seq {
            return Vec::new();
        }
        self.last_seq = seq;
        self.state.now_ms = self.state.now_ms.max(time_ms);
        let fast = self.fast_path_for(event);
        let effect = self.fold(event);
        match self.plan(event, effect, fast) {
            Plan::Skip => Vec::new(),
            Plan::Incremental(fast) => match self.step_incremental(fast) {
                Some(out) => out,
                // The kept state could not be used after all: decide as if it had
                // never been eligible.
                None => match self.plan_round(event, false) {
                    Plan::Defer { until_ms } => self.defer(until_ms),
                    _ => self.round_full(),
                },
            },
            Plan::Defer { until_ms } => self.defer(until_ms),
            Plan::Full => self.round_full(),
        }
    }

    /// Folds an entry (the policy, an input or an actuation report) and applies the
    /// rules that act as it is folded. Notes when an idle window will end.
    fn fold(&mut self, event: &LogEvent) -> Effect {
        let effect = match event {
            LogEvent::Input(InputEvent::PolicyPublished(p)) => {
                if self.pinned || *p == self.policy {
                    Effect::Nothing
                } else {
                    self.policy = p.clone();
                    Effect::Round
                }
            }
            LogEvent::Input(e) => fold::apply_input(&mut self.state, &self.policy, e),
            LogEvent::Actuation(e) => fold::apply_actuation(&mut self.state, e),
        };
        let effect = self.react(event, effect);
        if effect == Effect::Usage {
            // Use fell below the idle threshold: the give-back notice is due its drain
            // grace before the idle window ends, so wake up then.
            if let LogEvent::Input(InputEvent::UsageReported { workload, .. }) = event {
                if let Some(w) = self.state.workloads.get(workload) {
                    if let Some(since) = w.idle_since_ms {
                        let at = crate::decide::shrink::idle_notice_ms(since, w.spec.drain_grace_s, &self.policy);
                        self.wake_ms = Some(self.wake_ms.map_or(at, |w| w.min(at)));
                    }
                    if let Some(c) = self.cache.as_mut() {
                        c.set_idle(workload, idle_end(w, &self.policy));
                    }
                }
            }
        }
        effect
    }

    /// Chooses what to do with a folded entry: nothing, the incremental path, a round
    /// deferred to the batch, or a full round now.
    fn plan(&self, event: &LogEvent, effect: Effect, fast: Option<FastPath>) -> Plan {
        let due = self.wake_ms.is_some_and(|w| w <= self.state.now_ms);
        if effect != Effect::Round && !due {
            return Plan::Skip;
        }
        match fast {
            Some(fast) if !due && effect == Effect::Round => Plan::Incremental(fast),
            _ => self.plan_round(event, due),
        }
    }

    /// A round is needed: now, or with `round_batch_ms` at the end of the batch window.
    fn plan_round(&self, event: &LogEvent, due: bool) -> Plan {
        let batch_ms = i64::from(self.policy.round_batch_ms);
        // Never batched: lost capacity and failed actuation (a failure rolls a grant back
        // to what the backend holds, which may be more than a pool now has: revoked at
        // once), and critical demand (never left waiting on a batch).
        let urgent = matches!(
            event,
            LogEvent::Input(InputEvent::PoolDeclared(_) | InputEvent::PoolRetired { .. })
                | LogEvent::Actuation(qm_model::ActuationEvent::ActuationFailed { .. })
        ) || matches!(event, LogEvent::Input(InputEvent::DemandDeclared { spec, .. }) if spec.critical);
        if due || urgent || batch_ms <= 0 {
            return Plan::Full;
        }
        match self.last_round_ms.map(|t| t + batch_ms).filter(|at| *at > self.state.now_ms) {
            Some(until_ms) => Plan::Defer { until_ms },
            None => Plan::Full,
        }
    }

    /// Inside the batch window: the entry is folded, the decision waits for the batch.
    /// The kept round state no longer matches the folded state, so it goes.
    fn defer(&mut self, until_ms: i64) -> Vec<Decision> {
        self.dirty = true;
        self.cache = None;
        self.wake_ms = Some(self.wake_ms.map_or(until_ms, |w| w.min(until_ms)));
        Vec::new()
    }

    /// Runs a full round and keeps what the incremental path needs from it.
    fn round_full(&mut self) -> Vec<Decision> {
        let batch_ms = i64::from(self.policy.round_batch_ms);
        let (decisions, wake, view) = decide::round_full(&mut self.state, &self.policy);
        self.wake_ms = wake;
        self.dirty = false;
        self.last_round_ms = (batch_ms > 0).then_some(self.state.now_ms);
        // The rest of the kept state is built when an entry can use it: a run of full
        // rounds (policy changes, ticks) skips the O(workloads) bookkeeping.
        self.cache = (!self.full_rounds_only).then(|| Box::new(Cache::kept_view(view)));
        decisions
    }

    /// Applies the rules that act on an entry as it is folded (`decide::renew`) and
    /// says what the entry means for the round.
    fn react(&mut self, event: &LogEvent, effect: Effect) -> Effect {
        match (effect, event) {
            (Effect::NewRequest, LogEvent::Input(InputEvent::DemandDeclared { spec, .. })) => {
                renew::new_request(&mut self.state, &spec.id);
                Effect::Round
            }
            (Effect::NewRequest, _) => Effect::Round,
            (Effect::Usage, LogEvent::Input(InputEvent::UsageReported { workload, .. }))
                if renew::use_came_back(&mut self.state, workload) =>
            {
                Effect::Round
            }
            (effect, _) => effect,
        }
    }

    /// Whether the incremental path may decide this entry (see `decide::incremental`),
    /// and what it needs to know from before the fold.
    ///
    /// The kept state is rebuilt here if it is missing (after a restore, or after a
    /// scoped round that touched other workloads), so whether an entry takes the
    /// incremental path depends on the log alone, never on the engine's history: with
    /// `round_batch_ms` that decides whether the entry waits for the batch.
    fn fast_path_for(&mut self, event: &LogEvent) -> Option<FastPath> {
        // Upgrades look at every settled workload (`decide::relocate::upgrade`): no
        // scoped round can stand in for that.
        if self.full_rounds_only || self.dirty || self.policy.upgrade_moves {
            return None;
        }
        let eligible = matches!(
            event,
            LogEvent::Input(InputEvent::DemandDeclared { .. })
                | LogEvent::Actuation(qm_model::ActuationEvent::GrantApplied { .. } | qm_model::ActuationEvent::GrantRevoked { .. })
        );
        if eligible {
            match self.cache.as_deref_mut() {
                None => {
                    let view = crate::decide::view::View::build(&self.state, &self.policy);
                    self.cache = Some(Box::new(Cache::after_full_round(&self.state, &self.policy, view)));
                }
                Some(c) if !c.built() => c.build(&self.state, &self.policy),
                Some(_) => {}
            }
        }
        // With `round_batch_ms`, entries in a busy fleet wait for the batch: batching is
        // how such a fleet was configured to be decided, and recorded logs decided so.
        let batched = self.policy.round_batch_ms > 0;
        let cache = self.cache.as_deref().filter(|c| c.usable() && (!batched || c.quiet()))?;
        match event {
            LogEvent::Input(InputEvent::DemandDeclared { spec, .. }) => match self.state.workloads.get(&spec.id) {
                None => Some(FastPath { workload: spec.id.clone(), old: None, occupied: None }),
                Some(w) if !w.finished && w.spec == *spec => {
                    Some(FastPath { workload: spec.id.clone(), old: contribution(&cache.view, w), occupied: None })
                }
                Some(_) => None,
            },
            LogEvent::Actuation(
                qm_model::ActuationEvent::GrantApplied { workload, pool, .. }
                | qm_model::ActuationEvent::GrantRevoked { workload, pool, .. },
            ) => {
                let w = self.state.workloads.get(workload).filter(|w| !w.finished)?;
                cache.view.pool_index.get(pool)?;
                let occupied = self.state.occupied_by(workload, pool);
                Some(FastPath {
                    workload: workload.clone(),
                    old: contribution(&cache.view, w),
                    occupied: Some((pool.clone(), occupied)),
                })
            }
            _ => None,
        }
    }

    /// Decides an entry with a round scoped to its workload. `None` if the kept state
    /// cannot be used after all (then the caller runs a full round).
    fn step_incremental(&mut self, fast: FastPath) -> Option<Vec<Decision>> {
        let mut cache = self.cache.take()?;
        if let Some((pool, before)) = &fast.occupied {
            let after = self.state.occupied_by(&fast.workload, pool);
            let i = *cache.view.pool_index.get(pool)?;
            let p = &mut cache.view.pools[i];
            p.occupied = (p.occupied + after).checked_sub(*before)?;
        }
        let (out, wake) = round_scoped(&mut self.state, &self.policy, &mut cache, &fast.workload, fast.old.as_ref());
        self.wake_ms = wake;
        self.incremental_steps += 1;
        #[cfg(debug_assertions)]
        check_cache(&self.state, &self.policy, &cache);
        self.cache = Some(cache);
        Some(out)
    }

    /// Turns the incremental path off (`true`): every material entry then runs a full
    /// round. Decisions are the same either way, except with `round_batch_ms`: there a
    /// forced full round waits for the batch where the incremental path decides at
    /// once. Tests compare the two.
    pub fn set_full_rounds_only(&mut self, on: bool) {
        self.full_rounds_only = on;
        if on {
            self.cache = None;
        }
    }

    /// Whether folded entries await a batched round (`round_batch_ms`).
    pub fn round_pending(&self) -> bool {
        self.dirty
    }

    /// How many entries the incremental path has decided since this engine was built
    /// or restored.
    pub fn incremental_steps(&self) -> u64 {
        self.incremental_steps
    }

    /// The log position of the last entry folded.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The policy in force; its version label goes into every decision record.
    pub fn policy(&self) -> &PolicyConfig {
        &self.policy
    }

    /// Pins the policy for what-if replays: `PolicyPublished` entries are then ignored.
    /// The next step runs a round under the new policy.
    pub fn pin_policy(&mut self, policy: PolicyConfig) {
        self.policy = policy;
        self.pinned = true;
        self.wake_ms = Some(i64::MIN);
    }

    /// The engine's clock: the latest event time folded (unix ms).
    pub fn now_ms(&self) -> i64 {
        self.state.now_ms
    }

    /// The folded state, read-only, for auditors and the simulator.
    pub fn state(&self) -> &FleetState {
        &self.state
    }

    /// What `qm status` prints.
    pub fn status(&self) -> FleetStatus {
        FleetStatus::of(&self.state, &self.policy)
    }
}

/// Debug builds check that the kept view and sums equal freshly built ones.
#[cfg(debug_assertions)]
fn check_cache(state: &FleetState, policy: &PolicyConfig, cache: &Cache) {
    let fresh = crate::decide::view::View::build(state, policy);
    for (a, b) in fresh.pools.iter().zip(&cache.view.pools) {
        assert_eq!((a.occupied, a.planned, a.decided), (b.occupied, b.planned, b.decided), "kept view of {}", a.id);
    }
    for (id, t) in &fresh.teams {
        let kept = cache.view.teams.get(id);
        assert_eq!(Some(t.held_fp), kept.map(|c| c.held_fp), "kept holding of {id}");
        let held = |v: &crate::decide::view::TeamView| v.by_type.iter().map(|(a, s)| (a.clone(), s.held)).collect::<Vec<_>>();
        assert_eq!(Some(held(t)), kept.map(held), "kept per-type holding of {id}");
    }
    let mut sums = crate::decide::demand::Sums::default();
    for w in state.workloads.values() {
        if let Some(k) = contribution(&fresh, w) {
            sums.add(&k, 1);
        }
    }
    sums.demand.retain(|_, d| *d != 0);
    let mut kept = cache.sums.clone();
    kept.demand.retain(|_, d| *d != 0);
    assert_eq!(sums, kept, "kept demand sums");
    let fresh = crate::decide::incremental::Cache::after_full_round(state, policy, fresh);
    assert_eq!(fresh.active, cache.active, "kept active set");
    assert_eq!(fresh.owed, cache.owed, "kept owed set");
}
