//! The overview: counts, then a filtered, sorted page of monitors with
//! their status per region, uptime and p95 over 24 hours and an hourly
//! bar. Which monitors a page shows is [`select`]: pure and tested; the
//! handler loads and renders. A request from htmx (the filter form) gets
//! only the list.

use std::cmp::Reverse;
use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};
use openseer_core::model::Status;
use openseer_core::rollup::plan::{Tier, HOUR};
use openseer_core::rollup::Aggregate;
use openseer_protocol::Role;
use openseer_store::{MonitorStatus, MonitorSummary};
use openseer_web as views;
use serde::Deserialize;

use super::{region_text, regions_or_any, statuses};
use crate::http::errors::PageError;
use crate::http::events::{self, Watch};
use crate::http::identity::SignedIn;
use crate::http::pages::{frame, html};
use crate::http::AppState;
use crate::rollup;

pub const PER_PAGE: usize = 50;

/// What the status filter asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Any,
    Is(Status),
    /// A value the page never offers: nothing matches.
    Unknown,
}

impl StatusFilter {
    /// The `status` parameter as the filter form sends it.
    pub fn parse(param: &str) -> StatusFilter {
        match param {
            "" => StatusFilter::Any,
            "up" => StatusFilter::Is(Status::Up),
            "degraded" => StatusFilter::Is(Status::Degraded),
            "down" => StatusFilter::Is(Status::Down),
            "missed" => StatusFilter::Is(Status::Missed),
            "paused" => StatusFilter::Is(Status::Paused),
            "pending" => StatusFilter::Is(Status::Pending),
            _ => StatusFilter::Unknown,
        }
    }

    fn admits(self, s: Status) -> bool {
        match self {
            StatusFilter::Any => true,
            StatusFilter::Is(want) => want == s,
            StatusFilter::Unknown => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// As listed (the store lists by name).
    Name,
    /// Worst first, then by name.
    Status,
    /// Oldest last check first (never checked before all), then by name.
    Last,
}

impl Sort {
    pub fn parse(param: &str) -> Option<Sort> {
        match param {
            "name" => Some(Sort::Name),
            "status" => Some(Sort::Status),
            "last" => Some(Sort::Last),
            _ => None,
        }
    }
}

/// One monitor as the overview sees it.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub name: &'a str,
    pub url: &'a str,
    pub status: Status,
    /// Its regions ("any" for one that runs anywhere).
    pub regions: &'a [String],
    pub last_check: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct Query<'a> {
    /// Matched case-insensitively against name and URL; empty: all.
    pub text: &'a str,
    pub status: StatusFilter,
    /// Empty: every region.
    pub region: &'a str,
    pub sort: Sort,
    /// 1-based; past the last page means the last page.
    pub page: usize,
}

impl Default for Query<'_> {
    /// Everything, by name, the first page.
    fn default() -> Self {
        Query {
            text: "",
            status: StatusFilter::Any,
            region: "",
            sort: Sort::Name,
            page: 1,
        }
    }
}

/// Monitors by status, over all of them (not only the matching ones).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub up: usize,
    pub degraded: usize,
    pub down: usize,
    pub paused: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub counts: Counts,
    pub matching: usize,
    /// The page shown (clamped to the pages there are).
    pub page: usize,
    /// Indexes into the entries, in the order shown.
    pub shown: Vec<usize>,
}

/// Counts, then filters, sorts and pages the entries.
pub fn select(entries: &[Entry], q: &Query, per_page: usize) -> Selection {
    let count = |s: Status| entries.iter().filter(|e| e.status == s).count();
    let counts = Counts {
        up: count(Status::Up),
        degraded: count(Status::Degraded),
        down: count(Status::Down),
        paused: count(Status::Paused),
    };
    let needle = q.text.to_lowercase();
    let mut matching: Vec<usize> = (0..entries.len())
        .filter(|&i| {
            let e = &entries[i];
            (needle.is_empty()
                || e.name.to_lowercase().contains(&needle)
                || e.url.to_lowercase().contains(&needle))
                && q.status.admits(e.status)
                && (q.region.is_empty() || e.regions.iter().any(|r| r == q.region))
        })
        .collect();
    let name = |i: usize| entries[i].name.to_lowercase();
    match q.sort {
        Sort::Status => matching.sort_by_key(|&i| (Reverse(entries[i].status.severity()), name(i))),
        Sort::Last => {
            matching.sort_by_key(|&i| (entries[i].last_check.unwrap_or(i64::MIN), name(i)))
        }
        Sort::Name => {}
    }
    let total = matching.len();
    let page = q.page.max(1).min(total.div_ceil(per_page).max(1));
    let shown = matching
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    Selection {
        counts,
        matching: total,
        page,
        shown,
    }
}

#[derive(Deserialize, Default)]
pub struct OverviewParams {
    q: Option<String>,
    status: Option<String>,
    region: Option<String>,
    sort: Option<String>,
    page: Option<usize>,
}

/// The organization's monitors, their regions and latest statuses.
struct Loaded {
    list: Vec<MonitorSummary>,
    regions: Vec<Vec<String>>,
    latest: Vec<MonitorStatus>,
}

impl Loaded {
    async fn of(state: &AppState, org_id: i64) -> Result<Loaded, PageError> {
        let list = state.store.monitor_list(org_id).await?;
        let latest = state.store.latest_statuses(org_id).await?;
        let regions = list.iter().map(|m| regions_or_any(&m.regions)).collect();
        Ok(Loaded {
            list,
            regions,
            latest,
        })
    }

    fn by_key(&self) -> HashMap<(i64, &str), &MonitorStatus> {
        self.latest
            .iter()
            .map(|l| ((l.monitor_id, l.region.as_str()), l))
            .collect()
    }
}

/// Each monitor's overall status, as `select` reads it.
fn entries<'a>(
    list: &'a [MonitorSummary],
    regions: &'a [Vec<String>],
    by_key: &HashMap<(i64, &str), &MonitorStatus>,
) -> Vec<Entry<'a>> {
    list.iter()
        .zip(regions)
        .map(|(m, rs)| {
            let latest_in = || rs.iter().filter_map(|r| by_key.get(&(m.id, r.as_str())));
            Entry {
                name: &m.name,
                url: &m.url,
                status: if m.enabled {
                    Status::worst(latest_in().map(|l| Status::of_outcome(l.outcome)))
                } else {
                    Status::Paused
                },
                regions: rs,
                last_check: latest_in().map(|l| l.scheduled_at).max(),
            }
        })
        .collect()
}

/// The counts alone: fetched again whenever a status changes.
#[derive(Deserialize)]
pub struct IncidentsParams {
    monitor: Option<i64>,
}

/// The open-incident banner (of one monitor, or all), refetched live.
pub async fn open_incidents(
    s: SignedIn,
    state: web::Data<AppState>,
    params: web::Query<IncidentsParams>,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Viewer)?;
    let open = state
        .store
        .incidents(
            s.org_id(),
            openseer_store::IncidentFilter::Open,
            params.monitor,
            None,
            100,
        )
        .await?;
    let named: Vec<(i64, &str)> = open
        .iter()
        .map(|i| (i.id, i.monitor_name.as_str()))
        .collect();
    let url = match params.monitor {
        Some(m) => format!("/overview/incidents?monitor={m}"),
        None => "/overview/incidents".to_string(),
    };
    Ok(html(views::open_incidents_banner(&named, &url)))
}

pub async fn overview_counts(
    s: SignedIn,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Viewer)?;
    let loaded = Loaded::of(&state, s.org_id()).await?;
    let by_key = loaded.by_key();
    let (list, regions) = (&loaded.list, &loaded.regions);
    let entries = entries(list, regions, &by_key);
    let c = select(&entries, &Query::default(), PER_PAGE).counts;
    Ok(html(views::overview_counts(
        c.up, c.degraded, c.down, c.paused,
    )))
}

pub async fn overview(
    s: SignedIn,
    state: web::Data<AppState>,
    req: HttpRequest,
    params: web::Query<OverviewParams>,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Viewer)?;
    let now = state.now();
    let loaded = Loaded::of(&state, s.org_id()).await?;
    let by_key = loaded.by_key();
    let (list, regions) = (&loaded.list, &loaded.regions);
    let entries = entries(list, regions, &by_key);
    let sort = params.sort.as_deref().and_then(Sort::parse);
    let mut query = views::OverviewQuery {
        q: params.q.clone().unwrap_or_default().trim().to_string(),
        status: params.status.clone().unwrap_or_default(),
        region: params.region.clone().unwrap_or_default(),
        sort: match sort {
            Some(_) => params.sort.clone().unwrap_or_default(),
            None => "name".into(),
        },
        page: params.page.unwrap_or(1).max(1),
    };
    let picked = select(
        &entries,
        &Query {
            text: &query.q,
            status: StatusFilter::parse(&query.status),
            region: &query.region,
            sort: sort.unwrap_or(Sort::Name),
            page: query.page,
        },
        PER_PAGE,
    );
    query.page = picked.page;
    let mut all_regions: Vec<String> = regions.iter().flatten().cloned().collect();
    all_regions.sort();
    all_regions.dedup();
    let ids: Vec<i64> = picked.shown.iter().map(|&i| list[i].id).collect();
    let hours = rollup::last_day_by_hour(&state.store, &ids, now).await?;
    let open = state.store.open_incidents(s.org_id()).await?;
    let windows = crate::windows::compile_all(&state.store.maintenance_windows(s.org_id()).await?);
    let open_named: Vec<(i64, &str)> = open
        .iter()
        .filter_map(|(m, id)| {
            list.iter()
                .find(|x| x.id == *m)
                .map(|x| (*id, x.name.as_str()))
        })
        .collect();
    let region_text: Vec<String> = picked
        .shown
        .iter()
        .map(|&i| region_text(&regions[i]))
        .collect();
    let this_hour = Tier::Hour.start_of(now);
    let rows: Vec<views::MonitorRowVm> = picked
        .shown
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
                last_check: entries[i].last_check,
                incident: open
                    .iter()
                    .find(|(m, _)| *m == list[i].id)
                    .map(|(_, id)| *id),
            }
        })
        .collect();
    let vm = views::OverviewVm {
        now,
        up: picked.counts.up,
        degraded: picked.counts.degraded,
        down: picked.counts.down,
        paused: picked.counts.paused,
        total: list.len(),
        matching: picked.matching,
        per_page: PER_PAGE,
        query: &query,
        regions: all_regions,
        rows,
        can_edit: s.role() >= Role::Editor,
        open_incidents: open_named,
        maintenance: crate::windows::open_at(&windows, None, now),
    };
    let markup = if is_htmx(&req) {
        views::overview_list(&vm)
    } else {
        let csrf = s.csrf();
        views::overview_page(
            &frame(
                &s,
                "Monitors",
                &csrf,
                Some(events::url(Watch::Overview, now)),
            ),
            &vm,
        )
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

#[cfg(test)]
mod tests {
    use super::*;
    use openseer_protocol::Outcome;

    fn entry<'a>(
        name: &'a str,
        status: Status,
        regions: &'a [String],
        last: Option<i64>,
    ) -> Entry<'a> {
        Entry {
            name,
            url: "https://example.com/",
            status,
            regions,
            last_check: last,
        }
    }

    fn query(sort: Sort) -> Query<'static> {
        Query {
            text: "",
            status: StatusFilter::Any,
            region: "",
            sort,
            page: 1,
        }
    }

    #[test]
    fn an_error_counts_as_down_and_the_worst_region_wins() {
        assert_eq!(Status::of_outcome(Outcome::Error), Status::Down);
        assert_eq!(
            Status::worst([Status::Up, Status::Degraded, Status::Missed]),
            Status::Degraded
        );
        assert_eq!(Status::worst([]), Status::Pending);
        assert_eq!(StatusFilter::parse("down"), StatusFilter::Is(Status::Down));
        assert_eq!(StatusFilter::parse("bogus"), StatusFilter::Unknown);
    }

    #[test]
    fn counts_cover_everything_and_filters_narrow() {
        let eu = ["eu".to_string()];
        let us = ["us".to_string()];
        let all = [
            entry("Api", Status::Up, &eu, Some(5)),
            entry("billing", Status::Down, &us, Some(3)),
            entry("Cron", Status::Paused, &eu, None),
            entry("docs", Status::Degraded, &us, Some(9)),
        ];
        let s = select(&all, &query(Sort::Name), 50);
        assert_eq!(
            s.counts,
            Counts {
                up: 1,
                degraded: 1,
                down: 1,
                paused: 1
            }
        );
        assert_eq!((s.matching, s.shown.clone()), (4, vec![0, 1, 2, 3]));
        let only = |q: Query| select(&all, &q, 50).shown;
        assert_eq!(
            only(Query {
                text: "API",
                ..query(Sort::Name)
            }),
            [0]
        );
        assert_eq!(
            only(Query {
                region: "us",
                ..query(Sort::Name)
            }),
            [1, 3]
        );
        assert_eq!(
            only(Query {
                status: StatusFilter::Is(Status::Paused),
                ..query(Sort::Name)
            }),
            [2]
        );
        assert!(only(Query {
            status: StatusFilter::Unknown,
            ..query(Sort::Name)
        })
        .is_empty());
        assert_eq!(only(query(Sort::Status)), [1, 3, 0, 2], "worst first");
        assert_eq!(only(query(Sort::Last)), [2, 1, 0, 3], "never checked first");
    }

    #[test]
    fn pages_hold_per_page_and_past_the_end_is_the_last_page() {
        let r = ["eu".to_string()];
        let names: Vec<String> = (0..7).map(|i| format!("m{i}")).collect();
        let all: Vec<Entry> = names
            .iter()
            .map(|n| entry(n, Status::Up, &r, None))
            .collect();
        let page = |p: usize| {
            select(
                &all,
                &Query {
                    page: p,
                    ..query(Sort::Name)
                },
                3,
            )
        };
        assert_eq!(page(1).shown, [0, 1, 2]);
        assert_eq!(page(3).shown, [6]);
        assert_eq!((page(9).page, page(9).shown), (3, vec![6]));
        assert_eq!(page(0).page, 1);
        let none = select(&[], &query(Sort::Name), 3);
        assert_eq!((none.page, none.matching), (1, 0));
    }
}
