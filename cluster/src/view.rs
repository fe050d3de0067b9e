//! What the cluster looks like from one node: for the cluster page,
//! `openseer cluster status` and `/cluster/v1/state`.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use openraft::ServerState;
use openseer_core::assign::NodeId;
use serde::{Deserialize, Serialize};

use crate::node::Cluster;

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

impl Cluster {
    /// Jobs scheduled per second over the last 5 s, for the cluster page.
    pub(crate) async fn sample_rate(self: Arc<Self>) {
        const EVERY: Duration = Duration::from_secs(5);
        let counter = self.scheduled;
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
}
