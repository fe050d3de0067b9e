//! LeaseManager: one per owned shard. Jobs wait in ready queues per
//! (organization, region); a worker takes them under a lease with a deadline;
//! a lease is renewed by the worker, completed by its result, or expires.
//! An expired lease is handed out once more; a second expiry, or a job that
//! nobody took before its next tick, is recorded as a missed check. Jobs of a
//! removed monitor are dropped at once, never cycled.
//!
//! [`Leases`] holds the logic and is tested under a manual clock; the actor
//! around it only adds the timer and the messages.

use std::collections::HashMap;
use std::time::Duration;

use openseer_protocol::wire::{Job, Renewed};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use openseer_core::clock::SharedClock;
use openseer_core::leases::{LeaseCheck, LeaseConfig, Leases, Swept};
use openseer_core::model::{PendingJob, StoredResult};

/// Where a lease manager's news goes (Ingest and the Dispatcher; wired by
/// [`super::Actors::start`], so this actor knows neither).
pub trait Outlet: Send + Sync + 'static {
    /// Missed checks to record, with their organizations.
    fn missed(&self, results: Vec<(StoredResult, i64)>);
    /// Jobs are ready in `shard` for this organization and region.
    fn ready(&self, shard: u32, org_id: i64, region: String);
}

#[derive(ractor_cluster::RactorMessage)]
pub enum LeaseMsg {
    Enqueue(Vec<PendingJob>),
    Take {
        org_id: i64,
        region: String,
        worker_id: i64,
        max: usize,
        reply: RpcReplyPort<Vec<Job>>,
    },
    /// Jobs taken for a long-poll that went away before they were sent.
    Release(Vec<String>),
    Renew {
        worker_id: i64,
        run_ids: Vec<String>,
        reply: RpcReplyPort<(Vec<Renewed>, Vec<String>)>,
    },
    Complete {
        worker_id: i64,
        run_ids: Vec<String>,
        reply: RpcReplyPort<Vec<LeaseCheck>>,
    },
    DropMonitor(i64),
    /// Leases held per worker.
    InFlight(RpcReplyPort<HashMap<i64, usize>>),
    Sweep,
}

pub struct Args {
    pub shard: u32,
    pub clock: SharedClock,
    pub config: LeaseConfig,
    pub outlet: std::sync::Arc<dyn Outlet>,
}

pub struct State {
    shard: u32,
    clock: SharedClock,
    leases: Leases,
    outlet: std::sync::Arc<dyn Outlet>,
    sweeper: tokio::task::JoinHandle<()>,
}

impl State {
    fn wake(&self, queues: Vec<(i64, String)>) {
        for (org_id, region) in queues {
            self.outlet.ready(self.shard, org_id, region);
        }
    }
}

pub struct LeaseManager;

impl Actor for LeaseManager {
    type Msg = LeaseMsg;
    type State = State;
    type Arguments = Args;

    async fn pre_start(
        &self,
        myself: ActorRef<LeaseMsg>,
        args: Args,
    ) -> Result<State, ActorProcessingErr> {
        let sweeper = myself.send_interval(Duration::from_millis(args.config.sweep_ms), || {
            LeaseMsg::Sweep
        });
        Ok(State {
            shard: args.shard,
            clock: args.clock,
            leases: Leases::new(args.config.grace_ms),
            outlet: args.outlet,
            sweeper,
        })
    }

    async fn handle(
        &self,
        _: ActorRef<LeaseMsg>,
        msg: LeaseMsg,
        state: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        let now = state.clock.now_ms();
        match msg {
            LeaseMsg::Enqueue(jobs) => {
                let woken = state.leases.enqueue(jobs, now);
                state.wake(woken);
            }
            LeaseMsg::Take {
                org_id,
                region,
                worker_id,
                max,
                reply,
            } => {
                let jobs = state.leases.take(org_id, &region, worker_id, max, now);
                crate::metrics::get()
                    .leases_issued
                    .fetch_add(jobs.len() as u64, std::sync::atomic::Ordering::Relaxed);
                // The dispatcher went away mid-call: put the jobs back.
                if let Err(ractor::MessagingErr::SendErr(jobs)) = reply.send(jobs) {
                    let ids: Vec<String> = jobs.into_iter().map(|j| j.run_id).collect();
                    let woken = state.leases.release(&ids, now);
                    state.wake(woken);
                }
            }
            LeaseMsg::Release(ids) => {
                let woken = state.leases.release(&ids, now);
                state.wake(woken);
            }
            LeaseMsg::Renew {
                worker_id,
                run_ids,
                reply,
            } => {
                let answer = state.leases.renew(worker_id, &run_ids, now);
                crate::metrics::get()
                    .leases_renewed
                    .fetch_add(answer.0.len() as u64, std::sync::atomic::Ordering::Relaxed);
                let _ = reply.send(answer);
            }
            LeaseMsg::Complete {
                worker_id,
                run_ids,
                reply,
            } => {
                let _ = reply.send(state.leases.complete(worker_id, &run_ids));
            }
            LeaseMsg::DropMonitor(id) => state.leases.drop_monitor(id),
            LeaseMsg::InFlight(reply) => {
                let _ = reply.send(state.leases.in_flight());
            }
            LeaseMsg::Sweep => {
                let Swept {
                    missed,
                    woken,
                    expired,
                    retried,
                    collapsed,
                } = state.leases.sweep(now);
                let metrics = crate::metrics::get();
                metrics
                    .leases_expired
                    .fetch_add(expired as u64, std::sync::atomic::Ordering::Relaxed);
                metrics
                    .no_worker_collapsed
                    .fetch_add(collapsed as u64, std::sync::atomic::Ordering::Relaxed);
                for (run_id, worker_id) in retried {
                    tracing::info!(%run_id, worker_id, "lease expired; handing the check out again");
                }
                if !missed.is_empty() {
                    state.outlet.missed(missed);
                }
                state.wake(woken);
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _: ActorRef<LeaseMsg>,
        state: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        state.sweeper.abort();
        Ok(())
    }
}
