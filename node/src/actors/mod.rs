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
//! Per owned shard (all [`crate::schedule::SHARDS`] shards on a single node):
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
//! Start order is bottom-up (Sessions, Rollups, Ingest, lease managers, Dispatcher,
//! schedulers) so that every actor's peers exist before it; [`Actors::stop`]
//! stops top-down and drains Ingest last, so nothing taken is left unwritten.
//! Every actor is linked to [`root::Root`]: one that fails (or stops while the
//! node is not stopping) makes `/readyz` report the node unready, so it is
//! taken out of rotation and replaced rather than silently missing checks.

pub mod dispatcher;
pub mod ingest;
pub mod lease_manager;
pub mod maintenance;
pub mod probes;
pub mod rollup;
pub mod root;
pub mod scheduler;
pub mod sessions;

use std::sync::Arc;
use std::time::Duration;

use openseer_protocol::monitor::CheckSpec;
use ractor::{Actor, ActorRef};

use crate::clock::SharedClock;
use crate::rollup::plan::Retention;
use crate::schedule::{shard_of, SHARDS};
use crate::store::{Monitor, Results, Store};

use dispatcher::{DispatchMsg, Dispatcher};
use ingest::{Ingest, IngestMsg};
use lease_manager::{LeaseConfig, LeaseManager, LeaseMsg};
use maintenance::{Maintenance, MaintenanceMsg};
use rollup::{Rollup, RollupMsg};
use scheduler::{SchedMsg, Scheduler};
use sessions::{Sessions, SessionsMsg};

/// A job waiting in a lease manager (ready or leased).
#[derive(Debug, Clone)]
pub struct PendingJob {
    pub run_id: String,
    pub monitor_id: i64,
    pub org_id: i64,
    pub region: String,
    pub scheduled_at_ms: i64,
    pub interval_ms: i64,
    pub attempt: u32,
    pub check: Arc<CheckSpec>,
}

#[derive(Clone)]
pub struct Actors {
    pub sessions: ActorRef<SessionsMsg>,
    pub ingest: ActorRef<IngestMsg>,
    pub dispatcher: ActorRef<DispatchMsg>,
    pub lease_managers: Vec<ActorRef<LeaseMsg>>,
    pub schedulers: Vec<ActorRef<SchedMsg>>,
    pub rollups: Vec<ActorRef<RollupMsg>>,
    pub probes: probes::SharedProbes,
    pub maintenance: ActorRef<MaintenanceMsg>,
    pub root: ActorRef<root::RootMsg>,
    pub health: Arc<root::Health>,
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

impl Actors {
    pub async fn start(
        store: Store,
        clock: SharedClock,
        lease: LeaseConfig,
        retention: Retention,
        worker_stale_ms: i64,
    ) -> Result<Actors, StartError> {
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
        let mut rollups = Vec::with_capacity(SHARDS as usize);
        for shard in 0..SHARDS {
            let (r, _) = child(
                &root,
                "rollup",
                Rollup,
                rollup::Args {
                    shard,
                    store: store.clone(),
                    clock: clock.clone(),
                },
            )
            .await?;
            rollups.push(r);
        }
        recover_rollups(&store, &rollups).await;
        let (maintenance, _) = child(
            &root,
            "maintenance",
            Maintenance,
            maintenance::Args {
                store: store.clone(),
                clock: clock.clone(),
                retention,
            },
        )
        .await?;
        let (ingest, _) = child(
            &root,
            "ingest",
            Ingest,
            ingest::Args {
                rollups: rollups.clone(),
                store: store.clone(),
                sessions: sessions.clone(),
                clock: clock.clone(),
            },
        )
        .await?;
        let (dispatcher, _) = child(
            &root,
            "dispatcher",
            Dispatcher,
            dispatcher::Args {
                clock: clock.clone(),
            },
        )
        .await?;
        let mut lease_managers = Vec::with_capacity(SHARDS as usize);
        for shard in 0..SHARDS {
            let (lm, _) = child(
                &root,
                "lease manager",
                LeaseManager,
                lease_manager::Args {
                    shard,
                    clock: clock.clone(),
                    config: lease.clone(),
                    ingest: ingest.clone(),
                    dispatcher: dispatcher.clone(),
                },
            )
            .await?;
            lease_managers.push(lm);
        }
        dispatcher
            .cast(DispatchMsg::SetLeaseManagers(lease_managers.clone()))
            .map_err(|_| StartError {
                name: "dispatcher",
                source: ractor::SpawnErr::StartupFailed("dispatcher went away".into()),
            })?;
        let monitors = store.enabled_monitors().await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "loading monitors for the schedulers");
            Vec::new()
        });
        let mut by_shard: Vec<Vec<Monitor>> = vec![Vec::new(); SHARDS as usize];
        for m in monitors {
            by_shard[shard_of(m.id, SHARDS) as usize].push(m);
        }
        let mut schedulers = Vec::with_capacity(SHARDS as usize);
        for (shard, monitors) in by_shard.into_iter().enumerate() {
            let (s, _) = child(
                &root,
                "scheduler",
                Scheduler,
                scheduler::Args {
                    shard: shard as u32,
                    clock: clock.clone(),
                    monitors,
                    lease_manager: lease_managers[shard].clone(),
                },
            )
            .await?;
            schedulers.push(s);
        }
        Ok(Actors {
            sessions,
            ingest,
            dispatcher,
            lease_managers,
            schedulers,
            rollups,
            probes: Arc::default(),
            maintenance,
            root,
            health,
        })
    }

    /// Writes every pending rollup bucket, all tiers.
    pub async fn drain_rollups(&self) {
        for r in &self.rollups {
            if let Err(e) = ractor::call_t!(r, RollupMsg::Drain, 60_000) {
                tracing::error!(error = %e, "draining rollups");
            }
        }
    }

    /// How far behind the rollups are: now minus the oldest shard's last
    /// moment with nothing pending (ms).
    pub async fn rollup_lag_ms(&self, now: i64) -> i64 {
        let mut oldest = now;
        for r in &self.rollups {
            if let Ok(t) = ractor::call_t!(r, RollupMsg::CaughtUpAt, 1_000) {
                oldest = oldest.min(t);
            }
        }
        now - oldest
    }

    pub fn lease_manager_for(&self, monitor_id: i64) -> &ActorRef<LeaseMsg> {
        &self.lease_managers[shard_of(monitor_id, SHARDS) as usize]
    }

    /// A monitor was created or edited: its scheduler picks it up now.
    pub fn monitor_changed(&self, m: &Monitor) {
        let shard = shard_of(m.id, SHARDS) as usize;
        if !m.enabled {
            self.monitor_removed(m.id);
            return;
        }
        // A send fails only while the node shuts down.
        let _ = self.schedulers[shard].cast(SchedMsg::Upsert(Box::new(m.clone())));
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
        let _ = self
            .lease_manager_for(monitor_id)
            .cast(LeaseMsg::Enqueue(vec![job]));
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
        let _ = self
            .sessions
            .cast(SessionsMsg::Publish(vec![sessions::LiveEvent::Workers {
                org_id,
            }]));
    }

    /// One extra check of an enabled monitor, in each of its regions, now.
    pub fn check_now(&self, monitor_id: i64) {
        let shard = shard_of(monitor_id, SHARDS) as usize;
        let _ = self.schedulers[shard].cast(SchedMsg::CheckNow(monitor_id));
    }

    /// A monitor was deleted or paused: no more ticks, and queued jobs go.
    pub fn monitor_removed(&self, monitor_id: i64) {
        let shard = shard_of(monitor_id, SHARDS) as usize;
        let _ = self.schedulers[shard].cast(SchedMsg::Remove(monitor_id));
        let _ = self.lease_managers[shard].cast(LeaseMsg::DropMonitor(monitor_id));
    }

    /// Stops scheduling, then drains Ingest so every accepted result is written.
    pub async fn stop(&self) {
        self.health.set_stopping();
        for s in &self.schedulers {
            s.stop(None);
        }
        self.dispatcher.stop(None);
        for lm in &self.lease_managers {
            lm.stop(None);
        }
        let drained = ractor::call_t!(self.ingest, IngestMsg::Drain, 30_000);
        if let Err(e) = drained {
            tracing::error!(error = %e, "draining ingest at shutdown");
        }
        self.ingest.stop(None);
        self.drain_rollups().await;
        for r in &self.rollups {
            r.stop(None);
        }
        self.maintenance.stop(None);
        let _ = ractor::call_t!(self.sessions, SessionsMsg::FlushSeen, 5_000);
        self.sessions.stop(None);
        self.root.stop(None);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Results received since the oldest shard's recorded progress (less a
/// minute for commits in flight when it was recorded) may be missing from
/// the rollups: hand their buckets to the shards again.
async fn recover_rollups(store: &Store, rollups: &[ActorRef<RollupMsg>]) {
    const IN_FLIGHT_MS: i64 = 60_000;
    let since = match store.rollup_progress().await {
        Ok(p) => p.map_or(i64::MIN, |t| t - IN_FLIGHT_MS),
        Err(e) => {
            tracing::error!(error = %e, "reading rollup progress; rolling up everything kept");
            i64::MIN
        }
    };
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
    tracing::info!(
        buckets = keys.len(),
        "rolling up results received before the last stop"
    );
    let mut by_shard: Vec<Vec<crate::store::BucketKey>> = vec![Vec::new(); rollups.len()];
    for k in keys {
        by_shard[shard_of(k.0, rollups.len() as u32) as usize].push(k);
    }
    for (r, keys) in rollups.iter().zip(by_shard) {
        if !keys.is_empty() {
            let _ = r.cast(RollupMsg::Dirty(keys));
        }
    }
}
