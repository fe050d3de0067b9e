//! The dashboard in a real browser: Debian's chromium through chromedriver
//! (fantoccini). Setup, sign in, create a monitor against a local target,
//! see it go up and then down live (no reload), edit, pause, delete, sign
//! out; then a team: an invitation link opened in the browser, an account
//! made from it, two-factor sign-in set up from the QR code page and used
//! to sign in. A screenshot of each page goes to the test artifacts
//! (`<target>/tmp/browser/`); the browser console must stay free of errors.
//!
//! Skipped when chromedriver is missing, unless OPENSEER_REQUIRE_BROWSER is
//! set (ops/test.sh sets it and installs chromium and chromium-driver).

use crate::common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Target, TestApp, PASSWORD};
use fantoccini::{Client, ClientBuilder, Locator};

struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    /// Kills chromedriver (a browser it started is left to exit with it).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_driver() -> Option<Driver> {
    let path = common::tool(
        "chromedriver",
        &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"],
        "OPENSEER_REQUIRE_BROWSER",
    )?;
    let port = free_port();
    let child = Command::new(path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    // From here on the Driver owns the process: dropping it kills and waits.
    let driver = Driver {
        child,
        port,
        _profile: tempfile::tempdir().unwrap(),
    };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Some(driver);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not listen on {port}");
}

async fn browser(d: &Driver) -> Client {
    let caps = serde_json::json!({
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=1280,1000", format!("--user-data-dir={}", d._profile.path().display())]
        },
        "goog:loggingPrefs": { "browser": "ALL" }
    });
    let caps = caps.as_object().unwrap().clone();
    let c = ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", d.port))
        .await
        .expect("a browser session");
    // A page that cannot load in 10 s fails the test (pages left behind
    // once held their event streams open until the browser ran out of
    // connections to the host).
    c.update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
        None,
        Some(Duration::from_secs(10)),
        None,
    ))
    .await
    .unwrap();
    c
}

/// Signs in through the login form; `landmark` is on the page it leads to.
async fn sign_in(c: &Client, app: &TestApp, email: &str, landmark: &str) {
    c.goto(&app.url("/login")).await.unwrap();
    fill(c, "#email", email).await;
    fill(c, "#password", PASSWORD).await;
    click(c, "form button[type=submit]").await;
    wait_css(c, landmark, 5).await;
}

/// chromedriver's browser log (console messages and page errors).
#[derive(Debug)]
struct BrowserLog;

impl fantoccini::wd::WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }
    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.into()))
    }
}

/// Console errors since the last call.
async fn console_errors(c: &Client) -> Vec<String> {
    let log = c.issue_cmd(BrowserLog).await.expect("browser log");
    log.as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["level"] == "SEVERE")
        .map(|e| e["message"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(artifacts().join(format!("{name}.png")), png).unwrap();
    let errors = console_errors(c).await;
    assert!(errors.is_empty(), "console errors on {name}: {errors:?}");
}

async fn fill(c: &Client, css: &str, value: &str) {
    let e = c
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

/// Every visible form control has a label (its own, or aria-label), and the
/// page does not scroll sideways at the current width.
async fn labelled_and_fits(c: &Client, name: &str) {
    let unlabelled = c
        .execute(
            "return Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea'))
               .filter(e => e.labels.length === 0 && !e.getAttribute('aria-label'))
               .map(e => e.outerHTML);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        unlabelled,
        serde_json::json!([]),
        "unlabelled controls on {name}"
    );
    let overflow = c
        .execute(
            "return document.documentElement.scrollWidth - window.innerWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        overflow.as_i64().unwrap_or(0) <= 0,
        "{name} scrolls sideways by {overflow}px"
    );
}

/// Waits (up to `secs`) for an element, polling the live page.
async fn wait_css(c: &Client, css: &str, secs: u64) {
    c.wait()
        .at_most(Duration::from_secs(secs))
        .every(Duration::from_millis(100))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("waiting for {css}: {e}"));
}

/// The text of an element. Live regions replace themselves (a refetch
/// between finding the element and reading it leaves a stale one): read
/// the new one then.
async fn text(c: &Client, css: &str) -> String {
    let mut last = None;
    for _ in 0..20 {
        let found = c.find(Locator::Css(css)).await;
        match found {
            Ok(e) => match e.text().await {
                Ok(t) => return t,
                Err(err) => last = Some(err.to_string()),
            },
            Err(err) => last = Some(err.to_string()),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("reading {css}: {last:?}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_watches_a_monitor_go_up_and_down_live() {
    // The whole walk takes about 10 s; anything stuck fails it here.
    common::heavy(Duration::from_secs(120), walk()).await;
}

async fn walk() {
    common::memory_guard();
    let Some(driver) = start_driver().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let target = Target::start().await;
    let c = browser(&driver).await;

    // Setup: the one-time link, then the overview.
    c.goto(app.setup_url.as_ref().unwrap()).await.unwrap();
    shot(&c, "01-setup").await;
    fill(&c, "#org_name", "Acme").await;
    fill(&c, "#name", "Ada").await;
    fill(&c, "#email", "ada@example.com").await;
    fill(&c, "#password", PASSWORD).await;
    click(&c, "form button[type=submit]").await;
    wait_css(&c, "h1", 5).await;
    assert_eq!(text(&c, "h1").await, "Monitors");
    shot(&c, "02-overview-empty").await;

    // A worker for region eu, enrolled with a token from the workers page.
    let admin = common::Browser::new(&app);
    assert_eq!(admin.login("ada@example.com", PASSWORD).await, 303);
    let _worker = app
        .start_worker(&app.enrollment_token(&admin).await, "eu")
        .await;

    // Sign out and in again.
    click(&c, "form[action='/logout'] button").await;
    wait_css(&c, "#password", 5).await;
    shot(&c, "03-login").await;
    fill(&c, "#email", "ada@example.com").await;
    fill(&c, "#password", PASSWORD).await;
    click(&c, "form button[type=submit]").await;
    wait_css(&c, "a[href='/monitors/new']", 5).await;

    // A monitor against the local target.
    c.goto(&app.url("/monitors/new")).await.unwrap();
    fill(&c, "#name", "Local API").await;
    fill(&c, "#url", &target.url).await;
    fill(&c, "#interval_seconds", "1").await;
    fill(&c, "#timeout_ms", "900").await;
    fill(&c, "#regions", "eu").await;
    labelled_and_fits(&c, "the monitor form").await;
    // Test the request before saving it.
    click(&c, "button[hx-post='/monitors/test']").await;
    wait_css(&c, "#test-outcome .badge.up", 10).await;
    assert!(text(&c, "#test-outcome").await.contains("HTTP 200"));
    shot(&c, "04-new-monitor-tested").await;
    click(&c, "form.stack button[type=submit]").await;
    wait_css(&c, "#current", 5).await;

    // Up, then down, both arriving live: a marker set now would be gone
    // after any reload.
    c.execute("window.__stillHere = true;", vec![])
        .await
        .unwrap();
    wait_css(&c, "#current [data-outcome='up']", 10).await;
    wait_css(&c, "#results tr[data-outcome='up']", 5).await;
    assert_eq!(text(&c, "#live").await, "live");
    shot(&c, "05-monitor-up").await;
    target.set_status(500);
    wait_css(&c, "#current [data-outcome='down']", 10).await;
    assert_eq!(
        c.execute("return window.__stillHere === true;", vec![])
            .await
            .unwrap(),
        serde_json::json!(true),
        "the page was not reloaded"
    );
    shot(&c, "06-monitor-down").await;

    // The node drops every live stream (as it does when it stops): the page
    // says so, then reconnects by itself and results flow in live again.
    let rows = c
        .find_all(Locator::Css("#results tr[data-outcome]"))
        .await
        .unwrap()
        .len();
    app.actors.close_streams();
    c.wait()
        .at_most(Duration::from_secs(10))
        .every(Duration::from_millis(20))
        .for_element(Locator::Css("#live.off"))
        .await
        .expect("the page shows the stream is disconnected");
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::XPath(
            "//span[@id='live' and not(contains(@class, 'off'))]",
        ))
        .await
        .expect("the page reconnects by itself");
    let mut more = false;
    for _ in 0..100 {
        more = c
            .find_all(Locator::Css("#results tr[data-outcome]"))
            .await
            .unwrap()
            .len()
            > rows;
        if more {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(more, "results arrive live after the reconnect");
    assert_eq!(
        c.execute("return window.__stillHere === true;", vec![])
            .await
            .unwrap(),
        serde_json::json!(true),
        "the page was not reloaded"
    );
    let errors = console_errors(&c).await;
    assert!(
        errors.iter().all(|e| e.contains("htmx")),
        "only the dropped stream's errors: {errors:?}"
    );

    // Edit it.
    click(&c, "a[href$='/edit']").await;
    wait_css(&c, "#name", 5).await;
    shot(&c, "07-edit").await;
    fill(&c, "#name", "Local API v2").await;
    click(&c, "form.stack button[type=submit]").await;
    wait_css(&c, "#current", 5).await;
    assert_eq!(text(&c, "h1").await, "Local API v2");

    // Pause it.
    click(&c, "form[action$='/pause'] button").await;
    wait_css(&c, "form[action$='/resume']", 5).await;
    assert!(text(&c, "#current").await.contains("Paused"));
    shot(&c, "08-paused").await;

    // The other pages.
    for (path, name) in [
        ("/", "09-overview"),
        ("/workers", "10-workers"),
        ("/settings/tokens", "11-tokens"),
        ("/settings/members", "12-members"),
        ("/settings/organization", "12c-organization"),
        ("/settings/audit", "12d-audit"),
    ] {
        c.goto(&app.url(path)).await.unwrap();
        wait_css(&c, "h1", 5).await;
        labelled_and_fits(&c, name).await;
        shot(&c, name).await;
        if path == "/" {
            assert!(text(&c, "#monitors").await.contains("Local API v2"));
        }
    }

    // On a phone: every page fits the screen (none scrolls sideways or
    // cuts off its buttons).
    c.set_window_size(390, 844).await.unwrap();
    c.goto(&app.url("/")).await.unwrap();
    wait_css(&c, "#monitors", 5).await;
    labelled_and_fits(&c, "the overview on a phone").await;
    shot(&c, "09a-overview-phone").await;
    click(&c, "#monitors a[href^='/monitors/']").await;
    wait_css(&c, "#current", 5).await;
    labelled_and_fits(&c, "the monitor page on a phone").await;
    shot(&c, "09b-monitor-phone").await;
    for (path, name) in [
        ("/monitors/new", "09c-new-monitor-phone"),
        ("/workers", "09d-workers-phone"),
        ("/settings/tokens", "09e-tokens-phone"),
        ("/settings/members", "09f-members-phone"),
        ("/settings/organization", "09g-organization-phone"),
        ("/settings/audit", "09h-audit-phone"),
        ("/settings/profile", "09i-profile-phone"),
        ("/settings/2fa", "09j-2fa-phone"),
        ("/cluster", "09k-cluster-phone"),
    ] {
        c.goto(&app.url(path)).await.unwrap();
        wait_css(&c, "h1", 5).await;
        labelled_and_fits(&c, &format!("{path} on a phone")).await;
        shot(&c, name).await;
    }
    c.set_window_size(1280, 1000).await.unwrap();

    // A worker that enrolls shows up on an open workers page by itself.
    c.goto(&app.url("/workers")).await.unwrap();
    wait_css(&c, "#regions", 5).await;
    c.execute("window.__stillHere = true;", vec![])
        .await
        .unwrap();
    assert!(!text(&c, "#regions").await.contains("us"));
    let _second = app
        .start_worker(&app.enrollment_token(&admin).await, "us")
        .await;
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath("//table[@id='regions']//td[text()='us']"))
        .await
        .expect("the new worker's region appears live");
    assert_eq!(
        c.execute("return window.__stillHere === true;", vec![])
            .await
            .unwrap(),
        serde_json::json!(true),
        "the page was not reloaded"
    );
    shot(&c, "12b-workers-live").await;
    // "Last seen" counts on by itself, without a reload or an event.
    let first = text(&c, "#workers time.ago").await;
    let mut moved = false;
    for _ in 0..50 {
        if text(&c, "#workers time.ago").await != first {
            moved = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(moved, "\"{first}\" never moved on");

    // Delete it, confirming the dialog.
    c.goto(&app.url("/")).await.unwrap();
    click(&c, "#monitors a[href^='/monitors/']").await;
    wait_css(&c, "form[action$='/delete'] button", 5).await;
    click(&c, "form[action$='/delete'] button").await;
    assert!(c
        .get_alert_text()
        .await
        .unwrap()
        .contains("Delete this monitor"));
    c.accept_alert().await.unwrap();
    wait_css(&c, ".card", 5).await;
    assert!(text(&c, "main").await.contains("No monitors yet"));

    // Sign out.
    click(&c, "form[action='/logout'] button").await;
    wait_css(&c, "#password", 5).await;
    shot(&c, "13-signed-out").await;
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_member_joins_by_link_and_signs_in_with_two_factors() {
    common::heavy(Duration::from_secs(120), team_walk()).await;
}

async fn team_walk() {
    use openseer_node::auth::totp;
    common::memory_guard();
    let Some(driver) = start_driver().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let owner = app.setup_admin("ada@example.com").await;
    let c = browser(&driver).await;
    // The owner signs in and invites an editor.
    sign_in(&c, &app, "ada@example.com", "a[href='/settings/members']").await;
    click(&c, "a[href='/settings/members']").await;
    wait_css(&c, "#role", 5).await;
    labelled_and_fits(&c, "the members page").await;
    c.find(Locator::Css("#role option[value='editor']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click(&c, "form[action='/settings/invitations'] button").await;
    wait_css(&c, "#invitation-link", 5).await;
    let link = text(&c, "#invitation-link").await;
    assert!(link.contains("/invite?token=osti_"), "{link}");
    shot(&c, "20-invitation-link").await;
    click(&c, "form[action='/logout'] button").await;
    wait_css(&c, "#password", 5).await;

    // The invitee opens the link and makes an account.
    c.goto(&link).await.unwrap();
    wait_css(&c, "#name", 5).await;
    labelled_and_fits(&c, "the invitation page").await;
    shot(&c, "21-invitation").await;
    fill(&c, "#name", "Bo").await;
    fill(&c, "#email", "bo@example.com").await;
    fill(&c, "#password", PASSWORD).await;
    click(&c, "form[action='/invite'] button").await;
    wait_css(&c, "#monitors, .card", 5).await;
    assert!(text(&c, ".who").await.contains("bo@example.com · editor"));

    // Two-factor sign-in, from the QR code page.
    c.goto(&app.url("/settings/2fa")).await.unwrap();
    wait_css(&c, "form[action='/settings/2fa/setup'] button", 5).await;
    click(&c, "form[action='/settings/2fa/setup'] button").await;
    wait_css(&c, ".qr svg", 5).await;
    labelled_and_fits(&c, "the two-factor page").await;
    shot(&c, "22-two-factor-qr").await;
    let secret = common::base32_decode(&text(&c, "#totp-key").await);
    let now = openseer_core::clock::system_now_ms();
    fill(&c, "#code", &totp::code_at(&secret, totp::step_of(now))).await;
    click(&c, "form[action='/settings/2fa/enable'] button").await;
    wait_css(&c, "#recovery-codes", 5).await;
    assert_eq!(
        c.find_all(Locator::Css("#recovery-codes code"))
            .await
            .unwrap()
            .len(),
        10
    );
    shot(&c, "23-recovery-codes").await;

    // Signing in now takes a code after the password.
    click(&c, "form[action='/logout'] button").await;
    wait_css(&c, "#password", 5).await;
    fill(&c, "#email", "bo@example.com").await;
    fill(&c, "#password", PASSWORD).await;
    click(&c, "form button[type=submit]").await;
    wait_css(&c, "#code", 5).await;
    labelled_and_fits(&c, "the second sign-in step").await;
    shot(&c, "24-second-factor").await;
    // The next time step's code (the current one was spent turning it on).
    let next = totp::code_at(
        &secret,
        totp::step_of(openseer_core::clock::system_now_ms()) + 1,
    );
    fill(&c, "#code", &next).await;
    click(&c, "form button[type=submit]").await;
    wait_css(&c, "a[href='/settings/members']", 5).await;
    assert!(text(&c, ".who").await.contains("bo@example.com"));
    // The owner sees all of it in the audit log.
    let (_, audit) = owner.get("/settings/audit").await;
    for action in ["member.invited", "member.joined", "user.2fa_enabled"] {
        assert!(audit.contains(action), "{action}");
    }
    c.close().await.unwrap();
}

/// Polls `expr` (a JavaScript expression) on the live page until it is
/// true, for up to `secs`.
async fn wait_js(c: &Client, expr: &str, secs: u64, what: &str) {
    let script = format!("return !!({expr});");
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if c.execute(&script, vec![]).await.unwrap() == serde_json::json!(true) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{what} ({expr})");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn still_here(c: &Client) -> bool {
    c.execute("return window.__stillHere === true;", vec![])
        .await
        .unwrap()
        == serde_json::json!(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_summaries_and_checks_on_request_arrive_live() {
    common::heavy(Duration::from_secs(180), live_walk()).await;
}

async fn live_walk() {
    common::memory_guard();
    let Some(driver) = start_driver().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let admin = app.setup_admin("ada@example.com").await;
    let target = Target::start().await;
    let _worker = app
        .start_worker(&app.enrollment_token(&admin).await, "eu")
        .await;
    let c = browser(&driver).await;
    sign_in(&c, &app, "ada@example.com", "#counts").await;

    // A mass outage: the overview's tiles follow the rows, no reload.
    let mut ids = Vec::new();
    for i in 0..10 {
        let name = format!("api {i}");
        let id = admin
            .create_monitor(&[("name", &name), ("url", &target.url), ("regions", "eu")])
            .await;
        ids.push(id);
    }
    c.goto(&app.url("/")).await.unwrap();
    c.execute("window.__stillHere = true;", vec![])
        .await
        .unwrap();
    wait_js(
        &c,
        "document.querySelector('#count-up').textContent === '10'",
        20,
        "all ten up on the tiles",
    )
    .await;
    target.set_status(500);
    wait_js(
        &c,
        "document.querySelector('#count-down').textContent === '10' \
         && document.querySelector('#count-up').textContent === '0'",
        10,
        "all ten down on the tiles",
    )
    .await;
    assert!(still_here(&c).await, "the overview was not reloaded");
    shot(&c, "30-overview-mass-outage").await;

    // A monitor's page: its down period ends live, and its uptime tiles
    // are drawn again with each result.
    c.goto(&app.url(&format!("/monitors/{}", ids[0])))
        .await
        .unwrap();
    wait_css(&c, "#down-periods", 5).await;
    assert!(text(&c, "#down-periods-section")
        .await
        .contains("still down"));
    c.execute(
        "window.__stillHere = true; document.querySelector('#uptime').__drawn = 'first';",
        vec![],
    )
    .await
    .unwrap();
    target.set_status(200);
    wait_js(
        &c,
        "document.querySelector('#uptime').__drawn !== 'first'",
        10,
        "the uptime tiles are drawn again",
    )
    .await;
    wait_js(
        &c,
        "!document.querySelector('#down-periods-section').textContent.includes('still down')",
        10,
        "the down period ends on the page",
    )
    .await;
    assert!(still_here(&c).await, "the monitor page was not reloaded");
    shot(&c, "31-monitor-recovered").await;

    // Check now, right after the page is drawn, ten times: each check's
    // result shows up (none falls between the draw and the stream).
    let slow = admin
        .create_monitor(&[
            ("name", "hourly"),
            ("url", &target.url),
            ("regions", "eu"),
            ("interval_seconds", "3600"),
        ])
        .await;
    let rows = "document.querySelectorAll('#results tr[data-run]').length";
    for round in 0..10 {
        c.goto(&app.url(&format!("/monitors/{slow}")))
            .await
            .unwrap();
        wait_css(&c, "#check-requested", 5).await;
        let before = c
            .execute(&format!("return {rows};"), vec![])
            .await
            .unwrap()
            .as_i64()
            .unwrap();
        click(&c, "form[action$='/check'] button").await;
        wait_js(
            &c,
            "document.querySelector('#check-requested').textContent.includes('Check requested')",
            5,
            "the button says the check was requested",
        )
        .await;
        wait_js(
            &c,
            &format!("{rows} > {before}"),
            10,
            &format!("round {round}: the requested check's result appears"),
        )
        .await;
    }
    shot(&c, "32-checked-on-request").await;

    // A region nobody serves: the page says so and an admin gets a command
    // to start a worker there, with this node's URL and a fresh token.
    let lonely = admin
        .create_monitor(&[("name", "far"), ("url", &target.url), ("regions", "ap")])
        .await;
    c.goto(&app.url(&format!("/monitors/{lonely}")))
        .await
        .unwrap();
    wait_css(&c, ".notice.unserved", 5).await;
    assert!(text(&c, ".notice.unserved").await.contains("ap"));
    click(&c, ".notice.unserved button").await;
    wait_css(&c, "#enroll-command", 5).await;
    let command = text(&c, "#enroll-command").await;
    assert!(
        command.contains(&format!("--server {}", app.base)) && command.contains("--region ap"),
        "{command}"
    );
    shot(&c, "33-enroll-command").await;
    let token = command
        .split_whitespace()
        .skip_while(|w| *w != "--enroll-token")
        .nth(1)
        .expect("a token in the command")
        .to_string();
    let _far = app.start_worker(&token, "ap").await;
    let mut served = false;
    for _ in 0..100 {
        c.goto(&app.url(&format!("/monitors/{lonely}")))
            .await
            .unwrap();
        wait_css(&c, "#current", 5).await;
        if c.find_all(Locator::Css(".notice.unserved"))
            .await
            .unwrap()
            .is_empty()
        {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(served, "the notice goes once a worker serves ap");
    // The form tells which regions are served while a monitor is made.
    c.goto(&app.url("/monitors/new")).await.unwrap();
    wait_css(&c, "#region-hint", 5).await;
    let hint = text(&c, "#region-hint").await;
    assert!(hint.contains("eu") && hint.contains("ap"), "{hint}");
    let errors = console_errors(&c).await;
    assert!(errors.is_empty(), "console errors: {errors:?}");
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_is_tested_and_an_incident_opens_and_resolves_live() {
    common::heavy(Duration::from_secs(180), incident_walk()).await;
}

async fn incident_walk() {
    common::memory_guard();
    let Some(driver) = start_driver().await else {
        return;
    };
    let app = TestApp::spawn_with(|s| {
        s.notify_tuning.tick = Duration::from_millis(100);
    })
    .await;
    let admin = app.setup_admin("ada@example.com").await;
    let target = Target::start().await;
    let fake = crate::alerting::Fake::start().await;
    let _worker = app
        .start_worker(&app.enrollment_token(&admin).await, "eu")
        .await;
    let c = browser(&driver).await;
    sign_in(&c, &app, "ada@example.com", "#counts").await;

    // A webhook channel whose signing secret the node makes: shown once.
    c.goto(&app.url("/channels/new?kind=webhook"))
        .await
        .unwrap();
    wait_css(&c, "#channel-form", 5).await;
    fill(&c, "#name", "receiver").await;
    fill(&c, "input[name=url]", &format!("{}/hook", fake.base)).await;
    click(&c, "#channel-form button[type=submit]").await;
    wait_css(&c, "#new-secret", 5).await;
    let secret = text(&c, "#new-secret").await;
    assert!(
        secret.starts_with("whsec_") && secret.len() >= 38,
        "{secret}"
    );
    c.goto(&app.url("/channels")).await.unwrap();
    wait_css(&c, "#channels", 5).await;
    assert!(
        !c.source().await.unwrap().contains(&secret),
        "the secret is shown once"
    );

    // A Slack channel for new monitors, tested from its page.
    c.goto(&app.url("/channels")).await.unwrap();
    click(&c, "a[href='/channels/new?kind=slack']").await;
    wait_css(&c, "#channel-form", 5).await;
    labelled_and_fits(&c, "the channel form").await;
    fill(&c, "#name", "team chat").await;
    fill(&c, "input[name=url]", &format!("{}/slack", fake.base)).await;
    click(&c, "#is_default").await;
    click(&c, "#channel-form button[type=submit]").await;
    wait_css(&c, "#channels", 5).await;
    click(&c, "#channels tr:last-child form[action$='/test'] button").await;
    wait_css(&c, "#test-outcome", 15).await;
    assert!(
        text(&c, "#test-outcome").await.contains("delivered"),
        "{}",
        text(&c, "#test-outcome").await
    );
    assert_eq!(fake.seen("/slack").len(), 1);
    shot(&c, "40-channels").await;

    // A monitor made now gets the channel; its outage shows up live.
    let id = admin
        .create_monitor(&[
            ("name", "checkout"),
            ("url", &target.url),
            ("regions", "eu"),
        ])
        .await;
    c.goto(&app.url("/incidents")).await.unwrap();
    wait_css(&c, "#incident-list", 5).await;
    c.execute("window.__stillHere = true;", vec![])
        .await
        .unwrap();
    target.set_status(500);
    wait_css(&c, "#incidents tr.incident.open a", 15).await;
    assert!(still_here(&c).await, "the list was not reloaded");
    assert!(text(&c, "#incidents").await.contains("status 500 in eu"));
    click(&c, "#incidents tr.incident.open a").await;
    wait_css(&c, "#deliveries", 5).await;
    wait_js(
        &c,
        "document.querySelector('#deliveries').textContent.includes('delivered')",
        10,
        "the down notification delivered",
    )
    .await;
    labelled_and_fits(&c, "the incident page").await;
    shot(&c, "41-incident-open").await;
    c.execute("window.__stillHere = true;", vec![])
        .await
        .unwrap();
    target.set_status(200);
    wait_js(
        &c,
        "document.querySelector('#incident h1 .badge').textContent === 'resolved'",
        15,
        "the incident resolved on the page",
    )
    .await;
    assert!(still_here(&c).await, "the incident page was not reloaded");
    common::wait_for(
        Duration::from_secs(10),
        "test, down and recovery on slack",
        || async { (fake.seen("/slack").len() == 3).then_some(()) },
    )
    .await;
    shot(&c, "42-incident-resolved").await;
    let _ = id;
}
