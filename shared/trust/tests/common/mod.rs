//! Connecting to a real nats-server (auth on) as one generated identity, and probes that
//! tell "the server refused" apart from "nothing happened": a refusal must show up as
//! the server's own permissions violation, and what was refused must not have happened.

#![allow(dead_code)]

use anyhow::{Context, Result};
use async_nats::jetstream;
use qm_bus::Bus;
use qm_testkit::NatsServer;
use qm_trust::Credentials;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a probe waits for a message that should arrive (or must not).
pub const WAIT: Duration = Duration::from_millis(400);

/// One authenticated connection and the permission violations the server reported on it.
pub struct Conn {
    pub client: async_nats::Client,
    /// The raw JetStream context, with short request timeouts for refused requests.
    pub js: jetstream::Context,
    /// The same connection as the services use it.
    pub bus: Bus,
    violations: Arc<Mutex<Vec<String>>>,
}

impl Conn {
    /// Waits a moment, then whether the server reported a violation naming `subject`.
    pub async fn refused(&self, subject: &str) -> bool {
        let deadline = tokio::time::Instant::now() + WAIT * 2;
        while tokio::time::Instant::now() < deadline {
            let seen = self.violations.lock().map(|v| v.iter().any(|e| e.contains(subject))).unwrap_or(false);
            if seen {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }
}

/// Connects as identity `name` of `server`, with its private inbox prefix. A connection
/// the server resets while it is still starting (seen once in CI on a loaded machine) is
/// tried again for a few seconds; a refusal of the credentials is not.
pub async fn connect_as(server: &NatsServer, name: &str) -> Result<Conn> {
    let creds = Credentials::load(&server.creds(name)?)?;
    let violations = Arc::new(Mutex::new(Vec::new()));
    let mut attempts = 0;
    let client = loop {
        let sink = violations.clone();
        let connected = async_nats::ConnectOptions::new()
            .nkey(creds.seed().to_owned())
            .custom_inbox_prefix(creds.inbox_prefix())
            .event_callback(move |event| {
                let sink = sink.clone();
                async move {
                    if let async_nats::Event::ServerError(e) = event {
                        if let Ok(mut v) = sink.lock() {
                            v.push(e.to_string());
                        }
                    }
                }
            })
            .connect(server.url())
            .await;
        match connected {
            Err(e) if e.kind() == async_nats::ConnectErrorKind::Io && attempts < 30 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => break other.with_context(|| format!("connect as {name}"))?,
        }
    };
    let js = jetstream::ContextBuilder::new().timeout(WAIT * 2).build(client.clone());
    let bus = Bus::new(client.clone(), 64);
    Ok(Conn { client, js, bus, violations })
}

/// A secured server with every stream, bucket and the actuator's consumer created by
/// the admin, as `qm init --apply` does.
pub async fn provisioned(teams: &[&str]) -> Result<(NatsServer, Conn)> {
    let server = NatsServer::start_secure(teams)?;
    let admin = connect_as(&server, "admin").await?;
    let settings = qm_bus::StreamSettings { in_memory: true, ..Default::default() };
    qm_bus::streams::ensure_streams(&admin.bus, &settings).await?;
    qm_bus::lease::LeaseStore::open(&admin.bus, &Default::default()).await?;
    qm_bus::snapshot::SnapshotStore::open(&admin.bus, &Default::default()).await?;
    qm_bus::read::ensure_durable(&admin.bus, qm_bus::subjects::DECISIONS_STREAM, "qm-actuator", 1_024, 0).await?;
    Ok((server, admin))
}

/// Whether a core publish of `subject` by `sender` reaches a subscriber (the admin),
/// i.e. whether the server let it through. The admin first sees its own marker on the
/// subject, so its subscription is known to be in place.
pub async fn delivered(admin: &Conn, sender: &Conn, subject: &str) -> Result<bool> {
    let mut sub = admin.client.subscribe(subject.to_owned()).await?;
    admin.client.publish(subject.to_owned(), "marker".into()).await?;
    let marker = tokio::time::timeout(WAIT * 5, futures::StreamExt::next(&mut sub)).await;
    anyhow::ensure!(matches!(marker, Ok(Some(_))), "the admin's own marker on {subject} never arrived");
    sender.client.publish(subject.to_owned(), "probe".into()).await?;
    sender.client.flush().await?;
    Ok(matches!(tokio::time::timeout(WAIT, futures::StreamExt::next(&mut sub)).await, Ok(Some(_))))
}

/// Whether `reader` receives what the admin publishes on `subject`: the admin keeps
/// publishing for a while, so a subscription still on its way to the server is not
/// mistaken for a refused one.
pub async fn readable(admin: &Conn, reader: &Conn, subject: &str) -> Result<bool> {
    let mut sub = reader.client.subscribe(subject.to_owned()).await?;
    reader.client.flush().await?;
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        admin.client.publish(subject.to_owned(), "probe".into()).await?;
        admin.client.flush().await?;
        if let Ok(Some(_)) = tokio::time::timeout(std::time::Duration::from_millis(50), futures::StreamExt::next(&mut sub)).await {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Messages stored in `stream` now (asked by the admin).
pub async fn stored(admin: &Conn, stream: &str) -> Result<u64> {
    let mut stream = admin.js.get_stream(stream).await?;
    Ok(stream.info().await?.state.messages)
}

/// Waits (a few seconds at most) until `stream` holds `expected` messages, e.g. while
/// `QM_INPUT` sources actuation reports in; then the count, for the caller to compare.
pub async fn settled_count(admin: &Conn, stream: &str, expected: u64) -> Result<u64> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        let now = stored(admin, stream).await?;
        if now == expected || tokio::time::Instant::now() >= deadline {
            return Ok(now);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
