//! [`Bus`]: one connection to NATS and its JetStream context, the handle every other
//! function of this crate takes.

use crate::error::BusError;
use async_nats::jetstream;

/// A connection to the bus. Cheap to clone (clones share the connection).
#[derive(Clone, Debug)]
pub struct Bus {
    client: async_nats::Client,
    js: jetstream::Context,
    /// The identity's key, when it connected with an nkey seed: what it appends to a
    /// log (`qm.input`, `qm.decision`, `qm.act`) is signed with it.
    signer: Option<qm_trust::Credentials>,
}

impl Bus {
    /// Wraps a connected client. Publishes apply backpressure instead of failing when
    /// `publish_inflight_max` acks are outstanding.
    pub fn new(client: async_nats::Client, publish_inflight_max: usize) -> Self {
        let js = jetstream::ContextBuilder::new()
            .max_ack_inflight(publish_inflight_max.max(1))
            .backpressure_on_inflight(true)
            .build(client.clone());
        Self { client, js, signer: None }
    }

    /// The same connection, signing what it appends to a log with `credentials`.
    pub fn with_signer(mut self, credentials: Option<qm_trust::Credentials>) -> Self {
        self.signer = credentials;
        self
    }

    pub(crate) fn signer(&self) -> Option<&qm_trust::Credentials> {
        self.signer.as_ref()
    }

    /// The same connection with another publish limit.
    pub fn with_publish_inflight_max(&self, publish_inflight_max: usize) -> Self {
        Self::new(self.client.clone(), publish_inflight_max).with_signer(self.signer.clone())
    }

    /// The raw client, for what must measure NATS itself (the load test's same-run
    /// baselines). Services never need it.
    pub fn raw_client(&self) -> &async_nats::Client {
        &self.client
    }

    /// The raw JetStream context; see [`Bus::raw_client`].
    pub fn raw_jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    pub(crate) fn js(&self) -> &jetstream::Context {
        &self.js
    }

    pub(crate) fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// Waits until everything sent so far has reached the server.
    pub async fn flush(&self) -> Result<(), BusError> {
        self.client.flush().await.map_err(|e| BusError::Unreachable { url: String::new(), message: e.to_string() })
    }
}
