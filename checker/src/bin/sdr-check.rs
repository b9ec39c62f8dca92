//! `sdr-check`: check a history for linearizability, or (`--model
//! list-append|rw-register`) a transactional history for the anomalies of
//! the consistency level `--consistency` (default strict-serializable).
//!
//! Exit codes: 0 linearizable / valid, 1 not linearizable / anomaly found,
//! 2 unknown (time budget exhausted), 3 unusable input.

use anyhow::{Context, Result};
use clap::Parser;
use sdr_checker::history::InputError;
use sdr_checker::models::ModelKind;
use sdr_checker::report::{html::report_html, json::result_json, ReportInput};
use sdr_checker::txn;
use sdr_checker::{
    check, default_max_memory, edn, history, jepsen_log, nemesis, CheckResult, History, KeyVerdict,
    Options, UnknownReason, Verdict,
};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(
    name = "sdr-check",
    version,
    about = "Linearizability checker (WGL + Lowe memoisation, per-key, parallel)"
)]
struct Cli {
    /// History file (`-` for stdin).
    history: PathBuf,
    /// Model: kv (Redis strings), register, list; or a transactional
    /// model: list-append, rw-register.
    #[arg(long, default_value = "kv", value_parser = ["kv", "register", "list", "list-append", "rw-register"])]
    model: String,
    /// Transactional models: the level whose anomalies make the history
    /// invalid (read-committed, snapshot-isolation, serializable,
    /// strict-serializable).
    #[arg(long, default_value = "strict-serializable", value_parser = ["read-committed", "snapshot-isolation", "serializable", "strict-serializable"])]
    consistency: String,
    /// Input format (default: edn if the file name ends in .edn, jepsen-log if
    /// it ends in .log, else jsonl). `jepsen-log` is Jepsen's textual
    /// operation log (`INFO jepsen.util - 3 :invoke :write 1`).
    #[arg(long, value_parser = ["jsonl", "edn", "jepsen-log"])]
    format: Option<String>,
    /// Write result.json and report.html into DIR.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Time budget in seconds; past it the verdict is `unknown`.
    #[arg(long, value_name = "SECS")]
    timeout: Option<f64>,
    /// Memory budget for the search (e.g. `4G`, `512M`, bytes; `0` =
    /// unlimited). Past it the verdict is `unknown`, never an out-of-memory
    /// kill. Default: half of physical memory.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_memory: Option<usize>,
    /// Check every key even after a violation is found.
    #[arg(long)]
    all: bool,
    /// Fault intervals (JSON Lines of {"time","type":"start|stop","fault","detail"}) shaded in the report.
    #[arg(long, value_name = "FILE")]
    nemesis: Option<PathBuf>,
    /// Also draw this key in the report.
    #[arg(long, value_name = "KEY")]
    key: Option<String>,
    /// Convert: write the parsed history as JSON Lines to FILE and exit
    /// without checking (e.g. Jepsen EDN or logs for other tools).
    #[arg(long, value_name = "FILE")]
    emit_jsonl: Option<PathBuf>,
    /// Print parse/check timings to stderr.
    #[arg(long)]
    timings: bool,
}

/// Parses `4G`, `512M`, `64K` or a plain byte count.
fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let (num, mul) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: usize = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(format!("unknown size suffix in {s:?} (use K, M, G or T)")),
            };
            (&t[..i], m)
        }
        _ => (t, 1),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("not a size: {s:?} (e.g. 4G, 512M, 1000000)"))?;
    if !n.is_finite() || n < 0.0 {
        return Err(format!("not a size: {s:?}"));
    }
    Ok((n * mul as f64) as usize)
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn read_history(path: &Path, format: &str) -> Result<History, InputError> {
    let stdin = path.as_os_str() == "-";
    let read_all = || -> Result<String, InputError> {
        let mut s = String::new();
        if stdin {
            std::io::stdin().read_to_string(&mut s)?;
        } else {
            File::open(path)?.read_to_string(&mut s)?;
        }
        Ok(s)
    };
    match format {
        "edn" => edn::parse_edn_history(&read_all()?),
        "jepsen-log" => jepsen_log::parse_jepsen_log(&read_all()?),
        _ => {
            if stdin {
                history::parse_jsonl(BufReader::with_capacity(1 << 20, std::io::stdin().lock()))
            } else {
                history::parse_jsonl(BufReader::with_capacity(1 << 20, File::open(path)?))
            }
        }
    }
}

fn summary(
    h: &History,
    r: &CheckResult,
    elapsed: Duration,
    timeout: Option<f64>,
    max_memory: Option<usize>,
) -> String {
    let nkeys = r.keys.len();
    match r.verdict {
        Verdict::Linearizable => format!(
            "linearizable: {} ops, {} keys, {:.2} s",
            thousands(h.ops.len()),
            thousands(nkeys),
            elapsed.as_secs_f64()
        ),
        Verdict::NotLinearizable => {
            let bad: Vec<_> = r.violations().collect();
            let k = bad[0];
            let mut s = format!("NOT linearizable: key {:?}", h.key_name(k.key));
            if let Some(f) = &k.failure {
                let op = &h.ops[f.offending as usize];
                s.push_str(&format!(
                    " — cannot place {} (process {}, line {}) after a linearizable prefix of {} ops",
                    op.describe(),
                    op.process,
                    op.line,
                    f.prefix.len()
                ));
            }
            if let Some(w) = k.failure.as_ref().and_then(|f| f.window.as_ref()) {
                let lines = w.iter().map(|&i| h.ops[i as usize].line);
                let (a, b) = (lines.clone().min().unwrap_or(0), lines.max().unwrap_or(0));
                s.push_str(&format!(
                    "; a window of {} ops (lines {a}–{b}) is already not linearizable",
                    w.len()
                ));
            }
            s.push_str(&format!(
                "; {} of {} keys bad; {} ops, {:.2} s",
                bad.len(),
                thousands(nkeys),
                thousands(h.ops.len()),
                elapsed.as_secs_f64()
            ));
            s
        }
        Verdict::Unknown => {
            let open = r
                .keys
                .iter()
                .filter(|k| k.verdict != KeyVerdict::Linearizable)
                .count();
            let why = match r.unknown_reason {
                Some(UnknownReason::OutOfMemory) => format!(
                    "memory budget of {} MiB exhausted (raise --max-memory)",
                    max_memory.unwrap_or_else(default_max_memory) >> 20
                ),
                _ => format!(
                    "timed out after {} s",
                    timeout.map(|t| t.to_string()).unwrap_or_else(|| "?".into())
                ),
            };
            format!(
                "unknown: {why} ({} of {} keys not decided; {} ops)",
                open,
                thousands(nkeys),
                thousands(h.ops.len())
            )
        }
    }
}

fn read_all(path: &Path) -> Result<String, InputError> {
    let mut s = String::new();
    if path.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut s)?;
    } else {
        File::open(path)?.read_to_string(&mut s)?;
    }
    Ok(s)
}

/// Transactional models: parse (JSON Lines, or EDN), check, report.
fn run_txn(cli: &Cli, model: txn::TxnModel) -> Result<ExitCode> {
    let t0 = Instant::now();
    let edn = cli.format.as_deref() == Some("edn")
        || (cli.format.is_none() && cli.history.extension().is_some_and(|e| e == "edn"));
    let parsed = if edn {
        read_all(&cli.history).and_then(|s| txn::parse_edn_str(&s))
    } else if cli.history.as_os_str() == "-" {
        txn::parse_jsonl(BufReader::with_capacity(1 << 20, std::io::stdin().lock()))
    } else {
        txn::parse_jsonl_file(&cli.history)
    };
    let h = match parsed.and_then(|h| h.check_model(model).map(|_| h)) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("sdr-check: {}: {e}", cli.history.display());
            return Ok(ExitCode::from(3));
        }
    };
    let parse_time = t0.elapsed();
    let opts = txn::TxnOptions {
        consistency: cli.consistency.parse().unwrap_or_default(),
        ..txn::TxnOptions::default()
    };
    let r = txn::check(&h, model, &opts);
    if cli.timings {
        eprintln!(
            "timings: parse {:.3} s, check {:.3} s",
            parse_time.as_secs_f64(),
            r.check_time.as_secs_f64()
        );
    }
    if let Some(dir) = &cli.out {
        txn::write_report(dir, &h, &r)
            .with_context(|| format!("writing the report to {}", dir.display()))?;
    }
    println!("{}", r.summary());
    if let Some(a) = r
        .anomalies
        .iter()
        .find(|a| opts.consistency.forbids(&a.class))
    {
        println!("{}: {}", a.class, a.explanation);
    }
    Ok(ExitCode::from(if r.valid { 0 } else { 1 }))
}

fn run(cli: Cli) -> Result<ExitCode> {
    if let Ok(m) = cli.model.parse::<txn::TxnModel>() {
        return run_txn(&cli, m);
    }
    let t0 = Instant::now();
    let format = cli.format.clone().unwrap_or_else(|| {
        if cli.history.extension().is_some_and(|e| e == "edn") {
            "edn".into()
        } else if cli.history.extension().is_some_and(|e| e == "log") {
            "jepsen-log".into()
        } else {
            "jsonl".into()
        }
    });
    let model = ModelKind::parse(&cli.model).unwrap_or_default();
    let h = match read_history(&cli.history, &format) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("sdr-check: {}: {e}", cli.history.display());
            return Ok(ExitCode::from(3));
        }
    };
    let parse_time = t0.elapsed();
    if let Some(out) = &cli.emit_jsonl {
        let f = File::create(out).with_context(|| format!("creating {}", out.display()))?;
        let mut w = std::io::BufWriter::new(f);
        history::write_jsonl(&h, &mut w)
            .and_then(|_| std::io::Write::flush(&mut w))
            .with_context(|| format!("writing {}", out.display()))?;
        println!("wrote {} ops to {}", h.ops.len(), out.display());
        return Ok(ExitCode::SUCCESS);
    }
    let faults = match &cli.nemesis {
        Some(p) => match File::open(p)
            .map_err(InputError::from)
            .and_then(|f| nemesis::parse_nemesis(BufReader::new(f)))
        {
            Ok(f) => f,
            Err(e) => {
                eprintln!("sdr-check: {}: {e}", p.display());
                return Ok(ExitCode::from(3));
            }
        },
        None => Vec::new(),
    };
    let timeout = match cli.timeout {
        Some(t) if t.is_finite() && t >= 0.0 => Some(Duration::from_secs_f64(t)),
        Some(t) => {
            eprintln!("sdr-check: bad --timeout {t}");
            return Ok(ExitCode::from(3));
        }
        None => None,
    };
    let opts = Options {
        timeout,
        all: cli.all,
        max_memory: cli.max_memory,
        no_prune: std::env::var_os("SDR_CHECK_NO_PRUNE").is_some(),
    };
    let result = match check(&h, model, &opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sdr-check: {}: {e}", cli.history.display());
            return Ok(ExitCode::from(3));
        }
    };
    if cli.timings {
        eprintln!(
            "timings: parse {:.3} s, check {:.3} s",
            parse_time.as_secs_f64(),
            result.check_time.as_secs_f64()
        );
    }
    if let Some(dir) = &cli.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let source = cli.history.display().to_string();
        let input = ReportInput {
            source: &source,
            history: &h,
            result: &result,
            parse_time,
            total_time: t0.elapsed(),
            faults: &faults,
            chosen_key: cli.key.as_deref(),
        };
        let json = serde_json::to_string_pretty(&result_json(&input))?;
        std::fs::write(dir.join("result.json"), json + "\n").context("writing result.json")?;
        std::fs::write(dir.join("report.html"), report_html(&input))
            .context("writing report.html")?;
    }
    println!(
        "{}",
        summary(&h, &result, t0.elapsed(), cli.timeout, cli.max_memory)
    );
    Ok(ExitCode::from(match result.verdict {
        Verdict::Linearizable => 0,
        Verdict::NotLinearizable => 1,
        Verdict::Unknown => 2,
    }))
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 3 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sdr-check: {e:#}");
            ExitCode::from(3)
        }
    }
}
