//! The checker against local fake endpoints, one case per behaviour.

use crate::support;

use std::time::{Duration, Instant};

use openseer_protocol::wire::Job;
use openseer_protocol::{ErrorKind, Outcome};
use openseer_worker::check::Checker;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use support::{job, ok_response, run, serve, text, Step};

/// A job with an optional keyword to look for.
fn job_kw(url: &str, keyword: Option<&str>, timeout_ms: u32) -> Job {
    let mut j = job(url, timeout_ms);
    j.check.keyword = keyword.map(str::to_string);
    j
}

async fn target(script: fn(&str) -> Vec<Step>) -> String {
    format!("http://{}/", serve("127.0.0.1:0", script).await)
}

#[tokio::test]
async fn a_2xx_answer_is_up_with_status_time_and_size() {
    let url = target(|_| ok_response("hello")).await;
    let r = run(&job_kw(&url, None, 2000)).await;
    assert_eq!(r.outcome, Outcome::Up);
    assert_eq!(r.status_code, Some(200));
    assert_eq!(r.body_bytes, 5);
    assert!(r.total_ms > 0.0 && r.error_kind.is_none());
}

#[tokio::test]
async fn a_status_outside_the_expected_set_is_down() {
    let url = target(|_| {
        vec![Step::Write(
            b"HTTP/1.1 503 Busy\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_vec(),
        )]
    })
    .await;
    let r = run(&job_kw(&url, None, 2000)).await;
    assert_eq!(
        (r.outcome, r.status_code, r.error_kind),
        (Outcome::Down, Some(503), Some(ErrorKind::StatusCode))
    );
    assert!(r.error_message.unwrap().contains("503"));
}

#[tokio::test]
async fn a_missing_keyword_is_down() {
    let url = target(|_| ok_response("maintenance")).await;
    let r = run(&job_kw(&url, Some("ok"), 2000)).await;
    assert_eq!(
        (r.outcome, r.error_kind),
        (Outcome::Down, Some(ErrorKind::KeywordMissing))
    );
    let r = run(&job_kw(&url, Some("maint"), 2000)).await;
    assert_eq!(r.outcome, Outcome::Up);
}

#[tokio::test]
async fn a_refused_connection_is_an_error_of_its_own_kind() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", l.local_addr().unwrap());
    drop(l);
    let r = run(&job_kw(&url, None, 2000)).await;
    assert_eq!(
        (r.outcome, r.error_kind),
        (Outcome::Error, Some(ErrorKind::ConnectionRefused)),
        "{:?}",
        r.error_message
    );
}

#[tokio::test]
async fn a_target_that_never_answers_times_out_on_time() {
    let url = target(|_| {
        vec![
            Step::Sleep(10_000),
            text("HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nlate"),
        ]
    })
    .await;
    let started = Instant::now();
    let r = run(&job_kw(&url, None, 300)).await;
    let took = started.elapsed();
    assert_eq!(
        (r.outcome, r.error_kind),
        (Outcome::Error, Some(ErrorKind::Timeout))
    );
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_millis(800),
        "{took:?}"
    );
}

#[tokio::test]
async fn every_check_opens_a_fresh_connection() {
    // The server answers with keep-alive; the checker must still reconnect.
    use std::sync::atomic::{AtomicUsize, Ordering};
    static ACCEPTS: AtomicUsize = AtomicUsize::new(0);
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", l.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            ACCEPTS.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut chunk = [0u8; 1024];
                while let Ok(n) = s.read(&mut chunk).await {
                    if n == 0
                        || s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                            .await
                            .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    let checker = Checker::new().unwrap();
    for _ in 0..3 {
        assert_eq!(
            checker
                .run(&job_kw(&url, None, 2000), openseer_worker::now_ms)
                .await
                .outcome,
            Outcome::Up
        );
    }
    assert_eq!(ACCEPTS.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn bodies_past_the_cap_are_counted_not_kept() {
    let url = target(|_| ok_response(&"x".repeat(3 * 1024 * 1024))).await;
    let mut j = job_kw(&url, Some("needle"), 5000);
    j.check.max_body_bytes = 1024;
    let r = run(&j).await;
    assert_eq!(r.body_bytes, 3 * 1024 * 1024);
    assert_eq!(r.error_kind, Some(ErrorKind::KeywordMissing));
    assert!(r.error_message.unwrap().contains("first 1024 bytes"));
}
