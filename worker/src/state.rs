//! The worker's identity on disk, so a restart does not enroll a new worker.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Identity {
    pub worker_id: i64,
    pub api_token: String,
    pub region: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("reading or writing {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid state file: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
}

const IDENTITY_FILE: &str = "identity.json";

pub fn load_identity(dir: &Path) -> Result<Option<Identity>, StateError> {
    let path = dir.join(IDENTITY_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(StateError::Io { path, source }),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| StateError::Corrupt { path, source })
}

pub fn save_identity(dir: &Path, id: &Identity) -> Result<(), StateError> {
    let bytes = serde_json::to_vec_pretty(id).expect("identity serialises");
    write_atomically(&dir.join(IDENTITY_FILE), &bytes)
}

/// Writes to a temporary file, fsyncs, then renames over the target, so a
/// crash leaves either the old or the new file, never half of one. The file
/// holds a secret, so it is created readable by its owner only.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let io = |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    Ok(())
}
