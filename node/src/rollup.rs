//! The rollup service: per (monitor, region), buckets of 1 minute, 1 hour
//! and 1 day with counts by outcome, latency min/max/mean, per-phase means
//! and a latency sketch for percentiles (the arithmetic is
//! `openseer_core::rollup`'s; this module reads and writes them).
//!
//! Every bucket is *recomputed* from the tier below it (minutes from raw
//! results, hours from minutes, days from hours), never patched with deltas,
//! so a late result, a `missed` placeholder replaced by the real result, or
//! a rebuild all converge on the same numbers. The Rollup actors
//! (`actors/rollup.rs`) decide when; this module decides what.

use std::collections::{BTreeMap, HashMap, HashSet};

use openseer_core::rollup::plan::{self, Coverage, Piece, Retention, SeriesShape, Tier};
use openseer_core::rollup::Aggregate;

use openseer_store::{BucketKey, Results, RollupRow, Store, StoreResult};

/// A (monitor, region, bucket start) of some tier.
pub type TierKey = (i64, String, i64);

/// Recomputes the minute buckets in `dirty` from raw results. Returns the
/// hour buckets above them, which are now out of date.
pub async fn refresh_minutes(
    store: &Store,
    dirty: &HashSet<BucketKey>,
) -> StoreResult<HashSet<TierKey>> {
    refresh(store, None, dirty).await
}

/// Recomputes `tier` (hour or day) buckets in `dirty` from the tier below.
/// Returns the buckets of the tier above that are now out of date.
pub async fn refresh_tier(
    store: &Store,
    tier: Tier,
    dirty: &HashSet<TierKey>,
) -> StoreResult<HashSet<TierKey>> {
    refresh(store, Some(tier), dirty).await
}

/// `tier` None: minutes from raw. Work is grouped into windows (an hour of
/// minutes, a day of hours, 24 days of days) with one read per window,
/// covering only the span between the first and last dirty bucket in it.
async fn refresh(
    store: &Store,
    tier: Option<Tier>,
    dirty: &HashSet<TierKey>,
) -> StoreResult<HashSet<TierKey>> {
    let this = tier.unwrap_or(Tier::Minute);
    let width = this.ms();
    let above = match this {
        Tier::Minute => Some(Tier::Hour),
        Tier::Hour => Some(Tier::Day),
        Tier::Day => None,
    };
    let window = width * if this == Tier::Minute { 60 } else { 24 };
    let mut groups: BTreeMap<i64, Vec<&TierKey>> = BTreeMap::new();
    for k in dirty {
        groups.entry(k.2.div_euclid(window)).or_default().push(k);
    }
    let mut stale_above = HashSet::new();
    for keys in groups.values() {
        let mut ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        ids.sort_unstable();
        ids.dedup();
        let from = keys.iter().map(|k| k.2).min().expect("group is not empty");
        let to = keys.iter().map(|k| k.2).max().expect("group is not empty") + width;
        let mut fresh: HashMap<TierKey, Aggregate> = HashMap::new();
        match tier {
            None => {
                for s in store.raw_samples(&ids, None, from, to).await? {
                    let key = (
                        s.monitor_id,
                        s.region.clone(),
                        Tier::Minute.start_of(s.scheduled_at),
                    );
                    fresh.entry(key).or_default().add(&s);
                }
            }
            Some(t) => {
                let below = if t == Tier::Hour {
                    Tier::Minute
                } else {
                    Tier::Hour
                };
                for r in store.rollup_rows(below, &ids, None, from, to).await? {
                    let key = (r.monitor_id, r.region, t.start_of(r.bucket_start));
                    fresh.entry(key).or_default().merge(&r.agg);
                }
            }
        }
        let mut rows = Vec::new();
        let mut empty = Vec::new();
        for k in keys {
            match fresh.remove(*k) {
                Some(agg) => rows.push(RollupRow {
                    monitor_id: k.0,
                    region: k.1.clone(),
                    tier: this,
                    bucket_start: k.2,
                    agg,
                }),
                None => empty.push((k.0, k.1.clone(), this, k.2)),
            }
            if let Some(a) = above {
                stale_above.insert((k.0, k.1.clone(), a.start_of(k.2)));
            }
        }
        store.replace_rollups(&rows, &empty).await?;
    }
    Ok(stale_above)
}

/// Brings every tier up to date for `dirty` minutes, all the way up.
pub async fn refresh_all(store: &Store, dirty: &HashSet<BucketKey>) -> StoreResult<()> {
    let hours = refresh_minutes(store, dirty).await?;
    let days = refresh_tier(store, Tier::Hour, &hours).await?;
    refresh_tier(store, Tier::Day, &days).await?;
    Ok(())
}

/// What `openseer rollup rebuild` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebuilt {
    /// The rebuild started here (`since`, moved up to the oldest raw result kept).
    pub from: i64,
    pub minutes: usize,
}

/// Recomputes every rollup from `since` on from the raw results still kept.
/// Buckets older than raw retention are left as they are: their raw data
/// is gone, so they cannot be recomputed.
pub async fn rebuild(
    store: &Store,
    since: i64,
    now: i64,
    retention: &Retention,
) -> StoreResult<Rebuilt> {
    let oldest_kept = Tier::Minute.start_of(now - retention.raw_ms) + plan::MINUTE;
    let from = Tier::Minute.start_of(since).max(oldest_kept);
    store.delete_minute_rollups_since(from).await?;
    let dirty = store
        .buckets_of_results(Results::ScheduledFrom(from))
        .await?;
    refresh_all(store, &dirty).await?;
    Ok(Rebuilt {
        from,
        minutes: dirty.len(),
    })
}

/// Per monitor, everything in `[start, end)` for the given regions (all
/// when `None`), answered as [`plan::plan`] says.
pub async fn summarize(
    store: &Store,
    monitor_ids: &[i64],
    regions: Option<&[String]>,
    start: i64,
    end: i64,
    coverage: &Coverage,
) -> StoreResult<HashMap<i64, Aggregate>> {
    let mut out: HashMap<i64, Aggregate> = HashMap::new();
    for piece in plan::plan(start, end, coverage) {
        match piece {
            Piece::Raw { start, end } => {
                for s in store.raw_samples(monitor_ids, regions, start, end).await? {
                    out.entry(s.monitor_id).or_default().add(&s);
                }
            }
            Piece::Tier { tier, start, end } => {
                for r in store
                    .rollup_rows(tier, monitor_ids, regions, start, end)
                    .await?
                {
                    out.entry(r.monitor_id).or_default().merge(&r.agg);
                }
            }
        }
    }
    Ok(out)
}

/// A chart series: about `target` buckets over `[start, end)`.
pub async fn series(
    store: &Store,
    monitor_id: i64,
    regions: Option<&[String]>,
    start: i64,
    end: i64,
    target: usize,
    coverage: &Coverage,
) -> StoreResult<(SeriesShape, Vec<Aggregate>)> {
    let shape = plan::series_shape(start, end, target, coverage);
    let mut buckets = vec![Aggregate::default(); shape.count];
    let until = shape.start + shape.width * shape.count as i64;
    for r in store
        .rollup_rows(shape.tier, &[monitor_id], regions, shape.start, until)
        .await?
    {
        let i = ((r.bucket_start - shape.start) / shape.width) as usize;
        if let Some(b) = buckets.get_mut(i) {
            b.merge(&r.agg);
        }
    }
    Ok((shape, buckets))
}

/// For each monitor, 24 hourly aggregates (all regions), oldest first: the
/// 23 hours before the current one from the hour tier, the current hour
/// from its minutes. For overviews of many monitors: two reads in all.
pub async fn last_day_by_hour(
    store: &Store,
    monitor_ids: &[i64],
    now: i64,
) -> StoreResult<HashMap<i64, Vec<Aggregate>>> {
    let this_hour = Tier::Hour.start_of(now);
    let first = this_hour - 23 * plan::HOUR;
    let mut out: HashMap<i64, Vec<Aggregate>> = monitor_ids
        .iter()
        .map(|id| (*id, vec![Aggregate::default(); 24]))
        .collect();
    for r in store
        .rollup_rows(Tier::Hour, monitor_ids, None, first, this_hour)
        .await?
    {
        if let Some(hours) = out.get_mut(&r.monitor_id) {
            hours[((r.bucket_start - first) / plan::HOUR) as usize].merge(&r.agg);
        }
    }
    for r in store
        .rollup_rows(
            Tier::Minute,
            monitor_ids,
            None,
            this_hour,
            this_hour + plan::HOUR,
        )
        .await?
    {
        if let Some(hours) = out.get_mut(&r.monitor_id) {
            hours[23].merge(&r.agg);
        }
    }
    Ok(out)
}

/// `--since`: `7d`, `36h`, `90m` before `now`; a UTC date `2026-11-01`; or
/// unix milliseconds.
pub fn parse_since(s: &str, now: i64) -> Result<i64, String> {
    let s = s.trim();
    for (suffix, unit) in [("d", plan::DAY), ("h", plan::HOUR), ("m", plan::MINUTE)] {
        if let Some(n) = s.strip_suffix(suffix) {
            if let Ok(n) = n.parse::<i64>() {
                if (0..=100_000).contains(&n) {
                    return Ok(now - n * unit);
                }
            }
        }
    }
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    let parts: Vec<&str> = s.split('-').collect();
    if let [y, m, d] = parts[..] {
        if let (Ok(y), Ok(m), Ok(d)) = (y.parse::<i64>(), m.parse::<u32>(), d.parse::<u32>()) {
            if (1..=12).contains(&m) && (1..=31).contains(&d) {
                return Ok(openseer_core::calendar::days_from_civil(y, m, d) * plan::DAY);
            }
        }
    }
    Err(format!(
        "{s:?} is not 7d, 36h, 90m, a date like 2026-11-01, or unix milliseconds"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_durations_dates_and_millis() {
        let now = 20_000 * plan::DAY;
        assert_eq!(parse_since("7d", now), Ok(now - 7 * plan::DAY));
        assert_eq!(parse_since("36h", now), Ok(now - 36 * plan::HOUR));
        assert_eq!(parse_since("1970-01-02", now), Ok(plan::DAY));
        assert_eq!(parse_since("12345", now), Ok(12_345));
        assert!(parse_since("yesterday", now).is_err());
        assert!(parse_since("2026-13-01", now).is_err());
    }
}
