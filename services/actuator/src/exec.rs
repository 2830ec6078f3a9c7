//! The exec backend: runs a command per decision with the details in `QM_*` environment
//! variables; exit status 0 means applied, anything else fails with the command's stderr.

use qm_backend::{Applied, Backend, BackendError, Effect};
use std::time::Duration;

/// Stderr kept in a failure message, at most (the end of it, where errors usually are).
const STDERR_TAIL_CHARS_MAX: usize = 500;

/// Runs `program args...` per decision.
#[derive(Clone, Debug)]
pub struct ExecBackend {
    pub program: String,
    pub args: Vec<String>,
    /// How long a command may run before it counts as failed (and is killed).
    pub timeout: Duration,
}

impl ExecBackend {
    /// Runs `command` through `sh -c`.
    pub fn shell(command: String, timeout: Duration) -> Self {
        Self { program: "sh".into(), args: vec!["-c".into(), command], timeout }
    }

    fn command(&self, effect: &Effect) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&self.program);
        command
            .args(&self.args)
            .env("QM_ACTION", effect.verb.as_str())
            .env("QM_DECISION_ID", effect.decision_id.to_string())
            .env("QM_WORKLOAD", effect.workload.as_str())
            .env("QM_TEAM", effect.team.as_str())
            .env("QM_POOL", effect.pool.as_str())
            .env("QM_CHIPS", effect.chips.to_string())
            .env("QM_GRACE_S", effect.grace_s.to_string())
            .env("QM_DEADLINE_MS", effect.deadline_ms.to_string())
            .env("QM_REASON", &effect.reason)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        command
    }
}

impl Backend for ExecBackend {
    fn name(&self) -> &'static str {
        "exec"
    }

    async fn apply(&mut self, effect: &Effect) -> Result<Applied, BackendError> {
        let program = &self.program;
        let child = self
            .command(effect)
            .spawn()
            .map_err(|e| BackendError::Unavailable { message: format!("cannot run {program}: {e}") })?;
        let output = tokio::time::timeout(self.timeout, child.wait_with_output())
            .await
            .map_err(|_| BackendError::TimedOut { message: format!("{program} did not finish within {:?}", self.timeout) })?
            .map_err(|e| BackendError::Unavailable { message: format!("{program} failed: {e}") })?;
        if output.status.success() {
            return Ok(Applied::AsAsked);
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let skip = stderr.chars().count().saturating_sub(STDERR_TAIL_CHARS_MAX);
        let tail: String = stderr.chars().skip(skip).collect();
        Err(BackendError::Rejected { message: format!("{program} exited with {}: {}", output.status, tail.trim()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qm_backend::Verb;
    use uuid::Uuid;

    fn effect() -> Effect {
        Effect {
            decision_id: Uuid::from_u128(7),
            workload: "w".into(),
            team: "ml".into(),
            pool: "use-h100".into(),
            chips: 4,
            verb: Verb::Grant,
            grace_s: 0,
            deadline_ms: 0,
            reason: "within guarantee".into(),
        }
    }

    /// Given a command, when it runs, then its exit and time decide the outcome.
    #[tokio::test]
    async fn outcome_follows_the_command() {
        let timeout = Duration::from_secs(5);
        let ok = ExecBackend::shell("test \"$QM_ACTION $QM_CHIPS $QM_TEAM\" = 'grant 4 ml'".into(), timeout);
        assert_eq!(ok.clone().apply(&effect()).await, Ok(Applied::AsAsked));
        let refused = ExecBackend::shell("echo 'quota exceeded' >&2; exit 3".into(), timeout);
        let Err(BackendError::Rejected { message }) = refused.clone().apply(&effect()).await else { panic!("not rejected") };
        assert_eq!(message, "sh exited with exit status: 3: quota exceeded");
        let slow = ExecBackend::shell("sleep 5".into(), Duration::from_millis(50));
        assert!(matches!(slow.clone().apply(&effect()).await, Err(BackendError::TimedOut { .. })));
        let missing = ExecBackend { program: "/nonexistent/qm-backend".into(), args: vec![], timeout };
        assert!(matches!(missing.clone().apply(&effect()).await, Err(BackendError::Unavailable { .. })));
    }
}
