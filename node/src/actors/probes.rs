//! One-off checks of a request that is not a monitor yet ("test this
//! request" on the monitor form). A probe is an ordinary job for the lease
//! managers with a negative monitor id, so workers need nothing special; its
//! result goes to the waiting request instead of the store, and an
//! unanswered probe is dropped, never recorded as missed.
//!
//! The waiter lives on the node that took the form post, and the probe's id
//! names that node (`-(node << 32 | sequence)`), so whichever node a worker
//! submits the result to forwards it there.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use openseer_protocol::CheckResult;
use tokio::sync::oneshot;

use std::time::Duration;

use openseer_core::model::PendingJob;
use openseer_protocol::monitor::CheckSpec;

use super::lease_manager::LeaseMsg;
use super::Actors;
use openseer_cluster::peer::PeerCall;

pub struct Probes {
    node: u64,
    next: AtomicI64,
    /// run id -> (organization, who waits)
    waiting: Mutex<HashMap<String, (i64, oneshot::Sender<CheckResult>)>>,
}

pub type SharedProbes = Arc<Probes>;

pub use openseer_core::model::{is_probe, probe_node as node_of};

impl Probes {
    pub fn new(node: u64) -> Probes {
        Probes {
            node: node & 0x7fff_ffff,
            next: AtomicI64::new(0),
            waiting: Mutex::default(),
        }
    }

    /// A fresh probe monitor id and the receiver of its result.
    pub fn register(
        &self,
        org_id: i64,
        run_id_for: impl FnOnce(i64) -> String,
    ) -> (i64, String, oneshot::Receiver<CheckResult>) {
        let seq = (self.next.fetch_add(1, Ordering::Relaxed) + 1) & 0xffff_ffff;
        let id = -(((self.node as i64) << 32) | seq.max(1));
        let run_id = run_id_for(id);
        let (tx, rx) = oneshot::channel();
        self.waiting
            .lock()
            .expect("probe registry")
            .insert(run_id.clone(), (org_id, tx));
        (id, run_id, rx)
    }

    /// Whether a worker of `org_id` may answer this probe.
    pub fn is_waiting(&self, run_id: &str, org_id: i64) -> bool {
        self.waiting
            .lock()
            .expect("probe registry")
            .get(run_id)
            .is_some_and(|(o, _)| *o == org_id)
    }

    /// Hands the result to whoever waits; false when nobody does any more.
    pub fn complete(&self, r: CheckResult) -> bool {
        let Some((_, tx)) = self
            .waiting
            .lock()
            .expect("probe registry")
            .remove(&r.run_id)
        else {
            return false;
        };
        tx.send(r).is_ok()
    }

    pub fn forget(&self, run_id: &str) {
        self.waiting.lock().expect("probe registry").remove(run_id);
    }
}

impl Actors {
    /// Hands a probe's result to the node that waits for it.
    pub(super) async fn deliver_probe(
        &self,
        org_id: i64,
        result: openseer_protocol::CheckResult,
    ) -> bool {
        let node = node_of(result.monitor_id);
        if node == self.shards.me() {
            return self.probes.is_waiting(&result.run_id, org_id) && self.probes.complete(result);
        }
        let Some(peers) = &self.peers else {
            return false;
        };
        peers
            .call(
                node,
                &PeerCall::Probe {
                    org_id,
                    result: Box::new(result),
                },
            )
            .await
            .unwrap_or(false)
    }

    /// Runs `check` once through a worker of `org_id` in `region` and waits
    /// up to `wait` for its result.
    pub async fn probe(
        &self,
        org_id: i64,
        region: &str,
        check: CheckSpec,
        now: i64,
        wait: Duration,
    ) -> Option<openseer_protocol::CheckResult> {
        let (monitor_id, run_id, rx) = self.probes.register(org_id, |id| {
            openseer_protocol::wire::run_id(id, region, now)
        });
        let job = PendingJob {
            run_id: run_id.clone(),
            monitor_id,
            org_id,
            region: region.to_string(),
            scheduled_at_ms: now,
            // Nobody took it by then: it is dropped.
            interval_ms: wait.as_millis() as i64,
            attempt: 2,
            check: Arc::new(check),
        };
        let _ = self.probe_queue.cast(LeaseMsg::Enqueue(vec![job]));
        let got = tokio::time::timeout(wait, rx)
            .await
            .ok()
            .and_then(Result::ok);
        if got.is_none() {
            self.probes.forget(&run_id);
        }
        got
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_id_names_the_node_that_waits() {
        for node in [0u64, 1, 7, 1_000_000] {
            let p = Probes::new(node);
            for _ in 0..3 {
                let (id, _, _) = p.register(1, |id| format!("{id}.eu.0"));
                assert!(is_probe(id));
                assert_eq!(node_of(id), node);
            }
        }
    }
}
