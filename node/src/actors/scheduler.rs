//! Scheduler: one per owned shard. Keeps a timer heap of the shard's enabled
//! monitors and, at each due tick, hands one job per region to the shard's
//! lease manager. The tick arithmetic lives in [`crate::schedule`]; the heap
//! logic in [`Timetable`] is pure and tested under a manual clock.

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::task::JoinHandle;

use super::lease_manager::LeaseMsg;
use openseer_core::clock::SharedClock;
use openseer_core::timetable::Timetable;
use openseer_store::Monitor;

#[derive(ractor_cluster::RactorMessage)]
pub enum SchedMsg {
    /// The timer fired: emit what is due and re-arm.
    Wake,
    Upsert(Box<Monitor>),
    Remove(i64),
    /// Check this monitor now, once, besides its schedule.
    CheckNow(i64),
}

pub struct Args {
    pub shard: u32,
    pub clock: SharedClock,
    pub monitors: Vec<Monitor>,
    pub lease_manager: ActorRef<LeaseMsg>,
    pub fence: Arc<openseer_cluster::Fence>,
    /// Also schedule the ticks of the last this-many ms (at most one per
    /// monitor): a shard taken over from another node may have had its
    /// latest tick fall between the two owners. A tick both ran is stored
    /// once (same run id).
    pub catch_up_ms: i64,
}

/// The pending wake-up; ractor's `send_after` hands back the send's result.
type Timer = JoinHandle<Result<(), ractor::MessagingErr<SchedMsg>>>;

pub struct State {
    shard: u32,
    clock: SharedClock,
    table: Timetable,
    lease_manager: ActorRef<LeaseMsg>,
    fence: Arc<openseer_cluster::Fence>,
    timer: Option<(i64, Timer)>,
}

impl State {
    /// Arms the timer for the next due tick, unless it is already armed earlier.
    fn arm(&mut self, myself: &ActorRef<SchedMsg>) {
        let Some(due) = self.table.next_due() else {
            return;
        };
        if let Some((at, handle)) = &self.timer {
            if *at <= due && !handle.is_finished() {
                return;
            }
            handle.abort();
        }
        let wait = (due - self.clock.now_ms()).max(0) as u64;
        let handle = myself.send_after(Duration::from_millis(wait), || SchedMsg::Wake);
        self.timer = Some((due, handle));
    }
}

pub struct Scheduler;

impl Actor for Scheduler {
    type Msg = SchedMsg;
    type State = State;
    type Arguments = Args;

    async fn pre_start(
        &self,
        myself: ActorRef<SchedMsg>,
        args: Args,
    ) -> Result<State, ActorProcessingErr> {
        let now = args.clock.now_ms();
        let mut table = Timetable::default();
        for m in args.monitors {
            let catch_up = args
                .catch_up_ms
                .min(i64::from(m.interval_seconds) * 1000 - 1);
            table.upsert(m, now - catch_up.max(0));
        }
        let mut state = State {
            shard: args.shard,
            clock: args.clock,
            table,
            lease_manager: args.lease_manager,
            fence: args.fence,
            timer: None,
        };
        state.arm(&myself);
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<SchedMsg>,
        msg: SchedMsg,
        state: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SchedMsg::Wake => {
                state.timer = None;
                let jobs = state.table.due(state.clock.now_ms());
                // Cut off from the raft leader: another node may own this
                // shard by now. The ticks pass unscheduled here.
                if !state.fence.allows() {
                    tracing::debug!(
                        shard = state.shard,
                        skipped = jobs.len(),
                        "fenced: not scheduling"
                    );
                } else if !jobs.is_empty() {
                    crate::metrics::get()
                        .jobs_scheduled
                        .fetch_add(jobs.len() as u64, std::sync::atomic::Ordering::Relaxed);
                    state.lease_manager.cast(LeaseMsg::Enqueue(jobs))?;
                }
            }
            SchedMsg::Upsert(m) => {
                tracing::debug!(shard = state.shard, monitor_id = m.id, "monitor scheduled");
                state.table.upsert(*m, state.clock.now_ms());
            }
            SchedMsg::Remove(id) => state.table.remove(id),
            SchedMsg::CheckNow(id) => {
                let jobs = state.table.check_now(id, state.clock.now_ms());
                if !jobs.is_empty() {
                    state.lease_manager.cast(LeaseMsg::Enqueue(jobs))?;
                }
            }
        }
        state.arm(&myself);
        Ok(())
    }

    async fn post_stop(
        &self,
        _: ActorRef<SchedMsg>,
        state: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        if let Some((_, h)) = state.timer.take() {
            h.abort();
        }
        Ok(())
    }
}
