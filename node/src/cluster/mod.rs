//! The cluster: peer control planes that agree, through an openraft group,
//! on which node owns which shard.
//!
//! - `assign.rs`: pure shard assignment (balanced, fewest moves).
//! - `raft.rs`: the raft type config, the log store (local SQLite file,
//!   fsynced before acknowledging), the state machine (membership, shard
//!   map with epochs, nodes leaving) and the HTTP network.
//! - `http.rs`: the node-to-node HTTP surface (`/cluster/v1`, bearer cluster
//!   secret): raft RPCs, join, leave, state.
//! - `peer.rs`: ractor_cluster between nodes (cookie = cluster secret): jobs,
//!   leases, live events, monitor changes.
//!
//! Every node runs [`Cluster::balance`]; only the leader acts: it keeps the
//! shards balanced over the live nodes, and a node it has not reached for
//! `failover_ms` loses its shards. A node that has not heard from a leader
//! for `fence_ms` (shorter) stops scheduling on its own ([`Fence`]).

pub mod http;
pub mod peer;
pub mod raft;
pub mod tls;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::{ChangeMembers, ServerState};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use openseer_core::assign::{self, NodeId, ShardMap};
use raft::{ClusterState, Command, Contacts, NodeAddr, Raft};

#[derive(Debug, Clone)]
pub struct ClusterSettings {
    pub node_id: NodeId,
    /// ractor_cluster listen address (`host:port`).
    pub cluster_addr: String,
    /// The HTTP address other nodes reach this one at.
    pub advertise_http: String,
    /// HTTP addresses of nodes to join through; empty: initialise a new cluster.
    pub join: Vec<String>,
    pub secret: String,
    /// A node unreachable for this long loses its shards.
    pub failover_ms: u64,
    /// A node that has not heard from a leader for this long stops scheduling.
    pub fence_ms: u64,
    pub heartbeat_ms: u64,
    /// Node-to-node TLS files; `None`: plain TCP (keep it on a private network).
    pub tls: Option<tls::ClusterTls>,
}

impl ClusterSettings {
    pub fn check(&self) -> Result<(), String> {
        if self.node_id == 0 {
            return Err("node_id must be 1 or more".into());
        }
        if self.secret.len() < 16 {
            return Err("cluster_secret must be at least 16 characters".into());
        }
        if self.fence_ms >= self.failover_ms {
            return Err("fence_ms must be shorter than failover_ms".into());
        }
        if self.heartbeat_ms * 3 > self.fence_ms {
            return Err("heartbeat_ms must be at most a third of fence_ms".into());
        }
        Ok(())
    }
}

/// Whether this node may schedule: it heard from a leader (or, as leader,
/// from a quorum) within the fence timeout. A single node without a
/// cluster is never fenced.
pub struct Fence {
    start: Instant,
    timeout_ms: u64,
    /// ms since `start` of the last proof of leadership; `u64::MAX`: never fenced.
    last: AtomicU64,
}

impl Fence {
    pub fn never() -> Fence {
        Fence {
            start: Instant::now(),
            timeout_ms: 0,
            last: AtomicU64::new(u64::MAX),
        }
    }

    pub fn new(timeout_ms: u64) -> Fence {
        Fence {
            start: Instant::now(),
            timeout_ms,
            last: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64 + 1
    }

    pub fn heard(&self) {
        if self.last.load(Ordering::Relaxed) != u64::MAX {
            self.last.store(self.now(), Ordering::Relaxed);
        }
    }

    pub fn allows(&self) -> bool {
        let last = self.last.load(Ordering::Relaxed);
        last == u64::MAX || (last > 0 && self.now().saturating_sub(last) <= self.timeout_ms)
    }
}

/// What the cluster page and `/cluster/v1/state` show.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterView {
    pub me: NodeId,
    pub leader: Option<NodeId>,
    pub term: u64,
    pub role: String,
    /// The last raft log index this node applied (committed entries only).
    #[serde(default)]
    pub applied_index: u64,
    /// The last index in this node's raft log, committed or not.
    #[serde(default)]
    pub last_log_index: u64,
    pub fenced: bool,
    /// Jobs this node's schedulers emitted per second, lately.
    pub checks_per_second: f64,
    pub nodes: Vec<NodeView>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeView {
    pub id: NodeId,
    pub http: String,
    pub cluster: String,
    pub voter: bool,
    pub leaving: bool,
    pub shards: usize,
    /// ms since this node last answered the leader (leader's view only).
    pub last_contact_ms: Option<u64>,
}

pub struct Cluster {
    pub me: NodeId,
    pub addr: NodeAddr,
    pub raft: Raft,
    pub state: watch::Receiver<Arc<ClusterState>>,
    pub contacts: Arc<Contacts>,
    pub fence: Arc<Fence>,
    pub secret: Arc<str>,
    pub settings: ClusterSettings,
    client: reqwest::Client,
    /// Set once this process drains or leaves: it must not rejoin.
    staying_out: std::sync::atomic::AtomicBool,
    /// `checks_per_second`, as f64 bits.
    rate: AtomicU64,
    /// The raft index whose shard map this node's actors run (+1; 0: none
    /// yet), set by `follow_assignment`.
    followed: AtomicU64,
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("raft storage: {0}")]
    Storage(String),
    #[error("raft: {0}")]
    Raft(String),
    #[error("no leader is known yet; try again")]
    NoLeader,
    #[error("node {0}: {1}")]
    Peer(String, String),
    /// Every other member is leaving or silent: there is nobody to hand
    /// shards to (the whole cluster is stopping, or this is the last node).
    #[error("no other live node can take the shards")]
    NobodyToTakeOver,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinRequest {
    pub node_id: NodeId,
    pub http: String,
    pub cluster: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeaveRequest {
    pub node_id: NodeId,
}

impl Cluster {
    pub async fn start(
        settings: ClusterSettings,
        data_dir: &Path,
    ) -> Result<Arc<Cluster>, ClusterError> {
        let (log, sm, state) = raft::open(data_dir)
            .await
            .map_err(|e| ClusterError::Storage(e.to_string()))?;
        let config = openraft::Config {
            cluster_name: "openseer".into(),
            heartbeat_interval: settings.heartbeat_ms,
            election_timeout_min: settings.heartbeat_ms * 4,
            election_timeout_max: settings.heartbeat_ms * 8,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(500),
            max_in_snapshot_log_to_keep: 100,
            ..Default::default()
        }
        .validate()
        .map_err(|e| ClusterError::Raft(e.to_string()))?;
        let contacts = Arc::new(Contacts::default());
        let secret: Arc<str> = settings.secret.clone().into();
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(500))
            .build()
            .map_err(|e| ClusterError::Raft(e.to_string()))?;
        let network = raft::Network {
            client: client.clone(),
            secret: secret.clone(),
            contacts: contacts.clone(),
        };
        let raft = Raft::new(settings.node_id, Arc::new(config), network, log, sm)
            .await
            .map_err(|e| ClusterError::Raft(e.to_string()))?;
        let addr = NodeAddr {
            http: settings.advertise_http.clone(),
            cluster: settings.cluster_addr.clone(),
        };
        let cluster = Arc::new(Cluster {
            me: settings.node_id,
            addr: addr.clone(),
            raft: raft.clone(),
            state,
            contacts,
            fence: Arc::new(Fence::new(settings.fence_ms)),
            secret,
            settings: settings.clone(),
            client,
            staying_out: Default::default(),
            followed: AtomicU64::new(0),
            rate: AtomicU64::new(0),
        });
        let initialized = raft
            .is_initialized()
            .await
            .map_err(|e| ClusterError::Raft(e.to_string()))?;
        if !initialized {
            if settings.join.is_empty() {
                tracing::info!(node_id = settings.node_id, "initialising a new cluster");
                let members = BTreeMap::from([(settings.node_id, addr)]);
                raft.initialize(members)
                    .await
                    .map_err(|e| ClusterError::Raft(e.to_string()))?;
            } else {
                tokio::spawn(cluster.clone().join_until_done());
            }
        }
        tokio::spawn(cluster.clone().rejoin_if_drained());
        tokio::spawn(cluster.clone().balance());
        tokio::spawn(cluster.clone().watch_leadership());
        tokio::spawn(cluster.clone().sample_rate());
        Ok(cluster)
    }

    /// Asks the nodes given by `--join` to add this one, until one does.
    async fn join_until_done(self: Arc<Self>) {
        let req = JoinRequest {
            node_id: self.me,
            http: self.addr.http.clone(),
            cluster: self.addr.cluster.clone(),
        };
        loop {
            for target in &self.settings.join {
                match self.post(target, "join", &req).await {
                    Ok(()) => {
                        tracing::info!(via = %target, "joined the cluster");
                        return;
                    }
                    Err(e) => tracing::warn!(via = %target, error = %e, "joining the cluster"),
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// A node marked leaving by an earlier run (it drained before it
    /// stopped) asks to be given shards again, unless this run is itself
    /// draining or leaving. Only a mark found before this run was in the
    /// rotation counts: once it has been in, a later mark is a removal (from
    /// the dashboard, handled by another node) or its own drain, and it
    /// stays out until it is started again.
    async fn rejoin_if_drained(self: Arc<Self>) {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if self.staying_out.load(Ordering::Relaxed) {
                return;
            }
            if self.leader_http().is_none() || !self.caught_up() {
                continue;
            }
            if !self.state.borrow().leaving.contains(&self.me) {
                return;
            }
            let req = JoinRequest {
                node_id: self.me,
                http: self.addr.http.clone(),
                cluster: self.addr.cluster.clone(),
            };
            match self.join(req).await {
                Ok(()) => {
                    tracing::info!("back in the rotation after a drain");
                    return;
                }
                Err(e) => tracing::debug!(error = %e, "rejoining after a drain"),
            }
        }
    }

    async fn post<T: Serialize>(
        &self,
        http: &str,
        what: &str,
        body: &T,
    ) -> Result<(), ClusterError> {
        let base = if http.starts_with("http://") || http.starts_with("https://") {
            http.trim_end_matches('/').to_string()
        } else {
            format!("http://{http}")
        };
        let answer = self
            .client
            .post(format!("{base}/cluster/v1/{what}"))
            .bearer_auth(&*self.secret)
            .timeout(Duration::from_secs(30))
            .json(body)
            .send()
            .await
            .map_err(|e| ClusterError::Peer(http.to_string(), e.to_string()))?;
        if answer.status().is_success() {
            return Ok(());
        }
        if answer.status() == reqwest::StatusCode::CONFLICT {
            return Err(ClusterError::NobodyToTakeOver);
        }
        let status = answer.status();
        let text = answer.text().await.unwrap_or_default();
        Err(ClusterError::Peer(
            http.to_string(),
            format!("{status}: {}", text.trim()),
        ))
    }

    fn leader_http(&self) -> Option<(NodeId, String)> {
        let leader = self.raft.metrics().borrow().current_leader?;
        let state = self.state.borrow().clone();
        let http = state
            .membership
            .nodes()
            .find(|(id, _)| **id == leader)
            .map(|(_, n)| n.http.clone())?;
        Some((leader, http))
    }

    fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().state == ServerState::Leader
    }

    /// Adds a node as a voter (through the leader).
    pub async fn join(&self, req: JoinRequest) -> Result<(), ClusterError> {
        if !self.is_leader() {
            let (_, http) = self.leader_http().ok_or(ClusterError::NoLeader)?;
            return self.post(&http, "join", &req).await;
        }
        let addr = NodeAddr {
            http: req.http,
            cluster: req.cluster,
        };
        let state = self.state.borrow().clone();
        let known = state
            .membership
            .nodes()
            .any(|(id, n)| *id == req.node_id && *n == addr);
        let voter = state.membership.voter_ids().any(|id| id == req.node_id);
        if !(known && voter) {
            self.raft
                .add_learner(req.node_id, addr, true)
                .await
                .map_err(|e| ClusterError::Raft(e.to_string()))?;
            self.raft
                .change_membership(
                    ChangeMembers::AddVoterIds(BTreeSet::from([req.node_id])),
                    false,
                )
                .await
                .map_err(|e| ClusterError::Raft(e.to_string()))?;
        }
        if state.leaving.contains(&req.node_id) {
            self.write(Command::Forget(req.node_id)).await?;
        }
        tracing::info!(node_id = req.node_id, "node joined");
        Ok(())
    }

    /// Before a clean stop: asks the leader to hand this node's shards to
    /// the others and waits (a while) until it has, so a rolling restart
    /// costs at most a tick. The node rejoins the rotation when it starts.
    pub async fn drain(&self) {
        self.staying_out.store(true, Ordering::Relaxed);
        let req = LeaveRequest { node_id: self.me };
        let started = Instant::now();
        // Longer than an election: a leader that is still missing after it
        // is not coming (the others stopped too, or this node is cut off).
        let no_leader_for = Duration::from_millis(2 * self.settings.fence_ms);
        let done = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let asked = match self.leader_http() {
                    Some((leader, _)) if leader == self.me => self.hand_over(self.me).await,
                    Some((_, http)) => self.post(&http, "drain", &req).await,
                    None => Err(ClusterError::NoLeader),
                };
                match asked {
                    Ok(()) => return,
                    Err(ClusterError::NobodyToTakeOver) => {
                        tracing::info!("no other node is left to take the shards; stopping");
                        return;
                    }
                    Err(ClusterError::NoLeader) if started.elapsed() > no_leader_for => {
                        tracing::info!("no leader to hand the shards to; stopping");
                        return;
                    }
                    Err(e) => tracing::warn!(error = %e, "handing shards over before stopping"),
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await;
        if done.is_err() {
            tracing::warn!("stopping without handing the shards over; the others take them after the failover timeout");
        }
    }

    /// Marks `node` leaving and waits until the leader's balancing moved its
    /// shards (leader only).
    async fn hand_over(&self, node: NodeId) -> Result<(), ClusterError> {
        if !self.is_leader() {
            return Err(ClusterError::NoLeader);
        }
        if self.takers_other_than(node).is_empty() {
            return Err(ClusterError::NobodyToTakeOver);
        }
        self.write(Command::Leaving(node)).await?;
        let mut state = self.state.clone();
        let handed_over = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                if state.borrow().shards.shards_of(node).is_empty() {
                    return Ok(());
                }
                // The others may be stopping too (the whole cluster is).
                if self.takers_other_than(node).is_empty() {
                    return Err(ClusterError::NobodyToTakeOver);
                }
                let _ = tokio::time::timeout(Duration::from_millis(200), state.changed()).await;
            }
        })
        .await;
        handed_over.unwrap_or_else(|_| {
            Err(ClusterError::Raft(format!(
                "node {node}'s shards were not handed over within 30 s"
            )))
        })
    }

    /// `drain` on behalf of another node (through the leader).
    pub async fn drain_node(&self, req: LeaveRequest) -> Result<(), ClusterError> {
        if !self.is_leader() {
            let (_, http) = self.leader_http().ok_or(ClusterError::NoLeader)?;
            return self.post(&http, "drain", &req).await;
        }
        self.hand_over(req.node_id).await
    }

    /// Hands the node's shards to the others, then removes it from the
    /// membership (through the leader).
    pub async fn leave(&self, req: LeaveRequest) -> Result<(), ClusterError> {
        if req.node_id == self.me {
            self.staying_out.store(true, Ordering::Relaxed);
        }
        if !self.is_leader() {
            let (_, http) = self.leader_http().ok_or(ClusterError::NoLeader)?;
            return self.post(&http, "leave", &req).await;
        }
        let node = req.node_id;
        self.hand_over(node).await?;
        let voters: BTreeSet<NodeId> = self.state.borrow().membership.voter_ids().collect();
        if voters.contains(&node) && voters.len() > 1 {
            self.raft
                .change_membership(ChangeMembers::RemoveVoters(BTreeSet::from([node])), false)
                .await
                .map_err(|e| ClusterError::Raft(e.to_string()))?;
        }
        tracing::info!(node_id = node, "node left");
        Ok(())
    }

    async fn write(&self, cmd: Command) -> Result<(), ClusterError> {
        self.raft
            .client_write(cmd)
            .await
            .map(|_| ())
            .map_err(|e| ClusterError::Raft(e.to_string()))
    }

    /// The actors now run the shard map of the state applied at `applied`.
    pub fn followed(&self, applied: Option<u64>) {
        self.followed
            .store(applied.map_or(0, |i| i + 1), Ordering::Relaxed);
    }

    /// Caught up: the state machine has applied the log it restored, and
    /// this node's actors run the shard map of the latest applied state.
    pub fn caught_up(&self) -> bool {
        let state = self.state.borrow();
        let Some(applied) = state.last_applied else {
            return false;
        };
        self.followed.load(Ordering::Relaxed) == applied.index + 1
    }

    /// Members that could take `node`'s shards: voters, not leaving, and
    /// this leader or heard from within the failover timeout (leader only).
    fn takers_other_than(&self, node: NodeId) -> BTreeSet<NodeId> {
        let failover = Duration::from_millis(self.settings.failover_ms);
        let state = self.state.borrow();
        state
            .membership
            .voter_ids()
            .filter(|n| *n != node && !state.leaving.contains(n))
            .filter(|n| *n == self.me || self.contacts.since(*n).is_some_and(|d| d < failover))
            .collect()
    }

    /// The leader's loop: rebalance whenever the live set changes.
    async fn balance(self: Arc<Self>) {
        let tick = Duration::from_millis(self.settings.heartbeat_ms.max(50));
        let failover = Duration::from_millis(self.settings.failover_ms);
        let mut leader_since: Option<Instant> = None;
        loop {
            tokio::time::sleep(tick).await;
            if !self.is_leader() {
                leader_since = None;
                continue;
            }
            let since = *leader_since.get_or_insert_with(Instant::now);
            let state = self.state.borrow().clone();
            let live: BTreeSet<NodeId> = state
                .membership
                .voter_ids()
                .filter(|n| !state.leaving.contains(n))
                .filter(|n| {
                    if *n == self.me || self.contacts.since(*n).is_some_and(|d| d < failover) {
                        return true;
                    }
                    // The leader this node followed before: silent since
                    // then, which is likely why this node leads now.
                    if let Some(silent) = self.contacts.since_led_by(*n) {
                        return silent < failover;
                    }
                    // Others get a failover timeout from the start of this
                    // leadership to answer it.
                    since.elapsed() < failover
                })
                .collect();
            let current = if state.shards.owners.len() == openseer_core::schedule::SHARDS as usize {
                state.shards.clone()
            } else {
                ShardMap::unassigned(openseer_core::schedule::SHARDS)
            };
            let next = assign::rebalance(&current, &live);
            if next == state.shards {
                continue;
            }
            tracing::info!(
                moved = assign::moved(&current, &next),
                live = ?live,
                "reassigning shards"
            );
            if let Err(e) = self.write(Command::SetShards(next)).await {
                tracing::warn!(error = %e, "writing the shard map");
            }
        }
    }

    /// Keeps the fence open while this node is a leader with a quorum.
    async fn watch_leadership(self: Arc<Self>) {
        let tick = Duration::from_millis((self.settings.heartbeat_ms / 2).max(20));
        loop {
            tokio::time::sleep(tick).await;
            let m = self.raft.metrics().borrow().clone();
            if m.state == ServerState::Leader
                && m.millis_since_quorum_ack
                    .is_some_and(|ms| ms < self.settings.fence_ms)
            {
                self.fence.heard();
            }
        }
    }

    /// Jobs scheduled per second over the last 5 s, for the cluster page.
    async fn sample_rate(self: Arc<Self>) {
        const EVERY: Duration = Duration::from_secs(5);
        let counter = || crate::metrics::get().jobs_scheduled.load(Ordering::Relaxed);
        let mut last = counter();
        loop {
            tokio::time::sleep(EVERY).await;
            let now = counter();
            let rate = (now - last) as f64 / EVERY.as_secs_f64();
            self.rate.store(rate.to_bits(), Ordering::Relaxed);
            last = now;
        }
    }

    /// Every member's own view (its role, term, rate), asked over HTTP;
    /// `None` for a node that did not answer.
    pub async fn survey(&self) -> Vec<(NodeView, Option<ClusterView>)> {
        let mine = self.view();
        let mut out = Vec::new();
        for n in mine.nodes.clone() {
            if n.id == self.me {
                out.push((n, Some(mine.clone())));
                continue;
            }
            let answer = self
                .client
                .get(format!("http://{}/cluster/v1/state", n.http))
                .bearer_auth(&*self.secret)
                .timeout(Duration::from_millis(700))
                .send()
                .await;
            let view = match answer {
                Ok(r) if r.status().is_success() => r.json::<ClusterView>().await.ok(),
                _ => None,
            };
            out.push((n, view));
        }
        out
    }

    pub fn view(&self) -> ClusterView {
        let m = self.raft.metrics().borrow().clone();
        let state = self.state.borrow().clone();
        let counts = state.shards.counts();
        let voters: BTreeSet<NodeId> = state.membership.voter_ids().collect();
        let leading = m.state == ServerState::Leader;
        let nodes = state
            .membership
            .nodes()
            .map(|(id, n)| NodeView {
                id: *id,
                http: n.http.clone(),
                cluster: n.cluster.clone(),
                voter: voters.contains(id),
                leaving: state.leaving.contains(id),
                shards: counts.get(id).copied().unwrap_or(0),
                last_contact_ms: if *id == self.me {
                    Some(0)
                } else if leading {
                    self.contacts.since(*id).map(|d| d.as_millis() as u64)
                } else {
                    None
                },
            })
            .collect();
        ClusterView {
            me: self.me,
            leader: m.current_leader,
            term: m.current_term,
            role: format!("{:?}", m.state).to_lowercase(),
            applied_index: m.last_applied.map_or(0, |l| l.index),
            last_log_index: m.last_log_index.unwrap_or(0),
            fenced: !self.fence.allows(),
            checks_per_second: f64::from_bits(self.rate.load(Ordering::Relaxed)),
            nodes,
        }
    }

    pub async fn shutdown(&self) {
        let _ = self.raft.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fence_closes_when_no_leader_is_heard_and_opens_when_one_is() {
        let f = Fence::new(50);
        assert!(!f.allows(), "closed until a leader is heard");
        f.heard();
        assert!(f.allows());
        std::thread::sleep(Duration::from_millis(80));
        assert!(!f.allows(), "closed after the timeout");
        f.heard();
        assert!(f.allows());
        let alone = Fence::never();
        alone.heard();
        assert!(alone.allows());
    }
}
