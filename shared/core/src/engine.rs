//! The engine: the one entry point the policy service, replay and the simulator call.
//! It owns the folded state, the policy and the log position, and decides when a
//! decision round is worth running.

use crate::decide;
use crate::fold::{self, Effect};
use crate::state::FleetState;
use crate::status::FleetStatus;
use qm_model::{Decision, InputEvent, LogEvent, PolicyConfig};
use serde::{Deserialize, Serialize};

/// The policy core: state folded from the log plus the rules. Serializable, because a
/// serialized engine is the snapshot a standby or `qm replay` starts from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Engine {
    state: FleetState,
    policy: PolicyConfig,
    /// A pinned policy ignores `PolicyPublished` (what-if replays).
    pinned: bool,
    last_seq: u64,
    /// The earliest time a time-based rule may fire without new input (unix ms).
    wake_ms: Option<i64>,
}

impl Engine {
    /// An empty fleet under `policy`.
    pub fn new(policy: PolicyConfig) -> Self {
        Self { state: FleetState::default(), policy, pinned: false, last_seq: 0, wake_ms: None }
    }

    /// Folds one entry of the totally ordered log and runs a decision round if the entry
    /// changed something material or a time-based rule is due. Entries at or below
    /// [`Engine::last_seq`] are ignored (redelivery). The clock only moves forward, to
    /// `time_ms`; the core never reads a system clock.
    pub fn step(&mut self, seq: u64, time_ms: i64, event: &LogEvent) -> Vec<Decision> {
        if seq <= self.last_seq {
            return Vec::new();
        }
        self.last_seq = seq;
        self.state.now_ms = self.state.now_ms.max(time_ms);
        let effect = match event {
            LogEvent::Input(InputEvent::PolicyPublished(p)) => {
                if self.pinned || *p == self.policy {
                    Effect::Nothing
                } else {
                    self.policy = p.clone();
                    Effect::Round
                }
            }
            LogEvent::Input(e) => fold::apply_input(&mut self.state, &self.policy, e),
            LogEvent::Actuation(e) => fold::apply_actuation(&mut self.state, e),
        };
        if effect == Effect::Usage {
            // Use fell below the idle threshold: the give-back rule may fire once the
            // idle window is over, so wake up then.
            if let LogEvent::Input(InputEvent::UsageReported { workload, .. }) = event {
                if let Some(since) = self.state.workloads.get(workload).and_then(|w| w.idle_since_ms) {
                    let at = since + i64::from(self.policy.idle_window_s) * 1000;
                    self.wake_ms = Some(self.wake_ms.map_or(at, |w| w.min(at)));
                }
            }
        }
        let due = self.wake_ms.is_some_and(|w| w <= self.state.now_ms);
        if effect != Effect::Round && !due {
            return Vec::new();
        }
        let (decisions, wake) = decide::round(&mut self.state, &self.policy);
        self.wake_ms = wake;
        decisions
    }

    /// The log position of the last entry folded.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The policy in force; its version label goes into every decision record.
    pub fn policy(&self) -> &PolicyConfig {
        &self.policy
    }

    /// Pins the policy for what-if replays: `PolicyPublished` entries are then ignored.
    /// The next step runs a round under the new policy.
    pub fn pin_policy(&mut self, policy: PolicyConfig) {
        self.policy = policy;
        self.pinned = true;
        self.wake_ms = Some(i64::MIN);
    }

    /// The engine's clock: the latest event time folded (unix ms).
    pub fn now_ms(&self) -> i64 {
        self.state.now_ms
    }

    /// The folded state, read-only, for auditors and the simulator.
    pub fn state(&self) -> &FleetState {
        &self.state
    }

    /// What `qm status` prints.
    pub fn status(&self) -> FleetStatus {
        FleetStatus::of(&self.state, &self.policy)
    }
}
