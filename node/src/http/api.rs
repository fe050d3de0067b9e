//! The user API (`/api/v1`): monitors and their results, as JSON. Same
//! validation as the dashboard form; everything scoped to the caller's
//! organization (another organization's monitor is "not found").

use actix_web::{web, HttpResponse, Scope};
use openseer_protocol::MonitorInput;
use serde::{Deserialize, Serialize};

use super::errors::ApiError;
use super::identity::ApiUser;
use super::AppState;
use crate::store::{Monitor, ResultRow};

pub fn scope() -> Scope {
    web::scope("/api/v1")
        .route("/monitors", web::get().to(list))
        .route("/monitors", web::post().to(create))
        .route("/monitors/{id}", web::get().to(get))
        .route("/monitors/{id}", web::put().to(update))
        .route("/monitors/{id}", web::delete().to(delete))
        .route("/monitors/{id}/results", web::get().to(results))
}

#[derive(Serialize)]
pub struct MonitorView {
    pub id: i64,
    #[serde(flatten)]
    pub spec: MonitorInput,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl From<&Monitor> for MonitorView {
    fn from(m: &Monitor) -> MonitorView {
        MonitorView {
            id: m.id,
            spec: m.to_input(),
            created_at_ms: m.created_at,
            updated_at_ms: m.updated_at,
        }
    }
}

#[derive(Serialize)]
pub struct ResultView {
    pub run_id: String,
    pub region: String,
    pub scheduled_at_ms: i64,
    pub started_at_ms: Option<i64>,
    pub outcome: String,
    pub error_kind: Option<String>,
    pub error_message: Option<String>,
    pub status_code: Option<i64>,
    pub total_ms: Option<f64>,
    pub body_bytes: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timings: Option<openseer_protocol::Timings>,
    #[serde(flatten)]
    pub details: crate::store::Details,
}

impl From<ResultRow> for ResultView {
    fn from(r: ResultRow) -> ResultView {
        ResultView {
            run_id: r.run_id,
            region: r.region,
            scheduled_at_ms: r.scheduled_at,
            started_at_ms: r.started_at,
            outcome: r.outcome,
            error_kind: r.error_kind,
            error_message: r.error_message,
            status_code: r.status_code,
            total_ms: r.total_ms,
            body_bytes: r.body_bytes,
            timings: r.timings,
            details: r.details,
        }
    }
}

async fn list(u: ApiUser, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let monitors = state.store.monitors(u.user.org_id).await?;
    let views: Vec<MonitorView> = monitors.iter().map(MonitorView::from).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "monitors": views })))
}

async fn create(
    u: ApiUser,
    state: web::Data<AppState>,
    body: web::Json<MonitorInput>,
) -> Result<HttpResponse, ApiError> {
    let valid = body.validate().map_err(ApiError::validation)?;
    let m = state
        .store
        .create_monitor(u.user.org_id, &valid, state.now())
        .await?;
    state.actors.monitor_changed(&m);
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/monitors/{}", m.id)))
        .json(MonitorView::from(&m)))
}

async fn get(
    u: ApiUser,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let m = state.store.monitor(u.user.org_id, *id).await?;
    Ok(HttpResponse::Ok().json(MonitorView::from(&m)))
}

async fn update(
    u: ApiUser,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<MonitorInput>,
) -> Result<HttpResponse, ApiError> {
    // Existence first: another organization's id is 404 whatever the body says.
    state.store.monitor(u.user.org_id, *id).await?;
    let valid = body.validate().map_err(ApiError::validation)?;
    let m = state
        .store
        .update_monitor(u.user.org_id, *id, &valid, state.now())
        .await?;
    state.actors.monitor_changed(&m);
    Ok(HttpResponse::Ok().json(MonitorView::from(&m)))
}

async fn delete(
    u: ApiUser,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    state.store.delete_monitor(u.user.org_id, *id).await?;
    state.actors.monitor_removed(*id);
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
struct ResultsQuery {
    limit: Option<i64>,
}

async fn results(
    u: ApiUser,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    q: web::Query<ResultsQuery>,
) -> Result<HttpResponse, ApiError> {
    let m = state.store.monitor(u.user.org_id, *id).await?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let rows = state
        .store
        .recent_results(u.user.org_id, m.id, limit)
        .await?;
    let views: Vec<ResultView> = rows.into_iter().map(ResultView::from).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "results": views })))
}
