//! Maintenance: one per node. At start and then every
//! [`MAINTENANCE_INTERVAL`]: creates the day partitions of raw results for
//! the coming week (PostgreSQL), and applies retention: raw results, then
//! each rollup tier, then the audit log; and drops expired sessions. Every
//! step is idempotent, so several nodes may run it.

use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use openseer_core::clock::SharedClock;
use openseer_core::rollup::plan::{Retention, Tier, DAY};
use openseer_store::Store;

pub const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(3_600);
/// Partitions are made this far ahead.
const AHEAD_MS: i64 = 7 * DAY;

#[derive(ractor_cluster::RactorMessage)]
pub enum MaintenanceMsg {
    Run,
    /// Runs now and answers with what was removed.
    RunNow(RpcReplyPort<Result<Expired, String>>),
}

/// What one run removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expired {
    pub partitions_dropped: u64,
    pub raw_deleted: u64,
    pub rollups_deleted: u64,
    pub audit_deleted: u64,
    pub sessions_deleted: u64,
}

/// How long things are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keep {
    pub data: Retention,
    pub audit_ms: i64,
}

/// Audit events are kept this long unless configured.
pub const DEFAULT_AUDIT_RETENTION_DAYS: i64 = 400;

impl Default for Keep {
    fn default() -> Keep {
        Keep {
            data: Retention::default(),
            audit_ms: DEFAULT_AUDIT_RETENTION_DAYS * DAY,
        }
    }
}

pub struct Args {
    pub store: Store,
    pub clock: SharedClock,
    pub keep: Keep,
}

pub struct Maintenance;

/// One run: partitions ahead, then retention from the finest data up.
pub async fn run_once(
    store: &Store,
    now: i64,
    keep: &Keep,
) -> Result<Expired, openseer_store::StoreError> {
    let r = &keep.data;
    store.create_partitions(now - DAY, now + AHEAD_MS).await?;
    let (partitions_dropped, raw_deleted) = store.expire_raw(now - r.raw_ms).await?;
    let mut rollups_deleted = store
        .expire_rollups(Tier::Minute, now - r.minute_ms)
        .await?;
    rollups_deleted += store.expire_rollups(Tier::Hour, now - r.hour_ms).await?;
    if let Some(day_ms) = r.day_ms {
        rollups_deleted += store.expire_rollups(Tier::Day, now - day_ms).await?;
    }
    let audit_deleted = store.purge_audit(now - keep.audit_ms).await?;
    let sessions_deleted = store.sessions_purge_expired(now).await?;
    Ok(Expired {
        partitions_dropped,
        raw_deleted,
        rollups_deleted,
        audit_deleted,
        sessions_deleted,
    })
}

impl Actor for Maintenance {
    type Msg = MaintenanceMsg;
    type State = Args;
    type Arguments = Args;

    async fn pre_start(
        &self,
        myself: ActorRef<MaintenanceMsg>,
        args: Args,
    ) -> Result<Args, ActorProcessingErr> {
        let _ = myself.cast(MaintenanceMsg::Run);
        myself.send_interval(MAINTENANCE_INTERVAL, || MaintenanceMsg::Run);
        Ok(args)
    }

    async fn handle(
        &self,
        _: ActorRef<MaintenanceMsg>,
        msg: MaintenanceMsg,
        s: &mut Args,
    ) -> Result<(), ActorProcessingErr> {
        let outcome = run_once(&s.store, s.clock.now_ms(), &s.keep).await;
        match &outcome {
            Ok(e) if *e != Expired::default() => tracing::info!(
                partitions_dropped = e.partitions_dropped,
                raw_deleted = e.raw_deleted,
                rollups_deleted = e.rollups_deleted,
                audit_deleted = e.audit_deleted,
                sessions_deleted = e.sessions_deleted,
                "retention applied"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "maintenance failed; will try again"),
        }
        if let MaintenanceMsg::RunNow(reply) = msg {
            let _ = reply.send(outcome.map_err(|e| e.to_string()));
        }
        Ok(())
    }
}
