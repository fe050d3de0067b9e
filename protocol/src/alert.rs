//! When a monitor alerts: the rules a user sets per monitor, validated once
//! here so the form, the API and import agree.

use serde::{Deserialize, Serialize};

use crate::FieldError;

/// Longest confirmation run a user may ask for, in ticks.
pub const MAX_RUN: u32 = 100;

/// A monitor's alert rules. Missing fields take their defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRules {
    /// A tick fails when at least this many of the regions that checked it
    /// failed it; none means a majority of them.
    #[serde(default)]
    pub fail_quorum: Option<u32>,
    /// Consecutive failing ticks before the monitor is down.
    #[serde(default = "default_run")]
    pub down_after: u32,
    /// Consecutive passing ticks before it has recovered.
    #[serde(default = "default_run")]
    pub up_after: u32,
    /// Whether a degraded result (slow, certificate expiring) fails a tick.
    #[serde(default)]
    pub degraded_fails: bool,
    /// Remind every this many minutes while an incident is open and not
    /// acknowledged; none means no reminders.
    #[serde(default)]
    pub remind_every_minutes: Option<u32>,
}

fn default_run() -> u32 {
    2
}

impl Default for AlertRules {
    fn default() -> Self {
        AlertRules {
            fail_quorum: None,
            down_after: default_run(),
            up_after: default_run(),
            degraded_fails: false,
            remind_every_minutes: None,
        }
    }
}

impl AlertRules {
    /// Every problem, one per field (named `alert.<field>`).
    pub fn problems(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if let Some(k) = self.fail_quorum {
            if !(1..=32).contains(&k) {
                errors.push(FieldError::new(
                    "alert.fail_quorum",
                    "between 1 and 32 regions",
                ));
            }
        }
        for (field, n) in [
            ("alert.down_after", self.down_after),
            ("alert.up_after", self.up_after),
        ] {
            if !(1..=MAX_RUN).contains(&n) {
                errors.push(FieldError::new(
                    field,
                    format!("between 1 and {MAX_RUN} checks"),
                ));
            }
        }
        if let Some(m) = self.remind_every_minutes {
            if !(5..=10_080).contains(&m) {
                errors.push(FieldError::new(
                    "alert.remind_every_minutes",
                    "between 5 minutes and a week (10080)",
                ));
            }
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_bounds() {
        let r: AlertRules = serde_json::from_str("{}").unwrap();
        assert_eq!(r, AlertRules::default());
        assert!(r.problems().is_empty());
        let bad = AlertRules {
            fail_quorum: Some(0),
            down_after: 0,
            up_after: 101,
            degraded_fails: false,
            remind_every_minutes: Some(1),
        };
        let fields: Vec<String> = bad.problems().into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "alert.fail_quorum",
                "alert.down_after",
                "alert.up_after",
                "alert.remind_every_minutes"
            ]
        );
        assert!(serde_json::from_str::<AlertRules>(r#"{"down":1}"#).is_err());
    }
}
