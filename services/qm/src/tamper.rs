//! Tamper evidence for `qm replay` and `qm audit`. Two things only someone outside the
//! front door can cause, each reported as a finding:
//!
//! - an entry not signed by the role that writes its subject (ingest for input, the
//!   actuator for its reports, also where `QM_INPUT` sources them, the policy for
//!   decisions): a direct append by the admin, a forged or altered entry;
//! - a gap in a log's sequences: a purge or a deleted message (the logs discard new
//!   entries when full, never old ones, so a genuine log has no holes).
//!
//! Pure over the entries read (the reading is in `audit.rs`), so the cases are tested
//! without a server.

use qm_bus::read::Entry;
use qm_trust::Registry;
use serde::Serialize;

/// One reason to distrust a log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "finding", rename_all = "snake_case")]
pub enum Finding {
    /// The entry at `sequence` is not signed by who writes `subject`; `reason` says how.
    NotGenuine { stream: String, sequence: u64, subject: String, reason: String },
    /// Sequences `first..=last` are missing from `stream`: purged or deleted.
    Gap { stream: String, first: u64, last: u64 },
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::NotGenuine { stream, sequence, subject, reason } => write!(f, "{stream} #{sequence} ({subject}): {reason}"),
            Finding::Gap { stream, first, last } if first == last => write!(f, "{stream}: entry #{first} is missing (deleted)"),
            Finding::Gap { stream, first, last } => write!(f, "{stream}: entries #{first}..#{last} are missing (purged or deleted)"),
        }
    }
}

/// One log as read: every entry the server still has, and its last sequence.
pub struct ReadLog<'a> {
    pub stream: &'a str,
    pub entries: &'a [Entry],
    pub last_sequence: u64,
}

/// What the tamper check found over some logs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TamperReport {
    /// Whether signatures were checked (they need the registry, `trust.json`).
    pub signatures_checked: bool,
    pub entries_checked: usize,
    pub findings: Vec<Finding>,
}

impl TamperReport {
    /// Checks each log's sequences and, given the registry, every entry's signature.
    pub fn check(logs: &[ReadLog<'_>], registry: Option<&Registry>) -> Self {
        let mut report = Self { signatures_checked: registry.is_some(), ..Self::default() };
        for log in logs {
            report.entries_checked += log.entries.len();
            report.findings.extend(gaps(log));
            if let Some(registry) = registry {
                report.findings.extend(unsigned(log, registry));
            }
        }
        report
    }

    /// The report as lines for a terminal.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if !self.signatures_checked {
            out.push_str("signatures NOT checked: pass --trust-file (QM_TRUST_FILE) to check who wrote each entry\n");
        }
        if self.findings.is_empty() {
            let what = if self.signatures_checked { "every entry signed by its writer, " } else { "" };
            out.push_str(&format!("TAMPER CHECK OK over {} entries: {what}no gaps in the sequences\n", self.entries_checked));
        }
        for finding in &self.findings {
            out.push_str(&format!("TAMPERED: {finding}\n"));
        }
        out
    }
}

/// Missing sequences between 1 and the log's last.
fn gaps(log: &ReadLog<'_>) -> Vec<Finding> {
    let mut found = Vec::new();
    let mut expected = 1;
    let sequences = log.entries.iter().map(|e| e.sequence).chain(std::iter::once(log.last_sequence + 1));
    for sequence in sequences {
        if sequence > expected {
            found.push(Finding::Gap { stream: log.stream.to_owned(), first: expected, last: sequence - 1 });
        }
        expected = expected.max(sequence + 1);
    }
    found
}

fn unsigned(log: &ReadLog<'_>, registry: &Registry) -> Vec<Finding> {
    log.entries
        .iter()
        .filter_map(|entry| {
            let reason = entry.verify(registry).err()?.to_string();
            Some(Finding::NotGenuine { stream: log.stream.to_owned(), sequence: entry.sequence, subject: entry.subject.clone(), reason })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use qm_trust::registry::generate;
    use qm_trust::{sign, Credentials, Role};

    /// A registry of three identities and their keys: ingest, actuator, admin.
    fn keys() -> (Registry, [Credentials; 3]) {
        let made = [Role::Ingest, Role::Actuator, Role::Admin].map(|role| generate(role.kind(), role).expect("generate"));
        let registry = Registry { identities: made.iter().map(|m| m.identity.clone()).collect() };
        (registry, made.map(|m| Credentials::from_seed(&m.seed).expect("seed")))
    }

    fn entry(sequence: u64, subject: &str, by: Option<&Credentials>) -> Entry {
        let payload = bytes::Bytes::from(format!("body {sequence}"));
        let signature = by.map(|c| sign(subject, &payload, c).expect("sign"));
        Entry { sequence, subject: subject.to_owned(), payload, pending: 0, signature }
    }

    fn log<'a>(entries: &'a [Entry], last_sequence: u64) -> ReadLog<'a> {
        ReadLog { stream: "QM_INPUT", entries, last_sequence }
    }

    #[test]
    fn a_genuine_log_has_no_findings() {
        let (registry, [ingest, actuator, _]) = keys();
        let entries = [entry(1, "qm.input.tick", Some(&ingest)), entry(2, "qm.act.w1", Some(&actuator))];
        let report = TamperReport::check(&[log(&entries, 2)], Some(&registry));
        assert_eq!(report.findings, vec![]);
        assert!(report.signatures_checked && report.entries_checked == 2);
        assert!(report.render().contains("TAMPER CHECK OK"));
    }

    #[test]
    fn entries_not_signed_by_their_writer_are_found() {
        let (registry, [ingest, actuator, admin]) = keys();
        let entries = [
            entry(1, "qm.input.tick", None),
            entry(2, "qm.input.demand.ml.w1", Some(&admin)),
            entry(3, "qm.input.demand.ml.w1", Some(&actuator)),
            entry(4, "qm.input.usage.ml.w1", Some(&ingest)),
        ];
        let mut altered = entry(5, "qm.input.usage.ml.w1", Some(&ingest));
        altered.payload = bytes::Bytes::from_static(b"altered");
        let entries: Vec<Entry> = entries.into_iter().chain([altered]).collect();
        let report = TamperReport::check(&[log(&entries, 5)], Some(&registry));
        let flagged: Vec<u64> = report.findings.iter().map(|f| match f {
            Finding::NotGenuine { sequence, .. } => *sequence,
            Finding::Gap { .. } => 0,
        }).collect();
        assert_eq!(flagged, vec![1, 2, 3, 5], "{report:?}");
        assert!(report.render().contains("TAMPERED: QM_INPUT #2"), "{}", report.render());
    }

    #[test]
    fn a_purge_a_deleted_entry_and_a_deleted_tail_are_gaps() {
        let (registry, [ingest, ..]) = keys();
        let e = |s| entry(s, "qm.input.tick", Some(&ingest));
        let gap = |first, last| Finding::Gap { stream: "QM_INPUT".into(), first, last };
        // Purged up to 3, #6 deleted, #9..#10 deleted at the end.
        let entries = [e(4), e(5), e(7), e(8)];
        let report = TamperReport::check(&[log(&entries, 10)], Some(&registry));
        assert_eq!(report.findings, vec![gap(1, 3), gap(6, 6), gap(9, 10)]);
        // Purged entirely.
        assert_eq!(TamperReport::check(&[log(&[], 5)], None).findings, vec![gap(1, 5)]);
        // Empty and never written: nothing.
        assert_eq!(TamperReport::check(&[log(&[], 0)], None).findings, vec![]);
    }

    #[test]
    fn without_a_registry_only_gaps_are_checked_and_it_says_so() {
        let entries = [entry(1, "qm.input.tick", None)];
        let report = TamperReport::check(&[log(&entries, 1)], None);
        assert!(report.findings.is_empty() && !report.signatures_checked);
        assert!(report.render().contains("signatures NOT checked"));
    }
}
