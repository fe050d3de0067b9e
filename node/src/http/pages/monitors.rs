//! Monitors: the overview, a monitor's page, the form (create, edit, test
//! this request), pause, resume, check now, delete. Every member reads;
//! editors and above change. Secret header values and bodies are never
//! put in a page: the edit form shows `<hidden>` in their place, and a
//! `<hidden>` posted back keeps the stored value.

use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};
use openseer_protocol::monitor::{parse_header_lines, IpFamily, ANY_REGION};
use openseer_protocol::{FieldError, MonitorInput, Role};
use openseer_web as views;
use serde::Deserialize;

use super::{frame, html, html_or_invalid, redirect};
use crate::http::errors::PageError;
use crate::http::identity::{has_csrf, CsrfForm, CsrfOnly, SignedIn};
use crate::http::AppState;
use crate::rollup;
use openseer_core::rollup::plan::{Coverage, Tier, DAY, HOUR};
use openseer_core::rollup::Aggregate;
use openseer_store::{Monitor, MonitorStatus, NewAudit};

pub fn regions_of(m: &Monitor) -> Vec<String> {
    regions_or_any(&m.regions)
}

/// A monitor's regions, or "any" for one that runs anywhere.
fn regions_or_any(regions: &[String]) -> Vec<String> {
    if regions.is_empty() {
        vec![ANY_REGION.to_string()]
    } else {
        regions.to_vec()
    }
}

type LatestByKey<'a> = HashMap<(i64, &'a str), &'a MonitorStatus>;

fn statuses<'a>(
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

#[derive(Deserialize, Default)]
pub struct OverviewParams {
    q: Option<String>,
    status: Option<String>,
    region: Option<String>,
    sort: Option<String>,
    page: Option<usize>,
}

const PER_PAGE: usize = 50;

/// How bad an outcome is, for "worst first" and a monitor's overall status.
fn severity(outcome: &str) -> u8 {
    match outcome {
        "down" | "error" => 4,
        "degraded" => 3,
        "missed" => 2,
        "up" => 1,
        _ => 0,
    }
}

/// The overview: counts, then a filtered, sorted page of monitors with their
/// status per region, uptime and p95 over 24 hours and an hourly bar. A
/// request from htmx (the filter form) gets only the list.
pub async fn overview(
    s: SignedIn,
    state: web::Data<AppState>,
    req: HttpRequest,
    params: web::Query<OverviewParams>,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Viewer)?;
    let now = state.now();
    let list = state.store.monitor_list(s.org_id()).await?;
    let latest = state.store.latest_statuses(s.org_id()).await?;
    let by_key: HashMap<(i64, &str), &MonitorStatus> = latest
        .iter()
        .map(|l| ((l.monitor_id, l.region.as_str()), l))
        .collect();
    let regions: Vec<Vec<String>> = list.iter().map(|m| regions_or_any(&m.regions)).collect();
    // Overall status: paused, or the worst latest outcome over its regions.
    let overall: Vec<&str> = list
        .iter()
        .zip(&regions)
        .map(|(m, rs)| {
            if !m.enabled {
                return "paused";
            }
            rs.iter()
                .filter_map(|r| by_key.get(&(m.id, r.as_str())).map(|l| l.outcome.as_str()))
                .max_by_key(|o| severity(o))
                .unwrap_or("pending")
        })
        .collect();
    let last: Vec<Option<i64>> = list
        .iter()
        .zip(&regions)
        .map(|(m, rs)| {
            rs.iter()
                .filter_map(|r| by_key.get(&(m.id, r.as_str())).map(|l| l.scheduled_at))
                .max()
        })
        .collect();
    let count = |want: &[&str]| overall.iter().filter(|o| want.contains(o)).count();
    let query = views::OverviewQuery {
        q: params.q.clone().unwrap_or_default().trim().to_string(),
        status: params.status.clone().unwrap_or_default(),
        region: params.region.clone().unwrap_or_default(),
        sort: params
            .sort
            .clone()
            .filter(|s| views::SORTS.iter().any(|(v, _)| v == s))
            .unwrap_or_else(|| "name".into()),
        page: params.page.unwrap_or(1).max(1),
    };
    let needle = query.q.to_lowercase();
    let mut all_regions: Vec<String> = regions.iter().flatten().cloned().collect();
    all_regions.sort();
    all_regions.dedup();
    let mut matching: Vec<usize> = (0..list.len())
        .filter(|&i| {
            let m = &list[i];
            (needle.is_empty()
                || m.name.to_lowercase().contains(&needle)
                || m.url.to_lowercase().contains(&needle))
                && match query.status.as_str() {
                    "" => true,
                    "down" => matches!(overall[i], "down" | "error"),
                    s => overall[i] == s,
                }
                && (query.region.is_empty() || regions[i].contains(&query.region))
        })
        .collect();
    match query.sort.as_str() {
        "status" => matching.sort_by_key(|&i| {
            (
                std::cmp::Reverse(severity(overall[i])),
                list[i].name.to_lowercase(),
            )
        }),
        "last" => {
            matching.sort_by_key(|&i| (last[i].unwrap_or(i64::MIN), list[i].name.to_lowercase()))
        }
        _ => {} // the store returns them by name
    }
    let total_matching = matching.len();
    let pages = total_matching.div_ceil(PER_PAGE).max(1);
    let mut query = query;
    query.page = query.page.min(pages);
    let shown: Vec<usize> = matching
        .into_iter()
        .skip((query.page - 1) * PER_PAGE)
        .take(PER_PAGE)
        .collect();
    let ids: Vec<i64> = shown.iter().map(|&i| list[i].id).collect();
    let hours = rollup::last_day_by_hour(&state.store, &ids, now).await?;
    let region_text: Vec<String> = shown.iter().map(|&i| regions[i].join(", ")).collect();
    let this_hour = Tier::Hour.start_of(now);
    let rows: Vec<views::MonitorRowVm> = shown
        .iter()
        .zip(&region_text)
        .map(|(&i, rt)| {
            let m = &list[i];
            let h = &hours[&m.id];
            let mut day = Aggregate::default();
            for a in h {
                day.merge(a);
            }
            views::MonitorRowVm {
                id: m.id,
                name: &m.name,
                url: &m.url,
                interval_seconds: m.interval_seconds,
                enabled: m.enabled,
                regions: rt,
                statuses: statuses(m.id, &by_key, &regions[i]),
                uptime_24h: day.uptime(),
                p95_24h: day.percentile(0.95),
                bar: h
                    .iter()
                    .enumerate()
                    .map(|(k, a)| {
                        let start = this_hour - (23 - k as i64) * HOUR;
                        views::charts::UptimeSegment {
                            start,
                            end: start + HOUR,
                            uptime: a.uptime(),
                            checks: a.checked(),
                        }
                    })
                    .collect(),
                last_check: last[i],
            }
        })
        .collect();
    let vm = views::OverviewVm {
        now,
        up: count(&["up"]),
        degraded: count(&["degraded"]),
        down: count(&["down", "error"]),
        paused: count(&["paused"]),
        total: list.len(),
        matching: total_matching,
        per_page: PER_PAGE,
        query: &query,
        regions: all_regions,
        rows,
        can_edit: s.role() >= Role::Editor,
    };
    let markup = if is_htmx(&req) {
        views::overview_list(&vm)
    } else {
        let csrf = s.csrf();
        views::overview_page(&frame(&s, "Monitors", &csrf, true), &vm)
    };
    Ok(vary_htmx(html(markup)))
}

fn is_htmx(req: &HttpRequest) -> bool {
    req.headers().contains_key("hx-request")
}

/// Pages that answer htmx requests with a fragment say so to caches.
fn vary_htmx(mut r: HttpResponse) -> HttpResponse {
    r.headers_mut().insert(
        actix_web::http::header::VARY,
        actix_web::http::header::HeaderValue::from_static("HX-Request"),
    );
    r
}

#[derive(Deserialize, Default)]
pub struct MonitorPageParams {
    range: Option<String>,
    region: Option<String>,
}

/// Down periods in the last 7 days, newest first, at most this many.
const DOWN_PERIODS: usize = 10;

pub async fn monitor_page(
    s: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    params: web::Query<MonitorPageParams>,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Viewer)?;
    let m = state.store.monitor(s.org_id(), *id).await?;
    let now = state.now();
    let latest = state.store.monitor_statuses(s.org_id(), m.id).await?;
    let by_key: LatestByKey = latest
        .iter()
        .map(|l| ((l.monitor_id, l.region.as_str()), l))
        .collect();
    let results = state.store.recent_results(s.org_id(), m.id, 50).await?;
    let regions = regions_of(&m);
    let region_text = regions.join(", ");
    let expected = m.check.expected_status.to_string();
    let range = params
        .range
        .as_deref()
        .filter(|r| views::RANGES.contains(r))
        .unwrap_or("24h");
    let range_ms = crate::http::api::range_ms(range).expect("a known range");
    let region = params
        .region
        .as_deref()
        .filter(|r| regions.iter().any(|x| x == r))
        .unwrap_or("");
    let only: Option<Vec<String>> = (!region.is_empty()).then(|| vec![region.to_string()]);
    let coverage = Coverage::at(now, &state.settings.retention);
    let mut uptimes = Vec::new();
    let mut in_range = Aggregate::default();
    for (label, key) in [
        ("24 h", "24h"),
        ("7 d", "7d"),
        ("30 d", "30d"),
        ("90 d", "90d"),
    ] {
        let len = crate::http::api::range_ms(key).expect("a known range");
        let a = rollup::summarize(
            &state.store,
            &[m.id],
            only.as_deref(),
            now - len,
            now,
            &coverage,
        )
        .await?
        .remove(&m.id)
        .unwrap_or_default();
        uptimes.push((label, a.uptime()));
        if key == range {
            in_range = a;
        }
    }
    if range == "1h" {
        in_range = rollup::summarize(
            &state.store,
            &[m.id],
            only.as_deref(),
            now - range_ms,
            now,
            &coverage,
        )
        .await?
        .remove(&m.id)
        .unwrap_or_default();
    }
    let (shape, points) = rollup::series(
        &state.store,
        m.id,
        only.as_deref(),
        now - range_ms,
        now,
        60,
        &coverage,
    )
    .await?;
    let chart = points
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let (start, end) = shape.bucket(i);
            // The last bucket is still filling: it ends now, not in the
            // future (the axis once read 07:42 at 07:18).
            views::charts::LatencyPoint {
                start,
                end: end.min(now),
                p50: a.percentile(0.5),
                p95: a.percentile(0.95),
                p99: a.percentile(0.99),
            }
        })
        .collect();
    let (dshape, day_points) = rollup::series(
        &state.store,
        m.id,
        only.as_deref(),
        now - 90 * DAY,
        now,
        90,
        &coverage,
    )
    .await?;
    let days = day_points
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let (start, end) = dshape.bucket(i);
            views::charts::UptimeSegment {
                start,
                end: end.min(now),
                uptime: a.uptime(),
                checks: a.checked(),
            }
        })
        .collect();
    let down_periods = down_periods(&state, &m, now).await?;
    let vm = views::MonitorDetailVm {
        can_edit: s.role() >= Role::Editor,
        id: m.id,
        name: &m.name,
        url: &m.check.url,
        method: &m.check.method,
        interval_seconds: m.interval_seconds,
        timeout_ms: m.check.timeout_ms,
        regions: &region_text,
        expected_status: &expected,
        keyword: m.check.keyword.as_deref(),
        enabled: m.enabled,
        statuses: statuses(m.id, &by_key, &regions),
        certificate: results.iter().find_map(|r| {
            let t = r.details.tls.as_ref()?;
            Some((
                t.subject.as_deref().unwrap_or("?"),
                t.issuer.as_deref().unwrap_or("?"),
                t.not_after_ms?,
            ))
        }),
        assertions: m
            .check
            .options
            .assertions
            .iter()
            .map(|a| a.to_string())
            .collect(),
        uptimes,
        range,
        region,
        all_regions: regions.clone(),
        chart,
        percentiles: (
            in_range.percentile(0.5),
            in_range.percentile(0.95),
            in_range.percentile(0.99),
            in_range.lat_count,
        ),
        phases: in_range.phase_means(),
        days,
        down_periods,
    };
    let rows: Vec<views::live::ResultVm> = results
        .iter()
        .map(|r| views::live::ResultVm {
            scheduled_at: r.scheduled_at,
            region: &r.region,
            outcome: &r.outcome,
            status_code: r.status_code,
            total_ms: r.total_ms,
            body_bytes: r.body_bytes,
            error_kind: r.error_kind.as_deref(),
            error_message: r.error_message.as_deref(),
            phases: r
                .timings
                .as_ref()
                .map(|t| [t.dns_ms, t.connect_ms, t.tls_ms, t.ttfb_ms, t.transfer_ms]),
            redirects: r.details.redirects.len(),
            assertions: r
                .details
                .assertions
                .iter()
                .map(|a| (a.assertion.as_str(), a.passed, a.detail.as_deref()))
                .collect(),
        })
        .collect();
    let csrf = s.csrf();
    Ok(html(views::monitor_page(
        &frame(&s, &m.name, &csrf, true),
        &vm,
        &rows,
    )))
}

/// Down periods per region in the last 7 days: runs of failed checks, from
/// the first failure to the first check that found the target up again.
async fn down_periods(
    state: &AppState,
    m: &Monitor,
    now: i64,
) -> Result<Vec<views::DownPeriodVm>, PageError> {
    let gap = 2 * i64::from(m.interval_seconds) * 1000;
    let mut runs: Vec<(String, i64, i64, usize)> = Vec::new();
    let mut open: HashMap<String, usize> = HashMap::new();
    for (region, at) in state.store.failures_since(m.id, now - 7 * DAY).await? {
        match open.get(&region).copied() {
            Some(i) if at - runs[i].2 <= gap => {
                runs[i].2 = at;
                runs[i].3 += 1;
            }
            _ => {
                open.insert(region.clone(), runs.len());
                runs.push((region, at, at, 1));
            }
        }
    }
    // Runs split by a pause in the failures (the node was down, say) are one
    // period unless a check found the target up between them. At most the
    // latest 50 runs are looked at: one query each for their end.
    let first = runs.len().saturating_sub(50);
    let mut out: Vec<views::DownPeriodVm> = Vec::new();
    let mut latest_of: HashMap<String, usize> = HashMap::new();
    for (region, start, last, checks) in runs.into_iter().skip(first) {
        let end = state.store.first_up_after(m.id, &region, last).await?;
        if let Some(&k) = latest_of.get(&region) {
            if out[k].end.is_none_or(|e| e > start) {
                out[k].end = end;
                out[k].checks += checks;
                continue;
            }
        }
        latest_of.insert(region.clone(), out.len());
        out.push(views::DownPeriodVm {
            region,
            start,
            end,
            checks,
        });
    }
    out.sort_by_key(|p| std::cmp::Reverse(p.start));
    out.truncate(DOWN_PERIODS);
    Ok(out)
}

pub async fn check_now(
    s: SignedIn,
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
    Ok(redirect(&format!("/monitors/{}", m.id)))
}

/// The monitor form as posted: every field a string, so bad numbers come
/// back as field errors with the typed text intact.
#[derive(Deserialize, Default)]
pub struct MonitorFormData {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    headers: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    interval_seconds: String,
    #[serde(default)]
    timeout_ms: String,
    #[serde(default)]
    regions: String,
    #[serde(default)]
    expected_status: String,
    #[serde(default)]
    keyword: String,
    #[serde(default)]
    enabled: Option<String>,
    #[serde(default)]
    follow_redirects: Option<String>,
    #[serde(default)]
    max_redirects: String,
    #[serde(default)]
    verify_tls: Option<String>,
    #[serde(default)]
    ip_family: String,
    #[serde(default)]
    assertions: String,
    #[serde(default)]
    degraded_above_ms: String,
    #[serde(default)]
    cert_expiry_days: String,
    /// The monitor being edited, so "test this request" can fill in its
    /// hidden secrets.
    #[serde(default)]
    monitor_id: String,
}

has_csrf!(MonitorFormData);

impl MonitorFormData {
    /// The edit form of a monitor: its secrets hidden.
    fn from_monitor(m: &Monitor) -> MonitorFormData {
        let shown = m.to_input().redacted();
        MonitorFormData {
            csrf: String::new(),
            monitor_id: m.id.to_string(),
            name: m.name.clone(),
            url: m.check.url.clone(),
            method: m.check.method.clone(),
            headers: shown
                .headers
                .iter()
                .map(|h| format!("{}: {}", h.name, h.value))
                .collect::<Vec<_>>()
                .join("\n"),
            body: shown.body.unwrap_or_default(),
            interval_seconds: m.interval_seconds.to_string(),
            timeout_ms: m.check.timeout_ms.to_string(),
            regions: m.regions.join(", "),
            expected_status: m.check.expected_status.to_string(),
            keyword: m.check.keyword.clone().unwrap_or_default(),
            enabled: m.enabled.then(|| "on".into()),
            follow_redirects: m.check.options.follow_redirects.then(|| "on".into()),
            max_redirects: m.check.options.max_redirects.to_string(),
            verify_tls: m.check.options.verify_tls.then(|| "on".into()),
            ip_family: m.check.options.ip_family.as_str().into(),
            assertions: m
                .check
                .options
                .assertions
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
            degraded_above_ms: m
                .check
                .options
                .degraded_above_ms
                .map(|v| v.to_string())
                .unwrap_or_default(),
            cert_expiry_days: m
                .check
                .options
                .cert_expiry_days
                .map(|v| v.to_string())
                .unwrap_or_default(),
        }
    }

    fn defaults() -> MonitorFormData {
        MonitorFormData {
            method: "GET".into(),
            interval_seconds: "60".into(),
            timeout_ms: "5000".into(),
            expected_status: "200-399".into(),
            enabled: Some("on".into()),
            follow_redirects: Some("on".into()),
            max_redirects: openseer_protocol::monitor::DEFAULT_MAX_REDIRECTS.to_string(),
            verify_tls: Some("on".into()),
            ip_family: "auto".into(),
            ..MonitorFormData::default()
        }
    }

    fn view(&self) -> views::MonitorFormVm<'_> {
        views::MonitorFormVm {
            name: &self.name,
            url: &self.url,
            method: &self.method,
            headers: &self.headers,
            body: &self.body,
            interval_seconds: &self.interval_seconds,
            timeout_ms: &self.timeout_ms,
            regions: &self.regions,
            expected_status: &self.expected_status,
            keyword: &self.keyword,
            enabled: self.enabled.is_some(),
            follow_redirects: self.follow_redirects.is_some(),
            max_redirects: &self.max_redirects,
            verify_tls: self.verify_tls.is_some(),
            ip_family: &self.ip_family,
            assertions: &self.assertions,
            degraded_above_ms: &self.degraded_above_ms,
            cert_expiry_days: &self.cert_expiry_days,
            monitor_id: &self.monitor_id,
        }
    }

    /// Parses and validates; errors are per field, like the API's. With
    /// the `stored` monitor, `<hidden>` values take what it has.
    fn validate(
        &self,
        stored: Option<&Monitor>,
    ) -> Result<openseer_protocol::monitor::ValidMonitor, Vec<FieldError>> {
        let mut errors = Vec::new();
        let number = |field: &str, text: &str, errors: &mut Vec<FieldError>| match text
            .trim()
            .parse::<u32>()
        {
            Ok(n) => n,
            Err(_) => {
                errors.push(FieldError::new(field, "enter a whole number"));
                0
            }
        };
        let interval = number("interval_seconds", &self.interval_seconds, &mut errors);
        let timeout = number("timeout_ms", &self.timeout_ms, &mut errors);
        let headers = parse_header_lines(&self.headers).unwrap_or_else(|e| {
            errors.push(FieldError::new("headers", e));
            Vec::new()
        });
        let optional = |field: &str, text: &str, errors: &mut Vec<FieldError>| -> Option<u32> {
            let t = text.trim();
            if t.is_empty() {
                return None;
            }
            t.parse::<u32>().map(Some).unwrap_or_else(|_| {
                errors.push(FieldError::new(
                    field,
                    "enter a whole number, or leave it empty",
                ));
                None
            })
        };
        let degraded_above_ms = optional("degraded_above_ms", &self.degraded_above_ms, &mut errors);
        let cert_expiry_days = optional("cert_expiry_days", &self.cert_expiry_days, &mut errors);
        let max_redirects = match self.max_redirects.trim() {
            "" => openseer_protocol::monitor::DEFAULT_MAX_REDIRECTS,
            t => t.parse::<u8>().unwrap_or_else(|_| {
                errors.push(FieldError::new("max_redirects", "enter a whole number"));
                0
            }),
        };
        let ip_family = match self.ip_family.as_str() {
            "" => IpFamily::Auto,
            f => IpFamily::parse(f).unwrap_or_else(|| {
                errors.push(FieldError::new("ip_family", "auto, v4 or v6"));
                IpFamily::Auto
            }),
        };
        let assertions = openseer_protocol::assertion::parse_lines(&self.assertions)
            .unwrap_or_else(|e| {
                errors.push(FieldError::new("assertions", e));
                Vec::new()
            });
        let mut input = MonitorInput {
            name: self.name.clone(),
            url: self.url.clone(),
            method: self.method.clone(),
            headers,
            body: Some(self.body.clone()).filter(|b| !b.is_empty()),
            interval_seconds: interval,
            timeout_ms: timeout,
            regions: self
                .regions
                .split(',')
                .map(|r| r.trim().to_string())
                .filter(|r| !r.is_empty())
                .collect(),
            expected_status: self.expected_status.clone(),
            keyword: Some(self.keyword.clone()).filter(|k| !k.is_empty()),
            enabled: self.enabled.is_some(),
            follow_redirects: self.follow_redirects.is_some(),
            max_redirects,
            verify_tls: self.verify_tls.is_some(),
            ip_family,
            assertions,
            degraded_above_ms,
            cert_expiry_days,
        };
        if let Some(m) = stored {
            if let Err(more) = input.restore_hidden(&m.check.headers, m.check.body.as_deref()) {
                errors.extend(more);
            }
        }
        match input.validate() {
            Ok(v) if errors.is_empty() => Ok(v),
            Ok(_) => Err(errors),
            Err(more) => {
                for e in more {
                    // A field that failed to parse already has its error.
                    if !errors.iter().any(|x| x.field == e.field) {
                        errors.push(e);
                    }
                }
                Err(errors)
            }
        }
    }
}

fn form_page(
    s: &SignedIn,
    heading: &str,
    action: &str,
    f: &MonitorFormData,
    errors: &[FieldError],
) -> HttpResponse {
    let csrf = s.csrf();
    let page = views::monitor_form_page(
        &frame(s, heading, &csrf, false),
        heading,
        action,
        &f.view(),
        errors,
    );
    html_or_invalid(page, errors)
}

fn monitor_event(s: &SignedIn, action: &'static str, m: &Monitor) -> NewAudit {
    s.audit(action).on("monitor", m.id).detail(&m.name)
}

pub async fn new_monitor(s: SignedIn) -> Result<HttpResponse, PageError> {
    s.require(Role::Editor)?;
    Ok(form_page(
        &s,
        "New monitor",
        "/monitors",
        &MonitorFormData::defaults(),
        &[],
    ))
}

pub async fn create_monitor(
    s: SignedIn,
    state: web::Data<AppState>,
    CsrfForm(f): CsrfForm<MonitorFormData>,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Editor)?;
    let valid = match f.validate(None) {
        Ok(v) => v,
        Err(errors) => return Ok(form_page(&s, "New monitor", "/monitors", &f, &errors)),
    };
    let m = state
        .store
        .create_monitor(s.org_id(), &valid, state.now())
        .await?;
    state.actors.monitor_changed(&m);
    tracing::info!(monitor_id = m.id, org_id = m.org_id, "monitor created");
    state.audit(monitor_event(&s, "monitor.created", &m)).await;
    Ok(redirect(&format!("/monitors/{}", m.id)))
}

/// "Test this request": the form's request, checked once by a worker in the
/// monitor's first region; answers with a fragment for the form.
pub async fn test_request(
    s: SignedIn,
    state: web::Data<AppState>,
    CsrfForm(f): CsrfForm<MonitorFormData>,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Editor)?;
    let stored = match f.monitor_id.trim().parse::<i64>() {
        Ok(id) => Some(state.store.monitor(s.org_id(), id).await?),
        Err(_) => None,
    };
    let valid = match f.validate(stored.as_ref()) {
        Ok(v) => v,
        Err(errors) => {
            return Ok(html(views::test_result(&views::TestResultVm::Invalid(
                &errors,
            ))))
        }
    };
    let region = valid
        .regions
        .first()
        .cloned()
        .unwrap_or_else(|| ANY_REGION.to_string());
    let wait = std::time::Duration::from_millis(u64::from(valid.check.timeout_ms) + 5_000);
    let got = state
        .actors
        .probe(s.org_id(), &region, valid.check.clone(), state.now(), wait)
        .await;
    tracing::info!(org_id = s.org_id(), region = %region, answered = got.is_some(), "request tested");
    let vm = match &got {
        Some(r) => views::TestResultVm::Checked {
            region: &region,
            outcome: r.outcome.as_str(),
            status_code: r.status_code,
            total_ms: r.total_ms,
            phases: r
                .timings
                .as_ref()
                .map(|t| [t.dns_ms, t.connect_ms, t.tls_ms, t.ttfb_ms, t.transfer_ms]),
            error: r.error_message.as_deref(),
            assertions: r
                .assertions
                .iter()
                .map(|a| (a.assertion.as_str(), a.passed, a.detail.as_deref()))
                .collect(),
        },
        None => views::TestResultVm::NoWorker {
            region: &region,
            seconds: wait.as_secs(),
        },
    };
    Ok(html(views::test_result(&vm)))
}

pub async fn edit_monitor(
    s: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Editor)?;
    let m = state.store.monitor(s.org_id(), *id).await?;
    Ok(form_page(
        &s,
        &format!("Edit {}", m.name),
        &format!("/monitors/{}", m.id),
        &MonitorFormData::from_monitor(&m),
        &[],
    ))
}

pub async fn update_monitor(
    s: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    CsrfForm(f): CsrfForm<MonitorFormData>,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Editor)?;
    let existing = state.store.monitor(s.org_id(), *id).await?;
    let valid = match f.validate(Some(&existing)) {
        Ok(v) => v,
        Err(errors) => {
            return Ok(form_page(
                &s,
                &format!("Edit {}", existing.name),
                &format!("/monitors/{}", existing.id),
                &f,
                &errors,
            ))
        }
    };
    let m = state
        .store
        .update_monitor(s.org_id(), existing.id, &valid, state.now())
        .await?;
    state.actors.monitor_changed(&m);
    state.audit(monitor_event(&s, "monitor.updated", &m)).await;
    Ok(redirect(&format!("/monitors/{}", m.id)))
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
    state.store.delete_monitor(s.org_id(), m.id).await?;
    state.actors.monitor_removed(m.id);
    tracing::info!(monitor_id = m.id, "monitor deleted");
    state.audit(monitor_event(&s, "monitor.deleted", &m)).await;
    Ok(redirect("/"))
}
