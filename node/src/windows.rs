//! Maintenance windows between the store and the core: the time zone a
//! weekly window names is looked up here (in the IANA database built into
//! the binary), once, and the result is the core's [`Window`] that Alerts
//! and the pages ask "is it open at t?".

use openseer_core::maintenance::{Covers, Occurs, Span, Window};
use openseer_protocol::maintenance::{parse_hh_mm, MaintenanceInput, Schedule};
use openseer_protocol::FieldError;
use openseer_store::MaintenanceWindow;

/// Every problem of a window as written, the time zone included.
pub fn problems(input: &MaintenanceInput) -> Vec<FieldError> {
    let mut errors = input.problems();
    if let Schedule::Weekly { time_zone, .. } = &input.schedule {
        if !errors.iter().any(|e| e.field == "schedule.time_zone")
            && jiff::tz::TimeZone::get(time_zone.trim()).is_err()
        {
            errors.push(FieldError::new(
                "schedule.time_zone",
                "not a known time zone (an IANA name such as Europe/Paris, or UTC)",
            ));
        }
    }
    errors
}

/// The schedule as the core computes with it; `None` when it no longer
/// compiles (a time zone dropped from the database), so it covers nothing.
pub fn occurs(s: &Schedule) -> Option<Occurs> {
    match s {
        Schedule::Once {
            starts_at_ms,
            ends_at_ms,
        } => Some(Occurs::Once(Span {
            start: *starts_at_ms,
            end: *ends_at_ms,
        })),
        Schedule::Weekly {
            days,
            start,
            duration_minutes,
            time_zone,
        } => Some(Occurs::Weekly {
            days: days.iter().fold(0u8, |m, d| m | (1 << d.index())),
            start_minute: parse_hh_mm(start)?,
            duration_ms: i64::from(*duration_minutes) * 60_000,
            tz: jiff::tz::TimeZone::get(time_zone.trim()).ok()?,
        }),
    }
}

pub fn compile(w: &MaintenanceWindow) -> Option<Window> {
    let occurs = occurs(&w.schedule);
    if occurs.is_none() {
        tracing::warn!(
            window_id = w.id,
            "a maintenance window's schedule no longer compiles; it covers nothing"
        );
    }
    Some(Window {
        id: w.id,
        name: w.name.clone(),
        covers: if w.all_monitors {
            Covers::All
        } else {
            Covers::Monitors(w.monitors.clone())
        },
        occurs: occurs?,
    })
}

pub fn compile_all(ws: &[MaintenanceWindow]) -> Vec<Window> {
    ws.iter().filter_map(compile).collect()
}

/// The windows open at `t` (covering `monitor`, or any), with when their
/// occurrence ends: what the overview and monitor pages show.
pub fn open_at(windows: &[Window], monitor: Option<i64>, t: i64) -> Vec<(&str, i64)> {
    windows
        .iter()
        .filter(|w| monitor.is_none_or(|m| w.covers.monitor(m)))
        .filter_map(|w| Some((w.name.as_str(), w.occurs.active_at(t)?.end)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use openseer_protocol::maintenance::Weekday;

    fn weekly(tz: &str) -> MaintenanceInput {
        MaintenanceInput {
            name: "patching".into(),
            schedule: Schedule::Weekly {
                days: vec![Weekday::Mon, Weekday::Sun],
                start: "01:15".into(),
                duration_minutes: 30,
                time_zone: tz.into(),
            },
            all_monitors: true,
            monitors: vec![],
        }
    }

    #[test]
    fn an_unknown_time_zone_is_a_field_error() {
        assert!(problems(&weekly("America/New_York")).is_empty());
        assert!(problems(&weekly("UTC")).is_empty());
        let e = problems(&weekly("Mars/Olympus_Mons"));
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].field, "schedule.time_zone");
    }

    #[test]
    fn weekdays_become_a_mask() {
        let Some(Occurs::Weekly {
            days,
            start_minute,
            duration_ms,
            ..
        }) = occurs(&weekly("UTC").schedule)
        else {
            panic!("weekly");
        };
        assert_eq!(days, 0b100_0001);
        assert_eq!(start_minute, 75);
        assert_eq!(duration_ms, 1_800_000);
    }
}
