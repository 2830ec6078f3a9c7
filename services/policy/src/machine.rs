//! The writer's decisions as a pure state machine: when to publish, stand by, find the
//! resume point, republish from memory or fold the log again, and store a snapshot. The
//! service (`service.rs`) feeds it what happened (a folded entry, a lease change, the
//! resume probe's answer) and does what it says; nothing here touches NATS or a clock.

/// A lease change, as the keeper reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseChange {
    Standby,
    /// Holding; `term` grows with each acquisition (the same term again is a renewal).
    Writer { term: u64 },
}

/// What to do about a lease change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnLease {
    Nothing,
    /// Publishing stopped (count and log it).
    StoodBy { why: &'static str },
    /// A new term: find the resume point, then call [`WriterMachine::resumed`].
    FindResumePoint { term: u64 },
}

/// Where publishing resumes after a takeover.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// Nothing folded so far needs publishing: carry on folding.
    Folding { from: u64 },
    /// Publish the rounds at or after `from` from memory, then carry on.
    Republish { from: u64 },
    /// Those rounds are no longer in memory: fold the log again from its start,
    /// publishing from `from`.
    Refold { from: u64 },
}

/// What to do after folding one entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AfterFold {
    /// Publishing stopped before this round: the lease ended by our own clock.
    pub stood_by: bool,
    /// Publish this round's decisions.
    pub publish: bool,
    /// Caught up with the log: wait for every outstanding ack.
    pub settle: bool,
    /// The first time caught up (log it).
    pub first_caught_up: bool,
    /// Store a snapshot now (every decision up to here is acknowledged).
    pub snapshot: bool,
}

/// The writer's state between events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriterMachine {
    /// `Some(first input sequence to publish)` while this instance is the writer.
    publishing_from: Option<u64>,
    /// The lease term we publish under.
    term: Option<u64>,
    /// Every decision of the entries at or below this sequence is stored (proven by a
    /// snapshot, the resume probe, or our own acks).
    stored_through: u64,
    since_snapshot: u64,
    /// Entries between snapshots; 0 = never.
    snapshot_every: u64,
    caught_up: bool,
}

impl WriterMachine {
    /// A standby that starts from an engine whose decisions are stored through `stored_through`.
    pub fn new(stored_through: u64, snapshot_every: u64) -> Self {
        Self { publishing_from: None, term: None, stored_through, since_snapshot: 0, snapshot_every, caught_up: false }
    }

    /// Whether this instance publishes now.
    pub fn is_writer(&self) -> bool {
        self.publishing_from.is_some()
    }

    /// One log entry at `input_seq` was folded; `caught_up` when nothing more is pending.
    /// `may_publish` is the lease by our own clock; `upload_busy` whether the previous
    /// snapshot is still being stored.
    pub fn on_fold(&mut self, input_seq: u64, caught_up: bool, may_publish: bool, upload_busy: bool) -> AfterFold {
        let mut after = AfterFold::default();
        self.since_snapshot += 1;
        if self.is_writer() && !may_publish {
            self.publishing_from = None;
            after.stood_by = true;
        }
        after.publish = self.publishing_from.is_some_and(|from| input_seq >= from);
        if caught_up {
            after.settle = true;
            after.first_caught_up = !self.caught_up;
            self.caught_up = true;
            if self.is_writer() {
                self.stored_through = input_seq;
                after.snapshot = self.snapshot_due(upload_busy);
            }
        }
        after
    }

    fn snapshot_due(&mut self, upload_busy: bool) -> bool {
        let due = self.snapshot_every > 0 && self.since_snapshot >= self.snapshot_every && !upload_busy;
        if due {
            self.since_snapshot = 0;
        }
        due
    }

    /// The keeper reported a lease change.
    pub fn on_lease(&mut self, change: LeaseChange) -> OnLease {
        match change {
            LeaseChange::Standby if self.is_writer() => {
                self.publishing_from = None;
                OnLease::StoodBy { why: "lease lost" }
            }
            LeaseChange::Standby => OnLease::Nothing,
            LeaseChange::Writer { term } if self.is_writer() && self.term == Some(term) => OnLease::Nothing,
            LeaseChange::Writer { term } => {
                self.term = Some(term);
                OnLease::FindResumePoint { term }
            }
        }
    }

    /// The resume probe says decisions before `probed_from` are stored; the engine has
    /// folded through `last_folded`; `in_memory(from)` says whether the rounds from `from`
    /// are still held. Publishing resumes where the probe and our own knowledge agree.
    pub fn resumed(&mut self, probed_from: u64, last_folded: u64, in_memory: impl Fn(u64) -> bool) -> Resume {
        let from = probed_from.max(self.stored_through + 1);
        self.stored_through = from - 1;
        self.publishing_from = Some(from);
        if from > last_folded {
            Resume::Folding { from }
        } else if in_memory(from) {
            Resume::Republish { from }
        } else {
            self.caught_up = false;
            Resume::Refold { from }
        }
    }

    /// The log is folded again from its start because a halt was resolved: rounds
    /// before `from` were decided (and, by a writer, published) before the halt; those
    /// from `from` on are decided for the first time by the new fold.
    pub fn rebuilding(&mut self, from: u64) {
        self.publishing_from = self.publishing_from.map(|f| f.max(from));
        self.caught_up = false;
    }

    /// Publishing failed (an ack that never came, a stream being re-elected): stop, and
    /// from now on trust only the resume probe about what is stored, as a restarted
    /// instance would (what we counted as stored may have been in flight).
    pub fn publish_failed(&mut self) -> OnLease {
        self.publishing_from = None;
        self.stored_through = 0;
        OnLease::StoodBy { why: "publishing failed" }
    }

    /// The lease ended by our clock while republishing, or the takeover could not find
    /// its resume point: stop (a renewal of the same term then starts a new takeover).
    pub fn takeover_expired(&mut self) -> OnLease {
        self.publishing_from = None;
        OnLease::StoodBy { why: "lease expired during takeover" }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Given a machine, when these lease changes arrive, then it answers so.
    #[test]
    fn lease_changes() {
        let writer = |term| {
            let mut m = WriterMachine::new(0, 0);
            m.on_lease(LeaseChange::Writer { term });
            m.resumed(1, 0, |_| true);
            m
        };
        let cases: Vec<(&str, WriterMachine, LeaseChange, OnLease, bool)> = vec![
            ("standby stays", WriterMachine::new(0, 0), LeaseChange::Standby, OnLease::Nothing, false),
            ("first term probes", WriterMachine::new(0, 0), LeaseChange::Writer { term: 1 }, OnLease::FindResumePoint { term: 1 }, false),
            ("renewal is nothing", writer(1), LeaseChange::Writer { term: 1 }, OnLease::Nothing, true),
            ("new term probes again", writer(1), LeaseChange::Writer { term: 2 }, OnLease::FindResumePoint { term: 2 }, true),
            ("loss stands by", writer(1), LeaseChange::Standby, OnLease::StoodBy { why: "lease lost" }, false),
        ];
        for (name, mut machine, change, expected, writer_after) in cases {
            assert_eq!(machine.on_lease(change), expected, "{name}");
            assert_eq!(machine.is_writer(), writer_after, "{name}");
        }
    }

    /// Given what is stored and folded, publishing resumes at the later of the probe and
    /// our own knowledge, from memory when it can.
    #[test]
    fn resume_points() {
        // (stored_through, probed_from, last_folded, in memory, expected)
        let cases = [
            (0, 0, 0, true, Resume::Folding { from: 1 }),
            (0, 5, 10, true, Resume::Republish { from: 5 }),
            (7, 5, 10, true, Resume::Republish { from: 8 }),
            (0, 5, 10, false, Resume::Refold { from: 5 }),
            (10, 3, 10, false, Resume::Folding { from: 11 }),
        ];
        for (stored_through, probed_from, last_folded, in_memory, expected) in cases {
            let mut machine = WriterMachine::new(stored_through, 0);
            machine.on_lease(LeaseChange::Writer { term: 1 });
            assert_eq!(machine.resumed(probed_from, last_folded, |_| in_memory), expected);
            assert!(machine.is_writer());
        }
    }

    /// Given a writer publishing from 5, folded entries are published from 5 on, only while
    /// the lease holds by our clock; settling and snapshots happen once caught up.
    #[test]
    fn folding_as_writer() {
        let mut machine = WriterMachine::new(0, 3);
        machine.on_lease(LeaseChange::Writer { term: 1 });
        machine.resumed(5, 0, |_| true);
        // (seq, caught up, may publish, upload busy) -> expected
        let steps = [
            ((4, false, true, false), AfterFold { publish: false, ..Default::default() }),
            ((5, false, true, false), AfterFold { publish: true, ..Default::default() }),
            ((6, true, true, true), AfterFold { publish: true, settle: true, first_caught_up: true, snapshot: false, stood_by: false }),
            ((7, true, true, false), AfterFold { publish: true, settle: true, snapshot: true, ..Default::default() }),
            ((8, true, true, false), AfterFold { publish: true, settle: true, ..Default::default() }),
            ((9, false, false, false), AfterFold { stood_by: true, ..Default::default() }),
            ((10, true, true, false), AfterFold { settle: true, ..Default::default() }),
        ];
        for ((seq, caught_up, may_publish, busy), expected) in steps {
            assert_eq!(machine.on_fold(seq, caught_up, may_publish, busy), expected, "entry {seq}");
        }
        assert!(!machine.is_writer());
    }

    /// A standby never publishes, settles when caught up, and never snapshots.
    #[test]
    fn folding_as_standby() {
        let mut machine = WriterMachine::new(0, 1);
        for seq in 1..5 {
            let after = machine.on_fold(seq, true, false, false);
            assert!(!after.publish && !after.snapshot && !after.stood_by && after.settle);
        }
    }

    /// After a halt at 5 is resolved the log is folded again: a writer publishes only
    /// the rounds from 5 on (those before were published before the halt).
    #[test]
    fn rebuilding_after_a_halt() {
        let mut machine = WriterMachine::new(0, 0);
        machine.on_lease(LeaseChange::Writer { term: 1 });
        machine.resumed(1, 0, |_| true);
        machine.rebuilding(5);
        let published: Vec<u64> = (1..8).filter(|&seq| machine.on_fold(seq, seq == 7, true, false).publish).collect();
        assert_eq!(published, [5, 6, 7]);
        let mut standby = WriterMachine::new(0, 0);
        standby.rebuilding(5);
        assert!(!standby.is_writer() && !standby.on_fold(5, true, false, false).publish);
    }

    /// After a failed publish the writer stands by; the next renewal of the same term
    /// takes over again from the probe alone, not from what it had counted as stored.
    #[test]
    fn a_failed_publish_stands_by_and_resumes_from_the_probe() {
        let mut machine = WriterMachine::new(0, 0);
        machine.on_lease(LeaseChange::Writer { term: 1 });
        machine.resumed(1, 0, |_| true);
        assert!(machine.on_fold(9, true, true, false).publish);
        assert_eq!(machine.publish_failed(), OnLease::StoodBy { why: "publishing failed" });
        assert!(!machine.is_writer());
        assert_eq!(machine.on_lease(LeaseChange::Writer { term: 1 }), OnLease::FindResumePoint { term: 1 });
        assert_eq!(machine.resumed(7, 9, |_| true), Resume::Republish { from: 7 }, "9 was in flight: not known stored");
    }

    /// A takeover whose rounds are gone folds again; after the lease expires mid-takeover
    /// a renewal of the same term starts a new takeover rather than being ignored.
    #[test]
    fn refold_and_expiry_during_takeover() {
        let mut machine = WriterMachine::new(0, 0);
        machine.on_lease(LeaseChange::Writer { term: 1 });
        assert_eq!(machine.resumed(3, 9, |_| false), Resume::Refold { from: 3 });
        assert_eq!(machine.on_fold(9, true, true, false).first_caught_up, true, "caught up again after the refold");
        assert_eq!(machine.takeover_expired(), OnLease::StoodBy { why: "lease expired during takeover" });
        assert_eq!(machine.on_lease(LeaseChange::Writer { term: 1 }), OnLease::FindResumePoint { term: 1 });
    }
}
