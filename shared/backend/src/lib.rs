//! The seam between the actuator and the systems where grants take effect. A backend is
//! an addition, not an edit: implement [`Backend`] in its own file (or crate), and add
//! one arm where the actuator binary picks a backend from its flags.
//!
//! - [`effect`]: [`Effect`], what one decision asks of a backend, and [`Verb`].
//! - [`backend`]: the [`Backend`] trait and what an application returns ([`Applied`]).
//! - [`error`]: [`BackendError`], why an effect could not be applied.
//! - [`report`]: turns an effect and its outcome into the actuation fact the policy folds.
//!
//! The actuator owns idempotence across restarts (it skips decisions already reported
//! in `QM_ACTUATION`), ordering (one decision at a time, in log order) and reporting; a
//! backend only applies what it is given, and says honestly what happened.

pub mod backend;
pub mod effect;
pub mod error;
pub mod report;

pub use backend::{Applied, Backend};
pub use effect::{Effect, Verb};
pub use error::BackendError;
pub use report::report;
