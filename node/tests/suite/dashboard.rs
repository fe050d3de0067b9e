//! Server-side dashboard tests: every page renders for an empty
//! organization, the overview stays usable with 10,000 monitors, and a
//! monitor page shows 90 days of data (uptime, percentiles, the daily bar,
//! down periods). Fragments for htmx say `Vary: HX-Request`.

use crate::common;

use common::TestApp;
use openseer_core::rollup::plan::{Tier, DAY, HOUR, MINUTE};
use openseer_core::rollup::{Aggregate, RawSample};
use openseer_protocol::{MonitorInput, Outcome};
use openseer_store::{RollupRow, StoredResult};

fn input(name: &str, enabled: bool) -> MonitorInput {
    serde_json::from_value(serde_json::json!({
        "name": name, "url": format!("https://{name}.example.com/"), "interval_seconds": 60,
        "regions": ["eu", "us"], "enabled": enabled
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_renders_for_an_empty_organization() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin("admin@example.com").await;
    for path in [
        "/",
        "/?status=down&sort=status&page=9",
        "/monitors/new",
        "/workers",
        "/settings/tokens",
        "/settings/profile",
        "/settings/2fa",
        "/settings/members",
        "/settings/organization",
        "/settings/audit",
        "/cluster",
    ] {
        let (status, body) = admin.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert!(body.contains("</html>"), "{path} is a whole page");
    }
    assert!(admin.get("/").await.1.contains("No monitors yet"));
    assert!(admin.get("/cluster").await.1.contains("runs alone"));
    // Without a cluster there is no node to remove.
    let csrf = admin.csrf().await;
    let (status, _) = admin
        .post_form("/cluster/nodes/1/leave", &[("_csrf", &csrf)])
        .await;
    assert_eq!(status, 404);

    // A monitor in a region no worker serves is called out.
    let org = app.store.first_org_id().await.unwrap().unwrap();
    app.store
        .create_monitor(org, &input("lonely", true).validate().unwrap(), 0)
        .await
        .unwrap();
    let (_, workers) = admin.get("/workers").await;
    assert!(
        workers.contains("Region <strong>eu</strong> has no healthy worker: 1 monitor(s)"),
        "{workers}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_pages_through_ten_thousand_monitors() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin("admin@example.com").await;
    let org = app.store.first_org_id().await.unwrap().unwrap();
    let now = openseer_core::clock::system_now_ms();
    for i in 0..10_000 {
        let v = input(&format!("svc-{i:05}"), i % 10 != 0)
            .validate()
            .unwrap();
        app.store.create_monitor(org, &v, now).await.unwrap();
    }
    let (status, body) = admin.get("/").await;
    assert_eq!(status, 200);
    assert!(body.contains("Showing 1–50 of 10000"), "paged");
    assert_eq!(body.matches("<tr id=\"monitor-").count(), 50);
    assert!(
        body.contains("<strong id=\"count-paused\">1000</strong>"),
        "counts cover every monitor"
    );
    assert!(body.contains("Page 1 of 200"));
    let (_, last) = admin.get("/?page=200").await;
    assert!(last.contains("Showing 9951–10000 of 10000") && last.contains("svc-09999"));
    let (_, beyond) = admin.get("/?page=9999").await;
    assert!(
        beyond.contains("Page 200 of 200"),
        "a page past the end shows the last one"
    );
    let (_, found) = admin.get("/?q=SVC-01234").await;
    assert!(
        found.contains("Showing 1–1 of 1") && found.contains("svc-01234"),
        "search ignores case"
    );
    let (_, paused) = admin.get("/?status=paused").await;
    assert!(paused.contains("of 1000"));
    let (_, none) = admin.get("/?region=mars").await;
    assert!(none.contains("No monitor matches these filters"));

    // The filter form asks with htmx and gets the list alone.
    let r = admin
        .http
        .get(format!("{}/?q=svc-0001", admin.base))
        .header("HX-Request", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["vary"], "HX-Request");
    let fragment = r.text().await.unwrap();
    assert!(
        fragment.starts_with("<div id=\"monitor-list\">") && !fragment.contains("<html"),
        "{}",
        &fragment[..80]
    );
    assert!(fragment.contains("of 10"));
    let r = admin
        .http
        .get(format!("{}/", admin.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["vary"],
        "HX-Request",
        "the full page varies too"
    );
}

fn agg(up: i64, down: i64, latency: f64) -> Aggregate {
    let mut a = Aggregate::default();
    for i in 0..(up + down) {
        a.add(&RawSample {
            monitor_id: 0,
            region: "eu".into(),
            scheduled_at: 0,
            outcome: if i < up { Outcome::Up } else { Outcome::Down },
            total_ms: Some(latency),
            phases: Some([1.0, 2.0, 3.0, latency - 7.0, 1.0]),
        });
    }
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitor_page_shows_ninety_days() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin("admin@example.com").await;
    let org = app.store.first_org_id().await.unwrap().unwrap();
    let now = openseer_core::clock::system_now_ms();
    let m = app
        .store
        .create_monitor(org, &input("api", false).validate().unwrap(), now)
        .await
        .unwrap()
        .id;
    // 90 days of day rollups (one bad day 10 days ago), and hour and minute
    // rollups for the last 30 days, all at 100 ms.
    let today = Tier::Day.start_of(now);
    let mut rows = Vec::new();
    for d in 1..=90 {
        let bad = d == 10;
        rows.push(RollupRow {
            monitor_id: m,
            region: "eu".into(),
            tier: Tier::Day,
            bucket_start: today - d * DAY,
            agg: agg(
                if bad { 720 } else { 1440 },
                if bad { 720 } else { 0 },
                100.0,
            ),
        });
    }
    let this_hour = Tier::Hour.start_of(now);
    for h in 1..=(30 * 24) {
        rows.push(RollupRow {
            monitor_id: m,
            region: "eu".into(),
            tier: Tier::Hour,
            bucket_start: this_hour - h * HOUR,
            agg: agg(60, 0, 100.0),
        });
    }
    for k in 1..=(26 * 60) {
        rows.push(RollupRow {
            monitor_id: m,
            region: "eu".into(),
            tier: Tier::Minute,
            bucket_start: Tier::Minute.start_of(now) - k * MINUTE,
            agg: agg(1, 0, 100.0),
        });
    }
    for part in rows.chunks(2_000) {
        app.store.replace_rollups(part, &[]).await.unwrap();
    }
    // A down period two hours ago: three failed checks, then up again.
    let t0 = Tier::Minute.start_of(now) - 2 * HOUR;
    let result = |at: i64, outcome: Outcome| common::results::stored(m, "eu", at, outcome, 100.0);
    let results: Vec<StoredResult> = (0..3)
        .map(|i| result(t0 + i * 60_000, Outcome::Down))
        .chain([result(t0 + 180_000, Outcome::Up)])
        // An earlier outage with a pause in its checks (no worker for ten
        // minutes) but no success in between: one period, not two.
        .chain([-40, -39, -25].map(|min| result(t0 + min * 60_000, Outcome::Down)))
        .chain([result(t0 - 24 * 60_000, Outcome::Up)])
        .collect();
    app.store
        .insert_results(&results.iter().collect::<Vec<_>>())
        .await
        .unwrap();

    for range in ["1h", "24h", "7d", "30d", "90d"] {
        let (status, body) = admin.get(&format!("/monitors/{m}?range={range}")).await;
        assert_eq!(status, 200, "{range}");
        assert!(
            body.contains("aria-current=\"true\">") && body.contains(&format!(">{range}</a>")),
            "{range} is selected"
        );
        assert!(
            body.contains("class=\"p95\" d=\"M"),
            "{range}: a p95 line is drawn"
        );
        // The axis ends now, not at the end of a bucket still filling.
        let right = body
            .split(" UTC</text>")
            .nth(1)
            .and_then(|s| s.rsplit('>').next())
            .expect("the chart's right-hand time");
        let iso = openseer_web::time::iso(openseer_core::clock::system_now_ms());
        let now_label = format!("{} {}", &iso[..10], &iso[11..16]);
        assert!(
            right <= now_label.as_str(),
            "{range}: axis ends {right}, now is {now_label}"
        );
    }
    let (_, body) = admin
        .get(&format!("/monitors/{m}?range=90d&region=eu"))
        .await;
    // 89 good days and one half-down day: 99.44% over 90 days.
    assert!(
        body.contains("Uptime 90 d</span><strong>99.44%</strong>"),
        "90-day uptime"
    );
    assert!(
        body.contains("p95 <strong>100."),
        "percentiles over the range"
    );
    assert!(
        body.contains("50.0% up of 1440 checks"),
        "the bad day is in the daily bar"
    );
    assert_eq!(
        body.split("aria-label=\"Uptime by day, last 90 days\"")
            .nth(1)
            .unwrap()
            .split("</svg>")
            .next()
            .unwrap()
            .matches("<rect")
            .count(),
        91
    );
    assert!(body.contains("id=\"phases\""), "per-phase breakdown");
    let periods = body.split("id=\"down-periods\"").nth(1).unwrap();
    assert!(
        periods.contains("<td>eu</td>")
            && periods.contains("3 min")
            && periods.contains("<td>3</td>"),
        "the down period, its length and its failed checks"
    );
    let periods = periods.split("</table>").next().unwrap();
    assert_eq!(
        periods.matches("<tr><td>eu</td>").count(),
        2,
        "two periods: {periods}"
    );
    assert!(
        periods.contains("16 min"),
        "the paused outage is one period of 16 min: {periods}"
    );
    let (status, _) = admin
        .get(&format!("/monitors/{m}?range=2y&region=../x"))
        .await;
    assert_eq!(
        status, 200,
        "unknown ranges and regions fall back to the defaults"
    );
    let other = app.other_org_admin("other@example.com").await;
    assert_eq!(other.get(&format!("/monitors/{m}?range=90d")).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_the_password_needs_the_old_one_and_ends_other_sessions() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin("admin@example.com").await;
    let elsewhere = common::Browser::new(&app);
    assert_eq!(
        elsewhere.login("admin@example.com", common::PASSWORD).await,
        303
    );
    let (status, page) = admin.get("/settings/profile").await;
    assert_eq!(status, 200);
    let csrf = common::csrf_of(&page);
    let new = "a much better passphrase";
    let post = |current: &'static str, new: &'static str, confirm: &'static str| {
        let csrf = csrf.clone();
        let admin = &admin;
        async move {
            admin
                .post_form(
                    "/settings/password",
                    &[
                        ("_csrf", &csrf),
                        ("current_password", current),
                        ("new_password", new),
                        ("confirm_password", confirm),
                    ],
                )
                .await
        }
    };
    let (status, body) = post("wrong wrong wrong", new, new).await;
    assert_eq!(status, 422);
    assert!(body.contains("this is not your current password"));
    let (status, body) = post(common::PASSWORD, "short", "short").await;
    assert_eq!(status, 422);
    assert!(body.contains("12"), "{body}");
    let (status, body) = post(common::PASSWORD, new, "a much better passphrasE").await;
    assert_eq!(status, 422);
    assert!(body.contains("differ"));
    let (status, body) = post(common::PASSWORD, new, new).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Password changed"));
    // This browser stays signed in; the other session is over.
    assert_eq!(admin.get("/settings/profile").await.0, 200);
    assert_eq!(elsewhere.get("/").await.0, 303, "the other session ended");
    let fresh = common::Browser::new(&app);
    assert_eq!(
        fresh.login("admin@example.com", common::PASSWORD).await,
        401
    );
    assert_eq!(fresh.login("admin@example.com", new).await, 303);
    // The profile name.
    let csrf = common::csrf_of(&admin.get("/settings/profile").await.1);
    assert_eq!(
        admin
            .post_form("/settings/profile", &[("_csrf", &csrf), ("name", "  ")])
            .await
            .0,
        422
    );
    let (status, body) = admin
        .post_form(
            "/settings/profile",
            &[("_csrf", &csrf), ("name", "Ada Lovelace")],
        )
        .await;
    assert_eq!(
        (status, body.contains("value=\"Ada Lovelace\"")),
        (200, true)
    );
    assert_eq!(
        admin
            .post_form("/settings/profile", &[("name", "no csrf")])
            .await
            .0,
        403
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_this_request_runs_one_check_through_a_worker_and_stores_nothing() {
    let common::Checking {
        app,
        admin,
        worker: _worker,
        target,
    } = common::checking("eu").await;
    let csrf = common::csrf_of(&admin.get("/monitors/new").await.1);
    let form = |url: &str, regions: &str| {
        vec![
            ("_csrf".to_string(), csrf.clone()),
            ("name".into(), "probe".into()),
            ("url".into(), url.to_string()),
            ("method".into(), "GET".into()),
            ("interval_seconds".into(), "60".into()),
            ("timeout_ms".into(), "900".into()),
            ("expected_status".into(), "200-299".into()),
            ("regions".into(), regions.to_string()),
            ("assertions".into(), "body contains ok".into()),
        ]
    };
    let post = |f: Vec<(String, String)>| {
        let admin = &admin;
        async move {
            let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            admin.post_form("/monitors/test", &f).await
        }
    };
    let (status, body) = post(form(&target.url, "eu")).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("badge up")
            && body.contains("HTTP 200")
            && body.contains("from <code>eu</code>"),
        "{body}"
    );
    assert!(body.contains("✓ <code>body contains ok</code>"), "{body}");
    target.set_status(503);
    let (_, body) = post(form(&target.url, "eu")).await;
    assert!(
        body.contains("badge down") && body.contains("HTTP 503"),
        "{body}"
    );
    let (_, body) = post(form("ftp://nope", "eu")).await;
    assert!(
        body.contains("Not tested") && body.contains("<code>url</code>"),
        "{body}"
    );
    // Nobody serves region ap: no answer, and nothing is recorded.
    let (_, body) = post(form(&target.url, "ap")).await;
    assert!(
        body.contains("No answer") && body.contains("<code>ap</code>"),
        "{body}"
    );
    assert!(
        app.store
            .monitors(app.store.first_org_id().await.unwrap().unwrap())
            .await
            .unwrap()
            .is_empty(),
        "testing creates no monitor"
    );
    // No CSRF token, no test.
    assert_eq!(
        admin
            .post_form("/monitors/test", &[("url", &target.url)])
            .await
            .0,
        403
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_now_runs_an_extra_check_at_once() {
    let common::Checking {
        app: _app,
        admin,
        worker: _worker,
        target,
    } = common::checking("eu").await;
    let id = admin
        .create_monitor(&[
            ("name", "slow schedule"),
            ("url", &target.url),
            ("regions", "eu"),
            ("interval_seconds", "3600"),
            ("timeout_ms", "900"),
        ])
        .await;
    let before = admin.results(id).await.len();
    for round in 1..=2 {
        let csrf = common::csrf_of(&admin.get(&format!("/monitors/{id}")).await.1);
        let (status, _) = admin
            .post_form(&format!("/monitors/{id}/check"), &[("_csrf", &csrf)])
            .await;
        assert_eq!(status, 303);
        common::wait_for(
            std::time::Duration::from_secs(5),
            "the extra check's result",
            || async { (admin.results(id).await.len() >= before + round).then_some(()) },
        )
        .await;
    }
    // Two results within seconds from an hourly monitor: both were extra.
    let results = admin.results(id).await;
    assert!(results.iter().filter(|r| r["outcome"] == "up").count() >= 2);
}

/// A monitor's page opens on the last hour while the monitor is younger
/// than that (a day's chart of it would be one thin bucket), then on a day.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_monitors_page_opens_on_the_range_that_has_its_data() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin("admin@example.com").await;
    let now = openseer_core::clock::system_now_ms();
    let valid = input("fresh", false).validate().unwrap();
    let fresh = app.store.create_monitor(1, &valid, now).await.unwrap();
    let valid = input("older", false).validate().unwrap();
    let older = app
        .store
        .create_monitor(1, &valid, now - 2 * 3_600_000)
        .await
        .unwrap();
    for (id, range) in [(fresh.id, "1h"), (older.id, "24h")] {
        let (status, body) = admin.get(&format!("/monitors/{id}")).await;
        assert_eq!(status, 200);
        assert!(
            body.contains(&format!("aria-current=\"true\">{range}</a>")),
            "monitor {id} opens on {range}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_checks_page_back_to_the_first() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin("admin@example.com").await;
    let now = openseer_core::clock::system_now_ms();
    let valid = input("api", false).validate().unwrap();
    let m = app.store.create_monitor(1, &valid, now).await.unwrap().id;
    let t0 = now - 3_600_000;
    let results: Vec<StoredResult> = (0..60)
        .map(|i| common::results::stored(m, "eu", t0 + i * 30_000, Outcome::Up, 10.0))
        .collect();
    app.store
        .insert_results(&results.iter().collect::<Vec<_>>())
        .await
        .unwrap();
    let rows = |body: &str| body.matches("data-run=").count();
    let (_, newest) = admin.get(&format!("/monitors/{m}")).await;
    assert_eq!(rows(&newest), 50);
    assert!(newest.contains(&format!("sse-swap=\"r{m}\"")), "live rows");
    assert!(!newest.contains("← Newest"));
    let oldest_shown = t0 + 10 * 30_000;
    let older = format!("&amp;before={oldest_shown}#latest-checks");
    assert!(newest.contains(&older), "a link to older checks");
    let (status, page) = admin
        .get(&format!(
            "/monitors/{m}?range=1h&region=&before={oldest_shown}"
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(rows(&page), 10, "the ten before the first page");
    assert!(page.contains("← Newest") && !page.contains("Older checks"));
    assert!(
        !page.contains(&format!("sse-swap=\"r{m}\"")),
        "new checks are not put on top of an older page"
    );
    // The API pages the same way.
    let token = admin.api_token("read").await;
    let r: serde_json::Value = admin
        .http
        .get(app.url(&format!(
            "/api/v1/monitors/{m}/results?limit=5&before={oldest_shown}"
        )))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let at: Vec<i64> = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["scheduled_at_ms"].as_i64().unwrap())
        .collect();
    assert_eq!(
        at,
        (5..10).rev().map(|i| t0 + i * 30_000).collect::<Vec<_>>()
    );
}
