//! Maintenance windows: the list with the add form, and the notice on the
//! overview and monitor pages while one is open.

use maud::{html, Markup};
use openseer_protocol::maintenance::Weekday;
use openseer_protocol::FieldError;

use crate::pages::{field, invalid};
use crate::time::time_el;
use crate::{csrf_field, layout, Frame};

pub struct WindowRowVm<'a> {
    pub id: i64,
    pub name: &'a str,
    /// "Sundays 02:30 for 90 min (Europe/Paris)", or the one-off span.
    pub when: String,
    /// "all monitors", or the monitors' names.
    pub covers: String,
    /// Open now: until when.
    pub active_until: Option<i64>,
    pub next: Option<(i64, i64)>,
}

/// The add form's values, as typed.
#[derive(Default)]
pub struct WindowFormVm<'a> {
    pub name: &'a str,
    /// `once` or `weekly`.
    pub kind: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub days: Vec<Weekday>,
    pub start: &'a str,
    pub duration_minutes: &'a str,
    pub time_zone: &'a str,
    pub all_monitors: bool,
    /// (id, name, chosen) of every monitor.
    pub monitors: Vec<(i64, &'a str, bool)>,
}

fn day_name(d: Weekday) -> &'static str {
    match d {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

/// "Sundays and Wednesdays".
pub fn days_text(days: &[Weekday]) -> String {
    if days.len() == 7 {
        return "Every day".into();
    }
    let names: Vec<String> = days.iter().map(|d| format!("{}s", day_name(*d))).collect();
    match names.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

pub fn window_form(frame: &Frame, f: &WindowFormVm, errors: &[FieldError]) -> Markup {
    let once = f.kind != "weekly";
    html! {
        form.stack #maintenance-form method="post" action="/maintenance" novalidate {
            (csrf_field(frame.csrf))
            @if !errors.is_empty() { div.notice.error role="alert" { "Please correct the fields marked below." } }
            (field(errors, "name", "Name", None, html! { input #name name="name" value=(f.name) aria-invalid=(invalid(errors, "name")); }))
            fieldset {
                legend { "When" }
                label.row for="kind-once" { input #kind-once type="radio" name="kind" value="once" checked[once]; "Once" }
                label.row for="kind-weekly" { input #kind-weekly type="radio" name="kind" value="weekly" checked[!once]; "Every week" }
                (field(errors, "schedule.starts_at_ms", "From", Some("once: local time in the time zone below"), html! { input id="schedule.starts_at_ms" name="from" type="datetime-local" value=(f.from) aria-invalid=(invalid(errors, "schedule.starts_at_ms")); }))
                (field(errors, "schedule.ends_at_ms", "To", None, html! { input id="schedule.ends_at_ms" name="to" type="datetime-local" value=(f.to) aria-invalid=(invalid(errors, "schedule.ends_at_ms")); }))
                div #days role="group" aria-label="Days (every week)" {
                    span { "Days" small { " every week" } }
                    div.row {
                        @for d in Weekday::ALL {
                            label.row for={ "day." (d.as_str()) } { input id={ "day." (d.as_str()) } type="checkbox" name={ "day." (d.as_str()) } value="on" checked[f.days.contains(&d)]; (&day_name(d)[..3]) }
                        }
                    }
                    @if let Some(e) = errors.iter().find(|e| e.field == "schedule.days") { span.field-error role="alert" { (e.message) } }
                }
                (field(errors, "schedule.start", "Starts at", Some("every week: HH:MM"), html! { input id="schedule.start" name="start" type="time" value=(f.start) aria-invalid=(invalid(errors, "schedule.start")); }))
                (field(errors, "schedule.duration_minutes", "For (minutes)", Some("every week"), html! { input id="schedule.duration_minutes" name="duration_minutes" inputmode="numeric" value=(f.duration_minutes) aria-invalid=(invalid(errors, "schedule.duration_minutes")); }))
                (field(errors, "schedule.time_zone", "Time zone", Some("an IANA name: UTC, Europe/Paris, America/New_York"), html! { input id="schedule.time_zone" name="time_zone" value=(f.time_zone) aria-invalid=(invalid(errors, "schedule.time_zone")); }))
            }
            fieldset {
                legend { "Monitors" }
                label.row for="all_monitors" { input #all_monitors type="checkbox" name="all_monitors" value="on" checked[f.all_monitors]; "All monitors, now and later" }
                @for (id, name, chosen) in &f.monitors {
                    label.row for={ "monitor." (id) } { input id={ "monitor." (id) } type="checkbox" name={ "monitor." (id) } value="on" checked[*chosen]; (name) }
                }
                @if let Some(e) = errors.iter().find(|e| e.field == "monitors") { span.field-error role="alert" { (e.message) } }
            }
            div.row { button type="submit" { "Add window" } }
        }
    }
}

pub fn maintenance_page(
    frame: &Frame,
    rows: &[WindowRowVm],
    can_edit: bool,
    form: Option<(&WindowFormVm, &[FieldError])>,
) -> Markup {
    layout(
        frame,
        html! {
            h1 { "Maintenance windows" }
            p.muted { "Inside a window checks keep running and are stored, but no incident opens; an incident open before it resolves as usual, and a failure that lasts past its end opens one then." }
            @if rows.is_empty() { p #no-windows { "No maintenance windows." } }
            @else {
                table.stack-sm #windows {
                    thead { tr { th { "Name" } th { "When" } th { "Monitors" } th { "State" } th {} } }
                    tbody {
                        @for w in rows {
                            tr #{ "window-" (w.id) } {
                                td data-label="Name" { (w.name) }
                                td data-label="When" { (w.when) }
                                td data-label="Monitors" { (w.covers) }
                                td data-label="State" {
                                    @if let Some(until) = w.active_until { span class="badge maintenance" { "in maintenance" } " until " (time_el(until)) }
                                    @else if let Some((start, _)) = w.next { span.muted { "next " (time_el(start)) } }
                                    @else { span.muted { "over" } }
                                }
                                td {
                                    @if can_edit {
                                        form.inline method="post" action={ "/maintenance/" (w.id) "/delete" } data-confirm="Delete this maintenance window?" { (csrf_field(frame.csrf)) button.danger type="submit" { "Delete" } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some((f, errors)) = form {
                h2 { "Add a window" }
                (window_form(frame, f, errors))
            }
        },
    )
}

/// The notice on the overview and a monitor's page while windows are open:
/// (name, until). Refetched every 30 s, so it appears and goes on time.
pub fn maintenance_notice(open: &[(&str, i64)], self_url: &str) -> Markup {
    html! {
        div #maintenance-notice hx-get=(self_url) hx-trigger="every 30s" hx-select="#maintenance-notice" hx-swap="outerHTML" {
            @if !open.is_empty() {
                div.notice.maintenance role="status" {
                    "In maintenance (no incidents open): "
                    @for (i, (name, until)) in open.iter().enumerate() {
                        @if i > 0 { ", " }
                        a href="/maintenance" { (name) } " until " (time_el(*until))
                    }
                }
            }
        }
    }
}
