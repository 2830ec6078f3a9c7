//! The service binaries as child processes against a NATS URL, killed on drop: what the
//! integration tests and the cluster test run Quartermaster as. A test can SIGKILL one
//! and start it again; each keeps its metrics port across restarts.

use crate::{free_port, workspace_binary, NatsServer};
use qm_trust::TrustDir;
use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};

/// The three services, by binary name, in start order.
pub const SERVICES: [&str; 3] = ["qm-ingest", "qm-policy", "qm-actuator"];

/// Running service processes, killed on drop.
pub struct Services {
    url: String,
    children: BTreeMap<String, Child>,
    metrics_ports: BTreeMap<String, u16>,
    /// Set on every process, on top of the NATS URL, metrics address and a fast tick.
    env: Vec<(String, String)>,
    /// With auth on: each service connects with its own credentials, the CLI as operator.
    trust: Option<TrustDir>,
    /// With TLS on: every process trusts the test CA and presents the client certificate.
    tls: Option<crate::tls::TestTls>,
}

impl Services {
    /// No service yet; `env` is given to every one started later.
    pub fn new(url: &str, env: &[(&str, &str)]) -> Self {
        let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Self { url: url.to_owned(), children: BTreeMap::new(), metrics_ports: BTreeMap::new(), env, trust: None, tls: None }
    }

    /// No service yet, against `server`: with its credentials when auth is on.
    pub fn for_server(server: &NatsServer, env: &[(&str, &str)]) -> Self {
        let mut services = Self::new(&server.url(), env);
        services.trust = server.trust().cloned();
        services.tls = server.tls().cloned();
        services
    }

    /// No service yet, against a server elsewhere (a cluster) that runs with the
    /// identities in `trust`: each service as itself, the CLI as the operator.
    pub fn with_trust(url: &str, env: &[(&str, &str)], trust: TrustDir) -> Self {
        let mut services = Self::new(url, env);
        services.trust = Some(trust);
        services
    }

    /// Starts ingest, policy and actuator against `server`; see [`Services::for_server`].
    pub fn start_all_on(server: &NatsServer, env: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::for_server(server, env).with_all_started()
    }

    /// The credentials a binary runs with: `qm-ingest` is identity `ingest`, and so on;
    /// the `qm` CLI acts as the operator.
    fn credentials_env(&self, binary: &str) -> Vec<(String, String)> {
        let Some(trust) = &self.trust else { return Vec::new() };
        let identity = binary.strip_prefix("qm-").unwrap_or("operator");
        let mut env = vec![
            ("QM_NATS_CREDS".to_owned(), trust.creds_path(identity).display().to_string()),
            ("QM_TRUST_FILE".to_owned(), trust.registry_path().display().to_string()),
        ];
        env.extend(self.tls.iter().flat_map(crate::tls::TestTls::client_env));
        env
    }

    /// Starts ingest, policy and actuator.
    pub fn start_all(url: &str, env: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::new(url, env).with_all_started()
    }

    /// Starts the three [`SERVICES`], in order.
    fn with_all_started(mut self) -> anyhow::Result<Self> {
        for name in SERVICES {
            self.start(name)?;
        }
        Ok(self)
    }

    /// The NATS URL the services use.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Starts (or restarts) the service whose binary is `name`.
    pub fn start(&mut self, name: &str) -> anyhow::Result<()> {
        self.start_instance(name, name, &[])
    }

    /// Starts (or restarts) an instance of `binary` known as `name` (so two instances of
    /// one service can run side by side), with `env` on top of the usual.
    pub fn start_instance(&mut self, name: &str, binary: &str, env: &[(&str, &str)]) -> anyhow::Result<()> {
        let metrics_port = match self.metrics_ports.get(name) {
            Some(port) => *port,
            None => free_port()?,
        };
        self.metrics_ports.insert(name.to_owned(), metrics_port);
        let logs = if std::env::var_os("QM_TEST_LOGS").is_some() { Stdio::inherit() } else { Stdio::null() };
        let child = Command::new(workspace_binary(binary)?)
            .env("QM_NATS_URL", &self.url)
            .env("QM_METRICS_ADDR", format!("127.0.0.1:{metrics_port}"))
            .env("QM_TICK_MS", "200")
            .env("RUST_LOG", "warn")
            .envs(self.credentials_env(binary))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(logs)
            .spawn()
            .with_context(|| format!("start {name}"))?;
        self.children.insert(name.to_owned(), child);
        Ok(())
    }

    /// SIGKILLs one service, as a crash would: no shutdown code runs.
    pub fn kill(&mut self, name: &str) {
        if let Some(mut child) = self.children.remove(name) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Fails if any service has exited (none should, whatever the test does to the bus).
    pub fn all_running(&mut self) -> anyhow::Result<()> {
        for (name, child) in &mut self.children {
            if let Some(status) = child.try_wait()? {
                bail!("{name} exited ({status}); rerun with QM_TEST_LOGS=1 to see its log");
            }
        }
        Ok(())
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

    /// The `qm` CLI against the same server, as the operator, not started yet: for a
    /// test that runs it alongside something else.
    pub fn qm_command(&self, args: &[&str]) -> anyhow::Result<Command> {
        let mut command = Command::new(workspace_binary("qm")?);
        command.args(args).env("QM_NATS_URL", &self.url).envs(self.credentials_env("qm")).envs(self.env.iter().map(|(k, v)| (k, v)));
        Ok(command)
    }

    /// Runs the `qm` CLI against the same server and returns its stdout.
    pub fn qm(&self, args: &[&str]) -> anyhow::Result<String> {
        let output = self.qm_output(args)?;
        if !output.status.success() {
            bail!("qm {args:?} failed: {}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        }
        Ok(String::from_utf8(output.stdout)?)
    }

    /// Runs the `qm` CLI, whatever its exit status (`qm replay` and `qm audit` exit 2
    /// on findings, and print them).
    pub fn qm_output(&self, args: &[&str]) -> anyhow::Result<std::process::Output> {
        Ok(self.qm_command(args)?.output()?)
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
