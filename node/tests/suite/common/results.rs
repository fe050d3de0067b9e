//! Results as a worker would deliver them, for tests that write them
//! straight to the store.

use openseer_protocol::{CheckResult, Outcome, Timings};
use openseer_store::StoredResult;

/// A result of `monitor_id` in `region` scheduled at `at`: started 5 ms
/// later, received 100 ms later. Checks that got an answer (up, degraded,
/// down) carry status 200 and phases that add up to `total_ms`.
pub fn stored(
    monitor_id: i64,
    region: &str,
    at: i64,
    outcome: Outcome,
    total_ms: f64,
) -> StoredResult {
    let answered = matches!(outcome, Outcome::Up | Outcome::Degraded | Outcome::Down);
    StoredResult {
        result: CheckResult {
            run_id: openseer_protocol::wire::run_id(monitor_id, region, at),
            monitor_id,
            region: region.into(),
            scheduled_at_ms: at,
            started_at_ms: at + 5,
            outcome,
            error_kind: None,
            error_message: None,
            status_code: answered.then_some(200),
            total_ms,
            body_bytes: 10,
            decoded_bytes: None,
            timings: answered.then_some(Timings {
                dns_ms: 1.0,
                connect_ms: 2.0,
                tls_ms: 3.0,
                ttfb_ms: total_ms - 7.0,
                transfer_ms: 1.0,
            }),
            tls: None,
            redirects: Vec::new(),
            assertions: Vec::new(),
        },
        worker_id: None,
        received_at: at + 100,
    }
}
