//! Worker <-> node messages (JSON over HTTP/1.1), version 1.
//!
//! Every call but `Enroll` carries `Authorization: Bearer ostk_...`; every
//! authenticated call counts as a heartbeat of the worker. See
//! docs/protocol.md for the full description with examples.

use serde::{Deserialize, Serialize};

use crate::monitor::CheckSpec;
use crate::result::CheckResult;

/// Path prefix of the worker API.
pub const WORKER_API: &str = "/api/worker/v1";
pub const ENROLL_PATH: &str = "/api/worker/v1/enroll";
pub const GET_JOBS_PATH: &str = "/api/worker/v1/jobs";
pub const SUBMIT_RESULTS_PATH: &str = "/api/worker/v1/results";
pub const RENEW_LEASES_PATH: &str = "/api/worker/v1/leases/renew";

/// Longest long-poll a node honours.
pub const MAX_WAIT_MS: u32 = 30_000;
/// Most jobs handed out by one `GetJobs`.
pub const MAX_JOBS_PER_POLL: u32 = 500;
/// Most results accepted by one `SubmitResults`.
pub const MAX_RESULTS_PER_SUBMIT: usize = 1000;

/// Deterministic id of one (monitor, region, scheduled tick). Two nodes that
/// schedule the same tick produce the same id, so storage keeps one row.
pub fn run_id(monitor_id: i64, region: &str, scheduled_at_ms: i64) -> String {
    format!("{monitor_id}.{region}.{scheduled_at_ms}")
}

/// Splits a run id back into (monitor, region, tick); `None` when malformed.
pub fn parse_run_id(run_id: &str) -> Option<(i64, &str, i64)> {
    let (monitor, rest) = run_id.split_once('.')?;
    let (region, tick) = rest.rsplit_once('.')?;
    if !crate::monitor::is_valid_region(region) {
        return None;
    }
    Some((monitor.parse().ok()?, region, tick.parse().ok()?))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    pub version: String,
    pub check_types: Vec<String>,
    pub concurrency: u32,
}

/// `POST /api/worker/v1/enroll` — no bearer token; the enrollment token is in the body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollRequest {
    pub enrollment_token: String,
    pub name: String,
    pub region: String,
    pub capabilities: Capabilities,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollResponse {
    pub worker_id: i64,
    /// `ostk_` token. Shown once: keep it in the worker's state file.
    pub api_token: String,
    pub region: String,
}

/// `POST /api/worker/v1/jobs` — long-poll for due jobs of the worker's region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetJobsRequest {
    pub max_jobs: u32,
    /// How long the node may hold the request open when nothing is due.
    pub wait_ms: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub run_id: String,
    pub monitor_id: i64,
    pub region: String,
    pub scheduled_at_ms: i64,
    /// The lease ends here (node clock, unix ms) unless renewed.
    pub lease_deadline_ms: i64,
    /// 1 for the first hand-out, 2 for the retry after an expired lease.
    pub attempt: u32,
    pub check: CheckSpec,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetJobsResponse {
    pub jobs: Vec<Job>,
}

/// `POST /api/worker/v1/results` — idempotent by run id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmitResultsRequest {
    pub results: Vec<CheckResult>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    pub run_id: String,
    pub code: crate::ErrorCode,
    pub message: String,
}

/// `accepted` lists every run id that is now durably stored (including ones
/// stored by an earlier submission). `rejected` ones must not be retried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitResultsResponse {
    pub accepted: Vec<String>,
    pub rejected: Vec<Rejected>,
}

/// `POST /api/worker/v1/leases/renew` — extend leases of long checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewLeasesRequest {
    pub run_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Renewed {
    pub run_id: String,
    pub lease_deadline_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewLeasesResponse {
    pub renewed: Vec<Renewed>,
    /// Leases this worker no longer holds: drop the job, do not submit it.
    pub lost: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_round_trip() {
        let id = run_id(42, "eu-west", 1_700_000_000_000);
        assert_eq!(parse_run_id(&id), Some((42, "eu-west", 1_700_000_000_000)));
        assert_eq!(parse_run_id("42.eu west.1"), None);
        assert_eq!(parse_run_id("x.a.1"), None);
        assert_eq!(parse_run_id("1.a"), None);
    }
}
