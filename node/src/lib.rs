//! The OpenSeer control-plane node: HTTP (actix-web) for the dashboard, the
//! user API and the worker API; actors (ractor) for scheduling, leasing,
//! dispatch, ingest and live sessions; storage behind [`store::Store`].
//!
//! [`Application::build`] wires it all from [`Settings`]; tests build one on
//! port 0 with a fresh data directory.

pub mod actors;
pub mod auth;
pub mod config;
pub mod dev;
pub mod http;
pub mod metrics;
pub mod notify;
pub mod quota;
pub mod rollup;
pub mod transfer;
pub mod windows;

pub use config::Settings;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use openseer_protocol::token::TokenKind;

use crate::actors::{Actors, Membership};
use openseer_cluster::Cluster;
use openseer_core::clock::{SharedClock, SystemClock};
use openseer_store::Store;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] openseer_store::StoreError),
    #[error(transparent)]
    Actors(#[from] actors::StartError),
    #[error("the database schema is not current; run `openseer migrate` (or start without --no-migrate)")]
    NotMigrated,
    #[error(transparent)]
    Cluster(#[from] openseer_cluster::ClusterError),
    #[error("starting the cluster links: {0}")]
    Peers(String),
    #[error("binding {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

pub struct Application {
    port: u16,
    server: Option<Server>,
    handle: ServerHandle,
    pub store: Store,
    pub actors: Actors,
    pub cluster: Option<Arc<Cluster>>,
    /// Present while nobody has claimed the instance yet.
    pub setup_url: Option<String>,
    pub base_url: String,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Application, BuildError> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(
        settings: Settings,
        clock: SharedClock,
    ) -> Result<Application, BuildError> {
        std::fs::create_dir_all(&settings.data_dir).map_err(|source| BuildError::DataDir {
            path: settings.data_dir.display().to_string(),
            source,
        })?;
        let store = config::open_store(&settings).await?;
        if settings.migrate {
            store.migrate().await?;
        } else if !store.migrations_current().await.unwrap_or(false) {
            return Err(BuildError::NotMigrated);
        }
        let sealed = store.seal_legacy_monitors().await?;
        if sealed > 0 {
            tracing::info!(
                monitors = sealed,
                "sealed monitor secrets stored in the clear"
            );
        }
        let session_key = config::session_key(&settings).map_err(|source| BuildError::DataDir {
            path: settings.data_dir.display().to_string(),
            source,
        })?;
        let listener =
            TcpListener::bind(&settings.http_addr).map_err(|source| BuildError::Bind {
                addr: settings.http_addr.clone(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| BuildError::Bind {
            addr: settings.http_addr.clone(),
            source,
        })?;
        let base_url = settings
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"));

        let setup_url = if store.user_count().await? == 0 {
            let token = auth::token::generate(TokenKind::Setup);
            let hash = auth::token::hash(&token);
            // Nodes of a cluster share the database: the first to start
            // creates the link; a single node makes a fresh one each start.
            let created = match settings.cluster {
                Some(_) => store.insert_meta("setup_token_hash", &hash).await?,
                None => {
                    store.set_meta("setup_token_hash", &hash).await?;
                    true
                }
            };
            created.then(|| format!("{base_url}/setup?token={token}"))
        } else {
            None
        };

        let cluster = match &settings.cluster {
            Some(c) => Some(Cluster::start(c.clone(), &settings.data_dir, jobs_scheduled).await?),
            None => None,
        };
        let membership = match &cluster {
            Some(c) => Membership::Clustered {
                me: c.me,
                fence: c.fence.clone(),
            },
            None => Membership::Alone,
        };
        let actors = Actors::start(
            store.clone(),
            clock.clone(),
            settings.lease.clone(),
            actors::maintenance::Keep {
                data: settings.retention,
                audit_ms: settings.audit_retention_ms,
            },
            settings.worker_stale_ms,
            membership,
            actors::NotifySetup {
                public_url: settings.public_url.clone(),
                block_private: settings.block_private_notification_targets,
                tuning: settings.notify_tuning.clone(),
            },
        )
        .await?;
        if let Some(c) = &cluster {
            let tls = match &c.settings.tls {
                Some(files) => Some(
                    openseer_cluster::tls::PeerTls::load(files)
                        .map_err(|e| BuildError::Peers(format!("cluster TLS: {e}")))?,
                ),
                None => None,
            };
            openseer_cluster::peer::start(
                c.me,
                &c.settings.cluster_addr,
                &c.secret,
                tls,
                Arc::new(actors::peer_handler::FromPeers(actors.clone())),
                c.state.clone(),
            )
            .await
            .map_err(BuildError::Peers)?;
            tokio::spawn(follow_assignment(c.clone(), actors.clone()));
        }
        let state = http::AppState::new(
            store.clone(),
            actors.clone(),
            cluster.clone(),
            clock,
            Arc::new(settings),
        );
        let server =
            http::server(listener, state, session_key).map_err(|source| BuildError::Bind {
                addr: addr.to_string(),
                source,
            })?;
        let handle = server.handle();
        Ok(Application {
            port: addr.port(),
            server: Some(server),
            handle,
            store,
            actors,
            cluster,
            setup_url,
            base_url,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// Serves until [`Application::stop`] is called from elsewhere (via
    /// [`Application::handle`]); then drains the actors.
    pub async fn run_until_stopped(mut self) -> std::io::Result<()> {
        let server = self.server.take().expect("run once");
        let result = server.await;
        self.actors.stop().await;
        if let Some(c) = &self.cluster {
            c.shutdown().await;
        }
        self.store.close().await;
        result
    }

    /// Stops accepting requests, ends live streams and answers waiting
    /// long-polls, lets running requests finish;
    /// [`Application::run_until_stopped`] then drains the actors.
    pub async fn shutdown(handle: ServerHandle, actors: &Actors) {
        actors.stopping();
        handle.stop(true).await;
    }
}

/// Starts and stops this node's shard actors as the raft group's shard map
/// changes.
async fn follow_assignment(cluster: Arc<Cluster>, actors: Actors) {
    let mut state = cluster.state.clone();
    loop {
        let (map, applied) = {
            let s = state.borrow_and_update();
            (s.shards.clone(), s.last_applied.map(|l| l.index))
        };
        let owned = match map.owners.len() == openseer_core::schedule::SHARDS as usize {
            true => actors.own(&map).await,
            false => Ok(()),
        };
        match owned {
            // /readyz waits for this: the node runs what the cluster assigned.
            Ok(()) => cluster.followed(applied),
            Err(e) => tracing::error!(error = %e, "starting a shard's actors"),
        }
        if state.changed().await.is_err() {
            return;
        }
    }
}

/// Jobs this node's schedulers emitted so far (for the cluster's rate).
fn jobs_scheduled() -> u64 {
    metrics::get()
        .jobs_scheduled
        .load(std::sync::atomic::Ordering::Relaxed)
}
