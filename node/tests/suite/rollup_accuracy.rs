//! Rollup accuracy: 200,000 synthetic results with a known latency
//! distribution (lognormal plus a slow tail) over 3 regions and 10 days,
//! rolled up the way the Rollup actors do it (minutes as results arrive,
//! hours and days after), then queried over every range and region set.
//! Percentiles must be within 1% of the exact value from the raw data;
//! uptime and counts must be exact. The same again with 5% of the results
//! arriving late, after their buckets were rolled up.

use crate::common;

use std::collections::HashSet;

use common::db::TestDb;
use openseer_core::rollup::plan::{Coverage, Retention, Tier, DAY, HOUR, MINUTE};
use openseer_core::rollup::Aggregate;
use openseer_node::rollup;
use openseer_protocol::Outcome;
use openseer_store::{BucketKey, Store, StoredResult};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const RESULTS: usize = 200_000;
const REGIONS: [&str; 3] = ["ap", "eu", "us"];
const T0: i64 = 1_780_000_000_000 - 1_780_000_000_000 % DAY;
const SPAN: i64 = 10 * DAY;
const NOW: i64 = T0 + SPAN + MINUTE;

struct Sample {
    region: &'static str,
    at: i64,
    outcome: Outcome,
    total_ms: f64,
}

fn synthetic(seed: u64) -> Vec<Sample> {
    let mut rng = StdRng::seed_from_u64(seed);
    let per_region = RESULTS / REGIONS.len() + 1;
    let step = SPAN / per_region as i64;
    let mut out = Vec::with_capacity(RESULTS);
    for i in 0..RESULTS {
        let r = i % REGIONS.len();
        let at = T0 + (i / REGIONS.len()) as i64 * step + r as i64 * 1_000;
        // Lognormal around 120 ms (Box-Muller), 3% slow tail of 2-8 s.
        let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        let mut ms = (120f64.ln() + 0.5 * z).exp();
        if rng.random::<f64>() < 0.03 {
            ms = 2_000.0 + 6_000.0 * rng.random::<f64>();
        }
        let roll: f64 = rng.random();
        let outcome = match roll {
            x if x < 0.010 => Outcome::Down,
            x if x < 0.017 => Outcome::Error,
            x if x < 0.020 => Outcome::Missed,
            _ if ms > 1_500.0 => Outcome::Degraded,
            _ => Outcome::Up,
        };
        out.push(Sample {
            region: REGIONS[r],
            at,
            outcome,
            total_ms: ms,
        });
    }
    out
}

fn stored(monitor_id: i64, s: &Sample) -> StoredResult {
    common::results::stored(monitor_id, s.region, s.at, s.outcome, s.total_ms)
}

/// Writes results in time order, six simulated hours at a time, rolling up
/// minutes after each batch and hours and days every fourth batch, as the
/// actors would; `late` ones are written only at the end.
async fn load(store: &Store, monitor_id: i64, samples: &[Sample], late: &HashSet<usize>) {
    let mut pending_hours = HashSet::new();
    let chunk = 6 * HOUR;
    let mut idx = 0;
    let mut round = 0;
    while idx < samples.len() {
        let end = T0 + (round + 1) * chunk;
        let mut batch = Vec::new();
        while idx < samples.len() && samples[idx].at < end {
            if !late.contains(&idx) {
                batch.push(stored(monitor_id, &samples[idx]));
            }
            idx += 1;
        }
        write_and_roll(store, &batch, &mut pending_hours).await;
        round += 1;
        if round % 4 == 0 {
            flush_upper(store, &mut pending_hours).await;
        }
    }
    flush_upper(store, &mut pending_hours).await;
    let late: Vec<StoredResult> = late
        .iter()
        .map(|&i| stored(monitor_id, &samples[i]))
        .collect();
    for part in late.chunks(2_000) {
        write_and_roll(store, part, &mut pending_hours).await;
    }
    flush_upper(store, &mut pending_hours).await;
}

async fn write_and_roll(
    store: &Store,
    batch: &[StoredResult],
    hours: &mut HashSet<(i64, String, i64)>,
) {
    for part in batch.chunks(2_000) {
        let refs: Vec<&StoredResult> = part.iter().collect();
        store.insert_results(&refs).await.unwrap();
    }
    let dirty: HashSet<BucketKey> = batch
        .iter()
        .map(|s| {
            (
                s.result.monitor_id,
                s.result.region.clone(),
                Tier::Minute.start_of(s.result.scheduled_at_ms),
            )
        })
        .collect();
    hours.extend(rollup::refresh_minutes(store, &dirty).await.unwrap());
}

async fn flush_upper(store: &Store, hours: &mut HashSet<(i64, String, i64)>) {
    let days = rollup::refresh_tier(store, Tier::Hour, hours)
        .await
        .unwrap();
    rollup::refresh_tier(store, Tier::Day, &days).await.unwrap();
    hours.clear();
}

fn exact(samples: &[Sample], regions: &[&str], start: i64, end: i64) -> (Aggregate, Vec<f64>) {
    let mut a = Aggregate::default();
    let mut lat = Vec::new();
    for s in samples
        .iter()
        .filter(|s| s.at >= start && s.at < end && regions.contains(&s.region))
    {
        let sample = openseer_core::rollup::RawSample {
            monitor_id: 1,
            region: s.region.into(),
            scheduled_at: s.at,
            outcome: s.outcome,
            total_ms: Some(s.total_ms),
            phases: None,
        };
        a.add(&sample);
        if let Some(v) = sample.latency() {
            lat.push(v);
        }
    }
    lat.sort_by(f64::total_cmp);
    (a, lat)
}

async fn check_every_range(store: &Store, monitor_id: i64, samples: &[Sample]) {
    let coverage = Coverage::at(NOW, &Retention::default());
    let mut rng = StdRng::seed_from_u64(99);
    let mut ranges: Vec<(String, i64, i64)> = [
        ("1h", HOUR),
        ("24h", DAY),
        ("7d", 7 * DAY),
        ("30d", 30 * DAY),
        ("90d", 90 * DAY),
    ]
    .into_iter()
    .map(|(n, len)| (n.to_string(), NOW - len, NOW))
    .collect();
    for i in 0..6 {
        let s = T0 + rng.random_range(0..SPAN - HOUR);
        let e = s + rng.random_range(HOUR..=SPAN - (s - T0));
        ranges.push((format!("custom{i}"), s, e));
    }
    let region_sets: Vec<Vec<&str>> = (1..8u32)
        .map(|mask| {
            REGIONS
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, r)| *r)
                .collect()
        })
        .collect();
    let mut checked = 0;
    for (name, start, end) in &ranges {
        for regions in &region_sets {
            let owned: Vec<String> = regions.iter().map(|r| r.to_string()).collect();
            let got =
                rollup::summarize(store, &[monitor_id], Some(&owned), *start, *end, &coverage)
                    .await
                    .unwrap();
            let got = got.get(&monitor_id).cloned().unwrap_or_default();
            let (want, lat) = exact(samples, regions, *start, *end);
            let counts = |a: &Aggregate| (a.up, a.degraded, a.down, a.error, a.missed, a.lat_count);
            assert_eq!(counts(&got), counts(&want), "{name} {regions:?}: counts");
            assert_eq!(got.uptime(), want.uptime(), "{name} {regions:?}: uptime");
            for q in [0.5, 0.95, 0.99] {
                let Some(v) = got.percentile(q) else {
                    assert!(lat.is_empty());
                    continue;
                };
                let truth = lat[openseer_core::rollup::sketch::nearest_rank(q, lat.len() as u64)];
                let err = (v - truth).abs() / truth;
                assert!(
                    err <= 0.01,
                    "{name} {regions:?} p{}: {v} vs exact {truth} ({:.3}% off)",
                    q * 100.0,
                    err * 100.0
                );
            }
            let mean_err =
                (got.mean().unwrap() - want.mean().unwrap()).abs() / want.mean().unwrap();
            assert!(mean_err < 1e-9, "{name}: mean");
            checked += 1;
        }
    }
    assert_eq!(checked, ranges.len() * 7);
}

async fn accuracy(store: &Store, late_share: f64) {
    let (_, org_id) = store
        .create_organization(
            "acc",
            openseer_store::NewUser {
                email: "a@example.com",
                name: "A",
                password_hash: "x",
            },
            NOW,
        )
        .await
        .unwrap();
    let input: openseer_protocol::MonitorInput =
        serde_json::from_value(serde_json::json!({"name": "m", "url": "https://example.com/"}))
            .unwrap();
    let m = store
        .create_monitor(org_id, &input.validate().unwrap(), NOW)
        .await
        .unwrap()
        .id;
    let samples = synthetic(7);
    let mut rng = StdRng::seed_from_u64(11);
    let late: HashSet<usize> = (0..samples.len())
        .filter(|_| rng.random::<f64>() < late_share)
        .collect();
    let t = std::time::Instant::now();
    load(store, m, &samples, &late).await;
    eprintln!("loaded and rolled up in {:?}", t.elapsed());
    let t = std::time::Instant::now();
    check_every_range(store, m, &samples).await;
    eprintln!("checked in {:?}", t.elapsed());
    // A rebuild from raw converges on the same rollups.
    let before = store
        .rollup_rows(Tier::Hour, &[m], None, 0, i64::MAX)
        .await
        .unwrap();
    rollup::rebuild(store, T0, NOW, &Retention::default())
        .await
        .unwrap();
    let after = store
        .rollup_rows(Tier::Hour, &[m], None, 0, i64::MAX)
        .await
        .unwrap();
    assert_eq!(before.len(), after.len());
    assert_eq!(
        before.iter().map(|r| r.agg.total()).sum::<i64>(),
        RESULTS as i64
    );
    assert_eq!(
        before.iter().map(|r| r.agg.total()).collect::<Vec<_>>(),
        after.iter().map(|r| r.agg.total()).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn sqlite_in_order() {
    accuracy(&TestDb::sqlite().await.store, 0.0).await;
}

#[tokio::test]
async fn sqlite_with_late_results() {
    accuracy(&TestDb::sqlite().await.store, 0.05).await;
}

#[tokio::test]
async fn postgres_in_order() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    accuracy(&db.store, 0.0).await;
}

#[tokio::test]
async fn postgres_with_late_results() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    accuracy(&db.store, 0.05).await;
}
