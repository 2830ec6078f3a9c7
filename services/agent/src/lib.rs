//! `qm-agent`: measured usage from the scheduler. Every `sample_every` it reads which
//! GPUs each workload's running jobs hold in Slurm, rolls samples up into windows
//! ([`qm_slurm::usage::Rollup`]) and sends each closed window through ingest as
//! `UsageReported`, so idle give-back needs nothing from the workload itself.
//!
//! - [`checkpoint`]: the rollup on disk after every sample, so a restart loses nothing.
//! - [`collector`]: the loop: sample, roll up, checkpoint, send.

pub mod checkpoint;
pub mod collector;

pub use collector::{run, AgentConfig};
