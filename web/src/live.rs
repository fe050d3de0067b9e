//! Live fragments and the SSE event names they are swapped in under.

use maud::{html, Markup};

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
    pub scheduled_at: i64,
    pub region: &'a str,
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

/// Event carrying a [`status_cell`] for (monitor, region).
pub fn status_event(monitor_id: i64, region: &str) -> String {
    format!("m{monitor_id}-{region}")
}

/// Event carrying a [`result_row`] for a monitor's results table.
pub fn results_event(monitor_id: i64) -> String {
    format!("r{monitor_id}")
}

pub fn status_cell(s: &StatusVm) -> Markup {
    html! {
        span.status data-outcome=(s.outcome) {
            (crate::badge(s.outcome))
            " "
            span.muted {
                (s.region)
                @if let Some(c) = s.status_code { " · " (c) }
                @if let Some(ms) = s.total_ms { " · " (format!("{ms:.0}")) " ms" }
                @if let Some(at) = s.checked_at { " · " (time_el(at)) }
            }
        }
    }
}

pub fn result_row(r: &ResultVm) -> Markup {
    html! {
        tr data-outcome=(r.outcome) {
            td { (time_el(r.scheduled_at)) }
            td { (r.region) }
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
