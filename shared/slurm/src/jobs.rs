//! Jobs as `squeue` shows them, and which of a workload's running jobs exceed a
//! smaller grant.

use crate::tres::{gpu_tres, parse_limits, Limits};

/// The `squeue -O` format [`parse`] reads: one job per line, fields ended by `|`.
pub const SQUEUE_FORMAT: &str = "JobID:|,QOS:|,Account:|,Partition:|,State:|,StartTime:|,tres-alloc:|";

/// One job's row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub id: u64,
    pub qos: String,
    /// The Slurm account: the team.
    pub account: String,
    pub partition: String,
    /// Slurm's state name: `RUNNING`, `PENDING`, `COMPLETING`, ...
    pub state: String,
    /// ISO start time (sorts as text), or `N/A` for a pending job.
    pub start: String,
    /// Allocated TRES. Slurm counts allocated GPUs by type even when the request named
    /// none, so this is the truth about which GPUs a job holds.
    pub alloc: Limits,
}

impl Job {
    /// GPUs of `gpu_type` the job holds.
    pub fn gpus(&self, gpu_type: &str) -> u64 {
        if !self.holds() {
            return 0;
        }
        self.alloc.get(&gpu_tres(gpu_type)).copied().unwrap_or(0)
    }

    /// Whether the job holds its allocation (running, or suspended/completing with it).
    pub fn holds(&self) -> bool {
        matches!(self.state.as_str(), "RUNNING" | "SUSPENDED" | "COMPLETING" | "STOPPED")
    }
}

/// A line `squeue` printed that is not in [`SQUEUE_FORMAT`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unexpected squeue line {line:?}")]
pub struct ParseError {
    pub line: String,
}

/// Parses `squeue -h -O` [`SQUEUE_FORMAT`] output.
pub fn parse(text: &str) -> Result<Vec<Job>, ParseError> {
    text.lines().filter(|l| !l.trim().is_empty()).map(parse_line).collect()
}

fn parse_line(line: &str) -> Result<Job, ParseError> {
    let error = || ParseError { line: line.to_owned() };
    let fields: Vec<&str> = line.split('|').map(str::trim).collect();
    let [id, qos, account, partition, state, start, alloc, ..] = fields.as_slice() else { return Err(error()) };
    Ok(Job {
        // A job array element shows as 12_3; its own id is what scontrol takes, but squeue
        // prints the array form, which scontrol/scancel also accept, so keep the number part.
        id: id.split('_').next().and_then(|n| n.parse().ok()).ok_or_else(error)?,
        qos: (*qos).to_owned(),
        account: (*account).to_owned(),
        partition: (*partition).to_owned(),
        state: (*state).to_owned(),
        start: (*start).to_owned(),
        alloc: parse_limits(alloc),
    })
}

/// The running jobs to take away so that at most `keep` GPUs of `gpu_type` stay held:
/// the oldest jobs are kept first (they have the most work to lose), each kept only if it
/// still fits; the rest are returned newest first. Jobs holding none of the type are never
/// touched.
pub fn excess(jobs: &[Job], gpu_type: &str, keep: u32) -> Vec<u64> {
    let mut holding: Vec<&Job> = jobs.iter().filter(|j| j.gpus(gpu_type) > 0).collect();
    holding.sort_by(|a, b| (&a.start, a.id).cmp(&(&b.start, b.id)));
    let mut kept = 0u64;
    let mut out = Vec::new();
    for job in holding {
        let gpus = job.gpus(gpu_type);
        if kept + gpus <= u64::from(keep) {
            kept += gpus;
        } else {
            out.push(job.id);
        }
    }
    out.reverse();
    out
}

/// GPUs of `gpu_type` held by the jobs, summed.
pub fn held(jobs: &[Job], gpu_type: &str) -> u64 {
    jobs.iter().map(|j| j.gpus(gpu_type)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: u64, start: &str, state: &str, h100: u64) -> Job {
        Job {
            id,
            qos: "qm-w".into(),
            account: "ml".into(),
            partition: "h100".into(),
            state: state.into(),
            start: start.into(),
            alloc: parse_limits(&format!("cpu=1,gres/gpu={h100},gres/gpu:h100={h100}")),
        }
    }

    #[test]
    fn parses_squeue_rows() {
        let text = "9|qm-w2|ml|h100|PENDING|N/A|cpu=1,mem=16000M,node=1,billing=1,gres/gpu=2,gres/gpu:h100=2|\n\
                    5|qm-w1|ml|a100|RUNNING|2026-12-03T12:55:46|cpu=1,node=1,billing=1,gres/gpu=1,gres/gpu:a100=1|\n";
        let jobs = parse(text).expect("valid");
        assert_eq!(jobs.len(), 2);
        assert_eq!((jobs[1].id, jobs[1].gpus("a100"), jobs[1].gpus("h100")), (5, 1, 0));
        assert_eq!(jobs[0].gpus("h100"), 0, "a pending job holds nothing");
        assert!(parse("garbage").is_err());
        assert_eq!(parse("").expect("empty is no jobs"), vec![]);
    }

    /// Table: given running jobs (id, start, GPUs) and a smaller grant, the jobs to take
    /// are the newest that do not fit, and never more than needed.
    #[test]
    fn excess_takes_the_newest_that_do_not_fit() {
        let jobs = vec![
            job(1, "2026-01-01T00:00:01", "RUNNING", 2),
            job(2, "2026-01-01T00:00:02", "RUNNING", 1),
            job(3, "2026-01-01T00:00:03", "RUNNING", 2),
            job(4, "N/A", "PENDING", 2),
        ];
        let cases: [(u32, Vec<u64>); 6] =
            [(5, vec![]), (9, vec![]), (4, vec![3]), (3, vec![3]), (2, vec![3, 2]), (0, vec![3, 2, 1])];
        for (keep, want) in cases {
            assert_eq!(excess(&jobs, "h100", keep), want, "keep {keep}");
        }
        assert_eq!(excess(&jobs, "a100", 0), Vec::<u64>::new(), "other types untouched");
        // A big old job that no longer fits goes, a small newer one that fits stays.
        let mixed = vec![job(1, "2026-01-01T00:00:01", "RUNNING", 3), job(2, "2026-01-01T00:00:02", "RUNNING", 1)];
        assert_eq!(excess(&mixed, "h100", 2), vec![1]);
        assert_eq!(held(&jobs, "h100"), 5);
    }
}
