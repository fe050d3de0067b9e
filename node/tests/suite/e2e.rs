//! End to end: node + worker + a local target, as a user would run them.

use crate::common;

use std::time::Duration;

use common::{checking, wait_for, Checking, TestApp};

async fn latest_outcome(b: &common::Browser, id: i64) -> Option<String> {
    b.results(id)
        .await
        .first()
        .map(|r| r["outcome"].as_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_second_monitor_is_checked_and_follows_the_target() {
    let Checking {
        app: _app,
        admin,
        worker,
        target,
    } = checking("eu").await;
    let id = admin
        .create_monitor(&[("name", "api"), ("url", &target.url), ("regions", "eu")])
        .await;

    // At least 4 results within 5 s of the first one.
    wait_for(Duration::from_secs(5), "the first result", || async {
        (!admin.results(id).await.is_empty()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let results = admin.results(id).await;
    assert!(results.len() >= 4, "only {} results in 5 s", results.len());
    assert!(
        results
            .iter()
            .all(|r| r["outcome"] == "up" && r["status_code"] == 200 && r["region"] == "eu"),
        "{results:?}"
    );
    // One row per tick, ticks exactly one interval apart.
    let ticks: Vec<i64> = results
        .iter()
        .map(|r| r["scheduled_at_ms"].as_i64().unwrap())
        .collect();
    assert!(ticks.windows(2).all(|w| w[0] - w[1] == 1000), "{ticks:?}");

    // Down within two intervals of the target failing...
    target.set_status(500);
    let changed = std::time::Instant::now();
    wait_for(Duration::from_millis(2_500), "down", || async {
        (latest_outcome(&admin, id).await.as_deref() == Some("down")).then_some(())
    })
    .await;
    assert!(changed.elapsed() <= Duration::from_millis(2_500));
    let down = admin
        .results(id)
        .await
        .into_iter()
        .find(|r| r["outcome"] == "down")
        .unwrap();
    assert_eq!(down["status_code"], 500);
    assert_eq!(down["error_kind"], "status_code");

    // ...and up again after it recovers.
    target.set_status(200);
    wait_for(Duration::from_millis(2_500), "up again", || async {
        (latest_outcome(&admin, id).await.as_deref() == Some("up")).then_some(())
    })
    .await;

    // The dashboard shows it.
    let (status, page) = admin.get(&format!("/monitors/{id}")).await;
    assert_eq!(status, 200);
    assert!(
        page.contains(&format!("sse-connect=\"/events?monitor={id}&amp;since="))
            && page.contains(&format!("sse-swap=\"r{id}\""))
    );
    assert!(page.contains("badge up"));
    worker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keyword_assertion_fails_and_recovers_with_the_body() {
    let Checking {
        app: _app,
        admin,
        worker,
        target,
    } = checking("eu").await;
    let id = admin
        .create_monitor(&[
            ("name", "kw"),
            ("url", &target.url),
            ("keyword", "systems ok"),
        ])
        .await;

    wait_for(Duration::from_secs(5), "up", || async {
        (latest_outcome(&admin, id).await.as_deref() == Some("up")).then_some(())
    })
    .await;
    target.set_body("maintenance");
    wait_for(
        Duration::from_millis(2_500),
        "down on missing keyword",
        || async { (latest_outcome(&admin, id).await.as_deref() == Some("down")).then_some(()) },
    )
    .await;
    let down = admin
        .results(id)
        .await
        .into_iter()
        .find(|r| r["outcome"] == "down")
        .unwrap();
    assert_eq!(down["error_kind"], "keyword_missing");
    assert_eq!(down["status_code"], 200);
    target.set_body("all systems ok");
    wait_for(Duration::from_millis(2_500), "up again", || async {
        (latest_outcome(&admin, id).await.as_deref() == Some("up")).then_some(())
    })
    .await;
    worker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_reach_an_open_live_stream() {
    let Checking {
        app,
        admin,
        worker,
        target,
    } = checking("eu").await;
    // The organization's stream (the overview's) is open before the
    // monitor exists; a monitor's own stream right after it is made. Neither
    // asks for a catch-up (no `since`): what they get came live.
    let mut events = admin.http.get(app.url("/events")).send().await.unwrap();
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    let id = admin
        .create_monitor(&[("name", "live"), ("url", &target.url), ("regions", "eu")])
        .await;
    let mut own = admin
        .http
        .get(app.url(&format!("/events?monitor={id}")))
        .send()
        .await
        .unwrap();
    for (stream, wanted) in [
        (&mut events, format!("event: m{id}-eu")),
        (&mut own, format!("event: r{id}")),
    ] {
        let mut seen = String::new();
        tokio::time::timeout(Duration::from_secs(5), async {
            while !seen.contains(&wanted) {
                let chunk = stream.chunk().await.unwrap().expect("stream stays open");
                seen.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no {wanted}; got {seen}"));
        assert!(seen.contains("badge up"), "{seen}");
    }
    worker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_and_deleted_monitors_stop_being_checked() {
    let Checking {
        app: _app,
        admin,
        worker,
        target,
    } = checking("eu").await;
    let id = admin
        .create_monitor(&[("name", "p"), ("url", &target.url)])
        .await;
    wait_for(Duration::from_secs(5), "a result", || async {
        (!admin.results(id).await.is_empty()).then_some(())
    })
    .await;

    let csrf = admin.csrf().await;
    assert_eq!(
        admin
            .post_form(&format!("/monitors/{id}/pause"), &[("_csrf", &csrf)])
            .await
            .0,
        303
    );
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let hits = target.hits.load(std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(
        target.hits.load(std::sync::atomic::Ordering::SeqCst),
        hits,
        "a paused monitor was checked"
    );

    assert_eq!(
        admin
            .post_form(&format!("/monitors/{id}/resume"), &[("_csrf", &csrf)])
            .await
            .0,
        303
    );
    wait_for(Duration::from_secs(3), "checks after resume", || async {
        (target.hits.load(std::sync::atomic::Ordering::SeqCst) > hits).then_some(())
    })
    .await;

    assert_eq!(
        admin
            .post_form(&format!("/monitors/{id}/delete"), &[("_csrf", &csrf)])
            .await
            .0,
        303
    );
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let hits = target.hits.load(std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(
        target.hits.load(std::sync::atomic::Ordering::SeqCst),
        hits,
        "a deleted monitor was checked"
    );
    assert_eq!(admin.get(&format!("/monitors/{id}")).await.0, 404);
    worker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_worker_keeps_its_identity() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin("admin@example.com").await;
    let token = app.enrollment_token(&admin).await;
    let dir = tempfile::tempdir().unwrap();
    let w = app
        .start_worker_in(&token, "eu", dir.path().to_path_buf(), None)
        .await;
    wait_for(Duration::from_secs(5), "enrollment", || async {
        dir.path().join("identity.json").exists().then_some(())
    })
    .await;
    w.shutdown().await.unwrap();
    let restarted_at = openseer_core::clock::system_now_ms();
    let w = app
        .start_worker_in(&token, "eu", dir.path().to_path_buf(), None)
        .await;
    // The restarted worker has called the node (a poll, or an enrollment
    // if it lost its identity): some worker was seen after the restart.
    let store = app.store.clone();
    let workers = wait_for(
        Duration::from_secs(10),
        "the restarted worker's first poll",
        || {
            let store = store.clone();
            async move {
                let workers = store.workers(1).await.unwrap();
                workers
                    .iter()
                    .any(|w| w.last_seen_at >= restarted_at)
                    .then_some(workers)
            }
        },
    )
    .await;
    w.shutdown().await.unwrap();
    assert_eq!(workers.len(), 1, "a restart enrolled a second worker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_a_worker_mid_check_still_delivers_the_result() {
    let Checking {
        app: _app,
        admin,
        worker,
        target,
    } = checking("eu").await;
    target
        .delay_ms
        .store(800, std::sync::atomic::Ordering::SeqCst);
    let id = admin
        .create_monitor(&[
            ("name", "slow"),
            ("url", &target.url),
            ("interval_seconds", "5"),
            ("timeout_ms", "3000"),
        ])
        .await;
    // The check is running (the target has the request) when the stop comes.
    wait_for(Duration::from_secs(6), "a check in flight", || async {
        (target.hits.load(std::sync::atomic::Ordering::SeqCst) > 0).then_some(())
    })
    .await;
    worker.shutdown().await.unwrap();
    let results = admin.results(id).await;
    assert_eq!(
        results.len(),
        1,
        "the in-flight result was not delivered before the worker stopped"
    );
    assert_eq!(results[0]["outcome"], "up");
    assert!(results[0]["total_ms"].as_f64().unwrap() >= 800.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assertions_timings_and_options_flow_through_the_api() {
    let Checking {
        app,
        admin,
        worker,
        target,
    } = checking("eu").await;
    target.set_body(r#"{"status":"ok","version":3}"#);
    let csrf = admin.csrf().await;
    let body = serde_json::json!({
        "name": "json api", "url": target.url, "interval_seconds": 1, "timeout_ms": 900,
        "assertions": [
            {"type": "json_path", "path": "$.status", "equals": "ok"},
            {"type": "json_path", "path": "$.version"},
            {"type": "body_matches", "pattern": "\"version\":\\s*\\d+"}
        ],
        "degraded_above_ms": 800, "verify_tls": false, "ip_family": "v4", "follow_redirects": false
    });
    let r = admin
        .http
        .post(app.url("/api/v1/monitors"))
        .header("X-CSRF-Token", &csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: serde_json::Value = r.json().await.unwrap();
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["assertions"].as_array().unwrap().len(), 3);
    assert_eq!(
        (
            created["ip_family"].as_str(),
            created["verify_tls"].as_bool()
        ),
        (Some("v4"), Some(false))
    );

    let up = wait_for(Duration::from_secs(5), "an up result", || async {
        admin
            .results(id)
            .await
            .into_iter()
            .find(|r| r["outcome"] == "up")
    })
    .await;
    assert_eq!(up["assertions"].as_array().unwrap().len(), 3);
    assert!(
        up["assertions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["passed"] == true),
        "{up}"
    );
    let t = &up["timings"];
    assert!(
        t["connect_ms"].as_f64().unwrap() > 0.0 && t["ttfb_ms"].as_f64().unwrap() > 0.0,
        "{t}"
    );

    target.set_body(r#"{"status":"degraded","version":3}"#);
    let down = wait_for(Duration::from_secs(3), "an assertion failure", || async {
        admin
            .results(id)
            .await
            .into_iter()
            .find(|r| r["outcome"] == "down")
    })
    .await;
    assert_eq!(down["error_kind"], "assertion_failed");
    assert!(
        down["error_message"].as_str().unwrap().contains("$.status"),
        "{down}"
    );
    let failed: Vec<&serde_json::Value> = down["assertions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["passed"] == false)
        .collect();
    assert_eq!(failed.len(), 1);

    // The monitor page shows the phases and the assertions.
    let (_, page) = admin.get(&format!("/monitors/{id}")).await;
    assert!(
        page.contains("DNS · connect · TLS · first byte · transfer")
            && page.contains("json $.status == ok")
    );
    // The failed check's row says which assertion failed and what it found.
    assert!(page.contains("2/3 assertions passed"), "{page}");
    assert!(
        page.contains("✗ <code>json $.status == ok</code>"),
        "{page}"
    );
    worker.shutdown().await.unwrap();
}

/// `openseer dev` as a new user runs it: the setup link, a monitor in
/// region `local` checked by the built-in worker; then a second organization
/// made on the Members page gets a built-in worker of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_checks_every_organizations_monitors() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let port = common::cluster::free_port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_openseer"))
        .args(["dev", "--http", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = child.stdout.take().unwrap();
    let _child = Kill(child);
    // Read every line to the end: a closed pipe would stop the node at its
    // next line of output.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Some((_, url)) = line.split_once("setup link): ") {
                let _ = tx.send(url.trim().to_string());
            }
        }
    });
    let link = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(60)))
        .await
        .unwrap()
        .expect("dev prints its setup link");
    let base = format!("http://127.0.0.1:{port}");
    let token = link.split("token=").nth(1).unwrap().to_string();
    let owner = common::Browser::at(&base);
    let (_, page) = owner.get(&format!("/setup?token={token}")).await;
    let (s, _) = owner
        .post_form(
            "/setup",
            &[
                ("_csrf", &common::csrf_of(&page)),
                ("token", &token),
                ("org_name", "First"),
                ("name", "Owner"),
                ("email", "owner@example.com"),
                ("password", common::PASSWORD),
            ],
        )
        .await;
    assert_eq!(s, 303);
    let target = common::Target::start().await;
    let first = owner
        .create_monitor(&[
            ("name", "first"),
            ("url", &target.url),
            ("regions", "local"),
        ])
        .await;
    let up = |id: i64| {
        let owner = &owner;
        async move { (latest_outcome(owner, id).await.as_deref() == Some("up")).then_some(()) }
    };
    wait_for(
        Duration::from_secs(30),
        "the first organization's check",
        || up(first),
    )
    .await;

    let (_, page) = owner.get("/settings/members").await;
    let (s, _) = owner
        .post_form(
            "/orgs",
            &[("_csrf", &common::csrf_of(&page)), ("name", "Second")],
        )
        .await;
    assert_eq!(s, 303, "the session moves to the new organization");
    let second = owner
        .create_monitor(&[
            ("name", "second"),
            ("url", &target.url),
            ("regions", "local"),
        ])
        .await;
    wait_for(
        Duration::from_secs(30),
        "the second organization's check",
        || up(second),
    )
    .await;
}
