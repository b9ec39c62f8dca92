//! Hostile clients against a real node (issue 11): each attack gets an error reply, the node
//! keeps serving (the same connection where the protocol allows, and other clients), and it
//! does not allocate what the attacker asked for.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{info_num, TestNode};

fn command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Sends `payload` on a fresh connection, then reads until the received bytes end with
/// `until`, the server closes, or 10 s pass. Returns the bytes and whether it closed.
fn exchange_until(node: &TestNode, payload: &[u8], until: &[u8]) -> (String, bool) {
    let mut s = TcpStream::connect(node.addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let _ = s.write_all(payload);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut closed = false;
    while Instant::now() < deadline && !out.ends_with(until) {
        match s.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                closed = true;
                break;
            }
            Err(_) => {}
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

fn assert_still_serving(node: &TestNode) {
    let (reply, _) = exchange_until(node, b"PING\r\n", b"\r\n");
    assert!(
        reply == "+PONG\r\n" || reply.starts_with("-NOAUTH"),
        "node still answers: {reply:?}"
    );
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn deeply_nested_idempotent_is_refused_not_a_stack_overflow() {
    let node = TestNode::start(&[]);
    let mut args: Vec<&[u8]> = Vec::new();
    for _ in 0..100_000 {
        args.extend_from_slice(&[b"IDEMPOTENT", b"c", b"1"]);
    }
    args.extend_from_slice(&[b"SET", b"k", b"v"]);
    let mut payload = command(&args);
    payload.extend_from_slice(b"PING\r\n");
    let (reply, closed) = exchange_until(&node, &payload, b"+PONG\r\n");
    assert_eq!(reply, "-ERR IDEMPOTENT cannot be nested\r\n+PONG\r\n");
    assert!(!closed);
    assert_still_serving(&node);
}

#[test]
fn error_replies_never_carry_line_breaks_from_client_bytes() {
    let node = TestNode::start(&[]);
    for attack in [
        command(&[b"EXPIRE", b"k", b"10", b"a\r\n+OK"]),
        command(&[b"CONFIG", b"SET", b"no\r\n+OK", b"1"]),
        command(&[b"HELLO", b"2", b"x\r\n:1"]),
        command(&[b"NOSUCH\r\n+OK", b"a\r\n:1"]),
    ] {
        let mut payload = attack.clone();
        payload.extend_from_slice(b"PING\r\n");
        let (reply, closed) = exchange_until(&node, &payload, b"+PONG\r\n");
        let lines: Vec<&str> = reply.split_terminator("\r\n").collect();
        assert_eq!(lines.len(), 2, "exactly one reply before PONG: {reply:?}");
        assert!(lines[0].starts_with("-ERR "), "{reply:?}");
        assert_eq!(lines[1], "+PONG");
        assert!(!closed);
    }
}

#[test]
fn hello_before_auth_cannot_forge_replies() {
    let node = TestNode::start(&["--requirepass", "pw"]);
    let mut payload = command(&[b"HELLO", b"2", b"x\r\n:1"]);
    payload.extend_from_slice(&command(&[b"AUTH", b"pw"]));
    payload.extend_from_slice(b"PING\r\n");
    let (reply, _) = exchange_until(&node, &payload, b"+PONG\r\n");
    let lines: Vec<&str> = reply.split_terminator("\r\n").collect();
    assert_eq!(lines.len(), 3, "{reply:?}");
    assert!(lines[0].starts_with('-'), "{reply:?}");
    assert_eq!(&lines[1..], ["+OK", "+PONG"]);
}

#[test]
fn unauthenticated_clients_get_small_protocol_limits() {
    let node = TestNode::start(&["--requirepass", "pw"]);
    // Read until the server closes (a protocol error ends the connection).
    const CLOSE: &[u8] = b"\0";
    let (reply, closed) = exchange_until(&node, b"*11\r\n", CLOSE);
    assert_eq!(
        reply,
        "-ERR Protocol error: unauthenticated multibulk length\r\n"
    );
    assert!(closed);
    let (reply, closed) = exchange_until(&node, b"*2\r\n$4\r\nAUTH\r\n$16385\r\n", CLOSE);
    assert_eq!(
        reply,
        "-ERR Protocol error: unauthenticated bulk length\r\n"
    );
    assert!(closed);
    let (reply, closed) = exchange_until(&node, b"*1\r\n$536870912\r\n", CLOSE);
    assert_eq!(
        reply,
        "-ERR Protocol error: unauthenticated bulk length\r\n"
    );
    assert!(closed);
    // AUTH lifts the limits for the very next command of the same pipeline.
    let big = vec![b'v'; 20_000];
    let mut payload = command(&[b"AUTH", b"pw"]);
    payload.extend_from_slice(&command(&[b"SET", b"k", &big, b"EX", b"100"]));
    payload.extend_from_slice(&command(&[
        b"MSET", b"a", b"1", b"b", b"2", b"c", b"3", b"d", b"4", b"e", b"5", b"f", b"6",
    ]));
    let (reply, closed) = exchange_until(&node, &payload, b"+OK\r\n+OK\r\n+OK\r\n");
    assert_eq!(reply, "+OK\r\n+OK\r\n+OK\r\n");
    assert!(!closed);
    assert_still_serving(&node);
}

#[test]
fn requirepass_is_readable_with_config_get_as_in_redis() {
    // Documented in docs/security.md: CONFIG GET requirepass returns it, as Redis does, to an
    // authenticated client only.
    let node = TestNode::start(&["--requirepass", "pw"]);
    let (reply, _) = exchange_until(
        &node,
        &command(&[b"CONFIG", b"GET", b"requirepass"]),
        b"\r\n",
    );
    assert!(reply.starts_with("-NOAUTH"), "{reply}");
    let mut payload = command(&[b"AUTH", b"wrong"]);
    payload.extend_from_slice(&command(&[b"AUTH", b"pw"]));
    payload.extend_from_slice(&command(&[b"CONFIG", b"GET", b"requirepass"]));
    let (reply, _) = exchange_until(&node, &payload, b"$2\r\npw\r\n");
    assert!(reply.starts_with("-WRONGPASS"), "{reply}");
    assert!(
        reply.ends_with("+OK\r\n*2\r\n$11\r\nrequirepass\r\n$2\r\npw\r\n"),
        "{reply}"
    );
}

#[test]
fn setrange_beyond_the_string_limit_is_refused_before_allocating() {
    let node = TestNode::start(&[]);
    let before = rss_kib(node.pid());
    let mut payload = command(&[b"SETRANGE", b"bomb", b"536870912", b"x"]);
    payload.extend_from_slice(b"EXISTS bomb\r\n");
    let (reply, _) = exchange_until(&node, &payload, b":0\r\n");
    assert_eq!(
        reply,
        "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n:0\r\n"
    );
    assert!(rss_kib(node.pid()) < before + 64 * 1024);
}

#[test]
fn maxmemory_refuses_growth_with_oom_and_keeps_serving() {
    let node = TestNode::start(&[]);
    let (reply, _) = exchange_until(
        &node,
        &command(&[b"CONFIG", b"GET", b"maxmemory", b"maxmemory-policy"]),
        b"noeviction\r\n",
    );
    assert_eq!(
        reply,
        "*4\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n$16\r\nmaxmemory-policy\r\n$10\r\nnoeviction\r\n"
    );
    let (reply, _) = exchange_until(
        &node,
        &command(&[b"CONFIG", b"SET", b"maxmemory", b"1mb"]),
        b"\r\n",
    );
    assert_eq!(reply, "+OK\r\n");
    let oom = "-OOM command not allowed when used memory > 'maxmemory'.\r\n";

    // The 40-byte bomb would create a 512 MiB string: refused, nothing allocated.
    let before = rss_kib(node.pid());
    let (reply, _) = exchange_until(
        &node,
        &command(&[b"SETRANGE", b"bomb", b"536870911", b"x"]),
        b"\r\n",
    );
    assert_eq!(reply, oom);
    assert!(rss_kib(node.pid()) < before + 64 * 1024);

    // Fill past the limit: writes that may grow memory are refused, others are served.
    let v = vec![b'x'; 400 * 1024];
    for k in [&b"a"[..], b"b", b"c"] {
        let (reply, _) = exchange_until(&node, &command(&[b"SET", k, &v]), b"\r\n");
        assert_eq!(reply, "+OK\r\n");
    }
    let (reply, _) = exchange_until(&node, &command(&[b"SET", b"d", b"1"]), b"\r\n");
    assert_eq!(reply, oom);
    let (reply, _) = exchange_until(
        &node,
        &command(&[b"IDEMPOTENT", b"c1", b"1", b"SET", b"d", b"1"]),
        b"\r\n",
    );
    assert_eq!(reply, oom);
    let (reply, _) = exchange_until(&node, &command(&[b"STRLEN", b"a"]), b"\r\n");
    assert_eq!(reply, ":409600\r\n");
    let (reply, _) = exchange_until(&node, &command(&[b"DEL", b"a", b"b"]), b"\r\n");
    assert_eq!(reply, ":2\r\n", "DEL is not denyoom");
    let (reply, _) = exchange_until(&node, &command(&[b"SET", b"d", b"1"]), b"\r\n");
    assert_eq!(reply, "+OK\r\n", "under the limit again");

    let (reply, _) = exchange_until(
        &node,
        &command(&[b"CONFIG", b"SET", b"maxmemory-policy", b"allkeys-lfu"]),
        b"\r\n",
    );
    assert!(reply.starts_with("-ERR CONFIG SET failed"), "{reply}");
    let (reply, _) = exchange_until(
        &node,
        &command(&[b"CONFIG", b"SET", b"maxmemory", b"0"]),
        b"\r\n",
    );
    assert_eq!(reply, "+OK\r\n");
    let (reply, _) = exchange_until(&node, &command(&[b"SET", b"a", &v]), b"\r\n");
    assert_eq!(reply, "+OK\r\n", "0 = unlimited");
    assert_still_serving(&node);
}

#[test]
fn maxclients_is_fitted_to_the_open_files_limit() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("data");
    // `ulimit -n 200` sets soft and hard limits, so the node cannot raise them.
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 200 && exec \"$0\" \"$@\"")
        .arg(common::node_bin())
        .args(["--bind", "127.0.0.1", "--port", "0", "--data-dir"])
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn node under ulimit");
    let deadline = Instant::now() + Duration::from_secs(30);
    let port = loop {
        if let Some(p) = std::fs::read_to_string(dir.join("port"))
            .ok()
            .and_then(|s| s.trim().parse::<u16>().ok())
        {
            break p;
        }
        assert!(Instant::now() < deadline, "node did not start");
        assert!(child.try_wait().ok().flatten().is_none(), "node exited");
        std::thread::sleep(Duration::from_millis(20));
    };
    let ask = |payload: &[u8], until: &[u8]| {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s.write_all(payload).expect("write");
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while !out.windows(until.len()).any(|w| w == until) {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    let info = ask(&command(&[b"INFO", b"clients"]), b"blocked_clients");
    assert!(info.contains("maxclients:136\r\n"), "{info}");
    let reply = ask(
        &command(&[b"CONFIG", b"SET", b"maxclients", b"100000"]),
        b"\r\n",
    );
    assert!(
        reply.starts_with("-ERR CONFIG SET failed (possibly related to argument 'maxclients') - The operating system is not able to handle the specified number of clients, try with 136"),
        "{reply}"
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// `IDEMPOTENT` dedup records cannot be forged or erased by any client: a command naming the
/// reserved key is refused, the records are invisible to KEYS/DBSIZE and survive FLUSHALL and
/// a restart, so a retry still returns the first reply without applying the write twice.
#[test]
fn idempotent_records_are_out_of_clients_reach() {
    let mut node = TestNode::start(&[]);
    let mut c = node.conn();
    let idem = || {
        redis::cmd("IDEMPOTENT")
            .arg("c")
            .arg(1)
            .arg("INCR")
            .arg("n")
            .clone()
    };
    assert_eq!(idem().query::<i64>(&mut c).unwrap(), 1);
    let rec: &[u8] = b"\0sdr:req:c";
    for bad in [
        redis::cmd("DEL").arg(rec).clone(),
        redis::cmd("SET")
            .arg(rec)
            .arg("\x7f\0\0\0\0\0\0\0:9\r\n")
            .clone(),
        redis::cmd("RENAME").arg("n").arg(rec).clone(),
        redis::cmd("EXPIRE").arg(rec).arg(1).clone(),
        redis::cmd("IDEMPOTENT")
            .arg("d")
            .arg(1)
            .arg("DEL")
            .arg(rec)
            .clone(),
    ] {
        let e = bad.query::<redis::Value>(&mut c).expect_err("refused");
        assert!(format!("{e}").contains("reserved"), "{e}");
    }
    let keys: Vec<Vec<u8>> = redis::cmd("KEYS").arg("*").query(&mut c).unwrap();
    assert_eq!(keys, vec![b"n".to_vec()]);
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut c).unwrap(), 1);
    assert_eq!(
        idem().query::<i64>(&mut c).unwrap(),
        1,
        "a retry, not applied again"
    );
    let () = redis::cmd("FLUSHALL").query(&mut c).unwrap();
    assert_eq!(
        idem().query::<i64>(&mut c).unwrap(),
        1,
        "FLUSHALL keeps the record"
    );
    drop(c);
    node.restart();
    let mut c = node.conn();
    assert_eq!(
        idem().query::<i64>(&mut c).unwrap(),
        1,
        "the record survives a restart"
    );
    assert_eq!(
        redis::cmd("GET")
            .arg("n")
            .query::<Option<i64>>(&mut c)
            .unwrap(),
        None
    );
    assert_still_serving(&node);
}

/// A single write larger than one peer gRPC message (here a 61 MiB SET) is refused before it
/// becomes a Raft entry (which followers could never receive), and the node keeps serving.
#[test]
fn write_larger_than_a_peer_message_is_refused() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    let big = vec![b'x'; 61 << 20];
    let e = redis::cmd("SET")
        .arg("big")
        .arg(&big[..])
        .query::<()>(&mut c)
        .expect_err("refused");
    assert!(format!("{e}").contains("largest replicated write"), "{e}");
    drop(big);
    let exists: bool = redis::cmd("EXISTS").arg("big").query(&mut c).unwrap();
    assert!(!exists, "nothing was applied");
    let () = redis::cmd("SET")
        .arg("small")
        .arg("ok")
        .query(&mut c)
        .unwrap();
    assert_still_serving(&node);
}

/// A pipeline of large writes (3 x 25 MiB, 75 MiB in all) is split into entries that each fit
/// one peer message; every write is acknowledged and applied.
#[test]
fn pipelined_large_writes_are_split_and_all_applied() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    let big = vec![b'y'; 25 << 20];
    let mut p = redis::pipe();
    for k in ["b1", "b2", "b3"] {
        p.cmd("SET").arg(k).arg(&big[..]);
    }
    let () = p.query(&mut c).expect("all acknowledged");
    for k in ["b1", "b2", "b3"] {
        let n: i64 = redis::cmd("STRLEN").arg(k).query(&mut c).unwrap();
        assert_eq!(n, 25 << 20, "{k}");
    }
    assert_still_serving(&node);
}

/// A client that pipelines reads of a large value without reading the replies holds at most
/// about one batch of replies in the node: the session stops at its socket (TCP backpressure)
/// instead of encoding gigabytes, and other clients are served meanwhile.
#[test]
fn unread_replies_do_not_grow_node_memory() {
    let node = TestNode::start(&[]);
    let big = vec![b'x'; 4 << 20];
    let (r, _) = exchange_until(&node, &command(&[b"SET", b"big", &big]), b"\r\n");
    assert_eq!(r, "+OK\r\n");
    let before = rss_kib(node.pid());
    // 600 GETs of 4 MiB: 2.4 GB of replies if the node buffered them.
    let mut s = TcpStream::connect(node.addr()).expect("connect");
    let get = command(&[b"GET", b"big"]);
    let pipeline: Vec<u8> = get.iter().copied().cycle().take(get.len() * 600).collect();
    s.write_all(&pipeline).expect("send");
    std::thread::sleep(Duration::from_millis(1500));
    let after = rss_kib(node.pid());
    assert!(
        after < before + 200 * 1024,
        "RSS grew from {before} KiB to {after} KiB for an unread pipeline"
    );
    assert_still_serving(&node);
    // The stalled client gets its replies once it reads.
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut head = [0u8; 16];
    s.read_exact(&mut head).expect("replies flow once read");
    assert!(head.starts_with(b"$4194304\r\n"), "{:?}", &head);
}

/// `client-output-buffer-limit normal <hard> ...` closes a connection whose unsent output
/// passes the hard limit, without a reply, as Redis does; other clients are unaffected.
#[test]
fn output_buffer_hard_limit_closes_the_client() {
    let node = TestNode::start(&[]);
    let (r, _) = exchange_until(
        &node,
        &command(&[b"CONFIG", b"GET", b"client-output-buffer-limit"]),
        b"60\r\n",
    );
    assert!(
        r.contains("normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"),
        "{r:?}"
    );
    let (r, _) = exchange_until(
        &node,
        &command(&[
            b"CONFIG",
            b"SET",
            b"client-output-buffer-limit",
            b"normal 1mb 0 0",
        ]),
        b"\r\n",
    );
    assert_eq!(r, "+OK\r\n");
    let (r, _) = exchange_until(
        &node,
        &command(&[
            b"CONFIG",
            b"SET",
            b"client-output-buffer-limit",
            b"normal 1",
        ]),
        b"\r\n",
    );
    assert!(r.starts_with("-ERR CONFIG SET failed"), "{r:?}");
    let big = vec![b'y'; 2 << 20];
    let (r, _) = exchange_until(&node, &command(&[b"SET", b"big", &big]), b"\r\n");
    assert_eq!(r, "+OK\r\n");
    let (r, closed) = exchange_until(&node, &command(&[b"GET", b"big"]), b"\r\n");
    assert!(
        closed && r.is_empty(),
        "closed={closed} reply={:?}",
        &r[..r.len().min(40)]
    );
    let (r, _) = exchange_until(&node, &command(&[b"STRLEN", b"big"]), b"\r\n");
    assert_eq!(r, ":2097152\r\n");
    assert_still_serving(&node);
}

/// `maxmemory-policy allkeys-lru`: writes past `maxmemory` succeed, the node evicts (through
/// the log) keys not used recently, keeps a key that is read all along, and memory stays
/// near the limit.
#[test]
fn allkeys_lru_evicts_idle_keys_and_keeps_hot_ones() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg("2mb")
        .arg("maxmemory-policy")
        .arg("allkeys-lru")
        .query(&mut c)
        .expect("CONFIG SET");
    let policy: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory-policy")
        .query(&mut c)
        .expect("CONFIG GET");
    assert_eq!(policy, ["maxmemory-policy", "allkeys-lru"]);
    let value = vec![b'v'; 10_000];
    let () = redis::cmd("SET")
        .arg("hot")
        .arg(&value)
        .query(&mut c)
        .expect("SET hot");
    for i in 0..600 {
        let () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(&value)
            .query(&mut c)
            .unwrap_or_else(|e| panic!("SET k{i} refused under allkeys-lru: {e}"));
        let _: Vec<u8> = redis::cmd("GET").arg("hot").query(&mut c).expect("GET hot");
    }
    let evicted = info_num(&mut c, "stats", "evicted_keys");
    let used = info_num(&mut c, "memory", "used_memory");
    let dbsize: u64 = redis::cmd("DBSIZE").query(&mut c).expect("DBSIZE");
    assert!(evicted > 300, "only {evicted} evicted");
    assert!(dbsize < 300, "{dbsize} keys kept under a 2 MB limit");
    assert!(used <= 2 * 1024 * 1024 + 20_000, "used_memory {used}");
    let hot: Option<Vec<u8>> = redis::cmd("GET").arg("hot").query(&mut c).expect("GET hot");
    assert_eq!(
        hot.map(|v| v.len()),
        Some(10_000),
        "the hot key was evicted"
    );
    // The most recently written keys are there; the earliest are gone.
    let last: i64 = redis::cmd("EXISTS")
        .arg("k599")
        .query(&mut c)
        .expect("EXISTS");
    let first: i64 = redis::cmd("EXISTS")
        .arg("k0")
        .query(&mut c)
        .expect("EXISTS");
    assert_eq!((last, first), (1, 0));
}

/// `volatile-ttl` evicts only keys with a TTL, soonest deadline first, and refuses with
/// `-OOM` once none is left, as Redis does; LFU policies are refused, not run as another.
#[test]
fn volatile_ttl_evicts_only_expiring_keys_then_refuses() {
    let node = TestNode::start(&[]);
    let mut c = node.conn();
    let value = vec![b'v'; 10_000];
    for i in 0..100 {
        let () = redis::cmd("SET")
            .arg(format!("p{i}"))
            .arg(&value)
            .query(&mut c)
            .expect("SET");
        let () = redis::cmd("SET")
            .arg(format!("t{i}"))
            .arg(&value)
            .arg("EX")
            .arg(1000 + i)
            .query(&mut c)
            .expect("SET EX");
    }
    let err = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg("allkeys-lfu")
        .query::<()>(&mut c)
        .expect_err("LFU is not implemented");
    assert!(
        err.to_string().contains("must be one of the following"),
        "{err}"
    );
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg("volatile-ttl")
        .arg("maxmemory")
        .arg("1500kb")
        .query(&mut c)
        .expect("CONFIG SET");
    let mut refused = None;
    for i in 0..200 {
        if let Err(e) = redis::cmd("SET")
            .arg(format!("n{i}"))
            .arg(&value)
            .query::<()>(&mut c)
        {
            refused = Some((i, e.to_string()));
            break;
        }
    }
    let (_, err) = refused.expect("with no TTL key left, writes are refused");
    assert!(err.contains("OOM"), "{err}");
    let persistent: i64 = redis::cmd("EXISTS")
        .arg((0..100).map(|i| format!("p{i}")).collect::<Vec<_>>())
        .query(&mut c)
        .expect("EXISTS");
    assert_eq!(persistent, 100, "a key without TTL was evicted");
    let ttl_left: i64 = redis::cmd("EXISTS")
        .arg((0..100).map(|i| format!("t{i}")).collect::<Vec<_>>())
        .query(&mut c)
        .expect("EXISTS");
    assert_eq!(ttl_left, 0, "refused while TTL keys remained");
}
