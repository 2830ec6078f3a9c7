//! Poison entries on a running system (real nats-server, auth on, the service binaries):
//! an entry whose fold panics halts the policy there instead of crash-looping it; the
//! halt shows in its metric and in `qm status`; nothing after it is decided until an
//! operator resolves it with `qm halt skip|retry`, which goes into the log, so a replay
//! of the log resolves it alike. The poison comes from fault injection
//! (`QM_FAULT_FOLD_PANIC`, given to every process), the core having none we know of.

mod common;

use common::*;
use qm_bus::read::read_all;
use qm_bus::subjects;
use qm_model::{decode, DecisionRecorded};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// Waits until the policy's metric says it is halted at `sequence` (0: not halted).
async fn halted_metric(system: &System, sequence: u64) -> anyhow::Result<()> {
    let line = format!("qm_policy_halted_sequence {sequence}\n");
    eventually(WAIT, || Ok(system.http_get("qm-policy", "/metrics")?.contains(&line).then_some(()))).await
}

/// The highest input sequence any recorded decision was computed at.
async fn last_decided_seq(bus: &qm_bus::Bus) -> anyhow::Result<u64> {
    let mut last = 0;
    for entry in read_all(bus, subjects::DECISIONS_STREAM, 1).await? {
        last = last.max(decode::<DecisionRecorded>(&entry.payload)?.body.input_seq);
    }
    Ok(last)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_entry_halts_the_policy_until_an_operator_skips_it() -> anyhow::Result<()> {
    let mut system = System::start_with_env(&[("QM_FAULT_FOLD_PANIC", "poison")])?;
    let bus = start_small_fleet(&system).await?;
    declare_demand(&bus, "good", 4).await?;
    applied_within(&system, "good", 4, WAIT).await?;

    let poison = declare_demand(&bus, "poison", 4).await?;
    declare_demand(&bus, "after", 4).await?;
    halted_metric(&system, poison).await?;
    let status = system.status()?;
    assert_eq!(status["halt"]["sequence"], poison, "qm status shows the halt: {status}");
    assert_eq!(status["halt"]["stream"], "QM_INPUT");
    assert!(status["halt"]["error"].as_str().is_some_and(|e| e.contains("poison")), "{status}");
    assert!(system.qm(&["status"])?.contains(&format!("HALTED at QM_INPUT entry {poison}")));
    // The what-if replay folds through the same guard: it halts there too, both sides,
    // instead of crashing the CLI.
    let policy = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/policy.toml");
    let what_if = system.qm(&["replay", "--policy", policy])?;
    assert_eq!(what_if.matches(&format!("HALTED at QM_INPUT entry {poison}")).count(), 2, "{what_if}");

    // Halted, not crashed: a restarted policy halts at the same entry again, and nothing
    // after the poison entry is decided meanwhile.
    system.kill_service("qm-policy");
    system.start_service("qm-policy")?;
    halted_metric(&system, poison).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    system.services.all_running()?;
    assert!(last_decided_seq(&bus).await? < poison, "decided past the halt");

    // The CLI refuses to resolve an entry the fold is not halted at.
    assert!(system.qm(&["halt", "skip", &(poison + 1).to_string()]).is_err());
    let sent = system.qm(&["halt", "skip", &poison.to_string()])?;
    assert!(sent.contains("resolved (Skip)"), "{sent}");

    // Folding resumes after the poison entry: what waited behind it is served, the
    // skipped workload is not, and a replay of the log (with its skip) matches.
    applied_within(&system, "after", 4, WAIT).await?;
    halted_metric(&system, 0).await?;
    let status = system.status()?;
    assert!(status.get("halt").is_none(), "{status}");
    assert_eq!(applied(&status, "poison"), 0);
    let replay = system.qm(&["replay"])?;
    assert!(replay.contains("MATCH"), "{replay}");
    system.services.all_running()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_failure_is_retried_and_then_folded() -> anyhow::Result<()> {
    // Fails the first time each process folds it: a retry folds it.
    let system = System::start_with_env(&[("QM_FAULT_FOLD_PANIC", "flaky:1")])?;
    let bus = start_small_fleet(&system).await?;
    let flaky = declare_demand(&bus, "flaky", 4).await?;
    halted_metric(&system, flaky).await?;
    assert_eq!(system.status()?["halt"]["sequence"], flaky);
    system.qm(&["halt", "retry", &flaky.to_string()])?;
    applied_within(&system, "flaky", 4, WAIT).await?;
    halted_metric(&system, 0).await?;
    let replay = system.qm(&["replay"])?;
    assert!(replay.contains("MATCH"), "{replay}");
    Ok(())
}
