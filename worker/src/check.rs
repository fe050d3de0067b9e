//! Running one check: a fresh connection, a hard deadline over every phase,
//! a capped body read, and the assertions of the monitor. A target being
//! down is a [`CheckResult`] with an outcome, never an `Err`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::assert::contains;
use crate::http::{Failure, Request, Tls};

use openseer_protocol::result::MAX_ERROR_MESSAGE_LEN;
use openseer_protocol::secret::header_is_secret;
use openseer_protocol::wire::Job;
use openseer_protocol::{CheckResult, ErrorKind, Outcome};

/// Runs checks. Every check opens its own connection (see [`crate::http`]),
/// so DNS, connect and TLS are measured each time, and redirects are followed
/// only as the monitor says, each hop on a fresh connection.
#[derive(Clone)]
pub struct Checker {
    tls: Arc<Tls>,
    block_private: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("setting up TLS: {0}")]
pub struct CheckerError(#[from] rustls::Error);

impl Checker {
    pub fn new() -> Result<Checker, CheckerError> {
        Checker::with_options(CheckerOptions::default())
    }

    pub fn with_options(o: CheckerOptions) -> Result<Checker, CheckerError> {
        Ok(Checker {
            tls: Arc::new(Tls::new(o.extra_roots)?),
            block_private: o.block_private_targets,
        })
    }

    pub async fn run(&self, job: &Job, now_ms: impl Fn() -> i64) -> CheckResult {
        let started_at_ms = now_ms();
        let started = Instant::now();
        let spec = &job.check;
        let deadline =
            tokio::time::Instant::now() + Duration::from_millis(u64::from(spec.timeout_ms));
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
            total_ms: 0.0,
            body_bytes: 0,
            decoded_bytes: None,
            timings: None,
            tls: None,
            redirects: Vec::new(),
            assertions: Vec::new(),
        };
        let fetched = self.follow(spec, deadline, &mut result.redirects).await;
        result.total_ms = started.elapsed().as_secs_f64() * 1000.0;
        let fetched = match fetched {
            Err(f) => {
                result.error_kind = Some(f.kind);
                result.error_message = Some(truncate(f.message));
                result.timings = Some(f.timings);
                result.tls = f.tls;
                return result;
            }
            Ok(f) => f,
        };
        result.status_code = Some(fetched.status);
        result.body_bytes = fetched.body_bytes;
        result.decoded_bytes = fetched.decoded_bytes;
        result.timings = Some(fetched.timings.clone());
        result.tls = fetched.tls.clone();
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
                let scope = if fetched.cut {
                    let decoded = if fetched.decoded_bytes.is_some() {
                        " decoded"
                    } else {
                        ""
                    };
                    format!(
                        " (first {}{decoded} bytes searched: the body is larger than the cap)",
                        fetched.body.len()
                    )
                } else {
                    String::new()
                };
                result.error_message = Some(truncate(format!(
                    "the body does not contain {keyword:?}{scope}"
                )));
                return result;
            }
        }
        result.assertions = crate::assert::evaluate(&spec.options.assertions, &fetched);
        let failed: Vec<String> = result
            .assertions
            .iter()
            .filter(|a| !a.passed)
            .map(|a| {
                format!(
                    "{}: {}",
                    a.assertion,
                    a.detail.as_deref().unwrap_or("failed")
                )
            })
            .collect();
        if !failed.is_empty() {
            result.outcome = Outcome::Down;
            result.error_kind = Some(ErrorKind::AssertionFailed);
            result.error_message = Some(truncate(failed.join("; ")));
            return result;
        }
        if let Some(limit) = spec.options.degraded_above_ms {
            if result.total_ms > f64::from(limit) {
                result.outcome = Outcome::Degraded;
                result.error_kind = Some(ErrorKind::Slow);
                result.error_message = Some(format!(
                    "{:.0} ms, above the {limit} ms threshold",
                    result.total_ms
                ));
                return result;
            }
        }
        if let (Some(days), Some(not_after)) = (
            spec.options.cert_expiry_days,
            result.tls.as_ref().and_then(|t| t.not_after_ms),
        ) {
            let left_ms = not_after - now_ms();
            if left_ms < i64::from(days) * 86_400_000 {
                result.outcome = Outcome::Degraded;
                result.error_kind = Some(ErrorKind::CertExpiring);
                result.error_message = Some(format!(
                    "the certificate expires in {} days (warning at {days})",
                    left_ms.div_euclid(86_400_000)
                ));
                return result;
            }
        }
        result.outcome = Outcome::Up;
        result
    }

    /// Requests the URL and follows redirects as the spec allows, recording
    /// every URL followed; a URL seen twice is a loop.
    async fn follow(
        &self,
        spec: &openseer_protocol::CheckSpec,
        deadline: tokio::time::Instant,
        chain: &mut Vec<String>,
    ) -> Result<crate::http::Response, Failure> {
        let invalid = |message: String| Failure {
            kind: ErrorKind::InvalidRequest,
            message,
            timings: Default::default(),
            tls: None,
        };
        let mut url =
            reqwest::Url::parse(&spec.url).map_err(|e| invalid(format!("invalid URL: {e}")))?;
        let mut method = spec.method.clone();
        let mut body = spec.body.clone();
        let mut headers = std::borrow::Cow::Borrowed(spec.headers.as_slice());
        let origin = url.origin();
        let mut seen = vec![url.to_string()];
        loop {
            let req = Request {
                url: &url,
                method: &method,
                headers: &headers,
                body: body.as_deref(),
                verify_tls: spec.options.verify_tls,
                ip_family: spec.options.ip_family,
                block_private: self.block_private,
                max_body_bytes: spec.max_body_bytes,
                decompress: spec.options.decompress,
            };
            let resp = crate::http::fetch(&self.tls, &req, deadline).await?;
            let redirect = matches!(resp.status, 301 | 302 | 303 | 307 | 308);
            let Some(location) = resp
                .location
                .as_deref()
                .filter(|_| redirect && spec.options.follow_redirects)
            else {
                return Ok(resp);
            };
            let next = url
                .join(location)
                .map_err(|e| invalid(format!("redirect to an invalid URL {location:?}: {e}")))?;
            if next.scheme() != "http" && next.scheme() != "https" {
                return Err(invalid(format!("redirect to a non-HTTP URL {next}")));
            }
            if seen.contains(&next.to_string()) {
                return Err(Failure {
                    kind: ErrorKind::RedirectLoop,
                    message: format!("redirect loop: {} leads back to {next}", url),
                    timings: resp.timings,
                    tls: resp.tls,
                });
            }
            if chain.len() >= usize::from(spec.options.max_redirects) {
                return Err(Failure {
                    kind: ErrorKind::RedirectLoop,
                    message: format!("more than {} redirects", spec.options.max_redirects),
                    timings: resp.timings,
                    tls: resp.tls,
                });
            }
            if resp.status == 303
                || ((resp.status == 301 || resp.status == 302) && method == "POST")
            {
                method = "GET".into();
                body = None;
            }
            // Credentials are for the origin they were written for: once a
            // redirect leaves it, the secret headers and the body stay behind
            // for the rest of the chain, as in browsers and curl.
            if next.origin() != origin && !spec.options.keep_secrets_on_redirect {
                headers = std::borrow::Cow::Owned(
                    spec.headers
                        .iter()
                        .filter(|h| !header_is_secret(&h.name))
                        .cloned()
                        .collect(),
                );
                body = None;
            }
            chain.push(next.to_string());
            seen.push(next.to_string());
            url = next;
        }
    }
}

/// How a worker's checker is set up.
#[derive(Debug, Clone, Default)]
pub struct CheckerOptions {
    /// Refuse loopback, private, link-local, CGNAT, multicast and unique-local targets.
    pub block_private_targets: bool,
    /// Extra trusted roots (DER), on top of the platform's store.
    pub extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
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
