//! The cluster, as processes: three `openseer serve` nodes sharing one
//! PostgreSQL, workers pointed at single nodes, nodes killed with SIGKILL,
//! frozen with SIGSTOP and restarted. Every test waits on state (results in
//! the database, the raft view) rather than sleeping for fixed times, except
//! where the passing of time is the point (an observation window).

use crate::common;

use std::collections::HashMap;
use std::time::Duration;

use common::cluster::{Haproxy, TestCluster};
use common::{wait_for, Browser, Target, PASSWORD};
use openseer_core::clock::system_now_ms;
use sqlx::Row;

/// A cluster test: one at a time, and a hung one fails (keeping its nodes'
/// logs) instead of hanging the suite.
async fn bounded(test: impl std::future::Future<Output = ()> + Send + 'static) {
    common::heavy(Duration::from_secs(180), test).await;
}

/// The failover window the issue aims for: the largest gap between two
/// stored checks of a monitor in a region when a node dies.
const FAILOVER_WINDOW_MS: i64 = 5_000;

/// An organization with an administrator, made in the database (as setup
/// would), then signed in through `base`.
async fn admin(c: &TestCluster, base: &str) -> Browser {
    let store = openseer_store::Store::open_url(&c.db_url).await.unwrap();
    let hash = openseer_node::auth::password::hash(PASSWORD).unwrap();
    store
        .create_organization(
            "Acme",
            openseer_store::NewUser {
                email: "admin@example.com",
                name: "Admin",
                password_hash: &hash,
            },
            system_now_ms(),
        )
        .await
        .unwrap();
    store.close().await;
    let b = Browser::at(base);
    assert_eq!(b.login("admin@example.com", PASSWORD).await, 303);
    b
}

async fn enrollment_token(admin: &Browser) -> String {
    let (_, page) = admin.get("/workers").await;
    let (status, page) = admin
        .post_form(
            "/workers/enrollment-tokens",
            &[("_csrf", &common::csrf_of(&page)), ("name", "cluster")],
        )
        .await;
    assert_eq!(status, 200);
    common::extract_token(&page, "ostc_")
}

/// Creates `n` monitors at 1 s in `regions` through the JSON API of
/// whichever node `admins` rotate over.
async fn monitors(admins: &[&Browser], target: &str, n: usize, regions: &[&str]) -> Vec<i64> {
    let mut ids = Vec::with_capacity(n);
    let mut csrfs = Vec::new();
    for a in admins {
        csrfs.push(a.csrf().await);
    }
    for i in 0..n {
        let (a, csrf) = (admins[i % admins.len()], &csrfs[i % admins.len()]);
        let r = a
            .http
            .post(format!("{}/api/v1/monitors", a.base))
            .header("X-CSRF-Token", csrf)
            .json(&serde_json::json!({
                "name": format!("m{i}"),
                "url": target,
                "interval_seconds": 1,
                "timeout_ms": 900,
                "regions": regions,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        let v: serde_json::Value = r.json().await.unwrap();
        ids.push(v["id"].as_i64().unwrap());
    }
    ids
}

fn worker(servers: Vec<String>, region: &str, token: &str) -> common::RunningWorker {
    let dir = tempfile::tempdir().unwrap();
    let mut config = openseer_worker::WorkerConfig::new(servers, region, dir.path().to_path_buf());
    config.enroll_token = Some(token.to_string());
    config.poll_wait = Duration::from_secs(2);
    config.concurrency = 256;
    let (tx, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(openseer_worker::run(config, rx));
    common::RunningWorker::new(tx, task, dir)
}

/// Checks stored (not `missed`) per (monitor, region), scheduled in [from, to).
async fn checks(db: &str, from: i64, to: i64) -> HashMap<(i64, String), Vec<i64>> {
    let pool = sqlx::PgPool::connect(db).await.unwrap();
    let rows = sqlx::query(
        "SELECT monitor_id, region, scheduled_at FROM results_raw
         WHERE scheduled_at >= $1 AND scheduled_at < $2 AND outcome <> 'missed'
         ORDER BY scheduled_at",
    )
    .bind(from)
    .bind(to)
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    let mut out: HashMap<(i64, String), Vec<i64>> = HashMap::new();
    for r in rows {
        out.entry((r.get(0), r.get(1))).or_default().push(r.get(2));
    }
    out
}

/// (outcome, error kind, count) in [from, to), for failure messages.
async fn outcomes(db: &str, from: i64, to: i64) -> Vec<(String, Option<String>, i64)> {
    let pool = sqlx::PgPool::connect(db).await.unwrap();
    let rows = sqlx::query_as(
        "SELECT outcome, error_kind, COUNT(*) FROM results_raw
         WHERE scheduled_at >= $1 AND scheduled_at < $2 GROUP BY 1, 2 ORDER BY 3 DESC",
    )
    .bind(from)
    .bind(to)
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    rows
}

/// No (monitor, region, tick) twice among everything stored.
async fn assert_no_tick_twice(db: &str) {
    let pool = sqlx::PgPool::connect(db).await.unwrap();
    let dupes: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT monitor_id, region, scheduled_at FROM results_raw
         GROUP BY 1, 2, 3 HAVING COUNT(*) > 1) d",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert_eq!(dupes, 0, "a (monitor, region, tick) was stored twice");
}

/// The largest gap between consecutive stored ticks of any (monitor,
/// region) in [from, to), counting the window's edges as ticks: its length
/// and (monitor, region, where it starts relative to `from`).
fn largest_gap(
    by_key: &HashMap<(i64, String), Vec<i64>>,
    keys: &[(i64, String)],
    from: i64,
    to: i64,
) -> (i64, (i64, String, i64)) {
    let mut worst = (0, (keys[0].0, keys[0].1.clone(), 0));
    for k in keys {
        let ticks = by_key.get(k).cloned().unwrap_or_default();
        let mut last = from;
        for t in ticks.iter().copied().chain([to]) {
            if t - last > worst.0 {
                worst = (t - last, (k.0, k.1.clone(), last - from));
            }
            last = t;
        }
    }
    worst
}

fn keys(ids: &[i64], regions: &[&str]) -> Vec<(i64, String)> {
    ids.iter()
        .flat_map(|id| regions.iter().map(move |r| (*id, r.to_string())))
        .collect()
}

/// Waits until every (monitor, region) has a stored check scheduled after `since`.
async fn wait_all_checked(c: &TestCluster, keys: &[(i64, String)], since: i64, limit: Duration) {
    wait_for(
        limit,
        "a check of every monitor in every region",
        || async {
            let got = checks(&c.db_url, since, i64::MAX).await;
            keys.iter().all(|k| got.contains_key(k)).then_some(())
        },
    )
    .await;
}

/// A dashboard's live stream (`/events`): the node that serves it, and the
/// chunks that arrive on it (`None` once it ended).
struct Live {
    node: u64,
    rx: tokio::sync::mpsc::UnboundedReceiver<Option<String>>,
}

/// `None` when the stream could not be opened (a node dying under the load
/// balancer may answer an error once).
async fn open_live(http: &reqwest::Client, base: &str) -> Option<Live> {
    let r = http.get(format!("{base}/events")).send().await.ok()?;
    if r.status() != 200 {
        return None;
    }
    let node = r
        .headers()
        .get("x-openseer-node")?
        .to_str()
        .ok()?
        .parse()
        .ok()?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut r = r;
        while let Ok(Some(chunk)) = r.chunk().await {
            let _ = tx.send(Some(String::from_utf8_lossy(&chunk).to_string()));
        }
        let _ = tx.send(None);
    });
    Some(Live { node, rx })
}

/// What a live stream did within a time limit.
#[derive(Debug, PartialEq)]
enum Seen {
    Wanted,
    Ended,
    Nothing,
}

impl Live {
    /// Reads until a chunk `wanted` accepts, the end of the stream, or `limit`.
    async fn watch(&mut self, limit: Duration, wanted: impl Fn(&str) -> bool) -> Seen {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Err(_) => return Seen::Nothing,
                Ok(None | Some(None)) => return Seen::Ended,
                Ok(Some(Some(chunk))) if wanted(&chunk) => return Seen::Wanted,
                Ok(Some(Some(_))) => {}
            }
        }
    }

    /// The next monitor status event, within `limit`.
    async fn status_event(&mut self, limit: Duration) -> Result<(), Seen> {
        match self.watch(limit, |c| c.contains("event: m")).await {
            Seen::Wanted => Ok(()),
            other => Err(other),
        }
    }

    /// Whether the stream ends within `limit`.
    async fn ends_within(&mut self, limit: Duration) -> bool {
        self.watch(limit, |_| false).await == Seen::Ended
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_check_every_monitor_in_every_region_with_each_worker_on_one_node() {
    bounded(three_nodes_check_every_monitor_in_every_region_with_each_worker_on_one_node_body())
        .await;
}

async fn three_nodes_check_every_monitor_in_every_region_with_each_worker_on_one_node_body() {
    let Some(c) = TestCluster::start_with(3, |_| {
        vec![("OPENSEER_METRICS_TOKEN".into(), METRICS_TOKEN.into())]
    })
    .await
    else {
        return;
    };
    let bases = c.bases();
    let a1 = admin(&c, &bases[0]).await;
    // The session cookie from node 1 is good on nodes 2 and 3.
    let a2 = Browser {
        http: a1.http.clone(),
        base: bases[1].clone(),
    };
    let a3 = Browser {
        http: a1.http.clone(),
        base: bases[2].clone(),
    };
    assert_eq!(a2.get("/").await.0, 200, "signed in on node 2 too");
    let target = Target::start().await;
    let regions = ["eu", "us"];
    let n: usize = std::env::var("OPENSEER_CLUSTER_MONITORS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let ids = monitors(&[&a1, &a2, &a3], &target.url, n, &regions).await;
    let token = enrollment_token(&a3).await;
    // Each worker reaches one node only; node 3 has none, so the jobs of
    // its shards must travel between nodes.
    let w_eu = worker(vec![bases[0].clone()], "eu", &token);
    let w_us = worker(vec![bases[1].clone()], "us", &token);
    let keys = keys(&ids, &regions);
    eprintln!("{n} monitors created; waiting for checks");
    wait_all_checked(&c, &keys, system_now_ms(), Duration::from_secs(30)).await;
    eprintln!("every monitor checked in every region");
    // No worker submits to node 3, yet a dashboard open on node 3 sees the
    // results live: the other nodes' live events reach its Sessions.
    let mut live = open_live(&a3.http, &bases[2])
        .await
        .expect("a stream on node 3");
    assert_eq!(live.node, 3);
    live.status_event(Duration::from_secs(5))
        .await
        .expect("a live event on node 3 from results ingested on nodes 1 and 2");
    drop(live);

    // Over 5 whole seconds, every monitor is checked in every region every second.
    let from = (system_now_ms() / 1000 + 1) * 1000;
    let to = from + 5_000;
    wait_for(Duration::from_secs(20), "the window's checks", || async {
        (system_now_ms() > to + 3_000).then_some(())
    })
    .await;
    let got = checks(&c.db_url, from, to).await;
    let mut short = Vec::new();
    for k in &keys {
        let n = got.get(k).map_or(0, Vec::len);
        if n != 5 {
            short.push((k.clone(), n));
        }
    }
    assert!(
        short.is_empty(),
        "{} of {} (monitor, region) pairs were not checked every second: {:?}; outcomes: {:?}",
        short.len(),
        keys.len(),
        &short[..short.len().min(10)],
        outcomes(&c.db_url, from, to).await
    );
    // The three nodes each scheduled a share.
    let counts = c.shard_counts().await;
    assert_eq!(counts.len(), 3, "{counts:?}");
    assert_no_tick_twice(&c.db_url).await;
    cluster_metrics_agree(&bases).await;

    // A monitor created on node 3 is checked within a couple of seconds
    // although its shard may be owned elsewhere.
    let t0 = system_now_ms();
    let late = monitors(&[&a3], &target.url, 1, &regions).await;
    wait_all_checked(&c, &self::keys(&late, &regions), t0, Duration::from_secs(4)).await;

    // The cluster page, on any node: every node healthy, the leader, the
    // shard map.
    let (status, page) = a2.get("/cluster").await;
    assert_eq!(status, 200);
    for id in 1..=3 {
        assert!(
            page.contains(&format!("data-node=\"{id}\"")),
            "node {id} listed: {page}"
        );
    }
    assert_eq!(page.matches("healthy").count(), 3, "{page}");
    assert_eq!(page.matches("role=\"listitem\"").count(), 64);
    let leader = c.leader().await.expect("a leader");
    assert!(page.contains(&format!("node {leader}</strong>")), "{page}");

    // An administrator removes node 3 from the dashboard: its shards go to
    // the others first, then it leaves the membership.
    eprintln!("removing node 3 from the dashboard");
    let csrf = common::csrf_of(&page);
    let (status, _) = a1
        .post_form("/cluster/nodes/3/leave", &[("_csrf", &csrf)])
        .await;
    assert_eq!(status, 303);
    eprintln!("node 3 removed");
    let counts = c.shard_counts().await;
    assert!(
        !counts.contains_key(&3),
        "node 3 is no longer a member: {counts:?}"
    );
    assert_eq!(counts.values().sum::<u64>(), 64);
    // Node 3 keeps running, and stays out: it was removed, not drained
    // for a restart (it once asked itself back in within half a second).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let counts = c.shard_counts().await;
    assert!(
        !counts.contains_key(&3),
        "node 3 came back by itself: {counts:?}"
    );
    let t1 = system_now_ms();
    wait_all_checked(&c, &keys, t1, Duration::from_secs(5)).await;
    eprintln!("stopping the workers");
    w_eu.shutdown().await.unwrap();
    w_us.shutdown().await.unwrap();
}

const METRICS_TOKEN: &str = "cluster-metrics-token-0123456789";

/// Every node's `/metrics` under load passes promtool and lists only
/// documented metrics, and the nodes agree on the raft group: one leader,
/// one term, nobody fenced, every shard owned once. Agreement is asked a
/// few times, since an election may be under way at any one moment.
async fn cluster_metrics_agree(bases: &[String]) {
    let http = reqwest::Client::new();
    let mut last = String::new();
    for _ in 0..5 {
        let mut survey = Vec::new();
        for (i, base) in bases.iter().enumerate() {
            let node = i + 1;
            let body = http
                .get(format!("{base}/metrics"))
                .bearer_auth(METRICS_TOKEN)
                .send()
                .await
                .expect("metrics answer")
                .text()
                .await
                .expect("metrics body");
            common::metrics::promtool_check(&body);
            common::metrics::assert_documented(&body);
            let value = |line: &str| common::metrics::value(&body, line);
            let role = |r: &str| value(&format!("openseer_raft_role{{role=\"{r}\"}}"));
            let roles: f64 = ["leader", "follower", "candidate", "learner", "shutdown"]
                .iter()
                .map(|r| role(r))
                .sum();
            assert_eq!(roles, 1.0, "node {node}: one role at a time");
            assert!(value("openseer_raft_term") >= 1.0);
            assert!(value("openseer_raft_applied_index") >= 1.0);
            assert!(value("openseer_raft_last_log_index") >= value("openseer_raft_applied_index"));
            assert!(
                value("openseer_jobs_scheduled_total") > 0.0,
                "node {node} schedules"
            );
            // Workers submit to nodes 1 (eu) and 2 (us) only.
            if node < 3 {
                assert!(
                    value("openseer_ingest_batch_size_count") >= 1.0,
                    "node {node} ingests"
                );
            }
            survey.push((
                role("leader"),
                value("openseer_raft_term"),
                value("openseer_raft_fenced"),
                value("openseer_shards_owned"),
            ));
        }
        let leaders = survey.iter().filter(|s| s.0 == 1.0).count();
        let one_term = survey.windows(2).all(|w| w[0].1 == w[1].1);
        let fenced = survey.iter().any(|s| s.2 != 0.0);
        let shards: f64 = survey.iter().map(|s| s.3).sum();
        if leaders == 1 && one_term && !fenced && shards == 64.0 {
            return;
        }
        last = format!("(leader, term, fenced, shards) by node: {survey:?}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    panic!("the nodes' metrics disagree on the raft group: {last}");
}

/// Kills one node with SIGKILL while checks run everywhere, and measures
/// the largest gap in any monitor's checks around it.
async fn gap_after_killing(c: &mut TestCluster, victim: u64, keys: &[(i64, String)]) -> i64 {
    let from = system_now_ms();
    c.kill(victim);
    let killed_at = system_now_ms();
    // Wait until the others own everything, then a little longer.
    c.wait_balanced(Duration::from_secs(15)).await;
    let to = system_now_ms() + 3_000;
    wait_for(Duration::from_secs(10), "the window to pass", || async {
        (system_now_ms() > to + 2_000).then_some(())
    })
    .await;
    let got = checks(&c.db_url, from, to).await;
    let (gap, key) = largest_gap(&got, keys, from, to);
    eprintln!(
        "killed node {victim} at +{} ms: largest gap {gap} ms (monitor {}, region {}, from +{} ms)",
        killed_at - from,
        key.0,
        key.1,
        key.2
    );
    gap
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_follower_then_the_leader_keeps_checks_within_the_failover_window() {
    bounded(killing_a_follower_then_the_leader_keeps_checks_within_the_failover_window_body())
        .await;
}

async fn killing_a_follower_then_the_leader_keeps_checks_within_the_failover_window_body() {
    let Some(mut c) = TestCluster::start(3).await else {
        return;
    };
    let bases = c.bases();
    let a = admin(&c, &bases[0]).await;
    let target = Target::start().await;
    let regions = ["eu", "us"];
    let ids = monitors(&[&a], &target.url, 40, &regions).await;
    let token = enrollment_token(&a).await;
    // Workers know every node and move on when one dies.
    let w_eu = worker(bases.clone(), "eu", &token);
    let w_us = worker(bases.iter().rev().cloned().collect(), "us", &token);
    let keys = keys(&ids, &regions);
    wait_all_checked(&c, &keys, system_now_ms(), Duration::from_secs(20)).await;

    let leader = wait_for(Duration::from_secs(5), "a leader", || c.leader()).await;
    let follower = *c.nodes.keys().find(|id| **id != leader).unwrap();
    let gap = gap_after_killing(&mut c, follower, &keys).await;
    assert!(
        gap <= FAILOVER_WINDOW_MS,
        "after killing follower {follower}: gap {gap} ms"
    );

    // The follower comes back, rejoins and gets its share again.
    c.spawn(follower);
    c.wait_ready(follower, Duration::from_secs(30)).await;
    c.wait_balanced(Duration::from_secs(30)).await;
    wait_all_checked(&c, &keys, system_now_ms(), Duration::from_secs(10)).await;

    let leader = wait_for(Duration::from_secs(5), "a leader", || c.leader()).await;
    let gap = gap_after_killing(&mut c, leader, &keys).await;
    assert!(
        gap <= FAILOVER_WINDOW_MS,
        "after killing leader {leader}: gap {gap} ms"
    );
    let new_leader = wait_for(Duration::from_secs(5), "a new leader", || c.leader()).await;
    assert_ne!(new_leader, leader);

    c.spawn(leader);
    c.wait_ready(leader, Duration::from_secs(30)).await;
    c.wait_balanced(Duration::from_secs(30)).await;
    assert_no_tick_twice(&c.db_url).await;
    w_eu.shutdown().await.unwrap();
    w_us.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_node_stops_scheduling_and_the_others_take_its_shards() {
    bounded(a_frozen_node_stops_scheduling_and_the_others_take_its_shards_body()).await;
}

async fn a_frozen_node_stops_scheduling_and_the_others_take_its_shards_body() {
    let Some(c) = TestCluster::start(3).await else {
        return;
    };
    let bases = c.bases();
    let a = admin(&c, &bases[0]).await;
    let target = Target::start().await;
    let regions = ["eu"];
    let ids = monitors(&[&a], &target.url, 30, &regions).await;
    let token = enrollment_token(&a).await;
    let w = worker(bases.clone(), "eu", &token);
    let keys = keys(&ids, &regions);
    wait_all_checked(&c, &keys, system_now_ms(), Duration::from_secs(20)).await;

    let leader = wait_for(Duration::from_secs(5), "a leader", || c.leader()).await;
    let frozen = *c.nodes.keys().find(|id| **id != leader).unwrap();
    let from = system_now_ms();
    c.freeze(frozen);
    // The leader gives its shards away once it has not answered for the failover timeout.
    wait_for(
        Duration::from_secs(10),
        "the frozen node's shards moved",
        || async {
            let counts = c.shard_counts().await;
            (counts.get(&frozen) == Some(&0) && counts.values().sum::<u64>() == 64).then_some(())
        },
    )
    .await;
    // Frozen well past the failover timeout, then resumed: it finds itself
    // fenced (no word from the leader), schedules nothing of its old
    // shards, hears the new map and rejoins the rotation.
    tokio::time::sleep(Duration::from_secs(2)).await;
    c.resume(frozen);
    c.wait_ready(frozen, Duration::from_secs(15)).await;
    c.wait_balanced(Duration::from_secs(15)).await;
    let to = system_now_ms();
    wait_for(Duration::from_secs(10), "the window to settle", || async {
        (system_now_ms() > to + 3_000).then_some(())
    })
    .await;
    let got = checks(&c.db_url, from, to).await;
    let (gap, key) = largest_gap(&got, &keys, from, to);
    assert!(gap <= FAILOVER_WINDOW_MS, "largest gap {gap} ms at {key:?}");
    assert_no_tick_twice(&c.db_url).await;

    // On its host, the operator asks for the raft view, then takes the
    // node out with `openseer cluster leave`: its shards go to the others
    // first, and the checks go on.
    let (ok, status) = c.cli(frozen, &["cluster", "status"]).await;
    assert!(ok, "cluster status: {status}");
    let view: serde_json::Value = serde_json::from_str(&status).expect("status is the raft view");
    assert_eq!(view["me"], frozen);
    assert!(view["leader"].as_u64().is_some(), "{view}");
    assert_eq!(view["nodes"].as_array().map(Vec::len), Some(3), "{view}");
    let (ok, said) = c.cli(frozen, &["cluster", "leave"]).await;
    assert!(ok, "cluster leave: {said}");
    assert!(
        said.contains(&format!("node {frozen} left the cluster")),
        "{said}"
    );
    let counts = c.shard_counts().await;
    assert!(!counts.contains_key(&frozen), "{counts:?}");
    assert_eq!(counts.values().sum::<u64>(), 64, "{counts:?}");
    let t = system_now_ms();
    wait_all_checked(&c, &keys, t, Duration::from_secs(5)).await;
    // With the wrong secret, the node refuses and the command says why.
    let mut wrong = std::process::Command::new(env!("CARGO_BIN_EXE_openseer"));
    wrong
        .args([
            "cluster",
            "status",
            "--node-id",
            "9",
            "--cluster",
            "127.0.0.1:1",
        ])
        .args(["--http", &c.nodes[&leader].http])
        .args(["--database-url", &c.db_url])
        .env("OPENSEER_CLUSTER_SECRET", "not-the-cluster-secret-at-all");
    let out = common::cluster::run_blocking(wrong).await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("401"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_no_tick_twice(&c.db_url).await;
    w.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_misses_at_most_one_interval() {
    bounded(a_rolling_restart_misses_at_most_one_interval_body()).await;
}

async fn a_rolling_restart_misses_at_most_one_interval_body() {
    let Some(mut c) = TestCluster::start(3).await else {
        return;
    };
    let bases = c.bases();
    let a = admin(&c, &bases[0]).await;
    let target = Target::start().await;
    let regions = ["eu"];
    let ids = monitors(&[&a], &target.url, 30, &regions).await;
    let token = enrollment_token(&a).await;
    let w = worker(bases.clone(), "eu", &token);
    let keys = keys(&ids, &regions);
    wait_all_checked(&c, &keys, system_now_ms(), Duration::from_secs(20)).await;

    let from = system_now_ms();
    let ids_in_order: Vec<u64> = c.nodes.keys().copied().collect();
    for id in ids_in_order {
        // A clean stop hands the node's shards over first.
        eprintln!("+{} ms: stopping node {id}", system_now_ms() - from);
        c.stop(id).await;
        eprintln!("+{} ms: node {id} stopped", system_now_ms() - from);
        c.wait_balanced(Duration::from_secs(15)).await;
        c.spawn(id);
        c.wait_ready(id, Duration::from_secs(30)).await;
        c.wait_balanced(Duration::from_secs(30)).await;
        eprintln!(
            "+{} ms: node {id} back with its share",
            system_now_ms() - from
        );
    }
    let to = system_now_ms();
    wait_for(Duration::from_secs(10), "the window to settle", || async {
        (system_now_ms() > to + 3_000).then_some(())
    })
    .await;
    let got = checks(&c.db_url, from, to).await;
    let (gap, key) = largest_gap(&got, &keys, from, to);
    eprintln!("rolling restart: largest gap {gap} ms at {key:?}");
    // At most one 1 s tick missed: two seconds between stored checks.
    assert!(gap <= 2_000, "largest gap {gap} ms at {key:?}");
    assert_no_tick_twice(&c.db_url).await;
    w.shutdown().await.unwrap();

    // Stopping every node at once (Ctrl-C on ops/cluster.sh): nodes that
    // find nobody left to take their shards, or no leader any more, stop
    // instead of waiting out the 10 s drain timeout.
    let started = std::time::Instant::now();
    c.stop_all().await;
    let took = started.elapsed();
    eprintln!("all three stopped in {took:?}");
    assert!(took < Duration::from_secs(8), "stopping took {took:?}");
    assert!(
        c.nodes
            .values()
            .any(|n| n.log().contains("no other node is left to take the shards")),
        "the last node knew it was the last"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_haproxy_a_signed_in_browser_and_a_worker_outlive_a_node() {
    bounded(through_haproxy_a_signed_in_browser_and_a_worker_outlive_a_node_body()).await;
}

async fn through_haproxy_a_signed_in_browser_and_a_worker_outlive_a_node_body() {
    let Some(mut c) = TestCluster::start(3).await else {
        return;
    };
    let Some(lb) = Haproxy::start(&c) else {
        return;
    };
    wait_for(Duration::from_secs(10), "haproxy serving", || async {
        let r = reqwest::get(format!("{}/healthz", lb.base)).await.ok()?;
        (r.status() == 200).then_some(())
    })
    .await;
    // Signed in through the load balancer, which spreads requests over
    // every node: the same cookie works on each.
    let browser = admin(&c, &lb.base).await;
    for _ in 0..6 {
        let (status, page) = browser.get("/").await;
        assert_eq!(status, 200, "signed in: {page}");
    }
    let target = Target::start().await;
    let regions = ["eu"];
    let ids = monitors(&[&browser], &target.url, 10, &regions).await;
    let token = enrollment_token(&browser).await;
    // The worker knows only the load balancer.
    let w = worker(vec![lb.base.clone()], "eu", &token);
    let keys = keys(&ids, &regions);
    wait_all_checked(&c, &keys, system_now_ms(), Duration::from_secs(20)).await;

    // Live streams through the load balancer, one of them on the node
    // about to die (the leader). A stream has no time limit, so this client
    // has none.
    let victim = wait_for(Duration::from_secs(5), "a leader", || c.leader()).await;
    let streamer = common::Browser {
        http: reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        base: lb.base.clone(),
    };
    assert_eq!(streamer.login("admin@example.com", PASSWORD).await, 303);
    let mut streams = Vec::new();
    while !streams.iter().any(|l: &Live| l.node == victim) {
        // Round robin shares the rotation with the worker's requests: try
        // enough times that missing the victim by chance is out of reach.
        assert!(streams.len() < 30, "no stream landed on node {victim}");
        streams.push(
            open_live(&streamer.http, &lb.base)
                .await
                .expect("a stream through the load balancer"),
        );
    }
    for l in &mut streams {
        l.status_event(Duration::from_secs(5))
            .await
            .unwrap_or_else(|e| panic!("stream on node {}: {e:?}", l.node));
    }

    // A node dies; whichever served this browser before, the next requests
    // are served, signed in, by the others.
    c.kill(victim);
    // Its streams end at once (the browser's EventSource then reconnects),
    // and a stream opened again through the load balancer is served by a
    // live node and carries events; streams on the other nodes go on.
    for l in &mut streams {
        if l.node == victim {
            assert!(
                l.ends_within(Duration::from_secs(5)).await,
                "a stream on the dead node {victim} is still open"
            );
        }
    }
    let mut again = wait_for(Duration::from_secs(10), "a stream reopened", || async {
        let l = open_live(&streamer.http, &lb.base).await?;
        (l.node != victim).then_some(l)
    })
    .await;
    again
        .status_event(Duration::from_secs(10))
        .await
        .expect("events on the reopened stream");
    for l in streams.iter_mut().filter(|l| l.node != victim) {
        l.status_event(Duration::from_secs(10))
            .await
            .unwrap_or_else(|e| panic!("stream on node {}: {e:?}", l.node));
    }
    let served = std::sync::atomic::AtomicUsize::new(0);
    wait_for(
        Duration::from_secs(15),
        "ten pages served after the kill",
        || async {
            match browser.http.get(format!("{}/", browser.base)).send().await {
                Ok(r) if r.status() == 200 => {
                    let page = r.text().await.unwrap_or_default();
                    assert!(
                        !page.contains("name=\"password\""),
                        "signed out after a node died"
                    );
                    served.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                // A request in flight to the dying node may fail once.
                _ => {}
            }
            (served.load(std::sync::atomic::Ordering::Relaxed) >= 10).then_some(())
        },
    )
    .await;
    // The monitor page and the API answer too.
    assert_eq!(browser.get(&format!("/monitors/{}", ids[0])).await.0, 200);
    assert!(!browser.results(ids[0]).await.is_empty());
    // And the worker, through the load balancer, keeps checking everything.
    c.wait_balanced(Duration::from_secs(15)).await;
    wait_all_checked(&c, &keys, system_now_ms(), Duration::from_secs(10)).await;
    assert_no_tick_twice(&c.db_url).await;
    w.shutdown().await.unwrap();
}

/// A CA and, per node, a certificate for 127.0.0.1 and its key, as PEM
/// files; the node ids are 1..=nodes.
fn cluster_certificates(dir: &std::path::Path, nodes: u64) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    std::fs::write(dir.join("ca.crt"), ca.self_signed(&ca_key).unwrap().pem()).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    for id in 1..=nodes {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        std::fs::write(dir.join(format!("node{id}.crt")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("node{id}.key")), key.serialize_pem()).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_cluster_tls_nodes_still_carry_each_others_jobs() {
    bounded(with_cluster_tls_nodes_still_carry_each_others_jobs_body()).await;
}

/// Node-to-node TLS on: the worker reaches node 1 only, so the jobs of
/// node 2's shards can only come over the (now mutual-TLS) ractor_cluster
/// connection. Node 2's cluster port accepts nothing but TLS, so every
/// check stored proves the handshake and the traffic.
async fn with_cluster_tls_nodes_still_carry_each_others_jobs_body() {
    let certs = tempfile::tempdir().unwrap();
    cluster_certificates(certs.path(), 2);
    let at = |f: &str| certs.path().join(f).to_str().unwrap().to_string();
    let Some(c) = TestCluster::start_with(2, |id| {
        vec![
            (
                "OPENSEER_CLUSTER_TLS_CERT".into(),
                at(&format!("node{id}.crt")),
            ),
            (
                "OPENSEER_CLUSTER_TLS_KEY".into(),
                at(&format!("node{id}.key")),
            ),
            ("OPENSEER_CLUSTER_TLS_CA".into(), at("ca.crt")),
        ]
    })
    .await
    else {
        return;
    };
    let bases = c.bases();
    let a1 = admin(&c, &bases[0]).await;
    let target = Target::start().await;
    let ids = monitors(&[&a1], &target.url, 40, &["eu"]).await;
    let token = enrollment_token(&a1).await;
    let w = worker(vec![bases[0].clone()], "eu", &token);
    let counts = c.shard_counts().await;
    assert_eq!(counts.len(), 2, "both nodes own shards: {counts:?}");
    wait_all_checked(
        &c,
        &keys(&ids, &["eu"]),
        system_now_ms(),
        Duration::from_secs(20),
    )
    .await;
    let log = c.nodes[&1].log();
    assert!(log.contains("connected to peer"), "{log}");
    assert!(!log.contains("refused the TLS handshake"), "{log}");
    assert_no_tick_twice(&c.db_url).await;

    // The port itself: a TLS handshake with a certificate of the cluster's
    // CA goes through; one from another CA does not.
    let handshake = |files: openseer_cluster::tls::ClusterTls| {
        let addr = c.nodes[&2].cluster.clone();
        async move {
            let tls = openseer_cluster::tls::PeerTls::load(&files).unwrap();
            let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
            let name = openseer_cluster::tls::server_name(&addr).unwrap();
            let mut s = tls
                .connector
                .connect(name, tcp)
                .await
                .map_err(|e| e.to_string())?;
            // TLS 1.3 settles the client's certificate after the handshake:
            // the server's verdict arrives with the first read.
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            s.write_all(&[0u8; 4]).await.map_err(|e| e.to_string())?;
            let mut b = [0u8; 1];
            match tokio::time::timeout(Duration::from_millis(500), s.read(&mut b)).await {
                Ok(Err(e)) => Err(e.to_string()),
                _ => Ok(()),
            }
        }
    };
    let ours = openseer_cluster::tls::ClusterTls {
        cert: certs.path().join("node1.crt"),
        key: certs.path().join("node1.key"),
        ca: certs.path().join("ca.crt"),
    };
    handshake(ours.clone())
        .await
        .expect("a peer of the cluster's CA");
    let strangers = tempfile::tempdir().unwrap();
    cluster_certificates(strangers.path(), 1);
    let stranger = openseer_cluster::tls::ClusterTls {
        cert: strangers.path().join("node1.crt"),
        key: strangers.path().join("node1.key"),
        ..ours
    };
    let refused = handshake(stranger).await;
    assert!(
        refused.is_err(),
        "a certificate of another CA must be refused"
    );
    w.shutdown().await.unwrap();
}
