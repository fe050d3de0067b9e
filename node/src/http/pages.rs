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
use crate::store::{Monitor, MonitorStatus, NewUser, StoreError};
use openseer_protocol::token::TokenKind;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(monitors))
        .route("/setup", web::get().to(setup_form))
        .route("/setup", web::post().to(setup))
        .route("/login", web::get().to(login_form))
        .route("/login", web::post().to(login))
        .route("/logout", web::post().to(logout))
        .route("/monitors/new", web::get().to(new_monitor))
        .route("/monitors", web::post().to(create_monitor))
        .route("/monitors/{id}", web::get().to(monitor_page))
        .route("/monitors/{id}", web::post().to(update_monitor))
        .route("/monitors/{id}/edit", web::get().to(edit_monitor))
        .route("/monitors/{id}/pause", web::post().to(pause_monitor))
        .route("/monitors/{id}/resume", web::post().to(resume_monitor))
        .route("/monitors/{id}/delete", web::post().to(delete_monitor))
        .route("/workers", web::get().to(workers))
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
    if m.regions.is_empty() {
        vec![ANY_REGION.to_string()]
    } else {
        m.regions.clone()
    }
}

fn statuses<'a>(
    m: &Monitor,
    latest: &'a [MonitorStatus],
    regions: &'a [String],
) -> Vec<views::live::StatusVm<'a>> {
    regions
        .iter()
        .map(|r| {
            let s = latest
                .iter()
                .find(|s| s.monitor_id == m.id && &s.region == r);
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

async fn monitors(s: SignedIn, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let list = state.store.monitors(s.user.org_id).await?;
    let latest = state.store.latest_statuses(s.user.org_id).await?;
    let regions: Vec<Vec<String>> = list.iter().map(regions_of).collect();
    let rows: Vec<views::MonitorRowVm> = list
        .iter()
        .zip(&regions)
        .map(|(m, r)| views::MonitorRowVm {
            id: m.id,
            name: &m.name,
            url: &m.check.url,
            interval_seconds: m.interval_seconds,
            enabled: m.enabled,
            statuses: statuses(m, &latest, r),
        })
        .collect();
    let csrf = s.csrf();
    Ok(html(views::monitors_page(
        &frame(&s, "Monitors", &csrf, true),
        &rows,
    )))
}

async fn monitor_page(
    s: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let m = state.store.monitor(s.user.org_id, *id).await?;
    let latest = state.store.latest_statuses(s.user.org_id).await?;
    let results = state.store.recent_results(s.user.org_id, m.id, 50).await?;
    let regions = regions_of(&m);
    let region_text = regions.join(", ");
    let expected = m.check.expected_status.to_string();
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
        statuses: statuses(&m, &latest, &regions),
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
        })
        .collect();
    let csrf = s.csrf();
    Ok(html(views::monitor_page(
        &frame(&s, &m.name, &csrf, true),
        &vm,
        &rows,
    )))
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
    for lm in &state.actors.lease_managers {
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
        &frame(s, "Workers", &csrf, false),
        now,
        &wvm,
        &tvm,
        new_token,
        s.user.is_admin(),
    )))
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
