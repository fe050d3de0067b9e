//! Alerts: one per node. Evaluates the alert rules of the monitors whose
//! shards this node owns, from committed results (Ingest sends them here,
//! or to the owner's Alerts through a peer), and writes each transition
//! with its incident and notifications in one transaction
//! ([`Store::apply_transition`], a compare-and-set on the monitor's alert
//! state version, so nodes evaluating the same monitor during a hand-over
//! decide each transition once).
//!
//! Shards as data: one actor and one timer for every monitor, not one per
//! shard. State in memory per monitor: the core's [`Evaluator`] and
//! [`Pending`] ticks. A monitor seen for the first time (after a start or
//! a shard moving here) is loaded from its stored alert state and the
//! results of its recent ticks, so a new owner carries on where the old
//! one stopped.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};

use super::sessions::SessionsMsg;
use super::shards::{Route, ShardTable};
use openseer_core::alert::{settle_ms, Evaluator, Health, Pending, Phase, TickResult, Transition};
use openseer_core::clock::SharedClock;
use openseer_core::maintenance::{covered, Window};
use openseer_core::model::{LiveEvent, Monitor};
use openseer_core::schedule::{shard_of, SHARDS};
use openseer_protocol::AlertRules;
use openseer_store::{Applied, Change, NewTransition, Store};

/// How often settled ticks are evaluated and idle monitors let go.
pub const TICK: Duration = Duration::from_secs(1);
/// A monitor with nothing pending and no result for this long is dropped
/// from memory (loaded again on its next result).
const IDLE_MS: i64 = 15 * 60_000;
/// At most this many stored results are read when a monitor is loaded.
const REPLAY_LIMIT: i64 = 5_000;
/// An organization's maintenance windows are read again after this long
/// even without word of a change (a missed peer message heals).
const WINDOWS_TTL_MS: i64 = 30_000;

#[derive(ractor_cluster::RactorMessage)]
pub enum AlertsMsg {
    /// Committed results of monitors of shards this node owns.
    Results(Vec<TickResult>),
    /// A monitor's settings changed (rules, regions, name).
    Changed(Box<Monitor>),
    /// An organization's maintenance windows changed.
    MaintenanceChanged(i64),
    Tick,
}

/// The outbox sender, woken when a transition queued notifications.
pub trait Wake: Send + Sync {
    fn wake(&self);
}

pub struct Args {
    pub store: Store,
    pub clock: SharedClock,
    pub shards: Arc<ShardTable>,
    pub sessions: ActorRef<SessionsMsg>,
    pub wake: Arc<dyn Wake>,
    /// Broadcasts live events to the other nodes' dashboards.
    pub publish_remote: Arc<dyn Fn(Vec<LiveEvent>) + Send + Sync>,
}

/// What evaluation needs of a monitor's settings.
struct Settings {
    org_id: i64,
    name: String,
    /// The regions every tick should have a result from.
    expected: Vec<String>,
    settle_ms: i64,
    rules: AlertRules,
}

impl Settings {
    fn of(m: &Monitor) -> Settings {
        let expected = if m.regions.is_empty() {
            vec![openseer_protocol::monitor::ANY_REGION.to_string()]
        } else {
            m.regions.clone()
        };
        Settings {
            org_id: m.org_id,
            name: m.name.clone(),
            expected,
            settle_ms: settle_ms(
                i64::from(m.interval_seconds) * 1000,
                i64::from(m.check.timeout_ms),
            ),
            rules: m.alert.clone(),
        }
    }
}

struct Watched {
    settings: Settings,
    eval: Evaluator,
    version: i64,
    incident_id: Option<i64>,
    pending: Pending,
    last_result_at: i64,
}

pub struct State {
    store: Store,
    clock: SharedClock,
    shards: Arc<ShardTable>,
    sessions: ActorRef<SessionsMsg>,
    wake: Arc<dyn Wake>,
    publish_remote: Arc<dyn Fn(Vec<LiveEvent>) + Send + Sync>,
    monitors: HashMap<i64, Watched>,
    /// Maintenance windows per organization, as of when they were read.
    windows: HashMap<i64, (i64, Arc<Vec<Window>>)>,
}

impl State {
    /// The organization's maintenance windows, read again when older than
    /// [`WINDOWS_TTL_MS`] or dropped by a change. When the database cannot
    /// be read the last ones known stay (none if never read).
    async fn windows_of(&mut self, org_id: i64, now: i64) -> Arc<Vec<Window>> {
        if let Some((at, w)) = self.windows.get(&org_id) {
            if now - at < WINDOWS_TTL_MS {
                return w.clone();
            }
        }
        match self.store.maintenance_windows(org_id).await {
            Ok(rows) => {
                let w = Arc::new(crate::windows::compile_all(&rows));
                self.windows.insert(org_id, (now, w.clone()));
                w
            }
            Err(e) => {
                tracing::warn!(org_id, error = %e, "reading maintenance windows");
                self.windows
                    .get(&org_id)
                    .map(|(_, w)| w.clone())
                    .unwrap_or_default()
            }
        }
    }

    fn owns(&self, monitor_id: i64) -> bool {
        matches!(
            self.shards.route(shard_of(monitor_id, SHARDS)),
            Route::Local(_)
        )
    }

    /// Loads a monitor this node has not evaluated yet: its stored state,
    /// then its recent results as pending ticks. `None` when it is gone.
    async fn load(&self, monitor_id: i64, now: i64) -> Option<Watched> {
        let m = match self.store.monitor_any_org(monitor_id).await {
            Ok(Some(m)) => m,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(monitor_id, error = %e, "loading a monitor to evaluate");
                return None;
            }
        };
        let settings = Settings::of(&m);
        let stored = match self.store.alert_state(monitor_id).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(monitor_id, error = %e, "loading a monitor's alert state");
                return None;
            }
        };
        let interval = i64::from(m.interval_seconds) * 1000;
        let run = i64::from(settings.rules.down_after.max(settings.rules.up_after)) + 1;
        let window = now - run * interval - settings.settle_ms;
        let (health, since, version, incident_id) = match &stored {
            Some(s) => (s.health(), s.since_tick, s.version, s.incident_id),
            None => (Health::Up, i64::MIN, 0, None),
        };
        let through = since.max(window);
        let mut pending = Pending::default();
        match self
            .store
            .tick_results(monitor_id, through, REPLAY_LIMIT)
            .await
        {
            Ok(rows) => {
                for (tick, r) in rows {
                    pending.add(through, tick, r);
                }
            }
            Err(e) => tracing::warn!(monitor_id, error = %e, "reading results to evaluate"),
        }
        Some(Watched {
            settings,
            eval: Evaluator::new(health, through),
            version,
            incident_id,
            pending,
            last_result_at: now,
        })
    }

    /// Evaluates the monitor's ready ticks and writes what they decide.
    async fn evaluate(&mut self, monitor_id: i64, now: i64) {
        let Some(org_id) = self.monitors.get(&monitor_id).map(|w| w.settings.org_id) else {
            return;
        };
        let windows = self.windows_of(org_id, now).await;
        let Some(w) = self.monitors.get_mut(&monitor_id) else {
            return;
        };
        let ready = w
            .pending
            .ready(&w.settings.expected, now, w.settings.settle_ms);
        for (tick, results) in ready {
            // Inside a window the monitor never goes down; the run keeps
            // counting so a failure outlasting it opens an incident then.
            let phase = if covered(&windows, monitor_id, tick) {
                Phase::Maintenance
            } else {
                Phase::Normal
            };
            let Some(t) = w.eval.apply(&w.settings.rules, tick, &results, phase) else {
                continue;
            };
            let change = match &t {
                Transition::Down {
                    started_at, cause, ..
                } => Change::Open {
                    started_at: *started_at,
                    cause: serde_json::to_string(cause).expect("cause serialises"),
                    summary: cause.summary(),
                },
                Transition::Up { .. } => match w.incident_id {
                    Some(id) => Change::Resolve { incident_id: id },
                    // Down without an incident cannot be stored; nothing
                    // to resolve.
                    None => continue,
                },
            };
            let transition = NewTransition {
                monitor_id,
                org_id: w.settings.org_id,
                monitor_name: w.settings.name.clone(),
                expected_version: w.version,
                tick,
                change,
                now,
            };
            match self.store.apply_transition(&transition).await {
                Ok(Applied::Done {
                    version,
                    incident_id,
                    notifications,
                }) => {
                    w.version = version;
                    w.incident_id = (w.eval.health == Health::Down).then_some(incident_id);
                    tracing::info!(
                        monitor_id,
                        incident_id,
                        health = w.eval.health.as_str(),
                        tick,
                        notifications,
                        "monitor {}",
                        if w.eval.health == Health::Down {
                            "went down"
                        } else {
                            "recovered"
                        }
                    );
                    crate::metrics::get().incident_transition(w.eval.health.as_str());
                    let events = vec![LiveEvent::Incident {
                        org_id: w.settings.org_id,
                        monitor_id,
                    }];
                    (self.publish_remote)(events.clone());
                    let _ = self.sessions.cast(SessionsMsg::Publish(events));
                    if notifications > 0 {
                        self.wake.wake();
                    }
                }
                Ok(Applied::Stale) => {
                    // Another node decided first: carry on from what it wrote.
                    match self.store.alert_state(monitor_id).await {
                        Ok(Some(s)) => {
                            let through = w.eval.evaluated_through.max(s.since_tick);
                            w.eval = Evaluator::new(s.health(), through);
                            w.version = s.version;
                            w.incident_id = s.incident_id;
                        }
                        Ok(None) => {}
                        Err(e) => tracing::warn!(monitor_id, error = %e, "re-reading alert state"),
                    }
                }
                Err(e) => {
                    // Nothing was written; the ticks are evaluated again
                    // when the monitor is next loaded.
                    tracing::warn!(monitor_id, error = %e, "writing a transition failed; re-evaluating later");
                    self.monitors.remove(&monitor_id);
                    return;
                }
            }
        }
    }

    async fn on_results(&mut self, items: Vec<TickResult>) {
        let now = self.clock.now_ms();
        let mut touched = Vec::new();
        for r in items {
            if !self.monitors.contains_key(&r.monitor_id) {
                if !self.owns(r.monitor_id) {
                    continue;
                }
                // The load reads the stored results, this one included.
                match self.load(r.monitor_id, now).await {
                    Some(w) => {
                        self.monitors.insert(r.monitor_id, w);
                    }
                    None => continue,
                }
            }
            let Some(w) = self.monitors.get_mut(&r.monitor_id) else {
                continue;
            };
            w.pending.add(w.eval.evaluated_through, r.tick, r.result);
            w.last_result_at = now;
            touched.push(r.monitor_id);
        }
        touched.sort_unstable();
        touched.dedup();
        for id in touched {
            self.evaluate(id, now).await;
        }
    }

    async fn on_tick(&mut self) {
        let now = self.clock.now_ms();
        let mut due = Vec::new();
        let mut gone = Vec::new();
        for (&id, w) in &self.monitors {
            if !w.pending.is_empty() {
                due.push(id);
            } else if now - w.last_result_at > IDLE_MS {
                gone.push(id);
            }
        }
        for id in gone {
            self.monitors.remove(&id);
        }
        // A shard that moved away: its new owner evaluates from now on.
        let moved: Vec<i64> = self
            .monitors
            .keys()
            .copied()
            .filter(|&id| !self.owns(id))
            .collect();
        for id in moved {
            self.monitors.remove(&id);
        }
        for id in due {
            self.evaluate(id, now).await;
        }
    }
}

pub struct Alerts;

impl Actor for Alerts {
    type Msg = AlertsMsg;
    type State = State;
    type Arguments = Args;

    async fn pre_start(
        &self,
        myself: ActorRef<AlertsMsg>,
        args: Args,
    ) -> Result<State, ActorProcessingErr> {
        myself.send_interval(TICK, || AlertsMsg::Tick);
        Ok(State {
            store: args.store,
            clock: args.clock,
            shards: args.shards,
            sessions: args.sessions,
            wake: args.wake,
            publish_remote: args.publish_remote,
            monitors: HashMap::new(),
            windows: HashMap::new(),
        })
    }

    async fn handle(
        &self,
        _: ActorRef<AlertsMsg>,
        msg: AlertsMsg,
        state: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            AlertsMsg::Results(items) => state.on_results(items).await,
            AlertsMsg::Changed(m) => {
                if let Some(w) = state.monitors.get_mut(&m.id) {
                    w.settings = Settings::of(&m);
                }
            }
            AlertsMsg::MaintenanceChanged(org_id) => {
                state.windows.remove(&org_id);
            }
            AlertsMsg::Tick => state.on_tick().await,
        }
        Ok(())
    }
}
