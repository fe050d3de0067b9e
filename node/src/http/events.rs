//! Server-sent events for open dashboards. Each stream subscribes to the
//! node's Sessions actor for the user's organization and turns live events
//! into HTML fragments named after the `sse-swap` targets of the pages.
//!
//! A page is drawn from the database, then its browser opens the stream:
//! what was stored in between would be lost. So the page names the time it
//! was drawn (`since`), and the stream, once subscribed, first sends what
//! was stored from shortly before then (a browser reconnecting sends the
//! last event's id, the time it was sent, instead). The overlap shows each
//! check once: rows carry their run id and the page drops a repeat.
//!
//! Parts computed over many results (the overview's counts, a monitor's
//! uptime and down periods) are not sent: the stream says they changed, at
//! most once per [`NOTICE_GAP`], and the page fetches them again.

use std::collections::HashMap;
use std::time::Duration;

use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use futures_util::stream;
use serde::Deserialize;
use tokio::time::Instant;

use super::errors::PageError;
use super::identity::SignedIn;
use super::AppState;
use openseer_core::model::LiveEvent;
use openseer_protocol::{AssertionResult, CheckResult, Outcome, Timings};
use openseer_store::{ResultRow, Store, StoreResult};
use openseer_web::live::{
    result_row, results_event, status_cell, status_event, ResultVm, StatusVm, COUNTS_EVENT,
    INCIDENTS_EVENT, SUMMARY_EVENT, WORKERS_EVENT,
};

/// Events buffered per stream before the slowest streams start losing some.
const STREAM_BUFFER: usize = 1024;
const KEEPALIVE: Duration = Duration::from_secs(15);
/// How often a stream checks that its user is still signed in to the
/// organization and a member of it: a removed member's open dashboards, and
/// those of a user whose sessions all ended, stop receiving within this.
const RECHECK: Duration = Duration::from_secs(3);
/// How far before `since` the catch-up reaches: a result is stamped when
/// its node received it and becomes visible when its batch commits, a
/// little later, and another node's clock may be a little off.
const SLACK_MS: i64 = 5_000;
/// At most this many results are caught up on a monitor's page, and on the
/// overview (where only each monitor's latest counts).
const CATCH_UP_MONITOR: i64 = 100;
const CATCH_UP_OVERVIEW: i64 = 2_000;
/// "Fetch again" notices go out at most this often per stream, and one
/// goes out within this of the change that called for it.
const NOTICE_GAP: Duration = Duration::from_millis(500);
/// A notice waits this long for the rest of a burst (one ingest batch is
/// delivered event by event).
const NOTICE_LINGER: Duration = Duration::from_millis(50);

/// What a page's stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    /// Worker changes only (the Workers page).
    Workers,
    /// Every monitor's status, and when the counts changed.
    Overview,
    /// One monitor's status and results, and when its summary changed.
    Monitor(i64),
    /// Incidents opening and resolving only (the incident pages).
    Incidents,
}

/// The stream a page drawn at `drawn_at` (node clock, unix ms) connects to.
pub fn url(watch: Watch, drawn_at: i64) -> String {
    match watch {
        Watch::Workers => format!("/events?view=workers&since={drawn_at}"),
        Watch::Overview => format!("/events?view=overview&since={drawn_at}"),
        Watch::Monitor(id) => format!("/events?monitor={id}&since={drawn_at}"),
        Watch::Incidents => format!("/events?view=incidents&since={drawn_at}"),
    }
}

#[derive(Deserialize, Default)]
pub struct StreamParams {
    view: Option<String>,
    monitor: Option<i64>,
    since: Option<i64>,
}

impl StreamParams {
    fn watch(&self) -> Watch {
        if let Some(id) = self.monitor {
            return Watch::Monitor(id);
        }
        // Without a view, every result of the organization (as the
        // overview), which is what a client of the bare stream expects.
        match self.view.as_deref() {
            Some("workers") => Watch::Workers,
            Some("incidents") => Watch::Incidents,
            _ => Watch::Overview,
        }
    }
}

/// Coalesces "this changed" into notices at most one per `gap`: the first
/// change is noticed after `linger`, later ones no sooner than `gap` after
/// the last notice.
#[derive(Debug)]
struct Coalesce {
    gap: Duration,
    linger: Duration,
    last: Option<Instant>,
    due: Option<Instant>,
}

impl Coalesce {
    fn new(gap: Duration, linger: Duration) -> Coalesce {
        Coalesce {
            gap,
            linger,
            last: None,
            due: None,
        }
    }

    fn touch(&mut self, now: Instant) {
        if self.due.is_some() {
            return;
        }
        let soonest = now + self.linger;
        self.due = Some(match self.last {
            Some(last) => soonest.max(last + self.gap),
            None => soonest,
        });
    }

    fn due(&self) -> Option<Instant> {
        self.due
    }

    /// Whether a notice goes out at `now` (and then it is recorded as sent).
    fn fire(&mut self, now: Instant) -> bool {
        match self.due {
            Some(due) if due <= now => {
                self.due = None;
                self.last = Some(now);
                true
            }
            _ => false,
        }
    }
}

/// Names and regions of the organization's workers, for "ran by".
#[derive(Default)]
pub(crate) struct WorkerNames(HashMap<i64, (String, String)>);

impl WorkerNames {
    pub(crate) async fn load(store: &Store, org_id: i64) -> StoreResult<WorkerNames> {
        let workers = store.workers(org_id).await?;
        Ok(WorkerNames(
            workers
                .into_iter()
                .map(|w| (w.id, (w.name, w.region)))
                .collect(),
        ))
    }

    pub(crate) fn get(&self, id: Option<i64>) -> Option<(&str, &str)> {
        let (name, region) = self.0.get(&id?)?;
        Some((name, region))
    }
}

fn phases(t: &Timings) -> [f64; 5] {
    [t.dns_ms, t.connect_ms, t.tls_ms, t.ttfb_ms, t.transfer_ms]
}

fn assertions(all: &[AssertionResult]) -> Vec<(&str, bool, Option<&str>)> {
    all.iter()
        .map(|a| (a.assertion.as_str(), a.passed, a.detail.as_deref()))
        .collect()
}

/// A stored result as its page row.
pub(crate) fn stored_row<'a>(r: &'a ResultRow, workers: &'a WorkerNames) -> ResultVm<'a> {
    ResultVm {
        run_id: &r.run_id,
        scheduled_at: r.scheduled_at,
        region: &r.region,
        worker: workers.get(r.worker_id),
        outcome: r.outcome.as_str(),
        status_code: r.status_code,
        total_ms: r.total_ms,
        body_bytes: r.body_bytes,
        error_kind: r.error_kind.map(|k| k.as_str()),
        error_message: r.error_message.as_deref(),
        phases: r.timings.as_ref().map(phases),
        redirects: r.details.redirects.len(),
        assertions: assertions(&r.details.assertions),
    }
}

fn live_row<'a>(
    r: &'a CheckResult,
    worker_id: Option<i64>,
    workers: &'a WorkerNames,
) -> ResultVm<'a> {
    ResultVm {
        run_id: &r.run_id,
        scheduled_at: r.scheduled_at_ms,
        region: &r.region,
        worker: workers.get(worker_id),
        outcome: r.outcome.as_str(),
        status_code: r.status_code.map(i64::from),
        total_ms: (r.outcome != Outcome::Missed).then_some(r.total_ms),
        body_bytes: Some(r.body_bytes as i64),
        error_kind: r.error_kind.map(|k| k.as_str()),
        error_message: r.error_message.as_deref(),
        phases: r.timings.as_ref().map(phases),
        redirects: r.redirects.len(),
        assertions: assertions(&r.assertions),
    }
}

fn frame(out: &mut String, event: &str, data: &str) {
    // Fragments are single-line HTML; guard anyway, since a newline would end the field.
    let data = data.replace(['\r', '\n'], " ");
    out.push_str(&format!("event: {event}\ndata: {data}\n\n"));
}

/// The frames of one result for a page: its status cell, and its row on
/// the monitor's page.
fn result_frames(out: &mut String, watch: Watch, row: &ResultVm, monitor_id: i64) {
    let status = status_cell(&StatusVm {
        region: row.region,
        outcome: row.outcome,
        status_code: row.status_code,
        total_ms: row.total_ms,
        checked_at: Some(row.scheduled_at),
    });
    frame(
        out,
        &status_event(monitor_id, row.region),
        &status.into_string(),
    );
    if watch == Watch::Monitor(monitor_id) {
        frame(
            out,
            &results_event(monitor_id),
            &result_row(row).into_string(),
        );
    }
}

/// One stream's state besides its channel and timers.
struct View {
    watch: Watch,
    workers: WorkerNames,
    /// The latest outcome seen per (monitor, region), on the overview:
    /// the counts change only when one does.
    outcomes: HashMap<(i64, String), Outcome>,
    notice: Coalesce,
}

impl View {
    /// What the page should be told of `e`, if anything.
    fn on_event(&mut self, e: &LiveEvent, now: Instant) -> Option<String> {
        let mut out = String::new();
        match (e, self.watch) {
            (LiveEvent::Workers { .. }, Watch::Incidents) => return None,
            (LiveEvent::Workers { .. }, _) => frame(&mut out, WORKERS_EVENT, "changed"),
            (LiveEvent::Incident { .. }, Watch::Workers) => return None,
            (LiveEvent::Incident { monitor_id, .. }, Watch::Monitor(id)) if *monitor_id != id => {
                return None
            }
            (LiveEvent::Incident { .. }, _) => frame(&mut out, INCIDENTS_EVENT, "changed"),
            (LiveEvent::Result { .. }, Watch::Workers | Watch::Incidents) => return None,
            (LiveEvent::Result { result: r, .. }, Watch::Monitor(id)) if r.monitor_id != id => {
                return None
            }
            (
                LiveEvent::Result {
                    result: r,
                    worker_id,
                    ..
                },
                watch,
            ) => {
                let row = live_row(r, *worker_id, &self.workers);
                result_frames(&mut out, watch, &row, r.monitor_id);
                let changed = match watch {
                    Watch::Overview => {
                        let key = (r.monitor_id, r.region.clone());
                        self.outcomes.insert(key, r.outcome) != Some(r.outcome)
                    }
                    _ => true,
                };
                if changed {
                    self.notice.touch(now);
                }
            }
        }
        Some(out)
    }

    /// The "fetch again" notice this page takes.
    fn notice_event(&self) -> &'static str {
        match self.watch {
            Watch::Overview => COUNTS_EVENT,
            Watch::Monitor(_) => SUMMARY_EVENT,
            Watch::Workers => WORKERS_EVENT,
            Watch::Incidents => INCIDENTS_EVENT,
        }
    }
}

/// What the page missed since it was drawn at `since`: results stored
/// from shortly before then, and a notice to fetch what is computed.
async fn catch_up(state: &AppState, org_id: i64, view: &View, since: i64) -> String {
    let mut out = String::new();
    let (monitor, limit) = match view.watch {
        Watch::Workers => {
            frame(&mut out, WORKERS_EVENT, "changed");
            return out;
        }
        Watch::Incidents => {
            frame(&mut out, INCIDENTS_EVENT, "changed");
            return out;
        }
        Watch::Overview => (None, CATCH_UP_OVERVIEW),
        Watch::Monitor(id) => (Some(id), CATCH_UP_MONITOR),
    };
    let rows = match state
        .store
        .results_received_since(org_id, monitor, since - SLACK_MS, limit)
        .await
    {
        Ok(rows) => rows,
        Err(e) => {
            // The page still has what it drew, and live events follow.
            tracing::warn!(error = %e, org_id, "live stream catch-up failed");
            return out;
        }
    };
    if view.watch == Watch::Overview {
        // Only each status's latest matters there.
        let mut latest: HashMap<(i64, &str), &ResultRow> = HashMap::new();
        for r in &rows {
            latest.insert((r.monitor_id, r.region.as_str()), r);
        }
        let mut rows: Vec<&ResultRow> = latest.into_values().collect();
        rows.sort_by_key(|r| (r.monitor_id, r.region.clone()));
        for r in rows {
            result_frames(
                &mut out,
                view.watch,
                &stored_row(r, &view.workers),
                r.monitor_id,
            );
        }
        frame(&mut out, COUNTS_EVENT, "changed");
        return out;
    }
    for r in &rows {
        result_frames(
            &mut out,
            view.watch,
            &stored_row(r, &view.workers),
            r.monitor_id,
        );
    }
    if !rows.is_empty() {
        frame(&mut out, SUMMARY_EVENT, "changed");
    }
    out
}

/// Each chunk of events ends with its id, the node's time: a browser that
/// reconnects sends it back as `Last-Event-ID`, and catches up from there.
fn with_id(mut chunk: String, now_ms: i64) -> String {
    if !chunk.is_empty() {
        chunk.push_str(&format!("id: {now_ms}\n\n"));
    }
    chunk
}

fn last_event_id(req: &HttpRequest) -> Option<i64> {
    req.headers()
        .get("last-event-id")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

pub async fn stream(
    s: SignedIn,
    req: HttpRequest,
    state: web::Data<AppState>,
    params: web::Query<StreamParams>,
) -> Result<HttpResponse, PageError> {
    // Subscribed before catching up: whatever is stored from here on
    // arrives as an event, whatever before is in the catch-up.
    let rx = state
        .actors
        .subscribe(s.org_id(), STREAM_BUFFER)
        .ok_or(PageError::Internal)?;
    let (user_id, org_id) = (s.user.id, s.org_id());
    let watch = params.watch();
    let workers = match watch {
        Watch::Monitor(_) => WorkerNames::load(&state.store, org_id).await?,
        Watch::Overview | Watch::Workers | Watch::Incidents => WorkerNames::default(),
    };
    let view = View {
        watch,
        workers,
        outcomes: HashMap::new(),
        notice: Coalesce::new(NOTICE_GAP, NOTICE_LINGER),
    };
    let mut hello = String::from("retry: 2000\n: connected\n\n");
    if let Some(since) = last_event_id(&req).or(params.since) {
        let missed = catch_up(&state, org_id, &view, since).await;
        hello.push_str(&with_id(missed, state.now()));
    }
    let mut keepalive = tokio::time::interval(KEEPALIVE);
    keepalive.reset();
    let mut recheck = tokio::time::interval(RECHECK);
    recheck.reset();
    // The stream's own session: signing it out (or a password change)
    // ends the stream, whatever other sessions the user has.
    let watching = (rx, keepalive, recheck, state.clone(), s.sid.clone(), view);
    let events = stream::unfold(
        watching,
        move |(mut rx, mut keepalive, mut recheck, state, sid, mut view)| async move {
            let chunk = loop {
                let due = view.notice.due();
                tokio::select! {
                    e = rx.recv() => {
                        let e = e?;
                        if matches!(e, LiveEvent::Workers { .. }) && matches!(view.watch, Watch::Monitor(_)) {
                            if let Ok(w) = WorkerNames::load(&state.store, org_id).await {
                                view.workers = w;
                            }
                        }
                        if let Some(chunk) = view.on_event(&e, Instant::now()) {
                            break with_id(chunk, state.now());
                        }
                    }
                    _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                        if view.notice.fire(Instant::now()) {
                            let mut out = String::new();
                            frame(&mut out, view.notice_event(), "changed");
                            break out;
                        }
                    }
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
                (rx, keepalive, recheck, state, sid, view),
            ))
        },
    );
    let body = stream::once(async move { Ok::<_, actix_web::Error>(Bytes::from(hello)) });
    use futures_util::StreamExt;
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body.chain(events)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn a_first_change_is_noticed_after_the_linger_and_a_burst_once() {
        let t0 = Instant::now();
        let mut c = Coalesce::new(MS(500), MS(50));
        assert_eq!(c.due(), None);
        assert!(!c.fire(t0), "nothing changed");
        c.touch(t0);
        c.touch(t0 + MS(10));
        assert_eq!(c.due(), Some(t0 + MS(50)), "the burst waits once");
        assert!(!c.fire(t0 + MS(49)));
        assert!(c.fire(t0 + MS(50)));
        assert!(!c.fire(t0 + MS(51)), "one notice per burst");
        assert_eq!(c.due(), None);
    }

    #[test]
    fn notices_are_spaced_by_the_gap_and_none_is_lost() {
        let t0 = Instant::now();
        let mut c = Coalesce::new(MS(500), MS(50));
        c.touch(t0);
        assert!(c.fire(t0 + MS(50)));
        // A change right after a notice waits for the gap, not longer.
        c.touch(t0 + MS(60));
        assert_eq!(c.due(), Some(t0 + MS(550)));
        assert!(!c.fire(t0 + MS(300)));
        assert!(c.fire(t0 + MS(550)));
        // Long after, a change is noticed after the linger alone.
        c.touch(t0 + MS(5_000));
        assert_eq!(c.due(), Some(t0 + MS(5_050)));
    }

    #[test]
    fn streams_watch_what_their_page_shows() {
        let p = |q: &str| {
            web::Query::<StreamParams>::from_query(q)
                .unwrap()
                .into_inner()
                .watch()
        };
        assert_eq!(p("monitor=7&since=1"), Watch::Monitor(7));
        assert_eq!(p("view=overview&since=1"), Watch::Overview);
        assert_eq!(p("view=workers"), Watch::Workers);
        assert_eq!(p(""), Watch::Overview, "the bare stream: every result");
        assert_eq!(url(Watch::Monitor(7), 99), "/events?monitor=7&since=99");
    }
}
