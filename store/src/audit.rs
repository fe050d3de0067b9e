//! The audit log: who did what to which object, and when. Rows are only
//! ever added, then dropped by retention (`audit_retention_days`).

use super::{translate, Store, StoreResult};

/// An event to record. `org_id` is `None` for events of the instance
/// itself (a failed sign-in with an unknown address).
#[derive(Debug, Clone, Default)]
pub struct NewAudit {
    pub org_id: Option<i64>,
    pub actor_id: Option<i64>,
    /// Who, as people read it: an email, `worker 7`, `token "ci"`.
    pub actor: String,
    /// What, as a dotted name: `member.removed`, `monitor.updated`.
    pub action: &'static str,
    pub object_type: Option<&'static str>,
    pub object_id: Option<String>,
    /// A short description; never a secret.
    pub detail: Option<String>,
    pub ip: Option<String>,
}

impl NewAudit {
    /// An event by a user in an organization.
    pub fn by_user(
        org_id: i64,
        user_id: i64,
        email: &str,
        action: &'static str,
        ip: Option<String>,
    ) -> NewAudit {
        NewAudit {
            org_id: Some(org_id),
            actor_id: Some(user_id),
            actor: email.to_string(),
            action,
            ip,
            ..NewAudit::default()
        }
    }

    /// The event is about `object_type` number `id`.
    pub fn on(mut self, object_type: &'static str, id: impl ToString) -> NewAudit {
        self.object_type = Some(object_type);
        self.object_id = Some(id.to_string());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> NewAudit {
        self.detail = Some(detail.into());
        self
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditEntry {
    pub id: i64,
    pub org_id: Option<i64>,
    pub at: i64,
    pub actor_id: Option<i64>,
    pub actor: String,
    pub action: String,
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    pub detail: Option<String>,
    pub ip: Option<String>,
}

impl Store {
    pub async fn record_audit(&self, e: &NewAudit, at: i64) -> StoreResult<()> {
        on_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO audit_log (org_id, at, actor_id, actor, action, object_type, object_id, detail, ip) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(e.org_id)
            .bind(at)
            .bind(e.actor_id)
            .bind(&e.actor)
            .bind(e.action)
            .bind(e.object_type)
            .bind(&e.object_id)
            .bind(&e.detail)
            .bind(&e.ip)
            .execute(pool)
            .await
            .map_err(translate)?;
            Ok(())
        })
    }

    /// An organization's events (see [`AuditScope`]), newest first: `limit`
    /// of them older than the event `before` (from the newest when `None`).
    pub async fn audit_log(
        &self,
        org_id: i64,
        scope: AuditScope,
        before: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<AuditEntry>> {
        on_pool!(self, pool => {
            let orgs = match scope {
                AuditScope::Organization => "org_id = $1",
                AuditScope::OrganizationAndInstance => "(org_id = $1 OR org_id IS NULL)",
            };
            let sql = format!(
                "SELECT id, org_id, at, actor_id, actor, action, object_type, object_id, detail, ip FROM audit_log WHERE {orgs} AND id < $2 ORDER BY id DESC LIMIT $3"
            );
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(org_id)
                .bind(before.unwrap_or(i64::MAX))
                .bind(limit)
                .fetch_all(pool)
                .await
                .map_err(translate)
        })
    }

    /// Drops events older than `before`; how many went.
    pub async fn purge_audit(&self, before: i64) -> StoreResult<u64> {
        on_pool!(self, pool => {
            let r = sqlx::query("DELETE FROM audit_log WHERE at < $1")
                .bind(before)
                .execute(pool)
                .await
                .map_err(translate)?;
            Ok(r.rows_affected())
        })
    }
}

/// Which events an audit page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditScope {
    /// The organization's own.
    Organization,
    /// Also the instance's (for its operators).
    OrganizationAndInstance,
}
