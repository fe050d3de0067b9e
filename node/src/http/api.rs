//! The user API (`/api/v1`): monitors and their results, members and the
//! audit log, as JSON. Same validation as the dashboard form; everything
//! scoped to the caller's organization (another organization's monitor is
//! "not found"). Reads need the viewer role and a `read` token, monitor
//! changes the editor role and a `write` token, the audit log the admin
//! role and an `admin` token. Secret header values and bodies read
//! `<hidden>`, and `<hidden>` sent back keeps the stored value.

use actix_web::{web, HttpResponse, Scope};
use openseer_protocol::{ErrorCode, MonitorInput, Role, Scope as TokenScope};
use serde::{Deserialize, Serialize};

use super::errors::ApiError;
use super::identity::ApiUser;
use super::AppState;
use crate::rollup;
use openseer_core::model::Status;
use openseer_core::rollup::plan::{Coverage, DAY, HOUR};
use openseer_core::rollup::Aggregate;
use openseer_protocol::monitor::ANY_REGION;
use openseer_store::{Monitor, MonitorStatus, ResultRow};

pub const PREFIX: &str = "/api/v1";

super::routes! {
    fn routes, const ROUTES;
    get "/monitors" => list;
    post "/monitors" => create;
    get "/monitors/{id}" => get;
    put "/monitors/{id}" => update;
    patch "/monitors/{id}" => patch;
    delete "/monitors/{id}" => delete;
    get "/monitors/{id}/results" => results;
    get "/monitors/{id}/stats" => stats;
    get "/monitors/{id}/series" => series;
    get "/members" => members;
    get "/audit" => audit_log;
}

pub fn scope() -> Scope {
    web::scope(PREFIX)
        .configure(routes)
        .configure(super::alerting_api::routes)
        .configure(super::maintenance_api::routes)
}

#[derive(Serialize)]
pub struct MonitorView {
    pub id: i64,
    #[serde(flatten)]
    pub spec: MonitorInput,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// What it is now, as the overview shows it.
    pub status: StatusView,
}

/// A monitor's current status: paused, pending (no check yet), or the
/// worst of its regions' latest outcomes (an error counts as down); and
/// each region's latest check.
#[derive(Serialize)]
pub struct StatusView {
    pub overall: &'static str,
    pub regions: Vec<RegionStatusView>,
}

#[derive(Serialize)]
pub struct RegionStatusView {
    pub region: String,
    pub outcome: openseer_protocol::Outcome,
    pub status_code: Option<i64>,
    pub total_ms: Option<f64>,
    /// The latest check's scheduled time.
    pub checked_at_ms: i64,
    /// When this outcome began.
    pub since_ms: i64,
}

impl MonitorView {
    /// The monitor as callers see it (secrets hidden), with its status
    /// from `latest` (statuses of any monitors; this one's are picked).
    fn new(m: &Monitor, latest: &[&MonitorStatus]) -> MonitorView {
        let regions: Vec<&str> = match m.regions.is_empty() {
            true => vec![ANY_REGION],
            false => m.regions.iter().map(String::as_str).collect(),
        };
        let mine: Vec<&MonitorStatus> = latest
            .iter()
            .copied()
            .filter(|l| l.monitor_id == m.id && regions.contains(&l.region.as_str()))
            .collect();
        let overall = match m.enabled {
            true => Status::worst(mine.iter().map(|l| Status::of_outcome(l.outcome))),
            false => Status::Paused,
        };
        MonitorView {
            id: m.id,
            spec: m.to_input().redacted(),
            created_at_ms: m.created_at,
            updated_at_ms: m.updated_at,
            status: StatusView {
                overall: overall.as_str(),
                regions: mine
                    .iter()
                    .map(|l| RegionStatusView {
                        region: l.region.clone(),
                        outcome: l.outcome,
                        status_code: l.status_code,
                        total_ms: l.total_ms,
                        checked_at_ms: l.scheduled_at,
                        since_ms: l.since,
                    })
                    .collect(),
            },
        }
    }

    /// One monitor's view, its status read from the store.
    async fn of(state: &AppState, m: &Monitor) -> Result<MonitorView, ApiError> {
        let latest = state.store.monitor_statuses(m.org_id, m.id).await?;
        Ok(MonitorView::new(m, &latest.iter().collect::<Vec<_>>()))
    }
}

#[derive(Serialize)]
pub struct ResultView {
    pub run_id: String,
    pub region: String,
    pub scheduled_at_ms: i64,
    pub started_at_ms: Option<i64>,
    pub outcome: openseer_protocol::Outcome,
    pub error_kind: Option<openseer_protocol::ErrorKind>,
    pub error_message: Option<String>,
    pub status_code: Option<i64>,
    pub total_ms: Option<f64>,
    pub body_bytes: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timings: Option<openseer_protocol::Timings>,
    #[serde(flatten)]
    pub details: openseer_store::Details,
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
    u.require(Role::Viewer, TokenScope::Read)?;
    let monitors = state.store.monitors(u.org_id).await?;
    let latest = state.store.latest_statuses(u.org_id).await?;
    let mut by_monitor: std::collections::HashMap<i64, Vec<&MonitorStatus>> = Default::default();
    for l in &latest {
        by_monitor.entry(l.monitor_id).or_default().push(l);
    }
    let views: Vec<MonitorView> = monitors
        .iter()
        .map(|m| MonitorView::new(m, by_monitor.get(&m.id).map_or(&[], Vec::as_slice)))
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "monitors": views })))
}

async fn create(
    u: ApiUser,
    state: web::Data<AppState>,
    body: web::Json<MonitorInput>,
) -> Result<HttpResponse, ApiError> {
    u.require(Role::Editor, TokenScope::Write)?;
    let valid = body.validate().map_err(ApiError::validation)?;
    let count = state.store.monitor_count(u.org_id).await?;
    state
        .settings
        .quotas
        .check_new_monitor(&valid, count)
        .map_err(ApiError::quota)?;
    let m = state
        .store
        .create_monitor(u.org_id, &valid, state.now())
        .await?;
    state.actors.monitor_changed(&m);
    state.audit(monitor_event(&u, "monitor.created", &m)).await;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/monitors/{}", m.id)))
        .json(MonitorView::new(&m, &[])))
}

fn monitor_event(u: &ApiUser, action: &'static str, m: &Monitor) -> openseer_store::NewAudit {
    u.audit(action).on("monitor", m.id).detail(&m.name)
}

async fn get(
    u: ApiUser,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    u.require(Role::Viewer, TokenScope::Read)?;
    let m = state.store.monitor(u.org_id, *id).await?;
    Ok(HttpResponse::Ok().json(MonitorView::of(&state, &m).await?))
}

async fn update(
    u: ApiUser,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<MonitorInput>,
) -> Result<HttpResponse, ApiError> {
    u.require(Role::Editor, TokenScope::Write)?;
    // Existence first: another organization's id is 404 whatever the body says.
    let existing = state.store.monitor(u.org_id, *id).await?;
    save(&u, &state, existing, body.into_inner()).await
}

/// A partial update: the fields given replace the monitor's (a JSON merge
/// patch, RFC 7396: `null` resets a field to its default), the rest stay.
/// Secrets left out stay too, but only for the same origin, as in `PUT`.
async fn patch(
    u: ApiUser,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<serde_json::Map<String, serde_json::Value>>,
) -> Result<HttpResponse, ApiError> {
    u.require(Role::Editor, TokenScope::Write)?;
    let existing = state.store.monitor(u.org_id, *id).await?;
    let base = serde_json::to_value(existing.to_input().redacted()).expect("inputs serialise");
    let serde_json::Value::Object(mut merged) = base else {
        unreachable!("a monitor input is an object")
    };
    for (key, value) in body.into_inner() {
        match value {
            serde_json::Value::Null => merged.remove(&key),
            v => merged.insert(key, v),
        };
    }
    let input: MonitorInput = serde_json::from_value(serde_json::Value::Object(merged))
        .map_err(|e| ApiError::new(ErrorCode::InvalidJson, format!("invalid JSON: {e}")))?;
    save(&u, &state, existing, input).await
}

/// Validates `input` as the new state of `existing`, and saves it unless it
/// is the same monitor.
async fn save(
    u: &ApiUser,
    state: &AppState,
    existing: Monitor,
    mut input: MonitorInput,
) -> Result<HttpResponse, ApiError> {
    input
        .restore_hidden(existing.check.stored())
        .map_err(ApiError::validation)?;
    let valid = input.validate().map_err(ApiError::validation)?;
    state
        .settings
        .quotas
        .check_monitor(&valid)
        .map_err(ApiError::quota)?;
    // The same monitor sent again (an import of an unchanged file) is
    // left alone, and the answer says so.
    if existing.to_input().validate().as_ref() == Ok(&valid) {
        return Ok(HttpResponse::Ok()
            .insert_header((crate::transfer::CHANGED, "false"))
            .json(MonitorView::of(state, &existing).await?));
    }
    let m = state
        .store
        .update_monitor(u.org_id, existing.id, &valid, state.now())
        .await?;
    state.actors.monitor_changed(&m);
    state.audit(monitor_event(u, "monitor.updated", &m)).await;
    Ok(HttpResponse::Ok()
        .insert_header((crate::transfer::CHANGED, "true"))
        .json(MonitorView::of(state, &m).await?))
}

async fn delete(
    u: ApiUser,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    u.require(Role::Editor, TokenScope::Write)?;
    let m = state.store.monitor(u.org_id, *id).await?;
    state
        .store
        .delete_monitor(u.org_id, m.id, state.now())
        .await?;
    state.actors.monitor_removed(m.id);
    state.audit(monitor_event(&u, "monitor.deleted", &m)).await;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize)]
struct MemberView {
    user_id: i64,
    email: String,
    name: String,
    role: Role,
    two_factor: bool,
    member_since_ms: i64,
}

async fn members(u: ApiUser, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    u.require(Role::Viewer, TokenScope::Read)?;
    let members: Vec<MemberView> = state
        .store
        .members(u.org_id)
        .await?
        .into_iter()
        .map(|m| MemberView {
            user_id: m.user_id,
            email: m.email,
            name: m.name,
            role: m.role,
            two_factor: m.totp_enabled,
            member_since_ms: m.since,
        })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "members": members })))
}

#[derive(Deserialize)]
struct AuditQuery {
    before: Option<i64>,
    limit: Option<i64>,
}

#[derive(Serialize)]
struct AuditView {
    id: i64,
    at_ms: i64,
    actor: String,
    action: String,
    object_type: Option<String>,
    object_id: Option<String>,
    detail: Option<String>,
    ip: Option<String>,
}

/// The organization's audit log, newest first; `?before=<id>` pages on.
async fn audit_log(
    u: ApiUser,
    state: web::Data<AppState>,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    u.require(Role::Admin, TokenScope::Admin)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let entries: Vec<AuditView> = state
        .store
        .audit_log(
            u.org_id,
            openseer_store::AuditScope::Organization,
            q.before,
            limit,
        )
        .await?
        .into_iter()
        .map(|e| AuditView {
            id: e.id,
            at_ms: e.at,
            actor: e.actor,
            action: e.action,
            object_type: e.object_type,
            object_id: e.object_id,
            detail: e.detail,
            ip: e.ip,
        })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "entries": entries })))
}

#[derive(Deserialize)]
struct ResultsQuery {
    limit: Option<i64>,
    /// Only results scheduled before this (unix ms): the next older page.
    before: Option<i64>,
}

async fn results(
    u: ApiUser,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    q: web::Query<ResultsQuery>,
) -> Result<HttpResponse, ApiError> {
    u.require(Role::Viewer, TokenScope::Read)?;
    let m = state.store.monitor(u.org_id, *id).await?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let rows = state
        .store
        .recent_results(u.org_id, m.id, q.before, limit)
        .await?;
    let views: Vec<ResultView> = rows.into_iter().map(ResultView::from).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "results": views })))
}

/// The last millisecond of the year 9999.
const LAST_MS: i64 = 253_402_300_799_999;

/// `?range=1h|24h|7d|30d|90d` or `?from=&to=` (unix ms); `?regions=eu,us`.
#[derive(Deserialize)]
struct RangeQuery {
    range: Option<String>,
    from: Option<i64>,
    to: Option<i64>,
    regions: Option<String>,
    buckets: Option<usize>,
}

impl RangeQuery {
    fn resolve(&self, now: i64) -> Result<(i64, i64, Option<Vec<String>>), ApiError> {
        let bad = |m: &str| ApiError::new(openseer_protocol::ErrorCode::BadRequest, m);
        let (start, end) = match (&self.range, self.from, self.to) {
            (Some(r), None, None) => (
                now - range_ms(r).ok_or_else(|| bad("range is one of 1h, 24h, 7d, 30d, 90d"))?,
                now,
            ),
            // Times from 1970 to 9999: `to - from` cannot wrap around.
            (None, Some(f), Some(t))
                if (0..=LAST_MS).contains(&f)
                    && (0..=LAST_MS).contains(&t)
                    && f < t
                    && t - f <= 400 * DAY =>
            {
                (f, t)
            }
            (None, Some(_), Some(_)) => return Err(bad(
                "from and to are unix ms from 1970 to 9999, from before to, at most 400 days apart",
            )),
            (None, None, None) => (now - DAY, now),
            _ => return Err(bad("give either range or both from and to")),
        };
        let regions = self.regions.as_ref().map(|r| {
            r.split(',')
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        });
        if regions
            .as_ref()
            .is_some_and(|r| r.is_empty() || r.len() > 50)
        {
            return Err(bad("regions is a comma-separated list of 1 to 50 regions"));
        }
        Ok((start, end, regions))
    }
}

pub fn range_ms(r: &str) -> Option<i64> {
    Some(match r {
        "1h" => HOUR,
        "24h" => DAY,
        "7d" => 7 * DAY,
        "30d" => 30 * DAY,
        "90d" => 90 * DAY,
        _ => return None,
    })
}

#[derive(Serialize)]
struct StatsView {
    from: i64,
    to: i64,
    uptime: Option<f64>,
    up: i64,
    degraded: i64,
    down: i64,
    error: i64,
    missed: i64,
    latency_samples: i64,
    p50_ms: Option<f64>,
    p95_ms: Option<f64>,
    p99_ms: Option<f64>,
    mean_ms: Option<f64>,
    min_ms: Option<f64>,
    max_ms: Option<f64>,
    /// Mean dns, connect, tls, first byte, transfer (ms).
    phases_ms: Option<[f64; 5]>,
}

impl StatsView {
    fn of(from: i64, to: i64, a: &Aggregate) -> StatsView {
        StatsView {
            from,
            to,
            uptime: a.uptime(),
            up: a.up,
            degraded: a.degraded,
            down: a.down,
            error: a.error,
            missed: a.missed,
            latency_samples: a.lat_count,
            p50_ms: a.percentile(0.5),
            p95_ms: a.percentile(0.95),
            p99_ms: a.percentile(0.99),
            mean_ms: a.mean(),
            min_ms: a.lat_min,
            max_ms: a.lat_max,
            phases_ms: a.phase_means(),
        }
    }
}

/// Uptime, counts and latency percentiles of a monitor over a range.
async fn stats(
    u: ApiUser,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    q: web::Query<RangeQuery>,
) -> Result<HttpResponse, ApiError> {
    u.require(Role::Viewer, TokenScope::Read)?;
    let m = state.store.monitor(u.org_id, *id).await?;
    let now = state.now();
    let (start, end, regions) = q.resolve(now)?;
    let coverage = Coverage::at(now, &state.settings.retention);
    let all = rollup::summarize(
        &state.store,
        &[m.id],
        regions.as_deref(),
        start,
        end,
        &coverage,
    )
    .await?;
    let a = all.get(&m.id).cloned().unwrap_or_default();
    Ok(HttpResponse::Ok().json(StatsView::of(start, end, &a)))
}

/// A bucketed series over a range (for charts): `?buckets=` (default 60, at most 500).
async fn series(
    u: ApiUser,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    q: web::Query<RangeQuery>,
) -> Result<HttpResponse, ApiError> {
    u.require(Role::Viewer, TokenScope::Read)?;
    let m = state.store.monitor(u.org_id, *id).await?;
    let now = state.now();
    let (start, end, regions) = q.resolve(now)?;
    let target = q.buckets.unwrap_or(60).clamp(1, 500);
    let coverage = Coverage::at(now, &state.settings.retention);
    let (shape, buckets) = rollup::series(
        &state.store,
        m.id,
        regions.as_deref(),
        start,
        end,
        target,
        &coverage,
    )
    .await?;
    let points: Vec<StatsView> = buckets
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let (from, to) = shape.bucket(i);
            StatsView::of(from, to, a)
        })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "bucket_ms": shape.width, "points": points })))
}
