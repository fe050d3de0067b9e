//! Two-factor sign-in with TOTP (any authenticator app) and recovery codes.
//! Setting it up shows a QR code and the key; it is in force once a code
//! from the app is confirmed, which also hands out ten single-use recovery
//! codes (shown once, stored hashed). The secret is sealed at rest. Turning
//! it off or making new recovery codes needs a recent re-authentication,
//! and turning it off is refused while an organization of the user's
//! requires it.

use actix_web::{web, HttpRequest, HttpResponse};
use openseer_protocol::FieldError;
use openseer_web as views;
use serde::Deserialize;

use super::auth::{confirm_identity, Confirmed, THROTTLED};
use super::{frame, html, html_or_invalid};
use crate::auth::{token, totp};
use crate::http::errors::PageError;
use crate::http::identity::{has_csrf, CsrfForm, CsrfOnly, SignedIn};
use crate::http::AppState;
use openseer_store::{NewAudit, User};

const PURPOSE: &str = "user.totp";

/// How a second factor was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    Authenticator,
    RecoveryCode,
}

impl Factor {
    pub fn describe(self) -> &'static str {
        match self {
            Factor::Authenticator => "password and authenticator code",
            Factor::RecoveryCode => "password and recovery code",
        }
    }
}

/// The user's TOTP secret (enrolled or in force), opened.
async fn secret_of(state: &AppState, user_id: i64) -> Result<Option<(Vec<u8>, bool)>, PageError> {
    let Some(t) = state.store.totp_state(user_id).await? else {
        return Ok(None);
    };
    let sealer = state.store.sealer()?;
    let key = sealer.open(PURPOSE, &t.sealed_secret).map_err(|e| {
        tracing::error!(user_id, error = %e, "opening a TOTP secret");
        PageError::Internal
    })?;
    let bytes = hex::decode(key).map_err(|_| PageError::Internal)?;
    Ok(Some((bytes, t.enabled)))
}

/// Checks a second factor: a current authenticator code (each good once)
/// or an unused recovery code (used up by this). `None` when neither.
pub async fn check_second_factor(
    state: &AppState,
    user: &User,
    code: &str,
) -> Result<Option<Factor>, PageError> {
    if !user.totp_enabled {
        return Ok(None);
    }
    let Some((secret, true)) = secret_of(state, user.id).await? else {
        return Ok(None);
    };
    let now = state.now();
    if let Some(step) = totp::verify(&secret, code, now) {
        if state.store.accept_totp_step(user.id, step).await? {
            return Ok(Some(Factor::Authenticator));
        }
        return Ok(None);
    }
    let Some(recovery) = totp::normalize_recovery_code(code) else {
        return Ok(None);
    };
    if state
        .store
        .use_recovery_code(user.id, &token::hash(&recovery), now)
        .await?
    {
        tracing::info!(user_id = user.id, "recovery code used");
        return Ok(Some(Factor::RecoveryCode));
    }
    Ok(None)
}

/// Which of the user's organizations require two-factor sign-in.
fn requiring(s: &SignedIn) -> Vec<&str> {
    s.orgs
        .iter()
        .filter(|m| m.require_2fa)
        .map(|m| m.org_name.as_str())
        .collect()
}

async fn view(
    s: &SignedIn,
    state: &AppState,
    shown_codes: Option<&[String]>,
    errors: &[FieldError],
) -> Result<HttpResponse, PageError> {
    let csrf = s.csrf();
    let required_by = requiring(s);
    let st = match secret_of(state, s.user.id).await? {
        Some((_, true)) => views::TwoFactorState::On {
            codes_left: state.store.recovery_codes_left(s.user.id).await?,
        },
        Some((secret, false)) => {
            let uri = totp::uri(&secret, &s.user.email);
            views::TwoFactorState::Enrolling {
                key: totp::base32(&secret),
                qr: views::qr_svg(&uri),
            }
        }
        None => views::TwoFactorState::Off {
            confirm_password: !s.recently_authenticated(state.now()),
        },
    };
    Ok(html_or_invalid(
        views::two_factor_page(
            &frame(s, "Two-factor sign-in", &csrf, None),
            &st,
            &required_by,
            shown_codes,
            errors,
        ),
        errors,
    ))
}

pub async fn page(s: SignedIn, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    view(&s, &state, None, &[]).await
}

#[derive(Deserialize)]
pub struct BeginForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    /// The password, confirmed here when the session did not lately.
    #[serde(default)]
    password: String,
}

has_csrf!(BeginForm);

/// A new secret to enrol (replacing one not yet confirmed). The form asks
/// for the password itself: no detour through "confirm it is you" and a
/// second click.
pub async fn begin(
    req: HttpRequest,
    s: SignedIn,
    state: web::Data<AppState>,
    CsrfForm(f): CsrfForm<BeginForm>,
) -> Result<HttpResponse, PageError> {
    if !s.recently_authenticated(state.now()) {
        if f.password.is_empty() {
            return Err(PageError::Reauth("/settings/2fa".into()));
        }
        match confirm_identity(&req, &s, &state, &f.password, "").await? {
            Confirmed::Yes => {}
            Confirmed::Throttled => {
                let e = [FieldError::new("password", THROTTLED)];
                return view(&s, &state, None, &e).await;
            }
            Confirmed::No(e) => return view(&s, &state, None, &e).await,
        }
    }
    let secret = totp::new_secret();
    let sealed = state.store.sealer()?.seal(PURPOSE, &hex::encode(&secret));
    match state.store.begin_totp(s.user.id, &sealed).await {
        Ok(()) => {}
        Err(openseer_store::StoreError::Conflict(_)) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(super::redirect("/settings/2fa"))
}

#[derive(Deserialize)]
pub struct EnableForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

has_csrf!(EnableForm);

/// Fresh recovery codes and their hashes (only the hashes are stored).
fn new_codes() -> (Vec<String>, Vec<String>) {
    let codes = totp::new_recovery_codes();
    let hashes = codes.iter().map(|c| token::hash(c)).collect();
    (codes, hashes)
}

/// Confirms enrolment with a code from the app: two-factor sign-in is on.
pub async fn enable(
    s: SignedIn,
    state: web::Data<AppState>,
    CsrfForm(f): CsrfForm<EnableForm>,
) -> Result<HttpResponse, PageError> {
    let Some((secret, false)) = secret_of(&state, s.user.id).await? else {
        return Ok(super::redirect("/settings/2fa"));
    };
    let accepted = match totp::verify(&secret, &f.code, state.now()) {
        Some(step) => state.store.accept_totp_step(s.user.id, step).await?,
        None => false,
    };
    if !accepted {
        let e = [FieldError::new(
            "code",
            "that is not the current code: check the time on your phone and try the next code",
        )];
        return view(&s, &state, None, &e).await;
    }
    let (codes, hashes) = new_codes();
    state
        .store
        .enable_totp(s.user.id, &hashes, state.now())
        .await?;
    // A stronger session: under a new key.
    s.session.renew();
    tracing::info!(user_id = s.user.id, "two-factor sign-in on");
    state.audit(user_event(&s, "user.2fa_enabled")).await;
    let s = SignedIn {
        user: state.store.user_by_id(s.user.id).await?,
        ..s
    };
    view(&s, &state, Some(&codes), &[]).await
}

fn user_event(s: &SignedIn, action: &'static str) -> NewAudit {
    s.audit(action).on("user", s.user.id)
}

pub async fn disable(
    s: SignedIn,
    state: web::Data<AppState>,
    CsrfForm(_): CsrfForm<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    s.require_recent_auth(state.now(), "/settings/2fa")?;
    let required_by = requiring(&s);
    if !required_by.is_empty() && s.user.totp_enabled {
        return Err(PageError::forbidden(format!(
            "{} requires two-factor sign-in of its members, so it stays on.",
            required_by.join(", ")
        )));
    }
    state.store.disable_totp(s.user.id).await?;
    tracing::info!(user_id = s.user.id, "two-factor sign-in off");
    state.audit(user_event(&s, "user.2fa_disabled")).await;
    Ok(super::redirect("/settings/2fa"))
}

pub async fn new_recovery_codes(
    s: SignedIn,
    state: web::Data<AppState>,
    CsrfForm(_): CsrfForm<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    s.require_recent_auth(state.now(), "/settings/2fa")?;
    if !s.user.totp_enabled {
        return Ok(super::redirect("/settings/2fa"));
    }
    let (codes, hashes) = new_codes();
    state
        .store
        .replace_recovery_codes(s.user.id, &hashes)
        .await?;
    state
        .audit(user_event(&s, "user.recovery_codes_replaced"))
        .await;
    Ok(html(views::two_factor_page(
        &frame(&s, "Two-factor sign-in", &s.csrf(), None),
        &views::TwoFactorState::On {
            codes_left: codes.len() as i64,
        },
        &requiring(&s),
        Some(&codes),
        &[],
    )))
}
