//! Limits per organization and per user, so that one account cannot load
//! the node for everyone: monitors per organization, the shortest interval,
//! organizations a user may own. The defaults are far above what a
//! self-hoster sets up by hand; operators lower or raise them in the
//! configuration (docs/configuration.md).

use openseer_protocol::monitor::ValidMonitor;
use openseer_protocol::FieldError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    pub monitors_per_org: i64,
    pub min_interval_seconds: u32,
    pub owned_orgs_per_user: usize,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            monitors_per_org: DEFAULT_MONITORS_PER_ORG,
            min_interval_seconds: 1,
            owned_orgs_per_user: DEFAULT_OWNED_ORGS_PER_USER,
        }
    }
}

pub const DEFAULT_MONITORS_PER_ORG: i64 = 10_000;
pub const DEFAULT_OWNED_ORGS_PER_USER: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuotaError {
    #[error(
        "the organization has {limit} monitors, the most this node allows (max_monitors_per_org)"
    )]
    Monitors { limit: i64 },
    #[error("at least {min} seconds on this node (min_interval_seconds)")]
    Interval { min: u32 },
    #[error("you own {limit} organizations, the most this node allows (max_owned_orgs_per_user)")]
    Organizations { limit: usize },
}

impl QuotaError {
    /// The form field the limit is about.
    pub fn field(&self) -> &'static str {
        match self {
            QuotaError::Monitors { .. } => "name",
            QuotaError::Interval { .. } => "interval_seconds",
            QuotaError::Organizations { .. } => "new-org",
        }
    }

    pub fn to_field_error(&self) -> FieldError {
        FieldError::new(self.field(), self.to_string())
    }
}

impl Quotas {
    /// A monitor as it would be saved: its interval.
    pub fn check_monitor(&self, m: &ValidMonitor) -> Result<(), QuotaError> {
        if m.interval_seconds < self.min_interval_seconds {
            return Err(QuotaError::Interval {
                min: self.min_interval_seconds,
            });
        }
        Ok(())
    }

    /// One more monitor, where the organization has `existing`.
    pub fn check_new_monitor(&self, m: &ValidMonitor, existing: i64) -> Result<(), QuotaError> {
        if existing >= self.monitors_per_org {
            return Err(QuotaError::Monitors {
                limit: self.monitors_per_org,
            });
        }
        self.check_monitor(m)
    }

    /// One more organization, for a user who owns `owned`.
    pub fn check_new_organization(&self, owned: usize) -> Result<(), QuotaError> {
        if owned >= self.owned_orgs_per_user {
            return Err(QuotaError::Organizations {
                limit: self.owned_orgs_per_user,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn monitor(interval: u32) -> ValidMonitor {
        let m: openseer_protocol::MonitorInput = serde_json::from_value(serde_json::json!({
            "name": "m", "url": "http://example.com/", "interval_seconds": interval,
            "timeout_ms": 500
        }))
        .unwrap();
        m.validate().unwrap()
    }

    #[test]
    fn each_limit_holds_at_its_edge() {
        let q = Quotas {
            monitors_per_org: 3,
            min_interval_seconds: 10,
            owned_orgs_per_user: 2,
        };
        assert_eq!(q.check_new_monitor(&monitor(10), 2), Ok(()));
        assert_eq!(
            q.check_new_monitor(&monitor(10), 3),
            Err(QuotaError::Monitors { limit: 3 })
        );
        assert_eq!(
            q.check_monitor(&monitor(9)),
            Err(QuotaError::Interval { min: 10 })
        );
        assert_eq!(q.check_new_organization(1), Ok(()));
        assert_eq!(
            q.check_new_organization(2),
            Err(QuotaError::Organizations { limit: 2 })
        );
    }
}
