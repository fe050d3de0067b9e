//! Error codes returned by every JSON endpoint (user API and worker API).

use serde::{Deserialize, Serialize};

/// Machine-readable error code. The HTTP status carries the class, the code
/// says what exactly went wrong so a client can react without parsing text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    InvalidJson,
    PayloadTooLarge,
    Unauthorized,
    Forbidden,
    NotFound,
    ValidationFailed,
    TooManyRequests,
    Conflict,
    LeaseLost,
    /// The request (its body) did not arrive in time.
    RequestTimeout,
    Internal,
}

impl ErrorCode {
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::BadRequest | ErrorCode::InvalidJson => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict | ErrorCode::LeaseLost => 409,
            ErrorCode::RequestTimeout => 408,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::ValidationFailed => 422,
            ErrorCode::TooManyRequests => 429,
            ErrorCode::Internal => 500,
        }
    }
}

/// One problem with one field of a submitted document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        FieldError {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
}

impl ErrorBody {
    pub fn new(error: ErrorCode, message: impl Into<String>) -> Self {
        ErrorBody {
            error,
            message: message.into(),
            fields: Vec::new(),
        }
    }
}

/// Text that names no known value of an enumeration (a role, a scope, an
/// outcome, an error kind), as read back from storage or the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownValue {
    pub what: &'static str,
    pub value: String,
}

impl std::fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown {} {:?}", self.what, self.value)
    }
}

impl std::error::Error for UnknownValue {}

/// `TryFrom<String>` through the type's `parse`, for readers of stored text.
macro_rules! parses_from_string {
    ($ty:ty, $what:literal) => {
        impl TryFrom<String> for $ty {
            type Error = $crate::error::UnknownValue;
            fn try_from(value: String) -> Result<$ty, $crate::error::UnknownValue> {
                <$ty>::parse(&value).ok_or($crate::error::UnknownValue { what: $what, value })
            }
        }
    };
}

parses_from_string!(crate::Role, "role");
parses_from_string!(crate::Scope, "token scope");
parses_from_string!(crate::Outcome, "outcome");
parses_from_string!(crate::ErrorKind, "error kind");
