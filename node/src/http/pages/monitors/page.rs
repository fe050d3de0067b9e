//! A monitor's page: status per region, uptime over four ranges, the
//! latency chart and percentiles, where the time goes, the 90-day bar,
//! down periods, the certificate and the latest checks.

use std::collections::HashMap;

use actix_web::{web, HttpResponse};
use openseer_core::rollup::plan::{Coverage, DAY};
use openseer_core::rollup::Aggregate;
use openseer_protocol::Role;
use openseer_store::Monitor;
use openseer_web as views;
use serde::Deserialize;

use super::{region_text, regions_of, statuses, LatestByKey};
use crate::http::errors::PageError;
use crate::http::events::{self, stored_row, Watch, WorkerNames};
use crate::http::identity::SignedIn;
use crate::http::pages::workers::unserved_regions;
use crate::http::pages::{frame, html};
use crate::http::AppState;
use crate::rollup;

#[derive(Deserialize, Default)]
pub struct MonitorPageParams {
    range: Option<String>,
    region: Option<String>,
    /// "Latest checks" from before this (unix ms): an older page.
    before: Option<i64>,
}

/// Rows of "Latest checks" per page.
const RESULTS_PER_PAGE: i64 = 50;

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
    let results = state
        .store
        .recent_results(s.org_id(), m.id, params.before, RESULTS_PER_PAGE)
        .await?;
    let regions = regions_of(&m);
    let region_text = region_text(&regions);
    let expected = m.check.expected_status.to_string();
    let range = params
        .range
        .as_deref()
        .filter(|r| views::RANGES.contains(r))
        .unwrap_or(default_range(now - m.created_at));
    let range_ms = crate::http::api::range_ms(range).expect("a known range");
    let region = params
        .region
        .as_deref()
        .filter(|r| regions.iter().any(|x| x == r))
        .unwrap_or("");
    let only: Option<Vec<String>> = (!region.is_empty()).then(|| vec![region.to_string()]);
    let coverage = Coverage::at(now, &state.settings.retention);
    let (uptimes, mut in_range) = uptimes(&state, &m, only.as_deref(), now, range).await?;
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
                max: a.lat_max,
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
    let workers = state.store.workers(s.org_id()).await?;
    let unserved = if m.enabled {
        unserved_regions(&workers, &regions, now, state.settings.worker_stale_ms)
    } else {
        Vec::new()
    };
    let names = WorkerNames::load(&state.store, s.org_id()).await?;
    let open = state
        .store
        .incidents(
            s.org_id(),
            openseer_store::IncidentFilter::Open,
            Some(m.id),
            None,
            10,
        )
        .await?;
    let windows = crate::windows::compile_all(&state.store.maintenance_windows(s.org_id()).await?);
    let vm = views::MonitorDetailVm {
        can_edit: s.role() >= Role::Editor,
        maintenance: crate::windows::open_at(&windows, Some(m.id), now),
        open_incidents: open
            .iter()
            .map(|i| (i.id, i.monitor_name.as_str()))
            .collect(),
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
        unserved,
        can_enroll: s.role() >= Role::Admin,
        older: (results.len() as i64 == RESULTS_PER_PAGE)
            .then(|| results.last().map(|r| r.scheduled_at))
            .flatten(),
        paged: params.before.is_some(),
    };
    let rows: Vec<views::live::ResultVm> = results.iter().map(|r| stored_row(r, &names)).collect();
    let csrf = s.csrf();
    Ok(html(views::monitor_page(
        &frame(
            &s,
            &m.name,
            &csrf,
            Some(events::url(Watch::Monitor(m.id), now)),
        ),
        &vm,
        &rows,
    )))
}

/// Uptime over 24 h, 7 d, 30 d and 90 d with the time spent in
/// maintenance windows in each, and everything over `range` when it is one
/// of them.
async fn uptimes(
    state: &AppState,
    m: &Monitor,
    only: Option<&[String]>,
    now: i64,
    range: &str,
) -> Result<(Vec<views::UptimeVm>, Aggregate), PageError> {
    let coverage = Coverage::at(now, &state.settings.retention);
    let windows = crate::windows::compile_all(&state.store.maintenance_windows(m.org_id).await?);
    let mut uptimes = Vec::new();
    let mut in_range = Aggregate::default();
    for (label, key) in [
        ("24 h", "24h"),
        ("7 d", "7d"),
        ("30 d", "30d"),
        ("90 d", "90d"),
    ] {
        let len = crate::http::api::range_ms(key).expect("a known range");
        let a = rollup::summarize(&state.store, &[m.id], only, now - len, now, &coverage)
            .await?
            .remove(&m.id)
            .unwrap_or_default();
        uptimes.push(views::UptimeVm {
            label,
            uptime: a.uptime(),
            maintenance_ms: openseer_core::maintenance::covered_ms(&windows, m.id, now - len, now),
        });
        if key == range {
            in_range = a;
        }
    }
    Ok((uptimes, in_range))
}

#[derive(Deserialize, Default)]
pub struct SummaryParams {
    region: Option<String>,
}

/// The monitor page's uptime tiles, with its down periods swapped in
/// beside them: fetched again whenever the monitor has new results.
pub async fn monitor_summary(
    s: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    params: web::Query<SummaryParams>,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Viewer)?;
    let m = state.store.monitor(s.org_id(), *id).await?;
    let now = state.now();
    let regions = regions_of(&m);
    let region = params
        .region
        .as_deref()
        .filter(|r| regions.iter().any(|x| x == r))
        .unwrap_or("");
    let only: Option<Vec<String>> = (!region.is_empty()).then(|| vec![region.to_string()]);
    let (uptimes, _) = uptimes(&state, &m, only.as_deref(), now, "").await?;
    let periods = down_periods(&state, &m, now).await?;
    Ok(html(views::monitor_summary(
        m.id, region, &uptimes, &periods,
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

/// The range a monitor's page opens on: the last hour while the monitor is
/// younger than that (a day's chart of a new monitor is one thin bucket),
/// else the last day.
fn default_range(age_ms: i64) -> &'static str {
    if age_ms < openseer_core::rollup::plan::HOUR {
        return "1h";
    }
    "24h"
}
