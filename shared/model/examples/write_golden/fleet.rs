//! The fleet the golden messages talk about: pools, teams, workloads and a policy, with
//! prices and throughputs from shared/data/accelerators/accelerators.json.

use crate::messages::T0_MS;
use qm_model::*;

/// An H100 pool at the AWS Capacity Block price.
pub fn h100_pool() -> Pool {
    Pool {
        id: "use-h100".into(),
        region: "us-east".into(),
        accelerator: "h100".into(),
        chips: 64,
        healthy_chips: 56,
        allocation_unit: 8,
        // AWS Capacity Block p5, per GPU-hour (accelerators.json: aws_cb).
        price_per_chip_hour: 4.916,
    }
}

/// A TPU v5e pool at the on-demand list price.
pub fn tpu_pool() -> Pool {
    Pool {
        id: "ase-tpu-v5e".into(),
        region: "asia-se".into(),
        accelerator: "tpu-v5e".into(),
        chips: 64,
        healthy_chips: 64,
        allocation_unit: 4,
        price_per_chip_hour: 1.2,
    }
}

/// A team of a tier: the high tier one with a limit and regions, the others without.
pub fn team(id: &str, tier: PriorityTier) -> Team {
    match tier {
        PriorityTier::High => Team {
            id: id.into(),
            guarantee: 48.0,
            limit: Some(96.0),
            weight: 3.0,
            tier,
            regions: vec!["us-east".into(), "eu-west".into()],
            headroom_fraction: 0.1,
        },
        _ => Team {
            id: id.into(),
            guarantee: 0.0,
            limit: None,
            weight: 1.0,
            tier,
            regions: Vec::new(),
            headroom_fraction: 0.0,
        },
    }
}

/// A spec for each workload kind, with throughputs from accelerators.json (MLPerf ratios
/// to H100): llama2-70b inference for H200 and MI300X, LoRA fine-tuning for A100.
pub fn spec(kind: WorkloadKind) -> WorkloadSpec {
    let accepts = |list: &[(&str, f64)]| {
        list.iter()
            .map(|&(accelerator, relative_throughput)| AcceleratorThroughput {
                accelerator: accelerator.into(),
                relative_throughput,
            })
            .collect()
    };
    let base = WorkloadSpec {
        id: "llama-ft-7".into(),
        team: "llm-training".into(),
        kind,
        accepts: accepts(&[("h100", 1.0), ("a100", 0.499)]),
        chips_min: 8,
        chips_max: 64,
        chips_step: 8,
        gang: true,
        preemptible: true,
        critical: false,
        drain_grace_s: 600,
        urgency: 0.3,
        deadline_ms: Some(T0_MS + 7 * 86_400_000),
        risk_tolerance: 0.5,
    };
    match kind {
        WorkloadKind::Training => base,
        WorkloadKind::Inference => WorkloadSpec {
            id: "chat-serve".into(),
            team: "inference".into(),
            accepts: accepts(&[("h100", 1.0), ("h200", 1.276), ("mi300x", 0.959)]),
            chips_min: 8,
            chips_max: 32,
            gang: false,
            preemptible: false,
            critical: true,
            drain_grace_s: 120,
            urgency: 1.0,
            deadline_ms: None,
            risk_tolerance: 0.0,
            ..base
        },
        WorkloadKind::Batch => WorkloadSpec {
            id: "sdxl-batch-3".into(),
            team: "research".into(),
            accepts: accepts(&[("h100", 1.0), ("h200", 1.065), ("tpu-v5e", 0.214)]),
            chips_min: 4,
            chips_max: 16,
            chips_step: 4,
            gang: false,
            drain_grace_s: 0,
            urgency: 0.0,
            deadline_ms: None,
            risk_tolerance: 1.0,
            ..base
        },
        WorkloadKind::Interactive => WorkloadSpec {
            id: "notebook-ana".into(),
            team: "research".into(),
            accepts: accepts(&[("l4", 0.102)]),
            chips_min: 1,
            chips_max: 1,
            chips_step: 1,
            gang: false,
            drain_grace_s: 60,
            urgency: 0.8,
            deadline_ms: None,
            risk_tolerance: 0.2,
            ..base
        },
    }
}

/// A published policy that changes a few knobs from the defaults.
pub fn policy() -> PolicyConfig {
    PolicyConfig { version: "2026-01-a".into(), cost_weight: 0.25, idle_window_s: 600, ..PolicyConfig::default() }
}
