//! The engine snapshot: a serialized [`Engine`] and the log position it covers. It is
//! only a cache: state from snapshot + the log after it equals state from the whole log
//! (tested in `tests/snapshot.rs`), so any doubt about a snapshot means reading the log
//! from the start instead, never trusting it.
//!
//! It also carries a promise the resume logic uses: a snapshot is written only by the
//! lease holder, only once every decision of the entries it covers is acknowledged by
//! JetStream. So a writer that starts from it needs to publish nothing at or below its
//! sequence.

use qm_bus::snapshot::SnapshotStore;
use qm_core::Engine;
use qm_model::PolicyConfig;
use serde::{Deserialize, Serialize};

/// Bumped when the layout changes; an older snapshot is then ignored (the log rebuilds).
/// 2: the core's state keeps releases not yet reported (`FleetState::releasing`), which a
/// format-1 snapshot lacks.
pub const SNAPSHOT_FORMAT: u32 = 2;

/// What is stored in the object store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub format: u32,
    /// The last log sequence folded into `engine`; the log is followed from `seq + 1`.
    pub seq: u64,
    /// The policy the engine started with (the policy file). A full rebuild starts from
    /// the current file, so a snapshot made under another file is not a cache of it.
    pub initial_policy: PolicyConfig,
    pub engine: Engine,
}

/// Why a snapshot was not used.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotLoadError {
    #[error("no snapshot stored yet")]
    Absent,
    #[error(transparent)]
    Store(#[from] qm_bus::snapshot::SnapshotError),
    #[error("undecodable: {0}")]
    Decode(#[from] rmp_serde::decode::Error),
    #[error("format {found}, this build reads {SNAPSHOT_FORMAT}")]
    Format { found: u32 },
    #[error("covers seq {seq} but its engine is at {engine_seq}")]
    Inconsistent { seq: u64, engine_seq: u64 },
    #[error("made under another policy file (version {found:?}); the log is authoritative")]
    OtherPolicyFile { found: String },
}

impl Snapshot {
    /// MessagePack, structs as maps, like every other body in the system. Borrows the
    /// engine: cloning a large one just to encode it would double the pause.
    pub fn encode(engine: &Engine, initial_policy: &PolicyConfig) -> Result<Vec<u8>, rmp_serde::encode::Error> {
        #[derive(Serialize)]
        struct Borrowed<'a> {
            format: u32,
            seq: u64,
            initial_policy: &'a PolicyConfig,
            engine: &'a Engine,
        }
        rmp_serde::to_vec_named(&Borrowed { format: SNAPSHOT_FORMAT, seq: engine.last_seq(), initial_policy, engine })
    }

    /// Decodes and checks a stored snapshot against the policy file in use.
    pub fn decode(bytes: &[u8], initial_policy: &PolicyConfig) -> Result<Self, SnapshotLoadError> {
        let snapshot: Snapshot = rmp_serde::from_slice(bytes)?;
        if snapshot.format != SNAPSHOT_FORMAT {
            return Err(SnapshotLoadError::Format { found: snapshot.format });
        }
        if snapshot.initial_policy != *initial_policy {
            return Err(SnapshotLoadError::OtherPolicyFile { found: snapshot.initial_policy.version });
        }
        if snapshot.seq != snapshot.engine.last_seq() {
            return Err(SnapshotLoadError::Inconsistent { seq: snapshot.seq, engine_seq: snapshot.engine.last_seq() });
        }
        Ok(snapshot)
    }

    /// Loads the newest snapshot under `name`.
    pub async fn load(store: &SnapshotStore, name: &str, initial_policy: &PolicyConfig) -> Result<Self, SnapshotLoadError> {
        match store.get(name).await? {
            Some(bytes) => Self::decode(&bytes, initial_policy),
            None => Err(SnapshotLoadError::Absent),
        }
    }
}
