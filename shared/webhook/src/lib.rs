//! The webhook backend: each decision is one HTTP POST of a JSON body to a configured URL.
//!
//! - `Content-Type: application/json`; the body is [`body::Body`].
//! - `Idempotency-Key: <decision id>`: a receiver applies each key once; the actuator may
//!   repeat a decision after a crash, and this backend repeats a POST after a failure.
//! - `X-Qm-Signature: sha256=<hex HMAC-SHA256 of the body with the shared secret>`.
//!
//! 2xx is applied; another 4xx (except 408 and 429) is a refusal, reported with the
//! receiver's text; 5xx, 408, 429, a timeout or a connection failure is retried with
//! exponential backoff up to `attempts_max`, then reported as unavailable or timed out.
//! Plain `http://` only (a receiver behind a TLS proxy on the same host for https).
//!
//! - [`body`]: the JSON a receiver gets, and the signature.
//! - [`http`]: a minimal HTTP/1.1 POST over tokio (one request per connection).
//! - [`backend`]: [`WebhookBackend`], retries and the typed outcome.

pub mod backend;
pub mod body;
pub mod http;

pub use backend::{WebhookBackend, WebhookConfig};
