//! `qm up` is secure by default: it generates the identities and TLS certificates,
//! starts nats-server with their accounts file and TLS, and the demo runs as the
//! operator; a connection without credentials is refused, so is one with credentials
//! but in plain text, and a team's credentials do not read the logs. A service that
//! is SIGKILLed under `qm up` comes back (with backoff) and serves again.

use qm_testkit::ingest::eventually;
use qm_testkit::{free_port, workspace_binary};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// `qm up`, killed on drop (it stops its children when it gets SIGTERM; SIGKILL leaves
/// them to `kill_on_drop`, which needs its runtime: so SIGTERM first).
struct Up(Child);

impl Drop for Up {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        for _ in 0..50 {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The environment a client of `qm up` in `data` needs: the NATS URL, the credentials
/// `creds`, and the CA and client certificate `qm up` issued.
fn client_env(data: &Path, url: &str, creds: &Path) -> Vec<(String, String)> {
    let tls = qm_trust::TrustDir::new(data.join("trust")).tls();
    let mut env = vec![("QM_NATS_URL".to_owned(), url.to_owned()), ("QM_NATS_CREDS".to_owned(), creds.display().to_string())];
    env.extend(tls.client_env().into_iter().map(|(k, v)| (k.to_owned(), v)));
    env
}

/// `qm status --json` as the identity whose credentials are `creds`, over TLS.
fn status_as(data: &Path, url: &str, creds: &Path) -> anyhow::Result<serde_json::Value> {
    let output = Command::new(workspace_binary("qm")?).args(["status", "--json"]).envs(client_env(data, url, creds)).output()?;
    anyhow::ensure!(output.status.success(), "qm status failed: {}", String::from_utf8_lossy(&output.stderr));
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// A client that speaks the NATS protocol in plain text, as one without TLS would: the
/// server's greeting, and whatever it answers to CONNECT and PING (read until it closes
/// the connection or 10 s pass).
fn plain_text_exchange(url: &str) -> anyhow::Result<(String, String)> {
    use std::io::{Read, Write};
    let address = url.trim_start_matches("nats://");
    let mut stream = std::net::TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut greeting = vec![0; 4096];
    let n = stream.read(&mut greeting)?;
    let greeting = String::from_utf8_lossy(&greeting[..n]).into_owned();
    let _ = stream.write_all(b"CONNECT {\"verbose\":false,\"tls_required\":false}\r\nPING\r\n");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    Ok((greeting, String::from_utf8_lossy(&answer).into_owned()))
}

fn chips_applied(status: &serde_json::Value) -> u64 {
    let workloads = status["workloads"].as_array().into_iter().flatten();
    workloads.flat_map(|w| w["applied"].as_object().into_iter().flatten().filter_map(|(_, c)| c.as_u64())).sum()
}

/// Starts `qm up ARGS --data-dir DATA` on `url`, with no credentials of the caller's.
fn qm_up(args: &[&str], data: &std::path::Path, url: &str, stdout: Stdio) -> anyhow::Result<std::process::Child> {
    let child = Command::new(workspace_binary("qm")?)
        .arg("up")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env("QM_NATS_URL", url)
        .env_remove("QM_NATS_CREDS")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::null())
        .spawn()?;
    Ok(child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qm_up_runs_with_auth_and_refuses_anonymous_connections() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let url = format!("nats://127.0.0.1:{}", free_port()?);
    let child = qm_up(&["--duration-s", "300", "--seed", "3"], data.path(), &url, Stdio::null())?;
    let _up = Up(child);
    let creds = data.path().join("trust/creds");
    // The demo's demand is granted and applied, all through authenticated connections.
    let operator = creds.join("operator.nk");
    let applied = eventually(Duration::from_secs(90), || Ok(status_as(data.path(), &url, &operator).ok().map(|s| chips_applied(&s)).filter(|c| *c > 0))).await?;
    assert!(applied > 0);

    let tls = qm_trust::TrustDir::new(data.path().join("trust")).tls();
    let client_tls = qm_bus::TlsSettings { ca: Some(tls.ca()), client_cert: Some(tls.client_cert()), client_key: Some(tls.client_key()), required: true, first: false };
    let quick = |credentials: Option<std::path::PathBuf>, tls: qm_bus::TlsSettings| qm_bus::ConnectSettings { url: url.clone(), credentials, tls, start_timeout: Duration::from_secs(3), ..Default::default() };
    assert!(qm_bus::connect(&quick(Some(operator.clone()), client_tls.clone())).await.is_ok(), "the operator connects over TLS");
    assert!(qm_bus::connect(&quick(None, client_tls.clone())).await.is_err(), "a connection without credentials must be refused");
    assert!(qm_bus::connect(&quick(Some(operator.clone()), qm_bus::TlsSettings::default())).await.is_err(), "a client that does not trust the installation's CA is refused");
    let (said, answer) = plain_text_exchange(&url)?;
    assert!(said.contains("\"tls_required\":true"), "the server must require TLS: {said}");
    assert!(!answer.contains("PONG"), "a plain-text client was served: {answer:?}");
    let no_client_cert = qm_bus::TlsSettings { ca: Some(tls.ca()), required: true, ..Default::default() };
    assert!(qm_bus::connect(&quick(Some(operator.clone()), no_client_cert)).await.is_err(), "a TLS connection without the client certificate must be refused");
    // A team identity was generated for each team of the demo fleet; it connects, but
    // may not read the whole input log that `qm status` rebuilds from.
    let team = creds.join("team-research.nk");
    assert!(team.exists(), "no identity for the demo fleet's team research");
    assert!(status_as(data.path(), &url, &team).is_err(), "a team read the whole input log");
    Ok(())
}

/// `qm up`'s stdout, line by line, as it comes.
struct Said {
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Said {
    fn of(child: &mut Child) -> anyhow::Result<Self> {
        let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Ok(Self { lines, seen: Vec::new() })
    }

    /// The first line from now on that contains `needle`.
    fn wait_for(&mut self, needle: &str, within: Duration) -> anyhow::Result<String> {
        let deadline = Instant::now() + within;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(line) = self.lines.recv_timeout(left) else { break };
            self.seen.push(line.clone());
            if line.contains(needle) {
                return Ok(line);
            }
        }
        anyhow::bail!("no line with {needle:?} within {within:?}; qm up said:\n{}", self.seen.join("\n"))
    }
}

/// The number after `<name> (pid ` in a line.
fn pid_of(line: &str, name: &str) -> anyhow::Result<u32> {
    let at = line.find(&format!("{name} (pid ")).ok_or_else(|| anyhow::anyhow!("no pid of {name} in {line}"))?;
    let rest = &line[at + name.len() + 6..];
    Ok(rest[..rest.find(')').unwrap_or(rest.len())].parse()?)
}

#[test]
fn a_killed_service_is_restarted_and_serves_again() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let url = format!("nats://127.0.0.1:{}", free_port()?);
    let mut child = qm_up(&["--no-demo"], data.path(), &url, Stdio::piped())?;
    let mut said = Said::of(&mut child)?;
    let _up = Up(child);
    let ingest = pid_of(&said.wait_for("started ingest (pid", Duration::from_secs(30))?, "ingest")?;
    said.wait_for("pools and teams declared", Duration::from_secs(60))?;

    assert!(Command::new("kill").args(["-KILL", &ingest.to_string()]).status()?.success());
    said.wait_for("ingest exited", Duration::from_secs(10))?;
    let again = pid_of(&said.wait_for("restarted ingest (pid", Duration::from_secs(10))?, "ingest")?;
    assert_ne!(again, ingest);

    // The restarted ingest answers: one try each, no retries inside qm, must be accepted.
    let creds = data.path().join("trust/creds/operator.nk");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = Command::new(workspace_binary("qm")?)
            .args(["--retry-s", "0", "demand", "probe", "--team", "research", "--chips", "1", "--accepts", "l4=0.1", "--key", "probe-1"])
            .envs(client_env(data.path(), &url, &creds))
            .output()?;
        if out.status.success() && String::from_utf8_lossy(&out.stdout).starts_with("accepted ") {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "the restarted ingest never answered: {}", String::from_utf8_lossy(&out.stderr));
        std::thread::sleep(Duration::from_millis(300));
    }
}
