//! `openseer dev`: one node on embedded SQLite and in-process workers in
//! region `local`, talking to the node over its real HTTP worker API.
//!
//! Workers belong to an organization, so `dev` runs one for every
//! organization of the node: the first appears once the setup link has been
//! used, more when users create organizations (from the Members page), each
//! picked up within a second. The node mints each one's enrollment token.
//! Identities live in `<data>/worker/` (the first organization's, as before)
//! and `<data>/worker-<org id>/`, so a restart reuses the same workers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use openseer_protocol::token::TokenKind;
use openseer_worker::WorkerConfig;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::auth::token;
use openseer_store::Store;

pub const DEV_REGION: &str = "local";

/// How often `dev` looks for organizations without a worker.
const LOOK_EVERY: Duration = Duration::from_secs(1);

/// Runs an in-process worker for every organization until `shutdown`;
/// returns when all of them have flushed.
pub async fn run_workers(
    store: Store,
    base_url: String,
    data_dir: PathBuf,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut running: HashMap<i64, JoinHandle<()>> = HashMap::new();
    loop {
        match store.organization_ids().await {
            Ok(ids) => {
                let first = ids.first().copied();
                for org_id in ids {
                    if running.contains_key(&org_id) {
                        continue;
                    }
                    let dir = state_dir(&data_dir, org_id, first);
                    let task = tokio::spawn(run_worker(
                        store.clone(),
                        base_url.clone(),
                        org_id,
                        dir,
                        shutdown.clone(),
                    ));
                    running.insert(org_id, task);
                }
            }
            Err(e) => tracing::warn!(error = %e, "listing organizations for the dev workers"),
        }
        tokio::select! {
            _ = tokio::time::sleep(LOOK_EVERY) => {}
            _ = shutdown.changed() => break,
        }
    }
    for (_, task) in running {
        let _ = task.await;
    }
}

/// `<data>/worker` for the first organization (where `dev` always kept its
/// one worker), `<data>/worker-<id>` for the others.
fn state_dir(data_dir: &Path, org_id: i64, first: Option<i64>) -> PathBuf {
    if Some(org_id) == first {
        return data_dir.join("worker");
    }
    data_dir.join(format!("worker-{org_id}"))
}

async fn run_worker(
    store: Store,
    base_url: String,
    org_id: i64,
    state_dir: PathBuf,
    shutdown: watch::Receiver<bool>,
) {
    let mut config = WorkerConfig::new(vec![base_url], DEV_REGION, state_dir.clone());
    config.name = "dev (in-process)".into();
    if openseer_worker::state::load_identity(&state_dir)
        .ok()
        .flatten()
        .is_none()
    {
        let t = token::generate(TokenKind::Enrollment);
        if let Err(e) = store
            .create_enrollment_token(
                openseer_store::NewEnrollmentToken {
                    org_id,
                    name: "dev worker",
                    token_hash: &token::hash(&t),
                    expires_at: None,
                    // It enrolls this one worker.
                    max_uses: Some(1),
                },
                openseer_core::clock::system_now_ms(),
            )
            .await
        {
            tracing::error!(error = %e, org_id, "creating a dev worker's enrollment token");
            return;
        }
        config.enroll_token = Some(t);
    }
    tracing::info!(org_id, "in-process worker starting");
    if let Err(e) = openseer_worker::run(config, shutdown).await {
        tracing::error!(error = %e, org_id, "in-process worker stopped");
    }
}
