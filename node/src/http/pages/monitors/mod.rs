//! Monitors: the overview ([`overview`]), a monitor's page ([`page`]), the
//! form ([`form`]), and here pause, resume, check now and delete. Every
//! member reads; editors and above change.

pub mod form;
pub mod overview;
pub mod page;

pub use form::{create_monitor, edit_monitor, new_monitor, test_request, update_monitor};
pub use overview::{open_incidents, overview, overview_counts};
pub use page::{monitor_page, monitor_summary};

use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};
use openseer_protocol::monitor::ANY_REGION;
use openseer_protocol::Role;
use openseer_web as views;

use super::{html, redirect};
use crate::http::errors::PageError;
use crate::http::identity::{CsrfForm, CsrfOnly, SignedIn};
use crate::http::AppState;
use openseer_store::{Monitor, MonitorStatus, NewAudit};

pub fn regions_of(m: &Monitor) -> Vec<String> {
    regions_or_any(&m.regions)
}

/// A monitor's regions, or "any" for one that runs anywhere.
pub(super) fn regions_or_any(regions: &[String]) -> Vec<String> {
    if regions.is_empty() {
        vec![ANY_REGION.to_string()]
    } else {
        regions.to_vec()
    }
}

/// A monitor's regions as a page names them: "any" is a choice, not a
/// place.
pub(super) fn region_text(regions: &[String]) -> String {
    if regions == [ANY_REGION] {
        return "anywhere".to_string();
    }
    regions.join(", ")
}

pub(super) type LatestByKey<'a> = HashMap<(i64, &'a str), &'a MonitorStatus>;

pub(super) fn statuses<'a>(
    monitor_id: i64,
    latest: &LatestByKey<'a>,
    regions: &'a [String],
) -> Vec<views::live::StatusVm<'a>> {
    regions
        .iter()
        .map(|r| {
            let s = latest.get(&(monitor_id, r.as_str())).copied();
            views::live::StatusVm {
                region: r,
                outcome: s.map_or("pending", |s| s.outcome.as_str()),
                status_code: s.and_then(|s| s.status_code),
                total_ms: s.and_then(|s| s.total_ms),
                checked_at: s.map(|s| s.scheduled_at),
            }
        })
        .collect()
}

/// Asks for a check at once. From the page's button (htmx) the answer is
/// a line saying so, and the result arrives on the page's live stream;
/// without JavaScript, the page again.
pub async fn check_now(
    s: SignedIn,
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    CsrfForm(_): CsrfForm<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Editor)?;
    let m = state.store.monitor(s.org_id(), *id).await?;
    if m.enabled {
        state.actors.check_now(m.id);
        tracing::info!(monitor_id = m.id, "check requested");
    }
    if !req.headers().contains_key("hx-request") {
        return Ok(redirect(&format!("/monitors/{}", m.id)));
    }
    Ok(html(views::check_requested(m.enabled, state.now())))
}

async fn set_enabled(
    s: &SignedIn,
    state: &AppState,
    id: i64,
    enabled: bool,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Editor)?;
    let m = state
        .store
        .set_monitor_enabled(s.org_id(), id, enabled, state.now())
        .await?;
    state.actors.monitor_changed(&m);
    let action = if enabled {
        "monitor.resumed"
    } else {
        "monitor.paused"
    };
    state.audit(monitor_event(s, action, &m)).await;
    Ok(redirect(&format!("/monitors/{}", m.id)))
}

pub async fn pause_monitor(
    s: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    _f: CsrfForm<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    set_enabled(&s, &state, *id, false).await
}

pub async fn resume_monitor(
    s: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    _f: CsrfForm<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    set_enabled(&s, &state, *id, true).await
}

pub async fn delete_monitor(
    s: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    _f: CsrfForm<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Editor)?;
    let m = state.store.monitor(s.org_id(), *id).await?;
    state
        .store
        .delete_monitor(s.org_id(), m.id, state.now())
        .await?;
    state.actors.monitor_removed(m.id);
    tracing::info!(monitor_id = m.id, "monitor deleted");
    state.audit(monitor_event(&s, "monitor.deleted", &m)).await;
    Ok(redirect("/"))
}

pub(super) fn monitor_event(s: &SignedIn, action: &'static str, m: &Monitor) -> NewAudit {
    s.audit(action).on("monitor", m.id).detail(&m.name)
}
