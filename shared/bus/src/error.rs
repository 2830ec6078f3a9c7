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
    /// Connection settings are unusable (a credentials or certificate file missing or
    /// malformed): operator action; retrying will not help.
    #[error("NATS connection settings: {message}")]
    Settings { message: String },
    /// A request got no answer: nobody serves the subject, or not in time.
    #[error("request to {subject}: {message}")]
    Request { subject: String, kind: RequestFailure, message: String },
    /// A message could not be encoded: a bug in the producer.
    #[error(transparent)]
    Encode(#[from] qm_model::EncodeError),
}

/// Why a request got no answer, by what the sender does about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestFailure {
    /// Nobody subscribes to the subject (the service is down): retry later.
    NoResponders,
    /// No answer within the timeout: the request may or may not have been handled; retry
    /// with the same idempotency key.
    TimedOut,
    /// Anything else (an invalid subject, a payload over the server's limit, the
    /// connection failing): see the message.
    Other,
}

impl RequestFailure {
    /// A short snake_case name, for metrics labels and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoResponders => "no_responders",
            Self::TimedOut => "timeout",
            Self::Other => "other",
        }
    }
}
