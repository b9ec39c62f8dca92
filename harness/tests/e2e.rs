//! End-to-end: a real single-node run with a kill -9 and restart, checked by the checker.
//!
//! The node binary: `$SDR_NODE_BIN`, else `target/release/sdr-node`, else
//! `target/debug/sdr-node`, else it is built with `cargo build -p sdr-node`.

use sdr_harness::runner::{run, RunOptions};
use sdr_harness::scenario::Scenario;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_single_with_kill_is_linearizable() {
    let bin = node_bin();
    // The shipped scenario, shortened: same shape, 4 s of load, one kill.
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/smoke-single.yaml"),
    )
    .expect("scenarios/smoke-single.yaml");
    let mut sc =
        Scenario::from_yaml(&text, "smoke-single.yaml").expect("shipped scenario is valid");
    assert!(
        sc.nemesis != sdr_harness::scenario::NemesisSpec::None,
        "smoke-single must have a nemesis"
    );
    let short = text.replace("duration: 10s", "duration: 4s").replace(
        "every: 4s, fault: kill, target: leader, restart-after: 1s",
        "every: 2s, fault: kill, target: leader, restart-after: 500ms",
    );
    sc = Scenario::from_yaml(&short, "short.yaml").expect("short scenario is valid");
    assert_eq!(sc.duration.0, Duration::from_secs(4));

    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("smoke-single.yaml");
    std::fs::write(&path, sc.to_yaml().expect("yaml")).expect("write scenario");
    let out = tmp.path().join("runs");
    let opts = RunOptions {
        scenario: path,
        seed: Some(7),
        out: out.clone(),
        node_bin: bin,
        progress: false,
        check_timeout: Duration::from_secs(30),
    };
    let r = run(&opts).await.expect("the run completes");
    assert_eq!(
        r.verdict,
        sdr_checker::Verdict::Linearizable,
        "{}",
        r.summary
    );
    assert!(r.matches_expectation());
    assert!(r.ok > 100, "too few ok ops: {}", r.summary);
    assert!(r.faults >= 1, "the kill was not installed: {}", r.summary);
    assert!(r.dir.starts_with(out.canonicalize().expect("out")));
    let name = r
        .dir
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert!(
        name.starts_with("smoke-single-") && name.ends_with("-7"),
        "{name}"
    );
    for f in [
        "scenario.yaml",
        "history.jsonl",
        "nemesis.jsonl",
        "result.json",
        "report.html",
        "n1/node.log",
        "n1/node.yaml",
    ] {
        assert!(
            r.dir.join(f).is_file(),
            "{f} missing in {}",
            r.dir.display()
        );
    }
    let saved = Scenario::load(&r.dir.join("scenario.yaml")).expect("saved scenario parses");
    assert_eq!(saved.seed, Some(7));
    let nem = std::fs::read_to_string(r.dir.join("nemesis.jsonl")).expect("nemesis");
    assert!(
        nem.contains("\"fault\":\"kill\"") && nem.contains("\"type\":\"stop\""),
        "{nem}"
    );
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(r.dir.join("result.json")).expect("result"))
            .expect("json");
    assert_eq!(result["verdict"], "linearizable", "{result}");
}

/// Three nodes through peer and client proxies, pinned clients, a leader kill and an
/// isolate-leader partition with the clients cut too: linearizable, with plots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_kill_and_partition_through_proxies() {
    let bin = node_bin();
    let y = "name: e2e-three\ncluster: {nodes: 3}\nnode: {fsync: always}\n\
             workload: {model: register, keys: 4, clients: 4, rate: 200, pin-clients: true}\nduration: 4s\nrecovery: 15s\n\
             nemesis:\n  - {at: 1s, fault: kill, target: leader, restart-after: 1s}\n\
             \x20 - {at: 2500ms, fault: partition, target: isolate-leader, heal-after: 1s, cut-clients: true}\n\
             expect: linearizable\n";
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("three.yaml");
    std::fs::write(&path, y).expect("write scenario");
    let opts = RunOptions {
        scenario: path,
        seed: Some(3),
        out: tmp.path().join("runs"),
        node_bin: bin,
        progress: false,
        check_timeout: Duration::from_secs(30),
    };
    let r = run(&opts).await.expect("the run completes");
    assert_eq!(
        r.verdict,
        sdr_checker::Verdict::Linearizable,
        "{}",
        r.summary
    );
    assert!(r.ok > 50, "{}", r.summary);
    assert!(r.faults >= 2, "{}", r.summary);
    assert!(r.summary.contains("plots.html"), "{}", r.summary);
    for f in ["plots.html", "admin.yaml", "n3/node.yaml"] {
        assert!(r.dir.join(f).is_file(), "{f} missing");
    }
    let plots = std::fs::read_to_string(r.dir.join("plots.html")).expect("plots");
    assert_eq!(plots.matches("<svg").count(), 2);
    let nem = std::fs::read_to_string(r.dir.join("nemesis.jsonl")).expect("nemesis");
    assert!(nem.contains("clients cut from n"), "{nem}");
}

/// Two shards of one node each: keys on both shards (`-MOVED` across shards), a kill of
/// shard 2's leader; the history checks as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shards_with_a_shard_leader_kill() {
    let bin = node_bin();
    let y = "name: e2e-shards\ncluster: {shards: 2, replicas: 1}\nnode: {fsync: always}\n\
             workload: {model: kv, keys: 6, clients: 4, rate: 200}\nduration: 3s\nrecovery: 15s\n\
             nemesis:\n  - {at: 1s, fault: kill, target: leader of shard 2, restart-after: 500ms}\n\
             expect: linearizable\n";
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("shards.yaml");
    std::fs::write(&path, y).expect("write scenario");
    let opts = RunOptions {
        scenario: path,
        seed: Some(5),
        out: tmp.path().join("runs"),
        node_bin: bin,
        progress: false,
        check_timeout: Duration::from_secs(30),
    };
    let r = run(&opts).await.expect("the run completes");
    assert_eq!(
        r.verdict,
        sdr_checker::Verdict::Linearizable,
        "{}",
        r.summary
    );
    assert!(r.ok > 50, "{}", r.summary);
    let cfg = std::fs::read_to_string(r.dir.join("n1/node.yaml")).expect("config");
    assert!(cfg.contains("shards:") && cfg.contains("- id: 2"), "{cfg}");
    let nem = std::fs::read_to_string(r.dir.join("nemesis.jsonl")).expect("nemesis");
    assert!(
        nem.contains("\"detail\":\"n2\""),
        "shard 2's leader is n2: {nem}"
    );
}

/// A short list-append run on one node: transactions over MULTI/EXEC, checked by the
/// transactional checker — valid on the correct node, anomalies with the planted
/// `non-atomic-exec` bug (same seed, same load).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_append_on_one_node_valid_and_planted_non_atomic_exec_caught() {
    let bin = node_bin();
    let tmp = tempfile::tempdir().expect("tempdir");
    for (faults, expect) in [
        ("", "valid"),
        ("unsafe-test-faults: [non-atomic-exec]", "violation"),
    ] {
        let text = format!(
            "name: la-one\ncluster: {{nodes: 1}}\nnode: {{fsync: always{sep}{faults}}}\n\
             workload: {{model: list-append, keys: 3, clients: 6, rate: 300, txn-len: \"2..4\"}}\n\
             duration: 3s\nexpect: {expect}\n",
            sep = if faults.is_empty() { "" } else { ", " }
        );
        let path = tmp.path().join(format!("la-{expect}.yaml"));
        std::fs::write(&path, &text).expect("write scenario");
        let opts = RunOptions {
            scenario: path,
            seed: Some(3),
            out: tmp.path().join("runs"),
            node_bin: bin.clone(),
            progress: false,
            check_timeout: Duration::from_secs(30),
        };
        let r = run(&opts).await.expect("the run completes");
        assert!(r.matches_expectation(), "{expect}: {}", r.summary);
        assert!(r.ok > 100, "too few ok transactions: {}", r.summary);
        let result: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(r.dir.join("result.json")).expect("result.json"),
        )
        .expect("json");
        assert_eq!(result["model"], "list-append");
        assert_eq!(result["valid"], expect == "valid", "{}", r.summary);
        assert!(result["workload"]["keys"].as_u64().unwrap_or(0) >= 3);
        let history = std::fs::read_to_string(r.dir.join("history.jsonl")).expect("history");
        assert!(history.contains(r#""f":"txn""#) && history.contains(r#"["append","k"#));
        if expect == "violation" {
            assert!(
                !result["anomalies"]
                    .as_array()
                    .expect("anomalies")
                    .is_empty(),
                "{}",
                r.summary
            );
            assert!(r.summary.contains("INVALID"), "{}", r.summary);
        }
        assert!(
            std::fs::read_to_string(r.dir.join("report.html"))
                .expect("report.html")
                .contains("<svg")
                || expect == "valid"
        );
    }
}
