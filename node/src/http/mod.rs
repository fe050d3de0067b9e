//! HTTP: one actix-web app serves the dashboard (HTML), the user API
//! (`/api/v1`, JSON) and the worker API (`/api/worker/v1`, JSON).
//!
//! Authentication is decided by the extractor a handler takes, and each
//! surface accepts exactly one kind of credential:
//! - dashboard pages: [`identity::SignedIn`] (session cookie);
//! - user API: [`identity::ApiUser`] (session cookie plus CSRF header for
//!   writes, or an `ostu_` bearer token);
//! - worker API: [`identity::WorkerCaller`] (`ostk_` bearer token only).
//!
//! Authorization (role, token scope, re-authentication) is checked by each
//! handler through its extractor's `require*` methods. Every route is
//! declared once with [`routes!`], which both registers it and lists it in
//! [`route_table`], so the authorization matrix test sees every route.

/// Declares routes once: `fn $register` adds them to a `ServiceConfig`
/// and `const $table` lists them as (method, path). A route may set its
/// own body limit (`with LIMIT`) where it takes more than the default.
macro_rules! routes {
    (fn $register:ident, const $table:ident; $( $method:ident $path:literal => $handler:path $(, with $limit:expr)? ; )* ) => {
        pub const $table: &[(&str, &str)] = &[ $( (stringify!($method), $path), )* ];

        pub fn $register(cfg: &mut actix_web::web::ServiceConfig) {
            $(
                $crate::http::routes!(@one cfg, $method, $path, $handler $(, $limit)?);
            )*
        }
    };
    (@one $cfg:ident, $method:ident, $path:literal, $handler:path) => {
        $cfg.route($path, actix_web::web::$method().to($handler));
    };
    (@one $cfg:ident, $method:ident, $path:literal, $handler:path, $limit:expr) => {
        $cfg.service(
            actix_web::web::resource($path)
                .app_data($crate::http::errors::json_config($limit))
                .app_data(actix_web::web::PayloadConfig::new($limit))
                .route(actix_web::web::$method().to($handler)),
        );
    };
}
pub(crate) use routes;

pub mod alerting_api;
pub mod api;
mod body_timeout;
pub mod client;
pub mod cluster_api;
pub mod errors;
pub mod events;
pub mod identity;
pub mod maintenance_api;
pub mod pages;
pub mod request_id;
pub mod worker_api;

routes! {
    fn top_routes, const TOP_ROUTES;
    get "/healthz" => healthz;
    get "/readyz" => readyz;
    get "/metrics" => metrics;
    get "/events" => events::stream;
}

/// Every route the node serves, as (METHOD, full path pattern).
pub fn route_table() -> Vec<(String, String)> {
    let scoped = |prefix: &str, table: &[(&str, &str)]| {
        table
            .iter()
            .map(|(m, p)| (m.to_uppercase(), format!("{prefix}{p}")))
            .collect::<Vec<_>>()
    };
    let mut all = scoped("", TOP_ROUTES);
    all.extend(scoped("", pages::ROUTES));
    all.extend(scoped(api::PREFIX, api::ROUTES));
    all.extend(scoped(api::PREFIX, alerting_api::ROUTES));
    all.extend(scoped(api::PREFIX, maintenance_api::ROUTES));
    all.extend(scoped(
        openseer_protocol::wire::WORKER_API,
        worker_api::ROUTES,
    ));
    all.extend(scoped(
        crate::http::cluster_api::PREFIX,
        crate::http::cluster_api::ROUTES,
    ));
    all
}

use std::net::TcpListener;
use std::sync::Arc;

use actix_session::config::{PersistentSession, TtlExtensionPolicy};
use actix_session::SessionMiddleware;
use actix_web::cookie::{time::Duration as CookieDuration, Key, SameSite};
use actix_web::dev::Server;
use actix_web::{web, App, HttpResponse, HttpServer};

use crate::actors::Actors;
use crate::auth::session_store::DbSessionStore;
use crate::auth::throttle::Throttle;
use crate::config::Settings;
use openseer_cluster::Cluster;
use openseer_core::clock::SharedClock;
use openseer_store::Store;

/// Largest JSON body on the user API.
pub const API_BODY_LIMIT: usize = 256 * 1024;
/// Largest result batch from a worker.
pub const RESULTS_BODY_LIMIT: usize = 8 * 1024 * 1024;
/// Largest form post.
pub const FORM_BODY_LIMIT: usize = 128 * 1024;

pub struct AppState {
    pub store: Store,
    pub actors: Actors,
    pub cluster: Option<Arc<Cluster>>,
    pub clock: SharedClock,
    pub settings: Arc<Settings>,
    pub throttle: Throttle,
    /// The instance's first organization (the one setup made); its owners
    /// and admins operate the instance (the cluster page).
    instance_org: tokio::sync::OnceCell<i64>,
}

impl AppState {
    pub fn new(
        store: Store,
        actors: Actors,
        cluster: Option<Arc<Cluster>>,
        clock: SharedClock,
        settings: Arc<Settings>,
    ) -> web::Data<AppState> {
        web::Data::new(AppState {
            store,
            actors,
            cluster,
            clock,
            settings,
            throttle: Throttle::default(),
            instance_org: tokio::sync::OnceCell::new(),
        })
    }

    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The first organization's id, once there is one (organizations are
    /// never deleted, so it is read once).
    pub async fn instance_org_id(&self) -> Result<Option<i64>, openseer_store::StoreError> {
        if let Some(id) = self.instance_org.get() {
            return Ok(Some(*id));
        }
        match self.store.first_org_id().await? {
            Some(id) => Ok(Some(*self.instance_org.get_or_init(|| async { id }).await)),
            None => Ok(None),
        }
    }

    /// Records an audit event; a failure is logged, not the caller's error
    /// (the change it describes is already made).
    pub async fn audit(&self, event: openseer_store::NewAudit) {
        if let Err(e) = self.store.record_audit(&event, self.now()).await {
            tracing::error!(error = %e, action = event.action, "writing the audit log");
        }
    }

    /// Open incident pages and marks should refresh.
    pub fn incident_changed(&self, i: &openseer_store::Incident) {
        if let Some(monitor_id) = i.monitor_id {
            self.actors.incident_changed(i.org_id, monitor_id);
        }
    }
}

pub fn server(
    listener: TcpListener,
    state: web::Data<AppState>,
    key: Key,
) -> std::io::Result<Server> {
    let secure = state.settings.cookie_secure();
    let lifetime_ms = state.settings.sessions.lifetime_ms;
    let node_id = state.cluster.as_ref().map(|c| c.me);
    let hsts = secure;
    let server = HttpServer::new(move || {
        let sessions =
            SessionMiddleware::builder(DbSessionStore::new(state.store.clone()), key.clone())
                .cookie_name("openseer_session".into())
                .cookie_http_only(true)
                .cookie_same_site(SameSite::Lax)
                .cookie_secure(secure)
                // The store keeps a session no longer than its absolute
                // lifetime; `identity` ends it sooner when idle.
                .session_lifecycle(
                    PersistentSession::default()
                        .session_ttl(CookieDuration::milliseconds(lifetime_ms))
                        .session_ttl_extension_policy(TtlExtensionPolicy::OnStateChanges),
                )
                .build();
        App::new()
            .app_data(state.clone())
            .app_data(errors::json_config(API_BODY_LIMIT))
            .app_data(errors::form_config())
            .app_data(errors::path_config())
            .app_data(errors::query_config())
            .app_data(web::PayloadConfig::new(API_BODY_LIMIT))
            .wrap(sessions)
            .wrap(actix_web::middleware::from_fn(body_timeout::middleware))
            .wrap(security_headers(node_id, hsts))
            .wrap(actix_web::middleware::from_fn(request_id::middleware))
            .configure(top_routes)
            .service(crate::http::cluster_api::scope())
            .service(worker_api::scope())
            .service(api::scope())
            .configure(pages::routes)
            .default_service(web::to(errors::not_found))
    })
    .workers(2)
    // A client has this long to send its request line and headers.
    .client_request_timeout(std::time::Duration::from_secs(10))
    // The process stops on its own terms (main: drain the cluster share,
    // then stop serving). Were actix to stop at SIGTERM by itself, a
    // draining node would refuse its peers' raft and drain requests.
    .disable_signals()
    .shutdown_timeout(10)
    .listen(listener)?
    .run();
    Ok(server)
}

/// Headers on every response: no framing, no MIME sniffing, no referrer
/// leaking URLs, a policy that runs only our own scripts and styles, and
/// nothing kept by caches (pages show what only their user may see; a new
/// token is shown once) unless a response says otherwise (the static
/// assets do). With an `https://` public URL, browsers are told to use
/// HTTPS only. In a cluster, `X-OpenSeer-Node` says which node answered
/// (behind a load balancer, that is what an operator asks first).
fn security_headers(node_id: Option<u64>, hsts: bool) -> actix_web::middleware::DefaultHeaders {
    let mut headers = match node_id {
        Some(id) => {
            actix_web::middleware::DefaultHeaders::new().add(("X-OpenSeer-Node", id.to_string()))
        }
        None => actix_web::middleware::DefaultHeaders::new(),
    };
    if hsts {
        headers = headers.add(("Strict-Transport-Security", "max-age=31536000"));
    }
    headers
        .add(("Cache-Control", "no-store"))
        .add((
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "same-origin"))
}

/// Prometheus metrics, for the holder of the configured metrics token only.
/// Without a token configured the endpoint does not exist.
async fn metrics(req: actix_web::HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let Some(expected) = &state.settings.metrics_token else {
        return errors::page_not_found();
    };
    if let Some(refusal) = identity::refuse_unless_bearer(&req, expected) {
        return refusal;
    }
    let (size, idle) = state.store.pool_stats();
    let lag_ms = state.actors.rollup_lag_ms(state.now()).await;
    let body = crate::metrics::get().render(&crate::metrics::Readings {
        db_pool_size: size,
        db_pool_idle: idle,
        shards: state.actors.owned_shards(),
        rollup_lag_seconds: lag_ms as f64 / 1000.0,
        raft: state.cluster.as_ref().map(|c| {
            let v = c.view();
            crate::metrics::RaftReading {
                role: crate::metrics::RaftReading::ROLES
                    .iter()
                    .copied()
                    .find(|r| *r == v.role)
                    .unwrap_or("shutdown"),
                term: v.term,
                applied_index: v.applied_index,
                last_log_index: v.last_log_index,
                fenced: v.fenced,
            }
        }),
    });
    let mut body = body;
    // Monitors' statuses: a failed read leaves them out rather than the
    // node's own figures (an alert on their absence tells).
    match (
        state.store.enabled_monitor_list().await,
        state.store.enabled_statuses().await,
    ) {
        (Ok(monitors), Ok(latest)) => {
            crate::metrics::render_monitors(&mut body, &monitors, &latest)
        }
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(error = %e, "metrics: monitor statuses unreadable")
        }
    }
    match (
        state.store.notification_counts().await,
        state.store.flagged_channels().await,
    ) {
        (Ok((pending, failed)), Ok(flagged)) => {
            crate::metrics::render_outbox(&mut body, pending, failed, flagged)
        }
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(error = %e, "metrics: the outbox is unreadable")
        }
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body)
}

/// The process is alive and serving.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

/// How long /readyz waits for the database. A pool whose server is gone
/// keeps trying to connect for its whole acquire timeout (10 s); a load
/// balancer's health check gives up sooner and learns nothing.
const READY_DB_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Ready for traffic: the database answers, its schema is current, and in
/// a cluster the raft group has a leader this node hears from and this
/// node's actors run the latest shard map it applied.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let unready = |why: &str| {
        HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body(format!("not ready: {why}\n"))
    };
    if let Some(why) = state.actors.failure() {
        return unready(&why);
    }
    if let Some(c) = &state.cluster {
        let view = c.view();
        if view.leader.is_none() {
            return unready("the cluster has no leader");
        }
        if view.fenced {
            return unready("not hearing from the cluster leader");
        }
        if !c.caught_up() {
            return unready("catching up with the cluster's shard map");
        }
    }
    let schema = async {
        state.store.ping().await?;
        state.store.migrations_current().await
    };
    match tokio::time::timeout(READY_DB_WAIT, schema).await {
        Ok(Ok(true)) => HttpResponse::Ok()
            .content_type("text/plain")
            .body("ready\n"),
        Ok(Ok(false)) => unready("database migrations not applied"),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            unready("database unreachable")
        }
        Err(_) => unready("database not answering"),
    }
}
