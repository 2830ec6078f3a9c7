//! Connecting, with retry, so a service may start before its server is up.

use crate::error::BusError;
use std::time::Duration;

/// How to reach NATS.
#[derive(Clone, Debug)]
pub struct ConnectSettings {
    /// One server URL, or several separated by commas (members of one cluster): the
    /// client connects to any and fails over to the others.
    pub url: String,
    /// Name shown in the server's connection list.
    pub name: String,
    /// How long to keep trying before giving up at start.
    pub start_timeout: Duration,
}

impl Default for ConnectSettings {
    fn default() -> Self {
        Self { url: "nats://127.0.0.1:4222".into(), name: "qm".into(), start_timeout: Duration::from_secs(30) }
    }
}

/// Connects, retrying until `start_timeout`; later disconnects are retried by the client.
pub async fn connect(settings: &ConnectSettings) -> Result<async_nats::Client, BusError> {
    let deadline = tokio::time::Instant::now() + settings.start_timeout;
    let mut delay = Duration::from_millis(50);
    let servers: Vec<&str> = settings.url.split(',').map(str::trim).filter(|url| !url.is_empty()).collect();
    loop {
        let attempt = async_nats::ConnectOptions::new()
            .name(&settings.name)
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(2))
            .connect(servers.as_slice());
        match tokio::time::timeout(Duration::from_secs(3), attempt).await {
            // retry_on_initial_connect returns at once; wait until really connected.
            Ok(Ok(client)) if wait_connected(&client, deadline).await => return Ok(client),
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

/// A JetStream context whose publishes apply backpressure instead of failing when
/// `inflight_max` acks are outstanding.
pub fn jetstream(client: async_nats::Client, inflight_max: usize) -> async_nats::jetstream::Context {
    async_nats::jetstream::ContextBuilder::new()
        .max_ack_inflight(inflight_max)
        .backpressure_on_inflight(true)
        .build(client)
}
