//! Snapshots as opaque bytes in a JetStream object store: one object per name, each
//! put replacing the last. What the bytes mean is the caller's business; a snapshot is
//! only a cache of what the log already says, so a missing or damaged one costs time,
//! never correctness.

use crate::bus::Bus;
use async_nats::jetstream::object_store;
use tokio::io::AsyncReadExt;

/// Where snapshots live.
#[derive(Clone, Debug)]
pub struct SnapshotSettings {
    pub bucket: String,
    /// Copies of the bucket: 1 on one server, 3 on a cluster.
    pub replicas: usize,
}

impl Default for SnapshotSettings {
    fn default() -> Self {
        Self { bucket: "qm_snapshots".into(), replicas: 1 }
    }
}

/// What went wrong with a snapshot. Every case is survivable: fall back to the log.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The bucket could not be created or opened.
    #[error("snapshot bucket {bucket}: {message}")]
    Bucket { bucket: String, message: String },
    /// Reading or writing one object failed (incomplete, checksum mismatch, server gone).
    #[error("snapshot {name}: {message}")]
    Object { name: String, message: String },
}

/// An opened snapshot bucket.
#[derive(Clone)]
pub struct SnapshotStore {
    store: object_store::ObjectStore,
}

impl SnapshotStore {
    /// Opens the bucket, creating it if absent.
    pub async fn open(bus: &Bus, settings: &SnapshotSettings) -> Result<Self, SnapshotError> {
        let js = bus.js();
        let store = match js.get_object_store(&settings.bucket).await {
            Ok(store) => store,
            Err(_) => js
                .create_object_store(object_store::Config {
                    bucket: settings.bucket.clone(),
                    description: Some("Quartermaster snapshots: caches of state folded from the log".into()),
                    num_replicas: settings.replicas,
                    ..Default::default()
                })
                .await
                .map_err(|e| SnapshotError::Bucket { bucket: settings.bucket.clone(), message: e.to_string() })?,
        };
        Ok(Self { store })
    }

    /// Stores `bytes` under `name`, replacing the previous snapshot once complete (a
    /// reader sees either the old or the new one whole).
    pub async fn put(&self, name: &str, bytes: &[u8]) -> Result<(), SnapshotError> {
        let mut reader = bytes;
        self.store
            .put(name, &mut reader)
            .await
            .map_err(|e| SnapshotError::Object { name: name.to_owned(), message: e.to_string() })?;
        Ok(())
    }

    /// The newest snapshot under `name`, or `None` if there is none. The object store
    /// checks the digest, so damaged bytes come back as an error, not as a snapshot.
    pub async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, SnapshotError> {
        let object_error = |e: &dyn std::fmt::Display| SnapshotError::Object { name: name.to_owned(), message: e.to_string() };
        let mut object = match self.store.get(name).await {
            Ok(object) => object,
            Err(e) if e.kind() == object_store::GetErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(object_error(&e)),
        };
        let mut bytes = Vec::with_capacity(object.info().size);
        object.read_to_end(&mut bytes).await.map_err(|e| object_error(&e))?;
        Ok(Some(bytes))
    }
}
