//! Dashboard pages (HTML). Handlers load what the page needs, build view
//! models and call `openseer_web`; every form post goes through [`CsrfForm`].

use actix_session::Session;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::Markup;
use openseer_protocol::monitor::{parse_header_lines, IpFamily, ANY_REGION};
use openseer_protocol::{FieldError, MonitorInput};
use openseer_web as views;
use serde::Deserialize;

use super::errors::PageError;
use super::identity::{CsrfForm, CsrfOnly, HasCsrf, SignedIn};
use super::AppState;
use crate::auth::session_store::USER_ID_KEY;
use crate::auth::{csrf, password, token};
use crate::rollup::{
    self,
    plan::{Coverage, Tier, DAY, HOUR},
};
use crate::store::{Monitor, MonitorStatus, NewUser, StoreError};
use openseer_protocol::token::TokenKind;
use std::collections::HashMap;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(monitors))
        .route("/setup", web::get().to(setup_form))
        .route("/setup", web::post().to(setup))
        .route("/login", web::get().to(login_form))
        .route("/login", web::post().to(login))
        .route("/logout", web::post().to(logout))
        .route("/monitors/new", web::get().to(new_monitor))
        .route("/monitors", web::post().to(create_monitor))
        .route("/monitors/test", web::post().to(test_request))
        .route("/monitors/{id}", web::get().to(monitor_page))
        .route("/monitors/{id}", web::post().to(update_monitor))
        .route("/monitors/{id}/edit", web::get().to(edit_monitor))
        .route("/monitors/{id}/pause", web::post().to(pause_monitor))
        .route("/monitors/{id}/check", web::post().to(check_now))
        .route("/monitors/{id}/resume", web::post().to(resume_monitor))
        .route("/monitors/{id}/delete", web::post().to(delete_monitor))
        .route("/workers", web::get().to(workers))
        .route("/cluster", web::get().to(cluster_page))
        .route("/cluster/nodes/{id}/leave", web::post().to(cluster_leave))
        .route(
            "/workers/enrollment-tokens",
            web::post().to(create_enrollment_token),
        )
        .route(
            "/workers/enrollment-tokens/{id}/revoke",
            web::post().to(revoke_enrollment_token),
        )
        .route("/workers/{id}/revoke", web::post().to(revoke_worker))
        .route("/settings/tokens", web::get().to(api_tokens))
        .route("/settings/tokens", web::post().to(create_api_token))
        .route(
            "/settings/tokens/{id}/revoke",
            web::post().to(revoke_api_token),
        )
        .route("/settings/profile", web::get().to(profile))
        .route("/settings/profile", web::post().to(save_profile))
        .route("/settings/password", web::post().to(change_password))
        .route("/settings/users", web::get().to(users))
        .route("/settings/users", web::post().to(create_user))
        .route("/static/{name}", web::get().to(asset));
}

fn html(m: Markup) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(m.into_string())
}

fn html_status(status: actix_web::http::StatusCode, m: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(m.into_string())
}

fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", to))
        .finish()
}

fn frame<'a>(s: &'a SignedIn, title: &'a str, csrf: &'a str, live: bool) -> views::Frame<'a> {
    views::Frame {
        title,
        user: Some(views::NavUser {
            email: &s.user.email,
            org_name: &s.user.org_name,
            is_admin: s.user.is_admin(),
        }),
        csrf,
        live,
    }
}

fn anonymous_frame<'a>(title: &'a str, csrf: &'a str) -> views::Frame<'a> {
    views::Frame {
        title,
        user: None,
        csrf,
        live: false,
    }
}

async fn asset(name: web::Path<String>) -> HttpResponse {
    match views::assets::get(&name) {
        Some(a) => HttpResponse::Ok()
            .content_type(a.content_type)
            .insert_header(("Cache-Control", "public, max-age=31536000, immutable"))
            .body(a.bytes),
        None => super::errors::page_not_found(),
    }
}

// --- setup and sign-in ------------------------------------------------------

#[derive(Deserialize)]
struct SetupQuery {
    token: Option<String>,
}

/// The setup token is valid while no user exists and it matches the stored hash.
async fn setup_allowed(state: &AppState, presented: Option<&str>) -> Result<(), PageError> {
    if state.store.user_count().await? > 0 {
        return Err(PageError::NotFound);
    }
    let stored = state.store.get_meta("setup_token_hash").await?;
    let ok = match (
        presented.and_then(|t| token::lookup_hash(TokenKind::Setup, t)),
        stored,
    ) {
        (Some(h), Some(s)) => token::equal(&h, &s),
        _ => false,
    };
    if !ok {
        return Err(PageError::Forbidden(
            "Setting up this instance needs the one-time setup link printed by the node at start.",
        ));
    }
    Ok(())
}

async fn setup_form(
    state: web::Data<AppState>,
    q: web::Query<SetupQuery>,
    session: Session,
) -> Result<HttpResponse, PageError> {
    setup_allowed(&state, q.token.as_deref()).await?;
    let csrf = csrf::token(&session);
    let token = q.token.clone().unwrap_or_default();
    let f = views::SetupForm {
        token: &token,
        org_name: "",
        name: "",
        email: "",
    };
    Ok(html(views::setup_page(
        &anonymous_frame("Set up", &csrf),
        &f,
        &[],
    )))
}

#[derive(Deserialize)]
struct SetupData {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    org_name: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

impl HasCsrf for SetupData {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

fn check_email(email: &str) -> Result<(), String> {
    let ok = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email
            .split_once('@')
            .is_some_and(|(a, b)| !a.is_empty() && b.contains('.') && !b.contains('@'));
    if ok {
        Ok(())
    } else {
        Err("enter an email address like name@example.com".into())
    }
}

fn check_text(field: &str, value: &str, max: usize, errors: &mut Vec<FieldError>) {
    if value.trim().is_empty() {
        errors.push(FieldError::new(field, "required"));
    } else if value.chars().count() > max || value.chars().any(char::is_control) {
        errors.push(FieldError::new(
            field,
            format!("at most {max} characters, no control characters"),
        ));
    }
}

async fn hash_password(pw: String) -> Result<String, PageError> {
    web::block(move || password::hash(&pw))
        .await
        .map_err(|_| PageError::Internal)?
        .map_err(|e| {
            tracing::error!(error = %e, "hashing a password");
            PageError::Internal
        })
}

async fn setup(
    state: web::Data<AppState>,
    session: Session,
    CsrfForm(f): CsrfForm<SetupData>,
) -> Result<HttpResponse, PageError> {
    setup_allowed(&state, Some(&f.token)).await?;
    let mut errors = Vec::new();
    check_text("org_name", &f.org_name, 100, &mut errors);
    check_text("name", &f.name, 100, &mut errors);
    if let Err(e) = check_email(f.email.trim()) {
        errors.push(FieldError::new("email", e));
    }
    if let Err(e) = password::check_new_password(&f.password) {
        errors.push(FieldError::new("password", e));
    }
    if !errors.is_empty() {
        let csrf = csrf::token(&session);
        let form = views::SetupForm {
            token: &f.token,
            org_name: &f.org_name,
            name: &f.name,
            email: &f.email,
        };
        return Ok(html_status(
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            views::setup_page(&anonymous_frame("Set up", &csrf), &form, &errors),
        ));
    }
    let hash = hash_password(f.password.clone()).await?;
    let admin = NewUser {
        email: f.email.trim(),
        name: f.name.trim(),
        password_hash: &hash,
        role: "admin",
    };
    let user = match state
        .store
        .create_first_admin(f.org_name.trim(), admin, state.now())
        .await
    {
        Ok(u) => u,
        Err(StoreError::Conflict(_)) => return Err(PageError::NotFound),
        Err(e) => return Err(e.into()),
    };
    tracing::info!(user_id = user.id, org_id = user.org_id, "instance set up");
    sign_in(&session, user.id)?;
    Ok(redirect("/"))
}

fn sign_in(session: &Session, user_id: i64) -> Result<(), PageError> {
    // A new session key at sign-in: a key planted before cannot ride along.
    session.renew();
    session
        .insert(USER_ID_KEY, user_id)
        .map_err(|_| PageError::Internal)?;
    session
        .insert("csrf", token::random_hex(32))
        .map_err(|_| PageError::Internal)?;
    Ok(())
}

async fn login_form(
    state: web::Data<AppState>,
    session: Session,
) -> Result<HttpResponse, PageError> {
    if state.store.user_count().await? == 0 {
        let csrf = csrf::token(&session);
        return Ok(html(views::message_page(
            &anonymous_frame("Not set up", &csrf),
            "This instance is not set up yet",
            "Open the one-time setup link that the node printed when it started.",
        )));
    }
    let csrf = csrf::token(&session);
    Ok(html(views::login_page(
        &anonymous_frame("Sign in", &csrf),
        "",
        None,
    )))
}

#[derive(Deserialize)]
struct LoginData {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

impl HasCsrf for LoginData {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    CsrfForm(f): CsrfForm<LoginData>,
) -> Result<HttpResponse, PageError> {
    let now = state.now();
    let email = f.email.trim().to_lowercase();
    let account_key = format!("account:{email}");
    let ip_key = format!(
        "ip:{}",
        req.peer_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default()
    );
    let csrf = csrf::token(&session);
    let frame = anonymous_frame("Sign in", &csrf);
    if state
        .throttle
        .blocked_for(&account_key, now)
        .or(state.throttle.blocked_for(&ip_key, now))
        .is_some()
    {
        tracing::warn!(ip = %ip_key, "sign-in throttled");
        return Ok(html_status(
            actix_web::http::StatusCode::TOO_MANY_REQUESTS,
            views::login_page(
                &frame,
                &f.email,
                Some("Too many failed sign-ins. Wait a few minutes and try again."),
            ),
        ));
    }
    let user = state.store.user_by_email(&email).await?;
    let phc = user.as_ref().map_or_else(
        || password::dummy_hash().to_string(),
        |u| u.password_hash.clone(),
    );
    let pw = f.password.clone();
    let valid = web::block(move || password::verify(&pw, &phc))
        .await
        .map_err(|_| PageError::Internal)?;
    match user {
        Some(u) if valid => {
            state.throttle.clear(&account_key);
            sign_in(&session, u.id)?;
            tracing::info!(user_id = u.id, "signed in");
            Ok(redirect("/"))
        }
        _ => {
            state.throttle.fail(&account_key, now);
            state.throttle.fail(&ip_key, now);
            tracing::info!(ip = %ip_key, "failed sign-in");
            Ok(html_status(
                actix_web::http::StatusCode::UNAUTHORIZED,
                views::login_page(&frame, &f.email, Some("Wrong email or password.")),
            ))
        }
    }
}

async fn logout(s: SignedIn, CsrfForm(_): CsrfForm<CsrfOnly>) -> HttpResponse {
    // Deletes the session row: the old cookie is worthless from now on.
    s.session.purge();
    redirect("/login")
}

// --- monitors ---------------------------------------------------------------

fn regions_of(m: &Monitor) -> Vec<String> {
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
struct OverviewParams {
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
async fn monitors(
    s: SignedIn,
    state: web::Data<AppState>,
    req: HttpRequest,
    params: web::Query<OverviewParams>,
) -> Result<HttpResponse, PageError> {
    let now = state.now();
    let list = state.store.monitor_list(s.user.org_id).await?;
    let latest = state.store.latest_statuses(s.user.org_id).await?;
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
            let mut day = rollup::Aggregate::default();
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
struct MonitorPageParams {
    range: Option<String>,
    region: Option<String>,
}

/// Down periods in the last 7 days, newest first, at most this many.
const DOWN_PERIODS: usize = 10;

async fn monitor_page(
    s: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    params: web::Query<MonitorPageParams>,
) -> Result<HttpResponse, PageError> {
    let m = state.store.monitor(s.user.org_id, *id).await?;
    let now = state.now();
    let latest = state.store.monitor_statuses(s.user.org_id, m.id).await?;
    let by_key: LatestByKey = latest
        .iter()
        .map(|l| ((l.monitor_id, l.region.as_str()), l))
        .collect();
    let results = state.store.recent_results(s.user.org_id, m.id, 50).await?;
    let regions = regions_of(&m);
    let region_text = regions.join(", ");
    let expected = m.check.expected_status.to_string();
    let range = params
        .range
        .as_deref()
        .filter(|r| views::RANGES.contains(r))
        .unwrap_or("24h");
    let range_ms = super::api::range_ms(range).expect("a known range");
    let region = params
        .region
        .as_deref()
        .filter(|r| regions.iter().any(|x| x == r))
        .unwrap_or("");
    let only: Option<Vec<String>> = (!region.is_empty()).then(|| vec![region.to_string()]);
    let coverage = Coverage::at(now, &state.settings.retention);
    let mut uptimes = Vec::new();
    let mut in_range = rollup::Aggregate::default();
    for (label, key) in [
        ("24 h", "24h"),
        ("7 d", "7d"),
        ("30 d", "30d"),
        ("90 d", "90d"),
    ] {
        let len = super::api::range_ms(key).expect("a known range");
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
            views::charts::LatencyPoint {
                start,
                end,
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
                end,
                uptime: a.uptime(),
                checks: a.checked(),
            }
        })
        .collect();
    let down_periods = down_periods(&state, &m, now).await?;
    let vm = views::MonitorDetailVm {
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

async fn check_now(
    s: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    CsrfForm(_): CsrfForm<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    let m = state.store.monitor(s.user.org_id, *id).await?;
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
}

impl HasCsrf for MonitorFormData {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl MonitorFormData {
    fn from_monitor(m: &Monitor) -> MonitorFormData {
        MonitorFormData {
            csrf: String::new(),
            name: m.name.clone(),
            url: m.check.url.clone(),
            method: m.check.method.clone(),
            headers: m
                .check
                .headers
                .iter()
                .map(|h| format!("{}: {}", h.name, h.value))
                .collect::<Vec<_>>()
                .join("\n"),
            body: m.check.body.clone().unwrap_or_default(),
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
        }
    }

    /// Parses and validates; errors are per field, like the API's.
    fn validate(&self) -> Result<openseer_protocol::monitor::ValidMonitor, Vec<FieldError>> {
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
        let input = MonitorInput {
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
    if errors.is_empty() {
        html(page)
    } else {
        html_status(actix_web::http::StatusCode::UNPROCESSABLE_ENTITY, page)
    }
}

async fn new_monitor(s: SignedIn) -> HttpResponse {
    form_page(
        &s,
        "New monitor",
        "/monitors",
        &MonitorFormData::defaults(),
        &[],
    )
}

async fn create_monitor(
    s: SignedIn,
    state: web::Data<AppState>,
    CsrfForm(f): CsrfForm<MonitorFormData>,
) -> Result<HttpResponse, PageError> {
    let valid = match f.validate() {
        Ok(v) => v,
        Err(errors) => return Ok(form_page(&s, "New monitor", "/monitors", &f, &errors)),
    };
    let m = state
        .store
        .create_monitor(s.user.org_id, &valid, state.now())
        .await?;
    state.actors.monitor_changed(&m);
    tracing::info!(monitor_id = m.id, org_id = m.org_id, "monitor created");
    Ok(redirect(&format!("/monitors/{}", m.id)))
}

/// "Test this request": the form's request, checked once by a worker in the
/// monitor's first region; answers with a fragment for the form.
async fn test_request(
    s: SignedIn,
    state: web::Data<AppState>,
    CsrfForm(f): CsrfForm<MonitorFormData>,
) -> Result<HttpResponse, PageError> {
    let valid = match f.validate() {
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
        .probe(
            s.user.org_id,
            &region,
            valid.check.clone(),
            state.now(),
            wait,
        )
        .await;
    tracing::info!(org_id = s.user.org_id, region = %region, answered = got.is_some(), "request tested");
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

async fn edit_monitor(
    s: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let m = state.store.monitor(s.user.org_id, *id).await?;
    Ok(form_page(
        &s,
        &format!("Edit {}", m.name),
        &format!("/monitors/{}", m.id),
        &MonitorFormData::from_monitor(&m),
        &[],
    ))
}

async fn update_monitor(
    s: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    CsrfForm(f): CsrfForm<MonitorFormData>,
) -> Result<HttpResponse, PageError> {
    let existing = state.store.monitor(s.user.org_id, *id).await?;
    let valid = match f.validate() {
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
        .update_monitor(s.user.org_id, existing.id, &valid, state.now())
        .await?;
    state.actors.monitor_changed(&m);
    Ok(redirect(&format!("/monitors/{}", m.id)))
}

async fn set_enabled(
    s: &SignedIn,
    state: &AppState,
    id: i64,
    enabled: bool,
) -> Result<HttpResponse, PageError> {
    let m = state
        .store
        .set_monitor_enabled(s.user.org_id, id, enabled, state.now())
        .await?;
    state.actors.monitor_changed(&m);
    Ok(redirect(&format!("/monitors/{}", m.id)))
}

async fn pause_monitor(
    s: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    _f: CsrfForm<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    set_enabled(&s, &state, *id, false).await
}

async fn resume_monitor(
    s: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    _f: CsrfForm<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    set_enabled(&s, &state, *id, true).await
}

async fn delete_monitor(
    s: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    _f: CsrfForm<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    state.store.delete_monitor(s.user.org_id, *id).await?;
    state.actors.monitor_removed(*id);
    tracing::info!(monitor_id = *id, "monitor deleted");
    Ok(redirect("/"))
}

// --- workers and tokens -----------------------------------------------------

async fn workers_view(
    s: &SignedIn,
    state: &AppState,
    new_token: Option<&str>,
) -> Result<HttpResponse, PageError> {
    let now = state.now();
    let workers = state.store.workers(s.user.org_id).await?;
    let tokens = state.store.enrollment_tokens(s.user.org_id).await?;
    let mut in_flight = std::collections::HashMap::<i64, usize>::new();
    for (_, lm) in state.actors.shards.local_lease_managers() {
        if let Ok(m) = ractor::call_t!(lm, crate::actors::lease_manager::LeaseMsg::InFlight, 2_000)
        {
            for (w, n) in m {
                *in_flight.entry(w).or_default() += n;
            }
        }
    }
    // Capabilities are stored as the worker sent them; show them readably.
    let caps: Vec<String> = workers
        .iter()
        .map(|w| {
            match serde_json::from_str::<openseer_protocol::wire::Capabilities>(&w.capabilities) {
                Ok(c) => format!(
                    "{} · concurrency {}",
                    c.check_types.join(", "),
                    c.concurrency
                ),
                Err(_) => String::new(),
            }
        })
        .collect();
    let wvm: Vec<views::WorkerVm> = workers
        .iter()
        .enumerate()
        .map(|(i, w)| views::WorkerVm {
            id: w.id,
            name: &w.name,
            region: &w.region,
            version: &w.version,
            capabilities: &caps[i],
            last_seen_at: w.last_seen_at,
            in_flight: in_flight.get(&w.id).copied().unwrap_or(0),
            revoked: w.revoked_at.is_some(),
            healthy: now - w.last_seen_at < state.settings.worker_stale_ms,
        })
        .collect();
    let monitors = state.store.monitors(s.user.org_id).await?;
    let regions = region_health(&monitors, &wvm);
    let tvm: Vec<views::EnrollmentTokenVm> = tokens
        .iter()
        .map(|t| views::EnrollmentTokenVm {
            id: t.id,
            name: &t.name,
            created_at: t.created_at,
            revoked: t.revoked_at.is_some(),
        })
        .collect();
    let csrf = s.csrf();
    Ok(html(views::workers_page(
        &frame(s, "Workers", &csrf, true),
        now,
        &wvm,
        &regions,
        &tvm,
        new_token,
        s.user.is_admin(),
    )))
}

/// Per region: healthy workers, and enabled monitors that need it. Regions
/// come from workers and from monitors (a monitor's region with no worker
/// is exactly what to warn about); "any" counts every healthy worker.
fn region_health(monitors: &[Monitor], workers: &[views::WorkerVm]) -> Vec<views::RegionVm> {
    let mut out: std::collections::BTreeMap<String, views::RegionVm> =
        std::collections::BTreeMap::new();
    for w in workers.iter().filter(|w| !w.revoked) {
        let r = out
            .entry(w.region.to_string())
            .or_insert_with(|| views::RegionVm::named(w.region));
        r.workers += 1;
        r.healthy += usize::from(w.healthy);
    }
    let any_healthy = workers.iter().filter(|w| !w.revoked && w.healthy).count();
    for m in monitors.iter().filter(|m| m.enabled) {
        for region in regions_of(m) {
            let r = out
                .entry(region.clone())
                .or_insert_with(|| views::RegionVm::named(&region));
            r.monitors += 1;
            if region == ANY_REGION {
                r.healthy = any_healthy;
            }
        }
    }
    out.into_values().collect()
}

async fn workers(s: SignedIn, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    workers_view(&s, &state, None).await
}

#[derive(Deserialize)]
struct NameForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

impl HasCsrf for NameForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

fn token_name(name: &str) -> String {
    let n: String = name
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect();
    if n.is_empty() {
        "unnamed".into()
    } else {
        n
    }
}

fn require_admin(s: &SignedIn) -> Result<(), PageError> {
    if s.user.is_admin() {
        Ok(())
    } else {
        Err(PageError::Forbidden("Only administrators can do this."))
    }
}

async fn create_enrollment_token(
    s: SignedIn,
    state: web::Data<AppState>,
    CsrfForm(f): CsrfForm<NameForm>,
) -> Result<HttpResponse, PageError> {
    require_admin(&s)?;
    let t = token::generate(TokenKind::Enrollment);
    state
        .store
        .create_enrollment_token(
            s.user.org_id,
            &token_name(&f.name),
            &token::hash(&t),
            state.now(),
        )
        .await?;
    workers_view(&s, &state, Some(&t)).await
}

async fn revoke_enrollment_token(
    s: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    _f: CsrfForm<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    require_admin(&s)?;
    state
        .store
        .revoke_enrollment_token(s.user.org_id, *id, state.now())
        .await?;
    Ok(redirect("/workers"))
}

async fn revoke_worker(
    s: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    _f: CsrfForm<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    require_admin(&s)?;
    state
        .store
        .revoke_worker(s.user.org_id, *id, state.now())
        .await?;
    tracing::info!(worker_id = *id, "worker revoked");
    state.actors.workers_changed(s.user.org_id);
    Ok(redirect("/workers"))
}

async fn api_tokens_view(
    s: &SignedIn,
    state: &AppState,
    new_token: Option<&str>,
) -> Result<HttpResponse, PageError> {
    let tokens = state.store.api_tokens_of_user(s.user.id).await?;
    let vm: Vec<views::ApiTokenVm> = tokens
        .iter()
        .map(|t| views::ApiTokenVm {
            id: t.id,
            name: &t.name,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            revoked: t.revoked_at.is_some(),
        })
        .collect();
    let csrf = s.csrf();
    Ok(html(views::api_tokens_page(
        &frame(s, "API tokens", &csrf, false),
        &vm,
        new_token,
    )))
}

async fn api_tokens(s: SignedIn, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    api_tokens_view(&s, &state, None).await
}

async fn create_api_token(
    s: SignedIn,
    state: web::Data<AppState>,
    CsrfForm(f): CsrfForm<NameForm>,
) -> Result<HttpResponse, PageError> {
    let t = token::generate(TokenKind::User);
    state
        .store
        .create_api_token(
            s.user.org_id,
            s.user.id,
            &token_name(&f.name),
            &token::hash(&t),
            state.now(),
        )
        .await?;
    api_tokens_view(&s, &state, Some(&t)).await
}

async fn revoke_api_token(
    s: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    _f: CsrfForm<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    state
        .store
        .revoke_api_token(s.user.id, *id, state.now())
        .await?;
    Ok(redirect("/settings/tokens"))
}

// --- users --------------------------------------------------------------------

#[derive(Deserialize)]
struct UserForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    role: String,
}

impl HasCsrf for UserForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

async fn users_view(
    s: &SignedIn,
    state: &AppState,
    f: Option<&UserForm>,
    errors: &[FieldError],
    created: Option<&str>,
) -> Result<HttpResponse, PageError> {
    let users = state.store.users_of_org(s.user.org_id).await?;
    let vm: Vec<views::UserVm> = users
        .iter()
        .map(|u| views::UserVm {
            email: &u.email,
            name: &u.name,
            role: &u.role,
        })
        .collect();
    let csrf = s.csrf();
    let (email, name) = f.map_or(("", ""), |f| (f.email.as_str(), f.name.as_str()));
    let page = views::users_page(
        &frame(s, "Users", &csrf, false),
        &vm,
        email,
        name,
        errors,
        created,
    );
    Ok(if errors.is_empty() {
        html(page)
    } else {
        html_status(actix_web::http::StatusCode::UNPROCESSABLE_ENTITY, page)
    })
}

async fn users(s: SignedIn, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    require_admin(&s)?;
    users_view(&s, &state, None, &[], None).await
}

async fn create_user(
    s: SignedIn,
    state: web::Data<AppState>,
    CsrfForm(f): CsrfForm<UserForm>,
) -> Result<HttpResponse, PageError> {
    require_admin(&s)?;
    let mut errors = Vec::new();
    check_text("name", &f.name, 100, &mut errors);
    if let Err(e) = check_email(f.email.trim()) {
        errors.push(FieldError::new("email", e));
    }
    if let Err(e) = password::check_new_password(&f.password) {
        errors.push(FieldError::new("password", e));
    }
    let role = match f.role.as_str() {
        "admin" => "admin",
        "member" | "" => "member",
        _ => {
            errors.push(FieldError::new("role", "admin or member"));
            "member"
        }
    };
    if !errors.is_empty() {
        return users_view(&s, &state, Some(&f), &errors, None).await;
    }
    let hash = hash_password(f.password.clone()).await?;
    let new = NewUser {
        email: f.email.trim(),
        name: f.name.trim(),
        password_hash: &hash,
        role,
    };
    match state
        .store
        .create_user(s.user.org_id, new, state.now())
        .await
    {
        Ok(u) => users_view(&s, &state, None, &[], Some(&u.email)).await,
        Err(StoreError::Conflict(m)) => {
            users_view(&s, &state, Some(&f), &[FieldError::new("email", m)], None).await
        }
        Err(e) => Err(e.into()),
    }
}

// --- profile -----------------------------------------------------------------

fn profile_view(s: &SignedIn, name: &str, notice: Option<&str>, errors: &[FieldError]) -> Markup {
    let csrf = s.csrf();
    views::profile_page(
        &frame(s, "Profile", &csrf, false),
        name,
        &s.user.email,
        notice,
        errors,
    )
}

async fn profile(s: SignedIn) -> HttpResponse {
    html(profile_view(&s, &s.user.name, None, &[]))
}

#[derive(Deserialize)]
struct ProfileForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

impl HasCsrf for ProfileForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

async fn save_profile(
    s: SignedIn,
    state: web::Data<AppState>,
    CsrfForm(f): CsrfForm<ProfileForm>,
) -> Result<HttpResponse, PageError> {
    let name = f.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        let e = [FieldError::new("name", "1 to 100 characters")];
        return Ok(html_status(
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            profile_view(&s, &f.name, None, &e),
        ));
    }
    state.store.set_user_name(s.user.id, name).await?;
    Ok(html(profile_view(&s, name, Some("Saved."), &[])))
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

impl HasCsrf for PasswordForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Needs the current password; ends every session of the user, then signs
/// this one in again under a new key.
async fn change_password(
    s: SignedIn,
    state: web::Data<AppState>,
    CsrfForm(f): CsrfForm<PasswordForm>,
) -> Result<HttpResponse, PageError> {
    let phc = s.user.password_hash.clone();
    let current = f.current_password.clone();
    let valid = web::block(move || password::verify(&current, &phc))
        .await
        .map_err(|_| PageError::Internal)?;
    let mut errors = Vec::new();
    if !valid {
        errors.push(FieldError::new(
            "current_password",
            "this is not your current password",
        ));
    }
    if let Err(e) = password::check_new_password(&f.new_password) {
        errors.push(FieldError::new("new_password", e));
    }
    if f.new_password != f.confirm_password {
        errors.push(FieldError::new(
            "confirm_password",
            "the two new passwords differ",
        ));
    }
    if !errors.is_empty() {
        return Ok(html_status(
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            profile_view(&s, &s.user.name, None, &errors),
        ));
    }
    let new = f.new_password.clone();
    let hash = web::block(move || password::hash(&new))
        .await
        .map_err(|_| PageError::Internal)?
        .map_err(|_| PageError::Internal)?;
    state.store.set_password(s.user.id, &hash).await?;
    sign_in(&s.session, s.user.id)?;
    tracing::info!(
        user_id = s.user.id,
        "password changed; other sessions ended"
    );
    Ok(html(profile_view(
        &s,
        &s.user.name,
        Some("Password changed. Your other sessions are signed out."),
        &[],
    )))
}

// --- cluster -------------------------------------------------------------------

async fn cluster_page(s: SignedIn, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let csrf = s.csrf();
    let vm = match &state.cluster {
        None => None,
        Some(c) => {
            let mine = c.view();
            let map = c.state.borrow().shards.clone();
            let mut nodes = Vec::new();
            for (n, view) in c.survey().await {
                nodes.push(views::ClusterNodeVm {
                    id: n.id,
                    http: n.http.clone(),
                    reachable: view.is_some(),
                    role: view.as_ref().map(|v| v.role.clone()).unwrap_or_default(),
                    term: view.as_ref().map_or(0, |v| v.term),
                    leader: view.as_ref().and_then(|v| v.leader),
                    shards: n.shards,
                    checks_per_second: view.as_ref().map(|v| v.checks_per_second),
                    fenced: view.as_ref().is_some_and(|v| v.fenced),
                    leaving: n.leaving,
                    voter: n.voter,
                    this_node: n.id == mine.me,
                });
            }
            Some(views::ClusterVm {
                leader: mine.leader,
                term: mine.term,
                nodes,
                shard_map: (0..crate::schedule::SHARDS)
                    .map(|i| map.owner_of(i))
                    .collect(),
            })
        }
    };
    Ok(html(views::cluster_page(
        &frame(&s, "Cluster", &csrf, false),
        vm.as_ref(),
        s.user.is_admin(),
    )))
}

async fn cluster_leave(
    s: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<u64>,
    CsrfForm(_): CsrfForm<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    require_admin(&s)?;
    let Some(c) = &state.cluster else {
        return Err(PageError::NotFound);
    };
    let id = id.into_inner();
    if !c.view().nodes.iter().any(|n| n.id == id) {
        return Err(PageError::NotFound);
    }
    if let Err(e) = c.leave(crate::cluster::LeaveRequest { node_id: id }).await {
        tracing::warn!(node_id = id, error = %e, "removing a node from the dashboard");
        return Err(PageError::Internal);
    }
    tracing::info!(
        node_id = id,
        user_id = s.user.id,
        "node removed from the cluster"
    );
    Ok(redirect("/cluster"))
}
