//! [`WebhookBackend`]: POST, retry what may succeed later, report the rest.

use crate::body::{signature, Body};
use crate::http::{post, HttpError, Response, Url, UrlError};
use qm_backend::{Applied, Backend, BackendError, Effect};
use std::time::Duration;

/// Receiver text kept in a failure message, at most.
const MESSAGE_CHARS_MAX: usize = 300;

/// The webhook's settings.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    pub url: String,
    /// Shared with the receiver, which checks `X-Qm-Signature` with it.
    pub secret: Vec<u8>,
    /// Per attempt: connect, send, and read the answer.
    pub timeout: Duration,
    /// Attempts per decision, at least 1.
    pub attempts_max: u32,
    /// Wait before the second attempt; doubled each time, up to `backoff_max`.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            secret: Vec::new(),
            timeout: Duration::from_secs(5),
            attempts_max: 5,
            backoff_initial: Duration::from_millis(200),
            backoff_max: Duration::from_secs(5),
        }
    }
}

/// Posts each decision to a URL.
#[derive(Clone, Debug)]
pub struct WebhookBackend {
    config: WebhookConfig,
    url: Url,
}

/// One attempt's outcome.
enum Attempt {
    Done,
    Refused(String),
    Retry(BackendError),
}

impl WebhookBackend {
    /// A backend for `config`; refuses an unusable URL or an empty secret.
    pub fn new(config: WebhookConfig) -> Result<Self, UrlError> {
        let url = Url::parse(&config.url)?;
        if config.secret.is_empty() {
            return Err(UrlError { url: config.url, why: "needs a signing secret" });
        }
        Ok(Self { config, url })
    }

    async fn attempt(&self, body: &[u8], key: &str, signed: &str) -> Attempt {
        let headers = [("Content-Type", "application/json"), ("Idempotency-Key", key), ("X-Qm-Signature", signed)];
        match post(&self.url, &headers, body, self.config.timeout).await {
            Ok(Response { status, .. }) if (200..300).contains(&status) => Attempt::Done,
            Ok(Response { status, body }) if status == 408 || status == 429 || status >= 500 => {
                Attempt::Retry(BackendError::Unavailable { message: answer(status, &body) })
            }
            Ok(Response { status, body }) => Attempt::Refused(answer(status, &body)),
            Err(HttpError::TimedOut(target, after)) => {
                Attempt::Retry(BackendError::TimedOut { message: format!("webhook {target}: no answer within {after:?}") })
            }
            Err(e) => Attempt::Retry(BackendError::Unavailable { message: format!("webhook {e}") }),
        }
    }
}

fn answer(status: u16, body: &str) -> String {
    let text: String = body.chars().take(MESSAGE_CHARS_MAX).collect();
    format!("webhook answered {status}: {text}")
}

impl Backend for WebhookBackend {
    fn name(&self) -> &'static str {
        "webhook"
    }

    async fn apply(&mut self, effect: &Effect) -> Result<Applied, BackendError> {
        let body = serde_json::to_vec(&Body::of(effect)).map_err(|e| BackendError::Rejected { message: e.to_string() })?;
        let key = effect.decision_id.to_string();
        let signed = signature(&self.config.secret, &body);
        let mut wait = self.config.backoff_initial;
        let attempts = self.config.attempts_max.max(1);
        let mut last = None;
        for attempt in 1..=attempts {
            match self.attempt(&body, &key, &signed).await {
                Attempt::Done => return Ok(Applied::AsAsked),
                Attempt::Refused(message) => return Err(BackendError::Rejected { message }),
                Attempt::Retry(error) => {
                    tracing::debug!(attempt, %error, "webhook attempt failed");
                    last = Some(error);
                }
            }
            if attempt < attempts {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(self.config.backoff_max);
            }
        }
        Err(last.unwrap_or(BackendError::Unavailable { message: "webhook: no attempt made".into() }))
    }
}
