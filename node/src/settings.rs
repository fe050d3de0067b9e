//! Node settings, as `config` resolves them from the file, the environment
//! and the flags; tests build them directly.

use std::io::Write;
use std::path::{Path, PathBuf};

use actix_web::cookie::Key;

use openseer_core::leases::LeaseConfig;
use openseer_core::rollup::plan::Retention;
use openseer_store::seal::SecretsKey;
use openseer_store::{Location, Store, StoreError, StoreResult};

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
    pub cluster: Option<openseer_cluster::ClusterSettings>,
    /// Encrypts secrets at rest (monitor headers and bodies, TOTP secrets).
    /// Without one: derived from the cluster secret in a cluster, else
    /// `secrets.key` in the data directory (see [`secrets_key`]).
    pub secrets_key: Option<SecretsKey>,
    pub sessions: SessionLimits,
    /// Audit events older than this are dropped.
    pub audit_retention_ms: i64,
}

/// How long a dashboard session lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// Ends after this long without a request.
    pub idle_ms: i64,
    /// Ends this long after sign-in, however active.
    pub lifetime_ms: i64,
}

impl Settings {
    /// The defaults (as `openseer config check` lists them), with a data
    /// directory and an HTTP address.
    pub fn new(data_dir: PathBuf, http_addr: &str) -> Settings {
        crate::config::FileConfig {
            data_dir: Some(data_dir),
            http: Some(http_addr.to_string()),
            ..crate::config::FileConfig::default()
        }
        .resolve()
        .expect("the defaults are valid")
        .0
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
    write_private(&path, key.master())?;
    Ok(key)
}

/// A new file readable by its owner only, on disk before this returns.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// The key that seals secrets at rest: the configured one; in a cluster,
/// one derived from the cluster secret (every node must open what another
/// sealed); alone, `secrets.key` in the data directory, made on first start.
pub fn secrets_key(settings: &Settings) -> std::io::Result<SecretsKey> {
    if let Some(k) = &settings.secrets_key {
        return Ok(k.clone());
    }
    if let Some(c) = &settings.cluster {
        return Ok(SecretsKey::derive(c.secret.as_bytes()));
    }
    std::fs::create_dir_all(&settings.data_dir)?;
    let path = settings.data_dir.join("secrets.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            return SecretsKey::from_hex(text.trim()).map_err(|why| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {why}", path.display()),
                )
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let key = SecretsKey::generate();
    write_private(&path, key.to_hex().as_bytes())?;
    Ok(key)
}

/// Where the settings put the database: `database_url`, else SQLite in
/// `data_dir`.
pub fn store_location(settings: &Settings) -> Location {
    match &settings.database_url {
        Some(url) => Location::Postgres(url.clone()),
        None => Location::Sqlite(settings.data_dir.join("openseer.db")),
    }
}

/// Opens the database the settings name, with the secrets key they name.
pub async fn open_store(settings: &Settings) -> StoreResult<Store> {
    let key =
        secrets_key(settings).map_err(|e| StoreError::Config(format!("the secrets key: {e}")))?;
    Store::open(&store_location(settings), &key).await
}

pub fn data_dir_default() -> PathBuf {
    PathBuf::from("./openseer-data")
}
