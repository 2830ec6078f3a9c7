//! Runs Slurm commands: argv only, a time limit on each, and Slurm's own message when one
//! fails.

use crate::command::Cmd;
use qm_backend::BackendError;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

/// Output kept in a failure message, at most (Slurm's errors are short; this bounds noise).
const MESSAGE_CHARS_MAX: usize = 500;

/// Why a Slurm command failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SlurmError {
    /// Slurm answered and refused (exit status non-zero): the message is Slurm's.
    #[error("{command}: {message}")]
    Refused { command: String, message: String },
    /// The program could not run, or could not reach slurmctld/slurmdbd.
    #[error("{command}: {message}")]
    Unreachable { command: String, message: String },
    /// No answer within the time limit.
    #[error("{command}: no answer within {timeout:?}")]
    TimedOut { command: String, timeout: Duration },
    /// Slurm printed something this backend cannot read (a newer format?).
    #[error("{command}: {message}")]
    Unreadable { command: String, message: String },
}

impl From<SlurmError> for BackendError {
    fn from(e: SlurmError) -> Self {
        let message = e.to_string();
        match e {
            SlurmError::Refused { .. } | SlurmError::Unreadable { .. } => BackendError::Rejected { message },
            SlurmError::Unreachable { .. } => BackendError::Unavailable { message },
            SlurmError::TimedOut { .. } => BackendError::TimedOut { message },
        }
    }
}

/// Runs commands; `SLURM_CONF` and the rest of the environment are inherited.
#[derive(Clone, Debug)]
pub struct Driver {
    pub bin_dir: Option<PathBuf>,
    pub timeout: Duration,
}

impl Driver {
    /// Runs `cmd`; its stdout on exit status 0.
    pub async fn run(&self, cmd: &Cmd) -> Result<String, SlurmError> {
        let program = match &self.bin_dir {
            Some(dir) => dir.join(cmd.program.as_str()),
            None => PathBuf::from(cmd.program.as_str()),
        };
        let command = cmd.to_string();
        let child = tokio::process::Command::new(&program)
            .args(&cmd.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| SlurmError::Unreachable { command: command.clone(), message: format!("cannot run {}: {e}", program.display()) })?;
        let output = tokio::time::timeout(self.timeout, child.wait_with_output())
            .await
            .map_err(|_| SlurmError::TimedOut { command: command.clone(), timeout: self.timeout })?
            .map_err(|e| SlurmError::Unreachable { command: command.clone(), message: e.to_string() })?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if output.status.success() {
            return Ok(stdout);
        }
        let message = failure_message(&String::from_utf8_lossy(&output.stderr), &stdout, output.status.code());
        tracing::debug!(%command, %message, "slurm command failed");
        if unreachable(&message) {
            Err(SlurmError::Unreachable { command, message })
        } else {
            Err(SlurmError::Refused { command, message })
        }
    }
}

/// Slurm's words: stderr, else stdout (sacctmgr says "Nothing modified" there), trimmed.
fn failure_message(stderr: &str, stdout: &str, code: Option<i32>) -> String {
    let text = if stderr.trim().is_empty() { stdout.trim() } else { stderr.trim() };
    let text: String = text.lines().map(str::trim).collect::<Vec<_>>().join("; ");
    let tail: String = text.chars().rev().take(MESSAGE_CHARS_MAX).collect::<Vec<_>>().into_iter().rev().collect();
    if tail.is_empty() {
        format!("exit status {}", code.map_or("signal".to_owned(), |c| c.to_string()))
    } else {
        tail
    }
}

/// Whether a failure means Slurm's daemons could not be reached (rather than refused).
fn unreachable(message: &str) -> bool {
    ["Unable to contact slurm controller", "Connection refused", "Socket timed out", "Problem talking to the database"]
        .iter()
        .any(|m| message.contains(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_message_prefers_stderr_and_joins_lines() {
        assert_eq!(failure_message(" Invalid job id specified\n", "", Some(1)), "Invalid job id specified");
        assert_eq!(failure_message("", " Nothing modified\n", Some(1)), "Nothing modified");
        assert_eq!(failure_message("a\n b\n", "", Some(1)), "a; b");
        assert_eq!(failure_message("", "", Some(3)), "exit status 3");
    }

    #[test]
    fn classifies_unreachable_daemons() {
        assert!(unreachable("squeue: error: Unable to contact slurm controller (connect failure)"));
        assert!(!unreachable("Invalid job id specified"));
    }

    #[tokio::test]
    async fn a_missing_program_is_unreachable() {
        let driver = Driver { bin_dir: Some("/nonexistent".into()), timeout: Duration::from_secs(1) };
        let error = driver.run(&crate::command::cancel(&[1])).await.expect_err("no such program");
        assert!(matches!(error, SlurmError::Unreachable { .. }), "{error:?}");
        assert!(matches!(BackendError::from(error), BackendError::Unavailable { .. }));
    }
}
