//! TLS files of an installation (`qm init --tls`): a CA of its own, the server's
//! certificate and one client certificate, as PEM files, and nats-server's `tls` block.
//!
//! ```text
//! DIR/tls/ca.pem                 the CA certificate: every client trusts it
//! DIR/tls/ca-key.pem             the CA key (secret; 0600): only to issue certificates
//! DIR/tls/server.pem, -key.pem   nats-server's certificate for the given host names
//! DIR/tls/client.pem, -key.pem   the certificate every client presents (key 0600)
//! ```
//!
//! Who a client is still comes from its nkey: the client certificate only proves that
//! the client holds one this CA issued (the server runs with `verify: true`), so one
//! client certificate serves every identity. Re-issuing ([`TlsDir::issue`] again) keeps
//! the CA when its key is there, so clients keep trusting `ca.pem` across a rotation.

use crate::error::TrustError;
use crate::registry::{io, write_secret};
use rcgen::{BasicConstraints, Certificate, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use std::path::{Path, PathBuf};

/// The CA's common name. Fixed, so a CA rebuilt from its key (to sign a re-issue) has
/// the same subject as the `ca.pem` clients trust.
const CA_NAME: &str = "Quartermaster installation CA";

/// The host names the server certificate is always for: loopback.
pub fn default_hosts() -> Vec<String> {
    vec!["127.0.0.1".into(), "localhost".into()]
}

/// The TLS files of one installation, by path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsDir {
    pub root: PathBuf,
}

impl TlsDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn ca(&self) -> PathBuf {
        self.root.join("ca.pem")
    }
    pub fn ca_key(&self) -> PathBuf {
        self.root.join("ca-key.pem")
    }
    pub fn server_cert(&self) -> PathBuf {
        self.root.join("server.pem")
    }
    pub fn server_key(&self) -> PathBuf {
        self.root.join("server-key.pem")
    }
    pub fn client_cert(&self) -> PathBuf {
        self.root.join("client.pem")
    }
    pub fn client_key(&self) -> PathBuf {
        self.root.join("client-key.pem")
    }

    /// Whether the files a server and its clients need are all there.
    pub fn exists(&self) -> bool {
        [self.ca(), self.server_cert(), self.server_key(), self.client_cert(), self.client_key()].iter().all(|p| p.exists())
    }

    /// Issues a server certificate for loopback and `hosts` (IP addresses or DNS names,
    /// e.g. the compose service name `nats`) and a client
    /// certificate, signed by this directory's CA; the CA is generated first if its key
    /// is absent. Existing server and client files are replaced (rotation).
    pub fn issue(&self, hosts: &[String]) -> Result<(), TrustError> {
        std::fs::create_dir_all(&self.root).map_err(|e| io(&self.root, e))?;
        let (ca, ca_key) = self.ca_or_new()?;
        let mut names = default_hosts();
        names.extend(hosts.iter().filter(|h| !default_hosts().contains(h)).cloned());
        let hosts = names;
        let issue = |names: Vec<String>, common_name: &str| -> Result<(String, String), TrustError> {
            let mut params = CertificateParams::new(names).map_err(tls_error)?;
            params.distinguished_name.push(DnType::CommonName, common_name);
            let key = KeyPair::generate().map_err(tls_error)?;
            Ok((params.signed_by(&key, &ca, &ca_key).map_err(tls_error)?.pem(), key.serialize_pem()))
        };
        let (server_cert, server_key) = issue(hosts, "Quartermaster nats-server")?;
        let (client_cert, client_key) = issue(vec!["qm-client".into()], "Quartermaster client")?;
        write_public(&self.server_cert(), &server_cert)?;
        write_secret(&self.server_key(), &server_key)?;
        write_public(&self.client_cert(), &client_cert)?;
        write_secret(&self.client_key(), &client_key)
    }

    /// The CA to sign with: rebuilt from `ca-key.pem` (same subject and key, so what it
    /// signs verifies against the `ca.pem` already handed out), or a new one, written.
    fn ca_or_new(&self) -> Result<(Certificate, KeyPair), TrustError> {
        let key_path = self.ca_key();
        let (key, fresh) = if key_path.exists() {
            let pem = std::fs::read_to_string(&key_path).map_err(|e| io(&key_path, e))?;
            (KeyPair::from_pem(&pem).map_err(tls_error)?, false)
        } else {
            (KeyPair::generate().map_err(tls_error)?, true)
        };
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(tls_error)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.distinguished_name.push(DnType::CommonName, CA_NAME);
        let ca = params.self_signed(&key).map_err(tls_error)?;
        if fresh || !self.ca().exists() {
            write_secret(&key_path, &key.serialize_pem())?;
            write_public(&self.ca(), &ca.pem())?;
        }
        Ok((ca, key))
    }

    /// nats-server's `tls` block: its certificate, and clients must present one the CA
    /// signed (`verify: true`). Paths are absolute when the directory's are.
    pub fn server_block(&self) -> String {
        let quoted = |p: &Path| format!("{:?}", p.display().to_string());
        format!(
            "tls {{\n  cert_file: {}\n  key_file: {}\n  ca_file: {}\n  verify: true\n  timeout: 5\n}}\n",
            quoted(&self.server_cert()),
            quoted(&self.server_key()),
            quoted(&self.ca())
        )
    }

    /// What a client needs, as the environment the services and the CLI read.
    pub fn client_env(&self) -> Vec<(&'static str, String)> {
        let path = |p: PathBuf| p.display().to_string();
        vec![
            ("QM_NATS_TLS_CA", path(self.ca())),
            ("QM_NATS_TLS_CERT", path(self.client_cert())),
            ("QM_NATS_TLS_KEY", path(self.client_key())),
            ("QM_NATS_TLS_REQUIRED", "true".to_owned()),
        ]
    }
}

fn write_public(path: &Path, text: &str) -> Result<(), TrustError> {
    std::fs::write(path, text).map_err(|e| io(path, e))
}

fn tls_error(e: rcgen::Error) -> TrustError {
    TrustError::Tls(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_writes_every_file_keys_private_and_a_reissue_keeps_the_ca() {
        let dir = std::env::temp_dir().join(format!("qm-tls-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let tls = TlsDir::new(&dir);
        assert!(!tls.exists());
        tls.issue(&[]).expect("issue");
        assert!(tls.exists());
        #[cfg(unix)]
        for key in [tls.ca_key(), tls.server_key(), tls.client_key()] {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key).expect("key").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", key.display());
        }
        let (ca, server) = (std::fs::read(tls.ca()).expect("ca"), std::fs::read(tls.server_cert()).expect("cert"));
        tls.issue(&["nats".into()]).expect("re-issue");
        assert_eq!(std::fs::read(tls.ca()).expect("ca"), ca, "the CA clients trust is kept");
        assert_ne!(std::fs::read(tls.server_cert()).expect("cert"), server, "the server certificate is new");
        assert!(tls.server_block().contains("verify: true"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
