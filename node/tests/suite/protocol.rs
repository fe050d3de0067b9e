//! The worker protocol, driven by hand like a third-party worker would.

use crate::common;

use std::time::Duration;

use common::{enroll_body, Browser, TestApp};
use openseer_protocol::wire::{EnrollResponse, GetJobsResponse, Job, SubmitResultsResponse};
use serde_json::json;

struct RawWorker {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl RawWorker {
    async fn enroll(app: &TestApp, enroll_token: &str, region: &str) -> RawWorker {
        let http = reqwest::Client::new();
        let r = http
            .post(app.url("/api/worker/v1/enroll"))
            .json(&enroll_body(enroll_token, region))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let e: EnrollResponse = r.json().await.unwrap();
        assert!(e.api_token.starts_with("ostk_"));
        RawWorker {
            http,
            base: app.base.clone(),
            token: e.api_token,
        }
    }

    async fn post(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn jobs(&self, wait_ms: u32) -> Vec<Job> {
        let r = self
            .post(
                "/api/worker/v1/jobs",
                json!({"max_jobs": 10, "wait_ms": wait_ms}),
            )
            .await;
        assert_eq!(r.status(), 200);
        r.json::<GetJobsResponse>().await.unwrap().jobs
    }

    async fn submit(&self, results: serde_json::Value) -> SubmitResultsResponse {
        let r = self
            .post("/api/worker/v1/results", json!({ "results": results }))
            .await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }
}

fn result_for(job: &Job) -> serde_json::Value {
    json!({"run_id": job.run_id, "monitor_id": job.monitor_id, "region": job.region,
           "scheduled_at_ms": job.scheduled_at_ms, "started_at_ms": job.scheduled_at_ms + 1,
           "outcome": "up", "status_code": 200, "total_ms": 12.5, "body_bytes": 10})
}

async fn api_monitor(admin: &Browser, body: serde_json::Value) -> i64 {
    let csrf = admin.csrf().await;
    let r = admin
        .http
        .post(format!("{}/api/v1/monitors", admin.base))
        .header("X-CSRF-Token", csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_malformed_and_revoked_enrollment_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin("admin@example.com").await;
    let http = reqwest::Client::new();
    let enroll = |t: String| {
        let http = http.clone();
        let url = app.url("/api/worker/v1/enroll");
        async move {
            let r = http
                .post(url)
                .json(&enroll_body(&t, "eu"))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (s, body) = enroll(format!("ostc_{}", "0".repeat(64))).await;
    assert_eq!(s, 401, "{body}");
    assert!(body.contains("\"unauthorized\""));
    assert_eq!(enroll("ostc_short".into()).await.0, 401);
    assert_eq!(enroll(format!("ostk_{}", "a".repeat(64))).await.0, 401);

    let token = app.enrollment_token(&admin).await;
    let (_, page) = admin.get("/workers").await;
    let csrf = common::csrf_of(&page);
    let id = app.store.enrollment_tokens(1).await.unwrap()[0].id;
    assert_eq!(
        admin
            .post_form(
                &format!("/workers/enrollment-tokens/{id}/revoke"),
                &[("_csrf", &csrf)]
            )
            .await
            .0,
        303
    );
    let (s, _) = enroll(token).await;
    assert_eq!(s, 401, "a revoked enrollment token still enrolls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_and_user_credentials_do_not_cross() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin("admin@example.com").await;
    let worker = RawWorker::enroll(&app, &app.enrollment_token(&admin).await, "eu").await;

    // A worker token on user routes: nothing.
    for path in ["/api/v1/monitors", "/api/v1/monitors/1"] {
        let r = worker
            .http
            .get(app.url(path))
            .bearer_auth(&worker.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path}");
    }
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url("/workers"))
        .bearer_auth(&worker.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "dashboard pages want a session");

    // A user session on worker routes: nothing.
    let csrf = admin.csrf().await;
    for path in [
        "/api/worker/v1/jobs",
        "/api/worker/v1/results",
        "/api/worker/v1/leases/renew",
    ] {
        let r = admin
            .http
            .post(app.url(path))
            .header("X-CSRF-Token", &csrf)
            .json(&json!({"max_jobs": 1, "wait_ms": 0, "results": [], "run_ids": []}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path}");
    }
    // A user API token on worker routes: nothing either.
    let user_token = admin.api_token("write").await;
    let r = reqwest::Client::new()
        .post(app.url("/api/worker/v1/jobs"))
        .bearer_auth(&user_token)
        .json(&json!({"max_jobs": 1, "wait_ms": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // A revoked worker is refused at once.
    let csrf = admin.csrf().await;
    assert_eq!(
        admin
            .post_form("/workers/1/revoke", &[("_csrf", &csrf)])
            .await
            .0,
        303
    );
    let r = worker
        .post("/api/worker/v1/jobs", json!({"max_jobs": 1, "wait_ms": 0}))
        .await;
    assert_eq!(r.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submitting_the_same_results_twice_stores_each_once() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin("admin@example.com").await;
    let worker = RawWorker::enroll(&app, &app.enrollment_token(&admin).await, "eu").await;
    let id = api_monitor(&admin, json!({"name": "dup", "url": "http://127.0.0.1:9/", "interval_seconds": 1, "timeout_ms": 500, "regions": ["eu"]})).await;
    let jobs = worker.jobs(5_000).await;
    assert!(!jobs.is_empty());
    let results: Vec<serde_json::Value> = jobs.iter().map(result_for).collect();
    let batch = serde_json::Value::Array(results.clone());
    let first = worker.submit(batch.clone()).await;
    assert_eq!(first.accepted.len(), jobs.len());
    assert!(first.rejected.is_empty());
    // The same batch again (an ack that got lost), and a batch with a duplicate inside.
    let again = worker.submit(batch).await;
    assert_eq!(
        again.accepted.len(),
        jobs.len(),
        "a retry is acknowledged, not refused"
    );
    let doubled = worker.submit(json!([results[0], results[0]])).await;
    assert!(doubled.rejected.is_empty());
    assert_eq!(
        app.store.count_results(id).await.unwrap(),
        jobs.len() as i64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lease_is_handed_out_once_more_then_recorded_missed() {
    let app = TestApp::spawn_with(|s| s.lease.grace_ms = 300).await;
    let admin = app.setup_admin("admin@example.com").await;
    let token = app.enrollment_token(&admin).await;
    let a = RawWorker::enroll(&app, &token, "eu").await;
    let b = RawWorker::enroll(&app, &token, "eu").await;
    let id = api_monitor(&admin, json!({"name": "lease", "url": "http://127.0.0.1:9/", "interval_seconds": 3, "timeout_ms": 200, "regions": ["eu"]})).await;

    let first = a.jobs(10_000).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].attempt, 1);
    // A holds it and says nothing; after the lease (200 ms + 300 ms) B gets it.
    let second = b.jobs(2_000).await;
    assert_eq!(second.len(), 1, "the expired job was not handed out again");
    assert_eq!(
        (second[0].run_id.as_str(), second[0].attempt),
        (first[0].run_id.as_str(), 2)
    );
    // A's late result is refused: B holds the lease now.
    let late = a.submit(json!([result_for(&first[0])])).await;
    assert_eq!(late.rejected.len(), 1);
    assert_eq!(
        late.rejected[0].code,
        openseer_protocol::ErrorCode::LeaseLost
    );
    // B also goes quiet: recorded missed, and not handed out a third time.
    let run_id = first[0].run_id.clone();
    let missed = common::wait_for(Duration::from_secs(3), "the missed record", || async {
        admin
            .results(id)
            .await
            .into_iter()
            .find(|r| r["run_id"] == run_id.as_str())
    })
    .await;
    assert_eq!(missed["outcome"], "missed");
    assert_eq!(missed["error_kind"], "lease_expired");
    let more = a.jobs(0).await;
    assert!(
        more.iter().all(|j| j.run_id != run_id),
        "handed out a third time"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_cannot_report_for_another_organizations_monitor() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin("admin@example.com").await;
    let id = api_monitor(&admin, json!({"name": "a", "url": "http://127.0.0.1:9/", "interval_seconds": 60, "regions": ["eu"]})).await;
    let other = app.other_org_admin("b@example.com").await;
    let token = app.enrollment_token(&other).await;
    let intruder = RawWorker::enroll(&app, &token, "eu").await;
    let forged = json!([{"run_id": format!("{id}.eu.1000"), "monitor_id": id, "region": "eu", "scheduled_at_ms": 1000,
        "started_at_ms": 1000, "outcome": "down", "total_ms": 1.0, "body_bytes": 0}]);
    let r = intruder.submit(forged).await;
    assert!(r.accepted.is_empty());
    assert_eq!(r.rejected[0].code, openseer_protocol::ErrorCode::NotFound);
    // And its jobs never include the other organization's monitors.
    assert!(intruder.jobs(0).await.is_empty());
    assert_eq!(app.store.count_results(id).await.unwrap(), 0);
}

/// A worker's long-poll waits up to 30 s for jobs. A node asked to stop
/// answers it at once (no jobs) instead of letting it hold the graceful
/// stop up until its 10 s limit; the worker then polls elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_node_answers_waiting_long_polls_at_once() {
    let mut app = TestApp::spawn().await;
    let admin = app.setup_admin("admin@example.com").await;
    let token = app.enrollment_token(&admin).await;
    let w = RawWorker::enroll(&app, &token, "nowhere").await;
    let mut poll = tokio::spawn(async move {
        let r = w
            .post(
                "/api/worker/v1/jobs",
                json!({"max_jobs": 5, "wait_ms": 30_000}),
            )
            .await;
        (
            r.status().as_u16(),
            r.json::<GetJobsResponse>().await.map(|b| b.jobs.len()),
        )
    });
    // Still waiting half a second on: region "nowhere" has no monitors.
    assert!(
        tokio::time::timeout(Duration::from_millis(500), &mut poll)
            .await
            .is_err(),
        "the poll waits"
    );
    let started = std::time::Instant::now();
    app.stop().await;
    let (status, jobs) = poll.await.unwrap();
    assert_eq!((status, jobs.ok()), (200, Some(0)), "answered, empty");
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "the stop waited {took:?} for the poll"
    );
}

/// Monitors in a region nobody serves get a `missed` row each tick; one of
/// them deleted while its row waits in Ingest's buffer once failed every
/// later batch on the foreign key, for every worker of every organization.
async fn deleted_monitors_never_block_ingest(app: TestApp) {
    let admin = app.setup_admin("admin@example.com").await;
    let worker = RawWorker::enroll(&app, &app.enrollment_token(&admin).await, "eu").await;
    let target = common::Target::start().await;
    let served = admin
        .create_monitor(&[("name", "served"), ("url", &target.url), ("regions", "eu")])
        .await;
    let mut nobodys = Vec::new();
    for i in 0..10 {
        nobodys.push(
            admin
                .create_monitor(&[
                    ("name", &format!("nobody {i}")),
                    ("url", &target.url),
                    ("regions", "nowhere"),
                ])
                .await,
        );
    }
    let first = nobodys[0];
    let store = app.store.clone();
    common::wait_for(Duration::from_secs(10), "missed rows", || {
        let store = store.clone();
        async move { (store.count_results(first).await.unwrap() > 0).then_some(()) }
    })
    .await;
    let csrf = admin.csrf().await;
    for id in &nobodys {
        let (s, _) = admin
            .post_form(&format!("/monitors/{id}/delete"), &[("_csrf", &csrf)])
            .await;
        assert_eq!(s, 303);
    }
    // What Ingest's buffer held at the moment of the deletes: missed
    // placeholders of monitors that are gone now.
    let now = openseer_core::clock::system_now_ms();
    let missed: Vec<_> = nobodys
        .iter()
        .map(|&id| {
            let mut r = common::results::stored(
                id,
                "nowhere",
                now,
                openseer_protocol::Outcome::Missed,
                0.0,
            );
            r.result.started_at_ms = now;
            (r, 1)
        })
        .collect();
    app.actors.record(missed);

    // The served monitor's results keep being acknowledged and stored.
    let mut stored = 0;
    for _ in 0..3 {
        let jobs: Vec<Job> = common::wait_for(Duration::from_secs(10), "a job", || {
            let w = &worker;
            async move {
                let jobs: Vec<Job> = w
                    .jobs(2_000)
                    .await
                    .into_iter()
                    .filter(|j| j.monitor_id == served)
                    .collect();
                (!jobs.is_empty()).then_some(jobs)
            }
        })
        .await;
        let results: Vec<serde_json::Value> = jobs.iter().map(result_for).collect();
        let answer = worker.submit(json!(results)).await;
        assert!(answer.rejected.is_empty(), "{:?}", answer.rejected);
        assert_eq!(answer.accepted.len(), jobs.len());
        stored += jobs.len() as i64;
        assert!(app.store.count_results(served).await.unwrap() >= stored);
    }
    // A result of a deleted monitor is answered for good, not retried.
    let gone = nobodys[1];
    let run_id = openseer_protocol::wire::run_id(gone, "eu", now);
    let answer = worker
        .submit(
            json!([{"run_id": run_id, "monitor_id": gone, "region": "eu",
            "scheduled_at_ms": now, "started_at_ms": now + 1, "outcome": "up",
            "status_code": 200, "total_ms": 1.0, "body_bytes": 1}]),
        )
        .await;
    assert_eq!(answer.rejected.len(), 1, "{answer:?}");
    for id in &nobodys {
        assert_eq!(app.store.count_results(*id).await.unwrap(), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_monitors_never_block_ingest_on_sqlite() {
    deleted_monitors_never_block_ingest(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_monitors_never_block_ingest_on_postgres() {
    let Some(db) = common::db::TestDb::postgres().await else {
        return;
    };
    let url = db.url.clone();
    deleted_monitors_never_block_ingest(TestApp::spawn_with(|s| s.database_url = url).await).await;
}

/// A result no lease stands for is stored only if it could be one of the
/// monitor's checks: on its grid, not in the future, in its region. A
/// result scheduled 50 years ahead once pinned a monitor at "up" for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_nobody_leased_must_fit_the_monitors_schedule() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin("admin@example.com").await;
    let token = app.enrollment_token(&admin).await;
    let eu = RawWorker::enroll(&app, &token, "eu").await;
    let us = RawWorker::enroll(&app, &token, "us").await;
    let id = api_monitor(
        &admin,
        json!({"name": "m", "url": "http://127.0.0.1:9/", "interval_seconds": 60, "regions": ["eu"]}),
    )
    .await;
    let interval = 60_000;
    let phase = openseer_core::schedule::phase_ms(id, interval);
    let now = openseer_core::clock::system_now_ms();
    let on_grid = |k: i64| phase + k * interval;
    let past = on_grid((now - phase) / interval - 2);
    let result = |region: &str, at: i64| {
        json!({"run_id": openseer_protocol::wire::run_id(id, region, at), "monitor_id": id,
               "region": region, "scheduled_at_ms": at, "started_at_ms": at + 1,
               "outcome": "up", "status_code": 200, "total_ms": 3.0, "body_bytes": 1})
    };
    let refused = |answer: &SubmitResultsResponse, why: &str| {
        assert!(answer.accepted.is_empty(), "{why}: {answer:?}");
        assert_eq!(answer.rejected.len(), 1, "{why}: {answer:?}");
    };
    let fifty_years = on_grid((now + 50 * 365 * 86_400_000 - phase) / interval);
    refused(
        &eu.submit(json!([result("eu", fifty_years)])).await,
        "50 years ahead",
    );
    let next = on_grid((now - phase) / interval + 2);
    refused(
        &eu.submit(json!([result("eu", next)])).await,
        "a coming tick",
    );
    refused(
        &eu.submit(json!([result("eu", past + 1)])).await,
        "off the grid",
    );
    refused(
        &us.submit(json!([result("us", past)])).await,
        "not a region of the monitor",
    );
    // A past tick of the monitor, as a worker's outbox delivers it after the
    // node that leased it restarted: kept.
    let kept = eu.submit(json!([result("eu", past)])).await;
    assert_eq!(kept.accepted.len(), 1, "{kept:?}");
    assert_eq!(app.store.count_results(id).await.unwrap(), 1);
    let statuses = app.store.monitor_statuses(1, id).await.unwrap();
    assert!(
        statuses.iter().all(|s| s.scheduled_at <= now),
        "{statuses:?}"
    );
}

/// Numbers a worker reports must be in range; texts and lists are cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workers_numbers_are_checked_and_its_texts_cut() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin("admin@example.com").await;
    let eu = RawWorker::enroll(&app, &app.enrollment_token(&admin).await, "eu").await;
    let id = api_monitor(
        &admin,
        json!({"name": "m", "url": "http://127.0.0.1:9/", "interval_seconds": 60, "regions": ["eu"]}),
    )
    .await;
    let phase = openseer_core::schedule::phase_ms(id, 60_000);
    let now = openseer_core::clock::system_now_ms();
    let tick = |back: i64| phase + ((now - phase) / 60_000 - back) * 60_000;
    let result = |at: i64, extra: serde_json::Value| {
        let mut r = json!({"run_id": openseer_protocol::wire::run_id(id, "eu", at), "monitor_id": id,
               "region": "eu", "scheduled_at_ms": at, "started_at_ms": at + 1,
               "outcome": "up", "status_code": 200, "total_ms": 3.0, "body_bytes": 1});
        for (k, v) in extra.as_object().unwrap() {
            r[k] = v.clone();
        }
        r
    };
    for (back, bad) in [
        (2, json!({"total_ms": 1e308})),
        (3, json!({"total_ms": -4.0})),
        (4, json!({"status_code": 65535})),
        (5, json!({"body_bytes": u64::MAX})),
        (
            6,
            json!({"timings": {"dns_ms": 0.0, "connect_ms": 0.0, "tls_ms": 0.0, "ttfb_ms": -1.0, "transfer_ms": 0.0}}),
        ),
    ] {
        let answer = eu.submit(json!([result(tick(back), bad.clone())])).await;
        assert_eq!(answer.rejected.len(), 1, "{bad}: {answer:?}");
    }
    let huge = "x".repeat(2 << 20);
    let answer = eu
        .submit(json!([result(
            tick(7),
            json!({
                "redirects": vec!["http://127.0.0.1/r"; 2_000],
                "assertions": [{"assertion": "status == 200", "passed": true, "detail": huge}],
                "tls": {"version": "TLSv1.3", "subject": "x".repeat(1 << 20)}
            })
        )]))
        .await;
    assert_eq!(answer.accepted.len(), 1, "{answer:?}");
    let rows = app.store.recent_results(1, id, None, 10).await.unwrap();
    assert_eq!(rows.len(), 1, "only the sane result is stored");
    let d = &rows[0].details;
    assert!(d.redirects.len() <= 32);
    assert!(d.assertions[0].detail.as_ref().unwrap().len() <= 512);
    assert!(d.tls.as_ref().unwrap().subject.as_ref().unwrap().len() <= 512);
}

/// A worker that comes back after going quiet is drawn up by the page its
/// live event makes reload: its new last-seen time is written before the
/// event goes out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_comes_back_is_shown_up_at_its_event() {
    let clock = std::sync::Arc::new(common::TestClock::default());
    let app = TestApp::spawn_with_clock(clock.clone()).await;
    let admin = app.setup_admin("admin@example.com").await;
    let worker = RawWorker::enroll(&app, &app.enrollment_token(&admin).await, "eu").await;
    worker.jobs(0).await;
    let mut events = admin.http.get(app.url("/events")).send().await.unwrap();
    // Quiet past the staleness line: the page says down.
    clock.advance(61_000);
    next_workers_event(&mut events).await;
    let (_, page) = admin.get("/workers").await;
    assert!(page.contains("badge down"), "gone quiet");
    // Back: at its event, the page already says up.
    worker.jobs(0).await;
    next_workers_event(&mut events).await;
    let (_, page) = admin.get("/workers").await;
    let row = page
        .split("<table class=\"stack-sm\" id=\"workers\"")
        .nth(1)
        .unwrap();
    assert!(
        row.contains("badge up") && !row.contains("badge down"),
        "{row}"
    );
}

async fn next_workers_event(events: &mut reqwest::Response) {
    let mut seen = String::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while !seen.contains("event: workers") {
            let chunk = events.chunk().await.unwrap().expect("stream stays open");
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no workers event; got {seen}"));
}
