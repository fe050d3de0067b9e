//! Raw check results. One row per run id, i.e. per (monitor, region, tick).

use openseer_protocol::{AssertionResult, CheckResult, Timings, TlsInfo};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{translate, Store, StoreResult};

/// A result ready to be written, with who delivered it and when.
#[derive(Debug, Clone)]
pub struct StoredResult {
    pub result: CheckResult,
    pub worker_id: Option<i64>,
    pub received_at: i64,
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
}

fn details_json(r: &CheckResult) -> Option<String> {
    if r.tls.is_none() && r.redirects.is_empty() && r.assertions.is_empty() {
        return None;
    }
    let d = Details {
        tls: r.tls.clone(),
        redirects: r.redirects.clone(),
        assertions: r.assertions.clone(),
    };
    Some(serde_json::to_string(&d).expect("details serialise"))
}

#[derive(Debug, Clone)]
pub struct ResultRow {
    pub run_id: String,
    pub monitor_id: i64,
    pub region: String,
    pub scheduled_at: i64,
    pub started_at: Option<i64>,
    pub outcome: String,
    pub error_kind: Option<String>,
    pub error_message: Option<String>,
    pub status_code: Option<i64>,
    pub total_ms: Option<f64>,
    pub body_bytes: Option<i64>,
    pub worker_id: Option<i64>,
    pub timings: Option<Timings>,
    pub details: Details,
}

impl Store {
    /// Writes a batch in one transaction. A run id already stored is kept as
    /// it is, except that a real result replaces a `missed` placeholder (the
    /// check did happen, its result just came late). Returns once committed.
    pub async fn insert_results(&self, batch: &[&StoredResult]) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        for s in batch {
            let r = &s.result;
            sqlx::query(
                "INSERT INTO results_raw (run_id, monitor_id, region, scheduled_at, started_at, received_at, outcome, error_kind, error_message, status_code, total_ms, body_bytes, worker_id,
                   dns_ms, connect_ms, tls_ms, ttfb_ms, transfer_ms, details)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT(run_id) DO UPDATE SET
                   started_at = excluded.started_at, received_at = excluded.received_at, outcome = excluded.outcome,
                   error_kind = excluded.error_kind, error_message = excluded.error_message, status_code = excluded.status_code,
                   total_ms = excluded.total_ms, body_bytes = excluded.body_bytes, worker_id = excluded.worker_id,
                   dns_ms = excluded.dns_ms, connect_ms = excluded.connect_ms, tls_ms = excluded.tls_ms,
                   ttfb_ms = excluded.ttfb_ms, transfer_ms = excluded.transfer_ms, details = excluded.details
                 WHERE results_raw.outcome = 'missed' AND excluded.outcome <> 'missed'",
            )
            .bind(&r.run_id)
            .bind(r.monitor_id)
            .bind(&r.region)
            .bind(r.scheduled_at_ms)
            .bind((r.outcome != openseer_protocol::Outcome::Missed).then_some(r.started_at_ms))
            .bind(s.received_at)
            .bind(r.outcome.as_str())
            .bind(r.error_kind.map(|k| k.as_str()))
            .bind(&r.error_message)
            .bind(r.status_code.map(i64::from))
            .bind((r.outcome != openseer_protocol::Outcome::Missed).then_some(r.total_ms))
            .bind(r.body_bytes as i64)
            .bind(s.worker_id)
            .bind(r.timings.as_ref().map(|t| t.dns_ms))
            .bind(r.timings.as_ref().map(|t| t.connect_ms))
            .bind(r.timings.as_ref().map(|t| t.tls_ms))
            .bind(r.timings.as_ref().map(|t| t.ttfb_ms))
            .bind(r.timings.as_ref().map(|t| t.transfer_ms))
            .bind(details_json(r))
            .execute(&mut *tx)
            .await
            .map_err(translate)?;
        }
        tx.commit().await.map_err(translate)
    }

    /// Monitor ids (of those given) that exist, with their organization.
    pub async fn monitor_orgs(&self, ids: &[i64]) -> StoreResult<Vec<(i64, i64)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders = vec!["?"; ids.len()].join(",");
        let sql = format!("SELECT id, org_id FROM monitors WHERE id IN ({placeholders})");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in ids {
            q = q.bind(id);
        }
        let rows = q.fetch_all(&self.pool).await.map_err(translate)?;
        Ok(rows
            .iter()
            .map(|r| (r.get("id"), r.get("org_id")))
            .collect())
    }

    /// Most recent results of a monitor (organization-scoped), newest first.
    pub async fn recent_results(
        &self,
        org_id: i64,
        monitor_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<ResultRow>> {
        let rows = sqlx::query(
            "SELECT r.run_id, r.monitor_id, r.region, r.scheduled_at, r.started_at, r.outcome, r.error_kind, r.error_message, r.status_code, r.total_ms, r.body_bytes, r.worker_id,
                    r.dns_ms, r.connect_ms, r.tls_ms, r.ttfb_ms, r.transfer_ms, r.details
             FROM results_raw r JOIN monitors m ON m.id = r.monitor_id
             WHERE r.monitor_id = ? AND m.org_id = ?
             ORDER BY r.scheduled_at DESC, r.region LIMIT ?",
        )
        .bind(monitor_id)
        .bind(org_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(translate)?;
        Ok(rows
            .iter()
            .map(|r| ResultRow {
                run_id: r.get("run_id"),
                monitor_id: r.get("monitor_id"),
                region: r.get("region"),
                scheduled_at: r.get("scheduled_at"),
                started_at: r.get("started_at"),
                outcome: r.get("outcome"),
                error_kind: r.get("error_kind"),
                error_message: r.get("error_message"),
                status_code: r.get("status_code"),
                total_ms: r.get("total_ms"),
                body_bytes: r.get("body_bytes"),
                worker_id: r.get("worker_id"),
                timings: r.get::<Option<f64>, _>("ttfb_ms").map(|ttfb_ms| Timings {
                    dns_ms: r.get::<Option<f64>, _>("dns_ms").unwrap_or(0.0),
                    connect_ms: r.get::<Option<f64>, _>("connect_ms").unwrap_or(0.0),
                    tls_ms: r.get::<Option<f64>, _>("tls_ms").unwrap_or(0.0),
                    ttfb_ms,
                    transfer_ms: r.get::<Option<f64>, _>("transfer_ms").unwrap_or(0.0),
                }),
                // A details blob we cannot read is shown as no details, not an error page.
                details: r
                    .get::<Option<&str>, _>("details")
                    .and_then(|d| serde_json::from_str(d).ok())
                    .unwrap_or_default(),
            })
            .collect())
    }

    pub async fn count_results(&self, monitor_id: i64) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM results_raw WHERE monitor_id = ?")
            .bind(monitor_id)
            .fetch_one(&self.pool)
            .await
            .map_err(translate)
    }
}
