//! The decisions of the last rounds, kept by every instance whether it publishes or not,
//! so a standby that takes over can publish the rounds the old writer may have lost in
//! flight without folding the log again.

use qm_model::Decision;
use std::collections::VecDeque;

/// One round: the decisions computed at one log entry, with what their records need.
#[derive(Clone, Debug)]
pub struct Round {
    pub input_seq: u64,
    pub time_ms: i64,
    /// The log entry's envelope id: the decisions' cause.
    pub cause: uuid::Uuid,
    pub policy_version: String,
    pub decisions: Vec<Decision>,
}

/// The most recent rounds, at most `decisions_max` decisions in all.
#[derive(Debug)]
pub struct RecentRounds {
    rounds: VecDeque<Round>,
    decisions: usize,
    decisions_max: usize,
    /// Every round at or after this sequence (up to the last folded) is held here.
    complete_from: u64,
}

impl RecentRounds {
    /// An empty buffer for an engine that has folded everything before `next_seq`.
    pub fn new(next_seq: u64, decisions_max: usize) -> Self {
        Self { rounds: VecDeque::new(), decisions: 0, decisions_max, complete_from: next_seq }
    }

    /// Keeps a round, dropping the oldest ones beyond the limit.
    pub fn push(&mut self, round: Round) {
        if round.decisions.is_empty() {
            return;
        }
        self.decisions += round.decisions.len();
        self.rounds.push_back(round);
        while self.decisions > self.decisions_max {
            let Some(oldest) = self.rounds.pop_front() else { break };
            self.decisions -= oldest.decisions.len();
            self.complete_from = oldest.input_seq + 1;
        }
    }

    /// The rounds at or after `from`, or `None` if some of them were already dropped
    /// (or were folded before this buffer started), so the caller must fold again.
    pub fn since(&self, from: u64) -> Option<impl Iterator<Item = &Round>> {
        (from >= self.complete_from).then(|| self.rounds.iter().filter(move |r| r.input_seq >= from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(input_seq: u64, n: usize) -> Round {
        let decision = Decision {
            workload: "w".into(),
            team: "t".into(),
            action: qm_model::Action::Pending { chips_wanted: 1 },
            reason: qm_model::Reason { rule: qm_model::RuleId::Borrow, figures: vec![], message: String::new() },
        };
        Round { input_seq, time_ms: 0, cause: uuid::Uuid::nil(), policy_version: "v".into(), decisions: vec![decision; n] }
    }

    #[test]
    fn keeps_recent_rounds_and_knows_what_it_dropped() {
        let mut recent = RecentRounds::new(5, 4);
        assert!(recent.since(4).is_none(), "entries before the start were never seen");
        recent.push(round(5, 2));
        recent.push(round(7, 2));
        assert_eq!(recent.since(5).map(|r| r.count()), Some(2));
        recent.push(round(9, 1));
        assert!(recent.since(5).is_none(), "round 5 was dropped");
        assert_eq!(recent.since(6).map(|r| r.map(|r| r.input_seq).collect::<Vec<_>>()), Some(vec![7, 9]));
        assert_eq!(recent.since(10).map(|r| r.count()), Some(0));
    }
}
