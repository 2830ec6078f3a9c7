//! `qm`: the operator and workload command line. Runs the local system (`qm up`),
//! declares demand and fleet changes through ingest, and rebuilds state from the log.

mod audit;
mod demo;
mod explain;
mod fleet;
mod init;
mod policy_file;
mod send;
mod sim;
mod status;
mod supervise;
mod tamper;
mod top;
mod up;

use anyhow::Context;
use clap::{Parser, Subcommand};
use qm_bus::{connect, Bus};
use qm_runtime::NatsArgs;
use qm_model::{AcceleratorThroughput, InputEvent, PolicyConfig, WorkloadKind, WorkloadSpec};
use std::path::PathBuf;

/// Quartermaster: accelerators allocated by policy applied continuously to measured demand.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    nats: NatsArgs,
    /// Fault injection (tests, chaos), as given to qm-policy: folding entries about this
    /// workload panics, so `status`, `halt` and `replay` see the policy's halts.
    #[arg(long, env = "QM_FAULT_FOLD_PANIC", hide = true, global = true)]
    fault_fold_panic: Option<qm_core::FoldFault>,
    /// How long to keep retrying (same idempotency key, backoff up to 2 s) while ingest
    /// does not answer; 0 = try once.
    #[arg(long, global = true, env = "QM_RETRY_S", default_value_t = 15)]
    retry_s: u64,
    #[command(subcommand)]
    command: Command,
}

/// What `qm halt` does with the halted entry.
#[derive(Clone, Copy, clap::ValueEnum)]
enum HaltAction {
    /// Leave the entry out of the fold; folding resumes after it.
    Skip,
    /// Fold the entry again (after deploying a fix).
    Retry,
}

#[derive(Subcommand)]
enum Command {
    /// Start nats-server, ingest, policy and actuator with a demo fleet and demand; Ctrl-C stops all.
    Up(up::UpArgs),
    /// Simulate the policy core and baselines on scenarios or a CSV trace, in virtual time.
    Sim(sim::SimArgs),
    /// Declare how many chips a workload wants (and its shape).
    Demand(DemandArgs),
    /// Report measured use of a workload's grant.
    Usage {
        workload: String,
        #[arg(long)]
        team: String,
        /// Chips busy on average over the window.
        #[arg(long)]
        busy: f64,
        #[arg(long, default_value_t = 10)]
        window_s: u32,
    },
    /// Tell the policy a workload finished.
    Finish {
        workload: String,
        #[arg(long)]
        team: String,
    },
    /// Declare the pools and teams of a fleet file (TOML).
    Fleet {
        file: PathBuf,
    },
    /// Publish a policy file (TOML; it takes effect for every later decision), or `check` one (errors with line and column) or `diff` two over the log.
    Policy(policy_file::PolicyArgs),
    /// Pools, teams and workloads with granted chips, rebuilt from the log.
    Status {
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Resolve a halt at a poison entry (shown by `qm status`): skip it, or fold it again
    /// after a fix. Recorded in the log, so every instance and every replay does the same.
    Halt {
        action: HaltAction,
        /// The halted entry's sequence in QM_INPUT.
        sequence: u64,
        /// Send even if this CLI's own fold of the log is not halted there.
        #[arg(long)]
        force: bool,
    },
    /// Re-fold the log and check every recorded decision byte for byte, and that no entry is unsigned or missing; with --policy, a what-if.
    Replay(audit::ReplayArgs),
    /// Check the logs' invariants (no decision recorded or applied twice, none unapplied, no over-grant) and for tampering.
    Audit {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        trust: audit::TrustArgs,
    },
    /// The chain of decisions (with reasons) and actuation reports for one workload.
    Why {
        workload: String,
        #[arg(long)]
        json: bool,
    },
    /// Recorded decisions, filtered by team, pool, workload and time.
    History(audit::HistoryArgs),
    /// Why a workload waits or was shrunk, and what would change it; --demand N: what a demand would get now (publishes nothing).
    Explain(explain::ExplainArgs),
    /// A live terminal view: chips by type and region, teams against guarantee and fair share, pending demand, decisions; drill into a team, pool or workload.
    Top(top::TopArgs),
    /// Shadow mode: what the advisory decisions would have changed against standing reservations.
    ShadowReport {
        /// Today's reservations: `[[reservation]]` tables with team, pool, chips.
        #[arg(long)]
        reservations: PathBuf,
        #[arg(long)]
        json: bool,
    },
    #[command(flatten)]
    Security(init::SecurityCommand),
}

#[derive(clap::Args)]
struct DemandArgs {
    workload: String,
    #[arg(long)]
    team: String,
    /// Chips wanted now (0 withdraws the demand).
    #[arg(long)]
    chips: u32,
    /// Accepted types with relative throughput per chip, e.g. `h100=1.0,a100=0.5`.
    #[arg(long, default_value = "h100=1.0")]
    accepts: String,
    #[arg(long)]
    min: Option<u32>,
    #[arg(long)]
    max: Option<u32>,
    #[arg(long, default_value_t = 1)]
    step: u32,
    /// All-or-nothing.
    #[arg(long)]
    gang: bool,
    /// Never preempted and never stranded behind lower tiers.
    #[arg(long)]
    critical: bool,
    #[arg(long, default_value_t = 60)]
    grace_s: u32,
    #[arg(long, default_value_t = 0.0)]
    urgency: f64,
    /// Idempotency key: repeats with the same key are stored once.
    #[arg(long)]
    key: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    qm_runtime::init_logging("warn");
    exit_quietly_on_closed_stdout();
    let cli = Cli::parse();
    let settings = cli.nats.connect_settings("qm-cli");
    let bus = || async { Ok::<Bus, anyhow::Error>(connect(&settings).await?) };
    let retry = send::Retry { within: std::time::Duration::from_secs(cli.retry_s), ..send::Retry::default() };
    match cli.command {
        Command::Up(args) => up::run(args, &cli.nats).await,
        Command::Sim(args) => sim::run(args),
        Command::Security(command) => init::run(command, &cli.nats).await,
        Command::Demand(args) => {
            let client = bus().await?;
            let event = demand_event(&args)?;
            let (id, seq) = send::send_accepted(&client, send::subject_for(&event), &event, args.key.as_deref(), &retry).await?;
            println!("accepted {id} at input sequence {seq}");
            Ok(())
        }
        Command::Usage { workload, team, busy, window_s } => {
            let client = bus().await?;
            let event = InputEvent::UsageReported { workload: workload.as_str().into(), chips_busy: busy, window_s };
            let (id, seq) = send::send_accepted(&client, send::subject_for_team("usage", &team, &workload), &event, None, &retry).await?;
            println!("accepted {id} at input sequence {seq}");
            Ok(())
        }
        Command::Finish { workload, team } => {
            let client = bus().await?;
            let event = InputEvent::WorkloadFinished { workload: workload.as_str().into() };
            let (id, seq) = send::send_accepted(&client, send::subject_for_team("finish", &team, &workload), &event, None, &retry).await?;
            println!("accepted {id} at input sequence {seq}");
            Ok(())
        }
        Command::Fleet { file } => {
            let client = bus().await?;
            let fleet = fleet::FleetFile::load(&file)?;
            let declared = up::declare_fleet(&client, &fleet, &retry).await?;
            println!("declared {declared} pools and teams");
            Ok(())
        }
        Command::Policy(args) => {
            if !policy_file::run(args, &settings, &retry, cli.fault_fold_panic.clone()).await? {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Status { json } => {
            let client = bus().await?;
            let (engine, halt) = status::rebuild(&client, cli.fault_fold_panic).await?;
            let status = status::of(&engine, halt);
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print!("{}", status::render(&status, engine.last_seq()));
            }
            Ok(())
        }
        Command::Halt { action, sequence, force } => {
            let client = bus().await?;
            let (_, halt) = status::rebuild(&client, cli.fault_fold_panic).await?;
            let halted_at = halt.as_ref().map(|h| h.sequence);
            if halted_at != Some(sequence) && !force {
                anyhow::bail!(
                    "the fold of the log is not halted at entry {sequence} ({}); nothing sent (--force sends anyway)",
                    halted_at.map_or("it is not halted".to_owned(), |at| format!("it is halted at {at}"))
                );
            }
            let resolution = match action {
                HaltAction::Skip => qm_model::HaltResolution::Skip,
                HaltAction::Retry => qm_model::HaltResolution::Retry,
            };
            let event = InputEvent::HaltResolved { sequence, resolution };
            let (id, seq) = send::send_accepted(&client, send::subject_for(&event), &event, None, &retry).await?;
            println!("halt at entry {sequence} resolved ({resolution:?}) as {id} at input sequence {seq}");
            Ok(())
        }
        Command::Replay(args) => {
            let client = bus().await?;
            if !audit::replay(&client, &args, cli.fault_fold_panic).await? {
                std::process::exit(2);
            }
            Ok(())
        }
        Command::Audit { json, trust } => {
            if !audit::check_invariants(&bus().await?, json, &trust).await? {
                std::process::exit(2);
            }
            Ok(())
        }
        Command::Why { workload, json } => audit::why(&bus().await?, &workload, json).await,
        Command::History(args) => audit::history(&bus().await?, &args).await,
        Command::Explain(args) => explain::run(&bus().await?, &args, cli.fault_fold_panic).await,
        Command::Top(args) => top::run(&bus().await?, &args, cli.fault_fold_panic).await,
        Command::ShadowReport { reservations, json } => {
            audit::shadow_report(&bus().await?, &reservations, json).await
        }
    }
}

/// `qm history | head` closes stdout early; `println!` then panics. Treat that as the
/// reader being done, as other command-line tools do, instead of printing a panic.
fn exit_quietly_on_closed_stdout() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.to_string().contains("failed printing to stdout") {
            std::process::exit(0);
        }
        default_hook(info);
    }));
}

/// Parses and checks a policy file (see [`policy_file::check`]).
pub fn load_policy(path: &std::path::Path) -> anyhow::Result<PolicyConfig> {
    policy_file::load(path)
}

fn demand_event(args: &DemandArgs) -> anyhow::Result<InputEvent> {
    let mut accepts = Vec::new();
    for pair in args.accepts.split(',').filter(|p| !p.is_empty()) {
        let (accelerator, throughput) = pair.split_once('=').context("--accepts takes type=throughput pairs")?;
        let relative_throughput: f64 = throughput.parse().with_context(|| format!("bad throughput in {pair}"))?;
        accepts.push(AcceleratorThroughput { accelerator: accelerator.trim().into(), relative_throughput });
    }
    let chips_min = args.min.unwrap_or(args.chips.max(1));
    let spec = WorkloadSpec {
        id: args.workload.as_str().into(),
        team: args.team.as_str().into(),
        kind: WorkloadKind::Training,
        accepts,
        chips_min,
        chips_max: args.max.unwrap_or(args.chips.max(chips_min)),
        chips_step: args.step,
        gang: args.gang,
        preemptible: !args.critical,
        critical: args.critical,
        drain_grace_s: args.grace_s,
        urgency: args.urgency,
        deadline_ms: None,
        risk_tolerance: if args.critical { 0.0 } else { 0.5 },
    };
    Ok(InputEvent::DemandDeclared { spec, chips_desired: args.chips })
}
