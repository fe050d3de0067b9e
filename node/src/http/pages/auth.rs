//! Setting up the instance, signing in (password, then the second factor
//! when the user has one), re-authenticating before sensitive actions and
//! signing out. Sign-in errors are the same whatever was wrong (no user
//! enumeration); failures are throttled per account and per address and
//! written to the audit log.

use actix_session::Session;
use actix_web::{web, HttpRequest, HttpResponse};
use openseer_protocol::token::TokenKind;
use openseer_protocol::FieldError;
use openseer_web as views;
use serde::Deserialize;

use super::{
    anonymous_frame, check_email, check_text, frame, hash_password, html, html_status, local_path,
    redirect, unprocessable, verify_password,
};
use crate::auth::throttle::Attempt;
use crate::auth::{csrf, password, token};
use crate::http::errors::PageError;
use crate::http::identity::{
    has_csrf, peer_ip, start_session, CsrfForm, CsrfOnly, SignedIn, REAUTH_KEY,
};
use crate::http::AppState;
use openseer_store::{NewAudit, NewUser, StoreError, User};

/// A sign-in waiting for its second factor: the user, and since when.
use crate::auth::session_store::PENDING_USER_KEY;
const PENDING_AT_KEY: &str = "pending_at";
/// Where to go once the sign-in completes.
const PENDING_NEXT_KEY: &str = "pending_next";
/// How long a password stays good for completing the second step.
const PENDING_MS: i64 = 5 * 60_000;

const WRONG_CREDENTIALS: &str = "Wrong email or password.";
const WRONG_CODE: &str = "That code is not valid. Use the current code of your authenticator app, or an unused recovery code.";

#[derive(Deserialize)]
pub struct SetupQuery {
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
        return Err(PageError::forbidden(
            "Setting up this instance needs the one-time setup link printed by the node at start.",
        ));
    }
    Ok(())
}

pub async fn setup_form(
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
pub struct SetupData {
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

#[derive(Deserialize)]
pub struct LoginData {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

#[derive(Deserialize)]
pub struct CodeData {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

#[derive(Deserialize)]
pub struct ReauthData {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    next: String,
}

has_csrf!(SetupData, LoginData, CodeData, ReauthData);

pub async fn setup(
    req: HttpRequest,
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
    if let Err(e) = password::check_new_password(&f.password, &[&f.email, &f.name, &f.org_name]) {
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
        return Ok(unprocessable(views::setup_page(
            &anonymous_frame("Set up", &csrf),
            &form,
            &errors,
        )));
    }
    let hash = hash_password(f.password.clone()).await?;
    let admin = NewUser {
        email: f.email.trim(),
        name: f.name.trim(),
        password_hash: &hash,
    };
    let now = state.now();
    let (user, org_id) = match state
        .store
        .create_first_admin(f.org_name.trim(), admin, now)
        .await
    {
        Ok(u) => u,
        Err(StoreError::Conflict(_)) => return Err(PageError::NotFound),
        Err(e) => return Err(e.into()),
    };
    tracing::info!(user_id = user.id, org_id, "instance set up");
    state
        .audit(
            NewAudit::by_user(
                org_id,
                user.id,
                &user.email,
                "organization.created",
                peer_ip(&req),
            )
            .on("organization", org_id)
            .detail(format!("{} (instance set up)", f.org_name.trim())),
        )
        .await;
    start_session(&session, user.id, org_id, now)?;
    Ok(redirect("/"))
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn login_form(
    state: web::Data<AppState>,
    session: Session,
    q: web::Query<NextQuery>,
) -> Result<HttpResponse, PageError> {
    let csrf = csrf::token(&session);
    if state.store.user_count().await? == 0 {
        return Ok(html(views::message_page(
            &anonymous_frame("Not set up", &csrf),
            "This instance is not set up yet",
            "Open the one-time setup link that the node printed when it started.",
        )));
    }
    let next = local_path(q.next.as_deref());
    Ok(html(views::login_page(
        &anonymous_frame("Sign in", &csrf),
        "",
        &next,
        None,
    )))
}

/// A password check of `email`'s account from this request's client.
pub(crate) fn attempt(req: &HttpRequest, email: &str) -> Attempt {
    Attempt::new(email, peer_ip(req).as_deref())
}

pub(crate) fn throttled(state: &AppState, a: &Attempt) -> bool {
    state.throttle.blocked_for(a, state.now()).is_some()
}

pub(crate) const THROTTLED: &str = "Too many failed sign-ins. Wait a few minutes and try again.";

/// Writes a failed sign-in to the audit log of every organization the
/// account belongs to (their admins should see attempts on their members),
/// or of the instance when there is no such account.
async fn audit_failure(
    state: &AppState,
    user: Option<&User>,
    email: &str,
    ip: Option<String>,
    why: &str,
) {
    let orgs = match user {
        Some(u) => state
            .store
            .memberships_of(u.id)
            .await
            .map(|ms| ms.into_iter().map(|m| Some(m.org_id)).collect())
            .unwrap_or_default(),
        None => vec![None],
    };
    let actor: String = email.trim().chars().take(254).collect();
    for org_id in orgs {
        state
            .audit(NewAudit {
                org_id,
                actor_id: user.map(|u| u.id),
                actor: actor.clone(),
                action: "user.sign_in_failed",
                object_type: Some("user"),
                object_id: user.map(|u| u.id.to_string()),
                detail: Some(why.to_string()),
                ip: ip.clone(),
            })
            .await;
    }
}

/// Opens a signed-in session for a user who proved who they are, in the
/// organization they used last, and records it.
async fn complete_sign_in(
    state: &AppState,
    session: &Session,
    user: &User,
    how: &str,
    ip: Option<String>,
) -> Result<Option<i64>, PageError> {
    let orgs = state.store.memberships_of(user.id).await?;
    let Some(org) = orgs
        .iter()
        .find(|m| Some(m.org_id) == user.last_org_id)
        .or(orgs.first())
    else {
        return Ok(None);
    };
    start_session(session, user.id, org.org_id, state.now())?;
    tracing::info!(user_id = user.id, "signed in");
    state
        .audit(
            NewAudit::by_user(org.org_id, user.id, &user.email, "user.signed_in", ip)
                .on("user", user.id)
                .detail(how),
        )
        .await;
    Ok(Some(org.org_id))
}

pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    CsrfForm(f): CsrfForm<LoginData>,
) -> Result<HttpResponse, PageError> {
    let keys = attempt(&req, &f.email);
    let csrf = csrf::token(&session);
    let frame = anonymous_frame("Sign in", &csrf);
    let next = local_path(Some(&f.next));
    if throttled(&state, &keys) {
        tracing::warn!(client = keys.client(), "sign-in throttled");
        return Ok(html_status(
            actix_web::http::StatusCode::TOO_MANY_REQUESTS,
            views::login_page(&frame, &f.email, &next, Some(THROTTLED)),
        ));
    }
    let user = state.store.user_by_email(f.email.trim()).await?;
    // An unknown address costs the same hash as a known one.
    let phc = user.as_ref().map_or_else(
        || password::dummy_hash().to_string(),
        |u| u.password_hash.clone(),
    );
    let valid = verify_password(f.password.clone(), phc).await?;
    let ip = peer_ip(&req);
    let user = match user {
        Some(u) if valid => u,
        other => {
            state.throttle.fail(&keys, state.now());
            tracing::info!(client = keys.client(), "failed sign-in");
            let why = "wrong password or unknown email";
            audit_failure(&state, other.as_ref(), &f.email, ip, why).await;
            return Ok(html_status(
                actix_web::http::StatusCode::UNAUTHORIZED,
                views::login_page(&frame, &f.email, &next, Some(WRONG_CREDENTIALS)),
            ));
        }
    };
    if user.totp_enabled {
        // The password was right; the session is not signed in until the
        // second factor is. A new key, so nothing planted before follows.
        session.renew();
        session.clear();
        let set = |k: &str, v: i64| session.insert(k, v).map_err(|_| PageError::Internal);
        set(PENDING_USER_KEY, user.id)?;
        set(PENDING_AT_KEY, state.now())?;
        session
            .insert(PENDING_NEXT_KEY, &next)
            .map_err(|_| PageError::Internal)?;
        return Ok(redirect("/login/2fa"));
    }
    state.throttle.succeed(&keys, state.now());
    match complete_sign_in(&state, &session, &user, "password", ip).await? {
        Some(_) => Ok(redirect(&next)),
        None => Ok(no_organization(&frame)),
    }
}

/// For an account that belongs to no organization (any more).
fn no_organization(frame: &views::Frame) -> HttpResponse {
    html_status(
        actix_web::http::StatusCode::FORBIDDEN,
        views::message_page(
            frame,
            "No organization",
            "Your account is not a member of any organization any more. Ask an administrator for an invitation.",
        ),
    )
}

/// The user whose password was accepted within the last minutes.
async fn pending_user(state: &AppState, session: &Session) -> Result<Option<User>, PageError> {
    let id = session.get::<i64>(PENDING_USER_KEY).ok().flatten();
    let at = session.get::<i64>(PENDING_AT_KEY).ok().flatten();
    let (Some(id), Some(at)) = (id, at) else {
        return Ok(None);
    };
    if state.now() - at > PENDING_MS {
        session.purge();
        return Ok(None);
    }
    match state.store.user_by_id(id).await {
        Ok(u) => Ok(Some(u)),
        Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub async fn second_factor_form(
    state: web::Data<AppState>,
    session: Session,
) -> Result<HttpResponse, PageError> {
    if pending_user(&state, &session).await?.is_none() {
        return Ok(redirect("/login"));
    }
    let csrf = csrf::token(&session);
    Ok(html(views::second_factor_page(
        &anonymous_frame("Two-factor sign-in", &csrf),
        None,
    )))
}

pub async fn second_factor(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    CsrfForm(f): CsrfForm<CodeData>,
) -> Result<HttpResponse, PageError> {
    let Some(user) = pending_user(&state, &session).await? else {
        return Ok(redirect("/login"));
    };
    let csrf = csrf::token(&session);
    let frame = anonymous_frame("Two-factor sign-in", &csrf);
    let keys = attempt(&req, &user.email);
    if throttled(&state, &keys) {
        return Ok(html_status(
            actix_web::http::StatusCode::TOO_MANY_REQUESTS,
            views::second_factor_page(&frame, Some(THROTTLED)),
        ));
    }
    let ip = peer_ip(&req);
    let Some(how) = super::two_factor::check_second_factor(&state, &user, &f.code).await? else {
        state.throttle.fail(&keys, state.now());
        audit_failure(&state, Some(&user), &user.email, ip, "wrong second factor").await;
        return Ok(html_status(
            actix_web::http::StatusCode::UNAUTHORIZED,
            views::second_factor_page(&frame, Some(WRONG_CODE)),
        ));
    };
    state.throttle.succeed(&keys, state.now());
    let next = session
        .get::<String>(PENDING_NEXT_KEY)
        .ok()
        .flatten()
        .unwrap_or_default();
    match complete_sign_in(&state, &session, &user, how.describe(), ip).await? {
        Some(_) => Ok(redirect(&local_path(Some(&next)))),
        None => Ok(no_organization(&frame)),
    }
}

pub async fn reauth_form(s: SignedIn, q: web::Query<NextQuery>) -> HttpResponse {
    let csrf = s.csrf();
    let next = local_path(q.next.as_deref());
    html(views::reauth_page(
        &frame(&s, "Confirm it is you", &csrf, None),
        &next,
        s.user.totp_enabled,
        &[],
    ))
}

/// Password (and second factor, when the user has one) again: sensitive
/// actions are open for the next minutes, under a new session key.
pub async fn reauth(
    req: HttpRequest,
    s: SignedIn,
    state: web::Data<AppState>,
    CsrfForm(f): CsrfForm<ReauthData>,
) -> Result<HttpResponse, PageError> {
    let next = local_path(Some(&f.next));
    let csrf = s.csrf();
    let page = |errors: &[FieldError]| {
        views::reauth_page(
            &frame(&s, "Confirm it is you", &csrf, None),
            &next,
            s.user.totp_enabled,
            errors,
        )
    };
    match confirm_identity(&req, &s, &state, &f.password, &f.code).await? {
        Confirmed::Yes => Ok(redirect(&next)),
        Confirmed::Throttled => Ok(html_status(
            actix_web::http::StatusCode::TOO_MANY_REQUESTS,
            page(&[FieldError::new("password", THROTTLED)]),
        )),
        Confirmed::No(errors) => Ok(html_status(
            actix_web::http::StatusCode::UNAUTHORIZED,
            page(&errors),
        )),
    }
}

/// How a re-check of the signed-in user's password went.
pub(super) enum Confirmed {
    Yes,
    Throttled,
    /// What was wrong, per field.
    No(Vec<FieldError>),
}

/// Checks the signed-in user's password (and code, with two-factor sign-in
/// on), throttled like signing in. Confirmed, the session gets a new key
/// and counts as recently authenticated.
pub(super) async fn confirm_identity(
    req: &HttpRequest,
    s: &SignedIn,
    state: &AppState,
    password: &str,
    code: &str,
) -> Result<Confirmed, PageError> {
    let keys = attempt(req, &s.user.email);
    if throttled(state, &keys) {
        return Ok(Confirmed::Throttled);
    }
    let mut errors = Vec::new();
    if !verify_password(password.to_string(), s.user.password_hash.clone()).await? {
        errors.push(FieldError::new("password", "this is not your password"));
    } else if s.user.totp_enabled
        && super::two_factor::check_second_factor(state, &s.user, code)
            .await?
            .is_none()
    {
        errors.push(FieldError::new("code", WRONG_CODE));
    }
    if !errors.is_empty() {
        state.throttle.fail(&keys, state.now());
        state
            .audit(
                s.audit("user.sign_in_failed")
                    .on("user", s.user.id)
                    .detail("re-authentication failed"),
            )
            .await;
        return Ok(Confirmed::No(errors));
    }
    state.throttle.succeed(&keys, state.now());
    // More privilege for this session: a new key for it.
    s.session.renew();
    s.session
        .insert(REAUTH_KEY, state.now())
        .map_err(|_| PageError::Internal)?;
    Ok(Confirmed::Yes)
}

pub async fn logout(
    s: SignedIn,
    state: web::Data<AppState>,
    CsrfForm(_): CsrfForm<CsrfOnly>,
) -> HttpResponse {
    state.audit(s.audit("user.signed_out")).await;
    // Deletes the session row: the old cookie is worthless from now on.
    s.session.purge();
    redirect("/login")
}
