//! Node-to-node HTTP: `/cluster/v1/...`, served here and handed to the
//! cluster crate's [`Cluster`], for holders of the cluster secret
//! only (bearer, compared in constant time). Raft RPCs, join, leave and the
//! cluster's state for `openseer cluster status` and tests.

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};

use openseer_cluster::raft::{
    AppendEntriesRequest, InstallSnapshotRequest, TypeConfig, VoteRequest,
};
use openseer_cluster::{Cluster, ClusterError, JoinRequest, LeaveRequest};

use crate::http::AppState;

/// Raft messages carry snapshots and batches of entries.
const CLUSTER_BODY_LIMIT: usize = 16 * 1024 * 1024;

pub const PREFIX: &str = "/cluster/v1";

crate::http::routes! {
    fn routes, const ROUTES;
    post "/raft/append" => append;
    post "/raft/vote" => vote;
    post "/raft/snapshot" => snapshot;
    post "/join" => join;
    post "/leave" => leave;
    post "/drain" => drain;
    get "/state" => state;
}

pub fn scope() -> impl actix_web::dev::HttpServiceFactory {
    web::scope(PREFIX)
        .app_data(crate::http::errors::json_config(CLUSTER_BODY_LIMIT))
        .app_data(web::PayloadConfig::new(CLUSTER_BODY_LIMIT))
        .wrap(actix_web::middleware::from_fn(holders_of_the_secret_only))
        .configure(routes)
}

/// Refuses a caller without the cluster secret before anything reads the
/// body (404 when this node is not in a cluster, 401 otherwise), so
/// strangers learn nothing from how a body is parsed.
async fn holders_of_the_secret_only(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<actix_web::body::BoxBody>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let refusal = match req.app_data::<web::Data<AppState>>() {
        Some(app) => authorized(req.request(), app).err(),
        None => Some(Box::new(crate::http::errors::page_not_found())),
    };
    match refusal {
        Some(r) => Ok(req.into_response(*r)),
        None => next.call(req).await,
    }
}

/// The cluster, if this node is in one and the caller holds its secret.
fn authorized(req: &HttpRequest, app: &AppState) -> Result<Arc<Cluster>, Box<HttpResponse>> {
    let Some(cluster) = app.cluster.clone() else {
        return Err(Box::new(crate::http::errors::page_not_found()));
    };
    if let Some(refusal) = crate::http::identity::refuse_unless_bearer(req, &cluster.secret) {
        return Err(Box::new(refusal));
    }
    Ok(cluster)
}

async fn append(
    req: HttpRequest,
    app: web::Data<AppState>,
    body: web::Json<AppendEntriesRequest<TypeConfig>>,
) -> HttpResponse {
    let cluster = match authorized(&req, &app) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    HttpResponse::Ok().json(cluster.on_append(body.into_inner()).await)
}

async fn vote(
    req: HttpRequest,
    app: web::Data<AppState>,
    body: web::Json<VoteRequest<u64>>,
) -> HttpResponse {
    let cluster = match authorized(&req, &app) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    HttpResponse::Ok().json(cluster.on_vote(body.into_inner()).await)
}

async fn snapshot(
    req: HttpRequest,
    app: web::Data<AppState>,
    body: web::Json<InstallSnapshotRequest<TypeConfig>>,
) -> HttpResponse {
    let cluster = match authorized(&req, &app) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    HttpResponse::Ok().json(cluster.on_snapshot(body.into_inner()).await)
}

/// 204 once a membership change is done; 409 when no other node can take
/// the shards; 503 with the reason otherwise.
fn outcome(result: Result<(), ClusterError>) -> HttpResponse {
    match result {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(e @ ClusterError::NobodyToTakeOver) => HttpResponse::Conflict()
            .content_type("text/plain")
            .body(format!("{e}\n")),
        Err(e) => {
            tracing::warn!(error = %e, "cluster request failed");
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain")
                .body(format!("{e}\n"))
        }
    }
}

async fn join(
    req: HttpRequest,
    app: web::Data<AppState>,
    body: web::Json<JoinRequest>,
) -> HttpResponse {
    match authorized(&req, &app) {
        Ok(c) => outcome(c.join(body.into_inner()).await),
        Err(r) => *r,
    }
}

async fn leave(
    req: HttpRequest,
    app: web::Data<AppState>,
    body: web::Json<LeaveRequest>,
) -> HttpResponse {
    match authorized(&req, &app) {
        Ok(c) => outcome(c.leave(body.into_inner()).await),
        Err(r) => *r,
    }
}

async fn drain(
    req: HttpRequest,
    app: web::Data<AppState>,
    body: web::Json<LeaveRequest>,
) -> HttpResponse {
    match authorized(&req, &app) {
        Ok(c) => outcome(c.drain_node(body.into_inner()).await),
        Err(r) => *r,
    }
}

async fn state(req: HttpRequest, app: web::Data<AppState>) -> HttpResponse {
    match authorized(&req, &app) {
        Ok(c) => HttpResponse::Ok().json(c.view()),
        Err(r) => *r,
    }
}
