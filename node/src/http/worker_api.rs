//! The worker API (`/api/worker/v1`): Enroll, GetJobs, SubmitResults,
//! RenewLeases. Only `ostk_` bearer tokens get past [`WorkerCaller`];
//! enrollment takes an `ostc_` token in its body instead.

use std::collections::{HashMap, HashSet};

use actix_web::{web, HttpResponse, Scope};
use openseer_protocol::token::TokenKind;
use openseer_protocol::wire::{
    self, EnrollRequest, EnrollResponse, GetJobsRequest, GetJobsResponse, Rejected,
    RenewLeasesRequest, RenewLeasesResponse, SubmitResultsRequest, SubmitResultsResponse,
};
use openseer_protocol::{CheckResult, ErrorCode, Outcome};

use super::errors::ApiError;
use super::identity::WorkerCaller;
use super::AppState;
use crate::actors::dispatcher::DispatchMsg;
use crate::actors::ingest::{DropReason, IngestMsg};
use crate::actors::probes::is_probe;
use crate::actors::Reach;
use crate::auth::token;
use openseer_core::leases::LeaseCheck;
use openseer_store::StoredResult;

super::routes! {
    fn routes, const ROUTES;
    post "/enroll" => enroll;
    post "/jobs" => get_jobs;
    post "/results" => submit_results, with super::RESULTS_BODY_LIMIT;
    post "/leases/renew" => renew_leases;
}

pub fn scope() -> Scope {
    web::scope(wire::WORKER_API).configure(routes)
}

fn internal(what: &str, e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "{what}");
    ApiError::new(ErrorCode::Internal, format!("{what} failed; retry"))
}

async fn enroll(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<EnrollRequest>,
) -> Result<HttpResponse, ApiError> {
    let ip = super::identity::peer_ip(&req);
    let req = body.into_inner();
    let mut fields = Vec::new();
    if !openseer_protocol::monitor::is_valid_region(&req.region)
        || req.region == openseer_protocol::monitor::ANY_REGION
    {
        fields.push(openseer_protocol::FieldError::new(
            "region",
            "letters, digits and '-', at most 32, not \"any\"",
        ));
    }
    let name: String = req
        .name
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect();
    if name.trim().is_empty() {
        fields.push(openseer_protocol::FieldError::new("name", "required"));
    }
    if !fields.is_empty() {
        return Err(ApiError::validation(fields));
    }
    let refused = || {
        ApiError::new(
            ErrorCode::Unauthorized,
            "enrollment token invalid, revoked, expired or used up",
        )
    };
    let hash =
        token::lookup_hash(TokenKind::Enrollment, &req.enrollment_token).ok_or_else(refused)?;
    let api_token = token::generate(TokenKind::Worker);
    let caps = serde_json::to_string(&req.capabilities)
        .map_err(|e| internal("encoding capabilities", e))?;
    let version: String = req.capabilities.version.chars().take(40).collect();
    let (worker_id, org_id, token_name) = state
        .store
        .enroll_worker(
            &hash,
            name.trim(),
            &req.region,
            &version,
            &caps,
            &token::hash(&api_token),
            state.now(),
        )
        .await?
        .ok_or_else(refused)?;
    tracing::info!(worker_id, org_id, region = %req.region, "worker enrolled");
    state
        .audit(openseer_store::NewAudit {
            org_id: Some(org_id),
            actor: format!("enrollment token \"{token_name}\""),
            action: "worker.enrolled",
            object_type: Some("worker"),
            object_id: Some(worker_id.to_string()),
            detail: Some(format!("{} in region {}", name.trim(), req.region)),
            ip,
            ..Default::default()
        })
        .await;
    state.actors.workers_changed(org_id);
    Ok(HttpResponse::Ok().json(EnrollResponse {
        worker_id,
        api_token,
        region: req.region,
    }))
}

async fn get_jobs(
    w: WorkerCaller,
    state: web::Data<AppState>,
    body: web::Json<GetJobsRequest>,
) -> Result<HttpResponse, ApiError> {
    let max = body.max_jobs.clamp(1, wire::MAX_JOBS_PER_POLL) as usize;
    let wait_ms = body.wait_ms.min(wire::MAX_WAIT_MS);
    let jobs = ractor::call_t!(
        state.actors.dispatcher,
        |reply| DispatchMsg::Poll {
            worker: w.0.clone(),
            max,
            wait_ms,
            reply
        },
        u64::from(wait_ms) + 10_000
    )
    .map_err(|e| internal("dispatching jobs", e))?;
    Ok(HttpResponse::Ok().json(GetJobsResponse { jobs }))
}

/// Checks one submitted result against its run id and the caller.
fn check_shape(r: &CheckResult, worker_region: &str) -> Result<(), String> {
    let Some((monitor_id, region, tick)) = wire::parse_run_id(&r.run_id) else {
        return Err("malformed run id".into());
    };
    if monitor_id != r.monitor_id || region != r.region || tick != r.scheduled_at_ms {
        return Err("run id does not match monitor, region and scheduled time".into());
    }
    if r.region != worker_region && r.region != openseer_protocol::monitor::ANY_REGION {
        return Err(format!(
            "this worker checks region {worker_region}, not {}",
            r.region
        ));
    }
    if r.outcome == Outcome::Missed {
        return Err("workers cannot report missed checks".into());
    }
    if !r.total_ms.is_finite() || r.total_ms < 0.0 {
        return Err("total_ms must be a non-negative number".into());
    }
    Ok(())
}

async fn submit_results(
    w: WorkerCaller,
    state: web::Data<AppState>,
    body: web::Json<SubmitResultsRequest>,
) -> Result<HttpResponse, ApiError> {
    let worker = w.0;
    let mut results = body.into_inner().results;
    if results.len() > wire::MAX_RESULTS_PER_SUBMIT {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("at most {} results per call", wire::MAX_RESULTS_PER_SUBMIT),
        ));
    }
    let mut rejected = Vec::new();
    let reject = |r: &CheckResult, code, message: String| Rejected {
        run_id: r.run_id.clone(),
        code,
        message,
    };

    // Shape, then ownership: the monitor must belong to the worker's organization.
    let ids: Vec<i64> = results
        .iter()
        .map(|r| r.monitor_id)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let orgs: HashMap<i64, i64> = state.store.monitor_orgs(&ids).await?.into_iter().collect();
    let mut seen = HashSet::new();
    results.retain(|r| {
        if let Err(m) = check_shape(r, &worker.region) {
            rejected.push(reject(r, ErrorCode::BadRequest, m));
            return false;
        }
        // Whose probe it is is checked where it waits (`deliver_probe`).
        let probe_ok = is_probe(r.monitor_id);
        if orgs.get(&r.monitor_id) != Some(&worker.org_id) && !probe_ok {
            rejected.push(reject(
                r,
                ErrorCode::NotFound,
                "no such monitor (deleted?)".into(),
            ));
            return false;
        }
        // A run id twice in one batch is stored once; the second copy is dropped here.
        seen.insert(r.run_id.clone())
    });
    for r in &mut results {
        if let Some(m) = &mut r.error_message {
            if m.len() > openseer_protocol::result::MAX_ERROR_MESSAGE_LEN {
                let mut cut = openseer_protocol::result::MAX_ERROR_MESSAGE_LEN;
                while !m.is_char_boundary(cut) {
                    cut -= 1;
                }
                m.truncate(cut);
            }
        }
    }

    // Leases: a result for a lease another worker now holds is refused.
    let run_ids: Vec<String> = results.iter().map(|r| r.run_id.clone()).collect();
    let checks = state
        .actors
        .complete(worker.worker_id, &run_ids, Reach::Cluster)
        .await
        .map_err(|e| internal("checking leases", e))?;
    let now = state.now();
    let mut accepted_items = Vec::new();
    let mut probes_answered = Vec::new();
    for r in results {
        match checks
            .get(&r.run_id)
            .copied()
            .unwrap_or(LeaseCheck::NotLeased)
        {
            LeaseCheck::HeldByOther => rejected.push(reject(
                &r,
                ErrorCode::LeaseLost,
                "the lease expired and another worker holds it".into(),
            )),
            // A probe's result goes to whoever waits for it, not to the store.
            LeaseCheck::Held | LeaseCheck::NotLeased if is_probe(r.monitor_id) => {
                let run_id = r.run_id.clone();
                if state.actors.deliver_probe(worker.org_id, r).await {
                    probes_answered.push(run_id);
                } else {
                    rejected.push(Rejected {
                        run_id,
                        code: ErrorCode::NotFound,
                        message: "nobody waits for this probe any more".into(),
                    });
                }
            }
            LeaseCheck::Held | LeaseCheck::NotLeased => accepted_items.push(StoredResult {
                result: r,
                worker_id: Some(worker.worker_id),
                received_at: now,
            }),
        }
    }
    let mut accepted: Vec<String> = accepted_items
        .iter()
        .map(|s| s.result.run_id.clone())
        .chain(probes_answered)
        .collect();
    if !accepted_items.is_empty() {
        let dropped = ractor::call_t!(
            state.actors.ingest,
            |reply| IngestMsg::Submit {
                items: accepted_items,
                org_id: worker.org_id,
                reply
            },
            60_000
        )
        .map_err(|e| internal("storing results", e))?
        .map_err(|e| internal("storing results", e))?;
        // Rows that can never be written are answered for good, so the
        // worker does not send them again.
        accepted.retain(|run_id| {
            let Some(reason) = dropped.get(run_id) else {
                return true;
            };
            rejected.push(Rejected {
                run_id: run_id.clone(),
                code: match reason {
                    DropReason::MonitorDeleted => ErrorCode::NotFound,
                    DropReason::Refused => ErrorCode::BadRequest,
                },
                message: match reason {
                    DropReason::MonitorDeleted => "the monitor was deleted".into(),
                    DropReason::Refused => "the database refused this result".into(),
                },
            });
            false
        });
    }
    Ok(HttpResponse::Ok().json(SubmitResultsResponse { accepted, rejected }))
}

async fn renew_leases(
    w: WorkerCaller,
    state: web::Data<AppState>,
    body: web::Json<RenewLeasesRequest>,
) -> Result<HttpResponse, ApiError> {
    let run_ids: Vec<String> = body
        .into_inner()
        .run_ids
        .into_iter()
        .take(wire::MAX_RESULTS_PER_SUBMIT)
        .collect();
    let (renewed, lost) = state
        .actors
        .renew(w.0.worker_id, &run_ids, Reach::Cluster)
        .await
        .map_err(|e| internal("renewing leases", e))?;
    let out = RenewLeasesResponse { renewed, lost };
    Ok(HttpResponse::Ok().json(out))
}
