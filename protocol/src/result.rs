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
    /// The body's size decoded (gzip, deflate, br), up to the read cap,
    /// when it came compressed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoded_bytes: Option<u64>,
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

/// What a node keeps of a worker's report: numbers must be in range (a
/// result with one out of range is refused), texts and lists are cut.
pub mod limits {
    /// No check lasts longer than a day (monitors time out in minutes).
    pub const MAX_CHECK_MS: f64 = 86_400_000.0;
    /// A body bigger than a terabyte was not counted.
    pub const MAX_BODY_BYTES: u64 = 1 << 40;
    pub const MAX_REDIRECTS_KEPT: usize = 32;
    pub const MAX_URL_LEN: usize = 2048;
    pub const MAX_ASSERTIONS_KEPT: usize = 64;
    /// Each assertion's text and detail.
    pub const MAX_ASSERTION_TEXT: usize = 512;
    /// The TLS version, subject and issuer.
    pub const MAX_TLS_TEXT: usize = 512;
}

/// `s` cut to at most `max` bytes, on a character boundary.
pub fn cut(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let mut at = max;
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    s.truncate(at);
}

fn duration_ok(ms: f64) -> bool {
    ms.is_finite() && (0.0..=limits::MAX_CHECK_MS).contains(&ms)
}

impl CheckResult {
    /// This result as a node keeps it: `Err` with the reason when a number
    /// is out of range (a duration negative, not finite or over a day, a
    /// status code outside 100-599, a body over a terabyte); texts and
    /// lists cut to their limits.
    pub fn bounded(mut self) -> Result<CheckResult, String> {
        if !duration_ok(self.total_ms) {
            return Err("total_ms must be a duration from 0 to a day".into());
        }
        if let Some(t) = &self.timings {
            let phases = [t.dns_ms, t.connect_ms, t.tls_ms, t.ttfb_ms, t.transfer_ms];
            if !phases.into_iter().all(duration_ok) {
                return Err("each phase's time must be a duration from 0 to a day".into());
            }
        }
        if self.status_code.is_some_and(|c| !(100..=599).contains(&c)) {
            return Err("status_code must be from 100 to 599".into());
        }
        if self.body_bytes > limits::MAX_BODY_BYTES {
            return Err("body_bytes is beyond any body a check reads".into());
        }
        if let Some(m) = &mut self.error_message {
            cut(m, MAX_ERROR_MESSAGE_LEN);
        }
        self.redirects.truncate(limits::MAX_REDIRECTS_KEPT);
        for url in &mut self.redirects {
            cut(url, limits::MAX_URL_LEN);
        }
        self.assertions.truncate(limits::MAX_ASSERTIONS_KEPT);
        for a in &mut self.assertions {
            cut(&mut a.assertion, limits::MAX_ASSERTION_TEXT);
            if let Some(d) = &mut a.detail {
                cut(d, limits::MAX_ASSERTION_TEXT);
            }
        }
        if let Some(tls) = &mut self.tls {
            cut(&mut tls.version, limits::MAX_TLS_TEXT);
            for name in [&mut tls.subject, &mut tls.issuer].into_iter().flatten() {
                cut(name, limits::MAX_TLS_TEXT);
            }
        }
        Ok(self)
    }
}

#[cfg(test)]
mod bounds {
    use super::*;

    fn result() -> CheckResult {
        CheckResult {
            run_id: "1.eu.0".into(),
            monitor_id: 1,
            region: "eu".into(),
            scheduled_at_ms: 0,
            started_at_ms: 1,
            outcome: Outcome::Up,
            error_kind: None,
            error_message: None,
            status_code: Some(200),
            total_ms: 12.0,
            body_bytes: 10,
            decoded_bytes: None,
            timings: None,
            tls: None,
            redirects: Vec::new(),
            assertions: Vec::new(),
        }
    }

    #[test]
    fn numbers_out_of_range_are_refused() {
        assert!(result().bounded().is_ok());
        for bad in [
            CheckResult {
                total_ms: f64::NAN,
                ..result()
            },
            CheckResult {
                total_ms: -1.0,
                ..result()
            },
            CheckResult {
                total_ms: 1e308,
                ..result()
            },
            CheckResult {
                status_code: Some(65535),
                ..result()
            },
            CheckResult {
                status_code: Some(99),
                ..result()
            },
            CheckResult {
                body_bytes: u64::MAX,
                ..result()
            },
            CheckResult {
                timings: Some(Timings {
                    ttfb_ms: -5.0,
                    ..Timings::default()
                }),
                ..result()
            },
        ] {
            assert!(bad.bounded().is_err());
        }
    }

    #[test]
    fn texts_and_lists_are_cut_on_character_boundaries() {
        let long = "é".repeat(2_000_000);
        let r = CheckResult {
            error_message: Some(long.clone()),
            redirects: vec![long.clone(); 2_000],
            assertions: vec![
                crate::AssertionResult {
                    assertion: long.clone(),
                    passed: false,
                    detail: Some(long.clone()),
                };
                100
            ],
            tls: Some(TlsInfo {
                version: long.clone(),
                subject: Some(long.clone()),
                issuer: Some(long),
                not_after_ms: None,
            }),
            ..result()
        }
        .bounded()
        .unwrap();
        assert!(r.error_message.unwrap().len() <= MAX_ERROR_MESSAGE_LEN);
        assert_eq!(r.redirects.len(), limits::MAX_REDIRECTS_KEPT);
        assert!(r.redirects.iter().all(|u| u.len() <= limits::MAX_URL_LEN));
        assert_eq!(r.assertions.len(), limits::MAX_ASSERTIONS_KEPT);
        assert!(r
            .assertions
            .iter()
            .all(|a| a.assertion.len() <= limits::MAX_ASSERTION_TEXT
                && a.detail.as_ref().unwrap().len() <= limits::MAX_ASSERTION_TEXT));
        let tls = r.tls.unwrap();
        assert!(tls.subject.unwrap().len() <= limits::MAX_TLS_TEXT);
    }
}
