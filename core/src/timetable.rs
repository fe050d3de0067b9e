//! The timetable of a shard: its enabled monitors and when each is next
//! due. Pure, tested under simulated time; the Scheduler actor adds the
//! timer and the messages. Tick arithmetic is [`crate::schedule`]'s.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use openseer_protocol::monitor::ANY_REGION;
use openseer_protocol::wire::run_id;

use crate::model::{Monitor, PendingJob};
use crate::schedule::{next_tick_after, phase_ms};

struct Entry {
    monitor: Arc<Monitor>,
    check: Arc<openseer_protocol::CheckSpec>,
    next_tick: i64,
    generation: u64,
}

/// One job per region of the monitor for the check at `at`.
fn jobs_for(e: &Entry, at: i64) -> Vec<PendingJob> {
    let m = &e.monitor;
    let any = [ANY_REGION.to_string()];
    let regions: &[String] = if m.regions.is_empty() {
        &any
    } else {
        &m.regions
    };
    regions
        .iter()
        .map(|region| PendingJob {
            run_id: run_id(m.id, region, at),
            monitor_id: m.id,
            org_id: m.org_id,
            region: region.clone(),
            scheduled_at_ms: at,
            interval_ms: i64::from(m.interval_seconds) * 1000,
            attempt: 1,
            check: e.check.clone(),
        })
        .collect()
}

/// The shard's monitors and when each is next due.
#[derive(Default)]
pub struct Timetable {
    entries: HashMap<i64, Entry>,
    heap: BinaryHeap<Reverse<(i64, i64, u64)>>,
    generation: u64,
}

impl Timetable {
    /// Adds or replaces a monitor; its next tick is the first one after `now`.
    pub fn upsert(&mut self, m: Monitor, now: i64) {
        self.generation += 1;
        let interval = i64::from(m.interval_seconds) * 1000;
        let next_tick = next_tick_after(now, interval, phase_ms(m.id, interval));
        let check = Arc::new(m.check.clone());
        self.heap.push(Reverse((next_tick, m.id, self.generation)));
        self.entries.insert(
            m.id,
            Entry {
                monitor: Arc::new(m),
                check,
                next_tick,
                generation: self.generation,
            },
        );
    }

    pub fn remove(&mut self, id: i64) {
        // The heap entry stays and is skipped when it comes up (lazy deletion).
        self.entries.remove(&id);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// When the earliest live entry is due.
    pub fn next_due(&mut self) -> Option<i64> {
        while let Some(Reverse((tick, id, generation))) = self.heap.peek().copied() {
            match self.entries.get(&id) {
                Some(e) if e.generation == generation => return Some(tick),
                _ => {
                    self.heap.pop();
                }
            }
        }
        None
    }

    /// Jobs for every tick due at `now`, one per region. A tick that came
    /// due more than one interval ago (the node was stalled) is skipped, not
    /// replayed: the schedule moves to the first tick after `now`.
    /// An extra check of a monitor at `now`, off its grid ("check now"); the
    /// schedule is not moved. Nothing for a monitor the shard does not run.
    pub fn check_now(&self, id: i64, now: i64) -> Vec<PendingJob> {
        self.entries
            .get(&id)
            .map(|e| jobs_for(e, now))
            .unwrap_or_default()
    }

    pub fn due(&mut self, now: i64) -> Vec<PendingJob> {
        let mut jobs = Vec::new();
        while let Some(Reverse((tick, id, generation))) = self.heap.peek().copied() {
            if tick > now {
                break;
            }
            self.heap.pop();
            let Some(e) = self.entries.get_mut(&id) else {
                continue;
            };
            if e.generation != generation {
                continue;
            }
            let interval = i64::from(e.monitor.interval_seconds) * 1000;
            if now - tick < interval {
                jobs.extend(jobs_for(e, tick));
            }
            e.next_tick = tick + interval;
            if e.next_tick <= now {
                e.next_tick = next_tick_after(now, interval, phase_ms(id, interval));
            }
            self.heap.push(Reverse((e.next_tick, id, generation)));
        }
        jobs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openseer_protocol::monitor::DEFAULT_MAX_BODY_BYTES;
    use openseer_protocol::{CheckSpec, StatusRanges};

    fn monitor(id: i64, interval_s: u32, regions: &[&str]) -> Monitor {
        Monitor {
            id,
            org_id: 1,
            name: format!("m{id}"),
            interval_seconds: interval_s,
            regions: regions.iter().map(|r| r.to_string()).collect(),
            enabled: true,
            check: CheckSpec {
                url: "http://127.0.0.1/".into(),
                method: "GET".into(),
                headers: vec![],
                body: None,
                timeout_ms: 1000,
                expected_status: StatusRanges(vec![(200, 399)]),
                keyword: None,
                max_body_bytes: DEFAULT_MAX_BODY_BYTES,
                ..CheckSpec::default()
            },
            alert: Default::default(),
            created_at: 0,
            updated_at: 0,
        }
    }

    /// Steps simulated time 1 ms at a time and collects every job.
    fn run(table: &mut Timetable, from: i64, to: i64) -> Vec<PendingJob> {
        let mut out = Vec::new();
        let mut now = from;
        while now <= to {
            out.extend(table.due(now));
            now = table.next_due().unwrap_or(to + 1).max(now + 1);
        }
        out
    }

    #[test]
    fn one_job_per_region_per_tick_with_exact_period() {
        let mut t = Timetable::default();
        t.upsert(monitor(1, 10, &["eu", "us"]), 0);
        let jobs = run(&mut t, 0, 100_000);
        let eu: Vec<i64> = jobs
            .iter()
            .filter(|j| j.region == "eu")
            .map(|j| j.scheduled_at_ms)
            .collect();
        let us: Vec<i64> = jobs
            .iter()
            .filter(|j| j.region == "us")
            .map(|j| j.scheduled_at_ms)
            .collect();
        assert_eq!(eu.len(), 10);
        assert_eq!(eu, us);
        assert!(eu.windows(2).all(|w| w[1] - w[0] == 10_000));
        assert_eq!(eu[0], phase_ms(1, 10_000));
    }

    #[test]
    fn monitors_without_regions_run_in_any() {
        let mut t = Timetable::default();
        t.upsert(monitor(2, 1, &[]), 0);
        let jobs = run(&mut t, 0, 3_000);
        assert_eq!(jobs.len(), 3);
        assert!(jobs.iter().all(|j| j.region == ANY_REGION));
    }

    #[test]
    fn removed_monitors_stop_and_edits_take_effect() {
        let mut t = Timetable::default();
        t.upsert(monitor(3, 1, &["eu"]), 0);
        assert_eq!(run(&mut t, 0, 2_000).len(), 2);
        t.upsert(monitor(3, 2, &["eu"]), 2_000);
        let jobs = run(&mut t, 2_001, 10_000);
        assert_eq!(jobs.len(), 4);
        assert!(jobs
            .windows(2)
            .all(|w| w[1].scheduled_at_ms - w[0].scheduled_at_ms == 2_000));
        t.remove(3);
        assert!(run(&mut t, 10_001, 20_000).is_empty());
        assert!(t.is_empty());
    }

    #[test]
    fn a_stall_skips_old_ticks_instead_of_replaying_them() {
        let mut t = Timetable::default();
        t.upsert(monitor(4, 1, &["eu"]), 0);
        // Nothing runs for 10 s, then one wake: at most the latest tick.
        let jobs = t.due(10_500);
        assert!(jobs.len() <= 1, "{}", jobs.len());
        let next = t.next_due().unwrap();
        assert!(next > 10_500 && next <= 11_500);
    }

    #[test]
    fn run_ids_are_deterministic() {
        let mut a = Timetable::default();
        let mut b = Timetable::default();
        a.upsert(monitor(5, 1, &["eu"]), 0);
        b.upsert(monitor(5, 1, &["eu"]), 0);
        let ja: Vec<String> = run(&mut a, 0, 5_000)
            .into_iter()
            .map(|j| j.run_id)
            .collect();
        let jb: Vec<String> = run(&mut b, 0, 5_000)
            .into_iter()
            .map(|j| j.run_id)
            .collect();
        assert_eq!(ja, jb);
    }
}
