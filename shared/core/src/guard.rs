//! Poison entries: a log entry whose fold panics would crash the writer and every
//! standby on the same entry, forever. [`Guard`] catches the failure, halts the fold
//! there (nothing after it is folded, so nothing is decided from a state that may be
//! half-updated), and waits for an operator's `HaltResolved` entry naming it:
//!
//! - `Skip`: the entry is left out of the fold and folding resumes after it;
//! - `Retry`: the entry is folded again (after a fix was deployed).
//!
//! Either way the engine must be rebuilt (its state may be half-updated): the guard says
//! [`Step::Rebuild`], the caller folds the log again from its start (or a snapshot taken
//! before the halt) with the same guard, which now knows which entries to skip.
//!
//! The rule is sequential, so every instance and every replay running the same core
//! resolves a halt alike: a resolution acts only on the halt the fold is in when the
//! resolution is reached; one naming an entry that folded fine is an ordinary no-op
//! entry, never a rewrite of history. A resolution acts once: after a retry the same
//! entry can only be resolved by a later resolution.

use crate::Engine;
use qm_model::{Decision, HaltResolution, InputEvent, LogEvent, PolicyConfig};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The fold stopped at one entry: which stream and entry, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Halt {
    pub stream: String,
    pub sequence: u64,
    /// The panic message.
    pub error: String,
    /// Resolutions at or before this sequence were already acted on (a retry that halted
    /// again): only a later one resolves this halt.
    #[serde(default)]
    pub resolvable_after: u64,
}

/// What became of one entry.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Folded; the round's decisions (often none).
    Decided(Vec<Decision>),
    /// Folding this entry failed: the fold is halted here.
    Halted(Halt),
    /// Not folded: the fold is halted at an earlier entry.
    Held,
    /// Left out by an operator's skip.
    Skipped,
    /// This entry resolves the halt: rebuild the engine and fold again from the start.
    /// Decisions of entries before `from` were already taken; the rebuilt fold decides
    /// the entries from `from` on for the first time.
    Rebuild { from: u64 },
}

/// Fault injection for tests and chaos runs, the core having no poison entry we know
/// of: folding an input entry about `workload` panics, the first `times` times in this
/// process (0: every time). Every process given the same setting (the policy, `qm
/// status`, `qm replay`) halts alike. Written `WORKLOAD` or `WORKLOAD:TIMES`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoldFault {
    pub workload: String,
    pub times: u32,
}

impl std::str::FromStr for FoldFault {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (workload, times) = s.split_once(':').unwrap_or((s, "0"));
        let times = times.parse().map_err(|e| format!("{s}: times: {e}"))?;
        if workload.is_empty() {
            return Err(format!("{s}: no workload"));
        }
        Ok(Self { workload: workload.to_owned(), times })
    }
}

/// The halt state of a fold, kept across rebuilds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Guard {
    stream: String,
    halt: Option<Halt>,
    skipped: BTreeSet<u64>,
    /// Halted entry -> the last resolution acted on for it.
    resolved_at: BTreeMap<u64, u64>,
    fault: Option<FoldFault>,
    faults_fired: u32,
}

impl Guard {
    /// A guard for the fold of `stream` (named in halts).
    pub fn new(stream: &str) -> Self {
        Self { stream: stream.to_owned(), ..Self::default() }
    }

    /// With a fault injected (see [`FoldFault`]).
    pub fn with_fault(mut self, fault: Option<FoldFault>) -> Self {
        self.fault = fault;
        self
    }

    /// Whether the injected fault fires on this entry (and counts it).
    fn fault_fires(&mut self, event: &LogEvent) -> Option<String> {
        let fault = self.fault.as_ref()?;
        let about = match event {
            LogEvent::Input(InputEvent::DemandDeclared { spec, .. }) => &spec.id,
            LogEvent::Input(InputEvent::UsageReported { workload, .. } | InputEvent::WorkloadFinished { workload }) => workload,
            _ => return None,
        };
        if about.as_str() != fault.workload || (fault.times > 0 && self.faults_fired >= fault.times) {
            return None;
        }
        self.faults_fired += 1;
        Some(format!("injected fault: folding an entry about workload {}", fault.workload))
    }

    /// The halt the fold is in, if any.
    pub fn halt(&self) -> Option<&Halt> {
        self.halt.as_ref()
    }

    /// The entries left out of the fold by operators.
    pub fn skipped(&self) -> &BTreeSet<u64> {
        &self.skipped
    }

    /// Folds one entry through `engine.step`, catching a panic.
    pub fn step(&mut self, engine: &mut Engine, seq: u64, time_ms: i64, event: &LogEvent) -> Step {
        self.step_with(engine, seq, event, |engine| engine.step(seq, time_ms, event))
    }

    /// As [`Guard::step`], with the fold given: tests and fault injection put a failing
    /// fold here.
    pub fn step_with(
        &mut self,
        engine: &mut Engine,
        seq: u64,
        event: &LogEvent,
        fold: impl FnOnce(&mut Engine) -> Vec<Decision>,
    ) -> Step {
        if let Some(halt) = &self.halt {
            return match event {
                LogEvent::Input(InputEvent::HaltResolved { sequence, resolution })
                    if *sequence == halt.sequence && seq > halt.resolvable_after =>
                {
                    let from = halt.sequence;
                    self.resolved_at.insert(from, seq);
                    if *resolution == HaltResolution::Skip {
                        self.skipped.insert(from);
                    }
                    self.halt = None;
                    Step::Rebuild { from }
                }
                _ => Step::Held,
            };
        }
        if self.skipped.contains(&seq) {
            return Step::Skipped;
        }
        let injected = self.fault_fires(event);
        let fold = move |engine: &mut Engine| match injected {
            Some(message) => panic!("{message}"),
            None => fold(engine),
        };
        match catch_unwind(AssertUnwindSafe(|| fold(engine))) {
            Ok(decisions) => Step::Decided(decisions),
            Err(payload) => {
                let error = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panic without a message".to_owned());
                let resolvable_after = self.resolved_at.get(&seq).copied().unwrap_or(seq);
                let halt = Halt { stream: self.stream.clone(), sequence: seq, error, resolvable_after };
                self.halt = Some(halt.clone());
                Step::Halted(halt)
            }
        }
    }

    /// Before folding again after [`Step::Rebuild`] (or from the start for any other
    /// reason): the halt is forgotten (the fold meets it again if it still fails);
    /// skips and acted-on resolutions are kept.
    pub fn rebuilding(&mut self) {
        self.halt = None;
    }

    /// The guard a full fold of `log` ends with, having acted on every resolution in
    /// it: fold `log` once more through it and every entry comes out as a live
    /// instance that followed the log from its start saw it last. One extra pass per
    /// resolution acted on; none when the log has no resolutions.
    pub fn settled<'a, I>(self, policy: &PolicyConfig, log: I) -> Self
    where
        I: IntoIterator<Item = (u64, i64, &'a LogEvent)> + Clone,
    {
        let mut guard = self;
        let resolutions =
            log.clone().into_iter().any(|(_, _, e)| matches!(e, LogEvent::Input(InputEvent::HaltResolved { .. })));
        if !resolutions {
            return guard;
        }
        loop {
            guard.rebuilding();
            let mut engine = Engine::new(policy.clone());
            let rebuilt = log
                .clone()
                .into_iter()
                .any(|(seq, time_ms, event)| matches!(guard.step(&mut engine, seq, time_ms, event), Step::Rebuild { .. }));
            if !rebuilt {
                guard.rebuilding();
                return guard;
            }
        }
    }
}

/// Folds all of `log` as an instance that followed it from its start: the engine
/// (when halted, as it was before the poison entry, since the failed fold may have left
/// it half-updated) and the guard, whose halt says where the fold stands.
pub fn fold_log<'a, I>(guard: Guard, policy: &PolicyConfig, log: I) -> (Engine, Guard)
where
    I: IntoIterator<Item = (u64, i64, &'a LogEvent)> + Clone,
{
    let mut guard = guard.settled(policy, log.clone());
    let mut engine = Engine::new(policy.clone());
    for (seq, time_ms, event) in log.clone() {
        if let Step::Halted(_) = guard.step(&mut engine, seq, time_ms, event) {
            break;
        }
    }
    if let Some(halt) = guard.halt() {
        let before = halt.sequence;
        engine = Engine::new(policy.clone());
        let mut clean = guard.clone();
        clean.rebuilding();
        for (seq, time_ms, event) in log.into_iter().take_while(|(seq, _, _)| *seq < before) {
            clean.step(&mut engine, seq, time_ms, event);
        }
    }
    (engine, guard)
}

#[cfg(test)]
mod tests {
    use super::*;
    use qm_model::InputEvent;

    const POISON: u64 = 3;

    fn tick() -> LogEvent {
        LogEvent::Input(InputEvent::Tick)
    }

    fn resolve(sequence: u64, resolution: HaltResolution) -> LogEvent {
        LogEvent::Input(InputEvent::HaltResolved { sequence, resolution })
    }

    /// Folds `log` from an empty engine as a live instance does, rebuilding when told;
    /// entry `poison` fails while `fails(times tried)` says so. Returns what each entry
    /// came to in the last pass and the sequences folded.
    fn follow(log: &[LogEvent], poison: u64, fails: impl Fn(u32) -> bool) -> (Vec<&'static str>, Vec<u64>, Guard) {
        let mut guard = Guard::new("QM_INPUT");
        let mut tries = 0;
        'fold: loop {
            let mut engine = Engine::new(PolicyConfig::default());
            let (mut kinds, mut folded) = (Vec::new(), Vec::new());
            for (event, seq) in log.iter().zip(1u64..) {
                let step = guard.step_with(&mut engine, seq, event, |engine| {
                    if seq == poison {
                        tries += 1;
                        if fails(tries) {
                            panic!("poisoned {seq}");
                        }
                    }
                    engine.step(seq, 0, event)
                });
                kinds.push(match step {
                    Step::Decided(_) => {
                        folded.push(seq);
                        "decided"
                    }
                    Step::Halted(_) => "halted",
                    Step::Held => "held",
                    Step::Skipped => "skipped",
                    Step::Rebuild { from } => {
                        assert_eq!(from, poison);
                        guard.rebuilding();
                        continue 'fold;
                    }
                });
            }
            return (kinds, folded, guard);
        }
    }

    /// Given a poison entry, the fold halts there and holds everything after it, naming
    /// the stream, the entry and the panic.
    #[test]
    fn a_panic_halts_the_fold_and_holds_what_follows() {
        let log = vec![tick(), tick(), tick(), tick(), tick()];
        let (kinds, folded, guard) = follow(&log, POISON, |_| true);
        assert_eq!(kinds, ["decided", "decided", "halted", "held", "held"]);
        assert_eq!(folded, [1, 2]);
        let halt = guard.halt().expect("halted");
        assert_eq!((halt.stream.as_str(), halt.sequence, halt.error.as_str()), ("QM_INPUT", POISON, "poisoned 3"));
    }

    /// Table: what each resolution does to the poison entry at 3 (which fails always, or
    /// only on its first try). Outcomes per entry: d decided, h halted, - held, s skipped.
    #[test]
    fn resolutions() {
        let (t, skip, retry) = (tick, |s| resolve(s, HaltResolution::Skip), |s| resolve(s, HaltResolution::Retry));
        let always: &dyn Fn(u32) -> bool = &|_| true;
        let once: &dyn Fn(u32) -> bool = &|tries| tries == 1;
        let cases = [
            ("skip: left out, the rest folded in order", vec![t(), t(), t(), t(), skip(3), t()], always, "ddsddd", None),
            ("skip of another entry: no-op, still halted", vec![t(), t(), t(), skip(2), t()], always, "ddh--", Some(3)),
            ("retry of a transient failure: folded", vec![t(), t(), t(), retry(3), t()], once, "ddddd", None),
            ("retry that fails again: halted, acted on once", vec![t(), t(), t(), retry(3), t()], always, "ddh--", Some(3)),
            ("a later skip after a failed retry", vec![t(), t(), t(), retry(3), t(), skip(3), t()], always, "ddsdddd", None),
            ("a resolution before the poison does nothing", vec![t(), skip(3), t(), t()], always, "ddh-", Some(3)),
        ];
        for (name, log, fails, expected, halted_at) in cases {
            let (kinds, _, guard) = follow(&log, POISON, fails);
            let letters: String = kinds.iter().map(|k| if *k == "held" { '-' } else { k.chars().next().unwrap_or('?') }).collect();
            assert_eq!(letters, expected, "{name}");
            assert_eq!(guard.halt().map(|h| h.sequence), halted_at, "{name}");
        }
    }

    /// A settled guard folds the log in one pass to what a live instance ended with,
    /// and a log without resolutions costs no extra pass (nothing to settle).
    #[test]
    fn settled_guard_skips_what_the_operator_skipped() {
        let log = [tick(), tick(), tick(), resolve(2, HaltResolution::Skip)];
        let entries = || log.iter().zip(1u64..).map(|(e, s)| (s, 0, e));
        // Entry 2 folds fine here, so the skip naming it is a no-op: nothing skipped.
        let guard = Guard::new("QM_INPUT").settled(&PolicyConfig::default(), entries());
        assert!(guard.skipped().is_empty() && guard.halt().is_none());
        let empty = Guard::new("QM_INPUT").settled(&PolicyConfig::default(), entries().take(3));
        assert_eq!(empty, Guard::new("QM_INPUT"));
    }

    fn demand(workload: &str) -> LogEvent {
        let spec = crate::fixtures::spec(workload, "t", &[("h100", 1.0)]);
        LogEvent::Input(InputEvent::DemandDeclared { spec, chips_desired: 1 })
    }

    /// With a fault injected on one workload, a full fold halts at its entry (the state
    /// returned is the one before it); skipping it resumes; a retry of a fault that
    /// fires once folds it.
    #[test]
    fn fold_log_with_an_injected_fault() {
        let policy = PolicyConfig::default();
        let fault = |times| Some(FoldFault { workload: "bad".into(), times });
        let fold = |log: &[LogEvent], times| {
            let entries = log.iter().zip(1u64..).map(|(e, s)| (s, 0, e));
            let (engine, guard) = fold_log(Guard::new("QM_INPUT").with_fault(fault(times)), &policy, entries);
            (engine.state().workloads.keys().map(|w| w.as_str().to_owned()).collect::<Vec<_>>(), guard.halt().map(|h| h.sequence))
        };
        let team = LogEvent::Input(InputEvent::TeamDeclared(crate::fixtures::team("t", 1.0)));
        let log = vec![team, demand("a"), demand("bad"), demand("c")];
        assert_eq!(fold(&log, 0), (vec!["a".to_owned()], Some(3)));
        let mut skipped = log.clone();
        skipped.push(resolve(3, HaltResolution::Skip));
        assert_eq!(fold(&skipped, 0), (vec!["a".to_owned(), "c".to_owned()], None));
        let mut retried = log.clone();
        retried.push(resolve(3, HaltResolution::Retry));
        assert_eq!(fold(&retried, 0), (vec!["a".to_owned()], Some(3)), "fails every time: halted again");
        assert_eq!(fold(&retried, 1), (vec!["a".to_owned(), "bad".to_owned(), "c".to_owned()], None), "fails once: folded");
        assert_eq!("bad:2".parse(), Ok(FoldFault { workload: "bad".into(), times: 2 }));
        assert!("".parse::<FoldFault>().is_err() && "w:x".parse::<FoldFault>().is_err());
    }
}
