//! `check: streaming` end to end: keys checked while the run goes on agree with the
//! end-of-run check of the same history, and a planted stale-read bug is still caught.
//!
//! The node binary: `$SDR_NODE_BIN`, else `target/release/sdr-node`, else
//! `target/debug/sdr-node`, else it is built with `cargo build -p sdr-node`.

use sdr_checker::models::ModelKind;
use sdr_checker::{KeyVerdict, Options, Verdict};
use sdr_harness::runner::{run, RunOptions};
use std::path::PathBuf;
use std::time::Duration;

fn node_bin() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let p = sdr_harness::cluster::node_bin(None, &root);
    if p.is_file() {
        return p;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let st = std::process::Command::new(cargo)
        .args(["build", "-p", "sdr-node"])
        .current_dir(&root)
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .expect("running cargo build -p sdr-node");
    assert!(st.success(), "building sdr-node failed");
    root.join("target/debug/sdr-node")
}

/// Runs `yaml`; the run folder lives as long as the returned `TempDir`.
async fn run_yaml(
    name: &str,
    yaml: &str,
    seed: u64,
) -> (
    sdr_harness::runner::RunOutcome,
    serde_json::Value,
    tempfile::TempDir,
) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join(format!("{name}.yaml"));
    std::fs::write(&path, yaml).expect("write scenario");
    let opts = RunOptions {
        scenario: path,
        seed: Some(seed),
        out: tmp.path().join("runs"),
        node_bin: node_bin(),
        progress: false,
        check_timeout: Duration::from_secs(30),
    };
    let r = run(&opts).await.expect("the run completes");
    let result: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(r.dir.join("result.json")).expect("result.json"),
    )
    .expect("json");
    (r, result, tmp)
}

/// Three nodes, a leader kill, keys retiring every 25 ops: most keys are checked (and
/// dropped) during the run, and the streamed verdicts equal the end-of-run check of the
/// whole history key for key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_keys_agree_with_the_whole_history_check() {
    let y = "name: streaming-kill\ncluster: {nodes: 3}\nnode: {fsync: always}\n\
             workload: {model: register, keys: 3, clients: 4, rate: 250, ops-per-key: 25}\n\
             duration: 5s\nrecovery: 15s\ncheck: streaming\n\
             nemesis:\n  - {at: 2s, fault: kill, target: leader, restart-after: 1s}\n\
             expect: linearizable\n";
    let (r, result, _tmp) = run_yaml("streaming-kill", y, 5).await;
    assert_eq!(r.verdict, Verdict::Linearizable, "{}", r.summary);
    let st = &result["streaming"];
    let checked = st["keys_checked"].as_u64().expect("keys_checked");
    // 3 live keys at the end; every other key retired and was checked during the run.
    assert!(checked > 10, "{st}");
    assert_eq!(st["linearizable"].as_u64(), Some(checked), "{st}");
    assert!(
        st["violations"].as_array().is_some_and(|v| v.is_empty()),
        "{st}"
    );
    // Memory stays flat: at most the live keys plus the few waiting for their close read.
    let open = st["max_open_keys"].as_u64().expect("max_open_keys");
    assert!(open < checked / 2, "{st}");
    // The same history checked whole: the same keys, the same verdict.
    let f = std::fs::File::open(r.dir.join("history.jsonl")).expect("history");
    let h = sdr_checker::history::parse_jsonl(std::io::BufReader::new(f)).expect("parses");
    let whole = sdr_checker::check(&h, ModelKind::Register, &Options::default()).expect("check");
    assert_eq!(whole.verdict, Verdict::Linearizable);
    assert_eq!(whole.keys.len() as u64, checked, "{st}");
    assert_eq!(st["ops_checked"].as_u64(), Some(r.ops), "{st}");
    // The report covers the sample (the last generation of each key), and says so.
    assert!(r.dir.join("report.html").is_file());
}

/// The planted stale-reads bug with streaming: the violating keys are found while the
/// run goes on, named in result.json, and kept for the report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_catches_planted_stale_reads() {
    let y = "name: streaming-stale\ncluster: {nodes: 3}\n\
             node: {fsync: always, unsafe-test-faults: [stale-reads]}\n\
             workload: {model: register, keys: 4, clients: 6, rate: 300, pin-clients: true, \
             mix: {read: 0.6, write: 0.4}, ops-per-key: 40}\n\
             duration: 10s\ncheck: streaming\n\
             nemesis:\n  - {at: 2s, fault: partition, target: one, mode: blackhole, heal-after: 3s}\n\
             \x20 - {at: 6s, fault: partition, target: one, mode: blackhole, heal-after: 3s}\n\
             expect: violation\n";
    let (r, result, _tmp) = run_yaml("streaming-stale", y, 1).await;
    assert_eq!(r.verdict, Verdict::NotLinearizable, "{}", r.summary);
    assert!(r.matches_expectation());
    let st = &result["streaming"];
    let bad: Vec<String> = st["violations"]
        .as_array()
        .expect("violations")
        .iter()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    assert!(!bad.is_empty(), "{st}");
    // A violating key's lines were kept: the report's own check finds it too.
    assert!(
        result["keys"]["not_linearizable"].as_u64() > Some(0),
        "{result}"
    );
    assert_eq!(result["verdict"], "not_linearizable", "{result}");
    // And the whole history, checked at the end, condemns exactly the streamed keys.
    let f = std::fs::File::open(r.dir.join("history.jsonl")).expect("history");
    let h = sdr_checker::history::parse_jsonl(std::io::BufReader::new(f)).expect("parses");
    let whole = sdr_checker::check(
        &h,
        ModelKind::Register,
        &Options {
            all: true,
            ..Options::default()
        },
    )
    .expect("check");
    let mut whole_bad: Vec<String> = whole
        .keys
        .iter()
        .filter(|k| k.verdict == KeyVerdict::NotLinearizable)
        .map(|k| h.key_name(k.key).to_string())
        .collect();
    let mut bad = bad;
    bad.sort();
    whole_bad.sort();
    assert_eq!(bad, whole_bad);
}
