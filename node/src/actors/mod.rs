//! The node's actors (ractor), and [`Actors`], the handle the HTTP layer uses.
//!
//! Per node:
//! - [`sessions::Sessions`]: live browser streams (fan-out of live events to
//!   SSE connections) and worker liveness (last-seen, written behind).
//! - [`ingest::Ingest`]: batches results, commits them in one transaction,
//!   acknowledges only after commit, then publishes live events to Sessions.
//! - [`dispatcher::Dispatcher`]: serves worker long-polls from the lease
//!   managers of every shard.
//!
//! Per owned shard (all [`openseer_core::schedule::SHARDS`] shards on a single node;
//! in a cluster, the shards the raft group assigns to this node, started
//! and stopped by [`Actors::own`] as the assignment changes):
//! - [`scheduler::Scheduler`]: timer heap of the shard's enabled monitors;
//!   emits one job per region per tick to its lease manager.
//! - [`lease_manager::LeaseManager`]: ready queues per (organization, region),
//!   leases with deadlines, renewal, expiry (retry once, then missed).
//! - [`rollup::Rollup`]: recomputes the rollup buckets of the shard's
//!   monitors that received results (Ingest tells it after each commit).
//!
//! And [`maintenance::Maintenance`] (one per node): partitions ahead and
//! retention.
//!
//! [`shards::ShardTable`] says, for each shard, whether its actors run here,
//! on which other node (reached through `cluster::peer`), or nowhere yet;
//! every message about a monitor is routed through it.
//!
//! Start order is bottom-up (Sessions, Ingest, Dispatcher, then each owned
//! shard's Rollup, lease manager and scheduler) so that every actor's peers
//! exist before it; [`Actors::stop`]
//! stops top-down and drains Ingest last, so nothing taken is left unwritten.
//! Every actor is linked to [`root::Root`]: one that fails (or stops while the
//! node is not stopping) makes `/readyz` report the node unready, so it is
//! taken out of rotation and replaced rather than silently missing checks.

mod accept;
pub mod alerts;
pub use accept::{Accepted, ActorsError};
pub mod dispatcher;
pub mod ingest;
pub mod lease_manager;
pub mod maintenance;
pub mod outbox;
mod ownership;
pub mod peer_handler;
pub mod probes;
pub mod rollup;
pub mod root;
mod routing;
pub mod scheduler;
pub mod sessions;
pub mod shards;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use ractor::{Actor, ActorRef};

use openseer_cluster::peer::{PeerCast, Peers};
use openseer_cluster::Fence;
use openseer_core::assign::{NodeId, ShardMap};
use openseer_core::clock::SharedClock;
use openseer_core::schedule::SHARDS;
use openseer_store::Store;

use alerts::{Alerts, AlertsMsg};
use dispatcher::{DispatchMsg, Dispatcher, LocalQueues};
use ingest::{Ingest, IngestMsg};
use lease_manager::{LeaseManager, LeaseMsg};
use maintenance::{Maintenance, MaintenanceMsg};
use openseer_core::leases::LeaseConfig;
use openseer_core::model::LiveEvent;
use outbox::{Outbox, OutboxMsg};
use rollup::RollupMsg;
use sessions::{Sessions, SessionsMsg};
use shards::{ShardActors, ShardTable};

/// Lease managers' news, to Ingest (missed checks) and the Dispatcher
/// (ready jobs).
struct LeaseNews {
    ingest: ActorRef<IngestMsg>,
    dispatcher: ActorRef<DispatchMsg>,
}

impl lease_manager::Outlet for LeaseNews {
    fn missed(&self, results: Vec<(openseer_core::model::StoredResult, i64)>) {
        // Fails only while the node shuts down.
        let _ = self.ingest.cast(IngestMsg::Missed(results));
    }

    fn ready(&self, shard: u32, org_id: i64, region: String) {
        let _ = self.dispatcher.cast(DispatchMsg::JobsReady {
            shard: shard as usize,
            org_id,
            region,
        });
    }
}

/// Alerts wakes the outbox when a transition queued notifications.
struct WakeOutbox(ActorRef<OutboxMsg>);

impl alerts::Wake for WakeOutbox {
    fn wake(&self) {
        let _ = self.0.cast(OutboxMsg::Wake);
    }
}

/// What sending notifications needs.
#[derive(Clone)]
pub struct NotifySetup {
    /// The dashboard's public address, for links in messages.
    pub public_url: Option<String>,
    pub block_private: bool,
    pub tuning: outbox::Tuning,
}

/// What starting a shard's actors needs.
struct ShardContext {
    store: Store,
    clock: SharedClock,
    lease: LeaseConfig,
    fence: Arc<Fence>,
    outlet: Arc<dyn lease_manager::Outlet>,
}

/// The node's actors as the rest of the node sees them: a facade whose
/// methods hide the messages (HTTP never sends an actor message itself).
#[derive(Clone)]
pub struct Actors {
    sessions: ActorRef<SessionsMsg>,
    ingest: ActorRef<IngestMsg>,
    alerts: ActorRef<AlertsMsg>,
    outbox: ActorRef<OutboxMsg>,
    dispatcher: ActorRef<DispatchMsg>,
    local_queues: Arc<LocalQueues>,
    shards: Arc<ShardTable>,
    /// This node's queue of probe jobs ("test this request").
    probe_queue: ActorRef<LeaseMsg>,
    probes: probes::SharedProbes,
    maintenance: ActorRef<MaintenanceMsg>,
    root: ActorRef<root::RootMsg>,
    health: Arc<root::Health>,
    /// Other nodes, when this one is in a cluster.
    peers: Option<Arc<Peers>>,
    context: Arc<ShardContext>,
    /// Serialises ownership changes.
    owning: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Debug, thiserror::Error)]
#[error("starting actor {name}: {source}")]
pub struct StartError {
    name: &'static str,
    source: ractor::SpawnErr,
}

fn started(name: &'static str) -> impl FnOnce(ractor::SpawnErr) -> StartError {
    move |source| StartError { name, source }
}

/// Spawns an actor linked to the root, under a name for its messages.
async fn child<A: Actor>(
    root: &ActorRef<root::RootMsg>,
    name: &'static str,
    actor: A,
    args: A::Arguments,
) -> Result<(ActorRef<A::Msg>, tokio::task::JoinHandle<()>), StartError> {
    let spawned = Actor::spawn_linked(None, actor, args, root.get_cell())
        .await
        .map_err(started(name))?;
    let _ = root.cast(root::RootMsg::Name(spawned.0.get_id(), name));
    Ok(spawned)
}

/// Where this node stands: alone (owns every shard, never fenced) or one
/// node of a cluster (owns what the raft group assigns it).
pub enum Membership {
    Alone,
    Clustered { me: NodeId, fence: Arc<Fence> },
}

impl Actors {
    pub async fn start(
        store: Store,
        clock: SharedClock,
        lease: LeaseConfig,
        keep: maintenance::Keep,
        worker_stale_ms: i64,
        membership: Membership,
        notify: NotifySetup,
    ) -> Result<Actors, StartError> {
        let (me, fence, peers) = match membership {
            Membership::Alone => (0, Arc::new(Fence::never()), None),
            Membership::Clustered { me, fence } => (
                me,
                fence,
                Some(Arc::new(Peers {
                    me,
                    call_timeout_ms: 1_000,
                })),
            ),
        };
        let shards = Arc::new(ShardTable::new(me, SHARDS));
        let health = Arc::new(root::Health::default());
        let (root, _) = Actor::spawn(None, root::Root, health.clone())
            .await
            .map_err(started("root"))?;
        let (sessions, _) = child(
            &root,
            "sessions",
            Sessions,
            sessions::Args {
                store: store.clone(),
                clock: clock.clone(),
                worker_stale_ms,
            },
        )
        .await?;
        let (maintenance, _) = child(
            &root,
            "maintenance",
            Maintenance,
            maintenance::Args {
                store: store.clone(),
                clock: clock.clone(),
                keep,
            },
        )
        .await?;
        let (outbox, _) = child(
            &root,
            "outbox",
            Outbox,
            outbox::Args {
                store: store.clone(),
                clock: clock.clone(),
                sender: crate::notify::Sender::new(notify.block_private),
                node: format!("{me}:{}", std::process::id()),
                public_url: notify.public_url.clone(),
                tuning: notify.tuning.clone(),
            },
        )
        .await?;
        let remote_peers = peers.clone();
        let (alerts, _) = child(
            &root,
            "alerts",
            Alerts,
            alerts::Args {
                store: store.clone(),
                clock: clock.clone(),
                shards: shards.clone(),
                sessions: sessions.clone(),
                wake: Arc::new(WakeOutbox(outbox.clone())),
                publish_remote: Arc::new(move |events| {
                    if let Some(p) = &remote_peers {
                        p.broadcast(&PeerCast::Live(events));
                    }
                }),
            },
        )
        .await?;
        let (ingest, _) = child(
            &root,
            "ingest",
            Ingest,
            ingest::Args {
                shards: shards.clone(),
                peers: peers.clone(),
                store: store.clone(),
                sessions: sessions.clone(),
                alerts: alerts.clone(),
                clock: clock.clone(),
            },
        )
        .await?;
        let local_queues = Arc::new(LocalQueues::new(shards.clone()));
        let (dispatcher, _) = child(
            &root,
            "dispatcher",
            Dispatcher,
            dispatcher::Args {
                clock: clock.clone(),
                shards: shards.clone(),
                peers: peers.clone(),
                local: local_queues.clone(),
            },
        )
        .await?;
        let outlet: Arc<dyn lease_manager::Outlet> = Arc::new(LeaseNews {
            ingest: ingest.clone(),
            dispatcher: dispatcher.clone(),
        });
        let (probe_queue, _) = child(
            &root,
            "probe queue",
            LeaseManager,
            lease_manager::Args {
                shard: SHARDS,
                clock: clock.clone(),
                config: lease.clone(),
                outlet: outlet.clone(),
            },
        )
        .await?;
        shards.set_probe_queue(probe_queue.clone());
        let actors = Actors {
            sessions,
            ingest,
            alerts,
            outbox,
            dispatcher,
            local_queues,
            shards,
            probe_queue,
            probes: Arc::new(probes::Probes::new(me)),
            maintenance,
            root,
            health,

            peers,
            context: Arc::new(ShardContext {
                store,
                clock,
                lease,
                fence,
                outlet,
            }),
            owning: Arc::default(),
        };
        if actors.peers.is_none() {
            actors.own(&ShardMap::all_to(me, SHARDS)).await?;
        }
        Ok(actors)
    }

    /// Committed results a peer sent for shards this node owns.
    pub fn alert_on(&self, items: Vec<openseer_core::alert::TickResult>) {
        let _ = self.alerts.cast(AlertsMsg::Results(items));
    }

    /// Looks for notifications to send now (after a test queued one).
    pub fn wake_outbox(&self) {
        let _ = self.outbox.cast(OutboxMsg::Wake);
    }

    /// Open incident pages of the organization should refresh.
    pub fn incident_changed(&self, org_id: i64, monitor_id: i64) {
        let events = vec![LiveEvent::Incident { org_id, monitor_id }];
        if let Some(p) = &self.peers {
            p.broadcast(&PeerCast::Live(events.clone()));
        }
        let _ = self.sessions.cast(SessionsMsg::Publish(events));
    }

    /// Open worker lists of the organization should refresh.
    pub fn workers_changed(&self, org_id: i64) {
        let events = vec![LiveEvent::Workers { org_id }];
        if let Some(p) = &self.peers {
            p.broadcast(&PeerCast::Live(events.clone()));
        }
        let _ = self.sessions.cast(SessionsMsg::Publish(events));
    }

    /// A worker called: it counts as seen now (written behind).
    pub fn worker_seen(&self, worker_id: i64, org_id: i64, at: i64) {
        let _ = self.sessions.cast(SessionsMsg::WorkerSeen {
            worker_id,
            org_id,
            at,
        });
    }

    /// A live stream of the organization's events. `None` while the node
    /// stops.
    pub fn subscribe(&self, org_id: i64, buffer: usize) -> Option<mpsc::Receiver<LiveEvent>> {
        let (tx, rx) = mpsc::channel(buffer);
        self.sessions
            .cast(SessionsMsg::Subscribe { org_id, tx })
            .ok()?;
        Some(rx)
    }

    /// Leases held per worker, by this node's lease managers.
    pub async fn in_flight(&self) -> HashMap<i64, usize> {
        let mut in_flight = HashMap::<i64, usize>::new();
        for (_, lm) in self.shards.local_lease_managers() {
            if let Ok(m) = ractor::call_t!(lm, LeaseMsg::InFlight, 2_000) {
                for (w, n) in m {
                    *in_flight.entry(w).or_default() += n;
                }
            }
        }
        in_flight
    }

    /// Why this node is not fit to serve (an actor failed), if it is not.
    pub fn failure(&self) -> Option<String> {
        self.health.failure()
    }

    /// The actors of a shard this node runs (the tests kill one to see the
    /// node report itself unready).
    pub fn local_shard(&self, shard: u32) -> Option<ShardActors> {
        self.shards.local(shard)
    }

    /// How many shards this node runs.
    pub fn owned_shards(&self) -> u32 {
        self.shards.local_rollups().len() as u32
    }

    /// Before the server stops: ends live streams and answers waiting
    /// long-polls at once (workers' polls of up to 30 s would otherwise
    /// hold a graceful stop up to its limit).
    pub fn stopping(&self) {
        self.close_streams();
        let _ = self.dispatcher.cast(DispatchMsg::Stopping);
    }

    /// Ends every live stream (so their connections can close).
    pub fn close_streams(&self) {
        let _ = self.sessions.cast(SessionsMsg::CloseStreams);
    }

    fn store(&self) -> &Store {
        &self.context.store
    }

    /// Stops scheduling, then drains Ingest so every accepted result is written.
    pub async fn stop(&self) {
        self.health.set_stopping();
        let owned = self.shards.take_all_local();
        for a in &owned {
            if let Some(s) = &a.scheduler {
                s.stop(None);
            }
        }
        self.dispatcher.stop(None);
        for a in &owned {
            a.lease_manager.stop(None);
        }
        self.probe_queue.stop(None);
        let drained = ractor::call_t!(self.ingest, IngestMsg::Drain, 30_000);
        if let Err(e) = drained {
            tracing::error!(error = %e, "draining ingest at shutdown");
        }
        self.ingest.stop(None);
        for a in &owned {
            if let Some(r) = &a.rollup {
                if let Err(e) = ractor::call_t!(r, RollupMsg::Drain, 60_000) {
                    tracing::error!(error = %e, "draining rollups");
                }
                r.stop(None);
            }
        }
        self.maintenance.stop(None);
        let _ = ractor::call_t!(self.sessions, SessionsMsg::FlushSeen, 5_000);
        self.sessions.stop(None);
        self.root.stop(None);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
