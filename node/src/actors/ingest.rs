//! Ingest: one per node. Collects submitted results for a few milliseconds,
//! writes them in one transaction, and only then acknowledges them; after the
//! commit it publishes live events to Sessions and tells the Rollup of each
//! shard which buckets changed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use super::alerts::AlertsMsg;
use super::rollup::RollupMsg;
use super::sessions::SessionsMsg;
use super::shards::{Route, ShardActors, ShardTable};
use openseer_cluster::peer::{PeerCast, Peers};
use openseer_core::alert::TickResult;
use openseer_core::clock::SharedClock;
use openseer_core::model::LiveEvent;
use openseer_core::rollup::plan::Tier;
use openseer_core::schedule::{shard_of, SHARDS};
use openseer_store::BucketKey;
use openseer_store::{Store, StoreError, StoredResult};

/// Write at once when this many results are waiting.
const MAX_BATCH: usize = 2_000;
/// Otherwise wait this long for more to join the batch.
const LINGER: Duration = Duration::from_millis(5);

/// Missed placeholders kept for the next flush while the database is
/// unreachable, at most; beyond it the oldest are dropped (and counted).
const MAX_KEPT_MISSED: usize = 100_000;

/// Run ids of a batch that were not written and never will be, with why;
/// nobody should retry them.
pub type Dropped = Arc<HashMap<String, DropReason>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The monitor was deleted before its result was written.
    MonitorDeleted,
    /// The database refused this row on its own (not for being unreachable).
    Refused,
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::MonitorDeleted => "monitor_deleted",
            DropReason::Refused => "refused_by_database",
        }
    }
}

#[derive(ractor_cluster::RactorMessage)]
pub enum IngestMsg {
    /// Results whose lease (if any) was checked. The reply comes after
    /// commit, with the run ids of the batch that were dropped for good.
    Submit {
        items: Vec<StoredResult>,
        org_id: i64,
        reply: RpcReplyPort<Result<Dropped, String>>,
    },
    /// Missed checks recorded by lease managers; nobody waits for them.
    Missed(Vec<(StoredResult, i64)>),
    Flush,
    /// Writes everything pending and answers; used at shutdown.
    Drain(RpcReplyPort<()>),
}

pub struct Args {
    pub shards: Arc<ShardTable>,
    pub peers: Option<Arc<Peers>>,
    pub store: Store,
    pub sessions: ActorRef<SessionsMsg>,
    pub alerts: ActorRef<AlertsMsg>,
    pub clock: SharedClock,
}

pub struct State {
    shards: Arc<ShardTable>,
    peers: Option<Arc<Peers>>,
    store: Store,
    sessions: ActorRef<SessionsMsg>,
    alerts: ActorRef<AlertsMsg>,
    buffer: Vec<(StoredResult, i64)>,
    waiting: Vec<RpcReplyPort<Result<Dropped, String>>>,
    flush_armed: bool,
}

/// Writes `rows`, so that no row keeps the others out: when the database
/// refuses the batch (rather than being unreachable), each half is written
/// on its own, down to single rows, and a row refused alone is dropped.
/// Rows of deleted monitors are dropped by the store itself. `Err` only for
/// a transient failure (some halves may have committed: rows are idempotent
/// by run id, so writing them again is harmless).
async fn write_isolating(
    store: &Store,
    rows: &[&StoredResult],
) -> Result<HashMap<String, DropReason>, StoreError> {
    let mut dropped = HashMap::new();
    let mut pending: Vec<&[&StoredResult]> = vec![rows];
    while let Some(part) = pending.pop() {
        if part.is_empty() {
            continue;
        }
        match store.insert_results(part).await {
            Ok(written) => {
                for r in part.iter().filter(|r| written.dropped(r)) {
                    dropped.insert(r.result.run_id.clone(), DropReason::MonitorDeleted);
                }
            }
            Err(e) if e.is_transient() => return Err(e),
            Err(e) if part.len() == 1 => {
                let r = &part[0].result;
                tracing::error!(
                    error = %e,
                    run_id = %r.run_id,
                    monitor_id = r.monitor_id,
                    "the database refused a result; dropped"
                );
                dropped.insert(r.run_id.clone(), DropReason::Refused);
            }
            Err(e) => {
                tracing::warn!(error = %e, rows = part.len(), "the database refused a batch; writing its halves apart");
                let (a, b) = part.split_at(part.len() / 2);
                pending.push(b);
                pending.push(a);
            }
        }
    }
    Ok(dropped)
}

impl State {
    async fn flush(&mut self) {
        self.flush_armed = false;
        if self.buffer.is_empty() {
            return;
        }
        let batch: Vec<(StoredResult, i64)> = std::mem::take(&mut self.buffer);
        let waiting = std::mem::take(&mut self.waiting);
        let rows = batch.len();
        let refs: Vec<&StoredResult> = batch.iter().map(|(r, _)| r).collect();
        let started = std::time::Instant::now();
        let outcome = write_isolating(&self.store, &refs).await;
        tracing::debug!(
            batch = rows,
            commit_ms = started.elapsed().as_millis() as u64,
            "ingest batch"
        );
        let m = crate::metrics::get();
        match outcome {
            Ok(dropped) => {
                m.ingest_batch.observe(rows as f64);
                m.ingest_commit.observe(started.elapsed().as_secs_f64());
                if !dropped.is_empty() {
                    tracing::warn!(
                        dropped = dropped.len(),
                        batch = rows,
                        "results of deleted monitors or refused rows dropped"
                    );
                    for reason in dropped.values() {
                        m.results_dropped(reason.as_str(), 1);
                    }
                }
                let stored: Vec<(StoredResult, i64)> = batch
                    .into_iter()
                    .filter(|(r, _)| !dropped.contains_key(&r.result.run_id))
                    .collect();
                for (r, _) in &stored {
                    let r = &r.result;
                    m.check_stored(r.outcome.as_str(), &r.region);
                    if r.outcome != openseer_protocol::Outcome::Missed {
                        m.lateness
                            .observe((r.started_at_ms - r.scheduled_at_ms) as f64 / 1000.0);
                    }
                }
                let dropped: Dropped = Arc::new(dropped);
                for w in waiting {
                    let _ = w.send(Ok(dropped.clone()));
                }
                self.mark_dirty(&stored);
                let events: Vec<LiveEvent> = stored
                    .into_iter()
                    .map(|(r, org_id)| LiveEvent::result(org_id, &r))
                    .collect();
                if events.is_empty() {
                    return;
                }
                if let Some(peers) = &self.peers {
                    peers.broadcast(&PeerCast::Live(events.clone()));
                }
                let _ = self.sessions.cast(SessionsMsg::Publish(events));
            }
            Err(e) => {
                tracing::error!(error = %e, batch = rows, "writing results failed; nothing acknowledged");
                for w in waiting {
                    let _ = w.send(Err(e.to_string()));
                }
                // Missed placeholders have no submitter to retry them; keep
                // them for the next flush, within a bound.
                let mut kept: Vec<(StoredResult, i64)> = batch
                    .into_iter()
                    .filter(|(r, _)| r.worker_id.is_none())
                    .collect();
                if kept.len() > MAX_KEPT_MISSED {
                    let over = kept.len() - MAX_KEPT_MISSED;
                    kept.drain(..over);
                    m.results_dropped("buffer_full", over as u64);
                }
                self.buffer = kept;
            }
        }
    }
}

impl State {
    /// Tells each shard's Rollup and the Alerts of its owner, here or on
    /// another node, which minute buckets just changed and which results
    /// were committed. A shard with no owner right now is caught up by the
    /// next owner: from the shard's recorded rollup progress, and from the
    /// stored results of each monitor it evaluates.
    fn mark_dirty(&self, batch: &[(StoredResult, i64)]) {
        let mut by_shard: HashMap<u32, Vec<BucketKey>> = HashMap::new();
        let mut ticks: HashMap<u32, Vec<TickResult>> = HashMap::new();
        for (s, _) in batch {
            let r = &s.result;
            let minute = Tier::Minute.start_of(r.scheduled_at_ms);
            let shard = shard_of(r.monitor_id, SHARDS);
            by_shard
                .entry(shard)
                .or_default()
                .push((r.monitor_id, r.region.clone(), minute));
            ticks.entry(shard).or_default().push(TickResult::of(r));
        }
        let mut local = Vec::new();
        let mut remote: HashMap<u64, Vec<TickResult>> = HashMap::new();
        for (shard, items) in ticks {
            match self.shards.route(shard) {
                Route::Local(_) => local.extend(items),
                Route::Remote(node) => remote.entry(node).or_default().extend(items),
                Route::Nobody => {}
            }
        }
        if !local.is_empty() {
            let _ = self.alerts.cast(AlertsMsg::Results(local));
        }
        if let Some(peers) = &self.peers {
            for (node, items) in remote {
                peers.cast(node, &PeerCast::Ticks(items));
            }
        }
        for (shard, keys) in by_shard {
            match self.shards.route(shard) {
                Route::Local(ShardActors {
                    rollup: Some(rollup),
                    ..
                }) => {
                    let _ = rollup.cast(RollupMsg::Dirty(keys));
                }
                Route::Remote(node) => {
                    if let Some(peers) = &self.peers {
                        peers.cast(node, &PeerCast::Dirty(keys));
                    }
                }
                _ => {}
            }
        }
    }
}

pub struct Ingest;

impl Actor for Ingest {
    type Msg = IngestMsg;
    type State = State;
    type Arguments = Args;

    async fn pre_start(
        &self,
        _: ActorRef<IngestMsg>,
        args: Args,
    ) -> Result<State, ActorProcessingErr> {
        let _ = args.clock;
        Ok(State {
            shards: args.shards,
            peers: args.peers,
            store: args.store,
            sessions: args.sessions,
            alerts: args.alerts,
            buffer: Vec::new(),
            waiting: Vec::new(),
            flush_armed: false,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<IngestMsg>,
        msg: IngestMsg,
        state: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            IngestMsg::Submit {
                items,
                org_id,
                reply,
            } => {
                state.buffer.extend(items.into_iter().map(|r| (r, org_id)));
                state.waiting.push(reply);
            }
            IngestMsg::Missed(items) => state.buffer.extend(items),
            IngestMsg::Flush => {
                state.flush().await;
                return Ok(());
            }
            IngestMsg::Drain(reply) => {
                state.flush().await;
                let _ = reply.send(());
                return Ok(());
            }
        }
        if state.buffer.len() >= MAX_BATCH {
            state.flush().await;
        } else if !state.flush_armed {
            state.flush_armed = true;
            myself.send_after(LINGER, || IngestMsg::Flush);
        }
        Ok(())
    }
}
