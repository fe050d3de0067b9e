//! Workers and enrollment tokens. Every member sees the workers and region
//! health; admins and owners create and revoke enrollment tokens (with an
//! optional expiry and number of uses; creating one needs a recent
//! re-authentication) and revoke workers.

use actix_web::{web, HttpResponse};
use openseer_protocol::monitor::ANY_REGION;
use openseer_protocol::token::TokenKind;
use openseer_protocol::{FieldError, Role};
use openseer_web as views;
use serde::Deserialize;

use super::monitors::regions_of;
use super::{expiry_days, frame, html_or_invalid, redirect, token_name};
use crate::auth::token;
use crate::http::errors::PageError;
use crate::http::identity::{has_csrf, CsrfForm, CsrfOnly, SignedIn};
use crate::http::AppState;
use openseer_store::{Monitor, NewEnrollmentToken};

async fn workers_view(
    s: &SignedIn,
    state: &AppState,
    new_token: Option<&str>,
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
    let regions = region_health(&monitors, &wvm);
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
            &frame(s, "Workers", &csrf, true),
            &views::WorkersVm {
                now,
                workers: &wvm,
                regions: &regions,
                tokens: &tvm,
                new_token,
                can_manage: s.role() >= Role::Admin,
            },
            errors,
        ),
        errors,
    ))
}

/// Per region: healthy workers, and enabled monitors that need it. Regions
/// come from workers and from monitors (a monitor's region with no worker
/// is exactly what to warn about); "any" counts every healthy worker.
fn region_health(monitors: &[Monitor], workers: &[views::WorkerVm]) -> Vec<views::RegionVm> {
    let mut out: std::collections::BTreeMap<String, views::RegionVm> =
        std::collections::BTreeMap::new();
    for w in workers.iter().filter(|w| !w.revoked) {
        let r = out
            .entry(w.region.to_string())
            .or_insert_with(|| views::RegionVm::named(w.region));
        r.workers += 1;
        r.healthy += usize::from(w.healthy);
    }
    let any_healthy = workers.iter().filter(|w| !w.revoked && w.healthy).count();
    for m in monitors.iter().filter(|m| m.enabled) {
        for region in regions_of(m) {
            let r = out
                .entry(region.clone())
                .or_insert_with(|| views::RegionVm::named(&region));
            r.monitors += 1;
            if region == ANY_REGION {
                r.healthy = any_healthy;
            }
        }
    }
    out.into_values().collect()
}

pub async fn workers(s: SignedIn, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    s.require(Role::Viewer)?;
    workers_view(&s, &state, None, &[]).await
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
}

has_csrf!(EnrollmentForm);

pub async fn create_enrollment_token(
    s: SignedIn,
    state: web::Data<AppState>,
    CsrfForm(f): CsrfForm<EnrollmentForm>,
) -> Result<HttpResponse, PageError> {
    s.require(Role::Admin)?;
    let now = state.now();
    s.require_recent_auth(now, "/workers")?;
    let mut errors = Vec::new();
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
        return workers_view(&s, &state, None, &errors).await;
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
    workers_view(&s, &state, Some(&t), &[]).await
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
