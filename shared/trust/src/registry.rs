//! The registry of identities (`trust.json`, public keys only) and the directory that
//! `qm init` writes: the registry, the nats-server accounts file rendered from it, and
//! one credentials file (an nkey seed, readable by its owner only) per identity.
//!
//! ```text
//! DIR/trust.json            identities: name, role, public key, retired keys
//! DIR/nats-accounts.conf    for nats-server -c: account QM, users, permissions
//! DIR/creds/<name>.nk       the seed of one identity (secret; 0600)
//! DIR/tls/                  with TLS (`qm init --tls`): CA and certificates (crate::tls)
//! DIR/nats-server.conf      with TLS: includes the accounts file, turns TLS on
//! ```

use crate::error::TrustError;
use crate::permissions::Names;
use crate::role::{check_name, team_user, Identity, Role};
use crate::server_config::render_accounts;
use nkeys::KeyPair;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// File names inside an init directory.
pub const REGISTRY_FILE: &str = "trust.json";
pub const ACCOUNTS_FILE: &str = "nats-accounts.conf";
pub const CREDS_DIR: &str = "creds";
pub const TLS_DIR: &str = "tls";
pub const SERVER_CONFIG_FILE: &str = "nats-server.conf";

/// Every identity of one installation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registry {
    pub identities: Vec<Identity>,
}

impl Registry {
    /// The identity called `name`.
    pub fn get(&self, name: &str) -> Option<&Identity> {
        self.identities.iter().find(|i| i.name == name)
    }

    /// The first identity with `role` (services and fixed roles have exactly one).
    pub fn by_role(&self, role: &Role) -> Option<&Identity> {
        self.identities.iter().find(|i| i.role == *role)
    }

    /// Which identity a public key belongs to, current or retired.
    pub fn signer(&self, public_key: &str) -> Option<&Identity> {
        self.identities
            .iter()
            .find(|i| i.public_key == public_key || i.retired_keys.iter().any(|k| k == public_key))
    }

    fn insert(&mut self, identity: Identity) -> Result<(), TrustError> {
        if self.get(&identity.name).is_some() {
            return Err(TrustError::Exists { name: identity.name });
        }
        self.identities.push(identity);
        Ok(())
    }
}

/// A freshly generated identity and its secret seed.
pub struct NewIdentity {
    pub identity: Identity,
    pub seed: String,
}

/// Generates a new user nkey for `name` with `role`.
pub fn generate(name: &str, role: Role) -> Result<NewIdentity, TrustError> {
    check_name("identity", name)?;
    if let Role::Team(team) = &role {
        check_name("team", team)?;
    }
    let pair = KeyPair::new_user();
    let seed = pair.seed().map_err(|e| TrustError::Key(e.to_string()))?;
    let identity = Identity { name: name.to_owned(), role, public_key: pair.public_key(), retired_keys: Vec::new() };
    Ok(NewIdentity { identity, seed })
}

/// An init directory on disk.
#[derive(Clone, Debug)]
pub struct TrustDir {
    pub root: PathBuf,
}

impl TrustDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Creates the directory with the fixed identities (admin, services, operator,
    /// auditor) and one identity per team. Refuses a directory that already has a registry.
    pub fn init(root: impl Into<PathBuf>, teams: &[String], names: &Names) -> Result<Self, TrustError> {
        let dir = Self::new(root);
        if dir.registry_path().exists() {
            return Err(TrustError::Exists { name: dir.registry_path().display().to_string() });
        }
        std::fs::create_dir_all(dir.creds_dir()).map_err(|e| io(&dir.creds_dir(), e))?;
        let mut registry = Registry::default();
        for role in Role::fixed() {
            dir.add(&mut registry, generate(role.kind(), role)?)?;
        }
        for team in teams {
            dir.add(&mut registry, generate(&team_user(team), Role::Team(team.clone()))?)?;
        }
        dir.save(&registry, names)?;
        Ok(dir)
    }

    /// Adds a team's identity (`team-<team>`) and re-renders the server's accounts file.
    /// The server picks it up on reload (`nats-server --signal reload`, or SIGHUP).
    pub fn add_team(&self, team: &str, names: &Names) -> Result<Identity, TrustError> {
        let mut registry = self.load()?;
        let new = generate(&team_user(team), Role::Team(team.to_owned()))?;
        let identity = new.identity.clone();
        self.add(&mut registry, new)?;
        self.save(&registry, names)?;
        Ok(identity)
    }

    /// Gives `name` a new key: the old one is retired (the server no longer accepts it,
    /// verifiers still trust what it signed), the new seed replaces the credentials file.
    pub fn rotate(&self, name: &str, names: &Names) -> Result<Identity, TrustError> {
        let mut registry = self.load()?;
        let identity = registry
            .identities
            .iter_mut()
            .find(|i| i.name == name)
            .ok_or_else(|| TrustError::Unknown { name: name.to_owned() })?;
        let fresh = generate(name, identity.role.clone())?;
        let old = std::mem::replace(&mut identity.public_key, fresh.identity.public_key);
        identity.retired_keys.push(old);
        let rotated = identity.clone();
        write_secret(&self.creds_path(name), &fresh.seed)?;
        self.save(&registry, names)?;
        Ok(rotated)
    }

    fn add(&self, registry: &mut Registry, new: NewIdentity) -> Result<(), TrustError> {
        let path = self.creds_path(&new.identity.name);
        registry.insert(new.identity)?;
        write_secret(&path, &new.seed)
    }

    /// Writes the registry and the accounts file rendered from it.
    pub fn save(&self, registry: &Registry, names: &Names) -> Result<(), TrustError> {
        let json = serde_json::to_string_pretty(registry).map_err(|e| TrustError::Format(e.to_string()))?;
        write_file(&self.registry_path(), &json)?;
        write_file(&self.accounts_path(), &render_accounts(registry, names))
    }

    /// Reads the registry.
    pub fn load(&self) -> Result<Registry, TrustError> {
        load_registry(&self.registry_path())
    }

    pub fn registry_path(&self) -> PathBuf {
        self.root.join(REGISTRY_FILE)
    }

    pub fn accounts_path(&self) -> PathBuf {
        self.root.join(ACCOUNTS_FILE)
    }

    pub fn creds_dir(&self) -> PathBuf {
        self.root.join(CREDS_DIR)
    }

    /// The TLS files (present after [`TrustDir::init_tls`]).
    pub fn tls(&self) -> crate::tls::TlsDir {
        crate::tls::TlsDir::new(self.root.join(TLS_DIR))
    }

    /// The server configuration with TLS: includes the accounts file and turns TLS on
    /// both ways. Run `nats-server -c` with it instead of the accounts file.
    pub fn server_config_path(&self) -> PathBuf {
        self.root.join(SERVER_CONFIG_FILE)
    }

    /// Issues (or re-issues) the CA, server and client certificates for `hosts` and
    /// writes [`TrustDir::server_config_path`]. A re-issue keeps the CA (see
    /// `crate::tls`); reload nats-server to take the new server certificate.
    pub fn init_tls(&self, hosts: &[String]) -> Result<crate::tls::TlsDir, TrustError> {
        let tls = self.tls();
        tls.issue(hosts)?;
        // Absolute paths: nats-server resolves the include beside this file, but the
        // certificate paths from its working directory.
        let tls_abs = crate::tls::TlsDir::new(std::path::absolute(&tls.root).map_err(|e| io(&tls.root, e))?);
        let config = format!("include \"{ACCOUNTS_FILE}\"\n{}", tls_abs.server_block());
        write_file(&self.server_config_path(), &config)?;
        Ok(tls)
    }

    /// The credentials file of identity `name`.
    pub fn creds_path(&self, name: &str) -> PathBuf {
        self.creds_dir().join(format!("{name}.nk"))
    }
}

/// Reads a registry file (`trust.json`).
pub fn load_registry(path: &Path) -> Result<Registry, TrustError> {
    let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
    serde_json::from_str(&text).map_err(|e| TrustError::Format(format!("{}: {e}", path.display())))
}

fn write_file(path: &Path, text: &str) -> Result<(), TrustError> {
    std::fs::write(path, text).map_err(|e| io(path, e))
}

/// Writes a seed readable by its owner only (created that way, never widened after).
pub(crate) fn write_secret(path: &Path, seed: &str) -> Result<(), TrustError> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path).map_err(|e| io(path, e))?;
    file.write_all(format!("{seed}\n").as_bytes()).map_err(|e| io(path, e))
}

pub(crate) fn io(path: &Path, e: std::io::Error) -> TrustError {
    TrustError::Io { path: path.display().to_string(), message: e.to_string() }
}
