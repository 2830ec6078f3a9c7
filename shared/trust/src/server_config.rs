//! Renders the nats-server accounts file: one account `QM` with JetStream, one user per
//! identity (by public nkey) with its permissions. No `no_auth_user`: a connection
//! without valid credentials is refused. The file is JSON, which nats-server reads as
//! configuration; listen address, TLS and the store directory come from the command
//! line or an including file, so one accounts file serves a test and a deployment.

use crate::permissions::{permissions, Names};
use crate::registry::Registry;
use serde_json::json;

/// The one account every Quartermaster identity lives in.
pub const ACCOUNT: &str = "QM";

/// The accounts file for `registry`. Retired keys are left out: they authenticate nobody.
pub fn render_accounts(registry: &Registry, names: &Names) -> String {
    let users: Vec<_> = registry
        .identities
        .iter()
        .map(|identity| {
            json!({
                "nkey": identity.public_key,
                "permissions": permissions(&identity.role, &identity.public_key, names),
            })
        })
        .collect();
    let config = json!({
        "accounts": {
            ACCOUNT: { "jetstream": "enabled", "users": users }
        }
    });
    // Serializing a `Value` cannot fail; fall back to the compact form all the same.
    serde_json::to_string_pretty(&config).unwrap_or_else(|_| config.to_string())
}
