//! Operations: monitors as code, backups, health and readiness, request ids.

use crate::common;

use common::TestApp;
use openseer_node::transfer::{Change, Client, ImportOptions, ImportReport, MonitorsFile};

const PRUNE: ImportOptions = ImportOptions {
    prune: true,
    dry_run: false,
};

/// created, updated, unchanged, deleted.
fn counts(r: &ImportReport) -> (usize, usize, usize, usize) {
    (r.created, r.updated, r.unchanged, r.deleted)
}

/// A node with monitors alpha, beta and gamma (60 s), and a user API token
/// for tools such as `openseer export`.
async fn three_monitors_and_a_token() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin("admin@example.com").await;
    for name in ["alpha", "beta", "gamma"] {
        // alpha sends a credential: it stays on the node, never in a file.
        let headers = match name {
            "alpha" => "Authorization: Bearer alpha-secret\nAccept: application/json",
            _ => "",
        };
        admin
            .create_monitor(&[
                ("name", name),
                ("url", "http://127.0.0.1:9/"),
                ("interval_seconds", "60"),
                ("headers", headers),
            ])
            .await;
    }
    let token = admin.api_token("write").await;
    (app, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_edit_import_and_import_again() {
    let (app, token) = three_monitors_and_a_token().await;
    let client = Client::new(&app.base, &token).unwrap();

    let exported = client.export().await.unwrap();
    assert_eq!(
        exported
            .monitors
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>(),
        ["alpha", "beta", "gamma"]
    );

    // Secrets are exported as <hidden>; other header values as they are.
    let text = serde_json::to_string_pretty(&exported).unwrap();
    assert!(!text.contains("alpha-secret"), "{text}");
    let alpha_headers: Vec<(&str, &str)> = exported.monitors[0]
        .headers
        .iter()
        .map(|h| (h.name.as_str(), h.value.as_str()))
        .collect();
    assert_eq!(
        alpha_headers,
        [
            ("Authorization", "<hidden>"),
            ("Accept", "application/json")
        ]
    );

    // Through a file, as in git: edit one, drop one, add one.
    let mut file: MonitorsFile = serde_json::from_str(&text).unwrap();
    file.monitors.retain(|m| m.name != "gamma");
    file.monitors[1].interval_seconds = 30;
    let mut delta = file.monitors[0].clone();
    delta.name = "delta".into();
    file.monitors.push(delta);
    // A new monitor cannot take its secret from nowhere.
    let e = client
        .import(&file, ImportOptions::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("\"delta\"") && e.contains("Authorization") && e.contains("nothing was changed"),
        "{e}"
    );
    file.monitors[2].headers[0].value = "Bearer delta-secret".into();

    // A dry run says what would change, with --prune too, and changes nothing.
    let dry = ImportOptions {
        prune: true,
        dry_run: true,
    };
    let r = client.import(&file, dry).await.unwrap();
    assert_eq!(counts(&r), (1, 1, 1, 1));
    assert_eq!(
        r.changes,
        [
            (Change::Update, "beta".to_string()),
            (Change::Create, "delta".to_string()),
            (Change::Delete, "gamma".to_string())
        ]
    );
    let names: Vec<String> = client
        .export()
        .await
        .unwrap()
        .monitors
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(
        names,
        ["alpha", "beta", "gamma"],
        "a dry run changes nothing"
    );

    let r = client
        .import(&file, ImportOptions::default())
        .await
        .unwrap();
    assert_eq!(counts(&r), (1, 1, 1, 0));
    let r = client.import(&file, PRUNE).await.unwrap();
    assert_eq!(counts(&r), (0, 0, 3, 1));
    let r = client.import(&file, PRUNE).await.unwrap();
    assert_eq!(counts(&r), (0, 0, 3, 0), "a second import changes nothing");

    let now = client.export().await.unwrap();
    let names: Vec<&str> = now.monitors.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["alpha", "beta", "delta"]);
    assert_eq!(now.monitors[1].interval_seconds, 30);

    // A bad entry is refused before anything changes, even the good
    // entries listed before it.
    let mut bad = now;
    bad.monitors[1].interval_seconds = 10;
    bad.monitors[2].url = "gopher://x".into();
    let e = client
        .import(&bad, ImportOptions::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("\"delta\"") && e.contains("url") && e.contains("nothing was changed"),
        "{e}"
    );
    let after = client.export().await.unwrap();
    assert_eq!(after.monitors[1].interval_seconds, 30, "beta unchanged");
    // Round trips through files kept alpha's credential as it was.
    let alpha = &app.store.monitors(1).await.unwrap()[0];
    assert_eq!(alpha.name, "alpha");
    assert_eq!(alpha.check.headers[0].value, "Bearer alpha-secret");
}

/// Runs the `openseer` binary as an operator would; returns its stdout.
async fn openseer(args: &[&str]) -> Result<String, String> {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_openseer"))
            .args(&args)
            .env_remove("OPENSEER_TOKEN")
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    match out.status.success() {
        true => Ok(text),
        false => Err(String::from_utf8_lossy(&out.stderr).to_string()),
    }
}

/// The command line with a YAML file, edited by hand in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_to_yaml_edit_and_import_from_the_command_line() {
    let (app, token) = three_monitors_and_a_token().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("monitors.yaml");
    let file = path.to_str().unwrap();
    let api = ["--server", app.base.as_str(), "--token", token.as_str()];

    let export = [&["export"][..], &api, &["--output", file]].concat();
    openseer(&export).await.unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with("monitors:") && text.contains("name: beta"),
        "YAML by the extension:\n{text}"
    );

    // By hand: rename beta, slow gamma down.
    let edited = text.replace("name: beta", "name: beta-renamed");
    let gamma_at = edited.find("name: gamma").unwrap();
    let (head, tail) = edited.split_at(gamma_at);
    let edited = format!(
        "{head}{}",
        tail.replacen("interval_seconds: 60", "interval_seconds: 300", 1)
    );
    assert_ne!(edited, text);
    std::fs::write(&path, &edited).unwrap();
    let dry = [&["import"][..], &api, &[file, "--prune", "--dry-run"]].concat();
    assert_eq!(
        openseer(&dry).await.unwrap().trim(),
        "create beta-renamed\nupdate gamma\ndelete beta\nwould create 1, update 1, delete 1; unchanged 1 (dry run: nothing was changed)"
    );
    let import = [&["import"][..], &api, &[file, "--prune"]].concat();
    assert_eq!(
        openseer(&import).await.unwrap().trim(),
        "create beta-renamed\nupdate gamma\ndelete beta\ncreated 1, updated 1, unchanged 1, deleted 1",
        "the dry run said what the import did"
    );
    assert_eq!(
        openseer(&import).await.unwrap().trim(),
        "created 0, updated 0, unchanged 3, deleted 0",
        "importing twice changes nothing the second time"
    );
    // The organization's monitors now match the file.
    let now = Client::new(&app.base, &token)
        .unwrap()
        .export()
        .await
        .unwrap();
    let from_file = MonitorsFile::parse(&edited, openseer_node::transfer::Format::Yaml).unwrap();
    assert_eq!(now.monitors, from_file.monitors);
    assert_eq!(now.monitors[2].interval_seconds, 300);

    // JSON on request; a broken file is refused with where it broke.
    let json = openseer(&[&["export"][..], &api, &["--format", "json"]].concat())
        .await
        .unwrap();
    assert!(json.trim_start().starts_with('{'), "{json}");
    std::fs::write(&path, "monitors:\n  - name: x\n    url: [oops\n").unwrap();
    let e = openseer(&import).await.unwrap_err();
    assert!(
        e.contains("not a monitors file") && e.contains("line"),
        "{e}"
    );
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
    let other = openseer_store::Store::open_sqlite(&app.dir.path().join("data/openseer.db"))
        .await
        .unwrap();
    other.backup_to(&out).await.unwrap();
    assert!(
        other.backup_to(&out).await.is_err(),
        "an existing file is never overwritten"
    );
    let copy = openseer_store::Store::open_sqlite(&out).await.unwrap();
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
    let store = openseer_store::Store::open_sqlite(&dir.path().join("data/openseer.db"))
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

    let live = admin.http.get(app.url("/events")).send().await.unwrap();
    assert_eq!(live.status(), 200);
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
    // The registry is the process's, shared by the tests running beside
    // this one (each node's Sessions writes its own stream count into it),
    // so counts are lower bounds and the stream count is waited for.
    let body = common::wait_for(
        std::time::Duration::from_secs(5),
        "the open stream counted",
        || async {
            let body = http
                .get(app.url("/metrics"))
                .bearer_auth(token)
                .send()
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            (common::metrics::value(&body, "openseer_live_streams") >= 1.0).then_some(body)
        },
    )
    .await;
    let value = |line_start: &str| common::metrics::value(&body, line_start);
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
    assert!(value("openseer_ingest_batch_size_count") >= 1.0);
    assert!(value("openseer_ingest_batch_size_sum") >= 2.0);
    // A gauge that goes up and down never goes below zero (an unmatched
    // decrement would).
    assert!(value("openseer_longpoll_waiters") >= 0.0);
    // Checks this short are never renewed; the counter is there all the same.
    assert!(body.contains("\nopenseer_leases_renewed_total "));
    assert!(
        !body.contains("openseer_raft_"),
        "a node alone has no raft group"
    );
    assert!(!body.contains(&target.url), "no raw URLs in metric labels");

    common::metrics::promtool_check(&body);
    common::metrics::assert_documented(&body);

    // Each monitor's status, for Alertmanager, and in the API: up, then
    // down once the target fails. A paused monitor has no series.
    let up_line = format!("openseer_monitor_up{{monitor=\"{id}\",region=\"eu\"}}");
    assert_eq!(value(&up_line), 1.0);
    assert!(body.contains(&format!(
        "openseer_monitor_info{{monitor=\"{id}\",name=\"m\",org=\"1\"}} 1"
    )));
    let read = admin.api_token("read").await;
    let status = |id: i64| {
        let (http, read, url) = (
            &admin.http,
            &read,
            app.url(&format!("/api/v1/monitors/{id}")),
        );
        async move {
            let m: serde_json::Value = http
                .get(url)
                .bearer_auth(read)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            m["status"].clone()
        }
    };
    let now = status(id).await;
    assert_eq!(now["overall"], "up", "{now}");
    assert_eq!(now["regions"][0]["region"], "eu");
    assert_eq!(now["regions"][0]["status_code"], 200);
    let paused = admin
        .create_monitor(&[("name", "quiet"), ("url", &target.url), ("regions", "eu")])
        .await;
    let csrf = admin.csrf().await;
    let (s, _) = admin
        .post_form(&format!("/monitors/{paused}/pause"), &[("_csrf", &csrf)])
        .await;
    assert_eq!(s, 303);
    assert_eq!(status(paused).await["overall"], "paused");
    target.set_status(500);
    let body = common::wait_for(
        std::time::Duration::from_secs(5),
        "down on /metrics",
        || async {
            let body = http
                .get(app.url("/metrics"))
                .bearer_auth(token)
                .send()
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            (common::metrics::value(&body, &up_line) == 0.0).then_some(body)
        },
    )
    .await;
    assert!(!body.contains(&format!("openseer_monitor_up{{monitor=\"{paused}\"")));
    assert!(!body.contains(&format!("openseer_monitor_info{{monitor=\"{paused}\"")));
    let now = status(id).await;
    assert_eq!(now["overall"], "down", "{now}");
    assert_eq!(now["regions"][0]["outcome"], "down");
    let listed: serde_json::Value = admin
        .http
        .get(app.url("/api/v1/monitors"))
        .bearer_auth(&read)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let overall: Vec<&str> = listed["monitors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["status"]["overall"].as_str().unwrap())
        .collect();
    assert_eq!(overall, ["down", "paused"]);
    common::metrics::promtool_check(&body);
    common::metrics::assert_documented(&body);
    drop(live);
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
    common::metrics::promtool_check(&body);
    common::metrics::assert_documented(&body);
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
        .local_shard(3)
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
    assert_eq!(app.actors.failure(), None);
}

/// PostgreSQL stops under a running node and worker, then comes back. The
/// node says it is unready while the database is gone and ready again after,
/// without a restart; and every tick scheduled meanwhile ends up stored
/// exactly once. A node acknowledges results only after they are committed,
/// so the worker keeps what was not acknowledged and sends it again; a node
/// that acknowledged and then failed to commit would leave holes here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_database_and_nothing_acknowledged_is_lost() {
    use std::time::Duration;
    let Some(pg) = common::own_postgres::OwnPostgres::start() else {
        return;
    };
    let db = pg.url();
    let app = TestApp::spawn_with(|s| s.database_url = Some(db.clone())).await;
    let admin = app.setup_admin("admin@example.com").await;
    let worker = app
        .start_worker(&app.enrollment_token(&admin).await, "eu")
        .await;
    let target = common::Target::start().await;
    let id = admin
        .create_monitor(&[("name", "m"), ("url", &target.url), ("regions", "eu")])
        .await;
    common::wait_for(Duration::from_secs(10), "first results", || async {
        (admin.results(id).await.len() >= 2).then_some(())
    })
    .await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let ready = |http: reqwest::Client| {
        let url = app.url("/readyz");
        async move {
            match http.get(&url).send().await {
                Ok(r) => Some((r.status().as_u16(), r.text().await.unwrap_or_default())),
                Err(_) => None,
            }
        }
    };
    assert_eq!(ready(http.clone()).await.map(|r| r.0), Some(200));

    let before = openseer_core::clock::system_now_ms();
    pg.stop();
    let down_at = openseer_core::clock::system_now_ms();
    let why = common::wait_for(
        Duration::from_secs(5),
        "unready without the database",
        || {
            let http = http.clone();
            let ready = &ready;
            async move {
                let (status, body) = ready(http).await?;
                (status == 503).then_some(body)
            }
        },
    )
    .await;
    let unready_after = openseer_core::clock::system_now_ms() - down_at;
    assert!(why.contains("database"), "{why}");
    // Ticks come and go while the database is away: checks run, their
    // results cannot be committed.
    tokio::time::sleep(Duration::from_secs(4)).await;
    pg.start_again();
    let up_at = openseer_core::clock::system_now_ms();
    common::wait_for(Duration::from_secs(15), "ready again, no restart", || {
        let http = http.clone();
        let ready = &ready;
        async move { (ready(http).await?.0 == 200).then_some(()) }
    })
    .await;
    let ready_after = openseer_core::clock::system_now_ms() - up_at;
    eprintln!(
        "database down for {} ms; unready {unready_after} ms after the stop, ready {ready_after} ms after the start",
        up_at - down_at
    );

    // Every tick from before the stop until after the return is stored
    // once: the outage's results arrive as the worker retries.
    let from = (before / 1000 - 2) * 1000;
    let to = (up_at / 1000 + 3) * 1000;
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    let rows = common::wait_for(Duration::from_secs(30), "the outage's results", || {
        let pool = pool.clone();
        async move {
            let rows: Vec<(i64, String)> = sqlx::query_as(
                "SELECT scheduled_at, outcome FROM results_raw
                 WHERE monitor_id = $1 AND region = 'eu' AND scheduled_at >= $2 AND scheduled_at < $3
                 ORDER BY scheduled_at",
            )
            .bind(id)
            .bind(from)
            .bind(to)
            .fetch_all(&pool)
            .await
            .ok()?;
            (rows.len() as i64 >= (to - from) / 1000).then_some(rows)
        }
    })
    .await;
    // A monitor's ticks are on its own phase within the second: one result
    // per tick means consecutive results exactly 1 s apart, from the
    // window's first second to its last.
    let ticks: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let expected: Vec<i64> = (0..(to - from) / 1000)
        .map(|i| ticks[0] + i * 1000)
        .collect();
    assert!(
        ticks[0] - from < 1000,
        "the first tick is in the first second"
    );
    assert_eq!(ticks, expected, "one stored result per tick, none twice");
    let checked = rows.iter().filter(|r| r.1 == "up").count();
    eprintln!(
        "{} ticks, {checked} checked up, outcomes {rows:?}",
        rows.len()
    );
    // Outside the outage every tick is a real check. Inside it the worker
    // cannot even authenticate (its token is looked up in the database), so
    // a tick may end as `missed`: said honestly, never as down and never as
    // a hole.
    let ready_at = up_at + ready_after;
    for (tick, outcome) in &rows {
        let outage = (down_at - 1_000..ready_at + 1_000).contains(tick);
        assert!(
            outcome == "up" || (outage && outcome == "missed"),
            "tick {tick} ({} ms from the stop): {outcome}; {rows:?}",
            tick - down_at
        );
    }
    worker.shutdown().await.unwrap();
}
