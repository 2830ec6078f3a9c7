//! `qm-chaos` (scripts/chaos.sh): Quartermaster in containers on a 3-node cluster, under
//! steady open-loop load, with faults injected at seeded moments and the invariants
//! checked after each one.
//!
//! - [`rng`]: the seeded generator every random choice comes from (one seed, one run).
//! - [`docker`]: the deployment (nodes, services, network) driven through the docker CLI.
//! - [`ledger`]: the client-side record of every acknowledged request, checked against the log.
//! - [`load`]: the open-loop generator that fills the ledger.
//! - [`faults`]: the fault kinds, the seeded schedule, and how each is injected and undone.
//! - [`verdict`]: convergence and the checks run after each fault and at the end.

pub mod docker;
pub mod faults;
pub mod ledger;
pub mod load;
pub mod rng;
pub mod verdict;
