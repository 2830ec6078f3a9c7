//! The plumbing every service binary shares, so each `main.rs` stays a few lines.
//!
//! - [`init_logging`]: structured `tracing` logs, filtered by `RUST_LOG`, JSON with `QM_LOG_JSON=1`.
//! - [`shutdown_signal`]: resolves on Ctrl-C or SIGTERM, for graceful shutdown.
//! - [`metrics`]: a Prometheus registry and a `/metrics` + `/healthz` endpoint.
//! - [`service`]: the shared flags (NATS, credentials, TLS, metrics, replicas) and the
//!   bootstrap every service starts with (connect, ensure streams, registry).

pub mod metrics;
pub mod service;

pub use service::{Bootstrap, CommonArgs, NatsArgs, ServiceSettings};

/// Sets up `tracing` output on stderr; `RUST_LOG` filters (default `default_level`).
pub fn init_logging(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let result = if std::env::var_os("QM_LOG_JSON").is_some_and(|v| v == "1") {
        builder.json().try_init()
    } else {
        builder.compact().try_init()
    };
    // A second init (tests running several services in one process) keeps the first.
    let _ = result;
}

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
