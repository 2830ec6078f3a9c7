//! A lease in a JetStream key-value bucket: at most one holder of a key at a time,
//! fenced by revision checks, lost by silence.
//!
//! The bucket's `max_age` is the lease's time to live: the server removes a key that
//! nobody rewrote for that long, and then `create` (write only if absent) succeeds for
//! whoever tries next. The holder renews with `update(key, value, revision)`, a
//! compare-and-set on the revision it last wrote, so a holder that was replaced can never
//! renew over its successor: its revision is stale.
//!
//! A holder never loses the lease to itself: when a renewal finds a revision it did not
//! expect (its previous write landed although the answer was lost) or gets no answer in
//! time, it reads the key, and if the key still names it, renews on the revision found.
//! Likewise `acquire` takes over a key that already names this holder (a renewal given up
//! too early, or a restart under the same instance name) instead of waiting for expiry.
//! Holder names must therefore be unique per live instance.
//!
//! The holder's own deadline is counted from the moment it *sent* its last successful
//! write, so it is never later than the server's (which counts from when it stored that
//! write): a holder stops believing in its lease before anyone else can take it, as
//! long as both clocks run at about the same rate. A margin covers the rest.

use crate::bus::Bus;
use async_nats::jetstream::kv;
use std::time::Duration;
use tokio::time::Instant;

/// Where leases live and how long they last.
#[derive(Clone, Debug)]
pub struct LeaseSettings {
    /// The key-value bucket; its `max_age` is the time to live.
    pub bucket: String,
    /// How long a lease lasts without renewal.
    pub ttl: Duration,
    /// Copies of the bucket: 1 on one server, 3 on a cluster.
    pub replicas: usize,
}

impl Default for LeaseSettings {
    fn default() -> Self {
        Self { bucket: "qm_leases".into(), ttl: Duration::from_secs(3), replicas: 1 }
    }
}

/// What went wrong with a lease, by what the holder does about it.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The bucket could not be created or opened: operator action (config conflict, no
    /// JetStream).
    #[error("lease bucket {bucket}: {message}")]
    Bucket { bucket: String, message: String },
    /// Someone else holds the key now, or renewal found a revision it did not write:
    /// stop acting as the holder at once.
    #[error("lease {key} is held by someone else")]
    Lost { key: String },
    /// The lease ran out by this holder's own clock before a renewal was confirmed (the
    /// bucket had no leader for a while, e.g. a node lost during an election, or the
    /// holder renewed too late): stop acting as the holder at once, then acquire again;
    /// the key may still name this holder, and `acquire` then takes it back without
    /// waiting for expiry. Nobody else need hold it.
    #[error("lease {key} ran out by this holder's clock before a renewal was confirmed")]
    Expired { key: String },
    /// The server did not answer as expected: the outcome is unknown. A holder treats
    /// this as lost (its write may or may not have landed); a candidate retries later.
    #[error("lease {key}: {message}")]
    Unavailable { key: String, message: String },
}

/// An opened lease bucket.
#[derive(Clone)]
pub struct LeaseStore {
    kv: kv::Store,
    /// The bucket's real time to live, which may differ from the configured one if the
    /// bucket existed before; deadlines are computed from this one.
    ttl: Duration,
}

impl LeaseStore {
    /// Opens the bucket, creating it if absent. An existing bucket keeps its TTL (every
    /// holder must agree on it), and that TTL is the one used.
    pub async fn open(bus: &Bus, settings: &LeaseSettings) -> Result<Self, LeaseError> {
        let bucket_error = |e: &dyn std::fmt::Display| LeaseError::Bucket { bucket: settings.bucket.clone(), message: e.to_string() };
        let js = bus.js();
        let kv = match js.get_key_value(&settings.bucket).await {
            Ok(kv) => kv,
            Err(_) => js
                .create_key_value(kv::Config {
                    bucket: settings.bucket.clone(),
                    description: "Quartermaster leases: one holder per key; max_age is the TTL".into(),
                    history: 1,
                    max_age: settings.ttl,
                    num_replicas: settings.replicas,
                    ..Default::default()
                })
                .await
                .map_err(|e| bucket_error(&e))?,
        };
        let status = kv.status().await.map_err(|e| bucket_error(&e))?;
        let ttl = status.max_age();
        if ttl.is_zero() {
            return Err(bucket_error(&"bucket has no max_age, so its leases never expire"));
        }
        if ttl != settings.ttl {
            tracing::warn!(bucket = %settings.bucket, configured_ms = settings.ttl.as_millis(), bucket_ms = ttl.as_millis(), "lease bucket exists with another TTL; using the bucket's");
        }
        Ok(Self { kv, ttl })
    }

    /// Who holds `key` in `bucket`, without creating the bucket: `None` when nobody does
    /// or the bucket does not exist yet (for observers such as tests and `qm status`).
    pub async fn holder_in(bus: &Bus, bucket: &str, key: &str) -> Result<Option<String>, LeaseError> {
        let Ok(kv) = bus.js().get_key_value(bucket).await else { return Ok(None) };
        let value = kv.get(key).await.map_err(|e| unavailable(key, &e))?;
        Ok(value.map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// The lease time to live in force.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Who holds `key` now, if anyone.
    pub async fn holder(&self, key: &str) -> Result<Option<String>, LeaseError> {
        Ok(self.entry(key).await?.map(|(holder, _)| holder))
    }

    /// The holder written in `key` and the revision of that write; `None` when absent,
    /// deleted or expired.
    async fn entry(&self, key: &str) -> Result<Option<(String, u64)>, LeaseError> {
        let entry = self.kv.entry(key).await.map_err(|e| unavailable(key, &e))?;
        Ok(entry
            .filter(|e| e.operation == kv::Operation::Put)
            .map(|e| (String::from_utf8_lossy(&e.value).into_owned(), e.revision)))
    }
}

/// A lease held by this process, valid until [`Lease::valid_until`] unless renewed.
pub struct Lease {
    store: LeaseStore,
    key: String,
    holder: String,
    revision: u64,
    valid_until: Instant,
}

impl Lease {
    /// Takes `key` for `holder` if nobody holds it (absent or expired) or it already
    /// names `holder`. `Ok(None)` when someone else holds it.
    pub async fn acquire(store: &LeaseStore, key: &str, holder: &str) -> Result<Option<Self>, LeaseError> {
        let sent = Instant::now();
        let mut lease = Self { store: store.clone(), key: key.to_owned(), holder: holder.to_owned(), revision: 0, valid_until: sent };
        match store.kv.create(key, holder.as_bytes().to_vec().into()).await {
            Ok(revision) => {
                lease.wrote(revision, sent);
                Ok(Some(lease))
            }
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                let Some((current, revision)) = store.entry(key).await? else { return Ok(None) };
                if current != holder {
                    return Ok(None);
                }
                tracing::info!(key, holder, revision, "lease already names this holder; taking it over");
                let sent = Instant::now();
                match store.kv.update(key, holder.as_bytes().to_vec().into(), revision).await {
                    Ok(revision) => {
                        lease.wrote(revision, sent);
                        Ok(Some(lease))
                    }
                    Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(None),
                    Err(e) => Err(unavailable(key, &e)),
                }
            }
            Err(e) => Err(unavailable(key, &e)),
        }
    }

    fn wrote(&mut self, revision: u64, sent: Instant) {
        self.revision = revision;
        self.valid_until = deadline(sent, self.store.ttl);
    }

    /// Extends the lease by one TTL from now. A failure means the lease must be taken as
    /// lost: the caller stops acting as holder before doing anything else. A revision
    /// conflict or a lost answer is first checked against the key: if it still names this
    /// holder (our own write landed), the lease is renewed on the revision found.
    pub async fn renew(&mut self) -> Result<(), LeaseError> {
        match self.update(self.revision).await {
            Err(LeaseError::Lost { .. } | LeaseError::Unavailable { .. }) => self.renew_on_current().await,
            outcome => outcome,
        }
    }

    /// One compare-and-set on `revision`, given up when the lease ends by our clock
    /// (waiting longer is pointless: it would be over anyway).
    async fn update(&mut self, revision: u64) -> Result<(), LeaseError> {
        let sent = Instant::now();
        if sent >= self.valid_until {
            return Err(self.expired());
        }
        let update = self.store.kv.update(&self.key, self.holder.as_bytes().to_vec().into(), revision);
        match tokio::time::timeout_at(self.valid_until, update).await {
            Ok(Ok(revision)) => {
                self.wrote(revision, sent);
                Ok(())
            }
            Ok(Err(e)) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => Err(self.lost()),
            Ok(Err(e)) => Err(unavailable(&self.key, &e)),
            Err(_) => Err(self.expired()),
        }
    }

    /// Renews on the key's current revision if the key still names this holder. Our own
    /// earlier write can land between that read and the update (a request that timed out
    /// here was still delivered after a reconnect), so a conflict is read again, a few
    /// times, before the lease is called lost: a holder must not lose it to itself.
    async fn renew_on_current(&mut self) -> Result<(), LeaseError> {
        const READS: usize = 3;
        for _ in 0..READS {
            let found = tokio::time::timeout_at(self.valid_until, self.store.entry(&self.key)).await;
            match found {
                Ok(Ok(Some((holder, revision)))) if holder == self.holder => {
                    tracing::info!(key = %self.key, revision, last = self.revision, "lease still ours at a newer revision; renewing on it");
                    match self.update(revision).await {
                        Err(LeaseError::Lost { .. }) if self.is_valid() => continue,
                        outcome => return outcome,
                    }
                }
                Ok(Err(e)) => return Err(e),
                // Another name in the key: someone else took it.
                Ok(Ok(Some(_))) => return Err(self.lost()),
                // Absent (expired on the server too) or no answer before our deadline.
                Ok(Ok(None)) | Err(_) => return Err(self.expired()),
            }
        }
        Err(self.lost())
    }

    fn lost(&self) -> LeaseError {
        LeaseError::Lost { key: self.key.clone() }
    }

    fn expired(&self) -> LeaseError {
        LeaseError::Expired { key: self.key.clone() }
    }

    /// Gives the lease up at once, so a standby need not wait for it to expire. Only
    /// deletes the revision this holder wrote: a successor's lease is never touched.
    pub async fn release(self) -> Result<(), LeaseError> {
        self.store
            .kv
            .delete_expect_revision(&self.key, Some(self.revision))
            .await
            .map_err(|e| unavailable(&self.key, &e))
    }

    /// Whether the lease is still ours by our own (conservative) clock.
    pub fn is_valid(&self) -> bool {
        Instant::now() < self.valid_until
    }

    /// When the lease ends unless renewed.
    pub fn valid_until(&self) -> Instant {
        self.valid_until
    }

    /// The revision of our last write: a fencing token that grows with every renewal.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The holder name written in the key.
    pub fn holder(&self) -> &str {
        &self.holder
    }
}

/// A tenth of the TTL is kept back for clock-rate differences and scheduling delays.
fn deadline(sent: Instant, ttl: Duration) -> Instant {
    sent + ttl - ttl / 10
}

fn unavailable(key: &str, e: &dyn std::fmt::Display) -> LeaseError {
    LeaseError::Unavailable { key: key.to_owned(), message: e.to_string() }
}
