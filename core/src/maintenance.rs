//! When maintenance windows are open, as pure functions of time.
//!
//! A window is compiled from what the user wrote
//! ([`openseer_protocol::maintenance::Schedule`]) once its time zone has
//! been looked up (by the caller: reading the time-zone database is IO and
//! stays out of the core). Times are unix milliseconds; an occurrence is
//! the half-open span `[start, end)`, so a window from 10:00 to 11:00 covers
//! a tick at 10:00 and not one at 11:00.

use jiff::tz::TimeZone;
use jiff::Timestamp;

/// One occurrence of a window: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: i64,
    pub end: i64,
}

/// How a window recurs.
#[derive(Debug, Clone)]
pub enum Occurs {
    Once(Span),
    Weekly {
        /// Bit `d` set for weekday `d`, Monday 0.
        days: u8,
        /// Minutes after local midnight.
        start_minute: u32,
        duration_ms: i64,
        tz: TimeZone,
    },
}

/// Which monitors a window covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Covers {
    All,
    /// Sorted monitor ids.
    Monitors(Vec<i64>),
}

impl Covers {
    pub fn monitor(&self, monitor_id: i64) -> bool {
        match self {
            Covers::All => true,
            Covers::Monitors(ids) => ids.binary_search(&monitor_id).is_ok(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Window {
    pub id: i64,
    pub name: String,
    pub covers: Covers,
    pub occurs: Occurs,
}

/// The longest range [`Occurs::occurrences`] looks at; longer ones are cut
/// (bounded work whatever is asked).
pub const MAX_RANGE_MS: i64 = 400 * 86_400_000;
const DAY_MS: i64 = 86_400_000;

impl Occurs {
    /// The occurrences that overlap `[from, to)`, by start.
    pub fn occurrences(&self, from: i64, to: i64) -> Vec<Span> {
        let to = to.min(from.saturating_add(MAX_RANGE_MS));
        if to <= from {
            return Vec::new();
        }
        match self {
            Occurs::Once(s) => {
                if s.end > from && s.start < to {
                    vec![*s]
                } else {
                    Vec::new()
                }
            }
            Occurs::Weekly {
                days,
                start_minute,
                duration_ms,
                tz,
            } => weekly(*days, *start_minute, *duration_ms, tz, from, to),
        }
    }

    /// The occurrence open at `t`, if any (the one that started last when
    /// several overlap).
    pub fn active_at(&self, t: i64) -> Option<Span> {
        self.occurrences(t, t.saturating_add(1))
            .into_iter()
            .rfind(|s| s.start <= t && t < s.end)
    }

    /// The first occurrence that starts after `t`, within eight days (a
    /// one-off window: whenever it is).
    pub fn next_after(&self, t: i64) -> Option<Span> {
        match self {
            Occurs::Once(s) => (s.start > t).then_some(*s),
            Occurs::Weekly { .. } => self
                .occurrences(t, t.saturating_add(8 * DAY_MS))
                .into_iter()
                .find(|s| s.start > t),
        }
    }
}

fn weekly(
    days: u8,
    start_minute: u32,
    duration_ms: i64,
    tz: &TimeZone,
    from: i64,
    to: i64,
) -> Vec<Span> {
    let (Ok(a), Ok(b)) = (
        Timestamp::from_millisecond(from),
        Timestamp::from_millisecond(to),
    ) else {
        return Vec::new();
    };
    // An occurrence that started up to a week (its longest) and a day (a
    // time-zone shift) before `from` may still be open.
    let back = (duration_ms / DAY_MS) + 2;
    let Ok(mut date) = tz
        .to_datetime(a)
        .date()
        .checked_sub(jiff::Span::new().days(back))
    else {
        return Vec::new();
    };
    let last = tz.to_datetime(b).date();
    let (hour, minute) = ((start_minute / 60) as i8, (start_minute % 60) as i8);
    let mut out = Vec::new();
    while date <= last {
        let weekday = date.weekday().to_monday_zero_offset() as u8;
        if days & (1 << weekday) != 0 {
            // A start in a gap (clocks going forward) moves forward by the
            // gap; one in a fold (clocks going back) is its first instance.
            let local = date.at(hour, minute, 0, 0);
            if let Ok(z) = tz.to_ambiguous_zoned(local).compatible() {
                let start = z.timestamp().as_millisecond();
                let end = start.saturating_add(duration_ms);
                if end > from && start < to {
                    out.push(Span { start, end });
                }
            }
        }
        let Ok(next) = date.tomorrow() else { break };
        date = next;
    }
    out
}

/// Whether any window covers `monitor_id` at `t`.
pub fn covered(windows: &[Window], monitor_id: i64, t: i64) -> bool {
    windows
        .iter()
        .any(|w| w.covers.monitor(monitor_id) && w.occurs.active_at(t).is_some())
}

/// How long, within `[from, to)`, the monitor was inside any window (the
/// union: overlapping windows count once).
pub fn covered_ms(windows: &[Window], monitor_id: i64, from: i64, to: i64) -> i64 {
    let mut spans: Vec<Span> = windows
        .iter()
        .filter(|w| w.covers.monitor(monitor_id))
        .flat_map(|w| w.occurs.occurrences(from, to))
        .map(|s| Span {
            start: s.start.max(from),
            end: s.end.min(to),
        })
        .collect();
    spans.sort_by_key(|s| s.start);
    let mut total = 0;
    let mut reach = i64::MIN;
    for s in spans {
        let start = s.start.max(reach);
        if s.end > start {
            total += s.end - start;
        }
        reach = reach.max(s.end);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;
    const M: i64 = 60_000;

    fn ms(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_millisecond()
    }

    fn paris() -> TimeZone {
        TimeZone::get("Europe/Paris").expect("the time-zone database has Europe/Paris")
    }

    fn sundays_at_0230_for_90m(tz: TimeZone) -> Occurs {
        Occurs::Weekly {
            days: 1 << 6,
            start_minute: 150,
            duration_ms: 90 * M,
            tz,
        }
    }

    #[test]
    fn a_one_off_window_is_half_open() {
        let o = Occurs::Once(Span {
            start: 1_000,
            end: 2_000,
        });
        assert!(o.active_at(999).is_none());
        assert!(o.active_at(1_000).is_some());
        assert!(o.active_at(1_999).is_some());
        assert!(o.active_at(2_000).is_none());
        assert_eq!(
            o.next_after(0),
            Some(Span {
                start: 1_000,
                end: 2_000
            })
        );
        assert_eq!(o.next_after(1_000), None);
    }

    #[test]
    fn weekly_in_a_time_zone() {
        let o = sundays_at_0230_for_90m(paris());
        // Sunday 2026-01-04, 02:30 in Paris is 01:30 UTC (winter, +01:00).
        assert!(o.active_at(ms("2026-01-04T01:29:59.999Z")).is_none());
        assert_eq!(
            o.active_at(ms("2026-01-04T01:30:00Z")),
            Some(Span {
                start: ms("2026-01-04T01:30:00Z"),
                end: ms("2026-01-04T03:00:00Z")
            })
        );
        assert!(o.active_at(ms("2026-01-04T02:59:59.999Z")).is_some());
        assert!(o.active_at(ms("2026-01-04T03:00:00Z")).is_none());
        // Not on Saturday at the same time.
        assert!(o.active_at(ms("2026-01-03T01:45:00Z")).is_none());
        // In summer (+02:00) it is 00:30 UTC.
        assert!(o.active_at(ms("2026-07-05T00:30:00Z")).is_some());
        assert!(o.active_at(ms("2026-07-05T02:00:00Z")).is_none());
        assert_eq!(
            o.next_after(ms("2026-01-04T01:30:00Z")).map(|s| s.start),
            Some(ms("2026-01-11T01:30:00Z"))
        );
    }

    #[test]
    fn weekly_across_daylight_saving_changes() {
        let o = sundays_at_0230_for_90m(paris());
        // 2026-03-29: clocks go from 02:00 to 03:00; 02:30 does not exist,
        // so the window starts an hour later, 03:30 local (01:30 UTC), and
        // lasts 90 minutes.
        assert_eq!(
            o.active_at(ms("2026-03-29T01:30:00Z")),
            Some(Span {
                start: ms("2026-03-29T01:30:00Z"),
                end: ms("2026-03-29T03:00:00Z")
            })
        );
        assert!(o.active_at(ms("2026-03-29T01:29:00Z")).is_none());
        // 2026-10-25: 03:00 goes back to 02:00; 02:30 happens twice and the
        // window starts at the first (00:30 UTC).
        assert_eq!(
            o.active_at(ms("2026-10-25T00:30:00Z")).map(|s| s.start),
            Some(ms("2026-10-25T00:30:00Z"))
        );
        // Over the year: 52 Sundays of 90 minutes.
        let year = o.occurrences(ms("2026-01-01T00:00:00Z"), ms("2027-01-01T00:00:00Z"));
        assert_eq!(year.len(), 52);
        assert!(year.iter().all(|s| s.end - s.start == 90 * M));
    }

    #[test]
    fn a_slot_crossing_midnight_and_week_long_slots() {
        // Every day at 23:00 UTC for two hours.
        let o = Occurs::Weekly {
            days: 0x7f,
            start_minute: 23 * 60,
            duration_ms: 2 * H,
            tz: TimeZone::UTC,
        };
        assert!(o.active_at(ms("2026-05-06T00:59:00Z")).is_some());
        assert!(o.active_at(ms("2026-05-06T01:00:00Z")).is_none());
        // Monday 00:00 for a whole week: always on.
        let always = Occurs::Weekly {
            days: 1,
            start_minute: 0,
            duration_ms: 7 * DAY_MS,
            tz: TimeZone::UTC,
        };
        for t in [
            "2026-05-04T00:00:00Z",
            "2026-05-07T12:00:00Z",
            "2026-05-10T23:59:59Z",
        ] {
            assert!(always.active_at(ms(t)).is_some(), "{t}");
        }
    }

    #[test]
    fn coverage_is_per_monitor_and_counts_overlaps_once() {
        let w = |id, covers, start, end| Window {
            id,
            name: format!("w{id}"),
            covers,
            occurs: Occurs::Once(Span { start, end }),
        };
        let windows = vec![
            w(1, Covers::Monitors(vec![7, 9]), 0, 10 * M),
            w(2, Covers::All, 5 * M, 20 * M),
            w(3, Covers::Monitors(vec![8]), 30 * M, 40 * M),
        ];
        assert!(covered(&windows, 7, 0));
        assert!(!covered(&windows, 8, 0));
        assert!(covered(&windows, 8, 5 * M));
        assert!(!covered(&windows, 7, 20 * M));
        assert_eq!(covered_ms(&windows, 7, 0, H), 20 * M);
        assert_eq!(covered_ms(&windows, 8, 0, H), 25 * M);
        // Clipped to the range asked.
        assert_eq!(covered_ms(&windows, 7, 15 * M, H), 5 * M);
        assert_eq!(covered_ms(&windows, 1, H, 2 * H), 0);
    }

    #[test]
    fn hostile_ranges_are_bounded() {
        let o = Occurs::Weekly {
            days: 0x7f,
            start_minute: 0,
            duration_ms: H,
            tz: TimeZone::UTC,
        };
        assert!(o.occurrences(i64::MIN, i64::MAX).is_empty());
        assert!(o.occurrences(10, 5).is_empty());
        assert_eq!(o.occurrences(0, i64::MAX).len(), 400);
    }
}
