//! Maintenance windows of an organization and the monitors they cover.

use openseer_protocol::maintenance::{MaintenanceInput, Schedule};

use super::{placeholders, translate, Store, StoreError, StoreResult, WritePool};

#[derive(Debug, Clone, PartialEq)]
pub struct MaintenanceWindow {
    pub id: i64,
    pub org_id: i64,
    pub name: String,
    pub schedule: Schedule,
    pub all_monitors: bool,
    /// Sorted; empty when it covers all monitors.
    pub monitors: Vec<i64>,
    pub created_at: i64,
}

#[derive(sqlx::FromRow)]
struct Columns {
    id: i64,
    org_id: i64,
    name: String,
    schedule: String,
    all_monitors: bool,
    created_at: i64,
}

const COLUMNS: &str = "id, org_id, name, schedule, all_monitors, created_at";

fn parse(c: Columns, monitors: Vec<i64>) -> StoreResult<MaintenanceWindow> {
    let schedule: Schedule = serde_json::from_str(&c.schedule).map_err(|e| {
        StoreError::Conflict(format!("stored maintenance schedule unreadable: {e}"))
    })?;
    Ok(MaintenanceWindow {
        id: c.id,
        org_id: c.org_id,
        name: c.name,
        schedule,
        all_monitors: c.all_monitors,
        monitors,
        created_at: c.created_at,
    })
}

/// The input's monitors, sorted and without repeats (none when all).
fn chosen(w: &MaintenanceInput) -> Vec<i64> {
    if w.all_monitors {
        return Vec::new();
    }
    let mut ids = w.monitors.clone();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Within a transaction on either backend: every id must be a monitor of
/// the organization (otherwise the window's monitors are "not found").
macro_rules! check_monitors {
    ($tx:expr, $org_id:expr, $ids:expr) => {
        if !$ids.is_empty() {
            let sql = format!(
                "SELECT COUNT(*) FROM monitors WHERE org_id = $1 AND id IN ({})",
                placeholders(2, $ids.len())
            );
            let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql)).bind($org_id);
            for id in $ids.iter() {
                q = q.bind(*id);
            }
            let found = q.fetch_one(&mut *$tx).await.map_err(translate)?;
            if found != $ids.len() as i64 {
                return Err(StoreError::NotFound);
            }
        }
    };
}

macro_rules! insert_monitors {
    ($tx:expr, $window_id:expr, $ids:expr) => {
        for id in $ids.iter() {
            sqlx::query("INSERT INTO maintenance_monitors (window_id, monitor_id) VALUES ($1, $2)")
                .bind($window_id)
                .bind(*id)
                .execute(&mut *$tx)
                .await
                .map_err(translate)?;
        }
    };
}

impl Store {
    pub async fn create_maintenance(
        &self,
        org_id: i64,
        w: &MaintenanceInput,
        now: i64,
    ) -> StoreResult<MaintenanceWindow> {
        let ids = chosen(w);
        let schedule = serde_json::to_string(&w.schedule).expect("a schedule serialises");
        let id = on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            check_monitors!(tx, org_id, ids);
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO maintenance_windows (org_id, name, schedule, all_monitors, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
            )
            .bind(org_id)
            .bind(w.name.trim())
            .bind(&schedule)
            .bind(w.all_monitors)
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(translate)?;
            insert_monitors!(tx, id, ids);
            tx.commit().await.map_err(translate)?;
            id
        });
        self.maintenance(org_id, id).await
    }

    pub async fn update_maintenance(
        &self,
        org_id: i64,
        id: i64,
        w: &MaintenanceInput,
        now: i64,
    ) -> StoreResult<MaintenanceWindow> {
        let ids = chosen(w);
        let schedule = serde_json::to_string(&w.schedule).expect("a schedule serialises");
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            check_monitors!(tx, org_id, ids);
            let n = sqlx::query(
                "UPDATE maintenance_windows SET name = $1, schedule = $2, all_monitors = $3, updated_at = $4
                 WHERE id = $5 AND org_id = $6",
            )
            .bind(w.name.trim())
            .bind(&schedule)
            .bind(w.all_monitors)
            .bind(now)
            .bind(id)
            .bind(org_id)
            .execute(&mut *tx)
            .await
            .map_err(translate)?
            .rows_affected();
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            sqlx::query("DELETE FROM maintenance_monitors WHERE window_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(translate)?;
            insert_monitors!(tx, id, ids);
            tx.commit().await.map_err(translate)?;
        });
        self.maintenance(org_id, id).await
    }

    pub async fn delete_maintenance(&self, org_id: i64, id: i64) -> StoreResult<()> {
        let n = on_pool!(self, pool => sqlx::query("DELETE FROM maintenance_windows WHERE id = $1 AND org_id = $2")
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

    pub async fn maintenance(&self, org_id: i64, id: i64) -> StoreResult<MaintenanceWindow> {
        let sql =
            format!("SELECT {COLUMNS} FROM maintenance_windows WHERE id = $1 AND org_id = $2");
        let row = on_pool!(self, pool => sqlx::query_as::<_, Columns>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(org_id)
            .fetch_optional(pool)
            .await
            .map_err(translate))?
        .ok_or(StoreError::NotFound)?;
        let monitors = on_pool!(self, pool => sqlx::query_scalar::<_, i64>(
            "SELECT monitor_id FROM maintenance_monitors WHERE window_id = $1 ORDER BY monitor_id",
        )
        .bind(id)
        .fetch_all(pool)
        .await
        .map_err(translate))?;
        parse(row, monitors)
    }

    /// Every window of the organization, by name.
    pub async fn maintenance_windows(&self, org_id: i64) -> StoreResult<Vec<MaintenanceWindow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM maintenance_windows WHERE org_id = $1 ORDER BY lower(name), id"
        );
        let rows = on_pool!(self, pool => sqlx::query_as::<_, Columns>(sqlx::AssertSqlSafe(sql))
            .bind(org_id)
            .fetch_all(pool)
            .await
            .map_err(translate))?;
        let pairs: Vec<(i64, i64)> = on_pool!(self, pool => sqlx::query_as::<_, (i64, i64)>(
            "SELECT mm.window_id, mm.monitor_id FROM maintenance_monitors mm
             JOIN maintenance_windows w ON w.id = mm.window_id
             WHERE w.org_id = $1 ORDER BY mm.window_id, mm.monitor_id",
        )
        .bind(org_id)
        .fetch_all(pool)
        .await
        .map_err(translate))?;
        rows.into_iter()
            .map(|r| {
                let monitors = pairs
                    .iter()
                    .filter(|(w, _)| *w == r.id)
                    .map(|(_, m)| *m)
                    .collect();
                parse(r, monitors)
            })
            .collect()
    }
}
