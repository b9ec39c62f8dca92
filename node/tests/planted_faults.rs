//! The planted bugs behind `--unsafe-test-faults` really break what they claim to break (so the
//! chaos harness has something real to catch), and they cannot be enabled from a config file.

mod common;

use std::time::{Duration, Instant};

use common::{TestCluster, TestNode};
use redis::Commands;

#[test]
fn faults_cannot_come_from_a_config_file_and_unknown_names_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("bad.yaml");
    std::fs::write(&cfg, "unsafe-test-faults: stale-reads\n").unwrap();
    let out = std::process::Command::new(common::node_bin())
        .args(["--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unsafe-test-faults"),
        "the key is named"
    );
    let out = std::process::Command::new(common::node_bin())
        .args(["--unsafe-test-faults", "turbo"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown test fault 'turbo'"));
}

#[test]
fn skip_fsync_loses_acknowledged_writes_on_crash() {
    let mut node = TestNode::start(&["--unsafe-test-faults", "skip-fsync"]);
    assert!(
        node.log().contains("planted bugs enabled (skip-fsync)"),
        "the warning is loud"
    );
    // Wait past the first periodic flush so the next writes sit in memory.
    std::thread::sleep(Duration::from_millis(1100));
    let mut c = node.conn();
    let () = c.set("warmup", 1).unwrap();
    for i in 0..50 {
        let () = c.set(format!("k{i}"), i).unwrap();
    }
    drop(c);
    node.kill9();
    node.spawn().expect("restart");
    let mut c = node.conn();
    let survived: usize = (0..50)
        .filter(|i| c.get::<_, Option<i64>>(format!("k{i}")).unwrap().is_some())
        .count();
    assert!(
        survived < 50,
        "acknowledged writes were lost, as the planted bug intends ({survived}/50 survived)"
    );
}

#[test]
fn ack_before_commit_acknowledges_writes_a_minority_cannot_commit() {
    let mut cluster = TestCluster::start_with(3, "request-timeout-ms: 1000\n");
    // Rolling restart of every member with the planted bug, so whoever leads has it.
    for id in 1..=3u64 {
        let node = cluster.node(id);
        node.kill9();
        node.extra_args.extend([
            "--unsafe-test-faults".to_string(),
            "ack-before-commit".to_string(),
        ]);
        node.spawn_no_wait().unwrap();
        cluster.wait_for_leader();
    }
    let leader = cluster.wait_for_leader();
    for id in [1u64, 2, 3].into_iter().filter(|i| *i != leader) {
        cluster.node(id).kill9();
    }
    let mut c = cluster.node(leader).conn();
    let start = Instant::now();
    let r: redis::RedisResult<()> = c.set("never-committed", "x");
    assert!(
        r.is_ok(),
        "the planted bug acknowledges an uncommittable write: {r:?}"
    );
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "acknowledged without waiting for a quorum"
    );
}

#[test]
fn stale_reads_serve_followers_without_redirect() {
    let tmp_args = ["--unsafe-test-faults", "stale-reads"];
    let mut cluster = TestCluster::start(3);
    let leader = cluster.wait_for_leader();
    let follower = [1u64, 2, 3].into_iter().find(|i| *i != leader).unwrap();
    let () = cluster.leader_conn().set("k", "v").unwrap();
    let node = cluster.node(follower);
    node.kill9();
    node.extra_args
        .extend(tmp_args.iter().map(|s| s.to_string()));
    node.spawn_no_wait().unwrap();
    let mut c = cluster.node(follower).conn();
    // A correct follower answers -MOVED; the faulty one answers from local state.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match c.get::<_, Option<String>>("k") {
            Ok(Some(v)) => {
                assert_eq!(v, "v");
                break;
            }
            other => assert!(
                Instant::now() < deadline,
                "follower never served a local read: {other:?}"
            ),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `MULTI`, `cmds`, `EXEC` on `c`; EXEC's reply.
fn transaction(c: &mut redis::Connection, cmds: &[&[&str]]) -> redis::RedisResult<redis::Value> {
    let mut p = redis::pipe();
    p.cmd("MULTI");
    for argv in cmds {
        let mut cmd = redis::cmd(argv[0]);
        for a in &argv[1..] {
            cmd.arg(*a);
        }
        p.add_command(cmd);
    }
    p.cmd("EXEC");
    // Every reply (OK, QUEUED…, EXEC's); the last one is EXEC's.
    let all: Vec<redis::Value> = p.query(c)?;
    Ok(all.into_iter().last().unwrap_or(redis::Value::Nil))
}

#[test]
fn non_atomic_exec_spends_one_log_entry_per_queued_command() {
    let tx: &[&[&str]] = &[
        &["RPUSH", "k", "1"],
        &["RPUSH", "k", "2"],
        &["RPUSH", "j", "3"],
    ];
    for (args, per_exec) in [
        (&[][..], 1u64),
        (&["--unsafe-test-faults", "non-atomic-exec"][..], 3),
    ] {
        let node = TestNode::start(args);
        node.wait_leader();
        let mut c = node.conn();
        let before = common::info_num(&mut c, "replication", "raft_last_log_index");
        for _ in 0..5 {
            let r = transaction(&mut c, tx).unwrap();
            assert!(
                matches!(r, redis::Value::Array(ref v) if v.len() == 3),
                "{r:?}"
            );
        }
        let after = common::info_num(&mut c, "replication", "raft_last_log_index");
        assert_eq!(after - before, 5 * per_exec, "{args:?}");
        let k: Vec<i64> = c.lrange("k", 0, -1).unwrap();
        assert_eq!(k.len(), 10, "every command still applied once");
    }
}

#[test]
fn stale_read_in_multi_answers_read_only_transactions_on_followers() {
    let mut cluster = TestCluster::start(3);
    let leader = cluster.wait_for_leader();
    let follower = [1u64, 2, 3].into_iter().find(|i| *i != leader).unwrap();
    let () = cluster.leader_conn().set("k", "v").unwrap();
    // A correct follower refuses the queued read (-MOVED), so EXEC aborts.
    let mut c = cluster.node(follower).conn();
    let r = transaction(&mut c, &[&["GET", "k"]]);
    assert!(r.is_err(), "a correct follower aborts: {r:?}");
    let node = cluster.node(follower);
    node.kill9();
    node.extra_args.extend([
        "--unsafe-test-faults".to_string(),
        "stale-read-in-multi".to_string(),
    ]);
    node.spawn_no_wait().unwrap();
    let mut c = cluster.node(follower).conn();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match transaction(&mut c, &[&["GET", "k"], &["GET", "missing"]]) {
            Ok(redis::Value::Array(v))
                if v.first() == Some(&redis::Value::BulkString(b"v".to_vec())) =>
            {
                assert_eq!(v.get(1), Some(&redis::Value::Nil));
                break;
            }
            other => assert!(
                Instant::now() < deadline,
                "the follower never answered a local read-only EXEC: {other:?}"
            ),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Writes inside MULTI still go to the leader: queue-time -MOVED, EXECABORT.
    let r = transaction(&mut c, &[&["SET", "k", "w"], &["GET", "k"]]);
    assert!(r.is_err(), "{r:?}");
}
