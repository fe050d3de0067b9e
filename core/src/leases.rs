//! Leases of one shard: jobs wait in ready queues per (organization,
//! region); a worker takes them under a lease with a deadline; a lease is
//! renewed by the worker, completed by its result, or expires. An expired
//! lease is handed out once more; a second expiry, or a job that nobody
//! took before its next tick, is recorded as a missed check. Jobs of a
//! removed monitor are dropped at once, never cycled. Pure, tested under
//! simulated time; the LeaseManager actor adds the timer and the messages.

use std::collections::{HashMap, VecDeque};

use openseer_protocol::monitor::ANY_REGION;
use openseer_protocol::wire::{Job, Renewed};
use openseer_protocol::{CheckResult, ErrorKind, Outcome};

use crate::model::{is_probe, PendingJob, StoredResult};

#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// Lease length beyond the check's own timeout.
    pub grace_ms: i64,
    /// How often expiry is checked.
    pub sweep_ms: u64,
}

/// How long a lease lasts beyond the check's own timeout, unless configured.
pub const DEFAULT_GRACE_MS: i64 = 15_000;
/// How often expiry is checked.
pub const DEFAULT_SWEEP_MS: u64 = 250;

impl Default for LeaseConfig {
    fn default() -> Self {
        LeaseConfig {
            grace_ms: DEFAULT_GRACE_MS,
            sweep_ms: DEFAULT_SWEEP_MS,
        }
    }
}

/// What a lease manager knows of a run id a worker submits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LeaseCheck {
    /// This worker held the lease; it is now complete.
    Held,
    /// Another worker holds the lease now (this one's expired).
    HeldByOther,
    /// No lease: already completed, recorded missed, or never leased here.
    NotLeased,
}

struct Ready {
    job: PendingJob,
    /// Not taken by then: recorded missed.
    take_by: i64,
}

struct Lease {
    job: PendingJob,
    worker_id: i64,
    deadline: i64,
}

/// What a sweep found.
#[derive(Debug, Default)]
pub struct Swept {
    /// Missed checks to record, with their organization.
    pub missed: Vec<(StoredResult, i64)>,
    /// Queues that got a retried job.
    pub woken: Vec<(i64, String)>,
    /// Leases that ran out.
    pub expired: usize,
    /// Run ids handed out once more after their lease ran out, with the
    /// worker that let it run out.
    pub retried: Vec<(String, i64)>,
    /// Ticks no worker took that were not written, because a "no worker"
    /// row for the same monitor and region was written within
    /// [`NO_WORKER_ROW_EVERY_MS`].
    pub collapsed: usize,
}

/// At most one "no worker" row per monitor and region this often, once no
/// worker has asked for the region's jobs for as long: a region nobody
/// serves is one fact, not a row per tick (a thousand one-second monitors
/// there would otherwise write a thousand rows a second). A region whose
/// workers asked recently (an outage of a few seconds) keeps a row per tick.
pub const NO_WORKER_ROW_EVERY_MS: i64 = 60_000;

#[derive(Default)]
pub struct Leases {
    grace_ms: i64,
    ready: HashMap<(i64, String), VecDeque<Ready>>,
    leased: HashMap<String, Lease>,
    /// When a "no worker" row was last written, per monitor and region.
    no_worker_written: HashMap<(i64, String), i64>,
    /// When a worker last asked for jobs, per organization and region.
    polled: HashMap<(i64, String), i64>,
}

/// How long a job may wait for a worker: its interval, within [1 s, 60 s].
fn ready_window(job: &PendingJob) -> i64 {
    job.interval_ms.clamp(1_000, 60_000)
}

fn missed(job: &PendingJob, kind: ErrorKind, now: i64) -> (StoredResult, i64) {
    let message = match kind {
        ErrorKind::NoWorker => format!("no worker in region {} took the check in time", job.region),
        _ => "the worker's lease expired twice; the check was not completed".to_string(),
    };
    let stored = StoredResult {
        result: CheckResult {
            run_id: job.run_id.clone(),
            monitor_id: job.monitor_id,
            region: job.region.clone(),
            scheduled_at_ms: job.scheduled_at_ms,
            started_at_ms: now,
            outcome: Outcome::Missed,
            error_kind: Some(kind),
            error_message: Some(message),
            status_code: None,
            total_ms: 0.0,
            body_bytes: 0,
            decoded_bytes: None,
            timings: None,
            tls: None,
            redirects: Vec::new(),
            assertions: Vec::new(),
        },
        worker_id: None,
        received_at: now,
    };
    (stored, job.org_id)
}

impl Leases {
    pub fn new(grace_ms: i64) -> Leases {
        Leases {
            grace_ms,
            ..Leases::default()
        }
    }

    pub fn enqueue(&mut self, jobs: Vec<PendingJob>, now: i64) -> Vec<(i64, String)> {
        let mut woken = Vec::new();
        for job in jobs {
            let key = (job.org_id, job.region.clone());
            if !woken.contains(&key) {
                woken.push(key.clone());
            }
            let take_by = now.max(job.scheduled_at_ms) + ready_window(&job);
            self.ready
                .entry(key)
                .or_default()
                .push_back(Ready { job, take_by });
        }
        woken
    }

    pub fn take(
        &mut self,
        org_id: i64,
        region: &str,
        worker_id: i64,
        max: usize,
        now: i64,
    ) -> Vec<Job> {
        let mut out = Vec::new();
        for r in [region, ANY_REGION] {
            self.polled.insert((org_id, r.to_string()), now);
        }
        for r in [region, ANY_REGION] {
            let Some(q) = self.ready.get_mut(&(org_id, r.to_string())) else {
                continue;
            };
            while out.len() < max {
                let Some(Ready { job, .. }) = q.pop_front() else {
                    break;
                };
                let deadline = now + i64::from(job.check.timeout_ms) + self.grace_ms;
                out.push(Job {
                    run_id: job.run_id.clone(),
                    monitor_id: job.monitor_id,
                    region: job.region.clone(),
                    scheduled_at_ms: job.scheduled_at_ms,
                    lease_deadline_ms: deadline,
                    attempt: job.attempt,
                    check: (*job.check).clone(),
                });
                self.leased.insert(
                    job.run_id.clone(),
                    Lease {
                        job,
                        worker_id,
                        deadline,
                    },
                );
            }
        }
        out
    }

    /// Puts a job back at the front of its queue with a fresh wait window,
    /// noting the queue as one to wake.
    fn requeue_front(&mut self, job: PendingJob, now: i64, woken: &mut Vec<(i64, String)>) {
        let key = (job.org_id, job.region.clone());
        let take_by = now + ready_window(&job);
        self.ready
            .entry(key.clone())
            .or_default()
            .push_front(Ready { job, take_by });
        if !woken.contains(&key) {
            woken.push(key);
        }
    }

    /// Puts jobs that were taken but never delivered back at the front.
    pub fn release(&mut self, run_ids: &[String], now: i64) -> Vec<(i64, String)> {
        let mut woken = Vec::new();
        for id in run_ids.iter().rev() {
            if let Some(l) = self.leased.remove(id) {
                self.requeue_front(l.job, now, &mut woken);
            }
        }
        woken
    }

    pub fn renew(
        &mut self,
        worker_id: i64,
        run_ids: &[String],
        now: i64,
    ) -> (Vec<Renewed>, Vec<String>) {
        let mut renewed = Vec::new();
        let mut lost = Vec::new();
        for id in run_ids {
            match self.leased.get_mut(id) {
                Some(l) if l.worker_id == worker_id => {
                    l.deadline = now + i64::from(l.job.check.timeout_ms) + self.grace_ms;
                    renewed.push(Renewed {
                        run_id: id.clone(),
                        lease_deadline_ms: l.deadline,
                    });
                }
                _ => lost.push(id.clone()),
            }
        }
        (renewed, lost)
    }

    pub fn complete(&mut self, worker_id: i64, run_ids: &[String]) -> Vec<LeaseCheck> {
        run_ids
            .iter()
            .map(|id| match self.leased.get(id) {
                Some(l) if l.worker_id == worker_id => {
                    self.leased.remove(id);
                    LeaseCheck::Held
                }
                Some(_) => LeaseCheck::HeldByOther,
                None => LeaseCheck::NotLeased,
            })
            .collect()
    }

    pub fn drop_monitor(&mut self, monitor_id: i64) {
        for q in self.ready.values_mut() {
            q.retain(|r| r.job.monitor_id != monitor_id);
        }
        self.leased.retain(|_, l| l.job.monitor_id != monitor_id);
    }

    pub fn in_flight(&self) -> HashMap<i64, usize> {
        let mut m = HashMap::new();
        for l in self.leased.values() {
            *m.entry(l.worker_id).or_default() += 1;
        }
        m
    }

    /// Expires leases and stale ready jobs. Returns the missed checks to
    /// record and the queues that got a retried job.
    pub fn sweep(&mut self, now: i64) -> Swept {
        let mut missed_out = Vec::new();
        let mut woken = Vec::new();
        let expired: Vec<String> = self
            .leased
            .iter()
            .filter(|(_, l)| l.deadline < now)
            .map(|(id, _)| id.clone())
            .collect();
        let expired_count = expired.len();
        let mut retried = Vec::new();
        for id in expired {
            let Some(mut l) = self.leased.remove(&id) else {
                continue;
            };
            if l.job.attempt >= 2 {
                // An unanswered probe is simply dropped: it is no monitor's check.
                if !is_probe(l.job.monitor_id) {
                    missed_out.push(missed(&l.job, ErrorKind::LeaseExpired, now));
                }
                continue;
            }
            retried.push((id, l.worker_id));
            l.job.attempt += 1;
            self.requeue_front(l.job, now, &mut woken);
        }
        let mut collapsed = 0;
        let written = &mut self.no_worker_written;
        let polled = &self.polled;
        for ((org_id, region), q) in self.ready.iter_mut() {
            let served = polled
                .get(&(*org_id, region.clone()))
                .is_some_and(|&at| now - at < NO_WORKER_ROW_EVERY_MS);
            q.retain(|r| {
                if r.take_by > now {
                    return true;
                }
                if is_probe(r.job.monitor_id) {
                    return false;
                }
                let key = (r.job.monitor_id, r.job.region.clone());
                match written.get(&key) {
                    Some(&at) if !served && now - at < NO_WORKER_ROW_EVERY_MS => collapsed += 1,
                    _ => {
                        written.insert(key, now);
                        missed_out.push(missed(&r.job, ErrorKind::NoWorker, now));
                    }
                }
                false
            });
        }
        self.ready.retain(|_, q| !q.is_empty());
        written.retain(|_, at| now - *at < NO_WORKER_ROW_EVERY_MS);
        self.polled
            .retain(|_, at| now - *at < NO_WORKER_ROW_EVERY_MS);
        Swept {
            missed: missed_out,
            woken,
            expired: expired_count,
            retried,
            collapsed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openseer_protocol::monitor::DEFAULT_MAX_BODY_BYTES;
    use openseer_protocol::{CheckSpec, StatusRanges};
    use std::sync::Arc;

    fn job(monitor_id: i64, region: &str, tick: i64) -> PendingJob {
        PendingJob {
            run_id: openseer_protocol::wire::run_id(monitor_id, region, tick),
            monitor_id,
            org_id: 1,
            region: region.into(),
            scheduled_at_ms: tick,
            interval_ms: 10_000,
            attempt: 1,
            check: Arc::new(CheckSpec {
                url: "http://127.0.0.1/".into(),
                method: "GET".into(),
                headers: vec![],
                body: None,
                timeout_ms: 1_000,
                expected_status: StatusRanges(vec![(200, 399)]),
                keyword: None,
                max_body_bytes: DEFAULT_MAX_BODY_BYTES,
                ..CheckSpec::default()
            }),
        }
    }

    #[test]
    fn workers_take_their_region_and_any() {
        let mut l = Leases::new(500);
        l.enqueue(vec![job(1, "eu", 0), job(2, "us", 0), job(3, "any", 0)], 0);
        let got: Vec<i64> = l
            .take(1, "eu", 7, 10, 0)
            .iter()
            .map(|j| j.monitor_id)
            .collect();
        assert_eq!(got, vec![1, 3]);
        assert!(l.take(2, "us", 8, 10, 0).is_empty(), "another organization");
        assert_eq!(l.take(1, "us", 8, 10, 0).len(), 1);
    }

    #[test]
    fn an_expired_lease_is_retried_once_then_missed() {
        let mut l = Leases::new(500);
        l.enqueue(vec![job(1, "eu", 0)], 0);
        let first = l.take(1, "eu", 7, 10, 0);
        assert_eq!(first[0].attempt, 1);
        assert_eq!(first[0].lease_deadline_ms, 1_500);
        let Swept { missed, woken, .. } = l.sweep(1_501);
        assert!(missed.is_empty());
        assert_eq!(woken, vec![(1, "eu".to_string())]);
        let second = l.take(1, "eu", 8, 10, 1_501);
        assert_eq!(
            (second[0].attempt, second[0].run_id.clone()),
            (2, first[0].run_id.clone())
        );
        // The first worker's late result is refused: worker 8 holds the lease.
        assert_eq!(
            l.complete(7, &[first[0].run_id.clone()]),
            vec![LeaseCheck::HeldByOther]
        );
        let missed = l.sweep(3_002).missed;
        assert_eq!(missed.len(), 1);
        assert_eq!(missed[0].0.result.outcome, Outcome::Missed);
        assert_eq!(missed[0].0.result.error_kind, Some(ErrorKind::LeaseExpired));
        assert!(l.take(1, "eu", 8, 10, 3_002).is_empty());
    }

    #[test]
    fn renewal_extends_and_completion_releases() {
        let mut l = Leases::new(500);
        l.enqueue(vec![job(1, "eu", 0)], 0);
        let id = l.take(1, "eu", 7, 1, 0)[0].run_id.clone();
        let (renewed, lost) = l.renew(7, &[id.clone(), "9.eu.0".into()], 1_400);
        assert_eq!(renewed[0].lease_deadline_ms, 2_900);
        assert_eq!(lost, vec!["9.eu.0".to_string()]);
        assert!(l.sweep(2_000).missed.is_empty());
        assert_eq!(
            l.complete(7, std::slice::from_ref(&id)),
            vec![LeaseCheck::Held]
        );
        assert_eq!(l.complete(7, &[id]), vec![LeaseCheck::NotLeased]);
    }

    #[test]
    fn jobs_nobody_takes_become_missed_instead_of_piling_up() {
        let mut l = Leases::new(500);
        l.enqueue(vec![job(1, "mars", 0)], 0);
        assert!(l.sweep(9_999).missed.is_empty());
        let missed = l.sweep(10_000).missed;
        assert_eq!(missed[0].0.result.error_kind, Some(ErrorKind::NoWorker));
        assert!(l.ready.is_empty());
    }

    #[test]
    fn a_region_nobody_serves_gets_one_row_a_minute_not_one_a_tick() {
        let mut l = Leases::new(500);
        let one_second = |m: i64, region: &str, tick: i64| PendingJob {
            interval_ms: 1_000,
            ..job(m, region, tick)
        };
        let mut rows = Vec::new();
        let mut collapsed = 0;
        // Two monitors, 180 one-second ticks with nobody to take them.
        for s in 0..180 {
            let t = s * 1_000;
            l.enqueue(vec![one_second(1, "mars", t), one_second(2, "mars", t)], t);
            let swept = l.sweep(t + 999);
            collapsed += swept.collapsed;
            rows.extend(
                swept
                    .missed
                    .into_iter()
                    .map(|(r, _)| (r.result.monitor_id, r.result.scheduled_at_ms)),
            );
        }
        // One row per monitor each minute (0 s, 60 s, 120 s), the rest
        // (179 ticks each have expired) counted.
        let of = |m: i64| {
            rows.iter()
                .filter(|r| r.0 == m)
                .map(|r| r.1)
                .collect::<Vec<_>>()
        };
        assert_eq!(of(1), [0, 60_000, 120_000]);
        assert_eq!(of(2), [0, 60_000, 120_000]);
        assert_eq!(collapsed, 2 * 179 - rows.len());
        // The bookkeeping does not outlive the minute.
        l.drop_monitor(1);
        l.drop_monitor(2);
        l.sweep(400_000);
        assert!(l.no_worker_written.is_empty());
        // A region whose workers asked for jobs within the minute (they
        // could not take them: a short outage) keeps a row per tick.
        l.take(1, "venus", 7, 0, 400_000);
        let mut rows = 0;
        for s in 0..5 {
            let t = 401_000 + s * 1_000;
            l.enqueue(vec![one_second(4, "venus", t)], t);
            rows += l.sweep(t + 999).missed.len();
        }
        rows += l.sweep(420_000).missed.len();
        assert_eq!(rows, 5, "one row per tick");
        // A slow monitor (one tick a minute or more) keeps its row per tick.
        l.enqueue(vec![job(3, "mars", 300_000)], 300_000);
        assert_eq!(l.sweep(310_000).missed.len(), 1);
        l.enqueue(vec![job(3, "mars", 370_000)], 370_000);
        assert_eq!(l.sweep(380_000).missed.len(), 1);
    }

    #[test]
    fn dropping_a_monitor_drops_its_jobs() {
        let mut l = Leases::new(500);
        l.enqueue(vec![job(1, "eu", 0), job(2, "eu", 0)], 0);
        l.take(1, "eu", 7, 1, 0);
        l.drop_monitor(1);
        l.drop_monitor(2);
        assert!(l.take(1, "eu", 7, 10, 0).is_empty());
        assert!(l.sweep(100_000).missed.is_empty());
    }
}
