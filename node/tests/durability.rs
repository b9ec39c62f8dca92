//! Crash recovery of a real node process: acknowledged writes survive `kill -9`; a torn WAL tail
//! is repaired on restart; corruption before the tail refuses to start with a message naming
//! the file and offset; snapshots compact the log and restore state.

mod common;

use std::path::PathBuf;

use common::TestNode;
use redis::Commands;

fn segments(node: &TestNode) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(node.wal_dir())
        .expect("wal dir exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wal"))
        .collect();
    v.sort();
    v
}

fn last_segment(node: &TestNode) -> PathBuf {
    segments(node).pop().expect("at least one WAL segment")
}

#[test]
fn acknowledged_writes_survive_kill9() {
    let mut node = TestNode::start(&["--fsync", "always"]);
    // Several concurrent writers, pipelined, so group commit is exercised.
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let client = node.client();
            std::thread::spawn(move || {
                let mut c = client.get_connection().expect("connect");
                for batch in 0..10 {
                    let mut p = redis::pipe();
                    for i in 0..25 {
                        p.set(
                            format!("t{t}:k{}", batch * 25 + i),
                            format!("v{t}-{batch}-{i}"),
                        )
                        .ignore();
                    }
                    p.incr(format!("counter{t}"), 1).ignore();
                    let () = p.query(&mut c).expect("pipeline acknowledged");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("writer thread");
    }
    node.kill9();
    node.spawn().expect("restart after kill -9");
    let mut c = node.conn();
    for t in 0..4 {
        for batch in 0..10 {
            for i in 0..25 {
                let v: Option<String> = c.get(format!("t{t}:k{}", batch * 25 + i)).expect("get");
                assert_eq!(v.as_deref(), Some(format!("v{t}-{batch}-{i}").as_str()));
            }
        }
        let n: i64 = c.get(format!("counter{t}")).expect("get counter");
        assert_eq!(n, 10, "every acknowledged INCR is applied exactly once");
    }
    let size: i64 = redis::cmd("DBSIZE").query(&mut c).expect("dbsize");
    assert_eq!(size, 4 * 250 + 4);
}

/// Writes `n` keys one by one (each acknowledged before the next), then kills the node.
fn write_then_kill(node: &mut TestNode, n: usize) {
    let mut c = node.conn();
    for i in 0..n {
        let () = c.set(format!("key{i}"), format!("value-{i}")).expect("set");
    }
    drop(c);
    node.kill9();
}

fn assert_prefix_present(node: &TestNode, n: usize) {
    let mut c = node.conn();
    for i in 0..n {
        let v: Option<String> = c.get(format!("key{i}")).expect("get");
        assert_eq!(
            v.as_deref(),
            Some(format!("value-{i}").as_str()),
            "key{i} survived"
        );
    }
    // The repaired node accepts new writes.
    let () = c.set("after-repair", "yes").expect("write after repair");
}

#[test]
fn torn_tail_is_truncated_on_restart() {
    let mut node = TestNode::start(&[]);
    write_then_kill(&mut node, 100);
    let seg = last_segment(&node);
    let len = std::fs::metadata(&seg).expect("segment").len();
    // A write torn in the middle: the last record loses its final bytes.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .expect("open segment");
    f.set_len(len - 3).expect("truncate");
    drop(f);
    node.spawn().expect("node repairs a torn tail and starts");
    assert!(
        node.log().to_lowercase().contains("torn"),
        "repair is logged: {}",
        node.log()
    );
    // Every record before the torn one is intact (the torn one held the last write or a
    // no-op entry appended at restart).
    assert_prefix_present(&node, 99);
}

#[test]
fn bit_flip_in_last_record_is_repaired() {
    let mut node = TestNode::start(&[]);
    write_then_kill(&mut node, 100);
    let seg = last_segment(&node);
    let mut bytes = std::fs::read(&seg).expect("read segment");
    let last = bytes.len() - 2;
    bytes[last] ^= 0x40;
    std::fs::write(&seg, &bytes).expect("write segment");
    node.spawn()
        .expect("node repairs a bad-CRC last record and starts");
    assert_prefix_present(&node, 99);
}

#[test]
fn corruption_before_the_tail_refuses_to_start() {
    let mut node = TestNode::start(&[]);
    write_then_kill(&mut node, 200);
    let seg = last_segment(&node);
    let mut bytes = std::fs::read(&seg).expect("read segment");
    let pos = bytes.len() / 3;
    bytes[pos] ^= 0xff;
    std::fs::write(&seg, &bytes).expect("write segment");
    let err = node
        .spawn()
        .expect_err("a node with mid-log corruption must not start");
    let name = seg.file_name().and_then(|n| n.to_str()).expect("file name");
    assert!(err.contains(name), "error names the file {name}: {err}");
    assert!(
        err.to_lowercase().contains("offset"),
        "error names the offset: {err}"
    );
    assert!(
        !err.contains("panicked"),
        "refusal is an error, not a panic: {err}"
    );
}

#[test]
fn snapshots_compact_the_log_and_restore_state() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = tmp.path().join("node.yaml");
    std::fs::write(&cfg, "snapshot-every: 50\nwal-segment-bytes: 4096\n").expect("config");
    let mut node = TestNode::start(&["--config", cfg.to_str().expect("utf8 path")]);
    let mut c = node.conn();
    let zadd = |c: &mut redis::Connection, args: &[&str]| -> i64 {
        redis::cmd("ZADD").arg(args).query(c).expect("zadd")
    };
    // Before the snapshots (restored from one) and after them (replayed from the WAL).
    assert_eq!(zadd(&mut c, &["z", "1.5", "a", "-inf", "b", "-0", "c"]), 3);
    for i in 0..600 {
        let () = c.set(format!("key{i}"), format!("value-{i}")).expect("set");
    }
    assert_eq!(zadd(&mut c, &["z", "ch", "2", "a", "0.1", "d"]), 2);
    let () = c.hset("h", "f", "v").expect("hset");
    let _: i64 = c.rpush("l", &["a", "b", "c"]).expect("rpush");
    drop(c);
    // Snapshots are taken in the background; wait until one exists.
    let snaps = node.dir.join("snapshots");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::fs::read_dir(&snaps).map(|d| d.count()).unwrap_or(0) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "a snapshot was written"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Old segments are purged: far fewer than 600 entries' worth remain.
    let wal_bytes: u64 = segments(&node)
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    node.kill9();
    node.spawn().expect("restart from snapshot + WAL");
    let mut c = node.conn();
    for i in (0..600).step_by(7) {
        let v: Option<String> = c.get(format!("key{i}")).expect("get");
        assert_eq!(v.as_deref(), Some(format!("value-{i}").as_str()));
    }
    let v: Option<String> = c.hget("h", "f").expect("hget");
    assert_eq!(v.as_deref(), Some("v"));
    let l: Vec<String> = c.lrange("l", 0, -1).expect("lrange");
    assert_eq!(l, vec!["a", "b", "c"]);
    let z: Vec<String> = redis::cmd("ZRANGE")
        .arg(&["z", "0", "-1", "WITHSCORES"])
        .query(&mut c)
        .expect("zrange");
    assert_eq!(
        z,
        ["b", "-inf", "c", "0", "d", "0.10000000000000001", "a", "2"]
    );
    assert!(
        wal_bytes < 600 * 40,
        "WAL was compacted after snapshots ({wal_bytes} bytes left)"
    );
}

#[test]
fn sigterm_shuts_down_cleanly_and_keeps_data() {
    let mut node = TestNode::start(&[]);
    let mut c = node.conn();
    let () = c.set("k", "v").expect("set");
    drop(c);
    assert_eq!(
        node.terminate(),
        Some(0),
        "exit code 0 after SIGTERM: {}",
        node.log()
    );
    node.spawn().expect("restart");
    let v: Option<String> = node.conn().get("k").expect("get");
    assert_eq!(v.as_deref(), Some("v"));
}

/// Hostile tail: a client's 8 MiB value made of `01 00 10 00` (a plausible ~1 MiB entry frame
/// header at every fourth byte) is torn by a crash. An unbounded torn-tail scan checksums
/// ~1 MiB at each of a million offsets (hours of boot); the bounded scan gives up after its
/// budget, truncates the tail, and the node boots in seconds with every earlier write.
#[test]
fn crafted_torn_tail_does_not_stall_boot() {
    let mut node = TestNode::start(&[]);
    let mut c = node.conn();
    for i in 0..50 {
        let () = c.set(format!("key{i}"), format!("value-{i}")).expect("set");
    }
    let crafted: Vec<u8> = [0x01u8, 0x00, 0x10, 0x00].repeat(2 << 20);
    let () = c.set("crafted", crafted).expect("set crafted");
    drop(c);
    node.kill9();
    let seg = last_segment(&node);
    let len = std::fs::metadata(&seg).expect("segment").len();
    // Cut inside the crafted value (later records are small): the write is torn.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .expect("open segment");
    f.set_len(len - (4 << 20)).expect("truncate");
    drop(f);
    let t = std::time::Instant::now();
    node.spawn()
        .expect("node boots despite a crafted torn tail");
    assert!(
        t.elapsed() < std::time::Duration::from_secs(20),
        "boot took {:?}",
        t.elapsed()
    );
    assert!(
        node.log().contains("truncating torn WAL tail"),
        "repair is logged: {}",
        node.log()
    );
    assert!(
        node.log().contains("torn-tail scan bounded"),
        "the crafted tail hit the scan budget: {}",
        node.log()
    );
    assert_prefix_present(&node, 50);
}
