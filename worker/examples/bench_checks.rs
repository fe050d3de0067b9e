//! Used by `ops/bench.sh worker`: runs checks back to back against one URL
//! with the real checker (fresh connection per check) and prints the rate and
//! CPU cost. Arguments: URL SECONDS CONCURRENCY.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use openseer_protocol::wire::Job;
use openseer_protocol::{CheckSpec, Outcome};
use openseer_worker::check::Checker;

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + fields
            .get(12)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
    ticks / 100.0
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).expect("URL").clone();
    let seconds: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10);
    let concurrency: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(64);
    let checker = Checker::new().expect("checker");
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(seconds);
    let cpu0 = cpu_seconds();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (checker, done, failed, url) =
            (checker.clone(), done.clone(), failed.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let job = Job {
                run_id: "0.bench.0".into(),
                monitor_id: 0,
                region: "bench".into(),
                scheduled_at_ms: 0,
                lease_deadline_ms: 0,
                attempt: 1,
                check: CheckSpec {
                    url,
                    timeout_ms: 5000,
                    ..CheckSpec::default()
                },
            };
            while Instant::now() < until {
                let r = checker.run(&job, openseer_worker::now_ms).await;
                done.fetch_add(1, Ordering::Relaxed);
                if r.outcome != Outcome::Up {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let n = done.load(Ordering::Relaxed).max(1);
    println!(
        "worker_checks_per_second: {:.0} checks/s",
        n as f64 / elapsed
    );
    println!("worker_cpu_per_check: {:.3} ms", cpu * 1000.0 / n as f64);
    println!(
        "worker_failed_checks: {} checks",
        failed.load(Ordering::Relaxed)
    );
}
