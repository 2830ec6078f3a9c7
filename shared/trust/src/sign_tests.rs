//! Signatures: what verifies, and each way an entry is refused.

use super::*;
use crate::registry::generate;
use proptest::prelude::*;

struct Fixture {
    registry: Registry,
    ingest: Credentials,
    policy: Credentials,
    actuator: Credentials,
    outsider: Credentials,
}

fn fixture() -> Fixture {
    let mut registry = Registry::default();
    let mut creds = Vec::new();
    for role in [Role::Ingest, Role::Policy, Role::Actuator] {
        let new = generate(role.kind(), role).expect("generate");
        creds.push(Credentials::from_seed(&new.seed).expect("seed"));
        registry.identities.push(new.identity);
    }
    let outsider = generate("stranger", Role::Auditor).expect("generate");
    let [ingest, policy, actuator] = <[Credentials; 3]>::try_from(creds).expect("three");
    Fixture { registry, ingest, policy, actuator, outsider: Credentials::from_seed(&outsider.seed).expect("seed") }
}

fn check(f: &Fixture, subject: &str, payload: &[u8], s: &Signature) -> Result<String, SignatureError> {
    verify(subject, payload, Some(&s.signer), Some(&s.signature), &f.registry).map(|i| i.name.clone())
}

#[test]
fn each_log_verifies_only_with_its_writers_signature() {
    let f = fixture();
    let cases = [
        ("qm.input.demand.ml.w1", &f.ingest, Ok("ingest")),
        ("qm.input.tick", &f.ingest, Ok("ingest")),
        ("qm.act.w1", &f.actuator, Ok("actuator")),
        ("qm.act.ml.w1", &f.actuator, Ok("actuator")),
        ("qm.decision.ml.w1", &f.policy, Ok("policy")),
        ("qm.decision.ml.w1", &f.ingest, Err("WrongSigner")),
        ("qm.input.tick", &f.policy, Err("WrongSigner")),
        ("qm.act.w1", &f.policy, Err("WrongSigner")),
        ("qm.act.ml.w1", &f.policy, Err("WrongSigner")),
        ("qm.decision.ml.w1", &f.outsider, Err("UnknownSigner")),
    ];
    for (subject, creds, want) in cases {
        let s = sign(subject, b"body", creds).expect("sign");
        let got = check(&f, subject, b"body", &s);
        match (want, got) {
            (Ok(name), Ok(got)) => assert_eq!(got, name, "{subject}"),
            (Err("WrongSigner"), Err(SignatureError::WrongSigner { .. })) => {}
            (Err("UnknownSigner"), Err(SignatureError::UnknownSigner { .. })) => {}
            (want, got) => panic!("{subject}: want {want:?}, got {got:?}"),
        }
    }
}

#[test]
fn missing_or_garbled_headers_are_findings_not_panics() {
    let f = fixture();
    let s = sign("qm.decision.ml.w1", b"x", &f.policy).expect("sign");
    let subject = "qm.decision.ml.w1";
    assert_eq!(verify(subject, b"x", None, None, &f.registry), Err(SignatureError::Unsigned));
    assert_eq!(verify(subject, b"x", Some(&s.signer), None, &f.registry), Err(SignatureError::Unsigned));
    assert!(matches!(verify(subject, b"x", Some(&s.signer), Some("!!!"), &f.registry), Err(SignatureError::Malformed(_))));
    assert!(matches!(verify(subject, b"x", Some("not-a-key"), Some(&s.signature), &f.registry), Err(SignatureError::UnknownSigner { .. })));
    assert!(matches!(verify(subject, b"x", Some(&s.signer), Some("AAAA"), &f.registry), Err(SignatureError::Invalid { .. })));
    assert!(matches!(verify("qm.dead.demand", b"x", Some(&s.signer), Some(&s.signature), &f.registry), Err(SignatureError::NoSigner { .. })));
}

#[test]
fn a_signature_is_bound_to_its_subject() {
    let f = fixture();
    let s = sign("qm.decision.ml.w1", b"grant", &f.policy).expect("sign");
    assert!(matches!(check(&f, "qm.decision.cv.w1", b"grant", &s), Err(SignatureError::Invalid { .. })));
}

#[test]
fn a_retired_key_still_verifies_what_it_signed() {
    let mut f = fixture();
    let old = sign("qm.decision.ml.w1", b"old", &f.policy).expect("sign");
    let fresh = generate("policy", Role::Policy).expect("generate");
    let policy = f.registry.identities.iter_mut().find(|i| i.name == "policy").expect("policy");
    let retired = std::mem::replace(&mut policy.public_key, fresh.identity.public_key);
    policy.retired_keys.push(retired);
    assert_eq!(check(&f, "qm.decision.ml.w1", b"old", &old), Ok("policy".into()));
    let new = sign("qm.decision.ml.w1", b"new", &Credentials::from_seed(&fresh.seed).expect("seed")).expect("sign");
    assert_eq!(check(&f, "qm.decision.ml.w1", b"new", &new), Ok("policy".into()));
}

proptest! {
    #[test]
    fn any_change_to_the_body_is_caught(body in proptest::collection::vec(any::<u8>(), 0..256), flip in any::<usize>(), bit in 0u8..8) {
        let f = fixture();
        let s = sign("qm.input.demand.ml.w1", &body, &f.ingest).expect("sign");
        prop_assert_eq!(check(&f, "qm.input.demand.ml.w1", &body, &s), Ok("ingest".to_owned()));
        if !body.is_empty() {
            let mut altered = body.clone();
            altered[flip % body.len()] ^= 1 << bit;
            let is_invalid = matches!(check(&f, "qm.input.demand.ml.w1", &altered, &s), Err(SignatureError::Invalid { .. }));
            prop_assert!(is_invalid);
        }
    }
}
