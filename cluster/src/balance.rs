//! The leader's work: keep the shards balanced over the live nodes, give
//! away the shards of a node silent for `failover_ms`, and keep its own
//! fence open while it leads with a quorum.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::ServerState;
use openseer_core::assign::{self, NodeId, ShardMap};
use openseer_core::schedule::SHARDS;

use crate::node::Cluster;
use crate::raft::Command;

impl Cluster {
    /// Members that could take `node`'s shards: voters, not leaving, and
    /// this leader or heard from within the failover timeout (leader only).
    pub(crate) fn takers_other_than(&self, node: NodeId) -> BTreeSet<NodeId> {
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
    pub(crate) async fn balance(self: Arc<Self>) {
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
            let current = if state.shards.owners.len() == SHARDS as usize {
                state.shards.clone()
            } else {
                ShardMap::unassigned(SHARDS)
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
    pub(crate) async fn watch_leadership(self: Arc<Self>) {
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
}
