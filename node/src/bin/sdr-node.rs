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
    /// This node's Raft id.
    #[arg(long)]
    node_id: Option<u64>,
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
    if let Some(v) = args.node_id {
        cfg.node_id = v;
    }
    cfg.validate()?;
    Ok(cfg)
}

fn main() -> ExitCode {
    let cfg = match load(Args::parse()) {
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
    let filter = tracing_subscriber::EnvFilter::try_new(&expr).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();

    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
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
