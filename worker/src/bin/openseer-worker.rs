//! `openseer-worker`: the regional check agent as a standalone process.

use std::path::PathBuf;

use clap::Parser;
use openseer_worker::{run, WorkerConfig};

#[derive(Parser)]
#[command(version, about = "OpenSeer regional worker")]
struct Args {
    /// Control-plane node URLs, comma separated; the worker fails over between them.
    #[arg(long, env = "OPENSEER_SERVER", value_delimiter = ',', required = true)]
    server: Vec<String>,
    /// Region this worker checks from (letters, digits, '-').
    #[arg(long, env = "OPENSEER_REGION")]
    region: String,
    /// Enrollment token (ostc_...), needed only the first time.
    #[arg(long, env = "OPENSEER_ENROLL_TOKEN", hide_env_values = true)]
    enroll_token: Option<String>,
    /// Directory for the worker's identity and undelivered results.
    #[arg(
        long,
        env = "OPENSEER_STATE_DIR",
        default_value = "./openseer-worker-state"
    )]
    state_dir: PathBuf,
    /// Name shown on the workers page (default: host name).
    #[arg(long)]
    name: Option<String>,
    /// Checks run at the same time, at most.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Refuse targets on loopback, private, link-local (cloud metadata included),
    /// CGNAT, multicast and unique-local addresses.
    #[arg(long, env = "OPENSEER_BLOCK_PRIVATE_TARGETS")]
    block_private_targets: bool,
    /// Results kept on disk at most while no node acknowledges them (the oldest
    /// are dropped, and counted, past this).
    #[arg(long, default_value_t = 500_000)]
    outbox_max_results: usize,
    /// Serve /metrics, /readyz and /healthz on this address (e.g. 127.0.0.1:9101).
    #[arg(long, env = "OPENSEER_METRICS_ADDR")]
    metrics_addr: Option<std::net::SocketAddr>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // One line per error with its causes, as `openseer` prints them: the
    // Debug form would add a stack trace whenever RUST_BACKTRACE is set.
    match work().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn work() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    if !openseer_protocol::monitor::is_valid_region(&args.region) {
        anyhow::bail!("--region must be letters, digits and '-' (at most 32)");
    }
    let mut config = WorkerConfig::new(args.server, &args.region, args.state_dir);
    config.enroll_token = args.enroll_token;
    config.concurrency = args.concurrency.max(1);
    config.checker.block_private_targets = args.block_private_targets;
    config.outbox_cap = args.outbox_max_results;
    config.metrics_addr = args.metrics_addr;
    if let Some(n) = args.name {
        config.name = n;
    }
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        openseer_worker::wait_for_stop_signal().await;
        tracing::info!("stopping: finishing running checks and flushing results");
        let _ = tx.send(true);
    });
    run(config, rx).await?;
    Ok(())
}
