//! The pure, deterministic policy core: fold events into state, decide.
//!
//! No clock, no randomness, no IO, no hash-map order: the same log gives the same
//! decisions, byte for byte. Formulas and knobs are written down in `docs/POLICY.md`.
//!
//! - [`engine`]: [`Engine`], the entry point: `step(seq, time, event) -> decisions`;
//!   runs a full round, or the incremental path where that provably decides the same.
//! - [`state`]: the folded state (pools, teams, workloads, grants), all in `BTreeMap`s.
//! - [`fold`]: applies log entries and the core's own decisions to the state; no rules.
//! - [`decide`]: every rule, as the phases of one decision round ([`decide::PHASES`]).
//!   - [`decide::view`]: capacity and team holdings derived for one round.
//!   - [`decide::demand`]: per-team demand and per-type reference throughput, exact sums.
//!   - [`decide::share`]: guarantees and usage-aware weighted fair share.
//!   - [`decide::score`]: priority, victim and placement formulas; chip arithmetic.
//!   - [`decide::shrink`]: release, pool shrink, demand drop, idle give-back, revoke.
//!   - [`decide::place`]: who goes first and where each workload runs.
//!   - [`decide::relocate`]: voluntary moves to a pool that holds the whole request.
//!   - [`decide::reclaim`]: owner reclaim and preemption for critical work.
//!   - [`decide::blocked`]: why a workload waits, as data; its reason is written on report.
//!   - [`decide::pending`]: pending reports on change, next wake-up.
//!   - [`decide::renew`]: rules that act as an entry is folded (new request, use came back).
//!   - [`decide::incremental`]: what the engine keeps between rounds; the scoped round.
//! - [`guard`]: [`Guard`]: a fold that panics halts at the poison entry instead of
//!   crashing; operators skip or retry it with a `HaltResolved` entry in the log.
//! - [`grants`]: a workload's grants by pool, in a small sorted vector.
//! - [`status`]: [`FleetStatus`], what `qm status` prints.
//! - [`gauges`]: [`gauges::FleetGauges`], the fleet gauges the policy service exports on `/metrics`.
//! - [`maths`]: `exp2` and `pow` computed alike on every machine (pure-Rust `libm`).
//! - [`fixtures`]: builders and a given/when/then harness for tests and examples.
//! - [`error`]: [`PolicyError`] and [`validate_policy`].
//! - [`explain`]: why a workload waits and what a demand would get: read-only, for `qm explain`.

pub mod decide;
pub mod engine;
pub mod error;
pub mod explain;
pub mod fixtures;
pub mod fold;
pub mod gauges;
pub mod grants;
pub mod guard;
pub mod history;
pub mod maths;
pub mod state;
pub mod status;

pub use engine::Engine;
pub use error::{validate_policy, PolicyError};
pub use guard::{FoldFault, Guard, Halt, Step};
pub use status::{FleetStatus, PoolStatus, TeamStatus, WorkloadStatus};
