//! Actuator: applies decisions to a backend, idempotently, and reports what happened
