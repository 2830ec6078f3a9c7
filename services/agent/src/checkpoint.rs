//! The rollup on disk. Written after every sample (write to a temporary file, then
//! rename, so a crash leaves the old or the new state, never half of one).

use qm_slurm::usage::Rollup;
use std::path::Path;

/// Why a checkpoint cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint {path}: {source}")]
    Io { path: String, source: std::io::Error },
    /// Not a rollup (another program's file, or a newer format): move it away to start fresh.
    #[error("checkpoint {path}: {message}")]
    Unreadable { path: String, message: String },
}

/// The saved rollup, or a fresh one with `window_s` when there is none. A saved rollup
/// with another window length is kept as is: its open window closes on its own length.
pub fn load(path: &Path, window_s: u32) -> Result<Rollup, CheckpointError> {
    let shown = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).map_err(|e| CheckpointError::Unreadable { path: shown, message: e.to_string() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Rollup::new(window_s)),
        Err(source) => Err(CheckpointError::Io { path: shown, source }),
    }
}

/// Saves the rollup atomically.
pub fn save(path: &Path, rollup: &Rollup) -> Result<(), CheckpointError> {
    let shown = path.display().to_string();
    let text = toml::to_string(rollup).map_err(|e| CheckpointError::Unreadable { path: shown.clone(), message: e.to_string() })?;
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, text).map_err(|source| CheckpointError::Io { path: shown.clone(), source })?;
    std::fs::rename(&temporary, path).map_err(|source| CheckpointError::Io { path: shown, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn saves_and_loads_the_open_window_and_outbox() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("usage.toml");
        assert_eq!(load(&path, 10).expect("fresh"), Rollup::new(10));
        let mut rollup = Rollup::new(10);
        let held: BTreeMap<(String, String), f64> = [(("ml".to_owned(), "w".to_owned()), 2.0)].into_iter().collect();
        rollup.add(1_000, &held);
        rollup.add(11_000, &held);
        save(&path, &rollup).expect("save");
        assert_eq!(load(&path, 10).expect("load"), rollup);
        std::fs::write(&path, "not = [a rollup").expect("write");
        assert!(matches!(load(&path, 10), Err(CheckpointError::Unreadable { .. })));
    }
}
