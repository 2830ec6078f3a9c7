//! The collector loop. Slurm is read with the same driver and names as the Slurm
//! backend; reports go to ingest like any sender's, each window with its own idempotency
//! key, so a window re-sent after a crash is stored once.

use crate::checkpoint;
use qm_bus::clock::Clock;
use qm_bus::{request::request, subjects, Bus};
use qm_model::{decode_value, encode_value, IngestReply, InputEvent, RejectCode, IDEMPOTENCY_KEY_HEADER};
use qm_slurm::usage::{self, Report, Rollup};
use qm_slurm::{command, jobs, Driver, SlurmConfig};
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

/// The agent's settings.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    pub slurm: SlurmConfig,
    /// Length of a usage window; match the policy's idle window divided by a few.
    pub window_s: u32,
    pub sample_every: Duration,
    /// Where the rollup is kept between samples and across restarts.
    pub checkpoint: PathBuf,
    /// How long one report waits for ingest.
    pub request_timeout: Duration,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            slurm: SlurmConfig::default(),
            window_s: 30,
            sample_every: Duration::from_secs(5),
            checkpoint: PathBuf::from("qm-agent-usage.toml"),
            request_timeout: Duration::from_secs(2),
        }
    }
}

/// Samples, rolls up and reports until `shutdown` resolves.
pub async fn run<C: Clock>(config: AgentConfig, bus: Bus, clock: C, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let driver = Driver { bin_dir: config.slurm.bin_dir.clone(), timeout: config.slurm.command_timeout() };
    let mut rollup = checkpoint::load(&config.checkpoint, config.window_s)?;
    tracing::info!(open_samples = rollup.samples, unsent = rollup.outbox.len(), "agent ready");
    let mut ticks = tokio::time::interval(config.sample_every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = &mut shutdown => break,
        }
        match sample(&driver, &config.slurm).await {
            Ok(held) => rollup.add(clock.now_ms(), &held),
            // Nothing sampled is better than a guess: the window averages what it has.
            Err(e) => tracing::warn!(error = %e, "cannot read Slurm; sample skipped"),
        }
        rollup.close_if_over(clock.now_ms());
        checkpoint::save(&config.checkpoint, &rollup)?;
        if send_outbox(&bus, &mut rollup, config.request_timeout).await {
            checkpoint::save(&config.checkpoint, &rollup)?;
        }
    }
    checkpoint::save(&config.checkpoint, &rollup)?;
    Ok(())
}

/// GPUs held per workload now, with 0 for granted workloads that run nothing.
async fn sample(driver: &Driver, slurm: &SlurmConfig) -> Result<std::collections::BTreeMap<usage::Key, f64>, anyhow::Error> {
    let running = jobs::parse(&driver.run(&command::running_jobs()).await?)?;
    let granted = usage::granted_workloads(&driver.run(&command::all_qos()).await?, &slurm.qos_prefix);
    Ok(usage::sample(&running, &slurm.qos_prefix, &slurm.gpu_types(), &granted))
}

/// Sends closed windows oldest first; stops at the first one ingest cannot take now
/// (it stays for the next tick). Returns whether anything left the outbox.
async fn send_outbox(bus: &Bus, rollup: &mut Rollup, timeout: Duration) -> bool {
    let mut changed = false;
    for report in rollup.outbox.clone() {
        match send(bus, &report, timeout).await {
            Ok(IngestReply::Accepted { .. }) => {}
            Ok(IngestReply::Rejected { code: RejectCode::Unavailable, message }) => {
                tracing::debug!(%message, "ingest unavailable; window kept");
                break;
            }
            // Refused for good (unknown workload, forbidden): ingest kept a dead letter.
            Ok(IngestReply::Rejected { code, message }) => {
                tracing::warn!(workload = %report.workload, ?code, %message, "usage report refused");
            }
            Err(e) => {
                tracing::debug!(error = %e, "ingest not answering; window kept");
                break;
            }
        }
        rollup.sent(&report);
        changed = true;
    }
    changed
}

async fn send(bus: &Bus, report: &Report, timeout: Duration) -> anyhow::Result<IngestReply> {
    let event = InputEvent::UsageReported { workload: report.workload.as_str().into(), chips_busy: report.chips_busy, window_s: report.window_s };
    let subject = subjects::ingest_request("usage", &[&report.team, &report.workload]);
    let key = report.key();
    let reply = request(bus, &subject, encode_value(&event)?, &[(IDEMPOTENCY_KEY_HEADER, &key)], timeout).await?;
    Ok(decode_value(&reply)?)
}
