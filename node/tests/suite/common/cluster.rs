//! A cluster of real node processes (the `openseer` binary) on loopback,
//! sharing one fresh PostgreSQL database, with their raft state in temp
//! dirs. Nodes are killed, frozen and resumed like processes on a host:
//! `kill -9`, SIGSTOP, SIGCONT, SIGTERM, always by the child's own pid.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::db::{admin_url, drop_database, postgres_database};
use super::wait_for;

pub const SECRET: &str = "test-cluster-secret-0123456789";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub struct Node {
    pub id: u64,
    pub http: String,
    pub cluster: String,
    pub dir: PathBuf,
    /// Extra environment for this node's process (configuration).
    pub env: Vec<(String, String)>,
    child: Option<Child>,
}

impl Node {
    pub fn base(&self) -> String {
        format!("http://{}", self.http)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("node.log")).unwrap_or_default()
    }
}

pub struct TestCluster {
    pub db_url: String,
    db_name: String,
    pub nodes: BTreeMap<u64, Node>,
    _dir: tempfile::TempDir,
    client: reqwest::Client,
}

impl TestCluster {
    /// Starts `n` nodes (node 1 first, the others joining through it) and
    /// waits until each owns shards. `None` when PostgreSQL is not there.
    pub async fn start(n: u64) -> Option<TestCluster> {
        Self::start_with(n, |_| Vec::new()).await
    }

    /// As [`Self::start`], with extra environment for each node by id.
    pub async fn start_with(
        n: u64,
        env: impl Fn(u64) -> Vec<(String, String)>,
    ) -> Option<TestCluster> {
        super::memory_guard();
        let db_url = postgres_database().await?;
        let store = openseer_store::Store::open_url(&db_url)
            .await
            .expect("postgres opens");
        store.migrate().await.expect("postgres migrates");
        store.close().await;
        let db_name = db_url.rsplit('/').next().expect("db name").to_string();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut c = TestCluster {
            db_url,
            db_name,
            nodes: BTreeMap::new(),
            _dir: dir,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("client"),
        };
        for id in 1..=n {
            let node = Node {
                id,
                http: format!("127.0.0.1:{}", free_port()),
                cluster: format!("127.0.0.1:{}", free_port()),
                dir: c._dir.path().join(format!("node{id}")),
                env: env(id),
                child: None,
            };
            c.nodes.insert(id, node);
            c.spawn(id);
            c.wait_ready(id, Duration::from_secs(30)).await;
        }
        c.wait_balanced(Duration::from_secs(30)).await;
        Some(c)
    }

    /// `openseer ARGS` with node `id`'s configuration (flags and secret),
    /// as `serve` runs and as its operator runs the other commands.
    fn command(&self, id: u64, args: &[&str]) -> Command {
        let node = &self.nodes[&id];
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_openseer"));
        cmd.args(args)
            .arg("--data-dir")
            .arg(&node.dir)
            .args(["--http", &node.http])
            .args(["--cluster", &node.cluster])
            .args(["--node-id", &id.to_string()])
            .args(["--database-url", &self.db_url])
            .env("OPENSEER_CLUSTER_SECRET", SECRET)
            .stdin(Stdio::null());
        cmd
    }

    /// Starts (or restarts) node `id` with its data directory as it is.
    pub fn spawn(&mut self, id: u64) {
        let mut cmd = self.command(id, &["serve"]);
        if id != 1 {
            cmd.args(["--join", &self.nodes[&1].http]);
        }
        let node = self.nodes.get_mut(&id).expect("node exists");
        std::fs::create_dir_all(&node.dir).expect("node dir");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.dir.join("node.log"))
            .expect("log file");
        cmd.env("OPENSEER_LEASE_GRACE_MS", "2000")
            .env(
                "RUST_LOG",
                "info,openraft=warn,ractor_cluster=warn,sqlx=warn",
            )
            .envs(node.env.iter().map(|(k, v)| (k, v)))
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        node.child = Some(cmd.spawn().expect("node starts"));
    }

    /// Runs `openseer ARGS` with node `id`'s configuration, as its operator
    /// would on its host, and returns whether it succeeded and what it printed.
    pub async fn cli(&self, id: u64, args: &[&str]) -> (bool, String) {
        let mut cmd = self.command(id, args);
        cmd.env("RUST_LOG", "warn");
        let out = run_blocking(cmd).await;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// `kill -9`.
    pub fn kill(&mut self, id: u64) {
        let node = self.nodes.get_mut(&id).expect("node exists");
        if let Some(mut child) = node.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn signal(&self, id: u64, sig: &str) {
        let pid = self.nodes[&id].pid().expect("node runs");
        assert!(pid > 1, "a real child pid");
        let ok = Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .expect("kill runs")
            .success();
        assert!(ok, "kill {sig} {pid}");
    }

    pub fn freeze(&self, id: u64) {
        self.signal(id, "-STOP");
    }

    pub fn resume(&self, id: u64) {
        self.signal(id, "-CONT");
    }

    /// SIGTERM and wait for a clean exit.
    pub async fn stop(&mut self, id: u64) {
        self.signal(id, "-TERM");
        let node = self.nodes.get_mut(&id).expect("node exists");
        let mut child = node.child.take().expect("running");
        let status = tokio::task::spawn_blocking(move || child.wait())
            .await
            .expect("join")
            .expect("wait");
        assert!(status.success(), "node {id} stopped with {status}");
    }

    /// SIGTERM to every node at once, then wait for each to exit cleanly.
    pub async fn stop_all(&mut self) {
        let ids: Vec<u64> = self.nodes.keys().copied().collect();
        for id in &ids {
            self.signal(*id, "-TERM");
        }
        for id in ids {
            let mut child = self
                .nodes
                .get_mut(&id)
                .unwrap()
                .child
                .take()
                .expect("running");
            let status = tokio::task::spawn_blocking(move || child.wait())
                .await
                .expect("join")
                .expect("wait");
            assert!(status.success(), "node {id} stopped with {status}");
        }
    }

    pub async fn ready(&self, id: u64) -> bool {
        let url = format!("{}/readyz", self.nodes[&id].base());
        matches!(self.client.get(url).send().await, Ok(r) if r.status() == 200)
    }

    pub async fn wait_ready(&self, id: u64, limit: Duration) {
        let what = format!("node {id} ready");
        wait_for(limit, &what, || async {
            self.ready(id).await.then_some(())
        })
        .await;
    }

    /// The cluster as node `id` sees it.
    pub async fn state(&self, id: u64) -> Option<serde_json::Value> {
        let url = format!("{}/cluster/v1/state", self.nodes[&id].base());
        let r = self.client.get(url).bearer_auth(SECRET).send().await.ok()?;
        r.json().await.ok()
    }

    pub async fn leader(&self) -> Option<u64> {
        for id in self.nodes.keys() {
            if let Some(s) = self.state(*id).await {
                if s["role"] == "leader" {
                    return s["me"].as_u64();
                }
            }
        }
        None
    }

    /// Shard counts per node in the leader's view.
    pub async fn shard_counts(&self) -> BTreeMap<u64, u64> {
        let Some(leader) = self.leader().await else {
            return BTreeMap::new();
        };
        let Some(s) = self.state(leader).await else {
            return BTreeMap::new();
        };
        s["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|n| {
                (
                    n["id"].as_u64().unwrap_or(0),
                    n["shards"].as_u64().unwrap_or(0),
                )
            })
            .collect()
    }

    /// Until every running node owns 64/n (±1) shards.
    pub async fn wait_balanced(&self, limit: Duration) {
        let running: Vec<u64> = self
            .nodes
            .values()
            .filter(|n| n.child.is_some())
            .map(|n| n.id)
            .collect();
        wait_for(limit, "a balanced shard map", || async {
            let counts = self.shard_counts().await;
            let per = 64 / running.len() as u64;
            let ok = running
                .iter()
                .all(|id| counts.get(id).is_some_and(|c| *c == per || *c == per + 1))
                && counts.values().sum::<u64>() == 64;
            ok.then_some(())
        })
        .await;
    }

    pub fn bases(&self) -> Vec<String> {
        self.nodes.values().map(|n| n.base()).collect()
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Keep the nodes' logs of a failed test.
            let keep = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
                .join("cluster-logs")
                .join(&self.db_name);
            let _ = std::fs::create_dir_all(&keep);
            for node in self.nodes.values() {
                let _ = std::fs::copy(
                    node.dir.join("node.log"),
                    keep.join(format!("node{}.log", node.id)),
                );
            }
            eprintln!("node logs kept in {}", keep.display());
        }
        for node in self.nodes.values_mut() {
            if let Some(mut child) = node.child.take() {
                // SIGKILL ends frozen (SIGSTOP) processes too.
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        drop_database(&admin_url(), &self.db_name);
    }
}

/// HAProxy (Debian's package) in front of the cluster's nodes, with the
/// configuration ops/cluster.sh uses. `None` when haproxy is not installed
/// and not required (ops/test.sh requires it).
pub struct Haproxy {
    pub base: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Haproxy {
    pub fn start(c: &TestCluster) -> Option<Haproxy> {
        let nodes: Vec<(u64, String)> = c.nodes.values().map(|n| (n.id, n.http.clone())).collect();
        Haproxy::in_front_of(&nodes)
    }

    /// In front of the nodes listening at these addresses (`host:port`).
    pub fn in_front_of(nodes: &[(u64, String)]) -> Option<Haproxy> {
        let bin = super::tool("haproxy", super::HAPROXY, "OPENSEER_REQUIRE_HAPROXY")?;
        let port = free_port();
        let servers: String = nodes
            .iter()
            .map(|(id, http)| format!("    server n{id} {http} check\n"))
            .collect();
        let cfg = include_str!("../../../../ops/haproxy/openseer.cfg.in")
            .replace("@BIND@", &format!("127.0.0.1:{port}"))
            .replace("@SERVERS@", &servers);
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, cfg).expect("config");
        let log = std::fs::File::create(dir.path().join("haproxy.log")).expect("log");
        let child = Command::new(bin)
            .arg("-f")
            .arg(&path)
            .arg("-db")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("haproxy starts");
        Some(Haproxy {
            base: format!("http://127.0.0.1:{port}"),
            child,
            _dir: dir,
        })
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log =
                std::fs::read_to_string(self._dir.path().join("haproxy.log")).unwrap_or_default();
            eprintln!("haproxy said:\n{log}");
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a command to its end off the test's runtime threads (the nodes'
/// workers in this process run on them).
pub async fn run_blocking(mut cmd: Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("the command runs"))
        .await
        .expect("the command's thread")
}
