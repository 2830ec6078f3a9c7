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

use qm_bus::lease::{Lease, LeaseStore};
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
    task: tokio::task::JoinHandle<()>,
}

impl Keeper {
    /// Starts trying to hold `key` as `holder`, every TTL/3 (renewals at the same pace).
    pub fn spawn(store: LeaseStore, key: String, holder: String) -> Self {
        let (tx, roles) = watch::channel(Role::Standby);
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(keep(store, key, holder, tx, stopped));
        Self { roles, stop: Some(stop), task }
    }

    /// Stops: publishes `Standby`, then releases the lease if held, so a standby takes
    /// over without waiting for expiry. Call after the last publish is acknowledged.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
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
                            let _ = tx.send(Role::Standby);
                            if let Err(e) = lease.release().await {
                                tracing::warn!(error = %e, "writer lease not released; it expires by itself");
                            }
                            return;
                        }
                    }
                    match lease.renew().await {
                        Ok(()) => {
                            let _ = tx.send(Role::Writer { term, valid_until: lease.valid_until() });
                        }
                        Err(e) => {
                            // Stop first, then log: nothing may be published after a failed renewal.
                            let _ = tx.send(Role::Standby);
                            tracing::warn!(error = %e, %key, term, "writer lease lost; standing by");
                            break;
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
