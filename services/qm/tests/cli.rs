//! The `qm` CLI against a real system: it rides out an ingest that is not up yet, and
//! `qm top --once` draws the live fleet. Needs `cargo build --workspace --bins` first.

mod common;

use common::*;
use qm_bus::read::{decode_log, read_all};
use qm_bus::subjects;
use qm_model::{InputEvent, LogEvent};
use std::process::Stdio;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qm_retries_with_its_key_until_ingest_starts_and_stores_the_input_once() -> anyhow::Result<()> {
    let mut system = System::start_bare()?;
    let policy = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/policy.toml");

    // Without retries, nobody answering is an error at once.
    let started = Instant::now();
    let once = system.services.qm_command(&["--retry-s", "0", "policy", policy])?.output()?;
    assert!(!once.status.success(), "no ingest, no retry: must fail");
    assert!(String::from_utf8_lossy(&once.stderr).contains("no answer from ingest"), "{}", String::from_utf8_lossy(&once.stderr));
    assert!(started.elapsed() < Duration::from_secs(5));

    let child = system.services.qm_command(&["--retry-s", "60", "policy", policy])?.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    system.start_service("qm-ingest")?;
    let output = tokio::task::spawn_blocking(move || child.wait_with_output()).await??;
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("retrying for up to 60s (idempotency key qm-cli-"), "{stderr}");
    assert!(stdout.starts_with("policy published as "), "{stdout}");

    let bus = system.bus().await?;
    let published = read_all(&bus, subjects::INPUT_STREAM, 1)
        .await?
        .iter()
        .filter_map(|e| decode_log(e).ok())
        .filter(|r| matches!(r.event, LogEvent::Input(InputEvent::PolicyPublished(_))))
        .count();
    assert_eq!(published, 1, "every try carried one key: stored once");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qm_top_once_draws_the_live_fleet_teams_and_decisions() -> anyhow::Result<()> {
    let system = System::start()?;
    let client = start_small_fleet(&system).await?;
    declare_demand(&client, "train-1", 24).await?;
    applied_within(&system, "train-1", 16, Duration::from_secs(20)).await?;

    let screen = system.qm(&["top", "--once", "--width", "140", "--height", "30"])?;
    let line = |needle: &str| screen.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("no {needle:?} in\n{screen}")).to_owned();
    let h100: Vec<String> = line("h100 (1)").split_whitespace().map(str::to_owned).collect();
    assert!(h100.windows(4).any(|w| w == ["all", "16", "16", "16"]), "healthy, granted, applied: {h100:?}");
    assert!(line(" ml ").contains("16.0"), "ml holds 16: {screen}");
    assert!(line("pending: 1 workloads, 8 chips").contains("pending"), "{screen}");
    assert!(line("grant: hold 16 chips in use-h100").contains("train-1"), "{screen}");
    Ok(())
}
