//! What an attacker tried against the release build, each kept out: a
//! request in flight outliving its session, live streams outliving their
//! own session, slow bodies, anonymous visitors filling the session table.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common;
use common::{csrf_of, session_cookie, Browser, TestApp, TestClock, PASSWORD};

/// Signs in with a client that keeps no cookies; the session cookie.
async fn sign_in(app: &TestApp, email: &str) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = http.get(app.url("/login")).send().await.unwrap();
    let pre = session_cookie(&r).expect("a cookie on the sign-in page");
    let csrf = csrf_of(&r.text().await.unwrap());
    let r = http
        .post(app.url("/login"))
        .header("cookie", &pre)
        .form(&[
            ("_csrf", csrf.as_str()),
            ("email", email),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    session_cookie(&r).expect("a session at sign-in")
}

async fn get_with(app: &TestApp, cookie: &str, path: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

async fn csrf_with(app: &TestApp, cookie: &str) -> String {
    csrf_of(
        &get_with(app, cookie, "/settings/profile")
            .await
            .text()
            .await
            .unwrap(),
    )
}

async fn logout(app: &TestApp, cookie: &str) {
    let csrf = csrf_with(app, cookie).await;
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(app.url("/logout"))
        .header("cookie", cookie)
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
}

/// A request whose body is still on its way when the session is signed
/// out must not sign the session back in when it completes: once the
/// session store re-saved a deleted session's state under a new key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_flight_does_not_revive_a_signed_out_session() {
    let clock = Arc::new(TestClock::default());
    let app = TestApp::spawn_with_clock(clock.clone()).await;
    drop(app.setup_admin("admin@example.com").await);
    let cookie = sign_in(&app, "admin@example.com").await;
    let csrf = csrf_with(&app, &cookie).await;
    // Past the last-seen refresh: the slow request writes the session's
    // state back when it completes.
    clock.advance(61_000);
    let body = format!("_csrf={csrf}&name=Slow+Loris");
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut sock = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /settings/profile HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    sock.write_all(&body.as_bytes()[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    logout(&app, &cookie).await;
    sock.write_all(&body.as_bytes()[10..]).await.unwrap();
    let mut answer = String::new();
    sock.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let revived = answer
        .lines()
        .filter_map(|l| l.strip_prefix("set-cookie: "))
        .find(|c| c.starts_with("openseer_session="))
        .map(|c| c.split(';').next().unwrap().to_string());
    for c in revived.iter().chain([&cookie]) {
        let r = get_with(&app, c, "/").await;
        assert_eq!(r.status(), 303, "a signed-out session is signed in again");
        assert_eq!(r.headers()["location"], "/login");
    }
}

/// A body that stalls is cut off at the node's body timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_is_refused_at_the_body_timeout() {
    let app = TestApp::spawn_with(|s| s.body_timeout_ms = 1_000).await;
    let addr = app.base.trim_start_matches("http://").to_string();
    // A signed-in form post whose body stalls: 408.
    drop(app.setup_admin("admin@example.com").await);
    let cookie = sign_in(&app, "admin@example.com").await;
    let mut sock = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /settings/profile HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 500\r\n\r\n_csrf="
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    let started = std::time::Instant::now();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(20), sock.read(&mut answer))
        .await
        .expect("the node answers a stalled body")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() >= Duration::from_millis(900));
}

/// Reads a live stream until it ends, within `limit`; false if it runs on.
async fn ends_within(stream: &mut reqwest::Response, limit: Duration) -> bool {
    tokio::time::timeout(limit, async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await
    .is_ok()
}

/// A live stream ends when its own session is signed out or its
/// password changed, though the user has other sessions still.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_stream_ends_with_its_own_session() {
    let app = TestApp::spawn().await;
    drop(app.setup_admin("admin@example.com").await);
    let here = sign_in(&app, "admin@example.com").await;
    let elsewhere = sign_in(&app, "admin@example.com").await;
    let mut live = get_with(&app, &here, "/events").await;
    assert_eq!(live.status(), 200);
    assert!(live.chunk().await.unwrap().is_some(), "the stream opened");
    logout(&app, &here).await;
    assert!(
        ends_within(&mut live, Duration::from_secs(10)).await,
        "the signed-out session's live stream runs on"
    );
    assert_eq!(get_with(&app, &elsewhere, "/").await.status(), 200);

    // A password changed in another session ends this one's stream.
    let here = sign_in(&app, "admin@example.com").await;
    let mut live = get_with(&app, &here, "/events").await;
    assert!(live.chunk().await.unwrap().is_some(), "the stream opened");
    let b = Browser::new(&app);
    assert_eq!(b.login("admin@example.com", PASSWORD).await, 303);
    let (_, page) = b.get("/settings/profile").await;
    let (s, page) = b
        .post_form(
            "/settings/password",
            &[
                ("_csrf", &csrf_of(&page)),
                ("current_password", PASSWORD),
                ("new_password", "another correct horse battery"),
                ("confirm_password", "another correct horse battery"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{page}");
    assert!(
        ends_within(&mut live, Duration::from_secs(10)).await,
        "a live stream outlives its session's password change"
    );
}

/// Visitors without a cookie cost no database row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_visitors_write_no_session_rows() {
    let app = TestApp::spawn().await;
    drop(app.setup_admin("admin@example.com").await);
    let rows = || async {
        let db = app.dir.path().join("data").join("openseer.db");
        let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
            "sqlite:{}",
            db.display()
        ))
        .await
        .unwrap();
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions")
            .fetch_one(&mut c)
            .await
            .unwrap();
        n
    };
    let before = rows().await;
    let http = reqwest::Client::new();
    for _ in 0..50 {
        let r = http.get(app.url("/login")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(
            session_cookie(&r).is_some(),
            "the form's state is in the cookie"
        );
    }
    assert_eq!(rows().await, before, "anonymous visits wrote session rows");
    // And the sign-in form still works with that cookie (its CSRF token).
    let b = Browser::new(&app);
    assert_eq!(b.login("admin@example.com", PASSWORD).await, 303);
    assert_eq!(rows().await, before + 1);
}

/// Owners manage owners and admins; admins manage editors and viewers
/// (they once demoted, removed and created other admins).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_owners_manage_admins() {
    use openseer_protocol::Role;
    let app = TestApp::spawn().await;
    let owner = app.setup_admin("owner@example.com").await;
    let admin = app.member("admin@example.com", Role::Admin).await;
    drop(app.member("other-admin@example.com", Role::Admin).await);
    drop(app.member("editor@example.com", Role::Editor).await);
    let id_of = |email: &'static str| {
        let store = app.store.clone();
        async move { store.user_by_email(email).await.unwrap().unwrap().id }
    };
    let other_admin = id_of("other-admin@example.com").await;
    let editor = id_of("editor@example.com").await;
    let post = |b: &Browser, path: String, fields: Vec<(&'static str, &'static str)>| {
        let b = b.http.clone();
        let url = app.url(&path);
        let page_url = app.url("/settings/members");
        async move {
            let page = b.get(page_url).send().await.unwrap().text().await.unwrap();
            let csrf = csrf_of(&page);
            let mut form = vec![("_csrf", csrf.as_str())];
            form.extend(fields.iter().copied());
            b.post(url)
                .form(&form)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let (_, page) = admin.get("/settings/members").await;
    assert!(
        !page.contains("<option value=\"admin\"") && !page.contains("<option value=\"owner\""),
        "an admin is offered roles it may not grant"
    );
    for (path, fields, what) in [
        (
            format!("/settings/members/{other_admin}/role"),
            vec![("role", "viewer")],
            "demote an admin",
        ),
        (
            format!("/settings/members/{other_admin}/remove"),
            vec![],
            "remove an admin",
        ),
        (
            format!("/settings/members/{editor}/role"),
            vec![("role", "admin")],
            "make an admin",
        ),
        (
            "/settings/invitations".to_string(),
            vec![("role", "admin"), ("days", "1")],
            "invite an admin",
        ),
    ] {
        assert_eq!(
            post(&admin, path, fields).await,
            403,
            "an admin could {what}"
        );
    }
    let role_of = |id: i64| {
        let store = app.store.clone();
        async move { store.membership(1, id).await.unwrap().unwrap().role }
    };
    assert_eq!(role_of(other_admin).await, Role::Admin);
    assert_eq!(role_of(editor).await, Role::Editor);
    // What admins may do, they do; owners do the rest.
    assert_eq!(
        post(
            &admin,
            format!("/settings/members/{editor}/role"),
            vec![("role", "viewer")]
        )
        .await,
        303
    );
    assert_eq!(
        post(
            &owner,
            format!("/settings/members/{other_admin}/role"),
            vec![("role", "editor")]
        )
        .await,
        303
    );
    assert_eq!(role_of(other_admin).await, Role::Editor);
}

/// Signed-in pages are not kept by caches (the page showing a new token
/// once included); static assets are; HTTPS-only when the public URL is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caches_keep_no_page_and_https_deployments_send_hsts() {
    let app = TestApp::spawn().await;
    let owner = app.setup_admin("owner@example.com").await;
    let (_, page) = owner.get("/settings/tokens").await;
    let r = owner
        .http
        .post(app.url("/settings/tokens"))
        .form(&[
            ("_csrf", csrf_of(&page).as_str()),
            ("name", "t"),
            ("scope", "read"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["cache-control"],
        "no-store",
        "the page with a new token"
    );
    let r = owner.http.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert!(r.headers().get("strict-transport-security").is_none());
    let r = owner
        .http
        .get(app.url("/static/app.css"))
        .send()
        .await
        .unwrap();
    assert!(r.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));

    let https =
        TestApp::spawn_with(|s| s.public_url = Some("https://status.example.com".into())).await;
    let r = reqwest::get(https.url("/login")).await.unwrap();
    assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000");
}

/// `from` and `to` far apart enough to wrap `to - from` around are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_ranges_cannot_wrap_around() {
    let app = TestApp::spawn().await;
    let owner = app.setup_admin("owner@example.com").await;
    let id = owner
        .create_monitor(&[
            ("name", "m"),
            ("url", "http://127.0.0.1:9/"),
            ("enabled", "false"),
        ])
        .await;
    let token = owner.api_token("read").await;
    for (from, to) in [
        (i64::MIN, 1),
        (i64::MIN + 1, i64::MAX),
        (-1, 1_000),
        (1_000, i64::MAX),
    ] {
        for what in ["stats", "series"] {
            let r = reqwest::Client::new()
                .get(app.url(&format!("/api/v1/monitors/{id}/{what}?from={from}&to={to}")))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 400, "{what} from {from} to {to}");
        }
    }
}

/// Behind the HAProxy configuration we ship, clients are told apart by the
/// address HAProxy saw (its `X-Forwarded-For`, believed from the trusted
/// proxy only): five failed sign-ins from one client lock out that client,
/// not everyone; the audit log names the client; a forged header counts for
/// nothing, through the proxy (replaced) or around it (not trusted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_the_load_balancer_each_client_is_throttled_and_audited_as_itself() {
    use common::cluster::Haproxy;
    let app = TestApp::spawn_with(|s| {
        s.trusted_proxies = openseer_node::config::cidr::Cidr::parse_list("127.0.0.1").unwrap();
    })
    .await;
    let _owner = app.setup_admin("owner@example.com").await;
    let node = app.base.trim_start_matches("http://").to_string();
    let Some(lb) = Haproxy::in_front_of(&[(1, node)]) else {
        return;
    };
    common::wait_for(Duration::from_secs(20), "HAProxy has the node up", || {
        let url = format!("{}/login", lb.base);
        async move {
            let r = reqwest::get(url).await.ok()?;
            (r.status() == 200).then_some(())
        }
    })
    .await;

    // A guesser at 127.0.0.2, claiming to be 127.0.0.3.
    let guesser = Browser::from_address(&lb.base, "127.0.0.2", Some("127.0.0.3"));
    assert_eq!(
        guesser.login("owner@example.com", "wrong password").await,
        401
    );
    for i in 0..4 {
        let made_up = format!("nobody{i}@example.com");
        assert_eq!(guesser.login(&made_up, "wrong password").await, 401);
    }
    assert_eq!(guesser.login("owner@example.com", PASSWORD).await, 429);
    // The owner at 127.0.0.3 (the address the guesser forged) signs in.
    let owner = Browser::from_address(&lb.base, "127.0.0.3", None);
    assert_eq!(owner.login("owner@example.com", PASSWORD).await, 303);

    let audit = app
        .store
        .audit_log(1, openseer_store::AuditScope::Organization, None, 50)
        .await
        .unwrap();
    let ip_of = |action: &str| {
        audit
            .iter()
            .filter(|e| e.action == action)
            .map(|e| e.ip.clone().unwrap_or_default())
            .collect::<Vec<_>>()
    };
    assert_eq!(ip_of("user.sign_in_failed"), ["127.0.0.2"]);
    assert!(ip_of("user.signed_in").contains(&"127.0.0.3".to_string()));

    // Around the proxy, straight to the node, the header is not believed:
    // 127.0.0.4's failures are its own, whatever it claims.
    let around = Browser::from_address(&app.base, "127.0.0.4", Some("127.0.0.5"));
    for i in 0..5 {
        assert_eq!(
            around.login(&format!("x{i}@example.com"), "wrong").await,
            401
        );
    }
    assert_eq!(around.login("owner@example.com", PASSWORD).await, 429);
    let claimed = Browser::from_address(&lb.base, "127.0.0.5", None);
    assert_eq!(claimed.login("owner@example.com", PASSWORD).await, 303);
}

/// Five wrong passwords for an account lock it for a minute for unknown
/// clients, not fifteen; a client that signed in to it before goes on; the
/// current password on the profile page is throttled like a sign-in, and
/// an invitation link cannot be used to list who has an account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_guessing_is_throttled_without_locking_the_owner_out() {
    let clock = Arc::new(TestClock::default());
    let app = TestApp::spawn_with_clock(clock.clone()).await;
    let owner = app.setup_admin("owner@example.com").await;
    // The owner signs in from 127.0.0.1: a client known to the account.
    assert_eq!(
        Browser::new(&app)
            .login("owner@example.com", PASSWORD)
            .await,
        303
    );
    // Guessers spread over addresses, straight to the node.
    let guess = || async {
        for i in 0..5 {
            let g = Browser::from_address(&app.base, &format!("127.0.0.{}", 10 + i), None);
            assert_eq!(g.login("owner@example.com", "wrong password").await, 401);
        }
    };
    guess().await;
    let stranger = Browser::from_address(&app.base, "127.0.0.20", None);
    assert_eq!(stranger.login("owner@example.com", PASSWORD).await, 429);
    // The owner's own client goes on.
    let again = Browser::new(&app);
    assert_eq!(again.login("owner@example.com", PASSWORD).await, 303);
    // Anyone else waits a minute, not fifteen.
    guess().await;
    assert_eq!(stranger.login("owner@example.com", PASSWORD).await, 429);
    clock.advance(61_000);
    assert_eq!(stranger.login("owner@example.com", PASSWORD).await, 303);

    // Changing the password: the current one is guessed at most five times.
    let (_, page) = owner.get("/settings/profile").await;
    let csrf = csrf_of(&page);
    let change = |current: &'static str| {
        let csrf = csrf.clone();
        let owner = &owner;
        async move {
            owner
                .post_form(
                    "/settings/password",
                    &[
                        ("_csrf", csrf.as_str()),
                        ("current_password", current),
                        ("new_password", "a brand new passphrase 42"),
                        ("confirm_password", "a brand new passphrase 42"),
                    ],
                )
                .await
                .0
        }
    };
    // A fresh re-authentication, so the form is not sent there instead.
    let (_, reauth) = owner.get("/reauth?next=/settings/profile").await;
    let (s, _) = owner
        .post_form(
            "/reauth",
            &[
                ("_csrf", csrf_of(&reauth).as_str()),
                ("password", PASSWORD),
                ("next", "/settings/profile"),
            ],
        )
        .await;
    assert_eq!(s, 303);
    for _ in 0..5 {
        assert_eq!(change("not it").await, 422);
    }
    assert_eq!(
        change(PASSWORD).await,
        429,
        "throttled even with the right one"
    );

    // An invitation link: "this email has an account" answers are counted
    // (once the account's minute after the guesses above has passed).
    clock.advance(61_000);
    let (_, members) = owner.get("/settings/members").await;
    let (s, page) = owner
        .post_form(
            "/settings/invitations",
            &[
                ("_csrf", csrf_of(&members).as_str()),
                ("email", "new@example.com"),
                ("role", "viewer"),
                ("days", "7"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{page}");
    let link = common::extract_token(&page, "osti_");
    let prober = Browser::from_address(&app.base, "127.0.0.30", None);
    let (_, form) = prober.get(&format!("/invite?token={link}")).await;
    let csrf = csrf_of(&form);
    let accept = |email: &'static str| {
        let (csrf, link, prober) = (csrf.clone(), link.clone(), &prober);
        async move {
            prober
                .post_form(
                    "/invite",
                    &[
                        ("_csrf", csrf.as_str()),
                        ("token", link.as_str()),
                        ("name", "Probe"),
                        ("email", email),
                        ("password", "a long enough passphrase 7"),
                    ],
                )
                .await
                .0
        }
    };
    for _ in 0..5 {
        assert_eq!(accept("owner@example.com").await, 422);
    }
    assert_eq!(accept("owner@example.com").await, 429);
}

/// The node's quotas hold on every way in: monitors per organization and
/// the shortest interval (API and form), organizations a user may own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_hold_for_monitors_intervals_and_organizations() {
    let app = TestApp::spawn_with(|s| {
        s.quotas = openseer_node::quota::Quotas {
            monitors_per_org: 2,
            min_interval_seconds: 10,
            owned_orgs_per_user: 2,
        };
    })
    .await;
    let owner = app.setup_admin("owner@example.com").await;
    let token = owner.api_token("write").await;
    let http = reqwest::Client::new();
    let create =
        |interval: u32| {
            http.post(app.url("/api/v1/monitors"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"name": format!("m{interval}"), "url": "http://127.0.0.1:9/",
                "interval_seconds": interval, "timeout_ms": 500, "enabled": false}))
            .send()
        };
    let r = create(5).await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("min_interval_seconds"));
    assert_eq!(create(10).await.unwrap().status(), 201);
    let second: serde_json::Value = create(11).await.unwrap().json().await.unwrap();
    let r = create(12).await.unwrap();
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("max_monitors_per_org"));
    // The form says the same, and an edit cannot shorten the interval.
    let (_, page) = owner.get("/monitors/new").await;
    let form = |interval: &'static str, csrf: String| {
        vec![
            ("_csrf", csrf),
            ("name", "by form".to_string()),
            ("url", "http://127.0.0.1:9/".to_string()),
            ("method", "GET".to_string()),
            ("interval_seconds", interval.to_string()),
            ("timeout_ms", "500".to_string()),
            ("expected_status", "200-399".to_string()),
        ]
    };
    let fields = form("30", csrf_of(&page));
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (s, page) = owner.post_form("/monitors", &fields).await;
    assert_eq!(s, 422);
    assert!(page.contains("max_monitors_per_org"), "{page}");
    let id = second["id"].as_i64().unwrap();
    let (_, page) = owner.get(&format!("/monitors/{id}/edit")).await;
    let fields = form("3", csrf_of(&page));
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (s, page) = owner.post_form(&format!("/monitors/{id}"), &fields).await;
    assert_eq!(s, 422);
    assert!(page.contains("min_interval_seconds"), "{page}");
    assert_eq!(app.store.monitor(1, id).await.unwrap().interval_seconds, 11);
    assert_eq!(app.store.monitor_count(1).await.unwrap(), 2);

    // The first organization is one; one more may be created, not a third.
    let (_, page) = owner.get("/").await;
    let (s, _) = owner
        .post_form(
            "/orgs",
            &[("_csrf", csrf_of(&page).as_str()), ("name", "second")],
        )
        .await;
    assert_eq!(s, 303);
    let (_, page) = owner.get("/").await;
    let (s, page) = owner
        .post_form(
            "/orgs",
            &[("_csrf", csrf_of(&page).as_str()), ("name", "third")],
        )
        .await;
    assert_eq!(s, 422, "{page}");
    assert!(page.contains("max_owned_orgs_per_user"), "{page}");
}

/// `PATCH` changes only the fields it names (JSON merge patch): secrets
/// left out stay, but not when the URL moves to another origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_changes_only_what_it_names() {
    let app = TestApp::spawn().await;
    let owner = app.setup_admin("owner@example.com").await;
    let token = owner.api_token("write").await;
    let http = reqwest::Client::new();
    let created: serde_json::Value = http
        .post(app.url("/api/v1/monitors"))
        .bearer_auth(&token)
        .json(
            &serde_json::json!({"name": "api", "url": "https://example.com/health",
            "interval_seconds": 30, "keyword": "ok", "enabled": false,
            "headers": [{"name": "Authorization", "value": "Bearer s3cret"}]}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_i64().unwrap();
    let patch = |body: serde_json::Value| {
        http.patch(app.url(&format!("/api/v1/monitors/{id}")))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let r = patch(serde_json::json!({"interval_seconds": 60, "keyword": null}))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let m = app.store.monitor(1, id).await.unwrap();
    assert_eq!((m.interval_seconds, m.check.keyword.as_deref()), (60, None));
    assert_eq!(m.name, "api");
    assert_eq!(m.check.headers[0].value, "Bearer s3cret", "left out, kept");
    // Bad fields are named; unknown ones refused; another origin keeps no secret.
    let r = patch(serde_json::json!({"interval_seconds": 0}))
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let r = patch(serde_json::json!({"colour": "red"})).await.unwrap();
    assert_eq!(r.status(), 400);
    let r = patch(serde_json::json!({"url": "https://attacker.example/"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(
        app.store.monitor(1, id).await.unwrap().check.url,
        "https://example.com/health"
    );
    // Another organization's monitor does not exist for this token.
    let other = app.other_org_admin("other@example.com").await;
    let theirs = other.api_token("write").await;
    let r = http
        .patch(app.url(&format!("/api/v1/monitors/{id}")))
        .bearer_auth(&theirs)
        .json(&serde_json::json!({"name": "mine"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
