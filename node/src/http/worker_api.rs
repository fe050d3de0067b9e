//! The worker API (`/api/worker/v1`): Enroll, GetJobs, SubmitResults,
//! RenewLeases. Only `ostk_` bearer tokens get past [`WorkerCaller`];
//! enrollment takes an `ostc_` token in its body instead.

use actix_web::{web, HttpResponse, Scope};
use openseer_protocol::token::TokenKind;
use openseer_protocol::wire::{
    self, EnrollRequest, EnrollResponse, GetJobsRequest, GetJobsResponse, RenewLeasesRequest,
    RenewLeasesResponse, SubmitResultsRequest, SubmitResultsResponse,
};
use openseer_protocol::ErrorCode;

use super::errors::ApiError;
use super::identity::WorkerCaller;
use super::AppState;
use crate::auth::token;

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
    let jobs = state.actors.poll_jobs(&w.0, max, wait_ms).await?;
    Ok(HttpResponse::Ok().json(GetJobsResponse { jobs }))
}

async fn submit_results(
    w: WorkerCaller,
    state: web::Data<AppState>,
    body: web::Json<SubmitResultsRequest>,
) -> Result<HttpResponse, ApiError> {
    let results = body.into_inner().results;
    if results.len() > wire::MAX_RESULTS_PER_SUBMIT {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("at most {} results per call", wire::MAX_RESULTS_PER_SUBMIT),
        ));
    }
    let answer = state
        .actors
        .submit_results(&w.0, results, state.now())
        .await?;
    Ok(HttpResponse::Ok().json(SubmitResultsResponse {
        accepted: answer.accepted,
        rejected: answer.rejected,
    }))
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
    let (renewed, lost) = state.actors.renew_leases(w.0.worker_id, &run_ids).await?;
    let out = RenewLeasesResponse { renewed, lost };
    Ok(HttpResponse::Ok().json(out))
}
