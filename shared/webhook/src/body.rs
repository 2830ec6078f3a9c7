//! What a receiver gets, and how it checks it came from Quartermaster.

use qm_backend::Effect;
use ring::hmac;
use serde::Serialize;

/// The JSON body of one decision.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Body<'a> {
    pub decision_id: String,
    /// `grant`, `drain`, `revoke` or `release`.
    pub action: &'static str,
    pub workload: &'a str,
    pub team: &'a str,
    pub pool: &'a str,
    /// Chips the workload holds in the pool afterwards (for a drain: the target).
    pub chips: u32,
    pub grace_s: u32,
    pub deadline_ms: i64,
    pub reason: &'a str,
}

impl<'a> Body<'a> {
    pub fn of(effect: &'a Effect) -> Self {
        Self {
            decision_id: effect.decision_id.to_string(),
            action: effect.verb.as_str(),
            workload: effect.workload.as_str(),
            team: effect.team.as_str(),
            pool: effect.pool.as_str(),
            chips: effect.chips,
            grace_s: effect.grace_s,
            deadline_ms: effect.deadline_ms,
            reason: &effect.reason,
        }
    }
}

/// The `X-Qm-Signature` value for `body`: `sha256=` and the hex HMAC-SHA256.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let tag = hmac::sign(&key, body);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// Whether `header` is the signature of `body` (what a receiver checks; constant time).
pub fn verify(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(hex) = header.strip_prefix("sha256=") else { return false };
    let bytes: Option<Vec<u8>> =
        (0..hex.len()).step_by(2).map(|i| hex.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect();
    let Some(bytes) = bytes else { return false };
    hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, secret), body, &bytes).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
    #[test]
    fn signature_is_hmac_sha256_hex() {
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let sig = signature(b"k", b"body");
        assert!(verify(b"k", b"body", &sig));
        assert!(!verify(b"k", b"body!", &sig));
        assert!(!verify(b"other", b"body", &sig));
        assert!(!verify(b"k", b"body", "sha256=zz"));
    }
}
