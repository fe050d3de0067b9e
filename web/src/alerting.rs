//! Incidents and notification channels.

use maud::{html, Markup};
use openseer_protocol::FieldError;

use crate::live::INCIDENTS_EVENT;
use crate::pages::{field, invalid};
use crate::time::{ago_el, time_el};
use crate::{badge, csrf_field, layout, Frame};

/// "3 min", "2 h 5 min".
pub fn duration(ms: i64) -> String {
    let s = (ms / 1000).max(0);
    match s {
        0..=59 => format!("{s} s"),
        60..=3_599 => format!("{} min", s / 60),
        3_600..=86_399 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

pub struct IncidentRowVm<'a> {
    pub id: i64,
    pub monitor_id: Option<i64>,
    pub monitor_name: &'a str,
    pub open: bool,
    pub started_at: i64,
    pub resolved_at: Option<i64>,
    pub summary: &'a str,
    pub acknowledged: bool,
}

fn state_badge(open: bool, acknowledged: bool) -> Markup {
    match (open, acknowledged) {
        (true, false) => badge("down"),
        (true, true) => html! { span class="badge degraded" { "acknowledged" } },
        (false, _) => html! { span class="badge up" { "resolved" } },
    }
}

/// The list, refetched when an incident opens, resolves or changes.
pub fn incident_list(rows: &[IncidentRowVm], self_url: &str, now: i64) -> Markup {
    html! {
        div #incident-list hx-get=(self_url) hx-trigger=(format!("sse:{INCIDENTS_EVENT}")) hx-select="#incident-list" hx-swap="outerHTML" {
            @if rows.is_empty() { p.muted { "No incidents." } }
            @else {
                table.stack-sm #incidents {
                    thead { tr { th { "State" } th { "Monitor" } th { "What" } th { "Started" } th { "Duration" } } }
                    tbody {
                        @for r in rows {
                            tr.incident.open[r.open] {
                                td data-label="State" { (state_badge(r.open, r.acknowledged)) }
                                td data-label="Monitor" { a href={ "/incidents/" (r.id) } { (r.monitor_name) } }
                                td data-label="What" { (r.summary) }
                                td data-label="Started" { (ago_el(r.started_at, now)) }
                                td data-label="Duration" { (duration(r.resolved_at.unwrap_or(now) - r.started_at)) @if r.open { " so far" } }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub fn incidents_page(
    frame: &Frame,
    rows: &[IncidentRowVm],
    filter: &str,
    monitor: Option<i64>,
    now: i64,
) -> Markup {
    let self_url = match monitor {
        Some(m) => format!("/incidents?state={filter}&monitor={m}"),
        None => format!("/incidents?state={filter}"),
    };
    layout(
        frame,
        html! {
            h1 { "Incidents" }
            nav.row aria-label="Filter" {
                @for (f, label) in [("all", "All"), ("open", "Open"), ("resolved", "Resolved")] {
                    @if f == filter { strong { (label) } } @else { a href={ "/incidents?state=" (f) } { (label) } }
                }
            }
            (incident_list(rows, &self_url, now))
        },
    )
}

/// The open-incident mark of a monitor (overview rows, the monitor page).
pub fn incident_mark(open: Option<i64>) -> Markup {
    html! {
        @if let Some(id) = open {
            a.incident-mark href={ "/incidents/" (id) } title="Open incident" { "incident" }
        }
    }
}

/// The banner on the overview and the monitor page: open incidents, with
/// links; refetched on every incident change.
pub fn open_incidents_banner(open: &[(i64, &str)], self_url: &str) -> Markup {
    html! {
        div #open-incidents hx-get=(self_url) hx-trigger=(format!("sse:{INCIDENTS_EVENT}")) hx-select="#open-incidents" hx-swap="outerHTML" {
            @if !open.is_empty() {
                div.notice.error role="alert" {
                    (open.len()) " open incident" @if open.len() > 1 { "s" } ": "
                    @for (i, (id, name)) in open.iter().enumerate() {
                        @if i > 0 { ", " }
                        a href={ "/incidents/" (id) } { (name) }
                    }
                }
            }
        }
    }
}

pub struct TimelineVm<'a> {
    pub at: i64,
    pub kind: &'a str,
    pub actor: Option<&'a str>,
    pub detail: Option<&'a str>,
}

pub struct DeliveryVm<'a> {
    pub channel: &'a str,
    pub channel_kind: &'a str,
    pub kind: &'a str,
    pub state: &'a str,
    pub attempts: i64,
    pub last_error: Option<&'a str>,
    pub delivered_at: Option<i64>,
}

pub struct IncidentVm<'a> {
    pub row: IncidentRowVm<'a>,
    pub confirmed_at: i64,
    pub acknowledged_by: Option<&'a str>,
    /// (region, what it saw) of the first failing tick.
    pub regions: Vec<(&'a str, String)>,
    pub timeline: Vec<TimelineVm<'a>>,
    pub deliveries: Vec<DeliveryVm<'a>>,
    pub can_act: bool,
}

pub fn incident_page(frame: &Frame, v: &IncidentVm, now: i64, errors: &[FieldError]) -> Markup {
    let r = &v.row;
    layout(
        frame,
        html! {
            div #incident hx-get={ "/incidents/" (r.id) } hx-trigger=(format!("sse:{INCIDENTS_EVENT}")) hx-select="#incident" hx-swap="outerHTML" {
            h1 { (r.monitor_name) " " (state_badge(r.open, r.acknowledged)) }
            p {
                (r.summary) ". Down since " (time_el(r.started_at))
                @if let Some(end) = r.resolved_at { ", resolved " (time_el(end)) " after " (duration(end - r.started_at)) "." }
                @else { " (" (duration(now - r.started_at)) " so far)." }
            }
            p.muted {
                "Confirmed " (time_el(v.confirmed_at)) "."
                @if let Some(m) = r.monitor_id { " " a href={ "/monitors/" (m) } { "The monitor" } "." }
                @if let Some(by) = v.acknowledged_by { " Acknowledged by " (by) "." }
            }
            @if !v.regions.is_empty() {
                h2 { "Cause" }
                table #cause { thead { tr { th { "Region" } th { "What it saw" } } } tbody { @for (region, what) in &v.regions { tr { td { (region) } td { (what) } } } } }
            }
            @if v.can_act && r.open && !r.acknowledged {
                form.inline method="post" action={ "/incidents/" (r.id) "/ack" } {
                    (csrf_field(frame.csrf)) button type="submit" { "Acknowledge" }
                    span.muted { " stops reminders" }
                }
            }
            h2 { "Notifications" }
            @if v.deliveries.is_empty() { p.muted { "No channel is set for this monitor: " @if let Some(m) = r.monitor_id { a href={ "/monitors/" (m) "/edit" } { "pick channels" } } @else { "pick channels on its form" } "." } }
            @else {
                table.stack-sm #deliveries {
                    thead { tr { th { "Channel" } th { "Message" } th { "State" } th { "Attempts" } th { "Last error" } } }
                    tbody {
                        @for d in &v.deliveries {
                            tr {
                                td data-label="Channel" { (d.channel) " " span.muted { (d.channel_kind) } }
                                td data-label="Message" { (d.kind) }
                                td data-label="State" { span class={ "delivery " (d.state) } { (d.state) } @if let Some(at) = d.delivered_at { " " (ago_el(at, now)) } }
                                td data-label="Attempts" { (d.attempts) }
                                td data-label="Last error" { @if let Some(e) = d.last_error { (e) } }
                            }
                        }
                    }
                }
            }
            h2 { "Timeline" }
            ol #timeline {
                @for e in &v.timeline {
                    li {
                        (time_el(e.at)) " " strong { (e.kind) }
                        @if let Some(a) = e.actor { " by " (a) }
                        @if let Some(d) = e.detail { ": " span.note { (d) } }
                    }
                }
            }
            }
            @if v.can_act {
                form.stack method="post" action={ "/incidents/" (r.id) "/notes" } {
                    (csrf_field(frame.csrf))
                    (field(errors, "text", "Add a note", None, html! { textarea #text name="text" rows="2" aria-invalid=(invalid(errors, "text")) {} }))
                    div.row { button.secondary type="submit" { "Add note" } }
                }
            }
        },
    )
}

pub struct ChannelRowVm<'a> {
    pub id: i64,
    pub name: &'a str,
    pub kind: &'a str,
    pub is_default: bool,
    pub flagged: Option<&'a str>,
    /// Where it goes, without secrets (a host, a topic, a chat).
    pub target: String,
}

/// The channel form's values, as typed; which fields show depends on the kind.
pub struct ChannelFormVm<'a> {
    pub action: &'a str,
    pub kind: &'a str,
    pub name: &'a str,
    pub is_default: bool,
    pub url: &'a str,
    pub secret: &'a str,
    pub target: &'a str,
}

/// What each kind's three generic fields mean: (url, secret, target),
/// each (field name in errors, label, hint); `None` where the kind has no such field.
type FieldLabel = Option<(&'static str, &'static str, &'static str)>;

pub fn channel_fields(kind: &str) -> (FieldLabel, FieldLabel, FieldLabel) {
    match kind {
        "webhook" => (
            Some((
                "settings.url",
                "URL",
                "receives a signed JSON POST (Standard Webhooks)",
            )),
            Some((
                "settings.secret",
                "Signing secret",
                "whsec_ and base64; leave empty to make one",
            )),
            None,
        ),
        "slack" => (
            Some((
                "settings.webhook_url",
                "Incoming webhook URL",
                "from a Slack app's Incoming Webhooks",
            )),
            None,
            None,
        ),
        "discord" => (
            Some((
                "settings.webhook_url",
                "Webhook URL",
                "channel settings → Integrations → Webhooks",
            )),
            None,
            None,
        ),
        "teams" => (
            Some((
                "settings.webhook_url",
                "Workflow webhook URL",
                "a Teams Workflows \"post to a channel when a webhook request is received\" URL",
            )),
            None,
            None,
        ),
        "ntfy" => (
            Some((
                "settings.server_url",
                "Server",
                "https://ntfy.sh or your own",
            )),
            Some(("settings.token", "Access token", "optional")),
            Some(("settings.topic", "Topic", "letters, digits, - and _")),
        ),
        "telegram" => (
            Some(("settings.api_url", "Bot API", "https://api.telegram.org")),
            Some(("settings.bot_token", "Bot token", "from @BotFather")),
            Some(("settings.chat_id", "Chat id", "a number, or @channel")),
        ),
        "pagerduty" => (
            Some((
                "settings.events_url",
                "Events API",
                "https://events.pagerduty.com",
            )),
            Some((
                "settings.routing_key",
                "Integration (routing) key",
                "Events API v2",
            )),
            None,
        ),
        _ => (None, None, None),
    }
}

pub fn channel_form(frame: &Frame, f: &ChannelFormVm, errors: &[FieldError]) -> Markup {
    let (url, secret, target) = channel_fields(f.kind);
    html! {
        form.stack #channel-form method="post" action=(f.action) novalidate {
            (csrf_field(frame.csrf))
            input type="hidden" name="kind" value=(f.kind);
            @if !errors.is_empty() { div.notice.error role="alert" { "Please correct the fields marked below." } }
            (field(errors, "name", "Name", None, html! { input #name name="name" value=(f.name) aria-invalid=(invalid(errors, "name")); }))
            @if let Some((name, label, hint)) = url {
                (field(errors, name, label, Some(hint), html! { input id=(name) name="url" value=(f.url) aria-invalid=(invalid(errors, name)); }))
            }
            @if let Some((name, label, hint)) = secret {
                (field(errors, name, label, Some(hint), html! { input id=(name) name="secret" value=(f.secret) autocomplete="off" aria-invalid=(invalid(errors, name)); }))
            }
            @if let Some((name, label, hint)) = target {
                (field(errors, name, label, Some(hint), html! { input id=(name) name="target" value=(f.target) aria-invalid=(invalid(errors, name)); }))
            }
            label.row for="is_default" { input #is_default type="checkbox" name="is_default" value="on" checked[f.is_default]; "Use for new monitors" }
            div.row { button type="submit" { "Save channel" } a href="/channels" { "Cancel" } }
        }
    }
}

pub fn channels_page(
    frame: &Frame,
    rows: &[ChannelRowVm],
    form: Option<(&ChannelFormVm, &[FieldError])>,
    tested: Option<(&str, Result<(), &str>)>,
    new_secret: Option<&str>,
) -> Markup {
    layout(
        frame,
        html! {
            h1 { "Notification channels" }
            p.muted { "Where incidents are told: each monitor picks its channels on its form; channels marked for new monitors are picked for every monitor created after." }
            @if let Some(secret) = new_secret {
                div.notice role="status" {
                    p { "The webhook's signing secret. Copy it now: it is not shown again. Receivers verify each request's " code { "webhook-signature" } " with it." }
                    code.secret #new-secret { (secret) }
                }
            }
            @if let Some((name, outcome)) = tested {
                @match outcome {
                    Ok(()) => div.notice #test-outcome role="status" { "Test notification delivered to " strong { (name) } "." },
                    Err(e) => div.notice.error #test-outcome role="alert" { "Test notification to " strong { (name) } " failed: " (e) },
                }
            }
            @if rows.is_empty() { p { "No channels yet." } }
            @else {
                table.stack-sm #channels {
                    thead { tr { th { "Name" } th { "Kind" } th { "Goes to" } th { "State" } th {} } }
                    tbody {
                        @for c in rows {
                            tr {
                                td data-label="Name" { (c.name) @if c.is_default { " " span.muted { "(new monitors)" } } }
                                td data-label="Kind" { (c.kind) }
                                td data-label="Goes to" { span.muted { (c.target) } }
                                td data-label="State" { @if let Some(f) = c.flagged { span class="badge down" title=(f) { "refusing" } " " span.muted { (f) } } @else { (badge("up")) } }
                                td {
                                    div.row {
                                        form.inline method="post" action={ "/channels/" (c.id) "/test" } { (csrf_field(frame.csrf)) button.secondary type="submit" { "Send a test notification" } }
                                        a href={ "/channels/" (c.id) } { "Edit" }
                                        form.inline method="post" action={ "/channels/" (c.id) "/delete" } data-confirm="Delete this channel? Monitors stop notifying it." { (csrf_field(frame.csrf)) button.danger type="submit" { "Delete" } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "Add a channel" }
            @match form {
                Some((f, errors)) => (channel_form(frame, f, errors)),
                None => {
                    p.row {
                        @for k in openseer_protocol::channel::KINDS { a.button.secondary href={ "/channels/new?kind=" (k) } { (k) } }
                    }
                }
            }
        },
    )
}

/// The channel checkboxes of the monitor form: (id, name, kind, checked).
pub fn channel_choices(channels: &[(i64, &str, &str, bool)]) -> Markup {
    html! {
        fieldset #channel-choices {
            legend { "Notify" }
            @if channels.is_empty() { p.muted { "No channels yet: " a href="/channels" { "add one" } "." } }
            @for (id, name, kind, checked) in channels {
                label.row for={ "channel-" (id) } { input id={ "channel-" (id) } type="checkbox" name={ "channel." (id) } value="on" checked[*checked]; (name) " " span.muted { (kind) } }
            }
        }
    }
}
