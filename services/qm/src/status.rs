//! `qm status`: the fleet rebuilt from the log, as tables or JSON.

use qm_bus::read::{decode_log, read_all};
use qm_bus::subjects;
use qm_core::guard::fold_log;
use qm_core::{Engine, FleetStatus, FoldFault, Guard, Halt, Step};
use qm_model::{LogRecord, PolicyConfig};
use std::fmt::Write;

/// Rebuilds the engine by folding all of `QM_INPUT`, exactly as the policy service does:
/// a poison entry halts the fold there (the halt is returned), skipped entries are left out.
pub async fn rebuild(js: &qm_bus::Bus, fault: Option<FoldFault>) -> anyhow::Result<(Engine, Option<Halt>)> {
    let (engine, guard, _) = rebuild_guarded(js, fault).await?;
    Ok((engine, guard.halt().cloned()))
}

/// [`rebuild`], keeping the guard and the next sequence to read, for a view that goes
/// on following the log ([`fold_new`]).
pub async fn rebuild_guarded(js: &qm_bus::Bus, fault: Option<FoldFault>) -> anyhow::Result<(Engine, Guard, u64)> {
    let entries = read_all(js, subjects::INPUT_STREAM, 1).await?;
    let next = entries.last().map_or(1, |e| e.sequence + 1);
    let records: Vec<LogRecord> = entries.iter().filter_map(|entry| decode_log(entry).ok()).collect();
    let log = records.iter().map(|r| (r.sequence, r.time_ms, &r.event));
    let guard = Guard::new(subjects::INPUT_STREAM).with_fault(fault);
    let (engine, guard) = fold_log(guard, &PolicyConfig::default(), log);
    Ok((engine, guard, next))
}

/// Folds what `QM_INPUT` gained from sequence `from` on into a live engine and its
/// guard, as the policy follows the log. Returns the next sequence to read, or `None`
/// when the fold halted or a halt was resolved: then rebuild from the start.
pub async fn fold_new(js: &qm_bus::Bus, engine: &mut Engine, guard: &mut Guard, from: u64) -> anyhow::Result<Option<u64>> {
    let mut next = from;
    for entry in read_all(js, subjects::INPUT_STREAM, from).await? {
        next = entry.sequence + 1;
        let Ok(record) = decode_log(&entry) else { continue };
        match guard.step(engine, record.sequence, record.time_ms, &record.event) {
            Step::Decided(_) | Step::Held | Step::Skipped => {}
            Step::Halted(_) | Step::Rebuild { .. } => return Ok(None),
        }
    }
    Ok(Some(next))
}

/// What `qm status` shows: the fleet, and the halt if the fold is halted.
pub fn of(engine: &Engine, halt: Option<Halt>) -> FleetStatus {
    FleetStatus { halt, ..engine.status() }
}

/// The warning `qm status` prints first when the fold is halted.
fn halt_banner(halt: &Halt) -> String {
    format!(
        "HALTED at {} entry {}: folding it failed ({}).\nNothing after it is decided. Resolve with `qm halt skip {}` \
         (leave it out) or `qm halt retry {}` (after a fix); the state below is the one before it.\n\n",
        halt.stream, halt.sequence, halt.error, halt.sequence, halt.sequence
    )
}

/// Pools, teams and workloads as aligned text tables.
pub fn render(status: &FleetStatus, log_position: u64) -> String {
    let mut out = status.halt.as_ref().map(halt_banner).unwrap_or_default();
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
