//! Connecting, with retry, so a service may start before its server is up; with the
//! credentials and TLS settings a secured server asks for.

use crate::bus::Bus;
use crate::error::BusError;
use std::path::PathBuf;
use std::time::Duration;

/// How to reach NATS and who to be there.
#[derive(Clone, Debug)]
pub struct ConnectSettings {
    /// One server URL, or several separated by commas (members of one cluster): the
    /// client connects to any and fails over to the others.
    pub url: String,
    /// Name shown in the server's connection list.
    pub name: String,
    /// How long to keep trying before giving up at start.
    pub start_timeout: Duration,
    /// A NATS credentials file: an nkey seed as `qm init` writes it (`SU...`; the
    /// connection then uses that identity's private inbox prefix), or a user JWT and
    /// seed as `nsc` writes them. `None` connects without authenticating.
    pub credentials: Option<PathBuf>,
    pub tls: TlsSettings,
    /// Publishes awaiting their ack on this connection, at most; more wait (backpressure).
    pub publish_inflight_max: usize,
}

impl Default for ConnectSettings {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".into(),
            name: "qm".into(),
            start_timeout: Duration::from_secs(30),
            credentials: None,
            tls: TlsSettings::default(),
            publish_inflight_max: 64,
        }
    }
}

/// TLS to the server; all off by default (a `tls://` URL still turns TLS on).
#[derive(Clone, Debug, Default)]
pub struct TlsSettings {
    /// PEM file of the CA that signed the server's certificate, trusted in addition to
    /// the system's roots.
    pub ca: Option<PathBuf>,
    /// PEM certificate and key of this client, for servers that verify clients.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// Refuse to talk to the server without TLS.
    pub required: bool,
    /// Start TLS before the server's INFO (servers configured with `handshake_first`).
    pub first: bool,
}

impl ConnectSettings {
    /// The async-nats options these settings stand for, checked (files readable, a
    /// client certificate with its key).
    async fn options(&self) -> Result<async_nats::ConnectOptions, BusError> {
        let mut options = async_nats::ConnectOptions::new()
            .name(&self.name)
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(2));
        if let Some(path) = &self.credentials {
            options = with_credentials(options, path).await?;
        }
        let tls = &self.tls;
        if let Some(ca) = &tls.ca {
            readable(ca, "TLS CA")?;
            options = options.add_root_certificates(ca.clone());
        }
        match (&tls.client_cert, &tls.client_key) {
            (Some(cert), Some(key)) => {
                readable(cert, "TLS client certificate")?;
                readable(key, "TLS client key")?;
                options = options.add_client_certificate(cert.clone(), key.clone());
            }
            (None, None) => {}
            _ => return Err(BusError::Settings { message: "a TLS client certificate needs its key, and a key its certificate".into() }),
        }
        if tls.required {
            options = options.require_tls(true);
        }
        if tls.first {
            options = options.tls_first();
        }
        Ok(options)
    }
}

/// Authenticates with `path`: a `.creds` file (user JWT) as async-nats reads it, else an
/// nkey seed file, whose identity may only read inboxes under its own prefix.
async fn with_credentials(options: async_nats::ConnectOptions, path: &std::path::Path) -> Result<async_nats::ConnectOptions, BusError> {
    let unusable = |e: &dyn std::fmt::Display| BusError::Settings { message: format!("credentials file {}: {e}", path.display()) };
    let text = std::fs::read_to_string(path).map_err(|e| unusable(&e))?;
    if text.contains("BEGIN NATS USER JWT") {
        return options.credentials_file(path).await.map_err(|e| unusable(&e));
    }
    let creds = qm_trust::Credentials::load(path).map_err(|e| unusable(&e))?;
    Ok(options.nkey(creds.seed().to_owned()).custom_inbox_prefix(creds.inbox_prefix()))
}

fn readable(path: &std::path::Path, what: &str) -> Result<(), BusError> {
    std::fs::metadata(path).map(|_| ()).map_err(|e| BusError::Settings { message: format!("{what} {}: {e}", path.display()) })
}

/// Connects, retrying until `start_timeout`; later disconnects are retried by the client.
pub async fn connect(settings: &ConnectSettings) -> Result<Bus, BusError> {
    let deadline = tokio::time::Instant::now() + settings.start_timeout;
    let mut delay = Duration::from_millis(50);
    let servers: Vec<&str> = settings.url.split(',').map(str::trim).filter(|url| !url.is_empty()).collect();
    loop {
        let attempt = settings.options().await?.connect(servers.as_slice());
        match tokio::time::timeout(Duration::from_secs(3), attempt).await {
            // retry_on_initial_connect returns at once; wait until really connected.
            Ok(Ok(client)) if wait_connected(&client, deadline).await => {
                let signer = settings.credentials.as_deref().and_then(|path| qm_trust::Credentials::load(path).ok());
                return Ok(Bus::new(client, settings.publish_inflight_max).with_signer(signer));
            }
            Ok(Err(e)) if tokio::time::Instant::now() >= deadline => {
                return Err(BusError::Unreachable { url: settings.url.clone(), message: e.to_string() });
            }
            _ => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(BusError::Unreachable { url: settings.url.clone(), message: "timed out".into() });
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(1));
    }
}

async fn wait_connected(client: &async_nats::Client, deadline: tokio::time::Instant) -> bool {
    while tokio::time::Instant::now() < deadline {
        if client.connection_state() == async_nats::connection::State::Connected {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(credentials: Option<&str>, tls: TlsSettings) -> ConnectSettings {
        ConnectSettings {
            credentials: credentials.map(PathBuf::from),
            tls,
            start_timeout: Duration::from_millis(10),
            ..Default::default()
        }
    }

    /// Given settings naming files that cannot be used, connecting fails at once with a
    /// settings error (no retry loop, no server needed), naming the file.
    #[tokio::test]
    async fn unusable_credentials_or_certificates_fail_fast() {
        let missing = "/nonexistent/qm.creds";
        let cert_without_key = TlsSettings { client_cert: Some(missing.into()), ..Default::default() };
        let missing_ca = TlsSettings { ca: Some("/nonexistent/ca.pem".into()), ..Default::default() };
        let cases = [
            (settings(Some(missing), TlsSettings::default()), "qm.creds"),
            (settings(None, cert_without_key), "needs its key"),
            (settings(None, missing_ca), "ca.pem"),
        ];
        for (settings, expected) in cases {
            match connect(&settings).await {
                Err(BusError::Settings { message }) => assert!(message.contains(expected), "{message}"),
                other => panic!("expected a settings error mentioning {expected}, got {:?}", other.map(|_| ())),
            }
        }
    }

    /// A well-formed credentials file is accepted by the options builder.
    #[tokio::test]
    async fn a_credentials_file_is_loaded_into_the_options() {
        let dir = std::env::temp_dir().join(format!("qm-creds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("user.creds");
        // Shape of an nsc-written file; the seed is a throwaway user seed.
        let creds = "-----BEGIN NATS USER JWT-----\neyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.c2ln\n------END NATS USER JWT------\n\n\
                     -----BEGIN USER NKEY SEED-----\nSUACSSL3UAHUDXKFSNVUZRF5UHPMWZ6BFDTJ7M6USDXIEDNPPQYYYCU3VY\n------END USER NKEY SEED------\n";
        std::fs::write(&path, creds).expect("write creds");
        let settings = settings(Some(path.to_str().expect("utf-8 path")), TlsSettings::default());
        let loaded = settings.options().await;
        let _ = std::fs::remove_dir_all(&dir);
        assert!(loaded.is_ok(), "{:?}", loaded.err());
    }
}
