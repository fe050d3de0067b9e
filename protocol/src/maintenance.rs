//! Maintenance windows as a user writes them: a one-off span, or a weekly
//! slot in a time zone, covering chosen monitors or all of them. Inside a
//! window checks run and are stored, but no incident opens. The shape is
//! validated here; whether the time zone exists is asked of the node's
//! time-zone database where the window is compiled.

use serde::{Deserialize, Serialize};

use crate::FieldError;

pub const MAX_NAME: usize = 100;
/// A one-off window lasts at most this long (a year).
pub const MAX_ONCE_MS: i64 = 366 * 86_400_000;
/// A weekly slot lasts at most a week.
pub const MAX_WEEKLY_MINUTES: u32 = 7 * 24 * 60;
/// At most this many monitors are named per window (or all of them).
pub const MAX_MONITORS: usize = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Weekday {
    pub const ALL: [Weekday; 7] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];

    /// Monday is 0.
    pub fn index(self) -> u8 {
        self as u8
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Weekday::Mon => "mon",
            Weekday::Tue => "tue",
            Weekday::Wed => "wed",
            Weekday::Thu => "thu",
            Weekday::Fri => "fri",
            Weekday::Sat => "sat",
            Weekday::Sun => "sun",
        }
    }

    pub fn parse(s: &str) -> Option<Weekday> {
        Weekday::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// When a window is open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Schedule {
    /// From `starts_at_ms` (included) to `ends_at_ms` (excluded).
    Once { starts_at_ms: i64, ends_at_ms: i64 },
    /// Every chosen weekday at `start` ("HH:MM", local time in
    /// `time_zone`, an IANA name) for `duration_minutes`. A start that falls
    /// in a daylight-saving gap moves forward by the gap (02:30 on the day
    /// clocks go from 02:00 to 03:00 is 03:30); in a fold it is the first.
    Weekly {
        days: Vec<Weekday>,
        start: String,
        duration_minutes: u32,
        time_zone: String,
    },
}

/// "HH:MM" as minutes after midnight.
pub fn parse_hh_mm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let h: u32 = h.parse().ok()?;
    let m: u32 = m.parse().ok()?;
    (h < 24 && m < 60).then_some(h * 60 + m)
}

impl Schedule {
    pub fn problems(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        match self {
            Schedule::Once {
                starts_at_ms,
                ends_at_ms,
            } => {
                if *starts_at_ms < 0 {
                    errors.push(FieldError::new(
                        "schedule.starts_at_ms",
                        "a time after 1970",
                    ));
                }
                if ends_at_ms <= starts_at_ms {
                    errors.push(FieldError::new(
                        "schedule.ends_at_ms",
                        "the end must come after the start",
                    ));
                } else if ends_at_ms.saturating_sub(*starts_at_ms) > MAX_ONCE_MS {
                    errors.push(FieldError::new(
                        "schedule.ends_at_ms",
                        "a window lasts at most a year",
                    ));
                }
            }
            Schedule::Weekly {
                days,
                start,
                duration_minutes,
                time_zone,
            } => {
                if days.is_empty() {
                    errors.push(FieldError::new("schedule.days", "choose at least one day"));
                }
                if parse_hh_mm(start).is_none() {
                    errors.push(FieldError::new("schedule.start", "a time as HH:MM"));
                }
                if !(1..=MAX_WEEKLY_MINUTES).contains(duration_minutes) {
                    errors.push(FieldError::new(
                        "schedule.duration_minutes",
                        format!("between 1 minute and a week ({MAX_WEEKLY_MINUTES})"),
                    ));
                }
                if time_zone.trim().is_empty() || time_zone.len() > 64 {
                    errors.push(FieldError::new(
                        "schedule.time_zone",
                        "a time zone such as Europe/Paris or UTC",
                    ));
                }
            }
        }
        errors
    }
}

/// A maintenance window as created or replaced through the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceInput {
    pub name: String,
    pub schedule: Schedule,
    /// Every monitor of the organization, now and later.
    #[serde(default)]
    pub all_monitors: bool,
    /// The monitors it covers when not all.
    #[serde(default)]
    pub monitors: Vec<i64>,
}

impl MaintenanceInput {
    pub fn problems(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let name = self.name.trim();
        if name.is_empty() || name.len() > MAX_NAME {
            errors.push(FieldError::new(
                "name",
                format!("a name of 1 to {MAX_NAME} bytes"),
            ));
        }
        errors.extend(self.schedule.problems());
        if !self.all_monitors && self.monitors.is_empty() {
            errors.push(FieldError::new(
                "monitors",
                "choose monitors, or all monitors",
            ));
        }
        if self.monitors.len() > MAX_MONITORS {
            errors.push(FieldError::new(
                "monitors",
                format!("at most {MAX_MONITORS} monitors"),
            ));
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekly_json_and_its_bounds() {
        let input: MaintenanceInput = serde_json::from_str(
            r#"{"name":"patching","all_monitors":true,
                "schedule":{"kind":"weekly","days":["sun"],"start":"02:30","duration_minutes":90,"time_zone":"Europe/Paris"}}"#,
        )
        .unwrap();
        assert!(input.problems().is_empty(), "{:?}", input.problems());
        let bad = MaintenanceInput {
            name: " ".into(),
            schedule: Schedule::Weekly {
                days: vec![],
                start: "24:00".into(),
                duration_minutes: 0,
                time_zone: "".into(),
            },
            all_monitors: false,
            monitors: vec![],
        };
        let fields: Vec<String> = bad.problems().into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "name",
                "schedule.days",
                "schedule.start",
                "schedule.duration_minutes",
                "schedule.time_zone",
                "monitors"
            ]
        );
    }

    #[test]
    fn once_needs_an_end_after_its_start() {
        let s = Schedule::Once {
            starts_at_ms: 10,
            ends_at_ms: 10,
        };
        assert_eq!(s.problems()[0].field, "schedule.ends_at_ms");
        let long = Schedule::Once {
            starts_at_ms: 0,
            ends_at_ms: MAX_ONCE_MS + 1,
        };
        assert_eq!(long.problems().len(), 1);
        assert!(serde_json::from_str::<Schedule>(r#"{"kind":"once","starts_at_ms":1}"#).is_err());
        assert!(serde_json::from_str::<Schedule>(
            r#"{"kind":"once","starts_at_ms":1,"ends_at_ms":2,"x":1}"#
        )
        .is_err());
    }

    #[test]
    fn hh_mm() {
        assert_eq!(parse_hh_mm("00:00"), Some(0));
        assert_eq!(parse_hh_mm("2:05"), Some(125));
        assert_eq!(parse_hh_mm("23:59"), Some(1439));
        for bad in ["24:00", "12:60", "12", "12:5", ":30", "aa:bb", "-1:00"] {
            assert_eq!(parse_hh_mm(bad), None, "{bad}");
        }
    }
}
