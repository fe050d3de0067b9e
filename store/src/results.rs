//! Raw check results. One row per run id, i.e. per (monitor, region, tick).

use std::collections::HashSet;

use openseer_protocol::{AssertionResult, CheckResult, ErrorKind, Outcome, Timings, TlsInfo};
use serde::{Deserialize, Serialize};

use super::{placeholders, translate, Backend, Store, StoreResult, StoredResult, WritePool};

/// Whose a monitor is and which results can be its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorScope {
    pub id: i64,
    pub org_id: i64,
    pub interval_ms: i64,
    /// Empty means any region.
    pub regions: Vec<String>,
}

/// The `details` column of a result.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Details {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsInfo>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirects: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assertions: Vec<AssertionResult>,
    /// The body's decoded size, when it came compressed (`body_bytes` is
    /// what was transferred).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoded_bytes: Option<u64>,
}

fn details_json(r: &CheckResult) -> Option<String> {
    if r.tls.is_none()
        && r.redirects.is_empty()
        && r.assertions.is_empty()
        && r.decoded_bytes.is_none()
    {
        return None;
    }
    let d = Details {
        tls: r.tls.clone(),
        redirects: r.redirects.clone(),
        assertions: r.assertions.clone(),
        decoded_bytes: r.decoded_bytes,
    };
    Some(serde_json::to_string(&d).expect("details serialise"))
}

const INSERT_RAW: &str = "INSERT INTO results_raw (run_id, monitor_id, region, scheduled_at, started_at, received_at, outcome, error_kind, error_message,
    status_code, total_ms, body_bytes, worker_id, dns_ms, connect_ms, tls_ms, ttfb_ms, transfer_ms, details)";

/// A stored run keeps its first result, except that a real result replaces a
/// `missed` placeholder.
const UPSERT_RAW: &str = "DO UPDATE SET
    started_at = excluded.started_at, received_at = excluded.received_at, outcome = excluded.outcome,
    error_kind = excluded.error_kind, error_message = excluded.error_message, status_code = excluded.status_code,
    total_ms = excluded.total_ms, body_bytes = excluded.body_bytes, worker_id = excluded.worker_id,
    dns_ms = excluded.dns_ms, connect_ms = excluded.connect_ms, tls_ms = excluded.tls_ms,
    ttfb_ms = excluded.ttfb_ms, transfer_ms = excluded.transfer_ms, details = excluded.details
  WHERE results_raw.outcome = 'missed' AND excluded.outcome <> 'missed'";

/// The latest result of each (monitor, region) replaces the stored one when
/// it is newer, or as new and no longer a `missed` placeholder.
const UPSERT_STATUS: &str = "DO UPDATE SET
    scheduled_at = excluded.scheduled_at, outcome = excluded.outcome, status_code = excluded.status_code,
    total_ms = excluded.total_ms, error_message = excluded.error_message,
    since = CASE WHEN monitor_status.outcome = excluded.outcome THEN monitor_status.since ELSE excluded.scheduled_at END
  WHERE excluded.scheduled_at > monitor_status.scheduled_at
     OR (excluded.scheduled_at = monitor_status.scheduled_at AND monitor_status.outcome = 'missed' AND excluded.outcome <> 'missed')";

const INSERT_STATUS: &str = "INSERT INTO monitor_status (monitor_id, region, scheduled_at, outcome, status_code, total_ms, error_message, since)";

/// Per (monitor, region), the result that would be the latest: the newest,
/// and at the same tick a real one over a `missed` one.
fn newest<'a>(batch: &[&'a StoredResult]) -> Vec<&'a StoredResult> {
    let mut best: std::collections::HashMap<(i64, &str), &StoredResult> =
        std::collections::HashMap::new();
    for &s in batch {
        let r = &s.result;
        let e = best.entry((r.monitor_id, r.region.as_str())).or_insert(s);
        let cur = &e.result;
        if r.scheduled_at_ms > cur.scheduled_at_ms
            || (r.scheduled_at_ms == cur.scheduled_at_ms
                && cur.outcome == Outcome::Missed
                && r.outcome != Outcome::Missed)
        {
            *e = s;
        }
    }
    best.into_values().collect()
}

/// The batch with one result per run id, chosen as the table would: the
/// first, unless a real result follows a `missed` one. (PostgreSQL refuses
/// to update one row twice in a statement.)
fn dedupe<'a>(batch: &[&'a StoredResult]) -> Vec<&'a StoredResult> {
    let mut at: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut out: Vec<&StoredResult> = Vec::with_capacity(batch.len());
    for &s in batch {
        match at.get(s.result.run_id.as_str()) {
            None => {
                at.insert(&s.result.run_id, out.len());
                out.push(s);
            }
            Some(&i) => {
                if out[i].result.outcome == Outcome::Missed && s.result.outcome != Outcome::Missed {
                    out[i] = s;
                }
            }
        }
    }
    out
}

/// A batch of results as columns, in the table's types.
#[derive(Default)]
struct RawColumns<'a> {
    run_id: Vec<&'a str>,
    monitor_id: Vec<i64>,
    region: Vec<&'a str>,
    scheduled_at: Vec<i64>,
    started_at: Vec<Option<i64>>,
    received_at: Vec<i64>,
    outcome: Vec<&'static str>,
    error_kind: Vec<Option<&'static str>>,
    error_message: Vec<Option<&'a str>>,
    status_code: Vec<Option<i64>>,
    total_ms: Vec<Option<f64>>,
    body_bytes: Vec<i64>,
    worker_id: Vec<Option<i64>>,
    dns_ms: Vec<Option<f64>>,
    connect_ms: Vec<Option<f64>>,
    tls_ms: Vec<Option<f64>>,
    ttfb_ms: Vec<Option<f64>>,
    transfer_ms: Vec<Option<f64>>,
    details: Vec<Option<String>>,
}

impl<'a> RawColumns<'a> {
    fn of(batch: &[&'a StoredResult]) -> RawColumns<'a> {
        let mut c = RawColumns::default();
        for s in batch {
            let r = &s.result;
            let ran = r.outcome != Outcome::Missed;
            let phase = |f: fn(&Timings) -> f64| r.timings.as_ref().map(f);
            c.run_id.push(&r.run_id);
            c.monitor_id.push(r.monitor_id);
            c.region.push(&r.region);
            c.scheduled_at.push(r.scheduled_at_ms);
            c.started_at.push(ran.then_some(r.started_at_ms));
            c.received_at.push(s.received_at);
            c.outcome.push(r.outcome.as_str());
            c.error_kind.push(r.error_kind.map(|k| k.as_str()));
            c.error_message.push(r.error_message.as_deref());
            c.status_code.push(r.status_code.map(i64::from));
            c.total_ms.push(ran.then_some(r.total_ms));
            c.body_bytes.push(r.body_bytes as i64);
            c.worker_id.push(s.worker_id);
            c.dns_ms.push(phase(|t| t.dns_ms));
            c.connect_ms.push(phase(|t| t.connect_ms));
            c.tls_ms.push(phase(|t| t.tls_ms));
            c.ttfb_ms.push(phase(|t| t.ttfb_ms));
            c.transfer_ms.push(phase(|t| t.transfer_ms));
            c.details.push(details_json(r));
        }
        c
    }
}

#[derive(Debug, Clone)]
pub struct ResultRow {
    pub run_id: String,
    pub monitor_id: i64,
    pub region: String,
    pub scheduled_at: i64,
    pub started_at: Option<i64>,
    pub outcome: Outcome,
    pub error_kind: Option<ErrorKind>,
    pub error_message: Option<String>,
    pub status_code: Option<i64>,
    pub total_ms: Option<f64>,
    pub body_bytes: Option<i64>,
    pub worker_id: Option<i64>,
    pub timings: Option<Timings>,
    pub details: Details,
}

/// What writing a batch did.
#[derive(Debug, Default)]
pub struct Written {
    /// Monitors of the batch that no longer exist: their rows were not
    /// written (and never can be).
    pub gone: HashSet<i64>,
}

impl Written {
    /// Whether `r` was left out because its monitor is gone.
    pub fn dropped(&self, r: &StoredResult) -> bool {
        self.gone.contains(&r.result.monitor_id)
    }
}

/// The batch without the rows of monitors not in `exist`.
fn of_monitors<'a>(batch: &[&'a StoredResult], exist: &HashSet<i64>) -> Vec<&'a StoredResult> {
    batch
        .iter()
        .copied()
        .filter(|s| exist.contains(&s.result.monitor_id))
        .collect()
}

/// A `results_raw` row as stored.
#[derive(sqlx::FromRow)]
struct ResultColumns {
    run_id: String,
    monitor_id: i64,
    region: String,
    scheduled_at: i64,
    started_at: Option<i64>,
    #[sqlx(try_from = "String")]
    outcome: Outcome,
    error_kind: Option<String>,
    error_message: Option<String>,
    status_code: Option<i64>,
    total_ms: Option<f64>,
    body_bytes: Option<i64>,
    worker_id: Option<i64>,
    dns_ms: Option<f64>,
    connect_ms: Option<f64>,
    tls_ms: Option<f64>,
    ttfb_ms: Option<f64>,
    transfer_ms: Option<f64>,
    details: Option<String>,
}

/// The columns of [`ResultColumns`], from `results_raw r` (a macro, so
/// queries stay static strings).
macro_rules! result_columns {
    () => {
        "r.run_id, r.monitor_id, r.region, r.scheduled_at, r.started_at, r.outcome, r.error_kind, r.error_message, r.status_code, r.total_ms, r.body_bytes, r.worker_id,
         r.dns_ms, r.connect_ms, r.tls_ms, r.ttfb_ms, r.transfer_ms, r.details"
    };
}

impl From<ResultColumns> for ResultRow {
    fn from(r: ResultColumns) -> ResultRow {
        let phase = |v: Option<f64>| v.unwrap_or(0.0);
        ResultRow {
            run_id: r.run_id,
            monitor_id: r.monitor_id,
            region: r.region,
            scheduled_at: r.scheduled_at,
            started_at: r.started_at,
            outcome: r.outcome,
            // A kind this build does not know (written by a newer one) reads as none.
            error_kind: r.error_kind.as_deref().and_then(ErrorKind::parse),
            error_message: r.error_message,
            status_code: r.status_code,
            total_ms: r.total_ms,
            body_bytes: r.body_bytes,
            worker_id: r.worker_id,
            timings: r.ttfb_ms.map(|ttfb_ms| Timings {
                dns_ms: phase(r.dns_ms),
                connect_ms: phase(r.connect_ms),
                tls_ms: phase(r.tls_ms),
                ttfb_ms,
                transfer_ms: phase(r.transfer_ms),
            }),
            // A details blob we cannot read is shown as no details, not an error page.
            details: r
                .details
                .as_deref()
                .and_then(|d| serde_json::from_str(d).ok())
                .unwrap_or_default(),
        }
    }
}

impl Store {
    /// Writes a batch in one transaction. A run id already stored is kept as
    /// it is, except that a real result replaces a `missed` placeholder (the
    /// check did happen, its result just came late). Rows of monitors that
    /// were deleted meanwhile are left out and reported in [`Written::gone`]:
    /// the monitors are read (and on PostgreSQL locked against deletion) in
    /// the same transaction, so a delete at any moment cannot fail the
    /// batch. Returns once committed.
    pub async fn insert_results(&self, batch: &[&StoredResult]) -> StoreResult<Written> {
        let ids: Vec<i64> = batch
            .iter()
            .map(|s| s.result.monitor_id)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if ids.is_empty() {
            return Ok(Written::default());
        }
        match &self.backend {
            Backend::Sqlite(pool) => {
                // BEGIN IMMEDIATE holds the write lock: no delete runs
                // between this read and the commit.
                let mut tx = pool.begin_write().await?;
                let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT id FROM monitors WHERE id IN ({})",
                    placeholders(1, ids.len())
                )));
                for id in &ids {
                    q = q.bind(id);
                }
                let exist: HashSet<i64> = q
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(translate)?
                    .into_iter()
                    .collect();
                let kept = of_monitors(batch, &exist);
                let rows = RawColumns::of(&dedupe(&kept));
                let latest = RawColumns::of(&newest(&kept));
                for i in 0..rows.run_id.len() {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "{INSERT_RAW} VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
                         ON CONFLICT(run_id) {UPSERT_RAW}"
                    )))
                    .bind(rows.run_id[i])
                    .bind(rows.monitor_id[i])
                    .bind(rows.region[i])
                    .bind(rows.scheduled_at[i])
                    .bind(rows.started_at[i])
                    .bind(rows.received_at[i])
                    .bind(rows.outcome[i])
                    .bind(rows.error_kind[i])
                    .bind(rows.error_message[i])
                    .bind(rows.status_code[i])
                    .bind(rows.total_ms[i])
                    .bind(rows.body_bytes[i])
                    .bind(rows.worker_id[i])
                    .bind(rows.dns_ms[i])
                    .bind(rows.connect_ms[i])
                    .bind(rows.tls_ms[i])
                    .bind(rows.ttfb_ms[i])
                    .bind(rows.transfer_ms[i])
                    .bind(&rows.details[i])
                    .execute(&mut *tx)
                    .await
                    .map_err(translate)?;
                }
                for i in 0..latest.run_id.len() {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "{INSERT_STATUS} VALUES ($1, $2, $3, $4, $5, $6, $7, $3) ON CONFLICT (monitor_id, region) {UPSERT_STATUS}"
                    )))
                    .bind(latest.monitor_id[i])
                    .bind(latest.region[i])
                    .bind(latest.scheduled_at[i])
                    .bind(latest.outcome[i])
                    .bind(latest.status_code[i])
                    .bind(latest.total_ms[i])
                    .bind(latest.error_message[i])
                    .execute(&mut *tx)
                    .await
                    .map_err(translate)?;
                }
                tx.commit().await.map_err(translate)?;
                Ok(Written {
                    gone: ids.into_iter().filter(|id| !exist.contains(id)).collect(),
                })
            }
            Backend::Postgres(pool) => {
                let times: Vec<i64> = batch.iter().map(|s| s.result.scheduled_at_ms).collect();
                self.ensure_partitions_for(&times).await?;
                let mut tx = pool.begin_write().await?;
                // KEY SHARE: a concurrent delete of one of these monitors
                // waits for this commit (and then cascades to its rows).
                let exist: HashSet<i64> = sqlx::query_scalar(
                    "SELECT id FROM monitors WHERE id = ANY($1) ORDER BY id FOR KEY SHARE",
                )
                .bind(&ids)
                .fetch_all(&mut *tx)
                .await
                .map_err(translate)?
                .into_iter()
                .collect();
                let kept = of_monitors(batch, &exist);
                let rows = RawColumns::of(&dedupe(&kept));
                let latest = RawColumns::of(&newest(&kept));
                // One statement for the whole batch: columns as arrays.
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "{INSERT_RAW} SELECT * FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::int8[], $5::int8[], $6::int8[], $7::text[], $8::text[], $9::text[],
                        $10::int8[], $11::float8[], $12::int8[], $13::int8[], $14::float8[], $15::float8[], $16::float8[], $17::float8[], $18::float8[], $19::text[])
                     ON CONFLICT(run_id, scheduled_at) {UPSERT_RAW}"
                )))
                .bind(&rows.run_id)
                .bind(&rows.monitor_id)
                .bind(&rows.region)
                .bind(&rows.scheduled_at)
                .bind(&rows.started_at)
                .bind(&rows.received_at)
                .bind(&rows.outcome)
                .bind(&rows.error_kind)
                .bind(&rows.error_message)
                .bind(&rows.status_code)
                .bind(&rows.total_ms)
                .bind(&rows.body_bytes)
                .bind(&rows.worker_id)
                .bind(&rows.dns_ms)
                .bind(&rows.connect_ms)
                .bind(&rows.tls_ms)
                .bind(&rows.ttfb_ms)
                .bind(&rows.transfer_ms)
                .bind(&rows.details)
                .execute(&mut *tx)
                .await
                .map_err(translate)?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "{INSERT_STATUS} SELECT *, s FROM UNNEST($1::int8[], $2::text[], $3::int8[], $4::text[], $5::int8[], $6::float8[], $7::text[]) AS u(m, r, s, o, c, t, e)
                     ON CONFLICT (monitor_id, region) {UPSERT_STATUS}"
                )))
                .bind(&latest.monitor_id)
                .bind(&latest.region)
                .bind(&latest.scheduled_at)
                .bind(&latest.outcome)
                .bind(&latest.status_code)
                .bind(&latest.total_ms)
                .bind(&latest.error_message)
                .execute(&mut *tx)
                .await
                .map_err(translate)?;
                tx.commit().await.map_err(translate)?;
                Ok(Written {
                    gone: ids.into_iter().filter(|id| !exist.contains(id)).collect(),
                })
            }
        }
    }

    /// The monitors (of those given) that exist: whose they are, and the
    /// grid and regions their results must fit.
    pub async fn monitor_scopes(&self, ids: &[i64]) -> StoreResult<Vec<MonitorScope>> {
        on_pool!(self, pool => {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            let sql = format!(
                "SELECT id, org_id, interval_s, regions FROM monitors WHERE id IN ({})",
                placeholders(1, ids.len())
            );
            let mut q = sqlx::query_as::<_, (i64, i64, i64, String)>(sqlx::AssertSqlSafe(sql));
            for id in ids {
                q = q.bind(id);
            }
            let rows = q.fetch_all(pool).await.map_err(translate)?;
            rows.into_iter()
                .map(|(id, org_id, interval_s, regions)| {
                    Ok(MonitorScope {
                        id,
                        org_id,
                        interval_ms: interval_s * 1000,
                        regions: serde_json::from_str(&regions).map_err(|e| {
                            crate::StoreError::Conflict(format!("stored regions unreadable: {e}"))
                        })?,
                    })
                })
                .collect()
        })
    }

    /// Most recent results of a monitor (organization-scoped), newest first;
    /// with `before`, only those scheduled before it (older pages).
    pub async fn recent_results(
        &self,
        org_id: i64,
        monitor_id: i64,
        before: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<ResultRow>> {
        on_pool!(self, pool => {
            let rows: Vec<ResultColumns> = sqlx::query_as(concat!(
                "SELECT ", result_columns!(),
                " FROM results_raw r JOIN monitors m ON m.id = r.monitor_id
                 WHERE r.monitor_id = $1 AND m.org_id = $2 AND r.scheduled_at < $3
                 ORDER BY r.scheduled_at DESC, r.region LIMIT $4",
            ))
            .bind(monitor_id)
            .bind(org_id)
            .bind(before.unwrap_or(i64::MAX))
            .bind(limit)
            .fetch_all(pool)
            .await
            .map_err(translate)?;
            Ok(rows.into_iter().map(ResultRow::from).collect())
        })
    }

    /// The organization's results (one monitor's with `monitor_id`) this
    /// node or another stored at or after `since` (their `received_at`),
    /// at most `limit` of the latest, oldest first: what a live page missed
    /// between being drawn and its event stream starting.
    pub async fn results_received_since(
        &self,
        org_id: i64,
        monitor_id: Option<i64>,
        since: i64,
        limit: i64,
    ) -> StoreResult<Vec<ResultRow>> {
        on_pool!(self, pool => {
            let mut rows: Vec<ResultColumns> = sqlx::query_as(concat!(
                "SELECT ", result_columns!(),
                " FROM results_raw r JOIN monitors m ON m.id = r.monitor_id
                 WHERE m.org_id = $1 AND r.received_at >= $2 AND ($3 = 0 OR r.monitor_id = $3)
                 ORDER BY r.received_at DESC LIMIT $4",
            ))
            .bind(org_id)
            .bind(since)
            .bind(monitor_id.unwrap_or(0))
            .bind(limit)
            .fetch_all(pool)
            .await
            .map_err(translate)?;
            rows.reverse();
            Ok(rows.into_iter().map(ResultRow::from).collect())
        })
    }

    /// (region, scheduled time) of each failed check (down or error) of a
    /// monitor scheduled at or after `from`, oldest first.
    pub async fn failures_since(
        &self,
        monitor_id: i64,
        from: i64,
    ) -> StoreResult<Vec<(String, i64)>> {
        on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT region, scheduled_at FROM results_raw
                 WHERE monitor_id = $1 AND scheduled_at >= $2 AND outcome IN ('down', 'error')
                 ORDER BY scheduled_at",
            )
            .bind(monitor_id)
            .bind(from)
            .fetch_all(pool)
            .await
            .map_err(translate)
        })
    }

    /// The first check after `after` in `region` that found the target up.
    pub async fn first_up_after(
        &self,
        monitor_id: i64,
        region: &str,
        after: i64,
    ) -> StoreResult<Option<i64>> {
        on_pool!(self, pool => sqlx::query_scalar(
            "SELECT MIN(scheduled_at) FROM results_raw
             WHERE monitor_id = $1 AND region = $2 AND scheduled_at > $3 AND outcome IN ('up', 'degraded')",
        )
        .bind(monitor_id)
        .bind(region)
        .bind(after)
        .fetch_one(pool)
        .await
        .map_err(translate))
    }

    pub async fn count_results(&self, monitor_id: i64) -> StoreResult<i64> {
        on_pool!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM results_raw WHERE monitor_id = $1")
                .bind(monitor_id)
                .fetch_one(pool)
                .await
                .map_err(translate)
        })
    }
}
