//! Delivering results: batches of up to [`MAX_BATCH`], retried with backoff
//! until a node acknowledges them (an acknowledgement means committed).
//! Results not delivered by shutdown are spooled to `pending.json` in the
//! state directory and sent first at the next start.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Duration;

use openseer_protocol::wire::SubmitResultsRequest;
use openseer_protocol::{CheckResult, ErrorCode};
use tokio::sync::{mpsc, watch};

use crate::client::{ClientError, NodeClient};
use crate::Backoff;

pub const MAX_BATCH: usize = 500;
/// Results kept while no node answers; past this the oldest are dropped.
pub const MAX_PENDING: usize = 100_000;
/// How long shutdown keeps trying to deliver before spooling to disk.
const FLUSH_BUDGET: Duration = Duration::from_secs(10);
const SPOOL_FILE: &str = "pending.json";

pub async fn run(
    client: NodeClient,
    mut rx: mpsc::Receiver<CheckResult>,
    state_dir: PathBuf,
    revoked: watch::Sender<Option<String>>,
) {
    let mut pending: VecDeque<CheckResult> = load_spool(&state_dir).into();
    if !pending.is_empty() {
        tracing::info!(
            count = pending.len(),
            "resending results spooled at the last stop"
        );
    }
    let mut backoff = Backoff::new();
    let mut open = true;
    while open {
        if pending.is_empty() {
            match rx.recv().await {
                Some(r) => pending.push_back(r),
                None => break,
            }
        }
        // Gather whatever else is ready, briefly, to fill a batch.
        let gather = tokio::time::sleep(Duration::from_millis(20));
        tokio::pin!(gather);
        while pending.len() < MAX_BATCH {
            tokio::select! {
                r = rx.recv() => match r {
                    Some(r) => push_bounded(&mut pending, r),
                    None => { open = false; break; }
                },
                _ = &mut gather => break,
            }
        }
        match deliver(&client, &mut pending).await {
            Ok(()) => backoff.reset(),
            Err(Delivery::Revoked(msg)) => {
                tracing::error!(error = %msg, "worker token refused; spooling results");
                let _ = revoked.send(Some(msg));
                break;
            }
            Err(Delivery::Retry(msg)) => {
                let wait = backoff.next_delay();
                tracing::warn!(error = %msg, pending = pending.len(), retry_in_ms = wait.as_millis() as u64, "submitting results failed");
                // Keep accepting results while we wait so checks never block.
                let sleep = tokio::time::sleep(wait);
                tokio::pin!(sleep);
                loop {
                    tokio::select! {
                        r = rx.recv(), if open => match r {
                            Some(r) => push_bounded(&mut pending, r),
                            None => open = false,
                        },
                        _ = &mut sleep => break,
                    }
                }
            }
        }
    }
    // Shutdown: drain the channel, try to deliver for a while, then spool.
    while let Ok(r) = rx.try_recv() {
        push_bounded(&mut pending, r);
    }
    let deadline = tokio::time::Instant::now() + FLUSH_BUDGET;
    while !pending.is_empty() && tokio::time::Instant::now() < deadline {
        match deliver(&client, &mut pending).await {
            Ok(()) => {}
            Err(Delivery::Revoked(_)) => break,
            Err(Delivery::Retry(_)) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
    if let Err(e) = save_spool(&state_dir, pending.make_contiguous()) {
        tracing::error!(error = %e, count = pending.len(), "could not spool undelivered results");
    } else if !pending.is_empty() {
        tracing::warn!(
            count = pending.len(),
            "undelivered results spooled for the next start"
        );
    }
}

enum Delivery {
    Retry(String),
    Revoked(String),
}

/// Sends the oldest batch; removes what the node accepted or rejected for good.
async fn deliver(client: &NodeClient, pending: &mut VecDeque<CheckResult>) -> Result<(), Delivery> {
    let n = pending.len().min(MAX_BATCH);
    let batch: Vec<CheckResult> = pending.iter().take(n).cloned().collect();
    match client
        .submit(&SubmitResultsRequest { results: batch })
        .await
    {
        Ok(resp) => {
            for r in &resp.rejected {
                tracing::warn!(run_id = %r.run_id, code = ?r.code, reason = %r.message, "result rejected");
            }
            let done = resp.accepted.len() + resp.rejected.len();
            if done != n {
                tracing::warn!(
                    sent = n,
                    answered = done,
                    "node answered for a different number of results"
                );
            }
            let answered: std::collections::HashSet<&str> = resp
                .accepted
                .iter()
                .chain(resp.rejected.iter().map(|r| &r.run_id))
                .map(String::as_str)
                .collect();
            let mut kept = VecDeque::with_capacity(pending.len());
            for (i, r) in pending.drain(..).enumerate() {
                if i >= n || !answered.contains(r.run_id.as_str()) {
                    kept.push_back(r);
                }
            }
            *pending = kept;
            Ok(())
        }
        Err(ClientError::Rejected { body, .. }) if body.error == ErrorCode::Unauthorized => {
            Err(Delivery::Revoked(body.message))
        }
        Err(e) => Err(Delivery::Retry(e.to_string())),
    }
}

fn push_bounded(pending: &mut VecDeque<CheckResult>, r: CheckResult) {
    if pending.len() >= MAX_PENDING {
        pending.pop_front();
        tracing::warn!("result buffer full: dropped the oldest result");
    }
    pending.push_back(r);
}

fn load_spool(dir: &Path) -> Vec<CheckResult> {
    let path = dir.join(SPOOL_FILE);
    let Ok(bytes) = std::fs::read(&path) else {
        return Vec::new();
    };
    match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "ignoring unreadable result spool");
            Vec::new()
        }
    }
}

fn save_spool(dir: &Path, results: &[CheckResult]) -> Result<(), crate::state::StateError> {
    let path = dir.join(SPOOL_FILE);
    if results.is_empty() {
        let _ = std::fs::remove_file(&path);
        return Ok(());
    }
    let bytes = serde_json::to_vec(results).expect("results serialise");
    crate::state::write_atomically(&path, &bytes)
}
