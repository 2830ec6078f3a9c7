//! The JetStream adapter: the only crate that knows NATS. The core and the simulator
//! never see a NATS type; services use this crate's small vocabulary instead.
//!
//! - [`subjects`]: stream names and subject builders, in one place.
//! - [`streams`]: creates the four streams idempotently, with their limits.
//! - [`bus`]: [`Bus`], the connection every function here takes.
//! - [`clock`]: wall-clock time, injected so tests control it.
//! - [`connect`]: connects with retry so services can start before the server; credentials, TLS.
//! - [`publish`]: publishes envelopes with `Nats-Msg-Id` dedup, pipelined.
//! - [`read`]: reads a stream in order from a sequence (rebuild and follow).
//! - [`request`]: request/reply (senders to ingest; ingest serving them).
//! - [`lease`]: a lease in a KV bucket (create/compare-and-set/expiry): one holder at a time.
//! - [`provision`]: what an admin creates before services start on a secured server.
//! - [`snapshot`]: opaque snapshot bytes in an object store, one object per name.
//! - [`error`]: the one error type, by what the caller can do about it.

pub mod bus;
pub mod clock;
pub mod connect;
pub mod error;
pub mod lease;
pub mod provision;
pub mod publish;
pub mod read;
pub mod request;
pub mod snapshot;
pub mod streams;
pub mod subjects;

pub use bus::Bus;
pub use connect::{connect, ConnectSettings, TlsSettings};
pub use error::{BusError, RequestFailure};
pub use streams::StreamSettings;
