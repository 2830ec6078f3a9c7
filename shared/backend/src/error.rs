//! Why a backend could not apply an effect.

/// A failed application, by what the operator does about it. Every case is reported to
/// the policy as `ActuationFailed` with the message (the scheduler's own words where it
/// gave some), so the policy never counts the chips as moved; the decision is not
/// retried by the actuator. The `Display` text is what goes on the wire: keep it the
/// backend's message, without extra wrapping.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The scheduler answered and refused (quota, unknown account, bad request, a command
    /// that exited non-zero): the same effect would fail again; fix the backend's setup.
    #[error("{message}")]
    Rejected { message: String },
    /// The scheduler could not be reached or run (connection refused, program missing):
    /// transient or a deployment problem; the effect was not applied.
    #[error("{message}")]
    Unavailable { message: String },
    /// No answer within the backend's time limit: the effect may or may not have taken
    /// hold; an idempotent backend may safely apply it again.
    #[error("{message}")]
    TimedOut { message: String },
}

impl BackendError {
    /// The case's name, for a metrics label.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Rejected { .. } => "rejected",
            Self::Unavailable { .. } => "unavailable",
            Self::TimedOut { .. } => "timed_out",
        }
    }
}
