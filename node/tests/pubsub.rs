//! Pub/Sub (docs/pubsub.md): reply frames against a real redis-server 7.0 (RESP2 and RESP3),
//! subscriber mode, pattern matching, introspection, the pubsub output-buffer limit, delivery
//! across the nodes of a cluster (in publishing order), sharded SPUBLISH/SSUBSCRIBE redirects,
//! and the `redis` crate's and redis-py 8's Pub/Sub APIs with default settings.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::redis_server::RedisServer;
use common::{TestCluster, TestNode};

/// One reply or push, RESP2 or RESP3.
#[derive(Clone, Debug, PartialEq, Eq)]
enum R {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Null,
    Array(Vec<R>),
    Push(Vec<R>),
    Map(Vec<(R, R)>),
}

fn b(s: &str) -> R {
    R::Bulk(Some(s.as_bytes().to_vec()))
}

/// A raw connection that records the exact bytes it reads.
struct Conn {
    r: BufReader<TcpStream>,
}

impl Conn {
    fn open(port: u16) -> Conn {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_nodelay(true).expect("nodelay");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        Conn {
            r: BufReader::new(s),
        }
    }

    fn send(&mut self, cmds: &[&[&str]]) {
        let mut out = Vec::new();
        for argv in cmds {
            out.extend_from_slice(format!("*{}\r\n", argv.len()).as_bytes());
            for a in *argv {
                out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
            }
        }
        self.r.get_mut().write_all(&out).expect("send");
    }

    /// Reads one frame.
    fn read(&mut self) -> R {
        read_frame(&mut self.r, &mut Vec::new(), 0).expect("read a frame")
    }

    /// Sends `cmds`, then reads exactly `n` frames; returns their exact bytes.
    fn raw(&mut self, cmds: &[&[&str]], n: usize) -> Vec<u8> {
        self.send(cmds);
        let mut raw = Vec::new();
        for _ in 0..n {
            read_frame(&mut self.r, &mut raw, 0).expect("read a frame");
        }
        raw
    }

    fn call(&mut self, argv: &[&str]) -> R {
        self.send(&[argv]);
        self.read()
    }

    /// True once the server closed the connection (EOF), reading away what is buffered.
    fn closed_within(&mut self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        self.r
            .get_ref()
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let mut buf = vec![0u8; 1 << 20];
        while Instant::now() < deadline {
            match self.r.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => {}
            }
        }
        false
    }
}

fn read_frame<Rd: BufRead>(r: &mut Rd, raw: &mut Vec<u8>, depth: usize) -> std::io::Result<R> {
    let bad = |w: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, w.to_string());
    if depth > 8 {
        return Err(bad("too deep"));
    }
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    raw.extend_from_slice(&line);
    if line.len() < 3 || !line.ends_with(b"\r\n") {
        return Err(bad("truncated line"));
    }
    let body = String::from_utf8_lossy(&line[1..line.len() - 2]).into_owned();
    let num = || body.parse::<i64>().map_err(|_| bad("number"));
    let mut items = |n: i64, raw: &mut Vec<u8>| -> std::io::Result<Vec<R>> {
        (0..n).map(|_| read_frame(r, raw, depth + 1)).collect()
    };
    Ok(match line[0] {
        b'+' => R::Simple(body),
        b'-' => R::Error(body),
        b':' => R::Int(num()?),
        b'_' => R::Null,
        b'$' => {
            let n = num()?;
            if n < 0 {
                R::Bulk(None)
            } else {
                let mut v = vec![0u8; n as usize + 2];
                r.read_exact(&mut v)?;
                raw.extend_from_slice(&v);
                v.truncate(n as usize);
                R::Bulk(Some(v))
            }
        }
        b'*' => R::Array(items(num()?, raw)?),
        b'>' => R::Push(items(num()?, raw)?),
        b'%' => {
            let flat = items(2 * num()?, raw)?;
            R::Map(
                flat.chunks(2)
                    .map(|p| (p[0].clone(), p[1].clone()))
                    .collect(),
            )
        }
        _ => return Err(bad("unknown type")),
    })
}

/// Scripted single-connection sequences whose reply bytes must equal redis-server 7.0's:
/// each step is (commands, number of frames they answer with).
fn script() -> Vec<(Vec<&'static [&'static str]>, usize)> {
    vec![
        (
            vec![
                &["SUBSCRIBE", "a", "b"],
                &["GET", "x"],
                &["PING"],
                &["PING", "hi"],
                &["CONFIG", "GET", "x"],
                &["FOO"],
                &["PUBSUB", "NUMSUB", "a"],
                &["SUBSCRIBE"],
                &["UNSUBSCRIBE", "a"],
                &["UNSUBSCRIBE", "b", "zz"],
                &["GET", "x"],
                &["UNSUBSCRIBE"],
                &["PUNSUBSCRIBE"],
                &["SUNSUBSCRIBE"],
            ],
            16,
        ),
        (
            vec![
                &["SSUBSCRIBE", "s"],
                &["GET", "x"],
                &["PSUBSCRIBE", "p*", "p?x"],
                &["PUBLISH", "a", "1"],
                &["PUNSUBSCRIBE", "p*"],
                &["SUNSUBSCRIBE", "s"],
                &["PUNSUBSCRIBE", "p?x"],
                &["PING"],
            ],
            9,
        ),
        (
            vec![
                &["SUBSCRIBE", "a"],
                &["RESET"],
                &["GET", "x"],
                &["PUBSUB", "CHANNELS"],
                &["PUBSUB", "NUMPAT"],
                &["PUBSUB", "HELP"],
                &["PUBSUB", "FOO"],
                &["PUBSUB", "CHANNELS", "a", "b"],
                &["PUBSUB", "NUMPAT", "x"],
                &["PUBSUB", "SHARDNUMSUB", "q"],
                &["PUBSUB", "SHARDCHANNELS"],
                &["PUBSUB", "NUMSUB"],
                &["SPUBLISH", "q", "1"],
                &["PUBLISH", "q"],
                &["PUBSUB"],
            ],
            15,
        ),
    ]
}

/// The RESP3 part (after HELLO 3, whose reply differs in version and id): confirmations and
/// messages are pushes, the connection still runs normal commands, and a message a
/// connection receives from its own PUBLISH precedes the reply.
fn script_resp3() -> Vec<(Vec<&'static [&'static str]>, usize)> {
    vec![(
        vec![
            &["SUBSCRIBE", "a"],
            &["PUBLISH", "a", "1"],
            &["GET", "x"],
            &["PING"],
            &["PSUBSCRIBE", "a*"],
            &["PUBLISH", "abc", "2"],
            &["PUBLISH", "a", "3"],
            &["PUBSUB", "NUMPAT"],
            &["PUBSUB", "CHANNELS"],
            &["PUBSUB", "CHANNELS", "b*"],
            &["PUBSUB", "NUMSUB", "a", "b"],
            &["SSUBSCRIBE", "s1"],
            &["SPUBLISH", "s1", "hello"],
            &["PUBSUB", "SHARDCHANNELS"],
            &["PUBSUB", "SHARDNUMSUB", "s1"],
            &["UNSUBSCRIBE"],
            &["PUNSUBSCRIBE"],
            &["SUNSUBSCRIBE"],
            &["UNSUBSCRIBE"],
            &["RESET"],
            &["GET", "x"],
        ],
        // 1 + 2 + 1 + 1 + 1 + 2 + 3 + 1 + 1 + 1 + 1 + 1 + 2 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1
        26,
    )]
}

fn run_script(port: u16, resp3: bool) -> Vec<Vec<u8>> {
    let mut c = Conn::open(port);
    if resp3 {
        c.call(&["HELLO", "3"]);
    }
    let steps = if resp3 { script_resp3() } else { script() };
    steps.into_iter().map(|(cmds, n)| c.raw(&cmds, n)).collect()
}

#[test]
fn reply_frames_match_redis_server_resp2_and_resp3() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let node = TestNode::start(&[]);
    for resp3 in [false, true] {
        let ours = run_script(node.port, resp3);
        let theirs = run_script(redis.port, resp3);
        for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
            assert_eq!(
                String::from_utf8_lossy(o),
                String::from_utf8_lossy(t),
                "step {i} (resp3 {resp3}) differs from redis-server"
            );
        }
    }
    // Two connections: channel subscribers are served before pattern subscribers, and
    // PUBLISH counts both. (Redis visits patterns in hash order, sdr in byte order: one
    // matching pattern per message keeps the comparison exact.)
    let two = |port: u16| {
        let mut sub = Conn::open(port);
        let mut publ = Conn::open(port);
        let mut out = sub.raw(
            &[
                &["SUBSCRIBE", "news.tech"],
                &["PSUBSCRIBE", "news.*", "no*"],
            ],
            3,
        );
        out.extend(publ.raw(
            &[
                &["PUBLISH", "news.tech", "hello"],
                &["PUBLISH", "nope", "x"],
            ],
            2,
        ));
        out.extend(sub.raw(&[], 3));
        out.extend(publ.raw(
            &[
                &["PUBSUB", "NUMSUB", "news.tech", "x"],
                &["PUBSUB", "NUMPAT"],
            ],
            2,
        ));
        out
    };
    assert_eq!(
        String::from_utf8_lossy(&two(node.port)),
        String::from_utf8_lossy(&two(redis.port))
    );
}

#[test]
fn patterns_use_redis_glob_and_messages_arrive_in_order() {
    let node = TestNode::start(&[]);
    let mut sub = Conn::open(node.port);
    sub.raw(&[&["PSUBSCRIBE", "h?llo", "h[ae]y", "x\\*"]], 3);
    let mut publ = Conn::open(node.port);
    for (ch, n) in [
        ("hello", 1),
        ("hallo", 1),
        ("hllo", 0),
        ("hey", 1),
        ("hoy", 0),
        ("x*", 1),
        ("xy", 0),
    ] {
        assert_eq!(publ.call(&["PUBLISH", ch, "m"]), R::Int(n), "{ch}");
    }
    for (p, ch) in [
        ("h?llo", "hello"),
        ("h?llo", "hallo"),
        ("h[ae]y", "hey"),
        ("x\\*", "x*"),
    ] {
        assert_eq!(
            sub.read(),
            R::Array(vec![b("pmessage"), b(p), b(ch), b("m")])
        );
    }
    // Order per publisher: 2000 pipelined messages arrive in publishing order.
    sub.raw(&[&["SUBSCRIBE", "seq"]], 1);
    let cmds: Vec<Vec<String>> = (0..2000)
        .map(|i| vec!["PUBLISH".into(), "seq".into(), i.to_string()])
        .collect();
    let refs: Vec<Vec<&str>> = cmds
        .iter()
        .map(|c| c.iter().map(String::as_str).collect())
        .collect();
    let refs2: Vec<&[&str]> = refs.iter().map(|c| c.as_slice()).collect();
    publ.raw(&refs2, 2000);
    for i in 0..2000 {
        assert_eq!(
            sub.read(),
            R::Array(vec![b("message"), b("seq"), b(&i.to_string())])
        );
    }
    // A disconnected subscriber is forgotten.
    drop(sub);
    let deadline = Instant::now() + Duration::from_secs(5);
    while publ.call(&["PUBSUB", "NUMSUB", "seq"]) != R::Array(vec![b("seq"), R::Int(0)]) {
        assert!(Instant::now() < deadline, "subscriber never removed");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(publ.call(&["PUBSUB", "NUMPAT"]), R::Int(0));
}

#[test]
fn subscribe_family_is_refused_inside_multi_but_publish_is_queued() {
    let node = TestNode::start(&[]);
    let mut c = Conn::open(node.port);
    assert_eq!(c.call(&["MULTI"]), R::Simple("OK".into()));
    assert_eq!(
        c.call(&["SUBSCRIBE", "a"]),
        R::Error("ERR Command not allowed inside a transaction: 'subscribe'".into())
    );
    assert_eq!(c.call(&["PUBLISH", "a", "1"]), R::Simple("QUEUED".into()));
    assert!(matches!(c.call(&["EXEC"]), R::Error(e) if e.starts_with("EXECABORT")));
    c.call(&["MULTI"]);
    c.call(&["PUBLISH", "a", "1"]);
    assert_eq!(c.call(&["EXEC"]), R::Array(vec![R::Int(0)]));
}

#[test]
fn a_subscriber_that_does_not_read_is_closed_at_the_pubsub_hard_limit() {
    let node = TestNode::start(&[]);
    let mut admin = Conn::open(node.port);
    assert_eq!(
        admin.call(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 1mb 0 0"
        ]),
        R::Simple("OK".into())
    );
    let mut slow = Conn::open(node.port);
    slow.raw(&[&["SUBSCRIBE", "firehose"]], 1);
    // A subscriber that keeps up is not affected.
    let mut fast = Conn::open(node.port);
    fast.raw(&[&["SUBSCRIBE", "firehose"]], 1);
    let payload = "x".repeat(64 * 1024);
    let mut publ = Conn::open(node.port);
    let mut last = R::Null;
    // 64 MiB in all: far past what the socket buffers and the 1 MiB limit hold.
    for _ in 0..1024 {
        last = publ.call(&["PUBLISH", "firehose", &payload]);
        match fast.read() {
            R::Array(m) => assert_eq!(m.len(), 3),
            other => panic!("fast subscriber got {other:?}"),
        }
        if last == R::Int(1) {
            break;
        }
    }
    assert_eq!(last, R::Int(1), "the slow subscriber was never dropped");
    assert!(
        slow.closed_within(Duration::from_secs(10)),
        "slow subscriber still connected"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while publ.call(&["PUBSUB", "NUMSUB", "firehose"]) != R::Array(vec![b("firehose"), R::Int(1)]) {
        assert!(
            Instant::now() < deadline,
            "the closed subscriber is still registered"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The default (pubsub 32mb 8mb 60) is reported as Redis does.
    admin.call(&[
        "CONFIG",
        "SET",
        "client-output-buffer-limit",
        "pubsub 33554432 8388608 60",
    ]);
    match admin.call(&["CONFIG", "GET", "client-output-buffer-limit"]) {
        R::Array(v) => match &v[..] {
            [_, R::Bulk(Some(val))] => {
                assert!(String::from_utf8_lossy(val).ends_with("pubsub 33554432 8388608 60"))
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

fn client_port(c: &TestCluster, id: u64) -> u16 {
    c.members
        .iter()
        .find(|m| m.0 == id)
        .map(|m| m.2)
        .expect("member")
}

fn info_stat(port: u16, field: &str) -> u64 {
    let mut c = Conn::open(port);
    match c.call(&["INFO", "stats"]) {
        R::Bulk(Some(text)) => String::from_utf8_lossy(&text)
            .lines()
            .find_map(|l| {
                l.strip_prefix(&format!("{field}:"))
                    .map(|v| v.trim().parse().unwrap_or(0))
            })
            .unwrap_or_else(|| panic!("no {field}")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn publish_on_a_follower_reaches_subscribers_on_every_node_in_order() {
    let mut cluster = TestCluster::start(3);
    let leader = cluster.wait_for_leader();
    let followers: Vec<u64> = (1..=3).filter(|&i| i != leader).collect();
    let (f1, f2) = (followers[0], followers[1]);
    let mut on_leader = Conn::open(client_port(&cluster, leader));
    on_leader.raw(&[&["SUBSCRIBE", "events"]], 1);
    let mut on_follower = Conn::open(client_port(&cluster, f1));
    on_follower.raw(&[&["PSUBSCRIBE", "ev*"]], 1);
    let mut publ = Conn::open(client_port(&cluster, f2));
    // PUBLISH counts the receivers on the node that took it (none on f2), as Redis Cluster.
    assert_eq!(publ.call(&["PUBLISH", "events", "first"]), R::Int(0));
    assert_eq!(
        on_leader.read(),
        R::Array(vec![b("message"), b("events"), b("first")])
    );
    assert_eq!(
        on_follower.read(),
        R::Array(vec![b("pmessage"), b("ev*"), b("events"), b("first")])
    );
    let cmds: Vec<Vec<String>> = (0..500)
        .map(|i| vec!["PUBLISH".into(), "events".into(), i.to_string()])
        .collect();
    let refs: Vec<Vec<&str>> = cmds
        .iter()
        .map(|c| c.iter().map(String::as_str).collect())
        .collect();
    let refs2: Vec<&[&str]> = refs.iter().map(|c| c.as_slice()).collect();
    publ.raw(&refs2, 500);
    for i in 0..500 {
        let n = i.to_string();
        assert_eq!(
            on_leader.read(),
            R::Array(vec![b("message"), b("events"), b(&n)])
        );
        assert_eq!(
            on_follower.read(),
            R::Array(vec![b("pmessage"), b("ev*"), b("events"), b(&n)])
        );
    }
    // Counters follow the acknowledgements, which may trail the deliveries a little.
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_stat(client_port(&cluster, f2), "sdr_pubsub_peer_sent") < 2 * 501 {
        assert!(
            Instant::now() < deadline,
            "peer deliveries not acknowledged"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        info_stat(client_port(&cluster, f2), "sdr_pubsub_peer_dropped"),
        0
    );
    assert_eq!(
        info_stat(client_port(&cluster, leader), "sdr_pubsub_peer_received"),
        501
    );
    // Introspection is per node: the publishing node has no subscribers.
    assert_eq!(publ.call(&["PUBSUB", "CHANNELS"]), R::Array(vec![]));
    assert_eq!(on_leader.call(&["PING"]), R::Array(vec![b("pong"), b("")]));
    // A stopped member: messages to it are dropped and counted, the others still get theirs.
    cluster.node(f1).kill9();
    assert_eq!(publ.call(&["PUBLISH", "events", "after"]), R::Int(0));
    assert_eq!(
        on_leader.read(),
        R::Array(vec![b("message"), b("events"), b("after")])
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    while info_stat(client_port(&cluster, f2), "sdr_pubsub_peer_dropped") == 0 {
        assert!(
            Instant::now() < deadline,
            "a failed delivery was not counted"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sharded_channels_redirect_and_deliver_within_their_shard() {
    let cluster = TestCluster::start_sharded(2, 2);
    // Nodes 1 and 2 form shard 1, nodes 3 and 4 shard 2.
    let p1 = client_port(&cluster, 1);
    let mut c1 = Conn::open(p1);
    // Find a channel of each shard: SPUBLISH answers -MOVED for the other shard's slots.
    let mut mine = None;
    let mut other = None;
    for i in 0..200 {
        let ch = format!("ch{i}");
        match c1.call(&["SPUBLISH", &ch, "probe"]) {
            R::Int(0) if mine.is_none() => mine = Some(ch),
            R::Error(e) if e.starts_with("MOVED ") && other.is_none() => other = Some((ch, e)),
            R::Int(0) | R::Error(_) => {}
            r => panic!("unexpected {r:?}"),
        }
        if mine.is_some() && other.is_some() {
            break;
        }
    }
    // The probes are delivered to the other members asynchronously (at most once, no
    // ordering against a later SSUBSCRIBE), so the test goes on with a channel of the same
    // slot that no probe was published on.
    let mine = format!("{{{}}}t", mine.expect("a channel of shard 1"));
    let (other, moved) = other.expect("a channel of shard 2");
    let moved_port: u16 = moved
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("MOVED address");
    assert!(
        [client_port(&cluster, 3), client_port(&cluster, 4)].contains(&moved_port),
        "{moved}"
    );
    // SSUBSCRIBE follows the same rule, and channels of several slots are CROSSSLOT.
    let slot = moved.split(' ').nth(1).expect("slot");
    assert!(matches!(
        c1.call(&["SSUBSCRIBE", &other]),
        R::Error(e) if e.starts_with(&format!("MOVED {slot} "))
    ));
    assert!(matches!(
        c1.call(&["SSUBSCRIBE", "{a}x", "{b}y"]),
        R::Error(e) if e.starts_with("CROSSSLOT ")
    ));
    // A shard subscriber on the other member of shard 1 receives SPUBLISH from node 1.
    let mut s2 = Conn::open(client_port(&cluster, 2));
    assert_eq!(
        s2.raw(&[&["SSUBSCRIBE", &mine]], 1),
        format!(
            "*3\r\n$10\r\nssubscribe\r\n${}\r\n{mine}\r\n:1\r\n",
            mine.len()
        )
        .into_bytes()
    );
    // A shard-2 node redirects SPUBLISH to shard 1's channel.
    let mut c3 = Conn::open(client_port(&cluster, 3));
    assert!(matches!(c3.call(&["SPUBLISH", &mine, "x"]), R::Error(e) if e.starts_with("MOVED ")));
    assert_eq!(c1.call(&["SPUBLISH", &mine, "hi"]), R::Int(0));
    assert_eq!(s2.read(), R::Array(vec![b("smessage"), b(&mine), b("hi")]));
    // Plain PUBLISH crosses shards: node 3 (shard 2) reaches a subscriber on node 2.
    let mut sub = Conn::open(client_port(&cluster, 1));
    sub.raw(&[&["SUBSCRIBE", "global"]], 1);
    assert_eq!(c3.call(&["PUBLISH", "global", "g"]), R::Int(0));
    assert_eq!(
        sub.read(),
        R::Array(vec![b("message"), b("global"), b("g")])
    );
    // SPUBLISH stays in its shard: node 4 got only the PUBLISH, node 3 (its publisher)
    // nothing, though node 1 published shard-1 messages.
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_stat(client_port(&cluster, 4), "sdr_pubsub_peer_received") < 1 {
        assert!(Instant::now() < deadline, "node 4 never got the PUBLISH");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        info_stat(client_port(&cluster, 4), "sdr_pubsub_peer_received"),
        1
    );
    assert_eq!(
        info_stat(client_port(&cluster, 3), "sdr_pubsub_peer_received"),
        0
    );
    assert!(info_stat(client_port(&cluster, 2), "sdr_pubsub_peer_received") >= 2);
}

#[test]
fn redis_crate_pubsub_api() {
    let node = TestNode::start(&[]);
    let client = node.client();
    let mut sub_conn = client.get_connection().expect("connect");
    let mut pubsub = sub_conn.as_pubsub();
    pubsub.subscribe("crate-ch").expect("subscribe");
    pubsub.psubscribe("crate-*").expect("psubscribe");
    let mut publ = node.conn();
    let n: i64 = redis::cmd("PUBLISH")
        .arg("crate-ch")
        .arg("payload")
        .query(&mut publ)
        .expect("publish");
    assert_eq!(n, 2);
    pubsub
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let m1 = pubsub.get_message().expect("message");
    assert_eq!(m1.get_channel_name(), "crate-ch");
    assert_eq!(m1.get_payload::<String>().expect("payload"), "payload");
    let m2 = pubsub.get_message().expect("pmessage");
    assert_eq!(m2.get_pattern::<String>().expect("pattern"), "crate-*");
    pubsub.unsubscribe("crate-ch").expect("unsubscribe");
    pubsub.punsubscribe("crate-*").expect("punsubscribe");
}

#[test]
fn redis_py_8_pubsub_with_default_settings() {
    let ok = Command::new("python3")
        .args(["-c", "import redis"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("skipped: Python's `redis` package is not installed");
        return;
    }
    let node = TestNode::start(&[]);
    let script = format!(
        r#"
import redis, time
r = redis.Redis(port={port})
p = r.pubsub()
p.subscribe("py-ch")
p.psubscribe("py-*")
assert p.get_message(timeout=5)["type"] == "subscribe"
assert p.get_message(timeout=5)["type"] == "psubscribe"
assert r.publish("py-ch", "hello") == 2
m = p.get_message(timeout=5)
assert m["type"] == "message" and m["channel"] == b"py-ch" and m["data"] == b"hello", m
m = p.get_message(timeout=5)
assert m["type"] == "pmessage" and m["pattern"] == b"py-*", m
assert r.pubsub_numsub("py-ch") == [(b"py-ch", 1)]
assert r.pubsub_numpat() == 1
assert r.pubsub_channels() == [b"py-ch"]
p.unsubscribe("py-ch")
m = p.get_message(timeout=5)
assert m["type"] == "unsubscribe", m
# run_in_thread with a handler
got = []
p2 = r.pubsub()
p2.subscribe(**{{"py-thread": lambda m: got.append(m["data"])}})
t = p2.run_in_thread(sleep_time=0.01)
time.sleep(0.2)
for i in range(20):
    r.publish("py-thread", str(i))
deadline = time.time() + 5
while len(got) < 20 and time.time() < deadline:
    time.sleep(0.02)
t.stop()
assert got == [str(i).encode() for i in range(20)], got
print("ok")
"#,
        port = node.port
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && text.contains("ok"), "{text}");
}

/// The Deliver RPC sits behind the peer credentials like every peer RPC (wrong secret:
/// `UNAUTHENTICATED`, wrong cluster: `FAILED_PRECONDITION`) and the peer message limit; with
/// the right credentials it reaches the node's subscribers.
#[test]
fn deliver_rpc_is_authenticated_and_bounded() {
    use sdr_proto::pubsub as pb;
    let cluster = TestCluster::start(1);
    let (raft_port, client) = (cluster.members[0].1, cluster.members[0].2);
    let mut sub = Conn::open(client);
    sub.raw(&[&["SUBSCRIBE", "peer-ch"]], 1);
    let stamped = |msg: pb::DeliverRequest, id: &str, secret: &str| {
        let mut req = tonic::Request::new(msg);
        req.metadata_mut()
            .insert("x-sdr-cluster", id.parse().expect("metadata"));
        req.metadata_mut()
            .insert("x-sdr-secret", secret.parse().expect("metadata"));
        req
    };
    let one = |payload: Vec<u8>| pb::DeliverRequest {
        from: 99,
        messages: vec![pb::Message {
            sharded: false,
            channel: b"peer-ch".to_vec(),
            payload,
        }],
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let channel =
            tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{raft_port}"))
                .expect("endpoint")
                .connect()
                .await
                .expect("connect to the peer port");
        let mut c =
            pb::pub_sub_client::PubSubClient::new(channel).max_encoding_message_size(usize::MAX);
        let err = c
            .deliver(stamped(one(b"x".to_vec()), &cluster.cluster_id, "wrong"))
            .await
            .expect_err("wrong secret refused");
        assert_eq!(err.code(), tonic::Code::Unauthenticated, "{err:?}");
        let err = c
            .deliver(stamped(one(b"x".to_vec()), "other", &cluster.secret))
            .await
            .expect_err("wrong cluster refused");
        assert_eq!(err.code(), tonic::Code::FailedPrecondition, "{err:?}");
        let err = c
            .deliver(stamped(
                one(vec![0u8; 65 << 20]),
                &cluster.cluster_id,
                &cluster.secret,
            ))
            .await
            .expect_err("a message past the peer limit is refused");
        assert!(
            matches!(
                err.code(),
                tonic::Code::OutOfRange | tonic::Code::ResourceExhausted
            ),
            "{err:?}"
        );
        let ok = c
            .deliver(stamped(
                one(b"via-peer".to_vec()),
                &cluster.cluster_id,
                &cluster.secret,
            ))
            .await
            .expect("authenticated delivery")
            .into_inner();
        assert_eq!(ok.receivers, 1);
    });
    assert_eq!(
        sub.read(),
        R::Array(vec![b("message"), b("peer-ch"), b("via-peer")])
    );
}

/// redis-py 8's `RedisCluster` with default settings: sharded Pub/Sub (`ssubscribe` on the
/// node owning the channel's slot, `spublish` routed by slot) and plain `publish`/`subscribe`
/// across the shards.
#[test]
fn redis_py_8_cluster_pubsub_with_default_settings() {
    let ok = Command::new("python3")
        .args(["-c", "import redis.cluster"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("skipped: Python's `redis` package is not installed");
        return;
    }
    let cluster = TestCluster::start_sharded(2, 1);
    let script = format!(
        r#"
import redis, time
from redis.cluster import RedisCluster
rc = RedisCluster(host="127.0.0.1", port={port})
for ch in ["alpha", "beta", "gamma"]:
    p = rc.pubsub()
    p.ssubscribe(ch)
    m = p.get_sharded_message(timeout=5)
    assert m and m["type"] == "ssubscribe", m
    assert rc.spublish(ch, "hi-" + ch) == 1
    m = None
    deadline = time.time() + 5
    while m is None and time.time() < deadline:
        m = p.get_sharded_message(timeout=1)
    assert m and m["type"] == "smessage" and m["data"] == ("hi-" + ch).encode(), m
    p.sunsubscribe(ch)
    p.close()
# plain pub/sub: subscribe through one node, publish through every node
plain = rc.pubsub()
plain.subscribe("everyone")
assert plain.get_message(timeout=5)["type"] == "subscribe"
time.sleep(0.2)
for node in rc.get_nodes():
    rc.publish("everyone", node.name, target_nodes=node)
got = set()
deadline = time.time() + 5
while len(got) < len(rc.get_nodes()) and time.time() < deadline:
    m = plain.get_message(timeout=1)
    if m and m["type"] == "message":
        got.add(m["data"].decode())
assert got == set(n.name for n in rc.get_nodes()), got
print("ok")
"#,
        port = client_port(&cluster, 1)
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && text.contains("ok"), "{text}");
}
