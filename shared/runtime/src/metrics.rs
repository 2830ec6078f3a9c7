//! Prometheus metrics and health over plain HTTP/1.1. A service answers two paths,
//! `/metrics` and `/healthz`, so a hand-rolled responder on tokio is enough and keeps
//! an HTTP framework out of the dependency tree.

use prometheus_client::encoding::text::encode;
pub use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Largest request head read; anything longer is answered 400.
const REQUEST_BYTES_MAX: usize = 8 * 1024;

/// Serves `/metrics` and `/healthz` on `addr` until the task is dropped.
pub async fn serve(addr: SocketAddr, registry: Arc<Registry>) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(%addr, "metrics endpoint listening");
    loop {
        let (mut socket, _) = listener.accept().await?;
        let registry = registry.clone();
        tokio::spawn(async move {
            // Read until the end of the request head; a request may arrive in pieces.
            let mut buffer = vec![0u8; REQUEST_BYTES_MAX];
            let mut filled = 0;
            while filled < buffer.len() && !buffer[..filled].windows(4).any(|w| w == b"\r\n\r\n") {
                match socket.read(&mut buffer[filled..]).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => filled += n,
                }
            }
            let head = String::from_utf8_lossy(&buffer[..filled]);
            let path = head.split_whitespace().nth(1).unwrap_or("");
            let (status, content_type, body) = match path {
                "/metrics" => {
                    let mut text = String::new();
                    match encode(&mut text, &registry) {
                        Ok(()) => ("200 OK", "application/openmetrics-text; version=1.0.0; charset=utf-8", text),
                        Err(_) => ("500 Internal Server Error", "text/plain", "encode failed\n".to_owned()),
                    }
                }
                "/healthz" => ("200 OK", "text/plain", "ok\n".to_owned()),
                _ => ("404 Not Found", "text/plain", "not found\n".to_owned()),
            };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
        });
    }
}

/// Counters keyed by one label, registered under one name: the only shape the services need.
#[derive(Clone, Default)]
pub struct LabeledCounter {
    family: prometheus_client::metrics::family::Family<Vec<(String, String)>, prometheus_client::metrics::counter::Counter>,
    label: &'static str,
    /// The series already used, by label value: `inc` runs per request and per log entry,
    /// and building the family's key (a vector of two strings) each time cost allocations.
    series: Arc<std::sync::RwLock<std::collections::HashMap<String, prometheus_client::metrics::counter::Counter>>>,
}

impl LabeledCounter {
    /// Registers a counter family `name` with one label `label`.
    pub fn register(registry: &mut Registry, name: &str, help: &str, label: &'static str) -> Self {
        let counter = Self { family: Default::default(), label, series: Default::default() };
        registry.register(name, help, counter.family.clone());
        counter
    }

    /// Adds one to the series with `label = value`.
    pub fn inc(&self, value: &str) {
        if let Some(counter) = self.series.read().ok().as_ref().and_then(|series| series.get(value)) {
            counter.inc();
            return;
        }
        let counter = self.family.get_or_create(&vec![(self.label.to_owned(), value.to_owned())]).clone();
        counter.inc();
        if let Ok(mut series) = self.series.write() {
            series.insert(value.to_owned(), counter);
        }
    }
}

/// One value that goes up and down (an in-flight count, the entry a fold is halted at).
#[derive(Clone, Default)]
pub struct Gauge {
    gauge: prometheus_client::metrics::gauge::Gauge,
}

impl Gauge {
    /// Registers a gauge `name`.
    pub fn register(registry: &mut Registry, name: &str, help: &str) -> Self {
        let gauge = Self::default();
        registry.register(name, help, gauge.gauge.clone());
        gauge
    }

    /// Sets the value (saturating at `i64::MAX`).
    pub fn set(&self, value: u64) {
        self.gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
    }
}

/// Starts the endpoint in the background when an address is configured.
pub fn spawn_endpoint(addr: Option<SocketAddr>, registry: Registry) {
    if let Some(addr) = addr {
        let registry = Arc::new(registry);
        tokio::spawn(async move {
            if let Err(e) = serve(addr, registry).await {
                tracing::error!(error = %e, %addr, "metrics endpoint failed");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Repeated values land in one series (through the cache), new ones in their own.
    #[test]
    fn labeled_counter_counts_per_value() {
        let mut registry = Registry::default();
        let counter = LabeledCounter::register(&mut registry, "qm_test_events", "test", "kind");
        for value in ["a", "b", "a", "a"] {
            counter.inc(value);
        }
        let mut text = String::new();
        encode(&mut text, &registry).expect("encodes");
        assert!(text.contains("qm_test_events_total{kind=\"a\"} 3"), "{text}");
        assert!(text.contains("qm_test_events_total{kind=\"b\"} 1"), "{text}");
    }
}
