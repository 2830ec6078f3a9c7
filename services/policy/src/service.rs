//! The NATS shell around the policy core: start from the newest snapshot (or the log's
//! start), fold every entry of `QM_INPUT`, and publish decisions only while holding the
//! writer lease. A standby folds the same log, so it is caught up when it takes over.

use crate::gauges::FleetMetrics;
use crate::leader::{Keeper, KeeperSettings, Role};
use crate::machine::{LeaseChange, OnLease, Resume, WriterMachine};
use crate::recent::{RecentRounds, Round};
use crate::resume::resume_point;
use crate::snapshot::{Snapshot, SnapshotLoadError};
use crate::writer::{Publisher, PublisherMetrics};
use futures::{FutureExt, Stream, StreamExt};
use qm_bus::lease::LeaseSettings;
use qm_bus::read::{self, decode_log, Entry};
use qm_bus::snapshot::{SnapshotSettings, SnapshotStore};
use qm_bus::{subjects, Bus, BusError, ConnectSettings};
use qm_core::{Engine, FoldFault, Guard, Halt, Step};
use qm_model::PolicyConfig;
use qm_runtime::metrics::{Gauge, LabeledCounter, Seconds};
use qm_runtime::{Bootstrap, ServiceSettings};
use std::future::Future;
use std::pin::Pin;

pub use crate::writer::DECISION_ID_TAG;

/// The policy service's settings.
#[derive(Clone, Debug)]
pub struct PolicyServiceConfig {
    pub service: ServiceSettings,
    /// The policy until the log publishes one.
    pub policy: PolicyConfig,
    /// Shadow mode: record decisions as advisory; the actuator applies none of them.
    pub shadow: bool,
    /// Decisions published but not yet acknowledged, at most.
    pub publish_inflight_max: usize,
    /// The writer lease (bucket, TTL); instances of one fleet share it.
    pub lease: LeaseSettings,
    /// The lease key: one writer per key.
    pub lease_key: String,
    /// This instance's name in the lease, for operators.
    pub instance: String,
    /// Where snapshots go; `None` disables them (load and store).
    pub snapshots: Option<SnapshotSettings>,
    /// Object name of this service's snapshot.
    pub snapshot_name: String,
    /// The writer stores a snapshot every this many folded entries, once caught up.
    pub snapshot_every: u64,
    /// Decisions of recent rounds kept for a takeover, at most.
    pub recent_decisions_max: usize,
    /// Fault injection for tests and chaos runs: entries about this workload fail to
    /// fold (poison entries), as they do for `qm status` given the same setting.
    pub fold_fault: Option<FoldFault>,
    /// The writer reads the fleet gauges at most this often (zero: never).
    pub gauges_every: std::time::Duration,
}

impl Default for PolicyServiceConfig {
    fn default() -> Self {
        Self {
            service: ServiceSettings::named("qm-policy"),
            policy: PolicyConfig::default(),
            shadow: false,
            publish_inflight_max: 512,
            lease: LeaseSettings::default(),
            lease_key: "policy-writer".into(),
            instance: format!("policy-{}", uuid::Uuid::now_v7()),
            snapshots: Some(SnapshotSettings::default()),
            snapshot_name: "policy-engine".into(),
            snapshot_every: 10_000,
            recent_decisions_max: 100_000,
            fold_fault: None,
            gauges_every: std::time::Duration::from_secs(1),
        }
    }
}

type Entries = Pin<Box<dyn Stream<Item = Result<Entry, BusError>> + Send>>;

/// Folds the log and, while holding the lease, records decisions until `shutdown`.
pub async fn run(config: PolicyServiceConfig, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let mut started = Bootstrap::start(&config.service, config.publish_inflight_max).await?;
    let registry = &mut started.registry;
    let folded = LabeledCounter::register(registry, "qm_policy_log_entries", "Log entries folded, by kind", "kind");
    let published = PublisherMetrics {
        actions: LabeledCounter::register(registry, "qm_policy_decisions", "Decisions recorded, by action", "action"),
        rules: LabeledCounter::register(registry, "qm_policy_rule_decisions", "Decisions recorded, by the rule that made them", "rule"),
        lag: Seconds::register(registry, "qm_policy_decision_lag_seconds", "From the input's time stamp (ingest, actuator) to its round's decisions sent, by this clock"),
    };
    let lease_events = LabeledCounter::register(registry, "qm_policy_lease_events", "Writer lease changes, by event", "event");
    let snapshot_events = LabeledCounter::register(registry, "qm_policy_snapshots", "Snapshots, by outcome", "outcome");
    let halted_at = Gauge::register(registry, "qm_policy_halted_sequence", "The QM_INPUT entry the fold is halted at (a poison entry); 0 = folding");
    let gauges = FleetMetrics::register(registry, config.gauges_every);
    let bus = started.serve_metrics();

    let snapshots = match &config.snapshots {
        Some(settings) => SnapshotStore::open(&bus, settings)
            .await
            .map_err(|e| tracing::warn!(error = %e, "snapshots disabled: bucket unavailable"))
            .ok(),
        None => None,
    };
    let mut keeper = Keeper::spawn(KeeperSettings {
        nats: ConnectSettings { name: format!("{}-lease", config.service.nats.name), ..config.service.nats.clone() },
        lease: config.lease.clone(),
        key: config.lease_key.clone(),
        holder: config.instance.clone(),
    })
    .await?;

    let (mut engine, stored_through) = start_point(&bus, snapshots.as_ref(), &config, &snapshot_events).await?;
    // No store, no snapshots: the machine never asks for one.
    let snapshot_every = if snapshots.is_some() { config.snapshot_every } else { 0 };
    let guard = Guard::new(subjects::INPUT_STREAM).with_fault(config.fold_fault.clone());
    let mut policy = Policy {
        publisher: Publisher::new(bus.clone(), config.publish_inflight_max, config.shadow, published),
        bus,
        config,
        snapshots,
        folded,
        lease_events,
        snapshot_events,
        machine: WriterMachine::new(stored_through, snapshot_every),
        upload: None,
        guard,
        halted_at,
        gauges,
    };
    let mut state = Folding::new(&policy, engine.last_seq()).await?;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            next = state.batches.recv() => match next {
                Some(batch) => {
                    for decoded in batch? {
                        // Read per entry: a lost lease shows at once, even mid-batch.
                        let role = *keeper.roles.borrow();
                        if let Some(from) = policy.fold(&mut engine, &mut state, decoded, &role).await? {
                            tracing::warn!(from, "halt resolved; folding the log again");
                            // The rest of this batch is read again from the log's start.
                            (engine, state) = policy.fold_again().await?;
                            break;
                        }
                    }
                    policy.gauges.after_batch(&engine, policy.machine.is_writer());
                }
                None => break,
            },
            _ = policy.gauges.due() => policy.gauges.when_due(&engine, policy.machine.is_writer()),
            changed = keeper.roles.changed() => {
                if changed.is_err() {
                    anyhow::bail!("writer lease keeper stopped");
                }
                let role = *keeper.roles.borrow_and_update();
                if let Some(from) = policy.on_role(&engine, &mut state, role).await? {
                    tracing::warn!(from, "rounds to republish no longer in memory; folding the log again");
                    (engine, state) = policy.fold_again().await?;
                }
                policy.gauges.after_batch(&engine, policy.machine.is_writer());
            },
            _ = &mut shutdown => break,
        }
    }
    policy.publisher.settle(0).await?;
    // Released only after the last ack, so the successor's resume point sees every
    // decision this instance stored.
    keeper.stop().await;
    tracing::info!("policy stopped");
    Ok(())
}

/// The engine to start from and the sequence through which decisions are known stored:
/// the newest usable snapshot's, or an empty engine. Any doubt about a snapshot falls
/// back to the full log, saying why.
async fn start_point(
    bus: &Bus,
    store: Option<&SnapshotStore>,
    config: &PolicyServiceConfig,
    events: &LabeledCounter,
) -> anyhow::Result<(Engine, u64)> {
    let empty = || (Engine::new(config.policy.clone()), 0);
    let Some(store) = store else { return Ok(empty()) };
    match Snapshot::load(store, &config.snapshot_name, &config.policy).await {
        Ok(snapshot) => {
            let last = qm_bus::streams::last_sequence(bus, subjects::INPUT_STREAM).await?;
            if snapshot.seq > last {
                events.inc("unusable");
                tracing::warn!(snapshot_seq = snapshot.seq, log_last = last, "snapshot is ahead of the log (another log?); rebuilding from the full log");
                return Ok(empty());
            }
            events.inc("loaded");
            tracing::info!(seq = snapshot.seq, "starting from snapshot");
            Ok((snapshot.engine, snapshot.seq))
        }
        Err(SnapshotLoadError::Absent) => {
            events.inc("absent");
            tracing::info!("no snapshot yet; rebuilding from the full log");
            Ok(empty())
        }
        Err(e) => {
            events.inc("unusable");
            tracing::warn!(error = %e, "snapshot unusable; rebuilding from the full log");
            Ok(empty())
        }
    }
}

/// The reading position: a task reads and decodes ahead of the fold (on another core
/// when there is one), handing over whatever arrived together as one batch.
struct Folding {
    batches: tokio::sync::mpsc::Receiver<Result<Vec<Decoded>, BusError>>,
    reader: tokio::task::JoinHandle<()>,
    recent: RecentRounds,
}

/// A log entry and what decoding it gave.
struct Decoded {
    entry: Entry,
    record: Result<qm_model::LogRecord, qm_model::DecodeError>,
}

/// Entries per batch handed to the fold, at most; batches queued, at most.
const READ_AHEAD_BATCH: usize = 512;
const READ_AHEAD_BATCHES: usize = 8;

impl Folding {
    async fn new(policy: &Policy, folded_through: u64) -> anyhow::Result<Self> {
        let entries: Entries = Box::pin(read::follow(&policy.bus, subjects::INPUT_STREAM, folded_through + 1).await?);
        let (tx, batches) = tokio::sync::mpsc::channel(READ_AHEAD_BATCHES);
        let reader = tokio::spawn(read_ahead(entries, tx));
        let recent = RecentRounds::new(folded_through + 1, policy.config.recent_decisions_max);
        Ok(Self { batches, reader, recent })
    }
}

impl Drop for Folding {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Reads and decodes entries in order, in batches of what is ready, until the fold
/// stops listening or the reader fails (the error is passed on, then it stops).
async fn read_ahead(mut entries: Entries, tx: tokio::sync::mpsc::Sender<Result<Vec<Decoded>, BusError>>) {
    let decoded = |entry: Entry| Decoded { record: decode_log(&entry), entry };
    loop {
        let mut batch = match entries.next().await {
            Some(Ok(entry)) => vec![decoded(entry)],
            Some(Err(e)) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
            None => return,
        };
        let mut failed = None;
        while batch.len() < READ_AHEAD_BATCH {
            match entries.next().now_or_never() {
                Some(Some(Ok(entry))) => batch.push(decoded(entry)),
                Some(Some(Err(e))) => {
                    failed = Some(e);
                    break;
                }
                Some(None) | None => break,
            }
        }
        if tx.send(Ok(batch)).await.is_err() {
            return;
        }
        if let Some(e) = failed {
            let _ = tx.send(Err(e)).await;
            return;
        }
    }
}

/// The shell around [`WriterMachine`]: it does what the machine decides.
struct Policy {
    bus: Bus,
    config: PolicyServiceConfig,
    snapshots: Option<SnapshotStore>,
    publisher: Publisher,
    folded: LabeledCounter,
    lease_events: LabeledCounter,
    snapshot_events: LabeledCounter,
    machine: WriterMachine,
    upload: Option<tokio::task::JoinHandle<()>>,
    /// Catches a poison entry; kept across folds of the log (it knows the skips).
    guard: Guard,
    halted_at: Gauge,
    /// Fleet gauges, read from the engine after batches while this instance writes.
    gauges: FleetMetrics,
}

impl Policy {
    /// An empty engine and a reading position at the log's start: the log is folded again.
    async fn fold_again(&mut self) -> anyhow::Result<(Engine, Folding)> {
        self.guard.rebuilding();
        Ok((Engine::new(self.config.policy.clone()), Folding::new(self, 0).await?))
    }

    /// Folds one log entry; publishes its round if this instance is the writer. Returns
    /// `Some(from)` when the entry resolves a halt: the caller folds the log again, and
    /// rounds from `from` on are decided (and published) for the first time.
    async fn fold(&mut self, engine: &mut Engine, state: &mut Folding, decoded: Decoded, role: &Role) -> anyhow::Result<Option<u64>> {
        let Decoded { entry, record } = decoded;
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                self.folded.inc("undecodable");
                // Skipped the same way on replay, so decisions stay reproducible.
                tracing::error!(error = %e, sequence = entry.sequence, subject = %entry.subject, "undecodable log entry skipped");
                return Ok(None);
            }
        };
        self.folded.inc(match record.event {
            qm_model::LogEvent::Input(_) => "input",
            qm_model::LogEvent::Actuation(_) => "actuation",
        });
        let step = self.guard.step(engine, record.sequence, record.time_ms, &record.event);
        let decisions = match step {
            Step::Decided(decisions) => decisions,
            Step::Skipped => {
                self.folded.inc("skipped");
                tracing::warn!(sequence = record.sequence, "log entry skipped by an operator");
                Vec::new()
            }
            Step::Halted(halt) => {
                self.halted(&halt);
                return Ok(None);
            }
            Step::Held => {
                self.folded.inc("held");
                return Ok(None);
            }
            Step::Rebuild { from } => {
                self.halted_at.set(0);
                self.machine.rebuilding(from);
                return Ok(Some(from));
            }
        };
        // Most entries decide nothing: their round costs no allocation.
        let round = (!decisions.is_empty()).then(|| Round {
            input_seq: record.sequence,
            time_ms: record.time_ms,
            cause: record.id,
            policy_version: engine.policy().version.clone(),
            decisions,
        });
        let upload_busy = self.upload.as_ref().is_some_and(|task| !task.is_finished());
        let after = self.machine.on_fold(record.sequence, entry.pending == 0, role.may_publish(), upload_busy);
        if after.stood_by {
            // The keeper's renewal is late or failed: our own clock says stop, now.
            self.stood_by("lease expired by local clock");
        }
        if let Some(round) = round {
            if after.publish {
                if let Err(e) = self.publisher.publish(&round).await {
                    self.publish_failed(&e);
                }
            }
            state.recent.push(round);
        }
        if after.settle {
            if let Err(e) = self.publisher.settle(0).await {
                self.publish_failed(&e);
            }
        }
        if after.first_caught_up {
            tracing::info!(sequence = entry.sequence, writer = self.machine.is_writer(), "policy caught up");
        }
        // Not after a failed publish: a snapshot promises every decision up to it is stored.
        if after.snapshot && self.machine.is_writer() {
            self.snapshot(engine);
        }
        Ok(None)
    }

    /// The fold halted at a poison entry: nothing more is folded or decided (the
    /// engine's state may be half-updated) until a `HaltResolved` entry resolves it
    /// (`qm halt skip|retry SEQ`). The lease is kept, so no standby (which would halt
    /// on the same entry) crash-loops either.
    fn halted(&mut self, halt: &Halt) {
        self.folded.inc("halted");
        self.halted_at.set(halt.sequence);
        tracing::error!(
            stream = %halt.stream, sequence = halt.sequence, error = %halt.error,
            "folding the log entry failed; halted, deciding nothing until an operator runs `qm halt skip {0}` or `qm halt retry {0}`",
            halt.sequence
        );
    }

    /// Reacts to a lease change. Returns `Some(from)` when the rounds to republish are no
    /// longer in memory: the caller then folds again from the log's start, publishing
    /// from `from`.
    async fn on_role(&mut self, engine: &Engine, state: &mut Folding, role: Role) -> anyhow::Result<Option<u64>> {
        let change = match role {
            Role::Standby => LeaseChange::Standby,
            Role::Writer { term, .. } => LeaseChange::Writer { term },
        };
        let term = match self.machine.on_lease(change) {
            OnLease::Nothing => return Ok(None),
            OnLease::StoodBy { why } => {
                self.stood_by(why);
                return Ok(None);
            }
            OnLease::FindResumePoint { term } => term,
        };
        self.lease_events.inc("acquired");
        let probed = match resume_point(&self.bus, self.config.publish_inflight_max.max(1) as u64).await {
            Ok(probed) => probed,
            // Expected while a cluster elects new stream leaders after a node loss. Exiting
            // here left the fleet without a writer (the cluster test's stall); instead this
            // takeover is abandoned and the keeper's next renewal (or a standby) tries again.
            Err(e) => {
                tracing::warn!(error = %e, term, "resume point unavailable; retrying the takeover on the next renewal");
                if let OnLease::StoodBy { why } = self.machine.takeover_expired() {
                    self.stood_by(why);
                }
                return Ok(None);
            }
        };
        self.publisher.skip(probed.stored);
        let resume = self.machine.resumed(probed.from, engine.last_seq(), |from| state.recent.since(from).is_some());
        tracing::info!(term, ?resume, folded = engine.last_seq(), "writer lease acquired; publishing from the resume point");
        let from = match resume {
            Resume::Folding { .. } => return Ok(None),
            Resume::Refold { from } => return Ok(Some(from)),
            Resume::Republish { from } => from,
        };
        let rounds: Vec<Round> = state.recent.since(from).into_iter().flatten().cloned().collect();
        for round in &rounds {
            if !role.may_publish() {
                let OnLease::StoodBy { why } = self.machine.takeover_expired() else { break };
                self.stood_by(why);
                break;
            }
            if let Err(e) = self.publisher.publish(round).await {
                self.publish_failed(&e);
                break;
            }
        }
        Ok(None)
    }

    /// A publish or its ack failed (after a node loss: the stream has no leader yet).
    /// Exiting here left the fleet without a writer until something restarted the
    /// service; instead the writer stands by and its next renewal takes over again,
    /// probing what was stored and republishing the rest, as a restart would.
    fn publish_failed(&mut self, error: &anyhow::Error) {
        tracing::warn!(error = %error, "publishing failed; standing by until the next renewal takes over again");
        self.publisher.abandon();
        if let OnLease::StoodBy { why } = self.machine.publish_failed() {
            self.stood_by(why);
        }
    }

    fn stood_by(&mut self, why: &str) {
        self.lease_events.inc("lost");
        tracing::warn!(why, "stopped publishing; standing by");
    }

    /// Stores a snapshot in the background (one upload at a time; the machine says when:
    /// only when every decision up to here is acknowledged, the promise the resume logic
    /// relies on).
    fn snapshot(&mut self, engine: &Engine) {
        let Some(store) = self.snapshots.clone() else { return };
        let bytes = match Snapshot::encode(engine, &self.config.policy) {
            Ok(bytes) => bytes,
            Err(e) => {
                self.snapshot_events.inc("failed");
                tracing::error!(error = %e, "snapshot not encodable");
                return;
            }
        };
        let (name, seq, events) = (self.config.snapshot_name.clone(), engine.last_seq(), self.snapshot_events.clone());
        self.upload = Some(tokio::spawn(async move {
            match store.put(&name, &bytes).await {
                Ok(()) => {
                    events.inc("stored");
                    tracing::info!(seq, bytes = bytes.len(), "snapshot stored");
                }
                Err(e) => {
                    events.inc("failed");
                    tracing::warn!(error = %e, seq, "snapshot not stored; the log still has everything");
                }
            }
        }));
    }
}
