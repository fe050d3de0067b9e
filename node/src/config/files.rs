//! The files a node keeps beside its database: the session cookie key and
//! the secrets key (each made on first start, readable by the owner only),
//! and where the database itself is.

use std::io::Write;
use std::path::Path;

use actix_web::cookie::Key;

use openseer_store::seal::SecretsKey;
use openseer_store::{Location, Store, StoreError, StoreResult};

use super::Settings;

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
