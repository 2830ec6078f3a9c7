//! A real Slurm for the tests: started by `scripts/slurm/start.sh` (idempotent), shared
//! by the tests of one binary, which take turns through [`Slurm::lock`] since they share
//! its GPUs. Where Slurm is not installed the tests say so and pass, unless
//! `QM_REQUIRE_SLURM=1` (set by scripts/test.sh once it installed Slurm) makes that a failure.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub struct Slurm {
    pub conf: PathBuf,
    pub scratch: tempfile::TempDir,
}

static SLURM: OnceLock<Option<Slurm>> = OnceLock::new();
static TURN: OnceLock<tokio::sync::Mutex<()>> = OnceLock::new();

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The cluster, started if needed; `None` (with a message) where Slurm is not installed.
pub fn slurm() -> Option<&'static Slurm> {
    SLURM.get_or_init(start).as_ref()
}

fn start() -> Option<Slurm> {
    let installed = Command::new("sh").args(["-c", "command -v slurmctld || test -x /usr/sbin/slurmctld"]).output().is_ok_and(|o| o.status.success());
    if !installed {
        assert!(std::env::var("QM_REQUIRE_SLURM").is_err(), "QM_REQUIRE_SLURM is set but Slurm is not installed");
        eprintln!("SKIPPED: Slurm is not installed here (run scripts/slurm/setup.sh as root)");
        return None;
    }
    let out = Command::new(repo_root().join("scripts/slurm/start.sh")).output().expect("run scripts/slurm/start.sh");
    assert!(out.status.success(), "scripts/slurm/start.sh failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let conf = stdout.lines().find_map(|l| l.strip_prefix("export SLURM_CONF=")).expect("start.sh prints SLURM_CONF");
    // The tests are the only users of the environment in this process; set before any command runs.
    std::env::set_var("SLURM_CONF", conf);
    let path = std::env::var("PATH").unwrap_or_default();
    std::env::set_var("PATH", format!("/usr/sbin:/usr/bin:{path}"));
    Some(Slurm { conf: conf.into(), scratch: tempfile::tempdir().expect("scratch dir") })
}

impl Slurm {
    /// One test at a time on the shared GPUs.
    pub async fn lock(&self) -> tokio::sync::MutexGuard<'static, ()> {
        TURN.get_or_init(|| tokio::sync::Mutex::new(())).lock().await
    }

    /// Makes an account for a team, with root (who submits the test jobs) in it.
    pub fn account(&self, team: &str) {
        sh(&["sacctmgr", "-i", "add", "account", team]);
        sh(&["sacctmgr", "-i", "add", "user", "root", &format!("account={team}")]);
    }

    /// Submits a job of `qos` holding `gpus` GPUs of `gpu_type` until cancelled; on SIGTERM
    /// it writes `TERM` to its log and keeps running (a workload checkpointing).
    pub fn submit(&self, team: &str, qos: &str, gpu_type: &str, gpus: u32) -> u64 {
        let script = self.scratch.path().join("job.sh");
        if !script.exists() {
            let body = "#!/bin/sh\ntrap 'echo TERM >> sig-$SLURM_JOB_ID' TERM\nwhile true; do sleep 1; done\n";
            std::fs::write(&script, body).expect("write job script");
        }
        let out = run(&[
            "sbatch",
            "--parsable",
            &format!("--account={team}"),
            &format!("--partition={gpu_type}"),
            &format!("--qos={qos}"),
            &format!("--gres=gpu:{gpu_type}:{gpus}"),
            &format!("--chdir={}", self.scratch.path().display()),
            "--output=/dev/null",
            &script.display().to_string(),
        ]);
        out.trim().split(';').next().and_then(|id| id.parse().ok()).unwrap_or_else(|| panic!("sbatch printed {out:?}"))
    }

    /// Whether the job's script received SIGTERM.
    pub fn signalled(&self, job: u64) -> bool {
        std::fs::read_to_string(self.scratch.path().join(format!("sig-{job}"))).is_ok_and(|s| s.contains("TERM"))
    }
}

/// The job's state as squeue shows it (`RUNNING`, `PENDING`, ...; `GONE` once it left).
pub fn state(job: u64) -> String {
    let out = Command::new("squeue").args(["--noheader", "--jobs", &job.to_string(), "--Format=State"]).output().expect("squeue");
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if text.is_empty() { "GONE".into() } else { text }
}

/// The job's pending reason.
pub fn reason(job: u64) -> String {
    run(&["squeue", "--noheader", "--jobs", &job.to_string(), "--Format=Reason"]).trim().to_owned()
}

/// Waits up to `limit` for `check`; false if it never held.
pub async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    check()
}

/// Runs a Slurm command that must succeed; its stdout.
pub fn run(argv: &[&str]) -> String {
    let out = Command::new(argv[0]).args(&argv[1..]).output().unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    assert!(out.status.success(), "{argv:?} failed: {}{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command whose failure is fine (e.g. "Nothing new added").
pub fn sh(argv: &[&str]) {
    let _ = Command::new(argv[0]).args(&argv[1..]).output();
}

/// A name unique to this run, so reruns against the same cluster never meet old state.
pub fn unique(stem: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{stem}-{}-{}", std::process::id() % 100_000, nanos % 100_000)
}

/// Cancels every job of the QOS names given (test cleanup).
pub fn cancel_qos(qos: &[&str]) {
    for q in qos {
        sh(&["scancel", &format!("--qos={q}")]);
    }
}

/// Cancels the jobs of these QOS when dropped, so a failed test leaves no job holding GPUs.
pub struct CancelOnDrop(pub Vec<String>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let qos: Vec<&str> = self.0.iter().map(String::as_str).collect();
        cancel_qos(&qos);
    }
}
