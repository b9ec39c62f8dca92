//! `sdr-node`: parse flags, load configuration, initialise logging, run the server.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use sdr_node::config::Config;
use sdr_node::storage::FsyncPolicy;

/// A Redis-compatible key-value server whose every write is a durable Raft log entry.
#[derive(Parser, Debug)]
#[command(name = "sdr-node", version, about)]
struct Args {
    /// YAML configuration file (see config/default.yaml); flags below override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on for RESP clients.
    #[arg(long)]
    bind: Option<String>,
    /// RESP port (0 = ephemeral; the chosen port is written to <data-dir>/port).
    #[arg(long)]
    port: Option<u16>,
    /// Data directory (WAL, vote, snapshots).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// WAL fsync policy.
    #[arg(long, value_parser = ["always", "everysec", "no"])]
    fsync: Option<String>,
    /// Require AUTH with this password.
    #[arg(long)]
    requirepass: Option<String>,
    /// Log filter: error, warn, info, debug, trace or a tracing filter expression.
    #[arg(long)]
    log_level: Option<String>,
    /// Snapshot once the log since the last snapshot exceeds this many bytes (e.g. 256mb).
    #[arg(long, value_name = "BYTES", value_parser = sdr_node::config::parse_bytes)]
    snapshot_log_bytes: Option<u64>,
    /// This node's Raft id (selects this node's entry in the cluster file).
    #[arg(long)]
    node_id: Option<u64>,
    /// PLANTED BUGS for chaos testing only: comma-separated from stale-reads,
    /// ack-before-commit, skip-fsync. Breaks linearizability or durability on purpose.
    #[arg(long, value_name = "LIST")]
    unsafe_test_faults: Option<String>,
    #[command(subcommand)]
    command: Option<Sub>,
}

#[derive(clap::Subcommand, Debug)]
enum Sub {
    /// Cluster administration through the members' admin gRPC service.
    Admin {
        /// The cluster file (its members are used to find the leader; its id and secret
        /// authenticate the calls).
        #[arg(long)]
        cluster: PathBuf,
        /// Which shard (Raft group) of a sharded cluster file; a one-group file is shard 1.
        #[arg(long, default_value_t = 1)]
        shard: u64,
        #[command(subcommand)]
        action: AdminAction,
    },
}

#[derive(clap::Subcommand, Debug)]
enum AdminAction {
    /// Role, term, leader, log indexes and replication lag of every member in the file.
    Status,
    /// Add a member: learner first (returns once it has caught up), then voter.
    Add {
        #[arg(long)]
        id: u64,
        /// The new member's Raft gRPC address (host:port).
        #[arg(long)]
        raft: String,
        /// The new member's client (RESP) address, advertised in -MOVED.
        #[arg(long)]
        client: String,
    },
    /// Remove a member from the group.
    Remove {
        #[arg(long)]
        id: u64,
    },
}

async fn admin(cluster: PathBuf, shard: u64, action: AdminAction) -> anyhow::Result<()> {
    use sdr_node::raft::admin_client::Admin;
    let cfg = Config::load(&cluster)?;
    let admin = Admin::from_config(&cfg, shard)?;
    match action {
        AdminAction::Status => {
            for (id, addr, st) in admin.status_all().await {
                match st {
                    Ok(s) => {
                        println!(
                            "node {id} ({addr}): {} term={} leader={} last_log={} committed={} applied={} voters={:?}",
                            s.role, s.term, s.leader_id, s.last_log_index, s.committed_index, s.applied_index, s.voters
                        );
                        for f in s.followers {
                            println!("    follower {}: matched={} lag={}", f.id, f.matched, f.lag);
                        }
                    }
                    Err(e) => println!("node {id} ({addr}): unreachable: {e}"),
                }
            }
        }
        AdminAction::Add { id, raft, client } => {
            admin.add(id, &raft, &client).await?;
            println!("node {id} added as a voter");
        }
        AdminAction::Remove { id } => {
            admin.remove(id).await?;
            println!("node {id} removed");
        }
    }
    Ok(())
}

fn load(args: Args) -> anyhow::Result<Config> {
    let mut cfg = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if let Some(v) = args.bind {
        cfg.bind = Some(v);
    }
    if let Some(v) = args.port {
        cfg.port = Some(v);
    }
    if let Some(v) = args.data_dir {
        cfg.data_dir = v;
    }
    if let Some(v) = args.fsync {
        cfg.fsync = v.parse::<FsyncPolicy>().map_err(anyhow::Error::msg)?;
    }
    if let Some(v) = args.requirepass {
        cfg.requirepass = Some(v);
    }
    if let Some(v) = args.log_level {
        cfg.log_level = v;
    }
    if let Some(v) = args.snapshot_log_bytes {
        cfg.snapshot_log_bytes = v;
    }
    if let Some(v) = args.node_id {
        cfg.node_id = v;
    }
    if let Some(v) = args.unsafe_test_faults {
        cfg.unsafe_test_faults = v.parse().map_err(anyhow::Error::msg)?;
    }
    cfg.validate()?;
    Ok(cfg)
}

/// mimalloc rather than the system allocator: the server allocates per command (argv, replies,
/// log entries) from several threads, where glibc malloc's per-thread arenas and lock traffic
/// showed in CPU per request (docs/benchmarks.md "Node").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    sdr_node::server::info::set_mem_allocator("mimalloc");
    let mut args = Args::parse();
    if let Some(Sub::Admin {
        cluster,
        shard,
        action,
    }) = args.command.take()
    {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(r) => r,
            Err(e) => {
                eprintln!("sdr-node: cannot start the async runtime: {e}");
                return ExitCode::from(1);
            }
        };
        return match rt.block_on(admin(cluster, shard, action)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("sdr-node admin: {e:#}");
                ExitCode::from(1)
            }
        };
    }
    let cfg = match load(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sdr-node: {e:#}");
            return ExitCode::from(2);
        }
    };
    // A bare level ("info") also quiets openraft's chatty per-election INFO lines; a full
    // filter expression ("info,openraft=debug") is taken as given.
    let expr = if cfg.log_level.contains(['=', ',']) {
        cfg.log_level.clone()
    } else {
        format!("{},openraft=warn", cfg.log_level)
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&expr)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();

    if cfg.unsafe_test_faults.any() {
        let names = cfg.unsafe_test_faults.names().join(", ");
        eprintln!(
            "sdr-node: WARNING: planted bugs enabled ({names}): this node is deliberately NOT safe"
        );
        tracing::warn!(faults = %names, "UNSAFE TEST FAULTS ENABLED: linearizability/durability deliberately broken");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sdr-node: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(sdr_node::server::run(cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("sdr-node: {e:#}");
            ExitCode::from(1)
        }
    }
}
