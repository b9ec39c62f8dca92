//! Redis 7 functions (docs/scripting.md, "Functions"): FUNCTION / FCALL / FCALL_RO replies
//! byte-compared with a real `redis-server` 7.0 (RESP2 and RESP3), and the libraries as
//! replicated state — loaded on the leader, callable on a new leader after the old one is
//! killed, on a restarted follower, and on a wiped member that catches up by snapshot.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use sdr_node::resp::{decode_frame, encode_command};

use common::redis_server::RedisServer;
use common::{TestCluster, TestNode};

const LIB1: &str = "#!lua name=lib1\n\
redis.register_function('set_get', function(keys, args)\n\
  redis.call('set', keys[1], args[1])\n\
  return redis.call('get', keys[1])\n\
end)";

const LIB_RO: &str = "#!lua name=libro\n\
redis.register_function{function_name='reader', callback=function(keys, args)\n\
  return redis.call('get', keys[1]) end, flags={'no-writes'}, description='reads a key'}";

const LIB_ERR: &str = "#!lua name=liberr\n\
redis.register_function('bad_call', function(keys, args) return redis.call('incr', 'x', 'y') end)";

const LIB_GLOBAL: &str = "#!lua name=libglobal\n\
redis.register_function('uses_keys', function(keys, args)\n\
  return KEYS[1] end)";

const LIB_W: &str = "#!lua name=libw\n\
redis.register_function{function_name='w_ro', callback=function(keys)\n\
  return redis.call('set', keys[1], 'x') end, flags={'no-writes'}}";

const LIB_TYPES: &str = "#!lua name=libtypes\n\
redis.register_function('types', function(keys, args)\n\
  return {1, 'two', {3, 4}, #keys, #args, redis.call('exists', keys[1])} end)";

/// Commands whose replies must be byte-identical on sdr-node and redis-server, in order on
/// one connection (RESP2, then again after `HELLO 3`).
fn cases() -> Vec<Vec<&'static str>> {
    vec![
        vec!["function", "flush"],
        vec!["function", "load", LIB1],
        vec!["function", "load", LIB1],
        vec!["fcall", "set_get", "1", "k", "v1"],
        vec!["fcall", "set_get", "1", "k"],
        vec!["fcall", "nope", "0"],
        vec!["fcall", "set_get", "x"],
        vec!["fcall", "set_get", "3", "a"],
        vec!["fcall", "set_get", "-1"],
        vec!["fcall_ro", "set_get", "1", "k", "v"],
        vec!["function", "load", LIB_RO],
        vec!["fcall_ro", "reader", "1", "k"],
        vec!["fcall", "reader", "1", "k"],
        vec!["function", "load", LIB_ERR],
        vec!["fcall", "bad_call", "0"],
        vec!["function", "load", LIB_GLOBAL],
        vec!["fcall", "uses_keys", "1", "k"],
        vec!["function", "load", LIB_W],
        vec!["fcall", "w_ro", "1", "k"],
        vec!["fcall_ro", "w_ro", "1", "k"],
        vec!["function", "load", LIB_TYPES],
        vec!["fcall", "types", "1", "k", "a", "b"],
        vec!["function", "list", "libraryname", "lib1"],
        vec!["function", "list", "libraryname", "LIBRO", "withcode"],
        vec!["function", "list", "withcode", "libraryname", "libro"],
        vec!["function", "list", "libraryname", "nomatch*"],
        vec!["function", "list", "libraryname"],
        vec!["function", "list", "bogus"],
        vec!["function", "stats"],
        vec!["function", "kill"],
        vec!["function", "help"],
        // Load errors.
        vec!["function", "load", "return 1"],
        vec!["function", "load", "#!lua\nreturn 1"],
        vec!["function", "load", "#!lua name=x\nreturn 1"],
        vec!["function", "load", "#!lua name=x foo=bar\nreturn 1"],
        vec!["function", "load", "#!py name=x\nreturn 1"],
        vec!["function", "load", "#!lua name=x-y\nreturn 1"],
        vec!["function", "load", "#!lua name=x\n+"],
        vec!["function", "load", "#!lua name=x\nstring.len('a')"],
        vec!["function", "load", "#!lua name=x\nredis.call('set', 'a', 1)"],
        vec!["function", "load", "#!lua name=x\nredis.register_function('f2')"],
        vec![
            "function",
            "load",
            "#!lua name=x\nredis.register_function{function_name='f', callback=function() end, flags={'bad'}}",
        ],
        vec![
            "function",
            "load",
            "#!lua name=x\nredis.register_function{callback=function() end}",
        ],
        vec![
            "function",
            "load",
            "#!lua name=x\nredis.register_function('set_get', function() return 1 end)",
        ],
        vec![
            "function",
            "load",
            "#!lua name=x\nredis.register_function('f', function() end) redis.register_function('f', function() end)",
        ],
        vec!["function", "load", "bad", "x"],
        vec!["function", "load", "replace"],
        // REPLACE, DELETE, FLUSH, RESTORE errors.
        vec![
            "function",
            "load",
            "replace",
            "#!lua name=lib1\nredis.register_function('set_get', function() return 'v2' end)",
        ],
        vec!["fcall", "set_get", "0"],
        vec!["function", "delete", "nope"],
        vec!["function", "delete", "lib1"],
        vec!["fcall", "set_get", "0"],
        vec!["function", "flush", "bad"],
        vec!["function", "flush", "sync", "extra"],
        vec!["function", "restore", "a", "b", "c"],
        vec!["fcall", "SET_GET", "1", "k", "case"],
        vec!["function", "restore", "garbage"],
        vec!["function", "restore", "garbage", "bogus"],
        vec!["function", "flush", "sync"],
        vec!["function", "list"],
        vec!["function", "stats"],
        vec!["del", "k"],
    ]
}

/// A connection that reads any RESP2/RESP3 reply and returns its exact bytes.
struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn connect(port: u16) -> Conn {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        Conn { s, buf: Vec::new() }
    }

    fn call(&mut self, args: &[&str]) -> Vec<u8> {
        let mut out = BytesMut::new();
        encode_command(args, &mut out);
        self.s.write_all(&out).expect("send");
        loop {
            let mut b = BytesMut::from(&self.buf[..]);
            if decode_frame(&mut b).expect("valid reply").is_some() {
                let used = self.buf.len() - b.len();
                return self.buf.drain(..used).collect();
            }
            let mut chunk = [0u8; 65536];
            let n = self.s.read(&mut chunk).expect("reply");
            assert!(n > 0, "connection closed during {args:?}");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

#[test]
fn functions_reply_exactly_as_redis_7() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let node = TestNode::start(&[]);
    let mut a = Conn::connect(node.port);
    let mut b = Conn::connect(redis.port);
    let mut diffs = Vec::new();
    let mut compared = 0;
    for resp3 in [false, true] {
        if resp3 {
            a.call(&["hello", "3"]);
            b.call(&["hello", "3"]);
        }
        for case in cases() {
            let ours = a.call(&case);
            let theirs = b.call(&case);
            compared += 1;
            if ours != theirs {
                diffs.push(format!(
                    "resp3={resp3} {case:?}\n  sdr:   {:?}\n  redis: {:?}",
                    String::from_utf8_lossy(&ours),
                    String::from_utf8_lossy(&theirs)
                ));
            }
        }
    }
    assert!(compared > 100);
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

/// DUMP's payload is sdr's own (a documented deviation), so it is checked by round trip:
/// DUMP, FLUSH, RESTORE gives back the same libraries; a damaged payload is refused.
#[test]
fn dump_and_restore_round_trip() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    for lib in [LIB1, LIB_RO] {
        let _: String = redis::cmd("FUNCTION")
            .arg("LOAD")
            .arg(lib)
            .query(&mut c)
            .expect("load");
    }
    let list = |c: &mut redis::Connection| -> redis::Value {
        redis::cmd("FUNCTION")
            .arg("LIST")
            .arg("WITHCODE")
            .query(c)
            .expect("list")
    };
    let before = list(&mut c);
    let dump: Vec<u8> = redis::cmd("FUNCTION")
        .arg("DUMP")
        .query(&mut c)
        .expect("dump");
    let e = redis::cmd("FUNCTION")
        .arg("RESTORE")
        .arg(&dump)
        .query::<()>(&mut c)
        .expect_err("collides");
    assert!(e.to_string().contains("already exists"), "{e}");
    let () = redis::cmd("FUNCTION")
        .arg("FLUSH")
        .query(&mut c)
        .expect("flush");
    let () = redis::cmd("FUNCTION")
        .arg("RESTORE")
        .arg(&dump)
        .query(&mut c)
        .expect("restore");
    assert_eq!(list(&mut c), before);
    let () = redis::cmd("FUNCTION")
        .arg("RESTORE")
        .arg(&dump)
        .arg("REPLACE")
        .query(&mut c)
        .expect("restore replace");
    let mut bad = dump.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x20;
    let e = redis::cmd("FUNCTION")
        .arg("RESTORE")
        .arg(&bad)
        .arg("FLUSH")
        .query::<()>(&mut c)
        .expect_err("damaged");
    assert!(e.to_string().contains("checksum"), "{e}");
    assert_eq!(list(&mut c), before);
    let v: String = redis::cmd("FCALL")
        .arg("set_get")
        .arg(1)
        .arg("k")
        .arg("restored")
        .query(&mut c)
        .expect("fcall");
    assert_eq!(v, "restored");
}

fn eventually(secs: u64, mut f: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn readonly_conn(node: &TestNode) -> redis::Connection {
    let mut c = node.conn();
    redis::cmd("READONLY")
        .query::<()>(&mut c)
        .expect("readonly");
    c
}

fn fcall_ro(c: &mut redis::Connection, key: &str) -> Option<String> {
    redis::cmd("FCALL_RO")
        .arg("reader")
        .arg(1)
        .arg(key)
        .query::<Option<String>>(c)
        .ok()
        .flatten()
}

#[test]
fn libraries_survive_leader_kill_follower_restart_and_snapshot_catch_up() {
    let mut cluster = TestCluster::start_with(3, "request-timeout-ms: 1500\nsnapshot-every: 20\n");
    let leader = cluster.wait_for_leader();
    let followers: Vec<u64> = [1u64, 2, 3].into_iter().filter(|i| *i != leader).collect();
    // A member removed and wiped now can only come back by snapshot.
    let wiped = followers[0];
    let restarted = followers[1];
    let (ok, out) = cluster.admin(&cluster.config, &["remove", "--id", &wiped.to_string()]);
    assert!(ok, "{out}");
    cluster.node(wiped).kill9();
    let dir = cluster.node(wiped).dir.clone();
    std::fs::remove_dir_all(&dir).expect("wipe");

    let mut c = cluster.leader_conn();
    for lib in [LIB1, LIB_RO] {
        let _: String = redis::cmd("FUNCTION")
            .arg("LOAD")
            .arg(lib)
            .query(&mut c)
            .expect("load on the leader");
    }
    let v: String = redis::cmd("FCALL")
        .arg("set_get")
        .arg(1)
        .arg("fk")
        .arg("one")
        .query(&mut c)
        .expect("fcall on the leader");
    assert_eq!(v, "one");
    // Enough entries for snapshots to be taken and the log before them purged.
    for i in 0..200 {
        let () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query(&mut c)
            .expect("set");
    }

    // A follower restarted from its snapshot (and log) has the libraries.
    cluster.node(restarted).kill9();
    cluster
        .node(restarted)
        .spawn_no_wait()
        .expect("follower restarts");
    let mut ro = readonly_conn(cluster.node(restarted));
    eventually(
        15,
        || fcall_ro(&mut ro, "fk").as_deref() == Some("one"),
        "restarted follower runs FCALL_RO",
    );
    let log = cluster.node(restarted).log();
    assert!(
        log.contains("loaded snapshot"),
        "restart loaded a snapshot: {log}"
    );

    // The wiped member catches up by snapshot install and has them too.
    cluster
        .node(wiped)
        .spawn_no_wait()
        .expect("wiped node restarts");
    let raft_port = cluster
        .members
        .iter()
        .find(|m| m.0 == wiped)
        .expect("member")
        .1;
    let client_port = cluster
        .members
        .iter()
        .find(|m| m.0 == wiped)
        .expect("member")
        .2;
    let (ok, out) = cluster.admin(
        &cluster.config,
        &[
            "add",
            "--id",
            &wiped.to_string(),
            "--raft",
            &format!("127.0.0.1:{raft_port}"),
            "--client",
            &format!("127.0.0.1:{client_port}"),
        ],
    );
    assert!(ok, "{out}");
    let mut ro = readonly_conn(cluster.node(wiped));
    eventually(
        20,
        || fcall_ro(&mut ro, "fk").as_deref() == Some("one"),
        "snapshot-installed member runs FCALL_RO",
    );
    let libs: Vec<redis::Value> = redis::cmd("FUNCTION")
        .arg("LIST")
        .query(&mut ro)
        .expect("list");
    assert_eq!(libs.len(), 2);

    // Kill the leader: the new leader runs the library's writing function.
    cluster.node(leader).kill9();
    let deadline = Instant::now() + Duration::from_secs(20);
    let v = loop {
        assert!(Instant::now() < deadline, "no new leader ran FCALL");
        std::thread::sleep(Duration::from_millis(200));
        let mut done = None;
        for id in followers.iter() {
            let Ok(mut c) = cluster.node(*id).client().get_connection() else {
                continue;
            };
            if let Ok(v) = redis::cmd("FCALL")
                .arg("set_get")
                .arg(1)
                .arg("fk")
                .arg("two")
                .query::<String>(&mut c)
            {
                done = Some(v);
                break;
            }
        }
        if let Some(v) = done {
            break v;
        }
    };
    assert_eq!(v, "two");
    // Both survivors agree.
    for id in followers {
        let mut ro = readonly_conn(cluster.node(id));
        eventually(
            15,
            || fcall_ro(&mut ro, "fk").as_deref() == Some("two"),
            "survivors agree",
        );
    }
}
