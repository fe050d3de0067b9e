//! Alert state, incidents and their timelines, and the outbox of
//! notifications. A transition is one transaction: the alert state changes
//! by compare-and-set on its version, and the incident row, its timeline
//! entry and one notification per channel of the monitor are written with
//! it, so there is no notification without a committed transition and no
//! transition without its rows.

use openseer_core::alert::{Health, RegionResult};
use openseer_protocol::{ErrorKind, Outcome};

use super::{translate, Store, StoreError, StoreResult, WritePool};

/// A monitor's alert state as of its last transition.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AlertStateRow {
    pub monitor_id: i64,
    pub health: String,
    pub since_tick: i64,
    pub incident_id: Option<i64>,
    pub version: i64,
}

impl AlertStateRow {
    pub fn health(&self) -> Health {
        Health::parse(&self.health).unwrap_or(Health::Up)
    }
}

/// What a transition writes.
#[derive(Debug, Clone)]
pub enum Change {
    /// Opens an incident that started at `started_at`.
    Open {
        started_at: i64,
        /// JSON of the cause.
        cause: String,
        /// One line for the timeline.
        summary: String,
    },
    /// Resolves the open incident `incident_id`.
    Resolve { incident_id: i64 },
}

#[derive(Debug, Clone)]
pub struct NewTransition {
    pub monitor_id: i64,
    pub org_id: i64,
    pub monitor_name: String,
    /// The version read; 0 when the monitor had no alert state yet.
    pub expected_version: i64,
    /// The tick that confirmed it.
    pub tick: i64,
    pub change: Change,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// Written: the state's new version and the incident.
    Done {
        version: i64,
        incident_id: i64,
        notifications: u64,
    },
    /// Another evaluator changed the state first; read it again.
    Stale,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Incident {
    pub id: i64,
    pub org_id: i64,
    pub monitor_id: Option<i64>,
    pub monitor_name: String,
    pub started_at: i64,
    pub confirmed_at: i64,
    pub resolved_at: Option<i64>,
    pub cause: String,
    pub acknowledged_at: Option<i64>,
    pub acknowledged_by: Option<String>,
    pub reminded_at: Option<i64>,
}

impl Incident {
    pub fn is_open(&self) -> bool {
        self.resolved_at.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct IncidentEvent {
    pub id: i64,
    pub at: i64,
    pub kind: String,
    pub actor: Option<String>,
    pub detail: Option<String>,
}

/// A notification of an incident, with its channel and delivery state.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct NotificationRow {
    pub id: i64,
    pub incident_id: i64,
    pub channel_id: i64,
    pub channel_name: String,
    pub channel_kind: String,
    pub kind: String,
    pub created_at: i64,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub delivered_at: Option<i64>,
    pub failed_at: Option<i64>,
    pub last_error: Option<String>,
}

impl NotificationRow {
    /// `delivered`, `failed`, `retrying` or `pending`.
    pub fn state(&self) -> &'static str {
        if self.delivered_at.is_some() {
            "delivered"
        } else if self.failed_at.is_some() {
            "failed"
        } else if self.attempts > 0 {
            "retrying"
        } else {
            "pending"
        }
    }
}

/// Which incidents a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentFilter {
    All,
    Open,
    Resolved,
}

/// A notification claimed for sending.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Claimed {
    pub id: i64,
    pub incident_id: i64,
    pub channel_id: i64,
    pub kind: String,
    pub attempts: i64,
    pub created_at: i64,
}

/// (scheduled_at, region, outcome, error_kind, status_code, error_message).
type TickRow = (
    i64,
    String,
    String,
    Option<String>,
    Option<i64>,
    Option<String>,
);

const INCIDENT_COLUMNS: &str = "id, org_id, monitor_id, monitor_name, started_at, confirmed_at, resolved_at, cause, acknowledged_at, acknowledged_by, reminded_at";

/// The longest note a user may add, in bytes.
pub const MAX_NOTE: usize = 2_000;

impl Store {
    pub async fn alert_state(&self, monitor_id: i64) -> StoreResult<Option<AlertStateRow>> {
        on_pool!(self, pool => sqlx::query_as::<_, AlertStateRow>(
            "SELECT monitor_id, health, since_tick, incident_id, version FROM alert_state WHERE monitor_id = $1",
        )
        .bind(monitor_id)
        .fetch_optional(pool)
        .await
        .map_err(translate))
    }

    /// The results of a monitor's ticks after `after` (oldest first, at
    /// most `limit`), for an evaluator that takes the monitor over.
    pub async fn tick_results(
        &self,
        monitor_id: i64,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<(i64, RegionResult)>> {
        let rows: Vec<TickRow> = on_pool!(self, pool => sqlx::query_as(
            "SELECT scheduled_at, region, outcome, error_kind, status_code, error_message FROM results_raw
             WHERE monitor_id = $1 AND scheduled_at > $2 ORDER BY scheduled_at LIMIT $3",
        )
        .bind(monitor_id)
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await
        .map_err(translate))?;
        Ok(rows
            .into_iter()
            .map(|(tick, region, outcome, kind, code, message)| {
                (
                    tick,
                    RegionResult {
                        region,
                        outcome: Outcome::parse(&outcome).unwrap_or(Outcome::Error),
                        error_kind: kind.as_deref().and_then(ErrorKind::parse),
                        status_code: code.and_then(|c| u16::try_from(c).ok()),
                        message,
                    },
                )
            })
            .collect())
    }

    /// Writes a transition and everything that comes with it, or nothing.
    pub async fn apply_transition(&self, t: &NewTransition) -> StoreResult<Applied> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let (health, incident_id, event, kind) = match &t.change {
                Change::Open { started_at, cause, summary } => {
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO incidents (org_id, monitor_id, monitor_name, started_at, confirmed_at, cause, reminded_at) VALUES ($1, $2, $3, $4, $5, $6, $5) RETURNING id",
                    )
                    .bind(t.org_id)
                    .bind(t.monitor_id)
                    .bind(&t.monitor_name)
                    .bind(started_at)
                    .bind(t.tick)
                    .bind(cause)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(translate)?;
                    (Health::Down, id, ("opened", summary.clone()), "down")
                }
                Change::Resolve { incident_id } => {
                    sqlx::query("UPDATE incidents SET resolved_at = $1 WHERE id = $2 AND resolved_at IS NULL")
                        .bind(t.tick)
                        .bind(incident_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(translate)?;
                    (Health::Up, *incident_id, ("resolved", "passing again".to_string()), "up")
                }
            };
            let open = (health == Health::Down).then_some(incident_id);
            let swapped = if t.expected_version == 0 {
                sqlx::query("INSERT INTO alert_state (monitor_id, health, since_tick, incident_id, version) VALUES ($1, $2, $3, $4, 1) ON CONFLICT (monitor_id) DO NOTHING")
                    .bind(t.monitor_id)
                    .bind(health.as_str())
                    .bind(t.tick)
                    .bind(open)
                    .execute(&mut *tx)
                    .await
                    .map_err(translate)?
                    .rows_affected()
            } else {
                sqlx::query("UPDATE alert_state SET health = $1, since_tick = $2, incident_id = $3, version = version + 1 WHERE monitor_id = $4 AND version = $5")
                    .bind(health.as_str())
                    .bind(t.tick)
                    .bind(open)
                    .bind(t.monitor_id)
                    .bind(t.expected_version)
                    .execute(&mut *tx)
                    .await
                    .map_err(translate)?
                    .rows_affected()
            };
            if swapped != 1 {
                tx.rollback().await.map_err(translate)?;
                return Ok(Applied::Stale);
            }
            sqlx::query("INSERT INTO incident_events (incident_id, at, kind, detail) VALUES ($1, $2, $3, $4)")
                .bind(incident_id)
                .bind(t.tick)
                .bind(event.0)
                .bind(&event.1)
                .execute(&mut *tx)
                .await
                .map_err(translate)?;
            let notifications = sqlx::query(
                "INSERT INTO notifications (incident_id, channel_id, kind, created_at, next_attempt_at)
                 SELECT $1, mc.channel_id, $2, $3, $3 FROM monitor_channels mc WHERE mc.monitor_id = $4",
            )
            .bind(incident_id)
            .bind(kind)
            .bind(t.now)
            .bind(t.monitor_id)
            .execute(&mut *tx)
            .await
            .map_err(translate)?
            .rows_affected();
            tx.commit().await.map_err(translate)?;
            Ok(Applied::Done {
                version: t.expected_version + 1,
                incident_id,
                notifications,
            })
        })
    }

    /// An organization's incidents, newest first; `before` pages back.
    pub async fn incidents(
        &self,
        org_id: i64,
        filter: IncidentFilter,
        monitor_id: Option<i64>,
        before: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<Incident>> {
        let state = match filter {
            IncidentFilter::All => "",
            IncidentFilter::Open => " AND resolved_at IS NULL",
            IncidentFilter::Resolved => " AND resolved_at IS NOT NULL",
        };
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE org_id = $1 AND ($2 IS NULL OR monitor_id = $2) AND id < $3{state}
             ORDER BY (resolved_at IS NULL) DESC, id DESC LIMIT $4"
        );
        on_pool!(self, pool => sqlx::query_as::<_, Incident>(sqlx::AssertSqlSafe(sql))
            .bind(org_id)
            .bind(monitor_id)
            .bind(before.unwrap_or(i64::MAX))
            .bind(limit)
            .fetch_all(pool)
            .await
            .map_err(translate))
    }

    pub async fn incident(&self, org_id: i64, id: i64) -> StoreResult<Incident> {
        let sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1 AND org_id = $2");
        on_pool!(self, pool => sqlx::query_as::<_, Incident>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(org_id)
            .fetch_optional(pool)
            .await
            .map_err(translate))?
        .ok_or(StoreError::NotFound)
    }

    /// An incident by id alone, for the sender (which has no organization).
    pub async fn incident_by_id(&self, id: i64) -> StoreResult<Incident> {
        let sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1");
        on_pool!(self, pool => sqlx::query_as::<_, Incident>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(pool)
            .await
            .map_err(translate))?
        .ok_or(StoreError::NotFound)
    }

    pub async fn incident_events(&self, incident_id: i64) -> StoreResult<Vec<IncidentEvent>> {
        on_pool!(self, pool => sqlx::query_as::<_, IncidentEvent>(
            "SELECT id, at, kind, actor, detail FROM incident_events WHERE incident_id = $1 ORDER BY at, id",
        )
        .bind(incident_id)
        .fetch_all(pool)
        .await
        .map_err(translate))
    }

    pub async fn incident_notifications(
        &self,
        incident_id: i64,
    ) -> StoreResult<Vec<NotificationRow>> {
        on_pool!(self, pool => sqlx::query_as::<_, NotificationRow>(
            "SELECT n.id, n.incident_id, n.channel_id, c.name AS channel_name, c.kind AS channel_kind, n.kind, n.created_at, n.attempts, n.next_attempt_at, n.delivered_at, n.failed_at, n.last_error
             FROM notifications n JOIN channels c ON c.id = n.channel_id WHERE n.incident_id = $1 ORDER BY n.id",
        )
        .bind(incident_id)
        .fetch_all(pool)
        .await
        .map_err(translate))
    }

    /// Open incidents of an organization by monitor (for the overview's mark).
    pub async fn open_incidents(&self, org_id: i64) -> StoreResult<Vec<(i64, i64)>> {
        on_pool!(self, pool => sqlx::query_as::<_, (i64, i64)>(
            "SELECT monitor_id, id FROM incidents WHERE org_id = $1 AND resolved_at IS NULL AND monitor_id IS NOT NULL",
        )
        .bind(org_id)
        .fetch_all(pool)
        .await
        .map_err(translate))
    }

    /// Acknowledges an open incident (stops its reminders); false when it
    /// was acknowledged already or is resolved.
    pub async fn acknowledge_incident(
        &self,
        org_id: i64,
        id: i64,
        actor: &str,
        now: i64,
    ) -> StoreResult<bool> {
        self.incident(org_id, id).await?;
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let n = sqlx::query("UPDATE incidents SET acknowledged_at = $1, acknowledged_by = $2 WHERE id = $3 AND org_id = $4 AND acknowledged_at IS NULL AND resolved_at IS NULL")
                .bind(now)
                .bind(actor)
                .bind(id)
                .bind(org_id)
                .execute(&mut *tx)
                .await
                .map_err(translate)?
                .rows_affected();
            if n == 1 {
                sqlx::query("INSERT INTO incident_events (incident_id, at, kind, actor) VALUES ($1, $2, 'acknowledged', $3)")
                    .bind(id)
                    .bind(now)
                    .bind(actor)
                    .execute(&mut *tx)
                    .await
                    .map_err(translate)?;
            }
            tx.commit().await.map_err(translate)?;
            Ok(n == 1)
        })
    }

    pub async fn add_incident_note(
        &self,
        org_id: i64,
        id: i64,
        actor: &str,
        note: &str,
        now: i64,
    ) -> StoreResult<()> {
        self.incident(org_id, id).await?;
        on_pool!(self, pool => sqlx::query("INSERT INTO incident_events (incident_id, at, kind, actor, detail) VALUES ($1, $2, 'note', $3, $4)")
            .bind(id)
            .bind(now)
            .bind(actor)
            .bind(note)
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(translate))
    }

    /// Queues a reminder for every channel of each open, unacknowledged
    /// incident whose monitor asks for reminders and whose last one is
    /// older than its interval. Each incident's `reminded_at` moves by
    /// compare-and-set, so nodes running this together remind once.
    pub async fn queue_reminders(&self, now: i64) -> StoreResult<u64> {
        let due: Vec<(i64, i64, i64, String)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT i.id, i.monitor_id, i.reminded_at, m.alert FROM incidents i JOIN monitors m ON m.id = i.monitor_id
             WHERE i.resolved_at IS NULL AND i.acknowledged_at IS NULL AND m.alert NOT LIKE '%remind_every_minutes\":null%'",
        )
        .fetch_all(pool)
        .await
        .map_err(translate))?;
        let mut queued = 0;
        for (incident_id, monitor_id, reminded_at, alert) in due {
            let Ok(rules) = serde_json::from_str::<openseer_protocol::AlertRules>(&alert) else {
                continue;
            };
            let Some(every) = rules.remind_every_minutes else {
                continue;
            };
            if now < reminded_at + i64::from(every) * 60_000 {
                continue;
            }
            queued += on_pool!(self, pool => {
                let mut tx = pool.begin_write().await?;
                let moved = sqlx::query("UPDATE incidents SET reminded_at = $1 WHERE id = $2 AND reminded_at = $3 AND resolved_at IS NULL AND acknowledged_at IS NULL")
                    .bind(now)
                    .bind(incident_id)
                    .bind(reminded_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(translate)?
                    .rows_affected();
                if moved != 1 {
                    tx.rollback().await.map_err(translate)?;
                    0
                } else {
                    sqlx::query("INSERT INTO incident_events (incident_id, at, kind) VALUES ($1, $2, 'reminder')")
                        .bind(incident_id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(translate)?;
                    let n = sqlx::query(
                        "INSERT INTO notifications (incident_id, channel_id, kind, created_at, next_attempt_at)
                         SELECT $1, channel_id, 'reminder', $2, $2 FROM monitor_channels WHERE monitor_id = $3",
                    )
                    .bind(incident_id)
                    .bind(now)
                    .bind(monitor_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(translate)?
                    .rows_affected();
                    tx.commit().await.map_err(translate)?;
                    n
                }
            });
        }
        Ok(queued)
    }

    /// Claims up to `limit` due notifications for `node` until
    /// `until`: never one whose earlier notification of the same incident
    /// and channel is still undelivered, so a recovery is never sent before
    /// its down. A claim is a compare-and-set: of nodes claiming together,
    /// one gets each row.
    pub async fn claim_notifications(
        &self,
        node: &str,
        now: i64,
        until: i64,
        limit: i64,
    ) -> StoreResult<Vec<Claimed>> {
        let candidates: Vec<i64> = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT n.id FROM notifications n
             WHERE n.delivered_at IS NULL AND n.failed_at IS NULL AND n.next_attempt_at <= $1
               AND (n.claimed_until IS NULL OR n.claimed_until < $1)
               AND NOT EXISTS (SELECT 1 FROM notifications p WHERE p.incident_id = n.incident_id AND p.channel_id = n.channel_id
                               AND p.id < n.id AND p.delivered_at IS NULL AND p.failed_at IS NULL)
             ORDER BY n.id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(pool)
        .await
        .map_err(translate))?;
        let mut claimed = Vec::new();
        for id in candidates {
            let row: Option<Claimed> = on_pool!(self, pool => sqlx::query_as::<_, Claimed>(
                "UPDATE notifications SET claimed_by = $1, claimed_until = $2
                 WHERE id = $3 AND delivered_at IS NULL AND failed_at IS NULL AND (claimed_until IS NULL OR claimed_until < $4)
                 RETURNING id, incident_id, channel_id, kind, attempts, created_at",
            )
            .bind(node)
            .bind(until)
            .bind(id)
            .bind(now)
            .fetch_optional(pool)
            .await
            .map_err(translate))?;
            claimed.extend(row);
        }
        Ok(claimed)
    }

    pub async fn notification_delivered(&self, id: i64, now: i64) -> StoreResult<()> {
        on_pool!(self, pool => sqlx::query("UPDATE notifications SET delivered_at = $1, attempts = attempts + 1, claimed_until = NULL, last_error = NULL WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(translate))
    }

    pub async fn notification_retry(&self, id: i64, at: i64, error: &str) -> StoreResult<()> {
        on_pool!(self, pool => sqlx::query("UPDATE notifications SET next_attempt_at = $1, attempts = attempts + 1, claimed_until = NULL, last_error = $2 WHERE id = $3")
            .bind(at)
            .bind(error)
            .bind(id)
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(translate))
    }

    /// Gives a notification up; with `flag`, its channel is marked as
    /// refusing (shown on its page and in /metrics until it is saved again).
    pub async fn notification_failed(
        &self,
        id: i64,
        now: i64,
        error: &str,
        flag: Option<i64>,
    ) -> StoreResult<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("UPDATE notifications SET failed_at = $1, attempts = attempts + 1, claimed_until = NULL, last_error = $2 WHERE id = $3")
                .bind(now)
                .bind(error)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(translate)?;
            if let Some(channel) = flag {
                sqlx::query("UPDATE channels SET flagged = $1, flagged_at = $2 WHERE id = $3")
                    .bind(error)
                    .bind(now)
                    .bind(channel)
                    .execute(&mut *tx)
                    .await
                    .map_err(translate)?;
            }
            tx.commit().await.map_err(translate)
        })
    }

    /// Notifications not yet delivered nor given up, and those given up,
    /// over the whole instance (for /metrics).
    pub async fn notification_counts(&self) -> StoreResult<(i64, i64)> {
        on_pool!(self, pool => sqlx::query_as::<_, (i64, i64)>(
            "SELECT COUNT(CASE WHEN delivered_at IS NULL AND failed_at IS NULL THEN 1 END),
                    COUNT(CASE WHEN failed_at IS NOT NULL THEN 1 END) FROM notifications",
        )
        .fetch_one(pool)
        .await
        .map_err(translate))
    }
}
