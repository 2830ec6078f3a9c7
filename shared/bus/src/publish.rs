//! Publishing envelopes with `Nats-Msg-Id`, so a repeated publish (a retry, or a
//! restarted writer redoing its last round) is dropped by JetStream instead of stored twice.

use crate::error::BusError;
use crate::bus::Bus;
use async_nats::jetstream::{context::PublishAckFuture, message::PublishMessage};
use qm_model::{encode, Body, Envelope};

/// Where a publish landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stored {
    /// Sequence in the stream (for a duplicate: the sequence of the original).
    pub sequence: u64,
    /// JetStream already had a message with this id and dropped this one.
    pub duplicate: bool,
}

/// Sends an envelope and returns the pending ack, so callers can pipeline many.
pub async fn send<T: Body>(
    bus: &Bus,
    subject: String,
    message_id: &str,
    envelope: &Envelope<T>,
) -> Result<PendingAck, BusError> {
    let payload = encode(envelope)?;
    send_bytes(bus, subject, message_id, payload).await
}

/// Sends already encoded bytes; see [`send`].
pub async fn send_bytes(
    bus: &Bus,
    subject: String,
    message_id: &str,
    payload: Vec<u8>,
) -> Result<PendingAck, BusError> {
    let mut message = PublishMessage::build().message_id(message_id);
    // Entries of the three logs carry their writer's signature (qm_trust::sign).
    if let Some(signer) = bus.signer().filter(|_| qm_trust::sign::signer_role(&subject).is_some()) {
        let signature = qm_trust::sign(&subject, &payload, signer).map_err(|e| BusError::Publish { subject: subject.clone(), message: e.to_string() })?;
        message = message.header(qm_trust::SIGNER_HEADER, signature.signer.as_str()).header(qm_trust::SIGNATURE_HEADER, signature.signature.as_str());
    }
    let message = message.payload(payload.into());
    let future = bus
        .js()
        .send_publish(subject.clone(), message)
        .await
        .map_err(|e| BusError::Publish { subject: subject.clone(), message: e.to_string() })?;
    Ok(PendingAck { subject, future })
}

/// An ack not yet received.
pub struct PendingAck {
    subject: String,
    future: PublishAckFuture,
}

impl PendingAck {
    /// Waits for the server to store the message.
    pub async fn stored(self) -> Result<Stored, BusError> {
        let ack = self
            .future
            .await
            .map_err(|e| BusError::Publish { subject: self.subject, message: e.to_string() })?;
        Ok(Stored { sequence: ack.sequence, duplicate: ack.duplicate })
    }
}

/// Publishes and waits for the ack.
pub async fn publish<T: Body>(
    bus: &Bus,
    subject: String,
    message_id: &str,
    envelope: &Envelope<T>,
) -> Result<Stored, BusError> {
    send(bus, subject, message_id, envelope).await?.stored().await
}
