//! The monitor spec and its validation.
//!
//! [`MonitorInput`] is what a user submits (dashboard form or JSON API).
//! [`MonitorInput::validate`] turns it into a [`ValidMonitor`] or a list of
//! per-field errors. [`CheckSpec`] is the part a worker needs to run a check.

use serde::{Deserialize, Serialize};

use crate::error::FieldError;

/// Stands in for a stored secret wherever a monitor is shown (see
/// [`crate::secret`]).
pub const HIDDEN: &str = "<hidden>";

pub const MIN_INTERVAL_S: u32 = 1;
pub const MAX_INTERVAL_S: u32 = 24 * 60 * 60;
pub const MAX_TIMEOUT_MS: u32 = 60_000;
pub const MIN_TIMEOUT_MS: u32 = 100;
pub const DEFAULT_INTERVAL_S: u32 = 60;
pub const DEFAULT_TIMEOUT_MS: u32 = 5_000;
pub const MAX_URL_LEN: usize = 2048;
pub const MAX_NAME_LEN: usize = 200;
pub const MAX_HEADERS: usize = 32;
pub const MAX_HEADER_VALUE_LEN: usize = 4096;
pub const MAX_BODY_LEN: usize = 64 * 1024;
pub const MAX_KEYWORD_LEN: usize = 1024;
pub const MAX_REGIONS: usize = 32;
pub const DEFAULT_MAX_BODY_BYTES: u64 = 1024 * 1024;
pub const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// The region name that means "any worker of the organization may run it".
pub const ANY_REGION: &str = "any";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub name: String,
    pub value: String,
}

/// A monitor as submitted by a user. Missing fields take their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorInput {
    pub name: String,
    pub url: String,
    #[serde(default = "default_method")]
    pub method: String,
    #[serde(default)]
    pub headers: Vec<Header>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default = "default_interval")]
    pub interval_seconds: u32,
    #[serde(default = "default_timeout")]
    pub timeout_ms: u32,
    /// Regions to check from; empty means any region.
    #[serde(default)]
    pub regions: Vec<String>,
    /// Accepted status codes, e.g. `200-399` or `200,204,300-302`.
    #[serde(default = "default_expected_status")]
    pub expected_status: String,
    /// Text the response body must contain.
    #[serde(default)]
    pub keyword: Option<String>,
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    #[serde(default = "default_true")]
    pub follow_redirects: bool,
    #[serde(default = "default_max_redirects")]
    pub max_redirects: u8,
    /// Send secret headers and the body on to another origin on a redirect.
    #[serde(default)]
    pub keep_secrets_on_redirect: bool,
    /// Ask for compressed bodies and decode them for the keyword and assertions.
    #[serde(default = "default_true")]
    pub decompress: bool,
    #[serde(default = "default_true")]
    pub verify_tls: bool,
    #[serde(default)]
    pub ip_family: IpFamily,
    #[serde(default)]
    pub assertions: Vec<crate::Assertion>,
    #[serde(default)]
    pub degraded_above_ms: Option<u32>,
    #[serde(default)]
    pub cert_expiry_days: Option<u32>,
    /// When the monitor alerts.
    #[serde(default)]
    pub alert: crate::AlertRules,
}

fn default_method() -> String {
    "GET".into()
}
fn default_interval() -> u32 {
    DEFAULT_INTERVAL_S
}
fn default_timeout() -> u32 {
    DEFAULT_TIMEOUT_MS
}
fn default_expected_status() -> String {
    "200-399".into()
}
fn default_enabled() -> bool {
    true
}

/// Inclusive ranges of accepted HTTP status codes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusRanges(pub Vec<(u16, u16)>);

impl StatusRanges {
    pub fn parse(s: &str) -> Result<StatusRanges, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim) {
            if part.is_empty() {
                continue;
            }
            let (lo, hi) = match part.split_once('-') {
                Some((a, b)) => (parse_code(a.trim())?, parse_code(b.trim())?),
                None => {
                    let c = parse_code(part)?;
                    (c, c)
                }
            };
            if lo > hi {
                return Err(format!("range {part} runs backwards"));
            }
            out.push((lo, hi));
        }
        if out.is_empty() {
            return Err("give at least one status code or range, e.g. 200-399".into());
        }
        if out.len() > 32 {
            return Err("at most 32 codes or ranges".into());
        }
        Ok(StatusRanges(out))
    }

    pub fn contains(&self, code: u16) -> bool {
        self.0.iter().any(|&(lo, hi)| (lo..=hi).contains(&code))
    }
}

impl std::fmt::Display for StatusRanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (lo, hi)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if lo == hi {
                write!(f, "{lo}")?;
            } else {
                write!(f, "{lo}-{hi}")?;
            }
        }
        Ok(())
    }
}

fn parse_code(s: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(c) if (100..=599).contains(&c) => Ok(c),
        _ => Err(format!("{s:?} is not a status code between 100 and 599")),
    }
}

/// Which address family a check connects over.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpFamily {
    /// Whatever DNS returns first.
    #[default]
    Auto,
    V4,
    V6,
}

impl IpFamily {
    /// The name used in the API, the form and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            IpFamily::Auto => "auto",
            IpFamily::V4 => "v4",
            IpFamily::V6 => "v6",
        }
    }

    pub fn parse(s: &str) -> Option<IpFamily> {
        [IpFamily::Auto, IpFamily::V4, IpFamily::V6]
            .into_iter()
            .find(|f| f.as_str() == s)
    }
}

pub const MAX_REDIRECTS: u8 = 10;
pub const DEFAULT_MAX_REDIRECTS: u8 = 5;

fn default_true() -> bool {
    true
}
fn default_max_redirects() -> u8 {
    DEFAULT_MAX_REDIRECTS
}
fn is_false(b: &bool) -> bool {
    !*b
}
fn is_true(b: &bool) -> bool {
    *b
}

/// Everything about a check beyond the request itself: redirects, TLS,
/// address family, assertions and the thresholds that make a check degraded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckOptions {
    /// Follow 3xx answers with a Location, at most `max_redirects` hops.
    #[serde(default = "default_true")]
    pub follow_redirects: bool,
    #[serde(default = "default_max_redirects")]
    pub max_redirects: u8,
    /// A redirect to another origin (scheme, host, port) drops the secret
    /// headers (all but the format headers, see [`crate::secret`]) and the
    /// body, as browsers and curl drop credentials; unless this is set.
    #[serde(default, skip_serializing_if = "is_false")]
    pub keep_secrets_on_redirect: bool,
    /// Ask for gzip, deflate and br (`Accept-Encoding`) and decode the body
    /// before the keyword and assertions read it; off: ask for `identity`
    /// and read the bytes as sent.
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub decompress: bool,
    /// Check the certificate chain and host name of HTTPS targets.
    #[serde(default = "default_true")]
    pub verify_tls: bool,
    #[serde(default)]
    pub ip_family: IpFamily,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assertions: Vec<crate::Assertion>,
    /// Up but slower than this: degraded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degraded_above_ms: Option<u32>,
    /// Up but the certificate expires within this many days: degraded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_expiry_days: Option<u32>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            follow_redirects: true,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            keep_secrets_on_redirect: false,
            decompress: true,
            verify_tls: true,
            ip_family: IpFamily::Auto,
            assertions: Vec::new(),
            degraded_above_ms: None,
            cert_expiry_days: None,
        }
    }
}

/// What a worker needs to run one check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckSpec {
    pub url: String,
    pub method: String,
    pub headers: Vec<Header>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    pub timeout_ms: u32,
    pub expected_status: StatusRanges,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyword: Option<String>,
    pub max_body_bytes: u64,
    /// Request options and assertions, all with defaults, so a spec from an
    /// older node (without them) still reads.
    #[serde(default)]
    pub options: CheckOptions,
}

impl Default for CheckSpec {
    /// A GET with every option at its default; callers set the URL.
    fn default() -> Self {
        CheckSpec {
            url: String::new(),
            method: "GET".into(),
            headers: Vec::new(),
            body: None,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            expected_status: StatusRanges(vec![(200, 399)]),
            keyword: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            options: CheckOptions::default(),
        }
    }
}

/// A monitor that passed validation, normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidMonitor {
    pub name: String,
    pub interval_seconds: u32,
    /// Sorted, deduplicated; empty means any region.
    pub regions: Vec<String>,
    pub enabled: bool,
    pub check: CheckSpec,
    pub alert: crate::AlertRules,
}

impl MonitorInput {
    /// Checks every field and returns all problems at once, one per field.
    pub fn validate(&self) -> Result<ValidMonitor, Vec<FieldError>> {
        let mut errors = Vec::new();

        let name = self.name.trim();
        if name.is_empty() {
            errors.push(FieldError::new("name", "a name is required"));
        } else if name.chars().count() > MAX_NAME_LEN {
            errors.push(FieldError::new(
                "name",
                format!("at most {MAX_NAME_LEN} characters"),
            ));
        } else if name.chars().any(char::is_control) {
            errors.push(FieldError::new(
                "name",
                "control characters are not allowed",
            ));
        }

        let url = self.url.trim();
        if let Err(e) = validate_url(url) {
            errors.push(FieldError::new("url", e));
        }

        let method = self.method.trim().to_ascii_uppercase();
        if !METHODS.contains(&method.as_str()) {
            errors.push(FieldError::new(
                "method",
                format!("method must be one of {}", METHODS.join(", ")),
            ));
        }

        if self.headers.len() > MAX_HEADERS {
            errors.push(FieldError::new(
                "headers",
                format!("at most {MAX_HEADERS} headers"),
            ));
        }
        for h in &self.headers {
            if let Err(e) = validate_header(h) {
                errors.push(FieldError::new("headers", e));
                break;
            }
        }
        // A placeholder that reaches validation stands for nothing stored
        // (see `restore_hidden`): it would otherwise be sent as the value.
        if let Some(h) = self.headers.iter().find(|h| h.value == HIDDEN) {
            errors.push(FieldError::new(
                "headers",
                format!(
                    "the value of {} is {HIDDEN}, which stands for a stored value; enter the value",
                    h.name.trim()
                ),
            ));
        }

        let body = self.body.as_deref().filter(|b| !b.is_empty());
        if let Some(b) = body {
            if b == HIDDEN {
                errors.push(FieldError::new(
                    "body",
                    format!("the body is {HIDDEN}, which stands for a stored body; enter the body"),
                ));
            } else if b.len() > MAX_BODY_LEN {
                errors.push(FieldError::new(
                    "body",
                    format!("at most {} KiB", MAX_BODY_LEN / 1024),
                ));
            } else if method == "GET" || method == "HEAD" {
                errors.push(FieldError::new(
                    "body",
                    "a request body needs a method such as POST, PUT or PATCH",
                ));
            }
        }

        let interval_ok = (MIN_INTERVAL_S..=MAX_INTERVAL_S).contains(&self.interval_seconds);
        if !interval_ok {
            errors.push(FieldError::new(
                "interval_seconds",
                format!("interval must be between {MIN_INTERVAL_S} second and 24 hours ({MAX_INTERVAL_S} s)"),
            ));
        }

        if self.timeout_ms < MIN_TIMEOUT_MS || self.timeout_ms > MAX_TIMEOUT_MS {
            errors.push(FieldError::new(
                "timeout_ms",
                format!("timeout must be between {MIN_TIMEOUT_MS} ms and 60 s"),
            ));
        } else if interval_ok
            && u64::from(self.timeout_ms) > u64::from(self.interval_seconds) * 1000
        {
            errors.push(FieldError::new(
                "timeout_ms",
                "timeout must not be longer than the interval",
            ));
        }

        let mut regions = Vec::new();
        for r in &self.regions {
            let r = r.trim().to_ascii_lowercase();
            if r.is_empty() || r == ANY_REGION {
                continue;
            }
            if !is_valid_region(&r) {
                errors.push(FieldError::new(
                    "regions",
                    format!("{r:?} is not a region name (letters, digits and '-', at most 32)"),
                ));
                break;
            }
            regions.push(r);
        }
        regions.sort();
        regions.dedup();
        if regions.len() > MAX_REGIONS {
            errors.push(FieldError::new(
                "regions",
                format!("at most {MAX_REGIONS} regions"),
            ));
        }

        let expected = match StatusRanges::parse(&self.expected_status) {
            Ok(r) => Some(r),
            Err(e) => {
                errors.push(FieldError::new("expected_status", e));
                None
            }
        };

        let keyword = self.keyword.as_deref().filter(|k| !k.is_empty());
        if let Some(k) = keyword {
            if k.len() > MAX_KEYWORD_LEN {
                errors.push(FieldError::new(
                    "keyword",
                    format!("at most {MAX_KEYWORD_LEN} bytes"),
                ));
            }
        }

        if self.max_redirects > MAX_REDIRECTS {
            errors.push(FieldError::new(
                "max_redirects",
                format!("at most {MAX_REDIRECTS}"),
            ));
        }
        if self.assertions.len() > crate::assertion::MAX_ASSERTIONS {
            errors.push(FieldError::new(
                "assertions",
                format!("at most {} assertions", crate::assertion::MAX_ASSERTIONS),
            ));
        } else if let Some(e) = self
            .assertions
            .iter()
            .find_map(|a| a.validate().err().map(|e| format!("{a}: {e}")))
        {
            errors.push(FieldError::new("assertions", e));
        }
        if let Some(d) = self.degraded_above_ms {
            if d == 0 || d >= self.timeout_ms {
                errors.push(FieldError::new(
                    "degraded_above_ms",
                    "the latency threshold must be above 0 and below the timeout",
                ));
            }
        }
        if let Some(days) = self.cert_expiry_days {
            if !(1..=365).contains(&days) {
                errors.push(FieldError::new(
                    "cert_expiry_days",
                    "between 1 and 365 days",
                ));
            }
        }

        errors.extend(self.alert.problems());

        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(ValidMonitor {
            name: name.to_string(),
            interval_seconds: self.interval_seconds,
            regions,
            enabled: self.enabled,
            alert: self.alert.clone(),
            check: CheckSpec {
                url: url.to_string(),
                method,
                headers: self
                    .headers
                    .iter()
                    .map(|h| Header {
                        name: h.name.trim().to_string(),
                        value: h.value.trim().to_string(),
                    })
                    .collect(),
                body: body.map(str::to_string),
                timeout_ms: self.timeout_ms,
                expected_status: expected.expect("checked above"),
                keyword: keyword.map(str::to_string),
                max_body_bytes: DEFAULT_MAX_BODY_BYTES,
                options: CheckOptions {
                    follow_redirects: self.follow_redirects,
                    max_redirects: self.max_redirects,
                    keep_secrets_on_redirect: self.keep_secrets_on_redirect,
                    decompress: self.decompress,
                    verify_tls: self.verify_tls,
                    ip_family: self.ip_family,
                    assertions: self.assertions.clone(),
                    degraded_above_ms: self.degraded_above_ms,
                    cert_expiry_days: self.cert_expiry_days,
                },
            },
        })
    }
}

/// Region names: 1 to 32 of `a-z`, `0-9` and `-`.
pub fn is_valid_region(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 32
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Accepts absolute `http://` and `https://` URLs with a host and nothing
/// that could smuggle a second request line (whitespace, control characters).
pub fn validate_url(url: &str) -> Result<(), String> {
    origin_of(url).map(|_| ())
}

/// Where a request goes: scheme, host (lower case) and port (the scheme's
/// default when none is given). Stored secrets belong to one origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}://[{}]:{}", self.scheme, self.host, self.port)
        } else {
            write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
        }
    }
}

/// The origin of a URL [`validate_url`] accepts; the reason otherwise.
pub fn origin_of(url: &str) -> Result<Origin, String> {
    if url.is_empty() {
        return Err("a URL is required".into());
    }
    if url.len() > MAX_URL_LEN {
        return Err(format!("at most {MAX_URL_LEN} characters"));
    }
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("the URL contains spaces or control characters".into());
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        let scheme = url.split(':').next().unwrap_or_default();
        return Err(format!(
            "only http:// and https:// URLs can be monitored (got {scheme:?})"
        ));
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "only http:// and https:// URLs can be monitored (got {scheme}:)"
        ));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err("credentials in the URL are not supported; use an Authorization header".into());
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let Some((addr, after)) = v6.split_once(']') else {
            return Err("unterminated IPv6 address".into());
        };
        if addr.is_empty()
            || !addr
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err("invalid IPv6 address".into());
        }
        match after {
            "" => (addr, None),
            p => match p.strip_prefix(':') {
                Some(p) => (addr, Some(p)),
                None => return Err("unexpected text after the IPv6 address".into()),
            },
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("the URL has no host".into());
    }
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'))
    {
        return Err(format!("{host:?} is not a valid host name"));
    }
    let port = match port {
        None => {
            if scheme == "https" {
                443
            } else {
                80
            }
        }
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return Err(format!("{p:?} is not a valid port")),
        },
    };
    Ok(Origin {
        host: host.to_ascii_lowercase(),
        scheme,
        port,
    })
}

fn validate_header(h: &Header) -> Result<(), String> {
    let name = h.name.trim();
    if name.is_empty() {
        return Err("a header needs a name".into());
    }
    // RFC 9110 token characters.
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    {
        return Err(format!("{name:?} is not a valid header name"));
    }
    if h.value.len() > MAX_HEADER_VALUE_LEN {
        return Err(format!(
            "header {name} is longer than {MAX_HEADER_VALUE_LEN} bytes"
        ));
    }
    if h.value.chars().any(|c| c == '\r' || c == '\n' || c == '\0') {
        return Err(format!("header {name} contains a line break or NUL"));
    }
    let lower = name.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "content-length" | "transfer-encoding" | "connection" | "upgrade" | "te" | "trailer"
    ) {
        return Err(format!(
            "header {name} is managed by the checker and cannot be set"
        ));
    }
    Ok(())
}

/// Parses header lines `Name: value`, one per line, as typed into a form.
pub fn parse_header_lines(text: &str) -> Result<Vec<Header>, String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("{line:?} is not of the form Name: value"));
        };
        out.push(Header {
            name: name.trim().to_string(),
            value: value.trim().to_string(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(url: &str) -> MonitorInput {
        MonitorInput {
            name: "api".into(),
            url: url.into(),
            method: "GET".into(),
            headers: vec![],
            body: None,
            interval_seconds: 60,
            timeout_ms: 5000,
            regions: vec![],
            expected_status: "200-399".into(),
            keyword: None,
            enabled: true,
            follow_redirects: true,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            keep_secrets_on_redirect: false,
            decompress: true,
            verify_tls: true,
            ip_family: IpFamily::Auto,
            assertions: Vec::new(),
            degraded_above_ms: None,
            cert_expiry_days: None,
            alert: crate::AlertRules::default(),
        }
    }

    #[test]
    fn an_origin_is_scheme_host_and_port() {
        let o = origin_of("HTTPS://Example.COM/x").unwrap();
        assert_eq!(o.to_string(), "https://example.com:443");
        assert_eq!(
            origin_of("http://example.com:80/").unwrap(),
            origin_of("http://example.com").unwrap()
        );
        assert_ne!(
            origin_of("http://example.com").unwrap(),
            origin_of("https://example.com").unwrap()
        );
        assert_eq!(
            origin_of("http://[::1]:8080/").unwrap().to_string(),
            "http://[::1]:8080"
        );
    }

    fn fields(r: Result<ValidMonitor, Vec<FieldError>>) -> Vec<String> {
        r.err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn accepts_plain_http_and_https() {
        for u in [
            "http://example.com",
            "https://example.com:8443/health?x=1#f",
            "http://127.0.0.1:9000/",
            "http://[::1]:8080/x",
        ] {
            assert!(input(u).validate().is_ok(), "{u}");
        }
    }

    #[test]
    fn rejects_other_schemes_and_malformed_urls() {
        for u in [
            "file:///etc/passwd",
            "javascript:alert(1)",
            "gopher://example.com/",
            "ftp://example.com",
            "example.com",
            "http://",
            "http://exa mple.com",
            "http://user:pw@example.com",
            "http://example.com:99999",
            "http://example.com\r\nHost: evil",
        ] {
            assert_eq!(fields(input(u).validate()), vec!["url"], "{u}");
        }
    }

    #[test]
    fn rejects_header_values_with_line_breaks() {
        let mut m = input("http://example.com");
        m.headers = vec![Header {
            name: "X-A".into(),
            value: "a\r\nX-Injected: 1".into(),
        }];
        assert_eq!(fields(m.validate()), vec!["headers"]);
    }

    #[test]
    fn interval_and_timeout_bounds() {
        let mut m = input("http://example.com");
        m.interval_seconds = 0;
        assert_eq!(fields(m.validate()), vec!["interval_seconds"]);
        m.interval_seconds = 86_401;
        assert_eq!(fields(m.validate()), vec!["interval_seconds"]);
        m.interval_seconds = 2;
        m.timeout_ms = 2_001;
        assert_eq!(fields(m.validate()), vec!["timeout_ms"]);
        m.interval_seconds = 120;
        m.timeout_ms = 60_001;
        assert_eq!(fields(m.validate()), vec!["timeout_ms"]);
        m.timeout_ms = 60_000;
        assert!(m.validate().is_ok());
    }

    #[test]
    fn reports_every_bad_field_at_once() {
        let mut m = input("gopher://x");
        m.name = " ".into();
        m.method = "BREW".into();
        m.expected_status = "700".into();
        assert_eq!(
            fields(m.validate()),
            vec!["name", "url", "method", "expected_status"]
        );
    }

    #[test]
    fn options_and_assertions_are_validated() {
        let mut m = input("http://example.com");
        m.max_redirects = 11;
        m.degraded_above_ms = Some(6000);
        m.cert_expiry_days = Some(0);
        m.assertions = vec![crate::Assertion::BodyMatches {
            pattern: "(".into(),
        }];
        assert_eq!(
            fields(m.validate()),
            vec![
                "max_redirects",
                "assertions",
                "degraded_above_ms",
                "cert_expiry_days"
            ]
        );
    }

    #[test]
    fn status_ranges_parse_and_match() {
        let r = StatusRanges::parse("200, 204,300-302").unwrap();
        assert!(r.contains(204) && r.contains(301) && !r.contains(303));
        assert_eq!(r.to_string(), "200,204,300-302");
        assert!(StatusRanges::parse("399-200").is_err());
        assert!(StatusRanges::parse("").is_err());
    }

    #[test]
    fn regions_are_normalised_and_any_means_empty() {
        let mut m = input("http://example.com");
        m.regions = vec![
            "EU-West".into(),
            "any".into(),
            "eu-west".into(),
            "us".into(),
        ];
        assert_eq!(m.validate().unwrap().regions, vec!["eu-west", "us"]);
        m.regions = vec!["bad region".into()];
        assert_eq!(fields(m.validate()), vec!["regions"]);
    }

    #[test]
    fn header_lines_parse() {
        let h = parse_header_lines("Accept: text/html\r\n\nX-Token: a:b\n").unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!(h[1].value, "a:b");
        assert!(parse_header_lines("no colon").is_err());
    }
}
