//! `qm explain`: why a workload waits or was shrunk and what would change it, and
//! `--demand`: what a demand would get now and who would lose what. Both read the live
//! state (the input log, folded as the policy folds it) and publish nothing; the
//! reasoning is `qm_core::explain`.

use anyhow::{bail, Context};
use qm_bus::Bus;
use qm_core::explain::{explain, what_if};
use qm_core::Engine;
use qm_model::{AcceleratorThroughput, WorkloadId, WorkloadKind, WorkloadSpec};

/// Arguments of `qm explain`.
#[derive(clap::Args)]
pub struct ExplainArgs {
    /// The workload to explain (or, with --demand, to try a demand for).
    workload: String,
    /// What-if: decide a demand for this many chips now, without sending it. For a
    /// workload that exists, its spec is the default (a resize); flags below change it.
    #[arg(long, value_name = "CHIPS")]
    demand: Option<u32>,
    /// Team of a new workload in a what-if.
    #[arg(long)]
    team: Option<String>,
    /// Accepted types with relative throughput per chip, e.g. `h100=1.0,a100=0.499`.
    #[arg(long)]
    accepts: Option<String>,
    #[arg(long)]
    min: Option<u32>,
    #[arg(long)]
    max: Option<u32>,
    #[arg(long)]
    step: Option<u32>,
    /// All-or-nothing.
    #[arg(long)]
    gang: bool,
    /// Never preempted and never stranded behind lower tiers.
    #[arg(long)]
    critical: bool,
    #[arg(long)]
    grace_s: Option<u32>,
    #[arg(long)]
    urgency: Option<f64>,
    /// Print JSON instead of sentences.
    #[arg(long)]
    json: bool,
}

/// Runs `qm explain` against the live log.
pub async fn run(bus: &Bus, args: &ExplainArgs, fault: Option<qm_core::FoldFault>) -> anyhow::Result<()> {
    let (engine, halt) = crate::status::rebuild(bus, fault).await?;
    if let Some(halt) = halt {
        eprintln!("warning: the fold is halted at {} entry {}; this explains the state before it", halt.stream, halt.sequence);
    }
    print!("{}", render(&engine, args)?);
    Ok(())
}

/// The explanation or what-if as text or JSON: pure, so tests need no server.
pub fn render(engine: &Engine, args: &ExplainArgs) -> anyhow::Result<String> {
    let id = WorkloadId::from(args.workload.as_str());
    let (json, lines) = match args.demand {
        Some(chips) => {
            let spec = what_if_spec(engine, args, chips)?;
            let w = what_if(engine, &spec, chips);
            (serde_json::to_string_pretty(&w)?, w.lines)
        }
        None => {
            let Some(x) = explain(engine, &id) else {
                bail!("workload {id} is not known: it never declared demand, or it finished (see `qm why {id}`)")
            };
            (serde_json::to_string_pretty(&x)?, x.lines)
        }
    };
    Ok(if args.json { json + "\n" } else { lines.iter().map(|l| format!("{l}\n")).collect() })
}

/// The spec to try: the workload's own if it exists, with any flags given applied.
fn what_if_spec(engine: &Engine, args: &ExplainArgs, chips: u32) -> anyhow::Result<WorkloadSpec> {
    let existing = engine.state().workloads.get(&WorkloadId::from(args.workload.as_str())).map(|w| w.spec.clone());
    let mut spec = match existing {
        Some(spec) => spec,
        None => {
            let team = args.team.as_deref().context("a new workload needs --team (and usually --accepts)")?;
            let mut spec = WorkloadSpec::elastic(args.workload.as_str(), team, Vec::new(), chips.max(1));
            spec.kind = WorkloadKind::Training;
            spec.chips_min = chips.max(1);
            spec.drain_grace_s = 60;
            spec.accepts = parse_accepts("h100=1.0")?;
            spec
        }
    };
    if let Some(team) = &args.team {
        if team != spec.team.as_str() {
            bail!("workload {} belongs to team {}, not {team}", spec.id, spec.team);
        }
    }
    if let Some(accepts) = &args.accepts {
        spec.accepts = parse_accepts(accepts)?;
    }
    if let Some(min) = args.min {
        spec.chips_min = min;
    }
    spec.chips_max = args.max.unwrap_or(spec.chips_max).max(chips).max(spec.chips_min);
    spec.chips_step = args.step.unwrap_or(spec.chips_step).max(1);
    spec.gang |= args.gang;
    if args.critical {
        spec.critical = true;
        spec.preemptible = false;
        spec.risk_tolerance = 0.0;
    }
    spec.drain_grace_s = args.grace_s.unwrap_or(spec.drain_grace_s);
    spec.urgency = args.urgency.unwrap_or(spec.urgency);
    Ok(spec)
}

fn parse_accepts(text: &str) -> anyhow::Result<Vec<AcceleratorThroughput>> {
    let mut out = Vec::new();
    for pair in text.split(',').filter(|p| !p.is_empty()) {
        let (accelerator, throughput) = pair.split_once('=').context("--accepts takes type=throughput pairs")?;
        let relative_throughput: f64 = throughput.trim().parse().with_context(|| format!("bad throughput in {pair}"))?;
        out.push(AcceleratorThroughput { accelerator: accelerator.trim().into(), relative_throughput });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use qm_core::fixtures::{pool, spec, Given};
    use qm_model::PolicyConfig;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ExplainArgs,
    }

    fn args(argv: &[&str]) -> ExplainArgs {
        Cli::parse_from(std::iter::once("explain").chain(argv.iter().copied())).args
    }

    fn fleet() -> Given {
        let mut g = Given::new(PolicyConfig::default())
            .with_pools(&[pool("use-h100", "us-east", "h100", 8), pool("euw-a100", "eu-west", "a100", 16)])
            .with_teams(&[("research", 8.0)]);
        g.granted(&spec("train", "research", &[("h100", 1.0)]), 16);
        g
    }

    #[test]
    fn explains_a_pending_workload_in_words_and_json() {
        let g = fleet();
        let text = render(&g.engine, &args(&["train"])).expect("render");
        assert!(text.starts_with("train (team research) wants 16 chips and holds 8"), "{text}");
        assert!(text.contains("use-h100 (us-east h100, 1.000x): 0 of 8 healthy chips free now"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&render(&g.engine, &args(&["train", "--json"])).expect("json")).expect("parses");
        assert_eq!(json["chips_wanted"], 16);
        assert_eq!(json["chips_held"], 8);
        assert_eq!(json["pools"][0]["pool"], "use-h100");
    }

    #[test]
    fn what_if_for_a_new_workload_uses_the_flags_and_publishes_nothing() {
        let g = fleet();
        let before = g.engine.clone();
        let text =
            render(&g.engine, &args(&["eval", "--demand", "16", "--team", "research", "--accepts", "h100=1.0,a100=0.499"]))
                .expect("render");
        assert_eq!(g.engine, before);
        assert!(text.starts_with("If eval (team research) asked for 16 chips now, it would get 16 in euw-a100 at once."), "{text}");
        assert!(text.contains("Nobody else would lose chips."), "{text}");
    }

    #[test]
    fn what_if_resizes_an_existing_workload_and_refuses_unknown_ones() {
        let g = fleet();
        let text = render(&g.engine, &args(&["train", "--demand", "8"])).expect("render");
        assert!(text.starts_with("If train (team research) asked for 8 chips now, it would get 8 in use-h100"), "{text}");
        assert!(render(&g.engine, &args(&["ghost"])).is_err());
        assert!(render(&g.engine, &args(&["ghost", "--demand", "4"])).is_err(), "a new workload needs --team");
        assert!(render(&g.engine, &args(&["train", "--demand", "4", "--team", "other"])).is_err());
    }
}
