//! The checker against local fake endpoints, one case per behaviour.

use std::time::{Duration, Instant};

use openseer_protocol::monitor::DEFAULT_MAX_BODY_BYTES;
use openseer_protocol::wire::Job;
use openseer_protocol::{CheckSpec, ErrorKind, Outcome, StatusRanges};
use openseer_worker::check::Checker;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Serves every connection with `respond(request_head) -> (delay, raw response)`.
async fn serve(respond: fn(&str) -> (u64, Vec<u8>)) -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let (delay, resp) = respond(&String::from_utf8_lossy(&buf));
                tokio::time::sleep(Duration::from_millis(delay)).await;
                let _ = s.write_all(&resp).await;
            });
        }
    });
    format!("http://{addr}/")
}

fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn job(url: &str, keyword: Option<&str>, timeout_ms: u32) -> Job {
    Job {
        run_id: "1.eu.0".into(),
        monitor_id: 1,
        region: "eu".into(),
        scheduled_at_ms: 0,
        lease_deadline_ms: 0,
        attempt: 1,
        check: CheckSpec {
            url: url.into(),
            method: "GET".into(),
            headers: vec![],
            body: None,
            timeout_ms,
            expected_status: StatusRanges(vec![(200, 399)]),
            keyword: keyword.map(str::to_string),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            ..CheckSpec::default()
        },
    }
}

async fn check(j: &Job) -> openseer_protocol::CheckResult {
    Checker::new()
        .unwrap()
        .run(j, openseer_worker::now_ms)
        .await
}

#[tokio::test]
async fn a_2xx_answer_is_up_with_status_time_and_size() {
    let url = serve(|_| (0, ok("hello"))).await;
    let r = check(&job(&url, None, 2000)).await;
    assert_eq!(r.outcome, Outcome::Up);
    assert_eq!(r.status_code, Some(200));
    assert_eq!(r.body_bytes, 5);
    assert!(r.total_ms > 0.0 && r.error_kind.is_none());
}

#[tokio::test]
async fn a_status_outside_the_expected_set_is_down() {
    let url = serve(|_| {
        (
            0,
            b"HTTP/1.1 503 Busy\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_vec(),
        )
    })
    .await;
    let r = check(&job(&url, None, 2000)).await;
    assert_eq!(
        (r.outcome, r.status_code, r.error_kind),
        (Outcome::Down, Some(503), Some(ErrorKind::StatusCode))
    );
    assert!(r.error_message.unwrap().contains("503"));
}

#[tokio::test]
async fn a_missing_keyword_is_down() {
    let url = serve(|_| (0, ok("maintenance"))).await;
    let r = check(&job(&url, Some("ok"), 2000)).await;
    assert_eq!(
        (r.outcome, r.error_kind),
        (Outcome::Down, Some(ErrorKind::KeywordMissing))
    );
    let r = check(&job(&url, Some("maint"), 2000)).await;
    assert_eq!(r.outcome, Outcome::Up);
}

#[tokio::test]
async fn a_refused_connection_is_an_error_of_its_own_kind() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", l.local_addr().unwrap());
    drop(l);
    let r = check(&job(&url, None, 2000)).await;
    assert_eq!(
        (r.outcome, r.error_kind),
        (Outcome::Error, Some(ErrorKind::ConnectionRefused)),
        "{:?}",
        r.error_message
    );
}

#[tokio::test]
async fn a_target_that_never_answers_times_out_on_time() {
    let url = serve(|_| (10_000, ok("late"))).await;
    let started = Instant::now();
    let r = check(&job(&url, None, 300)).await;
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
                .run(&job(&url, None, 2000), openseer_worker::now_ms)
                .await
                .outcome,
            Outcome::Up
        );
    }
    assert_eq!(ACCEPTS.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn bodies_past_the_cap_are_counted_not_kept() {
    let url = serve(|_| (0, ok(&"x".repeat(3 * 1024 * 1024)))).await;
    let mut j = job(&url, Some("needle"), 5000);
    j.check.max_body_bytes = 1024;
    let r = check(&j).await;
    assert_eq!(r.body_bytes, 3 * 1024 * 1024);
    assert_eq!(r.error_kind, Some(ErrorKind::KeywordMissing));
    assert!(r.error_message.unwrap().contains("first 1024 bytes"));
}
