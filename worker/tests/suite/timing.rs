//! Timing precision, in a test binary of its own so no other test competes
//! for the CPU while it measures (test binaries run one after another).

use crate::support;

use openseer_protocol::Outcome;

use support::{job, ok_response, run, serve, Step};

#[tokio::test]
async fn time_to_first_byte_is_the_servers_think_time() {
    let addr = serve("127.0.0.1:0", |_| {
        let mut s = vec![Step::Sleep(200)];
        s.extend(ok_response("done"));
        s
    })
    .await;
    let job = job(&format!("http://{addr}/"), 2000);
    let r = run(&job).await;
    assert_eq!(r.outcome, Outcome::Up, "{:?}", r.error_message);
    let t = r.timings.expect("timings");
    assert_eq!(t.dns_ms, 0.0, "an IP literal needs no DNS");
    assert_eq!(t.tls_ms, 0.0);
    assert!(t.connect_ms > 0.0);
    assert!((t.ttfb_ms - 200.0).abs() <= 5.0, "ttfb {} ms", t.ttfb_ms);
    assert!(r.total_ms >= t.connect_ms + t.ttfb_ms);
}
