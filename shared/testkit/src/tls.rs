//! TLS for a test: a CA generated on the spot (rcgen), a server certificate for
//! 127.0.0.1 and localhost, and one client certificate that every test identity
//! presents (who a client is still comes from its nkey; the certificate only proves it
//! holds one the CA issued). Nothing is reused between tests.

use anyhow::Result;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
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
    /// Generates the CA and both certificates into `dir`.
    pub fn generate(dir: &Path) -> Result<Self> {
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca_params.distinguished_name.push(DnType::CommonName, "qm test CA");
        let ca_key = KeyPair::generate()?;
        let ca = ca_params.self_signed(&ca_key)?;
        let issue = |names: Vec<String>, common_name: &str| -> Result<(String, String)> {
            let mut params = CertificateParams::new(names)?;
            params.distinguished_name.push(DnType::CommonName, common_name);
            let key = KeyPair::generate()?;
            Ok((params.signed_by(&key, &ca, &ca_key)?.pem(), key.serialize_pem()))
        };
        let (server_cert, server_key) = issue(vec!["127.0.0.1".into(), "localhost".into()], "qm test nats-server")?;
        let (client_cert, client_key) = issue(vec!["qm-test-client".into()], "qm test client")?;
        let tls = Self {
            ca: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server-key.pem"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client-key.pem"),
        };
        std::fs::write(&tls.ca, ca.pem())?;
        for (path, pem) in [(&tls.server_cert, server_cert), (&tls.server_key, server_key), (&tls.client_cert, client_cert), (&tls.client_key, client_key)] {
            std::fs::write(path, pem)?;
        }
        Ok(tls)
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
