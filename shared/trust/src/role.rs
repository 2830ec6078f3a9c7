//! Who connects: every connection is one [`Identity`], and its [`Role`] alone decides
//! what it may publish and read.

use crate::error::TrustError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What an identity is for. Permissions follow from the role (and a team's name), never
/// from anything the client says about itself.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "role", content = "team")]
pub enum Role {
    /// Creates, purges and deletes streams, consumers and buckets (`qm init --apply`).
    Admin,
    /// The only door for input: the only writer of `QM_INPUT` and `QM_DEAD`.
    Ingest,
    /// The only writer of decisions and the only holder of the writer lease.
    Policy,
    /// The only writer of actuation reports.
    Actuator,
    /// Declares the fleet (pools, teams) and the policy; may act for any team; reads all.
    Operator,
    /// Reads every log; writes nothing.
    Auditor,
    /// The usage collector (`qm-agent`): reports measured usage for any team's workloads
    /// (what the scheduler says each holds), and nothing else.
    Agent,
    /// Sends demand, usage and finish for its own workloads; reads its own decisions.
    Team(String),
}

impl Role {
    /// The role's word, as in `trust.json` and on the command line.
    pub fn kind(&self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Ingest => "ingest",
            Role::Policy => "policy",
            Role::Actuator => "actuator",
            Role::Operator => "operator",
            Role::Auditor => "auditor",
            Role::Agent => "agent",
            Role::Team(_) => "team",
        }
    }

    /// The identities every installation has, before any team is added.
    pub fn fixed() -> [Role; 7] {
        [Role::Admin, Role::Ingest, Role::Policy, Role::Actuator, Role::Operator, Role::Auditor, Role::Agent]
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::Team(team) => write!(f, "team {team}"),
            other => f.write_str(other.kind()),
        }
    }
}

/// One connection's identity: a name (unique, also the credentials file's name), a role,
/// and the public nkey the server authenticates it by.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub name: String,
    #[serde(flatten)]
    pub role: Role,
    /// The current public nkey (`U...`): authenticates, and verifies what it signs.
    pub public_key: String,
    /// Earlier keys of this identity: no longer accepted by the server, still trusted to
    /// verify what was signed with them before the rotation (old log entries).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retired_keys: Vec<String>,
}

impl Identity {
    /// The subject prefix of this identity's inboxes (replies, consumer deliveries). It is
    /// derived from the public key, so a client computes it from its seed alone, and
    /// nobody may read another identity's replies.
    pub fn inbox_prefix(&self) -> String {
        inbox_prefix(&self.public_key)
    }
}

/// `_INBOX.<public key>`: see [`Identity::inbox_prefix`].
pub fn inbox_prefix(public_key: &str) -> String {
    format!("_INBOX.{public_key}")
}

/// Checks that a team (or identity) name is one subject token of `A-Z a-z 0-9 - _`, as
/// ingest requires of ids, so it can stand in subjects and permission lists unescaped.
pub fn check_name(what: &str, name: &str) -> Result<(), TrustError> {
    let valid_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if name.is_empty() || name.len() > 64 || !name.chars().all(valid_char) {
        return Err(TrustError::BadName { what: what.to_owned(), name: name.to_owned() });
    }
    Ok(())
}

/// The identity name of a team's user: `team-<team>`.
pub fn team_user(team: &str) -> String {
    format!("team-{team}")
}
