//! Full pages.

use maud::{html, Markup};
use openseer_protocol::monitor::ANY_REGION;
use openseer_protocol::{FieldError, Scope};

use crate::charts::{LatencyPoint, UptimeSegment};
use crate::live::{result_row, results_event, status_cell, status_event, ResultVm, StatusVm};
use crate::time::{ago_el, time_el};
use crate::{csrf_field, layout, Frame};

pub(crate) fn error_for<'a>(errors: &'a [FieldError], field: &str) -> Option<&'a str> {
    errors
        .iter()
        .find(|e| e.field == field)
        .map(|e| e.message.as_str())
}

/// A labelled input with its error, if any, right under it.
pub(crate) fn field(
    errors: &[FieldError],
    name: &str,
    label: &str,
    hint: Option<&str>,
    input: Markup,
) -> Markup {
    let err = error_for(errors, name);
    html! {
        label for=(name) {
            (label)
            @if let Some(h) = hint { small { (h) } }
            (input)
            @if let Some(e) = err { span.field-error id={ (name) "-error" } role="alert" { (e) } }
        }
    }
}

pub(crate) fn invalid(errors: &[FieldError], name: &str) -> &'static str {
    if error_for(errors, name).is_some() {
        "true"
    } else {
        "false"
    }
}

pub fn message_page(frame: &Frame, title: &str, message: &str) -> Markup {
    layout(
        frame,
        html! { h1 { (title) } p { (message) } p { a href="/" { "Back to the dashboard" } } },
    )
}

pub struct SetupForm<'a> {
    pub token: &'a str,
    pub org_name: &'a str,
    pub name: &'a str,
    pub email: &'a str,
}

pub fn setup_page(frame: &Frame, f: &SetupForm, errors: &[FieldError]) -> Markup {
    layout(
        frame,
        html! {
            h1 { "Set up OpenSeer" }
            p { "Create the first administrator and your organization. This link works once." }
            form.stack method="post" action="/setup" {
                (csrf_field(frame.csrf))
                input type="hidden" name="token" value=(f.token);
                (field(errors, "org_name", "Organization", None, html! { input #org_name name="org_name" required value=(f.org_name) aria-invalid=(invalid(errors, "org_name")); }))
                (field(errors, "name", "Your name", None, html! { input #name name="name" required autocomplete="name" value=(f.name) aria-invalid=(invalid(errors, "name")); }))
                (field(errors, "email", "Email", None, html! { input #email name="email" type="email" required autocomplete="username" value=(f.email) aria-invalid=(invalid(errors, "email")); }))
                (field(errors, "password", "Password", Some("at least 12 characters, not a common or easily guessed one"), html! { input #password name="password" type="password" required minlength="12" autocomplete="new-password" aria-invalid=(invalid(errors, "password")); }))
                button type="submit" { "Create administrator" }
            }
        },
    )
}

/// The sign-in form; `next` is where to go once signed in.
pub fn login_page(frame: &Frame, email: &str, next: &str, error: Option<&str>) -> Markup {
    layout(
        frame,
        html! {
            h1 { "Sign in" }
            @if let Some(e) = error { div.notice.error role="alert" { (e) } }
            form.stack method="post" action="/login" {
                (csrf_field(frame.csrf))
                input type="hidden" name="next" value=(next);
                label for="email" { "Email" input #email name="email" type="email" required autocomplete="username" value=(email); }
                label for="password" { "Password" input #password name="password" type="password" required autocomplete="current-password"; }
                button type="submit" { "Sign in" }
            }
        },
    )
}

pub struct MonitorRowVm<'a> {
    pub id: i64,
    pub name: &'a str,
    pub url: &'a str,
    pub interval_seconds: u32,
    pub enabled: bool,
    pub regions: &'a str,
    pub statuses: Vec<StatusVm<'a>>,
    pub uptime_24h: Option<f64>,
    pub p95_24h: Option<f64>,
    /// 24 hourly segments, oldest first.
    pub bar: Vec<UptimeSegment>,
    pub last_check: Option<i64>,
    /// Its open incident, if any.
    pub incident: Option<i64>,
}

/// The overview's filters, as given.
#[derive(Debug, Clone, Default)]
pub struct OverviewQuery {
    pub q: String,
    pub status: String,
    pub region: String,
    pub sort: String,
    pub page: usize,
}

pub struct OverviewVm<'a> {
    pub now: i64,
    pub up: usize,
    pub degraded: usize,
    pub down: usize,
    pub paused: usize,
    pub total: usize,
    /// Monitors that match the filters (before paging).
    pub matching: usize,
    pub per_page: usize,
    pub query: &'a OverviewQuery,
    pub regions: Vec<String>,
    pub rows: Vec<MonitorRowVm<'a>>,
    /// The member may create and change monitors (editor or above).
    pub can_edit: bool,
    /// Open incidents: (incident, monitor name).
    pub open_incidents: Vec<(i64, &'a str)>,
    /// Maintenance windows open now: (name, until).
    pub maintenance: Vec<(&'a str, i64)>,
}

pub const STATUS_FILTERS: [(&str, &str); 6] = [
    ("", "any status"),
    ("up", "up"),
    ("degraded", "degraded"),
    ("down", "down (or error)"),
    ("paused", "paused"),
    ("pending", "no checks yet"),
];

pub const SORTS: [(&str, &str); 3] = [
    ("name", "name"),
    ("status", "status, worst first"),
    ("last", "last check, oldest first"),
];

fn page_link(q: &OverviewQuery, page: usize) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    format!(
        "/?q={}&status={}&region={}&sort={}&page={page}",
        enc(&q.q),
        enc(&q.status),
        enc(&q.region),
        enc(&q.sort)
    )
}

/// The table and pager: the part the filter form swaps in.
pub fn overview_list(v: &OverviewVm) -> Markup {
    let pages = v.matching.div_ceil(v.per_page).max(1);
    let first = (v.query.page - 1) * v.per_page;
    html! {
        div #monitor-list {
            @if v.total == 0 {
                div.card { p { "No monitors yet. " a href="/monitors/new" { "Create the first one" } "." } }
            } @else if v.rows.is_empty() {
                p.muted { "No monitor matches these filters." }
            } @else {
                p.muted #showing { "Showing " (first + 1) "–" (first + v.rows.len()) " of " (v.matching) }
                div.scroll {
                table #monitors {
                    thead { tr {
                        th { "Status" } th { "Name" } th.hide-sm { "URL" } th.hide-sm { "Regions" }
                        th { "Uptime 24 h" } th.hide-sm { "p95 24 h" } th.hide-sm { "Last 24 h" } th { "Last check" }
                    } }
                    tbody {
                        @for r in &v.rows {
                            tr #{ "monitor-" (r.id) } {
                                td {
                                    @if !r.enabled { (crate::badge("paused")) }
                                    @else {
                                        @for s in &r.statuses {
                                            div sse-swap=(status_event(r.id, s.region)) { (status_cell(s)) }
                                        }
                                    }
                                }
                                td { a href={ "/monitors/" (r.id) } { (r.name) } " " small.muted title="check interval" { (r.interval_seconds) " s" } " " (crate::incident_mark(r.incident)) }
                                td.hide-sm { span.muted.url { (r.url) } }
                                td.hide-sm { (r.regions) }
                                td { @match r.uptime_24h { Some(u) => (crate::charts::percent(u)), None => span.muted { "–" } } }
                                td.hide-sm { @match r.p95_24h { Some(p) => { (format!("{p:.0}")) " ms" }, None => span.muted { "–" } } }
                                td.hide-sm.bar { (crate::charts::uptime_bar(&format!("{}: uptime by hour, last 24 hours", r.name), &r.bar)) }
                                td { @match r.last_check { Some(t) => (ago_el(t, v.now)), None => span.muted { "never" } } }
                            }
                        }
                    }
                }
                }
                @if pages > 1 {
                    nav.pager aria-label="Pages" {
                        @if v.query.page > 1 { a href=(page_link(v.query, v.query.page - 1)) rel="prev" { "← Previous" } }
                        span.muted { "Page " (v.query.page) " of " (pages) }
                        @if v.query.page < pages { a href=(page_link(v.query, v.query.page + 1)) rel="next" { "Next →" } }
                    }
                }
            }
        }
    }
}

/// The overview's counts, fetched again whenever a monitor's status changes.
pub fn overview_counts(up: usize, degraded: usize, down: usize, paused: usize) -> Markup {
    html! {
        div.counts #counts role="status" aria-label="Monitor counts" hx-get="/overview/counts" hx-trigger=(format!("sse:{}", crate::live::COUNTS_EVENT)) hx-swap="outerHTML" {
            div.count.up { strong #count-up { (up) } " up" }
            div.count.degraded { strong #count-degraded { (degraded) } " degraded" }
            div.count.down { strong #count-down { (down) } " down" }
            div.count.paused { strong #count-paused { (paused) } " paused" }
        }
    }
}

pub fn overview_page(frame: &Frame, v: &OverviewVm) -> Markup {
    layout(
        frame,
        html! {
            div.row { h1 { "Monitors" } @if v.can_edit { a.button href="/monitors/new" { "New monitor" } } }
            (overview_counts(v.up, v.degraded, v.down, v.paused))
            (crate::open_incidents_banner(&v.open_incidents, "/overview/incidents"))
            (crate::maintenance_notice(&v.maintenance, "/overview/maintenance"))
            form.filters method="get" action="/" role="search" hx-get="/" hx-target="#monitor-list" hx-select="#monitor-list" hx-swap="outerHTML" hx-push-url="true" hx-trigger="input changed delay:300ms from:#q, change" {
                label for="q" { "Search" input #q type="search" name="q" value=(v.query.q) placeholder="name or URL"; }
                label for="status" { "Status" select #status name="status" {
                    @for (val, text) in STATUS_FILTERS { option value=(val) selected[v.query.status == val] { (text) } }
                } }
                label for="region" { "Region" select #region name="region" {
                    option value="" selected[v.query.region.is_empty()] { "any region" }
                    @for r in &v.regions { option value=(r) selected[&v.query.region == r] { @if r == ANY_REGION { "anywhere" } @else { (r) } } }
                } }
                label for="sort" { "Sort by" select #sort name="sort" {
                    @for (val, text) in SORTS { option value=(val) selected[v.query.sort == val] { (text) } }
                } }
                noscript { button type="submit" { "Apply" } }
            }
            (overview_list(v))
        },
    )
}

pub struct MonitorDetailVm<'a> {
    /// The member may edit, pause, check and delete (editor or above).
    pub can_edit: bool,
    /// Its open incidents: (incident, monitor name).
    pub open_incidents: Vec<(i64, &'a str)>,
    /// Maintenance windows covering it now: (name, until).
    pub maintenance: Vec<(&'a str, i64)>,
    pub id: i64,
    pub name: &'a str,
    pub url: &'a str,
    pub method: &'a str,
    pub interval_seconds: u32,
    pub timeout_ms: u32,
    pub regions: &'a str,
    pub expected_status: &'a str,
    pub keyword: Option<&'a str>,
    pub enabled: bool,
    pub statuses: Vec<StatusVm<'a>>,
    /// From the latest HTTPS result: subject, issuer, expiry.
    pub certificate: Option<(&'a str, &'a str, i64)>,
    /// Assertions as form lines.
    pub assertions: Vec<String>,
    /// 24 h, 7 d, 30 d, 90 d.
    pub uptimes: Vec<UptimeVm>,
    /// The chart's range ("24h") and region ("" for all), and every region.
    pub range: &'a str,
    pub region: &'a str,
    pub all_regions: Vec<String>,
    pub chart: Vec<LatencyPoint>,
    /// Over the chart's range: p50, p95, p99, checks with a latency.
    pub percentiles: (Option<f64>, Option<f64>, Option<f64>, i64),
    /// Mean DNS, connect, TLS, first byte, transfer over the chart's range.
    pub phases: Option<[f64; 5]>,
    pub days: Vec<UptimeSegment>,
    pub down_periods: Vec<DownPeriodVm>,
    /// The monitor's regions no healthy worker serves now ("any": none
    /// at all): it is not being checked there.
    pub unserved: Vec<String>,
    /// The member may create enrollment tokens (admin or above).
    pub can_enroll: bool,
    /// "Latest checks" continues before this (the last row's time).
    pub older: Option<i64>,
    /// "Latest checks" is an older page, not the newest.
    pub paged: bool,
}

/// A run of failed checks in one region: from the first failure to the
/// first check that found the target up again (`None`: still down).
pub struct DownPeriodVm {
    pub region: String,
    pub start: i64,
    pub end: Option<i64>,
    pub checks: usize,
}

pub const RANGES: [&str; 5] = ["1h", "24h", "7d", "30d", "90d"];

/// What "Check now" answers: the check was asked for (at `at`).
pub fn check_requested(enabled: bool, at: i64) -> Markup {
    html! {
        @if enabled { "Check requested " (time_el(at)) ": the result appears below." }
        @else { "Paused: resume the monitor to check it." }
    }
}

/// Uptime over one range, and how much of it was maintenance.
pub struct UptimeVm {
    pub label: &'static str,
    pub uptime: Option<f64>,
    pub maintenance_ms: i64,
}

fn uptime_tiles(id: i64, region: &str, uptimes: &[UptimeVm]) -> Markup {
    html! {
        div.tiles #uptime role="group" aria-label="Uptime" hx-get={ "/monitors/" (id) "/summary?region=" (region) } hx-trigger=(format!("sse:{}", crate::live::SUMMARY_EVENT)) hx-swap="outerHTML" {
            @for u in uptimes {
                div.tile {
                    span.muted { "Uptime " (u.label) }
                    strong { @match u.uptime { Some(x) => (crate::charts::percent(x)), None => "–" } }
                    @if u.maintenance_ms > 0 { small.muted.maintenance-time { (duration(u.maintenance_ms)) " in maintenance" } }
                }
            }
        }
    }
}

fn down_periods(periods: &[DownPeriodVm]) -> Markup {
    html! { section #down-periods-section { (down_periods_content(periods)) } }
}

fn down_periods_content(periods: &[DownPeriodVm]) -> Markup {
    html! {
            h2 { "Recent down periods" }
            @if periods.is_empty() { p.muted #down-periods { "None in the last 7 days." } }
            @else {
                div.scroll { table #down-periods {
                    thead { tr { th { "Region" } th { "Started" } th { "Ended" } th { "Lasted" } th { "Failed checks" } } }
                    tbody {
                        @for d in periods {
                            tr {
                                td { @if d.region == ANY_REGION { "anywhere" } @else { (d.region) } }
                                td { (time_el(d.start)) }
                                td { @match d.end { Some(e) => (time_el(e)), None => strong { "still down" } } }
                                td { @if let Some(e) = d.end { (duration(e - d.start)) } }
                                td { (d.checks) }
                            }
                        }
                    }
                } }
            }
    }
}

/// A monitor page's uptime tiles and, swapped in where they are, its down
/// periods: what the page fetches again when the monitor has new results.
pub fn monitor_summary(
    id: i64,
    region: &str,
    uptimes: &[UptimeVm],
    periods: &[DownPeriodVm],
) -> Markup {
    html! {
        (uptime_tiles(id, region, uptimes))
        section #down-periods-section hx-swap-oob="true" { (down_periods_content(periods)) }
    }
}

/// The monitor is not being checked in `region`: say so, and what to do.
fn unserved_notice(region: &str, can_enroll: bool, csrf: &str) -> Markup {
    html! {
        div.notice.error.unserved role="alert" {
            @if region == ANY_REGION {
                p { strong { "No healthy worker" } " in this organization: this monitor is not being checked." }
            } @else {
                p { "Region " strong { (region) } " has no healthy worker: this monitor is not being checked there." }
            }
            @if can_enroll {
                form.inline method="post" action="/workers/enrollment-tokens" {
                    (csrf_field(csrf))
                    input type="hidden" name="name" value=(if region == ANY_REGION { "workers".to_string() } else { format!("{region} workers") });
                    input type="hidden" name="region" value=(if region == ANY_REGION { "" } else { region });
                    input type="hidden" name="max_uses" value="1";
                    button.secondary type="submit" { "Enroll a worker" }
                }
                " " span.muted { "creates a one-use token and shows the command that starts a worker with it." }
            } @else {
                p.muted { "Ask an admin of the organization to enroll a worker" @if region != ANY_REGION { " in " (region) } "." }
            }
        }
    }
}

fn monitor_link(id: i64, range: &str, region: &str) -> String {
    format!("/monitors/{id}?range={range}&region={region}")
}

fn duration(ms: i64) -> String {
    let s = ms / 1000;
    match s {
        0..=119 => format!("{s} s"),
        120..=7_199 => format!("{} min", s / 60),
        7_200..=172_799 => format!("{:.1} h", s as f64 / 3600.0),
        _ => format!("{:.1} d", s as f64 / 86_400.0),
    }
}

pub fn monitor_page(frame: &Frame, m: &MonitorDetailVm, results: &[ResultVm]) -> Markup {
    layout(
        frame,
        html! {
            div.row {
                h1 { (m.name) }
                @if !m.enabled { (crate::badge("paused")) }
            }
            p.muted.url { (m.method) " " (m.url) " · every " (m.interval_seconds) " s · timeout " (m.timeout_ms) " ms · regions " (m.regions) " · expects " (m.expected_status)
                @if let Some(k) = m.keyword { " · body contains “" (k) "”" }
                " · " a href={ "/incidents?monitor=" (m.id) } { "incidents" } }
            (crate::open_incidents_banner(&m.open_incidents, &format!("/overview/incidents?monitor={}", m.id)))
            (crate::maintenance_notice(&m.maintenance, &format!("/overview/maintenance?monitor={}", m.id)))
            @if !m.assertions.is_empty() {
                p.muted #assertions { "Assertions: " @for (i, a) in m.assertions.iter().enumerate() { @if i > 0 { " · " } code { (a) } } }
            }
            @for r in &m.unserved { (unserved_notice(r, m.can_enroll, frame.csrf)) }
            @if m.can_edit { div.row {
                a.button href={ "/monitors/" (m.id) "/edit" } { "Edit" }
                form.inline method="post" action={ "/monitors/" (m.id) (if m.enabled { "/pause" } else { "/resume" }) } {
                    (csrf_field(frame.csrf))
                    button.secondary type="submit" { (if m.enabled { "Pause" } else { "Resume" }) }
                }
                @if m.enabled {
                    // Without a reload: the result arrives on the live stream.
                    form.inline method="post" action={ "/monitors/" (m.id) "/check" } hx-post={ "/monitors/" (m.id) "/check" } hx-target="#check-requested" hx-swap="innerHTML" {
                        (csrf_field(frame.csrf))
                        button.secondary type="submit" { "Check now" }
                    }
                }
                form.inline method="post" action={ "/monitors/" (m.id) "/delete" } data-confirm="Delete this monitor and all its results?" {
                    (csrf_field(frame.csrf))
                    button.danger type="submit" { "Delete" }
                }
                span #check-requested role="status" aria-live="polite" {}
            } }
            h2 { "Current status" }
            div.card #current {
                @if !m.enabled { p { "Paused: no checks run until you resume it." } }
                @else {
                    @for s in &m.statuses { div sse-swap=(status_event(m.id, s.region)) { (status_cell(s)) } }
                }
            }
            (uptime_tiles(m.id, m.region, &m.uptimes))
            h2 #latency-heading { "Latency" }
            nav.selector aria-label="Range" {
                @for r in RANGES {
                    @if r == m.range { a.current href=(monitor_link(m.id, r, m.region)) aria-current="true" { (r) } }
                    @else { a href=(monitor_link(m.id, r, m.region)) { (r) } }
                }
            }
            @if m.all_regions.len() > 1 {
                nav.selector aria-label="Region" {
                    @if m.region.is_empty() { a.current href=(monitor_link(m.id, m.range, "")) aria-current="true" { "all regions" } }
                    @else { a href=(monitor_link(m.id, m.range, "")) { "all regions" } }
                    @for r in &m.all_regions {
                        @if r == m.region { a.current href=(monitor_link(m.id, m.range, r)) aria-current="true" { (r) } }
                        @else { a href=(monitor_link(m.id, m.range, r)) { (r) } }
                    }
                }
            }
            (crate::charts::latency_chart(&format!("Latency percentiles, last {}", m.range), &m.chart))
            p #percentiles {
                @let (p50, p95, p99, n) = m.percentiles;
                @if n == 0 { span.muted { "No answers in this range." } }
                @else {
                    "p50 " strong { (format!("{:.1}", p50.unwrap_or(0.0))) " ms" } " · p95 " strong { (format!("{:.1}", p95.unwrap_or(0.0))) " ms" }
                    " · p99 " strong { (format!("{:.1}", p99.unwrap_or(0.0))) " ms" } span.muted { " over " (n) " checks" }
                }
            }
            @if let Some(p) = m.phases {
                h3 { "Where the time goes (mean, last " (m.range) ")" }
                div.scroll { table.phases #phases {
                    thead { tr { th { "DNS" } th { "Connect" } th { "TLS" } th { "First byte" } th { "Transfer" } } }
                    tbody { tr { @for v in p { td { (format!("{v:.1}")) " ms" } } } }
                } }
            }
            h2 { "Uptime, last 90 days" }
            (crate::charts::uptime_bar("Uptime by day, last 90 days", &m.days))
            (down_periods(&m.down_periods))
            @if let Some((subject, issuer, not_after)) = m.certificate {
                p #certificate { "Certificate " (subject) " from " (issuer) ", expires " (time_el(not_after)) "." }
            }
            h2 #latest-checks { "Latest checks" }
            div.scroll { table #results {
                thead { tr { th { "Scheduled" } th { "Region" } th { "Outcome" } th { "Code" } th { "Time" br; small.muted title="DNS · connect · TLS · first byte · transfer, in ms" { "dns · tcp · tls · ttfb · body" } } th.hide-sm { "Body" } th { "Error" } } }
                // New checks go on top of the newest page only, not an older one.
                tbody sse-swap=[(!m.paged).then(|| results_event(m.id))] hx-swap="afterbegin" {
                    @for r in results { (result_row(r)) }
                    // Hidden by the stylesheet as soon as a result row precedes it.
                    tr #no-results { td.muted colspan="7" { "No checks yet: the first one runs at the next tick." } }
                }
            } }
            @if m.older.is_some() || m.paged {
                nav.pager aria-label="Checks" {
                    @if m.paged { a href={ (monitor_link(m.id, m.range, m.region)) "#latest-checks" } { "← Newest" } }
                    @if let Some(before) = m.older { a href={ (monitor_link(m.id, m.range, m.region)) "&before=" (before) "#latest-checks" } rel="next" { "Older checks →" } }
                }
            }
        },
    )
}

/// The regions typed in the form that no healthy worker serves.
fn unserved_in_form<'a>(typed: &'a str, served: &[(String, usize)]) -> Vec<&'a str> {
    typed
        .split(',')
        .map(str::trim)
        .filter(|r| openseer_protocol::monitor::is_valid_region(r) && *r != ANY_REGION)
        .filter(|r| !served.iter().any(|(s, _)| s == r))
        .collect()
}

/// The monitor form's values, as typed.
pub struct MonitorFormVm<'a> {
    pub name: &'a str,
    pub url: &'a str,
    pub method: &'a str,
    pub headers: &'a str,
    pub body: &'a str,
    pub interval_seconds: &'a str,
    pub timeout_ms: &'a str,
    pub regions: &'a str,
    pub expected_status: &'a str,
    pub keyword: &'a str,
    pub enabled: bool,
    pub follow_redirects: bool,
    pub max_redirects: &'a str,
    pub keep_secrets_on_redirect: bool,
    pub decompress: bool,
    pub verify_tls: bool,
    pub ip_family: &'a str,
    pub assertions: &'a str,
    pub degraded_above_ms: &'a str,
    pub cert_expiry_days: &'a str,
    pub down_after: &'a str,
    pub up_after: &'a str,
    pub fail_quorum: &'a str,
    pub degraded_fails: bool,
    pub remind_every_minutes: &'a str,
    /// The monitor being edited (empty for a new one).
    pub monitor_id: &'a str,
}

pub fn monitor_form_page(
    frame: &Frame,
    heading: &str,
    action: &str,
    f: &MonitorFormVm,
    served: &[(String, usize)],
    channels: Markup,
    errors: &[FieldError],
) -> Markup {
    let unserved = unserved_in_form(f.regions, served);
    layout(
        frame,
        html! {
            h1 { (heading) }
            @if !errors.is_empty() { div.notice.error role="alert" { "Please correct the fields marked below." } }
            form.stack method="post" action=(action) novalidate {
                (csrf_field(frame.csrf))
                @if !f.monitor_id.is_empty() { input type="hidden" name="monitor_id" value=(f.monitor_id); }
                (field(errors, "name", "Name", None, html! { input #name name="name" value=(f.name) aria-invalid=(invalid(errors, "name")); }))
                (field(errors, "url", "URL", Some("http:// or https://"), html! { input #url name="url" type="url" value=(f.url) aria-invalid=(invalid(errors, "url")); }))
                (field(errors, "method", "Method", None, html! {
                    select #method name="method" {
                        @for m in openseer_protocol::monitor::METHODS { option value=(m) selected[*m == f.method] { (m) } }
                    }
                }))
                (field(errors, "headers", "Headers", Some("one per line, Name: value; stored values other than Accept, Content-Type and User-Agent show as <hidden>: leave <hidden> to keep one"), html! { textarea #headers name="headers" rows="3" aria-invalid=(invalid(errors, "headers")) { (f.headers) } }))
                (field(errors, "body", "Request body", Some("optional; needs POST, PUT or PATCH; a stored body shows as <hidden>: leave it to keep the body"), html! { textarea #body name="body" rows="3" aria-invalid=(invalid(errors, "body")) { (f.body) } }))
                (field(errors, "interval_seconds", "Interval (seconds)", Some("1 to 86400"), html! { input #interval_seconds name="interval_seconds" inputmode="numeric" value=(f.interval_seconds) aria-invalid=(invalid(errors, "interval_seconds")); }))
                (field(errors, "timeout_ms", "Timeout (milliseconds)", Some("at most the interval and at most 60000"), html! { input #timeout_ms name="timeout_ms" inputmode="numeric" value=(f.timeout_ms) aria-invalid=(invalid(errors, "timeout_ms")); }))
                (field(errors, "regions", "Regions", Some("comma separated; empty or \"any\" for any worker's region"), html! { input #regions name="regions" value=(f.regions) aria-invalid=(invalid(errors, "regions")); }))
                p.muted #region-hint {
                    @if served.is_empty() { "No healthy worker yet: a monitor is checked once a worker runs. " a href="/workers" { "Enroll a worker" } "." }
                    @else {
                        "Healthy workers now: "
                        @for (i, (r, n)) in served.iter().enumerate() { @if i > 0 { ", " } (r) " (" (n) ")" }
                        "."
                    }
                }
                @if !unserved.is_empty() && !served.is_empty() {
                    div.notice.error #region-warning role="alert" {
                        "No healthy worker in " @for (i, r) in unserved.iter().enumerate() { @if i > 0 { ", " } strong { (r) } }
                        ": the monitor will not be checked there until one runs. " a href={ "/workers?region=" (unserved[0]) } { "Enroll a worker" } "."
                    }
                }
                (field(errors, "expected_status", "Expected status codes", Some("e.g. 200-399 or 200,204"), html! { input #expected_status name="expected_status" value=(f.expected_status) aria-invalid=(invalid(errors, "expected_status")); }))
                (field(errors, "keyword", "Body must contain", Some("optional"), html! { input #keyword name="keyword" value=(f.keyword) aria-invalid=(invalid(errors, "keyword")); }))
            (field(errors, "assertions", "Assertions", Some("one per line: body contains TEXT · body not contains TEXT · body matches REGEX · json $.path == VALUE · json $.path exists · header NAME == VALUE · header NAME contains TEXT"), html! { textarea #assertions name="assertions" rows="4" aria-invalid=(invalid(errors, "assertions")) { (f.assertions) } }))
            (field(errors, "degraded_above_ms", "Degraded above (milliseconds)", Some("optional; slower answers count as degraded"), html! { input #degraded_above_ms name="degraded_above_ms" inputmode="numeric" value=(f.degraded_above_ms) aria-invalid=(invalid(errors, "degraded_above_ms")); }))
            (field(errors, "cert_expiry_days", "Certificate warning (days)", Some("optional; degraded when the certificate expires sooner"), html! { input #cert_expiry_days name="cert_expiry_days" inputmode="numeric" value=(f.cert_expiry_days) aria-invalid=(invalid(errors, "cert_expiry_days")); }))
            label.row for="follow_redirects" { input #follow_redirects type="checkbox" name="follow_redirects" value="on" checked[f.follow_redirects]; "Follow redirects" }
            (field(errors, "max_redirects", "Redirects at most", None, html! { input #max_redirects name="max_redirects" inputmode="numeric" value=(f.max_redirects) aria-invalid=(invalid(errors, "max_redirects")); }))
            label.row for="keep_secrets_on_redirect" { input #keep_secrets_on_redirect type="checkbox" name="keep_secrets_on_redirect" value="on" checked[f.keep_secrets_on_redirect]; "Send secret headers and the body on redirects to other hosts" }
            label.row for="decompress" { input #decompress type="checkbox" name="decompress" value="on" checked[f.decompress]; "Decode compressed bodies (gzip, deflate, br) for the keyword and assertions" }
            label.row for="verify_tls" { input #verify_tls type="checkbox" name="verify_tls" value="on" checked[f.verify_tls]; "Verify TLS certificates" }
            (field(errors, "ip_family", "IP family", None, html! {
                select #ip_family name="ip_family" {
                    @for (v, label) in [("auto", "auto"), ("v4", "IPv4 only"), ("v6", "IPv6 only")] { option value=(v) selected[v == f.ip_family] { (label) } }
                }
            }))
            fieldset {
                legend { "Alerting" }
                (field(errors, "alert.down_after", "Down after (failing checks in a row)", Some("1 to 100"), html! { input id="alert.down_after" name="down_after" inputmode="numeric" value=(f.down_after) aria-invalid=(invalid(errors, "alert.down_after")); }))
                (field(errors, "alert.up_after", "Recovered after (passing checks in a row)", Some("1 to 100"), html! { input id="alert.up_after" name="up_after" inputmode="numeric" value=(f.up_after) aria-invalid=(invalid(errors, "alert.up_after")); }))
                (field(errors, "alert.fail_quorum", "Failing regions needed", Some("optional; a check fails when at least this many of the regions that checked it failed it; empty: a majority"), html! { input id="alert.fail_quorum" name="fail_quorum" inputmode="numeric" value=(f.fail_quorum) aria-invalid=(invalid(errors, "alert.fail_quorum")); }))
                (field(errors, "alert.remind_every_minutes", "Remind every (minutes)", Some("optional; while an incident is open and not acknowledged"), html! { input id="alert.remind_every_minutes" name="remind_every_minutes" inputmode="numeric" value=(f.remind_every_minutes) aria-invalid=(invalid(errors, "alert.remind_every_minutes")); }))
                label.row for="degraded_fails" { input #degraded_fails type="checkbox" name="degraded_fails" value="on" checked[f.degraded_fails]; "Degraded results (slow, certificate expiring) count as failing" }
            }
            input type="hidden" name="channels_shown" value="1";
            (channels)
                label.row for="enabled" { input #enabled type="checkbox" name="enabled" value="on" checked[f.enabled]; "Enabled" }
                div.row {
                    button type="submit" { "Save" }
                    button.secondary type="button" hx-post="/monitors/test" hx-target="#test-result" hx-swap="innerHTML" hx-indicator="#testing" { "Test this request" }
                    span #testing.htmx-indicator.muted { "testing…" }
                    a href="/" { "Cancel" }
                }
                div #test-result aria-live="polite" {}
            }
        },
    )
}

pub struct WorkerVm<'a> {
    pub id: i64,
    pub name: &'a str,
    pub region: &'a str,
    pub version: &'a str,
    pub capabilities: &'a str,
    pub last_seen_at: i64,
    pub in_flight: usize,
    pub revoked: bool,
    pub healthy: bool,
}

/// A region: its workers and the monitors that are checked there.
pub struct RegionVm {
    pub name: String,
    pub workers: usize,
    pub healthy: usize,
    pub monitors: usize,
}

impl RegionVm {
    pub fn named(name: &str) -> RegionVm {
        RegionVm {
            name: name.to_string(),
            workers: 0,
            healthy: 0,
            monitors: 0,
        }
    }
}

pub struct EnrollmentTokenVm<'a> {
    pub id: i64,
    pub name: &'a str,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub uses: i64,
    pub max_uses: Option<i64>,
    /// "active", "revoked", "expired" or "used up".
    pub status: &'a str,
}

pub struct WorkersVm<'a> {
    pub now: i64,
    pub workers: &'a [WorkerVm<'a>],
    pub regions: &'a [RegionVm],
    /// Enabled monitors that run on any worker, and the healthy workers.
    pub anywhere: usize,
    pub any_healthy: usize,
    pub tokens: &'a [EnrollmentTokenVm<'a>],
    /// A token just created, and the command that starts a worker with it.
    pub new_token: Option<(&'a str, &'a str)>,
    /// The region the enrollment form is filled in for ("" for none).
    pub region: &'a str,
    /// Admins and owners manage tokens and revoke workers.
    pub can_manage: bool,
}

pub fn workers_page(frame: &Frame, v: &WorkersVm, errors: &[FieldError]) -> Markup {
    let (now, can_manage) = (v.now, v.can_manage);
    layout(
        frame,
        html! {
            h1 { "Workers" }
            @if let Some((t, command)) = v.new_token {
                div.notice role="status" {
                    p { "New enrollment token. Copy it now: it is not shown again." }
                    code.secret #new-token { (t) }
                    p { "Start a worker with it, on the machine that should run the checks:" }
                    code.secret #enroll-command { (command) }
                }
            }
            // Refetched whenever a worker enrolls, is revoked, goes quiet or comes back.
            div #worker-list hx-get="/workers" hx-trigger=(format!("sse:{}", crate::live::WORKERS_EVENT)) hx-select="#worker-list" hx-swap="outerHTML" {
            h2 { "Regions" }
            @let warnings: Vec<&RegionVm> = v.regions.iter().filter(|r| r.monitors > 0 && r.healthy == 0).collect();
            @for r in &warnings {
                div.notice.error role="alert" { "Region " strong { (r.name) } " has no healthy worker: " (r.monitors) " monitor(s) there are not being checked." }
            }
            @if v.anywhere > 0 && v.any_healthy == 0 {
                div.notice.error role="alert" { "No healthy worker: " (v.anywhere) " monitor(s) that run anywhere are not being checked." }
            }
            @if v.anywhere > 0 { p.muted #anywhere { (v.anywhere) " monitor(s) run on any worker (" (v.any_healthy) " healthy)." } }
            @if v.regions.is_empty() { p.muted { "No regions yet: enroll a worker." } }
            @else {
                table #regions {
                    thead { tr { th { "Region" } th { "Healthy workers" } th { "Workers" } th { "Monitors" } } }
                    tbody { @for r in v.regions { tr { td { (r.name) } td { (r.healthy) } td { (r.workers) } td { (r.monitors) } } } }
                }
            }
            h2 { "Workers" }
            @if v.workers.is_empty() { p { "No workers have enrolled yet." } }
            @else {
                table.stack-sm #workers {
                    thead { tr { th { "Name" } th { "Region" } th.hide-sm { "Version" } th.hide-sm { "Capabilities" } th { "Last seen" } th { "In flight" } th { "Status" } th {} } }
                    tbody {
                        @for w in v.workers {
                            tr {
                                td data-label="Name" { (w.name) " " span.muted { "#" (w.id) } }
                                td data-label="Region" { (w.region) }
                                td.hide-sm data-label="Version" { (w.version) }
                                td.hide-sm data-label="Capabilities" { span.muted { (w.capabilities) } }
                                td data-label="Last seen" { (ago_el(w.last_seen_at, now)) }
                                td data-label="In flight" { (w.in_flight) }
                                td data-label="Status" { @if w.revoked { (crate::badge("revoked")) } @else if w.healthy { (crate::badge("up")) } @else { (crate::badge("down")) } }
                                td { @if can_manage && !w.revoked {
                                    form.inline method="post" action={ "/workers/" (w.id) "/revoke" } data-confirm="Revoke this worker? It stops at once." {
                                        (csrf_field(frame.csrf)) button.danger type="submit" { "Revoke" }
                                    }
                                } }
                            }
                        }
                    }
                }
            }
            }
            h2 { "Enrollment tokens" }
            @if can_manage {
                @if !errors.is_empty() { div.notice.error role="alert" { "Please correct the fields marked below." } }
                form.row method="post" action="/workers/enrollment-tokens" {
                    (csrf_field(frame.csrf))
                    label for="token-name" { "Name" input #token-name name="name" required placeholder="eu-west workers" value=(if v.region.is_empty() { String::new() } else { format!("{} workers", v.region) }); }
                    (field(errors, "region", "Region", Some("for the start command"), html! { input #region name="region" size="10" placeholder="eu-west" value=(v.region) aria-invalid=(invalid(errors, "region")); }))
                    (field(errors, "expires_days", "Expires after (days)", Some("empty: never"), html! { input #expires_days name="expires_days" inputmode="numeric" size="6" aria-invalid=(invalid(errors, "expires_days")); }))
                    (field(errors, "max_uses", "Workers at most", Some("empty: any number"), html! { input #max_uses name="max_uses" inputmode="numeric" size="6" aria-invalid=(invalid(errors, "max_uses")); }))
                    button type="submit" { "Create enrollment token" }
                }
            }
            table.stack-sm #enrollment-tokens {
                thead { tr { th { "Name" } th { "Created" } th { "Expires" } th { "Used" } th { "Status" } th {} } }
                tbody {
                    @for t in v.tokens {
                        tr {
                            td data-label="Name" { (t.name) }
                            td data-label="Created" { (time_el(t.created_at)) }
                            td data-label="Expires" { @if let Some(e) = t.expires_at { (time_el(e)) } @else { "never" } }
                            td data-label="Used" { (t.uses) @if let Some(m) = t.max_uses { " of " (m) } }
                            td data-label="Status" { (t.status) }
                            td { @if can_manage && t.status != "revoked" {
                                form.inline method="post" action={ "/workers/enrollment-tokens/" (t.id) "/revoke" } {
                                    (csrf_field(frame.csrf)) button.secondary type="submit" { "Revoke" }
                                }
                            } }
                        }
                    }
                }
            }
        },
    )
}

pub struct ApiTokenVm<'a> {
    pub id: i64,
    pub name: &'a str,
    pub scope: Scope,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    /// "active", "expired" or "revoked".
    pub status: &'a str,
}

/// The user's API tokens in this organization, and the form for a new one
/// offering the `scopes` the user's role allows.
pub fn api_tokens_page(
    frame: &Frame,
    tokens: &[ApiTokenVm],
    scopes: &[Scope],
    new_token: Option<&str>,
    errors: &[FieldError],
) -> Markup {
    layout(
        frame,
        html! {
            h1 { "API tokens" }
            @if let Some(t) = new_token {
                div.notice role="status" {
                    p { "New API token. Copy it now: it is not shown again." }
                    code.secret #new-token { (t) }
                    p.muted { "Use it as " code { "Authorization: Bearer TOKEN" } " on /api/v1/." }
                }
            }
            p.muted { "A token acts in this organization as you, within its scope: read (GET requests), write (also changes to monitors) or admin (also the audit log). It stops working when it expires, when you revoke it or when you leave the organization." }
            @if !errors.is_empty() { div.notice.error role="alert" { "Please correct the fields marked below." } }
            form.row method="post" action="/settings/tokens" {
                (csrf_field(frame.csrf))
                label for="token-name" { "Name" input #token-name name="name" required placeholder="deploy script"; }
                (field(errors, "scope", "Scope", None, html! {
                    select #scope name="scope" aria-invalid=(invalid(errors, "scope")) {
                        @for sc in scopes { option value=(sc.as_str()) selected[*sc == Scope::Read] { (sc.as_str()) } }
                    }
                }))
                (field(errors, "expires_days", "Expires after (days)", Some("empty: never"), html! { input #expires_days name="expires_days" inputmode="numeric" size="6" value="90" aria-invalid=(invalid(errors, "expires_days")); }))
                button type="submit" { "Create API token" }
            }
            table.stack-sm #api-tokens {
                thead { tr { th { "Name" } th { "Scope" } th { "Created" } th { "Expires" } th { "Last used" } th { "Status" } th {} } }
                tbody {
                    @for t in tokens {
                        tr {
                            td data-label="Name" { (t.name) }
                            td data-label="Scope" { (t.scope.as_str()) }
                            td data-label="Created" { (time_el(t.created_at)) }
                            td data-label="Expires" { @if let Some(e) = t.expires_at { (time_el(e)) } @else { "never" } }
                            td data-label="Last used" { @if let Some(u) = t.last_used_at { (time_el(u)) } @else { "never" } }
                            td data-label="Status" { (t.status) }
                            td { @if t.status == "active" {
                                form.inline method="post" action={ "/settings/tokens/" (t.id) "/revoke" } {
                                    (csrf_field(frame.csrf)) button.secondary type="submit" { "Revoke" }
                                }
                            } }
                        }
                    }
                }
            }
        },
    )
}

pub struct ProfileVm<'a> {
    pub name: &'a str,
    pub email: &'a str,
    pub two_factor: bool,
    pub notice: Option<&'a str>,
}

pub fn profile_page(frame: &Frame, v: &ProfileVm, errors: &[FieldError]) -> Markup {
    layout(
        frame,
        html! {
            h1 { "Profile" }
            @if let Some(n) = v.notice { div.notice role="status" { (n) } }
            form.stack method="post" action="/settings/profile" {
                (csrf_field(frame.csrf))
                label for="email" { "Email" input #email value=(v.email) readonly; }
                (field(errors, "name", "Name", None, html! { input #name name="name" required value=(v.name) aria-invalid=(invalid(errors, "name")); }))
                button type="submit" { "Save" }
            }
            h2 { "Two-factor sign-in" }
            p {
                @if v.two_factor { "On: signing in asks for a code from your authenticator app. " }
                @else { "Off: signing in asks only for your password. " }
                a href="/settings/2fa" { "Manage two-factor sign-in" }
            }
            h2 { "Change password" }
            p.muted { "Every other session of yours is signed out." }
            form.stack method="post" action="/settings/password" {
                (csrf_field(frame.csrf))
                (field(errors, "current_password", "Current password", None, html! { input #current_password name="current_password" type="password" required autocomplete="current-password" aria-invalid=(invalid(errors, "current_password")); }))
                (field(errors, "new_password", "New password", Some("at least 12 characters, not a common or easily guessed one"), html! { input #new_password name="new_password" type="password" required minlength="12" autocomplete="new-password" aria-invalid=(invalid(errors, "new_password")); }))
                (field(errors, "confirm_password", "New password again", None, html! { input #confirm_password name="confirm_password" type="password" required autocomplete="new-password" aria-invalid=(invalid(errors, "confirm_password")); }))
                button type="submit" { "Change password" }
            }
        },
    )
}

/// What "test this request" found.
pub enum TestResultVm<'a> {
    Invalid(&'a [FieldError]),
    NoWorker {
        region: &'a str,
        seconds: u64,
    },
    Checked {
        region: &'a str,
        outcome: &'a str,
        status_code: Option<u16>,
        total_ms: f64,
        phases: Option<[f64; 5]>,
        error: Option<&'a str>,
        /// (assertion, passed, detail)
        assertions: Vec<(&'a str, bool, Option<&'a str>)>,
    },
}

pub fn test_result(v: &TestResultVm) -> Markup {
    html! {
        div.card #test-outcome role="status" {
            @match v {
                TestResultVm::Invalid(errors) => {
                    p { strong { "Not tested: " } "correct these fields first." }
                    ul { @for e in *errors { li { code { (e.field) } ": " (e.message) } } }
                }
                TestResultVm::NoWorker { region, seconds } => {
                    p { strong { "No answer: " } "no worker in region " code { (region) } " ran the check within " (seconds) " s. Is one enrolled and healthy?" }
                }
                TestResultVm::Checked { region, outcome, status_code, total_ms, phases, error, assertions } => {
                    p {
                        (crate::badge(outcome)) " from " code { (region) }
                        @if let Some(c) = status_code { " · HTTP " (c) }
                        " · " (format!("{total_ms:.1}")) " ms"
                    }
                    @if let Some(p) = phases {
                        p.muted { "DNS " (format!("{:.1}", p[0])) " · connect " (format!("{:.1}", p[1])) " · TLS " (format!("{:.1}", p[2])) " · first byte " (format!("{:.1}", p[3])) " · transfer " (format!("{:.1}", p[4])) " ms" }
                    }
                    @if let Some(e) = error { p { "Error: " (e) } }
                    @if !assertions.is_empty() {
                        ul { @for (a, ok, detail) in assertions {
                            li { (if *ok { "✓ " } else { "✗ " }) code { (a) } @if let Some(d) = detail { " — " (d) } }
                        } }
                    }
                }
            }
        }
    }
}

/// One node on the cluster page.
pub struct ClusterNodeVm {
    pub id: u64,
    pub http: String,
    /// Answered this page's request for its state.
    pub reachable: bool,
    pub role: String,
    pub term: u64,
    pub leader: Option<u64>,
    pub shards: usize,
    pub checks_per_second: Option<f64>,
    pub fenced: bool,
    pub leaving: bool,
    pub voter: bool,
    pub this_node: bool,
}

pub struct ClusterVm {
    pub leader: Option<u64>,
    pub term: u64,
    pub nodes: Vec<ClusterNodeVm>,
    /// shard -> owner, in shard order.
    pub shard_map: Vec<Option<u64>>,
}

/// The cluster page; `None`: this node runs alone.
/// The cluster page; only the instance's operators see it, and they may
/// remove nodes.
pub fn cluster_page(frame: &Frame, cluster: Option<&ClusterVm>) -> Markup {
    layout(
        frame,
        html! {
            h1 { "Cluster" }
            @match cluster {
                None => p.muted { "This node runs alone (no cluster configured): it schedules every shard itself." },
                Some(c) => {
                    p {
                        "Leader: " strong #leader { (c.leader.map_or("none".to_string(), |l| format!("node {l}"))) }
                        " · term " (c.term) " · " (c.nodes.len()) " node(s)"
                    }
                    table.stack-sm #nodes {
                        thead { tr { th { "Node" } th { "Address" } th { "Health" } th { "Role" } th { "Term" } th { "Shards" } th { "Checks/s" } th { "Actions" } } }
                        tbody {
                            @for n in &c.nodes {
                                tr data-node=(n.id) {
                                    td data-label="Node" { "node " (n.id) @if n.this_node { " (this one)" } }
                                    td data-label="Address" { code { (n.http) } }
                                    td data-label="Health" {
                                        @if !n.reachable { span.badge.down { "unreachable" } }
                                        @else if n.fenced { span.badge.degraded { "fenced" } }
                                        @else if n.leaving { span.badge.paused { "leaving" } }
                                        @else { span.badge.up { "healthy" } }
                                    }
                                    td data-label="Role" { (if n.reachable { n.role.as_str() } else { "?" }) @if !n.voter { " (learner)" } }
                                    td data-label="Term" { (if n.reachable { n.term.to_string() } else { "?".into() }) }
                                    td data-label="Shards" { (n.shards) }
                                    td data-label="Checks/s" { (n.checks_per_second.map_or("?".to_string(), |r| format!("{r:.1}"))) }
                                    td data-label="Actions" {
                                        @if !n.leaving && c.nodes.len() > 1 {
                                            form.inline method="post" action=(format!("/cluster/nodes/{}/leave", n.id)) data-confirm=(format!("Hand node {}'s shards to the others and remove it from the cluster?", n.id)) {
                                                input type="hidden" name="_csrf" value=(frame.csrf);
                                                button.secondary type="submit" { "Remove node " (n.id) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    h2 { "Shard map" }
                    p.muted { "Monitors map to 64 shards; the raft leader assigns each shard to one node and moves a node's shards when it leaves or stops answering." }
                    div.shardmap #shard-map role="list" {
                        @for (i, o) in c.shard_map.iter().enumerate() {
                            span role="listitem" class={ "shard owner-" (o.map_or(0, |o| o % 8)) } title=(format!("shard {i}: {}", o.map_or("unassigned".to_string(), |o| format!("node {o}")))) {
                                (o.map_or("–".to_string(), |o| o.to_string()))
                            }
                        }
                    }
                }
            }
        },
    )
}
