//! Signatures of log entries (ed25519, with the signer's nkey), carried in NATS headers
//! so the MessagePack body and its golden vectors stay as they are.
//!
//! What is signed is the subject and the body, domain-separated:
//! `qm-sig-v1 \n <subject> \n <payload>`, so a signed entry cannot be replayed under
//! another subject (an actuation report as input, one team's decision as another's).
//! The key id is the signer's public nkey; a verifier looks it up in the registry and
//! never trusts a key because a header names it. Rotation: a new key signs from now on,
//! the retired one stays in the registry to verify what it signed before.

use crate::credentials::Credentials;
use crate::error::TrustError;
use crate::registry::Registry;
use crate::role::{Identity, Role};
use data_encoding::BASE64URL_NOPAD;

/// Header naming the key that signed (its public nkey).
pub const SIGNER_HEADER: &str = "Qm-Signer";
/// Header with the base64url (no padding) ed25519 signature.
pub const SIGNATURE_HEADER: &str = "Qm-Signature";

const DOMAIN: &[u8] = b"qm-sig-v1\n";

/// The two header values of one signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    pub signer: String,
    pub signature: String,
}

/// Why an entry is not genuine, by finding.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("unsigned: no {SIGNER_HEADER}/{SIGNATURE_HEADER} headers")]
    Unsigned,
    #[error("malformed signature: {0}")]
    Malformed(String),
    #[error("signed by {signer}, a key no identity has")]
    UnknownSigner { signer: String },
    #[error("signed by {name} ({role}), who may not write {subject}")]
    WrongSigner { name: String, role: String, subject: String },
    #[error("signature by {name} does not match the entry (altered, or forged)")]
    Invalid { name: String },
    #[error("nobody signs subject {subject}")]
    NoSigner { subject: String },
}

fn message(subject: &str, payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(DOMAIN.len() + subject.len() + 1 + payload.len());
    bytes.extend_from_slice(DOMAIN);
    bytes.extend_from_slice(subject.as_bytes());
    bytes.push(b'\n');
    bytes.extend_from_slice(payload);
    bytes
}

/// Signs `payload` as stored under `subject`.
pub fn sign(subject: &str, payload: &[u8], credentials: &Credentials) -> Result<Signature, TrustError> {
    let signature = credentials.key_pair().sign(&message(subject, payload)).map_err(|e| TrustError::Key(e.to_string()))?;
    Ok(Signature { signer: credentials.public_key(), signature: BASE64URL_NOPAD.encode(&signature) })
}

/// The role whose signature an entry under `subject` must carry: ingest for accepted
/// input (`qm.input.>`, ticks included), the actuator for reports (`qm.act.>`), the
/// policy for decisions (`qm.decision.>`).
pub fn signer_role(subject: &str) -> Option<Role> {
    let kind = subject.split('.').nth(1)?;
    match (subject.starts_with("qm."), kind) {
        (true, "input") => Some(Role::Ingest),
        (true, "act") => Some(Role::Actuator),
        (true, "decision") => Some(Role::Policy),
        _ => None,
    }
}

/// Checks that `payload` under `subject` was signed by a key of the role that writes
/// that subject (current or retired key), and says who signed.
pub fn verify<'r>(
    subject: &str,
    payload: &[u8],
    signer: Option<&str>,
    signature: Option<&str>,
    registry: &'r Registry,
) -> Result<&'r Identity, SignatureError> {
    let (Some(signer), Some(signature)) = (signer, signature) else { return Err(SignatureError::Unsigned) };
    let expected = signer_role(subject).ok_or_else(|| SignatureError::NoSigner { subject: subject.to_owned() })?;
    let identity = registry.signer(signer).ok_or_else(|| SignatureError::UnknownSigner { signer: signer.to_owned() })?;
    if identity.role != expected {
        return Err(SignatureError::WrongSigner {
            name: identity.name.clone(),
            role: identity.role.to_string(),
            subject: subject.to_owned(),
        });
    }
    let bytes = BASE64URL_NOPAD.decode(signature.as_bytes()).map_err(|e| SignatureError::Malformed(e.to_string()))?;
    let key = nkeys::KeyPair::from_public_key(signer).map_err(|e| SignatureError::Malformed(e.to_string()))?;
    key.verify(&message(subject, payload), &bytes).map_err(|_| SignatureError::Invalid { name: identity.name.clone() })?;
    Ok(identity)
}

#[cfg(test)]
#[path = "sign_tests.rs"]
mod tests;
