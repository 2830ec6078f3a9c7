//! Backends. Each turns one decision into one actuation fact. Idempotence is the
//! service's job (it skips decisions already reported); a backend applies what it is given.

use qm_model::{Action, ActuationEvent, DecisionRecorded, PoolId, WorkloadId};
use std::collections::BTreeMap;
use std::time::Duration;
use uuid::Uuid;

/// Which backend to run, from config.
#[derive(Clone, Debug, Default)]
pub enum BackendConfig {
    /// An in-process fleet that records holdings: the demo and the tests.
    #[default]
    Sim,
    /// Runs `program args...` per decision with the details in `QM_*` environment
    /// variables; exit status 0 means applied.
    Exec { program: String, args: Vec<String>, timeout: Duration },
}

/// A live backend.
pub enum Backend {
    Sim(SimFleet),
    Exec(ExecBackend),
}

impl Backend {
    /// Builds the backend a config names.
    pub fn new(config: &BackendConfig) -> Self {
        match config {
            BackendConfig::Sim => Self::Sim(SimFleet::default()),
            BackendConfig::Exec { program, args, timeout } => {
                Self::Exec(ExecBackend { program: program.clone(), args: args.clone(), timeout: *timeout })
            }
        }
    }

    /// Folds an earlier report back in at start, so state matches what was applied.
    pub fn recall(&mut self, event: &ActuationEvent) {
        if let Self::Sim(fleet) = self {
            fleet.recall(event);
        }
    }

    /// Applies one decision; `None` for decisions with nothing to do (pending).
    pub async fn apply(&mut self, decision_id: Uuid, record: &DecisionRecorded) -> Option<ActuationEvent> {
        let effect = Effect::of(decision_id, record)?;
        let outcome = match self {
            Self::Sim(fleet) => {
                fleet.apply(&effect);
                Ok(())
            }
            Self::Exec(exec) => exec.apply(&effect, record).await,
        };
        Some(match outcome {
            Ok(()) => record.decision.applied_report(decision_id)?,
            Err(error) => ActuationEvent::ActuationFailed {
                decision_id,
                workload: effect.workload,
                pool: Some(effect.pool),
                error,
            },
        })
    }
}

/// What a decision asks of the backend.
#[derive(Clone, Debug)]
pub struct Effect {
    pub decision_id: Uuid,
    pub workload: WorkloadId,
    pub pool: PoolId,
    /// Chips the workload holds in the pool afterwards (for a drain: the target).
    pub chips: u32,
    pub verb: Verb,
    pub deadline_ms: i64,
    pub grace_s: u32,
}

/// The backend-level verb, also passed to commands as `QM_ACTION`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    Grant,
    Drain,
    Revoke,
    Release,
}

impl Verb {
    fn as_str(self) -> &'static str {
        match self {
            Self::Grant => "grant",
            Self::Drain => "drain",
            Self::Revoke => "revoke",
            Self::Release => "release",
        }
    }
}

impl Effect {
    fn of(decision_id: Uuid, record: &DecisionRecorded) -> Option<Self> {
        let decision = &record.decision;
        let (pool, chips, verb, deadline_ms, grace_s) = match &decision.action {
            Action::Grant { pool, chips } => (pool, *chips, Verb::Grant, 0, 0),
            Action::Reclaim { pool, chips, grace_s, deadline_ms, .. } => (pool, *chips, Verb::Drain, *deadline_ms, *grace_s),
            Action::Revoke { pool, chips } => (pool, *chips, Verb::Revoke, 0, 0),
            Action::Release { pool } => (pool, 0, Verb::Release, 0, 0),
            Action::Pending { .. } => return None,
        };
        Some(Self { decision_id, workload: decision.workload.clone(), pool: pool.clone(), chips, verb, deadline_ms, grace_s })
    }
}

/// The simulated fleet: chips each workload holds in each pool.
#[derive(Debug, Default)]
pub struct SimFleet {
    holdings: BTreeMap<(WorkloadId, PoolId), u32>,
}

impl SimFleet {
    fn apply(&mut self, effect: &Effect) {
        match effect.verb {
            // A drain only asks; chips stay held until revoked.
            Verb::Drain => {}
            Verb::Grant | Verb::Revoke | Verb::Release => self.set(&effect.workload, &effect.pool, effect.chips),
        }
    }

    fn recall(&mut self, event: &ActuationEvent) {
        match event {
            ActuationEvent::GrantApplied { workload, pool, chips, .. }
            | ActuationEvent::GrantRevoked { workload, pool, chips, .. } => self.set(workload, pool, *chips),
            ActuationEvent::DrainRequested { .. } | ActuationEvent::ActuationFailed { .. } => {}
        }
    }

    fn set(&mut self, workload: &WorkloadId, pool: &PoolId, chips: u32) {
        let key = (workload.clone(), pool.clone());
        if chips == 0 {
            self.holdings.remove(&key);
        } else {
            self.holdings.insert(key, chips);
        }
    }

    /// Chips held per pool, summed over workloads.
    pub fn chips_by_pool(&self) -> BTreeMap<PoolId, u32> {
        let mut out = BTreeMap::new();
        for ((_, pool), chips) in &self.holdings {
            *out.entry(pool.clone()).or_insert(0) += chips;
        }
        out
    }
}

/// Runs a command per decision.
pub struct ExecBackend {
    program: String,
    args: Vec<String>,
    timeout: Duration,
}

impl ExecBackend {
    async fn apply(&self, effect: &Effect, record: &DecisionRecorded) -> Result<(), String> {
        let mut command = tokio::process::Command::new(&self.program);
        command
            .args(&self.args)
            .env("QM_ACTION", effect.verb.as_str())
            .env("QM_DECISION_ID", effect.decision_id.to_string())
            .env("QM_WORKLOAD", effect.workload.as_str())
            .env("QM_TEAM", record.decision.team.as_str())
            .env("QM_POOL", effect.pool.as_str())
            .env("QM_CHIPS", effect.chips.to_string())
            .env("QM_GRACE_S", effect.grace_s.to_string())
            .env("QM_DEADLINE_MS", effect.deadline_ms.to_string())
            .env("QM_REASON", &record.decision.reason.message)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let child = command.spawn().map_err(|e| format!("cannot run {}: {e}", self.program))?;
        let output = tokio::time::timeout(self.timeout, child.wait_with_output())
            .await
            .map_err(|_| format!("{} did not finish within {:?}", self.program, self.timeout))?
            .map_err(|e| format!("{} failed: {e}", self.program))?;
        if output.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: String = stderr.chars().rev().take(500).collect::<Vec<_>>().into_iter().rev().collect();
        Err(format!("{} exited with {}: {}", self.program, output.status, tail.trim()))
    }
}
