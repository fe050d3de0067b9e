//! Accounts: setup, sign-in, throttling, logout, CSRF, organizations.

use crate::common;

use common::{csrf_of, session_cookie, Browser, TestApp, PASSWORD};
use openseer_protocol::Role;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_needs_its_token_and_closes_after_the_first_admin() {
    let app = TestApp::spawn().await;
    let b = Browser::new(&app);
    assert_eq!(b.get("/setup").await.0, 403);
    assert_eq!(
        b.get(&format!("/setup?token=osts_{}", "0".repeat(64)))
            .await
            .0,
        403
    );
    let (s, page) = b.get(&format!("/setup?token={}", app.setup_token())).await;
    assert_eq!(s, 200);
    let csrf = csrf_of(&page);
    let wrong = format!("osts_{}", "1".repeat(64));
    let form = |t: &str| {
        vec![
            ("_csrf", csrf.clone()),
            ("token", t.to_string()),
            ("org_name", "Evil".into()),
            ("name", "E".into()),
            ("email", "evil@example.com".into()),
            ("password", PASSWORD.into()),
        ]
    };
    let r = b
        .http
        .post(app.url("/setup"))
        .form(&form(&wrong))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "setup with a wrong token");
    assert_eq!(app.store.user_count().await.unwrap(), 0);

    let admin = app.setup_admin("admin@example.com").await;
    assert_eq!(admin.get("/").await.0, 200);
    // The same link, now used: closed for everyone.
    let again = Browser::new(&app);
    assert_eq!(
        again
            .get(&format!("/setup?token={}", app.setup_token()))
            .await
            .0,
        404
    );
    let r = b
        .http
        .post(app.url("/setup"))
        .form(&form(&app.setup_token()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "a second setup");
    assert_eq!(app.store.user_count().await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_wrong_passwords_are_throttled() {
    let app = TestApp::spawn().await;
    app.setup_admin("admin@example.com").await;
    let b = Browser::new(&app);
    for _ in 0..5 {
        assert_eq!(b.login("admin@example.com", "wrong password!").await, 401);
    }
    // Even the right password is refused while throttled, with the same answer for any account.
    assert_eq!(b.login("admin@example.com", PASSWORD).await, 429);
    assert_eq!(
        b.login("nobody@example.com", "whatever-password").await,
        429
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_accounts_get_the_same_answer_as_wrong_passwords() {
    let app = TestApp::spawn().await;
    app.setup_admin("admin@example.com").await;
    let b = Browser::new(&app);
    let (_, page) = b.get("/login").await;
    let csrf = csrf_of(&page);
    let (s1, p1) = b
        .post_form(
            "/login",
            &[
                ("_csrf", &csrf),
                ("email", "admin@example.com"),
                ("password", "nope-nope-nope"),
            ],
        )
        .await;
    let (s2, p2) = b
        .post_form(
            "/login",
            &[
                ("_csrf", &csrf),
                ("email", "ghost@example.com"),
                ("password", "nope-nope-nope"),
            ],
        )
        .await;
    assert_eq!((s1, s2), (401, 401));
    assert!(p1.contains("Wrong email or password.") && p2.contains("Wrong email or password."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_logout_the_old_cookie_is_rejected() {
    let app = TestApp::spawn().await;
    app.setup_admin("admin@example.com").await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = http.get(app.url("/login")).send().await.unwrap();
    let pre = session_cookie(&r).expect("session cookie on the sign-in page");
    let csrf = csrf_of(&r.text().await.unwrap());
    let r = http
        .post(app.url("/login"))
        .header("cookie", &pre)
        .form(&[
            ("_csrf", csrf.as_str()),
            ("email", "admin@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let set_cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    let cookie = session_cookie(&r).expect("a new session at sign-in");
    assert_ne!(cookie, pre, "the session key is rotated at sign-in");

    let r = http
        .get(app.url("/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let csrf = csrf_of(&r.text().await.unwrap());
    let r = http
        .post(app.url("/logout"))
        .header("cookie", &cookie)
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let r = http
        .get(app.url("/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "the old cookie still works after logout");
    let r = http
        .get(app.url("/api/v1/monitors"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_posts_without_the_csrf_token_are_rejected() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin("admin@example.com").await;
    let fields = [
        ("name", "x"),
        ("url", "http://127.0.0.1:9/"),
        ("interval_seconds", "60"),
        ("timeout_ms", "1000"),
    ];
    let (s, page) = admin.post_form("/monitors", &fields).await;
    assert_eq!(s, 403, "{page}");
    let mut wrong = fields.to_vec();
    let bad = "0".repeat(64);
    wrong.push(("_csrf", &bad));
    assert_eq!(admin.post_form("/monitors", &wrong).await.0, 403);
    assert_eq!(admin.post_form("/logout", &[]).await.0, 403);
    assert_eq!(
        admin
            .post_form("/settings/tokens", &[("name", "t")])
            .await
            .0,
        403
    );
    assert_eq!(
        admin
            .post_form("/workers/enrollment-tokens", &[("name", "t")])
            .await
            .0,
        403
    );
    // Cookie-authenticated API writes need the header.
    let r = admin
        .http
        .post(app.url("/api/v1/monitors"))
        .json(&json!({"name": "x", "url": "http://127.0.0.1:9/"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(app.store.monitors(1).await.unwrap().is_empty());
    assert_eq!(admin.get("/").await.0, 200, "still signed in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organizations_cannot_see_or_change_each_other() {
    let app = TestApp::spawn().await;
    let a = app.setup_admin("a@example.com").await;
    let id = a
        .create_monitor(&[
            ("name", "secret-service"),
            ("url", "http://127.0.0.1:9/"),
            ("interval_seconds", "60"),
        ])
        .await;
    let a_token = app.enrollment_token(&a).await;
    let _ = a_token;
    let b = app.other_org_admin("b@example.com").await;

    let (_, list) = b.get("/").await;
    assert!(!list.contains("secret-service"));
    for path in [format!("/monitors/{id}"), format!("/monitors/{id}/edit")] {
        assert_eq!(b.get(&path).await.0, 404, "{path}");
    }
    let csrf = b.csrf().await;
    for path in [
        format!("/monitors/{id}/pause"),
        format!("/monitors/{id}/resume"),
        format!("/monitors/{id}/delete"),
        "/workers/1/revoke".into(),
        "/workers/enrollment-tokens/1/revoke".into(),
        "/settings/tokens/1/revoke".into(),
    ] {
        assert_eq!(
            b.post_form(&path, &[("_csrf", &csrf)]).await.0,
            404,
            "{path}"
        );
    }
    let update = [
        ("_csrf", csrf.as_str()),
        ("name", "pwned"),
        ("url", "http://127.0.0.1:9/"),
        ("interval_seconds", "60"),
        ("timeout_ms", "1000"),
        ("method", "GET"),
        ("expected_status", "200"),
    ];
    assert_eq!(
        b.post_form(&format!("/monitors/{id}"), &update).await.0,
        404
    );

    // The API, with B's token, allowed everything in B's organization.
    let token = b.api_token("admin").await;
    let http = reqwest::Client::new();
    let body = json!({"name": "pwned", "url": "http://127.0.0.1:9/"});
    for (method, path) in [
        ("GET", format!("/api/v1/monitors/{id}")),
        ("PUT", format!("/api/v1/monitors/{id}")),
        ("DELETE", format!("/api/v1/monitors/{id}")),
        ("GET", format!("/api/v1/monitors/{id}/results")),
    ] {
        let r = http
            .request(method.parse().unwrap(), app.url(&path))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{method} {path}");
    }
    let r = http
        .get(app.url("/api/v1/monitors"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["monitors"].as_array().unwrap().len(), 0);
    // Untouched.
    let m = app.store.monitor(1, id).await.unwrap();
    assert_eq!((m.name.as_str(), m.enabled), ("secret-service", true));
    assert!(app.store.workers(1).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_tokens_are_shown_once_and_revocable() {
    let app = TestApp::spawn().await;
    app.setup_admin("admin@example.com").await;
    let member = app.member("mo@example.com", Role::Editor).await;
    // A member's API token works, and stops working the moment it is revoked.
    let token = member.api_token("write").await;
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(app.url("/api/v1/monitors"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let (_, page) = member.get("/settings/tokens").await;
    assert!(!page.contains(&token), "a token is shown once only");
    let id = app.store.api_tokens_of_user(2, 1).await.unwrap()[0].id;
    assert_eq!(
        member
            .post_form(
                &format!("/settings/tokens/{id}/revoke"),
                &[("_csrf", &csrf_of(&page))]
            )
            .await
            .0,
        303
    );
    assert_eq!(
        http.get(app.url("/api/v1/monitors"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_the_security_headers() {
    let app = TestApp::spawn().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in ["/login", "/", "/api/v1/monitors", "/healthz", "/nope"] {
        let r = http.get(app.url(path)).send().await.unwrap();
        let h = r.headers();
        let csp = h
            .get("content-security-policy")
            .unwrap_or_else(|| panic!("no CSP on {path}"))
            .to_str()
            .unwrap();
        assert!(
            csp.contains("script-src 'self'")
                && csp.contains("frame-ancestors 'none'")
                && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
    }
}
