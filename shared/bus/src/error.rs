//! Errors of the JetStream adapter.

/// What went wrong talking to JetStream, by what the caller does about it.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The server could not be reached or the connection broke: retry with backoff.
    #[error("cannot reach NATS at {url}: {message}")]
    Unreachable { url: String, message: String },
    /// A stream could not be created or read: usually a config conflict; operator action.
    #[error("stream {stream}: {message}")]
    Stream { stream: String, message: String },
    /// A publish was not acknowledged; the message may or may not be stored. Retrying with
    /// the same message id is safe (dedup).
    #[error("publish to {subject} not acknowledged: {message}")]
    Publish { subject: String, message: String },
    /// A consumer failed; restart reading from the last sequence processed.
    #[error("consumer on {stream}: {message}")]
    Consume { stream: String, message: String },
    /// A message could not be encoded: a bug in the producer.
    #[error(transparent)]
    Encode(#[from] qm_model::EncodeError),
}
