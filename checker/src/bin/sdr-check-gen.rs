//! `sdr-check-gen`: write a seeded, linearizable-by-construction history
//! (JSON Lines) for benchmarks and tests.

use anyhow::Result;
use clap::Parser;
use sdr_checker::gen::{generate, write_jsonl, GenParams};
use sdr_checker::models::ModelKind;
use sdr_checker::txn::gen::{self as txn_gen, TxnGenParams};
use std::io::{BufWriter, Write};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "sdr-check-gen",
    about = "Generate a linearizable-by-construction history"
)]
struct Cli {
    #[arg(long, default_value_t = 1_000_000)]
    ops: usize,
    #[arg(long, default_value_t = 1000)]
    keys: usize,
    #[arg(long, default_value_t = 50)]
    clients: usize,
    /// Fraction of indeterminate (info) ops.
    #[arg(long, default_value_t = 0.01)]
    info: f64,
    /// Fraction of cas ops.
    #[arg(long, default_value_t = 0.2)]
    cas: f64,
    /// Fraction of ops failing with an error.
    #[arg(long, default_value_t = 0.0)]
    fail: f64,
    /// Values are drawn from 0..VALUES.
    #[arg(long, default_value_t = 5)]
    values: i64,
    /// kv, register, list; or list-append (a transactional history:
    /// `--ops` transactions over `--keys` active keys, see --plant-g-single).
    #[arg(long, default_value = "kv", value_parser = ["kv", "register", "list", "list-append"])]
    model: String,
    /// list-append: plant one G-single (a stale read) in the middle.
    #[arg(long)]
    plant_g_single: bool,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output file (default stdout).
    #[arg(long)]
    out: Option<PathBuf>,
}

fn write_out<F: FnOnce(&mut dyn Write) -> std::io::Result<()>>(
    out: Option<PathBuf>,
    f: F,
) -> Result<()> {
    match out {
        Some(path) => {
            let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
            f(&mut w)?;
            w.flush()?;
        }
        None => {
            let mut w = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
            f(&mut w)?;
            w.flush()?;
        }
    }
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if cli.model == "list-append" {
        let p = TxnGenParams {
            seed: cli.seed,
            txns: cli.ops,
            clients: cli.clients,
            active_keys: cli.keys,
            info_rate: cli.info,
            fail_rate: cli.fail,
            plant_g_single: cli.plant_g_single,
            ..TxnGenParams::default()
        };
        let events = txn_gen::generate(&p);
        return write_out(cli.out, |w| txn_gen::write_jsonl(&events, w));
    }
    let p = GenParams {
        seed: cli.seed,
        ops: cli.ops,
        keys: cli.keys,
        clients: cli.clients,
        info_rate: cli.info,
        fail_rate: cli.fail,
        cas_rate: cli.cas,
        values: cli.values,
        model: ModelKind::parse(&cli.model).unwrap_or_default(),
        ..GenParams::default()
    };
    let events = generate(&p);
    match cli.out {
        Some(path) => {
            let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
            write_jsonl(&events, &mut w)?;
            w.flush()?;
        }
        None => {
            let mut w = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
            write_jsonl(&events, &mut w)?;
            w.flush()?;
        }
    }
    Ok(())
}
