//! Prometheus metrics of the node, rendered in the text exposition format at
//! `/metrics`. One registry per process (nodes are one per process); values
//! are plain atomics, so recording never blocks and never allocates on the
//! hot paths except for labelled counters.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use openseer_prom::{counter, escape, gauge, Histogram, SECONDS};
use openseer_protocol::monitor::ANY_REGION;
use openseer_protocol::Outcome;
use openseer_store::{MonitorStatus, MonitorSummary};

const SIZES: &[f64] = &[1.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 2000.0];

/// Values read at scrape time from elsewhere (pool, actors).
#[derive(Debug, Clone, Copy)]
pub struct Readings {
    pub db_pool_size: u32,
    pub db_pool_idle: usize,
    pub shards: u32,
    pub rollup_lag_seconds: f64,
    /// In a cluster only.
    pub raft: Option<RaftReading>,
}

/// This node's view of the raft group.
#[derive(Debug, Clone, Copy)]
pub struct RaftReading {
    /// One of [`RaftReading::ROLES`].
    pub role: &'static str,
    pub term: u64,
    pub applied_index: u64,
    pub last_log_index: u64,
    pub fenced: bool,
}

impl RaftReading {
    /// openraft's server states, as `openseer_raft_role` labels them.
    pub const ROLES: [&'static str; 5] = ["leader", "follower", "candidate", "learner", "shutdown"];
}

pub struct Metrics {
    checks: Mutex<BTreeMap<(String, String), u64>>,
    /// Results that were not written and never will be, by reason.
    dropped: Mutex<BTreeMap<&'static str, u64>>,
    pub lateness: Histogram,
    pub leases_issued: AtomicU64,
    /// Jobs this node's schedulers emitted (one per region per tick).
    pub jobs_scheduled: AtomicU64,
    pub leases_renewed: AtomicU64,
    pub leases_expired: AtomicU64,
    pub no_worker_collapsed: AtomicU64,
    pub longpoll_waiters: AtomicI64,
    pub ingest_batch: Histogram,
    pub ingest_commit: Histogram,
    pub live_streams: AtomicI64,
    http: Mutex<BTreeMap<(String, String, u16), u64>>,
    /// Alert transitions this node decided, by the health it went to.
    transitions: Mutex<BTreeMap<&'static str, u64>>,
    /// Delivery attempts this node made, by channel kind and outcome.
    deliveries: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
}

pub fn get() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(|| Metrics {
        checks: Mutex::default(),
        dropped: Mutex::default(),
        lateness: Histogram::new(SECONDS),
        leases_issued: AtomicU64::new(0),
        jobs_scheduled: AtomicU64::new(0),
        leases_renewed: AtomicU64::new(0),
        leases_expired: AtomicU64::new(0),
        no_worker_collapsed: AtomicU64::new(0),
        longpoll_waiters: AtomicI64::new(0),
        ingest_batch: Histogram::new(SIZES),
        ingest_commit: Histogram::new(SECONDS),
        live_streams: AtomicI64::new(0),
        http: Mutex::default(),
        transitions: Mutex::default(),
        deliveries: Mutex::default(),
    })
}

impl Metrics {
    pub fn check_stored(&self, outcome: &str, region: &str) {
        let mut m = self.checks.lock().expect("metrics lock");
        *m.entry((outcome.to_string(), region.to_string()))
            .or_default() += 1;
    }

    /// `health` is `up` or `down`.
    pub fn incident_transition(&self, health: &'static str) {
        *self
            .transitions
            .lock()
            .expect("metrics lock")
            .entry(health)
            .or_default() += 1;
    }

    /// `kind` is a channel kind, `outcome` one of delivered, retry, failed.
    pub fn delivery(&self, kind: &'static str, outcome: &'static str) {
        *self
            .deliveries
            .lock()
            .expect("metrics lock")
            .entry((kind, outcome))
            .or_default() += 1;
    }

    /// `reason` is one of a fixed set (see docs/operations.md).
    pub fn results_dropped(&self, reason: &'static str, n: u64) {
        *self
            .dropped
            .lock()
            .expect("metrics lock")
            .entry(reason)
            .or_default() += n;
    }

    /// `route` is the matched route pattern (bounded), never the raw path.
    pub fn http_request(&self, method: &str, route: &str, status: u16) {
        let mut m = self.http.lock().expect("metrics lock");
        *m.entry((method.to_string(), route.to_string(), status))
            .or_default() += 1;
    }

    pub fn render(&self, now: &Readings) -> String {
        let Readings {
            db_pool_size,
            db_pool_idle,
            shards,
            rollup_lag_seconds,
            raft,
        } = *now;
        let mut out = String::new();
        let _ = writeln!(out, "# HELP openseer_checks_total Check results stored, by outcome and region.\n# TYPE openseer_checks_total counter");
        for ((outcome, region), v) in self.checks.lock().expect("metrics lock").iter() {
            let _ = writeln!(
                out,
                "openseer_checks_total{{outcome=\"{}\",region=\"{}\"}} {v}",
                escape(outcome),
                escape(region)
            );
        }
        let _ = writeln!(out, "# HELP openseer_results_dropped_total Results not written and never to be (monitor deleted, refused by the database, too many kept while it was unreachable), by reason.\n# TYPE openseer_results_dropped_total counter");
        for (reason, v) in self.dropped.lock().expect("metrics lock").iter() {
            let _ = writeln!(
                out,
                "openseer_results_dropped_total{{reason=\"{reason}\"}} {v}"
            );
        }
        let _ = writeln!(out, "# HELP openseer_alert_transitions_total Monitors this node declared down or recovered, by the health they went to.\n# TYPE openseer_alert_transitions_total counter");
        for (health, v) in self.transitions.lock().expect("metrics lock").iter() {
            let _ = writeln!(
                out,
                "openseer_alert_transitions_total{{health=\"{health}\"}} {v}"
            );
        }
        let _ = writeln!(out, "# HELP openseer_notification_attempts_total Notifications this node tried to deliver, by channel kind and outcome (delivered, retry, failed).\n# TYPE openseer_notification_attempts_total counter");
        for ((kind, outcome), v) in self.deliveries.lock().expect("metrics lock").iter() {
            let _ = writeln!(
                out,
                "openseer_notification_attempts_total{{kind=\"{kind}\",outcome=\"{outcome}\"}} {v}"
            );
        }
        self.lateness.render(
            &mut out,
            "openseer_check_lateness_seconds",
            "Delay from a check's scheduled tick to its start.",
        );
        counter(
            &mut out,
            "openseer_jobs_scheduled_total",
            "Jobs this node's schedulers emitted, one per region per tick.",
            self.jobs_scheduled.load(Ordering::Relaxed),
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
        counter(
            &mut out,
            "openseer_no_worker_ticks_collapsed_total",
            "Ticks no worker took that were not written as a row of their own (one a minute per monitor and region is).",
            self.no_worker_collapsed.load(Ordering::Relaxed),
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
        let _ = writeln!(
            out,
            "# HELP openseer_rollup_lag_seconds How long ago every shard's rollups were last fully caught up.\n# TYPE openseer_rollup_lag_seconds gauge\nopenseer_rollup_lag_seconds {rollup_lag_seconds:.3}"
        );
        if let Some(r) = raft {
            let _ = writeln!(out, "# HELP openseer_raft_role 1 for the raft role this node is in, 0 for the others.\n# TYPE openseer_raft_role gauge");
            for role in RaftReading::ROLES {
                let _ = writeln!(
                    out,
                    "openseer_raft_role{{role=\"{role}\"}} {}",
                    u8::from(role == r.role)
                );
            }
            gauge(
                &mut out,
                "openseer_raft_term",
                "The raft term this node is in.",
                r.term as i64,
            );
            gauge(
                &mut out,
                "openseer_raft_applied_index",
                "The last committed raft log index this node applied.",
                r.applied_index as i64,
            );
            gauge(
                &mut out,
                "openseer_raft_last_log_index",
                "The last index in this node's raft log, committed or not.",
                r.last_log_index as i64,
            );
            gauge(&mut out, "openseer_raft_fenced", "1 while this node has not heard from a leader within the fence timeout (it schedules nothing).", i64::from(r.fenced));
        }
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

/// `openseer_monitor_up{monitor,region}`: 1 while the latest check of an
/// enabled monitor in a region of its own was up or degraded, 0 after a
/// failed or missed one (no series before its first check); and
/// `openseer_monitor_info{monitor,name,org}` to name them in alerts. What
/// every node answers alike, so Alertmanager may scrape any of them.
pub fn render_monitors(out: &mut String, monitors: &[MonitorSummary], latest: &[MonitorStatus]) {
    let _ = writeln!(out, "# HELP openseer_monitor_up 1 if the monitor's latest check in the region was up or degraded, 0 if it failed or was missed.\n# TYPE openseer_monitor_up gauge");
    let mut regions: BTreeMap<i64, &[String]> = BTreeMap::new();
    for m in monitors {
        regions.insert(m.id, &m.regions);
    }
    let mut lines: Vec<(i64, &str, u8)> = latest
        .iter()
        .filter(|l| match regions.get(&l.monitor_id) {
            Some([]) => l.region == ANY_REGION,
            Some(rs) => rs.contains(&l.region),
            None => false,
        })
        .map(|l| {
            let up = matches!(l.outcome, Outcome::Up | Outcome::Degraded);
            (l.monitor_id, l.region.as_str(), u8::from(up))
        })
        .collect();
    lines.sort_unstable();
    for (id, region, up) in lines {
        let _ = writeln!(
            out,
            "openseer_monitor_up{{monitor=\"{id}\",region=\"{}\"}} {up}",
            escape(region)
        );
    }
    let _ = writeln!(out, "# HELP openseer_monitor_info Each enabled monitor's name and organization (always 1).\n# TYPE openseer_monitor_info gauge");
    for m in monitors {
        let _ = writeln!(
            out,
            "openseer_monitor_info{{monitor=\"{}\",name=\"{}\",org=\"{}\"}} 1",
            m.id,
            escape(&m.name),
            m.org_id
        );
    }
}

/// The instance's outbox: notifications waiting, given up, and channels
/// flagged as refusing (read from the database at scrape time).
pub fn render_outbox(out: &mut String, pending: i64, failed: i64, flagged: i64) {
    for (name, help, v) in [
        (
            "openseer_notifications_pending",
            "Notifications not yet delivered nor given up, over the instance.",
            pending,
        ),
        (
            "openseer_notifications_failed",
            "Notifications given up (refused, or failing for a day), over the instance.",
            failed,
        ),
        (
            "openseer_channels_flagged",
            "Channels marked as refusing until they are saved again.",
            flagged,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
    }
}
