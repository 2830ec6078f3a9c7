//! `qm init` / `qm creds`: the generated directory starts a real nats-server that lets
//! in exactly the identities it lists, `--apply` provisions as the admin, and adding a
//! team or rotating a key takes effect on reload.

use anyhow::Context;
use qm_bus::ConnectSettings;
use qm_testkit::{workspace_binary, NatsServer};
use qm_trust::registry::TrustDir;
use qm_trust::Credentials;
use std::path::Path;
use std::process::Command;

fn qm(args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new(workspace_binary("qm")?).args(args).output()?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    anyhow::ensure!(output.status.success(), "qm {args:?} failed: {text}");
    Ok(text)
}

fn settings(server: &NatsServer, creds: &Path) -> ConnectSettings {
    ConnectSettings {
        url: server.url(),
        credentials: Some(creds.to_owned()),
        start_timeout: std::time::Duration::from_secs(2),
        ..Default::default()
    }
}

async fn connects(server: &NatsServer, creds: &Path) -> anyhow::Result<bool> {
    Ok(qm_bus::connect(&settings(server, creds)).await.is_ok())
}

/// Whether `creds` connects within 10 s: a reload is asynchronous, so the test waits
/// for it rather than a fixed half second.
async fn connects_soon(server: &NatsServer, creds: &Path) -> anyhow::Result<bool> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if connects(server, creds).await? {
            return Ok(true);
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn init_generates_a_working_installation_and_creds_change_it_on_reload() -> anyhow::Result<()> {
    let root = tempfile::tempdir()?;
    let dir = root.path().join("trust");
    let dir_arg = dir.to_str().context("utf-8 path")?;
    qm(&["init", dir_arg, "--team", "ml"])?;
    assert!(qm(&["init", dir_arg]).is_err(), "init must refuse to overwrite an installation");
    let trust = TrustDir::new(&dir);
    let server = NatsServer::start_with_trust(trust.clone())?;
    for name in ["admin", "ingest", "policy", "actuator", "operator", "auditor", "team-ml"] {
        assert!(connects(&server, &trust.creds_path(name)).await?, "{name} should connect");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(trust.creds_path("policy"))?.permissions().mode();
        assert_eq!(mode & 0o077, 0, "credentials must be readable by their owner only");
    }

    qm(&["--nats-url", &server.url(), "creds", "apply", dir_arg])?;
    qm(&["--nats-url", &server.url(), "creds", "apply", dir_arg])?; // idempotent
    let auditor = qm_bus::connect(&settings(&server, &trust.creds_path("auditor"))).await?;
    for stream in ["QM_INPUT", "QM_DECISIONS", "QM_ACTUATION", "QM_DEAD", "KV_qm_leases"] {
        qm_bus::streams::last_sequence(&auditor, stream).await.with_context(|| format!("{stream} after apply"))?;
    }
    let policy = qm_bus::connect(&settings(&server, &trust.creds_path("policy"))).await?;
    qm_bus::streams::last_sequence(&policy, "OBJ_qm_snapshots").await?;
    let actuator = qm_bus::connect(&settings(&server, &trust.creds_path("actuator"))).await?;
    let _deliveries = qm_bus::read::durable(&actuator, "QM_DECISIONS", "qm-actuator", 16).await.context("the actuator opens the consumer apply made")?;

    qm(&["creds", "add-team", dir_arg, "cv"])?;
    assert!(qm(&["creds", "add-team", dir_arg, "cv"]).is_err(), "a team is added once");
    assert!(qm(&["creds", "add-team", dir_arg, "bad.name"]).is_err(), "a team name is one subject token");
    let old_ml = Credentials::load(&trust.creds_path("team-ml"))?;
    let old_path = root.path().join("old-ml.nk");
    std::fs::write(&old_path, format!("{}\n", old_ml.seed()))?;
    qm(&["creds", "rotate", dir_arg, "team-ml"])?;
    assert!(!connects(&server, &trust.creds_path("team-cv")).await?, "not before the reload");
    server.reload()?;
    assert!(connects_soon(&server, &trust.creds_path("team-cv")).await?, "the added team connects after reload");
    assert!(connects(&server, &trust.creds_path("team-ml")).await?, "the rotated key connects");
    assert!(!connects(&server, &old_path).await?, "the retired key no longer connects");
    let registry = trust.load()?;
    let ml = registry.get("team-ml").context("team-ml")?;
    assert_eq!(ml.retired_keys, vec![old_ml.public_key()], "the retired key stays to verify old signatures");
    Ok(())
}

/// `qm init --tls` and `qm creds tls`: the CLI writes the CA, certificates and
/// `nats-server.conf` a real server starts with; identities connect over TLS, and a
/// re-issue (`qm creds tls`) keeps the CA, so clients holding the old `ca.pem` connect
/// to the reloaded server with the new client certificate.
#[tokio::test]
async fn init_tls_serves_over_tls_and_creds_tls_rotates_under_the_same_ca() -> anyhow::Result<()> {
    let root = tempfile::tempdir()?;
    let dir = root.path().join("trust");
    let dir_arg = dir.to_str().context("utf-8 path")?;
    let said = qm(&["init", dir_arg, "--team", "ml", "--tls", "--tls-host", "nats"])?;
    assert!(said.contains("nats-server.conf"), "{said}");
    let trust = TrustDir::new(&dir);
    let ca = std::fs::read(trust.tls().ca())?;
    let server = NatsServer::start_with_trust_tls(trust.clone())?;
    qm_bus::connect(&server.connect_settings("team-ml")?).await.context("team-ml over TLS")?;
    assert!(!connects(&server, &trust.creds_path("operator")).await?, "credentials without TLS must be refused");
    qm(&["creds", "tls", dir_arg, "--host", "nats"])?;
    assert_eq!(std::fs::read(trust.tls().ca())?, ca, "the CA is kept across a re-issue");
    server.reload()?;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    qm_bus::connect(&server.connect_settings("operator")?).await.context("operator after the re-issue")?;
    Ok(())
}
