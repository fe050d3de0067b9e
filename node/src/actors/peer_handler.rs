//! What this node does with what other nodes send it: the node's side of
//! the cluster crate's peer transport. A peer's request is answered from
//! this node's own actors only ([`Reach::ThisNode`]), so two nodes never
//! wait on each other.

use openseer_cluster::peer::{PeerCast, PeerHandler};
use openseer_core::leases::LeaseCheck;
use openseer_protocol::wire::{Job, Renewed};
use openseer_protocol::CheckResult;

use super::dispatcher::DispatchMsg;
use super::lease_manager::LeaseMsg;
use super::rollup::RollupMsg;
use super::routing::{group_keys, Reach};
use super::sessions::SessionsMsg;
use super::shards::{Route, ShardActors};
use super::Actors;

/// [`Actors`] as another node sees them.
pub struct FromPeers(pub Actors);

impl PeerHandler for FromPeers {
    async fn take(&self, org_id: i64, region: String, worker_id: i64, max: usize) -> Vec<Job> {
        self.0.take_local(org_id, &region, worker_id, max).await
    }

    async fn complete(
        &self,
        worker_id: i64,
        run_ids: Vec<String>,
    ) -> Result<Vec<LeaseCheck>, String> {
        // Answered in the order asked: the caller pairs them by position.
        let by_id = self
            .0
            .complete(worker_id, &run_ids, Reach::ThisNode)
            .await?;
        Ok(run_ids
            .iter()
            .map(|id| by_id.get(id).copied().unwrap_or(LeaseCheck::NotLeased))
            .collect())
    }

    async fn renew(
        &self,
        worker_id: i64,
        run_ids: Vec<String>,
    ) -> Result<(Vec<Renewed>, Vec<String>), String> {
        self.0.renew(worker_id, &run_ids, Reach::ThisNode).await
    }

    fn probe(&self, org_id: i64, result: CheckResult) -> bool {
        self.0.probes.is_waiting(&result.run_id, org_id) && self.0.probes.complete(result)
    }

    /// Something another node tells this one.
    fn notice(&self, cast: PeerCast) {
        match cast {
            PeerCast::Release(run_ids) => {
                for (route, ids) in self.0.group_by_route(run_ids) {
                    if let Route::Local(a) = route {
                        let _ = a.lease_manager.cast(LeaseMsg::Release(ids));
                    }
                }
            }
            PeerCast::Live(events) => {
                let _ = self.0.sessions.cast(SessionsMsg::Publish(events));
            }
            PeerCast::Dirty(keys) => {
                for (shard, keys) in group_keys(keys) {
                    if let Route::Local(ShardActors {
                        rollup: Some(r), ..
                    }) = self.0.shards.route(shard)
                    {
                        let _ = r.cast(RollupMsg::Dirty(keys));
                    }
                }
            }
            PeerCast::Ticks(items) => self.0.alert_on(items),
            PeerCast::MonitorChanged(id) => {
                let actors = self.0.clone();
                tokio::spawn(async move {
                    match actors.store().monitor_any_org(id).await {
                        Ok(Some(m)) => actors.monitor_changed(&m),
                        Ok(None) => actors.monitor_removed(id),
                        Err(e) => {
                            tracing::warn!(monitor_id = id, error = %e, "loading a changed monitor")
                        }
                    }
                });
            }
            PeerCast::MonitorRemoved(id) => self.0.monitor_removed(id),
            PeerCast::CheckNow(id) => self.0.check_now(id),
            PeerCast::MaintenanceChanged(org_id) => self.0.maintenance_changed_here(org_id),
            PeerCast::JobsReady {
                node,
                org_id,
                region,
            } => {
                let _ = self.0.dispatcher.cast(DispatchMsg::RemoteReady {
                    node,
                    org_id,
                    region,
                });
            }
        }
    }
}
