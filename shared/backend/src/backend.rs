//! The trait every backend implements.

use crate::{BackendError, Effect};
use qm_model::ActuationEvent;
use std::future::Future;

/// How an applied effect stands, as far as the backend knows once `apply` returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// In force as asked. For [`crate::Verb::Drain`] this means the workload was asked to
    /// shrink by the deadline and the chips are still held (reported `DrainRequested`);
    /// for the other verbs the holding is now `chips` (`GrantApplied` / `GrantRevoked`).
    AsAsked,
    /// A drain the backend carried out at once (it has no graceful path): the chips
    /// above the target are already gone (reported `GrantRevoked`). For other verbs it
    /// means the same as [`Applied::AsAsked`].
    RevokedAtOnce,
}

/// A place where decisions take effect: a simulated fleet, a command, a scheduler.
///
/// The actuator calls [`Backend::recall`] for every earlier report at start, then
/// [`Backend::apply`] once per decision, in log order, awaiting each before the next.
/// It never applies a decision it has already reported, but a crash between `apply` and
/// the report reaching the log repeats one, so `apply` must be idempotent for a given
/// [`Effect::decision_id`] (set limits to absolute values; use the id as an idempotency
/// key for anything that is not). Report only what the scheduler shows: a grant is
/// [`Applied`] once the scheduler enforces it, not when the request was sent.
///
/// Measured usage is not part of this trait: a collector reads the scheduler on its own
/// schedule and sends `UsageReported` through ingest like any other source.
pub trait Backend: Send {
    /// A short lower-case name (`sim`, `exec`, `slurm`) for logs and metrics labels.
    fn name(&self) -> &'static str;

    /// Folds one earlier report back in at start, so in-process state matches what was
    /// applied before a restart. Backends whose truth lives in the scheduler ignore it.
    fn recall(&mut self, _event: &ActuationEvent) {}

    /// Applies one effect. An `Err` is reported as `ActuationFailed` with its message.
    fn apply(&mut self, effect: &Effect) -> impl Future<Output = Result<Applied, BackendError>> + Send;
}
