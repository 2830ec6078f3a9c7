//! The auditor's commands: `qm replay`, `qm why`, `qm history`, `qm shadow-report`.
//! They read the streams and hand the records to the pure `qm-ledger`; `qm replay` and
//! `qm audit` also check the logs for tampering (`tamper.rs`).

use crate::tamper::{ReadLog, TamperReport};
use anyhow::Context;
use qm_bus::read::{decode_log, read_all, Entry};
use qm_bus::subjects;
use qm_ledger::timeline::{self, Filter};
use qm_ledger::{shadow, summary, verify, whatif};
use qm_model::{decode, DecisionRecorded, Envelope, LogRecord};
use std::path::PathBuf;

/// Flags of `qm replay`.
#[derive(clap::Args)]
pub struct ReplayArgs {
    /// What-if: replay the same inputs under this policy file instead of verifying.
    #[arg(long)]
    policy: Option<PathBuf>,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    trust: TrustArgs,
}

/// Whose signatures the tamper check expects.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct TrustArgs {
    /// The installation's registry (`trust.json` from `qm init`): every log entry must be
    /// signed by a key it lists for the entry's writer. Without it only gaps are checked.
    #[arg(long, env = "QM_TRUST_FILE")]
    trust_file: Option<PathBuf>,
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
    Ok(decode_records(&read_all(js, subjects::INPUT_STREAM, 1).await?))
}

fn decode_records(entries: &[Entry]) -> Vec<LogRecord> {
    entries.iter().filter_map(|e| decode_log(e).ok()).collect()
}

async fn read_decisions(js: &qm_bus::Bus) -> anyhow::Result<Vec<Envelope<DecisionRecorded>>> {
    decode_all(&read_all(js, subjects::DECISIONS_STREAM, 1).await?, "decision")
}

fn decode_all<T: qm_model::envelope::Body>(entries: &[Entry], what: &str) -> anyhow::Result<Vec<Envelope<T>>> {
    entries.iter().map(|e| decode::<T>(&e.payload).with_context(|| format!("undecodable {what}"))).collect()
}

/// One log's raw entries and the server's last sequence, for the tamper check.
struct Raw {
    stream: &'static str,
    entries: Vec<Entry>,
    last_sequence: u64,
}

impl Raw {
    /// The last sequence is read first: entries appended meanwhile are read too, so a
    /// growing log shows no gap at its end.
    async fn read(js: &qm_bus::Bus, stream: &'static str) -> anyhow::Result<Self> {
        let last_sequence = qm_bus::streams::last_sequence(js, stream).await?;
        Ok(Self { stream, entries: read_all(js, stream, 1).await?, last_sequence })
    }

    fn view(&self) -> ReadLog<'_> {
        ReadLog { stream: self.stream, entries: &self.entries, last_sequence: self.last_sequence }
    }
}

/// The tamper check over the logs read, with the registry of `trust` if given.
fn tamper_check(logs: &[&Raw], trust: &TrustArgs) -> anyhow::Result<TamperReport> {
    let registry = trust.trust_file.as_deref().map(qm_trust::registry::load_registry).transpose()?;
    let views: Vec<ReadLog<'_>> = logs.iter().map(|raw| raw.view()).collect();
    Ok(TamperReport::check(&views, registry.as_ref()))
}

/// `report` as JSON with the tamper check's findings beside its own fields.
fn with_tamper(report: &impl serde::Serialize, tamper: &TamperReport) -> anyhow::Result<String> {
    let mut value = serde_json::to_value(report)?;
    if let Some(fields) = value.as_object_mut() {
        fields.insert("tamper".into(), serde_json::to_value(tamper)?);
    }
    Ok(serde_json::to_string_pretty(&value)?)
}

/// One side of a what-if: the summary of its decisions, and where its fold halted on a
/// poison entry (`None`: it folded the whole log).
#[derive(Debug, PartialEq, serde::Serialize)]
pub struct Summarized {
    #[serde(flatten)]
    pub summary: summary::Summary,
    pub halt: Option<qm_core::Halt>,
}

/// Replays `log` under `policy` (`None`: as recorded) through the poison-entry guard and
/// summarizes it.
pub fn summarized(log: &[LogRecord], policy: Option<&qm_model::PolicyConfig>, fault: Option<qm_core::FoldFault>) -> Summarized {
    let replayed = whatif::replay_with(log, policy, fault);
    Summarized { summary: summary::summarize(log, &replayed.decisions), halt: replayed.halt }
}

/// A line saying where a what-if side halted, so its totals are read as partial; empty
/// when it did not.
pub fn halt_note(label: &str, side: &Summarized) -> String {
    side.halt.as_ref().map_or_else(String::new, |h| {
        format!("{label}: HALTED at {} entry {} ({}): nothing after it replayed; totals cover the entries before it\n", h.stream, h.sequence, h.error)
    })
}

/// `qm replay`: verify byte for byte (and check the logs for tampering), or compare
/// with another policy. Returns whether the replay matched and nothing was tampered
/// with (verify), so the caller can set the exit status.
pub async fn replay(js: &qm_bus::Bus, args: &ReplayArgs, fault: Option<qm_core::FoldFault>) -> anyhow::Result<bool> {
    if let Some(path) = &args.policy {
        let log = read_log(js).await?;
        let other = crate::load_policy(path)?;
        let a = summarized(&log, None, fault.clone());
        let b = summarized(&log, Some(&other), fault);
        if args.json {
            println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "recorded_policy": a, "what_if": b }))?);
        } else {
            println!("what-if over {} log entries (both sides replayed with instant actuation)\n", log.len());
            print!("{}", summary::side_by_side("as recorded", &a.summary, &format!("with {}", other.version), &b.summary));
            print!("{}{}", halt_note("as recorded", &a), halt_note(&format!("with {}", other.version), &b));
        }
        return Ok(true);
    }
    let input = Raw::read(js, subjects::INPUT_STREAM).await?;
    let decisions = Raw::read(js, subjects::DECISIONS_STREAM).await?;
    let log = decode_records(&input.entries);
    let recorded: Vec<Vec<u8>> = decisions.entries.iter().map(|e| e.payload.to_vec()).collect();
    let report = verify::verify_with(&log, &recorded, fault);
    let tamper = tamper_check(&[&input, &decisions], &args.trust)?;
    if args.json {
        println!("{}", with_tamper(&report, &tamper)?);
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
        print!("{}", tamper.render());
    }
    Ok(report.matches() && tamper.findings.is_empty())
}

/// `qm why <workload>`.
pub async fn why(js: &qm_bus::Bus, workload: &str, json: bool) -> anyhow::Result<()> {
    let decisions = read_decisions(js).await?;
    let actuation = decode_all(&read_all(js, subjects::ACTUATION_STREAM, 1).await?, "actuation event")?;
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

/// `qm audit`: the invariant checker over the three logs, and the tamper check.
/// Returns whether all invariants held and nothing was tampered with.
pub async fn check_invariants(js: &qm_bus::Bus, json: bool, trust: &TrustArgs) -> anyhow::Result<bool> {
    let input = Raw::read(js, subjects::INPUT_STREAM).await?;
    let decisions = Raw::read(js, subjects::DECISIONS_STREAM).await?;
    let actuation = Raw::read(js, subjects::ACTUATION_STREAM).await?;
    let log = decode_records(&input.entries);
    let report = qm_ledger::invariants::check(&log, &decode_all(&decisions.entries, "decision")?, &decode_all(&actuation.entries, "actuation event")?);
    let tamper = tamper_check(&[&input, &decisions, &actuation], trust)?;
    if json {
        println!("{}", with_tamper(&report, &tamper)?);
    } else {
        println!("checked {} decisions and {} actuation events over {} log entries", report.decisions, report.actuation_events, log.len());
        if report.violations.is_empty() {
            println!("OK: no decision recorded or applied twice, none unapplied, no pool ever over-granted");
        }
        for violation in &report.violations {
            println!("VIOLATION: {violation:?}");
        }
        print!("{}", tamper.render());
    }
    Ok(report.violations.is_empty() && tamper.findings.is_empty())
}
