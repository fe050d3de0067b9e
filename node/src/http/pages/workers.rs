//! Workers and enrollment tokens. Every member sees the workers and region
//! health; admins and owners create and revoke enrollment tokens (with an
//! optional expiry and number of uses; creating one needs a recent
//! re-authentication) and revoke workers.

use actix_web::{web, HttpRequest, HttpResponse};
use openseer_protocol::monitor::{is_valid_region, ANY_REGION};
use openseer_protocol::token::TokenKind;
use openseer_protocol::{FieldError, Role};
use openseer_web as views;
use serde::Deserialize;

use super::{base_url, expiry_days, frame, html_or_invalid, redirect, token_name};
use crate::auth::token;
use crate::http::errors::PageError;
use crate::http::events::{self, Watch};
use crate::http::identity::{has_csrf, CsrfForm, CsrfOnly, SignedIn};
use crate::http::AppState;
use openseer_store::{Monitor, NewEnrollmentToken, Worker};

/// A token just created, and the command that starts a worker with it.
struct NewToken {
    token: String,
    command: String,
}

async fn workers_view(
    s: &SignedIn,
    state: &AppState,
    new_token: Option<&NewToken>,
    region: &str,
    errors: &[FieldError],
) -> Result<HttpResponse, PageError> {
    let now = state.now();
    let workers = state.store.workers(s.org_id()).await?;
    let tokens = state.store.enrollment_tokens(s.org_id()).await?;
    let in_flight = state.actors.in_flight().await;
    // Capabilities are stored as the worker sent them; show them readably.
    let caps: Vec<String> = workers
        .iter()
        .map(|w| {
            match serde_json::from_str::<openseer_protocol::wire::Capabilities>(&w.capabilities) {
                Ok(c) => format!(
                    "{} · concurrency {}",
                    c.check_types.join(", "),
                    c.concurrency
                ),
                Err(_) => String::new(),
            }
        })
        .collect();
    let wvm: Vec<views::WorkerVm> = workers
        .iter()
        .enumerate()
        .map(|(i, w)| views::WorkerVm {
            id: w.id,
            name: &w.name,
            region: &w.region,
            version: &w.version,
            capabilities: &caps[i],
            last_seen_at: w.last_seen_at,
            in_flight: in_flight.get(&w.id).copied().unwrap_or(0),
            revoked: w.revoked_at.is_some(),
            healthy: now - w.last_seen_at < state.settings.worker_stale_ms,
        })
        .collect();
    let monitors = state.store.monitors(s.org_id()).await?;
    let (regions, anywhere) = region_health(&monitors, &wvm);
    let any_healthy = wvm.iter().filter(|w| !w.revoked && w.healthy).count();
    let tvm: Vec<views::EnrollmentTokenVm> = tokens
        .iter()
        .map(|t| views::EnrollmentTokenVm {
            id: t.id,
            name: &t.name,
            created_at: t.created_at,
            expires_at: t.expires_at,
            uses: t.uses,
            max_uses: t.max_uses,
            status: t.status_at(now),
        })
        .collect();
    let csrf = s.csrf();
    Ok(html_or_invalid(
        views::workers_page(
            &frame(s, "Workers", &csrf, Some(events::url(Watch::Workers, now))),
            &views::WorkersVm {
                now,
                workers: &wvm,
                regions: &regions,
                anywhere,
                any_healthy,
                tokens: &tvm,
                new_token: new_token.map(|t| (t.token.as_str(), t.command.as_str())),
                region,
                can_manage: s.role() >= Role::Admin,
            },
            errors,
        ),
        errors,
    ))
}

/// Per region: healthy workers, and enabled monitors that need it. Regions
/// come from workers and from monitors (a monitor's region with no worker
/// is exactly what to warn about). "Any" is not a region: monitors that
/// run anywhere are counted apart, in the second value.
fn region_health(
    monitors: &[Monitor],
    workers: &[views::WorkerVm],
) -> (Vec<views::RegionVm>, usize) {
    let mut out: std::collections::BTreeMap<String, views::RegionVm> =
        std::collections::BTreeMap::new();
    for w in workers.iter().filter(|w| !w.revoked) {
        let r = out
            .entry(w.region.to_string())
            .or_insert_with(|| views::RegionVm::named(w.region));
        r.workers += 1;
        r.healthy += usize::from(w.healthy);
    }
    let mut anywhere = 0;
    for m in monitors.iter().filter(|m| m.enabled) {
        if m.regions.is_empty() {
            anywhere += 1;
            continue;
        }
        for region in &m.regions {
            let r = out
                .entry(region.clone())
                .or_insert_with(|| views::RegionVm::named(region));
            r.monitors += 1;
        }
    }
    (out.into_values().collect(), anywhere)
}

/// Healthy workers per region right now (not revoked, heard from within
/// `stale_ms`), by region name.
pub(crate) fn healthy_by_region(
    workers: &[Worker],
    now: i64,
    stale_ms: i64,
) -> Vec<(String, usize)> {
    let mut out: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for w in workers
        .iter()
        .filter(|w| w.revoked_at.is_none() && now - w.last_seen_at < stale_ms)
    {
        *out.entry(&w.region).or_default() += 1;
    }
    out.into_iter().map(|(r, n)| (r.to_string(), n)).collect()
}

/// Which of a monitor's regions no healthy worker serves right now ("any":
/// when the organization has no healthy worker at all).
pub(crate) fn unserved_regions(
    workers: &[Worker],
    regions: &[String],
    now: i64,
    stale_ms: i64,
) -> Vec<String> {
    let served = healthy_by_region(workers, now, stale_ms);
    regions
        .iter()
        .filter(|r| {
            let anywhere = r.as_str() == ANY_REGION && !served.is_empty();
            !anywhere && !served.iter().any(|(s, _)| s == *r)
        })
        .cloned()
        .collect()
}

#[derive(Deserialize, Default)]
pub struct WorkersParams {
    /// Fills the enrollment form for workers of this region.
    region: Option<String>,
}

pub async fn workers(
    s: SignedIn,
    state: web::Data<AppState>,
    params: web::Query<WorkersParams>,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Viewer)?;
    let region = params
        .region
        .as_deref()
        .filter(|r| is_valid_region(r))
        .unwrap_or("");
    workers_view(&s, &state, None, region, &[]).await
}

#[derive(Deserialize)]
pub struct EnrollmentForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    expires_days: String,
    #[serde(default)]
    max_uses: String,
    /// The region the workers will serve: only for the start command shown.
    #[serde(default)]
    region: String,
}

has_csrf!(EnrollmentForm);

pub async fn create_enrollment_token(
    req: HttpRequest,
    s: SignedIn,
    state: web::Data<AppState>,
    CsrfForm(f): CsrfForm<EnrollmentForm>,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Admin)?;
    let now = state.now();
    let region = f.region.trim();
    let mut errors = Vec::new();
    if !region.is_empty() && !is_valid_region(region) {
        errors.push(FieldError::new(
            "region",
            "a region name: letters, digits and '-', at most 32",
        ));
    }
    let back = match region {
        "" => "/workers".to_string(),
        r if is_valid_region(r) => format!("/workers?region={r}"),
        _ => "/workers".to_string(),
    };
    s.require_recent_auth(now, &back)?;
    let expires_at = expiry_days("expires_days", &f.expires_days, now, &mut errors);
    let max_uses = match f.max_uses.trim() {
        "" => None,
        t => match t.parse::<i64>() {
            Ok(n) if (1..=100_000).contains(&n) => Some(n),
            _ => {
                errors.push(FieldError::new(
                    "max_uses",
                    "a number of workers from 1 to 100000, or empty for any",
                ));
                None
            }
        },
    };
    if !errors.is_empty() {
        return workers_view(&s, &state, None, region, &errors).await;
    }
    let t = token::generate(TokenKind::Enrollment);
    let name = token_name(&f.name);
    let id = state
        .store
        .create_enrollment_token(
            NewEnrollmentToken {
                org_id: s.org_id(),
                name: &name,
                token_hash: &token::hash(&t),
                expires_at,
                max_uses,
            },
            now,
        )
        .await?;
    state
        .audit(
            s.audit("enrollment_token.created")
                .on("enrollment_token", id)
                .detail(format!("\"{name}\"")),
        )
        .await;
    let command = format!(
        "openseer-worker --server {} --region {} --enroll-token {t} --state-dir /var/lib/openseer-worker",
        base_url(&req, &state),
        if region.is_empty() { "REGION" } else { region },
    );
    let new = NewToken { token: t, command };
    workers_view(&s, &state, Some(&new), region, &[]).await
}

pub async fn revoke_enrollment_token(
    s: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    _f: CsrfForm<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Admin)?;
    state
        .store
        .revoke_enrollment_token(s.org_id(), *id, state.now())
        .await?;
    state
        .audit(
            s.audit("enrollment_token.revoked")
                .on("enrollment_token", id),
        )
        .await;
    Ok(redirect("/workers"))
}

pub async fn revoke_worker(
    s: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    _f: CsrfForm<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Admin)?;
    s.require_recent_auth(state.now(), "/workers")?;
    state
        .store
        .revoke_worker(s.org_id(), *id, state.now())
        .await?;
    tracing::info!(worker_id = *id, "worker revoked");
    state
        .audit(s.audit("worker.revoked").on("worker", id))
        .await;
    state.actors.workers_changed(s.org_id());
    Ok(redirect("/workers"))
}
