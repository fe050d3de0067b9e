//! Test harness: a node on port 0 with a fresh data directory, a scriptable
//! local HTTP target, an in-process worker, and a signed-in browser-like client.
#![allow(dead_code)]

pub mod cluster;
pub mod db;
pub mod metrics;
pub mod own_postgres;
pub mod results;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openseer_core::leases::LeaseConfig;
use openseer_node::{Application, Settings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

pub const PASSWORD: &str = "correct horse battery staple";

/// The node's clock in tests: real time plus an offset the test may move
/// forward, so sessions, invitations and codes can be aged without waiting
/// while everything else keeps running.
#[derive(Default)]
pub struct TestClock(std::sync::atomic::AtomicI64);

impl TestClock {
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl openseer_core::clock::Clock for TestClock {
    fn now_ms(&self) -> i64 {
        openseer_core::clock::system_now_ms() + self.0.load(Ordering::SeqCst)
    }
}

pub struct TestApp {
    pub base: String,
    pub setup_url: Option<String>,
    pub store: openseer_store::Store,
    pub actors: openseer_node::actors::Actors,
    pub handle: actix_web::dev::ServerHandle,
    pub dir: tempfile::TempDir,
    settings: Settings,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// A node whose clock the test moves (see [`TestClock`]).
    pub async fn spawn_with_clock(clock: Arc<TestClock>) -> TestApp {
        Self::spawn_full(|_| {}, clock).await
    }

    pub async fn spawn_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
        Self::spawn_full(tweak, Arc::new(TestClock::default())).await
    }

    /// Settings of the test's own, and a clock it moves.
    pub async fn spawn_full(tweak: impl FnOnce(&mut Settings), clock: Arc<TestClock>) -> TestApp {
        memory_guard();
        init_tracing();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings = Settings::new(dir.path().join("data"), "127.0.0.1:0");
        settings.lease = LeaseConfig {
            grace_ms: 15_000,
            sweep_ms: 50,
        };
        tweak(&mut settings);
        let app = Application::build_with_clock(settings.clone(), clock)
            .await
            .expect("node builds");
        settings.http_addr = format!("127.0.0.1:{}", app.port());
        // Where the node listens, even when its public URL names a proxy in front.
        let base = format!("http://{}", settings.http_addr);
        TestApp {
            base,
            setup_url: app.setup_url.clone(),
            store: app.store.clone(),
            actors: app.actors.clone(),
            handle: app.handle(),
            dir,
            settings,
            task: Some(tokio::spawn(app.run_until_stopped())),
        }
    }

    /// Stops the node as Ctrl-C would, and waits until it has drained.
    pub async fn stop(&mut self) {
        Application::shutdown(self.handle.clone(), &self.actors).await;
        if let Some(t) = self.task.take() {
            t.await.expect("node task").expect("node stopped cleanly");
        }
    }

    /// Starts the node again on the same address and data directory.
    pub async fn start_again(&mut self) {
        let app = Application::build(self.settings.clone())
            .await
            .expect("node rebuilds");
        self.store = app.store.clone();
        self.actors = app.actors.clone();
        self.handle = app.handle();
        self.task = Some(tokio::spawn(app.run_until_stopped()));
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn setup_token(&self) -> String {
        let url = self
            .setup_url
            .as_deref()
            .expect("fresh instance has a setup link");
        url.split("token=")
            .nth(1)
            .expect("token in link")
            .to_string()
    }

    /// Claims the instance; returns a signed-in client of the administrator.
    pub async fn setup_admin(&self, email: &str) -> Browser {
        let b = Browser::new(self);
        let page = b.get(&format!("/setup?token={}", self.setup_token())).await;
        assert_eq!(page.0, 200, "setup page: {}", page.1);
        let csrf = csrf_of(&page.1);
        let (status, body) = b
            .post_form(
                "/setup",
                &[
                    ("_csrf", &csrf),
                    ("token", &self.setup_token()),
                    ("org_name", "Acme"),
                    ("name", "Admin"),
                    ("email", email),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(status, 303, "setup: {body}");
        b
    }

    /// A new member of the first organization with `role`, signed in.
    pub async fn member(&self, email: &str, role: openseer_protocol::Role) -> Browser {
        let hash = openseer_node::auth::password::hash(PASSWORD).unwrap();
        self.store
            .create_member(
                1,
                openseer_store::NewUser {
                    email,
                    name: "Member",
                    password_hash: &hash,
                },
                role,
                openseer_core::clock::system_now_ms(),
            )
            .await
            .expect("a member");
        let b = Browser::new(self);
        assert_eq!(b.login(email, PASSWORD).await, 303);
        b
    }

    /// A second organization with its own administrator, signed in.
    pub async fn other_org_admin(&self, email: &str) -> Browser {
        let hash = openseer_node::auth::password::hash(PASSWORD).unwrap();
        self.store
            .create_organization(
                "Other Org",
                openseer_store::NewUser {
                    email,
                    name: "Other",
                    password_hash: &hash,
                },
                openseer_core::clock::system_now_ms(),
            )
            .await
            .expect("second organization");
        let b = Browser::new(self);
        assert_eq!(b.login(email, PASSWORD).await, 303);
        b
    }

    /// Mints an enrollment token of the first organization through the dashboard.
    pub async fn enrollment_token(&self, admin: &Browser) -> String {
        let (_, page) = admin.get("/workers").await;
        let (status, page) = admin
            .post_form(
                "/workers/enrollment-tokens",
                &[("_csrf", &csrf_of(&page)), ("name", "test")],
            )
            .await;
        assert_eq!(status, 200);
        extract_token(&page, "ostc_")
    }

    /// Starts an in-process worker in `region`; stop it with the returned sender.
    pub async fn start_worker(&self, enroll_token: &str, region: &str) -> RunningWorker {
        let state_dir = tempfile::tempdir().expect("worker dir");
        self.start_worker_in(
            enroll_token,
            region,
            state_dir.path().to_path_buf(),
            Some(state_dir),
        )
        .await
    }

    pub async fn start_worker_in(
        &self,
        enroll_token: &str,
        region: &str,
        state: PathBuf,
        keep: Option<tempfile::TempDir>,
    ) -> RunningWorker {
        let mut config = openseer_worker::WorkerConfig::new(vec![self.base.clone()], region, state);
        config.enroll_token = Some(enroll_token.to_string());
        config.poll_wait = Duration::from_secs(5);
        let (tx, rx) = watch::channel(false);
        let task = tokio::spawn(openseer_worker::run(config, rx));
        RunningWorker {
            stop: tx,
            task,
            _dir: keep,
        }
    }
}

/// A signed-in admin, a running worker in `region` and a local target: the
/// start of most end-to-end tests.
pub struct Checking {
    pub app: TestApp,
    pub admin: Browser,
    pub worker: RunningWorker,
    pub target: Target,
}

pub async fn checking(region: &str) -> Checking {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin("admin@example.com").await;
    let worker = app
        .start_worker(&app.enrollment_token(&admin).await, region)
        .await;
    let target = Target::start().await;
    Checking {
        app,
        admin,
        worker,
        target,
    }
}

pub struct RunningWorker {
    pub stop: watch::Sender<bool>,
    pub task: tokio::task::JoinHandle<Result<(), openseer_worker::WorkerError>>,
    _dir: Option<tempfile::TempDir>,
}

impl RunningWorker {
    pub fn new(
        stop: watch::Sender<bool>,
        task: tokio::task::JoinHandle<Result<(), openseer_worker::WorkerError>>,
        dir: tempfile::TempDir,
    ) -> RunningWorker {
        RunningWorker {
            stop,
            task,
            _dir: Some(dir),
        }
    }

    pub async fn shutdown(self) -> Result<(), openseer_worker::WorkerError> {
        let _ = self.stop.send(true);
        self.task.await.expect("worker task")
    }
}

/// A client with its own cookie jar, like one browser.
pub struct Browser {
    pub http: reqwest::Client,
    pub base: String,
}

impl Browser {
    pub fn new(app: &TestApp) -> Browser {
        Browser::at(&app.base)
    }

    /// A client on another loopback address (`127.0.0.2`, ...), which may
    /// send a forged `X-Forwarded-For` with every request.
    pub fn from_address(base: &str, local: &str, forged_for: Option<&str>) -> Browser {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(f) = forged_for {
            headers.insert("x-forwarded-for", f.parse().unwrap());
        }
        let builder = Browser::builder()
            .local_address(local.parse::<std::net::IpAddr>().unwrap())
            .default_headers(headers);
        Browser {
            http: builder.build().unwrap(),
            base: base.to_string(),
        }
    }

    /// A client of the node (or load balancer) at `base`.
    pub fn at(base: &str) -> Browser {
        Browser {
            http: Browser::builder().build().unwrap(),
            base: base.to_string(),
        }
    }

    /// Like a browser: keeps cookies, shows redirects instead of following.
    fn builder() -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}{}", self.base, path))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let r = self
            .http
            .post(format!("{}{}", self.base, path))
            .form(form)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    pub async fn csrf(&self) -> String {
        let (_, page) = self.get("/").await;
        csrf_of(&page)
    }

    pub async fn login(&self, email: &str, password: &str) -> u16 {
        let (_, page) = self.get("/login").await;
        let csrf = csrf_of(&page);
        self.post_form(
            "/login",
            &[("_csrf", &csrf), ("email", email), ("password", password)],
        )
        .await
        .0
    }

    /// Makes an API token with `scope` on the settings page; returns it.
    pub async fn api_token(&self, scope: &str) -> String {
        let (_, page) = self.get("/settings/tokens").await;
        let (status, page) = self
            .post_form(
                "/settings/tokens",
                &[
                    ("_csrf", &csrf_of(&page)),
                    ("name", scope),
                    ("scope", scope),
                    ("expires_days", ""),
                ],
            )
            .await;
        assert_eq!(status, 200, "token: {page}");
        extract_token(&page, "ostu_")
    }

    /// Creates a monitor through the dashboard form; returns its id.
    pub async fn create_monitor(&self, fields: &[(&str, &str)]) -> i64 {
        let csrf = self.csrf().await;
        let mut form: Vec<(&str, &str)> = vec![
            ("_csrf", &csrf),
            ("method", "GET"),
            ("expected_status", "200-399"),
            ("enabled", "on"),
            ("timeout_ms", "900"),
            ("interval_seconds", "1"),
        ];
        for (k, v) in fields {
            form.retain(|(fk, _)| fk != k);
            form.push((k, v));
        }
        let r = self
            .http
            .post(format!("{}/monitors", self.base))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status().as_u16(),
            303,
            "create monitor: {}",
            r.text().await.unwrap()
        );
        let loc = r.headers()["location"].to_str().unwrap().to_string();
        loc.trim_start_matches("/monitors/").parse().unwrap()
    }

    /// Results of a monitor through the JSON API, newest first.
    pub async fn results(&self, monitor_id: i64) -> Vec<serde_json::Value> {
        let r = self
            .http
            .get(format!(
                "{}/api/v1/monitors/{monitor_id}/results?limit=1000",
                self.base
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = r.json().await.unwrap();
        v["results"].as_array().unwrap().clone()
    }
}

/// The session cookie a response sets (`openseer_session=...`), if any.
pub fn session_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("openseer_session="))
        .map(|c| c.split(';').next().unwrap().to_string())
}

/// RFC 4648 base32 (as a TOTP key is shown), decoded.
pub fn base32_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0);
    for c in text.trim().bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32: {text}"),
        };
        buffer = (buffer << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

/// An Enroll request body for `token` in `region`.
pub fn enroll_body(token: &str, region: &str) -> serde_json::Value {
    serde_json::json!({"enrollment_token": token, "name": "raw", "region": region,
           "capabilities": {"version": "test", "check_types": ["http"], "concurrency": 1}})
}

/// Enrolls a worker of `region` with `token` over HTTP; the answer.
pub async fn enroll(base: &str, token: &str, region: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base}/api/worker/v1/enroll"))
        .json(&enroll_body(token, region))
        .send()
        .await
        .unwrap()
}

pub fn csrf_of(html: &str) -> String {
    let marker = "name=\"_csrf\" value=\"";
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("no CSRF field in page: {html}"))
        + marker.len();
    html[start..start + 64].to_string()
}

pub fn extract_token(html: &str, prefix: &str) -> String {
    let start = html
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix} token in page"));
    html[start..start + prefix.len() + 64].to_string()
}

/// Polls `f` every 50 ms until it returns `Some`, or panics after `limit`.
pub async fn wait_for<T, F, Fut>(limit: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A local HTTP target whose answers the test controls.
pub struct Target {
    pub url: String,
    pub status: Arc<AtomicU16>,
    pub body: Arc<Mutex<String>>,
    pub hits: Arc<AtomicU64>,
    /// Milliseconds to wait before answering.
    pub delay_ms: Arc<AtomicU64>,
    /// The head (request line and headers) of the last request.
    pub last_request: Arc<Mutex<String>>,
}

impl Target {
    pub async fn start() -> Target {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/health", listener.local_addr().unwrap());
        let status = Arc::new(AtomicU16::new(200));
        let body = Arc::new(Mutex::new("all systems ok".to_string()));
        let hits = Arc::new(AtomicU64::new(0));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let last_request = Arc::new(Mutex::new(String::new()));
        let (s, b, h, d) = (status.clone(), body.clone(), hits.clone(), delay_ms.clone());
        let seen = last_request.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let (s, b, h, d) = (s.clone(), b.clone(), h.clone(), d.clone());
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    *seen.lock().unwrap() = String::from_utf8_lossy(&buf).into_owned();
                    h.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(d.load(Ordering::SeqCst))).await;
                    let code = s.load(Ordering::SeqCst);
                    let body = b.lock().unwrap().clone();
                    let resp = format!("HTTP/1.1 {code} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
                    let _ = sock.write_all(resp.as_bytes()).await;
                });
            }
        });
        Target {
            url,
            status,
            body,
            hits,
            delay_ms,
            last_request,
        }
    }

    pub fn set_status(&self, code: u16) {
        self.status.store(code, Ordering::SeqCst);
    }

    pub fn set_body(&self, body: &str) {
        *self.body.lock().unwrap() = body.to_string();
    }
}

/// The first of `paths` that exists. When none does, the test skips (and
/// says so) unless `require` is set in the environment, as ops/test.sh sets
/// it: then a missing tool fails the test instead of hiding it.
pub fn tool(name: &str, paths: &[&'static str], require: &str) -> Option<&'static str> {
    if let Some(p) = paths.iter().find(|p| std::path::Path::new(p).exists()) {
        return Some(p);
    }
    if std::env::var_os(require).is_some() {
        panic!("{name} is required ({require}) but not installed");
    }
    eprintln!("skipping: {name} is not installed");
    None
}

/// Where Debian installs HAProxy.
pub const HAPROXY: &[&str] = &["/usr/sbin/haproxy", "/usr/local/sbin/haproxy"];

/// Aborts the test process if it ever holds more than 4 GiB: a runaway
/// test must not push the machine's other services (PostgreSQL) into the
/// out-of-memory killer. Started once per test binary.
pub fn memory_guard() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        // The last resort: every test has limits of its own, but a test
        // blocked where no limit reaches must not hold CI to its end.
        std::thread::spawn(|| {
            std::thread::sleep(std::time::Duration::from_secs(45 * 60));
            eprintln!("the test suite is still running after 45 minutes: giving up");
            std::process::exit(101);
        });
        std::thread::spawn(|| loop {
            let pages = std::fs::read_to_string("/proc/self/statm")
                .ok()
                .and_then(|s| {
                    s.split_whitespace()
                        .nth(1)
                        .and_then(|p| p.parse::<u64>().ok())
                })
                .unwrap_or(0);
            if pages * 4096 > 4 << 30 {
                eprintln!("test process holds over 4 GiB; aborting");
                std::process::abort();
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        });
    });
}

/// Runs a test that starts processes (a cluster of nodes, a browser): one
/// such test at a time (each is load enough for this machine, and timings
/// are what several of them measure), within `limit` from when it gets its
/// turn. The test itself should panic at `limit` while its processes live
/// (so their logs are kept); should it be blocked where it cannot, it is
/// abandoned a minute later and fails, and the suite goes on.
pub async fn heavy<F>(limit: Duration, test: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one = HEAVY.lock().await;
    let mut task = tokio::spawn(async move {
        tokio::pin!(test);
        tokio::select! {
            () = &mut test => {}
            () = tokio::time::sleep(limit) => panic!("the test did not finish within {limit:?}"),
        }
    });
    match tokio::time::timeout(limit + Duration::from_secs(60), &mut task).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Ok(Err(e)) => panic!("the test's task: {e}"),
        Err(_) => {
            task.abort();
            panic!("the test was blocked past {limit:?} and abandoned");
        }
    }
}

/// How many tests capture the process's log lines right now.
static CAPTURING: AtomicU64 = AtomicU64::new(0);

fn captured_bytes() -> &'static Mutex<Vec<u8>> {
    static BYTES: std::sync::OnceLock<Mutex<Vec<u8>>> = std::sync::OnceLock::new();
    BYTES.get_or_init(Mutex::default)
}

struct CaptureWriter;

impl std::io::Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        captured_bytes()
            .lock()
            .expect("capture")
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The process's one subscriber: lines at `RUST_LOG` (default warn) to the
/// test's output, and every line at debug and up to the capture while a
/// test captures (all tests share a process, so a capture sees theirs too).
pub fn init_tracing() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let shown = tracing_subscriber::fmt::layer()
            .with_test_writer()
            .with_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "warn".into()),
            );
        let captured = tracing_subscriber::fmt::layer()
            .with_writer(|| CaptureWriter)
            .with_ansi(false)
            .with_filter(
                // Dynamic: a plain filter_fn's answer is cached per callsite,
                // and most callsites are first hit while nobody captures.
                tracing_subscriber::filter::dynamic_filter_fn(|m, _| {
                    CAPTURING.load(Ordering::Relaxed) > 0 && *m.level() <= tracing::Level::DEBUG
                })
                // Without the hint the process's max level would be the
                // shown layer's (warn), and debug lines would never be made.
                .with_max_level_hint(tracing::level_filters::LevelFilter::DEBUG),
            );
        let _ = tracing_subscriber::registry()
            .with(shown)
            .with(captured)
            .try_init();
    });
}

/// Captures every log line of the process from now until it is dropped.
pub struct LogCapture;

impl LogCapture {
    pub fn start() -> LogCapture {
        init_tracing();
        CAPTURING.fetch_add(1, Ordering::SeqCst);
        LogCapture
    }

    /// Everything captured so far.
    pub fn bytes(&self) -> Vec<u8> {
        captured_bytes().lock().expect("capture").clone()
    }
}

impl Drop for LogCapture {
    fn drop(&mut self) {
        CAPTURING.fetch_sub(1, Ordering::SeqCst);
    }
}
