//! Which node runs each shard's actors. Not an actor: a table read by the
//! HTTP handlers, Ingest and the Dispatcher to route every message about a
//! monitor, and written by [`super::Actors::own`] as ownership changes.

use std::sync::{OnceLock, RwLock};

use ractor::ActorRef;

use super::lease_manager::LeaseMsg;
use super::rollup::RollupMsg;
use super::scheduler::SchedMsg;
use openseer_core::assign::NodeId;
use openseer_core::model::{is_probe, probe_node};
use openseer_core::schedule::shard_of;

/// The actors of one shard on this node. The probe queue has no
/// scheduler and no rollup.
#[derive(Clone)]
pub struct ShardActors {
    pub scheduler: Option<ActorRef<SchedMsg>>,
    pub lease_manager: ActorRef<LeaseMsg>,
    pub rollup: Option<ActorRef<RollupMsg>>,
}

impl ShardActors {
    pub fn schedule(&self, msg: SchedMsg) {
        if let Some(s) = &self.scheduler {
            // Fails only while the node shuts down.
            let _ = s.cast(msg);
        }
    }

    /// Stops the shard's actors because the shard moved to another node.
    pub async fn hand_over(self) {
        let why = || Some(super::root::HANDED_OVER.to_string());
        if let Some(s) = self.scheduler {
            s.stop(why());
        }
        self.lease_manager.stop(why());
        if let Some(r) = self.rollup {
            // Write what is pending before another node takes over.
            let _ = ractor::call_t!(r, RollupMsg::Drain, 30_000);
            r.stop(why());
        }
    }
}

#[derive(Clone)]
pub enum Route {
    Local(ShardActors),
    Remote(NodeId),
    Nobody,
}

#[derive(Clone)]
enum Slot {
    Local(ShardActors),
    Remote(NodeId),
    Nobody,
}

pub struct ShardTable {
    me: NodeId,
    shards: u32,
    slots: RwLock<Vec<Slot>>,
    probe_queue: OnceLock<ActorRef<LeaseMsg>>,
}

impl ShardTable {
    pub fn new(me: NodeId, shards: u32) -> ShardTable {
        ShardTable {
            me,
            shards,
            slots: RwLock::new(vec![Slot::Nobody; shards as usize]),
            probe_queue: OnceLock::new(),
        }
    }

    pub fn me(&self) -> NodeId {
        self.me
    }

    pub fn set_probe_queue(&self, queue: ActorRef<LeaseMsg>) {
        let _ = self.probe_queue.set(queue);
    }

    pub fn route(&self, shard: u32) -> Route {
        match self.slots.read().expect("shard table").get(shard as usize) {
            Some(Slot::Local(a)) => Route::Local(a.clone()),
            Some(Slot::Remote(n)) => Route::Remote(*n),
            _ => Route::Nobody,
        }
    }

    /// Where the lease manager (and scheduler) of this monitor's jobs runs;
    /// a probe's is the queue of the node that waits for it.
    pub fn route_monitor(&self, monitor_id: i64) -> Route {
        if is_probe(monitor_id) {
            let node = probe_node(monitor_id);
            if node != self.me {
                return Route::Remote(node);
            }
            return match self.probe_queue.get() {
                Some(q) => Route::Local(ShardActors {
                    scheduler: None,
                    lease_manager: q.clone(),
                    rollup: None,
                }),
                None => Route::Nobody,
            };
        }
        self.route(shard_of(monitor_id, self.shards))
    }

    pub fn local(&self, shard: u32) -> Option<ShardActors> {
        match self.route(shard) {
            Route::Local(a) => Some(a),
            _ => None,
        }
    }

    pub fn set_local(&self, shard: u32, actors: ShardActors) {
        self.slots.write().expect("shard table")[shard as usize] = Slot::Local(actors);
    }

    pub fn set_remote(&self, shard: u32, owner: Option<NodeId>) {
        self.slots.write().expect("shard table")[shard as usize] = match owner {
            Some(n) => Slot::Remote(n),
            None => Slot::Nobody,
        };
    }

    /// This node's lease managers, keyed by shard (the probe queue under
    /// the key `shards`).
    pub fn local_lease_managers(&self) -> Vec<(u32, ActorRef<LeaseMsg>)> {
        let slots = self.slots.read().expect("shard table");
        let mut out: Vec<(u32, ActorRef<LeaseMsg>)> = slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s {
                Slot::Local(a) => Some((i as u32, a.lease_manager.clone())),
                _ => None,
            })
            .collect();
        if let Some(q) = self.probe_queue.get() {
            out.push((self.shards, q.clone()));
        }
        out
    }

    pub fn local_rollups(&self) -> Vec<ActorRef<RollupMsg>> {
        let slots = self.slots.read().expect("shard table");
        slots
            .iter()
            .filter_map(|s| match s {
                Slot::Local(a) => a.rollup.clone(),
                _ => None,
            })
            .collect()
    }

    /// Empties the table (at shutdown) and hands back what ran here.
    pub fn take_all_local(&self) -> Vec<ShardActors> {
        let mut slots = self.slots.write().expect("shard table");
        slots
            .iter_mut()
            .filter_map(|s| match std::mem::replace(s, Slot::Nobody) {
                Slot::Local(a) => Some(a),
                _ => None,
            })
            .collect()
    }

    /// Nodes that own at least one shard, other than this one.
    pub fn remote_owners(&self) -> Vec<NodeId> {
        let slots = self.slots.read().expect("shard table");
        let mut nodes: Vec<NodeId> = slots
            .iter()
            .filter_map(|s| match s {
                Slot::Remote(n) => Some(*n),
                _ => None,
            })
            .collect();
        nodes.sort_unstable();
        nodes.dedup();
        nodes
    }
}
