//! Timing precision, in a test binary of its own so no other test competes
//! for the CPU while it measures (test binaries run one after another).

use std::time::Duration;

use openseer_protocol::wire::Job;
use openseer_protocol::{CheckSpec, Outcome};
use openseer_worker::check::Checker;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[tokio::test]
async fn time_to_first_byte_is_the_servers_think_time() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\ndone")
                    .await;
            });
        }
    });
    let job = Job {
        run_id: "1.eu.0".into(),
        monitor_id: 1,
        region: "eu".into(),
        scheduled_at_ms: 0,
        lease_deadline_ms: 0,
        attempt: 1,
        check: CheckSpec {
            url: format!("http://{addr}/"),
            timeout_ms: 2000,
            ..CheckSpec::default()
        },
    };
    let r = Checker::new()
        .unwrap()
        .run(&job, openseer_worker::now_ms)
        .await;
    assert_eq!(r.outcome, Outcome::Up, "{:?}", r.error_message);
    let t = r.timings.expect("timings");
    assert_eq!(t.dns_ms, 0.0, "an IP literal needs no DNS");
    assert_eq!(t.tls_ms, 0.0);
    assert!(t.connect_ms > 0.0);
    assert!((t.ttfb_ms - 200.0).abs() <= 5.0, "ttfb {} ms", t.ttfb_ms);
    assert!(r.total_ms >= t.connect_ms + t.ttfb_ms);
}
