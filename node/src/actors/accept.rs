//! What a worker's poll gets and which of its results are kept: the one
//! rule between the worker API and the actors. HTTP only checks who calls
//! and how big the request is.

use std::collections::{HashMap, HashSet};

use openseer_core::leases::LeaseCheck;
use openseer_core::model::{is_probe, StoredResult};
use openseer_core::schedule::phase_ms;
use openseer_protocol::wire::{self, Job, Rejected};
use openseer_protocol::{CheckResult, ErrorCode, Outcome};
use openseer_store::{MonitorScope, StoreError, WorkerAuth};

use super::dispatcher::DispatchMsg;
use super::ingest::{DropReason, IngestMsg};
use super::routing::Reach;
use super::Actors;

#[derive(Debug, thiserror::Error)]
pub enum ActorsError {
    #[error("{what}: {why}")]
    Unavailable { what: &'static str, why: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn unavailable(what: &'static str) -> impl Fn(String) -> ActorsError {
    move |why| ActorsError::Unavailable { what, why }
}

/// The node's answer to a submission: every run id is in one of the two.
#[derive(Debug, Default)]
pub struct Accepted {
    pub accepted: Vec<String>,
    pub rejected: Vec<Rejected>,
}

/// Checks one submitted result against its run id and the caller.
fn check_shape(r: &CheckResult, worker_region: &str) -> Result<(), String> {
    let Some((monitor_id, region, tick)) = wire::parse_run_id(&r.run_id) else {
        return Err("malformed run id".into());
    };
    if monitor_id != r.monitor_id || region != r.region || tick != r.scheduled_at_ms {
        return Err("run id does not match monitor, region and scheduled time".into());
    }
    if r.region != worker_region && r.region != openseer_protocol::monitor::ANY_REGION {
        return Err(format!(
            "this worker checks region {worker_region}, not {}",
            r.region
        ));
    }
    if r.outcome == Outcome::Missed {
        return Err("workers cannot report missed checks".into());
    }
    Ok(())
}

/// How far ahead of this node's clock a tick may be (other nodes' and
/// workers' clocks differ a little).
const CLOCK_SKEW_MS: i64 = 2_000;

/// Whether a result nobody holds a lease for could be one of the
/// monitor's checks: a tick on its grid, not in the future, in one of its
/// regions. Such results come from a worker's outbox after the lease
/// manager that leased them stopped (a restart, a shard handed over); a
/// result that fits none of this was never scheduled ("check now" ticks
/// are off the grid: they are stored while their lease is held).
fn could_be_scheduled(r: &CheckResult, m: &MonitorScope, now: i64) -> Result<(), &'static str> {
    if r.scheduled_at_ms > now + CLOCK_SKEW_MS {
        return Err("this tick is in the future");
    }
    let interval = m.interval_ms.max(1);
    if (r.scheduled_at_ms - phase_ms(m.id, interval)).rem_euclid(interval) != 0 {
        return Err("this tick is not on the monitor's schedule");
    }
    let region_of_monitor = match m.regions.is_empty() {
        true => r.region == openseer_protocol::monitor::ANY_REGION,
        false => m.regions.contains(&r.region),
    };
    if !region_of_monitor {
        return Err("the monitor is not checked in this region");
    }
    Ok(())
}

fn rejected(r: &CheckResult, code: ErrorCode, message: impl Into<String>) -> Rejected {
    Rejected {
        run_id: r.run_id.clone(),
        code,
        message: message.into(),
    }
}

impl Actors {
    /// Jobs for `worker`'s region, waiting up to `wait_ms` for some.
    pub async fn poll_jobs(
        &self,
        worker: &WorkerAuth,
        max: usize,
        wait_ms: u32,
    ) -> Result<Vec<Job>, ActorsError> {
        ractor::call_t!(
            self.dispatcher,
            |reply| DispatchMsg::Poll {
                worker: worker.clone(),
                max,
                wait_ms,
                reply
            },
            u64::from(wait_ms) + 10_000
        )
        .map_err(|e| unavailable("dispatching jobs")(e.to_string()))
    }

    /// Decides the fate of each submitted result: refused (malformed,
    /// numbers out of range, another organization's monitor, a lease
    /// another worker holds, or, with no lease at all, a tick that was never
    /// the monitor's), handed to the probe that waits for it, or stored
    /// (texts and lists cut to what a node keeps). Answers after the
    /// stored ones are committed; rows that can never be written (their
    /// monitor was deleted meanwhile) are answered as refused for good.
    pub async fn submit_results(
        &self,
        worker: &WorkerAuth,
        results: Vec<CheckResult>,
        now: i64,
    ) -> Result<Accepted, ActorsError> {
        let mut out = Accepted::default();

        // Shape, then ownership: the monitor must belong to the worker's organization.
        let ids: Vec<i64> = results
            .iter()
            .map(|r| r.monitor_id)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let scopes: HashMap<i64, MonitorScope> = self
            .store()
            .monitor_scopes(&ids)
            .await?
            .into_iter()
            .map(|s| (s.id, s))
            .collect();
        let mut seen = HashSet::new();
        let mut checked = Vec::with_capacity(results.len());
        for r in results {
            if let Err(m) = check_shape(&r, &worker.region) {
                out.rejected.push(rejected(&r, ErrorCode::BadRequest, m));
                continue;
            }
            // Whose probe it is is checked where it waits (`deliver_probe`).
            let ours = scopes
                .get(&r.monitor_id)
                .filter(|m| m.org_id == worker.org_id);
            if ours.is_none() && !is_probe(r.monitor_id) {
                out.rejected.push(rejected(
                    &r,
                    ErrorCode::NotFound,
                    "no such monitor (deleted?)",
                ));
                continue;
            }
            // A run id twice in one batch is stored once; the second copy is dropped here.
            if !seen.insert(r.run_id.clone()) {
                continue;
            }
            let run_id = r.run_id.clone();
            match r.bounded() {
                Ok(r) => checked.push(r),
                Err(why) => out.rejected.push(Rejected {
                    run_id,
                    code: ErrorCode::BadRequest,
                    message: why,
                }),
            }
        }
        let results = checked;

        // Leases: a result for a lease another worker now holds is refused.
        let run_ids: Vec<String> = results.iter().map(|r| r.run_id.clone()).collect();
        let checks = self
            .complete(worker.worker_id, &run_ids, Reach::Cluster)
            .await
            .map_err(unavailable("checking leases"))?;
        let mut to_store = Vec::new();
        for r in results {
            match checks
                .get(&r.run_id)
                .copied()
                .unwrap_or(LeaseCheck::NotLeased)
            {
                LeaseCheck::HeldByOther => out.rejected.push(rejected(
                    &r,
                    ErrorCode::LeaseLost,
                    "the lease expired and another worker holds it",
                )),
                // A probe's result goes to whoever waits for it, not to the store.
                LeaseCheck::Held | LeaseCheck::NotLeased if is_probe(r.monitor_id) => {
                    let run_id = r.run_id.clone();
                    if self.deliver_probe(worker.org_id, r).await {
                        out.accepted.push(run_id);
                    } else {
                        out.rejected.push(Rejected {
                            run_id,
                            code: ErrorCode::NotFound,
                            message: "nobody waits for this probe any more".into(),
                        });
                    }
                }
                LeaseCheck::NotLeased => {
                    let fits = scopes
                        .get(&r.monitor_id)
                        .map_or(Err("no such monitor"), |m| could_be_scheduled(&r, m, now));
                    match fits {
                        Ok(()) => to_store.push(StoredResult {
                            result: r,
                            worker_id: Some(worker.worker_id),
                            received_at: now,
                        }),
                        Err(why) => out.rejected.push(rejected(&r, ErrorCode::BadRequest, why)),
                    }
                }
                LeaseCheck::Held => to_store.push(StoredResult {
                    result: r,
                    worker_id: Some(worker.worker_id),
                    received_at: now,
                }),
            }
        }
        if to_store.is_empty() {
            return Ok(out);
        }
        let run_ids: Vec<String> = to_store.iter().map(|s| s.result.run_id.clone()).collect();
        let dropped = self.write_results(to_store, worker.org_id).await?;
        for run_id in run_ids {
            // Rows that can never be written are answered for good, so the
            // worker does not send them again.
            let Some(reason) = dropped.get(&run_id) else {
                out.accepted.push(run_id);
                continue;
            };
            out.rejected.push(match reason {
                DropReason::MonitorDeleted => Rejected {
                    run_id,
                    code: ErrorCode::NotFound,
                    message: "the monitor was deleted".into(),
                },
                DropReason::Refused => Rejected {
                    run_id,
                    code: ErrorCode::BadRequest,
                    message: "the database refused this result".into(),
                },
            });
        }
        Ok(out)
    }

    /// Writes results that were accepted (their leases checked); answers
    /// once they are committed, with the run ids dropped for good.
    pub async fn write_results(
        &self,
        items: Vec<StoredResult>,
        org_id: i64,
    ) -> Result<super::ingest::Dropped, ActorsError> {
        ractor::call_t!(
            self.ingest,
            |reply| IngestMsg::Submit {
                items,
                org_id,
                reply
            },
            60_000
        )
        .map_err(|e| unavailable("storing results")(e.to_string()))?
        .map_err(unavailable("storing results"))
    }

    /// Results the node itself produced (nobody waits for their commit):
    /// missed checks, and whatever a node decides without a worker.
    pub fn record(&self, items: Vec<(StoredResult, i64)>) {
        let _ = self.ingest.cast(IngestMsg::Missed(items));
    }
}
