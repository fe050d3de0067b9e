//! Joining, draining and leaving, always through the leader (a follower
//! forwards the request); a node drained by its previous run asks back in.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::ChangeMembers;
use openseer_core::assign::NodeId;

use crate::node::{Cluster, ClusterError, JoinRequest, LeaveRequest};
use crate::raft::{Command, NodeAddr};

impl Cluster {
    /// Asks the nodes given by `--join` to add this one, until one does.
    pub(crate) async fn join_until_done(self: Arc<Self>) {
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
    pub(crate) async fn rejoin_if_drained(self: Arc<Self>) {
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
}
