//! What a node of a cluster is configured with.

use openseer_core::assign::NodeId;

#[derive(Debug, Clone)]
pub struct ClusterSettings {
    pub node_id: NodeId,
    /// ractor_cluster listen address (`host:port`).
    pub cluster_addr: String,
    /// The HTTP address other nodes reach this one at.
    pub advertise_http: String,
    /// HTTP addresses of nodes to join through; empty: initialise a new cluster.
    pub join: Vec<String>,
    pub secret: String,
    /// A node unreachable for this long loses its shards.
    pub failover_ms: u64,
    /// A node that has not heard from a leader for this long stops scheduling.
    pub fence_ms: u64,
    pub heartbeat_ms: u64,
    /// Node-to-node TLS files; `None`: plain TCP (keep it on a private network).
    pub tls: Option<crate::tls::ClusterTls>,
}

impl ClusterSettings {
    pub fn check(&self) -> Result<(), String> {
        if self.node_id == 0 {
            return Err("node_id must be 1 or more".into());
        }
        if self.secret.len() < 16 {
            return Err("cluster_secret must be at least 16 characters".into());
        }
        if self.fence_ms >= self.failover_ms {
            return Err("fence_ms must be shorter than failover_ms".into());
        }
        if self.heartbeat_ms * 3 > self.fence_ms {
            return Err("heartbeat_ms must be at most a third of fence_ms".into());
        }
        Ok(())
    }
}
