//! A running Quartermaster for integration tests: a real nats-server and the three
//! service binaries as child processes that a test can SIGKILL and restart.

#![allow(dead_code)]

use anyhow::{bail, Context};
use qm_bus::connect::{connect, jetstream, ConnectSettings};
use qm_model::{
    decode_value, encode_value, AcceleratorThroughput, IngestReply, InputEvent, Pool, PriorityTier, Team, WorkloadKind,
    WorkloadSpec, IDEMPOTENCY_KEY_HEADER,
};
use qm_testkit::{workspace_binary, NatsServer};
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The three services, by name.
pub const SERVICES: [&str; 3] = ["qm-ingest", "qm-policy", "qm-actuator"];

/// nats-server plus the services, all killed on drop.
pub struct System {
    pub nats: NatsServer,
    children: BTreeMap<&'static str, Child>,
    metrics_ports: BTreeMap<&'static str, u16>,
    extra_env: Vec<(&'static str, &'static str)>,
}

impl System {
    /// Starts nats-server and all three services.
    pub fn start() -> anyhow::Result<Self> {
        Self::start_with_env(&[])
    }

    /// Starts nats-server and all three services with extra environment (e.g. `QM_SHADOW`).
    pub fn start_with_env(env: &[(&'static str, &'static str)]) -> anyhow::Result<Self> {
        let nats = NatsServer::start()?;
        let mut system = Self { nats, children: BTreeMap::new(), metrics_ports: BTreeMap::new(), extra_env: env.to_vec() };
        for service in SERVICES {
            system.start_service(service)?;
        }
        Ok(system)
    }

    /// Starts (or restarts) one service.
    pub fn start_service(&mut self, name: &'static str) -> anyhow::Result<()> {
        let metrics_port = match self.metrics_ports.get(name) {
            Some(port) => *port,
            None => qm_testkit::free_port()?,
        };
        self.metrics_ports.insert(name, metrics_port);
        let child = Command::new(workspace_binary(name)?)
            .env("QM_NATS_URL", self.nats.url())
            .env("QM_METRICS_ADDR", format!("127.0.0.1:{metrics_port}"))
            .env("QM_TICK_MS", "200")
            .envs(self.extra_env.iter().copied())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(if std::env::var_os("QM_TEST_LOGS").is_some() { Stdio::inherit() } else { Stdio::null() })
            .spawn()
            .with_context(|| format!("start {name}"))?;
        self.children.insert(name, child);
        Ok(())
    }

    /// Starts nats-server only; start services one by one with [`System::start_instance`].
    pub fn start_bare() -> anyhow::Result<Self> {
        Ok(Self { nats: NatsServer::start()?, children: BTreeMap::new(), metrics_ports: BTreeMap::new(), extra_env: Vec::new() })
    }

    /// Starts (or restarts) an instance of `binary` known as `name` (so two instances of
    /// one service can run side by side), with extra environment on top of the usual.
    pub fn start_instance(&mut self, name: &'static str, binary: &str, env: &[(&str, &str)]) -> anyhow::Result<()> {
        let metrics_port = match self.metrics_ports.get(name) {
            Some(port) => *port,
            None => qm_testkit::free_port()?,
        };
        self.metrics_ports.insert(name, metrics_port);
        let mut command = Command::new(workspace_binary(binary)?);
        command
            .env("QM_NATS_URL", self.nats.url())
            .env("QM_METRICS_ADDR", format!("127.0.0.1:{metrics_port}"))
            .env("QM_TICK_MS", "200")
            .envs(self.extra_env.iter().copied())
            .env("RUST_LOG", "warn");
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(if std::env::var_os("QM_TEST_LOGS").is_some() { Stdio::inherit() } else { Stdio::null() })
            .spawn()
            .with_context(|| format!("start {name}"))?;
        self.children.insert(name, child);
        Ok(())
    }

    /// SIGKILLs one service, as a crash would: no shutdown code runs.
    pub fn kill_service(&mut self, name: &str) {
        if let Some(mut child) = self.children.remove(name) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// GETs `path` from a service's metrics endpoint.
    pub fn http_get(&self, service: &str, path: &str) -> anyhow::Result<String> {
        use std::io::{Read, Write};
        let port = *self.metrics_ports.get(service).context("no such service")?;
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
        stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        Ok(response)
    }

    pub async fn client(&self) -> anyhow::Result<async_nats::Client> {
        Ok(connect(&ConnectSettings { url: self.nats.url(), name: "test".into(), ..Default::default() }).await?)
    }

    pub async fn js(&self) -> anyhow::Result<async_nats::jetstream::Context> {
        Ok(jetstream(self.client().await?, 64))
    }

    /// Runs the `qm` CLI against this system and returns its stdout.
    pub fn qm(&self, args: &[&str]) -> anyhow::Result<String> {
        let output = Command::new(env!("CARGO_BIN_EXE_qm")).args(args).env("QM_NATS_URL", self.nats.url()).output()?;
        if !output.status.success() {
            bail!("qm {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        Ok(String::from_utf8(output.stdout)?)
    }

    /// `qm status --json`, parsed.
    pub fn status(&self) -> anyhow::Result<serde_json::Value> {
        Ok(serde_json::from_str(&self.qm(&["status", "--json"])?)?)
    }
}

impl Drop for System {
    fn drop(&mut self) {
        for (_, mut child) in std::mem::take(&mut self.children) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Sends an encoded request to ingest, with an optional idempotency key.
pub async fn request(
    client: &async_nats::Client,
    subject: &str,
    payload: Vec<u8>,
    key: Option<&str>,
) -> anyhow::Result<IngestReply> {
    let mut headers = async_nats::HeaderMap::new();
    if let Some(key) = key {
        headers.insert(IDEMPOTENCY_KEY_HEADER, key);
    }
    let request = async_nats::Request::new().payload(payload.into()).headers(headers).timeout(Some(Duration::from_secs(2)));
    let reply = client.send_request(subject.to_owned(), request).await?;
    Ok(decode_value(&reply.payload)?)
}

/// Sends an input event until ingest answers (it may be starting or restarting); the
/// same idempotency key on every try makes the retries safe.
pub async fn send_until_answered(
    client: &async_nats::Client,
    subject: &str,
    event: &InputEvent,
    key: Option<&str>,
) -> anyhow::Result<IngestReply> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match request(client, subject, encode_value(event)?, key).await {
            Ok(IngestReply::Rejected { code: qm_model::RejectCode::Unavailable, .. }) | Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => return other,
        }
    }
}

/// Polls `check` until it returns `Some`, or fails after `timeout`.
pub async fn eventually<T>(timeout: Duration, mut check: impl FnMut() -> anyhow::Result<Option<T>>) -> anyhow::Result<T> {
    let deadline = Instant::now() + timeout;
    let mut last_error = None;
    while Instant::now() < deadline {
        match check() {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(e) => last_error = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("condition not met within {timeout:?}; last error: {last_error:?}")
}

pub fn team(id: &str, guarantee: f64) -> Team {
    Team { id: id.into(), guarantee, limit: None, weight: 1.0, tier: PriorityTier::Normal, regions: vec![], headroom_fraction: 0.1 }
}

/// An H100 pool; price from AWS Capacity Blocks (shared/data/accelerators).
pub fn h100_pool(id: &str, chips: u32) -> Pool {
    Pool {
        id: id.into(),
        region: "us-east".into(),
        accelerator: "h100".into(),
        chips,
        healthy_chips: chips,
        allocation_unit: 1,
        price_per_chip_hour: 4.916,
    }
}

pub fn workload(team: &str, id: &str, chips_max: u32) -> WorkloadSpec {
    WorkloadSpec {
        id: id.into(),
        team: team.into(),
        kind: WorkloadKind::Training,
        accepts: vec![AcceleratorThroughput { accelerator: "h100".into(), relative_throughput: 1.0 }],
        chips_min: 1,
        chips_max,
        chips_step: 1,
        gang: false,
        preemptible: true,
        critical: false,
        drain_grace_s: 5,
        urgency: 0.0,
        deadline_ms: None,
        risk_tolerance: 0.5,
    }
}

/// Declares a team and a pool through ingest.
pub async fn declare_fleet(client: &async_nats::Client, teams: &[Team], pools: &[Pool]) -> anyhow::Result<()> {
    for team in teams {
        let event = InputEvent::TeamDeclared(team.clone());
        expect_accepted(send_until_answered(client, &format!("qm.in.team.{}", team.id), &event, None).await?)?;
    }
    for pool in pools {
        let event = InputEvent::PoolDeclared(pool.clone());
        expect_accepted(send_until_answered(client, &format!("qm.in.pool.{}", pool.id), &event, None).await?)?;
    }
    Ok(())
}

pub fn expect_accepted(reply: IngestReply) -> anyhow::Result<(uuid::Uuid, u64)> {
    match reply {
        IngestReply::Accepted { event_id, sequence, .. } => Ok((event_id, sequence)),
        IngestReply::Rejected { code, message } => bail!("rejected ({code:?}): {message}"),
    }
}

/// Applied chips per workload and pool from `qm status --json`.
pub fn applied(status: &serde_json::Value, workload: &str) -> u64 {
    status["workloads"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|w| w["id"] == workload)
        .flat_map(|w| w["applied"].as_object().into_iter().flatten().map(|(_, c)| c.as_u64().unwrap_or(0)))
        .sum()
}

/// Who holds the policy writer lease now (its `QM_INSTANCE`), if anyone.
pub async fn policy_writer(js: &async_nats::jetstream::Context) -> anyhow::Result<Option<String>> {
    let Ok(kv) = js.get_key_value("qm_leases").await else { return Ok(None) };
    Ok(kv.get("policy-writer").await?.map(|v| String::from_utf8_lossy(&v).into_owned()))
}

/// Checks `QM_DECISIONS` against a replay of `QM_INPUT` through a fresh engine: every
/// decision the log implies is recorded (none missing), exactly once (unique input
/// position and id), with the same content. Returns the number of decisions.
pub async fn decisions_match_replay(js: &async_nats::jetstream::Context) -> anyhow::Result<usize> {
    use qm_bus::read::{decode_log, read_all};
    use qm_model::{decode, DecisionRecorded};
    let mut engine = qm_core::Engine::new(qm_model::PolicyConfig::default());
    let mut expected = BTreeMap::new();
    for entry in read_all(js, qm_bus::subjects::INPUT_STREAM, 1).await? {
        let Ok(record) = decode_log(&entry) else { continue };
        for (index, decision) in engine.step(record.sequence, record.time_ms, &record.event).into_iter().enumerate() {
            expected.insert((record.sequence, index as u32), decision);
        }
    }
    let mut recorded = BTreeMap::new();
    let mut ids = std::collections::BTreeSet::new();
    for entry in read_all(js, qm_bus::subjects::DECISIONS_STREAM, 1).await? {
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
