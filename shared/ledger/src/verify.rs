//! `qm replay`: re-fold the recorded inputs through the policy core and check that the
//! decisions match the recorded ones byte for byte.

use qm_core::guard::Halt;
use qm_core::{Engine, Guard, Step};
use qm_model::{decision_envelope, decode, encode, DecisionRecorded, Envelope, LogRecord, PolicyConfig};
use serde::Serialize;
use std::collections::BTreeMap;

/// One place where the recomputed decisions and the recorded ones part.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Divergence {
    /// Both exist at this log position, with different bytes.
    Different { input_seq: u64, index: u32, recorded: Box<DecisionRecorded>, recomputed: Box<DecisionRecorded> },
    /// The replay decided this, the log has no such decision.
    Missing { input_seq: u64, index: u32, recomputed: Box<DecisionRecorded> },
    /// The log has a decision the replay did not make.
    Unexpected { input_seq: u64, index: u32, recorded: Box<DecisionRecorded> },
    /// Two recorded decisions claim the same log position.
    RecordedTwice { input_seq: u64, index: u32 },
    /// A recorded decision could not be decoded.
    Undecodable { position: usize, error: String },
}

impl Divergence {
    fn position(&self) -> (u64, u32) {
        match self {
            Self::Different { input_seq, index, .. }
            | Self::Missing { input_seq, index, .. }
            | Self::Unexpected { input_seq, index, .. }
            | Self::RecordedTwice { input_seq, index } => (*input_seq, *index),
            Self::Undecodable { .. } => (0, 0),
        }
    }
}

/// The outcome of a verifying replay.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VerifyReport {
    /// Log entries folded.
    pub entries_folded: u64,
    /// Log entries up to which decisions were compared (the last position with a
    /// recorded decision); entries after it may still be in the policy's hands.
    pub checked_through_seq: u64,
    pub decisions_recorded: u64,
    pub decisions_recomputed: u64,
    pub decisions_matched: u64,
    /// How many divergences in all, and the earliest by log position.
    pub divergences: u64,
    pub first_divergence: Option<Divergence>,
    /// The poison entry the fold is halted at, as the policy service halts: nothing
    /// after it was decided, so nothing after it is compared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub halt: Option<Halt>,
}

impl VerifyReport {
    /// Every compared decision matched.
    pub fn matches(&self) -> bool {
        self.divergences == 0
    }
}

/// Re-folds `log` from an empty engine and compares the decisions with `recorded`
/// (the raw payloads of `QM_DECISIONS`, in stream order).
pub fn verify<'a>(log: impl IntoIterator<Item = &'a LogRecord>, recorded: &[impl AsRef<[u8]>]) -> VerifyReport {
    verify_with(log, recorded, None)
}

/// [`verify`] with a fault injected into the fold, as the policy service was given it
/// (`qm_core::FoldFault`), so its halts and skips replay alike.
pub fn verify_with<'a>(
    log: impl IntoIterator<Item = &'a LogRecord>,
    recorded: &[impl AsRef<[u8]>],
    fault: Option<qm_core::FoldFault>,
) -> VerifyReport {
    let mut divergences = Vec::new();
    let mut by_position: BTreeMap<(u64, u32), (Vec<u8>, DecisionRecorded)> = BTreeMap::new();
    for (position, bytes) in recorded.iter().enumerate() {
        match decode::<DecisionRecorded>(bytes.as_ref()) {
            Ok(envelope) => {
                let key = (envelope.body.input_seq, envelope.body.index);
                if by_position.insert(key, (bytes.as_ref().to_vec(), envelope.body)).is_some() {
                    divergences.push(Divergence::RecordedTwice { input_seq: key.0, index: key.1 });
                }
            }
            Err(e) => divergences.push(Divergence::Undecodable { position, error: e.to_string() }),
        }
    }
    let checked_through_seq = by_position.keys().next_back().map_or(0, |(seq, _)| *seq);
    let mut report = VerifyReport {
        entries_folded: 0,
        checked_through_seq,
        decisions_recorded: recorded.len() as u64,
        decisions_recomputed: 0,
        decisions_matched: 0,
        divergences: 0,
        first_divergence: None,
        halt: None,
    };
    let log: Vec<&LogRecord> = log.into_iter().collect();
    let policy = PolicyConfig::default();
    // Entries skipped by operators are left out and a poison entry halts the fold,
    // exactly as in the policy service (`qm_core::guard`).
    let guard = Guard::new("QM_INPUT").with_fault(fault);
    let mut guard = guard.settled(&policy, log.iter().map(|r| (r.sequence, r.time_ms, &r.event)));
    let mut engine = Engine::new(policy);
    for record in log {
        let decisions = match guard.step(&mut engine, record.sequence, record.time_ms, &record.event) {
            Step::Decided(decisions) => decisions,
            Step::Halted(halt) => {
                report.halt = Some(halt);
                break;
            }
            Step::Skipped | Step::Held | Step::Rebuild { .. } => continue,
        };
        report.entries_folded += 1;
        if record.sequence > checked_through_seq {
            continue;
        }
        for (index, decision) in decisions.into_iter().enumerate() {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            report.decisions_recomputed += 1;
            let recorded = by_position.remove(&(record.sequence, index));
            let advisory = recorded.as_ref().is_some_and(|(_, body)| body.advisory);
            let envelope = decision_envelope(record.into(), index, &engine.policy().version, advisory, decision);
            compare(record.sequence, index, envelope, recorded, &mut report, &mut divergences);
        }
    }
    for ((input_seq, index), (_, body)) in by_position {
        divergences.push(Divergence::Unexpected { input_seq, index, recorded: Box::new(body) });
    }
    report.divergences = divergences.len() as u64;
    report.first_divergence = divergences.into_iter().min_by_key(Divergence::position);
    report
}

fn compare(
    input_seq: u64,
    index: u32,
    recomputed: Envelope<DecisionRecorded>,
    recorded: Option<(Vec<u8>, DecisionRecorded)>,
    report: &mut VerifyReport,
    divergences: &mut Vec<Divergence>,
) {
    let Some((recorded_bytes, recorded_body)) = recorded else {
        divergences.push(Divergence::Missing { input_seq, index, recomputed: Box::new(recomputed.body) });
        return;
    };
    match encode(&recomputed) {
        Ok(bytes) if bytes == recorded_bytes => report.decisions_matched += 1,
        _ => divergences.push(Divergence::Different {
            input_seq,
            index,
            recorded: Box::new(recorded_body),
            recomputed: Box::new(recomputed.body),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;
    use qm_model::{Action, Envelope};

    fn record_all(log: &[LogRecord]) -> Vec<Vec<u8>> {
        let mut engine = Engine::new(PolicyConfig::default());
        let mut out = Vec::new();
        for record in log {
            for (i, decision) in engine.step(record.sequence, record.time_ms, &record.event).into_iter().enumerate() {
                let envelope = decision_envelope(record.into(), i as u32, &engine.policy().version, false, decision);
                out.push(encode(&envelope).expect("encode"));
            }
        }
        out
    }

    #[test]
    fn a_faithful_log_matches_byte_for_byte() {
        let log = small_history();
        let recorded = record_all(&log);
        assert!(!recorded.is_empty());
        let report = verify(&log, &recorded);
        assert!(report.matches(), "{report:?}");
        assert_eq!(report.decisions_matched, recorded.len() as u64);
    }

    #[test]
    fn a_tampered_decision_is_reported_at_its_position() {
        let log = small_history();
        let mut recorded = record_all(&log);
        let mut envelope: Envelope<DecisionRecorded> = decode(&recorded[1]).expect("decode");
        if let Action::Grant { chips, .. } = &mut envelope.body.decision.action {
            *chips += 1;
        } else {
            envelope.body.decision.reason.message.push('!');
        }
        let (seq, index) = (envelope.body.input_seq, envelope.body.index);
        recorded[1] = encode(&envelope).expect("encode");
        let report = verify(&log, &recorded);
        assert_eq!(report.divergences, 1);
        assert!(matches!(report.first_divergence, Some(Divergence::Different { input_seq, index: i, .. }) if input_seq == seq && i == index));
    }

    #[test]
    fn a_dropped_decision_is_missing_and_a_repeat_is_caught() {
        let log = small_history();
        let recorded = record_all(&log);
        let mut dropped = recorded.clone();
        let gone: Envelope<DecisionRecorded> = decode(&dropped.remove(0)).expect("decode");
        let report = verify(&log, &dropped);
        assert!(matches!(report.first_divergence, Some(Divergence::Missing { input_seq, .. }) if input_seq == gone.body.input_seq));

        let mut repeated = recorded.clone();
        repeated.push(recorded[0].clone());
        assert!(matches!(verify(&log, &repeated).first_divergence, Some(Divergence::RecordedTwice { .. })));

        let mut garbage = recorded;
        garbage.push(b"\xc1".to_vec());
        assert!(matches!(verify(&log, &garbage).first_divergence, Some(Divergence::Undecodable { .. })));
    }
}
