//! Local targets for the checker tests: a scripted HTTP server that answers
//! each request with writes and pauses, and a job around a URL.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use openseer_protocol::wire::Job;
use openseer_protocol::{CheckResult, CheckSpec};
use openseer_worker::check::Checker;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

pub enum Step {
    Write(Vec<u8>),
    Sleep(u64),
}

pub fn text(s: &str) -> Step {
    Step::Write(s.as_bytes().to_vec())
}

pub fn ok_response(body: &str) -> Vec<Step> {
    vec![text(&format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    ))]
}

async fn read_head<S: AsyncRead + Unpin>(s: &mut S) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

pub async fn play<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, script: fn(&str) -> Vec<Step>) {
    let Some(head) = read_head(&mut s).await else {
        return;
    };
    for step in script(&head) {
        match step {
            Step::Write(b) => {
                if s.write_all(&b).await.is_err() {
                    return;
                }
                let _ = s.flush().await;
            }
            Step::Sleep(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
        }
    }
    let _ = s.shutdown().await;
}

/// A plain HTTP target on `bind` that answers each request with `script(head)`.
pub async fn serve(bind: &str, script: fn(&str) -> Vec<Step>) -> SocketAddr {
    let l = TcpListener::bind(bind).await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(play(s, script));
        }
    });
    addr
}

pub fn job(url: &str, timeout_ms: u32) -> Job {
    Job {
        run_id: "1.eu.0".into(),
        monitor_id: 1,
        region: "eu".into(),
        scheduled_at_ms: 0,
        lease_deadline_ms: 0,
        attempt: 1,
        check: CheckSpec {
            url: url.into(),
            timeout_ms,
            ..CheckSpec::default()
        },
    }
}

pub async fn run(j: &Job) -> CheckResult {
    Checker::new()
        .unwrap()
        .run(j, openseer_worker::now_ms)
        .await
}
