//! Server-sent events for open dashboards. Each stream subscribes to the
//! node's Sessions actor for the user's organization and turns live events
//! into HTML fragments named after the `sse-swap` targets of the pages.

use std::time::Duration;

use actix_web::web::{self, Bytes};
use actix_web::HttpResponse;
use futures_util::stream;

use super::errors::PageError;
use super::identity::SignedIn;
use super::AppState;
use openseer_core::model::LiveEvent;
use openseer_web::live::{
    result_row, results_event, status_cell, status_event, ResultVm, StatusVm, WORKERS_EVENT,
};

/// Events buffered per stream before the slowest streams start losing some.
const STREAM_BUFFER: usize = 1024;
const KEEPALIVE: Duration = Duration::from_secs(15);
/// How often a stream checks that its user is still signed in to the
/// organization and a member of it: a removed member's open dashboards, and
/// those of a user whose sessions all ended, stop receiving within this.
const RECHECK: Duration = Duration::from_secs(3);

fn frame(event: &str, data: &str) -> String {
    // Fragments are single-line HTML; guard anyway, since a newline would end the field.
    let data = data.replace(['\r', '\n'], " ");
    format!("event: {event}\ndata: {data}\n\n")
}

fn render(e: &LiveEvent) -> String {
    match e {
        LiveEvent::Result { result: r, .. } => {
            let outcome = r.outcome.as_str();
            let total = (r.outcome != openseer_protocol::Outcome::Missed).then_some(r.total_ms);
            let status = status_cell(&StatusVm {
                region: &r.region,
                outcome,
                status_code: r.status_code.map(i64::from),
                total_ms: total,
                checked_at: Some(r.scheduled_at_ms),
            });
            let row = result_row(&ResultVm {
                scheduled_at: r.scheduled_at_ms,
                region: &r.region,
                outcome,
                status_code: r.status_code.map(i64::from),
                total_ms: total,
                body_bytes: Some(r.body_bytes as i64),
                error_kind: r.error_kind.map(|k| k.as_str()),
                error_message: r.error_message.as_deref(),
                phases: r
                    .timings
                    .as_ref()
                    .map(|t| [t.dns_ms, t.connect_ms, t.tls_ms, t.ttfb_ms, t.transfer_ms]),
                redirects: r.redirects.len(),
                assertions: r
                    .assertions
                    .iter()
                    .map(|a| (a.assertion.as_str(), a.passed, a.detail.as_deref()))
                    .collect(),
            });
            let mut out = frame(
                &status_event(r.monitor_id, &r.region),
                &status.into_string(),
            );
            out.push_str(&frame(&results_event(r.monitor_id), &row.into_string()));
            out
        }
        // The page fetches its worker list again on this event.
        LiveEvent::Workers { .. } => frame(WORKERS_EVENT, "changed"),
    }
}

pub async fn stream(s: SignedIn, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let rx = state
        .actors
        .subscribe(s.org_id(), STREAM_BUFFER)
        .ok_or(PageError::Internal)?;
    let hello = Bytes::from("retry: 2000\n: connected\n\n");
    let mut keepalive = tokio::time::interval(KEEPALIVE);
    keepalive.reset();
    let mut recheck = tokio::time::interval(RECHECK);
    recheck.reset();
    let (user_id, org_id) = (s.user.id, s.org_id());
    // The stream's own session: signing it out (or a password change)
    // ends the stream, whatever other sessions the user has.
    let watch = (rx, keepalive, recheck, state.clone(), s.sid.clone());
    let events = stream::unfold(
        watch,
        move |(mut rx, mut keepalive, mut recheck, state, sid)| async move {
            let chunk = loop {
                tokio::select! {
                    e = rx.recv() => break render(&e?),
                    _ = keepalive.tick() => break ": keepalive\n\n".to_string(),
                    _ = recheck.tick() => {
                        // A database hiccup keeps the stream; only a clear
                        // "no longer signed in here" ends it.
                        if let Ok(false) = state.store.session_alive(&sid, user_id, org_id, state.now()).await {
                            return None;
                        }
                    }
                }
            };
            Some((
                Ok::<_, actix_web::Error>(Bytes::from(chunk)),
                (rx, keepalive, recheck, state, sid),
            ))
        },
    );
    let body = stream::once(async move { Ok::<_, actix_web::Error>(hello) });
    use futures_util::StreamExt;
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body.chain(events)))
}
