//! A credentials file: the nkey seed of one identity (`SU...`), as `qm init` writes it.
//! The client authenticates by signing the server's nonce with it (the seed never leaves
//! the process) and signs log entries with the same key.

use crate::error::TrustError;
use crate::role::inbox_prefix;
use nkeys::KeyPair;
use std::path::Path;
use std::sync::Arc;

/// One identity's secret key, loaded.
#[derive(Clone)]
pub struct Credentials {
    seed: String,
    pair: Arc<KeyPair>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("public_key", &self.public_key()).finish_non_exhaustive()
    }
}

impl Credentials {
    /// Reads a credentials file: the first line that is a user seed (`SU...`); other
    /// lines (comments, a `.creds` file's banners) are ignored.
    pub fn load(path: &Path) -> Result<Self, TrustError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| TrustError::Io { path: path.display().to_string(), message: e.to_string() })?;
        let seed = text
            .lines()
            .map(str::trim)
            .find(|line| line.starts_with("SU"))
            .ok_or_else(|| TrustError::Key(format!("{}: no user nkey seed (SU...) in the file", path.display())))?;
        Self::from_seed(seed)
    }

    /// From a seed string.
    pub fn from_seed(seed: &str) -> Result<Self, TrustError> {
        let pair = KeyPair::from_seed(seed).map_err(|e| TrustError::Key(e.to_string()))?;
        Ok(Self { seed: seed.to_owned(), pair: Arc::new(pair) })
    }

    /// The seed, for the NATS client's nkey authentication.
    pub fn seed(&self) -> &str {
        &self.seed
    }

    /// The public key (`U...`), which is also the key id of signatures.
    pub fn public_key(&self) -> String {
        self.pair.public_key()
    }

    /// The inbox prefix this identity must use (the only inboxes it may read).
    pub fn inbox_prefix(&self) -> String {
        inbox_prefix(&self.public_key())
    }

    pub(crate) fn key_pair(&self) -> &KeyPair {
        &self.pair
    }
}
