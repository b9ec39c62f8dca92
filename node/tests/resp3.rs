//! RESP3 against the real thing: the same commands sent to a real `redis-server` 7.0 and to
//! an `sdr-node`, after `HELLO 3` and in RESP2, must get byte-identical replies (the few
//! commands whose content legitimately differs — ids, versions, documentation text — are
//! compared by reply *type* only). Plus `redis-cli -3` and default-configured redis-py 8
//! (which opens every connection with `HELLO 3`), standalone and `RedisCluster`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use common::{free_port, have, TestCluster, TestNode};
use sdr_node::resp::{decode_frame, encode_command, Frame};

/// A real redis-server on an ephemeral port, killed by pid on drop.
struct RedisServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    fn start() -> Option<RedisServer> {
        if !have("redis-server") {
            eprintln!("skipped: redis-server not installed (apt-get install redis-server)");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        let server = RedisServer {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(mut c) = Raw::connect(port) {
                if c.call(&["PING"]).1 == Frame::Simple("PONG".into()) {
                    return Some(server);
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not start on {port}");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw RESP connection: returns each reply's exact bytes and its decoded frame.
struct Raw {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    fn connect(port: u16) -> std::io::Result<Raw> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        Ok(Raw { s, buf: Vec::new() })
    }

    fn call(&mut self, args: &[&str]) -> (Vec<u8>, Frame) {
        let mut out = BytesMut::new();
        encode_command(args, &mut out);
        self.s.write_all(&out).expect("send");
        loop {
            let mut b = BytesMut::from(&self.buf[..]);
            if let Some(f) = decode_frame(&mut b).expect("valid reply") {
                let used = self.buf.len() - b.len();
                let raw: Vec<u8> = self.buf.drain(..used).collect();
                return (raw, f);
            }
            let mut chunk = [0u8; 65536];
            let n = self.s.read(&mut chunk).expect("reply");
            assert!(n > 0, "connection closed during {args:?}");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// The RESP type of a frame and, for aggregates, of every element (recursively): what the
/// type-only comparisons compare.
fn shape(f: &Frame) -> String {
    let inner = |items: &mut dyn Iterator<Item = &Frame>| -> String {
        let mut kinds: Vec<String> = items.map(shape).collect();
        kinds.dedup();
        kinds.join(",")
    };
    match f {
        Frame::Simple(_) => "+".into(),
        Frame::Error(_) => "-".into(),
        Frame::Integer(_) => ":".into(),
        Frame::Bulk(_) => "$".into(),
        Frame::Null | Frame::NullArray => "_".into(),
        Frame::Double(_) => ",".into(),
        Frame::Boolean(_) => "#".into(),
        Frame::BigNumber(_) => "(".into(),
        Frame::Verbatim { format, .. } => format!("={}", String::from_utf8_lossy(format)),
        Frame::Array(v) => format!("*[{}]", inner(&mut v.iter())),
        Frame::Set(v) => format!("~[{}]", inner(&mut v.iter())),
        Frame::Push(v) => format!(">[{}]", inner(&mut v.iter())),
        Frame::Map(v) => format!("%[{}]", inner(&mut v.iter().flat_map(|(k, v)| [k, v]))),
        // Never decoded (the decoder reads nested arrays); listed for exhaustiveness.
        Frame::Pairs(v) | Frame::ArrayMap(v) => {
            format!("*[{}]", inner(&mut v.iter().flat_map(|(k, v)| [k, v])))
        }
    }
}

/// Commands whose replies must be byte-identical, covering every family the node serves.
/// Set members are integers (Redis 7.0 keeps them sorted in an intset, as sdr always does)
/// and hash fields are inserted in ascending order (docs/commands.md: sdr returns fields in
/// bytewise order, Redis in insertion order for small hashes).
const EXACT: &[&[&str]] = &[
    // strings
    &["SET", "s", "v"],
    &["GET", "s"],
    &["GET", "missing"],
    &["SET", "s", "w", "GET"],
    &["SET", "missing2", "w", "NX", "GET"],
    &["SETNX", "s", "x"],
    &["MGET", "s", "missing", "s"],
    &["INCR", "n"],
    &["INCRBY", "n", "41"],
    &["INCRBYFLOAT", "f", "1.5"],
    &["APPEND", "s", "xyz"],
    &["STRLEN", "s"],
    &["GETRANGE", "s", "0", "1"],
    &["GETDEL", "missing"],
    &["GETEX", "missing"],
    &["MSET", "m1", "a", "m2", "b"],
    &["GET", "h"],
    // keys
    &["EXISTS", "s", "missing"],
    &["TYPE", "s"],
    &["TYPE", "missing"],
    &["EXPIRE", "s", "100"],
    &["TTL", "s"],
    &["PERSIST", "s"],
    &["TTL", "s"],
    &["TTL", "missing"],
    &["RENAME", "m1", "m3"],
    &["RENAME", "missing", "x"],
    &["DEL", "m2", "m3", "missing"],
    // hashes
    &["HSET", "h", "a", "1", "b", "2"],
    &["HGET", "h", "a"],
    &["HGET", "h", "zz"],
    &["HGET", "missing", "a"],
    &["HMGET", "h", "a", "zz"],
    &["HGETALL", "h"],
    &["HGETALL", "missing"],
    &["HKEYS", "h"],
    &["HVALS", "h"],
    &["HLEN", "h"],
    &["HEXISTS", "h", "a"],
    &["HINCRBY", "h", "a", "5"],
    &["HDEL", "h", "b"],
    &["HGETALL", "h"],
    &["GET", "h"],
    // lists
    &["RPUSH", "l", "a", "b", "c", "d"],
    &["LRANGE", "l", "0", "-1"],
    &["LPOP", "l"],
    &["LPOP", "l", "2"],
    &["RPOP", "missing"],
    &["LPOP", "missing", "2"],
    &["RPOP", "missing", "2"],
    &["LRANGE", "missing", "0", "-1"],
    &["LINDEX", "l", "0"],
    &["LINDEX", "l", "9"],
    &["LLEN", "l"],
    // sets
    &["SADD", "st", "3", "1", "2"],
    &["SMEMBERS", "st"],
    &["SMEMBERS", "missing"],
    &["SISMEMBER", "st", "1"],
    &["SISMEMBER", "st", "9"],
    &["SCARD", "st"],
    &["SREM", "st", "2"],
    &["SMEMBERS", "st"],
    &["SMEMBERS", "h"],
    // server layer
    &["PING"],
    &["PING", "hi"],
    &["ECHO", "e"],
    &["SELECT", "0"],
    &["SELECT", "x"],
    &["DBSIZE"],
    &["CONFIG", "GET", "timeout"],
    &["CONFIG", "GET", "nosuchparam"],
    &["CLIENT", "GETNAME"],
    &["CLIENT", "SETNAME", "n1"],
    &["CLIENT", "GETNAME"],
    &["HELLO", "4"],
    &["HELLO", "x"],
    &["HELLO", "3", "SETNAME", "a b"],
    &["HELLO", "2", "FOO"],
    &["COMMAND", "INFO", "nosuchcommand"],
    &["COMMAND", "DOCS", "nosuchcommand"],
    &["COMMAND", "GETKEYS", "mset", "a", "1", "b", "2"],
    &["CLUSTER", "INFO"],
    // transactions
    &["MULTI"],
    &["SET", "t", "1"],
    &["INCR", "t"],
    &["GET", "t"],
    &["LPOP", "t"],
    &["SET", "t2", "v", "XX", "NX"],
    &["HGETALL", "h"],
    &["PING"],
    &["EXEC"],
    &["MULTI"],
    &["MULTI"],
    &["NOSUCH"],
    &["SET", "t", "9"],
    &["EXEC"],
    &["GET", "t"],
    &["EXEC"],
    &["DISCARD"],
    &["MULTI"],
    &["WATCH", "t"],
    &["GET"],
    &["DISCARD"],
    &["WATCH", "t"],
    &["SET", "t", "3"],
    &["MULTI"],
    &["INCR", "t"],
    &["EXEC"],
    &["GET", "t"],
    &["WATCH", "t", "nokey"],
    &["MULTI"],
    &["GET", "t"],
    &["SMEMBERS", "st"],
    &["EXEC"],
    &["WATCH", "t"],
    &["UNWATCH"],
    &["SET", "t", "4"],
    &["MULTI"],
    &["INCR", "t"],
    &["EXEC"],
    &["MULTI"],
    &["GET", "t", "extra"],
    &["EXEC"],
    &["MULTI"],
    &["EXEC"],
    // sorted sets: doubles for scores, `[member, score]` pairs nested in RESP3 only
    &[
        "ZADD", "zs", "1", "a", "2.5", "b", "3", "c", "-inf", "d", "0.1", "e",
    ],
    &["ZSCORE", "zs", "b"],
    &["ZSCORE", "zs", "d"],
    &["ZSCORE", "zs", "nosuch"],
    &["ZMSCORE", "zs", "a", "nosuch", "e"],
    &["ZINCRBY", "zs", "1.5", "a"],
    &["ZADD", "zs", "INCR", "2", "b"],
    &["ZADD", "zs", "XX", "INCR", "2", "nosuch"],
    &["ZRANGE", "zs", "0", "-1"],
    &["ZRANGE", "zs", "0", "-1", "WITHSCORES"],
    &[
        "ZRANGE",
        "zs",
        "(1",
        "+inf",
        "BYSCORE",
        "WITHSCORES",
        "LIMIT",
        "0",
        "2",
    ],
    &["ZREVRANGE", "zs", "0", "1", "WITHSCORES"],
    &["ZRANGEBYSCORE", "zs", "-inf", "+inf", "WITHSCORES"],
    &[
        "ZREVRANGEBYSCORE",
        "zs",
        "+inf",
        "-inf",
        "WITHSCORES",
        "LIMIT",
        "1",
        "2",
    ],
    &["ZADD", "zs2", "5", "a", "7", "x"],
    &["ZUNION", "2", "zs", "zs2", "WITHSCORES"],
    &["ZINTER", "2", "zs", "zs2", "WITHSCORES", "AGGREGATE", "MAX"],
    &["ZDIFF", "2", "zs", "zs2", "WITHSCORES"],
    &["ZRANDMEMBER", "zs", "0", "WITHSCORES"],
    &["ZRANDMEMBER", "nosuch", "3", "WITHSCORES"],
    &["ZPOPMIN", "zs"],
    &["ZPOPMAX", "zs", "2"],
    &["ZPOPMIN", "zs", "0"],
    &["ZPOPMIN", "nosuch"],
    &["ZMPOP", "2", "nosuch", "zs", "MIN", "COUNT", "2"],
    &["ZMPOP", "1", "nosuch", "MAX"],
    &["BZPOPMIN", "zs2", "0"],
    &["BZMPOP", "0", "1", "zs2", "MAX"],
    &["ZSCAN", "zs", "0"],
    &["HSET", "hr", "f", "v"],
    &["HRANDFIELD", "hr", "1", "WITHVALUES"],
    &["HRANDFIELD", "hr", "-2", "WITHVALUES"],
    &["HRANDFIELD", "hr", "0", "WITHVALUES"],
    &[
        "EVAL",
        "return redis.call('zrange', KEYS[1], 0, -1, 'withscores')",
        "1",
        "zs",
    ],
    &[
        "EVAL",
        "redis.setresp(3); return redis.call('zrange', KEYS[1], 0, -1, 'withscores')",
        "1",
        "zs",
    ],
    &[
        "EVAL",
        "redis.setresp(3); return redis.call('zscore', KEYS[1], 'a')",
        "1",
        "zs",
    ],
    // streams: XREAD / XREADGROUP are a map in RESP3, `[key, entries]` arrays in RESP2
    &["XADD", "xs", "1-1", "f", "v"],
    &["XADD", "xs", "2-1", "g", "w"],
    &["XADD", "xs2", "5-0", "h", "x"],
    &["XREAD", "COUNT", "1", "STREAMS", "xs", "xs2", "0", "0"],
    &["XREAD", "STREAMS", "xs", "nosuch", "1-1", "0"],
    &["XREAD", "STREAMS", "xs", "$"],
    &["XGROUP", "CREATE", "xs", "grp", "0"],
    &[
        "XREADGROUP",
        "GROUP",
        "grp",
        "alice",
        "COUNT",
        "1",
        "STREAMS",
        "xs",
        ">",
    ],
    &["XREADGROUP", "GROUP", "grp", "alice", "STREAMS", "xs", "0"],
    &["XREADGROUP", "GROUP", "grp", "bob", "STREAMS", "xs", ">"],
    &["XREADGROUP", "GROUP", "grp", "bob", "STREAMS", "xs", ">"],
    &[
        "EVAL",
        "return redis.call('xread', 'streams', KEYS[1], '0')",
        "1",
        "xs",
    ],
    &[
        "EVAL",
        "redis.setresp(3); return redis.call('xread', 'streams', KEYS[1], '0')",
        "1",
        "xs",
    ],
    // errors
    &["NOSUCH", "a"],
    &["GET"],
    &["FLUSHALL"],
    &["DBSIZE"],
];

/// Commands compared by reply type only (their content differs by design: connection ids,
/// server version and INFO fields, documentation text, COMMAND INFO details).
const TYPED: &[&[&str]] = &[
    &["HELLO"],
    &["INFO", "server"],
    &["CLIENT", "INFO"],
    &["CLIENT", "LIST"],
    &["COMMAND", "DOCS", "get"],
    &["COMMAND", "INFO", "get"],
    &["CONFIG", "GET", "maxclients"],
];

fn compare(node_port: u16, redis_port: u16, resp3: bool) {
    let mut a = Raw::connect(node_port).expect("node");
    let mut b = Raw::connect(redis_port).expect("redis");
    a.call(&["FLUSHALL"]);
    b.call(&["FLUSHALL"]);
    if resp3 {
        let (_, ha) = a.call(&["HELLO", "3"]);
        let (_, hb) = b.call(&["HELLO", "3"]);
        assert_eq!(shape(&ha), shape(&hb), "HELLO 3");
        assert!(matches!(&ha, Frame::Map(m) if m.len() == 7), "{ha:?}");
    }
    let mut mismatches = Vec::new();
    for cmd in EXACT {
        let (ra, _) = a.call(cmd);
        let (rb, _) = b.call(cmd);
        if ra != rb {
            mismatches.push(format!(
                "{cmd:?}\n  sdr:   {:?}\n  redis: {:?}",
                String::from_utf8_lossy(&ra),
                String::from_utf8_lossy(&rb)
            ));
        }
    }
    for cmd in TYPED {
        let (_, fa) = a.call(cmd);
        let (_, fb) = b.call(cmd);
        // Top-level type and, for maps/sets/arrays, the element types.
        let (sa, sb) = (shape(&fa), shape(&fb));
        let top = |s: &str| s.chars().take_while(|c| *c != '[').collect::<String>();
        let ok = if cmd[0] == "COMMAND" {
            top(&sa) == top(&sb)
        } else {
            sa == sb
        };
        if !ok {
            mismatches.push(format!("{cmd:?} (type)\n  sdr:   {sa}\n  redis: {sb}"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "resp3={resp3}: {} replies differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn replies_match_redis_7_in_resp2_and_resp3() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let node = TestNode::start(&[]);
    compare(node.port, redis.port, false);
    compare(node.port, redis.port, true);
}

#[test]
fn hello_switches_protocol_mid_pipeline() {
    let node = TestNode::start(&[]);
    let mut c = Raw::connect(node.port).expect("node");
    // One write, three commands: replies before HELLO 3 are RESP2, HELLO's and later RESP3.
    let mut out = BytesMut::new();
    encode_command(&["GET", "nokey"], &mut out);
    encode_command(&["HELLO", "3"], &mut out);
    encode_command(&["GET", "nokey"], &mut out);
    encode_command(&["HELLO"], &mut out);
    encode_command(&["HELLO", "2"], &mut out);
    encode_command(&["GET", "nokey"], &mut out);
    c.s.write_all(&out).expect("send");
    let mut replies = Vec::new();
    while replies.len() < 6 {
        let mut b = BytesMut::from(&c.buf[..]);
        if let Some(f) = decode_frame(&mut b).expect("valid") {
            let used = c.buf.len() - b.len();
            replies.push((c.buf.drain(..used).collect::<Vec<u8>>(), f));
            continue;
        }
        let mut chunk = [0u8; 4096];
        let n = c.s.read(&mut chunk).expect("read");
        assert!(n > 0);
        c.buf.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(replies[0].0, b"$-1\r\n");
    assert!(replies[1].0.starts_with(b"%7\r\n"), "{:?}", replies[1]);
    assert_eq!(replies[2].0, b"_\r\n");
    // HELLO without a version answers in the current protocol (RESP3) with proto 3.
    assert!(matches!(&replies[3].1, Frame::Map(m)
        if m.contains(&(Frame::bulk("proto"), Frame::Integer(3)))));
    assert!(replies[4].0.starts_with(b"*14\r\n"), "{:?}", replies[4]);
    assert_eq!(replies[5].0, b"$-1\r\n");
}

#[test]
fn redis_cli_resp3_smoke() {
    if !have("redis-cli") {
        eprintln!("skipped: redis-cli not installed (apt-get install redis-tools)");
        return;
    }
    let node = TestNode::start(&[]);
    let port = node.port.to_string();
    let cli = |args: &[&str]| {
        let out = Command::new("redis-cli")
            .args(["-3", "--no-raw", "-p", &port])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(cli(&["HSET", "h", "f", "v"]).trim(), "(integer) 1");
    // redis-cli prints a RESP3 map as `1# "f" => "v"`, a set as `1~ "m"`, null as `(nil)`.
    assert_eq!(cli(&["HGETALL", "h"]).trim(), "1# \"f\" => \"v\"");
    assert_eq!(cli(&["SADD", "s", "m"]).trim(), "(integer) 1");
    assert_eq!(cli(&["SMEMBERS", "s"]).trim(), "1~ \"m\"");
    assert_eq!(cli(&["GET", "nokey"]).trim(), "(nil)");
    assert!(cli(&["INFO", "server"]).contains("redis_version:"));
}

fn python_redis() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import redis, redis.cluster"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("skipped: Python's `redis` package is not installed (pip install redis)");
    }
    ok
}

fn run_python(script: &str) -> String {
    let out = Command::new("python3")
        .args(["-c", script])
        .output()
        .expect("python3");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    text
}

#[test]
fn redis_py_default_settings_standalone() {
    if !python_redis() {
        return;
    }
    let node = TestNode::start(&[]);
    let script = format!(
        r#"
import redis
r = redis.Redis(port={port})
assert r.set("a", 1)
assert r.get("a") == b"1"
assert r.hset("h", mapping={{"f": "v", "g": "w"}}) == 2
assert r.hgetall("h") == {{b"f": b"v", b"g": b"w"}}, r.hgetall("h")
assert r.sadd("s", "x", "y") == 2
assert r.smembers("s") == {{b"x", b"y"}}
assert r.get("nokey") is None
p = r.pipeline(transaction=False)
p.set("p", "1").incr("p").get("p").hgetall("nokey")
assert p.execute() == [True, 2, b"2", {{}}], p.execute
info = r.info("server")
assert "redis_version" in info, info
assert r.config_get("timeout") == {{"timeout": "0"}}, r.config_get("timeout")
print("ok")
"#,
        port = node.port
    );
    let text = run_python(&script);
    assert!(text.contains("ok"), "{text}");
}

#[test]
fn redis_py_default_settings_cluster() {
    if !python_redis() {
        return;
    }
    let cluster = TestCluster::start_sharded(3, 1);
    let script = format!(
        r#"
import redis.cluster as rc
c = rc.RedisCluster(host="127.0.0.1", port={port})
for i in range(60):
    assert c.set(f"py:{{i}}", i)
for i in range(60):
    assert int(c.get(f"py:{{i}}")) == i
c.hset("{{tag}}h", mapping={{"a": "1"}})
assert c.hgetall("{{tag}}h") == {{b"a": b"1"}}
print("ok", len(c.get_nodes()))
"#,
        port = cluster.nodes[0].port
    );
    let text = run_python(&script);
    assert!(text.contains("ok 3"), "{text}");
}
