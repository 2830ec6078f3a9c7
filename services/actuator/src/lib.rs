//! Actuator: applies decisions to a backend, at most once each, and reports what really
//! happened as actuation events, which the policy folds back in. The policy never assumes
//! a grant took effect until this service says so.
//!
//! - [`backend`]: where decisions take effect: an in-process simulated fleet, or a command.
//! - [`service`]: the NATS shell: durable consumer on `QM_DECISIONS`, rebuild at start.

pub mod backend;
pub mod service;

pub use backend::BackendConfig;
pub use service::{run, ActuatorConfig};
