//! The worker's own health: Prometheus metrics and readiness, served on a
//! separate address (`--metrics-addr`) the operator chooses, so nothing of
//! it is reachable from where the checks go out.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::sync::watch;

use openseer_prom::{counter, escape, gauge, Histogram, SECONDS};

/// How long without a successful exchange with a node before the worker
/// calls itself not ready.
pub const READY_WITHIN_MS: i64 = 60_000;

pub struct Status {
    checks: Mutex<BTreeMap<String, u64>>,
    pub check_duration: Histogram,
    pub in_flight: AtomicI64,
    pub outbox_results: AtomicI64,
    pub outbox_dropped: AtomicU64,
    pub enrolled: AtomicBool,
    /// Unix ms of the last answer from a node.
    pub last_contact_ms: AtomicI64,
}

impl Default for Status {
    fn default() -> Self {
        Status {
            checks: Mutex::default(),
            check_duration: Histogram::new(SECONDS),
            in_flight: AtomicI64::new(0),
            outbox_results: AtomicI64::new(0),
            outbox_dropped: AtomicU64::new(0),
            enrolled: AtomicBool::new(false),
            last_contact_ms: AtomicI64::new(0),
        }
    }
}

impl Status {
    pub fn check_done(&self, outcome: &str, seconds: f64) {
        *self
            .checks
            .lock()
            .expect("status lock")
            .entry(outcome.to_string())
            .or_default() += 1;
        self.check_duration.observe(seconds);
    }

    pub fn contact(&self) {
        self.last_contact_ms
            .store(crate::now_ms(), Ordering::Relaxed);
    }

    pub fn ready(&self, now_ms: i64) -> Result<(), &'static str> {
        if !self.enrolled.load(Ordering::Relaxed) {
            return Err("not enrolled");
        }
        if now_ms - self.last_contact_ms.load(Ordering::Relaxed) > READY_WITHIN_MS {
            return Err("no control-plane node answered in the last minute");
        }
        Ok(())
    }

    pub fn render(&self) -> String {
        let mut out = String::from(
            "# HELP openseer_worker_checks_total Checks run, by outcome.\n# TYPE openseer_worker_checks_total counter\n",
        );
        for (outcome, v) in self.checks.lock().expect("status lock").iter() {
            out.push_str(&format!(
                "openseer_worker_checks_total{{outcome=\"{}\"}} {v}\n",
                escape(outcome)
            ));
        }
        self.check_duration.render(
            &mut out,
            "openseer_worker_check_duration_seconds",
            "Wall time of a check.",
        );
        gauge(
            &mut out,
            "openseer_worker_in_flight_checks",
            "Checks running now.",
            self.in_flight.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "openseer_worker_outbox_results",
            "Results on disk waiting for an acknowledgement.",
            self.outbox_results.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "openseer_worker_outbox_dropped_total",
            "Results dropped because the outbox was full.",
            self.outbox_dropped.load(Ordering::Relaxed),
        );
        let ready = i64::from(self.ready(crate::now_ms()).is_ok());
        gauge(
            &mut out,
            "openseer_worker_ready",
            "1 when enrolled and a node answered within the last minute.",
            ready,
        );
        out
    }
}

/// Serves `/metrics`, `/readyz` and `/healthz` until shutdown.
pub async fn serve(
    addr: SocketAddr,
    status: Arc<Status>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "worker metrics and readiness listening");
    loop {
        let (stream, _) = tokio::select! {
            a = listener.accept() => a?,
            _ = crate::stop_requested(&mut shutdown) => return Ok(()),
        };
        let status = status.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let status = status.clone();
                async move {
                    let (code, body) = match req.uri().path() {
                        "/metrics" => (200, status.render()),
                        "/healthz" => (200, "ok\n".to_string()),
                        "/readyz" => match status.ready(crate::now_ms()) {
                            Ok(()) => (200, "ready\n".to_string()),
                            Err(why) => (503, format!("not ready: {why}\n")),
                        },
                        _ => (404, "not found\n".to_string()),
                    };
                    hyper::Response::builder()
                        .status(code)
                        .header("content-type", "text/plain; version=0.0.4; charset=utf-8")
                        .body(Full::new(Bytes::from(body)))
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
