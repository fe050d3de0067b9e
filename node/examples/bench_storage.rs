//! `ops/bench.sh storage`: the storage figures on PostgreSQL.
//!
//! (a) ingest: results per second through the Ingest actor, each batch
//!     acknowledged only after its commit (64 submitters, 50 results each,
//!     as workers submit), with the Rollup actors running;
//! (b) the queries behind a monitor page (uptime 24h/7d/30d/90d and a
//!     90-day latency series with percentiles) for a monitor with 90 days of
//!     10-second data, rolled up and with raw retention applied: p95;
//! (c) bytes on disk per million raw results and per monitor-day of rollups.
//!
//! Usage: bench_storage ADMIN_DATABASE_URL [INGEST_SECONDS]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use openseer_core::clock::{system_now_ms, SystemClock};
use openseer_core::leases::LeaseConfig;
use openseer_core::rollup::plan::{Coverage, Tier, DAY};
use openseer_node::actors::Actors;
use openseer_node::rollup::{self};
use openseer_store::{Store, StoredResult};

mod bench_support;
use bench_support::{drop_db, fresh, latency, monitors, p95, result};

async fn ingest(admin: &str, seconds: u64) -> anyhow::Result<()> {
    let (store, _) = fresh(admin, "openseer_bench_ingest").await?;
    let (org_id, ids) = monitors(&store, 1_000).await?;
    let actors = Actors::start(
        store.clone(),
        Arc::new(SystemClock),
        LeaseConfig::default(),
        openseer_node::actors::maintenance::Keep::default(),
        60_000,
        openseer_node::actors::Membership::Alone,
        openseer_node::actors::NotifySetup {
            public_url: None,
            block_private: false,
            tuning: Default::default(),
        },
    )
    .await?;
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let base = Tier::Minute.start_of(system_now_ms()) - DAY;
    let mut tasks = Vec::new();
    for t in 0..64u64 {
        let (actors, ids, done) = (actors.clone(), ids.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let mut tick = 0i64;
            while Instant::now() < deadline {
                let items: Vec<StoredResult> = (0..50)
                    .map(|k| {
                        let m = ids[((t * 50 + k) as usize) % ids.len()];
                        let region = ["eu", "us", "ap", "sa"][(t % 4) as usize];
                        // Every (submitter, slot, tick) is a distinct run.
                        let at = base + tick * 10_000 + (t / 4 * 50 + k) as i64;
                        result(m, region, at, latency(t * 1_000_003 + tick as u64 * 50 + k))
                    })
                    .collect();
                let n = items.len() as u64;
                match actors.write_results(items, org_id).await {
                    Ok(_) => done.fetch_add(n, Ordering::Relaxed),
                    other => panic!("ingest failed: {other:?}"),
                };
                tick += 1;
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let secs = start.elapsed().as_secs_f64();
    let n = done.load(Ordering::Relaxed);
    println!(
        "ingest_results_per_second: {:.0} results/s",
        n as f64 / secs
    );
    println!("ingest_results_total: {n} results");
    actors.stop().await;
    store.close().await;
    drop_db(admin, "openseer_bench_ingest").await
}

async fn monitor_page(admin: &str) -> anyhow::Result<()> {
    let (store, _) = fresh(admin, "openseer_bench_page").await?;
    let (_, ids) = monitors(&store, 1).await?;
    let m = ids[0];
    let now = system_now_ms();
    let loaded = Instant::now();
    let raw_rows = bench_support::ninety_days(&store, m, now).await?;
    eprintln!(
        "loaded {raw_rows} results and their rollups in {:.0?}",
        loaded.elapsed()
    );
    let keep = openseer_node::actors::maintenance::Keep::default();
    let expired = openseer_node::actors::maintenance::run_once(&store, now, &keep).await?;
    eprintln!("retention: {expired:?}");

    // (c) sizes, from the partitions and rollups that remain.
    let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM results_raw")
        .fetch_one(&pg(&store)?)
        .await?;
    let raw_bytes: i64 = sqlx::query_scalar(
        "SELECT COALESCE(SUM(pg_total_relation_size(inhrelid)), 0)::int8 FROM pg_inherits WHERE inhparent = 'results_raw'::regclass",
    )
    .fetch_one(&pg(&store)?)
    .await?;
    // Measure live rows, not the dead versions the loading churn left behind.
    sqlx::query("VACUUM FULL rollups")
        .execute(&pg(&store)?)
        .await?;
    let rollup_bytes: i64 = sqlx::query_scalar("SELECT pg_total_relation_size('rollups')::int8")
        .fetch_one(&pg(&store)?)
        .await?;
    let rollup_rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rollups")
        .fetch_one(&pg(&store)?)
        .await?;
    let per_row = rollup_bytes as f64 / rollup_rows as f64;
    println!(
        "raw_bytes_per_million_results: {:.0} bytes",
        raw_bytes as f64 / kept as f64 * 1e6
    );
    println!("rollup_bytes_per_row: {per_row:.0} bytes");
    // One monitor-day in one region is 1440 minute rows, 24 hour rows, 1 day row.
    println!(
        "rollup_bytes_per_monitor_day_minute_tier: {:.0} bytes",
        per_row * 1440.0
    );
    println!(
        "rollup_bytes_per_monitor_day_hour_tier: {:.0} bytes",
        per_row * 24.0
    );
    println!(
        "rollup_bytes_per_monitor_day_day_tier: {:.0} bytes",
        per_row
    );
    println!(
        "rollup_bytes_per_monitor_day_all_tiers: {:.0} bytes",
        per_row * 1465.0
    );

    // (b) the monitor page's queries.
    let coverage = Coverage::at(now, &keep.data);
    let mut page = Vec::new();
    let mut uptime_q = Vec::new();
    let mut series_q = Vec::new();
    for i in 0..120 {
        let t = Instant::now();
        for range in [DAY, 7 * DAY, 30 * DAY, 90 * DAY] {
            let u = Instant::now();
            let s = rollup::summarize(&store, &[m], None, now - range, now, &coverage).await?;
            assert!(s[&m].uptime().is_some());
            uptime_q.push(u.elapsed().as_secs_f64() * 1e3);
        }
        let u = Instant::now();
        let (_, points) =
            rollup::series(&store, m, None, now - 90 * DAY, now, 90, &coverage).await?;
        assert!(points.iter().filter_map(|p| p.percentile(0.95)).count() >= 89);
        series_q.push(u.elapsed().as_secs_f64() * 1e3);
        if i >= 20 {
            page.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    println!("monitor_page_queries_p95: {:.1} ms", p95(page));
    println!("uptime_query_p95: {:.1} ms", p95(uptime_q));
    println!("latency_series_90d_p95: {:.1} ms", p95(series_q));
    store.close().await;
    drop_db(admin, "openseer_bench_page").await
}

/// A plain pool on the same database, for the size queries.
fn pg(store: &Store) -> anyhow::Result<sqlx::PgPool> {
    store
        .postgres_pool()
        .ok_or_else(|| anyhow::anyhow!("the storage bench needs PostgreSQL"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let admin = args
        .next()
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let seconds = args.next().and_then(|s| s.parse().ok()).unwrap_or(15);
    ingest(&admin, seconds).await?;
    monitor_page(&admin).await
}
