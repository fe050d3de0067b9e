//! Where a message about a monitor or a run goes: to this node's actors
//! of its shard, or to the node that owns the shard (through the cluster's
//! peer links), or nowhere while the shard has no owner.

use std::collections::HashMap;

use openseer_cluster::peer::{PeerCall, PeerCast};
use openseer_core::assign::NodeId;
use openseer_core::leases::LeaseCheck;
use openseer_core::schedule::{shard_of, SHARDS};
use openseer_protocol::wire::{Job, Renewed};
use openseer_store::Monitor;

use super::lease_manager::LeaseMsg;
use super::scheduler::SchedMsg;
use super::shards::Route;
use super::Actors;

impl Actors {
    /// A monitor was created or edited: its scheduler picks it up now.
    pub fn monitor_changed(&self, m: &Monitor) {
        if !m.enabled {
            self.monitor_removed(m.id);
            return;
        }
        match self.shards.route_monitor(m.id) {
            // A send fails only while the node shuts down.
            Route::Local(a) => {
                a.schedule(SchedMsg::Upsert(Box::new(m.clone())));
                let _ = self
                    .alerts
                    .cast(super::alerts::AlertsMsg::Changed(Box::new(m.clone())));
            }
            Route::Remote(node) => self.cast(node, &PeerCast::MonitorChanged(m.id)),
            Route::Nobody => {}
        }
    }

    /// A monitor was deleted or paused: no more ticks, and queued jobs go.
    pub fn monitor_removed(&self, monitor_id: i64) {
        match self.shards.route_monitor(monitor_id) {
            Route::Local(a) => {
                a.schedule(SchedMsg::Remove(monitor_id));
                let _ = a.lease_manager.cast(LeaseMsg::DropMonitor(monitor_id));
            }
            Route::Remote(node) => self.cast(node, &PeerCast::MonitorRemoved(monitor_id)),
            Route::Nobody => {}
        }
    }

    /// An organization's maintenance windows changed: every node's Alerts
    /// reads them again before its next evaluation.
    pub fn maintenance_changed(&self, org_id: i64) {
        self.maintenance_changed_here(org_id);
        if let Some(p) = &self.peers {
            p.broadcast(&PeerCast::MaintenanceChanged(org_id));
        }
    }

    pub fn maintenance_changed_here(&self, org_id: i64) {
        let _ = self
            .alerts
            .cast(super::alerts::AlertsMsg::MaintenanceChanged(org_id));
    }

    /// One extra check of an enabled monitor, in each of its regions, now.
    pub fn check_now(&self, monitor_id: i64) {
        match self.shards.route_monitor(monitor_id) {
            Route::Local(a) => a.schedule(SchedMsg::CheckNow(monitor_id)),
            Route::Remote(node) => self.cast(node, &PeerCast::CheckNow(monitor_id)),
            Route::Nobody => {}
        }
    }

    fn cast(&self, node: NodeId, cast: &PeerCast) {
        if let Some(peers) = &self.peers {
            peers.cast(node, cast);
        }
    }

    /// Run ids grouped by where their lease manager runs.
    pub(super) fn group_by_route(&self, run_ids: Vec<String>) -> Vec<(Route, Vec<String>)> {
        let mut groups: HashMap<RouteKey, (Route, Vec<String>)> = HashMap::new();
        for id in run_ids {
            let monitor_id = openseer_protocol::wire::parse_run_id(&id).map_or(0, |(m, _, _)| m);
            let route = self.shards.route_monitor(monitor_id);
            groups
                .entry(route.key())
                .or_insert_with(|| (route, Vec::new()))
                .1
                .push(id);
        }
        groups.into_values().collect()
    }
    /// Jobs from this node's own queues (for a worker polling another node).
    pub(super) async fn take_local(
        &self,
        org_id: i64,
        region: &str,
        worker_id: i64,
        max: usize,
    ) -> Vec<Job> {
        let worker = openseer_store::WorkerAuth {
            worker_id,
            org_id,
            region: region.to_string(),
        };
        self.local_queues.take(&worker, max).await
    }

    /// Checks leases for submitted results, here or (with `Reach::Cluster`)
    /// wherever their lease managers run. A result whose owner is not asked
    /// or cannot answer counts as not leased: the store keeps one row per
    /// tick whatever happens.
    pub(super) async fn complete(
        &self,
        worker_id: i64,
        run_ids: &[String],
        reach: Reach,
    ) -> Result<HashMap<String, LeaseCheck>, String> {
        let mut out = HashMap::new();
        for (route, ids) in self.group_by_route(run_ids.to_vec()) {
            let checks: Vec<LeaseCheck> = match route {
                Route::Local(a) => ractor::call_t!(
                    a.lease_manager,
                    |reply| LeaseMsg::Complete {
                        worker_id,
                        run_ids: ids.clone(),
                        reply,
                    },
                    5_000
                )
                .map_err(|e| e.to_string())?,
                Route::Remote(node) if reach == Reach::Cluster => match self.peers.as_ref() {
                    Some(p) => p
                        .call(
                            node,
                            &PeerCall::Complete {
                                worker_id,
                                run_ids: ids.clone(),
                            },
                        )
                        .await
                        .unwrap_or_else(|e| {
                            tracing::warn!(error = %e, "checking leases on a peer");
                            vec![LeaseCheck::NotLeased; ids.len()]
                        }),
                    None => vec![LeaseCheck::NotLeased; ids.len()],
                },
                _ => vec![LeaseCheck::NotLeased; ids.len()],
            };
            if checks.len() != ids.len() {
                return Err("a lease manager answered for the wrong number of runs".into());
            }
            out.extend(ids.into_iter().zip(checks));
        }
        Ok(out)
    }

    /// A worker's renewals, wherever the lease managers of its runs are.
    pub async fn renew_leases(
        &self,
        worker_id: i64,
        run_ids: &[String],
    ) -> Result<(Vec<Renewed>, Vec<String>), super::ActorsError> {
        self.renew(worker_id, run_ids, Reach::Cluster)
            .await
            .map_err(|why| super::ActorsError::Unavailable {
                what: "renewing leases",
                why,
            })
    }

    /// Extends leases here or (with `Reach::Cluster`) wherever their lease
    /// managers run; leases nobody can vouch for are reported lost.
    pub(super) async fn renew(
        &self,
        worker_id: i64,
        run_ids: &[String],
        reach: Reach,
    ) -> Result<(Vec<Renewed>, Vec<String>), String> {
        let (mut renewed, mut lost) = (Vec::new(), Vec::new());
        for (route, ids) in self.group_by_route(run_ids.to_vec()) {
            match route {
                Route::Local(a) => {
                    let (r, l) = ractor::call_t!(
                        a.lease_manager,
                        |reply| LeaseMsg::Renew {
                            worker_id,
                            run_ids: ids,
                            reply,
                        },
                        5_000
                    )
                    .map_err(|e| e.to_string())?;
                    renewed.extend(r);
                    lost.extend(l);
                }
                Route::Remote(node) if reach == Reach::Cluster => {
                    let answer: Result<(Vec<Renewed>, Vec<String>), _> = match self.peers.as_ref() {
                        Some(p) => p
                            .call(
                                node,
                                &PeerCall::Renew {
                                    worker_id,
                                    run_ids: ids.clone(),
                                },
                            )
                            .await
                            .map_err(|e| e.to_string()),
                        None => Err("not in a cluster".into()),
                    };
                    match answer {
                        Ok((r, l)) => {
                            renewed.extend(r);
                            lost.extend(l);
                        }
                        Err(_) => lost.extend(ids),
                    }
                }
                _ => lost.extend(ids),
            }
        }
        Ok((renewed, lost))
    }
}

/// Whose lease managers to ask: a peer's request is answered from this
/// node's own; a worker's reaches the owners on other nodes too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    ThisNode,
    Cluster,
}

/// Identifies a route for grouping (routes hold actor references).
#[derive(Hash, PartialEq, Eq)]
enum RouteKey {
    Local(ractor::ActorId),
    Remote(NodeId),
    Nobody,
}

impl Route {
    fn key(&self) -> RouteKey {
        match self {
            Route::Local(a) => RouteKey::Local(a.lease_manager.get_id()),
            Route::Remote(n) => RouteKey::Remote(*n),
            Route::Nobody => RouteKey::Nobody,
        }
    }
}

pub(super) fn group_keys(
    keys: Vec<openseer_store::BucketKey>,
) -> HashMap<u32, Vec<openseer_store::BucketKey>> {
    let mut by_shard: HashMap<u32, Vec<openseer_store::BucketKey>> = HashMap::new();
    for k in keys {
        by_shard.entry(shard_of(k.0, SHARDS)).or_default().push(k);
    }
    by_shard
}
