//! The system under test: a nats-server and the three service binaries as child
//! processes on loopback, killed on drop. Or, with `--nats-url`, a system already running.

use crate::procstat::Watch;
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The services, in start order.
pub const SERVICES: [&str; 3] = ["qm-ingest", "qm-policy", "qm-actuator"];

/// How to start the system.
#[derive(Clone, Debug)]
pub struct SystemSettings {
    /// Where `qm-ingest`, `qm-policy` and `qm-actuator` are (release builds).
    pub bin_dir: PathBuf,
    /// Milliseconds between ingest ticks.
    pub tick_ms: u64,
    /// Ingest's requests in flight (`QM_INFLIGHT_MAX`).
    pub ingest_inflight_max: usize,
    /// The policy's writer lease TTL (`QM_LEASE_TTL_MS`): pauses of the policy stay
    /// well under it, so a measurement never costs the policy its lease.
    pub lease_ttl_ms: u64,
    /// Tokio worker threads of each service (`TOKIO_WORKER_THREADS`); `None`: one per core.
    pub service_threads: Option<usize>,
}

/// nats-server plus the services, all killed on drop.
pub struct System {
    url: String,
    children: Vec<(String, Child)>,
    /// Where each started service serves `/metrics`.
    metrics_ports: Vec<(String, u16)>,
    _store: Option<tempfile::TempDir>,
}

impl System {
    /// Uses a system someone else started; nothing is measured per process.
    pub fn external(url: &str) -> Self {
        Self { url: url.to_owned(), children: Vec::new(), metrics_ports: Vec::new(), _store: None }
    }

    /// Starts a fresh nats-server with JetStream in a temporary store, on a free
    /// loopback port. Services are started later, so baselines run on a quiet server.
    pub fn start_server() -> anyhow::Result<Self> {
        let store = tempfile::Builder::new().prefix("qm-loadtest-").tempdir()?;
        let port = qm_testkit::free_port()?;
        let child = Command::new(qm_testkit::nats_server_binary())
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start nats-server: run `source scripts/setup.sh` or set NATS_SERVER_BIN")?;
        let system = Self {
            url: format!("nats://127.0.0.1:{port}"),
            children: vec![("nats-server".into(), child)],
            metrics_ports: Vec::new(),
            _store: Some(store),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("nats-server did not listen on port {port} within 20 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(system)
    }

    /// Starts the three services against this server.
    pub fn start_services(&mut self, settings: &SystemSettings) -> anyhow::Result<()> {
        for name in SERVICES {
            let metrics_port = qm_testkit::free_port()?;
            let child = Command::new(binary(&settings.bin_dir, name)?)
                .env("QM_NATS_URL", &self.url)
                .env("QM_METRICS_ADDR", format!("127.0.0.1:{metrics_port}"))
                .env("QM_TICK_MS", settings.tick_ms.to_string())
                .env("QM_INFLIGHT_MAX", settings.ingest_inflight_max.to_string())
                .env("QM_LEASE_TTL_MS", settings.lease_ttl_ms.to_string())
                .envs(settings.service_threads.map(|n| ("TOKIO_WORKER_THREADS", n.to_string())))
                .env("RUST_LOG", std::env::var("QM_LOADTEST_LOG").unwrap_or_else(|_| "warn".into()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .with_context(|| format!("start {name}"))?;
            self.children.push((name.to_owned(), child));
            self.metrics_ports.push((name.to_owned(), metrics_port));
        }
        Ok(())
    }

    /// The sum of a counter family's samples whose labels contain `label` (for example
    /// `qm_policy_lease_events` with `event="lost"`), read from `service`'s `/metrics`;
    /// `None` when the service was not started here or does not answer.
    pub fn counter(&self, service: &str, family: &str, label: &str) -> Option<f64> {
        use std::io::{Read, Write};
        let port = self.metrics_ports.iter().find(|(name, _)| name == service)?.1;
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let body = response.split_once("\r\n\r\n")?.1;
        let samples = body.lines().filter(|line| line.starts_with(family) && line.contains(label));
        Some(samples.filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok()).sum())
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The processes to measure: every child, and this load generator itself.
    pub fn watch(&self) -> Watch {
        let mut watch = Watch::default();
        for (name, child) in &self.children {
            watch.add(name, child.id());
        }
        watch.add("qm-loadtest", std::process::id());
        watch
    }

    /// Pauses (SIGSTOP) or resumes (SIGCONT) the named children; false if none was paused.
    pub fn pause(&self, names: &[&str], stop: bool) -> bool {
        let signal = if stop { "-STOP" } else { "-CONT" };
        let mut any = false;
        for (name, child) in &self.children {
            if names.contains(&name.as_str()) {
                let status = Command::new("kill").arg(signal).arg(child.id().to_string()).status();
                any |= status.is_ok_and(|s| s.success());
            }
        }
        any
    }

    /// Fails if a child has exited (a crashed service makes every figure meaningless).
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        for (name, child) in &mut self.children {
            if let Some(status) = child.try_wait()? {
                bail!("{name} exited during the run: {status}");
            }
        }
        Ok(())
    }
}

impl Drop for System {
    fn drop(&mut self) {
        // Services first, so none logs a lost server on the way out.
        for (_, mut child) in self.children.drain(..).rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The directory of this executable: where cargo put the service binaries too.
pub fn default_bin_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("target/release"))
}

fn binary(dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join(name);
    if !path.exists() {
        bail!("{} not built: run `cargo build --release --bins` first (or pass --bin-dir)", path.display());
    }
    Ok(path)
}
