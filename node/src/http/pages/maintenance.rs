//! Maintenance windows: the list, the add form and delete (editors), and
//! the notice the overview and monitor pages refetch while windows open
//! and close.

use std::collections::HashMap;

use actix_web::{web, HttpResponse};
use openseer_protocol::maintenance::{MaintenanceInput, Schedule, Weekday};
use openseer_protocol::{FieldError, Role};
use openseer_store::{MaintenanceWindow, StoreError};
use openseer_web as views;
use serde::Deserialize;

use super::{frame, html, html_or_invalid, redirect};
use crate::http::errors::PageError;
use crate::http::identity::{has_csrf, CsrfForm, CsrfOnly, SignedIn};
use crate::http::AppState;

#[derive(Deserialize, Default)]
pub struct WindowForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    start: String,
    #[serde(default)]
    duration_minutes: String,
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    all_monitors: Option<String>,
    /// `day.<mon..sun>=on` and `monitor.<id>=on` for each one chosen.
    #[serde(flatten)]
    rest: HashMap<String, String>,
}

has_csrf!(WindowForm);

impl WindowForm {
    fn chosen<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.rest
            .iter()
            .filter(|(_, v)| v.as_str() == "on")
            .filter_map(move |(k, _)| k.strip_prefix(prefix))
    }

    fn days(&self) -> Vec<Weekday> {
        let mut days: Vec<Weekday> = self.chosen("day.").filter_map(Weekday::parse).collect();
        days.sort();
        days
    }

    fn monitors(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .chosen("monitor.")
            .filter_map(|s| s.parse().ok())
            .collect();
        ids.sort_unstable();
        ids
    }

    fn zone(&self) -> &str {
        match self.time_zone.trim() {
            "" => "UTC",
            z => z,
        }
    }

    /// The window this form describes, or the fields that are wrong.
    fn input(&self) -> Result<MaintenanceInput, Vec<FieldError>> {
        let schedule = if self.kind == "weekly" {
            Schedule::Weekly {
                days: self.days(),
                start: self.start.trim().to_string(),
                duration_minutes: self.duration_minutes.trim().parse().unwrap_or(0),
                time_zone: self.zone().to_string(),
            }
        } else {
            let tz = jiff::tz::TimeZone::get(self.zone()).map_err(|_| {
                vec![FieldError::new(
                    "schedule.time_zone",
                    "not a known time zone (an IANA name such as Europe/Paris, or UTC)",
                )]
            })?;
            let at = |field: &str, text: &str| -> Result<i64, Vec<FieldError>> {
                local_ms(text.trim(), &tz)
                    .ok_or_else(|| vec![FieldError::new(field, "a date and time")])
            };
            Schedule::Once {
                starts_at_ms: at("schedule.starts_at_ms", &self.from)?,
                ends_at_ms: at("schedule.ends_at_ms", &self.to)?,
            }
        };
        let input = MaintenanceInput {
            name: self.name.trim().to_string(),
            schedule,
            all_monitors: self.all_monitors.is_some(),
            monitors: self.monitors(),
        };
        let problems = crate::windows::problems(&input);
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(input)
    }
}

/// "2026-12-05T14:30" (a datetime-local input) in `tz`.
fn local_ms(text: &str, tz: &jiff::tz::TimeZone) -> Option<i64> {
    let dt: jiff::civil::DateTime = text.parse().ok()?;
    let z = tz.to_ambiguous_zoned(dt).compatible().ok()?;
    Some(z.timestamp().as_millisecond())
}

fn when_text(s: &Schedule) -> String {
    match s {
        Schedule::Once {
            starts_at_ms,
            ends_at_ms,
        } => format!(
            "Once, {} to {}",
            openseer_core::calendar::iso(*starts_at_ms)
                .replace('T', " ")
                .replace('Z', " UTC"),
            openseer_core::calendar::iso(*ends_at_ms)
                .replace('T', " ")
                .replace('Z', " UTC"),
        ),
        Schedule::Weekly {
            days,
            start,
            duration_minutes,
            time_zone,
        } => format!(
            "{} at {start} for {duration_minutes} min ({time_zone})",
            views::days_text(days)
        ),
    }
}

fn covers_text(w: &MaintenanceWindow, names: &HashMap<i64, &str>) -> String {
    if w.all_monitors {
        return "all monitors".into();
    }
    let named: Vec<&str> = w
        .monitors
        .iter()
        .filter_map(|id| names.get(id).copied())
        .collect();
    if named.is_empty() {
        return "none (its monitors were deleted)".into();
    }
    named.join(", ")
}

async fn page(
    s: &SignedIn,
    state: &AppState,
    form: Option<(&WindowForm, &[FieldError])>,
) -> Result<HttpResponse, PageError> {
    let now = state.now();
    let windows = state.store.maintenance_windows(s.org_id()).await?;
    let monitors = state.store.monitors(s.org_id()).await?;
    let names: HashMap<i64, &str> = monitors.iter().map(|m| (m.id, m.name.as_str())).collect();
    let rows: Vec<views::WindowRowVm> = windows
        .iter()
        .map(|w| {
            let occurs = crate::windows::occurs(&w.schedule);
            views::WindowRowVm {
                id: w.id,
                name: &w.name,
                when: when_text(&w.schedule),
                covers: covers_text(w, &names),
                active_until: occurs
                    .as_ref()
                    .and_then(|o| o.active_at(now))
                    .map(|s| s.end),
                next: occurs
                    .as_ref()
                    .and_then(|o| o.next_after(now))
                    .map(|s| (s.start, s.end)),
            }
        })
        .collect();
    let can_edit = s.role() >= Role::Editor;
    let blank = WindowForm {
        kind: "once".into(),
        time_zone: "UTC".into(),
        ..WindowForm::default()
    };
    let (f, errors) = form.unwrap_or((&blank, &[]));
    let chosen = f.monitors();
    let vm = views::WindowFormVm {
        name: &f.name,
        kind: &f.kind,
        from: &f.from,
        to: &f.to,
        days: f.days(),
        start: &f.start,
        duration_minutes: &f.duration_minutes,
        time_zone: &f.time_zone,
        all_monitors: f.all_monitors.is_some(),
        monitors: monitors
            .iter()
            .map(|m| (m.id, m.name.as_str(), chosen.binary_search(&m.id).is_ok()))
            .collect(),
    };
    let csrf = s.csrf();
    let fr = frame(s, "Maintenance windows", &csrf, None);
    let markup = views::maintenance_page(&fr, &rows, can_edit, can_edit.then_some((&vm, errors)));
    Ok(html_or_invalid(markup, errors))
}

pub async fn list(s: SignedIn, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    s.require(Role::Viewer)?;
    page(&s, &state, None).await
}

pub async fn create(
    s: SignedIn,
    state: web::Data<AppState>,
    f: CsrfForm<WindowForm>,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Editor)?;
    let f = f.0;
    let input = match f.input() {
        Ok(i) => i,
        Err(errors) => return page(&s, &state, Some((&f, &errors))).await,
    };
    let w = match state
        .store
        .create_maintenance(s.org_id(), &input, state.now())
        .await
    {
        Ok(w) => w,
        Err(StoreError::NotFound) => {
            let errors = [FieldError::new(
                "monitors",
                "choose monitors of this organization",
            )];
            return page(&s, &state, Some((&f, &errors))).await;
        }
        Err(e) => return Err(e.into()),
    };
    state.actors.maintenance_changed(s.org_id());
    state
        .audit(
            s.audit("maintenance.created")
                .on("maintenance", w.id)
                .detail(&w.name),
        )
        .await;
    Ok(redirect("/maintenance"))
}

pub async fn delete(
    s: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    _f: CsrfForm<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Editor)?;
    let w = state.store.maintenance(s.org_id(), *id).await?;
    state.store.delete_maintenance(s.org_id(), w.id).await?;
    state.actors.maintenance_changed(s.org_id());
    state
        .audit(
            s.audit("maintenance.deleted")
                .on("maintenance", w.id)
                .detail(&w.name),
        )
        .await;
    Ok(redirect("/maintenance"))
}

#[derive(Deserialize)]
pub struct NoticeParams {
    monitor: Option<i64>,
}

/// The organization's windows, compiled.
pub async fn windows_of(
    state: &AppState,
    org_id: i64,
) -> Result<Vec<openseer_core::maintenance::Window>, PageError> {
    let rows = state.store.maintenance_windows(org_id).await?;
    Ok(crate::windows::compile_all(&rows))
}

/// The maintenance notice of the overview or a monitor's page.
pub async fn notice(
    s: SignedIn,
    state: web::Data<AppState>,
    params: web::Query<NoticeParams>,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Viewer)?;
    let windows = windows_of(&state, s.org_id()).await?;
    let open = crate::windows::open_at(&windows, params.monitor, state.now());
    let url = match params.monitor {
        Some(m) => format!("/overview/maintenance?monitor={m}"),
        None => "/overview/maintenance".to_string(),
    };
    Ok(html(views::maintenance_notice(&open, &url)))
}
