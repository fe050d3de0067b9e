//! Running one check: a fresh connection, a hard deadline over every phase,
//! a capped body read, and the assertions of the monitor. A target being
//! down is a [`CheckResult`] with an outcome, never an `Err`.

use std::error::Error as _;
use std::time::{Duration, Instant};

use openseer_protocol::result::MAX_ERROR_MESSAGE_LEN;
use openseer_protocol::wire::Job;
use openseer_protocol::{CheckResult, ErrorKind, Outcome};

/// HTTP client for targets. It never keeps a connection between checks, so
/// every check pays (and measures) DNS, connect and TLS, and it never follows
/// redirects silently.
#[derive(Clone)]
pub struct Checker {
    client: reqwest::Client,
}

impl Checker {
    pub fn new() -> Result<Checker, reqwest::Error> {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .http1_only()
            .user_agent(concat!("OpenSeer/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Checker { client })
    }

    pub async fn run(&self, job: &Job, now_ms: impl Fn() -> i64) -> CheckResult {
        let started_at_ms = now_ms();
        let started = Instant::now();
        let spec = &job.check;
        let deadline = Duration::from_millis(u64::from(spec.timeout_ms));
        let attempt = tokio::time::timeout(deadline, self.fetch(job)).await;
        let total_ms = started.elapsed().as_secs_f64() * 1000.0;
        let mut result = CheckResult {
            run_id: job.run_id.clone(),
            monitor_id: job.monitor_id,
            region: job.region.clone(),
            scheduled_at_ms: job.scheduled_at_ms,
            started_at_ms,
            outcome: Outcome::Error,
            error_kind: None,
            error_message: None,
            status_code: None,
            total_ms,
            body_bytes: 0,
        };
        let fetched = match attempt {
            Err(_) => {
                result.error_kind = Some(ErrorKind::Timeout);
                result.error_message = Some(format!(
                    "no complete answer within the timeout of {} ms",
                    spec.timeout_ms
                ));
                return result;
            }
            Ok(Err((kind, message))) => {
                result.error_kind = Some(kind);
                result.error_message = Some(truncate(message));
                return result;
            }
            Ok(Ok(f)) => f,
        };
        result.status_code = Some(fetched.status);
        result.body_bytes = fetched.body_bytes;
        if !spec.expected_status.contains(fetched.status) {
            result.outcome = Outcome::Down;
            result.error_kind = Some(ErrorKind::StatusCode);
            result.error_message = Some(format!(
                "status {} is not in the expected {}",
                fetched.status, spec.expected_status
            ));
            return result;
        }
        if let Some(keyword) = &spec.keyword {
            if !contains(&fetched.body, keyword.as_bytes()) {
                result.outcome = Outcome::Down;
                result.error_kind = Some(ErrorKind::KeywordMissing);
                let scope = if fetched.body_bytes > fetched.body.len() as u64 {
                    format!(" (first {} bytes searched)", fetched.body.len())
                } else {
                    String::new()
                };
                result.error_message = Some(truncate(format!(
                    "the body does not contain {keyword:?}{scope}"
                )));
                return result;
            }
        }
        result.outcome = Outcome::Up;
        result
    }

    async fn fetch(&self, job: &Job) -> Result<Fetched, (ErrorKind, String)> {
        let spec = &job.check;
        let method = reqwest::Method::from_bytes(spec.method.as_bytes()).map_err(|_| {
            (
                ErrorKind::InvalidRequest,
                format!("bad method {}", spec.method),
            )
        })?;
        let mut req = self.client.request(method, &spec.url);
        for h in &spec.headers {
            req = req.header(&h.name, &h.value);
        }
        if let Some(body) = &spec.body {
            req = req.body(body.clone());
        }
        let req = req
            .build()
            .map_err(|e| (ErrorKind::InvalidRequest, describe(&e)))?;
        let mut resp = self.client.execute(req).await.map_err(|e| classify(&e))?;
        let status = resp.status().as_u16();
        let cap = usize::try_from(spec.max_body_bytes).unwrap_or(usize::MAX);
        let mut body = Vec::new();
        let mut body_bytes: u64 = 0;
        // Keep reading past the cap, counting only: the size is data, the
        // bytes are not, and the timeout around us bounds the time spent.
        while let Some(chunk) = resp.chunk().await.map_err(|e| classify(&e))? {
            body_bytes += chunk.len() as u64;
            let room = cap.saturating_sub(body.len());
            body.extend_from_slice(&chunk[..room.min(chunk.len())]);
        }
        Ok(Fetched {
            status,
            body,
            body_bytes,
        })
    }
}

struct Fetched {
    status: u16,
    body: Vec<u8>,
    body_bytes: u64,
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

fn truncate(mut s: String) -> String {
    if s.len() > MAX_ERROR_MESSAGE_LEN {
        let mut cut = MAX_ERROR_MESSAGE_LEN;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// The error and its causes, joined, without the URL (which the user knows).
fn describe(e: &reqwest::Error) -> String {
    let mut parts = vec![e.without_url_ref().to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

trait WithoutUrlRef {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrlRef for reqwest::Error {
    fn without_url_ref(&self) -> String {
        let text = self.to_string();
        match self.url() {
            Some(u) => text.replace(&format!(" for url ({u})"), ""),
            None => text,
        }
    }
}

fn classify(e: &reqwest::Error) -> (ErrorKind, String) {
    let message = describe(e);
    if e.is_timeout() {
        return (ErrorKind::Timeout, message);
    }
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => {
                    return (ErrorKind::ConnectionRefused, message)
                }
                std::io::ErrorKind::TimedOut => return (ErrorKind::ConnectTimeout, message),
                _ => {}
            }
        }
        let text = s.to_string().to_ascii_lowercase();
        if text.contains("dns error") || text.contains("failed to lookup address") {
            return (ErrorKind::Dns, message);
        }
        if text.contains("certificate") || text.contains("tls") || text.contains("handshake") {
            return (ErrorKind::Tls, message);
        }
        source = s.source();
    }
    if e.is_connect() {
        return (ErrorKind::Connect, message);
    }
    (ErrorKind::Protocol, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyword_search_is_bytewise() {
        assert!(contains(b"hello world", b"o w"));
        assert!(!contains(b"hello", b"hello!"));
        assert!(contains(b"", b""));
    }

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let s = "é".repeat(MAX_ERROR_MESSAGE_LEN);
        let t = truncate(s);
        assert!(t.len() <= MAX_ERROR_MESSAGE_LEN);
    }
}
