//! One configuration, three layers: a TOML file (`--config`), then
//! `OPENSEER_*` environment variables, then command-line flags; each layer
//! overrides the one before, and anything unset takes its default.
//! docs/configuration.md documents every key (a test holds it to that).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use openseer_cluster::tls::ClusterTls;
use openseer_cluster::ClusterSettings;
use openseer_core::leases::{LeaseConfig, DEFAULT_GRACE_MS, DEFAULT_SWEEP_MS};
use openseer_core::rollup::plan::{Retention, DAY};

pub mod cidr;
pub mod files;

pub use files::{open_store, secrets_key, session_key, store_location};

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
    pub cluster: Option<ClusterSettings>,
    /// Encrypts secrets at rest (monitor headers and bodies, TOTP secrets).
    /// Without one: derived from the cluster secret in a cluster, else
    /// `secrets.key` in the data directory (see [`secrets_key`]).
    pub secrets_key: Option<openseer_store::seal::SecretsKey>,
    pub sessions: SessionLimits,
    /// Audit events older than this are dropped.
    pub audit_retention_ms: i64,
    /// A request's body must have arrived this long after its headers.
    pub body_timeout_ms: u64,
    pub quotas: crate::quota::Quotas,
    /// Load balancers whose `X-Forwarded-For` names the client (see
    /// `http::client`); from anyone else the header is ignored.
    pub trusted_proxies: Vec<cidr::Cidr>,
    /// Refuse to notify channels at loopback, private or link-local
    /// addresses (checked on the address connected to).
    pub block_private_notification_targets: bool,
    /// How the outbox paces itself (tests shorten it).
    pub notify_tuning: crate::actors::outbox::Tuning,
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
        FileConfig {
            data_dir: Some(data_dir),
            http: Some(http_addr.to_string()),
            ..FileConfig::default()
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

/// Declares every configuration key once: its type and its default. From
/// that list come the file's struct (every field optional, unknown keys an
/// error), the defaults, the overlay of one layer on another, and the
/// `OPENSEER_<KEY>` environment layer.
macro_rules! keys {
    ($( $key:ident : $ty:ty = $default:expr, )*) => {
        /// The configuration file. Every field is optional; unknown keys are an error.
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct FileConfig {
            $( pub $key: Option<$ty>, )*
        }

        impl FileConfig {
            /// Every key with its default, as documented.
            pub fn defaults() -> FileConfig {
                FileConfig { $( $key: Some($default), )* }
            }

            /// `self` with every key that `over` sets replaced.
            pub fn overlay(self, over: FileConfig) -> FileConfig {
                FileConfig { $( $key: over.$key.or(self.$key), )* }
            }

            /// The `OPENSEER_*` layer.
            pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<FileConfig, ConfigError> {
                Ok(FileConfig {
                    $( $key: FromEnv::read(&get, &format!("OPENSEER_{}", stringify!($key).to_uppercase()))?, )*
                })
            }
        }
    };
}

keys! {
    data_dir: PathBuf = PathBuf::from("./openseer-data"),
    http: String = "127.0.0.1:8080".into(),
    public_url: String = String::new(),
    migrate: bool = true,
    log_format: String = "text".into(),
    lease_grace_ms: i64 = DEFAULT_GRACE_MS,
    worker_stale_ms: i64 = 60_000,
    metrics_token: String = String::new(),
    database_url: String = String::new(),
    retention_raw_days: i64 = Retention::default().raw_ms / DAY,
    retention_minute_days: i64 = Retention::default().minute_ms / DAY,
    retention_hour_days: i64 = Retention::default().hour_ms / DAY,
    retention_day_days: i64 = Retention::default().day_ms.unwrap_or(0) / DAY,
    node_id: u64 = 0,
    cluster: String = String::new(),
    cluster_secret: String = String::new(),
    join: String = String::new(),
    advertise_http: String = String::new(),
    failover_ms: u64 = 2_500,
    fence_ms: u64 = 1_500,
    heartbeat_ms: u64 = 150,
    cluster_tls_cert: PathBuf = PathBuf::new(),
    cluster_tls_key: PathBuf = PathBuf::new(),
    cluster_tls_ca: PathBuf = PathBuf::new(),
    secrets_key: String = String::new(),
    session_idle_minutes: i64 = 720,
    session_lifetime_hours: i64 = 168,
    audit_retention_days: i64 = crate::actors::maintenance::DEFAULT_AUDIT_RETENTION_DAYS,
    max_monitors_per_org: i64 = crate::quota::DEFAULT_MONITORS_PER_ORG,
    min_interval_seconds: i64 = 1,
    max_owned_orgs_per_user: i64 = crate::quota::DEFAULT_OWNED_ORGS_PER_USER as i64,
    trusted_proxies: String = String::new(),
    block_private_notification_targets: bool = false,
}

/// A key's value as its environment variable spells it.
trait FromEnv: Sized {
    fn parse(key: &str, v: String) -> Result<Self, ConfigError>;

    fn read(get: &impl Fn(&str) -> Option<String>, key: &str) -> Result<Option<Self>, ConfigError> {
        get(key).map(|v| Self::parse(key, v)).transpose()
    }
}

impl FromEnv for String {
    fn parse(_: &str, v: String) -> Result<String, ConfigError> {
        Ok(v)
    }
}

impl FromEnv for PathBuf {
    fn parse(_: &str, v: String) -> Result<PathBuf, ConfigError> {
        Ok(PathBuf::from(v))
    }
}

impl FromEnv for bool {
    fn parse(key: &str, v: String) -> Result<bool, ConfigError> {
        match v.as_str() {
            "1" | "true" | "yes" => Ok(true),
            "0" | "false" | "no" => Ok(false),
            _ => Err(ConfigError::Invalid(
                key.into(),
                format!("{v:?} is not true or false"),
            )),
        }
    }
}

macro_rules! whole_numbers {
    ($($t:ty),*) => {$(
        impl FromEnv for $t {
            fn parse(key: &str, v: String) -> Result<$t, ConfigError> {
                v.parse().map_err(|_| {
                    ConfigError::Invalid(key.into(), format!("{v:?} is not a whole number"))
                })
            }
        }
    )*};
}
whole_numbers!(i64, u64);

impl FileConfig {
    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.to_path_buf(), e))?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse(path.to_path_buf(), e.to_string()))
    }

    /// Checks values and builds the node's settings from defaults + layers.
    pub fn resolve(self) -> Result<(Settings, String), ConfigError> {
        let c = FileConfig::defaults().overlay(self);
        let log_format = c.log_format.clone().expect("defaulted");
        if log_format != "text" && log_format != "json" {
            return Err(ConfigError::Invalid(
                "log_format".into(),
                "text or json".into(),
            ));
        }
        let public_url = c.public_url.clone().filter(|u| !u.is_empty());
        if let Some(u) = &public_url {
            if !u.starts_with("http://") && !u.starts_with("https://") {
                return Err(ConfigError::Invalid(
                    "public_url".into(),
                    "an http:// or https:// URL".into(),
                ));
            }
        }
        let grace = c.lease_grace_ms.expect("defaulted");
        if !(1_000..=600_000).contains(&grace) {
            return Err(ConfigError::Invalid(
                "lease_grace_ms".into(),
                "between 1000 and 600000".into(),
            ));
        }
        let stale = c.worker_stale_ms.expect("defaulted");
        if stale < 1_000 {
            return Err(ConfigError::Invalid(
                "worker_stale_ms".into(),
                "at least 1000".into(),
            ));
        }
        let database_url = c.database_url.clone().filter(|u| !u.is_empty());
        if let Some(u) = &database_url {
            if !u.starts_with("postgres://") && !u.starts_with("postgresql://") {
                return Err(ConfigError::Invalid(
                    "database_url".into(),
                    "a postgres:// URL (leave it empty for SQLite in data_dir)".into(),
                ));
            }
        }
        let days = |key: &str, v: Option<i64>| -> Result<i64, ConfigError> {
            let v = v.expect("defaulted");
            if !(0..=100_000).contains(&v) {
                return Err(ConfigError::Invalid(
                    key.into(),
                    "a number of days, 0 to 100000".into(),
                ));
            }
            Ok(v * DAY)
        };
        let day_ms = days("retention_day_days", c.retention_day_days)?;
        let retention = Retention {
            raw_ms: days("retention_raw_days", c.retention_raw_days)?,
            minute_ms: days("retention_minute_days", c.retention_minute_days)?,
            hour_ms: days("retention_hour_days", c.retention_hour_days)?,
            day_ms: (day_ms > 0).then_some(day_ms),
        };
        retention
            .check()
            .map_err(|e| ConfigError::Invalid("retention_*_days".into(), e))?;
        let metrics_token = c.metrics_token.clone().filter(|t| !t.is_empty());
        if metrics_token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err(ConfigError::Invalid(
                "metrics_token".into(),
                "at least 16 characters".into(),
            ));
        }
        let idle = c.session_idle_minutes.expect("defaulted");
        if !(1..=60 * 24 * 30).contains(&idle) {
            return Err(ConfigError::Invalid(
                "session_idle_minutes".into(),
                "1 to 43200 minutes".into(),
            ));
        }
        let lifetime = c.session_lifetime_hours.expect("defaulted");
        if !(1..=24 * 365).contains(&lifetime) {
            return Err(ConfigError::Invalid(
                "session_lifetime_hours".into(),
                "1 to 8760 hours".into(),
            ));
        }
        let audit_retention_ms = days("audit_retention_days", c.audit_retention_days)?;
        if audit_retention_ms == 0 {
            return Err(ConfigError::Invalid(
                "audit_retention_days".into(),
                "at least 1 day".into(),
            ));
        }
        let within = |key: &str, v: Option<i64>, range: std::ops::RangeInclusive<i64>| {
            let v = v.expect("defaulted");
            if !range.contains(&v) {
                return Err(ConfigError::Invalid(
                    key.into(),
                    format!("{} to {}", range.start(), range.end()),
                ));
            }
            Ok(v)
        };
        let quotas = crate::quota::Quotas {
            monitors_per_org: within(
                "max_monitors_per_org",
                c.max_monitors_per_org,
                1..=1_000_000,
            )?,
            min_interval_seconds: within(
                "min_interval_seconds",
                c.min_interval_seconds,
                1..=86_400,
            )? as u32,
            owned_orgs_per_user: within(
                "max_owned_orgs_per_user",
                c.max_owned_orgs_per_user,
                1..=10_000,
            )? as usize,
        };
        let trusted_proxies =
            cidr::Cidr::parse_list(c.trusted_proxies.as_deref().unwrap_or_default())
                .map_err(|why| ConfigError::Invalid("trusted_proxies".into(), why))?;
        let key = c.secrets_key.clone().unwrap_or_default();
        let secrets_key = match key.is_empty() {
            true => None,
            false => Some(
                openseer_store::seal::SecretsKey::from_hex(&key)
                    .map_err(|why| ConfigError::Invalid("secrets_key".into(), why.to_string()))?,
            ),
        };
        let mut s = Settings {
            data_dir: c.data_dir.clone().expect("defaulted"),
            http_addr: c.http.clone().expect("defaulted"),
            public_url,
            migrate: c.migrate.expect("defaulted"),
            lease: LeaseConfig {
                grace_ms: grace,
                sweep_ms: DEFAULT_SWEEP_MS,
            },
            worker_stale_ms: stale,
            metrics_token,
            database_url,
            retention,
            cluster: None,
            secrets_key,
            sessions: SessionLimits {
                idle_ms: idle * 60_000,
                lifetime_ms: lifetime * 3_600_000,
            },
            audit_retention_ms,
            body_timeout_ms: 30_000,
            quotas,
            trusted_proxies,
            block_private_notification_targets: c
                .block_private_notification_targets
                .expect("defaulted"),
            notify_tuning: Default::default(),
        };
        s.cluster = cluster_settings(&c, &s)?;
        Ok((s, log_format))
    }
}

/// The cluster part: on when `cluster` (the ractor_cluster address) is set.
fn cluster_settings(c: &FileConfig, s: &Settings) -> Result<Option<ClusterSettings>, ConfigError> {
    let listen = c.cluster.clone().unwrap_or_default();
    if listen.is_empty() {
        return Ok(None);
    }
    let invalid = |key: &str, why: &str| ConfigError::Invalid(key.into(), why.into());
    if listen.parse::<std::net::SocketAddr>().is_err() {
        return Err(invalid(
            "cluster",
            "an ip:port address for node-to-node traffic",
        ));
    }
    if s.database_url.is_none() {
        return Err(invalid(
            "database_url",
            "a postgres:// URL: nodes of a cluster share one PostgreSQL database",
        ));
    }
    let advertise = c.advertise_http.clone().unwrap_or_default();
    let advertise = if advertise.is_empty() {
        if s.http_addr.starts_with("0.0.0.0")
            || s.http_addr.starts_with("[::]")
            || s.http_addr.ends_with(":0")
        {
            return Err(invalid(
                "advertise_http",
                "the host:port other nodes reach this one at (http listens on a wildcard or port 0)",
            ));
        }
        s.http_addr.clone()
    } else {
        advertise
    };
    let settings = ClusterSettings {
        node_id: c.node_id.unwrap_or(0),
        cluster_addr: listen,
        advertise_http: advertise,
        join: c
            .join
            .clone()
            .unwrap_or_default()
            .split(',')
            .map(|j| j.trim().to_string())
            .filter(|j| !j.is_empty())
            .collect(),
        secret: c.cluster_secret.clone().unwrap_or_default(),
        failover_ms: c.failover_ms.expect("defaulted"),
        fence_ms: c.fence_ms.expect("defaulted"),
        heartbeat_ms: c.heartbeat_ms.expect("defaulted"),
        tls: cluster_tls(c)?,
    };
    settings.check().map_err(|why| {
        let key = why
            .split_whitespace()
            .next()
            .unwrap_or("cluster")
            .to_string();
        ConfigError::Invalid(key, why)
    })?;
    Ok(Some(settings))
}

/// Node-to-node TLS: all three files, or none (plain TCP).
fn cluster_tls(c: &FileConfig) -> Result<Option<ClusterTls>, ConfigError> {
    let set = |p: &Option<PathBuf>| p.clone().filter(|p| !p.as_os_str().is_empty());
    match (
        set(&c.cluster_tls_cert),
        set(&c.cluster_tls_key),
        set(&c.cluster_tls_ca),
    ) {
        (None, None, None) => Ok(None),
        (Some(cert), Some(key), Some(ca)) => Ok(Some(ClusterTls { cert, key, ca })),
        _ => Err(ConfigError::Invalid(
            "cluster_tls_cert".into(),
            "cluster_tls_cert, cluster_tls_key and cluster_tls_ca together, or none of them".into(),
        )),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("{0} is not a valid configuration file: {1}")]
    Parse(PathBuf, String),
    #[error("{0}: expected {1}")]
    Invalid(String, String),
}

/// The effective settings as TOML, for `openseer config check`, with
/// secrets hidden.
pub fn effective(settings: &Settings, log_format: &str) -> String {
    let defaults = FileConfig::defaults();
    let shown = FileConfig {
        data_dir: Some(settings.data_dir.clone()),
        http: Some(settings.http_addr.clone()),
        public_url: Some(settings.public_url.clone().unwrap_or_default()),
        migrate: Some(settings.migrate),
        log_format: Some(log_format.to_string()),
        lease_grace_ms: Some(settings.lease.grace_ms),
        worker_stale_ms: Some(settings.worker_stale_ms),
        metrics_token: Some(match settings.metrics_token {
            Some(_) => "(set, hidden)".into(),
            None => String::new(),
        }),
        database_url: Some(
            settings
                .database_url
                .as_deref()
                .map(hide_password)
                .unwrap_or_default(),
        ),
        retention_raw_days: Some(settings.retention.raw_ms / DAY),
        retention_minute_days: Some(settings.retention.minute_ms / DAY),
        retention_hour_days: Some(settings.retention.hour_ms / DAY),
        retention_day_days: Some(settings.retention.day_ms.unwrap_or(0) / DAY),
        node_id: Some(settings.cluster.as_ref().map_or(0, |c| c.node_id)),
        cluster: Some(
            settings
                .cluster
                .as_ref()
                .map(|c| c.cluster_addr.clone())
                .unwrap_or_default(),
        ),
        cluster_secret: Some(match settings.cluster {
            Some(_) => "(set, hidden)".into(),
            None => String::new(),
        }),
        join: Some(
            settings
                .cluster
                .as_ref()
                .map(|c| c.join.join(","))
                .unwrap_or_default(),
        ),
        advertise_http: Some(
            settings
                .cluster
                .as_ref()
                .map(|c| c.advertise_http.clone())
                .unwrap_or_default(),
        ),
        failover_ms: settings
            .cluster
            .as_ref()
            .map(|c| c.failover_ms)
            .or(defaults.failover_ms),
        fence_ms: settings
            .cluster
            .as_ref()
            .map(|c| c.fence_ms)
            .or(defaults.fence_ms),
        heartbeat_ms: settings
            .cluster
            .as_ref()
            .map(|c| c.heartbeat_ms)
            .or(defaults.heartbeat_ms),
        cluster_tls_cert: Some(tls(settings, |t| t.cert.clone())),
        cluster_tls_key: Some(tls(settings, |t| t.key.clone())),
        cluster_tls_ca: Some(tls(settings, |t| t.ca.clone())),
        secrets_key: Some(match settings.secrets_key {
            Some(_) => "(set, hidden)".into(),
            None => String::new(),
        }),
        session_idle_minutes: Some(settings.sessions.idle_ms / 60_000),
        session_lifetime_hours: Some(settings.sessions.lifetime_ms / 3_600_000),
        audit_retention_days: Some(settings.audit_retention_ms / DAY),
        max_monitors_per_org: Some(settings.quotas.monitors_per_org),
        min_interval_seconds: Some(i64::from(settings.quotas.min_interval_seconds)),
        max_owned_orgs_per_user: Some(settings.quotas.owned_orgs_per_user as i64),
        trusted_proxies: Some(
            settings
                .trusted_proxies
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(","),
        ),
        block_private_notification_targets: Some(settings.block_private_notification_targets),
    };
    toml::to_string(&shown).expect("settings serialise")
}

fn tls(settings: &Settings, file: impl Fn(&ClusterTls) -> PathBuf) -> PathBuf {
    settings
        .cluster
        .as_ref()
        .and_then(|c| c.tls.as_ref())
        .map(file)
        .unwrap_or_default()
}

/// `postgres://user:secret@host/db` as `postgres://user:(hidden)@host/db`.
pub fn hide_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:(hidden)@{host}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_documented() {
        let doc = include_str!("../../../docs/configuration.md");
        let defaults = toml::to_string(&FileConfig::defaults()).unwrap();
        let keys: Vec<&str> = defaults
            .lines()
            .filter_map(|l| l.split_once(" = ").map(|(k, _)| k))
            .collect();
        assert_eq!(keys.len(), 33, "every key has a default: {defaults}");
        for key in keys {
            assert!(
                doc.contains(&format!("| `{key}` |")),
                "docs/configuration.md does not document `{key}`"
            );
            let env = format!("OPENSEER_{}", key.to_uppercase());
            assert!(
                doc.contains(&env),
                "docs/configuration.md does not name {env}"
            );
        }
    }

    #[test]
    fn flags_beat_env_beat_file_beat_defaults() {
        let file: FileConfig = toml::from_str(
            "http = \"0.0.0.0:9000\"\nlease_grace_ms = 20000\nworker_stale_ms = 5000\n",
        )
        .unwrap();
        let env =
            FileConfig::from_env(|k| (k == "OPENSEER_HTTP").then(|| "127.0.0.1:9100".to_string()))
                .unwrap();
        let flags = FileConfig {
            lease_grace_ms: Some(30_000),
            ..FileConfig::default()
        };
        let (s, log) = file.overlay(env).overlay(flags).resolve().unwrap();
        assert_eq!(s.http_addr, "127.0.0.1:9100", "env over file");
        assert_eq!(s.lease.grace_ms, 30_000, "flags over file");
        assert_eq!(s.worker_stale_ms, 5_000, "file over defaults");
        assert_eq!(
            (s.data_dir, log.as_str()),
            (PathBuf::from("./openseer-data"), "text")
        );
    }

    #[test]
    fn the_secrets_key_and_session_limits_resolve_and_the_key_is_never_shown() {
        let key = "ab".repeat(32);
        let (s, log) = FileConfig {
            secrets_key: Some(key.clone()),
            session_idle_minutes: Some(30),
            session_lifetime_hours: Some(24),
            audit_retention_days: Some(90),
            ..FileConfig::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(
            s.secrets_key.as_ref().map(|k| k.to_hex()),
            Some(key.clone())
        );
        assert_eq!(
            (
                s.sessions.idle_ms,
                s.sessions.lifetime_ms,
                s.audit_retention_ms
            ),
            (30 * 60_000, 24 * 3_600_000, 90 * DAY)
        );
        let shown = effective(&s, &log);
        assert!(shown.contains("secrets_key = \"(set, hidden)\"") && !shown.contains(&key));
        for (bad, field) in [
            (
                FileConfig {
                    secrets_key: Some("too short".into()),
                    ..FileConfig::default()
                },
                "secrets_key",
            ),
            (
                FileConfig {
                    session_idle_minutes: Some(0),
                    ..FileConfig::default()
                },
                "session_idle_minutes",
            ),
            (
                FileConfig {
                    audit_retention_days: Some(0),
                    ..FileConfig::default()
                },
                "audit_retention_days",
            ),
        ] {
            let e = bad.resolve().unwrap_err().to_string();
            assert!(e.contains(field), "{e}");
            assert!(!e.contains("too short"), "the bad key is not echoed: {e}");
        }
    }

    #[test]
    fn bad_files_and_values_are_clear_errors() {
        assert!(toml::from_str::<FileConfig>("colour = \"red\"")
            .unwrap_err()
            .to_string()
            .contains("colour"));
        let e = FileConfig {
            log_format: Some("xml".into()),
            ..FileConfig::default()
        }
        .resolve()
        .unwrap_err();
        assert!(e.to_string().contains("log_format"));
        let e = FileConfig::from_env(|k| (k == "OPENSEER_MIGRATE").then(|| "maybe".to_string()))
            .unwrap_err();
        assert!(e.to_string().contains("OPENSEER_MIGRATE"));
        let e = FileConfig {
            database_url: Some("mysql://x".into()),
            ..FileConfig::default()
        }
        .resolve()
        .unwrap_err();
        assert!(e.to_string().contains("database_url"));
        let e = FileConfig {
            retention_minute_days: Some(7),
            ..FileConfig::default()
        }
        .resolve()
        .unwrap_err();
        assert!(e.to_string().contains("retention"), "{e}");
    }

    #[test]
    fn a_cluster_needs_an_id_a_secret_and_postgresql() {
        let base = || FileConfig {
            cluster: Some("127.0.0.1:9091".into()),
            node_id: Some(1),
            cluster_secret: Some("0123456789abcdef0123".into()),
            database_url: Some("postgres://db/openseer".into()),
            join: Some("10.0.0.2:8080, 10.0.0.3:8080".into()),
            ..FileConfig::default()
        };
        let (s, _) = base().resolve().unwrap();
        let c = s.cluster.expect("clustered");
        assert_eq!(c.join, vec!["10.0.0.2:8080", "10.0.0.3:8080"]);
        assert_eq!(c.advertise_http, "127.0.0.1:8080", "defaults to http");
        assert!(c.fence_ms < c.failover_ms);
        let shown = effective(
            &Settings {
                cluster: Some(c),
                ..s
            },
            "text",
        );
        assert!(
            shown.contains("cluster_secret = \"(set, hidden)\""),
            "{shown}"
        );
        assert!(!shown.contains("0123456789abcdef0123"));

        let tls = FileConfig {
            cluster_tls_cert: Some("/etc/openseer/node.crt".into()),
            cluster_tls_key: Some("/etc/openseer/node.key".into()),
            cluster_tls_ca: Some("/etc/openseer/ca.crt".into()),
            ..base()
        };
        let (s, _) = tls.resolve().unwrap();
        let files = s
            .cluster
            .and_then(|c| c.tls)
            .expect("TLS on with all three");
        assert_eq!(files.ca, PathBuf::from("/etc/openseer/ca.crt"));

        for (broken, key) in [
            (
                FileConfig {
                    database_url: Some(String::new()),
                    ..base()
                },
                "database_url",
            ),
            (
                FileConfig {
                    node_id: Some(0),
                    ..base()
                },
                "node_id",
            ),
            (
                FileConfig {
                    cluster_secret: Some("short".into()),
                    ..base()
                },
                "cluster_secret",
            ),
            (
                FileConfig {
                    cluster_tls_cert: Some("/etc/openseer/node.crt".into()),
                    cluster_tls_key: Some("/etc/openseer/node.key".into()),
                    ..base()
                },
                "cluster_tls_cert",
            ),
            (
                FileConfig {
                    cluster: Some("nowhere".into()),
                    ..base()
                },
                "cluster",
            ),
            (
                FileConfig {
                    fence_ms: Some(5_000),
                    ..base()
                },
                "fence_ms",
            ),
            (
                FileConfig {
                    http: Some("0.0.0.0:8080".into()),
                    ..base()
                },
                "advertise_http",
            ),
        ] {
            let e = broken.resolve().unwrap_err().to_string();
            assert!(e.contains(key), "{key}: {e}");
        }
        // Without `cluster`, a node is alone whatever else is set.
        let (s, _) = FileConfig {
            cluster: Some(String::new()),
            ..base()
        }
        .resolve()
        .unwrap();
        assert!(s.cluster.is_none());
    }

    #[test]
    fn database_passwords_are_hidden() {
        assert_eq!(
            hide_password("postgres://app:s3cret@db:5432/openseer"),
            "postgres://app:(hidden)@db:5432/openseer"
        );
        assert_eq!(hide_password("postgres://app@db/x"), "postgres://app@db/x");
    }
}
