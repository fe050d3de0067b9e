//! ractor_cluster between nodes. Each node runs a `NodeServer` on its
//! cluster address (authenticated by the cluster secret as the cookie) and
//! one [`PeerActor`], registered in the process groups `openseer.peers` and
//! `openseer.node.<id>`, through which other nodes reach its lease
//! managers, rollups, schedulers and live sessions. What a node does with
//! what it is sent is its [`PeerHandler`]'s business: this module only
//! carries it.
//!
//! Payloads are JSON inside `Vec<u8>` (ractor's byte conversion of a
//! `Vec<u8>` is the identity, so a malformed payload is our error to report,
//! never a panic in the framework). Calls time out quickly: a frozen peer
//! must not stall a worker's poll.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use openseer_protocol::wire::{Job, Renewed};
use openseer_protocol::CheckResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster::{NodeServer, NodeServerMessage, RactorClusterMessage};
use serde::{Deserialize, Serialize};

use openseer_core::assign::NodeId;
use openseer_core::leases::LeaseCheck;
use openseer_core::model::{BucketKey, LiveEvent};

use crate::raft::ClusterState;
use crate::tls::PeerTls;

const ALL: &str = "openseer.peers";

fn group_of(node: NodeId) -> String {
    format!("openseer.node.{node}")
}

#[derive(RactorClusterMessage)]
pub enum PeerMsg {
    #[rpc]
    Call(Vec<u8>, RpcReplyPort<Vec<u8>>),
    Cast(Vec<u8>),
}

/// Requests that want an answer.
#[derive(Debug, Serialize, Deserialize)]
pub enum PeerCall {
    /// Due jobs from the node's own queues.
    Take {
        org_id: i64,
        region: String,
        worker_id: i64,
        max: usize,
    },
    Complete {
        worker_id: i64,
        run_ids: Vec<String>,
    },
    Renew {
        worker_id: i64,
        run_ids: Vec<String>,
    },
    /// The result of a probe this node waits for.
    Probe {
        org_id: i64,
        result: Box<CheckResult>,
    },
}

/// Notices that want no answer.
#[derive(Debug, Serialize, Deserialize)]
pub enum PeerCast {
    Release(Vec<String>),
    Live(Vec<LiveEvent>),
    Dirty(Vec<BucketKey>),
    /// Committed results for the alert rules of the shards' owner.
    Ticks(Vec<openseer_core::alert::TickResult>),
    MonitorChanged(i64),
    MonitorRemoved(i64),
    CheckNow(i64),
    /// An organization's maintenance windows changed.
    MaintenanceChanged(i64),
    JobsReady {
        node: NodeId,
        org_id: i64,
        region: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("node {0} is not connected")]
    NotConnected(NodeId),
    #[error("node {0} did not answer: {1}")]
    NoAnswer(NodeId, String),
    #[error("node {0} sent an answer we cannot read: {1}")]
    Garbled(NodeId, String),
}

/// Sends to other nodes' peer actors.
pub struct Peers {
    pub me: NodeId,
    pub call_timeout_ms: u64,
}

impl Peers {
    fn actor(node: NodeId) -> Option<ActorRef<PeerMsg>> {
        ractor::pg::get_members(&group_of(node))
            .into_iter()
            .next()
            .map(ActorRef::from)
    }

    pub fn connected(node: NodeId) -> bool {
        !ractor::pg::get_members(&group_of(node)).is_empty()
    }

    pub async fn call<T: for<'a> Deserialize<'a>>(
        &self,
        node: NodeId,
        call: &PeerCall,
    ) -> Result<T, PeerError> {
        let actor = Self::actor(node).ok_or(PeerError::NotConnected(node))?;
        let bytes = serde_json::to_vec(call).expect("peer calls serialize");
        let answer = ractor::call_t!(actor, PeerMsg::Call, self.call_timeout_ms, bytes)
            .map_err(|e| PeerError::NoAnswer(node, e.to_string()))?;
        let answer: Result<T, String> =
            serde_json::from_slice(&answer).map_err(|e| PeerError::Garbled(node, e.to_string()))?;
        answer.map_err(|e| PeerError::NoAnswer(node, e))
    }

    pub fn cast(&self, node: NodeId, cast: &PeerCast) {
        if let Some(actor) = Self::actor(node) {
            let bytes = serde_json::to_vec(cast).expect("peer casts serialize");
            let _ = actor.cast(PeerMsg::Cast(bytes));
        }
    }

    /// To every other connected node.
    pub fn broadcast(&self, cast: &PeerCast) {
        let members = ractor::pg::get_members(&ALL.to_string());
        if members.len() <= 1 {
            return;
        }
        let bytes = serde_json::to_vec(cast).expect("peer casts serialize");
        for cell in members {
            if cell.get_id().is_local() {
                continue;
            }
            let actor: ActorRef<PeerMsg> = cell.into();
            let _ = actor.cast(PeerMsg::Cast(bytes.clone()));
        }
    }
}

/// What a node does with what other nodes send it.
pub trait PeerHandler: Send + Sync + 'static {
    /// Due jobs from this node's own queues, for a worker polling another node.
    fn take(
        &self,
        org_id: i64,
        region: String,
        worker_id: i64,
        max: usize,
    ) -> impl std::future::Future<Output = Vec<Job>> + Send;
    /// Lease checks of this node's own lease managers, in the order asked.
    fn complete(
        &self,
        worker_id: i64,
        run_ids: Vec<String>,
    ) -> impl std::future::Future<Output = Result<Vec<LeaseCheck>, String>> + Send;
    /// Renewals by this node's own lease managers: (renewed, lost).
    fn renew(
        &self,
        worker_id: i64,
        run_ids: Vec<String>,
    ) -> impl std::future::Future<Output = Result<(Vec<Renewed>, Vec<String>), String>> + Send;
    /// The result of a probe this node waits for; whether it was taken.
    fn probe(&self, org_id: i64, result: CheckResult) -> bool;
    /// A notice that wants no answer.
    fn notice(&self, cast: PeerCast);
}

pub struct PeerActor<H>(std::marker::PhantomData<H>);

pub struct PeerArgs<H> {
    pub me: NodeId,
    pub handler: Arc<H>,
}

pub struct PeerState<H> {
    handler: Arc<H>,
}

impl<H: PeerHandler> Actor for PeerActor<H> {
    type Msg = PeerMsg;
    type State = PeerState<H>;
    type Arguments = PeerArgs<H>;

    async fn pre_start(
        &self,
        myself: ActorRef<PeerMsg>,
        args: PeerArgs<H>,
    ) -> Result<PeerState<H>, ActorProcessingErr> {
        ractor::pg::join(ALL.to_string(), vec![myself.get_cell()]);
        ractor::pg::join(group_of(args.me), vec![myself.get_cell()]);
        Ok(PeerState {
            handler: args.handler,
        })
    }

    async fn handle(
        &self,
        _: ActorRef<PeerMsg>,
        msg: PeerMsg,
        state: &mut PeerState<H>,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            PeerMsg::Call(bytes, reply) => {
                let handler = state.handler.clone();
                // Answered off the actor, so one slow lease manager does not
                // hold up every other node's requests.
                tokio::spawn(async move {
                    let answer = match serde_json::from_slice::<PeerCall>(&bytes) {
                        Ok(call) => answer(&*handler, call).await,
                        Err(e) => encode::<()>(Err(format!("unreadable request: {e}"))),
                    };
                    let _ = reply.send(answer);
                });
            }
            PeerMsg::Cast(bytes) => match serde_json::from_slice::<PeerCast>(&bytes) {
                Ok(cast) => state.handler.notice(cast),
                Err(e) => tracing::warn!(error = %e, "unreadable notice from a peer"),
            },
        }
        Ok(())
    }
}

fn encode<T: Serialize>(r: Result<T, String>) -> Vec<u8> {
    serde_json::to_vec(&r).expect("peer answers serialize")
}

async fn answer<H: PeerHandler>(handler: &H, call: PeerCall) -> Vec<u8> {
    match call {
        PeerCall::Take {
            org_id,
            region,
            worker_id,
            max,
        } => encode::<Vec<Job>>(Ok(handler.take(org_id, region, worker_id, max).await)),
        PeerCall::Complete { worker_id, run_ids } => {
            encode::<Vec<LeaseCheck>>(handler.complete(worker_id, run_ids).await)
        }
        PeerCall::Renew { worker_id, run_ids } => {
            encode::<(Vec<Renewed>, Vec<String>)>(handler.renew(worker_id, run_ids).await)
        }
        PeerCall::Probe { org_id, result } => encode::<bool>(Ok(handler.probe(org_id, *result))),
    }
}

/// Starts the node server and the peer actor, and keeps connections to
/// every member with a higher id than ours (the lower id dials, so two
/// nodes never race to open two sessions). With `tls`, connections both
/// ways are mutual TLS (see [`crate::tls`]).
pub async fn start<H: PeerHandler>(
    me: NodeId,
    listen: &str,
    secret: &str,
    tls: Option<PeerTls>,
    handler: Arc<H>,
    mut state: tokio::sync::watch::Receiver<Arc<ClusterState>>,
) -> Result<(), String> {
    let addr: std::net::SocketAddr = listen
        .parse()
        .map_err(|e| format!("cluster address {listen:?}: {e}"))?;
    let server = NodeServer::new(
        addr.port(),
        secret.to_string(),
        format!("openseer-{me}"),
        addr.ip().to_string(),
        tls.as_ref()
            .map(|t| ractor_cluster::IncomingEncryptionMode::Tls(t.acceptor.clone())),
        Some(ractor_cluster::node::NodeConnectionMode::Isolated),
    )
    .with_listen_addr(addr.ip());
    let (server, _) = Actor::spawn(None, server, ())
        .await
        .map_err(|e| format!("starting the cluster listener on {listen}: {e}"))?;
    Actor::spawn(
        None,
        PeerActor(std::marker::PhantomData),
        PeerArgs { me, handler },
    )
    .await
    .map_err(|e| format!("starting the peer actor: {e}"))?;
    tokio::spawn(async move {
        loop {
            let members: BTreeMap<NodeId, String> = state
                .borrow()
                .membership
                .nodes()
                .map(|(id, n)| (*id, n.cluster.clone()))
                .collect();
            for (id, cluster) in members {
                if id > me && !Peers::connected(id) {
                    dial(&server, id, &cluster, tls.as_ref()).await;
                }
            }
            let _ = tokio::time::timeout(Duration::from_millis(500), state.changed()).await;
        }
    });
    Ok(())
}

async fn dial(server: &ActorRef<NodeServerMessage>, id: NodeId, addr: &str, tls: Option<&PeerTls>) {
    use ractor_cluster::ClientConnectErr;
    let connect = async {
        let Some(tls) = tls else {
            return ractor_cluster::client_connect(server, addr.to_string()).await;
        };
        let name = match crate::tls::server_name(addr) {
            Ok(n) => n,
            Err(e) => return Err(ClientConnectErr::Encryption(std::io::Error::other(e))),
        };
        ractor_cluster::client_connect_enc(server, addr.to_string(), tls.connector.clone(), name)
            .await
    };
    match tokio::time::timeout(Duration::from_secs(2), connect).await {
        Ok(Ok(())) => tracing::info!(node_id = id, %addr, "connected to peer"),
        // A peer that is down is normal while it restarts; a refused
        // handshake is a configuration to fix.
        Ok(Err(ClientConnectErr::Encryption(e))) => {
            tracing::warn!(node_id = id, %addr, error = %e, "peer refused the TLS handshake")
        }
        Ok(Err(e)) => tracing::debug!(node_id = id, %addr, error = %e, "peer not reachable"),
        Err(_) => tracing::debug!(node_id = id, %addr, "peer connect timed out"),
    }
    // The session handshakes in the background; give it a moment before
    // the next look at the process groups.
    tokio::time::sleep(Duration::from_millis(300)).await;
}
