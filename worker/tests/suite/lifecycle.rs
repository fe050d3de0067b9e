//! The worker's run loop as a process embedding it sees it: it stops when
//! asked, and also when whoever could ask is gone.

use std::time::Duration;

use openseer_worker::state::{save_identity, Identity};
use openseer_worker::WorkerConfig;

/// A port nothing listens on: every poll fails with a refused connection.
fn dead_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// Dropping the stop sender (a panicking embedder drops it) must end the
/// worker. It used to spin on `changed()` without ever yielding, which
/// starved its runtime: the cluster tests' own timeouts could not fire.
/// The worker runs on a runtime of its own in a thread, so a spin fails this
/// test by timeout instead of hanging it.
#[test]
fn a_dropped_stop_sender_stops_the_worker() {
    let dir = tempfile::tempdir().unwrap();
    save_identity(
        dir.path(),
        &Identity {
            worker_id: 1,
            api_token: "oswt_test".into(),
            region: "eu".into(),
        },
    )
    .unwrap();
    let mut config = WorkerConfig::new(vec![dead_server()], "eu", dir.path().to_path_buf());
    config.poll_wait = Duration::from_millis(100);
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let result = rt.block_on(async move {
            let (tx, rx) = tokio::sync::watch::channel(false);
            let task = tokio::spawn(openseer_worker::run(config, rx));
            // Let it fail a few polls first, then go away without a word.
            tokio::time::sleep(Duration::from_millis(400)).await;
            drop(tx);
            task.await
        });
        let _ = done_tx.send(result.map(|r| r.is_ok()));
    });
    let finished = done_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the worker is still running 20 s after its stop sender was dropped");
    assert_eq!(finished.ok(), Some(true), "the worker stopped cleanly");
}
