//! The one service bootstrap: the flags every service has, and what each does first
//! (connect, ensure the streams, open a metrics registry, serve it). Each `main.rs`
//! flattens [`CommonArgs`] into its own flags; each `run` starts with [`Bootstrap::start`].

use crate::metrics::{spawn_endpoint, Registry};
use qm_bus::{Bus, BusError, ConnectSettings, StreamSettings, TlsSettings};
use std::net::SocketAddr;
use std::path::PathBuf;

/// How to reach NATS and who to be there: every service and the CLI take these.
#[derive(clap::Args, Clone, Debug)]
pub struct NatsArgs {
    /// NATS server URL; several, comma-separated, for members of one cluster.
    #[arg(long, global = true, env = "QM_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// NATS credentials file (user JWT and nkey seed), for servers with auth on.
    #[arg(long, global = true, env = "QM_NATS_CREDS")]
    pub nats_creds: Option<PathBuf>,
    /// PEM file of the CA that signed the server's TLS certificate.
    #[arg(long, global = true, env = "QM_NATS_TLS_CA")]
    pub nats_tls_ca: Option<PathBuf>,
    /// PEM client certificate, for servers that verify clients (needs --nats-tls-key).
    #[arg(long, global = true, env = "QM_NATS_TLS_CERT")]
    pub nats_tls_cert: Option<PathBuf>,
    /// PEM key of the client certificate.
    #[arg(long, global = true, env = "QM_NATS_TLS_KEY")]
    pub nats_tls_key: Option<PathBuf>,
    /// Refuse to connect without TLS.
    #[arg(long, global = true, env = "QM_NATS_TLS_REQUIRED")]
    pub nats_tls_required: bool,
    /// Start TLS before the server's greeting (servers with `handshake_first`).
    #[arg(long, global = true, env = "QM_NATS_TLS_FIRST")]
    pub nats_tls_first: bool,
}

impl NatsArgs {
    /// These settings as the environment variables that set them, for child processes
    /// (`qm up` starting the services).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![("QM_NATS_URL", self.nats_url.clone())];
        let paths = [
            ("QM_NATS_CREDS", &self.nats_creds),
            ("QM_NATS_TLS_CA", &self.nats_tls_ca),
            ("QM_NATS_TLS_CERT", &self.nats_tls_cert),
            ("QM_NATS_TLS_KEY", &self.nats_tls_key),
        ];
        for (name, path) in paths {
            if let Some(path) = path {
                env.push((name, path.display().to_string()));
            }
        }
        for (name, on) in [("QM_NATS_TLS_REQUIRED", self.nats_tls_required), ("QM_NATS_TLS_FIRST", self.nats_tls_first)] {
            if on {
                env.push((name, "true".into()));
            }
        }
        env
    }

    /// Connection settings under the connection name `name`.
    pub fn connect_settings(&self, name: &str) -> ConnectSettings {
        ConnectSettings {
            url: self.nats_url.clone(),
            name: name.to_owned(),
            credentials: self.nats_creds.clone(),
            tls: TlsSettings {
                ca: self.nats_tls_ca.clone(),
                client_cert: self.nats_tls_cert.clone(),
                client_key: self.nats_tls_key.clone(),
                required: self.nats_tls_required,
                first: self.nats_tls_first,
            },
            ..Default::default()
        }
    }
}

/// The flags every service has.
#[derive(clap::Args, Clone, Debug)]
pub struct CommonArgs {
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Address for `/metrics` and `/healthz`, e.g. 127.0.0.1:9101.
    #[arg(long, env = "QM_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Copies of each stream (and of the lease and snapshot buckets): 1 on one server, 3
    /// on a cluster to survive a node loss.
    #[arg(long, env = "QM_STREAM_REPLICAS", default_value_t = 1)]
    pub stream_replicas: usize,
}

impl CommonArgs {
    /// The settings of service `name` (also its connection name).
    pub fn service_settings(&self, name: &str) -> ServiceSettings {
        ServiceSettings {
            nats: self.nats.connect_settings(name),
            streams: StreamSettings { replicas: self.stream_replicas, ..Default::default() },
            metrics_addr: self.metrics_addr,
        }
    }
}

/// What every service's config holds, whether it came from flags or a test.
#[derive(Clone, Debug, Default)]
pub struct ServiceSettings {
    pub nats: ConnectSettings,
    pub streams: StreamSettings,
    /// Where to serve `/metrics` and `/healthz`; `None` serves nothing.
    pub metrics_addr: Option<SocketAddr>,
}

impl ServiceSettings {
    /// Defaults, connecting as `name`.
    pub fn named(name: &str) -> Self {
        Self { nats: ConnectSettings { name: name.to_owned(), ..Default::default() }, ..Default::default() }
    }
}

/// A service that has connected and found its streams, with a registry to add its
/// metrics to before [`Bootstrap::serve_metrics`].
pub struct Bootstrap {
    pub bus: Bus,
    pub registry: Registry,
    metrics_addr: Option<SocketAddr>,
}

impl Bootstrap {
    /// Connects (retrying while the server starts) with at most `publish_inflight_max`
    /// unacknowledged publishes, and creates or checks the four streams.
    pub async fn start(settings: &ServiceSettings, publish_inflight_max: usize) -> Result<Self, BusError> {
        let nats = ConnectSettings { publish_inflight_max, ..settings.nats.clone() };
        let bus = qm_bus::connect(&nats).await?;
        qm_bus::streams::ensure_streams(&bus, &settings.streams).await?;
        Ok(Self { bus, registry: Registry::default(), metrics_addr: settings.metrics_addr })
    }

    /// Serves the registered metrics (if an address was given) and hands back the bus.
    pub fn serve_metrics(self) -> Bus {
        spawn_endpoint(self.metrics_addr, self.registry);
        self.bus
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// Flags fall back to these variables; a developer's shell may set them.
    fn env_free() -> bool {
        let names = ["QM_NATS_URL", "QM_NATS_CREDS", "QM_NATS_TLS_CA", "QM_NATS_TLS_CERT", "QM_NATS_TLS_KEY"];
        let more = ["QM_NATS_TLS_REQUIRED", "QM_NATS_TLS_FIRST", "QM_STREAM_REPLICAS", "QM_METRICS_ADDR"];
        let free = names.iter().chain(&more).all(|name| std::env::var_os(name).is_none());
        if !free {
            eprintln!("skipped: QM_NATS_* / QM_STREAM_REPLICAS / QM_METRICS_ADDR set in this environment");
        }
        free
    }

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        common: CommonArgs,
    }

    /// Given flags, the settings every service connects with carry them all through.
    #[test]
    fn flags_become_connect_and_stream_settings() {
        if !env_free() {
            return;
        }
        let flags = Flags::try_parse_from([
            "svc",
            "--nats-url",
            "nats://a:4222,nats://b:4222",
            "--nats-creds",
            "/etc/qm/policy.creds",
            "--nats-tls-ca",
            "/etc/qm/ca.pem",
            "--nats-tls-cert",
            "/etc/qm/policy.pem",
            "--nats-tls-key",
            "/etc/qm/policy-key.pem",
            "--nats-tls-required",
            "--stream-replicas",
            "3",
            "--metrics-addr",
            "127.0.0.1:9102",
        ])
        .expect("valid flags");
        let settings = flags.common.service_settings("qm-policy");
        assert_eq!(settings.nats.url, "nats://a:4222,nats://b:4222");
        assert_eq!(settings.nats.name, "qm-policy");
        assert_eq!(settings.nats.credentials, Some(PathBuf::from("/etc/qm/policy.creds")));
        assert_eq!(settings.nats.tls.ca, Some(PathBuf::from("/etc/qm/ca.pem")));
        assert_eq!(settings.nats.tls.client_cert, Some(PathBuf::from("/etc/qm/policy.pem")));
        assert_eq!(settings.nats.tls.client_key, Some(PathBuf::from("/etc/qm/policy-key.pem")));
        assert!(settings.nats.tls.required && !settings.nats.tls.first);
        assert_eq!(settings.streams.replicas, 3);
        assert_eq!(settings.metrics_addr, Some("127.0.0.1:9102".parse().expect("addr")));
        // And child processes get the same settings back as environment.
        let env = flags.common.nats.env();
        for name in ["QM_NATS_URL", "QM_NATS_CREDS", "QM_NATS_TLS_CA", "QM_NATS_TLS_CERT", "QM_NATS_TLS_KEY", "QM_NATS_TLS_REQUIRED"] {
            assert!(env.iter().any(|(k, _)| *k == name), "{name} missing from {env:?}");
        }
        assert!(!env.iter().any(|(k, _)| *k == "QM_NATS_TLS_FIRST"));
    }

    /// Without flags: one local server, no auth, no TLS, one replica, no endpoint.
    #[test]
    fn defaults_are_a_local_unauthenticated_server() {
        if !env_free() {
            return;
        }
        let settings = Flags::try_parse_from(["svc"]).expect("no flags").common.service_settings("qm-ingest");
        assert_eq!(settings.nats.url, "nats://127.0.0.1:4222");
        assert!(settings.nats.credentials.is_none() && settings.nats.tls.ca.is_none());
        assert_eq!(settings.streams.replicas, 1);
        assert!(settings.metrics_addr.is_none());
    }
}
