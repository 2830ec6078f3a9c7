//! The three services as child processes against a given NATS URL (killed on drop), the
//! `qm` CLI, and input sent through ingest. The binaries are the workspace's, found next
//! to the test executable (`cargo build --bins` in the same target dir first).

use anyhow::{bail, Context};
use qm_model::{
    decode_value, encode_value, AcceleratorThroughput, IngestReply, InputEvent, Pool, PriorityTier, Team, WorkloadKind,
    WorkloadSpec, IDEMPOTENCY_KEY_HEADER,
};
use qm_testkit::workspace_binary;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The three services, by binary name.
pub const SERVICES: [&str; 3] = ["qm-ingest", "qm-policy", "qm-actuator"];

/// The running services, killed on drop.
pub struct Services {
    url: String,
    children: Vec<(&'static str, Child)>,
}

impl Services {
    /// Starts ingest, policy and actuator against `url` with `replicas` copies of each stream.
    pub fn start(url: &str, replicas: usize) -> anyhow::Result<Self> {
        let mut services = Self { url: url.to_owned(), children: Vec::new() };
        for name in SERVICES {
            let child = Command::new(workspace_binary(name)?)
                .env("QM_NATS_URL", url)
                .env("QM_STREAM_REPLICAS", replicas.to_string())
                .env("QM_TICK_MS", "200")
                .env("RUST_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(if std::env::var_os("QM_TEST_LOGS").is_some() { Stdio::inherit() } else { Stdio::null() })
                .spawn()
                .with_context(|| format!("start {name}"))?;
            services.children.push((name, child));
        }
        Ok(services)
    }

    /// Fails if any service has exited (none should, whatever happens to one node).
    pub fn all_running(&mut self) -> anyhow::Result<()> {
        for (name, child) in &mut self.children {
            if let Some(status) = child.try_wait()? {
                bail!("{name} exited ({status}); rerun with QM_TEST_LOGS=1 to see its log");
            }
        }
        Ok(())
    }

    /// Runs the `qm` CLI against the cluster and returns its stdout.
    pub fn qm(&self, args: &[&str]) -> anyhow::Result<String> {
        let output = Command::new(workspace_binary("qm")?).args(args).env("QM_NATS_URL", &self.url).output()?;
        if !output.status.success() {
            bail!("qm {args:?} failed: {}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        }
        Ok(String::from_utf8(output.stdout)?)
    }

    /// `qm status --json`, parsed.
    pub fn status(&self) -> anyhow::Result<serde_json::Value> {
        Ok(serde_json::from_str(&self.qm(&["status", "--json"])?)?)
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        for (_, mut child) in std::mem::take(&mut self.children) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Sends `event` to ingest until it is accepted, retrying timeouts and `unavailable` (a
/// stream may be electing a new leader) for up to `timeout`; the same idempotency key on
/// every try stores it once. Returns the log sequence.
pub async fn send(
    client: &async_nats::Client,
    subject: &str,
    event: &InputEvent,
    key: &str,
    timeout: Duration,
) -> anyhow::Result<u64> {
    let deadline = Instant::now() + timeout;
    let payload = encode_value(event)?;
    loop {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(IDEMPOTENCY_KEY_HEADER, key);
        let request = async_nats::Request::new()
            .payload(payload.clone().into())
            .headers(headers)
            .timeout(Some(Duration::from_secs(2)));
        let outcome = match client.send_request(subject.to_owned(), request).await {
            Ok(reply) => decode_value::<IngestReply>(&reply.payload).map_err(anyhow::Error::from),
            Err(e) => Err(e.into()),
        };
        match outcome {
            Ok(IngestReply::Accepted { sequence, .. }) => return Ok(sequence),
            Ok(IngestReply::Rejected { code, message }) if code != qm_model::RejectCode::Unavailable => {
                bail!("{subject} rejected ({code:?}): {message}")
            }
            other if Instant::now() >= deadline => bail!("{subject} not accepted within {timeout:?}: {other:?}"),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
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
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    bail!("condition not met within {timeout:?}; last error: {last_error:?}")
}

/// Chips applied to `workload` (all pools) in `qm status --json`.
pub fn applied(status: &serde_json::Value, workload: &str) -> u64 {
    status["workloads"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|w| w["id"] == workload)
        .flat_map(|w| w["applied"].as_object().into_iter().flatten().map(|(_, c)| c.as_u64().unwrap_or(0)))
        .sum()
}

/// A team with a guarantee of `guarantee` chips.
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

/// Demand for up to `chips` H100s from a preemptible training workload.
pub fn demand(team: &str, id: &str, chips: u32) -> InputEvent {
    let spec = WorkloadSpec {
        id: id.into(),
        team: team.into(),
        kind: WorkloadKind::Training,
        accepts: vec![AcceleratorThroughput { accelerator: "h100".into(), relative_throughput: 1.0 }],
        chips_min: 1,
        chips_max: chips,
        chips_step: 1,
        gang: false,
        preemptible: true,
        critical: false,
        drain_grace_s: 5,
        urgency: 0.0,
        deadline_ms: None,
        risk_tolerance: 0.5,
    };
    InputEvent::DemandDeclared { spec, chips_desired: chips }
}
