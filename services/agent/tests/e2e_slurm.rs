//! Quartermaster driving a real Slurm end to end: nats-server and the three services
//! (actuator with `QM_BACKEND=slurm`) started by the test, the Slurm of
//! scripts/slurm/start.sh, and this crate's collector measuring usage from squeue.
//! Demand -> grant -> the workload's jobs run on that many h100s; jobs end -> the
//! collector reports the grant idle -> the policy gives it back -> Slurm's limit drops.

#[path = "../../../shared/slurm/tests/common/mod.rs"]
mod slurm_fixture;

use qm_agent::AgentConfig;
use qm_bus::clock::SystemClock;
use qm_model::{InputEvent, PolicyConfig};
use qm_slurm::{PoolTarget, SlurmConfig};
use qm_testkit::ingest::{demand, expect_accepted, h100_pool, send_until_answered, team};
use qm_testkit::services::Services;
use qm_testkit::NatsServer;
use slurm_fixture::{eventually, state, unique};
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(30);

/// The h100 limit slurmctld enforces on the QOS, if any.
fn enforced_h100(qos: &str) -> Option<u64> {
    let out = std::process::Command::new("scontrol").args(["show", "assoc_mgr", "flags=qos", &format!("qos={qos}")]).output().ok()?;
    qm_slurm::tres::parse_enforced(&String::from_utf8_lossy(&out.stdout)).get("gres/gpu:h100").copied()
}

/// Whether ingest stored a `UsageReported` of `chips_busy` for the workload.
fn usage_seen(bus: &qm_bus::Bus, workload: &str, chips_busy: f64) -> bool {
    let entries = tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current().block_on(qm_bus::read::read_all(bus, qm_bus::subjects::INPUT_STREAM, 1))
    });
    entries.unwrap_or_default().iter().filter_map(|e| qm_model::decode::<InputEvent>(&e.payload).ok()).any(|e| {
        matches!(&e.body, InputEvent::UsageReported { workload: w, chips_busy: c, .. } if w.as_str() == workload && (*c - chips_busy).abs() < 1e-9)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demand_is_granted_in_slurm_and_idle_grants_are_given_back() -> anyhow::Result<()> {
    let Some(slurm) = slurm_fixture::slurm() else { return Ok(()) };
    let _turn = slurm.lock().await;
    let (team_id, workload) = (unique("e2e"), unique("w"));
    let qos = format!("qm-{workload}");
    slurm.account(&team_id);
    let mut slurm_config = SlurmConfig::default();
    slurm_config.pools.insert("use-h100".into(), PoolTarget { partition: "h100".into(), gpu_type: "h100".into() });
    let config_path = slurm.scratch.path().join(format!("{team_id}.toml"));
    std::fs::write(&config_path, "[pools.use-h100]\npartition = \"h100\"\ngpu_type = \"h100\"\n")?;

    let nats = NatsServer::start()?;
    let config_arg = config_path.display().to_string();
    let _services = Services::start_all(&nats.url(), &[("QM_BACKEND", "slurm"), ("QM_SLURM_CONFIG", &config_arg)])?;
    let bus = qm_bus::connect(&qm_bus::ConnectSettings { url: nats.url(), ..Default::default() }).await?;
    let policy = PolicyConfig { version: "e2e".into(), idle_window_s: 3, grant_lifetime_min_s: 0, ..Default::default() };
    expect_accepted(send_until_answered(&bus, "qm.in.policy", &InputEvent::PolicyPublished(policy), None, WITHIN).await?)?;
    expect_accepted(send_until_answered(&bus, &format!("qm.in.team.{team_id}"), &InputEvent::TeamDeclared(team(&team_id, 4.0)), None, WITHIN).await?)?;
    expect_accepted(send_until_answered(&bus, "qm.in.pool.use-h100", &InputEvent::PoolDeclared(h100_pool("use-h100", 4)), None, WITHIN).await?)?;

    // Demand -> grant: Slurm enforces 2 h100 for the workload, and runs that many.
    let subject = format!("qm.in.demand.{team_id}.{workload}");
    expect_accepted(send_until_answered(&bus, &subject, &demand(&team_id, &workload, 2), None, WITHIN).await?)?;
    assert!(eventually(WITHIN, || enforced_h100(&qos) == Some(2)).await, "grant of 2 in Slurm, saw {:?}", enforced_h100(&qos));
    let jobs: Vec<u64> = (0..3).map(|_| slurm.submit(&team_id, &qos, "h100", 1)).collect();
    assert!(eventually(WITHIN, || jobs[..2].iter().all(|&j| state(j) == "RUNNING")).await, "two jobs run on the grant");
    assert_eq!(state(jobs[2]), "PENDING", "the third waits on the limit");

    // The collector measures from Slurm; the workload reports nothing itself.
    let checkpoint = slurm.scratch.path().join(format!("{team_id}-usage.toml"));
    let agent = AgentConfig { slurm: slurm_config, window_s: 1, sample_every: Duration::from_millis(250), checkpoint, ..Default::default() };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let collector = tokio::spawn(qm_agent::run(agent, bus.clone(), SystemClock, async {
        let _ = stopped.await;
    }));

    let measured = |busy: f64| {
        let (bus, workload) = (bus.clone(), workload.clone());
        move || usage_seen(&bus, &workload, busy)
    };
    assert!(eventually(WITHIN, measured(2.0)).await, "the collector reports the 2 running GPUs");

    // The jobs end: the grant is idle, and after the idle window it is given back in Slurm.
    slurm_fixture::cancel_qos(&[&qos]);
    assert!(
        eventually(Duration::from_secs(60), || enforced_h100(&qos).is_some_and(|n| n < 2)).await,
        "idle grant given back in Slurm, saw {:?}",
        enforced_h100(&qos)
    );
    assert!(usage_seen(&bus, &workload, 0.0), "the give-back followed a measured idle window");
    let _ = stop.send(());
    collector.await??;
    Ok(())
}
