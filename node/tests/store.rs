//! The store conformance suite: every store operation, run against SQLite
//! and against a fresh PostgreSQL database, with the same assertions.

mod common;

use common::db::TestDb;
use common::results::stored as result;
use openseer_node::rollup::plan::{Tier, DAY, HOUR, MINUTE};
use openseer_node::rollup::{Aggregate, RawSample};
use openseer_node::store::{
    BackendKind, NewUser, Results, RollupRow, Store, StoreError, StoredResult,
};
use openseer_protocol::{MonitorInput, Outcome};

/// Each test, once per backend.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let db = super::TestDb::sqlite().await;
                super::$name(&db.store).await;
            }
            #[tokio::test]
            async fn postgres() {
                let Some(db) = super::TestDb::postgres().await else { return };
                super::$name(&db.store).await;
            }
        }
    )*};
}

conformance!(
    meta_and_schema,
    setup_and_accounts,
    sessions,
    monitors_are_scoped_by_organization,
    tokens_and_workers,
    results_keep_the_first_answer_but_replace_missed,
    rollup_rows_round_trip,
    raw_samples_and_buckets,
    retention_drops_old_raw_and_rollups,
);

const NOW: i64 = 1_780_000_000_000;

fn admin<'a>(email: &'a str) -> NewUser<'a> {
    NewUser {
        email,
        name: "Ada",
        password_hash: "$argon2id$fake",
        role: "admin",
    }
}

async fn org(store: &Store, name: &str) -> (i64, i64) {
    let u = store
        .create_organization(name, admin(&format!("{name}@example.com")), NOW)
        .await
        .unwrap();
    (u.org_id, u.id)
}

fn monitor_input(name: &str) -> MonitorInput {
    serde_json::from_value(serde_json::json!({
        "name": name, "url": "https://example.com/health", "interval_seconds": 30,
        "regions": ["eu", "us"], "assertions": [{"kind": "status", "op": "eq", "value": "200"}]
    }))
    .or_else(|_| serde_json::from_value(serde_json::json!({
        "name": name, "url": "https://example.com/health", "interval_seconds": 30, "regions": ["eu", "us"]
    })))
    .unwrap()
}

async fn insert(store: &Store, rs: &[StoredResult]) {
    let refs: Vec<&StoredResult> = rs.iter().collect();
    store.insert_results(&refs).await.unwrap();
}

async fn meta_and_schema(store: &Store) {
    assert!(store.migrations_current().await.unwrap());
    store.migrate().await.expect("migrating twice is a no-op");
    store.ping().await.unwrap();
    assert_eq!(store.get_meta("k").await.unwrap(), None);
    store.set_meta("k", "v1").await.unwrap();
    store.set_meta("k", "v2").await.unwrap();
    assert_eq!(store.get_meta("k").await.unwrap().as_deref(), Some("v2"));
    store.delete_meta("k").await.unwrap();
    assert_eq!(store.get_meta("k").await.unwrap(), None);
    let backup = tempfile::tempdir().unwrap();
    let copied = store.backup_to(&backup.path().join("b.db")).await;
    match store.kind() {
        BackendKind::Sqlite => copied.unwrap(),
        BackendKind::Postgres => {
            assert!(matches!(copied, Err(StoreError::Config(m)) if m.contains("pg_dump")))
        }
    }
}

async fn setup_and_accounts(store: &Store) {
    assert_eq!(store.user_count().await.unwrap(), 0);
    assert_eq!(store.first_org_id().await.unwrap(), None);
    let a = store
        .create_first_admin("Acme", admin("Ada@Example.com"), NOW)
        .await
        .unwrap();
    assert_eq!(
        (a.org_name.as_str(), a.email.as_str(), a.is_admin()),
        ("Acme", "Ada@Example.com", true)
    );
    let again = store
        .create_first_admin("Evil", admin("eve@example.com"), NOW)
        .await;
    assert!(
        matches!(again, Err(StoreError::Conflict(_))),
        "setup happens once"
    );
    // Emails are unique and found regardless of case.
    let dup = store
        .create_user(
            a.org_id,
            NewUser {
                role: "member",
                ..admin("ada@example.COM")
            },
            NOW,
        )
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(m)) if m.contains("already exists")));
    assert_eq!(
        store
            .user_by_email("ADA@example.com")
            .await
            .unwrap()
            .map(|u| u.id),
        Some(a.id)
    );
    assert_eq!(
        store
            .user_by_email("nobody@example.com")
            .await
            .unwrap()
            .map(|u| u.id),
        None
    );
    let m = store
        .create_user(
            a.org_id,
            NewUser {
                role: "member",
                ..admin("bob@example.com")
            },
            NOW,
        )
        .await
        .unwrap();
    assert!(!m.is_admin());
    let (other, _) = org(store, "other").await;
    assert_eq!(
        store
            .users_of_org(a.org_id)
            .await
            .unwrap()
            .iter()
            .map(|u| u.email.as_str())
            .collect::<Vec<_>>(),
        ["Ada@Example.com", "bob@example.com"]
    );
    assert_eq!(store.users_of_org(other).await.unwrap().len(), 1);
    assert_eq!(store.user_by_id(m.id).await.unwrap().org_name, "Acme");
    assert!(matches!(
        store.user_by_id(9_999).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.first_org_id().await.unwrap(), Some(a.org_id));
    assert_eq!(store.user_count().await.unwrap(), 3);
}

async fn sessions(store: &Store) {
    let (_, user) = org(store, "s").await;
    store
        .session_save("h1", "{}", None, NOW + 1_000)
        .await
        .unwrap();
    assert_eq!(
        store.session_load("h1", NOW).await.unwrap().as_deref(),
        Some("{}")
    );
    assert_eq!(
        store.session_load("h1", NOW + 1_000).await.unwrap(),
        None,
        "expired"
    );
    assert!(store
        .session_update("h1", "{\"a\":1}", Some(user), NOW + 5_000, NOW)
        .await
        .unwrap());
    assert!(!store
        .session_update("nope", "{}", None, NOW + 5_000, NOW)
        .await
        .unwrap());
    store.session_touch("h1", NOW + 9_000).await.unwrap();
    assert_eq!(
        store
            .session_load("h1", NOW + 8_000)
            .await
            .unwrap()
            .as_deref(),
        Some("{\"a\":1}")
    );
    store.session_save("h2", "{}", None, NOW).await.unwrap();
    assert_eq!(store.sessions_purge_expired(NOW + 1).await.unwrap(), 1);
    store.session_delete("h1").await.unwrap();
    assert_eq!(store.session_load("h1", NOW).await.unwrap(), None);
}

async fn monitors_are_scoped_by_organization(store: &Store) {
    let (a, _) = org(store, "a").await;
    let (b, _) = org(store, "b").await;
    let v = monitor_input("beta").validate().unwrap();
    let m1 = store.create_monitor(a, &v, NOW).await.unwrap();
    let m2 = store
        .create_monitor(a, &monitor_input("Alpha").validate().unwrap(), NOW)
        .await
        .unwrap();
    assert_eq!(m1.regions, ["eu", "us"]);
    assert_eq!(
        m1.to_input().validate().unwrap(),
        v,
        "stored monitors round-trip"
    );
    assert!(matches!(
        store.monitor(b, m1.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.update_monitor(b, m1.id, &v, NOW).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_monitor(b, m1.id).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store
            .monitors(a)
            .await
            .unwrap()
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>(),
        ["Alpha", "beta"]
    );
    assert!(store.monitors(b).await.unwrap().is_empty());
    let list = store.monitor_list(a).await.unwrap();
    assert_eq!(
        list.iter()
            .map(|m| (m.name.as_str(), m.regions.len(), m.enabled))
            .collect::<Vec<_>>(),
        [("Alpha", 2, true), ("beta", 2, true)]
    );
    assert!(store.monitor_list(b).await.unwrap().is_empty());
    let mut edited = monitor_input("beta2");
    edited.interval_seconds = 60;
    let e = store
        .update_monitor(a, m1.id, &edited.validate().unwrap(), NOW + 1)
        .await
        .unwrap();
    assert_eq!(
        (e.name.as_str(), e.interval_seconds, e.updated_at),
        ("beta2", 60, NOW + 1)
    );
    let paused = store
        .set_monitor_enabled(a, m2.id, false, NOW + 2)
        .await
        .unwrap();
    assert!(!paused.enabled);
    assert_eq!(
        store
            .enabled_monitors()
            .await
            .unwrap()
            .iter()
            .map(|m| m.id)
            .collect::<Vec<_>>(),
        [m1.id]
    );
    assert_eq!(
        store
            .monitor_any_org(m2.id)
            .await
            .unwrap()
            .map(|m| m.org_id),
        Some(a)
    );
    let mut orgs = store.monitor_orgs(&[m1.id, m2.id, 12_345]).await.unwrap();
    orgs.sort();
    assert_eq!(orgs, [(m1.id, a), (m2.id, a)]);
    insert(
        store,
        &[
            result(m1.id, "eu", NOW, Outcome::Up, 40.0),
            result(m1.id, "eu", NOW + 30_000, Outcome::Down, 50.0),
            result(m1.id, "us", NOW, Outcome::Up, 60.0),
        ],
    )
    .await;
    let mut st = store.latest_statuses(a).await.unwrap();
    st.sort_by(|x, y| x.region.cmp(&y.region));
    assert_eq!(
        st.iter()
            .map(|s| (s.region.as_str(), s.outcome.as_str()))
            .collect::<Vec<_>>(),
        [("eu", "down"), ("us", "up")]
    );
    assert_eq!(
        st[0].since,
        NOW + 30_000,
        "down since its first down result"
    );
    assert!(store.latest_statuses(b).await.unwrap().is_empty());
    // An older result arriving late does not replace the latest; another
    // down result keeps `since`; a real result replaces a missed one.
    insert(
        store,
        &[
            result(m1.id, "eu", NOW - 30_000, Outcome::Up, 1.0),
            result(m1.id, "eu", NOW + 60_000, Outcome::Down, 1.0),
            result(m1.id, "us", NOW + 30_000, Outcome::Missed, 0.0),
        ],
    )
    .await;
    insert(
        store,
        &[result(m1.id, "us", NOW + 30_000, Outcome::Up, 5.0)],
    )
    .await;
    let mut st = store.latest_statuses(a).await.unwrap();
    st.sort_by(|x, y| x.region.cmp(&y.region));
    assert_eq!(
        st.iter()
            .map(|s| (s.outcome.as_str(), s.scheduled_at, s.since))
            .collect::<Vec<_>>(),
        [
            ("down", NOW + 60_000, NOW + 30_000),
            ("up", NOW + 30_000, NOW + 30_000)
        ]
    );
    store.delete_monitor(a, m1.id).await.unwrap();
    assert_eq!(
        store.count_results(m1.id).await.unwrap(),
        0,
        "results go with their monitor"
    );
    assert_eq!(store.monitor_any_org(m1.id).await.unwrap(), None);
}

async fn tokens_and_workers(store: &Store) {
    let (a, ua) = org(store, "a").await;
    let (b, _) = org(store, "b").await;
    let t = store
        .create_api_token(a, ua, "ci", "hash-1", NOW)
        .await
        .unwrap();
    assert_eq!(store.api_token_user("hash-1", NOW).await.unwrap(), Some(ua));
    assert!(
        store
            .create_api_token(a, ua, "dup", "hash-1", NOW)
            .await
            .is_err(),
        "token hashes are unique"
    );
    assert_eq!(store.api_tokens_of_user(ua).await.unwrap()[0].name, "ci");
    store.revoke_api_token(ua, t, NOW).await.unwrap();
    assert_eq!(
        store.api_token_user("hash-1", NOW).await.unwrap(),
        None,
        "revoked"
    );
    let e = store
        .create_enrollment_token(a, "fleet", "enroll-1", NOW)
        .await
        .unwrap();
    assert_eq!(store.enrollment_tokens(a).await.unwrap().len(), 1);
    assert!(store.enrollment_tokens(b).await.unwrap().is_empty());
    let (w, worg) = store
        .enroll_worker("enroll-1", "w1", "eu", "0.1", "http", "wtok-1", NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(worg, a);
    let auth = store.worker_by_token("wtok-1").await.unwrap().unwrap();
    assert_eq!(
        (auth.worker_id, auth.org_id, auth.region.as_str()),
        (w, a, "eu")
    );
    store.workers_seen(&[(w, NOW + 50)]).await.unwrap();
    store.workers_seen(&[(w, NOW + 10)]).await.unwrap();
    assert_eq!(
        store.workers(a).await.unwrap()[0].last_seen_at,
        NOW + 50,
        "last seen never goes back"
    );
    assert!(
        matches!(
            store.revoke_worker(b, w, NOW).await,
            Err(StoreError::NotFound)
        ),
        "other organization"
    );
    store.revoke_worker(a, w, NOW).await.unwrap();
    assert_eq!(store.worker_by_token("wtok-1").await.unwrap(), None);
    assert!(matches!(
        store.revoke_enrollment_token(b, e, NOW).await,
        Err(StoreError::NotFound)
    ));
    store.revoke_enrollment_token(a, e, NOW).await.unwrap();
    assert_eq!(
        store
            .enroll_worker("enroll-1", "w2", "eu", "0.1", "http", "wtok-2", NOW)
            .await
            .unwrap(),
        None
    );
}

async fn results_keep_the_first_answer_but_replace_missed(store: &Store) {
    let (a, _) = org(store, "a").await;
    let m = store
        .create_monitor(a, &monitor_input("m").validate().unwrap(), NOW)
        .await
        .unwrap()
        .id;
    let missed = result(m, "eu", NOW, Outcome::Missed, 0.0);
    let real = result(m, "eu", NOW, Outcome::Up, 42.0);
    let other = result(m, "eu", NOW, Outcome::Down, 99.0);
    insert(store, std::slice::from_ref(&missed)).await;
    insert(store, &[real.clone(), other.clone()]).await;
    insert(store, &[missed]).await;
    let rows = store.recent_results(a, m, 10).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].outcome.as_str(), rows[0].total_ms),
        ("up", Some(42.0))
    );
    assert_eq!(rows[0].timings.as_ref().map(|t| t.ttfb_ms), Some(35.0));
    // Within one batch the same rules hold.
    let later = NOW + 30_000;
    insert(
        store,
        &[
            result(m, "us", later, Outcome::Missed, 0.0),
            result(m, "us", later, Outcome::Degraded, 7.0),
            result(m, "us", later, Outcome::Up, 8.0),
        ],
    )
    .await;
    let rows = store.recent_results(a, m, 10).await.unwrap();
    assert_eq!(
        (rows[0].region.as_str(), rows[0].outcome.as_str()),
        ("us", "degraded")
    );
    assert_eq!(store.count_results(m).await.unwrap(), 2);
    let (b, _) = org(store, "b").await;
    assert!(
        store.recent_results(b, m, 10).await.unwrap().is_empty(),
        "other organization"
    );
}

fn agg(samples: &[(Outcome, f64)]) -> Aggregate {
    let mut a = Aggregate::default();
    for (o, v) in samples {
        a.add(&RawSample {
            monitor_id: 1,
            region: "eu".into(),
            scheduled_at: 0,
            outcome: *o,
            total_ms: Some(*v),
            phases: Some([1.0, 2.0, 3.0, 4.0, 5.0]),
        });
    }
    a
}

async fn rollup_rows_round_trip(store: &Store) {
    let (a, _) = org(store, "a").await;
    let m = store
        .create_monitor(a, &monitor_input("m").validate().unwrap(), NOW)
        .await
        .unwrap()
        .id;
    let row = |region: &str, tier, start, agg| RollupRow {
        monitor_id: m,
        region: region.into(),
        tier,
        bucket_start: start,
        agg,
    };
    let a1 = agg(&[
        (Outcome::Up, 10.0),
        (Outcome::Down, 30.0),
        (Outcome::Error, 0.0),
    ]);
    let a2 = agg(&[(Outcome::Degraded, 900.0)]);
    let rows = vec![
        row("eu", Tier::Minute, 0, a1.clone()),
        row("us", Tier::Minute, 0, a2.clone()),
        row("eu", Tier::Hour, 0, a1.clone()),
    ];
    store.replace_rollups(&rows, &[]).await.unwrap();
    let mut back = store
        .rollup_rows(Tier::Minute, &[m], None, 0, MINUTE)
        .await
        .unwrap();
    back.sort_by(|x, y| x.region.cmp(&y.region));
    assert_eq!(back, rows[..2]);
    let eu = store
        .rollup_rows(Tier::Minute, &[m], Some(&["eu".to_string()]), 0, MINUTE)
        .await
        .unwrap();
    assert_eq!(eu, rows[..1]);
    // Replacing a bucket overwrites it; an empty bucket is removed.
    store
        .replace_rollups(
            &[row("eu", Tier::Minute, 0, a2.clone())],
            &[(m, "us".into(), Tier::Minute, 0)],
        )
        .await
        .unwrap();
    let back = store
        .rollup_rows(Tier::Minute, &[m], None, 0, MINUTE)
        .await
        .unwrap();
    assert_eq!(back, [row("eu", Tier::Minute, 0, a2)]);
    assert_eq!(
        store
            .rollup_rows(Tier::Hour, &[m], None, 0, HOUR)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.rollup_progress().await.unwrap(), None);
    store.set_rollup_progress(3, 500).await.unwrap();
    store.set_rollup_progress(4, 200).await.unwrap();
    store.set_rollup_progress(4, 300).await.unwrap();
    assert_eq!(store.rollup_progress().await.unwrap(), Some(300));
    assert_eq!(store.delete_minute_rollups_since(0).await.unwrap(), 1);
}

async fn raw_samples_and_buckets(store: &Store) {
    let (a, _) = org(store, "a").await;
    let m = store
        .create_monitor(a, &monitor_input("m").validate().unwrap(), NOW)
        .await
        .unwrap()
        .id;
    let t0 = Tier::Minute.start_of(NOW);
    insert(
        store,
        &[
            result(m, "eu", t0, Outcome::Up, 20.0),
            result(m, "us", t0 + 1_000, Outcome::Error, 5_000.0),
            result(m, "eu", t0 + MINUTE, Outcome::Up, 25.0),
        ],
    )
    .await;
    let s = store
        .raw_samples(&[m], None, t0, t0 + MINUTE)
        .await
        .unwrap();
    assert_eq!(s.len(), 2);
    let eu = store
        .raw_samples(&[m], Some(&["eu".to_string()]), t0, t0 + 2 * MINUTE)
        .await
        .unwrap();
    assert_eq!(
        eu.iter().map(|x| x.total_ms).collect::<Vec<_>>(),
        [Some(20.0), Some(25.0)]
    );
    assert_eq!(eu[0].phases, Some([1.0, 2.0, 3.0, 13.0, 1.0]));
    let keys = store
        .buckets_of_results(Results::ReceivedAfter(t0 + 1_050))
        .await
        .unwrap();
    let mut keys: Vec<_> = keys.into_iter().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            (m, "eu".to_string(), t0 + MINUTE),
            (m, "us".to_string(), t0)
        ]
    );
    assert_eq!(
        store
            .buckets_of_results(Results::ScheduledFrom(t0))
            .await
            .unwrap()
            .len(),
        3
    );
}

async fn retention_drops_old_raw_and_rollups(store: &Store) {
    let (a, _) = org(store, "a").await;
    let m = store
        .create_monitor(a, &monitor_input("m").validate().unwrap(), NOW)
        .await
        .unwrap()
        .id;
    let today = Tier::Day.start_of(NOW);
    let mut rs = Vec::new();
    for day in 0..20 {
        for i in 0..3 {
            rs.push(result(
                m,
                "eu",
                today - day * DAY + i * HOUR,
                Outcome::Up,
                10.0,
            ));
        }
    }
    insert(store, &rs).await;
    let rows: Vec<RollupRow> = (0..40)
        .map(|d| RollupRow {
            monitor_id: m,
            region: "eu".into(),
            tier: Tier::Day,
            bucket_start: today - d * DAY,
            agg: agg(&[(Outcome::Up, 1.0)]),
        })
        .chain((0..40).map(|d| RollupRow {
            monitor_id: m,
            region: "eu".into(),
            tier: Tier::Minute,
            bucket_start: today - d * DAY,
            agg: agg(&[(Outcome::Up, 1.0)]),
        }))
        .collect();
    store.replace_rollups(&rows, &[]).await.unwrap();
    let horizon = today - 14 * DAY;
    let (dropped, deleted) = store.expire_raw(horizon).await.unwrap();
    match store.kind() {
        BackendKind::Postgres => {
            assert_eq!(
                (dropped, deleted),
                (5, 0),
                "five whole day partitions end by the horizon"
            );
            assert!(store
                .partitions()
                .await
                .unwrap()
                .iter()
                .all(|d| *d >= horizon));
        }
        BackendKind::Sqlite => assert_eq!((dropped, deleted), (0, 15)),
    }
    let kept = store.raw_samples(&[m], None, 0, i64::MAX).await.unwrap();
    assert_eq!(
        kept.len(),
        15 * 3,
        "the horizon's day and after are untouched"
    );
    assert!(kept.iter().all(|s| s.scheduled_at >= horizon));
    assert_eq!(
        store
            .expire_rollups(Tier::Minute, today - 30 * DAY)
            .await
            .unwrap(),
        9
    );
    assert_eq!(
        store
            .rollup_rows(Tier::Minute, &[m], None, 0, i64::MAX)
            .await
            .unwrap()
            .len(),
        31
    );
    assert_eq!(
        store
            .rollup_rows(Tier::Day, &[m], None, 0, i64::MAX)
            .await
            .unwrap()
            .len(),
        40,
        "day rollups of dropped raw data stay"
    );
    // A result for a day whose partition was dropped still lands (its
    // partition is made again) rather than failing the batch.
    insert(
        store,
        &[result(m, "eu", today - 19 * DAY, Outcome::Up, 1.0)],
    )
    .await;
    // Expiring is idempotent.
    let again = store.expire_raw(horizon).await.unwrap();
    assert_eq!(again.1 + again.0, 1);
}
