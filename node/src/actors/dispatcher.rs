//! Dispatcher: one per node. Serves worker long-polls: takes due jobs for the
//! worker's organization and region from the lease managers; when there are
//! none, parks the poll until a lease manager reports ready jobs or the
//! poll's wait runs out.
//!
//! Lease managers report every queue that gets jobs (`JobsReady`), so the
//! dispatcher keeps a set of (source, organization, region) queues that may
//! hold jobs and asks only those, instead of every shard on every poll. In a
//! cluster it tells the other nodes too (`RemoteReady` on their side), so a
//! worker that polls one node gets the jobs of shards owned elsewhere: that
//! node's dispatcher asks the owner over ractor_cluster, whose peer actor
//! takes from its [`LocalQueues`] directly.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use openseer_protocol::monitor::ANY_REGION;
use openseer_protocol::wire::Job;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use super::lease_manager::LeaseMsg;
use super::shards::{Route, ShardTable};
use openseer_cluster::peer::{PeerCall, PeerCast, Peers};
use openseer_core::assign::NodeId;
use openseer_core::clock::SharedClock;
use openseer_store::WorkerAuth;

/// A peer that failed to answer is not asked again for this long.
const SUSPECT_MS: i64 = 2_000;

#[derive(ractor_cluster::RactorMessage)]
pub enum DispatchMsg {
    Poll {
        worker: WorkerAuth,
        max: usize,
        wait_ms: u32,
        reply: RpcReplyPort<Vec<Job>>,
    },
    /// A local lease manager's queue got jobs.
    JobsReady {
        shard: usize,
        org_id: i64,
        region: String,
    },
    /// A peer's queue got jobs.
    RemoteReady {
        node: NodeId,
        org_id: i64,
        region: String,
    },
    ExpireWaiters,
    /// The node is stopping: answer every waiting poll now (empty), and
    /// every later one at once, so no long-poll holds the stop up.
    Stopping,
}

struct Waiter {
    worker: WorkerAuth,
    max: usize,
    deadline: i64,
    reply: RpcReplyPort<Vec<Job>>,
}

pub struct Args {
    pub clock: SharedClock,
    pub shards: Arc<ShardTable>,
    pub peers: Option<Arc<Peers>>,
    pub local: Arc<LocalQueues>,
}

/// This node's lease managers with the queues that may hold jobs. Shared
/// with [`super::Actors::take_local`], which serves other nodes' takes
/// without going through this actor: two dispatchers each waiting on the
/// other's answer would otherwise deadlock until their calls time out.
pub struct LocalQueues {
    shards: Arc<ShardTable>,
    /// (shard, organization, region); the probe queue's key is `SHARDS`.
    hints: std::sync::Mutex<HashSet<(u32, i64, String)>>,
    cursor: std::sync::atomic::AtomicUsize,
}

impl LocalQueues {
    pub fn new(shards: Arc<ShardTable>) -> LocalQueues {
        LocalQueues {
            shards,
            hints: Default::default(),
            cursor: Default::default(),
        }
    }

    fn hint(&self, shard: u32, org_id: i64, region: String) {
        self.hints
            .lock()
            .expect("hints")
            .insert((shard, org_id, region));
    }

    /// Due jobs for `worker` from this node's lease managers.
    pub async fn take(&self, worker: &WorkerAuth, max: usize) -> Vec<Job> {
        let mut jobs = Vec::new();
        let local = self.shards.local_lease_managers();
        let n = local.len();
        let start = self
            .cursor
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        for i in 0..n {
            if jobs.len() >= max {
                break;
            }
            let (shard, lm) = &local[(start + i) % n];
            let hinted = {
                let hints = self.hints.lock().expect("hints");
                hints.contains(&(*shard, worker.org_id, worker.region.clone()))
                    || hints.contains(&(*shard, worker.org_id, ANY_REGION.to_string()))
            };
            if !hinted {
                continue;
            }
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
                        let mut hints = self.hints.lock().expect("hints");
                        hints.remove(&(*shard, worker.org_id, worker.region.clone()));
                        hints.remove(&(*shard, worker.org_id, ANY_REGION.to_string()));
                    }
                    jobs.append(&mut more);
                }
                Err(e) => tracing::warn!(error = %e, "a lease manager did not answer"),
            }
        }
        jobs
    }
}

pub struct State {
    clock: SharedClock,
    shards: Arc<ShardTable>,
    peers: Option<Arc<Peers>>,
    local: Arc<LocalQueues>,
    waiters: Vec<Waiter>,
    /// Other nodes' queues that may hold jobs: (node, organization, region).
    remote_hints: HashSet<(NodeId, i64, String)>,
    /// Peers that failed to answer, until when they are not asked.
    suspect: HashMap<NodeId, i64>,
    ticker: tokio::task::JoinHandle<()>,
    stopping: bool,
}

impl State {
    fn hinted(&self, node: NodeId, org_id: i64, region: &str) -> bool {
        self.remote_hints
            .contains(&(node, org_id, region.to_string()))
            || self
                .remote_hints
                .contains(&(node, org_id, ANY_REGION.to_string()))
    }

    fn unhint(&mut self, node: NodeId, org_id: i64, region: &str) {
        self.remote_hints
            .remove(&(node, org_id, region.to_string()));
        self.remote_hints
            .remove(&(node, org_id, ANY_REGION.to_string()));
    }

    /// Jobs from this node's queues, then from the peers that announced some.
    async fn take(&mut self, worker: &WorkerAuth, max: usize) -> Vec<Job> {
        let mut jobs = self.local.take(worker, max).await;
        if jobs.len() < max {
            self.take_remote(worker, max, &mut jobs).await;
        }
        jobs
    }

    /// Asks the peers that announced jobs for this worker's queues.
    async fn take_remote(&mut self, worker: &WorkerAuth, max: usize, jobs: &mut Vec<Job>) {
        let Some(peers) = self.peers.clone() else {
            return;
        };
        let now = self.clock.now_ms();
        self.suspect.retain(|_, until| *until > now);
        let mut nodes: Vec<NodeId> = self
            .remote_hints
            .iter()
            .filter(|(_, o, _)| *o == worker.org_id)
            .map(|(n, _, _)| *n)
            .collect();
        nodes.sort_unstable();
        nodes.dedup();
        for node in nodes {
            if jobs.len() >= max {
                break;
            }
            if !self.hinted(node, worker.org_id, &worker.region) || self.suspect.contains_key(&node)
            {
                continue;
            }
            let want = max - jobs.len();
            let call = PeerCall::Take {
                org_id: worker.org_id,
                region: worker.region.clone(),
                worker_id: worker.worker_id,
                max: want,
            };
            match peers.call::<Vec<Job>>(node, &call).await {
                Ok(mut more) => {
                    if more.len() < want {
                        self.unhint(node, worker.org_id, &worker.region);
                    }
                    jobs.append(&mut more);
                }
                Err(e) => {
                    tracing::warn!(node_id = node, error = %e, "a peer did not hand out jobs");
                    self.remote_hints.retain(|(n, _, _)| *n != node);
                    self.suspect.insert(node, now + SUSPECT_MS);
                }
            }
        }
    }

    /// Hands jobs back to their lease managers (the poll that wanted them is gone).
    fn release(&self, jobs: Vec<Job>) {
        for job in jobs {
            match self.shards.route_monitor(job.monitor_id) {
                Route::Local(a) => {
                    let _ = a.lease_manager.cast(LeaseMsg::Release(vec![job.run_id]));
                }
                Route::Remote(node) => {
                    if let Some(p) = &self.peers {
                        p.cast(node, &PeerCast::Release(vec![job.run_id]));
                    }
                }
                Route::Nobody => {}
            }
        }
    }

    /// Serves parked polls that a new hint may satisfy.
    async fn wake(&mut self, org_id: i64, region: &str) {
        let any = region == ANY_REGION;
        let mut i = 0;
        while i < self.waiters.len() {
            let w = &self.waiters[i];
            if w.reply.is_closed() {
                self.waiters.swap_remove(i);
                continue;
            }
            if w.worker.org_id != org_id || !(any || w.worker.region == region) {
                i += 1;
                continue;
            }
            let (worker, max) = (w.worker.clone(), w.max);
            let jobs = self.take(&worker, max).await;
            if jobs.is_empty() {
                // Someone else took them; later waiters will not find any either.
                break;
            }
            let w = self.waiters.swap_remove(i);
            if let Err(ractor::MessagingErr::SendErr(jobs)) = w.reply.send(jobs) {
                self.release(jobs);
            }
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
            shards: args.shards,
            peers: args.peers,
            local: args.local,
            waiters: Vec::new(),
            remote_hints: HashSet::new(),
            suspect: HashMap::new(),
            ticker,
            stopping: false,
        })
    }

    async fn handle(
        &self,
        _: ActorRef<DispatchMsg>,
        msg: DispatchMsg,
        state: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            DispatchMsg::Poll {
                worker,
                max,
                wait_ms,
                reply,
            } => {
                let jobs = state.take(&worker, max).await;
                if !jobs.is_empty() || wait_ms == 0 || state.stopping {
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
                state.local.hint(shard as u32, org_id, region.clone());
                if let Some(peers) = &state.peers {
                    peers.broadcast(&PeerCast::JobsReady {
                        node: peers.me,
                        org_id,
                        region: region.clone(),
                    });
                }
                state.wake(org_id, &region).await;
            }
            DispatchMsg::RemoteReady {
                node,
                org_id,
                region,
            } => {
                state.remote_hints.insert((node, org_id, region.clone()));
                state.wake(org_id, &region).await;
            }
            DispatchMsg::Stopping => {
                state.stopping = true;
                for w in state.waiters.drain(..) {
                    let _ = w.reply.send(Vec::new());
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
