//! `sdr-check`: check a history for linearizability.
//!
//! Exit codes: 0 linearizable, 1 not linearizable, 2 unknown (time budget
//! exhausted), 3 unusable input.

use anyhow::{Context, Result};
use clap::Parser;
use sdr_checker::history::InputError;
use sdr_checker::models::ModelKind;
use sdr_checker::report::{html::report_html, json::result_json, ReportInput};
use sdr_checker::{
    check, edn, history, nemesis, CheckResult, History, KeyVerdict, Options, Verdict,
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
    /// Model: kv (Redis strings), register, list.
    #[arg(long, default_value = "kv", value_parser = ["kv", "register", "list"])]
    model: String,
    /// Input format (default: edn if the file name ends in .edn, else jsonl).
    #[arg(long, value_parser = ["jsonl", "edn"])]
    format: Option<String>,
    /// Write result.json and report.html into DIR.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Time budget in seconds; past it the verdict is `unknown`.
    #[arg(long, value_name = "SECS")]
    timeout: Option<f64>,
    /// Check every key even after a violation is found.
    #[arg(long)]
    all: bool,
    /// Fault intervals (JSON Lines of {"time","type":"start|stop","fault","detail"}) shaded in the report.
    #[arg(long, value_name = "FILE")]
    nemesis: Option<PathBuf>,
    /// Also draw this key in the report.
    #[arg(long, value_name = "KEY")]
    key: Option<String>,
    /// Print parse/check timings to stderr.
    #[arg(long)]
    timings: bool,
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
    match format {
        "edn" => {
            let mut s = String::new();
            if stdin {
                std::io::stdin().read_to_string(&mut s)?;
            } else {
                File::open(path)?.read_to_string(&mut s)?;
            }
            edn::parse_edn_history(&s)
        }
        _ => {
            if stdin {
                history::parse_jsonl(BufReader::with_capacity(1 << 20, std::io::stdin().lock()))
            } else {
                history::parse_jsonl(BufReader::with_capacity(1 << 20, File::open(path)?))
            }
        }
    }
}

fn summary(h: &History, r: &CheckResult, elapsed: Duration, timeout: Option<f64>) -> String {
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
            format!(
                "unknown: timed out after {} s ({} of {} keys not decided; {} ops)",
                timeout.map(|t| t.to_string()).unwrap_or_else(|| "?".into()),
                open,
                thousands(nkeys),
                thousands(h.ops.len())
            )
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let t0 = Instant::now();
    let format = cli.format.clone().unwrap_or_else(|| {
        if cli.history.extension().is_some_and(|e| e == "edn") {
            "edn".into()
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
    println!("{}", summary(&h, &result, t0.elapsed(), cli.timeout));
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
