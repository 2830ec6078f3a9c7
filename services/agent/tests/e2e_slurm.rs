//! Quartermaster driving a real Slurm end to end: nats-server and the three services
//! (actuator with `QM_BACKEND=slurm`) started by the test, the Slurm of
//! scripts/slurm/start.sh, and this crate's collector measuring usage from squeue.
//! Demand -> grant -> the workload's jobs run on that many h100s; jobs end -> the
//! collector reports the grant idle -> the policy gives it back -> Slurm's limit drops.
//! Auth is on: the services, the collector and the test's operator connect as themselves.

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

/// Pool `use-h100` on Slurm partition h100, as the actuator's backend config says it.
fn slurm_config() -> SlurmConfig {
    let mut config = SlurmConfig::default();
    config.pools.insert("use-h100".into(), PoolTarget { partition: "h100".into(), gpu_type: "h100".into() });
    config
}

/// A provisioned nats-server and the three services with the Slurm backend (config file
/// `<name>.toml` in the Slurm scratch dir, as [`slurm_config`]), and the test's
/// connection as the operator: under `policy`, `teams` (id, guarantee) and a 4-chip
/// H100 pool declared.
async fn system_on_slurm(
    slurm: &slurm_fixture::Slurm,
    name: &str,
    policy: PolicyConfig,
    teams: &[(&str, f64)],
) -> anyhow::Result<(NatsServer, Services, qm_bus::Bus)> {
    let config_path = slurm.scratch.path().join(format!("{name}.toml"));
    std::fs::write(&config_path, "[pools.use-h100]\npartition = \"h100\"\ngpu_type = \"h100\"\n")?;
    let nats = NatsServer::start_provisioned(&[])?;
    let config_arg = config_path.display().to_string();
    let services = Services::start_all_on(&nats, &[("QM_BACKEND", "slurm"), ("QM_SLURM_CONFIG", &config_arg)])?;
    let bus = qm_bus::connect(&nats.connect_settings("operator")?).await?;
    send(&bus, "qm.in.policy", &InputEvent::PolicyPublished(policy)).await?;
    for (id, guarantee) in teams {
        send(&bus, &format!("qm.in.team.{id}"), &InputEvent::TeamDeclared(team(id, *guarantee))).await?;
    }
    send(&bus, "qm.in.pool.use-h100", &InputEvent::PoolDeclared(h100_pool("use-h100", 4))).await?;
    Ok((nats, services, bus))
}

/// Sends `event` until ingest answers, and requires it accepted.
async fn send(bus: &qm_bus::Bus, subject: &str, event: &InputEvent) -> anyhow::Result<()> {
    expect_accepted(send_until_answered(bus, subject, event, None, WITHIN).await?)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demand_is_granted_in_slurm_and_idle_grants_are_given_back() -> anyhow::Result<()> {
    let Some(slurm) = slurm_fixture::slurm() else { return Ok(()) };
    let _turn = slurm.lock().await;
    let (team_id, workload) = (unique("e2e"), unique("w"));
    let qos = format!("qm-{workload}");
    let _cleanup = slurm_fixture::CancelOnDrop(vec![qos.clone()]);
    slurm.account(&team_id);
    let policy = PolicyConfig { version: "e2e".into(), idle_window_s: 3, grant_lifetime_min_s: 0, ..Default::default() };
    let (nats, _services, bus) = system_on_slurm(slurm, &team_id, policy, &[(&team_id, 4.0)]).await?;

    // Demand -> grant: Slurm enforces 2 h100 for the workload, and runs that many.
    send(&bus, &format!("qm.in.demand.{team_id}.{workload}"), &demand(&team_id, &workload, 2)).await?;
    assert!(eventually(WITHIN, || enforced_h100(&qos) == Some(2)).await, "grant of 2 in Slurm, saw {:?}", enforced_h100(&qos));
    let jobs: Vec<u64> = (0..3).map(|_| slurm.submit(&team_id, &qos, "h100", 1)).collect();
    assert!(eventually(WITHIN, || jobs[..2].iter().all(|&j| state(j) == "RUNNING")).await, "two jobs run on the grant");
    assert_eq!(state(jobs[2]), "PENDING", "the third waits on the limit");

    // The collector measures from Slurm; the workload reports nothing itself.
    let checkpoint = slurm.scratch.path().join(format!("{team_id}-usage.toml"));
    let agent = AgentConfig { slurm: slurm_config(), window_s: 1, sample_every: Duration::from_millis(250), checkpoint, ..Default::default() };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // The collector as itself: it may report usage for any team, and nothing else.
    let agent_bus = qm_bus::connect(&nats.connect_settings("agent")?).await?;
    let collector = tokio::spawn(qm_agent::run(agent, agent_bus, SystemClock, async {
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

/// Given a borrower running 4 h100 jobs on capacity another team is guaranteed, when the
/// owner asks for 2, then Slurm's limit for the borrower drops to 2, its 2 newest jobs
/// get SIGTERM and keep running through the grace, and after the grace they are requeued
/// (pending on the limit) while its 2 oldest keep running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_reclaim_signals_the_borrower_then_requeues_after_the_grace() -> anyhow::Result<()> {
    let Some(slurm) = slurm_fixture::slurm() else { return Ok(()) };
    let _turn = slurm.lock().await;
    let (owner, borrower, workload) = (unique("own"), unique("bor"), unique("b"));
    let qos = format!("qm-{workload}");
    let owner_workload = unique("o");
    let owner_qos = format!("qm-{owner_workload}");
    let _cleanup = slurm_fixture::CancelOnDrop(vec![qos.clone(), owner_qos.clone()]);
    slurm.account(&owner);
    slurm.account(&borrower);
    // Owner reclaim acts once the owner is short by more than preemption_cost / lifetime
    // chips (and never with a lifetime of 0): 1 / 1 s here, so it acts after 1 s.
    let policy = PolicyConfig { version: "e2e-reclaim".into(), grant_lifetime_min_s: 1, preemption_cost: 1.0, ..Default::default() };
    let (_nats, _services, bus) = system_on_slurm(slurm, &owner, policy, &[(&owner, 4.0), (&borrower, 0.0)]).await?;

    send(&bus, &format!("qm.in.demand.{borrower}.{workload}"), &demand(&borrower, &workload, 4)).await?;
    assert!(eventually(WITHIN, || enforced_h100(&qos) == Some(4)).await, "borrower granted 4, saw {:?}", enforced_h100(&qos));
    let mut jobs = Vec::new();
    for _ in 0..4 {
        let job = slurm.submit(&borrower, &qos, "h100", 1);
        assert!(eventually(WITHIN, || state(job) == "RUNNING").await, "borrower job {job} runs");
        jobs.push(job);
        // Start times have one-second resolution: keep the jobs' ages apart.
        tokio::time::sleep(Duration::from_millis(1_100)).await;
    }

    send(&bus, &format!("qm.in.demand.{owner}.{owner_workload}"), &demand(&owner, &owner_workload, 2)).await?;
    let lowered = eventually(WITHIN, || enforced_h100(&qos) == Some(2)).await;
    if !lowered {
        let entries = qm_bus::read::read_all(&bus, qm_bus::subjects::DECISIONS_STREAM, 1).await?;
        for e in entries {
            if let Ok(d) = qm_model::decode::<qm_model::DecisionRecorded>(&e.payload) {
                eprintln!("decision: {:?} {:?} {}", d.body.decision.workload, d.body.decision.action, d.body.decision.reason.message);
            }
        }
    }
    assert!(lowered, "borrower limit lowered, saw {:?}", enforced_h100(&qos));
    assert!(eventually(Duration::from_secs(10), || slurm.signalled(jobs[2]) && slurm.signalled(jobs[3])).await, "newest two signalled");
    assert!(!slurm.signalled(jobs[0]) && !slurm.signalled(jobs[1]), "the oldest two are within the new grant");
    // The grace (5 s for the testkit workload) ends in a revoke: the signalled jobs are requeued.
    assert!(
        eventually(Duration::from_secs(30), || state(jobs[2]) == "PENDING" && state(jobs[3]) == "PENDING").await,
        "requeued after the grace: {} {}",
        state(jobs[2]),
        state(jobs[3])
    );
    assert_eq!((state(jobs[0]).as_str(), state(jobs[1]).as_str()), ("RUNNING", "RUNNING"));
    assert!(eventually(WITHIN, || enforced_h100(&owner_qos) == Some(2)).await, "owner granted 2 in Slurm, saw {:?}", enforced_h100(&owner_qos));
    Ok(())
}
