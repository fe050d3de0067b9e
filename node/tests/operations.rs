//! Operations: monitors as code, backups, health and readiness, request ids.

mod common;

use common::{csrf_of, extract_token, TestApp};
use openseer_node::transfer::{Client, ImportReport, MonitorsFile};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_edit_import_and_import_again() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin("admin@example.com").await;
    for name in ["alpha", "beta", "gamma"] {
        admin
            .create_monitor(&[
                ("name", name),
                ("url", "http://127.0.0.1:9/"),
                ("interval_seconds", "60"),
            ])
            .await;
    }
    let (_, page) = admin.get("/settings/tokens").await;
    let (_, page) = admin
        .post_form(
            "/settings/tokens",
            &[("_csrf", &csrf_of(&page)), ("name", "gitops")],
        )
        .await;
    let client = Client::new(&app.base, &extract_token(&page, "ostu_")).unwrap();

    let exported = client.export().await.unwrap();
    assert_eq!(
        exported
            .monitors
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>(),
        ["alpha", "beta", "gamma"]
    );

    // Through a file, as in git: edit one, drop one, add one.
    let text = serde_json::to_string_pretty(&exported).unwrap();
    let mut file: MonitorsFile = serde_json::from_str(&text).unwrap();
    file.monitors.retain(|m| m.name != "gamma");
    file.monitors[1].interval_seconds = 30;
    let mut delta = file.monitors[0].clone();
    delta.name = "delta".into();
    file.monitors.push(delta);

    let r = client.import(&file, false).await.unwrap();
    assert_eq!(
        r,
        ImportReport {
            created: 1,
            updated: 1,
            unchanged: 1,
            deleted: 0
        }
    );
    let r = client.import(&file, true).await.unwrap();
    assert_eq!(
        r,
        ImportReport {
            created: 0,
            updated: 0,
            unchanged: 3,
            deleted: 1
        }
    );
    let r = client.import(&file, true).await.unwrap();
    assert_eq!(
        r,
        ImportReport {
            created: 0,
            updated: 0,
            unchanged: 3,
            deleted: 0
        },
        "a second import changes nothing"
    );

    let now = client.export().await.unwrap();
    let names: Vec<&str> = now.monitors.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["alpha", "beta", "delta"]);
    assert_eq!(now.monitors[1].interval_seconds, 30);

    // Bad entries are refused with the API's validation, and nothing half-applied is hidden.
    let mut bad = now;
    bad.monitors[0].url = "gopher://x".into();
    let e = client.import(&bad, false).await.unwrap_err().to_string();
    assert!(e.contains("422") && e.contains("url"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_online_backup_is_a_complete_database() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin("admin@example.com").await;
    let id = admin
        .create_monitor(&[
            ("name", "kept"),
            ("url", "http://127.0.0.1:9/"),
            ("interval_seconds", "60"),
        ])
        .await;
    let out = app.dir.path().join("backup.db");
    // A second connection, as the `openseer backup` command opens, while the node runs.
    let other = openseer_node::store::Store::open_sqlite(&app.dir.path().join("data/openseer.db"))
        .await
        .unwrap();
    other.backup_to(&out).await.unwrap();
    assert!(
        other.backup_to(&out).await.is_err(),
        "an existing file is never overwritten"
    );
    let copy = openseer_node::store::Store::open_sqlite(&out)
        .await
        .unwrap();
    assert_eq!(copy.monitor(1, id).await.unwrap().name, "kept");
    assert_eq!(copy.user_count().await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness_need_no_credentials() {
    let app = TestApp::spawn().await;
    let http = reqwest::Client::new();
    let r = http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(
        (r.status().as_u16(), r.text().await.unwrap()),
        (200, "ready\n".to_string())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_told_not_to_migrate_refuses_an_unmigrated_database() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = openseer_node::Settings::new(dir.path().join("data"), "127.0.0.1:0");
    settings.migrate = false;
    let e = openseer_node::Application::build(settings.clone())
        .await
        .err()
        .expect("refused");
    assert!(e.to_string().contains("openseer migrate"), "{e}");
    // After `openseer migrate`, the same settings start a ready node.
    let store = openseer_node::store::Store::open_sqlite(&dir.path().join("data/openseer.db"))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    assert!(store.migrations_current().await.unwrap());
    let app = openseer_node::Application::build(settings)
        .await
        .expect("starts once migrated");
    let url = format!("{}/readyz", app.base_url);
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 200);
    handle.stop(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn().await;
    let http = reqwest::Client::new();
    let r = http.get(app.url("/healthz")).send().await.unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(id.len(), 16);
    let r = http.get(app.url("/healthz")).send().await.unwrap();
    assert_ne!(
        r.headers()["x-request-id"].to_str().unwrap(),
        id,
        "ids are per request"
    );
    // A load balancer's id is kept; a hostile one is replaced.
    let r = http
        .get(app.url("/healthz"))
        .header("x-request-id", "lb-1234.abc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "lb-1234.abc");
    let r = http
        .get(app.url("/healthz"))
        .header("x-request-id", "value with spaces; and=more")
        .send()
        .await
        .unwrap();
    assert_ne!(r.headers()["x-request-id"], "value with spaces; and=more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_the_token_and_count_what_happened() {
    let token = "metrics-token-0123456789";
    let app = TestApp::spawn_with(|s| s.metrics_token = Some(token.into())).await;
    let admin = app.setup_admin("admin@example.com").await;
    let worker = app
        .start_worker(&app.enrollment_token(&admin).await, "eu")
        .await;
    let target = common::Target::start().await;
    let id = admin
        .create_monitor(&[("name", "m"), ("url", &target.url), ("regions", "eu")])
        .await;
    common::wait_for(std::time::Duration::from_secs(5), "results", || async {
        (admin.results(id).await.len() >= 2).then_some(())
    })
    .await;

    let http = reqwest::Client::new();
    assert_eq!(
        http.get(app.url("/metrics")).send().await.unwrap().status(),
        401
    );
    assert_eq!(
        http.get(app.url("/metrics"))
            .bearer_auth("wrong-token-0123456789")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let body = http
        .get(app.url("/metrics"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |line_start: &str| -> f64 {
        body.lines()
            .find(|l| l.starts_with(line_start))
            .unwrap_or_else(|| panic!("no {line_start} in\n{body}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(value("openseer_checks_total{outcome=\"up\",region=\"eu\"}") >= 2.0);
    assert!(value("openseer_leases_issued_total") >= 2.0);
    assert!(value("openseer_check_lateness_seconds_count") >= 2.0);
    assert!(value("openseer_ingest_commit_seconds_count") >= 1.0);
    assert_eq!(value("openseer_shards_owned"), 64.0);
    // Rollups catch up every few seconds; a lag of minutes would mean they stalled.
    let lag = value("openseer_rollup_lag_seconds");
    assert!((0.0..60.0).contains(&lag), "rollup lag {lag} s");
    assert!(value("openseer_http_requests_total{method=\"POST\",route=\"/api/worker/v1/results\",status=\"200\"}") >= 1.0);
    assert!(body.contains("openseer_db_pool_connections{state=\"idle\"}"));
    assert!(!body.contains(&target.url), "no raw URLs in metric labels");

    // ops/test.sh installs promtool and requires it.
    promtool_check(&body);
    worker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_there_are_no_metrics() {
    let app = TestApp::spawn().await;
    assert_eq!(
        reqwest::get(app.url("/metrics")).await.unwrap().status(),
        404
    );
}

fn free_addr() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn promtool_check(body: &str) {
    use std::io::Write;
    let Ok(mut child) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        assert!(
            std::env::var("OPENSEER_REQUIRE_PROMTOOL").is_err(),
            "promtool is required here but missing"
        );
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_reports_its_metrics_and_readiness_on_its_own_address() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin("admin@example.com").await;
    let target = common::Target::start().await;
    let id = admin
        .create_monitor(&[("name", "w"), ("url", &target.url), ("regions", "eu")])
        .await;

    // Before it could enroll (no node answers), the worker is not ready.
    let dead = free_addr();
    let addr = free_addr();
    let state = tempfile::tempdir().unwrap();
    let mut config = openseer_worker::WorkerConfig::new(
        vec![format!("http://{dead}")],
        "eu",
        state.path().to_path_buf(),
    );
    config.enroll_token = Some(app.enrollment_token(&admin).await);
    config.metrics_addr = Some(addr);
    let (tx, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(openseer_worker::run(config.clone(), rx));
    let url = format!("http://{addr}/readyz");
    let r = common::wait_for(
        std::time::Duration::from_secs(3),
        "the worker endpoint",
        || async { reqwest::get(&url).await.ok() },
    )
    .await;
    assert_eq!(r.status(), 503);
    assert!(r.text().await.unwrap().contains("not enrolled"));
    tx.send(true).unwrap();
    task.await.unwrap().unwrap();

    // Pointed at the node, it enrolls, checks, and says so.
    config.servers = vec![app.base.clone()];
    let (tx, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(openseer_worker::run(config, rx));
    common::wait_for(std::time::Duration::from_secs(5), "results", || async {
        (admin.results(id).await.len() >= 2).then_some(())
    })
    .await;
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 200);
    let body = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        body.contains("openseer_worker_checks_total{outcome=\"up\"}"),
        "{body}"
    );
    assert!(body.contains("openseer_worker_ready 1"));
    assert!(body.contains("openseer_worker_check_duration_seconds_count"));
    promtool_check(&body);
    tx.send(true).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_lost_an_actor_says_it_is_not_ready() {
    let app = TestApp::spawn().await;
    let url = app.url("/readyz");
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 200);
    // A scheduler dies: its shard's monitors would silently go unchecked.
    let shard = app
        .actors
        .shards
        .local(3)
        .expect("a single node owns every shard");
    shard.scheduler.expect("a shard has a scheduler").kill();
    let body = common::wait_for(std::time::Duration::from_secs(3), "unready", || async {
        let r = reqwest::get(&url).await.unwrap();
        (r.status() == 503).then_some(())?;
        Some(r.text().await.unwrap())
    })
    .await;
    assert!(body.contains("scheduler"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_stop_is_not_a_failure() {
    let mut app = TestApp::spawn().await;
    app.stop().await;
    assert_eq!(app.actors.health.failure(), None);
}
