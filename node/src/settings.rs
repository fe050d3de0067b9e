//! Node settings. Command-line flags fill these today; the configuration file
//! and environment layers come with the operations work (see ARCHITECTURE.md).

use std::io::Write;
use std::path::{Path, PathBuf};

use actix_web::cookie::Key;

use crate::actors::lease_manager::LeaseConfig;
use crate::rollup::plan::Retention;

#[derive(Debug, Clone)]
pub struct Settings {
    /// SQLite database, session key and (in dev mode) the worker's state.
    pub data_dir: PathBuf,
    /// Address to listen on, e.g. `127.0.0.1:8080` (port 0 picks one).
    pub http_addr: String,
    /// The address users reach the node at, if not `http://<http_addr>`.
    /// An `https://` URL marks session cookies `Secure`.
    pub public_url: Option<String>,
    /// Apply migrations at start.
    pub migrate: bool,
    pub lease: LeaseConfig,
    /// A worker not heard from for this long counts as unhealthy.
    pub worker_stale_ms: i64,
    /// Bearer token for `/metrics`; without one, `/metrics` is off.
    pub metrics_token: Option<String>,
    /// PostgreSQL (`postgres://...`); without it, SQLite in `data_dir`.
    pub database_url: Option<String>,
    pub retention: Retention,
    /// Set when this node is one of a cluster.
    pub cluster: Option<crate::cluster::ClusterSettings>,
}

impl Settings {
    pub fn new(data_dir: PathBuf, http_addr: &str) -> Settings {
        Settings {
            data_dir,
            http_addr: http_addr.to_string(),
            public_url: None,
            migrate: true,
            lease: LeaseConfig::default(),
            worker_stale_ms: 60_000,
            metrics_token: None,
            database_url: None,
            retention: Retention::default(),
            cluster: None,
        }
    }

    pub fn cookie_secure(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }
}

/// The key that signs session cookies. Nodes of a cluster derive it from
/// the cluster secret, so a cookie one node set is good on every node.
pub fn session_key(settings: &Settings) -> std::io::Result<Key> {
    match &settings.cluster {
        Some(c) => {
            use sha2::Digest;
            let mut h = sha2::Sha512::new();
            h.update(b"openseer session cookie key\0");
            h.update(c.secret.as_bytes());
            Ok(Key::from(&h.finalize()[..]))
        }
        None => load_or_create_session_key(&settings.data_dir),
    }
}

/// A single node's session key, kept in the data directory so sessions
/// survive a restart. Created readable by the owner only.
pub fn load_or_create_session_key(dir: &Path) -> std::io::Result<Key> {
    let path = dir.join("session.key");
    match std::fs::read(&path) {
        Ok(bytes) if bytes.len() >= 64 => return Ok(Key::from(&bytes[..64])),
        Ok(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} is shorter than 64 bytes", path.display()),
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let key = Key::generate();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(&path)?;
    f.write_all(key.master())?;
    f.sync_all()?;
    Ok(key)
}

pub fn data_dir_default() -> PathBuf {
    PathBuf::from("./openseer-data")
}
