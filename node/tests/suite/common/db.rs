//! Fresh databases for tests: a SQLite file in a temp dir, or a new
//! PostgreSQL database (dropped when the guard goes). The server is
//! $DATABASE_URL or 127.0.0.1:5432; when OPENSEER_REQUIRE_POSTGRES is set
//! (ops/test.sh sets it) an unreachable server fails the test instead of
//! skipping it.

use std::sync::atomic::{AtomicU64, Ordering};

use openseer_store::seal::SecretsKey;
use openseer_store::Store;
use sqlx::Connection;

/// The secrets key of test stores.
pub fn secrets_key() -> SecretsKey {
    SecretsKey::derive(b"openseer tests")
}

pub struct TestDb {
    pub store: Store,
    pub url: Option<String>,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open_sqlite(&dir.path().join("t.db"))
            .await
            .expect("sqlite opens")
            .with_secrets_key(&secrets_key());
        store.migrate().await.expect("sqlite migrates");
        TestDb {
            store,
            url: None,
            _dir: Some(dir),
            pg: None,
        }
    }

    /// A fresh, migrated PostgreSQL database, or `None` (test skipped) when
    /// no server answers and none is required.
    pub async fn postgres() -> Option<TestDb> {
        let url = postgres_database().await?;
        let store = Store::open_url(&url)
            .await
            .expect("postgres opens")
            .with_secrets_key(&secrets_key());
        store.migrate().await.expect("postgres migrates");
        let admin = admin_url();
        let name = url.rsplit('/').next().expect("db name").to_string();
        Some(TestDb {
            store,
            url: Some(url),
            _dir: None,
            pg: Some((admin, name)),
        })
    }
}

/// The server's admin URL (a database we may connect to in order to create others).
pub fn admin_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Creates an empty database and returns its URL.
pub async fn postgres_database() -> Option<String> {
    static N: AtomicU64 = AtomicU64::new(0);
    let admin = admin_url();
    let mut conn = match sqlx::PgConnection::connect(&admin).await {
        Ok(c) => c,
        Err(e) => {
            if std::env::var_os("OPENSEER_REQUIRE_POSTGRES").is_some() {
                panic!("PostgreSQL is required (OPENSEER_REQUIRE_POSTGRES) but {admin} does not answer: {e}");
            }
            eprintln!("skipping the PostgreSQL half: {admin} does not answer ({e})");
            return None;
        }
    };
    let name = format!(
        "openseer_t_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        rand_suffix()
    );
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create database");
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b.to_string())
        .expect("url has a database");
    Some(format!("{base}/{name}"))
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}

/// Drops a database made by [`postgres_database`] (closing its connections).
pub fn drop_database(admin: &str, name: &str) {
    let (admin, name) = (admin.to_string(), name.to_string());
    // Drop runs outside any runtime we may block: use a thread of its own.
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut c)
                .await;
            }
        });
    })
    .join();
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.pg {
            drop_database(admin, name);
        }
    }
}
