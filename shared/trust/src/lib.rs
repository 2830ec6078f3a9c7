//! Identities and permissions on the bus, and signatures of what goes into the logs.
//!
//! - [`role`]: who connects ([`Role`], [`Identity`]) and each identity's private inbox.
//! - [`permissions`]: each role's publish/subscribe allow and deny lists, JetStream API
//!   included: least privilege, enforced by nats-server itself.
//! - [`server_config`]: renders the nats-server accounts file from the registry.
//! - [`registry`]: `trust.json` and the directory `qm init` writes (keys, creds, config).
//! - [`credentials`]: loads one identity's nkey seed to connect and sign with.
//! - [`sign`]: ed25519 signatures of log entries in NATS headers; verification.
//! - [`tls`]: the installation's CA and certificates for nats-server and its clients.
//!
//! Pure apart from the registry's file IO: no NATS client here. docs/SECURITY.md says
//! who may do what and why.

pub mod credentials;
pub mod error;
pub mod permissions;
pub mod registry;
pub mod role;
pub mod server_config;
pub mod sign;
pub mod tls;

pub use credentials::Credentials;
pub use error::TrustError;
pub use permissions::{permissions, Names, Permissions};
pub use registry::{Registry, TrustDir};
pub use role::{Identity, Role};
pub use sign::{sign, verify, Signature, SignatureError, SIGNATURE_HEADER, SIGNER_HEADER};
