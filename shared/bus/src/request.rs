//! Request/reply over core NATS: how senders talk to ingest, and how ingest serves them.
//! Headers are plain name/value pairs; the names in use live in `qm_model`
//! (`IDEMPOTENCY_KEY_HEADER`, `SOURCE_HEADER`).

use crate::bus::Bus;
use crate::error::{BusError, RequestFailure};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use std::time::Duration;

/// Sends `payload` to `subject` with `headers` and waits up to `timeout` for the answer.
pub async fn request(
    bus: &Bus,
    subject: &str,
    payload: Vec<u8>,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> Result<Bytes, BusError> {
    let mut map = async_nats::HeaderMap::new();
    for (name, value) in headers {
        map.insert(*name, *value);
    }
    let request = async_nats::Request::new().payload(payload.into()).headers(map).timeout(Some(timeout));
    match bus.client().send_request(subject.to_owned(), request).await {
        Ok(reply) => Ok(reply.payload),
        Err(e) => {
            let kind = match e.kind() {
                async_nats::RequestErrorKind::TimedOut => RequestFailure::TimedOut,
                async_nats::RequestErrorKind::NoResponders => RequestFailure::NoResponders,
                // Invalid subject, payload too large, connection trouble: not retryable as is.
                _ => RequestFailure::Other,
            };
            Err(BusError::Request { subject: subject.to_owned(), kind, message: e.to_string() })
        }
    }
}

/// One request received by a server.
#[derive(Debug)]
pub struct Incoming {
    pub subject: String,
    pub payload: Bytes,
    headers: Option<async_nats::HeaderMap>,
    reply_to: Option<async_nats::Subject>,
}

impl Incoming {
    /// The value of header `name`, if the sender set it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.as_ref().and_then(|h| h.get(name)).map(|v| v.as_str())
    }

    /// Whether the sender waits for an answer (fire-and-forget senders do not).
    pub fn wants_reply(&self) -> bool {
        self.reply_to.is_some()
    }
}

/// Receives requests on `subject` (wildcards allowed) in queue group `queue`, so several
/// instances share the work.
pub async fn serve(bus: &Bus, subject: &str, queue: &str) -> Result<impl Stream<Item = Incoming> + Send + 'static, BusError> {
    let subscriber = bus
        .client()
        .queue_subscribe(subject.to_owned(), queue.to_owned())
        .await
        .map_err(|e| BusError::Unreachable { url: String::new(), message: format!("subscribe to {subject}: {e}") })?;
    Ok(subscriber.map(|message| Incoming {
        subject: message.subject.to_string(),
        payload: message.payload,
        headers: message.headers,
        reply_to: message.reply,
    }))
}

/// Answers `request`; does nothing for one that wants no answer.
pub async fn respond(bus: &Bus, request: &Incoming, payload: Vec<u8>) -> Result<(), BusError> {
    let Some(reply_to) = request.reply_to.clone() else { return Ok(()) };
    bus.client()
        .publish(reply_to, payload.into())
        .await
        .map_err(|e| BusError::Publish { subject: request.subject.clone(), message: e.to_string() })
}
