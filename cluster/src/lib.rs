//! The cluster: peer control planes that agree, through an openraft group,
//! on which node owns which shard, and talk to each other over
//! ractor_cluster.
//!
//! - [`raft`]: the raft type config, the log store (a local SQLite file,
//!   fsynced before acknowledging), the state machine (membership, shard
//!   map with epochs, nodes leaving) and the HTTP network (a client only:
//!   the node serves `/cluster/v1` and hands the RPCs to [`Cluster`]).
//! - [`node`]: [`Cluster`] itself: start (a new cluster or a join), the
//!   raft RPCs other nodes send, readiness.
//! - [`membership`]: join, drain, leave, through the leader.
//! - [`balance`]: the leader's rebalancing and failover
//!   (`openseer_core::assign` decides the map).
//! - [`fence`]: a node that has not heard from a leader stops scheduling.
//! - [`peer`]: ractor_cluster between nodes (cookie = cluster secret):
//!   jobs, leases, live events, monitor changes, behind [`peer::PeerHandler`],
//!   which the node implements.
//! - [`tls`]: optional mutual TLS for the peer links.
//! - [`view`]: what the cluster page and `openseer cluster status` show.
//!
//! This crate never sees HTTP handlers, actors or the store.

pub mod balance;
pub mod fence;
pub mod membership;
pub mod node;
pub mod peer;
pub mod raft;
pub mod settings;
pub mod tls;
pub mod view;

pub use fence::Fence;
pub use node::{Cluster, ClusterError, JoinRequest, LeaveRequest};
pub use settings::ClusterSettings;
pub use view::{ClusterView, NodeView};
