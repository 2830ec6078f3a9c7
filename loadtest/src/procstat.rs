//! CPU time and resident memory of processes, read from `/proc` (Linux only; elsewhere
//! the figures are absent rather than wrong).

use serde::Serialize;
use std::time::Instant;

/// CPU seconds used so far and resident memory of one process.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub at: Instant,
    pub cpu_s: f64,
    pub rss_kib: u64,
}

/// What one process used over a phase.
#[derive(Clone, Debug, Serialize)]
pub struct Usage {
    pub name: String,
    /// Share of one core over the phase, in percent (200 = two cores busy).
    pub cpu_percent: f64,
    /// Resident memory at the end of the phase.
    pub rss_mib: f64,
    /// Highest resident memory the process ever had (`VmHWM`).
    pub rss_peak_mib: f64,
}

/// Clock ticks per second of `/proc/<pid>/stat` times; 100 on every Linux we run on,
/// asked of `getconf` once to be sure.
fn ticks_per_s() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// Reads one process's CPU time and memory; `None` if it is gone or this is not Linux.
pub fn sample(pid: u32) -> Option<Sample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; fields are counted after its closing paren.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // After the paren: state is field 3, utime 14 and stime 15 (1-based in proc(5)).
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let rss_kib = status_kib(pid, "VmRSS:").unwrap_or(0);
    Some(Sample { at: Instant::now(), cpu_s: (utime + stime) / ticks_per_s(), rss_kib })
}

fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// A set of named processes whose use is measured from one point to another.
#[derive(Clone, Debug, Default)]
pub struct Watch {
    procs: Vec<(String, u32)>,
}

impl Watch {
    /// Adds a process to watch.
    pub fn add(&mut self, name: &str, pid: u32) {
        self.procs.push((name.to_owned(), pid));
    }

    /// Samples every watched process now.
    pub fn start(&self) -> Vec<Option<Sample>> {
        self.procs.iter().map(|(_, pid)| sample(*pid)).collect()
    }

    /// Use of every watched process since `start`.
    pub fn since(&self, start: &[Option<Sample>]) -> Vec<Usage> {
        self.procs
            .iter()
            .zip(start)
            .filter_map(|((name, pid), before)| {
                let (before, now) = ((*before)?, sample(*pid)?);
                let wall_s = now.at.duration_since(before.at).as_secs_f64().max(1e-9);
                Some(Usage {
                    name: name.clone(),
                    cpu_percent: 100.0 * (now.cpu_s - before.cpu_s) / wall_s,
                    rss_mib: now.rss_kib as f64 / 1024.0,
                    rss_peak_mib: status_kib(*pid, "VmHWM:").unwrap_or(0) as f64 / 1024.0,
                })
            })
            .collect()
    }
}
