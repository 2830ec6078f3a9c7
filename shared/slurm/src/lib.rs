//! Quartermaster on Slurm: grants become limits that Slurm itself enforces.
//!
//! The mapping (see the README's "Run it on your Slurm cluster"): each Quartermaster pool is
//! one partition holding one GPU type; each workload is one QOS, `qm-<workload>`, whose
//! `GrpTRES=gres/gpu:<type>=N` is the workload's grant in the pool of that type (plus
//! `gres/gpu=<sum>`, which bounds untyped requests); the team is the Slurm account whose
//! association may use the QOS. Jobs of a workload are the jobs submitted with its QOS.
//!
//! - [`config`]: pool -> partition and GPU type, naming, time limits; loaded from TOML.
//! - [`names`]: the names Quartermaster hands to Slurm, validated (never a shell string).
//! - [`tres`]: reading and writing `GrpTRES` lists; the limits a grant sets.
//! - [`jobs`]: reading `squeue`; which running jobs exceed a smaller grant.
//! - [`command`]: the Slurm commands as argv, built from validated names only.
//! - [`driver`]: runs them with a time limit; Slurm's own message on failure.
//! - [`backend`]: [`SlurmBackend`], the actuator's `Backend` for Slurm.
//! - [`usage`]: measured usage: GPUs allocated per workload, sampled and rolled up.

pub mod backend;
pub mod command;
pub mod config;
pub mod driver;
pub mod jobs;
pub mod names;
pub mod tres;
pub mod usage;

pub use backend::SlurmBackend;
pub use config::{PoolTarget, SlurmConfig};
pub use driver::{Driver, SlurmError};
