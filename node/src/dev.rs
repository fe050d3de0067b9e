//! `openseer dev`: one node on embedded SQLite and an in-process worker in
//! region `local`, talking to the node over its real HTTP worker API.
//!
//! The worker belongs to the organization, which only exists once the setup
//! link has been used; so the worker waits for it, then the node mints an
//! enrollment token for it. Its identity lives in `<data>/worker/`, so a
//! restart reuses the same worker.

use std::time::Duration;

use openseer_protocol::token::TokenKind;
use openseer_worker::WorkerConfig;
use tokio::sync::watch;

use crate::auth::token;
use openseer_store::Store;

pub const DEV_REGION: &str = "local";

/// Runs the in-process worker until `shutdown`; returns when it has flushed.
pub async fn run_worker(
    store: Store,
    base_url: String,
    data_dir: std::path::PathBuf,
    shutdown: watch::Receiver<bool>,
) {
    let state_dir = data_dir.join("worker");
    let mut config = WorkerConfig::new(vec![base_url], DEV_REGION, state_dir.clone());
    config.name = "dev (in-process)".into();
    if openseer_worker::state::load_identity(&state_dir)
        .ok()
        .flatten()
        .is_none()
    {
        let Some(org_id) = wait_for_org(&store, shutdown.clone()).await else {
            return;
        };
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
            tracing::error!(error = %e, "creating the dev worker's enrollment token");
            return;
        }
        config.enroll_token = Some(t);
    }
    if let Err(e) = openseer_worker::run(config, shutdown).await {
        tracing::error!(error = %e, "in-process worker stopped");
    }
}

async fn wait_for_org(store: &Store, mut shutdown: watch::Receiver<bool>) -> Option<i64> {
    loop {
        match store.first_org_id().await {
            Ok(Some(id)) => return Some(id),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "waiting for setup"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = shutdown.changed() => return None,
        }
    }
}
