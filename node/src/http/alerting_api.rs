//! The user API's incidents and notification channels (under `/api/v1`).
//! Viewers read incidents; editors acknowledge them, add notes and pick a
//! monitor's channels; only admins (with an `admin` token) see and manage
//! channels. Channel secrets read `<hidden>`, and `<hidden>` sent back
//! keeps the stored one. Another organization's incident or channel is
//! "not found".

use actix_web::{web, HttpResponse};
use openseer_protocol::channel::{ChannelInput, ChannelSettings};
use openseer_protocol::{ErrorCode, FieldError, Role, Scope as TokenScope};
use serde::{Deserialize, Serialize};

use super::errors::ApiError;
use super::identity::ApiUser;
use super::AppState;
use crate::notify::message::{Kind, Message};
use crate::notify::{Delivery, Sender};
use openseer_core::alert::Cause;
use openseer_store::{Channel, Incident, IncidentEvent, IncidentFilter, NotificationRow, MAX_NOTE};

super::routes! {
    fn routes, const ROUTES;
    get "/incidents" => list_incidents;
    get "/incidents/{id}" => get_incident;
    post "/incidents/{id}/ack" => acknowledge;
    post "/incidents/{id}/notes" => add_note;
    get "/channels" => list_channels;
    post "/channels" => create_channel;
    get "/channels/{id}" => get_channel;
    put "/channels/{id}" => update_channel;
    delete "/channels/{id}" => delete_channel;
    post "/channels/{id}/test" => test_channel;
    get "/monitors/{id}/channels" => monitor_channels;
    put "/monitors/{id}/channels" => set_monitor_channels;
}

#[derive(Serialize)]
pub struct IncidentView {
    pub id: i64,
    pub monitor_id: Option<i64>,
    pub monitor_name: String,
    /// `open` or `resolved`.
    pub state: &'static str,
    pub started_at_ms: i64,
    pub confirmed_at_ms: i64,
    pub resolved_at_ms: Option<i64>,
    pub duration_ms: Option<i64>,
    pub summary: String,
    pub cause: Option<Cause>,
    pub acknowledged_at_ms: Option<i64>,
    pub acknowledged_by: Option<String>,
}

impl From<&Incident> for IncidentView {
    fn from(i: &Incident) -> IncidentView {
        let cause: Option<Cause> = serde_json::from_str(&i.cause).ok();
        IncidentView {
            id: i.id,
            monitor_id: i.monitor_id,
            monitor_name: i.monitor_name.clone(),
            state: if i.is_open() { "open" } else { "resolved" },
            started_at_ms: i.started_at,
            confirmed_at_ms: i.confirmed_at,
            resolved_at_ms: i.resolved_at,
            duration_ms: i.resolved_at.map(|r| r - i.started_at),
            summary: cause
                .as_ref()
                .map(Cause::summary)
                .unwrap_or_else(|| "failing".into()),
            cause,
            acknowledged_at_ms: i.acknowledged_at,
            acknowledged_by: i.acknowledged_by.clone(),
        }
    }
}

#[derive(Serialize)]
struct EventView {
    at_ms: i64,
    kind: String,
    actor: Option<String>,
    detail: Option<String>,
}

impl From<IncidentEvent> for EventView {
    fn from(e: IncidentEvent) -> EventView {
        EventView {
            at_ms: e.at,
            kind: e.kind,
            actor: e.actor,
            detail: e.detail,
        }
    }
}

#[derive(Serialize)]
struct NotificationView {
    id: i64,
    channel_id: i64,
    channel: String,
    channel_kind: String,
    kind: String,
    state: &'static str,
    attempts: i64,
    created_at_ms: i64,
    delivered_at_ms: Option<i64>,
    next_attempt_at_ms: Option<i64>,
    last_error: Option<String>,
}

impl From<NotificationRow> for NotificationView {
    fn from(n: NotificationRow) -> NotificationView {
        let state = n.state();
        NotificationView {
            id: n.id,
            channel_id: n.channel_id,
            channel: n.channel_name,
            channel_kind: n.channel_kind,
            kind: n.kind,
            state,
            attempts: n.attempts,
            created_at_ms: n.created_at,
            delivered_at_ms: n.delivered_at,
            next_attempt_at_ms: (state == "retrying" || state == "pending")
                .then_some(n.next_attempt_at),
            last_error: n.last_error,
        }
    }
}

#[derive(Deserialize)]
struct IncidentQuery {
    state: Option<String>,
    monitor: Option<i64>,
    before: Option<i64>,
    limit: Option<i64>,
}

fn filter_of(state: Option<&str>) -> Result<IncidentFilter, ApiError> {
    match state.unwrap_or("all") {
        "all" => Ok(IncidentFilter::All),
        "open" => Ok(IncidentFilter::Open),
        "resolved" => Ok(IncidentFilter::Resolved),
        _ => Err(ApiError::validation(vec![FieldError::new(
            "state",
            "open, resolved or all",
        )])),
    }
}

async fn list_incidents(
    u: ApiUser,
    state: web::Data<AppState>,
    q: web::Query<IncidentQuery>,
) -> Result<HttpResponse, ApiError> {
    u.require(Role::Viewer, TokenScope::Read)?;
    let filter = filter_of(q.state.as_deref())?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let rows = state
        .store
        .incidents(u.org_id, filter, q.monitor, q.before, limit)
        .await?;
    let views: Vec<IncidentView> = rows.iter().map(IncidentView::from).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "incidents": views })))
}

async fn get_incident(
    u: ApiUser,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    u.require(Role::Viewer, TokenScope::Read)?;
    let i = state.store.incident(u.org_id, *id).await?;
    let events: Vec<EventView> = state
        .store
        .incident_events(i.id)
        .await?
        .into_iter()
        .map(EventView::from)
        .collect();
    let notifications: Vec<NotificationView> = state
        .store
        .incident_notifications(i.id)
        .await?
        .into_iter()
        .map(NotificationView::from)
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "incident": IncidentView::from(&i),
        "timeline": events,
        "notifications": notifications,
    })))
}

async fn acknowledge(
    u: ApiUser,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    // Any body is ignored, within the usual limit (an oversized one is 413).
    _body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    u.require(Role::Editor, TokenScope::Write)?;
    let now = state.now();
    let changed = state
        .store
        .acknowledge_incident(u.org_id, *id, &u.email, now)
        .await?;
    let i = state.store.incident(u.org_id, *id).await?;
    if changed {
        state.incident_changed(&i);
        state
            .audit(u.audit("incident.acknowledged").on("incident", i.id))
            .await;
    }
    Ok(HttpResponse::Ok().json(IncidentView::from(&i)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoteInput {
    text: String,
}

/// A note's text, or why not.
pub fn note_problems(text: &str) -> Vec<FieldError> {
    let t = text.trim();
    if t.is_empty() {
        return vec![FieldError::new("text", "a note needs some text")];
    }
    if t.len() > MAX_NOTE {
        return vec![FieldError::new("text", format!("at most {MAX_NOTE} bytes"))];
    }
    Vec::new()
}

async fn add_note(
    u: ApiUser,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<NoteInput>,
) -> Result<HttpResponse, ApiError> {
    u.require(Role::Editor, TokenScope::Write)?;
    let problems = note_problems(&body.text);
    if !problems.is_empty() {
        return Err(ApiError::validation(problems));
    }
    state
        .store
        .add_incident_note(u.org_id, *id, &u.email, body.text.trim(), state.now())
        .await?;
    let i = state.store.incident(u.org_id, *id).await?;
    state.incident_changed(&i);
    Ok(HttpResponse::Created().json(IncidentView::from(&i)))
}

#[derive(Serialize)]
pub struct ChannelView {
    pub id: i64,
    pub name: String,
    pub kind: &'static str,
    pub default_for_new_monitors: bool,
    pub settings: ChannelSettings,
    /// Why delivery stopped, until the channel is saved again.
    pub flagged: Option<String>,
    pub flagged_at_ms: Option<i64>,
}

impl From<&Channel> for ChannelView {
    fn from(c: &Channel) -> ChannelView {
        ChannelView {
            id: c.id,
            name: c.name.clone(),
            kind: c.settings.kind(),
            default_for_new_monitors: c.is_default,
            settings: c.settings.clone().redacted(),
            flagged: c.flagged.clone(),
            flagged_at_ms: c.flagged_at,
        }
    }
}

async fn list_channels(u: ApiUser, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    u.require(Role::Admin, TokenScope::Read)?;
    let channels = state.store.channels(u.org_id).await?;
    let views: Vec<ChannelView> = channels.iter().map(ChannelView::from).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "channels": views })))
}

async fn get_channel(
    u: ApiUser,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    u.require(Role::Admin, TokenScope::Read)?;
    let c = state.store.channel(u.org_id, *id).await?;
    Ok(HttpResponse::Ok().json(ChannelView::from(&c)))
}

async fn create_channel(
    u: ApiUser,
    state: web::Data<AppState>,
    body: web::Json<ChannelInput>,
) -> Result<HttpResponse, ApiError> {
    u.require(Role::Admin, TokenScope::Admin)?;
    let problems = body.problems();
    if !problems.is_empty() {
        return Err(ApiError::validation(problems));
    }
    let c = state
        .store
        .create_channel(u.org_id, &body, state.now())
        .await?;
    state
        .audit(
            u.audit("channel.created")
                .on("channel", c.id)
                .detail(&c.name),
        )
        .await;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/channels/{}", c.id)))
        .json(ChannelView::from(&c)))
}

async fn update_channel(
    u: ApiUser,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<ChannelInput>,
) -> Result<HttpResponse, ApiError> {
    u.require(Role::Admin, TokenScope::Admin)?;
    let stored = state.store.channel(u.org_id, *id).await?;
    let mut input = body.into_inner();
    input.settings.keep_hidden(&stored.settings);
    let problems = input.problems();
    if !problems.is_empty() {
        return Err(ApiError::validation(problems));
    }
    let c = state
        .store
        .update_channel(u.org_id, *id, &input, state.now())
        .await?;
    state
        .audit(
            u.audit("channel.updated")
                .on("channel", c.id)
                .detail(&c.name),
        )
        .await;
    Ok(HttpResponse::Ok().json(ChannelView::from(&c)))
}

async fn delete_channel(
    u: ApiUser,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    u.require(Role::Admin, TokenScope::Admin)?;
    let c = state.store.channel(u.org_id, *id).await?;
    state.store.delete_channel(u.org_id, c.id).await?;
    state
        .audit(
            u.audit("channel.deleted")
                .on("channel", c.id)
                .detail(&c.name),
        )
        .await;
    Ok(HttpResponse::NoContent().finish())
}

/// What a test notification became.
#[derive(Serialize)]
pub struct TestOutcome {
    pub delivered: bool,
    pub error: Option<String>,
}

/// Sends a test message on `c` now (not through the outbox: the user
/// waits for the answer).
pub async fn send_test(state: &AppState, c: &Channel) -> TestOutcome {
    let now = state.now();
    let m = Message {
        kind: Kind::Test,
        id: format!("ost_{}", hex::encode(rand::random::<[u8; 12]>())),
        incident_id: 0,
        monitor_id: None,
        monitor_name: "OpenSeer".into(),
        summary: "a test".into(),
        regions: Vec::new(),
        started_at: now,
        resolved_at: None,
        link: state.settings.public_url.clone(),
        sent_at: now,
    };
    let sender = Sender::new(state.settings.block_private_notification_targets);
    match sender.send(&c.settings, &m).await {
        Delivery::Delivered => TestOutcome {
            delivered: true,
            error: None,
        },
        Delivery::Transient { error, .. } | Delivery::Permanent(error) => TestOutcome {
            delivered: false,
            error: Some(error),
        },
    }
}

async fn test_channel(
    u: ApiUser,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    _body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    u.require(Role::Admin, TokenScope::Admin)?;
    let c = state.store.channel(u.org_id, *id).await?;
    let outcome = send_test(&state, &c).await;
    Ok(HttpResponse::Ok().json(outcome))
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MonitorChannels {
    channels: Vec<i64>,
}

async fn monitor_channels(
    u: ApiUser,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    u.require(Role::Viewer, TokenScope::Read)?;
    let m = state.store.monitor(u.org_id, *id).await?;
    let channels = state.store.monitor_channel_ids(m.id).await?;
    Ok(HttpResponse::Ok().json(MonitorChannels { channels }))
}

async fn set_monitor_channels(
    u: ApiUser,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<MonitorChannels>,
) -> Result<HttpResponse, ApiError> {
    u.require(Role::Editor, TokenScope::Write)?;
    if body.channels.len() > 100 {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            "at most 100 channels per monitor",
        ));
    }
    let m = state.store.monitor(u.org_id, *id).await?;
    state
        .store
        .set_monitor_channels(u.org_id, m.id, &body.channels)
        .await
        .map_err(|e| match e {
            openseer_store::StoreError::NotFound => ApiError::validation(vec![FieldError::new(
                "channels",
                "every id must be a channel of this organization",
            )]),
            other => other.into(),
        })?;
    let channels = state.store.monitor_channel_ids(m.id).await?;
    state
        .audit(
            u.audit("monitor.channels_set")
                .on("monitor", m.id)
                .detail(&m.name),
        )
        .await;
    Ok(HttpResponse::Ok().json(MonitorChannels { channels }))
}
