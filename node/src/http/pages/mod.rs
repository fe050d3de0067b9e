//! Dashboard pages (HTML). Handlers load what the page needs, build view
//! models and call `openseer_web`; every form post goes through
//! `CsrfForm`, and every handler that acts on an organization's objects
//! checks the member's role with `SignedIn::require` first.
//!
//! - `auth`: setup, sign-in (password, then second factor), re-authentication
//!   before sensitive actions, sign-out;
//! - `monitors`: the overview, monitor pages and forms;
//! - `incidents`: incident list and pages; `channels`: notification channels;
//!   `maintenance`: maintenance windows and the notice while one is open;
//! - `workers`: workers and enrollment tokens;
//! - `members`: members, roles, invitations, organizations, the audit log;
//! - `settings`: profile, password, API tokens; `two_factor`: TOTP;
//! - `cluster`: the cluster page.

mod auth;
mod channels;
mod cluster;
mod incidents;
mod maintenance;
mod members;
mod monitors;
mod settings;
mod two_factor;
mod workers;

use actix_web::{web, HttpRequest, HttpResponse};
use maud::Markup;
use openseer_protocol::FieldError;
use openseer_web as views;

use super::errors::PageError;
use super::identity::SignedIn;
use super::AppState;
use crate::auth::password;

super::routes! {
    fn routes, const ROUTES;
    get "/" => monitors::overview;
    get "/overview/counts" => monitors::overview_counts;
    get "/overview/incidents" => monitors::open_incidents;
    get "/overview/maintenance" => maintenance::notice;
    get "/setup" => auth::setup_form;
    post "/setup" => auth::setup;
    get "/login" => auth::login_form;
    post "/login" => auth::login;
    get "/login/2fa" => auth::second_factor_form;
    post "/login/2fa" => auth::second_factor;
    get "/reauth" => auth::reauth_form;
    post "/reauth" => auth::reauth;
    post "/logout" => auth::logout;
    get "/invite" => members::invitation_page;
    post "/invite" => members::accept_invitation;
    post "/orgs" => members::create_organization;
    post "/orgs/switch" => members::switch_organization;
    get "/monitors/new" => monitors::new_monitor;
    post "/monitors" => monitors::create_monitor;
    post "/monitors/test" => monitors::test_request;
    get "/monitors/{id}" => monitors::monitor_page;
    get "/monitors/{id}/summary" => monitors::monitor_summary;
    post "/monitors/{id}" => monitors::update_monitor;
    get "/monitors/{id}/edit" => monitors::edit_monitor;
    post "/monitors/{id}/pause" => monitors::pause_monitor;
    post "/monitors/{id}/check" => monitors::check_now;
    post "/monitors/{id}/resume" => monitors::resume_monitor;
    post "/monitors/{id}/delete" => monitors::delete_monitor;
    get "/incidents" => incidents::list;
    get "/incidents/{id}" => incidents::page;
    post "/incidents/{id}/ack" => incidents::acknowledge;
    post "/incidents/{id}/notes" => incidents::add_note;
    get "/maintenance" => maintenance::list;
    post "/maintenance" => maintenance::create;
    post "/maintenance/{id}/delete" => maintenance::delete;
    get "/channels" => channels::list;
    get "/channels/new" => channels::new_form;
    post "/channels" => channels::create;
    get "/channels/{id}" => channels::edit_form;
    post "/channels/{id}" => channels::update;
    post "/channels/{id}/delete" => channels::delete;
    post "/channels/{id}/test" => channels::test;
    get "/workers" => workers::workers;
    post "/workers/enrollment-tokens" => workers::create_enrollment_token;
    post "/workers/enrollment-tokens/{id}/revoke" => workers::revoke_enrollment_token;
    post "/workers/{id}/revoke" => workers::revoke_worker;
    get "/cluster" => cluster::cluster_page;
    post "/cluster/nodes/{id}/leave" => cluster::cluster_leave;
    get "/settings/tokens" => settings::api_tokens;
    post "/settings/tokens" => settings::create_api_token;
    post "/settings/tokens/{id}/revoke" => settings::revoke_api_token;
    get "/settings/profile" => settings::profile;
    post "/settings/profile" => settings::save_profile;
    post "/settings/password" => settings::change_password;
    get "/settings/2fa" => two_factor::page;
    post "/settings/2fa/setup" => two_factor::begin;
    post "/settings/2fa/enable" => two_factor::enable;
    post "/settings/2fa/disable" => two_factor::disable;
    post "/settings/2fa/recovery-codes" => two_factor::new_recovery_codes;
    get "/settings/members" => members::members;
    post "/settings/members/{user_id}/role" => members::change_role;
    post "/settings/members/{user_id}/remove" => members::remove_member;
    post "/settings/invitations" => members::invite;
    post "/settings/invitations/{id}/revoke" => members::revoke_invitation;
    get "/settings/organization" => members::organization;
    post "/settings/organization" => members::save_organization;
    get "/settings/audit" => members::audit_log;
    get "/static/{name}" => asset;
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

/// The address links and commands for others point at: the configured
/// public URL, or the host this request came to.
fn base_url(req: &HttpRequest, state: &AppState) -> String {
    if let Some(u) = &state.settings.public_url {
        return u.trim_end_matches('/').to_string();
    }
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", to))
        .finish()
}

fn frame<'a>(
    s: &'a SignedIn,
    title: &'a str,
    csrf: &'a str,
    live: Option<String>,
) -> views::Frame<'a> {
    views::Frame {
        title,
        user: Some(views::NavUser {
            email: &s.user.email,
            org_id: s.org.org_id,
            org_name: &s.org.org_name,
            role: s.org.role,
            orgs: s
                .orgs
                .iter()
                .map(|m| (m.org_id, m.org_name.as_str()))
                .collect(),
            operator: s.operator,
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
        live: None,
    }
}

fn unprocessable(m: Markup) -> HttpResponse {
    html_status(actix_web::http::StatusCode::UNPROCESSABLE_ENTITY, m)
}

/// A page that shows errors answers 422, one without 200.
fn html_or_invalid(m: Markup, errors: &[FieldError]) -> HttpResponse {
    if errors.is_empty() {
        html(m)
    } else {
        unprocessable(m)
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

async fn verify_password(pw: String, phc: String) -> Result<bool, PageError> {
    web::block(move || password::verify(&pw, &phc))
        .await
        .map_err(|_| PageError::Internal)
}

/// A name for a token or an invitation as typed: control characters
/// dropped, at most 100 characters.
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

/// An optional expiry in days from a form: empty for none, else 1 to 3650.
fn expiry_days(field: &str, text: &str, now: i64, errors: &mut Vec<FieldError>) -> Option<i64> {
    let t = text.trim();
    if t.is_empty() || t == "never" {
        return None;
    }
    match t.parse::<i64>() {
        Ok(d) if (1..=3650).contains(&d) => Some(now + d * openseer_core::rollup::plan::DAY),
        _ => {
            errors.push(FieldError::new(
                field,
                "a number of days from 1 to 3650, or empty for never",
            ));
            None
        }
    }
}

/// A local path to return to after a detour (sign-in, re-authentication):
/// only paths on this site (never `//host`, `/\\host` or a scheme), in
/// visible ASCII, else the overview.
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.contains('\\')
                && p.len() <= 512
                && p.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            p.to_string()
        }
        _ => "/".to_string(),
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
