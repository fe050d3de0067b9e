//! One HTTP/1.1 request over a brand-new connection, with every phase timed:
//! DNS, TCP connect, TLS handshake, time to first byte, transfer. Each phase
//! runs under the check's one deadline, so a slow phase times out on time and
//! the error says which phase it was. Bodies are read up to a cap and counted
//! beyond it; response heads are capped too.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use openseer_protocol::monitor::IpFamily;
use openseer_protocol::{ErrorKind, Timings, TlsInfo};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::timeout_at;

use openseer_protocol::address as guard;

/// Largest response head (status line and headers) accepted.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

pub struct Tls {
    verified: Arc<rustls::ClientConfig>,
    unverified: Arc<rustls::ClientConfig>,
}

impl Tls {
    /// The platform's trust store, plus `extra_roots` (tests use their own CA).
    pub fn new(extra_roots: Vec<CertificateDer<'static>>) -> Result<Tls, rustls::Error> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(
            extra_roots,
            provider.clone(),
        )?;
        let verified = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        let unverified = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnything(provider)))
            .with_no_client_auth();
        Ok(Tls {
            verified: Arc::new(verified),
            unverified: Arc::new(unverified),
        })
    }
}

pub struct Request<'a> {
    pub url: &'a reqwest::Url,
    pub method: &'a str,
    pub headers: &'a [openseer_protocol::Header],
    pub body: Option<&'a str>,
    pub verify_tls: bool,
    pub ip_family: IpFamily,
    pub block_private: bool,
    pub max_body_bytes: u64,
    /// Ask for gzip, deflate and br and decode them (see [`crate::decode`]).
    pub decompress: bool,
}

pub struct Response {
    pub status: u16,
    pub location: Option<String>,
    pub headers: Vec<(String, String)>,
    /// The body as the checks read it (decoded), at most the cap.
    pub body: Vec<u8>,
    /// Bytes transferred (counted even past the cap).
    pub body_bytes: u64,
    /// The decoded size, when the body was compressed.
    pub decoded_bytes: Option<u64>,
    /// `body` is not all of it: the transfer or its decoding passed the cap.
    pub cut: bool,
    pub timings: Timings,
    pub tls: Option<TlsInfo>,
}

#[derive(Debug)]
pub struct Failure {
    pub kind: ErrorKind,
    pub message: String,
    pub timings: Timings,
    pub tls: Option<TlsInfo>,
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

pub async fn fetch(
    tls: &Tls,
    req: &Request<'_>,
    deadline: tokio::time::Instant,
) -> Result<Response, Failure> {
    let mut timings = Timings::default();
    let fail = |kind, message: String, timings: &Timings, tls: Option<TlsInfo>| Failure {
        kind,
        message,
        timings: timings.clone(),
        tls,
    };
    let timed_out = |phase: &str, timings: &Timings, tls: Option<TlsInfo>| Failure {
        kind: ErrorKind::Timeout,
        message: format!("timed out during {phase}"),
        timings: timings.clone(),
        tls,
    };

    let url = req.url;
    let https = url.scheme() == "https";
    let host = url.host_str().ok_or_else(|| {
        fail(
            ErrorKind::InvalidRequest,
            "the URL has no host".into(),
            &timings,
            None,
        )
    })?;
    let port = url
        .port_or_known_default()
        .unwrap_or(if https { 443 } else { 80 });

    // DNS.
    let started = Instant::now();
    let literal = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .ok();
    // Every phase that ran has its time, also when it failed.
    let mut addrs: Vec<SocketAddr> = match literal {
        Some(ip) => vec![SocketAddr::new(ip, port)],
        None => {
            let resolved = timeout_at(deadline, tokio::net::lookup_host((host, port))).await;
            timings.dns_ms = ms(started);
            match resolved {
                Err(_) => return Err(timed_out("DNS resolution", &timings, None)),
                Ok(Err(e)) => {
                    return Err(fail(
                        ErrorKind::Dns,
                        format!("could not resolve {host}: {e}"),
                        &timings,
                        None,
                    ))
                }
                Ok(Ok(a)) => a.collect(),
            }
        }
    };
    addrs.retain(|a| match req.ip_family {
        IpFamily::Auto => true,
        IpFamily::V4 => a.is_ipv4(),
        IpFamily::V6 => a.is_ipv6(),
    });
    if addrs.is_empty() {
        let family = match req.ip_family {
            IpFamily::V4 => " IPv4",
            IpFamily::V6 => " IPv6",
            IpFamily::Auto => "",
        };
        return Err(fail(
            ErrorKind::Dns,
            format!("{host} has no{family} address"),
            &timings,
            None,
        ));
    }

    // TCP connect: the first address that accepts.
    let started = Instant::now();
    let mut last_error = None;
    let mut stream = None;
    for addr in &addrs {
        if req.block_private && guard::is_private(addr.ip()) {
            last_error = Some(fail(
                ErrorKind::Blocked,
                format!(
                    "{} is a private or local address and this worker blocks private targets",
                    addr.ip()
                ),
                &timings,
                None,
            ));
            continue;
        }
        let connected = timeout_at(deadline, TcpStream::connect(addr)).await;
        timings.connect_ms = ms(started);
        match connected {
            Err(_) => return Err(timed_out("TCP connect", &timings, None)),
            Ok(Ok(s)) => {
                stream = Some(s);
                break;
            }
            Ok(Err(e)) => {
                let kind = match e.kind() {
                    std::io::ErrorKind::ConnectionRefused => ErrorKind::ConnectionRefused,
                    std::io::ErrorKind::TimedOut => ErrorKind::ConnectTimeout,
                    _ => ErrorKind::Connect,
                };
                last_error = Some(fail(
                    kind,
                    format!("connecting to {addr}: {e}"),
                    &timings,
                    None,
                ));
            }
        }
    }
    let Some(stream) = stream else {
        return Err(last_error.expect("at least one address was tried"));
    };
    // The guard looks at the address actually connected to, so a name that
    // resolves differently between checks (DNS rebinding) cannot slip past.
    if req.block_private {
        if let Ok(peer) = stream.peer_addr() {
            if guard::is_private(peer.ip()) {
                return Err(fail(
                    ErrorKind::Blocked,
                    format!("{} is a private or local address", peer.ip()),
                    &timings,
                    None,
                ));
            }
        }
    }
    let _ = stream.set_nodelay(true);

    if !https {
        return exchange(stream, req, host, port, deadline, timings, None).await;
    }

    // TLS.
    let started = Instant::now();
    let config = if req.verify_tls {
        tls.verified.clone()
    } else {
        tls.unverified.clone()
    };
    let name = ServerName::try_from(
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
    )
    .map_err(|e| {
        fail(
            ErrorKind::InvalidRequest,
            format!("{host} is not a valid TLS server name: {e}"),
            &timings,
            None,
        )
    })?;
    let handshake = timeout_at(
        deadline,
        tokio_rustls::TlsConnector::from(config).connect(name, stream),
    )
    .await;
    timings.tls_ms = ms(started);
    let tls_stream = match handshake {
        Err(_) => return Err(timed_out("TLS handshake", &timings, None)),
        Ok(Err(e)) => return Err(fail(ErrorKind::Tls, describe_tls(&e), &timings, None)),
        Ok(Ok(s)) => s,
    };
    let info = {
        let (_, session) = tls_stream.get_ref();
        let version = session
            .protocol_version()
            .and_then(|v| v.as_str())
            .unwrap_or("unknown")
            .replace("TLSv1_", "TLSv1.");
        let summary = session
            .peer_certificates()
            .and_then(|c| c.first())
            .and_then(|leaf| crate::der::summarize(leaf));
        TlsInfo {
            version,
            subject: summary.as_ref().map(|s| s.subject.clone()),
            issuer: summary.as_ref().map(|s| s.issuer.clone()),
            not_after_ms: summary.map(|s| s.not_after_ms),
        }
    };
    exchange(tls_stream, req, host, port, deadline, timings, Some(info)).await
}

/// Sends the request and reads the answer on an established connection.
async fn exchange<S>(
    stream: S,
    req: &Request<'_>,
    host: &str,
    port: u16,
    deadline: tokio::time::Instant,
    mut timings: Timings,
    tls: Option<TlsInfo>,
) -> Result<Response, Failure>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let failure = |kind, message: String, timings: &Timings| Failure {
        kind,
        message,
        timings: timings.clone(),
        tls: tls.clone(),
    };
    let started = Instant::now();
    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        .max_buf_size(MAX_HEAD_BYTES.max(8192))
        .handshake::<_, Full<Bytes>>(TokioIo::new(stream))
        .await
        .map_err(|e| failure(ErrorKind::Protocol, e.to_string(), &timings))?;
    let driver = tokio::spawn(conn);

    let default_port = if req.url.scheme() == "https" { 443 } else { 80 };
    let host_header = if port == default_port {
        host.to_string()
    } else {
        format!("{host}:{port}")
    };
    let path = match req.url.query() {
        Some(q) => format!("{}?{q}", req.url.path()),
        None => req.url.path().to_string(),
    };
    let mut builder = hyper::Request::builder().method(req.method).uri(path);
    let has = |name: &str| {
        req.headers
            .iter()
            .any(|h| h.name.eq_ignore_ascii_case(name))
    };
    if !has("host") {
        builder = builder.header("host", host_header);
    }
    if !has("user-agent") {
        builder = builder.header(
            "user-agent",
            concat!("OpenSeer/", env!("CARGO_PKG_VERSION")),
        );
    }
    builder = builder.header("connection", "close");
    if !has("accept-encoding") {
        let accept = if req.decompress {
            crate::decode::ACCEPT_ENCODING
        } else {
            "identity"
        };
        builder = builder.header("accept-encoding", accept);
    }
    for h in req.headers {
        builder = builder.header(h.name.as_str(), h.value.as_str());
    }
    let body = Full::new(Bytes::from(req.body.unwrap_or_default().to_string()));
    let request = builder
        .body(body)
        .map_err(|e| failure(ErrorKind::InvalidRequest, e.to_string(), &timings))?;

    let answered = timeout_at(deadline, sender.send_request(request)).await;
    timings.ttfb_ms = ms(started);
    let response = match answered {
        Err(_) => {
            driver.abort();
            return Err(Failure {
                kind: ErrorKind::Timeout,
                message: "timed out waiting for the first byte of the response".into(),
                timings,
                tls,
            });
        }
        Ok(Err(e)) => {
            driver.abort();
            let text = e.to_string();
            let kind = if text.contains("too large") {
                ErrorKind::TooLarge
            } else {
                ErrorKind::Protocol
            };
            return Err(failure(
                kind,
                format!("reading the response head: {text}"),
                &timings,
            ));
        }
        Ok(Ok(r)) => r,
    };

    let started = Instant::now();
    let status = response.status().as_u16();
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let cap = usize::try_from(req.max_body_bytes).unwrap_or(usize::MAX);
    let mut body = Vec::new();
    let mut body_bytes = 0u64;
    let mut incoming = response.into_body();
    loop {
        let frame = match timeout_at(deadline, incoming.frame()).await {
            Err(_) => {
                driver.abort();
                timings.transfer_ms = ms(started);
                return Err(Failure {
                    kind: ErrorKind::Timeout,
                    message: format!("timed out reading the body after {body_bytes} bytes"),
                    timings,
                    tls,
                });
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                driver.abort();
                timings.transfer_ms = ms(started);
                return Err(failure(
                    ErrorKind::Protocol,
                    format!("reading the body: {e}"),
                    &timings,
                ));
            }
            Ok(Some(Ok(f))) => f,
        };
        if let Ok(chunk) = frame.into_data() {
            body_bytes += chunk.len() as u64;
            let room = cap.saturating_sub(body.len());
            body.extend_from_slice(&chunk[..room.min(chunk.len())]);
        }
    }
    timings.transfer_ms = ms(started);
    driver.abort();
    let mut cut = body_bytes > body.len() as u64;
    let mut decoded_bytes = None;
    let encoding = headers
        .iter()
        .find(|(k, _)| k == "content-encoding")
        .map(|(_, v)| v.as_str());
    if let Some(encoding) = encoding.filter(|_| req.decompress) {
        match crate::decode::decode(encoding, &body, cap) {
            Ok(None) => {}
            Ok(Some(d)) => {
                cut |= d.cut;
                decoded_bytes = Some(d.body.len() as u64);
                body = d.body;
            }
            Err(e) => return Err(failure(ErrorKind::Protocol, e.to_string(), &timings)),
        }
    }
    Ok(Response {
        status,
        location,
        headers,
        body,
        body_bytes,
        decoded_bytes,
        cut,
        timings,
        tls,
    })
}

fn describe_tls(e: &std::io::Error) -> String {
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
    match inner {
        Some(rustls::Error::InvalidCertificate(c)) => {
            use rustls::CertificateError as C;
            match c {
                C::Expired | C::ExpiredContext { .. } => "certificate expired".into(),
                C::NotValidYet | C::NotValidYetContext { .. } => "certificate not valid yet".into(),
                // webpki reports a chain that leads to no trusted root in
                // several ways, depending on which candidate root it tried last.
                C::UnknownIssuer
                | C::BadSignature
                | C::UnsupportedSignatureAlgorithmContext { .. }
                | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
                    "certificate not trusted (unknown issuer or self-signed)".into()
                }
                C::NotValidForName | C::NotValidForNameContext { .. } => {
                    "certificate not valid for this host name".into()
                }
                C::Revoked => "certificate revoked".into(),
                other => format!("invalid certificate: {other:?}"),
            }
        }
        Some(other) => format!("TLS handshake failed: {other}"),
        None => format!("TLS handshake failed: {e}"),
    }
}

/// Used only when the monitor turns TLS verification off: the handshake
/// still happens (and is timed, and the certificate recorded), but any
/// certificate is accepted.
#[derive(Debug)]
struct AcceptAnything(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
