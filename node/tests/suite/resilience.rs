//! A worker never loses a result it checked: not when the control plane is
//! down, not when the worker itself is killed, and nothing is stored twice.

use crate::common;

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{wait_for, Target, TestApp};
use tokio::sync::watch;

/// A worker on a runtime of its own, so it can be killed like a process:
/// dropping the runtime stops every task at once, with no chance to flush.
struct IsolatedWorker {
    rt: Option<tokio::runtime::Runtime>,
    _stop: watch::Sender<bool>,
}

impl IsolatedWorker {
    fn start(base: &str, token: &str, state: &std::path::Path) -> IsolatedWorker {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let mut config =
            openseer_worker::WorkerConfig::new(vec![base.to_string()], "eu", state.to_path_buf());
        config.enroll_token = Some(token.to_string());
        config.poll_wait = Duration::from_secs(2);
        let (tx, rx) = watch::channel(false);
        rt.spawn(openseer_worker::run(config, rx));
        IsolatedWorker {
            rt: Some(rt),
            _stop: tx,
        }
    }

    fn kill(mut self) {
        self.rt.take().unwrap().shutdown_background();
    }
}

impl Drop for IsolatedWorker {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_survive_a_control_plane_outage_and_a_killed_worker() {
    let mut app = TestApp::spawn().await;
    let admin = app.setup_admin("admin@example.com").await;
    let token = app.enrollment_token(&admin).await;
    let target = Target::start().await;
    // Each check takes 600 ms, so some are always in flight.
    target.delay_ms.store(600, Ordering::SeqCst);
    let id = admin
        .create_monitor(&[
            ("name", "r"),
            ("url", &target.url),
            ("regions", "eu"),
            ("timeout_ms", "900"),
        ])
        .await;
    let state = tempfile::tempdir().unwrap();
    let worker = IsolatedWorker::start(&app.base, &token, state.path());
    wait_for(Duration::from_secs(6), "first results", || async {
        (admin.results(id).await.len() >= 2).then_some(())
    })
    .await;

    // The control plane goes away while checks run: their results cannot be delivered...
    wait_for(Duration::from_secs(3), "a check in flight", || async {
        let stored = app.store.count_results(id).await.unwrap() as u64;
        (target.hits.load(Ordering::SeqCst) > stored).then_some(())
    })
    .await;
    app.stop().await;
    // The outage the issue names: a full minute without a control plane.
    tokio::time::sleep(Duration::from_secs(60)).await;
    // ...and then the worker is killed, outbox and all, without a chance to flush.
    worker.kill();
    // The results that were checked but never acknowledged, as kept on disk.
    let mut kept: Vec<String> = Vec::new();
    for f in std::fs::read_dir(state.path().join("outbox")).unwrap() {
        let batch: Vec<serde_json::Value> =
            serde_json::from_slice(&std::fs::read(f.unwrap().path()).unwrap()).unwrap();
        kept.extend(
            batch
                .iter()
                .map(|r| r["run_id"].as_str().unwrap().to_string()),
        );
    }
    assert!(!kept.is_empty(), "undelivered results were not on disk");
    // Both come back: every kept result is delivered and stored once.
    app.start_again().await;
    for run_id in &kept {
        assert!(
            !admin_results_contain(&app, id, run_id).await,
            "{run_id} was stored before the outage, so this test proves nothing"
        );
    }

    let worker = IsolatedWorker::start(&app.base, &token, state.path());
    for run_id in &kept {
        wait_for(Duration::from_secs(10), "a kept result", || async {
            admin_results_contain(&app, id, run_id).await.then_some(())
        })
        .await;
    }
    worker.kill();
    let results = admin.results(id).await;
    let ids: HashSet<&str> = results
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), results.len(), "a run was stored twice");
    assert_eq!(
        app.store.workers(1).await.unwrap().len(),
        1,
        "the restarted worker enrolled again"
    );
}

async fn admin_results_contain(app: &TestApp, monitor_id: i64, run_id: &str) -> bool {
    app.store
        .recent_results(1, monitor_id, None, 10_000)
        .await
        .unwrap()
        .iter()
        .any(|r| r.run_id == run_id && r.outcome != openseer_protocol::Outcome::Missed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_fails_over_to_the_next_server() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin("admin@example.com").await;
    let token = app.enrollment_token(&admin).await;
    let target = Target::start().await;
    let id = admin
        .create_monitor(&[("name", "f"), ("url", &target.url), ("regions", "eu")])
        .await;
    // The first server is a closed port.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let state = tempfile::tempdir().unwrap();
    let mut config = openseer_worker::WorkerConfig::new(
        vec![dead_url, app.base.clone()],
        "eu",
        state.path().to_path_buf(),
    );
    config.enroll_token = Some(token);
    config.poll_wait = Duration::from_secs(2);
    let (tx, rx) = watch::channel(false);
    let task = tokio::spawn(openseer_worker::run(config, rx));
    wait_for(
        Duration::from_secs(6),
        "results through the second server",
        || async { (admin.results(id).await.len() >= 2).then_some(()) },
    )
    .await;
    tx.send(true).unwrap();
    task.await.unwrap().unwrap();
}
