//! Rollups through a running node: the stats and series API answer from
//! rollups kept by the Rollup actors, on SQLite and on PostgreSQL; a node
//! that restarts rolls up what it had not.

use crate::common;

use std::time::Duration;

use common::db::TestDb;
use common::{wait_for, Target, TestApp};
use openseer_core::rollup::plan::Tier;
use openseer_protocol::Outcome;
use openseer_store::StoredResult;

async fn stats_match_the_results(app: TestApp) {
    let admin = app.setup_admin("admin@example.com").await;
    let worker = app
        .start_worker(&app.enrollment_token(&admin).await, "eu")
        .await;
    let target = Target::start().await;
    let id = admin
        .create_monitor(&[("name", "api"), ("url", &target.url), ("regions", "eu")])
        .await;
    wait_for(Duration::from_secs(10), "four up results", || async {
        (admin.results(id).await.len() >= 4).then_some(())
    })
    .await;
    target.set_status(500);
    wait_for(Duration::from_secs(10), "two down results", || async {
        let r = admin.results(id).await;
        (r.iter().filter(|r| r["outcome"] == "down").count() >= 2).then_some(())
    })
    .await;
    worker.shutdown().await.unwrap();
    let results = admin.results(id).await;
    let first = results.last().unwrap()["scheduled_at_ms"].as_i64().unwrap();
    let last = results.first().unwrap()["scheduled_at_ms"]
        .as_i64()
        .unwrap();
    let count = |o: &str| results.iter().filter(|r| r["outcome"] == o).count() as i64;
    app.actors.drain_rollups().await;

    let (status, body) = admin
        .get(&format!(
            "/api/v1/monitors/{id}/stats?from={first}&to={}&regions=eu",
            last + 1
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    let s: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(s["up"].as_i64(), Some(count("up")), "{s}");
    assert_eq!(s["down"].as_i64(), Some(count("down")), "{s}");
    let up = count("up") as f64
        / (count("up") + count("down") + count("error") + count("degraded")) as f64;
    assert!((s["uptime"].as_f64().unwrap() - up).abs() < 1e-9, "{s}");
    let p50 = s["p50_ms"].as_f64().unwrap();
    assert!(p50 > 0.0 && p50 <= s["max_ms"].as_f64().unwrap(), "{s}");
    assert_eq!(s["phases_ms"].as_array().map(Vec::len), Some(5));

    // A region with no workers has no data; the whole last hour has it all.
    let (_, body) = admin
        .get(&format!("/api/v1/monitors/{id}/stats?range=1h&regions=us"))
        .await;
    assert!(body.contains("\"uptime\":null"), "{body}");
    let (_, body) = admin
        .get(&format!("/api/v1/monitors/{id}/series?range=1h&buckets=60"))
        .await;
    let series: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(series["bucket_ms"], 60_000);
    let total: i64 = series["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["up"].as_i64().unwrap() + p["down"].as_i64().unwrap())
        .sum();
    assert!(
        total >= count("up") + count("down"),
        "series holds every result: {total}"
    );

    // Bad ranges are clear errors; another organization sees nothing.
    let (status, body) = admin
        .get(&format!("/api/v1/monitors/{id}/stats?range=2w"))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("range"), "{body}");
    let (status, _) = admin
        .get(&format!("/api/v1/monitors/{id}/stats?from=10&to=5"))
        .await;
    assert_eq!(status, 400);
    let other = app.other_org_admin("other@example.com").await;
    assert_eq!(
        other
            .get(&format!("/api/v1/monitors/{id}/stats?range=1h"))
            .await
            .0,
        404
    );
    assert_eq!(
        other
            .get(&format!("/api/v1/monitors/{id}/series?range=1h"))
            .await
            .0,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_match_the_results_on_sqlite() {
    stats_match_the_results(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_match_the_results_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let url = db.url.clone();
    stats_match_the_results(TestApp::spawn_with(|s| s.database_url = url).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_rolls_up_what_it_had_not() {
    let mut app = TestApp::spawn().await;
    let admin = app.setup_admin("admin@example.com").await;
    let target = Target::start().await;
    let id = admin
        .create_monitor(&[("name", "m"), ("url", &target.url), ("enabled", "false")])
        .await;
    app.stop().await;
    // Results committed while no Rollup heard of them (as if the node died
    // between the commit and the rollup pass).
    let now = openseer_core::clock::system_now_ms();
    let at = Tier::Minute.start_of(now) - 60_000;
    let results: Vec<StoredResult> = (0..3)
        .map(|i| StoredResult {
            // Received now, as if committed just before the node died.
            received_at: now,
            ..common::results::stored(id, "eu", at + i * 1_000, Outcome::Up, 10.0 + i as f64)
        })
        .collect();
    let refs: Vec<&StoredResult> = results.iter().collect();
    let store =
        openseer_store::Store::open_sqlite(&app.dir.path().join("data").join("openseer.db"))
            .await
            .unwrap();
    store.insert_results(&refs).await.unwrap();
    assert!(store
        .rollup_rows(Tier::Minute, &[id], None, 0, i64::MAX)
        .await
        .unwrap()
        .is_empty());
    app.start_again().await;
    app.actors.drain_rollups().await;
    let rows = app
        .store
        .rollup_rows(Tier::Minute, &[id], None, 0, i64::MAX)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].agg.up, rows[0].agg.lat_min, rows[0].agg.lat_max),
        (3, Some(10.0), Some(12.0))
    );
    let days = app
        .store
        .rollup_rows(Tier::Day, &[id], None, 0, i64::MAX)
        .await
        .unwrap();
    assert_eq!(
        days.iter().map(|r| r.agg.up).sum::<i64>(),
        3,
        "all tiers caught up"
    );
}

/// One slow check among few is the minute's p95 and p99 (nearest rank), in
/// `/series` and `/stats`, and the slowest check is there as `max`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_slow_check_among_few_is_never_hidden() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin("admin@example.com").await;
    let id = admin
        .create_monitor(&[
            ("name", "m"),
            ("url", "http://127.0.0.1:9/"),
            ("regions", "eu"),
            ("enabled", "false"),
        ])
        .await;
    let now = openseer_core::clock::system_now_ms();
    let minute = now - now.rem_euclid(60_000) - 10 * 60_000;
    let latencies = [5.1, 5.3, 4.9, 1502.0, 5.0, 5.2, 5.3];
    let rows = latencies
        .iter()
        .enumerate()
        .map(|(i, &ms)| {
            let at = minute + i as i64 * 1_000;
            (common::results::stored(id, "eu", at, Outcome::Up, ms), 1)
        })
        .collect();
    app.actors.record(rows);
    let store = app.store.clone();
    wait_for(Duration::from_secs(10), "seven results", || {
        let store = store.clone();
        async move { (store.count_results(id).await.unwrap() == 7).then_some(()) }
    })
    .await;
    app.actors.drain_rollups().await;
    let near = |v: &serde_json::Value, want: f64| {
        let got = v.as_f64().unwrap_or(f64::NAN);
        assert!((got - want).abs() / want <= 0.01, "{got} vs {want}");
    };
    let (_, body) = admin
        .get(&format!(
            "/api/v1/monitors/{id}/series?from={minute}&to={}&buckets=1",
            minute + 60_000
        ))
        .await;
    let series: serde_json::Value = serde_json::from_str(&body).unwrap();
    let point = &series["points"][0];
    near(&point["p95_ms"], 1502.0);
    near(&point["p99_ms"], 1502.0);
    near(&point["p50_ms"], 5.2);
    let (_, body) = admin
        .get(&format!("/api/v1/monitors/{id}/stats?range=1h"))
        .await;
    let stats: serde_json::Value = serde_json::from_str(&body).unwrap();
    near(&stats["p99_ms"], 1502.0);
    near(&stats["max_ms"], 1502.0);
    // The chart draws the slowest check.
    let (_, page) = admin.get(&format!("/monitors/{id}?range=1h")).await;
    assert!(page.contains("1502.0 ms max"), "the chart's max line");
}
