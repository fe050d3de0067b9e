//! Outbox: one per node. Any node may send: every tick (and when Alerts
//! queued something) it claims due notifications with a lease (a
//! compare-and-set in the store, in order per incident and channel), sends
//! each in a task of its own so a slow or dead channel delays nothing else,
//! and records the outcome: delivered; retried with capped exponential
//! backoff and jitter (the provider's `Retry-After` honoured) for up to a
//! day; or given up and the channel flagged. A node that dies mid-send
//! leaves its claim to expire, and another node sends the row again.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use rand::Rng;

use crate::notify::message::{regions_of, Kind, Message};
use crate::notify::{Delivery, Sender};
use openseer_core::alert::Cause;
use openseer_core::clock::SharedClock;
use openseer_store::{Claimed, Store};

/// How long a claim holds: more than a message's requests can take.
const CLAIM_MS: i64 = 60_000;
/// At most this many sends in flight per node.
const MAX_IN_FLIGHT: usize = 64;
/// Transient failures are retried for this long, then given up.
const GIVE_UP_MS: i64 = 24 * 3_600_000;
/// The longest wait between two attempts.
const MAX_BACKOFF_MS: i64 = 30 * 60_000;
/// How often reminders are looked for.
const REMINDER_EVERY_MS: i64 = 30_000;

#[derive(Debug, Clone)]
pub struct Tuning {
    /// How often due notifications are looked for.
    pub tick: Duration,
    /// The first retry's wait; each next one doubles, up to 30 minutes.
    pub retry_base_ms: i64,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            tick: Duration::from_secs(1),
            retry_base_ms: 5_000,
        }
    }
}

#[derive(ractor_cluster::RactorMessage)]
pub enum OutboxMsg {
    /// Something was queued: look now.
    Wake,
    Tick,
}

pub struct Args {
    pub store: Store,
    pub clock: SharedClock,
    pub sender: Sender,
    /// Who claims (node and process), as the rows record it.
    pub node: String,
    /// The dashboard's public address, for links in messages.
    pub public_url: Option<String>,
    pub tuning: Tuning,
}

pub struct State {
    shared: Arc<Shared>,
    last_reminders: i64,
}

struct Shared {
    store: Store,
    clock: SharedClock,
    sender: Sender,
    node: String,
    public_url: Option<String>,
    retry_base_ms: i64,
    in_flight: AtomicUsize,
}

/// The wait before attempt `attempts + 1`: doubling from the base, capped,
/// with ±20% jitter so retries of many rows spread out.
pub fn backoff_ms(base_ms: i64, attempts: i64, jitter: f64) -> i64 {
    let exp = base_ms.saturating_mul(1i64 << attempts.clamp(0, 20));
    let capped = exp.min(MAX_BACKOFF_MS) as f64;
    (capped * (0.8 + 0.4 * jitter.clamp(0.0, 1.0))) as i64
}

/// The message of an incident's notification.
pub fn message_of(
    incident: &openseer_store::Incident,
    kind: Kind,
    id: String,
    public_url: Option<&str>,
    now: i64,
) -> Message {
    let cause: Option<Cause> = serde_json::from_str(&incident.cause).ok();
    Message {
        kind,
        id,
        incident_id: incident.id,
        monitor_id: incident.monitor_id,
        monitor_name: incident.monitor_name.clone(),
        summary: cause
            .as_ref()
            .map(Cause::summary)
            .unwrap_or_else(|| "failing".into()),
        regions: cause.as_ref().map(regions_of).unwrap_or_default(),
        started_at: incident.started_at,
        resolved_at: incident.resolved_at,
        link: public_url.map(|u| format!("{}/incidents/{}", u.trim_end_matches('/'), incident.id)),
        sent_at: now,
    }
}

impl Shared {
    async fn deliver(&self, c: Claimed) {
        let now = self.clock.now_ms();
        let (incident, channel) = match (
            self.store.incident_by_id(c.incident_id).await,
            self.store.channel_by_id(c.channel_id).await,
        ) {
            (Ok(i), Ok(ch)) => (i, ch),
            (Err(e), _) | (_, Err(e)) => {
                // Deleted meanwhile (the rows go with them) or unreadable:
                // try again later; a deleted one is gone by then.
                tracing::warn!(notification = c.id, error = %e, "loading a notification to send");
                let _ = self
                    .store
                    .notification_retry(c.id, now + self.retry_base_ms, &e.to_string())
                    .await;
                return;
            }
        };
        let kind = Kind::parse(&c.kind).unwrap_or(Kind::Down);
        let m = message_of(
            &incident,
            kind,
            format!("osn_{}", c.id),
            self.public_url.as_deref(),
            now,
        );
        let ch_kind = channel.settings.kind();
        let outcome = self.sender.send(&channel.settings, &m).await;
        let now = self.clock.now_ms();
        let metrics = crate::metrics::get();
        let written = match &outcome {
            Delivery::Delivered => {
                metrics.delivery(ch_kind, "delivered");
                tracing::info!(notification = c.id, incident_id = c.incident_id, channel_id = c.channel_id, kind = %c.kind, "notification delivered");
                self.store.notification_delivered(c.id, now).await
            }
            Delivery::Transient {
                error,
                retry_after_ms,
            } if now - c.created_at < GIVE_UP_MS => {
                metrics.delivery(ch_kind, "retry");
                let wait = backoff_ms(self.retry_base_ms, c.attempts, rand::rng().random())
                    .max(retry_after_ms.unwrap_or(0));
                tracing::warn!(notification = c.id, channel_id = c.channel_id, error = %error, wait_ms = wait, "notification not delivered; will retry");
                self.store.notification_retry(c.id, now + wait, error).await
            }
            Delivery::Transient { error, .. } => {
                metrics.delivery(ch_kind, "failed");
                tracing::error!(notification = c.id, channel_id = c.channel_id, error = %error, "notification not delivered for a day; given up");
                let why = format!("unreachable for a day: {error}");
                self.store
                    .notification_failed(c.id, now, &why, Some(c.channel_id))
                    .await
            }
            Delivery::Permanent(error) => {
                metrics.delivery(ch_kind, "failed");
                tracing::error!(notification = c.id, channel_id = c.channel_id, error = %error, "the channel refused a notification; channel flagged");
                self.store
                    .notification_failed(c.id, now, error, Some(c.channel_id))
                    .await
            }
        };
        if let Err(e) = written {
            // The claim expires and the row is sent again: at least once.
            tracing::warn!(notification = c.id, error = %e, "recording a delivery failed");
        }
    }
}

impl State {
    async fn pass(&mut self) {
        let s = &self.shared;
        let now = s.clock.now_ms();
        if now - self.last_reminders >= REMINDER_EVERY_MS {
            self.last_reminders = now;
            match s.store.queue_reminders(now).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(reminders = n, "reminders queued"),
                Err(e) => tracing::warn!(error = %e, "queueing reminders"),
            }
        }
        let room = MAX_IN_FLIGHT.saturating_sub(s.in_flight.load(Ordering::Relaxed));
        if room == 0 {
            return;
        }
        let claimed = match s
            .store
            .claim_notifications(&s.node, now, now + CLAIM_MS, room as i64)
            .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "claiming notifications");
                return;
            }
        };
        for c in claimed {
            let shared = self.shared.clone();
            shared.in_flight.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                shared.deliver(c).await;
                shared.in_flight.fetch_sub(1, Ordering::Relaxed);
            });
        }
    }
}

pub struct Outbox;

impl Actor for Outbox {
    type Msg = OutboxMsg;
    type State = State;
    type Arguments = Args;

    async fn pre_start(
        &self,
        myself: ActorRef<OutboxMsg>,
        args: Args,
    ) -> Result<State, ActorProcessingErr> {
        myself.send_interval(args.tuning.tick, || OutboxMsg::Tick);
        Ok(State {
            shared: Arc::new(Shared {
                store: args.store,
                clock: args.clock,
                sender: args.sender,
                node: args.node,
                public_url: args.public_url,
                retry_base_ms: args.tuning.retry_base_ms,
                in_flight: AtomicUsize::new(0),
            }),
            last_reminders: 0,
        })
    }

    async fn handle(
        &self,
        _: ActorRef<OutboxMsg>,
        msg: OutboxMsg,
        state: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            OutboxMsg::Wake | OutboxMsg::Tick => state.pass().await,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_jitters() {
        assert_eq!(backoff_ms(5_000, 0, 0.5), 5_000);
        assert_eq!(backoff_ms(5_000, 1, 0.5), 10_000);
        assert_eq!(backoff_ms(5_000, 3, 0.5), 40_000);
        assert_eq!(backoff_ms(5_000, 30, 0.5), MAX_BACKOFF_MS);
        assert_eq!(backoff_ms(5_000, 0, 0.0), 4_000);
        assert_eq!(backoff_ms(5_000, 0, 1.0), 6_000);
    }
}
