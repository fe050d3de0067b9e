//! Shard assignment: which node owns which shard. Pure (no clock, no IO);
//! the raft leader calls [`rebalance`] whenever the set of live nodes
//! changes and writes the result through the raft log.
//!
//! Rules, each held by a test below:
//! - every shard has an owner whenever at least one node is live;
//! - owned counts differ by at most one between live nodes;
//! - as few shards move as possible: a live owner keeps what fits its quota,
//!   and the larger quotas go to the nodes that already hold the most;
//! - a shard's epoch grows by one each time its owner changes, never otherwise.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub type NodeId = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub node: NodeId,
    /// Grows each time the shard changes hands.
    pub epoch: u64,
}

/// `owners[shard]`: who schedules the shard, if anyone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardMap {
    pub owners: Vec<Option<Owner>>,
}

impl ShardMap {
    pub fn unassigned(shards: u32) -> ShardMap {
        ShardMap {
            owners: vec![None; shards as usize],
        }
    }

    /// Every shard to one node (a node that is not in a cluster).
    pub fn all_to(node: NodeId, shards: u32) -> ShardMap {
        ShardMap {
            owners: vec![Some(Owner { node, epoch: 1 }); shards as usize],
        }
    }

    pub fn owner_of(&self, shard: u32) -> Option<NodeId> {
        self.owners
            .get(shard as usize)
            .copied()
            .flatten()
            .map(|o| o.node)
    }

    pub fn shards_of(&self, node: NodeId) -> BTreeSet<u32> {
        self.owners
            .iter()
            .enumerate()
            .filter(|(_, o)| o.is_some_and(|o| o.node == node))
            .map(|(s, _)| s as u32)
            .collect()
    }

    pub fn counts(&self) -> BTreeMap<NodeId, usize> {
        let mut counts = BTreeMap::new();
        for o in self.owners.iter().flatten() {
            *counts.entry(o.node).or_insert(0) += 1;
        }
        counts
    }
}

/// The assignment for `live` nodes that moves the fewest shards away from
/// `current`. With no live node the map is returned unchanged: there is
/// nobody to hand shards to, and owners keep fencing themselves.
pub fn rebalance(current: &ShardMap, live: &BTreeSet<NodeId>) -> ShardMap {
    if live.is_empty() {
        return current.clone();
    }
    let shards = current.owners.len();
    let base = shards / live.len();
    let extra = shards % live.len();

    let mut held: BTreeMap<NodeId, Vec<usize>> = live.iter().map(|n| (*n, Vec::new())).collect();
    for (shard, owner) in current.owners.iter().enumerate() {
        if let Some(o) = owner {
            if let Some(list) = held.get_mut(&o.node) {
                list.push(shard);
            }
        }
    }
    // The `extra` larger quotas go to the nodes holding the most already.
    let mut by_load: Vec<(NodeId, usize)> = held.iter().map(|(n, l)| (*n, l.len())).collect();
    by_load.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let quota: BTreeMap<NodeId, usize> = by_load
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (*n, if i < extra { base + 1 } else { base }))
        .collect();

    let mut next = current.clone();
    let mut orphans: Vec<usize> = Vec::new();
    for (shard, owner) in current.owners.iter().enumerate() {
        match owner {
            Some(o) if live.contains(&o.node) => {}
            _ => orphans.push(shard),
        }
    }
    let mut room: BTreeMap<NodeId, usize> = BTreeMap::new();
    for (node, list) in &held {
        let q = quota[node];
        if list.len() > q {
            orphans.extend(list[q..].iter().copied());
        }
        room.insert(*node, q.saturating_sub(list.len()));
    }
    orphans.sort_unstable();
    for shard in orphans {
        // The node with the most room left; ties by lowest id.
        let Some((&node, _)) = room
            .iter()
            .filter(|(_, r)| **r > 0)
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        else {
            break;
        };
        *room.get_mut(&node).expect("present") -= 1;
        let epoch = current.owners[shard].map_or(0, |o| o.epoch) + 1;
        next.owners[shard] = Some(Owner { node, epoch });
    }
    next
}

/// Shards whose owner differs between two maps.
pub fn moved(a: &ShardMap, b: &ShardMap) -> usize {
    a.owners
        .iter()
        .zip(&b.owners)
        .filter(|(x, y)| x.map(|o| o.node) != y.map(|o| o.node))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHARDS: u32 = 64;

    fn set(nodes: &[NodeId]) -> BTreeSet<NodeId> {
        nodes.iter().copied().collect()
    }

    fn assert_balanced(map: &ShardMap, live: &BTreeSet<NodeId>) {
        assert!(map
            .owners
            .iter()
            .all(|o| o.is_some_and(|o| live.contains(&o.node))));
        let counts: Vec<usize> = live
            .iter()
            .map(|n| map.counts().get(n).copied().unwrap_or(0))
            .collect();
        let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        assert!(max - min <= 1, "unbalanced: {counts:?}");
    }

    #[test]
    fn a_single_node_owns_everything() {
        let map = rebalance(&ShardMap::unassigned(SHARDS), &set(&[1]));
        assert_eq!(map.shards_of(1).len(), SHARDS as usize);
        assert!(map.owners.iter().all(|o| o.unwrap().epoch == 1));
    }

    #[test]
    fn nothing_moves_when_nothing_changed() {
        let live = set(&[1, 2, 3]);
        let map = rebalance(&ShardMap::unassigned(SHARDS), &live);
        assert_eq!(rebalance(&map, &live), map);
    }

    #[test]
    fn scaling_from_one_to_seven_nodes_and_back_moves_only_what_it_must() {
        let mut map = rebalance(&ShardMap::unassigned(SHARDS), &set(&[1]));
        let mut nodes = vec![1];
        for n in 2..=7 {
            nodes.push(n);
            let live = set(&nodes);
            let next = rebalance(&map, &live);
            assert_balanced(&next, &live);
            // Exactly the newcomer's share moves, all of it to the newcomer.
            let share = next.shards_of(n).len();
            assert_eq!(moved(&map, &next), share, "adding node {n}");
            assert!(share >= SHARDS as usize / nodes.len());
            map = next;
        }
        while nodes.len() > 1 {
            let gone = nodes.pop().unwrap();
            let held = map.shards_of(gone).len();
            let live = set(&nodes);
            let next = rebalance(&map, &live);
            assert_balanced(&next, &live);
            assert_eq!(moved(&map, &next), held, "removing node {gone}");
            map = next;
        }
        assert_eq!(map.shards_of(1).len(), SHARDS as usize);
    }

    #[test]
    fn a_dead_nodes_shards_are_spread_over_the_others_and_only_those_move() {
        let map = rebalance(&ShardMap::unassigned(SHARDS), &set(&[1, 2, 3]));
        let lost = map.shards_of(2);
        let next = rebalance(&map, &set(&[1, 3]));
        assert_balanced(&next, &set(&[1, 3]));
        assert_eq!(moved(&map, &next), lost.len());
        for s in 0..SHARDS {
            if !lost.contains(&s) {
                assert_eq!(map.owners[s as usize], next.owners[s as usize]);
            } else {
                let (a, b) = (
                    map.owners[s as usize].unwrap(),
                    next.owners[s as usize].unwrap(),
                );
                assert_eq!(b.epoch, a.epoch + 1);
            }
        }
    }

    #[test]
    fn churn_keeps_every_map_balanced_and_epochs_growing() {
        // A deterministic walk over joins, deaths and returns of 7 nodes.
        let mut map = ShardMap::unassigned(SHARDS);
        let mut live = BTreeSet::new();
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..500 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let node = 1 + seed % 7;
            if !live.remove(&node) {
                live.insert(node);
            }
            let next = rebalance(&map, &live);
            if live.is_empty() {
                assert_eq!(next, map);
                continue;
            }
            assert_balanced(&next, &live);
            for (a, b) in map.owners.iter().zip(&next.owners) {
                match (a, b) {
                    (Some(a), Some(b)) if a.node == b.node => assert_eq!(a.epoch, b.epoch),
                    (Some(a), Some(b)) => assert!(b.epoch > a.epoch),
                    _ => {}
                }
            }
            map = next;
        }
    }

    #[test]
    fn a_flapping_node_moves_only_its_own_share_each_time() {
        let base = rebalance(&ShardMap::unassigned(SHARDS), &set(&[1, 2, 3]));
        let mut map = base.clone();
        for _ in 0..10 {
            let gone = rebalance(&map, &set(&[1, 2]));
            assert_eq!(moved(&map, &gone), map.shards_of(3).len());
            let back = rebalance(&gone, &set(&[1, 2, 3]));
            assert_eq!(moved(&gone, &back), back.shards_of(3).len());
            assert_balanced(&back, &set(&[1, 2, 3]));
            map = back;
        }
    }
}
