//! The exec backend: one command per decision with the details in its environment;
//! exit status decides applied or failed; a restarted actuator runs nothing twice.

mod common;

use common::*;
use qm_bus::read::read_all;
use qm_bus::subjects;
use qm_model::{decode, ActuationEvent};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_one_command_per_decision_and_reports_failures() -> anyhow::Result<()> {
    let journal = std::env::temp_dir().join(format!("qm-exec-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&journal);
    // Leaked on purpose: the command string must be 'static for the test's env list.
    let command: &'static str = Box::leak(
        format!(
            "echo \"$QM_ACTION $QM_WORKLOAD $QM_POOL $QM_CHIPS $QM_DECISION_ID\" >> {}; \
             if [ \"$QM_WORKLOAD\" = broken ]; then echo 'quota exceeded' >&2; exit 3; fi",
            journal.display()
        )
        .into_boxed_str(),
    );
    let mut system = System::start_with_env(&[("QM_BACKEND", "exec"), ("QM_EXEC_COMMAND", command)])?;
    let client = start_small_fleet(&system).await?;
    for id in ["good", "broken"] {
        declare_demand(&client, id, 4).await?;
    }
    let js = system.bus().await?;
    let events = eventually(Duration::from_secs(20), || {
        let entries = futures::executor::block_on(read_all(&js, subjects::ACTUATION_STREAM, 1))?;
        let events: Vec<ActuationEvent> = entries.iter().filter_map(|e| decode::<ActuationEvent>(&e.payload).ok()).map(|e| e.body).collect();
        Ok((events.len() >= 2).then_some(events))
    })
    .await?;
    assert!(events.iter().any(|e| matches!(e, ActuationEvent::GrantApplied { workload, chips: 4, .. } if workload.as_str() == "good")), "{events:?}");
    assert!(
        events.iter().any(|e| matches!(e, ActuationEvent::ActuationFailed { workload, error, .. }
            if workload.as_str() == "broken" && error.contains("exit status: 3") && error.contains("quota exceeded"))),
        "{events:?}"
    );
    let lines = std::fs::read_to_string(&journal)?;
    assert!(lines.lines().any(|l| l.starts_with("grant good use-h100 4 ")), "{lines}");

    // A restarted actuator that lost its consumer position re-reads every decision, but
    // runs no command again: it knows from QM_ACTUATION which decisions it reported.
    system.kill_service("qm-actuator");
    // Only the admin may delete a consumer on a secured server; the actuator recreates its own.
    qm_bus::streams::delete_consumer(&system.bus_as("admin").await?, subjects::DECISIONS_STREAM, "qm-actuator").await?;
    system.start_service("qm-actuator")?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = std::fs::read_to_string(&journal)?;
    assert_eq!(after.lines().count(), lines.lines().count(), "a command ran twice:\n{after}");
    let _ = std::fs::remove_file(&journal);
    Ok(())
}
