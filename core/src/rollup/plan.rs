//! Which stored pieces answer a time range: the coarsest tier that covers
//! each part of it, finer tiers at the edges, raw results at the very edges.
//! Pure arithmetic, tested on its own.

pub const MINUTE: i64 = 60_000;
pub const HOUR: i64 = 3_600_000;
pub const DAY: i64 = 86_400_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tier {
    Minute,
    Hour,
    Day,
}

impl Tier {
    pub const ALL: [Tier; 3] = [Tier::Minute, Tier::Hour, Tier::Day];

    /// Bucket width in milliseconds (also the `tier` column).
    pub fn ms(self) -> i64 {
        match self {
            Tier::Minute => MINUTE,
            Tier::Hour => HOUR,
            Tier::Day => DAY,
        }
    }

    pub fn from_ms(ms: i64) -> Option<Tier> {
        Tier::ALL.into_iter().find(|t| t.ms() == ms)
    }

    pub fn start_of(self, t: i64) -> i64 {
        t - t.rem_euclid(self.ms())
    }
}

/// How long each kind of data is kept, in milliseconds (`None`: forever).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub raw_ms: i64,
    pub minute_ms: i64,
    pub hour_ms: i64,
    pub day_ms: Option<i64>,
}

impl Default for Retention {
    fn default() -> Retention {
        Retention {
            raw_ms: 14 * DAY,
            minute_ms: 30 * DAY,
            hour_ms: 400 * DAY,
            day_ms: None,
        }
    }
}

impl Retention {
    /// Coarser data must be kept at least as long as finer data: each tier
    /// is computed from the one below it.
    pub fn check(&self) -> Result<(), String> {
        let day = self.day_ms.unwrap_or(i64::MAX);
        if self.raw_ms < DAY {
            return Err("raw results must be kept at least 1 day".into());
        }
        if !(self.raw_ms <= self.minute_ms && self.minute_ms <= self.hour_ms && self.hour_ms <= day)
        {
            return Err("retention must not shrink from raw to minute to hour to day".into());
        }
        Ok(())
    }
}

/// A part of a range and where its data comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece {
    /// Raw results scheduled in `[start, end)`.
    Raw { start: i64, end: i64 },
    /// Buckets of `tier` starting in `[start, end)`.
    Tier { tier: Tier, start: i64, end: i64 },
}

/// What the store holds at `now`: the first instant each source is complete
/// from, and until when the hour and day rollups are settled.
#[derive(Debug, Clone, Copy)]
pub struct Coverage {
    raw_from: i64,
    minute_from: i64,
    hour_from: i64,
    /// Hour and day buckets ending after this may still be catching up with
    /// their minutes (they are refreshed less often); finer data answers.
    settled_until: i64,
}

/// Hour and day rollups are rebuilt from minutes at most this often; a
/// bucket that ended longer ago than twice this is settled.
pub const UPPER_REFRESH_MS: i64 = 30_000;

impl Coverage {
    pub fn at(now: i64, r: &Retention) -> Coverage {
        Coverage {
            raw_from: now - r.raw_ms,
            minute_from: now - r.minute_ms,
            hour_from: now - r.hour_ms,
            settled_until: now - 2 * UPPER_REFRESH_MS,
        }
    }

    /// Level 0 = day, 1 = hour, 2 = minute, 3 = raw: is it complete at `t`?
    fn has(&self, level: usize, t: i64) -> bool {
        match level {
            0 => true,
            1 => t >= self.hour_from,
            2 => t >= self.minute_from,
            _ => t >= self.raw_from,
        }
    }
}

const LEVELS: [Tier; 3] = [Tier::Day, Tier::Hour, Tier::Minute];

/// The pieces that answer `[start, end)`, in time order, without overlap.
/// Where finer data has expired, the coarser bucket that holds the edge is
/// used whole (the range grows to that bucket's boundary).
pub fn plan(start: i64, end: i64, c: &Coverage) -> Vec<Piece> {
    let mut out = Vec::new();
    cover(start, end, 0, c, &mut out);
    out
}

fn cover(s: i64, e: i64, level: usize, c: &Coverage, out: &mut Vec<Piece>) {
    if s >= e {
        return;
    }
    if level == LEVELS.len() {
        out.push(Piece::Raw { start: s, end: e });
        return;
    }
    let tier = LEVELS[level];
    let t = tier.ms();
    let floor = |x: i64| x - x.rem_euclid(t);
    let ceil = |x: i64| floor(x + t - 1);
    // Upper tiers only for settled buckets; the minute tier is kept fresh.
    let usable_end = if level < 2 {
        floor(c.settled_until)
    } else {
        i64::MAX
    };
    if !c.has(level + 1, e - 1) {
        // Nothing finer anywhere in the range: this tier answers all of it.
        out.push(Piece::Tier {
            tier,
            start: floor(s),
            end: ceil(e),
        });
        return;
    }
    if !c.has(level + 1, s) {
        // Finer data starts inside the range: this tier up to there.
        let horizon = match level + 1 {
            1 => c.hour_from,
            2 => c.minute_from,
            _ => c.raw_from,
        };
        let p = ceil(horizon).min(usable_end.max(floor(s)));
        if p > floor(s) {
            out.push(Piece::Tier {
                tier,
                start: floor(s),
                end: p,
            });
            cover(p, e, level, c, out);
        } else {
            cover(s, e, level + 1, c, out);
        }
        return;
    }
    let a = ceil(s);
    let b = floor(e).min(usable_end);
    if a < b {
        cover(s, a, level + 1, c, out);
        out.push(Piece::Tier {
            tier,
            start: a,
            end: b,
        });
        cover(b, e, level + 1, c, out);
    } else {
        cover(s, e, level + 1, c, out);
    }
}

/// Chart buckets for a range: `count` buckets of `width` from `start`, read
/// from `tier` (whose buckets nest in them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesShape {
    pub tier: Tier,
    pub start: i64,
    pub width: i64,
    pub count: usize,
}

impl SeriesShape {
    /// The span `[start, end)` of bucket `i`.
    pub fn bucket(&self, i: usize) -> (i64, i64) {
        let start = self.start + self.width * i as i64;
        (start, start + self.width)
    }
}

/// About `target` buckets over `[start, end)`, each a whole number of tier
/// buckets, from the coarsest tier that fits and is still kept.
pub fn series_shape(start: i64, end: i64, target: usize, c: &Coverage) -> SeriesShape {
    let target = target.max(1) as i64;
    let want = ((end - start).max(1) + target - 1) / target;
    let mut tier = if want >= DAY {
        Tier::Day
    } else if want >= HOUR {
        Tier::Hour
    } else {
        Tier::Minute
    };
    if tier == Tier::Minute && !c.has(2, start) {
        tier = Tier::Hour;
    }
    if tier == Tier::Hour && !c.has(1, start) {
        tier = Tier::Day;
    }
    let t = tier.ms();
    let width = ((want + t - 1) / t).max(1) * t;
    let first = tier.start_of(start);
    let count = ((end - first + width - 1) / width).max(1) as usize;
    SeriesShape {
        tier,
        start: first,
        width,
        count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000 * DAY + 13 * HOUR + 27 * MINUTE + 31_000;

    fn cov() -> Coverage {
        Coverage::at(NOW, &Retention::default())
    }

    /// The pieces tile the range exactly (no gap, no overlap) when every
    /// source is still kept.
    fn assert_tiles(pieces: &[Piece], start: i64, end: i64) {
        let mut at = start;
        for p in pieces {
            let (s, e) = match *p {
                Piece::Raw { start, end } => (start, end),
                Piece::Tier { tier, start, end } => {
                    assert_eq!(start % tier.ms(), 0);
                    assert_eq!(end % tier.ms(), 0);
                    (start, end)
                }
            };
            assert_eq!(s, at, "{pieces:?}");
            assert!(e > s);
            at = e;
        }
        assert_eq!(at, end);
    }

    #[test]
    fn a_day_uses_hours_in_the_middle_and_minutes_and_raw_at_the_edges() {
        let (s, e) = (NOW - DAY, NOW);
        let p = plan(s, e, &cov());
        assert_tiles(&p, s, e);
        assert_eq!(
            p.first(),
            Some(&Piece::Raw {
                start: s,
                end: s + 29_000
            })
        );
        assert!(p.iter().any(|x| matches!(
            x,
            Piece::Tier {
                tier: Tier::Hour,
                ..
            }
        )));
        assert!(!p.iter().any(|x| matches!(
            x,
            Piece::Tier {
                tier: Tier::Day,
                ..
            }
        )));
        // The last two minutes are not settled for hours: minutes answer.
        assert_eq!(
            p.last(),
            Some(&Piece::Raw {
                start: NOW - 31_000,
                end: NOW
            })
        );
    }

    #[test]
    fn aligned_ranges_need_no_raw() {
        let e = Tier::Day.start_of(NOW);
        let s = e - 7 * DAY;
        assert_eq!(
            plan(s, e, &cov()),
            vec![Piece::Tier {
                tier: Tier::Day,
                start: s,
                end: e
            }]
        );
    }

    #[test]
    fn every_window_tiles_while_data_is_kept() {
        for (s, e) in [
            (NOW - HOUR, NOW),
            (NOW - 7 * DAY, NOW),
            (NOW - 13 * DAY - 5, NOW - 3 * HOUR + 7),
            (NOW - 59_999, NOW - 1),
            (NOW - 3 * DAY, NOW - 3 * DAY + 1),
        ] {
            assert_tiles(&plan(s, e, &cov()), s, e);
        }
    }

    #[test]
    fn ninety_days_snaps_the_expired_start_to_the_hour() {
        let s = NOW - 90 * DAY;
        let p = plan(s, NOW, &cov());
        // Minutes and raw are gone 90 days back: the start is the hour bucket.
        assert_eq!(
            p[0],
            Piece::Tier {
                tier: Tier::Hour,
                start: Tier::Hour.start_of(s),
                end: Tier::Day.start_of(s) + DAY
            }
        );
        assert!(p.iter().any(|x| matches!(
            x,
            Piece::Tier {
                tier: Tier::Day,
                ..
            }
        )));
        assert!(matches!(p.last(), Some(Piece::Raw { .. })));
    }

    #[test]
    fn a_year_ago_only_days_remain() {
        let s = NOW - 500 * DAY;
        let e = NOW - 450 * DAY + 5 * HOUR;
        let p = plan(s, e, &cov());
        assert_eq!(
            p,
            vec![Piece::Tier {
                tier: Tier::Day,
                start: Tier::Day.start_of(s),
                end: Tier::Day.start_of(e) + DAY
            }]
        );
    }

    #[test]
    fn series_shapes_fit_the_presets() {
        let c = cov();
        let s = series_shape(NOW - HOUR, NOW, 60, &c);
        assert_eq!((s.tier, s.width), (Tier::Minute, MINUTE));
        let s = series_shape(NOW - DAY, NOW, 96, &c);
        assert_eq!((s.tier, s.width), (Tier::Minute, 15 * MINUTE));
        let s = series_shape(NOW - 30 * DAY, NOW, 90, &c);
        assert_eq!((s.tier, s.width), (Tier::Hour, 8 * HOUR));
        let s = series_shape(NOW - 90 * DAY, NOW, 90, &c);
        assert_eq!((s.tier, s.width), (Tier::Day, DAY));
        assert!(s.count <= 91);
        assert_eq!(s.bucket(2), (s.start + 2 * DAY, s.start + 3 * DAY));
    }

    #[test]
    fn retention_must_not_shrink_upwards() {
        assert!(Retention::default().check().is_ok());
        let r = Retention {
            minute_ms: DAY,
            ..Retention::default()
        };
        assert!(r.check().is_err());
    }
}
