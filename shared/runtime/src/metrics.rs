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
                "/metrics" => match render(&registry) {
                    Ok(text) => ("200 OK", "application/openmetrics-text; version=1.0.0; charset=utf-8", text),
                    Err(_) => ("500 Internal Server Error", "text/plain", "encode failed\n".to_owned()),
                },
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

/// The registry as `/metrics` serves it (OpenMetrics text).
pub fn render(registry: &Registry) -> Result<String, std::fmt::Error> {
    let mut text = String::new();
    encode(&mut text, registry)?;
    Ok(text)
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

/// A histogram of seconds (a lag, a duration), with fixed buckets.
#[derive(Clone)]
pub struct Seconds {
    histogram: prometheus_client::metrics::histogram::Histogram,
}

impl Seconds {
    /// Registers a histogram `name` with buckets from 1 ms doubling to about 65 s: the
    /// range from a healthy round to a takeover after a lost writer.
    pub fn register(registry: &mut Registry, name: &str, help: &str) -> Self {
        let histogram = prometheus_client::metrics::histogram::Histogram::new(
            prometheus_client::metrics::histogram::exponential_buckets(0.001, 2.0, 17),
        );
        registry.register(name, help, histogram.clone());
        Self { histogram }
    }

    /// Records one value; negative ones (clocks apart) count as 0.
    pub fn observe(&self, seconds: f64) {
        self.histogram.observe(seconds.max(0.0));
    }
}

/// One series of a [`GaugeTable`]: its labels and value.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

/// Gauge families whose series are all replaced at once ([`GaugeTable::replace`]): a
/// scrape sees one whole picture, never half of the old and half of the new one, and a
/// series that disappears (a team that holds nothing any more) is gone, not stuck at
/// its last value as it would be in a `Family`.
#[derive(Clone, Debug)]
pub struct GaugeTable {
    families: Arc<[(&'static str, &'static str)]>,
    series: Arc<std::sync::RwLock<Vec<Vec<Series>>>>,
}

impl GaugeTable {
    /// Registers gauge families, each `(name, help)`; they are exported (with no series)
    /// from the start, so their names are known before the first [`GaugeTable::replace`].
    pub fn register(registry: &mut Registry, families: &[(&'static str, &'static str)]) -> Self {
        let table = Self { families: families.into(), series: Arc::new(std::sync::RwLock::new(vec![Vec::new(); families.len()])) };
        registry.register_collector(Box::new(table.clone()));
        table
    }

    /// Replaces every family's series: `series[i]` belongs to the `i`-th family
    /// registered; missing ones become empty.
    pub fn replace(&self, mut series: Vec<Vec<Series>>) {
        series.resize(self.families.len(), Vec::new());
        if let Ok(mut current) = self.series.write() {
            *current = series;
        }
    }
}

impl prometheus_client::collector::Collector for GaugeTable {
    fn encode(&self, mut encoder: prometheus_client::encoding::DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let series = self.series.read().map_err(|_| std::fmt::Error)?;
        for ((name, help), rows) in self.families.iter().zip(series.iter()) {
            let mut family = encoder.encode_descriptor(name, help, None, prometheus_client::metrics::MetricType::Gauge)?;
            for row in rows {
                family.encode_family(&row.labels)?.encode_gauge(&row.value)?;
            }
        }
        Ok(())
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

    /// A replace shows the new series only; families without series still name themselves.
    #[test]
    fn gauge_table_replaces_whole_families() {
        let mut registry = Registry::default();
        let table = GaugeTable::register(&mut registry, &[("qm_test_chips", "chips"), ("qm_test_empty", "none")]);
        let row = |team: &str, value: f64| Series { labels: vec![("team", team.to_owned())], value };
        table.replace(vec![vec![row("a", 3.0), row("b", 1.5)]]);
        table.replace(vec![vec![row("b", 2.0)]]);
        let mut text = String::new();
        encode(&mut text, &registry).expect("encodes");
        assert!(text.contains("qm_test_chips{team=\"b\"} 2.0"), "{text}");
        assert!(!text.contains("team=\"a\""), "{text}");
        assert!(text.contains("# TYPE qm_test_empty gauge"), "{text}");
    }

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
