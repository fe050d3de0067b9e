//! The OpenSeer worker: enroll once, long-poll a node for due jobs of its
//! region, run each check on a fresh connection, submit results in batches,
//! and never drop a result it has taken.
//!
//! Tasks inside a running worker:
//! - the poll loop (this module): holds one semaphore permit per check it may
//!   still start, so it never takes more jobs than it can run;
//! - one task per check ([`check::Checker`]);
//! - the submitter ([`submit`]): batches results, retries with backoff, and on
//!   shutdown spools what it could not deliver to the state directory;
//! - the renewer: extends leases of checks that run long.

mod assert;
pub mod check;
pub mod client;
pub mod decode;
mod der;
pub mod http;
pub mod outbox;
pub mod state;
pub mod status;
pub mod submit;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use openseer_protocol::wire::{Capabilities, EnrollRequest, GetJobsRequest, RenewLeasesRequest};
use openseer_protocol::ErrorCode;
use tokio::sync::{mpsc, watch, Semaphore};

use crate::check::Checker;
use crate::client::{ClientError, NodeClient};
use crate::state::Identity;

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub servers: Vec<String>,
    pub region: String,
    pub name: String,
    pub enroll_token: Option<String>,
    pub state_dir: PathBuf,
    /// Checks run at the same time, at most.
    pub concurrency: usize,
    /// Long-poll wait asked of the node.
    pub poll_wait: Duration,
    pub checker: check::CheckerOptions,
    /// Results kept on disk at most while no node acknowledges them.
    pub outbox_cap: usize,
    /// Where to serve `/metrics`, `/readyz` and `/healthz` (off when `None`).
    pub metrics_addr: Option<std::net::SocketAddr>,
}

impl WorkerConfig {
    pub fn new(servers: Vec<String>, region: &str, state_dir: PathBuf) -> WorkerConfig {
        WorkerConfig {
            servers,
            region: region.to_string(),
            name: default_name(),
            enroll_token: None,
            state_dir,
            concurrency: 256,
            poll_wait: Duration::from_secs(20),
            checker: check::CheckerOptions::default(),
            outbox_cap: 500_000,
            metrics_addr: None,
        }
    }
}

fn default_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_string())
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "worker".to_string())
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("no identity in {0} and no enrollment token given (--enroll-token ostc_...)")]
    NotEnrolled(PathBuf),
    #[error("enrollment refused: {0}")]
    EnrollRefused(String),
    #[error("the state directory belongs to a worker of region {stored:?}, not {wanted:?}")]
    RegionMismatch { stored: String, wanted: String },
    #[error("the node no longer accepts this worker's token (revoked?): {0}")]
    Revoked(String),
    #[error(transparent)]
    State(#[from] state::StateError),
    #[error("building the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error(transparent)]
    Checker(#[from] check::CheckerError),
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Runs until `shutdown` turns true, then stops taking jobs, lets running
/// checks finish and delivers (or spools) every result.
pub async fn run(
    config: WorkerConfig,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), WorkerError> {
    let status = Arc::new(status::Status::default());
    if let Some(addr) = config.metrics_addr {
        let (status, shutdown) = (status.clone(), shutdown.clone());
        tokio::spawn(async move {
            if let Err(e) = status::serve(addr, status, shutdown).await {
                tracing::error!(error = %e, %addr, "worker metrics endpoint failed");
            }
        });
    }
    let anonymous = NodeClient::new(config.servers.clone())?;
    let Some(identity) = identify(&config, &anonymous, &mut shutdown).await? else {
        return Ok(());
    };
    tracing::info!(worker_id = identity.worker_id, region = %identity.region, "worker running");
    status
        .enrolled
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let client = anonymous.with_token(&identity.api_token);
    let checker = Checker::with_options(config.checker.clone())?;

    let (results_tx, results_rx) = mpsc::channel(4096);
    let (revoked_tx, mut revoked_rx) = watch::channel(None::<String>);
    let submitter = tokio::spawn(submit::run(
        client.clone(),
        results_rx,
        config.state_dir.clone(),
        config.outbox_cap,
        status.clone(),
        revoked_tx,
    ));

    let in_flight: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let renewer = tokio::spawn(renew_loop(client.clone(), in_flight.clone()));
    let permits = Arc::new(Semaphore::new(config.concurrency));
    let mut backoff = Backoff::new();
    let mut failure = None;

    loop {
        // Wait for room to run at least one check before asking for work.
        let first = tokio::select! {
            biased;
            _ = stop_requested(&mut shutdown) => break,
            p = permits.clone().acquire_owned() => p.expect("semaphore is never closed"),
        };
        let free = permits.available_permits() + 1;
        let req = GetJobsRequest {
            max_jobs: free.min(openseer_protocol::wire::MAX_JOBS_PER_POLL as usize) as u32,
            wait_ms: config.poll_wait.as_millis() as u32,
        };
        let answer = tokio::select! {
            a = client.get_jobs(&req) => a,
            _ = stop_requested(&mut shutdown) => break,
            _ = revoked_rx.changed() => {
                failure = revoked_rx.borrow().clone().map(WorkerError::Revoked);
                break;
            }
        };
        let jobs = match answer {
            Ok(r) => {
                backoff.reset();
                status.contact();
                r.jobs
            }
            Err(e) => {
                if let Some(ErrorCode::Unauthorized) = e.code() {
                    failure = Some(WorkerError::Revoked(e.to_string()));
                    break;
                }
                let wait = backoff.next_delay();
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "polling for jobs failed");
                drop(first);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => continue,
                    _ = stop_requested(&mut shutdown) => break,
                }
            }
        };
        let mut first = Some(first);
        for job in jobs {
            let permit = match first.take() {
                Some(p) => p,
                None => permits
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("semaphore is never closed"),
            };
            let checker = checker.clone();
            let tx = results_tx.clone();
            let in_flight = in_flight.clone();
            let status = status.clone();
            status
                .in_flight
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            in_flight
                .lock()
                .expect("in-flight map")
                .insert(job.run_id.clone(), Instant::now());
            tokio::spawn(async move {
                let result = checker.run(&job, now_ms).await;
                in_flight.lock().expect("in-flight map").remove(&job.run_id);
                status
                    .in_flight
                    .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                status.check_done(result.outcome.as_str(), result.total_ms / 1000.0);
                // The submitter outlives every check task; a send can only
                // fail if it crashed, and then there is nobody to tell.
                let _ = tx.send(result).await;
                drop(permit);
            });
        }
    }

    // Let running checks finish: take back every permit.
    let _all = permits
        .acquire_many(config.concurrency as u32)
        .await
        .expect("semaphore is never closed");
    renewer.abort();
    drop(results_tx);
    match submitter.await {
        Ok(()) => {}
        Err(e) => tracing::error!(error = %e, "result submitter failed"),
    }
    tracing::info!("worker stopped");
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Loads the identity from the state directory, or enrolls and saves it.
/// `Ok(None)` when shutdown came first.
async fn identify(
    config: &WorkerConfig,
    client: &NodeClient,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<Option<Identity>, WorkerError> {
    if let Some(id) = state::load_identity(&config.state_dir)? {
        if id.region != config.region {
            return Err(WorkerError::RegionMismatch {
                stored: id.region,
                wanted: config.region.clone(),
            });
        }
        return Ok(Some(id));
    }
    let Some(token) = &config.enroll_token else {
        return Err(WorkerError::NotEnrolled(config.state_dir.clone()));
    };
    let req = EnrollRequest {
        enrollment_token: token.clone(),
        name: config.name.clone(),
        region: config.region.clone(),
        capabilities: Capabilities {
            version: env!("CARGO_PKG_VERSION").to_string(),
            check_types: vec!["http".to_string()],
            concurrency: config.concurrency as u32,
        },
    };
    let mut backoff = Backoff::new();
    loop {
        match client.enroll(&req).await {
            Ok(r) => {
                let id = Identity {
                    worker_id: r.worker_id,
                    api_token: r.api_token,
                    region: r.region,
                };
                state::save_identity(&config.state_dir, &id)?;
                tracing::info!(worker_id = id.worker_id, "enrolled");
                return Ok(Some(id));
            }
            Err(ClientError::Rejected { body, .. }) => {
                return Err(WorkerError::EnrollRefused(body.message))
            }
            Err(e) => {
                let wait = backoff.next_delay();
                tracing::warn!(error = %e, "enrollment failed, retrying");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop_requested(shutdown) => return Ok(None),
                }
            }
        }
    }
}

/// Renews the leases of checks that have been running for a while, so a
/// slow check is not handed to another worker while it still runs.
async fn renew_loop(client: NodeClient, in_flight: Arc<Mutex<HashMap<String, Instant>>>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        let run_ids: Vec<String> = in_flight
            .lock()
            .expect("in-flight map")
            .iter()
            .filter(|(_, started)| started.elapsed() > Duration::from_secs(10))
            .map(|(id, _)| id.clone())
            .collect();
        if run_ids.is_empty() {
            continue;
        }
        match client.renew(&RenewLeasesRequest { run_ids }).await {
            Ok(r) if !r.lost.is_empty() => {
                tracing::warn!(
                    lost = r.lost.len(),
                    "some leases were lost while checks ran"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "renewing leases failed"),
        }
    }
}

/// Resolves once a stop is asked for, or once nobody can ask any more (the
/// sender is gone). `changed()` alone would resolve at once, forever, after
/// the sender is dropped, and a loop around it would spin without yielding.
pub async fn stop_requested(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Resolves at Ctrl-C or SIGTERM: the signals that ask a process to stop cleanly.
pub async fn wait_for_stop_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Exponential backoff from 100 ms to 5 s.
pub struct Backoff(Duration);

impl Backoff {
    pub fn new() -> Backoff {
        Backoff(Duration::from_millis(100))
    }
    pub fn next_delay(&mut self) -> Duration {
        let d = self.0;
        self.0 = (self.0 * 2).min(Duration::from_secs(5));
        d
    }
    pub fn reset(&mut self) {
        self.0 = Duration::from_millis(100);
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}
