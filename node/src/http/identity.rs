//! Who is calling. Each extractor accepts one kind of credential only.

use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::http::Method;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use openseer_protocol::token::TokenKind;
use serde::de::DeserializeOwned;

use super::errors::{ApiError, PageError};
use super::AppState;
use crate::actors::sessions::SessionsMsg;
use crate::auth::session_store::USER_ID_KEY;
use crate::auth::{csrf, token};
use crate::store::{User, WorkerAuth};

fn state(req: &HttpRequest) -> web::Data<AppState> {
    req.app_data::<web::Data<AppState>>()
        .expect("AppState is registered")
        .clone()
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

async fn session_user(
    state: &AppState,
    session: &Session,
) -> Result<Option<User>, crate::store::StoreError> {
    let Ok(Some(user_id)) = session.get::<i64>(USER_ID_KEY) else {
        return Ok(None);
    };
    match state.store.user_by_id(user_id).await {
        Ok(u) => Ok(Some(u)),
        Err(crate::store::StoreError::NotFound) => {
            session.purge();
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// A signed-in user on a dashboard page (session cookie).
pub struct SignedIn {
    pub user: User,
    pub session: Session,
}

impl SignedIn {
    pub fn csrf(&self) -> String {
        csrf::token(&self.session)
    }
}

impl FromRequest for SignedIn {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = state(req);
        let session = req.get_session();
        Box::pin(async move {
            match session_user(&state, &session).await? {
                Some(user) => Ok(SignedIn { user, session }),
                None => Err(PageError::SignIn),
            }
        })
    }
}

/// A caller of the user API: an `ostu_` bearer token, or a session cookie
/// (whose writes must carry the session's CSRF token in `X-CSRF-Token`).
pub struct ApiUser {
    pub user: User,
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
        Box::pin(async move {
            if let Some(t) = presented {
                let hash =
                    token::lookup_hash(TokenKind::User, &t).ok_or_else(ApiError::unauthorized)?;
                let user_id = state
                    .store
                    .api_token_user(&hash, state.now())
                    .await?
                    .ok_or_else(ApiError::unauthorized)?;
                let user = state.store.user_by_id(user_id).await?;
                return Ok(ApiUser { user });
            }
            let user = session_user(&state, &session)
                .await?
                .ok_or_else(ApiError::unauthorized)?;
            if !safe && !csrf::verify(&session, csrf_header.as_deref()) {
                return Err(ApiError::new(
                    openseer_protocol::ErrorCode::Forbidden,
                    "cookie-authenticated writes need the X-CSRF-Token header",
                ));
            }
            Ok(ApiUser { user })
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
            let _ = state.actors.sessions.cast(SessionsMsg::WorkerSeen {
                worker_id: worker.worker_id,
                org_id: worker.org_id,
                at: state.now(),
            });
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

impl HasCsrf for CsrfOnly {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}
