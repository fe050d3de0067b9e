//! The outcome of one check, as a worker reports it.
//!
//! A target being down is data: every check ends in a [`CheckResult`], with
//! an [`Outcome`] and, when the check did not get a good answer, an
//! [`ErrorKind`] and a human-readable message.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The target answered and every assertion passed.
    Up,
    /// Up, but slower than the monitor's latency threshold.
    Degraded,
    /// The target answered but an assertion failed (status code, keyword).
    Down,
    /// No usable answer: DNS, connect, TLS, timeout, protocol error.
    Error,
    /// Nobody ran the check for this tick (no worker, or the lease expired twice).
    Missed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Up => "up",
            Outcome::Degraded => "degraded",
            Outcome::Down => "down",
            Outcome::Error => "error",
            Outcome::Missed => "missed",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        Some(match s {
            "up" => Outcome::Up,
            "degraded" => Outcome::Degraded,
            "down" => Outcome::Down,
            "error" => Outcome::Error,
            "missed" => Outcome::Missed,
            _ => return None,
        })
    }

    /// Whether this outcome counts as the service being available.
    pub fn is_available(self) -> bool {
        matches!(self, Outcome::Up | Outcome::Degraded)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    Dns,
    ConnectionRefused,
    Connect,
    ConnectTimeout,
    Tls,
    Timeout,
    Protocol,
    TooLarge,
    RedirectLoop,
    StatusCode,
    KeywordMissing,
    InvalidRequest,
    NoWorker,
    LeaseExpired,
    /// Refused by the worker's private-target guard.
    Blocked,
    /// An assertion on the body or headers failed.
    AssertionFailed,
    /// Degraded: slower than the monitor's latency threshold.
    Slow,
    /// Degraded: the certificate expires within the monitor's warning days.
    CertExpiring,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Dns => "dns",
            ErrorKind::ConnectionRefused => "connection_refused",
            ErrorKind::Connect => "connect",
            ErrorKind::ConnectTimeout => "connect_timeout",
            ErrorKind::Tls => "tls",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Protocol => "protocol",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::RedirectLoop => "redirect_loop",
            ErrorKind::StatusCode => "status_code",
            ErrorKind::KeywordMissing => "keyword_missing",
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::NoWorker => "no_worker",
            ErrorKind::LeaseExpired => "lease_expired",
            ErrorKind::Blocked => "blocked",
            ErrorKind::AssertionFailed => "assertion_failed",
            ErrorKind::Slow => "slow",
            ErrorKind::CertExpiring => "cert_expiring",
        }
    }

    pub fn parse(s: &str) -> Option<ErrorKind> {
        [
            ErrorKind::Dns,
            ErrorKind::ConnectionRefused,
            ErrorKind::Connect,
            ErrorKind::ConnectTimeout,
            ErrorKind::Tls,
            ErrorKind::Timeout,
            ErrorKind::Protocol,
            ErrorKind::TooLarge,
            ErrorKind::RedirectLoop,
            ErrorKind::StatusCode,
            ErrorKind::KeywordMissing,
            ErrorKind::InvalidRequest,
            ErrorKind::NoWorker,
            ErrorKind::LeaseExpired,
            ErrorKind::Blocked,
            ErrorKind::AssertionFailed,
            ErrorKind::Slow,
            ErrorKind::CertExpiring,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One check of one monitor in one region for one scheduled tick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Deterministic id of the (monitor, region, tick); see [`crate::wire::run_id`].
    pub run_id: String,
    pub monitor_id: i64,
    pub region: String,
    /// The tick this check was scheduled for (unix milliseconds).
    pub scheduled_at_ms: i64,
    /// When the worker started the check (unix milliseconds, worker clock).
    pub started_at_ms: i64,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// Wall time of the whole check in milliseconds.
    pub total_ms: f64,
    /// Bytes of response body received (counted even past the read cap).
    pub body_bytes: u64,
    /// Where the time went, for checks that got as far as a connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timings: Option<Timings>,
    /// The TLS session and leaf certificate, for HTTPS targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsInfo>,
    /// URLs followed after the first one, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirects: Vec<String>,
    /// Each assertion of the monitor and how it fared.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assertions: Vec<crate::AssertionResult>,
}

/// Per-phase durations of the last request of a check, in milliseconds.
/// A phase that did not happen (TLS on plain HTTP, DNS for an IP literal) is 0.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    pub dns_ms: f64,
    pub connect_ms: f64,
    pub tls_ms: f64,
    /// From the request being sent to the response head being read.
    pub ttfb_ms: f64,
    /// From the response head to the end of the body.
    pub transfer_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsInfo {
    /// e.g. `TLSv1.3`.
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// The leaf certificate's not-after, unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after_ms: Option<i64>,
}

/// Longest error message a node stores; longer ones are cut.
pub const MAX_ERROR_MESSAGE_LEN: usize = 1024;
