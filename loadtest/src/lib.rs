//! Open-loop load generator and benchmarks for Quartermaster, with the bus's own limits
//! measured in the same run as the reference. See README.md for how to run it.
//!
//! - [`scenario`]: the `run` and `ramp` procedures, start to report.
//! - [`system`]: starts nats-server and the three services (or uses a running system).
//! - [`fleet`]: the simulated teams, pools and workloads, and request `i` of the load.
//! - [`ingest`]: requests to ingest, fleet set-up, watching decisions and grants.
//! - [`baseline`]: raw JetStream persisted publish and core NATS request/reply.
//! - [`loops`]: open-loop (latency from intended send time) and closed-loop drivers.
//! - [`record`]: histograms and causation matching of demand to decision to grant.
//! - [`procstat`]: CPU and resident memory of each process, from `/proc`.
//! - [`report`]: results as JSON and Markdown.
//! - [`plot`]: SVG plots of latency, the ramp and policy-round scaling.
//! - [`criterion_results`]: reads criterion's estimates for BENCHMARKS.md.

pub mod baseline;
pub mod criterion_results;
pub mod fleet;
pub mod ingest;
pub mod loops;
pub mod plot;
pub mod procstat;
pub mod record;
pub mod report;
pub mod scenario;
pub mod system;
