//! `sdr-harness run SCENARIO.yaml [--seed N] [--out DIR] [--node-bin PATH]`
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
#[command(name = "sdr-harness", version, about = "Jepsen-style chaos runs of sdr-node clusters")]
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
}

fn node_bin(arg: Option<PathBuf>) -> PathBuf {
    arg.or_else(|| std::env::var_os("SDR_NODE_BIN").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("target/release/sdr-node"))
}

async fn real_main(cli: Cli) -> Result<ExitCode> {
    match cli.cmd {
        Cmd::Validate { scenario } => match sdr_harness::scenario::Scenario::load(&scenario) {
            Ok(s) => {
                println!("{}: ok ({} nodes, {}, expect {:?})", scenario.display(), s.cluster.nodes, s.duration, s.expect);
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("sdr-harness: {e}");
                Ok(ExitCode::from(2))
            }
        },
        Cmd::Run { scenario, seed, out, node_bin: nb, check_timeout, quiet } => {
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
                    eprintln!("sdr-harness: interrupted; killed {n} node processes");
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
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("SDR_HARNESS_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .try_init();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
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
