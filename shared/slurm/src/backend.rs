//! [`SlurmBackend`]: the actuator's backend for Slurm. A grant is a QOS limit Slurm
//! enforces; a drain lowers the limit and signals the jobs above it; a revoke requeues
//! (or cancels) them; a release ends them. Everything is read back from Slurm first, so
//! applying an effect twice sends Slurm nothing new.

use crate::command::{self as c};
use crate::config::{AfterGrace, PoolTarget, SlurmConfig};
use crate::driver::{Driver, SlurmError};
use crate::jobs::{self, Job};
use crate::names::{self, checked};
use crate::tres::{self, Limits};
use qm_backend::{Applied, Backend, BackendError, Effect, Verb};
use std::time::Duration;

/// The signal a drain sends: what Slurm's own GraceTime sends before the kill.
pub const DRAIN_SIGNAL: &str = "TERM";

/// The Slurm backend.
#[derive(Clone, Debug)]
pub struct SlurmBackend {
    config: SlurmConfig,
    driver: Driver,
}

fn rejected(message: impl Into<String>) -> BackendError {
    BackendError::Rejected { message: message.into() }
}

impl SlurmBackend {
    /// A backend for a checked config.
    pub fn new(config: SlurmConfig) -> Self {
        let driver = Driver { bin_dir: config.bin_dir.clone(), timeout: config.command_timeout() };
        Self { config, driver }
    }

    /// The driver, for callers that read Slurm with the same settings (the collector).
    pub fn driver(&self) -> &Driver {
        &self.driver
    }

    fn target(&self, effect: &Effect) -> Result<&PoolTarget, BackendError> {
        self.config
            .pools
            .get(effect.pool.as_str())
            .ok_or_else(|| rejected(format!("pool {} has no Slurm partition in the slurm backend's config", effect.pool)))
    }

    /// The QOS's stored limits; `None` when the QOS does not exist.
    async fn stored(&self, qos: &str) -> Result<Option<Limits>, SlurmError> {
        let out = self.driver.run(&c::show_qos(qos)).await?;
        Ok(out.lines().find_map(|l| l.split_once('|').filter(|(name, _)| *name == qos).map(|(_, grp)| tres::parse_limits(grp))))
    }

    /// The QOS, created if missing, with the team's account allowed to use it.
    async fn ensure_qos(&self, qos: &str, effect: &Effect) -> Result<Limits, BackendError> {
        let team = effect.team.as_str();
        let current = match self.stored(qos).await? {
            Some(limits) => limits,
            None => {
                let team = checked("team", team).map_err(|e| rejected(e.to_string()))?;
                self.driver.run(&c::add_qos(qos, effect.workload.as_str(), team)).await?;
                Limits::new()
            }
        };
        if self.config.allow_qos_for_team_account {
            let account = checked("team (Slurm account)", team).map_err(|e| rejected(e.to_string()))?;
            let rows = self.driver.run(&c::show_account_qos(account)).await?;
            let Some(own) = rows.lines().find_map(|l| l.split_once('|').filter(|(user, _)| user.is_empty()).map(|(_, q)| q)) else {
                return Err(rejected(format!("Slurm account {account} does not exist (create it for team {team}, or turn off allow_qos_for_team_account)")));
            };
            if !own.split(',').any(|q| q == qos) {
                self.driver.run(&c::allow_qos(account, qos)).await?;
            }
        }
        Ok(current)
    }

    /// Sets the workload's limit for the pool's GPU type to `chips` and waits until
    /// slurmctld enforces it.
    async fn set_limit(&self, effect: &Effect, qos: &str, target: &PoolTarget, chips: u32) -> Result<(), BackendError> {
        let current = self.ensure_qos(qos, effect).await?;
        let wanted = tres::limits_for(&current, &self.config.gpu_types(), &target.gpu_type, chips);
        if let Some(entries) = tres::changes(&current, &wanted) {
            self.driver.run(&c::set_grp_tres(qos, &entries)).await?;
        }
        self.confirm(qos, &wanted).await
    }

    /// Waits until `scontrol show assoc_mgr` shows `wanted`: slurmdbd pushes limits to
    /// slurmctld asynchronously, and only slurmctld's copy stops jobs from starting.
    async fn confirm(&self, qos: &str, wanted: &Limits) -> Result<(), BackendError> {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(self.config.confirm_timeout_ms);
        loop {
            let enforced = tres::parse_enforced(&self.driver.run(&c::enforced(qos)).await?);
            if tres::shows(&enforced, wanted) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(BackendError::TimedOut {
                    message: format!("slurmctld does not show {qos} GrpTRES {wanted:?} after {} ms", self.config.confirm_timeout_ms),
                });
            }
            tokio::time::sleep(Duration::from_millis(self.config.confirm_poll_ms)).await;
        }
    }

    async fn jobs(&self, qos: &str, target: &PoolTarget) -> Result<Vec<Job>, BackendError> {
        let out = self.driver.run(&c::jobs(qos, &target.partition)).await?;
        jobs::parse(&out).map_err(|e| rejected(e.to_string()))
    }

    /// Takes away the running jobs above `keep` GPUs: requeued (or cancelled), and
    /// waits until none of them holds GPUs any more.
    async fn take_excess(&self, qos: &str, target: &PoolTarget, keep: u32) -> Result<(), BackendError> {
        let excess = jobs::excess(&self.jobs(qos, target).await?, &target.gpu_type, keep);
        for &id in &excess {
            let requeued = match self.config.after_grace {
                AfterGrace::Requeue => self.driver.run(&c::requeue(id)).await.map(|_| true),
                AfterGrace::Cancel => Ok(false),
            };
            match requeued {
                Ok(true) => {}
                // Not requeueable (--no-requeue), or cancel was asked for: end it.
                Ok(false) | Err(SlurmError::Refused { .. }) => ignore_gone(self.driver.run(&c::cancel(&[id])).await)?,
                Err(e) => return Err(e.into()),
            }
        }
        self.wait_until_within(qos, target, keep).await
    }

    async fn wait_until_within(&self, qos: &str, target: &PoolTarget, keep: u32) -> Result<(), BackendError> {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(self.config.confirm_timeout_ms);
        loop {
            let held = jobs::held(&self.jobs(qos, target).await?, &target.gpu_type);
            if held <= u64::from(keep) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(BackendError::TimedOut { message: format!("{qos} still holds {held} {} GPUs, more than {keep}", target.gpu_type) });
            }
            tokio::time::sleep(Duration::from_millis(self.config.confirm_poll_ms)).await;
        }
    }

    /// Signals the running jobs above `keep` GPUs so they can checkpoint and shrink.
    async fn signal_excess(&self, qos: &str, target: &PoolTarget, keep: u32) -> Result<(), BackendError> {
        let excess = jobs::excess(&self.jobs(qos, target).await?, &target.gpu_type, keep);
        if excess.is_empty() {
            return Ok(());
        }
        tracing::info!(qos, jobs = ?excess, signal = DRAIN_SIGNAL, "signalling jobs above the reclaimed grant");
        ignore_gone(self.driver.run(&c::signal(&excess, DRAIN_SIGNAL)).await)
    }
}

/// A job that ended between listing and acting on it is what was wanted anyway.
fn ignore_gone(result: Result<String, SlurmError>) -> Result<(), BackendError> {
    match result {
        Ok(_) => Ok(()),
        Err(SlurmError::Refused { message, .. })
            if message.contains("Invalid job id") || message.contains("already completing or completed") || message.contains("Job/step already") =>
        {
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

impl Backend for SlurmBackend {
    fn name(&self) -> &'static str {
        "slurm"
    }

    async fn apply(&mut self, effect: &Effect) -> Result<Applied, BackendError> {
        let target = self.target(effect)?.clone();
        let qos = names::qos_name(&self.config.qos_prefix, effect.workload.as_str()).map_err(|e| rejected(e.to_string()))?;
        match effect.verb {
            Verb::Grant => self.set_limit(effect, &qos, &target, effect.chips).await?,
            Verb::Drain => {
                // No new job may start above the target from now; running ones get the grace.
                self.set_limit(effect, &qos, &target, effect.chips).await?;
                self.signal_excess(&qos, &target, effect.chips).await?;
            }
            Verb::Revoke | Verb::Release => {
                self.set_limit(effect, &qos, &target, effect.chips).await?;
                self.take_excess(&qos, &target, effect.chips).await?;
            }
        }
        Ok(Applied::AsAsked)
    }
}
