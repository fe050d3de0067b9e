//! Notification channels of an organization and which monitors use them.
//! Settings hold tokens and signing keys: the `settings` column is sealed
//! with the secrets key, always.

use openseer_protocol::channel::{ChannelInput, ChannelSettings};

use super::{placeholders, translate, Store, StoreError, StoreResult, WritePool};

const PURPOSE: &str = "channel.settings";

#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    pub id: i64,
    pub org_id: i64,
    pub name: String,
    pub settings: ChannelSettings,
    pub is_default: bool,
    /// Why delivery stopped (a permanent failure), until it is saved again.
    pub flagged: Option<String>,
    pub flagged_at: Option<i64>,
    pub created_at: i64,
}

#[derive(sqlx::FromRow)]
struct ChannelColumns {
    id: i64,
    org_id: i64,
    name: String,
    settings: String,
    is_default: bool,
    flagged: Option<String>,
    flagged_at: Option<i64>,
    created_at: i64,
}

const COLUMNS: &str = "id, org_id, name, settings, is_default, flagged, flagged_at, created_at";

impl Store {
    fn parse_channel(&self, c: ChannelColumns) -> StoreResult<Channel> {
        let json = self
            .sealer()?
            .open(PURPOSE, &c.settings)
            .map_err(|e| StoreError::Config(format!("a channel's settings: {e}")))?;
        let settings: ChannelSettings = serde_json::from_str(&json).map_err(|e| {
            StoreError::Conflict(format!("stored channel settings unreadable: {e}"))
        })?;
        Ok(Channel {
            id: c.id,
            org_id: c.org_id,
            name: c.name,
            settings,
            is_default: c.is_default,
            flagged: c.flagged,
            flagged_at: c.flagged_at,
            created_at: c.created_at,
        })
    }

    fn sealed_settings(&self, s: &ChannelSettings) -> StoreResult<String> {
        let json = serde_json::to_string(s).expect("settings serialise");
        Ok(self.sealer()?.seal(PURPOSE, &json))
    }

    pub async fn create_channel(
        &self,
        org_id: i64,
        c: &ChannelInput,
        now: i64,
    ) -> StoreResult<Channel> {
        let sealed = self.sealed_settings(&c.settings)?;
        let sql = format!(
            "INSERT INTO channels (org_id, name, kind, settings, is_default, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {COLUMNS}"
        );
        let row = on_pool!(self, pool => sqlx::query_as::<_, ChannelColumns>(sqlx::AssertSqlSafe(sql))
            .bind(org_id)
            .bind(c.name.trim())
            .bind(c.settings.kind())
            .bind(sealed)
            .bind(c.default_for_new_monitors)
            .bind(now)
            .fetch_one(pool)
            .await
            .map_err(crate::conflict_as("a channel with this name exists")))?;
        self.parse_channel(row)
    }

    /// Saves a channel; saving clears its flag.
    pub async fn update_channel(
        &self,
        org_id: i64,
        id: i64,
        c: &ChannelInput,
        now: i64,
    ) -> StoreResult<Channel> {
        let sealed = self.sealed_settings(&c.settings)?;
        let sql = format!(
            "UPDATE channels SET name = $1, kind = $2, settings = $3, is_default = $4, flagged = NULL, flagged_at = NULL, updated_at = $5
             WHERE id = $6 AND org_id = $7 RETURNING {COLUMNS}"
        );
        let row = on_pool!(self, pool => sqlx::query_as::<_, ChannelColumns>(sqlx::AssertSqlSafe(sql))
            .bind(c.name.trim())
            .bind(c.settings.kind())
            .bind(sealed)
            .bind(c.default_for_new_monitors)
            .bind(now)
            .bind(id)
            .bind(org_id)
            .fetch_optional(pool)
            .await
            .map_err(crate::conflict_as("a channel with this name exists")))?;
        self.parse_channel(row.ok_or(StoreError::NotFound)?)
    }

    pub async fn delete_channel(&self, org_id: i64, id: i64) -> StoreResult<()> {
        let n = on_pool!(self, pool => sqlx::query("DELETE FROM channels WHERE id = $1 AND org_id = $2")
            .bind(id)
            .bind(org_id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
            .map_err(translate))?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn channels(&self, org_id: i64) -> StoreResult<Vec<Channel>> {
        let sql =
            format!("SELECT {COLUMNS} FROM channels WHERE org_id = $1 ORDER BY lower(name), id");
        let rows = on_pool!(self, pool => sqlx::query_as::<_, ChannelColumns>(sqlx::AssertSqlSafe(sql))
            .bind(org_id)
            .fetch_all(pool)
            .await
            .map_err(translate))?;
        rows.into_iter().map(|r| self.parse_channel(r)).collect()
    }

    pub async fn channel(&self, org_id: i64, id: i64) -> StoreResult<Channel> {
        let sql = format!("SELECT {COLUMNS} FROM channels WHERE id = $1 AND org_id = $2");
        let row = on_pool!(self, pool => sqlx::query_as::<_, ChannelColumns>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(org_id)
            .fetch_optional(pool)
            .await
            .map_err(translate))?;
        self.parse_channel(row.ok_or(StoreError::NotFound)?)
    }

    /// A channel by id alone, for the sender.
    pub async fn channel_by_id(&self, id: i64) -> StoreResult<Channel> {
        let sql = format!("SELECT {COLUMNS} FROM channels WHERE id = $1");
        let row = on_pool!(self, pool => sqlx::query_as::<_, ChannelColumns>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(pool)
            .await
            .map_err(translate))?;
        self.parse_channel(row.ok_or(StoreError::NotFound)?)
    }

    /// Channels flagged as refusing, over the instance (for /metrics).
    pub async fn flagged_channels(&self) -> StoreResult<i64> {
        on_pool!(self, pool => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM channels WHERE flagged IS NOT NULL")
            .fetch_one(pool)
            .await
            .map_err(translate))
    }

    pub async fn monitor_channel_ids(&self, monitor_id: i64) -> StoreResult<Vec<i64>> {
        on_pool!(self, pool => sqlx::query_scalar::<_, i64>("SELECT channel_id FROM monitor_channels WHERE monitor_id = $1 ORDER BY channel_id")
            .bind(monitor_id)
            .fetch_all(pool)
            .await
            .map_err(translate))
    }

    /// Sets which channels a monitor notifies; every id must be a channel
    /// of the monitor's organization (else `NotFound`, nothing changed).
    pub async fn set_monitor_channels(
        &self,
        org_id: i64,
        monitor_id: i64,
        ids: &[i64],
    ) -> StoreResult<()> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let owner: Option<i64> = sqlx::query_scalar("SELECT org_id FROM monitors WHERE id = $1")
                .bind(monitor_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(translate)?;
            if owner != Some(org_id) {
                return Err(StoreError::NotFound);
            }
            if !ids.is_empty() {
                let sql = format!(
                    "SELECT COUNT(*) FROM channels WHERE org_id = $1 AND id IN ({})",
                    placeholders(2, ids.len())
                );
                let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql)).bind(org_id);
                for id in &ids {
                    q = q.bind(id);
                }
                let found = q.fetch_one(&mut *tx).await.map_err(translate)?;
                if found != ids.len() as i64 {
                    return Err(StoreError::NotFound);
                }
            }
            sqlx::query("DELETE FROM monitor_channels WHERE monitor_id = $1")
                .bind(monitor_id)
                .execute(&mut *tx)
                .await
                .map_err(translate)?;
            for id in &ids {
                sqlx::query("INSERT INTO monitor_channels (monitor_id, channel_id) VALUES ($1, $2)")
                    .bind(monitor_id)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(translate)?;
            }
            tx.commit().await.map_err(translate)
        })
    }
}
