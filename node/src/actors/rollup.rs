//! Rollup: one per shard. Ingest tells it, after each commit, which
//! (monitor, region, minute) buckets received results; every
//! [`FLUSH_INTERVAL`] it recomputes those minutes, and every
//! [`openseer_core::rollup::plan::UPPER_REFRESH_MS`] the hours and days above them.
//! A bucket that fails to write stays pending and is tried again.
//!
//! Crash safety: when everything pending is written, the actor records the
//! time its pass started in `rollup_progress`. A node that starts re-reads
//! the buckets of every result received since the oldest shard's progress
//! (less a minute for commits still in flight) and rolls them up again;
//! recomputing is idempotent.

use std::collections::HashSet;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::rollup::{self, TierKey};
use openseer_core::clock::SharedClock;
use openseer_core::rollup::plan::{Tier, UPPER_REFRESH_MS};
use openseer_store::{BucketKey, Store};

pub const FLUSH_INTERVAL: Duration = Duration::from_secs(2);

#[derive(ractor_cluster::RactorMessage)]
pub enum RollupMsg {
    /// Buckets with new or changed results.
    Dirty(Vec<BucketKey>),
    Tick,
    /// Writes every tier now and answers (at shutdown, and in tests).
    Drain(RpcReplyPort<()>),
    /// When this shard last had nothing pending (ms); for the lag metric.
    CaughtUpAt(RpcReplyPort<i64>),
}

pub struct Args {
    pub shard: u32,
    pub store: Store,
    pub clock: SharedClock,
}

pub struct State {
    shard: u32,
    store: Store,
    clock: SharedClock,
    minutes: HashSet<BucketKey>,
    hours: HashSet<TierKey>,
    days: HashSet<TierKey>,
    last_upper: i64,
    caught_up_at: i64,
}

/// Which tiers a pass writes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    MinutesOnly,
    AllTiers,
}

impl State {
    async fn pass(&mut self, pass: Pass) {
        let started = self.clock.now_ms();
        if !self.minutes.is_empty() {
            match rollup::refresh_minutes(&self.store, &self.minutes).await {
                Ok(hours) => {
                    self.minutes.clear();
                    self.hours.extend(hours);
                }
                Err(e) => {
                    tracing::warn!(shard = self.shard, error = %e, pending = self.minutes.len(), "minute rollups not written; will retry");
                    return;
                }
            }
        }
        if pass == Pass::MinutesOnly && started - self.last_upper < UPPER_REFRESH_MS {
            return;
        }
        self.last_upper = started;
        for tier in [Tier::Hour, Tier::Day] {
            let pending = if tier == Tier::Hour {
                &mut self.hours
            } else {
                &mut self.days
            };
            if pending.is_empty() {
                continue;
            }
            match rollup::refresh_tier(&self.store, tier, pending).await {
                Ok(above) => {
                    pending.clear();
                    self.days.extend(above);
                }
                Err(e) => {
                    tracing::warn!(shard = self.shard, error = %e, "{tier:?} rollups not written; will retry");
                    return;
                }
            }
        }
        if self.minutes.is_empty() && self.hours.is_empty() && self.days.is_empty() {
            self.caught_up_at = started;
            if let Err(e) = self.store.set_rollup_progress(self.shard, started).await {
                tracing::warn!(shard = self.shard, error = %e, "recording rollup progress");
            }
        }
    }
}

pub struct Rollup;

impl Actor for Rollup {
    type Msg = RollupMsg;
    type State = State;
    type Arguments = Args;

    async fn pre_start(
        &self,
        myself: ActorRef<RollupMsg>,
        args: Args,
    ) -> Result<State, ActorProcessingErr> {
        myself.send_interval(FLUSH_INTERVAL, || RollupMsg::Tick);
        let now = args.clock.now_ms();
        Ok(State {
            shard: args.shard,
            store: args.store,
            clock: args.clock,
            minutes: HashSet::new(),
            hours: HashSet::new(),
            days: HashSet::new(),
            last_upper: now,
            caught_up_at: now,
        })
    }

    async fn handle(
        &self,
        _: ActorRef<RollupMsg>,
        msg: RollupMsg,
        state: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RollupMsg::Dirty(keys) => state.minutes.extend(keys),
            RollupMsg::Tick => state.pass(Pass::MinutesOnly).await,
            RollupMsg::Drain(reply) => {
                state.pass(Pass::AllTiers).await;
                let _ = reply.send(());
            }
            RollupMsg::CaughtUpAt(reply) => {
                let _ = reply.send(state.caught_up_at);
            }
        }
        Ok(())
    }
}
