//! Prometheus metrics of the node, rendered in the text exposition format at
//! `/metrics`. One registry per process (nodes are one per process); values
//! are plain atomics, so recording never blocks and never allocates on the
//! hot paths except for labelled counters.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

pub struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    /// Sum in millionths, to keep it an atomic integer.
    sum_micros: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, v: f64) {
        let v = if v.is_finite() { v.max(0.0) } else { 0.0 };
        for (i, b) in self.bounds.iter().enumerate() {
            if v <= *b {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add((v * 1e6) as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (i, b) in self.bounds.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{b}\"}} {}",
                self.buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count {count}");
    }
}

const SECONDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const SIZES: &[f64] = &[1.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 2000.0];

pub struct Metrics {
    checks: Mutex<BTreeMap<(String, String), u64>>,
    pub lateness: Histogram,
    pub leases_issued: AtomicU64,
    pub leases_renewed: AtomicU64,
    pub leases_expired: AtomicU64,
    pub longpoll_waiters: AtomicI64,
    pub ingest_batch: Histogram,
    pub ingest_commit: Histogram,
    pub live_streams: AtomicI64,
    http: Mutex<BTreeMap<(String, String, u16), u64>>,
}

pub fn get() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(|| Metrics {
        checks: Mutex::default(),
        lateness: Histogram::new(SECONDS),
        leases_issued: AtomicU64::new(0),
        leases_renewed: AtomicU64::new(0),
        leases_expired: AtomicU64::new(0),
        longpoll_waiters: AtomicI64::new(0),
        ingest_batch: Histogram::new(SIZES),
        ingest_commit: Histogram::new(SECONDS),
        live_streams: AtomicI64::new(0),
        http: Mutex::default(),
    })
}

impl Metrics {
    pub fn check_stored(&self, outcome: &str, region: &str) {
        let mut m = self.checks.lock().expect("metrics lock");
        *m.entry((outcome.to_string(), region.to_string()))
            .or_default() += 1;
    }

    /// `route` is the matched route pattern (bounded), never the raw path.
    pub fn http_request(&self, method: &str, route: &str, status: u16) {
        let mut m = self.http.lock().expect("metrics lock");
        *m.entry((method.to_string(), route.to_string(), status))
            .or_default() += 1;
    }

    pub fn render(&self, db_pool_size: u32, db_pool_idle: usize, shards: u32) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        let gauge = |out: &mut String, name: &str, help: &str, v: i64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        let _ = writeln!(out, "# HELP openseer_checks_total Check results stored, by outcome and region.\n# TYPE openseer_checks_total counter");
        for ((outcome, region), v) in self.checks.lock().expect("metrics lock").iter() {
            let _ = writeln!(
                out,
                "openseer_checks_total{{outcome=\"{}\",region=\"{}\"}} {v}",
                escape(outcome),
                escape(region)
            );
        }
        self.lateness.render(
            &mut out,
            "openseer_check_lateness_seconds",
            "Delay from a check's scheduled tick to its start.",
        );
        counter(
            &mut out,
            "openseer_leases_issued_total",
            "Jobs leased to workers.",
            self.leases_issued.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "openseer_leases_renewed_total",
            "Leases renewed by workers.",
            self.leases_renewed.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "openseer_leases_expired_total",
            "Leases that ran out before a result came.",
            self.leases_expired.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "openseer_longpoll_waiters",
            "Worker long-polls waiting for jobs.",
            self.longpoll_waiters.load(Ordering::Relaxed),
        );
        self.ingest_batch.render(
            &mut out,
            "openseer_ingest_batch_size",
            "Results written per ingest transaction.",
        );
        self.ingest_commit.render(
            &mut out,
            "openseer_ingest_commit_seconds",
            "Time to write and commit one ingest batch.",
        );
        gauge(
            &mut out,
            "openseer_live_streams",
            "Open live dashboard streams.",
            self.live_streams.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "openseer_shards_owned",
            "Shards this node schedules.",
            i64::from(shards),
        );
        let _ = writeln!(out, "# HELP openseer_http_requests_total HTTP requests by method, route and status.\n# TYPE openseer_http_requests_total counter");
        for ((method, route, status), v) in self.http.lock().expect("metrics lock").iter() {
            let _ = writeln!(out, "openseer_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {v}", escape(method), escape(route));
        }
        let _ = writeln!(out, "# HELP openseer_db_pool_connections Database pool connections by state.\n# TYPE openseer_db_pool_connections gauge");
        let idle = db_pool_idle as u64;
        let _ = writeln!(out, "openseer_db_pool_connections{{state=\"idle\"}} {idle}");
        let _ = writeln!(
            out,
            "openseer_db_pool_connections{{state=\"in_use\"}} {}",
            u64::from(db_pool_size).saturating_sub(idle)
        );
        out
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative() {
        let h = Histogram::new(&[1.0, 2.0]);
        h.observe(0.5);
        h.observe(1.5);
        h.observe(9.0);
        let mut out = String::new();
        h.render(&mut out, "x_seconds", "help");
        assert!(out.contains("x_seconds_bucket{le=\"1\"} 1"));
        assert!(out.contains("x_seconds_bucket{le=\"2\"} 2"));
        assert!(out.contains("x_seconds_bucket{le=\"+Inf\"} 3"));
        assert!(out.contains("x_seconds_sum 11"));
    }
}
