//! The openraft group: type configuration, the log store (a SQLite file in
//! the node's data directory: never the shared database), the state machine
//! (membership + shard map), and the network (HTTP between nodes, bearer
//! cluster secret; the server side is the node's `http/cluster_api.rs`).
//!
//! The log store commits with `synchronous=FULL` in WAL mode before it calls
//! openraft's flush callback, so an acknowledged entry is on disk.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Debug;
use std::io::Cursor;
use std::ops::RangeBounds;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
/// The RPC bodies the node's `/cluster/v1/raft/*` endpoints take.
pub use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use openraft::raft::{AppendEntriesResponse, InstallSnapshotResponse, VoteResponse};
use openraft::storage::{LogFlushed, LogState, RaftLogStorage, RaftStateMachine, Snapshot};
use openraft::{
    AnyError, Entry, EntryPayload, LogId, RaftLogReader, RaftSnapshotBuilder, SnapshotMeta,
    StorageError, StorageIOError, StoredMembership, Vote,
};
use serde::{Deserialize, Serialize};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use tokio::sync::watch;

use openseer_core::assign::{NodeId, ShardMap};

/// Where a node is reached: its HTTP address (raft, dashboard, worker API)
/// and its ractor_cluster address (jobs, leases, live events).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeAddr {
    pub http: String,
    pub cluster: String,
}

/// What the raft log records besides membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// The leader's new assignment.
    SetShards(ShardMap),
    /// The node is leaving: it gets no shards from now on.
    Leaving(NodeId),
    /// The node was removed from the membership (or came back).
    Forget(NodeId),
}

openraft::declare_raft_types!(
    pub TypeConfig:
        D = Command,
        R = (),
        NodeId = NodeId,
        Node = NodeAddr,
);

pub type Raft = openraft::Raft<TypeConfig>;
type SError = StorageError<NodeId>;

/// The state machine: everything the raft log decides.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ClusterState {
    pub last_applied: Option<LogId<NodeId>>,
    pub membership: StoredMembership<NodeId, NodeAddr>,
    pub shards: ShardMap,
    pub leaving: BTreeSet<NodeId>,
}

impl ClusterState {
    fn apply(&mut self, cmd: &Command) {
        match cmd {
            Command::SetShards(map) => self.shards = map.clone(),
            Command::Leaving(n) => {
                self.leaving.insert(*n);
            }
            Command::Forget(n) => {
                self.leaving.remove(n);
            }
        }
    }
}

fn io<E: std::error::Error + 'static>(
    make: fn(AnyError) -> StorageIOError<NodeId>,
) -> impl Fn(E) -> SError {
    move |e| make(AnyError::new(&e)).into()
}

async fn open_pool(path: &Path) -> Result<SqlitePool, sqlx::Error> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS log (idx INTEGER PRIMARY KEY, entry TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    )
    .execute(&pool)
    .await?;
    Ok(pool)
}

async fn get_kv<T: for<'a> Deserialize<'a>>(
    pool: &SqlitePool,
    key: &str,
) -> Result<Option<T>, String> {
    let row = sqlx::query("SELECT value FROM kv WHERE key = $1")
        .bind(key)
        .fetch_optional(pool)
        .await
        .map_err(|e| e.to_string())?;
    match row {
        None => Ok(None),
        Some(r) => {
            let text: String = r.get(0);
            serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| e.to_string())
        }
    }
}

async fn put_kv<T: Serialize>(pool: &SqlitePool, key: &str, value: &T) -> Result<(), sqlx::Error> {
    let text = serde_json::to_string(value).expect("raft types serialize");
    sqlx::query("INSERT INTO kv (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        .bind(key)
        .bind(text)
        .execute(pool)
        .await?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Corrupt(String);

/// The raft log, vote and commit index, in `<data_dir>/raft.db`.
#[derive(Clone)]
pub struct LogStore {
    pool: SqlitePool,
}

/// Opens (creating) the node's raft files: the log store and the state
/// machine, the latter restored from the last snapshot.
pub async fn open(
    data_dir: &Path,
) -> Result<(LogStore, StateMachine, watch::Receiver<Arc<ClusterState>>), sqlx::Error> {
    let pool = open_pool(&data_dir.join("raft.db")).await?;
    let snapshot: Option<StoredSnapshot> = get_kv(&pool, "snapshot").await.unwrap_or(None);
    let state = snapshot
        .as_ref()
        .and_then(|s| serde_json::from_slice::<ClusterState>(&s.data).ok())
        .unwrap_or_default();
    let (tx, rx) = watch::channel(Arc::new(state.clone()));
    let sm = StateMachine {
        pool: pool.clone(),
        state: Arc::new(RwLock::new(state)),
        tx: Arc::new(tx),
    };
    Ok((LogStore { pool }, sm, rx))
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, SError> {
        use std::ops::Bound;
        let start = match range.start_bound() {
            Bound::Included(s) => *s as i64,
            Bound::Excluded(s) => *s as i64 + 1,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(e) => (*e as i64).saturating_add(1),
            Bound::Excluded(e) => *e as i64,
            Bound::Unbounded => i64::MAX,
        };
        let rows = sqlx::query("SELECT entry FROM log WHERE idx >= $1 AND idx < $2 ORDER BY idx")
            .bind(start)
            .bind(end)
            .fetch_all(&self.pool)
            .await
            .map_err(io(StorageIOError::read_logs))?;
        let mut entries = Vec::with_capacity(rows.len());
        for r in rows {
            let text: String = r.get(0);
            entries.push(serde_json::from_str(&text).map_err(io(StorageIOError::read_logs))?);
        }
        Ok(entries)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, SError> {
        let purged: Option<LogId<NodeId>> = get_kv(&self.pool, "purged")
            .await
            .map_err(|e| StorageIOError::read_logs(AnyError::new(&Corrupt(e))))?;
        let last = sqlx::query("SELECT entry FROM log ORDER BY idx DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(io(StorageIOError::read_logs))?;
        let last = match last {
            Some(r) => {
                let text: String = r.get(0);
                let e: Entry<TypeConfig> =
                    serde_json::from_str(&text).map_err(io(StorageIOError::read_logs))?;
                Some(e.log_id)
            }
            None => purged,
        };
        Ok(LogState {
            last_purged_log_id: purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> LogStore {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), SError> {
        put_kv(&self.pool, "vote", vote)
            .await
            .map_err(io(StorageIOError::write_vote))
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, SError> {
        get_kv(&self.pool, "vote")
            .await
            .map_err(|e| StorageIOError::read_vote(AnyError::new(&Corrupt(e))).into())
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> Result<(), SError> {
        put_kv(&self.pool, "committed", &committed)
            .await
            .map_err(io(StorageIOError::write))
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, SError> {
        Ok(get_kv::<Option<LogId<NodeId>>>(&self.pool, "committed")
            .await
            .map_err(|e| StorageIOError::read(AnyError::new(&Corrupt(e))))?
            .flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), SError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let result = async {
            let mut tx = self.pool.begin().await?;
            for e in entries {
                let text = serde_json::to_string(&e).expect("raft entries serialize");
                sqlx::query("INSERT OR REPLACE INTO log (idx, entry) VALUES ($1, $2)")
                    .bind(e.log_id.index as i64)
                    .bind(text)
                    .execute(&mut *tx)
                    .await?;
            }
            // synchronous=FULL: on disk once this returns.
            tx.commit().await
        }
        .await;
        match result {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(StorageIOError::write_logs(AnyError::new(&e)).into())
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), SError> {
        sqlx::query("DELETE FROM log WHERE idx >= $1")
            .bind(log_id.index as i64)
            .execute(&self.pool)
            .await
            .map_err(io(StorageIOError::write_logs))?;
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), SError> {
        put_kv(&self.pool, "purged", &log_id)
            .await
            .map_err(io(StorageIOError::write_logs))?;
        sqlx::query("DELETE FROM log WHERE idx <= $1")
            .bind(log_id.index as i64)
            .execute(&self.pool)
            .await
            .map_err(io(StorageIOError::write_logs))?;
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, NodeAddr>,
    data: Vec<u8>,
}

/// The applied state, shared with the rest of the node through a watch
/// channel (the ownership loop and the cluster page read it).
#[derive(Clone)]
pub struct StateMachine {
    pool: SqlitePool,
    state: Arc<RwLock<ClusterState>>,
    tx: Arc<watch::Sender<Arc<ClusterState>>>,
}

impl StateMachine {
    fn publish(&self) {
        let s = self.state.read().expect("cluster state").clone();
        self.tx.send_replace(Arc::new(s));
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, SError> {
        let state = self.state.read().expect("cluster state").clone();
        let data = serde_json::to_vec(&state).expect("cluster state serializes");
        let meta = SnapshotMeta {
            last_log_id: state.last_applied,
            last_membership: state.membership.clone(),
            snapshot_id: format!(
                "{}-{}",
                state.last_applied.map_or(0, |l| l.index),
                rand::random::<u32>()
            ),
        };
        put_kv(
            &self.pool,
            "snapshot",
            &StoredSnapshot {
                meta: meta.clone(),
                data: data.clone(),
            },
        )
        .await
        .map_err(|e| StorageIOError::write_snapshot(None, AnyError::new(&e)))?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, NodeAddr>), SError> {
        let s = self.state.read().expect("cluster state");
        Ok((s.last_applied, s.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<()>, SError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut out = Vec::new();
        {
            let mut s = self.state.write().expect("cluster state");
            for e in entries {
                s.last_applied = Some(e.log_id);
                match e.payload {
                    EntryPayload::Blank => {}
                    EntryPayload::Normal(cmd) => s.apply(&cmd),
                    EntryPayload::Membership(m) => {
                        s.membership = StoredMembership::new(Some(e.log_id), m)
                    }
                }
                out.push(());
            }
        }
        self.publish();
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> StateMachine {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, SError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, NodeAddr>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), SError> {
        let data = snapshot.into_inner();
        let state: ClusterState = serde_json::from_slice(&data).map_err(|e| {
            StorageIOError::read_snapshot(Some(meta.signature()), AnyError::new(&e))
        })?;
        put_kv(
            &self.pool,
            "snapshot",
            &StoredSnapshot {
                meta: meta.clone(),
                data,
            },
        )
        .await
        .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), AnyError::new(&e)))?;
        *self.state.write().expect("cluster state") = state;
        self.publish();
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, SError> {
        let stored: Option<StoredSnapshot> = get_kv(&self.pool, "snapshot")
            .await
            .map_err(|e| StorageIOError::read_snapshot(None, AnyError::new(&Corrupt(e))))?;
        Ok(stored.map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.data)),
        }))
    }
}

/// When each peer last answered this node's raft RPCs. The leader reads it
/// to decide who is unreachable.
#[derive(Default)]
pub struct Contacts {
    last: Mutex<HashMap<NodeId, Instant>>,
    /// The last leader this node followed, and when it last heard from it.
    leader: Mutex<Option<(NodeId, Instant)>>,
}

impl Contacts {
    pub fn heard_leader(&self, leader: NodeId) {
        *self.leader.lock().expect("contacts") = Some((leader, Instant::now()));
    }

    /// How long ago `node` was last heard from as this node's leader.
    pub fn since_led_by(&self, node: NodeId) -> Option<Duration> {
        match *self.leader.lock().expect("contacts") {
            Some((n, at)) if n == node => Some(at.elapsed()),
            _ => None,
        }
    }

    fn saw(&self, node: NodeId) {
        self.last
            .lock()
            .expect("contacts")
            .insert(node, Instant::now());
    }

    pub fn since(&self, node: NodeId) -> Option<Duration> {
        self.last
            .lock()
            .expect("contacts")
            .get(&node)
            .map(|t| t.elapsed())
    }
}

/// Builds a client per peer: JSON over HTTP to `/cluster/v1/raft/*`.
#[derive(Clone)]
pub struct Network {
    pub client: reqwest::Client,
    pub secret: Arc<str>,
    pub contacts: Arc<Contacts>,
}

pub struct Peer {
    target: NodeId,
    base: String,
    net: Network,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: NodeId, node: &NodeAddr) -> Peer {
        Peer {
            target,
            base: format!("http://{}/cluster/v1/raft", node.http),
            net: self.clone(),
        }
    }
}

impl Peer {
    async fn send<Req: Serialize, Resp: for<'a> Deserialize<'a>, E>(
        &self,
        path: &str,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, RPCError<NodeId, NodeAddr, E>>
    where
        E: std::error::Error + for<'a> Deserialize<'a>,
    {
        let answer = self
            .net
            .client
            .post(format!("{}/{path}", self.base))
            .bearer_auth(&*self.net.secret)
            .timeout(timeout)
            .json(req)
            .send()
            .await
            .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))?;
        if !answer.status().is_success() {
            let e = std::io::Error::other(format!("peer answered {}", answer.status()));
            return Err(RPCError::Network(NetworkError::new(&e)));
        }
        let result: Result<Resp, E> = answer
            .json()
            .await
            .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        self.net.contacts.saw(self.target);
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, NodeAddr, RaftError<NodeId>>> {
        self.send("append", &rpc, option.hard_ttl()).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, NodeAddr, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.send("snapshot", &rpc, option.hard_ttl()).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, NodeAddr, RaftError<NodeId>>> {
        self.send("vote", &rpc, option.hard_ttl()).await
    }
}
