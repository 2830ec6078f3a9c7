//! Dev-only: Quartermaster over a 3-node NATS JetStream cluster in Docker containers, to
//! show that R3 streams carry the log across the loss of a node (DESIGN.md, "Scale beyond
//! one machine"). The test lives in `tests/node_loss.rs`; this crate holds its helpers.
//!
//! - [`cluster`]: the cluster, built with testcontainers from the local static nats-server
//!   binary (no registry is needed), on its own Docker network, client ports on loopback.
//! - [`system`]: input sent through ingest with retries that an idempotency key makes
//!   safe; the service processes and fixtures re-exported from `qm_testkit`.
//! - [`chaos`]: the `qm-chaos` driver (scripts/chaos.sh): services in containers, seeded
//!   faults under open-loop load, the invariants checked after each fault.

pub mod cluster;
pub mod system;
pub mod chaos;
