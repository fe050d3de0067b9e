//! Secrets in monitors: header values and request bodies reach the target,
//! and nowhere else. Not in the database files (sealed at rest), not in
//! the dashboard or the API (shown as `<hidden>`, kept when sent back),
//! and not in any log line at debug level, along with passwords and tokens.

use crate::common;

use std::time::Duration;

use common::{csrf_of, wait_for, Target, TestApp, PASSWORD};

const HEADER_SECRET: &str = "Bearer hdr-secret-4f1c";
const KEY_SECRET: &str = "key-secret-9a2e";
const BODY_SECRET: &str = "body-secret-77d0";

/// All bytes of the files under `dir` (the database and its WAL).
fn files_under(dir: &std::path::Path) -> Vec<u8> {
    let mut all = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_file() {
            all.extend(std::fs::read(e.path()).unwrap_or_default());
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_reach_the_target_and_nowhere_else() {
    // Every log line of the process, at debug level and up.
    let logs = common::LogCapture::start();
    let app = TestApp::spawn().await;
    let admin = app.setup_admin("admin@example.com").await;
    let worker = app
        .start_worker(&app.enrollment_token(&admin).await, "eu")
        .await;
    let target = Target::start().await;
    let token = admin.api_token("write").await;
    let http = reqwest::Client::new();
    let spec = serde_json::json!({
        "name": "private api",
        "url": target.url,
        "method": "POST",
        "headers": [
            {"name": "Authorization", "value": HEADER_SECRET},
            {"name": "X-Api-Key", "value": KEY_SECRET},
            {"name": "Content-Type", "value": "application/json"}
        ],
        "body": format!("{{\"password\":\"{BODY_SECRET}\"}}"),
        "interval_seconds": 1,
        "timeout_ms": 900,
        "regions": ["eu"]
    });
    let r = http
        .post(app.url("/api/v1/monitors"))
        .bearer_auth(&token)
        .json(&spec)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: serde_json::Value = r.json().await.unwrap();
    let id = created["id"].as_i64().unwrap();

    // The target gets the real values.
    wait_for(
        Duration::from_secs(15),
        "a check with the secret header",
        || async {
            target
                .last_request
                .lock()
                .unwrap()
                .contains(HEADER_SECRET)
                .then_some(())
        },
    )
    .await;
    assert!(target.last_request.lock().unwrap().contains(KEY_SECRET));

    // The API and the pages show placeholders.
    let shown = http
        .get(app.url(&format!("/api/v1/monitors/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let pages = [
        admin.get(&format!("/monitors/{id}")).await.1,
        admin.get(&format!("/monitors/{id}/edit")).await.1,
        admin.get("/").await.1,
    ];
    for text in pages.iter().chain([&shown, &created.to_string()]) {
        for secret in [HEADER_SECRET, KEY_SECRET, BODY_SECRET] {
            assert!(!text.contains(secret), "{secret} shown: {text}");
        }
    }
    assert!(shown.contains("<hidden>") && shown.contains("application/json"));

    // The edit form sent back as shown (a new name) keeps every secret,
    // and "test this request" from it runs with them.
    let edit = &pages[1];
    let field = |name: &str| -> String {
        let marker = format!("name=\"{name}\"");
        let at = edit.find(&marker).unwrap_or_else(|| panic!("{name}"));
        let rest = &edit[at..];
        let tag_end = rest.find('>').unwrap();
        match rest[..tag_end].find("value=\"") {
            Some(v) => {
                let v = &rest[v + 7..];
                v[..v.find('"').unwrap()].to_string()
            }
            None => {
                let text = &rest[tag_end + 1..];
                text[..text.find("</textarea>").unwrap()].to_string()
            }
        }
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
    };
    let headers = field("headers");
    assert!(headers.contains("Authorization: <hidden>"), "{headers}");
    let form = [
        ("_csrf", csrf_of(edit)),
        ("monitor_id", id.to_string()),
        ("name", "private api, renamed".into()),
        ("url", target.url.clone()),
        ("method", "POST".into()),
        ("headers", headers),
        ("body", field("body")),
        ("interval_seconds", "1".into()),
        ("timeout_ms", "900".into()),
        ("regions", "eu".into()),
        ("expected_status", "200-399".into()),
        ("enabled", "on".into()),
    ];
    *target.last_request.lock().unwrap() = String::new();
    let (status, fragment) = admin
        .post_form(
            "/monitors/test",
            &form
                .iter()
                .map(|(k, v)| (*k, v.as_str()))
                .collect::<Vec<_>>(),
        )
        .await;
    assert_eq!(status, 200);
    assert!(fragment.contains("up"), "{fragment}");
    let audited = app
        .store
        .audit_log(1, openseer_store::AuditScope::Organization, None, 50)
        .await
        .unwrap();
    assert!(
        audited
            .iter()
            .any(|e| e.action == "monitor.tested_with_secrets"
                && e.detail.as_deref().is_some_and(|d| d.contains(&target.url))),
        "a test request with stored secrets is on the record"
    );

    // Stored secrets never go to another origin: neither a test request nor
    // a save moves them there without typing them again.
    let elsewhere = Target::start().await;
    let moved: Vec<(&str, &str)> = form
        .iter()
        .map(|(k, v)| match *k {
            "url" => (*k, elsewhere.url.as_str()),
            _ => (*k, v.as_str()),
        })
        .collect();
    let (_, fragment) = admin.post_form("/monitors/test", &moved).await;
    assert!(fragment.contains("are sent only to"), "{fragment}");
    let (status, page) = admin.post_form(&format!("/monitors/{id}"), &moved).await;
    assert_eq!(status, 422, "{page}");
    let mut by_api = app
        .store
        .monitor(1, id)
        .await
        .unwrap()
        .to_input()
        .redacted();
    by_api.url = elsewhere.url.clone();
    let r = http
        .put(app.url(&format!("/api/v1/monitors/{id}")))
        .bearer_auth(&token)
        .json(&by_api)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(elsewhere.hits.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert_eq!(
        app.store.monitor(1, id).await.unwrap().check.url,
        target.url
    );
    let (status, _) = admin
        .post_form(
            &format!("/monitors/{id}"),
            &form
                .iter()
                .map(|(k, v)| (*k, v.as_str()))
                .collect::<Vec<_>>(),
        )
        .await;
    assert_eq!(status, 303);
    let stored = app.store.monitor(1, id).await.unwrap();
    assert_eq!(stored.name, "private api, renamed");
    assert_eq!(stored.check.headers[0].value, HEADER_SECRET);
    assert_eq!(stored.check.headers[1].value, KEY_SECRET);
    assert!(stored.check.body.unwrap().contains(BODY_SECRET));

    // At rest: not in the database's files.
    worker.shutdown().await.unwrap();
    let data = files_under(&app.dir.path().join("data"));
    for secret in [HEADER_SECRET, KEY_SECRET, BODY_SECRET] {
        assert!(!contains(&data, secret), "{secret} in the data directory");
    }

    // Not in a log line, nor the password or the tokens.
    let logged = logs.bytes();
    assert!(
        contains(&logged, "request"),
        "the logs were captured ({} bytes)",
        logged.len()
    );
    for secret in [
        HEADER_SECRET,
        KEY_SECRET,
        BODY_SECRET,
        PASSWORD,
        token.as_str(),
    ] {
        assert!(!contains(&logged, secret), "{secret} in the logs");
    }
    assert!(
        !contains(&logged, "ostc_"),
        "an enrollment token in the logs"
    );
    assert!(!contains(&logged, "ostk_"), "a worker token in the logs");
}
