//! Live fragments and the SSE event names they are swapped in under.

use maud::{html, Markup};

use openseer_protocol::monitor::ANY_REGION;

use crate::time::time_el;

/// The latest result of a monitor in one region.
pub struct StatusVm<'a> {
    pub region: &'a str,
    pub outcome: &'a str,
    pub status_code: Option<i64>,
    pub total_ms: Option<f64>,
    pub checked_at: Option<i64>,
}

/// One check result.
pub struct ResultVm<'a> {
    /// The check's id: a page shows each once, however it arrived.
    pub run_id: &'a str,
    pub scheduled_at: i64,
    /// The monitor's region the check was for ("any": any worker's).
    pub region: &'a str,
    /// The worker that ran it: (name, its region), when known.
    pub worker: Option<(&'a str, &'a str)>,
    pub outcome: &'a str,
    pub status_code: Option<i64>,
    pub total_ms: Option<f64>,
    pub body_bytes: Option<i64>,
    pub error_kind: Option<&'a str>,
    pub error_message: Option<&'a str>,
    /// DNS, connect, TLS, first byte, transfer (ms).
    pub phases: Option<[f64; 5]>,
    pub redirects: usize,
    /// Each assertion: (as written, passed, what was found).
    pub assertions: Vec<(&'a str, bool, Option<&'a str>)>,
}

/// Event telling worker lists to fetch themselves again.
pub const WORKERS_EVENT: &str = "workers";

/// Event telling the overview's counts to fetch themselves again: some
/// monitor's status changed.
pub const COUNTS_EVENT: &str = "counts";

/// Event telling a monitor page's uptime and down periods to fetch
/// themselves again: the monitor has new results.
pub const SUMMARY_EVENT: &str = "summary";

/// Event telling incident lists and marks to fetch themselves again: an
/// incident opened, resolved or changed.
pub const INCIDENTS_EVENT: &str = "incidents";

/// Event carrying a [`status_cell`] for (monitor, region).
pub fn status_event(monitor_id: i64, region: &str) -> String {
    format!("m{monitor_id}-{region}")
}

/// Event carrying a [`result_row`] for a monitor's results table.
pub fn results_event(monitor_id: i64) -> String {
    format!("r{monitor_id}")
}

pub fn status_cell(s: &StatusVm) -> Markup {
    // "any" is a choice, not a place: the cell names no region then.
    let mut parts: Vec<Markup> = Vec::new();
    if s.region != ANY_REGION {
        parts.push(html! { (s.region) });
    }
    if let Some(c) = s.status_code {
        parts.push(html! { (c) });
    }
    if let Some(ms) = s.total_ms {
        parts.push(html! { (format!("{ms:.0}")) " ms" });
    }
    if let Some(at) = s.checked_at {
        parts.push(time_el(at));
    }
    html! {
        span.status data-outcome=(s.outcome) {
            (crate::badge(s.outcome))
            " "
            span.muted { @for (i, p) in parts.iter().enumerate() { @if i > 0 { " · " } (p) } }
        }
    }
}

pub fn result_row(r: &ResultVm) -> Markup {
    html! {
        tr data-outcome=(r.outcome) data-run=(r.run_id) {
            td { (time_el(r.scheduled_at)) }
            td {
                @match (r.region, r.worker) {
                    (ANY_REGION, Some((_, region))) => (region),
                    (region, _) => (region),
                }
                @if let Some((name, _)) = r.worker { br; small.muted { "by " (name) } }
            }
            td { (crate::badge(r.outcome)) }
            td { @if let Some(c) = r.status_code { (c) } }
            td {
                @if let Some(ms) = r.total_ms { (format!("{ms:.1}")) " ms" }
                @if let Some(p) = r.phases {
                    br;
                    small.muted title="DNS · connect · TLS · first byte · transfer (ms)" {
                        (format!("{:.1} · {:.1} · {:.1} · {:.1} · {:.1}", p[0], p[1], p[2], p[3], p[4]))
                    }
                }
                @if r.redirects > 0 { br; small.muted { (r.redirects) " redirect(s)" } }
            }
            td.hide-sm { @if let Some(b) = r.body_bytes { (b) " B" } }
            td {
                @if let Some(k) = r.error_kind { code { (k) } " " }
                @if let Some(m) = r.error_message { span.muted { (m) } }
                @if !r.assertions.is_empty() {
                    @let passed = r.assertions.iter().filter(|a| a.1).count();
                    div.assertions {
                        small.muted { (passed) "/" (r.assertions.len()) " assertions passed" }
                        @for (a, ok, found) in &r.assertions {
                            @if !ok { br; small { "✗ " code { (a) } @if let Some(f) = found { " — " (f) } } }
                        }
                    }
                }
            }
        }
    }
}
