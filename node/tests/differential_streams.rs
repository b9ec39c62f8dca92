//! Streams against a real `redis-server` 7.0, and consumer-group state across a leader kill.
//!
//! Differential: seeded random sequences of XADD (explicit `ms-seq` and `ms-*` IDs,
//! NOMKSTREAM, MAXLEN/MINID with `=`/`~`/LIMIT), XRANGE/XREVRANGE (COUNT, `(` bounds),
//! XLEN, XDEL, XTRIM, XREAD, XSETID, XGROUP (all subcommands), XREADGROUP (`>`, history,
//! NOACK, COUNT), XACK, XPENDING, XCLAIM, XAUTOCLAIM, XINFO, TYPE and OBJECT ENCODING, with
//! bad arguments mixed in, go to both servers over raw RESP2; replies must be byte-identical
//! after one masking step for what depends on the wall clock or on Redis's allocator:
//!
//! - auto IDs (`*`) are not generated (their value is the server's clock); the `ms-*` form
//!   is, with explicit milliseconds;
//! - idle times (XPENDING's third field, XINFO CONSUMERS `idle`), absolute delivery and seen
//!   times (XINFO STREAM FULL) are replaced by 0;
//! - `radix-tree-nodes` (XINFO STREAM) is replaced by 0 (Redis's rax node count; an estimate
//!   here, docs/commands.md);
//! - min-idle arguments are 0 or far larger than the test's run time, so which entries they
//!   select does not depend on timing.
//!
//! Fixed seeds keep `make test` fast; `SDR_LONG=1` runs many more. Skipped (with a message)
//! when `/usr/bin/redis-server` is missing.

mod common;

use std::time::Duration;

use common::redis_server::RedisServer;
use common::wire::{RawConn, Reply};
use common::{TestCluster, TestNode};
use sdr_seeded::Rng;

struct Gen {
    rng: Rng,
    /// Milliseconds of the next generated ID (moves forward, sometimes back).
    ms: u64,
}

impl Gen {
    fn below(&mut self, n: u64) -> u64 {
        self.rng.below(n)
    }
    fn pick<'a>(&mut self, pool: &[&'a str]) -> &'a str {
        pool[self.below(pool.len() as u64) as usize]
    }
    fn key(&mut self) -> String {
        self.pick(&["s", "s", "s", "s", "s", "s", "s", "t", "t", "t", "t", "str"])
            .to_string()
    }
    fn group(&mut self) -> String {
        self.pick(&["g1", "g1", "g1", "g2", "g2", "nog"])
            .to_string()
    }
    fn consumer(&mut self) -> String {
        self.pick(&["alice", "bob", "carol"]).to_string()
    }
    /// An ID near the generated ones, in every accepted and some rejected forms.
    fn id(&mut self) -> String {
        let ms = self.ms.saturating_sub(self.below(8));
        match self.below(14) {
            0..=6 => format!("{ms}-{}", self.below(3)),
            7 => ms.to_string(),
            8 => "0-0".into(),
            9 => "0".into(),
            10 => self
                .pick(&[
                    "-",
                    "+",
                    "x",
                    "1-x",
                    "",
                    "-1",
                    "18446744073709551615-18446744073709551615",
                ])
                .into(),
            _ => format!("{}-{}", self.below(self.ms + 2), self.below(2)),
        }
    }
    fn bound(&mut self) -> String {
        match self.below(6) {
            0 => "-".into(),
            1 => "+".into(),
            2 => format!("({}", self.id()),
            _ => self.id(),
        }
    }
    fn count(&mut self) -> String {
        match self.below(8) {
            0 => "0".into(),
            1 => "-1".into(),
            2 => "x".into(),
            _ => (1 + self.below(6)).to_string(),
        }
    }
}

fn s(v: Vec<String>) -> Vec<Vec<u8>> {
    v.into_iter().map(String::into_bytes).collect()
}

fn gen_cmd(g: &mut Gen) -> Vec<Vec<u8>> {
    let k = g.key();
    let mut v: Vec<String> = Vec::new();
    match g.below(30) {
        0..=7 => {
            v.push("xadd".into());
            v.push(k);
            if g.below(6) == 0 {
                v.push("nomkstream".into());
            }
            if g.below(4) == 0 {
                let strat = g.pick(&["maxlen", "minid", "MAXLEN"]);
                v.push(strat.into());
                match g.below(3) {
                    0 => v.push("~".into()),
                    1 => v.push("=".into()),
                    _ => {}
                }
                if strat.eq_ignore_ascii_case("maxlen") {
                    v.push(g.pick(&["0", "1", "3", "5", "-1", "x", "120"]).into());
                } else {
                    v.push(g.id());
                }
                if g.below(4) == 0 {
                    v.push("limit".into());
                    v.push(g.pick(&["0", "1", "10", "-1"]).into());
                }
            }
            g.ms += u64::from(g.below(4) != 0);
            let id = match g.below(10) {
                0 => format!("{}-*", g.ms),
                1 => g.id(),
                _ => {
                    let seq = g.below(4);
                    format!("{}-{seq}", g.ms)
                }
            };
            v.push(id);
            let n = if g.below(30) == 0 { 0 } else { 1 + g.below(2) };
            for _ in 0..n {
                v.push(g.pick(&["f", "g", "name"]).into());
                v.push(g.below(100).to_string());
            }
            if g.below(40) == 0 {
                v.push("dangling".into());
            }
        }
        8..=9 => {
            let rev = g.below(2) == 0;
            v.push(if rev { "xrevrange" } else { "xrange" }.into());
            v.push(k);
            v.push(g.bound());
            v.push(g.bound());
            if g.below(2) == 0 {
                v.push("count".into());
                v.push(g.count());
            }
        }
        10 => v.extend(["xlen".into(), k]),
        11 => {
            v.extend(["xdel".into(), k]);
            for _ in 0..1 + g.below(3) {
                v.push(g.id());
            }
        }
        12 => {
            v.extend(["xtrim".into(), k]);
            v.push(g.pick(&["maxlen", "minid", "limit"]).into());
            if g.below(2) == 0 {
                v.push(g.pick(&["~", "="]).into());
            }
            if v[2] == "minid" {
                v.push(g.id());
            } else {
                v.push(g.pick(&["0", "2", "4", "-3"]).into());
            }
            if g.below(5) == 0 {
                v.extend(["limit".into(), g.pick(&["5", "0"]).into()]);
            }
        }
        13..=14 => {
            v.push("xread".into());
            if g.below(3) == 0 {
                v.extend(["count".into(), g.count()]);
            }
            if g.below(6) == 0 {
                v.push(g.pick(&["noack", "group"]).into());
            }
            v.push("streams".into());
            let two = g.below(3) == 0;
            v.push(k);
            if two {
                v.push("t".into());
            }
            v.push(if g.below(4) == 0 { "$".into() } else { g.id() });
            if two {
                v.push(g.id());
            }
        }
        15..=16 => {
            let sub = g.pick(&[
                "create",
                "create",
                "setid",
                "setid",
                "destroy",
                "createconsumer",
                "createconsumer",
                "delconsumer",
                "nosuch",
            ]);
            v.extend(["xgroup".into(), sub.into(), k, g.group()]);
            match sub {
                "create" | "setid" => {
                    v.push(if g.below(3) == 0 { "$".into() } else { g.id() });
                    if sub == "create" && g.below(3) == 0 {
                        v.push("mkstream".into());
                    }
                    if g.below(4) == 0 {
                        v.extend(["entriesread".into(), g.pick(&["0", "3", "-1", "-2"]).into()]);
                    }
                }
                "createconsumer" | "delconsumer" => v.push(g.consumer()),
                _ => {}
            }
        }
        17..=20 => {
            v.extend(["xreadgroup".into(), "group".into(), g.group(), g.consumer()]);
            if g.below(3) == 0 {
                v.extend(["count".into(), g.count()]);
            }
            if g.below(5) == 0 {
                v.push("noack".into());
            }
            v.extend(["streams".into(), k]);
            v.push(match g.below(5) {
                0 => "0".into(),
                1 => g.id(),
                _ => ">".into(),
            });
        }
        21..=22 => {
            v.extend(["xack".into(), k, g.group()]);
            for _ in 0..1 + g.below(3) {
                v.push(g.id());
            }
        }
        23..=24 => {
            v.extend(["xpending".into(), k, g.group()]);
            if g.below(3) != 0 {
                if g.below(4) == 0 {
                    v.extend(["idle".into(), g.pick(&["0", "100000000"]).into()]);
                }
                v.push(g.bound());
                v.push(g.bound());
                v.push(g.count());
                if g.below(2) == 0 {
                    v.push(g.consumer());
                }
            }
        }
        25 => {
            v.extend(["xclaim".into(), k, g.group(), g.consumer()]);
            v.push(g.pick(&["0", "0", "100000000", "x"]).into());
            for _ in 0..1 + g.below(3) {
                v.push(g.id());
            }
            for _ in 0..g.below(3) {
                match g.below(6) {
                    0 => v.push("force".into()),
                    1 => v.push("justid".into()),
                    2 => v.extend(["retrycount".into(), g.pick(&["3", "x"]).into()]),
                    3 => v.extend(["lastid".into(), g.id()]),
                    4 => v.extend(["idle".into(), "5".into()]),
                    _ => v.push("bogus".into()),
                }
            }
        }
        26 => {
            v.extend(["xautoclaim".into(), k, g.group(), g.consumer()]);
            v.push(g.pick(&["0", "100000000"]).into());
            v.push(g.bound());
            if g.below(2) == 0 {
                v.extend(["count".into(), g.pick(&["1", "2", "0", "x"]).into()]);
            }
            if g.below(3) == 0 {
                v.push("justid".into());
            }
        }
        27 => {
            let sub = g.pick(&["stream", "stream", "groups", "consumers", "bad"]);
            v.extend(["xinfo".into(), sub.into(), k]);
            match sub {
                "consumers" => v.push(g.group()),
                "stream" if g.below(2) == 0 => {
                    v.push("full".into());
                    if g.below(2) == 0 {
                        v.extend(["count".into(), g.pick(&["1", "0", "2"]).into()]);
                    }
                }
                _ => {}
            }
        }
        28 => {
            v.extend(["xsetid".into(), k]);
            g.ms += 1;
            let seq = g.below(3);
            v.push(format!("{}-{seq}", g.ms));
            if g.below(3) == 0 {
                v.extend(["entriesadded".into(), g.pick(&["100", "1", "-1"]).into()]);
            }
            if g.below(4) == 0 {
                v.extend(["maxdeletedid".into(), g.id()]);
            }
        }
        _ => {
            let c = g.pick(&["type", "object", "set", "del"]);
            match c {
                "object" => v.extend(["object".into(), "encoding".into(), k]),
                "set" => v.extend(["set".into(), "str".into(), "x".into()]),
                "del" => {
                    if g.below(4) == 0 {
                        v.extend(["del".into(), k]);
                    } else {
                        v.extend(["type".into(), k]);
                    }
                }
                _ => v.extend(["type".into(), k]),
            }
        }
    }
    s(v)
}

/// Replaces the time-dependent and allocator-dependent fields named in the module docs.
fn mask(argv: &[Vec<u8>], reply: &[u8]) -> Vec<u8> {
    let name = String::from_utf8_lossy(&argv[0]).to_ascii_lowercase();
    if name != "xpending" && name != "xinfo" {
        return reply.to_vec();
    }
    let Ok(mut r) = Reply::parse(reply) else {
        return reply.to_vec();
    };
    if name == "xpending" {
        if argv.len() > 3 {
            if let Reply::Array(Some(items)) = &mut r {
                for it in items {
                    if let Reply::Array(Some(f)) = it {
                        if f.len() == 4 {
                            f[2] = Reply::Int(0);
                        }
                    }
                }
            }
        }
    } else {
        mask_info(&mut r, false);
    }
    r.to_bytes()
}

fn mask_info(r: &mut Reply, in_pending: bool) {
    let Reply::Array(Some(items)) = r else {
        return;
    };
    if in_pending {
        // [id, consumer, time, count] or [id, time, count].
        for it in items.iter_mut() {
            if let Reply::Array(Some(f)) = it {
                let t = f.len() - 2;
                f[t] = Reply::Int(0);
            }
        }
        return;
    }
    let mut i = 0;
    while i + 1 < items.len() {
        let key = match &items[i] {
            Reply::Bulk(Some(k)) => String::from_utf8_lossy(k).into_owned(),
            _ => String::new(),
        };
        match key.as_str() {
            "idle" | "seen-time" | "radix-tree-nodes" => items[i + 1] = Reply::Int(0),
            "pending" => mask_info(&mut items[i + 1], true),
            "groups" | "consumers" => {
                if let Reply::Array(Some(gs)) = &mut items[i + 1] {
                    for g in gs {
                        mask_info(g, false);
                    }
                }
            }
            _ => {}
        }
        i += 2;
    }
    // XINFO CONSUMERS / GROUPS: an array of maps.
    for it in items.iter_mut() {
        if matches!(it, Reply::Array(Some(_))) {
            mask_info(it, false);
        }
    }
}

fn show(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(600)]).replace("\r\n", "\\r\\n");
    if b.len() > 600 {
        format!("{s}... ({} bytes)", b.len())
    } else {
        s
    }
}

fn budget() -> (u64, usize) {
    if std::env::var("SDR_LONG").is_ok_and(|v| v == "1") {
        (40, 1500)
    } else {
        (6, 400)
    }
}

#[test]
fn differential_streams() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let node = TestNode::start(&[]);
    let mut rc = redis.conn();
    let mut nc = RawConn::connect(node.port).expect("connect to sdr-node");
    let (seeds, per_seed) = budget();
    let mut compared = 0usize;
    // Replies per command name: (total, errors), to show the sequences exercise more than
    // argument errors.
    let mut stats: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    for seed in 0..seeds {
        let flush = vec![b"flushall".to_vec()];
        rc.call(&flush).expect("redis");
        nc.call(&flush).expect("node");
        let mut g = Gen {
            rng: Rng::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5713),
            ms: 1 + seed,
        };
        let mut history: Vec<String> = Vec::new();
        // Streams with groups to start from (the random sequence also destroys and
        // recreates them).
        let setup: &[&[&str]] = &[
            &["xadd", "s", "1-1", "f", "v"],
            &["xadd", "t", "1-1", "f", "v"],
            &["xgroup", "create", "s", "g1", "0"],
            &["xgroup", "create", "s", "g2", "$"],
            &["xgroup", "create", "t", "g1", "0"],
            &["set", "str", "x"],
        ];
        for words in setup {
            let argv: Vec<Vec<u8>> = words.iter().map(|w| w.as_bytes().to_vec()).collect();
            assert_eq!(
                rc.call(&argv).expect("redis"),
                nc.call(&argv).expect("node")
            );
            history.push(words.join(" "));
        }
        g.ms += 2;
        for _ in 0..per_seed {
            let argv = gen_cmd(&mut g);
            let shown: Vec<String> = argv
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            history.push(shown.join(" "));
            let r = mask(&argv, &rc.call(&argv).expect("redis reply"));
            let n = mask(&argv, &nc.call(&argv).expect("node reply"));
            if r != n {
                let tail: Vec<&str> = history
                    .iter()
                    .rev()
                    .take(30)
                    .rev()
                    .map(String::as_str)
                    .collect();
                panic!(
                    "seed {seed}: {}\n  redis:    {}\n  sdr-node: {}\n  last commands:\n    {}",
                    history.last().map_or("", String::as_str),
                    show(&r),
                    show(&n),
                    tail.join("\n    ")
                );
            }
            compared += 1;
            let st = stats
                .entry(String::from_utf8_lossy(&argv[0]).into_owned())
                .or_default();
            st.0 += 1;
            st.1 += usize::from(r.first() == Some(&b'-'));
            if r.first() == Some(&b'-') && std::env::var("SDR_SHOW_ERRORS").is_ok() {
                eprintln!(
                    "{} -> {}",
                    history.last().map_or("", String::as_str),
                    show(&r)
                );
            }
        }
    }
    eprintln!(
        "differential streams: {compared} commands over {seeds} seeds, identical after masking"
    );
    eprintln!("  (command: replies, errors) {stats:?}");
    let ok: usize = stats.values().map(|(n, e)| n - e).sum();
    assert!(ok * 2 > compared, "most commands must succeed: {stats:?}");
}

fn cmd(c: &mut redis::Connection, args: &[&str]) -> redis::Value {
    let mut q = redis::cmd(args[0]);
    for a in &args[1..] {
        q.arg(*a);
    }
    q.query(c).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// XPENDING's extended form without the idle field (it moves with the clock).
fn pending_ids(c: &mut redis::Connection) -> Vec<(String, String, i64)> {
    let v: Vec<(String, String, i64, i64)> = redis::cmd("XPENDING")
        .arg("jobs")
        .arg("workers")
        .arg("-")
        .arg("+")
        .arg(100)
        .query(c)
        .expect("xpending");
    v.into_iter().map(|(id, who, _, n)| (id, who, n)).collect()
}

/// Consumer-group state is replicated state: entries delivered by XREADGROUP on the leader
/// are pending on the new leader after a kill -9, with the same owners and delivery counts,
/// and XACK/XCLAIM there act on them.
#[test]
fn consumer_groups_survive_leader_kill() {
    let mut cluster = TestCluster::start_with(3, "request-timeout-ms: 1500\n");
    let old = cluster.wait_for_leader();
    let mut c = cluster.leader_conn();
    cmd(
        &mut c,
        &["XGROUP", "CREATE", "jobs", "workers", "$", "MKSTREAM"],
    );
    for i in 1..=6 {
        cmd(
            &mut c,
            &["XADD", "jobs", &format!("{i}-0"), "job", &i.to_string()],
        );
    }
    cmd(
        &mut c,
        &[
            "XREADGROUP",
            "GROUP",
            "workers",
            "w1",
            "COUNT",
            "4",
            "STREAMS",
            "jobs",
            ">",
        ],
    );
    cmd(
        &mut c,
        &[
            "XREADGROUP",
            "GROUP",
            "workers",
            "w2",
            "STREAMS",
            "jobs",
            ">",
        ],
    );
    // History read: delivery counts of w1's entries go to 2.
    cmd(
        &mut c,
        &[
            "XREADGROUP",
            "GROUP",
            "workers",
            "w1",
            "STREAMS",
            "jobs",
            "0",
        ],
    );
    cmd(&mut c, &["XACK", "jobs", "workers", "2-0"]);
    let auto: redis::Value = cmd(&mut c, &["XADD", "jobs", "*", "job", "auto"]);
    let before = pending_ids(&mut c);
    assert_eq!(
        before,
        vec![
            ("1-0".into(), "w1".into(), 2),
            ("3-0".into(), "w1".into(), 2),
            ("4-0".into(), "w1".into(), 2),
            ("5-0".into(), "w2".into(), 1),
            ("6-0".into(), "w2".into(), 1),
        ]
    );
    let groups_before = cmd(&mut c, &["XINFO", "GROUPS", "jobs"]);
    drop(c);

    cluster.node(old).kill9();
    let new = cluster.wait_for_leader();
    assert_ne!(new, old);
    let mut c = cluster.leader_conn();
    assert_eq!(pending_ids(&mut c), before, "PEL after failover");
    assert_eq!(cmd(&mut c, &["XINFO", "GROUPS", "jobs"]), groups_before);
    // The auto ID was generated once, on the old leader, and is the same here.
    let last: Vec<(String, Vec<(String, String)>)> = redis::cmd("XREVRANGE")
        .arg("jobs")
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query(&mut c)
        .expect("xrevrange");
    assert_eq!(
        redis::Value::BulkString(last[0].0.clone().into_bytes()),
        auto
    );
    // The new leader acts on the replicated PEL.
    let acked: i64 = redis::cmd("XACK")
        .arg("jobs")
        .arg("workers")
        .arg("1-0")
        .arg("5-0")
        .arg("9-0")
        .query(&mut c)
        .expect("xack");
    assert_eq!(acked, 2);
    let claimed: Vec<String> = redis::cmd("XCLAIM")
        .arg("jobs")
        .arg("workers")
        .arg("w3")
        .arg(0)
        .arg("3-0")
        .arg("JUSTID")
        .query(&mut c)
        .expect("xclaim");
    assert_eq!(claimed, vec!["3-0".to_string()]);
    let after = pending_ids(&mut c);
    assert_eq!(
        after,
        vec![
            ("3-0".into(), "w3".into(), 2),
            ("4-0".into(), "w1".into(), 2),
            ("6-0".into(), "w2".into(), 1),
        ]
    );
    // New entries after the failover continue from the group's last delivered ID.
    let fresh: redis::Value = cmd(
        &mut c,
        &[
            "XREADGROUP",
            "GROUP",
            "workers",
            "w1",
            "STREAMS",
            "jobs",
            ">",
        ],
    );
    let redis::Value::Array(streams) = fresh else {
        panic!("{fresh:?}")
    };
    assert_eq!(streams.len(), 1);
    std::thread::sleep(Duration::from_millis(10));
}
