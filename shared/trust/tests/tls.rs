//! The TLS files `qm init --tls` writes, against a real nats-server started with the
//! generated `nats-server.conf`: identities connect over TLS with the installation's CA
//! and client certificate; a client without TLS is refused; after a re-issue (rotation)
//! and a reload, clients still trusting the original `ca.pem` connect with the new
//! client certificate, so the CA survived.

use qm_testkit::NatsServer;
use qm_trust::{Names, TrustDir};
use std::time::Duration;

fn quick(mut settings: qm_bus::ConnectSettings) -> qm_bus::ConnectSettings {
    settings.start_timeout = Duration::from_secs(3);
    settings
}

#[tokio::test]
async fn generated_certificates_serve_and_survive_a_reissue() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let trust = TrustDir::init(dir.path(), &["ml".to_owned()], &Names::default())?;
    trust.init_tls(&[])?;
    let ca_before = std::fs::read(trust.tls().ca())?;
    let server = NatsServer::start_with_trust_tls(trust.clone())?;
    qm_bus::connect(&quick(server.connect_settings("team-ml")?)).await?;
    let mut plain = server.connect_settings("team-ml")?;
    plain.tls = qm_bus::TlsSettings::default();
    assert!(qm_bus::connect(&quick(plain)).await.is_err(), "a client that does not use the installation's CA is refused");
    let mut no_client_cert = server.connect_settings("team-ml")?;
    no_client_cert.tls.client_cert = None;
    no_client_cert.tls.client_key = None;
    assert!(qm_bus::connect(&quick(no_client_cert)).await.is_err(), "a client without the client certificate is refused");

    let client_before = std::fs::read(trust.tls().client_cert())?;
    trust.init_tls(&[])?;
    assert_ne!(std::fs::read(trust.tls().client_cert())?, client_before, "a new client certificate");
    assert_eq!(std::fs::read(trust.tls().ca())?, ca_before, "the CA is kept");
    server.reload()?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    qm_bus::connect(&quick(server.connect_settings("operator")?)).await?;
    Ok(())
}
