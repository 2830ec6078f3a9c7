//! The Slurm backend's settings: which partition and GPU type each pool is, and how
//! long Slurm may take. Read from a TOML file an operator writes once per cluster:
//!
//! ```toml
//! [pools.use-h100]
//! partition = "h100"
//! gpu_type = "h100"
//! [pools.use-a100]
//! partition = "a100"
//! gpu_type = "a100"
//! ```

use crate::names::{checked, NameError};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

/// Where one Quartermaster pool lives in Slurm.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolTarget {
    /// The partition whose nodes hold the pool's GPUs.
    pub partition: String,
    /// The GRES type of those GPUs (`Type=` in gres.conf), as in `gres/gpu:<type>`.
    pub gpu_type: String,
}

/// What happens to a job above a smaller grant once the grace is over.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AfterGrace {
    /// `scontrol requeue`: the job waits, pending on `QOSGrpGRES`, until GPUs are granted
    /// again (jobs submitted with `--no-requeue` are cancelled instead).
    #[default]
    Requeue,
    /// `scancel`: the job ends.
    Cancel,
}

/// The Slurm backend's settings.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlurmConfig {
    /// Pool id -> partition and GPU type. A pool not listed fails its decisions.
    pub pools: BTreeMap<String, PoolTarget>,
    /// Prefix of the per-workload QOS names; job_submit.lua keys on it.
    pub qos_prefix: String,
    /// Add the workload's QOS to its team's account (`qos+=`), so the team's users may
    /// submit with it. Off where an administrator manages association QOS lists.
    pub allow_qos_for_team_account: bool,
    pub after_grace: AfterGrace,
    /// Directory of the Slurm client programs; `None` finds them on `PATH`.
    pub bin_dir: Option<PathBuf>,
    /// How long one Slurm command may run.
    pub command_timeout_ms: u64,
    /// How long to wait for slurmctld to show a new limit (slurmdbd pushes it).
    pub confirm_timeout_ms: u64,
    /// Pause between checks while waiting.
    pub confirm_poll_ms: u64,
}

impl Default for SlurmConfig {
    fn default() -> Self {
        Self {
            pools: BTreeMap::new(),
            qos_prefix: "qm-".into(),
            allow_qos_for_team_account: true,
            after_grace: AfterGrace::Requeue,
            bin_dir: None,
            command_timeout_ms: 10_000,
            confirm_timeout_ms: 10_000,
            confirm_poll_ms: 20,
        }
    }
}

/// Why a config cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not TOML, or a key this backend does not know.
    #[error("slurm backend config: {0}")]
    Parse(#[from] toml::de::Error),
    /// A partition, GPU type or prefix Slurm cannot take.
    #[error("slurm backend config: {0}")]
    Name(#[from] NameError),
    /// Two pools share a GPU type: a QOS limits `gres/gpu:<type>` cluster-wide, so it could
    /// not tell them apart. Run one backend per Slurm cluster, one pool per type in each.
    #[error("slurm backend config: pools {0} and {1} both have GPU type {2}; one pool per GPU type per cluster")]
    SharedType(String, String, String),
    #[error("slurm backend config: no pools")]
    NoPools,
}

impl SlurmConfig {
    /// Parses and checks a TOML config.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text)?;
        config.check()?;
        Ok(config)
    }

    /// Checks every name and that GPU types are distinct.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.pools.is_empty() {
            return Err(ConfigError::NoPools);
        }
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        for (pool, target) in &self.pools {
            checked("partition", &target.partition)?;
            checked("GPU type", &target.gpu_type)?;
            if let Some(other) = seen.insert(&target.gpu_type, pool) {
                return Err(ConfigError::SharedType(other.into(), pool.clone(), target.gpu_type.clone()));
            }
        }
        checked("QOS prefix", self.qos_prefix.trim_end_matches(['-', '_']))?;
        Ok(())
    }

    /// The GPU types of all pools, which a workload's QOS lists.
    pub fn gpu_types(&self) -> BTreeSet<&str> {
        self.pools.values().map(|t| t.gpu_type.as_str()).collect()
    }

    pub fn command_timeout(&self) -> Duration {
        Duration::from_millis(self.command_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pools_and_defaults() {
        let config = SlurmConfig::from_toml(
            "[pools.use-h100]\npartition = \"h100\"\ngpu_type = \"h100\"\n[pools.\"us/a100\"]\npartition = \"a100\"\ngpu_type = \"a100\"\n",
        )
        .expect("valid");
        assert_eq!(config.pools["us/a100"].partition, "a100");
        assert_eq!(config.qos_prefix, "qm-");
        assert_eq!(config.after_grace, AfterGrace::Requeue);
        assert_eq!(config.gpu_types().into_iter().collect::<Vec<_>>(), vec!["a100", "h100"]);
    }

    #[test]
    fn refuses_shared_types_bad_names_and_unknown_keys() {
        let shared = "[pools.a]\npartition = \"p1\"\ngpu_type = \"h100\"\n[pools.b]\npartition = \"p2\"\ngpu_type = \"h100\"\n";
        assert!(matches!(SlurmConfig::from_toml(shared), Err(ConfigError::SharedType(..))));
        let bad = "[pools.a]\npartition = \"p1,p2\"\ngpu_type = \"h100\"\n";
        assert!(matches!(SlurmConfig::from_toml(bad), Err(ConfigError::Name(_))));
        assert!(matches!(SlurmConfig::from_toml("colour = 1\n"), Err(ConfigError::Parse(_))));
        assert!(matches!(SlurmConfig::from_toml(""), Err(ConfigError::NoPools)));
    }
}
