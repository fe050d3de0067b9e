//! Error responses. The JSON surfaces answer with [`openseer_protocol::ErrorBody`];
//! pages answer with an HTML page. Extractor failures (bad JSON, oversized
//! bodies, bad paths) are turned into the same shapes here.

use actix_web::error::{JsonPayloadError, UrlencodedError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use openseer_protocol::{ErrorBody, ErrorCode, FieldError};

use openseer_store::StoreError;

/// An error on a JSON surface.
#[derive(Debug)]
pub struct ApiError(pub ErrorBody);

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError(ErrorBody::new(code, message))
    }
    pub fn validation(fields: Vec<FieldError>) -> ApiError {
        let message = fields
            .iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect::<Vec<_>>()
            .join("; ");
        ApiError(ErrorBody {
            error: ErrorCode::ValidationFailed,
            message,
            fields,
        })
    }
    /// A limit of the node's (see [`crate::quota`]): the interval is a
    /// field's problem (422), a count is a conflict with what exists (409).
    pub fn quota(e: crate::quota::QuotaError) -> ApiError {
        match e {
            crate::quota::QuotaError::Interval { .. } => {
                ApiError::validation(vec![e.to_field_error()])
            }
            _ => ApiError::new(ErrorCode::Conflict, e.to_string()),
        }
    }
    pub fn unauthorized() -> ApiError {
        ApiError::new(
            ErrorCode::Unauthorized,
            "missing, invalid or revoked credentials",
        )
    }
    pub fn not_found() -> ApiError {
        ApiError::new(ErrorCode::NotFound, "not found")
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.0.error, self.0.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.error.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code()).json(&self.0)
    }
}

impl From<crate::actors::ActorsError> for ApiError {
    fn from(e: crate::actors::ActorsError) -> ApiError {
        match e {
            crate::actors::ActorsError::Store(e) => e.into(),
            crate::actors::ActorsError::Unavailable { what, why } => {
                tracing::error!(error = %why, "{what}");
                ApiError::new(ErrorCode::Internal, format!("{what} failed; retry"))
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound => ApiError::not_found(),
            StoreError::Conflict(m) => ApiError::new(ErrorCode::Conflict, m),
            other => {
                tracing::error!(error = %other, "storage error");
                ApiError::new(ErrorCode::Internal, "internal error")
            }
        }
    }
}

fn json_error(err: JsonPayloadError) -> actix_web::Error {
    let api = match &err {
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("the body is larger than {limit} bytes"),
        ),
        JsonPayloadError::ContentType => ApiError::new(
            ErrorCode::BadRequest,
            "expected Content-Type: application/json",
        ),
        JsonPayloadError::Deserialize(e) => {
            ApiError::new(ErrorCode::InvalidJson, format!("invalid JSON: {e}"))
        }
        JsonPayloadError::Payload(e) if super::body_timeout::is_timeout(e) => {
            ApiError::new(ErrorCode::RequestTimeout, e.to_string())
        }
        other => ApiError::new(ErrorCode::BadRequest, other.to_string()),
    };
    api.into()
}

pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|err, _req| json_error(err))
}

pub fn form_config() -> web::FormConfig {
    web::FormConfig::default()
        .limit(super::FORM_BODY_LIMIT)
        .error_handler(|err, _req| {
            let status = match &err {
                UrlencodedError::Overflow { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                UrlencodedError::Payload(e) if super::body_timeout::is_timeout(e) => {
                    StatusCode::REQUEST_TIMEOUT
                }
                _ => StatusCode::BAD_REQUEST,
            };
            actix_web::error::InternalError::from_response(
                err.to_string(),
                HttpResponse::build(status)
                    .content_type("text/plain; charset=utf-8")
                    .body(format!("Bad form: {err}\n")),
            )
            .into()
        })
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_err, req| {
        if req.path().starts_with("/api/") {
            ApiError::not_found().into()
        } else {
            actix_web::error::InternalError::from_response("not found", page_not_found()).into()
        }
    })
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|err, _req| ApiError::new(ErrorCode::BadRequest, err.to_string()).into())
}

pub fn page_not_found() -> HttpResponse {
    HttpResponse::NotFound()
        .content_type("text/html; charset=utf-8")
        .body(plain_page(
            "Not found",
            "There is nothing here, or you do not have access to it.",
        ))
}

pub async fn not_found(req: HttpRequest) -> HttpResponse {
    if req.path().starts_with("/api/") {
        return ApiError::not_found().error_response();
    }
    page_not_found()
}

/// A minimal page for errors raised before a full frame can be built.
pub fn plain_page(title: &str, message: &str) -> String {
    let frame = openseer_web::Frame {
        title,
        user: None,
        csrf: "",
        live: None,
    };
    openseer_web::message_page(&frame, title, message).into_string()
}

/// An error on a dashboard page.
#[derive(Debug)]
pub enum PageError {
    /// Not signed in: go to the sign-in page.
    SignIn,
    /// A sensitive action wants the password (and second factor) again:
    /// go to the re-authentication page, then back to this local path.
    Reauth(String),
    /// The organization requires two-factor sign-in and this user has not
    /// set it up: go and set it up.
    TwoFactorRequired,
    Csrf,
    NotFound,
    Forbidden(String),
    Internal,
}

impl PageError {
    pub fn forbidden(message: impl Into<String>) -> PageError {
        PageError::Forbidden(message.into())
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::SignIn | PageError::Reauth(_) | PageError::TwoFactorRequired => {
                StatusCode::SEE_OTHER
            }
            PageError::Csrf | PageError::Forbidden(_) => StatusCode::FORBIDDEN,
            PageError::NotFound => StatusCode::NOT_FOUND,
            PageError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn error_response(&self) -> HttpResponse {
        let html = |status: StatusCode, title: &str, msg: &str| {
            HttpResponse::build(status)
                .content_type("text/html; charset=utf-8")
                .body(plain_page(title, msg))
        };
        match self {
            PageError::SignIn => HttpResponse::SeeOther().insert_header(("Location", "/login")).finish(),
            PageError::Reauth(next) => HttpResponse::SeeOther()
                .insert_header(("Location", format!("/reauth?next={}", openseer_web::query_value(next))))
                .finish(),
            PageError::TwoFactorRequired => HttpResponse::SeeOther()
                .insert_header(("Location", "/settings/2fa"))
                .finish(),
            PageError::Csrf => html(
                StatusCode::FORBIDDEN,
                "Form expired",
                "This form was not sent from an OpenSeer page of your current session (CSRF check failed). Go back, reload the page and try again.",
            ),
            PageError::NotFound => page_not_found(),
            PageError::Forbidden(m) => html(StatusCode::FORBIDDEN, "Not allowed", m),
            PageError::Internal => html(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", "The error was logged. Try again in a moment."),
        }
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> PageError {
        match e {
            StoreError::NotFound => PageError::NotFound,
            other => {
                tracing::error!(error = %other, "storage error");
                PageError::Internal
            }
        }
    }
}
