//! Measured usage: what the scheduler shows each workload holding, sampled and rolled up
//! into windows, so idle give-back works without the workload's cooperation.
//!
//! A sample is "GPUs held by running jobs" per workload at one instant (Slurm 22.05 as
//! Debian builds it has no NVML plugin, so no per-GPU utilization: a held GPU counts as
//! busy). [`Rollup`] averages samples per fixed window and keeps closed windows in an
//! outbox until ingest has accepted them. It is plain data (serde), so the collector
//! checkpoints it after every sample and a restart loses neither the open window's
//! samples nor a closed window not yet sent; each window is sent with the idempotency
//! key [`Report::key`], so one re-sent after a crash is dropped by ingest's dedup.

use crate::jobs::Job;
use crate::tres::gpu_tres;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Closed windows kept unsent, at most (oldest dropped first, with a warning count):
/// bounds the checkpoint when ingest is down for long.
pub const OUTBOX_MAX: usize = 4_096;

/// A workload as the collector knows it: its team (the subject needs it) and id.
pub type Key = (String, String);

/// One window's usage of one workload, ready to send as `UsageReported`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub team: String,
    pub workload: String,
    pub window_start_ms: i64,
    pub window_s: u32,
    pub chips_busy: f64,
}

impl Report {
    /// The idempotency key: one per workload and window, whoever sends it how often.
    pub fn key(&self) -> String {
        format!("slurm-usage:{}:{}", self.workload, self.window_start_ms)
    }
}

/// Samples of the open window, and closed windows not yet sent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Rollup {
    pub window_s: u32,
    /// Start of the open window; `None` before the first sample.
    pub open_start_ms: Option<i64>,
    /// Samples taken in the open window.
    pub samples: u32,
    /// Per workload, the sum of its samples (a workload absent from a sample adds 0).
    pub sums: BTreeMap<String, (String, f64)>,
    pub outbox: Vec<Report>,
    /// Windows dropped because the outbox was full.
    pub dropped: u64,
}

impl Rollup {
    pub fn new(window_s: u32) -> Self {
        Self { window_s: window_s.max(1), ..Default::default() }
    }

    fn window_ms(&self) -> i64 {
        i64::from(self.window_s.max(1)) * 1_000
    }

    /// Adds a sample taken at `at_ms`: GPUs held per workload, for every workload that
    /// should be reported (those holding a grant, even with no job: they are idle).
    pub fn add(&mut self, at_ms: i64, held: &BTreeMap<Key, f64>) {
        let start = at_ms.div_euclid(self.window_ms()) * self.window_ms();
        match self.open_start_ms {
            Some(open) if start > open => self.close(),
            Some(open) if start < open => return, // a clock step back: the sample is stale
            _ => {}
        }
        self.open_start_ms = Some(start);
        self.samples += 1;
        for ((team, workload), chips) in held {
            let entry = self.sums.entry(workload.clone()).or_insert_with(|| (team.clone(), 0.0));
            entry.0.clone_from(team);
            entry.1 += chips;
        }
    }

    /// Closes the open window if it ended before `now_ms` (call on a timer, so the last
    /// window goes out even when sampling stops).
    pub fn close_if_over(&mut self, now_ms: i64) {
        if self.open_start_ms.is_some_and(|open| now_ms >= open + self.window_ms()) {
            self.close();
        }
    }

    fn close(&mut self) {
        let Some(start) = self.open_start_ms.take() else { return };
        let samples = f64::from(self.samples.max(1));
        for (workload, (team, sum)) in std::mem::take(&mut self.sums) {
            self.outbox.push(Report { team, workload, window_start_ms: start, window_s: self.window_s, chips_busy: sum / samples });
        }
        self.samples = 0;
        if self.outbox.len() > OUTBOX_MAX {
            let excess = self.outbox.len() - OUTBOX_MAX;
            self.outbox.drain(..excess);
            self.dropped += excess as u64;
        }
    }

    /// Removes a report once ingest accepted it.
    pub fn sent(&mut self, report: &Report) {
        self.outbox.retain(|r| r != report);
    }
}

/// GPUs held per workload in one `squeue` sample: running jobs of QOS `prefix<workload>`,
/// summed over `gpu_types`, team = the job's account; plus 0 for each `granted` workload
/// without a running job.
pub fn sample(jobs: &[Job], prefix: &str, gpu_types: &BTreeSet<&str>, granted: &BTreeMap<String, String>) -> BTreeMap<Key, f64> {
    let mut held: BTreeMap<Key, f64> = granted.iter().map(|(w, team)| ((team.clone(), w.clone()), 0.0)).collect();
    for job in jobs.iter().filter(|j| j.holds()) {
        let Some(workload) = job.qos.strip_prefix(prefix) else { continue };
        let team = granted.get(workload).cloned().unwrap_or_else(|| job.account.clone());
        let gpus: u64 = gpu_types.iter().map(|t| job.alloc.get(&gpu_tres(t)).copied().unwrap_or(0)).sum();
        *held.entry((team, workload.to_owned())).or_insert(0.0) += gpus as f64;
    }
    held
}

/// Parses `sacctmgr show qos format=name,description,grptres` rows: the workloads whose
/// QOS (named `prefix<workload>`, description `... team <team>`) grants any GPU.
pub fn granted_workloads(rows: &str, prefix: &str) -> BTreeMap<String, String> {
    rows.lines()
        .filter_map(|line| {
            let mut fields = line.split('|');
            let (name, description, grp) = (fields.next()?, fields.next()?, fields.next()?);
            let workload = name.strip_prefix(prefix)?;
            let team = description.rsplit_once("team ")?.1.trim();
            let any = crate::tres::parse_limits(grp).iter().any(|(n, v)| n.starts_with("gres/gpu") && *v > 0);
            (any && !team.is_empty()).then(|| (workload.to_owned(), team.to_owned()))
        })
        .collect()
}

#[cfg(test)]
#[path = "usage_tests.rs"]
mod tests;
