//! Ingest's validation of requests: a sequence of (subject, body) pairs, each body
//! decoded as ingest does and validated against what earlier accepted requests declared.
//! Oracle: no panic, and an accepted event is stored under `qm.input.` plus the request
//! subject's tail (the subject a sender may use decides where its input goes).

use crate::bytes::Bytes;
use qm_ingest::known::Known;
use qm_ingest::validate::validate as check;
use qm_model::{decode_value, InputEvent};

/// Request subjects of every kind, with ids from a small set so references can match.
fn subject(b: &mut Bytes) -> String {
    const IDS: [&str; 4] = ["ml", "w1", "use-h100", "a.b"];
    let (x, y) = (IDS[b.below(4) as usize], IDS[b.below(4) as usize]);
    match b.below(9) {
        0 => format!("qm.in.demand.{x}.{y}"),
        1 => format!("qm.in.usage.{x}.{y}"),
        2 => format!("qm.in.finish.{x}.{y}"),
        3 => format!("qm.in.pool.{x}"),
        4 => format!("qm.in.team.{x}"),
        5 => "qm.in.policy".to_owned(),
        6 => "qm.in.halt".to_owned(),
        7 => format!("qm.in.{x}"),
        _ => format!("qm.other.{x}.{y}"),
    }
}

/// Requests: a subject choice, a body length byte, the body; until the bytes run out.
pub fn validate(data: &[u8]) {
    let mut b = Bytes::new(data);
    let known = Known::default();
    while !b.is_empty() {
        let subject = subject(&mut b);
        let len = usize::from(b.byte());
        let body = b.rest();
        let (payload, rest) = body.split_at(len.min(body.len()));
        b = Bytes::new(rest);
        let Ok(event) = decode_value::<InputEvent>(payload) else { continue };
        if let Ok(accepted) = check(&subject, event, &known) {
            let tail = subject.strip_prefix("qm.in.").expect("only qm.in. subjects are accepted");
            assert_eq!(accepted.subject, format!("qm.input.{tail}"), "accepted input stored elsewhere");
            assert!(!matches!(accepted.event, InputEvent::Tick), "a sender's tick was accepted");
            known.observe(&accepted.event);
        }
    }
}
