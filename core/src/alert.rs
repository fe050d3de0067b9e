//! The alerting rules, as pure functions of the results of each tick.
//!
//! Every tick of a monitor gets one result per region (a recorded miss when
//! nobody checked). A tick's verdict counts the regions that checked it: it
//! fails when at least the rule's quorum of them failed it (default: a
//! majority); with no region checking it the tick says nothing and leaves
//! the counters as they are. A monitor goes down after `down_after`
//! failing ticks in a row and recovers after `up_after` passing ones.
//!
//! Results arrive late and out of order (a worker's outbox after an
//! outage): [`Pending`] holds each tick until every region answered or its
//! settle time passed, and hands ticks out strictly in tick order; a result
//! for a tick already evaluated is ignored, so it can never reopen or
//! close an incident.

use std::collections::BTreeMap;

use openseer_protocol::{AlertRules, ErrorKind, Outcome};
use serde::{Deserialize, Serialize};

/// One region's result for a tick, as far as alerting cares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionResult {
    pub region: String,
    pub outcome: Outcome,
    pub error_kind: Option<ErrorKind>,
    pub status_code: Option<u16>,
    pub message: Option<String>,
}

/// One committed result, as alerting needs it (sent to the shard's owner).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TickResult {
    pub monitor_id: i64,
    pub tick: i64,
    pub result: RegionResult,
}

impl TickResult {
    pub fn of(r: &openseer_protocol::CheckResult) -> TickResult {
        TickResult {
            monitor_id: r.monitor_id,
            tick: r.scheduled_at_ms,
            result: RegionResult {
                region: r.region.clone(),
                outcome: r.outcome,
                error_kind: r.error_kind,
                status_code: r.status_code,
                message: r.error_message.clone(),
            },
        }
    }
}

/// What a tick says about the monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Failing,
    Passing,
    /// No region checked it (every result a miss).
    Silent,
}

fn fails(rules: &AlertRules, outcome: Outcome) -> bool {
    match outcome {
        Outcome::Down | Outcome::Error => true,
        Outcome::Degraded => rules.degraded_fails,
        Outcome::Up | Outcome::Missed => false,
    }
}

pub fn verdict(rules: &AlertRules, results: &[RegionResult]) -> Verdict {
    let checked = results
        .iter()
        .filter(|r| r.outcome != Outcome::Missed)
        .count() as u32;
    if checked == 0 {
        return Verdict::Silent;
    }
    let failing = results.iter().filter(|r| fails(rules, r.outcome)).count() as u32;
    let needed = rules.fail_quorum.unwrap_or(checked / 2 + 1);
    if failing >= needed {
        Verdict::Failing
    } else {
        Verdict::Passing
    }
}

/// Why a monitor went down: its first failing tick's failures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cause {
    /// The failing regions' results, sorted by region.
    pub regions: Vec<RegionResult>,
}

impl Cause {
    fn of(rules: &AlertRules, results: &[RegionResult]) -> Cause {
        let mut regions: Vec<RegionResult> = results
            .iter()
            .filter(|r| fails(rules, r.outcome))
            .cloned()
            .collect();
        regions.sort_by(|a, b| a.region.cmp(&b.region));
        Cause { regions }
    }

    /// One line: what failed, where. "status 500 in eu, us".
    pub fn summary(&self) -> String {
        let Some(first) = self.regions.first() else {
            return "failing".into();
        };
        let what = match (first.error_kind, first.status_code) {
            (Some(ErrorKind::StatusCode), Some(code)) => format!("status {code}"),
            (Some(kind), _) => kind.as_str().replace('_', " "),
            (None, Some(code)) => format!("status {code}"),
            (None, None) => first.outcome.as_str().to_string(),
        };
        let places: Vec<&str> = self.regions.iter().map(|r| r.region.as_str()).collect();
        format!("{what} in {}", places.join(", "))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Up,
    Down,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Up => "up",
            Health::Down => "down",
        }
    }

    pub fn parse(s: &str) -> Option<Health> {
        match s {
            "up" => Some(Health::Up),
            "down" => Some(Health::Down),
            _ => None,
        }
    }
}

/// A change of a monitor's health, decided at tick `confirmed_at`.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// Down since `started_at`, the first failing tick of the run.
    Down {
        started_at: i64,
        confirmed_at: i64,
        cause: Cause,
    },
    /// Passing since `started_at`, the first passing tick of the run.
    Up { started_at: i64, confirmed_at: i64 },
}

/// Whether a tick falls in a maintenance window of its monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Normal,
    Maintenance,
}

/// A monitor's health and the run of ticks that may change it.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluator {
    pub health: Health,
    /// The last tick evaluated; later results for it or earlier are late.
    pub evaluated_through: i64,
    run: u32,
    run_started: i64,
    run_cause: Option<Cause>,
}

impl Evaluator {
    /// A monitor that is `health` as of tick `through`.
    pub fn new(health: Health, through: i64) -> Evaluator {
        Evaluator {
            health,
            evaluated_through: through,
            run: 0,
            run_started: 0,
            run_cause: None,
        }
    }

    /// Applies one tick (later than every tick applied so far). In
    /// [`Phase::Maintenance`] the monitor never goes down: its failing run
    /// keeps counting, so a failure that lasts past the window's end goes
    /// down at the first tick after it (started at the run's first failing
    /// tick); recovery is never held back.
    pub fn apply(
        &mut self,
        rules: &AlertRules,
        tick: i64,
        results: &[RegionResult],
        phase: Phase,
    ) -> Option<Transition> {
        if tick <= self.evaluated_through {
            return None;
        }
        self.evaluated_through = tick;
        let v = verdict(rules, results);
        let against = match (self.health, v) {
            (_, Verdict::Silent) => return None,
            (Health::Up, Verdict::Failing) | (Health::Down, Verdict::Passing) => true,
            _ => false,
        };
        if !against {
            self.run = 0;
            self.run_cause = None;
            return None;
        }
        if self.run == 0 {
            self.run_started = tick;
            if self.health == Health::Up {
                self.run_cause = Some(Cause::of(rules, results));
            }
        }
        self.run = self.run.saturating_add(1);
        let needed = match self.health {
            Health::Up => rules.down_after,
            Health::Down => rules.up_after,
        };
        if self.run < needed.max(1) {
            return None;
        }
        if self.health == Health::Up && phase == Phase::Maintenance {
            return None;
        }
        self.run = 0;
        let started_at = self.run_started;
        Some(match self.health {
            Health::Up => {
                self.health = Health::Down;
                Transition::Down {
                    started_at,
                    confirmed_at: tick,
                    cause: self.run_cause.take().unwrap_or(Cause {
                        regions: Vec::new(),
                    }),
                }
            }
            Health::Down => {
                self.health = Health::Up;
                Transition::Up {
                    started_at,
                    confirmed_at: tick,
                }
            }
        })
    }
}

/// Results waiting for their tick to be complete.
#[derive(Debug, Clone, Default)]
pub struct Pending {
    ticks: BTreeMap<i64, Vec<RegionResult>>,
}

/// At most this many ticks wait per monitor; beyond it the oldest is
/// evaluated with what it has (bounded memory whatever arrives).
pub const MAX_PENDING_TICKS: usize = 256;

impl Pending {
    /// Adds a result unless its tick was evaluated already (late). A
    /// repeat for the same region replaces the earlier one (a miss later
    /// delivered for real).
    pub fn add(&mut self, evaluated_through: i64, tick: i64, r: RegionResult) -> bool {
        if tick <= evaluated_through {
            return false;
        }
        let results = self.ticks.entry(tick).or_default();
        match results.iter_mut().find(|x| x.region == r.region) {
            Some(x) => *x = r,
            None => results.push(r),
        }
        true
    }

    pub fn is_empty(&self) -> bool {
        self.ticks.is_empty()
    }

    /// The ticks ready to evaluate, in tick order: a tick is ready when
    /// every expected region answered, or when `now` is past its settle
    /// time; the first tick that is not ready holds back the ones after it.
    pub fn ready(
        &mut self,
        expected: &[String],
        now: i64,
        settle_ms: i64,
    ) -> Vec<(i64, Vec<RegionResult>)> {
        let mut out = Vec::new();
        while let Some((&tick, results)) = self.ticks.first_key_value() {
            let complete = expected
                .iter()
                .all(|e| results.iter().any(|r| &r.region == e));
            let overflow = self.ticks.len() > MAX_PENDING_TICKS;
            if !(complete || now >= tick + settle_ms || overflow) {
                break;
            }
            let results = self.ticks.remove(&tick).expect("first key");
            out.push((tick, results));
        }
        out
    }
}

/// How long a tick may wait for its last region: long enough for a lease to
/// expire twice (each attempt the timeout plus grace) and the miss to be
/// recorded, and never less than two intervals.
pub fn settle_ms(interval_ms: i64, timeout_ms: i64) -> i64 {
    (2 * interval_ms).max(2 * (timeout_ms + 10_000) + 5_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(region: &str, outcome: Outcome) -> RegionResult {
        RegionResult {
            region: region.into(),
            outcome,
            error_kind: (outcome == Outcome::Down).then_some(ErrorKind::StatusCode),
            status_code: Some(if outcome == Outcome::Down { 500 } else { 200 }),
            message: None,
        }
    }

    fn rules() -> AlertRules {
        AlertRules::default()
    }

    use Outcome::{Degraded, Down, Missed, Up};

    /// Runs ticks 1000, 2000, ... with each tick's outcomes by region.
    fn run(rules: &AlertRules, ticks: &[&[(&str, Outcome)]]) -> Vec<(i64, Transition)> {
        let mut e = Evaluator::new(Health::Up, 0);
        let mut out = Vec::new();
        for (i, t) in ticks.iter().enumerate() {
            let tick = (i as i64 + 1) * 1000;
            let results: Vec<RegionResult> = t.iter().map(|(g, o)| r(g, *o)).collect();
            if let Some(x) = e.apply(rules, tick, &results, Phase::Normal) {
                out.push((tick, x));
            }
        }
        out
    }

    fn downs_and_ups(t: &[(i64, Transition)]) -> Vec<(char, i64, i64)> {
        t.iter()
            .map(|(_, x)| match x {
                Transition::Down {
                    started_at,
                    confirmed_at,
                    ..
                } => ('d', *started_at, *confirmed_at),
                Transition::Up {
                    started_at,
                    confirmed_at,
                } => ('u', *started_at, *confirmed_at),
            })
            .collect()
    }

    #[test]
    fn down_after_two_failing_ticks_and_up_after_two_passing() {
        let t = run(
            &rules(),
            &[
                &[("eu", Up)],
                &[("eu", Down)],
                &[("eu", Down)],
                &[("eu", Down)],
                &[("eu", Up)],
                &[("eu", Up)],
            ],
        );
        assert_eq!(downs_and_ups(&t), [('d', 2000, 3000), ('u', 5000, 6000)]);
        let Transition::Down { cause, .. } = &t[0].1 else {
            panic!("down first")
        };
        assert_eq!(cause.summary(), "status 500 in eu");
    }

    #[test]
    fn flapping_never_confirms() {
        let flap: Vec<&[(&str, Outcome)]> = (0..20)
            .map(|i| -> &[(&str, Outcome)] {
                if i % 2 == 0 {
                    &[("eu", Down)]
                } else {
                    &[("eu", Up)]
                }
            })
            .collect();
        assert!(run(&rules(), &flap).is_empty());
        let strict = AlertRules {
            down_after: 1,
            up_after: 1,
            ..rules()
        };
        assert_eq!(
            run(&strict, &flap).len(),
            20,
            "down, up, down, ...: {flap:?}"
        );
    }

    #[test]
    fn quorum_counts_the_regions_that_checked() {
        // One of three failing: not a majority.
        assert!(run(
            &rules(),
            &[&[("a", Down), ("b", Up), ("c", Up)] as &[(&str, Outcome)]; 3]
        )
        .is_empty());
        // Two of three: a majority.
        assert_eq!(
            run(
                &rules(),
                &[&[("a", Down), ("b", Down), ("c", Up)] as &[(&str, Outcome)]; 2]
            )
            .len(),
            1
        );
        // A region with no worker does not count: one failing of the one
        // that checked is a majority.
        assert_eq!(
            run(
                &rules(),
                &[&[("a", Down), ("b", Missed), ("c", Missed)] as &[(&str, Outcome)]; 2]
            )
            .len(),
            1
        );
        // An explicit quorum of 2 with one region checking never fails.
        let two = AlertRules {
            fail_quorum: Some(2),
            ..rules()
        };
        assert!(run(
            &two,
            &[&[("a", Down), ("b", Missed)] as &[(&str, Outcome)]; 5]
        )
        .is_empty());
        assert_eq!(
            run(
                &two,
                &[&[("a", Down), ("b", Down), ("c", Up)] as &[(&str, Outcome)]; 2]
            )
            .len(),
            1
        );
    }

    #[test]
    fn missed_ticks_leave_the_run_as_it_is() {
        let t = run(
            &rules(),
            &[&[("eu", Down)], &[("eu", Missed)], &[("eu", Down)]],
        );
        assert_eq!(downs_and_ups(&t), [('d', 1000, 3000)]);
    }

    #[test]
    fn degraded_fails_only_when_asked() {
        let ticks: [&[(&str, Outcome)]; 2] = [&[("eu", Degraded)], &[("eu", Degraded)]];
        assert!(run(&rules(), &ticks).is_empty());
        let strict = AlertRules {
            degraded_fails: true,
            ..rules()
        };
        assert_eq!(run(&strict, &ticks).len(), 1);
    }

    #[test]
    fn late_and_reordered_results_are_applied_in_tick_order() {
        let expected = vec!["a".to_string(), "b".to_string()];
        let settle = 10_000;
        let mut p = Pending::default();
        let mut e = Evaluator::new(Health::Up, 0);
        let mut seen = Vec::new();
        let step = |p: &mut Pending, e: &mut Evaluator, now: i64, seen: &mut Vec<Transition>| {
            for (tick, results) in p.ready(&expected, now, settle) {
                if let Some(t) = e.apply(&rules(), tick, &results, Phase::Normal) {
                    seen.push(t);
                }
            }
        };
        // Tick 2 complete before tick 1: held back.
        assert!(p.add(e.evaluated_through, 2000, r("a", Down)));
        assert!(p.add(e.evaluated_through, 2000, r("b", Down)));
        assert!(p.add(e.evaluated_through, 1000, r("a", Down)));
        step(&mut p, &mut e, 2500, &mut seen);
        assert_eq!(e.evaluated_through, 0, "tick 1 lacks region b");
        // Tick 1's second region arrives: both go, in order.
        assert!(p.add(e.evaluated_through, 1000, r("b", Down)));
        step(&mut p, &mut e, 2600, &mut seen);
        assert_eq!(e.evaluated_through, 2000);
        assert!(matches!(
            seen.as_slice(),
            [Transition::Down {
                started_at: 1000,
                confirmed_at: 2000,
                ..
            }]
        ));
        // A late result for an evaluated tick is refused.
        assert!(!p.add(e.evaluated_through, 1000, r("a", Up)));
        // A tick missing a region goes once its settle time passed.
        assert!(p.add(e.evaluated_through, 3000, r("a", Up)));
        step(&mut p, &mut e, 3000 + settle - 1, &mut seen);
        assert_eq!(e.evaluated_through, 2000);
        step(&mut p, &mut e, 3000 + settle, &mut seen);
        assert_eq!(e.evaluated_through, 3000);
        assert!(p.is_empty());
    }

    #[test]
    fn a_repeat_replaces_and_pending_is_bounded() {
        let mut p = Pending::default();
        p.add(0, 1000, r("a", Missed));
        p.add(0, 1000, r("a", Down));
        let ready = p.ready(&["a".to_string()], 0, 1_000_000);
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].1.len(), 1);
        assert_eq!(ready[0].1[0].outcome, Down);
        for t in 0..(MAX_PENDING_TICKS as i64 + 10) {
            p.add(0, 1000 + t, r("a", Up));
        }
        // Region b never answers; the overflow goes out anyway.
        let out = p.ready(&["a".to_string(), "b".to_string()], 0, 1_000_000);
        assert_eq!(out.len(), 10);
        assert!(out.windows(2).all(|w| w[0].0 < w[1].0));
    }

    /// Ticks 1000, 2000, ... of one region, failing where `down[i]`, with
    /// ticks in `[from, to)` inside a maintenance window.
    fn run_with_window(down: &[bool], from: i64, to: i64) -> Vec<(char, i64, i64)> {
        let mut e = Evaluator::new(Health::Up, 0);
        let mut out = Vec::new();
        for (i, &d) in down.iter().enumerate() {
            let tick = (i as i64 + 1) * 1000;
            let phase = if (from..to).contains(&tick) {
                Phase::Maintenance
            } else {
                Phase::Normal
            };
            let results = [r("eu", if d { Down } else { Up })];
            if let Some(t) = e.apply(&rules(), tick, &results, phase) {
                out.push((tick, t));
            }
        }
        downs_and_ups(&out)
    }

    #[test]
    fn maintenance_holds_downs_but_not_recoveries() {
        // Failing only inside the window (ticks 2000..6000): nothing.
        let inside = [false, true, true, true, true, false, false];
        assert!(run_with_window(&inside, 2000, 6000).is_empty());
        // Failing past the end: down at the first tick after the window,
        // started at the run's first failing tick.
        let past = [false, true, true, true, true, true, false, false];
        assert_eq!(
            run_with_window(&past, 2000, 6000),
            [('d', 2000, 6000), ('u', 7000, 8000)]
        );
        // The window's last tick is inside, its end is not: a failure that
        // starts on the last tick inside confirms on the first outside.
        let edge = [false, false, false, false, true, true, false, false];
        assert_eq!(
            run_with_window(&edge, 2000, 6000),
            [('d', 5000, 6000), ('u', 7000, 8000)]
        );
        // Down before the window: it recovers inside it as usual, and a
        // new failure inside stays quiet.
        let before = [true, true, false, false, true, true, false, false];
        assert_eq!(
            run_with_window(&before, 3000, 7000),
            [('d', 1000, 2000), ('u', 3000, 4000)]
        );
        // A window that opens mid-run holds it until it closes.
        let mid = [false, true, true, true];
        assert_eq!(run_with_window(&mid, 3000, 4000), [('d', 2000, 4000)]);
    }

    #[test]
    fn settle_covers_two_lease_expiries() {
        assert_eq!(settle_ms(1000, 900), 2 * 10_900 + 5_000);
        assert_eq!(settle_ms(600_000, 5000), 1_200_000);
    }
}
