//! End-to-end for transactional models: `sdr-check --model list-append |
//! rw-register` (summary, exit codes, `--consistency`, `--out`), the
//! generator through `sdr-check-gen --model list-append`, and report.html
//! with its SVG cycle rendered by headless Chromium.

use std::path::PathBuf;
use std::process::Command;

fn golden(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden-txn")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn run(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_sdr-check"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

#[test]
fn exit_codes_summary_and_levels() {
    let ok = golden("la-g1c.ok.jsonl");
    let (c, out, _) = run(&[&ok, "--model", "list-append"]);
    assert_eq!(c, 0, "{out}");
    assert!(
        out.starts_with("strict-serializable: no anomalies; 3 txns (3 ok, 0 fail, 0 info)"),
        "{out}"
    );
    let bad = golden("la-write-skew.bad.jsonl");
    let (c, out, _) = run(&[&bad, "--model", "list-append"]);
    assert_eq!(c, 1, "{out}");
    assert!(
        out.starts_with(
            "INVALID: strict-serializable — G2-item ×1; holds: read-committed, snapshot-isolation;"
        ),
        "{out}"
    );
    assert!(out.contains("\nG2-item: "), "the cycle is explained: {out}");
    // Write skew is allowed by snapshot isolation.
    let (c, out, _) = run(&[
        &bad,
        "--model",
        "list-append",
        "--consistency",
        "snapshot-isolation",
    ]);
    assert_eq!(c, 0, "{out}");
    assert!(
        out.starts_with("valid: snapshot-isolation — G2-item ×1"),
        "{out}"
    );
    let (c, _, _) = run(&[&golden("rr-g1a.bad.jsonl"), "--model", "rw-register"]);
    assert_eq!(c, 1);
    // Unusable input: the wrong model, a bad line, a bad level.
    let (c, _, err) = run(&[&golden("rr-g1a.bad.jsonl"), "--model", "list-append"]);
    assert_eq!(c, 3);
    assert!(
        err.contains("does not belong to a list-append history"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.jsonl");
    std::fs::write(
        &junk,
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"txn\",\"value\":[[\"r\",\"x\",null]]}\n[1,2]\n",
    )
    .unwrap();
    let (c, _, err) = run(&[junk.to_str().unwrap(), "--model", "list-append"]);
    assert_eq!(c, 3);
    assert!(err.contains("line 2:"), "{err}");
    let (c, _, _) = run(&[&ok, "--model", "list-append", "--consistency", "bogus"]);
    assert_eq!(c, 3);
}

#[test]
fn generated_histories_pass_and_the_planted_g_single_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let gen = env!("CARGO_BIN_EXE_sdr-check-gen");
    for (plant, want) in [(false, 0), (true, 1)] {
        let f = dir.path().join(format!("h{plant}.jsonl"));
        let mut args = vec![
            "--model",
            "list-append",
            "--ops",
            "5000",
            "--keys",
            "6",
            "--clients",
            "8",
            "--info",
            "0.02",
            "--fail",
            "0.02",
            "--seed",
            "7",
            "--out",
        ];
        let fs = f.to_str().unwrap().to_string();
        args.push(&fs);
        if plant {
            args.push("--plant-g-single");
        }
        let o = Command::new(gen).args(&args).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let out = dir.path().join(format!("r{plant}"));
        let (c, text, err) = run(&[
            &fs,
            "--model",
            "list-append",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(c, want, "{text}{err}");
        let j: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("result.json")).unwrap())
                .unwrap();
        assert_eq!(j["valid"], !plant);
        if plant {
            assert_eq!(
                j["anomaly_counts"],
                serde_json::json!({"G-single": 1}),
                "{text}"
            );
            assert_eq!(j["levels"]["read-committed"], true);
            assert_eq!(j["levels"]["snapshot-isolation"], false);
            let cycle = j["anomalies"][0]["cycle"].as_array().unwrap();
            assert_eq!(cycle.len(), 2);
        } else {
            assert_eq!(j["anomalies"].as_array().unwrap().len(), 0);
            assert!(
                j["txns"]["info"].as_u64().unwrap() > 0 && j["txns"]["fail"].as_u64().unwrap() > 0
            );
        }
    }
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
fn report_html_draws_the_cycle_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    let (c, _, err) = run(&[
        &golden("la-g1c.bad.jsonl"),
        "--model",
        "list-append",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(c, 1, "{err}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "self-contained"
    );
    assert_eq!(
        html.matches("<svg class=\"cycle\"").count(),
        1,
        "one cycle drawn"
    );
    let Some(browser) = chromium() else {
        eprintln!("skipped: chromium not installed");
        return;
    };
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
        .arg(format!("file://{}", out.join("report.html").display()))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let dom = String::from_utf8_lossy(&o.stdout);
    // The browser parsed the SVG into elements: two transaction boxes and
    // two labelled edges (T1 →wr T0 on y, T0 →ww T1 on x).
    let svg_at = dom
        .find("<svg class=\"cycle\"")
        .expect("cycle svg in the DOM");
    let svg = &dom[svg_at..svg_at + dom[svg_at..].find("</svg>").expect("closed svg")];
    assert!(svg.contains("data-class=\"G1c\""), "{svg}");
    assert_eq!(svg.matches("<g class=\"txn\"").count(), 2, "{svg}");
    assert_eq!(svg.matches("<g class=\"edge ww\"").count(), 1, "{svg}");
    assert_eq!(svg.matches("<g class=\"edge wr\"").count(), 1, "{svg}");
    assert!(svg.contains(">T0 · process 0 · line 1 · ok<"), "{svg}");
    assert!(svg.contains("<path d=\"M"), "arrows are drawn");
    assert!(dom.contains("data-level=\"read-committed\">violated<"));
}
