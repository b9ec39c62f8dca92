//! Differential test of CLIENT TRACKING and keyspace notifications against a real
//! `redis-server` 7.0: the same seeded random command sequences run on both servers with the
//! same set of listening connections, and every listener's frames (invalidation pushes in
//! RESP3, `__redis__:invalidate` messages on a RESP2 redirect target, keyspace/keyevent
//! messages) must be byte-identical, as must every reply.
//!
//! Listeners (opened identically on both servers):
//! - `t3`: RESP3, default mode; `n3`: RESP3, default mode with NOLOOP (it also writes);
//! - `o3`: RESP3, OPTIN (reads sometimes preceded by CLIENT CACHING YES);
//! - `b3`: RESP3, BCAST NOLOOP PREFIX a PREFIX b (it also writes);
//! - `t2` → `r2`: RESP2 tracking client redirecting to a RESP2 subscriber of
//!   `__redis__:invalidate`;
//! - `ks`: RESP2 PSUBSCRIBE `__key*` with `notify-keyspace-events KEA`.
//!
//! After each step every listener is sent PING and read up to its PONG, so the frames
//! compared are exactly those the step produced. Fixed seeds keep `make test` fast;
//! `SDR_LONG=1` runs many more. Skipped (with a message) when redis-server is missing.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::redis_server::RedisServer;
use common::TestNode;
use sdr_seeded::Rng;

/// A connection that reads whole RESP2/RESP3 frames as raw bytes.
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

    fn send(&mut self, argv: &[String]) {
        let mut out = format!("*{}\r\n", argv.len()).into_bytes();
        for a in argv {
            out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        self.r.get_mut().write_all(&out).expect("send");
    }

    fn frame(&mut self) -> Vec<u8> {
        let mut raw = Vec::new();
        read_frame(&mut self.r, &mut raw, 0);
        raw
    }

    fn call(&mut self, argv: &[&str]) -> Vec<u8> {
        self.send(&argv.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        self.frame()
    }

    /// PING, then every frame up to (without) its reply.
    fn drain(&mut self) -> Vec<Vec<u8>> {
        self.call_nowait(&["PING"]);
        let mut out = Vec::new();
        loop {
            let f = self.frame();
            if f == b"+PONG\r\n" || f == b"*2\r\n$4\r\npong\r\n$0\r\n\r\n" {
                return out;
            }
            out.push(f);
        }
    }

    fn call_nowait(&mut self, argv: &[&str]) {
        self.send(&argv.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    }
}

/// Reads one frame (any RESP2/RESP3 type), appending its bytes to `raw`.
fn read_frame<R: BufRead>(r: &mut R, raw: &mut Vec<u8>, depth: usize) {
    assert!(depth < 8, "frame nested too deep");
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line).expect("read line");
    assert!(
        line.len() >= 3 && line.ends_with(b"\r\n"),
        "truncated: {line:?}"
    );
    raw.extend_from_slice(&line);
    let n = || -> i64 {
        std::str::from_utf8(&line[1..line.len() - 2])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(-1)
    };
    match line[0] {
        b'$' | b'=' | b'!' => {
            if n() >= 0 {
                let mut b = vec![0u8; n() as usize + 2];
                r.read_exact(&mut b).expect("read bulk");
                raw.extend_from_slice(&b);
            }
        }
        b'*' | b'>' | b'~' => {
            for _ in 0..n().max(0) {
                read_frame(r, raw, depth + 1);
            }
        }
        b'%' => {
            for _ in 0..n().max(0) * 2 {
                read_frame(r, raw, depth + 1);
            }
        }
        _ => {}
    }
}

/// One server's connections.
struct Side {
    w: Conn,
    t3: Conn,
    n3: Conn,
    o3: Conn,
    b3: Conn,
    t2: Conn,
    r2: Conn,
    ks: Conn,
}

fn int_of(reply: &[u8]) -> String {
    String::from_utf8_lossy(&reply[1..reply.len() - 2]).into_owned()
}

impl Side {
    fn open(port: u16) -> Side {
        let mut s = Side {
            w: Conn::open(port),
            t3: Conn::open(port),
            n3: Conn::open(port),
            o3: Conn::open(port),
            b3: Conn::open(port),
            t2: Conn::open(port),
            r2: Conn::open(port),
            ks: Conn::open(port),
        };
        for c in [&mut s.t3, &mut s.n3, &mut s.o3, &mut s.b3] {
            c.call(&["HELLO", "3"]);
        }
        assert_eq!(s.w.call(&["FLUSHALL"]), b"+OK\r\n");
        assert_eq!(
            s.w.call(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]),
            b"+OK\r\n"
        );
        assert_eq!(s.t3.call(&["CLIENT", "TRACKING", "on"]), b"+OK\r\n");
        assert_eq!(
            s.n3.call(&["CLIENT", "TRACKING", "on", "NOLOOP"]),
            b"+OK\r\n"
        );
        assert_eq!(
            s.o3.call(&["CLIENT", "TRACKING", "on", "OPTIN"]),
            b"+OK\r\n"
        );
        assert_eq!(
            s.b3.call(&[
                "CLIENT", "TRACKING", "on", "BCAST", "NOLOOP", "PREFIX", "a", "PREFIX", "b"
            ]),
            b"+OK\r\n"
        );
        let rid = int_of(&s.r2.call(&["CLIENT", "ID"]));
        s.r2.call(&["SUBSCRIBE", "__redis__:invalidate"]);
        assert_eq!(
            s.t2.call(&["CLIENT", "TRACKING", "on", "REDIRECT", &rid]),
            b"+OK\r\n"
        );
        s.ks.call(&["PSUBSCRIBE", "__key*"]);
        s
    }

    /// Runs one step and returns everything it produced, labelled.
    fn step(&mut self, who: usize, argv: &[String]) -> Vec<(String, Vec<u8>)> {
        let c = match who {
            0 => &mut self.w,
            1 => &mut self.t3,
            2 => &mut self.n3,
            3 => &mut self.o3,
            4 => &mut self.b3,
            _ => &mut self.t2,
        };
        c.send(argv);
        let mut out = vec![("reply".to_string(), c.frame())];
        for (name, c) in [
            ("w", &mut self.w),
            ("t3", &mut self.t3),
            ("n3", &mut self.n3),
            ("o3", &mut self.o3),
            ("b3", &mut self.b3),
            ("t2", &mut self.t2),
            ("r2", &mut self.r2),
            ("ks", &mut self.ks),
        ] {
            for f in c.drain() {
                out.push((name.to_string(), f));
            }
        }
        out
    }
}

const KEYS: &[&str] = &["a1", "a2", "b1", "c1"];

fn write_cmd(rng: &mut Rng) -> Vec<String> {
    let k = KEYS[rng.below(KEYS.len() as u64) as usize];
    let k2 = KEYS[rng.below(KEYS.len() as u64) as usize];
    let v = rng.below(5).to_string();
    let s = |a: &[&str]| a.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    match rng.below(40) {
        0 => s(&["SET", k, &v]),
        1 => s(&["SET", k, &v, "EX", "100"]),
        2 => s(&["SETNX", k, &v]),
        3 => s(&["APPEND", k, &v]),
        4 => s(&["INCR", k]),
        5 => s(&["INCRBYFLOAT", k, "1.5"]),
        6 => s(&["DEL", k, k2]),
        7 => s(&["EXPIRE", k, "100"]),
        8 => s(&["EXPIRE", k, "-1"]),
        9 => s(&["PERSIST", k]),
        10 => s(&["RENAME", k, k2]),
        11 => s(&["LPUSH", k, &v, "x"]),
        12 => s(&["RPUSH", k, &v]),
        13 => s(&["LPOP", k]),
        14 => s(&["RPOP", k]),
        15 => s(&["RPOPLPUSH", k, k2]),
        16 => s(&["LMOVE", k, k2, "LEFT", "RIGHT"]),
        17 => s(&["HSET", k, "f", &v, "g", "1"]),
        18 => s(&["HDEL", k, "f"]),
        19 => s(&["HINCRBY", k, "n", "2"]),
        20 => s(&["SADD", k, &v]),
        21 => s(&["SREM", k, &v]),
        22 => s(&["SMOVE", k, k2, &v]),
        23 => s(&["ZADD", k, &v, "m"]),
        24 => s(&["ZADD", k, "INCR", "2", "m"]),
        25 => s(&["ZINCRBY", k, "1", "n"]),
        26 => s(&["ZREM", k, "m"]),
        27 => s(&["ZPOPMIN", k]),
        28 => s(&["SINTERSTORE", k, k2]),
        29 => s(&["ZUNIONSTORE", k, "1", k2]),
        30 => s(&["SETRANGE", k, "2", &v]),
        31 => s(&["GETDEL", k]),
        32 => s(&["LTRIM", k, "1", "-1"]),
        33 => s(&["LREM", k, "0", &v]),
        34 => s(&["MSET", k, &v, k2, "z"]),
        35 => s(&["UNLINK", k]),
        36 => s(&["HSETNX", k, "h", &v]),
        37 => s(&["COPY", k, k2]),
        38 => s(&["GETSET", k, &v]),
        _ => {
            if rng.below(4) == 0 {
                s(&["FLUSHALL"])
            } else {
                s(&["SET", k, &v, "KEEPTTL"])
            }
        }
    }
}

fn read_cmd(rng: &mut Rng) -> Vec<String> {
    let k = KEYS[rng.below(KEYS.len() as u64) as usize];
    let k2 = KEYS[rng.below(KEYS.len() as u64) as usize];
    let s = |a: &[&str]| a.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    match rng.below(8) {
        0 => s(&["GET", k]),
        1 => s(&["MGET", k, k2]),
        2 => s(&["LRANGE", k, "0", "-1"]),
        3 => s(&["HGET", k, "f"]),
        4 => s(&["SCARD", k]),
        5 => s(&["ZSCORE", k, "m"]),
        6 => s(&["EXISTS", k]),
        _ => s(&["TYPE", k]),
    }
}

fn run_seed(seed: u64, steps: usize, redis: &mut Side, sdr: &mut Side) {
    let mut rng = Rng::new(seed);
    let mut log: Vec<String> = Vec::new();
    for i in 0..steps {
        // Who acts: the writer most, tracking clients read (and n3/b3 sometimes write).
        let (who, argv) = match rng.below(10) {
            0..=3 => (0, write_cmd(&mut rng)),
            4 => (1, read_cmd(&mut rng)),
            5 => (
                2,
                if rng.chance(0.3) {
                    write_cmd(&mut rng)
                } else {
                    read_cmd(&mut rng)
                },
            ),
            6 => {
                if rng.chance(0.5) {
                    let a = vec!["CLIENT".into(), "CACHING".into(), "YES".into()];
                    let x = redis.step(3, &a);
                    let y = sdr.step(3, &a);
                    assert_eq!(x, y, "seed {seed} step {i} CLIENT CACHING");
                }
                (3, read_cmd(&mut rng))
            }
            7 => (4, write_cmd(&mut rng)),
            _ => (5, read_cmd(&mut rng)),
        };
        log.push(format!("{who}: {}", argv.join(" ")));
        let x = redis.step(who, &argv);
        let y = sdr.step(who, &argv);
        if x != y {
            let show = |v: &[(String, Vec<u8>)]| {
                v.iter()
                    .map(|(n, f)| format!("  {n}: {:?}", String::from_utf8_lossy(f)))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            let tail = log[log.len().saturating_sub(12)..].join("\n");
            panic!(
                "seed {seed} step {i}: `{}` differs\nredis:\n{}\nsdr:\n{}\nlast steps:\n{tail}",
                argv.join(" "),
                show(&x),
                show(&y)
            );
        }
    }
}

#[test]
fn tracking_and_keyspace_events_match_redis() {
    let Some(redis_server) = RedisServer::start() else {
        return;
    };
    let node = TestNode::start(&[]);
    let long = std::env::var("SDR_LONG").is_ok_and(|v| v == "1");
    let (seeds, steps) = if long { (40, 400) } else { (4, 120) };
    for seed in 0..seeds {
        let mut redis = Side::open(redis_server.port);
        let mut sdr = Side::open(node.port);
        run_seed(0x7ac0 + seed, steps, &mut redis, &mut sdr);
    }
}

/// CLIENT TRACKING's option errors, CLIENT CACHING/GETREDIR/TRACKINGINFO replies (RESP2 and
/// RESP3), in Redis's exact bytes.
#[test]
fn tracking_commands_reply_as_redis() {
    let Some(redis_server) = RedisServer::start() else {
        return;
    };
    let node = TestNode::start(&[]);
    let script: &[&[&str]] = &[
        &["CLIENT", "GETREDIR"],
        &["CLIENT", "TRACKINGINFO"],
        &["CLIENT", "CACHING", "YES"],
        &["CLIENT", "TRACKING", "on", "PREFIX", "a"],
        &["CLIENT", "TRACKING", "on", "BCAST", "OPTIN"],
        &["CLIENT", "TRACKING", "on", "OPTIN", "OPTOUT"],
        &["CLIENT", "TRACKING", "on", "REDIRECT", "999999"],
        &["CLIENT", "TRACKING", "on", "REDIRECT", "x"],
        &["CLIENT", "TRACKING", "maybe"],
        &["CLIENT", "TRACKING", "on", "BOGUS"],
        &[
            "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "ab", "PREFIX", "a",
        ],
        &[
            "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "foo", "PREFIX", "bar",
        ],
        &["CLIENT", "TRACKINGINFO"],
        &["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "fo"],
        &["CLIENT", "TRACKING", "on"],
        &["CLIENT", "TRACKING", "on", "BCAST", "NOLOOP"],
        &["CLIENT", "TRACKINGINFO"],
        &["CLIENT", "GETREDIR"],
        &["CLIENT", "TRACKING", "off"],
        &["CLIENT", "TRACKING", "on", "OPTOUT"],
        &["CLIENT", "CACHING", "YES"],
        &["CLIENT", "CACHING", "NO"],
        &["CLIENT", "TRACKINGINFO"],
        &["CLIENT", "CACHING", "maybe"],
        &["CLIENT", "TRACKING", "on", "OPTIN"],
        &["CLIENT", "TRACKING", "off"],
        &["CLIENT", "TRACKING", "on", "OPTIN"],
        &["CLIENT", "CACHING", "NO"],
        &["CLIENT", "CACHING", "YES"],
        &["CLIENT", "TRACKINGINFO"],
        &["GET", "x"],
        &["CLIENT", "TRACKINGINFO"],
        &["CONFIG", "SET", "notify-keyspace-events", "Kq"],
        &["CONFIG", "SET", "notify-keyspace-events", "EKlsgzh$xte"],
        &["CONFIG", "GET", "notify-keyspace-events"],
        &["CONFIG", "SET", "notify-keyspace-events", "nEg"],
        &["CONFIG", "GET", "notify-keyspace-events"],
        &["CONFIG", "SET", "notify-keyspace-events", ""],
        &["CONFIG", "GET", "tracking-table-max-keys"],
    ];
    for proto in ["2", "3"] {
        let mut a = Conn::open(redis_server.port);
        let mut b = Conn::open(node.port);
        a.call(&["HELLO", proto]);
        b.call(&["HELLO", proto]);
        for argv in script {
            let (x, y) = (a.call(argv), b.call(argv));
            assert_eq!(
                String::from_utf8_lossy(&x),
                String::from_utf8_lossy(&y),
                "RESP{proto} {argv:?}"
            );
        }
    }
}

/// Active expiry fires `expired` (keyevent) and invalidates a tracked key, on the node that
/// removes it; a full tracking table evicts by invalidating.
#[test]
fn expiry_and_table_eviction_invalidate() {
    let node = TestNode::start(&[]);
    let mut w = Conn::open(node.port);
    let mut t = Conn::open(node.port);
    let mut ks = Conn::open(node.port);
    t.call(&["HELLO", "3"]);
    assert_eq!(
        w.call(&["CONFIG", "SET", "notify-keyspace-events", "Ex"]),
        b"+OK\r\n"
    );
    ks.call(&["SUBSCRIBE", "__keyevent@0__:expired"]);
    t.call(&["CLIENT", "TRACKING", "on"]);
    assert_eq!(w.call(&["SET", "e", "1", "PX", "300"]), b"+OK\r\n");
    t.call(&["GET", "e"]);
    let f = ks.frame();
    assert_eq!(
        String::from_utf8_lossy(&f),
        "*3\r\n$7\r\nmessage\r\n$22\r\n__keyevent@0__:expired\r\n$1\r\ne\r\n"
    );
    assert_eq!(
        t.drain(),
        vec![b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\ne\r\n".to_vec()]
    );
    // Table of one key: reading a second evicts (invalidates) the first.
    assert_eq!(
        w.call(&["CONFIG", "SET", "tracking-table-max-keys", "1"]),
        b"+OK\r\n"
    );
    t.call(&["GET", "x"]);
    t.call(&["GET", "y"]);
    assert_eq!(
        t.drain(),
        vec![b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nx\r\n".to_vec()]
    );
    let info = String::from_utf8_lossy(&w.call(&["INFO", "stats"])).into_owned();
    assert!(info.contains("tracking_total_keys:1\r\n"), "{info}");
    let info = String::from_utf8_lossy(&w.call(&["INFO", "clients"])).into_owned();
    assert!(info.contains("tracking_clients:1\r\n"), "{info}");
}
