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

use super::{regions_of, statuses, LatestByKey};
use crate::http::errors::PageError;
use crate::http::identity::SignedIn;
use crate::http::pages::{frame, html};
use crate::http::AppState;
use crate::rollup;

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
        .unwrap_or(default_range(now - m.created_at));
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
            outcome: r.outcome.as_str(),
            status_code: r.status_code,
            total_ms: r.total_ms,
            body_bytes: r.body_bytes,
            error_kind: r.error_kind.map(|k| k.as_str()),
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

/// The range a monitor's page opens on: the last hour while the monitor is
/// younger than that (a day's chart of a new monitor is one thin bucket),
/// else the last day.
fn default_range(age_ms: i64) -> &'static str {
    if age_ms < openseer_core::rollup::plan::HOUR {
        return "1h";
    }
    "24h"
}
