//! `qm-policy`: parses flags, sets up logging, and runs [`qm_policy::run`].

use clap::Parser;
use qm_bus::lease::LeaseSettings;
use qm_bus::snapshot::SnapshotSettings;
use qm_runtime::CommonArgs;
use std::time::Duration;

/// Quartermaster policy service.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// Shadow mode: decisions are recorded as advisory and never applied.
    #[arg(long, env = "QM_SHADOW")]
    shadow: bool,
    /// Writer lease time to live (ms). Instances of one fleet must agree; a standby takes
    /// over within about this long after the writer dies. Renewed every third of it.
    #[arg(long, env = "QM_LEASE_TTL_MS", default_value_t = 3000)]
    lease_ttl_ms: u64,
    /// Store a snapshot of the engine every this many folded log entries (0 = never).
    #[arg(long, env = "QM_SNAPSHOT_EVERY", default_value_t = 10_000)]
    snapshot_every: u64,
    /// Neither load nor store snapshots: always rebuild from the full log.
    #[arg(long, env = "QM_NO_SNAPSHOTS")]
    no_snapshots: bool,
    /// This instance's name in the writer lease (default: policy-<uuid>).
    #[arg(long, env = "QM_INSTANCE")]
    instance: Option<String>,
    /// Fault injection (tests, chaos): folding entries about this workload panics
    /// (`WORKLOAD` or `WORKLOAD:TIMES`), making them poison entries.
    #[arg(long, env = "QM_FAULT_FOLD_PANIC", hide = true)]
    fault_fold_panic: Option<qm_core::FoldFault>,
    /// Read the fleet gauges on /metrics at most every this many ms (0 = not at all):
    /// each read walks the whole state.
    #[arg(long, env = "QM_GAUGES_EVERY_MS", default_value_t = 1000)]
    gauges_every_ms: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    qm_runtime::init_logging("info");
    let args = Args::parse();
    // No policy flag on purpose: the policy in force is part of the log (`qm policy FILE`
    // publishes it through ingest), so a replay of the log reproduces it exactly.
    let defaults = qm_policy::PolicyServiceConfig::default();
    let replicas = args.common.stream_replicas;
    let config = qm_policy::PolicyServiceConfig {
        service: args.common.service_settings("qm-policy"),
        shadow: args.shadow,
        lease: LeaseSettings { ttl: Duration::from_millis(args.lease_ttl_ms.max(100)), replicas, ..Default::default() },
        instance: args.instance.unwrap_or(defaults.instance.clone()),
        snapshots: if args.no_snapshots { None } else { defaults.snapshots.clone().map(|s| SnapshotSettings { replicas, ..s }) },
        snapshot_every: args.snapshot_every,
        fold_fault: args.fault_fold_panic,
        gauges_every: Duration::from_millis(args.gauges_every_ms),
        ..defaults
    };
    qm_policy::run(config, qm_runtime::shutdown_signal()).await
}
