//! `openseer`: the control-plane node.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use openseer_node::config::FileConfig;
use openseer_node::{dev, Application, Settings};

#[derive(Parser)]
#[command(version, about = "OpenSeer: HTTP uptime and latency monitoring")]
struct Cli {
    /// Log lines for people (`text`) or for log pipelines (`json`).
    #[arg(long, global = true)]
    log_format: Option<String>,
    #[command(subcommand)]
    command: Command,
}

/// Node settings from the command line. Each overrides the same key of the
/// environment and of the `--config` file (see docs/configuration.md).
#[derive(clap::Args)]
struct NodeArgs {
    /// TOML configuration file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory (SQLite database, session key, dev worker state).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Address to serve HTTP on.
    #[arg(long = "http")]
    http: Option<String>,
    /// Public URL of this node if it differs from http://<http> (https:// marks cookies Secure).
    #[arg(long)]
    public_url: Option<String>,
    /// PostgreSQL URL (postgres://...); without it, SQLite in the data directory.
    #[arg(long)]
    database_url: Option<String>,
    /// Do not apply database migrations at start.
    #[arg(long)]
    no_migrate: bool,
    /// A job's lease lasts its check timeout plus this.
    #[arg(long)]
    lease_grace_ms: Option<i64>,
    /// A worker not heard from for this long is shown as down.
    #[arg(long)]
    worker_stale_ms: Option<i64>,
    /// This node's id in the cluster (1 or more; stable across restarts).
    #[arg(long)]
    node_id: Option<u64>,
    /// Address for node-to-node traffic (ip:port); setting it makes this
    /// node part of a cluster. The secret comes from OPENSEER_CLUSTER_SECRET
    /// or the file, never from a flag.
    #[arg(long)]
    cluster: Option<String>,
    /// HTTP address (host:port) of a node to join through; comma-separated
    /// for several. Without it, a node with no cluster state starts a new cluster.
    #[arg(long)]
    join: Option<String>,
    /// The host:port other nodes reach this node's HTTP at, if not --http.
    #[arg(long)]
    advertise_http: Option<String>,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate the configuration and print the effective settings.
    Check(NodeArgs),
}

#[derive(Subcommand)]
enum Command {
    /// One node on embedded SQLite with an in-process worker in region `local`.
    Dev(NodeArgs),
    /// Run a node: alone (SQLite or PostgreSQL), or one of a cluster with
    /// --node-id, --cluster and a shared PostgreSQL.
    Serve(NodeArgs),
    /// Cluster tools (they read the same configuration as `serve`).
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Write the organization's monitors as YAML or JSON (to stdout or --output).
    Export {
        #[command(flatten)]
        api: ApiArgs,
        #[arg(long)]
        output: Option<PathBuf>,
        /// yaml or json; default: by --output's extension, else yaml.
        #[arg(long)]
        format: Option<openseer_node::transfer::Format>,
    },
    /// Apply a monitors file (YAML, or JSON by its `.json` extension or
    /// content): create and update to match it; --prune also deletes
    /// monitors it does not list. Running it twice changes nothing.
    Import {
        #[command(flatten)]
        api: ApiArgs,
        file: PathBuf,
        /// Delete the monitors the file does not list.
        #[arg(long)]
        prune: bool,
        /// Print what would change, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Copy the SQLite database consistently, even while a node runs on it.
    Backup {
        #[command(flatten)]
        node: NodeArgs,
        /// Where to write the copy (must not exist).
        #[arg(long)]
        output: PathBuf,
    },
    /// Rollup tools.
    #[command(subcommand)]
    Rollup(RollupCommand),
    /// Configuration tools.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Apply database migrations and exit.
    Migrate(NodeArgs),
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// Hand this node's shards to the others and remove it from the
    /// cluster; stop the process afterwards.
    Leave(NodeArgs),
    /// Print the cluster as this node sees it (JSON).
    Status(NodeArgs),
}

#[derive(Subcommand)]
enum RollupCommand {
    /// Recompute every rollup from raw results scheduled since a time that
    /// are still kept: --since 7d (also h, m), a date 2026-11-01 (UTC), or
    /// unix milliseconds.
    Rebuild {
        #[command(flatten)]
        node: NodeArgs,
        #[arg(long)]
        since: String,
    },
}

#[derive(clap::Args)]
struct ApiArgs {
    /// A node's URL.
    #[arg(long, env = "OPENSEER_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// A user API token (ostu_...).
    #[arg(long, env = "OPENSEER_TOKEN", hide_env_values = true)]
    token: String,
}

/// Defaults, then the file, then the environment, then the flags.
fn resolve(a: &NodeArgs, log_flag: Option<&str>) -> anyhow::Result<(Settings, String)> {
    let file = match &a.config {
        Some(p) => FileConfig::load(p)?,
        None => FileConfig::default(),
    };
    let env = FileConfig::from_env(|k| std::env::var(k).ok())?;
    let flags = FileConfig {
        data_dir: a.data_dir.clone(),
        http: a.http.clone(),
        public_url: a.public_url.clone(),
        migrate: a.no_migrate.then_some(false),
        database_url: a.database_url.clone(),
        log_format: log_flag.map(str::to_string),
        lease_grace_ms: a.lease_grace_ms,
        worker_stale_ms: a.worker_stale_ms,
        node_id: a.node_id,
        cluster: a.cluster.clone(),
        join: a.join.clone(),
        advertise_http: a.advertise_http.clone(),
        // Secrets come from the file or the environment, never from flags
        // (command lines are visible to every user of the machine).
        metrics_token: None,
        ..FileConfig::default()
    };
    Ok(file.overlay(env).overlay(flags).resolve()?)
}

async fn open_store(settings: &Settings) -> anyhow::Result<openseer_store::Store> {
    if settings.database_url.is_none() {
        std::fs::create_dir_all(&settings.data_dir)?;
    }
    Ok(openseer_node::config::open_store(settings).await?)
}

fn init_logs(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        "info,sqlx=warn,actix_server=warn,openraft=warn,ractor_cluster=warn".into()
    });
    if format == "json" {
        tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_env_filter(filter)
            .init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // One line per error with its causes; anyhow's Debug form would add a
    // stack trace whenever RUST_BACKTRACE is set, which is noise to an operator.
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let log_flag = cli.log_format.as_deref();
    let node = match &cli.command {
        Command::Dev(a)
        | Command::Serve(a)
        | Command::Config(ConfigCommand::Check(a))
        | Command::Migrate(a)
        | Command::Backup { node: a, .. }
        | Command::Cluster(ClusterCommand::Leave(a) | ClusterCommand::Status(a))
        | Command::Rollup(RollupCommand::Rebuild { node: a, .. }) => Some(resolve(a, log_flag)?),
        _ => None,
    };
    let log_format = match &node {
        Some((_, f)) => f.clone(),
        None => log_flag
            .map(str::to_string)
            .or_else(|| std::env::var("OPENSEER_LOG_FORMAT").ok())
            .unwrap_or_else(|| "text".into()),
    };
    init_logs(&log_format);
    match cli.command {
        Command::Migrate(_) => {
            let (settings, _) = node.expect("resolved above");
            let store = open_store(&settings).await?;
            store.migrate().await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Rollup(RollupCommand::Rebuild { since, .. }) => {
            let (settings, _) = node.expect("resolved above");
            let now = openseer_core::clock::system_now_ms();
            let since = openseer_node::rollup::parse_since(&since, now)
                .map_err(|e| anyhow::anyhow!("--since: {e}"))?;
            let store = open_store(&settings).await?;
            if !store.migrations_current().await? {
                anyhow::bail!("the database schema is not current; run `openseer migrate` first");
            }
            let r = openseer_node::rollup::rebuild(&store, since, now, &settings.retention).await?;
            println!(
                "rebuilt rollups from {} ms: {} minute buckets recomputed",
                r.from, r.minutes
            );
            Ok(())
        }
        Command::Export {
            api,
            output,
            format,
        } => {
            use openseer_node::transfer::Format;
            let format = format
                .or_else(|| output.as_deref().and_then(Format::of_path))
                .unwrap_or(Format::Yaml);
            let file = openseer_node::transfer::Client::new(&api.server, &api.token)?
                .export()
                .await?;
            let text = file.render(format)?;
            match output {
                Some(p) => std::fs::write(&p, text)?,
                None => print!("{text}"),
            }
            Ok(())
        }
        Command::Import {
            api,
            file,
            prune,
            dry_run,
        } => {
            use openseer_node::transfer::{Format, MonitorsFile};
            let text = std::fs::read_to_string(&file)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))?;
            let parsed = MonitorsFile::parse(&text, Format::of_file(&file, &text))
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let r = openseer_node::transfer::Client::new(&api.server, &api.token)?
                .import(
                    &parsed,
                    openseer_node::transfer::ImportOptions { prune, dry_run },
                )
                .await?;
            for (change, name) in &r.changes {
                println!("{} {name}", change.as_str());
            }
            match dry_run {
                true => println!(
                    "would create {}, update {}, delete {}; unchanged {} (dry run: nothing was changed)",
                    r.created, r.updated, r.deleted, r.unchanged
                ),
                false => println!(
                    "created {}, updated {}, unchanged {}, deleted {}",
                    r.created, r.updated, r.unchanged, r.deleted
                ),
            }
            Ok(())
        }
        Command::Backup { output, .. } => {
            let (settings, _) = node.expect("resolved above");
            let store = open_store(&settings).await?;
            store.backup_to(&output).await?;
            println!("backup written to {}", output.display());
            Ok(())
        }
        Command::Config(ConfigCommand::Check(_)) => {
            let (settings, format) = node.expect("resolved above");
            print!("{}", openseer_node::config::effective(&settings, &format));
            Ok(())
        }
        Command::Cluster(cmd) => {
            let (settings, _) = node.expect("resolved above");
            let Some(c) = settings.cluster else {
                anyhow::bail!("this node is not configured as part of a cluster (set cluster, node_id and OPENSEER_CLUSTER_SECRET)");
            };
            let client = reqwest::Client::new();
            let base = format!("http://{}/cluster/v1", c.advertise_http);
            let answer = match cmd {
                ClusterCommand::Leave(_) => {
                    client
                        .post(format!("{base}/leave"))
                        .bearer_auth(&c.secret)
                        .json(&openseer_cluster::LeaveRequest { node_id: c.node_id })
                        .send()
                        .await?
                }
                ClusterCommand::Status(_) => {
                    client
                        .get(format!("{base}/state"))
                        .bearer_auth(&c.secret)
                        .send()
                        .await?
                }
            };
            let status = answer.status();
            let text = answer.text().await?;
            if !status.is_success() {
                anyhow::bail!("the node answered {status}: {}", text.trim());
            }
            if text.is_empty() {
                println!(
                    "node {} left the cluster; its shards are with the other nodes. Stop it now.",
                    c.node_id
                );
            } else {
                println!("{text}");
            }
            Ok(())
        }
        Command::Serve(_) => serve(node.expect("resolved above").0, false).await,
        Command::Dev(_) => serve(node.expect("resolved above").0, true).await,
    }
}

async fn serve(settings: Settings, with_worker: bool) -> anyhow::Result<()> {
    let data_dir = settings.data_dir.clone();
    let database = settings.database_url.clone();
    let app = Application::build(settings).await?;
    let base = app.base_url.clone();
    println!();
    println!("  OpenSeer is running: {base}/");
    match &app.setup_url {
        Some(url) => println!("  Claim this instance (one-time setup link): {url}"),
        None => println!("  Sign in at {base}/login"),
    }
    if let Some(c) = &app.cluster {
        println!(
            "  Cluster: node {} (node-to-node on {})",
            c.me, c.settings.cluster_addr
        );
    }
    if with_worker {
        println!(
            "  In-process workers: region \"{}\", one per organization, state in {}",
            dev::DEV_REGION,
            data_dir.join("worker").display()
        );
    }
    match &database {
        Some(url) => println!(
            "  Data: PostgreSQL {}, session key in {}   (Ctrl-C stops cleanly)",
            openseer_node::config::hide_password(url),
            data_dir.display()
        ),
        None => println!("  Data: {}   (Ctrl-C stops cleanly)", data_dir.display()),
    }
    println!();

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let worker = with_worker.then(|| {
        tokio::spawn(dev::run_workers(
            app.store.clone(),
            base.clone(),
            data_dir.clone(),
            stop_rx.clone(),
        ))
    });
    let handle = app.handle();
    let actors = app.actors.clone();
    let cluster = app.cluster.clone();
    let server = tokio::spawn(app.run_until_stopped());
    openseer_worker::wait_for_stop_signal().await;
    if let Some(c) = cluster {
        tracing::info!("handing this node's shards to the other nodes");
        c.drain().await;
    }
    let _ = stop_tx.send(true);
    if let Some(w) = worker {
        tracing::info!("stopping: the in-process worker finishes its checks and delivers results, then the node drains");
        let _ = w.await;
    } else {
        tracing::info!("stopping: answering waiting workers, then the node drains");
    }
    Application::shutdown(handle, &actors).await;
    server.await??;
    tracing::info!("stopped cleanly");
    Ok(())
}
