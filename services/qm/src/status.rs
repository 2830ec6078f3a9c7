//! `qm status`: the fleet rebuilt from the log, as tables or JSON.

use qm_bus::read::{decode_log, read_all};
use qm_bus::subjects;
use qm_core::{Engine, FleetStatus};
use qm_model::PolicyConfig;
use std::fmt::Write;

/// Rebuilds the engine by folding all of `QM_INPUT`, exactly as the policy service does.
pub async fn rebuild(js: &qm_bus::Bus) -> anyhow::Result<Engine> {
    let mut engine = Engine::new(PolicyConfig::default());
    for entry in read_all(js, subjects::INPUT_STREAM, 1).await? {
        if let Ok(record) = decode_log(&entry) {
            engine.step(record.sequence, record.time_ms, &record.event);
        }
    }
    Ok(engine)
}

/// Pools, teams and workloads as aligned text tables.
pub fn render(status: &FleetStatus, log_position: u64) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "log position {log_position}, policy clock {} ms\n", status.now_ms);
    let _ = writeln!(out, "{:<14} {:<9} {:<9} {:>6} {:>8} {:>8}", "POOL", "REGION", "TYPE", "CHIPS", "HEALTHY", "GRANTED");
    for pool in &status.pools {
        let _ = writeln!(
            out,
            "{:<14} {:<9} {:<9} {:>6} {:>8} {:>8}{}",
            pool.id.as_str(), pool.region.as_str(), pool.accelerator.as_str(), pool.chips, pool.healthy_chips,
            pool.granted_chips, if pool.retired { "  (retired)" } else { "" }
        );
    }
    let _ = writeln!(out, "\n{:<14} {:>10} {:>10} {:>10}", "TEAM", "GUARANTEE", "GRANTED", "DEMAND");
    for team in &status.teams {
        let _ = writeln!(out, "{:<14} {:>10.1} {:>10.1} {:>10.1}", team.id.as_str(), team.guarantee, team.granted, team.demand);
    }
    let _ = writeln!(out, "\n{:<26} {:<14} {:>7} {:<22} {:<22} PENDING", "WORKLOAD", "TEAM", "WANTS", "GRANTED", "APPLIED");
    for workload in &status.workloads {
        let pools = |m: &std::collections::BTreeMap<qm_model::PoolId, u32>| {
            if m.is_empty() {
                "-".to_owned()
            } else {
                m.iter().map(|(p, c)| format!("{p}:{c}")).collect::<Vec<_>>().join(",")
            }
        };
        let pending = match (&workload.pending_reason, workload.pending_chips) {
            (_, 0) => String::new(),
            (Some(reason), chips) => format!("{chips} ({}: {})", reason.rule, reason.message),
            (None, chips) => chips.to_string(),
        };
        let _ = writeln!(
            out,
            "{:<26} {:<14} {:>7} {:<22} {:<22} {}",
            workload.id.as_str(), workload.team.as_str(), workload.chips_desired, pools(&workload.granted),
            pools(&workload.applied), pending
        );
    }
    out
}

/// One line for `qm up`'s progress display.
pub fn summary_line(status: &FleetStatus) -> String {
    let healthy: u32 = status.pools.iter().map(|p| p.healthy_chips).sum();
    let granted: u32 = status.pools.iter().map(|p| p.granted_chips).sum();
    let applied: u32 = status.workloads.iter().flat_map(|w| w.applied.values()).sum();
    let pending = status.workloads.iter().filter(|w| w.pending_chips > 0).count();
    format!(
        "workloads {:>3} (pending {:>2})  chips granted {:>4}/{:<4} applied {:>4}",
        status.workloads.len(), pending, granted, healthy, applied
    )
}
