//! A user's own settings: profile, password, API tokens. Creating a token
//! and changing the password need a recent re-authentication.

use actix_web::{web, HttpRequest, HttpResponse};
use maud::Markup;
use openseer_protocol::token::TokenKind;
use openseer_protocol::{FieldError, Role, Scope};
use openseer_web as views;
use serde::Deserialize;

use super::{
    expiry_days, frame, hash_password, html, html_or_invalid, html_status, redirect, token_name,
    unprocessable, verify_password,
};
use crate::auth::{password, token};
use crate::http::errors::PageError;
use crate::http::identity::{has_csrf, CsrfForm, CsrfOnly, SignedIn};
use crate::http::AppState;
use openseer_store::NewApiToken;

/// The widest scope a member with `role` may give a token: a token never
/// says it may do more than its user.
fn widest_scope(role: Role) -> Scope {
    match role {
        Role::Viewer => Scope::Read,
        Role::Editor => Scope::Write,
        Role::Admin | Role::Owner => Scope::Admin,
    }
}

async fn api_tokens_view(
    s: &SignedIn,
    state: &AppState,
    new_token: Option<&str>,
    errors: &[FieldError],
) -> Result<HttpResponse, PageError> {
    let tokens = state
        .store
        .api_tokens_of_user(s.user.id, s.org_id())
        .await?;
    let now = state.now();
    let vm: Vec<views::ApiTokenVm> = tokens
        .iter()
        .map(|t| views::ApiTokenVm {
            id: t.id,
            name: &t.name,
            scope: t.scope,
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            status: match (t.revoked_at, t.expires_at) {
                (Some(_), _) => "revoked",
                (None, Some(e)) if e <= now => "expired",
                _ => "active",
            },
        })
        .collect();
    let csrf = s.csrf();
    let scopes: Vec<Scope> = Scope::ALL
        .into_iter()
        .filter(|sc| *sc <= widest_scope(s.role()))
        .collect();
    Ok(html_or_invalid(
        views::api_tokens_page(
            &frame(s, "API tokens", &csrf, None),
            &vm,
            &scopes,
            new_token,
            errors,
        ),
        errors,
    ))
}

pub async fn api_tokens(
    s: SignedIn,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    api_tokens_view(&s, &state, None, &[]).await
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    expires_days: String,
}

#[derive(Deserialize)]
pub struct ProfileForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

has_csrf!(TokenForm, ProfileForm, PasswordForm);

pub async fn create_api_token(
    s: SignedIn,
    state: web::Data<AppState>,
    CsrfForm(f): CsrfForm<TokenForm>,
) -> Result<HttpResponse, PageError> {
    let now = state.now();
    s.require_recent_auth(now, "/settings/tokens")?;
    let mut errors = Vec::new();
    let scope = match Scope::parse(f.scope.trim()) {
        Some(sc) if sc <= widest_scope(s.role()) => sc,
        Some(sc) => {
            errors.push(FieldError::new(
                "scope",
                format!("a {} cannot make a token with the {sc} scope", s.role()),
            ));
            Scope::Read
        }
        None => {
            errors.push(FieldError::new("scope", "read, write or admin"));
            Scope::Read
        }
    };
    let expires_at = expiry_days("expires_days", &f.expires_days, now, &mut errors);
    if !errors.is_empty() {
        return api_tokens_view(&s, &state, None, &errors).await;
    }
    let t = token::generate(TokenKind::User);
    let name = token_name(&f.name);
    let id = state
        .store
        .create_api_token(
            NewApiToken {
                org_id: s.org_id(),
                user_id: s.user.id,
                name: &name,
                token_hash: &token::hash(&t),
                scope,
                expires_at,
            },
            now,
        )
        .await?;
    state
        .audit(
            s.audit("api_token.created")
                .on("api_token", id)
                .detail(format!("\"{name}\", scope {scope}")),
        )
        .await;
    api_tokens_view(&s, &state, Some(&t), &[]).await
}

pub async fn revoke_api_token(
    s: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    _f: CsrfForm<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    let name = state
        .store
        .revoke_api_token(s.user.id, s.org_id(), *id, state.now())
        .await?;
    state
        .audit(
            s.audit("api_token.revoked")
                .on("api_token", id)
                .detail(format!("\"{name}\"")),
        )
        .await;
    Ok(redirect("/settings/tokens"))
}

fn profile_view(s: &SignedIn, name: &str, notice: Option<&str>, errors: &[FieldError]) -> Markup {
    let csrf = s.csrf();
    views::profile_page(
        &frame(s, "Profile", &csrf, None),
        &views::ProfileVm {
            name,
            email: &s.user.email,
            two_factor: s.user.totp_enabled,
            notice,
        },
        errors,
    )
}

pub async fn profile(s: SignedIn) -> HttpResponse {
    html(profile_view(&s, &s.user.name, None, &[]))
}

pub async fn save_profile(
    s: SignedIn,
    state: web::Data<AppState>,
    CsrfForm(f): CsrfForm<ProfileForm>,
) -> Result<HttpResponse, PageError> {
    let name = f.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        let e = [FieldError::new("name", "1 to 100 characters")];
        return Ok(unprocessable(profile_view(&s, &f.name, None, &e)));
    }
    state.store.set_user_name(s.user.id, name).await?;
    Ok(html(profile_view(&s, name, Some("Saved."), &[])))
}

/// Needs a recent re-authentication and the current password; ends every
/// session of the user, then signs this one in again under a new key.
pub async fn change_password(
    req: HttpRequest,
    s: SignedIn,
    state: web::Data<AppState>,
    CsrfForm(f): CsrfForm<PasswordForm>,
) -> Result<HttpResponse, PageError> {
    s.require_recent_auth(state.now(), "/settings/profile")?;
    // The current password is a password check like a sign-in's: a
    // session left open must not become a place to guess it.
    let attempt = super::auth::attempt(&req, &s.user.email);
    if super::auth::throttled(&state, &attempt) {
        let errors = [FieldError::new("current_password", super::auth::THROTTLED)];
        return Ok(html_status(
            actix_web::http::StatusCode::TOO_MANY_REQUESTS,
            profile_view(&s, &s.user.name, None, &errors),
        ));
    }
    let valid = verify_password(f.current_password.clone(), s.user.password_hash.clone()).await?;
    let mut errors = Vec::new();
    if !valid {
        state.throttle.fail(&attempt, state.now());
        errors.push(FieldError::new(
            "current_password",
            "this is not your current password",
        ));
    }
    if let Err(e) = password::check_new_password(&f.new_password, &[&s.user.email, &s.user.name]) {
        errors.push(FieldError::new("new_password", e));
    }
    if f.new_password != f.confirm_password {
        errors.push(FieldError::new(
            "confirm_password",
            "the two new passwords differ",
        ));
    }
    if !errors.is_empty() {
        return Ok(unprocessable(profile_view(&s, &s.user.name, None, &errors)));
    }
    let hash = hash_password(f.new_password.clone()).await?;
    state.store.set_password(s.user.id, &hash).await?;
    crate::http::identity::start_session(&s.session, s.user.id, s.org_id(), state.now())?;
    tracing::info!(
        user_id = s.user.id,
        "password changed; other sessions ended"
    );
    state
        .audit(s.audit("user.password_changed").on("user", s.user.id))
        .await;
    Ok(html(profile_view(
        &s,
        &s.user.name,
        Some("Password changed. Your other sessions are signed out."),
        &[],
    )))
}
