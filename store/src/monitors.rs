//! Monitors. Every query that a user can reach is scoped by organization:
//! a monitor of another organization is simply not found.
//!
//! Header values and request bodies may hold credentials: the `headers`
//! and `body` columns hold them sealed with the node's secrets key (see
//! `auth::seal`) whenever there is something to hide. Rows written before
//! sealing existed are read as they are and sealed by `seal_legacy_monitors`.

use openseer_protocol::monitor::{CheckSpec, ValidMonitor, DEFAULT_MAX_BODY_BYTES};
use openseer_protocol::{CheckOptions, Header, Outcome, StatusRanges};

use super::{translate, Monitor, Store, StoreError, StoreResult, WritePool};
use crate::seal::Sealer;

/// What lists of monitors show: no request details, nothing to parse but
/// the regions.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorSummary {
    pub id: i64,
    pub org_id: i64,
    pub name: String,
    pub url: String,
    pub interval_seconds: u32,
    /// Empty means any region.
    pub regions: Vec<String>,
    pub enabled: bool,
}

/// The latest result of a monitor in one region.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MonitorStatus {
    pub monitor_id: i64,
    pub region: String,
    #[sqlx(try_from = "String")]
    pub outcome: Outcome,
    pub scheduled_at: i64,
    pub status_code: Option<i64>,
    pub total_ms: Option<f64>,
    pub error_message: Option<String>,
    /// When the current outcome began (scheduled time of its first result).
    pub since: i64,
}

const COLUMNS: &str = "id, org_id, name, url, method, headers, body, interval_s, timeout_ms, regions, expected_status, keyword, enabled, options, alert, created_at, updated_at";

/// The columns of a monitor row as stored (`COLUMNS`); [`Store::parse_monitor`]
/// opens the sealed ones and parses the rest.
#[derive(sqlx::FromRow)]
struct MonitorColumns {
    id: i64,
    org_id: i64,
    name: String,
    url: String,
    method: String,
    headers: String,
    body: Option<String>,
    interval_s: i64,
    timeout_ms: i64,
    regions: String,
    expected_status: String,
    keyword: Option<String>,
    enabled: bool,
    options: String,
    alert: String,
    created_at: i64,
    updated_at: i64,
}

/// The columns [`MonitorSummary`] is read from.
#[derive(sqlx::FromRow)]
struct SummaryColumns {
    id: i64,
    org_id: i64,
    name: String,
    url: String,
    interval_s: i64,
    regions: String,
    enabled: bool,
}

const HEADERS_PURPOSE: &str = "monitor.headers";
const BODY_PURPOSE: &str = "monitor.body";

impl Store {
    /// A stored secret column in the clear (a legacy row's plain value as it is).
    fn open_column(&self, purpose: &str, stored: String) -> StoreResult<String> {
        if !Sealer::is_sealed(&stored) {
            return Ok(stored);
        }
        self.sealer()?
            .open(purpose, &stored)
            .map_err(|e| StoreError::Config(format!("a monitor's {purpose}: {e}")))
    }

    /// The `headers` column for `headers`: sealed unless there are none.
    fn headers_column(&self, headers: &[Header]) -> StoreResult<String> {
        let json = serde_json::to_string(headers).expect("headers serialise");
        if headers.is_empty() {
            return Ok(json);
        }
        Ok(self.sealer()?.seal(HEADERS_PURPOSE, &json))
    }

    /// The `body` column for `body`: sealed unless there is none.
    fn body_column(&self, body: Option<&str>) -> StoreResult<Option<String>> {
        match body {
            None => Ok(None),
            Some(b) => Ok(Some(self.sealer()?.seal(BODY_PURPOSE, b))),
        }
    }

    /// A monitor from its stored columns, its secrets opened.
    fn parse_monitor(&self, mut c: MonitorColumns) -> StoreResult<Monitor> {
        c.headers = self.open_column(HEADERS_PURPOSE, std::mem::take(&mut c.headers))?;
        c.body = c
            .body
            .take()
            .map(|b| self.open_column(BODY_PURPOSE, b))
            .transpose()?;
        parse_monitor(c)
    }
}

/// A monitor from columns whose secrets are in the clear.
fn parse_monitor(c: MonitorColumns) -> StoreResult<Monitor> {
    let headers: Vec<Header> = serde_json::from_str(&c.headers)
        .map_err(|e| StoreError::Conflict(format!("stored headers unreadable: {e}")))?;
    let regions: Vec<String> = serde_json::from_str(&c.regions)
        .map_err(|e| StoreError::Conflict(format!("stored regions unreadable: {e}")))?;
    let expected = StatusRanges::parse(&c.expected_status)
        .map_err(|e| StoreError::Conflict(format!("stored status ranges unreadable: {e}")))?;
    // The `options` column holds the spec's CheckOptions as JSON, so new
    // options need no migration; missing keys take their defaults.
    let options: CheckOptions = serde_json::from_str(&c.options)
        .map_err(|e| StoreError::Conflict(format!("stored options unreadable: {e}")))?;
    let alert: openseer_protocol::AlertRules = serde_json::from_str(&c.alert)
        .map_err(|e| StoreError::Conflict(format!("stored alert rules unreadable: {e}")))?;
    Ok(Monitor {
        id: c.id,
        org_id: c.org_id,
        name: c.name,
        interval_seconds: c.interval_s as u32,
        regions,
        enabled: c.enabled,
        check: CheckSpec {
            url: c.url,
            method: c.method,
            headers,
            body: c.body,
            timeout_ms: c.timeout_ms as u32,
            expected_status: expected,
            keyword: c.keyword,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            options,
        },
        alert,
        created_at: c.created_at,
        updated_at: c.updated_at,
    })
}

/// Binds a monitor's editable fields as `$1`..`$13`, in the order of
/// `INSERT` and `UPDATE` alike.
macro_rules! bind_fields {
    ($q:expr, $m:expr, $headers:expr, $body:expr) => {
        $q.bind(&$m.name)
            .bind(&$m.check.url)
            .bind(&$m.check.method)
            .bind(&$headers)
            .bind(&$body)
            .bind(i64::from($m.interval_seconds))
            .bind(i64::from($m.check.timeout_ms))
            .bind(serde_json::to_string(&$m.regions).expect("regions serialise"))
            .bind($m.check.expected_status.to_string())
            .bind(&$m.check.keyword)
            .bind($m.enabled)
            .bind(serde_json::to_string(&$m.check.options).expect("options serialise"))
            .bind(serde_json::to_string(&$m.alert).expect("alert rules serialise"))
    };
}

impl Store {
    /// Seals secrets that rows from before sealing hold in the clear; how
    /// many monitors it sealed. Run at start; a no-op once done.
    pub async fn seal_legacy_monitors(&self) -> StoreResult<usize> {
        let rows: Vec<(i64, String, Option<String>)> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, headers, body FROM monitors WHERE (headers <> '[]' AND headers NOT LIKE 'sealed:%') OR (body IS NOT NULL AND body NOT LIKE 'sealed:%')",
            )
            .fetch_all(pool)
            .await
            .map_err(translate)?
        });
        for (id, headers, body) in &rows {
            let parsed: Vec<Header> = match Sealer::is_sealed(headers) {
                true => Vec::new(),
                false => serde_json::from_str(headers)
                    .map_err(|e| StoreError::Conflict(format!("stored headers unreadable: {e}")))?,
            };
            let headers = match Sealer::is_sealed(headers) {
                true => headers.clone(),
                false => self.headers_column(&parsed)?,
            };
            let body = match body {
                Some(b) if !Sealer::is_sealed(b) => self.body_column(Some(b))?,
                other => other.clone(),
            };
            on_pool!(self, pool => {
                sqlx::query("UPDATE monitors SET headers = $1, body = $2 WHERE id = $3")
                    .bind(&headers)
                    .bind(&body)
                    .bind(id)
                    .execute(pool)
                    .await
                    .map_err(translate)?;
            });
        }
        Ok(rows.len())
    }

    /// The `headers` and `body` columns as stored, for tests that check
    /// what is at rest.
    #[doc(hidden)]
    pub async fn raw_monitor_secrets(&self, id: i64) -> StoreResult<(String, Option<String>)> {
        on_pool!(self, pool => {
            sqlx::query_as("SELECT headers, body FROM monitors WHERE id = $1")
                .bind(id)
                .fetch_one(pool)
                .await
                .map_err(translate)
        })
    }

    /// Writes the columns as given, as a node from before sealing did.
    #[doc(hidden)]
    pub async fn put_raw_monitor_secrets(
        &self,
        id: i64,
        headers: &str,
        body: Option<&str>,
    ) -> StoreResult<()> {
        on_pool!(self, pool => {
            sqlx::query("UPDATE monitors SET headers = $1, body = $2 WHERE id = $3")
                .bind(headers)
                .bind(body)
                .bind(id)
                .execute(pool)
                .await
                .map_err(translate)?;
        });
        Ok(())
    }

    pub async fn create_monitor(
        &self,
        org_id: i64,
        m: &ValidMonitor,
        now: i64,
    ) -> StoreResult<Monitor> {
        let headers = self.headers_column(&m.check.headers)?;
        let body = self.body_column(m.check.body.as_deref())?;
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let sql = format!(
                "INSERT INTO monitors (name, url, method, headers, body, interval_s, timeout_ms, regions, expected_status, keyword, enabled, options, alert, created_at, updated_at, org_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $15) RETURNING {COLUMNS}"
            );
            let q = sqlx::query_as::<_, MonitorColumns>(sqlx::AssertSqlSafe(sql));
            let row = bind_fields!(q, m, headers, body)
                .bind(now)
                .bind(org_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(translate)?;
            // New monitors get the organization's default channels.
            sqlx::query("INSERT INTO monitor_channels (monitor_id, channel_id) SELECT $1, id FROM channels WHERE org_id = $2 AND is_default")
                .bind(row.id)
                .bind(org_id)
                .execute(&mut *tx)
                .await
                .map_err(translate)?;
            tx.commit().await.map_err(translate)?;
            self.parse_monitor(row)
        })
    }

    pub async fn update_monitor(
        &self,
        org_id: i64,
        id: i64,
        m: &ValidMonitor,
        now: i64,
    ) -> StoreResult<Monitor> {
        let headers = self.headers_column(&m.check.headers)?;
        let body = self.body_column(m.check.body.as_deref())?;
        on_pool!(self, pool => {
            let sql = format!(
                "UPDATE monitors SET name = $1, url = $2, method = $3, headers = $4, body = $5, interval_s = $6, timeout_ms = $7, regions = $8, expected_status = $9, keyword = $10, enabled = $11, options = $12, alert = $13, updated_at = $14
                 WHERE id = $15 AND org_id = $16 RETURNING {COLUMNS}"
            );
            let q = sqlx::query_as::<_, MonitorColumns>(sqlx::AssertSqlSafe(sql));
            let row = bind_fields!(q, m, headers, body)
                .bind(now)
                .bind(id)
                .bind(org_id)
                .fetch_optional(pool)
                .await
                .map_err(translate)?;
            row.map(|r| self.parse_monitor(r))
                .unwrap_or(Err(StoreError::NotFound))
        })
    }

    pub async fn set_monitor_enabled(
        &self,
        org_id: i64,
        id: i64,
        enabled: bool,
        now: i64,
    ) -> StoreResult<Monitor> {
        on_pool!(self, pool => {
            let sql = format!("UPDATE monitors SET enabled = $1, updated_at = $2 WHERE id = $3 AND org_id = $4 RETURNING {COLUMNS}");
            let row = sqlx::query_as::<_, MonitorColumns>(sqlx::AssertSqlSafe(sql))
                .bind(enabled)
                .bind(now)
                .bind(id)
                .bind(org_id)
                .fetch_optional(pool)
                .await
                .map_err(translate)?;
            row.map(|r| self.parse_monitor(r))
                .unwrap_or(Err(StoreError::NotFound))
        })
    }

    /// How many monitors the organization has (for its quota).
    pub async fn monitor_count(&self, org_id: i64) -> StoreResult<i64> {
        on_pool!(self, pool => sqlx::query_scalar("SELECT COUNT(*) FROM monitors WHERE org_id = $1")
            .bind(org_id)
            .fetch_one(pool)
            .await
            .map_err(translate))
    }

    /// Deletes a monitor; its open incident is resolved as deleted (its
    /// history stays, without the monitor).
    pub async fn delete_monitor(&self, org_id: i64, id: i64, now: i64) -> StoreResult<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let open: Option<i64> = sqlx::query_scalar(
                "SELECT i.id FROM incidents i JOIN monitors m ON m.id = i.monitor_id WHERE i.monitor_id = $1 AND m.org_id = $2 AND i.resolved_at IS NULL",
            )
            .bind(id)
            .bind(org_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(translate)?;
            if let Some(incident) = open {
                sqlx::query("UPDATE incidents SET resolved_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(incident)
                    .execute(&mut *tx)
                    .await
                    .map_err(translate)?;
                sqlx::query("INSERT INTO incident_events (incident_id, at, kind, detail) VALUES ($1, $2, 'resolved', 'the monitor was deleted')")
                    .bind(incident)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(translate)?;
            }
            let r = sqlx::query("DELETE FROM monitors WHERE id = $1 AND org_id = $2")
                .bind(id)
                .bind(org_id)
                .execute(&mut *tx)
                .await
                .map_err(translate)?;
            if r.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            tx.commit().await.map_err(translate)?;
            Ok(())
        })
    }

    pub async fn monitor(&self, org_id: i64, id: i64) -> StoreResult<Monitor> {
        on_pool!(self, pool => {
            let sql = format!("SELECT {COLUMNS} FROM monitors WHERE id = $1 AND org_id = $2");
            let row = sqlx::query_as::<_, MonitorColumns>(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .bind(org_id)
                .fetch_optional(pool)
                .await
                .map_err(translate)?;
            row.map(|r| self.parse_monitor(r))
                .unwrap_or(Err(StoreError::NotFound))
        })
    }

    /// For the scheduler, which works across organizations.
    pub async fn monitor_any_org(&self, id: i64) -> StoreResult<Option<Monitor>> {
        on_pool!(self, pool => {
            let sql = format!("SELECT {COLUMNS} FROM monitors WHERE id = $1");
            let row = sqlx::query_as::<_, MonitorColumns>(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_optional(pool)
                .await
                .map_err(translate)?;
            row.map(|r| self.parse_monitor(r)).transpose()
        })
    }

    pub async fn monitors(&self, org_id: i64) -> StoreResult<Vec<Monitor>> {
        on_pool!(self, pool => {
            let sql = format!(
                "SELECT {COLUMNS} FROM monitors WHERE org_id = $1 ORDER BY lower(name), id"
            );
            let rows = sqlx::query_as::<_, MonitorColumns>(sqlx::AssertSqlSafe(sql))
                .bind(org_id)
                .fetch_all(pool)
                .await
                .map_err(translate)?;
            rows.into_iter().map(|r| self.parse_monitor(r)).collect()
        })
    }

    /// Every monitor of the organization, by name, as lists show them.
    pub async fn monitor_list(&self, org_id: i64) -> StoreResult<Vec<MonitorSummary>> {
        self.summaries_where("org_id = $1", &[org_id]).await
    }

    /// Every enabled monitor of every organization, by name (for /metrics).
    pub async fn enabled_monitor_list(&self) -> StoreResult<Vec<MonitorSummary>> {
        self.summaries_where("enabled = TRUE", &[]).await
    }

    async fn summaries_where(&self, filter: &str, ids: &[i64]) -> StoreResult<Vec<MonitorSummary>> {
        let sql = format!(
            "SELECT id, org_id, name, url, interval_s, regions, enabled FROM monitors WHERE {filter} ORDER BY lower(name), id"
        );
        on_pool!(self, pool => {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
            for id in ids {
                q = q.bind(id);
            }
            let rows: Vec<SummaryColumns> = q.fetch_all(pool).await.map_err(translate)?;
            rows.into_iter()
                .map(|r| {
                    Ok(MonitorSummary {
                        id: r.id,
                        org_id: r.org_id,
                        name: r.name,
                        url: r.url,
                        interval_seconds: r.interval_s as u32,
                        regions: serde_json::from_str(&r.regions)
                            .map_err(|e| StoreError::Conflict(format!("stored regions unreadable: {e}")))?,
                        enabled: r.enabled,
                    })
                })
                .collect()
        })
    }

    /// Enabled monitors whose id falls in `shard` of `shards` (see `crate::shard`).
    pub async fn enabled_monitors(&self) -> StoreResult<Vec<Monitor>> {
        on_pool!(self, pool => {
            let sql = format!("SELECT {COLUMNS} FROM monitors WHERE enabled");
            let rows = sqlx::query_as::<_, MonitorColumns>(sqlx::AssertSqlSafe(sql))
                .fetch_all(pool)
                .await
                .map_err(translate)?;
            rows.into_iter().map(|r| self.parse_monitor(r)).collect()
        })
    }

    /// The latest result per (monitor, region) for an organization.
    pub async fn latest_statuses(&self, org_id: i64) -> StoreResult<Vec<MonitorStatus>> {
        self.statuses_where("m.org_id = $1", &[org_id]).await
    }

    /// The latest result per (monitor, region) of every enabled monitor.
    pub async fn enabled_statuses(&self) -> StoreResult<Vec<MonitorStatus>> {
        self.statuses_where("m.enabled = TRUE", &[]).await
    }

    /// The latest result per region of one monitor (organization-scoped).
    pub async fn monitor_statuses(
        &self,
        org_id: i64,
        monitor_id: i64,
    ) -> StoreResult<Vec<MonitorStatus>> {
        self.statuses_where("m.org_id = $1 AND s.monitor_id = $2", &[org_id, monitor_id])
            .await
    }

    async fn statuses_where(&self, filter: &str, ids: &[i64]) -> StoreResult<Vec<MonitorStatus>> {
        let sql = format!(
            "SELECT s.monitor_id, s.region, s.outcome, s.scheduled_at, s.status_code, s.total_ms, s.error_message, s.since
             FROM monitor_status s JOIN monitors m ON m.id = s.monitor_id
             WHERE {filter}"
        );
        on_pool!(self, pool => {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
            for id in ids {
                q = q.bind(id);
            }
            q.fetch_all(pool).await.map_err(translate)
        })
    }
}
