//! A running Quartermaster for integration tests: a real nats-server and the three
//! service binaries as child processes that a test can SIGKILL and restart (the process
//! harness and ingest helpers live in `qm_testkit`, shared with the cluster test).

#![allow(dead_code, unused_imports)]

use qm_bus::lease::LeaseStore;
use qm_bus::{connect, Bus, ConnectSettings};
use qm_model::{IngestReply, InputEvent, Pool, Team};
pub use qm_testkit::ingest::{demand, eventually, expect_accepted, h100_pool, send_raw, team, workload};
pub use qm_testkit::services::{applied, Services, SERVICES};
use qm_testkit::NatsServer;
use std::collections::BTreeMap;
use std::time::Duration;

/// How long a test keeps resending input while services start or restart.
pub const SEND_WITHIN: Duration = Duration::from_secs(30);

/// nats-server plus the services, all killed on drop (services first).
pub struct System {
    pub services: Services,
    pub nats: NatsServer,
}

impl System {
    /// Starts nats-server and all three services.
    pub fn start() -> anyhow::Result<Self> {
        Self::start_with_env(&[])
    }

    /// Starts nats-server and all three services with extra environment (e.g. `QM_SHADOW`).
    /// Auth is on: the server is provisioned by the admin, each service connects as
    /// itself, the CLI and [`System::bus`] as the operator.
    pub fn start_with_env(env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let nats = NatsServer::start_provisioned(&[])?;
        Ok(Self { services: Services::start_all_on(&nats, env)?, nats })
    }

    /// Starts nats-server only; start services one by one with [`System::start_instance`].
    pub fn start_bare() -> anyhow::Result<Self> {
        Self::start_bare_with(qm_bus::provision::Provision::default())
    }

    /// [`System::start_bare`], provisioned with other settings: the lease bucket's TTL is
    /// the admin's choice on a secured server, not each policy instance's.
    pub fn start_bare_with(provision: qm_bus::provision::Provision) -> anyhow::Result<Self> {
        let nats = NatsServer::start_provisioned_with(&[], provision)?;
        Ok(Self { services: Services::for_server(&nats, &[]), nats })
    }

    /// Starts (or restarts) one service.
    pub fn start_service(&mut self, name: &str) -> anyhow::Result<()> {
        self.services.start(name)
    }

    /// Starts (or restarts) an instance of `binary` known as `name`.
    pub fn start_instance(&mut self, name: &str, binary: &str, env: &[(&str, &str)]) -> anyhow::Result<()> {
        self.services.start_instance(name, binary, env)
    }

    /// SIGKILLs one service, as a crash would.
    pub fn kill_service(&mut self, name: &str) {
        self.services.kill(name);
    }

    /// GETs `path` from a service's metrics endpoint.
    pub fn http_get(&self, service: &str, path: &str) -> anyhow::Result<String> {
        self.services.http_get(service, path)
    }

    /// A connection of the test's own, as the operator (sends any input, reads every log).
    pub async fn bus(&self) -> anyhow::Result<Bus> {
        self.bus_as("operator").await
    }

    /// A connection as identity `name` (`admin`, `auditor`, `team-<team>`, ...).
    pub async fn bus_as(&self, name: &str) -> anyhow::Result<Bus> {
        Ok(connect(&self.nats.connect_settings(name)?).await?)
    }

    /// Runs the `qm` CLI against this system and returns its stdout.
    pub fn qm(&self, args: &[&str]) -> anyhow::Result<String> {
        self.services.qm(args)
    }

    /// `qm status --json`, parsed.
    pub fn status(&self) -> anyhow::Result<serde_json::Value> {
        self.services.status()
    }
}

/// Starts the system and declares one team `ml` (8 chips guaranteed) and a 16-chip H100
/// pool `use-h100`: where most tests begin. Returns the test's connection.
pub async fn start_small_fleet(system: &System) -> anyhow::Result<Bus> {
    let bus = system.bus().await?;
    declare_fleet(&bus, &[team("ml", 8.0)], &[h100_pool("use-h100", 16)]).await?;
    Ok(bus)
}

/// Starts ingest and actuator under their binary names (policies are started by the test).
pub fn start_ingest_and_actuator(system: &mut System) -> anyhow::Result<()> {
    system.start_instance("qm-ingest", "qm-ingest", &[])?;
    system.start_instance("qm-actuator", "qm-actuator", &[])
}

/// Sends an input event until ingest answers (it may be starting or restarting).
pub async fn send_until_answered(bus: &Bus, subject: &str, event: &InputEvent, key: Option<&str>) -> anyhow::Result<IngestReply> {
    qm_testkit::ingest::send_until_answered(bus, subject, event, key, SEND_WITHIN).await
}

/// Declares demand for all `chips` of team `ml`'s workload `id` ([`demand`]) until
/// ingest accepts it; returns its input sequence.
pub async fn declare_demand(bus: &Bus, id: &str, chips: u32) -> anyhow::Result<u64> {
    let reply = send_until_answered(bus, &format!("qm.in.demand.ml.{id}"), &demand("ml", id, chips), None).await?;
    Ok(expect_accepted(reply)?.1)
}

/// Waits up to `within` until `qm status` says `workload` holds `chips`.
pub async fn applied_within(system: &System, workload: &str, chips: u64, within: Duration) -> anyhow::Result<()> {
    eventually(within, || Ok((applied(&system.status()?, workload) == chips).then_some(()))).await
}

/// Declares teams and pools through ingest.
pub async fn declare_fleet(bus: &Bus, teams: &[Team], pools: &[Pool]) -> anyhow::Result<()> {
    for team in teams {
        let event = InputEvent::TeamDeclared(team.clone());
        expect_accepted(send_until_answered(bus, &format!("qm.in.team.{}", team.id), &event, None).await?)?;
    }
    for pool in pools {
        let event = InputEvent::PoolDeclared(pool.clone());
        expect_accepted(send_until_answered(bus, &format!("qm.in.pool.{}", pool.id), &event, None).await?)?;
    }
    Ok(())
}

/// Who holds the policy writer lease now (its `QM_INSTANCE`), if anyone.
pub async fn policy_writer(bus: &Bus) -> anyhow::Result<Option<String>> {
    Ok(LeaseStore::holder_in(bus, "qm_leases", "policy-writer").await?)
}

/// Checks `QM_DECISIONS` against a replay of `QM_INPUT` through a fresh engine: every
/// decision the log implies is recorded (none missing), exactly once (unique input
/// position and id), with the same content. Returns the number of decisions.
pub async fn decisions_match_replay(bus: &Bus) -> anyhow::Result<usize> {
    use qm_bus::read::{decode_log, read_all};
    use qm_model::{decode, DecisionRecorded};
    let mut engine = qm_core::Engine::new(qm_model::PolicyConfig::default());
    let mut expected = BTreeMap::new();
    for entry in read_all(bus, qm_bus::subjects::INPUT_STREAM, 1).await? {
        let Ok(record) = decode_log(&entry) else { continue };
        for (index, decision) in engine.step(record.sequence, record.time_ms, &record.event).into_iter().enumerate() {
            expected.insert((record.sequence, index as u32), decision);
        }
    }
    let mut recorded = BTreeMap::new();
    let mut ids = std::collections::BTreeSet::new();
    for entry in read_all(bus, qm_bus::subjects::DECISIONS_STREAM, 1).await? {
        let envelope = decode::<DecisionRecorded>(&entry.payload)?;
        anyhow::ensure!(ids.insert(envelope.id), "decision id recorded twice: {:?}", envelope.body);
        let position = (envelope.body.input_seq, envelope.body.index);
        anyhow::ensure!(recorded.insert(position, envelope.body.decision).is_none(), "decision recorded twice at {position:?}");
    }
    let missing: Vec<_> = expected.keys().filter(|k| !recorded.contains_key(k)).collect();
    anyhow::ensure!(missing.is_empty(), "{} decisions missing, first {:?}", missing.len(), missing.first());
    let extra: Vec<_> = recorded.keys().filter(|k| !expected.contains_key(k)).collect();
    anyhow::ensure!(extra.is_empty(), "{} decisions not implied by the log, first {:?}", extra.len(), extra.first());
    for (position, decision) in &expected {
        anyhow::ensure!(recorded.get(position) == Some(decision), "decision at {position:?} differs from the replay");
    }
    Ok(expected.len())
}
