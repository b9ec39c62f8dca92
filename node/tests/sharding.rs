//! A sharded cluster (3 Raft groups × 3 replicas, real processes) used through real Redis
//! Cluster clients: the `redis` crate's cluster client, `redis-cli -c`, `redis-cli --cluster
//! check`, and redis-py's `RedisCluster` when Python's `redis` package is available.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::{have, TestCluster};
use redis::Commands;
use sdr_node::cluster::slot::key_slot;

fn urls(c: &TestCluster) -> Vec<String> {
    c.nodes.iter().map(|n| n.url()).collect()
}

#[test]
fn sharded_cluster_works_with_cluster_clients() {
    let cluster = TestCluster::start_sharded(3, 3);
    let client = redis::cluster::ClusterClient::new(urls(&cluster)).expect("cluster client");
    let mut conn = client.get_connection().expect("cluster connection");
    for i in 0..300 {
        let () = conn
            .set(format!("key:{i}"), i)
            .expect("set through the cluster client");
    }
    for i in 0..300 {
        let v: i64 = conn.get(format!("key:{i}")).expect("get");
        assert_eq!(v, i);
    }
    // Hash tags keep multi-key commands on one slot.
    let () = conn
        .mset(&[("{user7}.a", "1"), ("{user7}.b", "2")])
        .expect("same-slot MSET");
    let v: Vec<String> = conn
        .mget(&["{user7}.a", "{user7}.b"])
        .expect("same-slot MGET");
    assert_eq!(v, vec!["1", "2"]);

    // CLUSTER SLOTS covers every slot exactly once, and every range names a master.
    let mut plain = cluster.nodes[0].conn();
    let slots: Vec<redis::Value> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query(&mut plain)
        .unwrap();
    let mut covered = 0i64;
    let mut masters = BTreeSet::new();
    for entry in &slots {
        let redis::Value::Array(parts) = entry else {
            panic!("slot entry {entry:?}")
        };
        let (redis::Value::Int(a), redis::Value::Int(b)) = (&parts[0], &parts[1]) else {
            panic!("{parts:?}")
        };
        covered += b - a + 1;
        let redis::Value::Array(master) = &parts[2] else {
            panic!("{parts:?}")
        };
        masters.insert(format!("{:?}", master[1]));
    }
    assert_eq!(covered, 16384);
    assert_eq!(masters.len(), 3, "three shards, three masters");

    // Keys are spread over all three groups: each group holds some, together all of them.
    let mut total = 0i64;
    let mut per_shard = Vec::new();
    for shard_first in [0usize, 3, 6] {
        let n: i64 = cluster
            .nodes
            .iter()
            .skip(shard_first)
            .take(3)
            .filter_map(|n| {
                let mut c = n.conn();
                let () = redis::cmd("READONLY").query(&mut c).ok()?;
                redis::cmd("DBSIZE").query::<i64>(&mut c).ok()
            })
            .max()
            .unwrap_or(0);
        per_shard.push(n);
        total += n;
    }
    assert_eq!(
        total, 302,
        "every key lives in exactly one shard: {per_shard:?}"
    );
    assert!(
        per_shard.iter().all(|&n| n > 50),
        "keys spread over shards: {per_shard:?}"
    );
}

#[test]
fn redirects_crossslot_and_slot_commands() {
    let cluster = TestCluster::start_sharded(3, 1);
    let mut c = cluster.nodes[0].conn();
    assert_eq!(
        redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg("foo")
            .query::<i64>(&mut c)
            .unwrap(),
        12182
    );
    let e = redis::cmd("MSET")
        .arg("a")
        .arg("1")
        .arg("b")
        .arg("2")
        .query::<()>(&mut c)
        .unwrap_err();
    assert_eq!(e.code(), Some("CROSSSLOT"));
    // Find a key owned by another shard: node 1 answers MOVED to that shard's node.
    let mut moved = 0;
    for i in 0..50 {
        let key = format!("k{i}");
        match c.set::<_, _, ()>(&key, 1) {
            Ok(()) => {
                let n: i64 = redis::cmd("CLUSTER")
                    .arg("COUNTKEYSINSLOT")
                    .arg(key_slot(key.as_bytes()))
                    .query(&mut c)
                    .unwrap();
                assert!(n >= 1, "a key written here is counted in its slot");
            }
            Err(e) => {
                assert_eq!(e.code(), Some("MOVED"), "{e}");
                let (addr, slot) = e.redirect_node().expect("redirect target");
                assert_eq!(slot, key_slot(key.as_bytes()));
                assert!(
                    cluster.nodes.iter().any(|n| n.addr() == addr),
                    "{addr} is a member"
                );
                moved += 1;
            }
        }
    }
    assert!(
        moved > 10,
        "about two thirds of the keys live elsewhere ({moved}/50)"
    );
}

#[test]
fn redis_cli_cluster_tools() {
    if !have("redis-cli") {
        eprintln!("skipped: redis-cli not installed");
        return;
    }
    let cluster = TestCluster::start_sharded(3, 1);
    let port = cluster.nodes[0].port.to_string();
    let out = Command::new("redis-cli")
        .args(["--cluster", "check", &format!("127.0.0.1:{port}")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("All 16384 slots covered"), "{text}");
    for i in 0..20 {
        let out = Command::new("redis-cli")
            .args(["-c", "-p", &port, "SET", &format!("cli{i}"), "v"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK");
    }
}

#[test]
fn redis_py_cluster_client() {
    let probe = Command::new("python3")
        .args(["-c", "import redis.cluster"])
        .status();
    if !probe.map(|s| s.success()).unwrap_or(false) {
        eprintln!("skipped: Python's `redis` package is not installed (pip install redis)");
        return;
    }
    let cluster = TestCluster::start_sharded(3, 1);
    let script = format!(
        r#"
import redis.cluster as rc
# RESP2 explicitly; tests/resp3.rs runs RedisCluster with its RESP3 default.
c = rc.RedisCluster(host="127.0.0.1", port={port}, protocol=2)
for i in range(100):
    assert c.set(f"py:{{i}}", i)
for i in range(100):
    assert int(c.get(f"py:{{i}}")) == i
print("ok", len(c.get_nodes()))
"#,
        port = cluster.nodes[0].port
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && text.starts_with("ok 3"), "{text}");
}

#[test]
fn transactions_in_a_sharded_cluster_stay_in_one_slot() {
    let cluster = TestCluster::start_sharded(3, 1);
    let mut c = cluster.nodes[0].conn();
    // Hash tags served by this node (a GET is answered, not redirected), two distinct slots.
    let local: Vec<String> = (0..200)
        .map(|i| format!("{{t{i}}}"))
        .filter(|tag| c.get::<_, Option<String>>(format!("{tag}x")).is_ok())
        .take(2)
        .collect();
    let remote = (0..200)
        .map(|i| format!("{{r{i}}}x"))
        .find(|k| c.get::<_, Option<String>>(k).is_err())
        .expect("a key of another shard");
    assert_eq!(local.len(), 2);
    assert_ne!(key_slot(local[0].as_bytes()), key_slot(local[1].as_bytes()));
    let q = |c: &mut redis::Connection, args: &[&str]| -> redis::RedisResult<redis::Value> {
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query(c)
    };
    let (a, b) = (format!("{}a", local[0]), format!("{}b", local[0]));
    // One slot: applied.
    let (x, y): (i64, i64) = redis::pipe()
        .atomic()
        .incr(&a, 1)
        .incr(&b, 1)
        .query(&mut c)
        .expect("one-slot EXEC");
    assert_eq!((x, y), (1, 1));
    // Two local slots: each command is fine alone, EXEC answers CROSSSLOT and applies nothing.
    let other = format!("{}a", local[1]);
    q(&mut c, &["MULTI"]).unwrap();
    q(&mut c, &["INCR", &a]).unwrap();
    q(&mut c, &["INCR", &other]).unwrap();
    let e = q(&mut c, &["EXEC"]).unwrap_err();
    assert_eq!(e.code(), Some("CROSSSLOT"), "{e}");
    assert_eq!(c.get::<_, i64>(&a).unwrap(), 1);
    // A key of another shard: MOVED at queue time, then EXECABORT.
    q(&mut c, &["MULTI"]).unwrap();
    q(&mut c, &["INCR", &a]).unwrap();
    let e = q(&mut c, &["INCR", &remote]).unwrap_err();
    assert_eq!(e.code(), Some("MOVED"), "{e}");
    let e = q(&mut c, &["EXEC"]).unwrap_err();
    assert_eq!(e.code(), Some("EXECABORT"), "{e}");
    assert_eq!(c.get::<_, i64>(&a).unwrap(), 1);
    // WATCH of another shard's key is redirected too.
    let e = q(&mut c, &["WATCH", &remote]).unwrap_err();
    assert_eq!(e.code(), Some("MOVED"), "{e}");
}
