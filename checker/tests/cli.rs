//! End-to-end: the `sdr-check` binary (exit codes, summary line, reports),
//! and the HTML report rendered by headless Chromium.

mod common;
use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sdr-check")
}

fn golden(name: &str) -> PathBuf {
    common::golden_dir().join(name)
}

fn run(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(bin()).args(args).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

#[test]
fn exit_codes_and_summary() {
    let ok = golden("register-concurrent-writes.ok.jsonl");
    let (c, out, _) = run(&[ok.to_str().unwrap(), "--model", "register"]);
    assert_eq!(c, 0, "{out}");
    assert!(out.starts_with("linearizable: 4 ops, 1 keys, "), "{out}");

    let bad = golden("register-stale-read.bad.jsonl");
    let (c, out, _) = run(&[bad.to_str().unwrap(), "--model", "register"]);
    assert_eq!(c, 1);
    assert!(out.starts_with("NOT linearizable: key \"x\""), "{out}");

    let (c, out, _) = run(&[ok.to_str().unwrap(), "--timeout", "0"]);
    assert_eq!(c, 2);
    assert!(out.starts_with("unknown: timed out after 0 s"), "{out}");

    let edn = golden("register-knossos.bad.edn");
    let (c, _, _) = run(&[edn.to_str().unwrap(), "--model", "register"]);
    assert_eq!(c, 1);

    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.jsonl");
    std::fs::write(
        &junk,
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"a\",\"time\":1}\n{oops\n",
    )
    .unwrap();
    let (c, _, err) = run(&[junk.to_str().unwrap()]);
    assert_eq!(c, 3);
    assert!(err.contains("line 2:"), "{err}");
    let (c, _, _) = run(&["/nonexistent/history.jsonl"]);
    assert_eq!(c, 3);
    let (c, _, _) = run(&[ok.to_str().unwrap(), "--model", "nope"]);
    assert_eq!(c, 3);
}

fn write_violation_report(dir: &Path) {
    let bad = golden("register-stale-read.bad.jsonl");
    let nem = dir.join("nemesis.jsonl");
    std::fs::write(
        &nem,
        "{\"time\":1,\"type\":\"start\",\"fault\":\"partition\",\"detail\":\"n1 | n2 n3\"}\n{\"time\":3,\"type\":\"stop\",\"fault\":\"partition\",\"detail\":null}\n",
    )
    .unwrap();
    let out = dir.join("report");
    let (c, _, err) = run(&[
        bad.to_str().unwrap(),
        "--model",
        "register",
        "--out",
        out.to_str().unwrap(),
        "--nemesis",
        nem.to_str().unwrap(),
    ]);
    assert_eq!(c, 1, "{err}");
}

#[test]
fn result_json_explains_the_violation() {
    let dir = tempfile::tempdir().unwrap();
    write_violation_report(dir.path());
    let j: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("report/result.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(j["verdict"], "not_linearizable");
    assert_eq!(j["keys"]["not_linearizable"], 1);
    let v = &j["violations"][0];
    assert_eq!(v["key"], "x");
    assert_eq!(v["longest_prefix"].as_array().unwrap().len(), 2);
    assert_eq!(v["longest_prefix"][1]["state_after"], "2");
    assert_eq!(v["offending"]["desc"], "read → 1");
    assert_eq!(v["offending"]["line"], 5);
    assert!(j["timings"]["check_s"].is_number());
    let html = std::fs::read_to_string(dir.path().join("report/report.html")).unwrap();
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "report must be self-contained"
    );
}

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
        })
}

#[test]
fn html_report_renders_in_headless_chromium() {
    let Some(browser) = chromium() else {
        eprintln!("skipped: chromium not installed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    write_violation_report(dir.path());
    let page = dir.path().join("report/report.html");
    let profile = dir.path().join("profile");
    let o = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    // The script ran to the end and drew the timeline.
    assert!(
        dom.contains("data-rendered=\"true\""),
        "script did not finish:\n{dom}"
    );
    assert!(dom.contains("id=\"timeline-svg\""), "no timeline");
    assert_eq!(dom.matches("<g class=\"op").count(), 3, "one bar per op");
    // The offending op is marked, exactly once, and it is the stale read.
    assert_eq!(dom.matches("data-offending=\"true\"").count(), 1);
    let at = dom.find("data-offending=\"true\"").unwrap();
    let g_start = dom[..at].rfind("<g ").unwrap();
    let g = &dom[g_start..g_start + dom[g_start..].find("</g>").unwrap()];
    assert!(g.contains("offending"), "{g}");
    assert!(g.contains("read → 1"), "{g}");
    // Linearization numbers and the fault interval are drawn.
    assert!(
        dom.contains("#1 write 1") && dom.contains("#2 write 2"),
        "linearization not drawn"
    );
    assert!(dom.contains("class=\"fault\""), "fault interval not shaded");
    assert!(dom.contains("id=\"offending-row\""));
}

/// `--max-memory`: running into the budget is `unknown` with the reason,
/// never an out-of-memory kill; a budget that fits decides the same history.
#[test]
fn memory_budget_yields_unknown_with_reason() {
    use sdr_checker::gen::{generate, to_jsonl_string, GenParams};
    use sdr_checker::models::ModelKind;
    let events = generate(&GenParams {
        seed: 3,
        ops: 20_000,
        keys: 1,
        clients: 16,
        info_rate: 0.001,
        cas_rate: 0.3,
        values: 1_000_000_000,
        model: ModelKind::Register,
        ..GenParams::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("hot.jsonl");
    std::fs::write(&f, to_jsonl_string(&events)).unwrap();
    let f = f.to_str().unwrap();
    let (c, out, _) = run(&[f, "--model", "register", "--max-memory", "1"]);
    assert_eq!(c, 2, "{out}");
    assert!(
        out.starts_with("unknown: memory budget of 0 MiB exhausted (raise --max-memory)"),
        "{out}"
    );
    let (c, out, _) = run(&[f, "--model", "register", "--max-memory", "1G"]);
    assert_eq!(c, 0, "{out}");
    let (c, _, err) = run(&[f, "--max-memory", "lots"]);
    assert_eq!(c, 3, "{err}");
    assert!(
        err.contains("invalid value 'lots' for '--max-memory"),
        "{err}"
    );
}

/// Jepsen's textual log is read (`--format jepsen-log`, or by the `.log`
/// extension), and `--emit-jsonl` converts it to a JSON Lines history with
/// the same verdict.
#[test]
fn jepsen_log_and_emit_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("run.log");
    std::fs::write(
        &log,
        "INFO  jepsen.util - 0\t:invoke\t:write\t1\n\
         INFO  jepsen.util - 0\t:ok\t:write\t1\n\
         INFO  jepsen.util - 1\t:invoke\t:cas\t[1 2]\n\
         INFO  jepsen.util - 1\t:info\t:cas\t:timed-out\n\
         INFO  jepsen.util - 2\t:invoke\t:read\tnil\n\
         INFO  jepsen.util - 2\t:ok\t:read\t2\n\
         INFO  jepsen.util - 3\t:invoke\t:read\tnil\n\
         INFO  jepsen.util - 3\t:ok\t:read\t1\n",
    )
    .unwrap();
    // The info cas took effect before the read of 2; then 1 is stale.
    let (c, out, _) = run(&[log.to_str().unwrap(), "--model", "register"]);
    assert_eq!(c, 1, "{out}");
    let jsonl = dir.path().join("run.jsonl");
    let (c, out, _) = run(&[
        log.to_str().unwrap(),
        "--emit-jsonl",
        jsonl.to_str().unwrap(),
    ]);
    assert_eq!(c, 0, "{out}");
    let (c, out, _) = run(&[jsonl.to_str().unwrap(), "--model", "register"]);
    assert_eq!(c, 1, "{out}");
    assert!(out.contains("cannot place read → 1"), "{out}");
}
