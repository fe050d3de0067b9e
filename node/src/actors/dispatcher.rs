//! Dispatcher: one per node. Serves worker long-polls: takes due jobs for the
//! worker's organization and region from the lease managers; when there are
//! none, parks the poll until a lease manager reports ready jobs or the
//! poll's wait runs out.
//!
//! Lease managers report every queue that gets jobs (`JobsReady`), so the
//! dispatcher keeps a set of (shard, organization, region) queues that may
//! hold jobs and asks only those shards, instead of all of them on every poll.

use std::collections::HashSet;
use std::time::Duration;

use openseer_protocol::wire::Job;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use super::lease_manager::LeaseMsg;
use crate::clock::SharedClock;
use crate::store::WorkerAuth;

pub enum DispatchMsg {
    SetLeaseManagers(Vec<ActorRef<LeaseMsg>>),
    Poll {
        worker: WorkerAuth,
        max: usize,
        wait_ms: u32,
        reply: RpcReplyPort<Vec<Job>>,
    },
    JobsReady {
        shard: usize,
        org_id: i64,
        region: String,
    },
    ExpireWaiters,
}

struct Waiter {
    worker: WorkerAuth,
    max: usize,
    deadline: i64,
    reply: RpcReplyPort<Vec<Job>>,
}

pub struct Args {
    pub clock: SharedClock,
}

pub struct State {
    clock: SharedClock,
    lease_managers: Vec<ActorRef<LeaseMsg>>,
    waiters: Vec<Waiter>,
    /// Queues that may hold jobs: (shard, organization, region).
    hints: HashSet<(usize, i64, String)>,
    /// Shard to start the next take at, so no shard is always served last.
    cursor: usize,
    ticker: tokio::task::JoinHandle<()>,
}

impl State {
    async fn take(&mut self, worker: &WorkerAuth, max: usize) -> Vec<Job> {
        let mut jobs = Vec::new();
        let n = self.lease_managers.len();
        let any = openseer_protocol::monitor::ANY_REGION;
        for i in 0..n {
            if jobs.len() >= max {
                break;
            }
            let shard = (self.cursor + i) % n;
            let hinted = |r: &str| self.hints.contains(&(shard, worker.org_id, r.to_string()));
            if !hinted(&worker.region) && !hinted(any) {
                continue;
            }
            let lm = &self.lease_managers[shard];
            let want = max - jobs.len();
            let got = ractor::call_t!(
                lm,
                |reply| LeaseMsg::Take {
                    org_id: worker.org_id,
                    region: worker.region.clone(),
                    worker_id: worker.worker_id,
                    max: want,
                    reply,
                },
                5_000
            );
            match got {
                Ok(mut more) => {
                    if more.len() < want {
                        // Both queues this worker takes from are empty now.
                        self.hints
                            .remove(&(shard, worker.org_id, worker.region.clone()));
                        self.hints.remove(&(shard, worker.org_id, any.to_string()));
                    }
                    jobs.append(&mut more);
                }
                Err(e) => tracing::warn!(error = %e, "a lease manager did not answer"),
            }
        }
        self.cursor = (self.cursor + 1) % n.max(1);
        jobs
    }

    /// Hands jobs back to their lease managers (the poll that wanted them is gone).
    fn release(&self, jobs: Vec<Job>) {
        for job in jobs {
            let shard = crate::schedule::shard_of(job.monitor_id, self.lease_managers.len() as u32);
            let _ = self.lease_managers[shard as usize].cast(LeaseMsg::Release(vec![job.run_id]));
        }
    }
}

pub struct Dispatcher;

impl Actor for Dispatcher {
    type Msg = DispatchMsg;
    type State = State;
    type Arguments = Args;

    async fn pre_start(
        &self,
        myself: ActorRef<DispatchMsg>,
        args: Args,
    ) -> Result<State, ActorProcessingErr> {
        let ticker =
            myself.send_interval(Duration::from_millis(100), || DispatchMsg::ExpireWaiters);
        Ok(State {
            clock: args.clock,
            lease_managers: Vec::new(),
            waiters: Vec::new(),
            hints: HashSet::new(),
            cursor: 0,
            ticker,
        })
    }

    async fn handle(
        &self,
        _: ActorRef<DispatchMsg>,
        msg: DispatchMsg,
        state: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            DispatchMsg::SetLeaseManagers(lms) => state.lease_managers = lms,
            DispatchMsg::Poll {
                worker,
                max,
                wait_ms,
                reply,
            } => {
                let jobs = state.take(&worker, max).await;
                if !jobs.is_empty() || wait_ms == 0 {
                    if let Err(ractor::MessagingErr::SendErr(jobs)) = reply.send(jobs) {
                        state.release(jobs);
                    }
                    return Ok(());
                }
                let deadline = state.clock.now_ms() + i64::from(wait_ms);
                state.waiters.push(Waiter {
                    worker,
                    max,
                    deadline,
                    reply,
                });
            }
            DispatchMsg::JobsReady {
                shard,
                org_id,
                region,
            } => {
                state.hints.insert((shard, org_id, region.clone()));
                let any = region == openseer_protocol::monitor::ANY_REGION;
                let mut i = 0;
                while i < state.waiters.len() {
                    let w = &state.waiters[i];
                    if w.reply.is_closed() {
                        state.waiters.swap_remove(i);
                        continue;
                    }
                    if w.worker.org_id != org_id || !(any || w.worker.region == region) {
                        i += 1;
                        continue;
                    }
                    let (worker, max) = (w.worker.clone(), w.max);
                    let jobs = state.take(&worker, max).await;
                    if jobs.is_empty() {
                        // Someone else took them; later waiters will not find any either.
                        break;
                    }
                    let w = state.waiters.swap_remove(i);
                    if let Err(ractor::MessagingErr::SendErr(jobs)) = w.reply.send(jobs) {
                        state.release(jobs);
                    }
                }
            }
            DispatchMsg::ExpireWaiters => {
                let now = state.clock.now_ms();
                let (done, keep): (Vec<Waiter>, Vec<Waiter>) = state
                    .waiters
                    .drain(..)
                    .partition(|w| w.deadline <= now || w.reply.is_closed());
                state.waiters = keep;
                for w in done {
                    let _ = w.reply.send(Vec::new());
                }
            }
        }
        crate::metrics::get().longpoll_waiters.store(
            state.waiters.len() as i64,
            std::sync::atomic::Ordering::Relaxed,
        );
        Ok(())
    }

    async fn post_stop(
        &self,
        _: ActorRef<DispatchMsg>,
        state: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        state.ticker.abort();
        for w in state.waiters.drain(..) {
            let _ = w.reply.send(Vec::new());
        }
        Ok(())
    }
}
