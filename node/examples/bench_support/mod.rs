//! Shared by the benchmark examples: synthetic results, fresh PostgreSQL
//! databases, percentiles, and 90 days of a 10-second monitor.

#![allow(dead_code)]

use openseer_core::clock::system_now_ms;
use openseer_core::rollup::plan::{Tier, DAY};
use openseer_node::rollup;
use openseer_protocol::{CheckResult, MonitorInput, Outcome, Timings};
use openseer_store::{NewUser, Store, StoredResult};
use sqlx::Connection;

pub fn result(monitor_id: i64, region: &str, at: i64, ms: f64) -> StoredResult {
    StoredResult {
        result: CheckResult {
            run_id: openseer_protocol::wire::run_id(monitor_id, region, at),
            monitor_id,
            region: region.into(),
            scheduled_at_ms: at,
            started_at_ms: at + 3,
            outcome: if ms > 900.0 {
                Outcome::Degraded
            } else {
                Outcome::Up
            },
            error_kind: None,
            error_message: None,
            status_code: Some(200),
            total_ms: ms,
            body_bytes: 512,
            decoded_bytes: None,
            timings: Some(Timings {
                dns_ms: 0.5,
                connect_ms: 1.0,
                tls_ms: 4.0,
                ttfb_ms: ms - 7.0,
                transfer_ms: 1.5,
            }),
            tls: None,
            redirects: Vec::new(),
            assertions: Vec::new(),
        },
        worker_id: Some(1),
        received_at: at + 50,
    }
}

/// A latency that looks like a real service: mostly 40-120 ms, some slow.
pub fn latency(i: u64) -> f64 {
    let x = openseer_core::schedule::mix(i);
    let u = (x % 10_000) as f64 / 10_000.0;
    if x.is_multiple_of(100) {
        1_000.0 + u * 2_000.0
    } else {
        40.0 + 80.0 * u * u
    }
}

pub async fn fresh(admin: &str, name: &str) -> anyhow::Result<(Store, String)> {
    let mut c = sqlx::PgConnection::connect(admin).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut c)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut c)
        .await?;
    let url = format!(
        "{}/{name}",
        admin.rsplit_once('/').map(|x| x.0).unwrap_or(admin)
    );
    let store = Store::open_url(&url)
        .await?
        .with_secrets_key(&openseer_store::seal::SecretsKey::generate());
    store.migrate().await?;
    Ok((store, url))
}

pub async fn drop_db(admin: &str, name: &str) -> anyhow::Result<()> {
    let mut c = sqlx::PgConnection::connect(admin).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut c)
    .await?;
    Ok(())
}

pub async fn monitors(store: &Store, n: usize) -> anyhow::Result<(i64, Vec<i64>)> {
    let (_, org_id) = store
        .create_organization(
            "bench",
            NewUser {
                email: "bench@example.com",
                name: "b",
                password_hash: "x",
            },
            system_now_ms(),
        )
        .await?;
    let input: MonitorInput =
        serde_json::from_value(serde_json::json!({"name": "m", "url": "https://example.com/"}))?;
    let v = input.validate().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        ids.push(store.create_monitor(org_id, &v, system_now_ms()).await?.id);
    }
    Ok((org_id, ids))
}

pub fn p95(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64) * 0.95).ceil() as usize - 1]
}

/// 90 days of a 10-second monitor in region eu, ending now, rolled up day by
/// day as the Rollup actors would have done it. Returns the raw row count.
pub async fn ninety_days(store: &Store, m: i64, now: i64) -> anyhow::Result<u64> {
    let first = Tier::Day.start_of(now - 90 * DAY);
    let mut raw_rows: u64 = 0;
    let mut day = first;
    while day < now {
        let end = (day + DAY).min(now);
        let batch: Vec<StoredResult> = (0..)
            .map(|k| day + k * 10_000)
            .take_while(|at| *at < end)
            .map(|at| result(m, "eu", at, latency(at as u64 / 10_000)))
            .collect();
        raw_rows += batch.len() as u64;
        for part in batch.chunks(5_000) {
            let refs: Vec<&StoredResult> = part.iter().collect();
            store.insert_results(&refs).await?;
        }
        let dirty = batch
            .iter()
            .map(|s| {
                (
                    m,
                    "eu".to_string(),
                    Tier::Minute.start_of(s.result.scheduled_at_ms),
                )
            })
            .collect();
        rollup::refresh_all(store, &dirty).await?;
        day += DAY;
    }
    Ok(raw_rows)
}

pub fn now_ms() -> i64 {
    system_now_ms()
}
