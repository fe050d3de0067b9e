//! The check engine against local targets started here, one case per
//! behaviour: timings per phase, hostile targets, redirects, TLS, the guard.

use crate::support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openseer_protocol::monitor::IpFamily;
use openseer_protocol::{ErrorKind, Outcome};
use openseer_worker::check::{Checker, CheckerOptions};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;

use support::{job, ok_response, play, run, serve, text, Step};

async fn serve_tls(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> SocketAddr {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(s).await {
                    play(tls, |_| ok_response("secure ok")).await;
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_trickled_body_times_out_on_time_and_says_where() {
    let addr = serve("127.0.0.1:0", |_| {
        let mut s = vec![text("HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n")];
        for _ in 0..50 {
            s.push(text("x"));
            s.push(Step::Sleep(100));
        }
        s
    })
    .await;
    let started = Instant::now();
    let r = run(&job(&format!("http://{addr}/"), 500)).await;
    let took = started.elapsed();
    assert_eq!(
        (r.outcome, r.error_kind),
        (Outcome::Error, Some(ErrorKind::Timeout))
    );
    assert!(
        r.error_message.as_deref().unwrap().contains("body"),
        "{:?}",
        r.error_message
    );
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_millis(700),
        "{took:?}"
    );
    assert!(r.timings.unwrap().transfer_ms > 300.0);
}

#[tokio::test]
async fn slow_headers_time_out_in_the_first_byte_phase() {
    let addr = serve("127.0.0.1:0", |_| {
        vec![text("HTTP/1.1 200 OK\r\n"), Step::Sleep(2000)]
    })
    .await;
    let r = run(&job(&format!("http://{addr}/"), 300)).await;
    assert_eq!(r.error_kind, Some(ErrorKind::Timeout));
    assert!(r.error_message.unwrap().contains("first byte"));
    // The phase that timed out has its time: the wait for the first byte.
    let t = r.timings.unwrap();
    assert!(t.ttfb_ms >= 250.0, "ttfb {} ms", t.ttfb_ms);
}

#[tokio::test]
async fn every_phase_that_ran_has_its_time_when_it_fails() {
    // DNS that fails took time.
    let r = run(&job("http://nonexistent.invalid/", 3000)).await;
    assert_eq!(r.error_kind, Some(ErrorKind::Dns));
    assert!(r.timings.unwrap().dns_ms > 0.0, "a failed lookup is timed");
    // A refused connection: the connect attempt.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let r = run(&job(&format!("http://127.0.0.1:{port}/"), 3000)).await;
    assert_eq!(r.error_kind, Some(ErrorKind::ConnectionRefused));
    assert!(r.timings.unwrap().connect_ms > 0.0);
    // A TLS handshake that fails, and one that hangs, after the connect.
    let (chain, key) = leaf(None, "localhost", (2099, 1, 1));
    let addr = serve_tls(chain, key).await;
    let r = run(&job(&format!("https://localhost:{}/", addr.port()), 3000)).await;
    assert_eq!(r.error_kind, Some(ErrorKind::Tls));
    let t = r.timings.unwrap();
    assert!(t.connect_ms > 0.0 && t.tls_ms > 0.0, "{t:?}");
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let r = run(&job(&format!("https://{silent_addr}/"), 300)).await;
    assert_eq!(r.error_kind, Some(ErrorKind::Timeout));
    let t = r.timings.unwrap();
    assert!(t.tls_ms >= 250.0, "the hanging handshake: {t:?}");
}

#[tokio::test]
async fn huge_headers_are_refused() {
    let addr = serve("127.0.0.1:0", |_| {
        let mut head = "HTTP/1.1 200 OK\r\n".to_string();
        for i in 0..2000 {
            head.push_str(&format!("x-filler-{i}: {}\r\n", "y".repeat(60)));
        }
        head.push_str("content-length: 0\r\n\r\n");
        vec![Step::Write(head.into_bytes())]
    })
    .await;
    let r = run(&job(&format!("http://{addr}/"), 2000)).await;
    assert_eq!(r.outcome, Outcome::Error);
    assert!(
        matches!(
            r.error_kind,
            Some(ErrorKind::TooLarge | ErrorKind::Protocol)
        ),
        "{:?}",
        r.error_kind
    );
}

fn redirects(head: &str) -> Vec<Step> {
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let to = match path.as_str() {
        "/a" => "/b",
        "/b" => "/c",
        "/loop1" => "/loop2",
        "/loop2" => "/loop1",
        _ => return ok_response("landed"),
    };
    vec![text(&format!(
        "HTTP/1.1 302 Found\r\nlocation: {to}\r\ncontent-length: 0\r\n\r\n"
    ))]
}

#[tokio::test]
async fn redirect_chains_are_followed_and_recorded() {
    let addr = serve("127.0.0.1:0", redirects).await;
    let r = run(&job(&format!("http://{addr}/a"), 2000)).await;
    assert_eq!((r.outcome, r.status_code), (Outcome::Up, Some(200)));
    assert_eq!(
        r.redirects,
        vec![format!("http://{addr}/b"), format!("http://{addr}/c")]
    );

    let mut j = job(&format!("http://{addr}/a"), 2000);
    j.check.options.follow_redirects = false;
    let r = run(&j).await;
    assert_eq!((r.outcome, r.status_code), (Outcome::Up, Some(302)));
    assert!(r.redirects.is_empty());

    let mut j = job(&format!("http://{addr}/a"), 2000);
    j.check.options.max_redirects = 1;
    assert_eq!(run(&j).await.error_kind, Some(ErrorKind::RedirectLoop));
}

/// A target that records each request it is sent (head and body) and
/// answers `/to/PORT/STATUS` with a redirect of that status to
/// `http://127.0.0.1:PORT/echo`, anything else with 200.
async fn recorder() -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                while buf.len() < head_end + length {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let request = String::from_utf8_lossy(&buf).into_owned();
                let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
                let answer = match path.strip_prefix("/to/").and_then(|r| r.split_once('/')) {
                    Some((port, status)) => format!(
                        "HTTP/1.1 {status} Moved\r\nlocation: http://127.0.0.1:{port}/echo\r\ncontent-length: 0\r\n\r\n"
                    ),
                    None => "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_string(),
                };
                let _ = tx.send(request);
                let _ = s.write_all(answer.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (addr, rx)
}

/// What a redirect's second hop carried, for a POST with credentials.
async fn second_hop(status: u16, cross_origin: bool, keep: bool) -> String {
    let (first, mut first_seen) = recorder().await;
    let (second, mut second_seen) = recorder().await;
    let to = if cross_origin { second } else { first };
    let mut j = job(&format!("http://{first}/to/{}/{status}", to.port()), 3000);
    j.check.method = "POST".into();
    j.check.body = Some("secret-body".into());
    j.check.headers = [
        ("Authorization", "Bearer s3cret"),
        ("X-Api-Key", "k3y"),
        ("Accept", "application/json"),
    ]
    .iter()
    .map(|(n, v)| openseer_protocol::Header {
        name: n.to_string(),
        value: v.to_string(),
    })
    .collect();
    j.check.options.keep_secrets_on_redirect = keep;
    let r = run(&j).await;
    assert_eq!(r.status_code, Some(200), "{:?}", r.error_message);
    let hop1 = first_seen.recv().await.unwrap();
    assert!(hop1.contains("Bearer s3cret") && hop1.ends_with("secret-body"));
    let seen = if cross_origin {
        &mut second_seen
    } else {
        &mut first_seen
    };
    seen.recv().await.unwrap()
}

#[tokio::test]
async fn a_redirect_to_another_origin_leaves_credentials_and_the_body_behind() {
    for status in [302, 307, 308] {
        let hop = second_hop(status, true, false).await;
        let lower = hop.to_lowercase();
        assert!(
            !hop.contains("s3cret") && !lower.contains("authorization"),
            "{status}: {hop}"
        );
        assert!(!hop.contains("k3y"), "{status}: {hop}");
        assert!(!hop.contains("secret-body"), "{status}: {hop}");
        assert!(
            lower.contains("accept: application/json"),
            "format headers stay: {hop}"
        );
    }
    // 307 and 308 keep the method (only the body stays behind).
    assert!(second_hop(307, true, false).await.starts_with("POST /echo"));
    // Within the origin everything goes on, and a monitor may opt in to
    // sending it elsewhere too.
    for (cross, keep) in [(false, false), (true, true)] {
        let hop = second_hop(307, cross, keep).await;
        assert!(
            hop.contains("Bearer s3cret") && hop.contains("k3y"),
            "{hop}"
        );
        assert!(hop.ends_with("secret-body"), "{hop}");
    }
}

#[tokio::test]
async fn redirect_loops_are_detected() {
    let addr = serve("127.0.0.1:0", redirects).await;
    let r = run(&job(&format!("http://{addr}/loop1"), 2000)).await;
    assert_eq!(
        (r.outcome, r.error_kind),
        (Outcome::Error, Some(ErrorKind::RedirectLoop))
    );
    assert!(r.error_message.unwrap().contains("loop"));
}

#[tokio::test]
async fn unresolvable_hosts_are_dns_errors() {
    let r = run(&job("http://nonexistent.invalid/", 3000)).await;
    assert_eq!(
        (r.outcome, r.error_kind),
        (Outcome::Error, Some(ErrorKind::Dns)),
        "{:?}",
        r.error_message
    );
}

#[tokio::test]
async fn ipv6_loopback_targets_work_and_families_are_honoured() {
    let addr = serve("[::1]:0", |_| ok_response("v6")).await;
    let r = run(&job(&format!("http://[::1]:{}/", addr.port()), 2000)).await;
    assert_eq!(r.outcome, Outcome::Up, "{:?}", r.error_message);
    let mut j = job(&format!("http://[::1]:{}/", addr.port()), 2000);
    j.check.options.ip_family = IpFamily::V4;
    assert_eq!(
        run(&j).await.error_kind,
        Some(ErrorKind::Dns),
        "an IPv6 literal has no IPv4 address"
    );
}

#[tokio::test]
async fn the_private_target_guard_blocks_loopback_even_by_name() {
    let addr = serve("127.0.0.1:0", |_| ok_response("internal")).await;
    let guarded = Checker::with_options(CheckerOptions {
        block_private_targets: true,
        ..Default::default()
    })
    .unwrap();
    for url in [
        format!("http://127.0.0.1:{}/", addr.port()),
        format!("http://localhost:{}/", addr.port()),
    ] {
        let r = guarded.run(&job(&url, 2000), openseer_worker::now_ms).await;
        assert_eq!(
            (r.outcome, r.error_kind),
            (Outcome::Error, Some(ErrorKind::Blocked)),
            "{url}"
        );
    }
    let r = guarded
        .run(
            &job("http://169.254.169.254/latest/meta-data/", 2000),
            openseer_worker::now_ms,
        )
        .await;
    assert_eq!(r.error_kind, Some(ErrorKind::Blocked));
    // Off by default: self-hosted users monitor internal services.
    assert_eq!(
        run(&job(&format!("http://localhost:{}/", addr.port()), 2000))
            .await
            .outcome,
        Outcome::Up
    );
}

// --- TLS --------------------------------------------------------------------

struct Pki {
    root: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

fn pki() -> Pki {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name
        .push(DnType::CommonName, "OpenSeer Test CA");
    let key = KeyPair::generate().unwrap();
    let root = p.self_signed(&key).unwrap().der().clone();
    Pki {
        root,
        issuer: Issuer::new(p, key),
    }
}

fn leaf(
    issuer: Option<&Issuer<'static, KeyPair>>,
    name: &str,
    not_after: (i32, u8, u8),
) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    leaf_until(
        issuer,
        name,
        rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2),
    )
}

fn leaf_until(
    issuer: Option<&Issuer<'static, KeyPair>>,
    name: &str,
    not_after: time::OffsetDateTime,
) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let mut p = CertificateParams::new(vec![name.to_string()]).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    p.not_before = rcgen::date_time_ymd(2020, 1, 1);
    p.not_after = not_after;
    let key = KeyPair::generate().unwrap();
    let cert = match issuer {
        Some(i) => p.signed_by(&key, i).unwrap(),
        None => p.self_signed(&key).unwrap(),
    };
    (
        vec![cert.der().clone()],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
}

fn trusting(p: &Pki) -> Checker {
    Checker::with_options(CheckerOptions {
        extra_roots: vec![p.root.clone()],
        ..Default::default()
    })
    .unwrap()
}

#[tokio::test]
async fn a_valid_certificate_is_up_with_its_details_and_handshake_time() {
    let p = pki();
    let (chain, key) = leaf(Some(&p.issuer), "localhost", (2099, 1, 1));
    let addr = serve_tls(chain, key).await;
    let r = trusting(&p)
        .run(
            &job(&format!("https://localhost:{}/", addr.port()), 3000),
            openseer_worker::now_ms,
        )
        .await;
    assert_eq!(r.outcome, Outcome::Up, "{:?}", r.error_message);
    let tls = r.tls.expect("TLS details");
    assert!(tls.version.starts_with("TLSv1."), "{}", tls.version);
    assert_eq!(tls.subject.as_deref(), Some("CN=localhost"));
    assert_eq!(tls.issuer.as_deref(), Some("CN=OpenSeer Test CA"));
    assert_eq!(
        tls.not_after_ms,
        Some(4_070_908_800_000),
        "2099-01-01T00:00:00Z"
    );
    let t = r.timings.unwrap();
    assert!(t.tls_ms > 0.0 && t.dns_ms > 0.0);
}

#[tokio::test]
async fn expired_certificates_are_tls_errors() {
    let p = pki();
    let (chain, key) = leaf(Some(&p.issuer), "localhost", (2021, 1, 1));
    let addr = serve_tls(chain, key).await;
    let r = trusting(&p)
        .run(
            &job(&format!("https://localhost:{}/", addr.port()), 3000),
            openseer_worker::now_ms,
        )
        .await;
    assert_eq!(
        (r.outcome, r.error_kind),
        (Outcome::Error, Some(ErrorKind::Tls))
    );
    assert!(r.error_message.unwrap().contains("expired"));
}

#[tokio::test]
async fn self_signed_certificates_are_untrusted_unless_verification_is_off() {
    let (chain, key) = leaf(None, "localhost", (2099, 1, 1));
    let addr = serve_tls(chain, key).await;
    let url = format!("https://localhost:{}/", addr.port());
    let r = run(&job(&url, 3000)).await;
    assert_eq!(r.error_kind, Some(ErrorKind::Tls));
    let m = r.error_message.unwrap();
    assert!(m.contains("not trusted"), "{m}");
    let mut j = job(&url, 3000);
    j.check.options.verify_tls = false;
    let r = run(&j).await;
    assert_eq!(r.outcome, Outcome::Up, "{:?}", r.error_message);
    assert_eq!(r.tls.unwrap().subject.as_deref(), Some("CN=localhost"));
}

#[tokio::test]
async fn certificates_for_another_host_are_tls_errors() {
    let p = pki();
    let (chain, key) = leaf(Some(&p.issuer), "other.example", (2099, 1, 1));
    let addr = serve_tls(chain, key).await;
    let r = trusting(&p)
        .run(
            &job(&format!("https://localhost:{}/", addr.port()), 3000),
            openseer_worker::now_ms,
        )
        .await;
    assert_eq!(r.error_kind, Some(ErrorKind::Tls));
    assert!(r.error_message.unwrap().contains("host name"));
}

#[tokio::test]
async fn a_certificate_expiring_soon_makes_the_check_degraded() {
    let p = pki();
    let (chain, key) = leaf_until(
        Some(&p.issuer),
        "localhost",
        time::OffsetDateTime::now_utc() + time::Duration::days(10),
    );
    let addr = serve_tls(chain, key).await;
    let mut j = job(&format!("https://localhost:{}/", addr.port()), 3000);
    j.check.options.cert_expiry_days = Some(14);
    let r = trusting(&p).run(&j, openseer_worker::now_ms).await;
    assert_eq!(
        (r.outcome, r.error_kind),
        (Outcome::Degraded, Some(ErrorKind::CertExpiring)),
        "{:?}",
        r.error_message
    );
    assert!(r.error_message.unwrap().contains("expires in"));
    let days_left = (r.tls.unwrap().not_after_ms.unwrap() - openseer_worker::now_ms()) / 86_400_000;
    assert!((9..=10).contains(&days_left), "{days_left}");
    j.check.options.cert_expiry_days = Some(7);
    assert_eq!(
        trusting(&p).run(&j, openseer_worker::now_ms).await.outcome,
        Outcome::Up
    );
}

#[tokio::test]
async fn answers_slower_than_the_threshold_are_degraded() {
    let addr = serve("127.0.0.1:0", |_| {
        let mut s = vec![Step::Sleep(150)];
        s.extend(ok_response("slow"));
        s
    })
    .await;
    let mut j = job(&format!("http://{addr}/"), 2000);
    j.check.options.degraded_above_ms = Some(100);
    let r = run(&j).await;
    assert_eq!(
        (r.outcome, r.error_kind),
        (Outcome::Degraded, Some(ErrorKind::Slow))
    );
    j.check.options.degraded_above_ms = Some(1000);
    assert_eq!(run(&j).await.outcome, Outcome::Up);
}

#[tokio::test]
async fn json_path_and_header_assertions_pass_and_fail() {
    let addr = serve("127.0.0.1:0", |_| {
        let body = r#"{"status":"ok","checks":[{"db":"up"}]}"#;
        vec![text(&format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        ))]
    })
    .await;
    let mut j = job(&format!("http://{addr}/"), 2000);
    j.check.options.assertions = [
        "json $.status == ok",
        "json $.checks[0].db == up",
        "header content-type contains json",
    ]
    .iter()
    .map(|l| openseer_protocol::Assertion::parse_line(l).unwrap())
    .collect();
    let r = run(&j).await;
    assert_eq!(r.outcome, Outcome::Up, "{:?}", r.error_message);
    assert!(r.assertions.iter().all(|a| a.passed));
    j.check
        .options
        .assertions
        .push(openseer_protocol::Assertion::parse_line("json $.status == down").unwrap());
    j.check
        .options
        .assertions
        .push(openseer_protocol::Assertion::parse_line("header x-version exists").unwrap());
    let r = run(&j).await;
    assert_eq!(
        (r.outcome, r.error_kind),
        (Outcome::Down, Some(ErrorKind::AssertionFailed))
    );
    assert_eq!(r.assertions.iter().filter(|a| !a.passed).count(), 2);
    assert!(r.error_message.unwrap().contains("$.status"));
}

#[tokio::test]
async fn requests_carry_the_default_user_agent_and_the_monitors_headers() {
    let addr = serve("127.0.0.1:0", |head| {
        let head = head.to_ascii_lowercase();
        let ua = format!("user-agent: openseer/{}", env!("CARGO_PKG_VERSION"));
        if head.contains(&ua) && head.contains("x-token: s3cret") && head.starts_with("post ") {
            ok_response("yes")
        } else {
            vec![text("HTTP/1.1 400 Bad\r\ncontent-length: 0\r\n\r\n")]
        }
    })
    .await;
    let mut j = job(&format!("http://{addr}/"), 2000);
    j.check.method = "POST".into();
    j.check.body = Some("{}".into());
    j.check.headers = vec![openseer_protocol::Header {
        name: "X-Token".into(),
        value: "s3cret".into(),
    }];
    let r = run(&j).await;
    assert_eq!(
        (r.outcome, r.status_code),
        (Outcome::Up, Some(200)),
        "{:?}",
        r.error_message
    );
}

const JSON_BODY: &str = r#"{"status":"ok","note":"compressed"}"#;

fn compressed(encoding: &str, body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    match encoding {
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(body).unwrap();
            e.finish().unwrap()
        }
        "deflate" => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(body).unwrap();
            e.finish().unwrap()
        }
        "br" => {
            let mut out = Vec::new();
            let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
            w.write_all(body).unwrap();
            drop(w);
            out
        }
        _ => body.to_vec(),
    }
}

/// Answers `/gzip`, `/deflate`, `/br` with the JSON body in that encoding
/// when the request asks for it (as httpbin does), `/bomb` with 50 MB of
/// zeros gzipped into a few kilobytes; a request that asks for `identity`
/// gets the plain body.
fn encodings(head: &str) -> Vec<Step> {
    let lower = head.to_lowercase();
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let asked = lower.contains("accept-encoding: gzip, deflate, br");
    let (encoding, plain) = match path.as_str() {
        "/bomb" => ("gzip", vec![0u8; 50_000_000]),
        p => (p.trim_start_matches('/'), JSON_BODY.as_bytes().to_vec()),
    };
    let (encoding, body) = if asked {
        (encoding, compressed(encoding, &plain))
    } else {
        ("identity", plain)
    };
    let mut out = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: {encoding}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    vec![Step::Write(out)]
}

#[tokio::test]
async fn compressed_bodies_are_decoded_for_the_keyword_and_assertions() {
    let addr = serve("127.0.0.1:0", encodings).await;
    for encoding in ["gzip", "deflate", "br"] {
        let mut j = job(&format!("http://{addr}/{encoding}"), 3000);
        j.check.keyword = Some("compressed".into());
        j.check.options.assertions =
            vec![openseer_protocol::Assertion::parse_line("json $.status == ok").unwrap()];
        let r = run(&j).await;
        assert_eq!(r.outcome, Outcome::Up, "{encoding}: {:?}", r.error_message);
        // Both sizes: what came over the wire, and what it decoded to.
        assert_eq!(r.decoded_bytes, Some(JSON_BODY.len() as u64), "{encoding}");
        assert_eq!(
            r.body_bytes,
            compressed(encoding, JSON_BODY.as_bytes()).len() as u64
        );
        // Turned off, the worker asks for the body as it is.
        j.check.options.decompress = false;
        let r = run(&j).await;
        assert_eq!(
            r.outcome,
            Outcome::Up,
            "{encoding} off: {:?}",
            r.error_message
        );
        assert_eq!(r.decoded_bytes, None);
    }
}

#[tokio::test]
async fn a_decompression_bomb_stays_within_the_body_cap() {
    let addr = serve("127.0.0.1:0", encodings).await;
    let mut j = job(&format!("http://{addr}/bomb"), 5000);
    j.check.keyword = Some("treasure".into());
    let started = Instant::now();
    let r = run(&j).await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(r.error_kind, Some(ErrorKind::KeywordMissing));
    let cap = j.check.max_body_bytes;
    assert_eq!(r.decoded_bytes, Some(cap));
    assert!(r.body_bytes < 100_000, "the bomb is small on the wire");
    let m = r.error_message.unwrap();
    assert!(m.contains("larger than the cap"), "{m}");
}
