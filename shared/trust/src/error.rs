//! Errors of identity handling, by what the operator does about them.

/// Something wrong with names, keys or the files of an init directory.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("{what} name {name:?} must be 1 to 64 characters of A-Z a-z 0-9 - _")]
    BadName { what: String, name: String },
    #[error("{name} already exists")]
    Exists { name: String },
    #[error("no identity called {name}")]
    Unknown { name: String },
    #[error("key: {0}")]
    Key(String),
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    #[error("invalid registry: {0}")]
    Format(String),
    /// A certificate could not be generated or a key read (`DIR/tls`): regenerate it.
    #[error("tls: {0}")]
    Tls(String),
}
