//! What an admin creates before the services start on a secured server, where no
//! service may create, change or delete streams, buckets or consumers (qm-trust's
//! permissions): the four streams, the lease and snapshot buckets, and the actuator's
//! durable consumer, all with the settings the services would have chosen themselves.
//! Idempotent: `qm init --apply` and `qm creds apply` may run it again.

use crate::lease::{LeaseSettings, LeaseStore};
use crate::snapshot::{SnapshotSettings, SnapshotStore};
use crate::{read, streams, subjects, Bus, BusError, StreamSettings};

/// Everything to create, and how.
#[derive(Clone, Debug)]
pub struct Provision {
    pub streams: StreamSettings,
    pub lease: LeaseSettings,
    pub snapshots: SnapshotSettings,
    /// The actuator's durable consumer on `QM_DECISIONS`.
    pub actuator_consumer: String,
    pub actuator_ack_pending_max: i64,
}

impl Default for Provision {
    fn default() -> Self {
        Self {
            streams: StreamSettings::default(),
            lease: LeaseSettings::default(),
            snapshots: SnapshotSettings::default(),
            actuator_consumer: "qm-actuator".into(),
            actuator_ack_pending_max: 1_024,
        }
    }
}

impl Provision {
    /// Defaults with `replicas` copies of every stream and bucket.
    pub fn replicated(replicas: usize) -> Self {
        let defaults = Self::default();
        Self {
            streams: StreamSettings { replicas, ..defaults.streams.clone() },
            lease: LeaseSettings { replicas, ..defaults.lease.clone() },
            snapshots: SnapshotSettings { replicas, ..defaults.snapshots.clone() },
            ..defaults
        }
    }
}

/// Creates what is missing (as a user allowed to: the admin).
pub async fn provision(bus: &Bus, p: &Provision) -> Result<(), BusError> {
    streams::ensure_streams(bus, &p.streams).await?;
    let bucket_error = |bucket: &str, e: &dyn std::fmt::Display| BusError::Stream { stream: bucket.to_owned(), message: e.to_string() };
    LeaseStore::open(bus, &p.lease).await.map_err(|e| bucket_error(&p.lease.bucket, &e))?;
    SnapshotStore::open(bus, &p.snapshots).await.map_err(|e| bucket_error(&p.snapshots.bucket, &e))?;
    let replicas = p.streams.replicas;
    read::ensure_durable(bus, subjects::DECISIONS_STREAM, &p.actuator_consumer, p.actuator_ack_pending_max, replicas).await
}
