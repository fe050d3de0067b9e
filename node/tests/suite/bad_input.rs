//! Bad input gets a clear 4xx with a message, never a panic.

use crate::common;

use common::TestApp;
use serde_json::json;

async fn api_token(app: &TestApp) -> String {
    let admin = app.setup_admin("admin@example.com").await;
    admin.api_token("write").await
}

async fn post_raw(
    app: &TestApp,
    token: &str,
    path: &str,
    body: Vec<u8>,
) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .post(app.url(path))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("error body is not JSON: {text}")),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_bad_input_with_clear_errors() {
    let app = TestApp::spawn().await;
    let token = api_token(&app).await;

    let (s, e) = post_raw(&app, &token, "/api/v1/monitors", b"{\"name\": ".to_vec()).await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_json")));
    assert!(!e["message"].as_str().unwrap().is_empty());

    let (s, e) = post_raw(
        &app,
        &token,
        "/api/v1/monitors",
        json!({"name": "x", "url": "http://a.example", "colour": "red"})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (400, Some("invalid_json")),
        "unknown fields are refused"
    );

    let huge = format!(
        "{{\"name\": \"{}\", \"url\": \"http://a.example\"}}",
        "a".repeat(400 * 1024)
    );
    let (s, e) = post_raw(&app, &token, "/api/v1/monitors", huge.into_bytes()).await;
    assert_eq!((s, e["error"].as_str()), (413, Some("payload_too_large")));

    let cases = [
        (json!({"name": "x", "url": "file:///etc/passwd"}), "url"),
        (json!({"name": "x", "url": "javascript:alert(1)"}), "url"),
        (json!({"name": "x", "url": "gopher://example.com/"}), "url"),
        (
            json!({"name": "x", "url": "http://a.example", "headers": [{"name": "X-A", "value": "1\r\nX-Injected: 2"}]}),
            "headers",
        ),
        (
            json!({"name": "x", "url": "http://a.example", "headers": [{"name": "X-A", "value": "1\nX-Injected: 2"}]}),
            "headers",
        ),
        (
            json!({"name": "x", "url": "http://a.example", "interval_seconds": 0}),
            "interval_seconds",
        ),
        (
            json!({"name": "x", "url": "http://a.example", "interval_seconds": 5, "timeout_ms": 6000}),
            "timeout_ms",
        ),
        (
            json!({"name": "x", "url": "http://a.example", "assertions": [{"type": "body_matches", "pattern": "(unclosed"}]}),
            "assertions",
        ),
        (
            json!({"name": "x", "url": "http://a.example", "assertions": [{"type": "json_path", "path": "status"}]}),
            "assertions",
        ),
        (
            json!({"name": "x", "url": "http://a.example", "max_redirects": 50}),
            "max_redirects",
        ),
        (
            json!({"name": "x", "url": "http://a.example", "timeout_ms": 1000, "degraded_above_ms": 2000}),
            "degraded_above_ms",
        ),
    ];
    for (body, field) in cases {
        let (s, e) = post_raw(
            &app,
            &token,
            "/api/v1/monitors",
            body.to_string().into_bytes(),
        )
        .await;
        assert_eq!(s, 422, "{body}");
        assert_eq!(e["error"], "validation_failed");
        assert_eq!(e["fields"][0]["field"], field, "{body}: {e}");
        assert!(!e["fields"][0]["message"].as_str().unwrap().is_empty());
    }
    // A negative or non-numeric interval is a type error in JSON: a clear 400.
    let (s, e) = post_raw(
        &app,
        &token,
        "/api/v1/monitors",
        json!({"name": "x", "url": "http://a.example", "interval_seconds": -1})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_json")));
    assert!(
        app.store.monitors(1).await.unwrap().is_empty(),
        "nothing was created"
    );

    let r = reqwest::Client::new()
        .get(app.url("/api/v1/monitors/not-a-number"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_form_shows_errors_next_to_the_fields_and_keeps_the_input() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin("admin@example.com").await;
    let csrf = admin.csrf().await;
    let form = [
        ("_csrf", csrf.as_str()),
        ("name", "mine"),
        ("url", "gopher://x"),
        ("method", "GET"),
        ("headers", "X-A: 1\nbroken"),
        ("interval_seconds", "0"),
        ("timeout_ms", "abc"),
        ("expected_status", "200-399"),
        ("assertions", "json status == ok"),
    ];
    let (s, page) = admin.post_form("/monitors", &form).await;
    assert_eq!(s, 422);
    for id in [
        "url-error",
        "headers-error",
        "interval_seconds-error",
        "timeout_ms-error",
        "assertions-error",
    ] {
        assert!(
            page.contains(&format!("id=\"{id}\"")),
            "no {id} in the page"
        );
    }
    assert!(page.contains("value=\"mine\""), "typed values are kept");
    assert!(page.contains("only http:// and https://"));
    assert!(app.store.monitors(1).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_api_answers_bad_input_with_clear_errors() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin("admin@example.com").await;
    let enroll = app.enrollment_token(&admin).await;
    let http = reqwest::Client::new();
    let r = http
        .post(app.url("/api/worker/v1/enroll"))
        .json(
            &json!({"enrollment_token": enroll, "name": "w", "region": "bad region!",
        "capabilities": {"version": "1", "check_types": [], "concurrency": 1}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let r = http
        .post(app.url("/api/worker/v1/enroll"))
        .json(
            &json!({"enrollment_token": enroll, "name": "w", "region": "eu",
        "capabilities": {"version": "1", "check_types": [], "concurrency": 1}}),
        )
        .send()
        .await
        .unwrap();
    let token = r.json::<serde_json::Value>().await.unwrap()["api_token"]
        .as_str()
        .unwrap()
        .to_string();

    let (s, e) = post_raw(
        &app,
        &token,
        "/api/worker/v1/results",
        b"[not json".to_vec(),
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_json")));
    let huge = vec![b' '; 9 * 1024 * 1024];
    let (s, e) = post_raw(&app, &token, "/api/worker/v1/results", huge).await;
    assert_eq!((s, e["error"].as_str()), (413, Some("payload_too_large")));
    // Shape errors are per result, not for the batch.
    let (s, e) = post_raw(&app, &token, "/api/worker/v1/results", json!({"results": [
        {"run_id": "garbage", "monitor_id": 1, "region": "eu", "scheduled_at_ms": 1, "started_at_ms": 1, "outcome": "up", "total_ms": 1.0, "body_bytes": 0}
    ]}).to_string().into_bytes()).await;
    assert_eq!(s, 200);
    assert_eq!(e["rejected"][0]["code"], "bad_request");
}
