//! How long a grant takes to become effective in Slurm: from `apply` to slurmctld
//! enforcing the new QOS limit (sacctmgr writes slurmdbd, slurmdbd pushes to slurmctld,
//! `scontrol show assoc_mgr` shows it). Runs against the Slurm that `SLURM_CONF` names
//! (scripts/slurm/start.sh) and an existing account, and prints p50/p90/p99.
//!
//! `cargo run --release -p qm-slurm --example grant_latency -- ACCOUNT [DECISIONS]`

use qm_backend::{Backend, Effect, Verb};
use qm_slurm::{PoolTarget, SlurmBackend, SlurmConfig};
use std::time::Instant;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let account = args.next().ok_or("usage: grant_latency ACCOUNT [DECISIONS]")?;
    let decisions: usize = args.next().map_or(Ok(200), |n| n.parse())?;
    let mut config = SlurmConfig::default();
    for t in ["h100", "a100"] {
        config.pools.insert(format!("us/{t}"), PoolTarget { partition: t.into(), gpu_type: t.into() });
    }
    config.check()?;
    let mut backend = SlurmBackend::new(config);
    let workloads: Vec<String> = (0..8).map(|i| format!("bench{i}")).collect();
    let mut grant_ms = Vec::with_capacity(decisions);
    let mut noop_ms = Vec::with_capacity(decisions);
    for i in 0..decisions {
        let workload = &workloads[i % workloads.len()];
        let pool = if i % 3 == 0 { "us/a100" } else { "us/h100" };
        // A new value each time for this workload and pool, so every decision changes Slurm.
        let chips = u32::try_from(1 + (i / workloads.len()) % 4)?;
        let effect = Effect {
            decision_id: uuid::Uuid::now_v7(),
            workload: workload.as_str().into(),
            team: account.as_str().into(),
            pool: pool.into(),
            chips,
            verb: Verb::Grant,
            grace_s: 0,
            deadline_ms: 0,
            reason: "bench".into(),
        };
        let start = Instant::now();
        backend.apply(&effect).await?;
        grant_ms.push(start.elapsed().as_secs_f64() * 1e3);
        // The same decision again (an actuator restart): reads only.
        let start = Instant::now();
        backend.apply(&effect).await?;
        noop_ms.push(start.elapsed().as_secs_f64() * 1e3);
    }
    // The first decision per workload creates its QOS: reported apart.
    let first: Vec<f64> = grant_ms.drain(..workloads.len().min(grant_ms.len())).collect();
    report("grant effective (limit changed)", &mut grant_ms);
    report("first grant of a workload (creates QOS)", &mut first.clone());
    report("re-applied grant (no change)", &mut noop_ms);
    Ok(())
}

fn report(what: &str, samples: &mut [f64]) {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    if samples.is_empty() {
        return;
    }
    println!("{what}: n={} p50={:.1} ms p90={:.1} ms p99={:.1} ms max={:.1} ms", samples.len(), at(0.5), at(0.9), at(0.99), at(1.0));
}
