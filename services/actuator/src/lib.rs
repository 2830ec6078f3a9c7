//! Actuator: applies decisions to a backend, at most once each, and reports what really
//! happened as actuation events, which the policy folds back in. The policy never assumes
//! a grant took effect until this service says so.
//!
//! - [`sim`]: the simulated backend, an in-process fleet (demo and tests).
//! - [`exec`]: the exec backend, one command per decision.
//! - [`pipeline`]: the ack pipeline as a pure type: apply or skip, and when to settle.
//! - [`service`]: the NATS shell: durable consumer on `QM_DECISIONS`, rebuild at start.
//!
//! Backends implement [`qm_backend::Backend`]; a new one is a new file or crate plus one
//! arm in `main.rs`.

pub mod exec;
pub mod pipeline;
pub mod service;
pub mod sim;

pub use exec::ExecBackend;
pub use service::{run, ActuatorConfig};
pub use sim::SimFleet;
