//! Who writes: a background task keeps trying to hold the writer lease and tells the
//! fold loop, through a watch channel, whether this instance may publish and until when.
//!
//! Why a lease is enough, and why it need not be perfect: decisions are a pure function
//! of the log, and each one's `Nats-Msg-Id` is derived from its log position (input
//! sequence and index in the round). Two instances that both think they are the writer
//! for a moment (a paused old writer and its successor) therefore publish byte-identical
//! messages under the same ids, and JetStream's duplicate window drops the second copy.
//! Correctness comes from determinism plus dedup; the lease only keeps the overlap to a
//! moment, so the work is done once and the dedup window is never relied on for long.
//!
//! Renewal must never wait behind the fold (issue 15: under load the only writer lost its
//! lease to itself). So the keeper runs on its own thread, with its own single-threaded
//! runtime and its own NATS connection: a long round or a full publish pipeline on the
//! service's connection delays neither its timer nor its compare-and-set.

use qm_bus::lease::{Lease, LeaseError, LeaseSettings, LeaseStore};
use qm_bus::ConnectSettings;
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

/// What this instance may do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Fold the log, publish nothing.
    Standby,
    /// Publish, while `Instant::now() < valid_until`. `term` grows with each acquisition,
    /// so the fold loop can tell a new term (compute the resume point) from a renewal.
    Writer { term: u64, valid_until: Instant },
}

impl Role {
    /// Whether publishing is allowed at this instant: checked before every publish, so a
    /// writer whose renewals stall stops on its own clock, without waiting for the keeper.
    pub fn may_publish(&self) -> bool {
        matches!(self, Role::Writer { valid_until, .. } if Instant::now() < *valid_until)
    }
}

/// The running lease keeper.
pub struct Keeper {
    pub roles: watch::Receiver<Role>,
    stop: Option<oneshot::Sender<()>>,
    done: oneshot::Receiver<()>,
}

/// Where the keeper connects and which lease it keeps.
#[derive(Clone, Debug)]
pub struct KeeperSettings {
    /// Its own connection (same server and credentials as the service's).
    pub nats: ConnectSettings,
    pub lease: LeaseSettings,
    pub key: String,
    pub holder: String,
}

impl Keeper {
    /// Starts trying to hold the key, every TTL/3 (renewals at the same pace), on a thread
    /// of its own. Returns once the keeper is connected and the bucket open.
    pub async fn spawn(settings: KeeperSettings) -> anyhow::Result<Self> {
        let (tx, roles) = watch::channel(Role::Standby);
        let (stop, stopped) = oneshot::channel();
        let (ready_tx, ready) = oneshot::channel::<anyhow::Result<()>>();
        let (done_tx, done) = oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        std::thread::Builder::new().name("qm-policy-lease".into()).spawn(move || {
            runtime.block_on(async move {
                let store = match open(&settings).await {
                    Ok(store) => store,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                keep(store, settings.key, settings.holder, tx, stopped).await;
            });
            let _ = done_tx.send(());
        })?;
        ready.await.map_err(|_| anyhow::anyhow!("lease keeper thread ended at start"))??;
        Ok(Self { roles, stop: Some(stop), done })
    }

    /// Stops: publishes `Standby`, then releases the lease if held, so a standby takes
    /// over without waiting for expiry. Call after the last publish is acknowledged.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.done).await;
    }
}

async fn open(settings: &KeeperSettings) -> anyhow::Result<LeaseStore> {
    let bus = qm_bus::connect(&settings.nats).await?;
    Ok(LeaseStore::open(&bus, &settings.lease).await?)
}

async fn keep(store: LeaseStore, key: String, holder: String, tx: watch::Sender<Role>, mut stopped: oneshot::Receiver<()>) {
    let period = (store.ttl() / 3).max(Duration::from_millis(10));
    let mut term = 0;
    loop {
        match Lease::acquire(&store, &key, &holder).await {
            Ok(Some(mut lease)) => {
                term += 1;
                tracing::info!(%key, %holder, term, revision = lease.revision(), "writer lease acquired");
                let _ = tx.send(Role::Writer { term, valid_until: lease.valid_until() });
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(period) => {}
                        _ = &mut stopped => {
                            return stand_down(lease, &tx).await;
                        }
                    }
                    match renew_while_valid(&mut lease, period, &mut stopped).await {
                        Renewal::Renewed => {
                            let _ = tx.send(Role::Writer { term, valid_until: lease.valid_until() });
                        }
                        Renewal::Lost(e) => {
                            // Stop first, then log: nothing may be published after a failed renewal.
                            let _ = tx.send(Role::Standby);
                            tracing::warn!(error = %e, %key, term, "writer lease lost; standing by");
                            break;
                        }
                        Renewal::Stopped => {
                            return stand_down(lease, &tx).await;
                        }
                    }
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, %key, "cannot try the writer lease"),
        }
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = &mut stopped => return,
        }
    }
}

/// Stopping while holding the lease: `Standby` first (nothing more may be published),
/// then release, so a standby takes over without waiting for expiry.
async fn stand_down(lease: Lease, tx: &watch::Sender<Role>) {
    let _ = tx.send(Role::Standby);
    if let Err(e) = lease.release().await {
        tracing::warn!(error = %e, "writer lease not released; it expires by itself");
    }
}

/// How one renewal attempt ended.
enum Renewal {
    Renewed,
    Lost(LeaseError),
    Stopped,
}

/// Renews, retrying an unknown outcome (`Unavailable`: a slow or restarting server) every
/// `period / 4` while the lease is still ours by the local clock. A hiccup shorter than
/// the remaining lease therefore costs no term change and no gap in publishing; the role
/// is left as it was meanwhile, and `Role::may_publish` still stops publishing at the old
/// deadline. `Lost` (someone else holds the key) and `Expired` (the lease ran out by
/// our clock before a renewal was confirmed) end the term at once.
async fn renew_while_valid(lease: &mut Lease, period: Duration, stopped: &mut oneshot::Receiver<()>) -> Renewal {
    let retry = (period / 4).max(Duration::from_millis(5));
    loop {
        match lease.renew().await {
            Ok(()) => return Renewal::Renewed,
            Err(e @ LeaseError::Unavailable { .. }) if lease.is_valid() => {
                tracing::debug!(error = %e, "lease renewal outcome unknown; retrying while the lease lasts");
            }
            Err(e) => return Renewal::Lost(e),
        }
        tokio::select! {
            _ = tokio::time::sleep_until((Instant::now() + retry).min(lease.valid_until())) => {}
            _ = &mut *stopped => return Renewal::Stopped,
        }
    }
}
