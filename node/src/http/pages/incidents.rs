//! Incident pages: the list (open first, filters), an incident with its
//! cause, timeline and each notification's delivery state; editors
//! acknowledge and add notes. All live: they refetch themselves on an
//! `incidents` event.

use actix_web::{web, HttpResponse};
use openseer_core::alert::{Cause, RegionResult};
use openseer_protocol::{FieldError, Role};
use openseer_web as views;
use serde::Deserialize;

use super::{frame, html, html_or_invalid, redirect};
use crate::http::alerting_api::note_problems;
use crate::http::errors::PageError;
use crate::http::events::{self, Watch};
use crate::http::identity::{has_csrf, CsrfForm, CsrfOnly, SignedIn};
use crate::http::AppState;
use openseer_store::{Incident, IncidentFilter};

#[derive(Deserialize)]
pub struct ListQuery {
    state: Option<String>,
    monitor: Option<i64>,
}

fn row<'a>(i: &'a Incident, summary: &'a str) -> views::IncidentRowVm<'a> {
    views::IncidentRowVm {
        id: i.id,
        monitor_id: i.monitor_id,
        monitor_name: &i.monitor_name,
        open: i.is_open(),
        started_at: i.started_at,
        resolved_at: i.resolved_at,
        summary,
        acknowledged: i.acknowledged_at.is_some(),
    }
}

pub fn summary_of(i: &Incident) -> String {
    serde_json::from_str::<Cause>(&i.cause)
        .map(|c| c.summary())
        .unwrap_or_else(|_| "failing".into())
}

pub async fn list(
    s: SignedIn,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, PageError> {
    let (filter, name) = match q.state.as_deref() {
        Some("open") => (IncidentFilter::Open, "open"),
        Some("resolved") => (IncidentFilter::Resolved, "resolved"),
        _ => (IncidentFilter::All, "all"),
    };
    let now = state.now();
    let incidents = state
        .store
        .incidents(s.org_id(), filter, q.monitor, None, 200)
        .await?;
    let summaries: Vec<String> = incidents.iter().map(summary_of).collect();
    let rows: Vec<views::IncidentRowVm> = incidents
        .iter()
        .zip(&summaries)
        .map(|(i, s)| row(i, s))
        .collect();
    let csrf = s.csrf();
    let f = frame(
        &s,
        "Incidents",
        &csrf,
        Some(events::url(Watch::Incidents, now)),
    );
    Ok(html(views::incidents_page(&f, &rows, name, q.monitor, now)))
}

fn what_it_saw(r: &RegionResult) -> String {
    let mut what = match (r.error_kind, r.status_code) {
        (Some(k), Some(code)) => format!("{} (status {code})", k.as_str().replace('_', " ")),
        (Some(k), None) => k.as_str().replace('_', " "),
        (None, Some(code)) => format!("status {code}"),
        (None, None) => r.outcome.as_str().to_string(),
    };
    if let Some(m) = &r.message {
        what.push_str(": ");
        what.push_str(m);
    }
    what
}

async fn incident_view(
    s: &SignedIn,
    state: &AppState,
    id: i64,
    errors: &[FieldError],
) -> Result<HttpResponse, PageError> {
    let now = state.now();
    let i = state.store.incident(s.org_id(), id).await?;
    let events = state.store.incident_events(i.id).await?;
    let deliveries = state.store.incident_notifications(i.id).await?;
    let cause: Option<Cause> = serde_json::from_str(&i.cause).ok();
    let summary = summary_of(&i);
    let v = views::IncidentVm {
        row: row(&i, &summary),
        confirmed_at: i.confirmed_at,
        acknowledged_by: i.acknowledged_by.as_deref(),
        regions: cause
            .as_ref()
            .map(|c| {
                c.regions
                    .iter()
                    .map(|r| (r.region.as_str(), what_it_saw(r)))
                    .collect()
            })
            .unwrap_or_default(),
        timeline: events
            .iter()
            .map(|e| views::TimelineVm {
                at: e.at,
                kind: &e.kind,
                actor: e.actor.as_deref(),
                detail: e.detail.as_deref(),
            })
            .collect(),
        deliveries: deliveries
            .iter()
            .map(|d| views::DeliveryVm {
                channel: &d.channel_name,
                channel_kind: &d.channel_kind,
                kind: &d.kind,
                state: d.state(),
                attempts: d.attempts,
                last_error: d.last_error.as_deref(),
                delivered_at: d.delivered_at,
            })
            .collect(),
        can_act: s.org.role >= Role::Editor,
    };
    let csrf = s.csrf();
    let title = format!("Incident: {}", i.monitor_name);
    let f = frame(s, &title, &csrf, Some(events::url(Watch::Incidents, now)));
    Ok(html_or_invalid(
        views::incident_page(&f, &v, now, errors),
        errors,
    ))
}

pub async fn page(
    s: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    incident_view(&s, &state, *id, &[]).await
}

pub async fn acknowledge(
    s: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    _f: CsrfForm<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Editor)?;
    let changed = state
        .store
        .acknowledge_incident(s.org_id(), *id, &s.user.email, state.now())
        .await?;
    if changed {
        let i = state.store.incident(s.org_id(), *id).await?;
        state.incident_changed(&i);
        state
            .audit(s.audit("incident.acknowledged").on("incident", i.id))
            .await;
    }
    Ok(redirect(&format!("/incidents/{}", *id)))
}

#[derive(Deserialize)]
pub struct NoteForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    text: String,
}

has_csrf!(NoteForm);

pub async fn add_note(
    s: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    f: CsrfForm<NoteForm>,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Editor)?;
    let errors = note_problems(&f.0.text);
    if !errors.is_empty() {
        return incident_view(&s, &state, *id, &errors).await;
    }
    state
        .store
        .add_incident_note(s.org_id(), *id, &s.user.email, f.0.text.trim(), state.now())
        .await?;
    let i = state.store.incident(s.org_id(), *id).await?;
    state.incident_changed(&i);
    Ok(redirect(&format!("/incidents/{}", *id)))
}
