//! Who is calling, and in which organization with which role. Each
//! extractor accepts one kind of credential only:
//! - [`SignedIn`]: a dashboard session (cookie);
//! - [`ApiUser`]: an `ostu_` bearer token, or a session whose writes carry
//!   the CSRF header;
//! - [`WorkerCaller`]: an `ostk_` worker token.
//!
//! A session is checked on every request: its idle and absolute lifetimes,
//! that its user still exists and is a member of the organization it is in
//! (a removed member's sessions are deleted, and a session that outlived
//! its membership moves to another organization or ends), and that the
//! organization's two-factor requirement is met. Roles and token scopes
//! are then checked by the handler with `require`.

use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::http::Method;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use openseer_protocol::token::TokenKind;
use openseer_protocol::{ErrorCode, Role, Scope};
use serde::de::DeserializeOwned;

use super::errors::{ApiError, PageError};
use super::AppState;
use crate::auth::session_store::{ORG_ID_KEY, SID_KEY, USER_ID_KEY};
use crate::auth::{csrf, token};
use openseer_store::{Membership, NewAudit, StoreError, User, WorkerAuth};

/// When the session was signed in (ms): the absolute lifetime counts from it.
pub const CREATED_KEY: &str = "created";
/// The last request seen (ms, refreshed at most once a minute): the idle
/// lifetime counts from it.
pub const SEEN_KEY: &str = "seen";
/// The last time the user gave their password (and second factor) again.
pub const REAUTH_KEY: &str = "reauth";
/// How long a re-authentication covers sensitive actions.
pub const REAUTH_WINDOW_MS: i64 = 10 * 60_000;
/// How stale `SEEN_KEY` may get before a request refreshes it: at most a
/// minute (an active user causes one session write a minute), and at most a
/// tenth of the idle limit, so a short limit does not end a session whose
/// last request was well within it.
fn seen_refresh_ms(idle_ms: i64) -> i64 {
    (idle_ms / 10).min(60_000)
}

fn state(req: &HttpRequest) -> web::Data<AppState> {
    req.app_data::<web::Data<AppState>>()
        .expect("AppState is registered")
        .clone()
}

/// The caller's address, for the audit log and throttling: behind a
/// trusted proxy, the client it forwarded for (see [`super::client`]).
pub fn peer_ip(req: &HttpRequest) -> Option<String> {
    let trusted = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.settings.trusted_proxies.as_slice())
        .unwrap_or_default();
    super::client::client_ip(req, trusted).map(|ip| ip.to_string())
}

/// `None` when the request's bearer token is `expected` (compared in
/// constant time); otherwise the 401 to answer. For the endpoints guarded
/// by a configured secret: `/metrics` and the node-to-node `/cluster/v1`.
pub fn refuse_unless_bearer(req: &HttpRequest, expected: &str) -> Option<actix_web::HttpResponse> {
    let presented = bearer(req).unwrap_or_default();
    if crate::auth::token::equal(&presented, expected) {
        return None;
    }
    Some(
        actix_web::HttpResponse::Unauthorized()
            .insert_header(("WWW-Authenticate", "Bearer"))
            .finish(),
    )
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get("Authorization")?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim().to_string())
}

/// Paths a member of an organization that requires two-factor sign-in may
/// reach before setting it up: the setup itself, switching organization
/// and signing out.
fn reachable_without_2fa(path: &str) -> bool {
    path == "/settings/2fa"
        || path.starts_with("/settings/2fa/")
        || path == "/orgs/switch"
        || path == "/logout"
        || path == "/reauth"
}

/// A session's signed-in user with the organization it is in.
struct SessionUser {
    user: User,
    org: Membership,
    orgs: Vec<Membership>,
    /// The session's id (see `SID_KEY`).
    sid: String,
}

/// Why a session does not stand for a signed-in user (any more).
enum NoUser {
    SignIn,
    TwoFactorRequired,
    Store(StoreError),
}

impl From<StoreError> for NoUser {
    fn from(e: StoreError) -> NoUser {
        NoUser::Store(e)
    }
}

async fn session_user(
    state: &AppState,
    session: &Session,
    path: &str,
) -> Result<SessionUser, NoUser> {
    let Ok(Some(user_id)) = session.get::<i64>(USER_ID_KEY) else {
        return Err(NoUser::SignIn);
    };
    let now = state.now();
    let limits = state.settings.sessions;
    let created = session.get::<i64>(CREATED_KEY).ok().flatten();
    let seen = session.get::<i64>(SEEN_KEY).ok().flatten().or(created);
    let (Some(created), Some(seen)) = (created, seen) else {
        session.purge();
        return Err(NoUser::SignIn);
    };
    if now - created > limits.lifetime_ms || now - seen > limits.idle_ms {
        tracing::info!(user_id, "session ended: lifetime or idle limit");
        session.purge();
        return Err(NoUser::SignIn);
    }
    let Some((user, orgs)) = state.store.user_with_memberships(user_id).await? else {
        session.purge();
        return Err(NoUser::SignIn);
    };
    let wanted = session.get::<i64>(ORG_ID_KEY).ok().flatten();
    let pick = |id: Option<i64>| id.and_then(|id| orgs.iter().find(|m| m.org_id == id));
    let Some(org) = pick(wanted)
        .or_else(|| pick(user.last_org_id))
        .or(orgs.first())
        .cloned()
    else {
        // A member of nothing: removed from their last organization.
        session.purge();
        return Err(NoUser::SignIn);
    };
    if Some(org.org_id) != wanted {
        let _ = session.insert(ORG_ID_KEY, org.org_id);
    }
    if now - seen > seen_refresh_ms(limits.idle_ms) {
        let _ = session.insert(SEEN_KEY, now);
    }
    // Sessions from before session ids get one now.
    let sid = match session.get::<String>(SID_KEY).ok().flatten() {
        Some(sid) => sid,
        None => {
            let sid = token::random_hex(16);
            let _ = session.insert(SID_KEY, &sid);
            sid
        }
    };
    if org.require_2fa && !user.totp_enabled && !reachable_without_2fa(path) {
        return Err(NoUser::TwoFactorRequired);
    }
    Ok(SessionUser {
        user,
        org,
        orgs,
        sid,
    })
}

/// Starts a signed-in session for `user_id` in `org_id` under a new key (a
/// key planted before cannot ride along), with a new CSRF token.
pub fn start_session(
    session: &Session,
    user_id: i64,
    org_id: i64,
    now: i64,
) -> Result<(), PageError> {
    session.renew();
    session.clear();
    let set = |k: &str, v: i64| session.insert(k, v).map_err(|_| PageError::Internal);
    set(USER_ID_KEY, user_id)?;
    set(ORG_ID_KEY, org_id)?;
    set(CREATED_KEY, now)?;
    set(SEEN_KEY, now)?;
    // Signing in is giving the password (and second factor): it covers
    // sensitive actions for the next minutes as a re-authentication would.
    set(REAUTH_KEY, now)?;
    session
        .insert("csrf", token::random_hex(32))
        .map_err(|_| PageError::Internal)?;
    session
        .insert(SID_KEY, token::random_hex(16))
        .map_err(|_| PageError::Internal)?;
    Ok(())
}

/// A signed-in user on a dashboard page (session cookie), in the
/// organization the session is in.
pub struct SignedIn {
    pub user: User,
    /// The organization this request acts in, and the user's role there.
    pub org: Membership,
    /// Every organization the user belongs to (the switcher lists them).
    pub orgs: Vec<Membership>,
    /// Owner or admin of the instance's first organization: may manage the
    /// cluster itself.
    pub operator: bool,
    pub ip: Option<String>,
    pub session: Session,
    /// This session's id, the same across key rotations.
    pub sid: String,
}

impl SignedIn {
    pub fn csrf(&self) -> String {
        csrf::token(&self.session)
    }

    pub fn org_id(&self) -> i64 {
        self.org.org_id
    }

    pub fn role(&self) -> Role {
        self.org.role
    }

    /// Refuses unless the user's role here is at least `role`.
    pub fn require(&self, role: Role) -> Result<(), PageError> {
        if self.org.role >= role {
            return Ok(());
        }
        Err(PageError::forbidden(format!(
            "This needs the {role} role or higher in {}; yours is {}.",
            self.org.org_name, self.org.role
        )))
    }

    pub fn require_operator(&self) -> Result<(), PageError> {
        if self.operator {
            return Ok(());
        }
        Err(PageError::forbidden(
            "Only an owner or admin of the instance's first organization can manage the cluster.",
        ))
    }

    /// Refuses a sensitive action unless the user gave their password (and
    /// second factor) within the last minutes; the refusal sends them to do
    /// so and then back to `back_to` (a local page).
    pub fn require_recent_auth(&self, now: i64, back_to: &str) -> Result<(), PageError> {
        if self.recently_authenticated(now) {
            return Ok(());
        }
        Err(PageError::Reauth(back_to.to_string()))
    }

    /// Whether this session confirmed its password within the window.
    pub fn recently_authenticated(&self, now: i64) -> bool {
        let at = self.session.get::<i64>(REAUTH_KEY).ok().flatten();
        matches!(at, Some(at) if now - at <= REAUTH_WINDOW_MS && at <= now)
    }

    /// An audit event by this user in this organization.
    pub fn audit(&self, action: &'static str) -> NewAudit {
        NewAudit {
            org_id: Some(self.org.org_id),
            actor_id: Some(self.user.id),
            actor: self.user.email.clone(),
            action,
            ip: self.ip.clone(),
            ..NewAudit::default()
        }
    }
}

impl FromRequest for SignedIn {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = state(req);
        let session = req.get_session();
        let path = req.path().to_string();
        let ip = peer_ip(req);
        Box::pin(async move {
            let su = match session_user(&state, &session, &path).await {
                Ok(su) => su,
                Err(NoUser::SignIn) => return Err(PageError::SignIn),
                Err(NoUser::TwoFactorRequired) => return Err(PageError::TwoFactorRequired),
                Err(NoUser::Store(e)) => return Err(e.into()),
            };
            let operator = match state.instance_org_id().await? {
                Some(first) => su
                    .orgs
                    .iter()
                    .any(|m| m.org_id == first && m.role >= Role::Admin),
                None => false,
            };
            Ok(SignedIn {
                user: su.user,
                org: su.org,
                orgs: su.orgs,
                operator,
                ip,
                session,
                sid: su.sid,
            })
        })
    }
}

/// How an API caller authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    Session,
    Token { id: i64, name: String },
}

/// A caller of the user API: an `ostu_` bearer token (acting in the
/// token's organization, within its scope), or a session cookie (whose
/// writes must carry the session's CSRF token in `X-CSRF-Token`).
pub struct ApiUser {
    pub user_id: i64,
    pub email: String,
    pub org_id: i64,
    pub role: Role,
    /// A session may do all its role allows: `Scope::Admin`.
    pub scope: Scope,
    pub via: Via,
    pub ip: Option<String>,
}

impl ApiUser {
    /// Refuses unless both the role and the token's scope reach this far.
    pub fn require(&self, role: Role, scope: Scope) -> Result<(), ApiError> {
        if self.role < role {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                format!(
                    "this needs the {role} role or higher; yours is {}",
                    self.role
                ),
            ));
        }
        if self.scope < scope {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                format!(
                    "this needs a token with the {scope} scope; this one has {}",
                    self.scope
                ),
            ));
        }
        Ok(())
    }

    /// An audit event by this caller in its organization.
    pub fn audit(&self, action: &'static str) -> NewAudit {
        let actor = match &self.via {
            Via::Session => self.email.clone(),
            Via::Token { name, .. } => format!("{} (API token \"{name}\")", self.email),
        };
        NewAudit {
            org_id: Some(self.org_id),
            actor_id: Some(self.user_id),
            actor,
            action,
            ip: self.ip.clone(),
            ..NewAudit::default()
        }
    }
}

impl FromRequest for ApiUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = state(req);
        let presented = bearer(req);
        let session = req.get_session();
        let safe = matches!(*req.method(), Method::GET | Method::HEAD);
        let csrf_header = req
            .headers()
            .get("X-CSRF-Token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let path = req.path().to_string();
        let ip = peer_ip(req);
        Box::pin(async move {
            let two_factor = || {
                ApiError::new(
                    ErrorCode::Forbidden,
                    "this organization requires two-factor sign-in: set it up in the dashboard",
                )
            };
            if let Some(t) = presented {
                let hash =
                    token::lookup_hash(TokenKind::User, &t).ok_or_else(ApiError::unauthorized)?;
                let auth = state
                    .store
                    .api_token_auth(&hash, state.now())
                    .await?
                    .ok_or_else(ApiError::unauthorized)?;
                // A token lives only as long as its user's membership.
                let (user, orgs) = state
                    .store
                    .user_with_memberships(auth.user_id)
                    .await?
                    .ok_or_else(ApiError::unauthorized)?;
                let member = orgs
                    .into_iter()
                    .find(|m| m.org_id == auth.org_id)
                    .ok_or_else(ApiError::unauthorized)?;
                if member.require_2fa && !user.totp_enabled {
                    return Err(two_factor());
                }
                return Ok(ApiUser {
                    user_id: user.id,
                    email: user.email,
                    org_id: auth.org_id,
                    role: member.role,
                    scope: auth.scope,
                    via: Via::Token {
                        id: auth.token_id,
                        name: auth.token_name,
                    },
                    ip,
                });
            }
            let su = match session_user(&state, &session, &path).await {
                Ok(su) => su,
                Err(NoUser::SignIn) => return Err(ApiError::unauthorized()),
                Err(NoUser::TwoFactorRequired) => return Err(two_factor()),
                Err(NoUser::Store(e)) => return Err(e.into()),
            };
            if !safe && !csrf::verify(&session, csrf_header.as_deref()) {
                return Err(ApiError::new(
                    ErrorCode::Forbidden,
                    "cookie-authenticated writes need the X-CSRF-Token header",
                ));
            }
            Ok(ApiUser {
                user_id: su.user.id,
                email: su.user.email,
                org_id: su.org.org_id,
                role: su.org.role,
                scope: Scope::Admin,
                via: Via::Session,
                ip,
            })
        })
    }
}

/// A worker, by its `ostk_` bearer token. Every call counts as a heartbeat.
pub struct WorkerCaller(pub WorkerAuth);

impl FromRequest for WorkerCaller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = state(req);
        let presented = bearer(req);
        Box::pin(async move {
            let t = presented.ok_or_else(ApiError::unauthorized)?;
            let hash =
                token::lookup_hash(TokenKind::Worker, &t).ok_or_else(ApiError::unauthorized)?;
            let worker = state
                .store
                .worker_by_token(&hash)
                .await?
                .ok_or_else(ApiError::unauthorized)?;
            state
                .actors
                .worker_seen(worker.worker_id, worker.org_id, state.now());
            Ok(WorkerCaller(worker))
        })
    }
}

/// Forms carry the session's CSRF token in a hidden `_csrf` field.
pub trait HasCsrf {
    fn csrf(&self) -> &str;
}

/// A form body whose CSRF token was checked against the session.
pub struct CsrfForm<T>(pub T);

impl<T: DeserializeOwned + HasCsrf + 'static> FromRequest for CsrfForm<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let session = req.get_session();
        let form = web::Form::<T>::from_request(req, payload);
        Box::pin(async move {
            let form = form.await?.into_inner();
            if !csrf::verify(&session, Some(form.csrf())) {
                return Err(PageError::Csrf.into());
            }
            Ok(CsrfForm(form))
        })
    }
}

/// A form with nothing but the CSRF token (buttons).
#[derive(serde::Deserialize)]
pub struct CsrfOnly {
    #[serde(rename = "_csrf", default)]
    pub csrf: String,
}

/// Implements [`HasCsrf`] for form structs with a `csrf` field.
macro_rules! has_csrf {
    ($($t:ty),* $(,)?) => {
        $(impl $crate::http::identity::HasCsrf for $t {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        })*
    };
}
pub(crate) use has_csrf;

has_csrf!(CsrfOnly);
