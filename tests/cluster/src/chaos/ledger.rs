//! The client's own record of every request ingest acknowledged (event id and log
//! sequence), checked against what the input log holds: an acknowledged request that is
//! not in the log, or is there under another id or subject, was lost or overwritten.

use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// One acknowledged request.
#[derive(Clone, Debug, PartialEq)]
pub struct Ack {
    /// The driver's number for the request (its idempotency key is derived from it).
    pub request: u64,
    /// The log subject the entry must have: `qm.input.` + the request subject's tail.
    pub log_subject: String,
    pub event_id: Uuid,
    pub sequence: u64,
}

/// What the log holds at one sequence: the entry's id and subject.
#[derive(Clone, Debug, PartialEq)]
pub struct Stored {
    pub event_id: Uuid,
    pub subject: String,
}

/// An acknowledged request the log does not hold as acknowledged.
#[derive(Clone, Debug, PartialEq)]
pub enum LedgerViolation {
    /// Nothing at the acknowledged sequence, though the log reaches past it.
    Missing { request: u64, sequence: u64 },
    /// Another entry at the acknowledged sequence.
    Different { request: u64, sequence: u64, found: Uuid, subject: String },
}

/// Everything ingest answered, by outcome.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    pub acks: Vec<Ack>,
    /// Acknowledged as duplicates of an earlier try (same key): still must be in the log.
    pub duplicates: u64,
    /// Rejected, by code (e.g. usage for a workload already finished: `unknown`).
    pub rejected: BTreeMap<String, u64>,
    /// Not answered within the client's retry window: not acknowledged, so nothing is
    /// claimed about them.
    pub unanswered: u64,
    /// Not sent: the in-flight limit was reached (the load is open-loop).
    pub shed: u64,
    /// Slowest acknowledgement, including the client's retries, in ms.
    pub ack_ms_max: u64,
}

/// Checks each ack with a sequence at most `checked_through` against `log` (sequence ->
/// what is stored); later acks are not judged yet. Returns the violations and how many
/// acks were checked.
pub fn check(acks: &[Ack], log: &HashMap<u64, Stored>, checked_through: u64) -> (Vec<LedgerViolation>, u64) {
    let mut violations = Vec::new();
    let mut checked = 0;
    for ack in acks.iter().filter(|a| a.sequence <= checked_through) {
        checked += 1;
        match log.get(&ack.sequence) {
            None => violations.push(LedgerViolation::Missing { request: ack.request, sequence: ack.sequence }),
            Some(stored) if stored.event_id != ack.event_id || stored.subject != ack.log_subject => {
                violations.push(LedgerViolation::Different {
                    request: ack.request,
                    sequence: ack.sequence,
                    found: stored.event_id,
                    subject: stored.subject.clone(),
                })
            }
            Some(_) => {}
        }
    }
    (violations, checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(request: u64, sequence: u64) -> Ack {
        Ack { request, log_subject: format!("qm.input.demand.a.w{request}"), event_id: Uuid::from_u128(request.into()), sequence }
    }

    fn stored(a: &Ack) -> Stored {
        Stored { event_id: a.event_id, subject: a.log_subject.clone() }
    }

    /// Table: the log as acknowledged passes; a lost entry, another entry in its place, or
    /// the right id under another subject is each reported; acks past the log's end wait.
    #[test]
    fn each_way_of_losing_an_acknowledged_request_is_caught() {
        let acks: Vec<Ack> = (1..=4).map(|r| ack(r, r + 10)).collect();
        let whole: HashMap<u64, Stored> = acks.iter().map(|a| (a.sequence, stored(a))).collect();
        assert_eq!(check(&acks, &whole, 100), (vec![], 4));

        let mut lost = whole.clone();
        lost.remove(&12);
        assert_eq!(check(&acks, &lost, 100).0, vec![LedgerViolation::Missing { request: 2, sequence: 12 }]);

        let mut replaced = whole.clone();
        replaced.insert(13, Stored { event_id: Uuid::from_u128(99), subject: acks[2].log_subject.clone() });
        assert!(matches!(check(&acks, &replaced, 100).0[..], [LedgerViolation::Different { request: 3, sequence: 13, .. }]));

        let mut moved = whole.clone();
        moved.insert(14, Stored { event_id: acks[3].event_id, subject: "qm.input.demand.b.w4".into() });
        assert!(matches!(check(&acks, &moved, 100).0[..], [LedgerViolation::Different { request: 4, .. }]));

        assert_eq!(check(&acks, &lost, 11), (vec![], 1), "acks past what was read are not judged");
    }
}
