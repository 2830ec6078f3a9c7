//! TLS for a test: a CA generated on the spot (by `qm_trust::tls`, as `qm init --tls`
//! does), a server certificate for 127.0.0.1 and localhost, and one client certificate
//! that every test identity presents (who a client is still comes from its nkey; the
//! certificate only proves it holds one the CA issued). Nothing is reused between tests.

use anyhow::Result;
use std::path::{Path, PathBuf};

/// PEM files of one test's CA and certificates.
#[derive(Clone, Debug)]
pub struct TestTls {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl TestTls {
    /// Generates the CA and both certificates into `dir/tls`, as `qm init --tls` does
    /// (`qm_trust::tls`): a fresh CA per test.
    pub fn generate(dir: &Path) -> Result<Self> {
        let tls = qm_trust::tls::TlsDir::new(dir.join("tls"));
        tls.issue(&[])?;
        Ok(Self {
            ca: tls.ca(),
            server_cert: tls.server_cert(),
            server_key: tls.server_key(),
            client_cert: tls.client_cert(),
            client_key: tls.client_key(),
        })
    }

    /// nats-server's `tls` block: its certificate, and clients must present one the CA signed.
    pub fn server_block(&self) -> String {
        let quoted = |p: &Path| format!("{:?}", p.display().to_string());
        format!(
            "tls {{\n  cert_file: {}\n  key_file: {}\n  ca_file: {}\n  verify: true\n  timeout: 5\n}}\n",
            quoted(&self.server_cert),
            quoted(&self.server_key),
            quoted(&self.ca)
        )
    }

    /// The client side, as connect settings.
    pub fn client_settings(&self) -> qm_bus::TlsSettings {
        qm_bus::TlsSettings {
            ca: Some(self.ca.clone()),
            client_cert: Some(self.client_cert.clone()),
            client_key: Some(self.client_key.clone()),
            required: true,
            first: false,
        }
    }

    /// The client side, as the environment the services and the CLI read.
    pub fn client_env(&self) -> Vec<(String, String)> {
        let path = |p: &Path| p.display().to_string();
        vec![
            ("QM_NATS_TLS_CA".to_owned(), path(&self.ca)),
            ("QM_NATS_TLS_CERT".to_owned(), path(&self.client_cert)),
            ("QM_NATS_TLS_KEY".to_owned(), path(&self.client_key)),
            ("QM_NATS_TLS_REQUIRED".to_owned(), "true".to_owned()),
        ]
    }
}
