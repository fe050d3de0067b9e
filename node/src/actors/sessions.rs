//! Sessions: one per node. Live browser streams subscribe here per
//! organization and receive every live event of it; worker liveness
//! (last-seen) is kept in memory and written behind every few seconds, so a
//! busy worker's polls do not each cost a database write.

use std::collections::HashMap;
use std::time::Duration;

use openseer_core::model::LiveEvent;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::mpsc;

use openseer_core::clock::SharedClock;
use openseer_store::Store;

#[derive(ractor_cluster::RactorMessage)]
pub enum SessionsMsg {
    Subscribe {
        org_id: i64,
        tx: mpsc::Sender<LiveEvent>,
    },
    Publish(Vec<LiveEvent>),
    WorkerSeen {
        worker_id: i64,
        org_id: i64,
        at: i64,
    },
    /// Writes last-seen times now (also runs every few seconds).
    FlushSeen(RpcReplyPort<()>),
    TickSeen,
    /// Ends every live stream (at shutdown, so connections can close).
    CloseStreams,
    LiveCount(RpcReplyPort<usize>),
}

pub struct Args {
    pub store: Store,
    pub clock: SharedClock,
    /// A worker not heard from for this long counts as down.
    pub worker_stale_ms: i64,
}

pub struct State {
    store: Store,
    clock: SharedClock,
    worker_stale_ms: i64,
    streams: HashMap<i64, Vec<mpsc::Sender<LiveEvent>>>,
    /// Last-seen times not yet written.
    seen: HashMap<i64, i64>,
    /// Every worker heard from since start: (organization, last seen, shown
    /// as down), to tell dashboards when one goes quiet or comes back.
    liveness: HashMap<i64, (i64, i64, bool)>,
    ticker: tokio::task::JoinHandle<()>,
}

impl State {
    fn publish(&mut self, events: Vec<LiveEvent>) {
        for e in events {
            let Some(subs) = self.streams.get_mut(&e.org_id()) else {
                continue;
            };
            // A stream that cannot keep up loses events rather than
            // slowing everyone; a closed one is forgotten.
            subs.retain(|tx| {
                !matches!(
                    tx.try_send(e.clone()),
                    Err(mpsc::error::TrySendError::Closed(_))
                )
            });
        }
        self.streams.retain(|_, v| !v.is_empty());
    }

    /// Workers that just crossed the staleness line, as events.
    fn went_quiet(&mut self) -> Vec<LiveEvent> {
        let now = self.clock.now_ms();
        let stale = self.worker_stale_ms;
        self.liveness
            .values_mut()
            .filter(|(_, at, down)| !*down && now - *at >= stale)
            .map(|(org_id, _, down)| {
                *down = true;
                LiveEvent::Workers { org_id: *org_id }
            })
            .collect()
    }

    async fn flush_seen(&mut self) {
        if self.seen.is_empty() {
            return;
        }
        let seen: Vec<(i64, i64)> = self.seen.drain().collect();
        if let Err(e) = self.store.workers_seen(&seen).await {
            tracing::warn!(error = %e, "recording worker last-seen times");
        }
    }
}

pub struct Sessions;

impl Actor for Sessions {
    type Msg = SessionsMsg;
    type State = State;
    type Arguments = Args;

    async fn pre_start(
        &self,
        myself: ActorRef<SessionsMsg>,
        args: Args,
    ) -> Result<State, ActorProcessingErr> {
        let ticker = myself.send_interval(Duration::from_secs(2), || SessionsMsg::TickSeen);
        Ok(State {
            store: args.store,
            clock: args.clock,
            worker_stale_ms: args.worker_stale_ms,
            streams: HashMap::new(),
            seen: HashMap::new(),
            liveness: HashMap::new(),
            ticker,
        })
    }

    async fn handle(
        &self,
        _: ActorRef<SessionsMsg>,
        msg: SessionsMsg,
        state: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SessionsMsg::Subscribe { org_id, tx } => {
                state.streams.entry(org_id).or_default().push(tx)
            }
            SessionsMsg::Publish(events) => state.publish(events),
            SessionsMsg::WorkerSeen {
                worker_id,
                org_id,
                at,
            } => {
                state.seen.insert(worker_id, at);
                let was = state.liveness.insert(worker_id, (org_id, at, false));
                // New to this node, or back after going quiet: written
                // before the event, or the pages it makes reload would read
                // the old last-seen time and draw the worker down again.
                if was.is_none_or(|(_, _, down)| down) {
                    state.flush_seen().await;
                    state.publish(vec![LiveEvent::Workers { org_id }]);
                }
            }
            SessionsMsg::TickSeen => {
                let quiet = state.went_quiet();
                state.publish(quiet);
                state.flush_seen().await;
            }
            SessionsMsg::CloseStreams => state.streams.clear(),
            SessionsMsg::FlushSeen(reply) => {
                state.flush_seen().await;
                let _ = reply.send(());
            }
            SessionsMsg::LiveCount(reply) => {
                let _ = reply.send(state.streams.values().map(Vec::len).sum());
            }
        }
        let live: usize = state.streams.values().map(Vec::len).sum();
        crate::metrics::get()
            .live_streams
            .store(live as i64, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    async fn post_stop(
        &self,
        _: ActorRef<SessionsMsg>,
        state: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        state.ticker.abort();
        Ok(())
    }
}
