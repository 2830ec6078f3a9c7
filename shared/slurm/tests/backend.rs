//! The Slurm backend against a real Slurm (slurmctld, slurmd, slurmdbd, MariaDB, munge)
//! started by scripts/slurm/start.sh: grants are limits Slurm enforces on real jobs.

mod common;

use common::{eventually, reason, state, unique};
use qm_backend::{Applied, Backend, BackendError, Effect, Verb};
use qm_slurm::{PoolTarget, SlurmBackend, SlurmConfig};
use std::time::Duration;
use uuid::Uuid;

/// Slurm's scheduler runs every few seconds (sched_interval=5 in start.sh).
const SCHEDULED_WITHIN: Duration = Duration::from_secs(30);

fn backend() -> SlurmBackend {
    let mut config = SlurmConfig::default();
    for t in ["h100", "a100"] {
        config.pools.insert(format!("us/{t}"), PoolTarget { partition: t.into(), gpu_type: t.into() });
    }
    config.check().expect("valid config");
    SlurmBackend::new(config)
}

fn effect(team: &str, workload: &str, pool: &str, verb: Verb, chips: u32) -> Effect {
    Effect {
        decision_id: Uuid::now_v7(),
        workload: workload.into(),
        team: team.into(),
        pool: pool.into(),
        chips,
        verb,
        grace_s: if verb == Verb::Drain { 30 } else { 0 },
        deadline_ms: 0,
        reason: "test".into(),
    }
}

fn transactions() -> usize {
    common::run(&["sacctmgr", "--noheader", "--parsable2", "list", "transactions"]).lines().count()
}

/// Given a team account, when a workload is granted 2 h100, then Slurm runs two of its
/// 1-GPU jobs and holds the third on the QOS limit; re-applying the grant (an actuator
/// restart) writes nothing to Slurm; a grant of 3 lets the third start.
#[tokio::test]
async fn grant_is_a_limit_slurm_enforces_and_reapplying_changes_nothing() {
    let Some(slurm) = common::slurm() else { return };
    let _turn = slurm.lock().await;
    let (team, workload) = (unique("team"), unique("w"));
    let qos = format!("qm-{workload}");
    slurm.account(&team);
    let mut backend = backend();
    let grant = effect(&team, &workload, "us/h100", Verb::Grant, 2);
    assert_eq!(backend.apply(&grant).await, Ok(Applied::AsAsked));
    let jobs: Vec<u64> = (0..3).map(|_| slurm.submit(&team, &qos, "h100", 1)).collect();
    assert!(eventually(SCHEDULED_WITHIN, || jobs[..2].iter().all(|&j| state(j) == "RUNNING")).await, "two jobs run");
    assert_eq!(state(jobs[2]), "PENDING");
    assert_eq!(reason(jobs[2]), "QOSGrpGRES", "held by the workload's limit");

    let before = transactions();
    assert_eq!(backend.apply(&grant).await, Ok(Applied::AsAsked));
    assert_eq!(SlurmBackend::new(backend_config()).apply(&grant).await, Ok(Applied::AsAsked), "a fresh backend too");
    assert_eq!(transactions(), before, "re-applying wrote nothing to the accounting database");

    assert_eq!(backend.apply(&effect(&team, &workload, "us/h100", Verb::Grant, 3)).await, Ok(Applied::AsAsked));
    assert!(eventually(SCHEDULED_WITHIN, || state(jobs[2]) == "RUNNING").await, "the third job starts once granted");
    common::cancel_qos(&[&qos]);
}

fn backend_config() -> SlurmConfig {
    let mut config = SlurmConfig::default();
    for t in ["h100", "a100"] {
        config.pools.insert(format!("us/{t}"), PoolTarget { partition: t.into(), gpu_type: t.into() });
    }
    config
}

/// Given a borrower running two 1-GPU jobs and a critical workload running one, when the
/// borrower is drained to 1, then its newest job gets SIGTERM and keeps running through
/// the grace; when the grace ends (revoke to 1) that job is requeued and waits on the
/// limit; a revoke to 0 leaves none of its jobs running; the critical job is never touched.
#[tokio::test]
async fn reclaim_signals_then_requeues_and_revoke_to_zero_stops_everything() {
    let Some(slurm) = common::slurm() else { return };
    let _turn = slurm.lock().await;
    let (team, borrower, critical) = (unique("team"), unique("borrow"), unique("crit"));
    let (qos, qos_critical) = (format!("qm-{borrower}"), format!("qm-{critical}"));
    slurm.account(&team);
    let mut backend = backend();
    assert_eq!(backend.apply(&effect(&team, &critical, "us/h100", Verb::Grant, 1)).await, Ok(Applied::AsAsked));
    assert_eq!(backend.apply(&effect(&team, &borrower, "us/h100", Verb::Grant, 2)).await, Ok(Applied::AsAsked));
    let keeper = slurm.submit(&team, &qos_critical, "h100", 1);
    let old = slurm.submit(&team, &qos, "h100", 1);
    assert!(eventually(SCHEDULED_WITHIN, || state(old) == "RUNNING").await);
    // Slurm's start times have one-second resolution: make the second job clearly newer.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let new = slurm.submit(&team, &qos, "h100", 1);
    assert!(eventually(SCHEDULED_WITHIN, || state(new) == "RUNNING" && state(keeper) == "RUNNING").await);

    assert_eq!(backend.apply(&effect(&team, &borrower, "us/h100", Verb::Drain, 1)).await, Ok(Applied::AsAsked));
    assert!(eventually(Duration::from_secs(10), || slurm.signalled(new)).await, "the newest job is signalled");
    assert!(!slurm.signalled(old), "the job within the new grant is not");
    assert_eq!(state(new), "RUNNING", "a drain leaves the grace to the job");

    assert_eq!(backend.apply(&effect(&team, &borrower, "us/h100", Verb::Revoke, 1)).await, Ok(Applied::AsAsked));
    assert_eq!(state(new), "PENDING", "requeued after the grace");
    assert_eq!(state(old), "RUNNING");
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(state(new), "PENDING", "and held by the lowered limit through a scheduling pass");

    assert_eq!(backend.apply(&effect(&team, &borrower, "us/h100", Verb::Revoke, 0)).await, Ok(Applied::AsAsked));
    assert_ne!(state(old), "RUNNING");
    assert_ne!(state(new), "RUNNING");
    assert_eq!(state(keeper), "RUNNING", "the critical workload was never touched");
    assert!(!slurm.signalled(keeper));
    common::cancel_qos(&[&qos, &qos_critical]);
}

/// Slurm's refusals come back as the backend's typed error with Slurm's own words;
/// names that could reach an argv unchecked are refused before any command runs.
#[tokio::test]
async fn failures_are_typed_with_slurms_message() {
    let Some(slurm) = common::slurm() else { return };
    let _turn = slurm.lock().await;
    let mut backend = backend();
    let no_account = backend.apply(&effect(&unique("nobody"), &unique("w"), "us/h100", Verb::Grant, 1)).await;
    assert!(matches!(&no_account, Err(BackendError::Rejected { message }) if message.contains("does not exist")), "{no_account:?}");
    let unmapped = backend.apply(&effect("ml", "w1", "eu/tpu", Verb::Grant, 1)).await;
    assert!(matches!(&unmapped, Err(BackendError::Rejected { message }) if message.contains("eu/tpu")), "{unmapped:?}");
    let injected = backend.apply(&effect("ml", "w1 where name=x", "us/h100", Verb::Grant, 1)).await;
    assert!(matches!(&injected, Err(BackendError::Rejected { message }) if message.contains("cannot be a Slurm name")), "{injected:?}");
    // A refusal from Slurm itself: requeue of a job that does not exist.
    let driver = backend.driver().clone();
    let refused = driver.run(&qm_slurm::command::requeue(999_999_999)).await.expect_err("no such job");
    let error = BackendError::from(refused);
    assert!(matches!(&error, BackendError::Rejected { message } if message.contains("Invalid job id")), "{error:?}");
}
