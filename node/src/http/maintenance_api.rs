//! The user API's maintenance windows (under `/api/v1`). Viewers read
//! them; editors create, replace and delete them. Another organization's
//! window (or monitor named in one) is "not found".

use actix_web::{web, HttpResponse};
use openseer_core::maintenance::Span;
use openseer_protocol::maintenance::{MaintenanceInput, Schedule};
use openseer_protocol::{FieldError, Role, Scope as TokenScope};
use openseer_store::{MaintenanceWindow, StoreError};
use serde::Serialize;

use super::errors::ApiError;
use super::identity::ApiUser;
use super::AppState;

super::routes! {
    fn routes, const ROUTES;
    get "/maintenance" => list;
    post "/maintenance" => create;
    get "/maintenance/{id}" => get;
    put "/maintenance/{id}" => update;
    delete "/maintenance/{id}" => delete;
}

#[derive(Serialize)]
pub struct SpanView {
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
}

impl From<Span> for SpanView {
    fn from(s: Span) -> SpanView {
        SpanView {
            starts_at_ms: s.start,
            ends_at_ms: s.end,
        }
    }
}

#[derive(Serialize)]
pub struct WindowView {
    pub id: i64,
    pub name: String,
    pub schedule: Schedule,
    pub all_monitors: bool,
    pub monitors: Vec<i64>,
    /// The occurrence open now, if any.
    pub active: Option<SpanView>,
    /// The next occurrence to start.
    pub next: Option<SpanView>,
}

impl WindowView {
    pub fn of(w: &MaintenanceWindow, now: i64) -> WindowView {
        let occurs = crate::windows::occurs(&w.schedule);
        WindowView {
            id: w.id,
            name: w.name.clone(),
            schedule: w.schedule.clone(),
            all_monitors: w.all_monitors,
            monitors: w.monitors.clone(),
            active: occurs
                .as_ref()
                .and_then(|o| o.active_at(now))
                .map(Into::into),
            next: occurs
                .as_ref()
                .and_then(|o| o.next_after(now))
                .map(Into::into),
        }
    }
}

fn validated(input: &MaintenanceInput) -> Result<(), ApiError> {
    let problems = crate::windows::problems(input);
    if problems.is_empty() {
        return Ok(());
    }
    Err(ApiError::validation(problems))
}

/// A monitor of another organization (or none) is the input's fault.
fn monitors_not_found(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::validation(vec![FieldError::new(
            "monitors",
            "every id must be a monitor of this organization",
        )]),
        other => other.into(),
    }
}

async fn list(u: ApiUser, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    u.require(Role::Viewer, TokenScope::Read)?;
    let now = state.now();
    let windows: Vec<WindowView> = state
        .store
        .maintenance_windows(u.org_id)
        .await?
        .iter()
        .map(|w| WindowView::of(w, now))
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "maintenance": windows })))
}

async fn get(
    u: ApiUser,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    u.require(Role::Viewer, TokenScope::Read)?;
    let w = state.store.maintenance(u.org_id, *id).await?;
    Ok(HttpResponse::Ok().json(WindowView::of(&w, state.now())))
}

async fn create(
    u: ApiUser,
    state: web::Data<AppState>,
    body: web::Json<MaintenanceInput>,
) -> Result<HttpResponse, ApiError> {
    u.require(Role::Editor, TokenScope::Write)?;
    validated(&body)?;
    let w = state
        .store
        .create_maintenance(u.org_id, &body, state.now())
        .await
        .map_err(monitors_not_found)?;
    state.actors.maintenance_changed(u.org_id);
    state
        .audit(
            u.audit("maintenance.created")
                .on("maintenance", w.id)
                .detail(&w.name),
        )
        .await;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/maintenance/{}", w.id)))
        .json(WindowView::of(&w, state.now())))
}

async fn update(
    u: ApiUser,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<MaintenanceInput>,
) -> Result<HttpResponse, ApiError> {
    u.require(Role::Editor, TokenScope::Write)?;
    // Another organization's window is "not found" before its input is
    // judged.
    state.store.maintenance(u.org_id, *id).await?;
    validated(&body)?;
    let w = state
        .store
        .update_maintenance(u.org_id, *id, &body, state.now())
        .await
        .map_err(monitors_not_found)?;
    state.actors.maintenance_changed(u.org_id);
    state
        .audit(
            u.audit("maintenance.updated")
                .on("maintenance", w.id)
                .detail(&w.name),
        )
        .await;
    Ok(HttpResponse::Ok().json(WindowView::of(&w, state.now())))
}

async fn delete(
    u: ApiUser,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    u.require(Role::Editor, TokenScope::Write)?;
    let w = state.store.maintenance(u.org_id, *id).await?;
    state.store.delete_maintenance(u.org_id, w.id).await?;
    state.actors.maintenance_changed(u.org_id);
    state
        .audit(
            u.audit("maintenance.deleted")
                .on("maintenance", w.id)
                .detail(&w.name),
        )
        .await;
    Ok(HttpResponse::NoContent().finish())
}
