//! Fleet files: pools, teams and workload templates in TOML, as operators write them.

use anyhow::Context;
use qm_model::{AcceleratorThroughput, Pool, Team, WorkloadKind, WorkloadSpec};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The demo fleet, built into the binary so `qm up` needs no files.
pub const DEMO_FLEET: &str = include_str!("../../../examples/demo-fleet.toml");
/// The demo policy: defaults with windows in seconds, so a short demo shows give-backs.
pub const DEMO_POLICY: &str = include_str!("../../../examples/demo-policy.toml");

/// A fleet file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetFile {
    #[serde(default)]
    pub pool: Vec<Pool>,
    #[serde(default)]
    pub team: Vec<Team>,
    #[serde(default)]
    pub workload_template: Vec<WorkloadTemplate>,
}

/// A workload shape the demo generator (and scenario files) instantiate.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadTemplate {
    pub name: String,
    pub team: String,
    #[serde(default)]
    pub kind: WorkloadKind,
    /// Accelerator type -> relative throughput per chip (H100 = 1.0).
    pub accepts: BTreeMap<String, f64>,
    /// `[min, max, step]` chips.
    pub chips: [u32; 3],
    #[serde(default)]
    pub preemptible: bool,
    #[serde(default)]
    pub critical: bool,
    #[serde(default)]
    pub gang: bool,
    #[serde(default)]
    pub drain_grace_s: u32,
}

impl WorkloadTemplate {
    /// A workload spec of this shape with the given id.
    pub fn spec(&self, id: &str) -> WorkloadSpec {
        let [chips_min, chips_max, chips_step] = self.chips;
        WorkloadSpec {
            id: id.into(),
            team: self.team.as_str().into(),
            kind: self.kind,
            accepts: self
                .accepts
                .iter()
                .map(|(accelerator, throughput)| AcceleratorThroughput {
                    accelerator: accelerator.as_str().into(),
                    relative_throughput: *throughput,
                })
                .collect(),
            chips_min,
            chips_max,
            chips_step,
            gang: self.gang,
            preemptible: self.preemptible,
            critical: self.critical,
            drain_grace_s: self.drain_grace_s,
            urgency: 0.0,
            deadline_ms: None,
            risk_tolerance: if self.preemptible { 0.5 } else { 0.0 },
        }
    }
}

impl FleetFile {
    /// Parses fleet TOML.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        toml::from_str(text).context("invalid fleet file")
    }

    /// Reads and parses a fleet file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_policy_parses_and_is_valid() {
        let policy: qm_model::PolicyConfig = toml::from_str(DEMO_POLICY).expect("demo policy parses");
        assert_eq!(policy.version, "demo-1");
        qm_core::validate_policy(&policy).expect("demo policy is valid");
    }

    #[test]
    fn the_demo_fleet_parses_and_uses_only_declared_types() {
        let fleet = FleetFile::parse(DEMO_FLEET).expect("demo fleet parses");
        assert!(fleet.pool.len() >= 6 && fleet.team.len() >= 3);
        assert!(fleet.pool.iter().any(|p| p.accelerator.as_str().starts_with("tpu")));
        let types: Vec<&str> = fleet.pool.iter().map(|p| p.accelerator.as_str()).collect();
        for template in &fleet.workload_template {
            assert!(template.accepts.keys().any(|t| types.contains(&t.as_str())), "{} runs nowhere", template.name);
            assert!(fleet.team.iter().any(|t| t.id.as_str() == template.team), "{} has no team", template.name);
        }
    }
}
