//! `sdr-harness run SCENARIO.yaml [--seed N] [--out DIR] [--node-bin PATH]`,
//! `sdr-harness validate SCENARIO.yaml`, `sdr-harness up --nodes 3 [--shards 1]`.
//!
//! Exit codes: 0 the verdict matches the scenario's `expect`; 1 it does not;
//! 2 the harness itself failed (never reported as a verdict).

use anyhow::Result;
use clap::{Parser, Subcommand};
use sdr_harness::runner::{run, RunOptions};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "sdr-harness",
    version,
    about = "Jepsen-style chaos runs of sdr-node clusters (and of Redis Sentinel, Redis Cluster or any RESP server: scenario `system:`)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run one scenario and check its history.
    Run {
        /// Scenario file (docs/scenario-format.md).
        scenario: PathBuf,
        /// Seed (default: the scenario's `seed`, else derived from the clock).
        #[arg(long)]
        seed: Option<u64>,
        /// Parent folder of run folders.
        #[arg(long, default_value = "runs")]
        out: PathBuf,
        /// The sdr-node binary (default: $SDR_NODE_BIN, else target/release/sdr-node).
        #[arg(long)]
        node_bin: Option<PathBuf>,
        /// Checker time budget in seconds.
        #[arg(long, default_value_t = 120.0)]
        check_timeout: f64,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Parse and validate a scenario without running it.
    Validate { scenario: PathBuf },
    /// Start a local cluster for a person (same configs and proxies as a run), print
    /// the client addresses, and stay in the foreground until Ctrl-C, which stops every node.
    Up {
        /// Nodes per shard (Raft group members).
        #[arg(long, default_value_t = 3)]
        nodes: u32,
        /// Shards (Raft groups); node ids run 1.. in shard order.
        #[arg(long, default_value_t = 1)]
        shards: u32,
        /// Folder for node configs, data and logs (default runs/up-<UTC timestamp>).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The sdr-node binary (default: $SDR_NODE_BIN, else target/release/sdr-node).
        #[arg(long)]
        node_bin: Option<PathBuf>,
        /// fsync policy written into every node config.
        #[arg(long, default_value = "always")]
        fsync: String,
    },
}

fn node_bin(arg: Option<PathBuf>) -> PathBuf {
    sdr_harness::cluster::node_bin(arg, std::path::Path::new("."))
}

async fn real_main(cli: Cli) -> Result<ExitCode> {
    match cli.cmd {
        Cmd::Validate { scenario } => match sdr_harness::scenario::Scenario::load(&scenario) {
            Ok(s) => {
                let (backend, why) = s.needed_backend();
                println!(
                    "{}: ok (system {}, {} nodes, {}, expect {:?}, checked {}; network backend {}: {})",
                    scenario.display(),
                    s.system.kind.name(),
                    s.cluster.total(),
                    s.duration,
                    s.expect,
                    if s.streaming() { "by streaming, key by key as keys retire" } else { "at the end" },
                    backend.name(),
                    why
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("sdr-harness: {e}");
                Ok(ExitCode::from(2))
            }
        },
        Cmd::Up {
            nodes,
            shards,
            dir,
            node_bin: nb,
            fsync,
        } => up(nodes, shards, dir, node_bin(nb), fsync).await,
        Cmd::Run {
            scenario,
            seed,
            out,
            node_bin: nb,
            check_timeout,
            quiet,
        } => {
            let opts = RunOptions {
                scenario,
                seed,
                out,
                node_bin: node_bin(nb),
                progress: !quiet && std::io::stderr().is_terminal(),
                check_timeout: Duration::from_secs_f64(check_timeout.max(0.0)),
            };
            let run = tokio::select! {
                r = run(&opts) => r,
                _ = tokio::signal::ctrl_c() => {
                    let n = sdr_harness::cluster::kill_all_children();
                    let m = sdr_harness::netns::teardown_all();
                    eprintln!("sdr-harness: interrupted; killed {n} node processes, removed {m} namespace sets");
                    return Ok(ExitCode::from(2));
                }
            };
            match run {
                Ok(o) => {
                    println!("{}", o.summary);
                    Ok(ExitCode::from(if o.matches_expectation() { 0 } else { 1 }))
                }
                Err(e) => {
                    eprintln!("sdr-harness: harness failure (not a verdict): {e}");
                    Ok(ExitCode::from(2))
                }
            }
        }
    }
}

async fn up(
    nodes: u32,
    shards: u32,
    dir: Option<PathBuf>,
    bin: PathBuf,
    fsync: String,
) -> Result<ExitCode> {
    use sdr_harness::cluster::{Cluster, ClusterOptions};
    use sdr_harness::scenario::Scalar;
    if !(1..=9).contains(&nodes) || !(1..=8).contains(&shards) {
        eprintln!("sdr-harness up: --nodes must be 1..=9 and --shards 1..=8");
        return Ok(ExitCode::from(2));
    }
    if shards > 1 && nodes < 1 {
        return Ok(ExitCode::from(2));
    }
    let ts = sdr_harness::runner::timestamp(std::time::SystemTime::now());
    let dir = dir.unwrap_or_else(|| PathBuf::from("runs").join(format!("up-{ts}")));
    std::fs::create_dir_all(&dir)?;
    let dir = dir.canonicalize()?;
    let mut opts = ClusterOptions::simple(bin, dir.clone(), nodes);
    opts.shards = shards;
    opts.cluster_id = format!("up-{ts}");
    opts.node_options.insert("fsync".into(), Scalar::Str(fsync));
    eprintln!(
        "sdr-harness up: starting {shards} × {nodes} nodes in {} …",
        dir.display()
    );
    let started = tokio::select! {
        c = Cluster::start(opts) => c,
        _ = tokio::signal::ctrl_c() => {
            sdr_harness::cluster::kill_all_children();
            sdr_harness::netns::teardown_all();
            eprintln!("sdr-harness up: interrupted");
            return Ok(ExitCode::from(2));
        }
    };
    let mut cluster = match started {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sdr-harness up: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    for (s, members) in cluster.client_addrs_by_shard() {
        let leader = cluster.leader_of(s).await;
        for (id, addr) in members {
            let role = if Some(id) == leader { " (leader)" } else { "" };
            if shards > 1 {
                println!("shard {s} n{id}: {addr}{role}");
            } else {
                println!("n{id}: {addr}{role}");
            }
        }
    }
    let first = cluster.client_addrs().first().cloned().unwrap_or_default();
    if let Some((host, port)) = first.rsplit_once(':') {
        println!("try: redis-cli -c -h {host} -p {port}");
    }
    if let Some(f) = cluster.admin_file() {
        println!(
            "admin: target/release/sdr-node admin --cluster {} status",
            f.display()
        );
    }
    println!(
        "logs and data: {}/n<ID>/ — Ctrl-C stops every node",
        dir.display()
    );
    let _ = tokio::signal::ctrl_c().await;
    eprintln!("sdr-harness up: stopping …");
    cluster.stop_all().await;
    eprintln!("sdr-harness up: stopped");
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SDR_HARNESS_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sdr-harness: starting the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let code = match rt.block_on(real_main(cli)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sdr-harness: {e:#}");
            ExitCode::from(2)
        }
    };
    sdr_harness::cluster::kill_all_children();
    code
}
