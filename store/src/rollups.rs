//! Rollup rows, the raw samples they are computed from, and retention:
//! partitions on PostgreSQL, batched deletes on SQLite.

use std::collections::{HashMap, HashSet};

use openseer_protocol::Outcome;

use super::{placeholders, translate, Backend, Store, StoreError, StoreResult, WritePool};
use openseer_core::calendar::{civil_from_days, days_from_civil};
use openseer_core::rollup::plan::{Tier, DAY};
use openseer_core::rollup::sketch::Sketch;
pub use openseer_core::rollup::{Aggregate, RawSample};

/// A (monitor, region, minute) whose rollups need recomputing.
pub use openseer_core::model::BucketKey;

/// A set of raw results, by the index that finds them.
#[derive(Debug, Clone, Copy)]
pub enum Results {
    /// Received after this time (a restart's catch-up).
    ReceivedAfter(i64),
    /// Scheduled at or after this time (a rebuild).
    ScheduledFrom(i64),
}

/// One stored rollup bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct RollupRow {
    pub monitor_id: i64,
    pub region: String,
    pub tier: Tier,
    pub bucket_start: i64,
    pub agg: Aggregate,
}

/// Ids go into `IN (...)` lists this many at a time.
const ID_CHUNK: usize = 1_000;
/// Retention deletes at most this many rows per statement on SQLite, so
/// writers never wait long for the lock.
const DELETE_BATCH: i64 = 5_000;

const ROLLUP_COLUMNS: &str = "monitor_id, region, tier, bucket_start, up, degraded, down, error, missed, lat_count, lat_min, lat_max, lat_sum,
    phase_count, dns_sum, connect_sum, tls_sum, ttfb_sum, transfer_sum, sketch";

/// A `rollups` row as stored ([`ROLLUP_COLUMNS`]).
#[derive(sqlx::FromRow)]
struct RollupColumns {
    monitor_id: i64,
    region: String,
    tier: i64,
    bucket_start: i64,
    up: i64,
    degraded: i64,
    down: i64,
    error: i64,
    missed: i64,
    lat_count: i64,
    lat_min: Option<f64>,
    lat_max: Option<f64>,
    lat_sum: f64,
    phase_count: i64,
    dns_sum: f64,
    connect_sum: f64,
    tls_sum: f64,
    ttfb_sum: f64,
    transfer_sum: f64,
    sketch: Vec<u8>,
}

impl TryFrom<RollupColumns> for RollupRow {
    type Error = StoreError;
    fn try_from(r: RollupColumns) -> StoreResult<RollupRow> {
        Ok(RollupRow {
            monitor_id: r.monitor_id,
            region: r.region,
            tier: Tier::from_ms(r.tier)
                .ok_or_else(|| StoreError::Conflict(format!("unknown rollup tier {}", r.tier)))?,
            bucket_start: r.bucket_start,
            agg: Aggregate {
                up: r.up,
                degraded: r.degraded,
                down: r.down,
                error: r.error,
                missed: r.missed,
                lat_count: r.lat_count,
                lat_min: r.lat_min,
                lat_max: r.lat_max,
                lat_sum: r.lat_sum,
                phase_count: r.phase_count,
                phase_sums: [
                    r.dns_sum,
                    r.connect_sum,
                    r.tls_sum,
                    r.ttfb_sum,
                    r.transfer_sum,
                ],
                sketch: Sketch::decode(&r.sketch)
                    .map_err(|e| StoreError::Conflict(format!("stored sketch unreadable: {e}")))?,
            },
        })
    }
}

/// A raw result as the rollups read it.
#[derive(sqlx::FromRow)]
struct SampleColumns {
    monitor_id: i64,
    region: String,
    scheduled_at: i64,
    outcome: String,
    total_ms: Option<f64>,
    dns_ms: Option<f64>,
    connect_ms: Option<f64>,
    tls_ms: Option<f64>,
    ttfb_ms: Option<f64>,
    transfer_ms: Option<f64>,
}

/// `monitor_id IN (...)`, and `region IN (...)` when regions are given,
/// with placeholders from `$next`.
fn filters(ids: usize, regions: Option<usize>, next: usize) -> String {
    let mut sql = format!("monitor_id IN ({})", placeholders(next, ids));
    if let Some(n) = regions {
        sql += &format!(" AND region IN ({})", placeholders(next + ids, n));
    }
    sql
}

/// The day partition of `results_raw` holding `t`, named by its UTC date.
pub(crate) fn partition_name(day_start: i64) -> String {
    let (y, m, d) = civil_from_days(day_start.div_euclid(DAY));
    format!("results_raw_p{y:04}{m:02}{d:02}")
}

impl Store {
    /// Raw samples of these monitors scheduled in `[from, to)`, optionally
    /// only from some regions.
    pub async fn raw_samples(
        &self,
        monitor_ids: &[i64],
        regions: Option<&[String]>,
        from: i64,
        to: i64,
    ) -> StoreResult<Vec<RawSample>> {
        let mut out = Vec::new();
        for ids in monitor_ids.chunks(ID_CHUNK) {
            let sql = format!(
                "SELECT monitor_id, region, scheduled_at, outcome, total_ms, dns_ms, connect_ms, tls_ms, ttfb_ms, transfer_ms
                 FROM results_raw WHERE scheduled_at >= $1 AND scheduled_at < $2 AND {}",
                filters(ids.len(), regions.map(<[String]>::len), 3)
            ) + " ORDER BY scheduled_at";
            on_pool!(self, pool => {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(from).bind(to);
                for id in ids {
                    q = q.bind(id);
                }
                for r in regions.unwrap_or_default() {
                    q = q.bind(r);
                }
                let rows: Vec<SampleColumns> = q.fetch_all(pool).await.map_err(translate)?;
                for r in rows {
                    let Some(outcome) = Outcome::parse(&r.outcome) else {
                        continue;
                    };
                    out.push(RawSample {
                        monitor_id: r.monitor_id,
                        region: r.region,
                        scheduled_at: r.scheduled_at,
                        outcome,
                        total_ms: r.total_ms,
                        phases: r.ttfb_ms.map(|ttfb| {
                            let p = |v: Option<f64>| v.unwrap_or(0.0);
                            [p(r.dns_ms), p(r.connect_ms), p(r.tls_ms), ttfb, p(r.transfer_ms)]
                        }),
                    });
                }
            });
        }
        Ok(out)
    }

    /// Rollups of `tier` for these monitors with buckets starting in `[from, to)`.
    pub async fn rollup_rows(
        &self,
        tier: Tier,
        monitor_ids: &[i64],
        regions: Option<&[String]>,
        from: i64,
        to: i64,
    ) -> StoreResult<Vec<RollupRow>> {
        let mut out = Vec::new();
        for ids in monitor_ids.chunks(ID_CHUNK) {
            let sql = format!(
                "SELECT {ROLLUP_COLUMNS} FROM rollups WHERE tier = $1 AND bucket_start >= $2 AND bucket_start < $3 AND {}",
                filters(ids.len(), regions.map(<[String]>::len), 4)
            ) + " ORDER BY monitor_id, bucket_start, region";
            on_pool!(self, pool => {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tier.ms()).bind(from).bind(to);
                for id in ids {
                    q = q.bind(id);
                }
                for r in regions.unwrap_or_default() {
                    q = q.bind(r);
                }
                let rows: Vec<RollupColumns> = q.fetch_all(pool).await.map_err(translate)?;
                for r in rows {
                    out.push(r.try_into()?);
                }
            });
        }
        Ok(out)
    }

    /// Writes buckets (replacing what is there) and removes the buckets in
    /// `empty`, in one transaction.
    pub async fn replace_rollups(
        &self,
        rows: &[RollupRow],
        empty: &[(i64, String, Tier, i64)],
    ) -> StoreResult<()> {
        if rows.is_empty() && empty.is_empty() {
            return Ok(());
        }
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            for row in rows {
                let a = &row.agg;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO rollups ({ROLLUP_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
                     ON CONFLICT (monitor_id, tier, bucket_start, region) DO UPDATE SET
                       up = excluded.up, degraded = excluded.degraded, down = excluded.down, error = excluded.error, missed = excluded.missed,
                       lat_count = excluded.lat_count, lat_min = excluded.lat_min, lat_max = excluded.lat_max, lat_sum = excluded.lat_sum,
                       phase_count = excluded.phase_count, dns_sum = excluded.dns_sum, connect_sum = excluded.connect_sum, tls_sum = excluded.tls_sum,
                       ttfb_sum = excluded.ttfb_sum, transfer_sum = excluded.transfer_sum, sketch = excluded.sketch"
                )))
                .bind(row.monitor_id)
                .bind(&row.region)
                .bind(row.tier.ms())
                .bind(row.bucket_start)
                .bind(a.up)
                .bind(a.degraded)
                .bind(a.down)
                .bind(a.error)
                .bind(a.missed)
                .bind(a.lat_count)
                .bind(a.lat_min)
                .bind(a.lat_max)
                .bind(a.lat_sum)
                .bind(a.phase_count)
                .bind(a.phase_sums[0])
                .bind(a.phase_sums[1])
                .bind(a.phase_sums[2])
                .bind(a.phase_sums[3])
                .bind(a.phase_sums[4])
                .bind(a.sketch.encode())
                .execute(&mut *tx)
                .await
                .map_err(translate)?;
            }
            for (monitor_id, region, tier, start) in empty {
                sqlx::query("DELETE FROM rollups WHERE monitor_id = $1 AND tier = $2 AND bucket_start = $3 AND region = $4")
                    .bind(monitor_id)
                    .bind(tier.ms())
                    .bind(start)
                    .bind(region)
                    .execute(&mut *tx)
                    .await
                    .map_err(translate)?;
            }
            tx.commit().await.map_err(translate)
        })
    }

    /// The (monitor, region, minute) of every result in `which`.
    pub async fn buckets_of_results(&self, which: Results) -> StoreResult<HashSet<BucketKey>> {
        let (column, bound) = match which {
            Results::ReceivedAfter(t) => ("received_at >", t),
            Results::ScheduledFrom(t) => ("scheduled_at >=", t),
        };
        let sql = format!(
            "SELECT DISTINCT monitor_id, region, scheduled_at - (scheduled_at % 60000) AS minute FROM results_raw WHERE {column} $1"
        );
        on_pool!(self, pool => {
            let rows: Vec<BucketKey> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(bound)
                .fetch_all(pool)
                .await
                .map_err(translate)?;
            Ok(rows.into_iter().collect())
        })
    }

    /// Minute buckets starting at or after `since`, for a rebuild (the tiers
    /// above are recomputed from the minutes).
    pub async fn delete_minute_rollups_since(&self, since: i64) -> StoreResult<u64> {
        on_pool!(self, pool => {
            let r = sqlx::query("DELETE FROM rollups WHERE tier = 60000 AND bucket_start >= $1")
                .bind(since)
                .execute(pool)
                .await
                .map_err(translate)?;
            Ok(r.rows_affected())
        })
    }

    /// The oldest point up to which every shard has rolled up, if known.
    pub async fn rollup_progress(&self) -> StoreResult<Option<i64>> {
        on_pool!(self, pool => sqlx::query_scalar("SELECT MIN(rolled_up_to) FROM rollup_progress")
            .fetch_one(pool)
            .await
            .map_err(translate))
    }

    /// Each shard's recorded rollup progress.
    pub async fn rollup_progress_by_shard(&self) -> StoreResult<HashMap<u32, i64>> {
        let rows: Vec<(i64, i64)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT shard, rolled_up_to FROM rollup_progress",
        )
        .fetch_all(pool)
        .await
        .map_err(translate))?;
        Ok(rows.into_iter().map(|(s, t)| (s as u32, t)).collect())
    }

    pub async fn set_rollup_progress(&self, shard: u32, rolled_up_to: i64) -> StoreResult<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO rollup_progress (shard, rolled_up_to) VALUES ($1, $2)
             ON CONFLICT (shard) DO UPDATE SET rolled_up_to = excluded.rolled_up_to",
        )
        .bind(i64::from(shard))
        .bind(rolled_up_to)
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(translate))?;
        Ok(())
    }

    // --- partitions and retention ---------------------------------------

    /// Makes sure the day partitions for these times exist (PostgreSQL).
    pub(crate) async fn ensure_partitions_for(&self, times: &[i64]) -> StoreResult<()> {
        let days: HashSet<i64> = times.iter().map(|t| Tier::Day.start_of(*t)).collect();
        let missing: Vec<i64> = {
            let known = self.partitions.lock().expect("partition cache");
            days.into_iter().filter(|d| !known.contains(d)).collect()
        };
        for day in missing {
            self.create_partition(day).await?;
        }
        Ok(())
    }

    async fn create_partition(&self, day: i64) -> StoreResult<()> {
        let Backend::Postgres(pool) = &self.backend else {
            return Ok(());
        };
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {} PARTITION OF results_raw FOR VALUES FROM ({day}) TO ({})",
            partition_name(day),
            day + DAY
        );
        // Two nodes creating the same partition at once: one of them gets a
        // duplicate-type error although the table now exists; try once more.
        for attempt in 0..2 {
            match sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .execute(pool)
                .await
            {
                Ok(_) => break,
                Err(e) if attempt == 0 => {
                    tracing::debug!(error = %e, "creating a partition; retrying")
                }
                Err(e) => return Err(translate(e)),
            }
        }
        self.partitions.lock().expect("partition cache").insert(day);
        Ok(())
    }

    /// Day partitions from `from`'s day through `to`'s day (PostgreSQL; a
    /// no-op on SQLite).
    pub async fn create_partitions(&self, from: i64, to: i64) -> StoreResult<()> {
        let mut day = Tier::Day.start_of(from);
        while day <= to {
            self.create_partition(day).await?;
            day += DAY;
        }
        Ok(())
    }

    /// The day partitions that exist, by day start (PostgreSQL).
    pub async fn partitions(&self) -> StoreResult<Vec<i64>> {
        let Backend::Postgres(pool) = &self.backend else {
            return Ok(Vec::new());
        };
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'results_raw'::regclass ORDER BY 1",
        )
        .fetch_all(pool)
        .await
        .map_err(translate)?;
        let bounds: Vec<i64> = names.iter().filter_map(|n| partition_day(n)).collect();
        Ok(bounds)
    }

    /// Removes raw results scheduled before `horizon`: whole day partitions
    /// that end by then on PostgreSQL, batched deletes on SQLite. Returns
    /// (partitions dropped, rows deleted).
    pub async fn expire_raw(&self, horizon: i64) -> StoreResult<(u64, u64)> {
        match &self.backend {
            Backend::Postgres(pool) => {
                let mut dropped = 0;
                for day in self.partitions().await? {
                    if day + DAY > horizon {
                        continue;
                    }
                    let sql = format!("DROP TABLE IF EXISTS {}", partition_name(day));
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(pool)
                        .await
                        .map_err(translate)?;
                    self.partitions
                        .lock()
                        .expect("partition cache")
                        .remove(&day);
                    dropped += 1;
                }
                Ok((dropped, 0))
            }
            Backend::Sqlite(pool) => {
                let mut deleted = 0;
                loop {
                    let r = sqlx::query(
                        "DELETE FROM results_raw WHERE rowid IN (SELECT rowid FROM results_raw WHERE scheduled_at < $1 LIMIT $2)",
                    )
                    .bind(horizon)
                    .bind(DELETE_BATCH)
                    .execute(pool)
                    .await
                    .map_err(translate)?;
                    deleted += r.rows_affected();
                    if r.rows_affected() < DELETE_BATCH as u64 {
                        return Ok((0, deleted));
                    }
                }
            }
        }
    }

    /// Deletes `tier` buckets that start before `horizon`, in batches.
    pub async fn expire_rollups(&self, tier: Tier, horizon: i64) -> StoreResult<u64> {
        let mut deleted = 0;
        loop {
            let n = on_pool!(self, pool => {
                sqlx::query(
                    "DELETE FROM rollups WHERE (monitor_id, tier, bucket_start, region) IN
                       (SELECT monitor_id, tier, bucket_start, region FROM rollups WHERE tier = $1 AND bucket_start < $2 LIMIT $3)",
                )
                .bind(tier.ms())
                .bind(horizon)
                .bind(DELETE_BATCH)
                .execute(pool)
                .await
                .map_err(translate)?
                .rows_affected()
            });
            deleted += n;
            if n < DELETE_BATCH as u64 {
                return Ok(deleted);
            }
        }
    }
}

/// The day start a partition's name stands for.
fn partition_day(name: &str) -> Option<i64> {
    let digits = name.strip_prefix("results_raw_p")?;
    if digits.len() != 8 {
        return None;
    }
    let y: i64 = digits[..4].parse().ok()?;
    let m: u32 = digits[4..6].parse().ok()?;
    let d: u32 = digits[6..].parse().ok()?;
    Some(days_from_civil(y, m, d) * DAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_names_round_trip_through_dates() {
        assert_eq!(partition_name(0), "results_raw_p19700101");
        // 2026-11-25 00:00 UTC
        assert_eq!(partition_name(20_782 * DAY), "results_raw_p20261125");
        for day in [-1_000, 0, 59, 60, 10_956, 20_417, 40_000] {
            assert_eq!(partition_day(&partition_name(day * DAY)), Some(day * DAY));
        }
        assert_eq!(partition_day("results_raw_default"), None);
    }
}
