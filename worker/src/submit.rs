//! Delivering results. Results from the checks are gathered into batches
//! (up to [`MAX_BATCH`], or whatever arrived within a few milliseconds),
//! written to the [`Outbox`] on disk, and only then sent, oldest batch first.
//! A batch leaves the outbox when a node acknowledged it (an acknowledgement
//! means committed); failures are retried with backoff while new results keep
//! being written, so checks never wait on the control plane.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use openseer_protocol::wire::SubmitResultsRequest;
use openseer_protocol::{CheckResult, ErrorCode};
use tokio::sync::{mpsc, watch};

use crate::client::{ClientError, NodeClient};
use crate::outbox::Outbox;
use crate::status::Status;
use crate::Backoff;

pub const MAX_BATCH: usize = 500;
/// How long shutdown keeps trying to deliver; what is left stays on disk.
const FLUSH_BUDGET: Duration = Duration::from_secs(10);
const GATHER: Duration = Duration::from_millis(20);

pub async fn run(
    client: NodeClient,
    mut rx: mpsc::Receiver<CheckResult>,
    state_dir: PathBuf,
    outbox_cap: usize,
    status: Arc<Status>,
    revoked: watch::Sender<Option<String>>,
) {
    let mut outbox = match Outbox::open(&state_dir.join("outbox"), outbox_cap) {
        Ok(o) => o,
        Err(e) => {
            // Without a place to keep results, sending straight away is the
            // best left; say so loudly.
            tracing::error!(error = %e, "cannot open the outbox; results are not protected against crashes");
            return direct(client, rx).await;
        }
    };
    if !outbox.is_empty() {
        tracing::info!(
            count = outbox.len(),
            "sending results kept from before the last stop"
        );
    }
    let mut backoff = Backoff::new();
    let mut open = true;
    let mut retry_at: Option<tokio::time::Instant> = None;
    while open || (!outbox.is_empty() && retry_at.is_none()) {
        // Take in what the checks produced; wait for it only when there is
        // nothing to send (or sending has to wait anyway).
        let mut batch = Vec::new();
        let idle = outbox.is_empty() || retry_at.is_some();
        if idle && open {
            let wake =
                retry_at.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                r = rx.recv() => match r {
                    Some(r) => batch.push(r),
                    None => open = false,
                },
                _ = tokio::time::sleep_until(wake) => retry_at = None,
            }
        }
        if !batch.is_empty() {
            let gather = tokio::time::sleep(GATHER);
            tokio::pin!(gather);
            while batch.len() < MAX_BATCH && open {
                tokio::select! {
                    r = rx.recv() => match r {
                        Some(r) => batch.push(r),
                        None => open = false,
                    },
                    _ = &mut gather => break,
                }
            }
        }
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        if let Err(e) = outbox.push(&batch) {
            tracing::error!(error = %e, count = batch.len(), "writing results to the outbox failed; sending them directly");
            let _ = send_once(&client, &batch).await;
        }
        if retry_at.is_some_and(|t| tokio::time::Instant::now() < t) {
            continue;
        }
        retry_at = None;
        let delivered = deliver_oldest(&client, &mut outbox).await;
        status
            .outbox_results
            .store(outbox.len() as i64, Ordering::Relaxed);
        status
            .outbox_dropped
            .store(outbox.dropped(), Ordering::Relaxed);
        match delivered {
            Ok(sent) => {
                backoff.reset();
                if sent {
                    status.contact();
                }
            }
            Err(Delivery::Revoked(msg)) => {
                tracing::error!(error = %msg, "worker token refused; results stay in the outbox");
                let _ = revoked.send(Some(msg));
                break;
            }
            Err(Delivery::Retry(msg)) => {
                let wait = backoff.next_delay();
                tracing::warn!(error = %msg, pending = outbox.len(), retry_in_ms = wait.as_millis() as u64, "submitting results failed");
                retry_at = Some(tokio::time::Instant::now() + wait);
            }
        }
    }
    // Shutdown: keep what is left of the channel, then try to deliver for a while.
    let mut rest = Vec::new();
    while let Ok(r) = rx.try_recv() {
        rest.push(r);
    }
    if let Err(e) = outbox.push(&rest) {
        tracing::error!(error = %e, count = rest.len(), "could not keep results at shutdown");
    }
    let deadline = tokio::time::Instant::now() + FLUSH_BUDGET;
    while !outbox.is_empty() && tokio::time::Instant::now() < deadline {
        match deliver_oldest(&client, &mut outbox).await {
            Ok(_) => {}
            Err(Delivery::Revoked(_)) => break,
            Err(Delivery::Retry(_)) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
    if !outbox.is_empty() {
        tracing::warn!(
            count = outbox.len(),
            "undelivered results kept in the outbox for the next start"
        );
    }
}

enum Delivery {
    Retry(String),
    Revoked(String),
}

/// Sends the oldest outbox batch and settles what the node answered for;
/// `Ok(false)` when there was nothing to send.
async fn deliver_oldest(client: &NodeClient, outbox: &mut Outbox) -> Result<bool, Delivery> {
    let Some((seq, batch)) = outbox.oldest() else {
        return Ok(false);
    };
    let answered = send_once(client, &batch).await?;
    let keep: Vec<CheckResult> = batch
        .into_iter()
        .filter(|r| !answered.contains(&r.run_id))
        .collect();
    if let Err(e) = outbox.settle(seq, &keep) {
        tracing::error!(error = %e, "updating the outbox failed");
        outbox.skip(seq);
    }
    Ok(true)
}

/// One submission; returns the run ids the node answered for (accepted or
/// rejected for good).
async fn send_once(
    client: &NodeClient,
    batch: &[CheckResult],
) -> Result<HashSet<String>, Delivery> {
    match client
        .submit(&SubmitResultsRequest {
            results: batch.to_vec(),
        })
        .await
    {
        Ok(resp) => {
            for r in &resp.rejected {
                tracing::warn!(run_id = %r.run_id, code = ?r.code, reason = %r.message, "result rejected");
            }
            Ok(resp
                .accepted
                .into_iter()
                .chain(resp.rejected.into_iter().map(|r| r.run_id))
                .collect())
        }
        Err(ClientError::Rejected { body, .. }) if body.error == ErrorCode::Unauthorized => {
            Err(Delivery::Revoked(body.message))
        }
        Err(e) => Err(Delivery::Retry(e.to_string())),
    }
}

/// Fallback when the outbox cannot be opened: send as results come.
async fn direct(client: NodeClient, mut rx: mpsc::Receiver<CheckResult>) {
    while let Some(r) = rx.recv().await {
        let mut batch = vec![r];
        while let Ok(r) = rx.try_recv() {
            batch.push(r);
            if batch.len() >= MAX_BATCH {
                break;
            }
        }
        let mut backoff = Backoff::new();
        for _ in 0..5 {
            match send_once(&client, &batch).await {
                Ok(_) | Err(Delivery::Revoked(_)) => break,
                Err(Delivery::Retry(_)) => tokio::time::sleep(backoff.next_delay()).await,
            }
        }
    }
}
