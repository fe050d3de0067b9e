//! `ops/bench.sh dashboard`: what a user waits for, measured at the HTTP
//! client on loopback (so "server time" includes a local round trip).
//!
//! (a) the overview of an organization with 10,000 monitors (each with a
//!     latest status and 24 hours of hourly rollups): p95;
//! (b) the monitor page of a monitor with 90 days of 10-second data: p95;
//! (c) from a worker's result being acknowledged to its event reaching a
//!     connected dashboard stream: p50 and p95.
//!
//! Runs on SQLite, the default backend. Usage: bench_dashboard [REQUESTS]

use std::time::{Duration, Instant};

use openseer_core::rollup::plan::{Tier, HOUR};
use openseer_core::rollup::{Aggregate, RawSample};
use openseer_node::auth::token;
use openseer_node::{Application, Settings};
use openseer_protocol::token::TokenKind;
use openseer_protocol::{MonitorInput, Outcome};
use openseer_store::{RollupRow, StoredResult};

mod bench_support;
use bench_support::{latency, now_ms, p95, result};

fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"_csrf\" value=\"").expect("a csrf field") + 20;
    html[at..].split('"').next().unwrap().to_string()
}

async fn timed_gets(http: &reqwest::Client, url: &str, n: usize) -> anyhow::Result<Vec<f64>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let r = http.get(url).send().await?;
        anyhow::ensure!(r.status() == 200, "{url}: {}", r.status());
        r.bytes().await?;
        out.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(out)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let dir = tempfile::tempdir()?;
    let app = Application::build(Settings::new(dir.path().to_path_buf(), "127.0.0.1:0")).await?;
    let base = app.base_url.clone();
    let setup = app.setup_url.clone().expect("a fresh instance");
    let store = app.store.clone();
    let handle = app.handle();
    let actors = app.actors.clone();
    let server = tokio::spawn(app.run_until_stopped());

    // Sign up through the pages, as a user would.
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let page = http.get(&setup).send().await?.text().await?;
    let tok = setup.split("token=").nth(1).unwrap().to_string();
    let r = http
        .post(format!("{base}/setup"))
        .form(&[
            ("_csrf", csrf_of(&page).as_str()),
            ("token", &tok),
            ("org_name", "Bench"),
            ("name", "B"),
            ("email", "b@example.com"),
            ("password", "correct horse battery staple"),
        ])
        .send()
        .await?;
    anyhow::ensure!(r.status() == 303, "setup: {}", r.status());
    let org = store.first_org_id().await?.expect("an organization");
    let now = now_ms();

    // (a) 10,000 monitors, each with a status and 24 hourly rollups.
    let t = Instant::now();
    let mut ids = Vec::with_capacity(10_000);
    for i in 0..10_000 {
        let input: MonitorInput = serde_json::from_value(serde_json::json!({
            "name": format!("service-{i:05}"), "url": format!("https://svc{i}.example.com/health"),
            "interval_seconds": 60, "regions": ["eu"], "enabled": false
        }))?;
        let v = input.validate().map_err(|e| anyhow::anyhow!("{e:?}"))?;
        ids.push(store.create_monitor(org, &v, now).await?.id);
    }
    let this_hour = Tier::Hour.start_of(now);
    let mut rows = Vec::new();
    let mut latest = Vec::new();
    for &id in &ids {
        latest.push(result(id, "eu", now - 30_000, latency(id as u64)));
        for h in 1..=24 {
            let mut a = Aggregate::default();
            for k in 0..60 {
                a.add(&RawSample {
                    monitor_id: id,
                    region: "eu".into(),
                    scheduled_at: 0,
                    outcome: Outcome::Up,
                    total_ms: Some(latency((id * 100 + h * 60 + k) as u64)),
                    phases: None,
                });
            }
            rows.push(RollupRow {
                monitor_id: id,
                region: "eu".into(),
                tier: Tier::Hour,
                bucket_start: this_hour - h * HOUR,
                agg: a,
            });
        }
    }
    for part in latest.chunks(2_000) {
        store
            .insert_results(&part.iter().collect::<Vec<&StoredResult>>())
            .await?;
    }
    for part in rows.chunks(5_000) {
        store.replace_rollups(part, &[]).await?;
    }
    eprintln!(
        "10,000 monitors with statuses and 240,000 hourly rollups in {:.0?}",
        t.elapsed()
    );
    let overview = timed_gets(&http, &format!("{base}/"), n).await?;
    println!("overview_10000_monitors_p95: {:.1} ms", p95(overview));
    let search = timed_gets(&http, &format!("{base}/?q=service-0999&sort=status"), n).await?;
    println!("overview_10000_monitors_search_p95: {:.1} ms", p95(search));

    // (b) one monitor with 90 days of 10-second data.
    let t = Instant::now();
    let m = ids[0];
    let raw = bench_support::ninety_days(&store, m, now).await?;
    openseer_node::actors::maintenance::run_once(
        &store,
        now,
        &openseer_node::actors::maintenance::Keep::default(),
    )
    .await?;
    eprintln!("90 days ({raw} results) rolled up in {:.0?}", t.elapsed());
    let page24 = timed_gets(&http, &format!("{base}/monitors/{m}"), n).await?;
    println!("monitor_page_90_days_24h_p95: {:.1} ms", p95(page24));
    let page90 = timed_gets(&http, &format!("{base}/monitors/{m}?range=90d"), n).await?;
    println!("monitor_page_90_days_90d_range_p95: {:.1} ms", p95(page90));

    // (c) acknowledgement to live event: a worker submits one result at a
    // time while a dashboard stream listens.
    let enroll = token::generate(TokenKind::Enrollment);
    store
        .create_enrollment_token(
            openseer_store::NewEnrollmentToken {
                org_id: org,
                name: "bench",
                token_hash: &token::hash(&enroll),
                expires_at: None,
                max_uses: None,
            },
            now,
        )
        .await?;
    let worker = reqwest::Client::new();
    let enrolled: openseer_protocol::wire::EnrollResponse = worker
        .post(format!("{base}/api/worker/v1/enroll"))
        .json(&openseer_protocol::wire::EnrollRequest {
            enrollment_token: enroll,
            name: "bench".into(),
            region: "eu".into(),
            capabilities: openseer_protocol::wire::Capabilities {
                version: "bench".into(),
                check_types: vec!["http".into()],
                concurrency: 1,
            },
        })
        .send()
        .await?
        .json()
        .await?;
    let live = ids[1];
    let stream = http.get(format!("{base}/events")).send().await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let want = format!("event: r{live}\n");
    tokio::spawn(async move {
        let mut stream = stream;
        let mut buf = String::new();
        while let Ok(Some(chunk)) = stream.chunk().await {
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(at) = buf.find(&want) {
                let _ = tx.send(Instant::now());
                buf.drain(..at + want.len());
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut delays = Vec::with_capacity(n);
    let mut from_send = Vec::with_capacity(n);
    for i in 0..n as i64 {
        let r = result(live, "eu", now + i * 60_000, 42.0).result;
        let sent = Instant::now();
        let resp = worker
            .post(format!("{base}/api/worker/v1/results"))
            .bearer_auth(&enrolled.api_token)
            .json(&openseer_protocol::wire::SubmitResultsRequest { results: vec![r] })
            .send()
            .await?;
        anyhow::ensure!(resp.status() == 200, "submit: {}", resp.status());
        let ack: openseer_protocol::wire::SubmitResultsResponse = resp.json().await?;
        let acked = Instant::now();
        anyhow::ensure!(ack.accepted.len() == 1, "{ack:?}");
        let seen = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await?
            .expect("the stream is open");
        // Signed: the event is published at commit, like the acknowledgement,
        // so it often arrives before the client has read the response.
        let ms = |a: Instant, b: Instant| {
            if a >= b {
                (a - b).as_secs_f64() * 1e3
            } else {
                -((b - a).as_secs_f64() * 1e3)
            }
        };
        delays.push(ms(seen, acked));
        from_send.push(ms(seen, sent));
    }
    let mut sorted = delays.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "live_event_after_ack_p50: {:.2} ms",
        sorted[sorted.len() / 2]
    );
    println!("live_event_after_ack_p95: {:.2} ms", p95(delays));
    println!("live_event_after_submit_sent_p95: {:.2} ms", p95(from_send));

    openseer_node::Application::shutdown(handle, &actors).await;
    server.await??;
    Ok(())
}
