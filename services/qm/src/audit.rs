//! The auditor's commands: `qm replay`, `qm why`, `qm history`, `qm shadow-report`.
//! They read the streams and hand the records to the pure `qm-ledger`.

use anyhow::Context;
use qm_bus::read::{decode_log, read_all};
use qm_bus::subjects;
use qm_ledger::timeline::{self, Filter};
use qm_ledger::{shadow, summary, verify, whatif};
use qm_model::{decode, ActuationEvent, DecisionRecorded, Envelope, LogRecord};
use std::path::PathBuf;

/// Flags of `qm replay`.
#[derive(clap::Args)]
pub struct ReplayArgs {
    /// What-if: replay the same inputs under this policy file instead of verifying.
    #[arg(long)]
    policy: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

/// Flags of `qm history`.
#[derive(clap::Args)]
pub struct HistoryArgs {
    #[arg(long)]
    team: Option<String>,
    #[arg(long)]
    pool: Option<String>,
    #[arg(long)]
    workload: Option<String>,
    /// Only decisions at or after this time (unix ms).
    #[arg(long)]
    since_ms: Option<i64>,
    /// Only decisions at or before this time (unix ms).
    #[arg(long)]
    until_ms: Option<i64>,
    /// Show at most this many (the latest).
    #[arg(long, default_value_t = 200)]
    limit: usize,
    #[arg(long)]
    json: bool,
}

/// Every entry of `QM_INPUT`, decoded; undecodable ones are skipped as the policy skips them.
pub async fn read_log(js: &qm_bus::Bus) -> anyhow::Result<Vec<LogRecord>> {
    Ok(read_all(js, subjects::INPUT_STREAM, 1).await?.iter().filter_map(|e| decode_log(e).ok()).collect())
}

async fn read_decisions(js: &qm_bus::Bus) -> anyhow::Result<Vec<Envelope<DecisionRecorded>>> {
    let entries = read_all(js, subjects::DECISIONS_STREAM, 1).await?;
    entries.iter().map(|e| decode::<DecisionRecorded>(&e.payload).context("undecodable decision")).collect()
}

async fn read_actuation(js: &qm_bus::Bus) -> anyhow::Result<Vec<Envelope<ActuationEvent>>> {
    let entries = read_all(js, subjects::ACTUATION_STREAM, 1).await?;
    entries.iter().map(|e| decode::<ActuationEvent>(&e.payload).context("undecodable actuation event")).collect()
}

/// `qm replay`: verify byte for byte, or compare with another policy. Returns whether
/// the replay matched (verify) so the caller can set the exit status.
pub async fn replay(js: &qm_bus::Bus, args: &ReplayArgs, fault: Option<qm_core::FoldFault>) -> anyhow::Result<bool> {
    let log = read_log(js).await?;
    if let Some(path) = &args.policy {
        let other = crate::load_policy(path)?;
        let recorded_policy = whatif::replay(&log, None);
        let what_if = whatif::replay(&log, Some(&other));
        let (a, b) = (summary::summarize(&log, &recorded_policy), summary::summarize(&log, &what_if));
        if args.json {
            println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "recorded_policy": a, "what_if": b }))?);
        } else {
            println!("what-if over {} log entries (both sides replayed with instant actuation)\n", log.len());
            print!("{}", summary::side_by_side("as recorded", &a, &format!("with {}", other.version), &b));
        }
        return Ok(true);
    }
    let recorded: Vec<Vec<u8>> = read_all(js, subjects::DECISIONS_STREAM, 1).await?.into_iter().map(|e| e.payload.to_vec()).collect();
    let report = verify::verify_with(&log, &recorded, fault);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "folded {} log entries; compared decisions through input {}: {} recorded, {} recomputed, {} identical",
            report.entries_folded, report.checked_through_seq, report.decisions_recorded, report.decisions_recomputed, report.decisions_matched
        );
        if let Some(halt) = &report.halt {
            println!("the fold halts at {} entry {} ({}), as the policy's does: nothing after it compared", halt.stream, halt.sequence, halt.error);
        }
        match &report.first_divergence {
            None => println!("MATCH: every recorded decision was reproduced byte for byte"),
            Some(divergence) => {
                println!("DIVERGED: {} divergences; the first:", report.divergences);
                println!("{}", serde_json::to_string_pretty(divergence)?);
            }
        }
    }
    Ok(report.matches())
}

/// `qm why <workload>`.
pub async fn why(js: &qm_bus::Bus, workload: &str, json: bool) -> anyhow::Result<()> {
    let decisions = read_decisions(js).await?;
    let actuation = read_actuation(js).await?;
    let entries = timeline::why(&workload.into(), &decisions, &actuation);
    if json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
    } else if entries.is_empty() {
        println!("no decisions about {workload} in the log");
    } else {
        print!("{}", timeline::render(&entries));
    }
    Ok(())
}

/// `qm history`.
pub async fn history(js: &qm_bus::Bus, args: &HistoryArgs) -> anyhow::Result<()> {
    let filter = Filter {
        team: args.team.as_deref().map(Into::into),
        pool: args.pool.as_deref().map(Into::into),
        workload: args.workload.as_deref().map(Into::into),
        since_ms: args.since_ms,
        until_ms: args.until_ms,
    };
    let entries = timeline::history(&read_decisions(js).await?, &filter);
    let shown = &entries[entries.len().saturating_sub(args.limit)..];
    if args.json {
        println!("{}", serde_json::to_string_pretty(shown)?);
    } else {
        print!("{}", timeline::render(shown));
        println!("({} of {} matching decisions)", shown.len(), entries.len());
    }
    Ok(())
}

/// `qm shadow-report`: advisory decisions in the log against standing reservations.
pub async fn shadow_report(js: &qm_bus::Bus, reservations: &std::path::Path, json: bool) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(reservations).with_context(|| format!("read {}", reservations.display()))?;
    let reservations: shadow::Reservations = toml::from_str(&text).with_context(|| format!("invalid {}", reservations.display()))?;
    let log = read_log(js).await?;
    let advisory: Vec<whatif::TimedDecision> = read_decisions(js)
        .await?
        .into_iter()
        .filter(|e| e.body.advisory)
        .map(|e| whatif::TimedDecision { time_ms: e.time_ms, input_seq: e.body.input_seq, decision: e.body.decision })
        .collect();
    if advisory.is_empty() {
        anyhow::bail!("the log has no advisory decisions: run qm-policy in shadow mode (QM_SHADOW=true) first");
    }
    let report = shadow::report(&log, &advisory, &reservations);
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!("shadow mode over {:.2} h, {} advisory decisions\n", report.span_hours, report.advisory_decisions);
    println!("{:<44} {:>12}", "reserved chip-hours (standing reservations)", format!("{:.1}", report.reserved_chip_hours));
    println!("{:<44} {:>12}", "  of which idle", format!("{:.1}", report.reserved_idle_chip_hours));
    println!("{:<44} {:>12}", "idle chip-hours under the policy", format!("{:.1}", report.policy_idle_chip_hours));
    println!("{:<44} {:>12}", "idle chip-hours the policy would give back", format!("{:.1}", report.idle_chip_hours_given_back));
    println!("{:<44} {:>12}", "demand chip-hours", format!("{:.1}", report.demand_chip_hours));
    println!("{:<44} {:>12}", "  served by reservations", format!("{:.1}", report.served_by_reservations_chip_hours));
    println!("{:<44} {:>12}", "  would be served by the policy", format!("{:.1}", report.served_by_policy_chip_hours));
    if report.critical_workloads_affected.is_empty() {
        println!("critical workloads preempted or stranded: none");
    } else {
        println!("critical workloads preempted or stranded: {:?}", report.critical_workloads_affected);
    }
    if !report.critical_workloads_delayed.is_empty() {
        println!("critical workloads that waited out a borrower's drain grace: {:?}", report.critical_workloads_delayed);
    }
    println!("\n{:<16} {:>14} {:>14} {:>14} {:>14}", "TEAM", "RES. IDLE", "POLICY IDLE", "RES. SERVED", "POLICY SERVED");
    for (team, t) in &report.teams {
        println!("{:<16} {:>14.1} {:>14.1} {:>14.1} {:>14.1}", team.as_str(), t.reserved_idle, t.policy_idle, t.served_by_reservations, t.served_by_policy);
    }
    Ok(())
}

/// `qm audit`: the invariant checker over the three logs. Returns whether all held.
pub async fn check_invariants(js: &qm_bus::Bus, json: bool) -> anyhow::Result<bool> {
    let log = read_log(js).await?;
    let report = qm_ledger::invariants::check(&log, &read_decisions(js).await?, &read_actuation(js).await?);
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("checked {} decisions and {} actuation events over {} log entries", report.decisions, report.actuation_events, log.len());
        if report.violations.is_empty() {
            println!("OK: no decision recorded or applied twice, none unapplied, no pool ever over-granted");
        }
        for violation in &report.violations {
            println!("VIOLATION: {violation:?}");
        }
    }
    Ok(report.violations.is_empty())
}
