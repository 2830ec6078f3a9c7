//! What must hold after each fault, and how long the fleet takes to get there:
//!
//! - every acknowledged request is in the input log as acknowledged ([`super::ledger`]);
//! - `qm audit` is clean: no decision recorded or applied twice, none left unapplied
//!   (a grant lost), no pool ever over-granted;
//! - no critical workload is stranded: each holds all it asked for (the fleet has room);
//! - convergence: a probe demand sent after the fault's end is granted and applied
//!   within the bound, and the audit is clean within the same bound.
//!
//! The checks read through the real `qm` CLI (the operator's tools), as a client of the
//! cluster, while the load goes on.

use super::ledger::{self, LedgerViolation, Stored};
use super::load::{CRITICAL, CRITICAL_CHIPS};
use anyhow::Context;
use qm_bus::Bus;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The `qm` CLI, pointed at the cluster.
#[derive(Clone)]
pub struct Qm {
    pub binary: PathBuf,
    pub url: String,
}

impl Qm {
    /// Runs `qm args...`: whether it exited 0, and its stdout then stderr.
    pub async fn run(&self, args: &[&str]) -> anyhow::Result<(bool, String)> {
        let out = self.output(args).await?;
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        Ok((out.status.success(), text))
    }

    async fn output(&self, args: &[&str]) -> anyhow::Result<std::process::Output> {
        tokio::process::Command::new(&self.binary)
            .args(args)
            .env("QM_NATS_URL", &self.url)
            .env("QM_RETRY_S", "5")
            .env_remove("QM_NATS_CREDS")
            .output()
            .await
            .with_context(|| format!("run {}", self.binary.display()))
    }

    /// `qm status --json`, parsed from stdout alone: a warning the CLI logs to stderr
    /// (a retried connection) is not part of the document (a short run, seed 5, failed
    /// its final check on one: "trailing characters at line 292").
    pub async fn status(&self) -> anyhow::Result<serde_json::Value> {
        let out = self.output(&["status", "--json"]).await?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        anyhow::ensure!(out.status.success(), "qm status: {stdout}{}", String::from_utf8_lossy(&out.stderr));
        Ok(serde_json::from_str(&stdout)?)
    }
}

/// Polls `check` every 500 ms until it gives `Some`, for up to `within`; the value and
/// how long it took, or the last reason it gave.
pub async fn within<T, F, Fut>(within: Duration, mut check: F) -> Result<(T, Duration), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let started = Instant::now();
    loop {
        match check().await {
            Ok(value) => return Ok((value, started.elapsed())),
            Err(why) if started.elapsed() >= within => return Err(why),
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

/// Chips applied to `workload`.
pub fn applied(status: &serde_json::Value, workload: &str) -> u64 {
    qm_testkit::services::applied(status, workload)
}

/// Critical workloads holding less than they asked for.
pub fn stranded(status: &serde_json::Value) -> Vec<String> {
    CRITICAL
        .iter()
        .filter(|(_, id)| applied(status, id) < u64::from(CRITICAL_CHIPS))
        .map(|(_, id)| format!("{id} holds {} of {CRITICAL_CHIPS}", applied(status, id)))
        .collect()
}

/// Pools whose decided chips exceed their healthy chips, as `qm status` shows them.
pub fn over_granted(status: &serde_json::Value) -> Vec<String> {
    status["pools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["granted_chips"].as_u64().unwrap_or(0) > p["healthy_chips"].as_u64().unwrap_or(0))
        .map(|p| format!("{} granted {} of {}", p["id"], p["granted_chips"], p["healthy_chips"]))
        .collect()
}

/// The audit: `Ok` with its summary line when it finds no violation other than those in
/// `known` (each is reported once, by the fault after which it first appeared: the
/// auditor keeps finding an over-grant in the log for ever), else the new violations.
pub async fn audit(qm: &Qm, known: &HashSet<String>) -> Result<String, String> {
    let text = match qm.run(&["audit"]).await {
        Ok((_, text)) => text,
        Err(e) => return Err(format!("{e:#}")),
    };
    let Some(summary) = text.lines().find(|l| l.starts_with("checked")) else { return Err(text) };
    let new: Vec<&str> = text.lines().filter(|l| l.starts_with("VIOLATION") && !known.contains(*l)).collect();
    if new.is_empty() {
        Ok(summary.to_owned())
    } else {
        Err(new.join("\n"))
    }
}

/// Every input log entry's id and subject, by sequence, and the last sequence read.
pub async fn read_log(bus: &Bus) -> anyhow::Result<(HashMap<u64, Stored>, u64)> {
    let entries = qm_bus::read::read_all(bus, qm_bus::subjects::INPUT_STREAM, 1).await?;
    let last = entries.last().map_or(0, |e| e.sequence);
    let mut log = HashMap::with_capacity(entries.len());
    for entry in &entries {
        // An entry that does not decode is kept under a nil id: an ack naming it fails.
        let event_id = qm_bus::read::decode_log(entry).map(|r| r.id).unwrap_or_default();
        log.insert(entry.sequence, Stored { event_id, subject: entry.subject.clone() });
    }
    Ok((log, last))
}

/// The ledger check against the log as it is now: violations, acks checked.
pub async fn ledger_check(bus: &Bus, acks: &[ledger::Ack]) -> anyhow::Result<(Vec<LedgerViolation>, u64)> {
    let (log, last) = read_log(bus).await?;
    Ok(ledger::check(acks, &log, last))
}
