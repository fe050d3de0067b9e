//! The small model types several layers share: a monitor as the store
//! keeps it, a job waiting for a worker, a result ready to be written, the
//! key of a rollup bucket, a live event for dashboards.

use std::sync::Arc;

use openseer_protocol::monitor::CheckSpec;
use openseer_protocol::{CheckResult, MonitorInput, Outcome};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq)]
pub struct Monitor {
    pub id: i64,
    pub org_id: i64,
    pub name: String,
    pub interval_seconds: u32,
    /// Empty means any region.
    pub regions: Vec<String>,
    pub enabled: bool,
    pub check: CheckSpec,
    pub alert: openseer_protocol::AlertRules,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Monitor {
    /// The input that would recreate this monitor (for edit forms and the API).
    pub fn to_input(&self) -> MonitorInput {
        MonitorInput {
            name: self.name.clone(),
            url: self.check.url.clone(),
            method: self.check.method.clone(),
            headers: self.check.headers.clone(),
            body: self.check.body.clone(),
            interval_seconds: self.interval_seconds,
            timeout_ms: self.check.timeout_ms,
            regions: self.regions.clone(),
            expected_status: self.check.expected_status.to_string(),
            keyword: self.check.keyword.clone(),
            enabled: self.enabled,
            follow_redirects: self.check.options.follow_redirects,
            max_redirects: self.check.options.max_redirects,
            keep_secrets_on_redirect: self.check.options.keep_secrets_on_redirect,
            decompress: self.check.options.decompress,
            verify_tls: self.check.options.verify_tls,
            ip_family: self.check.options.ip_family,
            assertions: self.check.options.assertions.clone(),
            degraded_above_ms: self.check.options.degraded_above_ms,
            cert_expiry_days: self.check.options.cert_expiry_days,
            alert: self.alert.clone(),
        }
    }
}

/// A job waiting in a lease manager (ready or leased).
#[derive(Debug, Clone)]
pub struct PendingJob {
    pub run_id: String,
    pub monitor_id: i64,
    pub org_id: i64,
    pub region: String,
    pub scheduled_at_ms: i64,
    pub interval_ms: i64,
    pub attempt: u32,
    pub check: Arc<CheckSpec>,
}

/// A result ready to be written, with who delivered it and when.
#[derive(Debug, Clone)]
pub struct StoredResult {
    pub result: CheckResult,
    pub worker_id: Option<i64>,
    pub received_at: i64,
}

/// A rollup bucket: (monitor, region, bucket start).
pub type BucketKey = (i64, String, i64);

/// Something that happened which open dashboards should show.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum LiveEvent {
    Result {
        org_id: i64,
        result: Box<CheckResult>,
        /// The worker that ran it (none for a recorded miss).
        #[serde(default)]
        worker_id: Option<i64>,
    },
    /// A worker of the organization enrolled, was revoked, went quiet or
    /// came back: worker lists should refresh.
    Workers { org_id: i64 },
    /// An incident of the monitor opened, resolved or changed.
    Incident { org_id: i64, monitor_id: i64 },
}

impl LiveEvent {
    pub fn result(org_id: i64, r: &StoredResult) -> LiveEvent {
        LiveEvent::Result {
            org_id,
            result: Box::new(r.result.clone()),
            worker_id: r.worker_id,
        }
    }

    pub fn org_id(&self) -> i64 {
        match self {
            LiveEvent::Result { org_id, .. }
            | LiveEvent::Workers { org_id }
            | LiveEvent::Incident { org_id, .. } => *org_id,
        }
    }
}

/// Probe jobs ("test this request") carry negative monitor ids.
pub fn is_probe(monitor_id: i64) -> bool {
    monitor_id < 0
}

/// The node waiting for a probe's result (its id is `-(node << 32 | seq)`).
pub fn probe_node(probe_id: i64) -> u64 {
    (probe_id.unsigned_abs() >> 32) & 0x7fff_ffff
}

/// A monitor's overall status: paused, or the worst latest outcome over
/// its regions (an error counts as down).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// No check stored yet.
    Pending,
    Up,
    Missed,
    Degraded,
    Down,
    Paused,
}

impl Status {
    /// The status of a stored outcome.
    pub fn of_outcome(outcome: Outcome) -> Status {
        match outcome {
            Outcome::Down | Outcome::Error => Status::Down,
            Outcome::Degraded => Status::Degraded,
            Outcome::Missed => Status::Missed,
            Outcome::Up => Status::Up,
        }
    }

    /// How bad it is, for "worst first" and the worst of several regions.
    pub fn severity(self) -> u8 {
        match self {
            Status::Down => 4,
            Status::Degraded => 3,
            Status::Missed => 2,
            Status::Up => 1,
            Status::Pending | Status::Paused => 0,
        }
    }

    /// Its name in the API and on /metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Up => "up",
            Status::Missed => "missed",
            Status::Degraded => "degraded",
            Status::Down => "down",
            Status::Paused => "paused",
        }
    }

    /// The worst of the regions' latest outcomes; pending with none.
    pub fn worst(outcomes: impl IntoIterator<Item = Status>) -> Status {
        outcomes
            .into_iter()
            .max_by_key(|s| s.severity())
            .unwrap_or(Status::Pending)
    }
}
