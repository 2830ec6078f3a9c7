//! Test-only helpers: a nats-server launcher that cleans up on drop
