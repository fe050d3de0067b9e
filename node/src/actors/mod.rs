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

pub mod dispatcher;
pub mod ingest;
pub mod lease_manager;
pub mod maintenance;
pub mod peer_handler;
pub mod probes;
pub mod rollup;
pub mod root;
pub mod scheduler;
pub mod sessions;
pub mod shards;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use openseer_protocol::monitor::CheckSpec;
use openseer_protocol::wire::{Job, Renewed};
use ractor::{Actor, ActorRef};

use openseer_cluster::peer::{PeerCall, PeerCast, Peers};
use openseer_cluster::Fence;
use openseer_core::assign::{NodeId, ShardMap};
use openseer_core::clock::SharedClock;
use openseer_core::schedule::{shard_of, SHARDS};
use openseer_store::{Monitor, Results, Store};

use dispatcher::{DispatchMsg, Dispatcher, LocalQueues};
use ingest::{Ingest, IngestMsg};
use lease_manager::{LeaseManager, LeaseMsg};
use maintenance::{Maintenance, MaintenanceMsg};
use openseer_core::leases::{LeaseCheck, LeaseConfig};
use openseer_core::model::{LiveEvent, PendingJob};
use rollup::{Rollup, RollupMsg};
use scheduler::{SchedMsg, Scheduler};
use sessions::{Sessions, SessionsMsg};
use shards::{Route, ShardActors, ShardTable};

/// What starting a shard's actors needs.
struct ShardContext {
    store: Store,
    clock: SharedClock,
    lease: LeaseConfig,
    fence: Arc<Fence>,
}

#[derive(Clone)]
pub struct Actors {
    pub sessions: ActorRef<SessionsMsg>,
    pub ingest: ActorRef<IngestMsg>,
    pub dispatcher: ActorRef<DispatchMsg>,
    local_queues: Arc<LocalQueues>,
    pub shards: Arc<ShardTable>,
    /// This node's queue of probe jobs ("test this request").
    pub probe_queue: ActorRef<LeaseMsg>,
    pub probes: probes::SharedProbes,
    pub maintenance: ActorRef<MaintenanceMsg>,
    pub root: ActorRef<root::RootMsg>,
    pub health: Arc<root::Health>,
    pub fence: Arc<Fence>,
    /// Other nodes, when this one is in a cluster.
    pub peers: Option<Arc<Peers>>,
    context: Arc<ShardContext>,
    /// Serialises ownership changes.
    owning: Arc<tokio::sync::Mutex<()>>,
}

/// How far back a shard taken over from another node schedules.
const TAKEOVER_CATCH_UP_MS: i64 = 1_500;

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
        let (ingest, _) = child(
            &root,
            "ingest",
            Ingest,
            ingest::Args {
                shards: shards.clone(),
                peers: peers.clone(),
                store: store.clone(),
                sessions: sessions.clone(),
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
        let (probe_queue, _) = child(
            &root,
            "probe queue",
            LeaseManager,
            lease_manager::Args {
                shard: SHARDS,
                clock: clock.clone(),
                config: lease.clone(),
                ingest: ingest.clone(),
                dispatcher: dispatcher.clone(),
            },
        )
        .await?;
        shards.set_probe_queue(probe_queue.clone());
        let actors = Actors {
            sessions,
            ingest,
            dispatcher,
            local_queues,
            shards,
            probe_queue,
            probes: Arc::new(probes::Probes::new(me)),
            maintenance,
            root,
            health,
            fence: fence.clone(),
            peers,
            context: Arc::new(ShardContext {
                store,
                clock,
                lease,
                fence,
            }),
            owning: Arc::default(),
        };
        if actors.peers.is_none() {
            actors.own(&ShardMap::all_to(me, SHARDS)).await?;
        }
        Ok(actors)
    }

    /// Starts the actors of shards `map` gives this node and stops those of
    /// shards it no longer does. A starting Rollup first re-reads the
    /// results received since the shard's recorded progress.
    pub async fn own(&self, map: &ShardMap) -> Result<(), StartError> {
        let _one_at_a_time = self.owning.lock().await;
        let me = self.shards.me();
        let ctx = &self.context;
        let mut gained = BTreeSet::new();
        let mut lost = Vec::new();
        for shard in 0..SHARDS {
            let owner = map.owner_of(shard);
            let running = self.shards.local(shard);
            match (owner, running) {
                (Some(o), Some(_)) if o == me => {}
                (Some(o), None) if o == me => {
                    gained.insert(shard);
                }
                (other, running) => {
                    self.shards.set_remote(shard, other);
                    if let Some(actors) = running {
                        lost.push(shard);
                        actors.hand_over().await;
                    }
                }
            }
        }
        if !lost.is_empty() {
            tracing::info!(shards = ?lost, "handed shards over");
        }
        if gained.is_empty() {
            return Ok(());
        }
        let monitors = ctx.store.enabled_monitors().await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "loading monitors for the schedulers");
            Vec::new()
        });
        let mut by_shard: HashMap<u32, Vec<Monitor>> = HashMap::new();
        for m in monitors {
            let shard = shard_of(m.id, SHARDS);
            if gained.contains(&shard) {
                by_shard.entry(shard).or_default().push(m);
            }
        }
        let mut rollups = Vec::new();
        for &shard in &gained {
            let (rollup, _) = child(
                &self.root,
                "rollup",
                Rollup,
                rollup::Args {
                    shard,
                    store: ctx.store.clone(),
                    clock: ctx.clock.clone(),
                },
            )
            .await?;
            let (lease_manager, _) = child(
                &self.root,
                "lease manager",
                LeaseManager,
                lease_manager::Args {
                    shard,
                    clock: ctx.clock.clone(),
                    config: ctx.lease.clone(),
                    ingest: self.ingest.clone(),
                    dispatcher: self.dispatcher.clone(),
                },
            )
            .await?;
            let (scheduler, _) = child(
                &self.root,
                "scheduler",
                Scheduler,
                scheduler::Args {
                    shard,
                    clock: ctx.clock.clone(),
                    monitors: by_shard.remove(&shard).unwrap_or_default(),
                    lease_manager: lease_manager.clone(),
                    fence: ctx.fence.clone(),
                    // A shard that had an owner before (epoch above 1) is
                    // taken over mid-stream.
                    catch_up_ms: if map.owners[shard as usize].is_some_and(|o| o.epoch > 1) {
                        TAKEOVER_CATCH_UP_MS
                    } else {
                        0
                    },
                },
            )
            .await?;
            rollups.push((shard, rollup.clone()));
            self.shards.set_local(
                shard,
                ShardActors {
                    scheduler: Some(scheduler),
                    lease_manager,
                    rollup: Some(rollup),
                },
            );
        }
        tracing::info!(shards = ?gained, "took over shards");
        recover_rollups(&ctx.store, &rollups).await;
        Ok(())
    }

    /// Writes every pending rollup bucket, all tiers.
    pub async fn drain_rollups(&self) {
        for r in self.shards.local_rollups() {
            if let Err(e) = ractor::call_t!(r, RollupMsg::Drain, 60_000) {
                tracing::error!(error = %e, "draining rollups");
            }
        }
    }

    /// How far behind the rollups are: now minus the oldest shard's last
    /// moment with nothing pending (ms).
    pub async fn rollup_lag_ms(&self, now: i64) -> i64 {
        let mut oldest = now;
        for r in self.shards.local_rollups() {
            if let Ok(t) = ractor::call_t!(r, RollupMsg::CaughtUpAt, 1_000) {
                oldest = oldest.min(t);
            }
        }
        now - oldest
    }

    /// A monitor was created or edited: its scheduler picks it up now.
    pub fn monitor_changed(&self, m: &Monitor) {
        if !m.enabled {
            self.monitor_removed(m.id);
            return;
        }
        match self.shards.route_monitor(m.id) {
            // A send fails only while the node shuts down.
            Route::Local(a) => a.schedule(SchedMsg::Upsert(Box::new(m.clone()))),
            Route::Remote(node) => self.cast(node, &PeerCast::MonitorChanged(m.id)),
            Route::Nobody => {}
        }
    }

    /// A monitor was deleted or paused: no more ticks, and queued jobs go.
    pub fn monitor_removed(&self, monitor_id: i64) {
        match self.shards.route_monitor(monitor_id) {
            Route::Local(a) => {
                a.schedule(SchedMsg::Remove(monitor_id));
                let _ = a.lease_manager.cast(LeaseMsg::DropMonitor(monitor_id));
            }
            Route::Remote(node) => self.cast(node, &PeerCast::MonitorRemoved(monitor_id)),
            Route::Nobody => {}
        }
    }

    /// One extra check of an enabled monitor, in each of its regions, now.
    pub fn check_now(&self, monitor_id: i64) {
        match self.shards.route_monitor(monitor_id) {
            Route::Local(a) => a.schedule(SchedMsg::CheckNow(monitor_id)),
            Route::Remote(node) => self.cast(node, &PeerCast::CheckNow(monitor_id)),
            Route::Nobody => {}
        }
    }

    fn cast(&self, node: NodeId, cast: &PeerCast) {
        if let Some(peers) = &self.peers {
            peers.cast(node, cast);
        }
    }

    fn store(&self) -> &Store {
        &self.context.store
    }

    /// Run ids grouped by where their lease manager runs.
    fn group_by_route(&self, run_ids: Vec<String>) -> Vec<(Route, Vec<String>)> {
        let mut groups: HashMap<RouteKey, (Route, Vec<String>)> = HashMap::new();
        for id in run_ids {
            let monitor_id = openseer_protocol::wire::parse_run_id(&id).map_or(0, |(m, _, _)| m);
            let route = self.shards.route_monitor(monitor_id);
            groups
                .entry(route.key())
                .or_insert_with(|| (route, Vec::new()))
                .1
                .push(id);
        }
        groups.into_values().collect()
    }

    /// Jobs from this node's own queues (for a worker polling another node).
    pub async fn take_local(
        &self,
        org_id: i64,
        region: &str,
        worker_id: i64,
        max: usize,
    ) -> Vec<Job> {
        let worker = openseer_store::WorkerAuth {
            worker_id,
            org_id,
            region: region.to_string(),
        };
        self.local_queues.take(&worker, max).await
    }

    /// Checks leases for submitted results, here or (with `Reach::Cluster`)
    /// wherever their lease managers run. A result whose owner is not asked
    /// or cannot answer counts as not leased: the store keeps one row per
    /// tick whatever happens.
    pub async fn complete(
        &self,
        worker_id: i64,
        run_ids: &[String],
        reach: Reach,
    ) -> Result<HashMap<String, LeaseCheck>, String> {
        let mut out = HashMap::new();
        for (route, ids) in self.group_by_route(run_ids.to_vec()) {
            let checks: Vec<LeaseCheck> = match route {
                Route::Local(a) => ractor::call_t!(
                    a.lease_manager,
                    |reply| LeaseMsg::Complete {
                        worker_id,
                        run_ids: ids.clone(),
                        reply,
                    },
                    5_000
                )
                .map_err(|e| e.to_string())?,
                Route::Remote(node) if reach == Reach::Cluster => match self.peers.as_ref() {
                    Some(p) => p
                        .call(
                            node,
                            &PeerCall::Complete {
                                worker_id,
                                run_ids: ids.clone(),
                            },
                        )
                        .await
                        .unwrap_or_else(|e| {
                            tracing::warn!(error = %e, "checking leases on a peer");
                            vec![LeaseCheck::NotLeased; ids.len()]
                        }),
                    None => vec![LeaseCheck::NotLeased; ids.len()],
                },
                _ => vec![LeaseCheck::NotLeased; ids.len()],
            };
            if checks.len() != ids.len() {
                return Err("a lease manager answered for the wrong number of runs".into());
            }
            out.extend(ids.into_iter().zip(checks));
        }
        Ok(out)
    }

    /// Extends leases here or (with `Reach::Cluster`) wherever their lease
    /// managers run; leases nobody can vouch for are reported lost.
    pub async fn renew(
        &self,
        worker_id: i64,
        run_ids: &[String],
        reach: Reach,
    ) -> Result<(Vec<Renewed>, Vec<String>), String> {
        let (mut renewed, mut lost) = (Vec::new(), Vec::new());
        for (route, ids) in self.group_by_route(run_ids.to_vec()) {
            match route {
                Route::Local(a) => {
                    let (r, l) = ractor::call_t!(
                        a.lease_manager,
                        |reply| LeaseMsg::Renew {
                            worker_id,
                            run_ids: ids,
                            reply,
                        },
                        5_000
                    )
                    .map_err(|e| e.to_string())?;
                    renewed.extend(r);
                    lost.extend(l);
                }
                Route::Remote(node) if reach == Reach::Cluster => {
                    let answer: Result<(Vec<Renewed>, Vec<String>), _> = match self.peers.as_ref() {
                        Some(p) => p
                            .call(
                                node,
                                &PeerCall::Renew {
                                    worker_id,
                                    run_ids: ids.clone(),
                                },
                            )
                            .await
                            .map_err(|e| e.to_string()),
                        None => Err("not in a cluster".into()),
                    };
                    match answer {
                        Ok((r, l)) => {
                            renewed.extend(r);
                            lost.extend(l);
                        }
                        Err(_) => lost.extend(ids),
                    }
                }
                _ => lost.extend(ids),
            }
        }
        Ok((renewed, lost))
    }

    /// Hands a probe's result to the node that waits for it.
    pub async fn deliver_probe(&self, org_id: i64, result: openseer_protocol::CheckResult) -> bool {
        let node = probes::node_of(result.monitor_id);
        if node == self.shards.me() {
            return self.probes.is_waiting(&result.run_id, org_id) && self.probes.complete(result);
        }
        let Some(peers) = &self.peers else {
            return false;
        };
        peers
            .call(
                node,
                &PeerCall::Probe {
                    org_id,
                    result: Box::new(result),
                },
            )
            .await
            .unwrap_or(false)
    }

    /// Runs `check` once through a worker of `org_id` in `region` and waits
    /// up to `wait` for its result.
    pub async fn probe(
        &self,
        org_id: i64,
        region: &str,
        check: CheckSpec,
        now: i64,
        wait: Duration,
    ) -> Option<openseer_protocol::CheckResult> {
        let (monitor_id, run_id, rx) = self.probes.register(org_id, |id| {
            openseer_protocol::wire::run_id(id, region, now)
        });
        let job = PendingJob {
            run_id: run_id.clone(),
            monitor_id,
            org_id,
            region: region.to_string(),
            scheduled_at_ms: now,
            // Nobody took it by then: it is dropped.
            interval_ms: wait.as_millis() as i64,
            attempt: 2,
            check: Arc::new(check),
        };
        let _ = self.probe_queue.cast(LeaseMsg::Enqueue(vec![job]));
        let got = tokio::time::timeout(wait, rx)
            .await
            .ok()
            .and_then(Result::ok);
        if got.is_none() {
            self.probes.forget(&run_id);
        }
        got
    }

    /// Open worker lists of the organization should refresh.
    pub fn workers_changed(&self, org_id: i64) {
        let events = vec![LiveEvent::Workers { org_id }];
        if let Some(p) = &self.peers {
            p.broadcast(&PeerCast::Live(events.clone()));
        }
        let _ = self.sessions.cast(SessionsMsg::Publish(events));
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

/// Whose lease managers to ask: a peer's request is answered from this
/// node's own; a worker's reaches the owners on other nodes too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    ThisNode,
    Cluster,
}

/// Identifies a route for grouping (routes hold actor references).
#[derive(Hash, PartialEq, Eq)]
enum RouteKey {
    Local(ractor::ActorId),
    Remote(NodeId),
    Nobody,
}

impl Route {
    fn key(&self) -> RouteKey {
        match self {
            Route::Local(a) => RouteKey::Local(a.lease_manager.get_id()),
            Route::Remote(n) => RouteKey::Remote(*n),
            Route::Nobody => RouteKey::Nobody,
        }
    }
}

fn group_keys(
    keys: Vec<openseer_store::BucketKey>,
) -> HashMap<u32, Vec<openseer_store::BucketKey>> {
    let mut by_shard: HashMap<u32, Vec<openseer_store::BucketKey>> = HashMap::new();
    for k in keys {
        by_shard.entry(shard_of(k.0, SHARDS)).or_default().push(k);
    }
    by_shard
}

/// Results received since a shard's recorded progress (less a minute for
/// commits in flight when it was recorded) may be missing from its rollups:
/// a node taking shards over (or starting) hands their buckets to the
/// shards' Rollups again.
async fn recover_rollups(store: &Store, rollups: &[(u32, ActorRef<RollupMsg>)]) {
    const IN_FLIGHT_MS: i64 = 60_000;
    let progress = match store.rollup_progress_by_shard().await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "reading rollup progress; rolling up everything kept");
            HashMap::new()
        }
    };
    let since = rollups
        .iter()
        .map(|(s, _)| progress.get(s).map_or(i64::MIN, |t| t - IN_FLIGHT_MS))
        .min()
        .unwrap_or(i64::MIN);
    let keys = match store
        .buckets_of_results(Results::ReceivedAfter(since))
        .await
    {
        Ok(k) => k,
        Err(e) => {
            tracing::error!(error = %e, "finding results to roll up after a restart");
            return;
        }
    };
    if keys.is_empty() {
        return;
    }
    let mut by_shard = group_keys(keys.into_iter().collect());
    let mut buckets = 0;
    for (shard, r) in rollups {
        if let Some(keys) = by_shard.remove(shard) {
            buckets += keys.len();
            let _ = r.cast(RollupMsg::Dirty(keys));
        }
    }
    if buckets > 0 {
        tracing::info!(
            buckets,
            "rolling up results received before this node owned them"
        );
    }
}
