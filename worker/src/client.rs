//! Talking to control-plane nodes: keep-alive JSON over HTTP, with failover
//! across every `--server` URL. This client is separate from the target
//! checker on purpose: reused connections here are fine, there they would lie.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openseer_protocol::wire::{
    EnrollRequest, EnrollResponse, GetJobsRequest, GetJobsResponse, RenewLeasesRequest,
    RenewLeasesResponse, SubmitResultsRequest, SubmitResultsResponse, ENROLL_PATH, GET_JOBS_PATH,
    RENEW_LEASES_PATH, SUBMIT_RESULTS_PATH,
};
use openseer_protocol::{ErrorBody, ErrorCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No node could be reached; worth retrying later.
    #[error("no control-plane node reachable: {0}")]
    Unreachable(String),
    /// A node answered with an error; retrying the same call will not help.
    #[error("{}: {}", status, body.message)]
    Rejected { status: u16, body: ErrorBody },
}

impl ClientError {
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Rejected { body, .. } => Some(body.error),
            ClientError::Unreachable(_) => None,
        }
    }
}

#[derive(Clone)]
pub struct NodeClient {
    http: reqwest::Client,
    servers: Arc<Vec<String>>,
    /// Index of the server that answered last; calls start there.
    current: Arc<AtomicUsize>,
    token: Option<Arc<str>>,
}

impl NodeClient {
    pub fn new(servers: Vec<String>) -> Result<NodeClient, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(60))
            .no_proxy()
            .user_agent(concat!("openseer-worker/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let servers = servers
            .into_iter()
            .map(|s| s.trim_end_matches('/').to_string())
            .collect();
        Ok(NodeClient {
            http,
            servers: Arc::new(servers),
            current: Arc::new(AtomicUsize::new(0)),
            token: None,
        })
    }

    pub fn with_token(&self, token: &str) -> NodeClient {
        NodeClient {
            token: Some(Arc::from(token)),
            ..self.clone()
        }
    }

    pub async fn enroll(&self, req: &EnrollRequest) -> Result<EnrollResponse, ClientError> {
        self.post(ENROLL_PATH, req, Duration::from_secs(30)).await
    }

    pub async fn get_jobs(&self, req: &GetJobsRequest) -> Result<GetJobsResponse, ClientError> {
        let budget = Duration::from_millis(u64::from(req.wait_ms)) + Duration::from_secs(10);
        self.post(GET_JOBS_PATH, req, budget).await
    }

    pub async fn submit(
        &self,
        req: &SubmitResultsRequest,
    ) -> Result<SubmitResultsResponse, ClientError> {
        self.post(SUBMIT_RESULTS_PATH, req, Duration::from_secs(30))
            .await
    }

    pub async fn renew(
        &self,
        req: &RenewLeasesRequest,
    ) -> Result<RenewLeasesResponse, ClientError> {
        self.post(RENEW_LEASES_PATH, req, Duration::from_secs(10))
            .await
    }

    /// Tries each server once, starting with the one that answered last.
    /// A server that answers at all (even with an error) ends the attempt:
    /// only transport failures move on to the next server.
    async fn post<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        path: &str,
        body: &Req,
        timeout: Duration,
    ) -> Result<Resp, ClientError> {
        let n = self.servers.len();
        let start = self.current.load(Ordering::Relaxed);
        let mut failures = Vec::new();
        for i in 0..n {
            let idx = (start + i) % n;
            let url = format!("{}{}", self.servers[idx], path);
            let mut req = self.http.post(&url).json(body).timeout(timeout);
            if let Some(t) = &self.token {
                req = req.bearer_auth(t);
            }
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    failures.push(format!("{}: {}", self.servers[idx], e));
                    continue;
                }
            };
            let status = resp.status();
            if status.is_server_error() && status.as_u16() != 500 {
                // 502/503/504 from a proxy or a node that is going away.
                failures.push(format!("{}: HTTP {}", self.servers[idx], status));
                continue;
            }
            self.current.store(idx, Ordering::Relaxed);
            let bytes = match resp.bytes().await {
                Ok(b) => b,
                Err(e) => {
                    failures.push(format!("{}: {}", self.servers[idx], e));
                    continue;
                }
            };
            if status.is_success() {
                return serde_json::from_slice(&bytes).map_err(|e| ClientError::Rejected {
                    status: status.as_u16(),
                    body: ErrorBody::new(ErrorCode::Internal, format!("unreadable answer: {e}")),
                });
            }
            let body = serde_json::from_slice::<ErrorBody>(&bytes).unwrap_or_else(|_| {
                ErrorBody::new(
                    ErrorCode::Internal,
                    String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned(),
                )
            });
            return Err(ClientError::Rejected {
                status: status.as_u16(),
                body,
            });
        }
        Err(ClientError::Unreachable(failures.join("; ")))
    }
}
