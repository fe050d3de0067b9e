//! The root of the node's supervision tree. Every node actor is linked to
//! it. Actors are not restarted in place (their peers hold their references);
//! instead a child that fails, or stops while the node is not stopping, marks
//! the node unhealthy: `/readyz` turns 503 with the reason, so the load
//! balancer stops sending traffic and the orchestrator replaces the process.
//! A node that silently lost a scheduler would miss outages; this one says so.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};

/// What the HTTP layer reads to answer `/readyz`.
#[derive(Default)]
pub struct Health {
    failure: Mutex<Option<String>>,
    stopping: AtomicBool,
}

impl Health {
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().expect("health lock").clone()
    }

    pub fn set_stopping(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    fn fail(&self, why: String) {
        tracing::error!(reason = %why, "an actor of this node stopped; the node reports itself unready");
        let mut f = self.failure.lock().expect("health lock");
        f.get_or_insert(why);
    }
}

/// The stop reason of a shard's actors when the shard moves to another
/// node: expected, so not a failure.
pub const HANDED_OVER: &str = "shard handed over";

#[derive(ractor_cluster::RactorMessage)]
pub enum RootMsg {
    /// Names a child, for the messages above.
    Name(ActorId, &'static str),
}

pub struct Root;

pub struct State {
    health: Arc<Health>,
    names: HashMap<ActorId, &'static str>,
}

impl Actor for Root {
    type Msg = RootMsg;
    type State = State;
    type Arguments = Arc<Health>;

    async fn pre_start(
        &self,
        _: ActorRef<RootMsg>,
        health: Arc<Health>,
    ) -> Result<State, ActorProcessingErr> {
        Ok(State {
            health,
            names: HashMap::new(),
        })
    }

    async fn handle(
        &self,
        _: ActorRef<RootMsg>,
        msg: RootMsg,
        state: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RootMsg::Name(id, name) => {
                state.names.insert(id, name);
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _: ActorRef<RootMsg>,
        event: SupervisionEvent,
        state: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        let name = |id: ActorId| state.names.get(&id).copied().unwrap_or("an actor");
        match event {
            SupervisionEvent::ActorFailed(cell, err) => {
                state
                    .health
                    .fail(format!("{} failed: {err}", name(cell.get_id())));
            }
            // A stop is expected only while the whole node stops, or for
            // a shard that moved.
            SupervisionEvent::ActorTerminated(cell, _, reason)
                if !state.health.stopping.load(Ordering::SeqCst)
                    && reason.as_deref() != Some(HANDED_OVER) =>
            {
                let why = reason.unwrap_or_else(|| "no reason given".into());
                state
                    .health
                    .fail(format!("{} stopped: {why}", name(cell.get_id())));
            }
            _ => {}
        }
        Ok(())
    }
}
