//! Which shards run here: [`Actors::own`] starts the actors of shards the
//! map gives this node and stops those it no longer does; a Rollup taking a
//! shard first re-reads what its progress says it may have missed.

use std::collections::{BTreeSet, HashMap};

use ractor::ActorRef;

use openseer_core::assign::ShardMap;
use openseer_core::schedule::{shard_of, SHARDS};
use openseer_store::{Monitor, Results, Store};

use super::lease_manager::{self, LeaseManager};
use super::rollup::{self, Rollup, RollupMsg};
use super::routing::group_keys;
use super::scheduler::{self, Scheduler};
use super::shards::ShardActors;
use super::{child, Actors, StartError};

/// How far back a shard taken over from another node schedules.
const TAKEOVER_CATCH_UP_MS: i64 = 1_500;

impl Actors {
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
                    outlet: ctx.outlet.clone(),
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
