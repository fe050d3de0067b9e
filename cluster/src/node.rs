//! A node's place in the cluster: the raft instance, its start (a new
//! cluster or a join), and the raft RPCs other nodes send it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openraft::ServerState;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use openseer_core::assign::NodeId;

use crate::fence::Fence;
use crate::raft::{self, ClusterState, Command, Contacts, NodeAddr, Raft, TypeConfig};
use crate::settings::ClusterSettings;
use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};

pub struct Cluster {
    pub me: NodeId,
    pub addr: NodeAddr,
    pub raft: Raft,
    pub state: watch::Receiver<Arc<ClusterState>>,
    pub contacts: Arc<Contacts>,
    pub fence: Arc<Fence>,
    pub secret: Arc<str>,
    pub settings: ClusterSettings,
    pub(crate) client: reqwest::Client,
    /// Set once this process drains or leaves: it must not rejoin.
    pub(crate) staying_out: std::sync::atomic::AtomicBool,
    /// `checks_per_second`, as f64 bits.
    pub(crate) rate: AtomicU64,
    /// How many jobs this node's schedulers have emitted so far.
    pub(crate) scheduled: fn() -> u64,
    /// The raft index whose shard map this node's actors run (+1; 0: none
    /// yet), set by `follow_assignment`.
    pub(crate) followed: AtomicU64,
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
    /// Opens this node's raft log in `data_dir` and starts (or joins) the
    /// cluster. `scheduled` counts the jobs this node's schedulers emitted,
    /// for the rate the cluster page shows.
    pub async fn start(
        settings: ClusterSettings,
        data_dir: &Path,
        scheduled: fn() -> u64,
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
            scheduled,
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

    pub(crate) async fn post<T: Serialize>(
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

    pub(crate) fn leader_http(&self) -> Option<(NodeId, String)> {
        let leader = self.raft.metrics().borrow().current_leader?;
        let state = self.state.borrow().clone();
        let http = state
            .membership
            .nodes()
            .find(|(id, _)| **id == leader)
            .map(|(_, n)| n.http.clone())?;
        Some((leader, http))
    }

    pub(crate) fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().state == ServerState::Leader
    }

    pub(crate) async fn write(&self, cmd: Command) -> Result<(), ClusterError> {
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

    /// An append (or heartbeat) from the leader. Any answer but a higher
    /// vote means the sender is a current leader: this node's fence opens
    /// and the leader counts as heard from.
    pub async fn on_append(
        &self,
        rpc: AppendEntriesRequest<TypeConfig>,
    ) -> Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>> {
        let leader = rpc.vote.leader_id().voted_for();
        let answer = self.raft.append_entries(rpc).await;
        if matches!(&answer, Ok(r) if !matches!(r, AppendEntriesResponse::HigherVote(_))) {
            self.fence.heard();
            if let Some(leader) = leader {
                self.contacts.heard_leader(leader);
            }
        }
        answer
    }

    pub async fn on_vote(
        &self,
        rpc: VoteRequest<NodeId>,
    ) -> Result<VoteResponse<NodeId>, RaftError<NodeId>> {
        self.raft.vote(rpc).await
    }

    pub async fn on_snapshot(
        &self,
        rpc: InstallSnapshotRequest<TypeConfig>,
    ) -> Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>> {
        self.raft.install_snapshot(rpc).await
    }

    pub async fn shutdown(&self) {
        let _ = self.raft.shutdown().await;
    }
}
