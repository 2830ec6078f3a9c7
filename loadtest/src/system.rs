//! The system under test: a nats-server and the three service binaries as child
//! processes on loopback, killed on drop. Or, with `--nats-url`, a system already running.
//!
//! Secure by default, as deployed: the server runs with the accounts file of identities
//! generated for the run (`qm init`'s), the admin provisions the streams, each service
//! connects as itself (so ingest, policy and actuator sign what they write, and the
//! actuator verifies the policy's signatures), and the generator connects as the admin
//! (it also creates the raw baseline streams). `--no-auth` runs the same without any of
//! it, to measure what auth and signatures cost.

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
    /// Auth on the server, credentials and signatures in the services (the default).
    pub auth: bool,
}

/// nats-server plus the services, all killed on drop.
pub struct System {
    url: String,
    children: Vec<(String, Child)>,
    /// Where each started service serves `/metrics`.
    metrics_ports: Vec<(String, u16)>,
    /// The run's identities, when the server runs with auth.
    trust: Option<qm_trust::TrustDir>,
    _trust_dir: Option<tempfile::TempDir>,
    _store: Option<tempfile::TempDir>,
}

impl System {
    /// Uses a system someone else started; nothing is measured per process.
    pub fn external(url: &str) -> Self {
        Self { url: url.to_owned(), children: Vec::new(), metrics_ports: Vec::new(), trust: None, _trust_dir: None, _store: None }
    }

    /// Starts a fresh nats-server with JetStream in a temporary store, on a free
    /// loopback port; with `auth`, with the accounts file of identities generated for
    /// this run. Services are started later, so baselines run on a quiet server.
    pub fn start_server(auth: bool) -> anyhow::Result<Self> {
        let store = tempfile::Builder::new().prefix("qm-loadtest-").tempdir()?;
        let port = qm_testkit::free_port()?;
        let (trust, trust_dir) = if auth {
            let dir = tempfile::Builder::new().prefix("qm-loadtest-trust-").tempdir()?;
            (Some(qm_trust::TrustDir::init(dir.path(), &[], &qm_trust::Names::default())?), Some(dir))
        } else {
            (None, None)
        };
        let mut command = Command::new(qm_testkit::nats_server_binary());
        if let Some(trust) = &trust {
            command.arg("-c").arg(trust.accounts_path());
        }
        let child = command
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
            trust,
            _trust_dir: trust_dir,
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

    /// The credentials file of identity `name`, when the server runs with auth.
    pub fn creds(&self, name: &str) -> Option<PathBuf> {
        self.trust.as_ref().map(|trust| trust.creds_path(name))
    }

    /// Connect options for a raw client acting as identity `name` (nothing to add
    /// without auth).
    pub fn connect_options(&self, name: &str) -> anyhow::Result<async_nats::ConnectOptions> {
        let options = async_nats::ConnectOptions::new();
        let Some(path) = self.creds(name) else { return Ok(options) };
        let creds = qm_trust::Credentials::load(&path)?;
        Ok(options.nkey(creds.seed().to_owned()).custom_inbox_prefix(creds.inbox_prefix()))
    }

    /// With auth: creates the streams, buckets and the actuator's consumer as the admin
    /// (the services may not), with the run's lease TTL. Without, the services do.
    pub async fn provision(&self, settings: &SystemSettings) -> anyhow::Result<()> {
        let Some(admin) = self.creds("admin") else { return Ok(()) };
        let connect = qm_bus::ConnectSettings { url: self.url.clone(), name: "qm-loadtest-admin".into(), credentials: Some(admin), ..Default::default() };
        let bus = qm_bus::connect(&connect).await?;
        let mut provision = qm_bus::provision::Provision::default();
        provision.lease.ttl = Duration::from_millis(settings.lease_ttl_ms.max(100));
        qm_bus::provision::provision(&bus, &provision).await?;
        Ok(())
    }

    /// Starts the three services against this server, each as itself when auth is on.
    pub fn start_services(&mut self, settings: &SystemSettings) -> anyhow::Result<()> {
        for name in SERVICES {
            let metrics_port = qm_testkit::free_port()?;
            let identity = name.trim_start_matches("qm-");
            let mut auth_env = Vec::new();
            if let Some(trust) = &self.trust {
                auth_env.push(("QM_NATS_CREDS", trust.creds_path(identity).display().to_string()));
                auth_env.push(("QM_TRUST_FILE", trust.registry_path().display().to_string()));
            }
            let child = Command::new(binary(&settings.bin_dir, name)?)
                .envs(auth_env)
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
