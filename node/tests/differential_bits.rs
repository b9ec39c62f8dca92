//! Differential test of the bitmap and HyperLogLog families against a real `redis-server`
//! 7.0: seeded random command sequences go to both servers over raw RESP2 sockets and the
//! reply bytes must be identical — including `GET` of HLL keys (the stored representation:
//! header, cached cardinality, sparse opcodes, dense registers), PFCOUNT over 1..5 keys,
//! BITFIELD overflow modes and BITPOS/BITCOUNT index edge cases. No normalisation is allowed
//! for these families (none is listed in docs/commands.md).
//!
//! Fixed seeds keep `make test` fast; `SDR_LONG=1` runs many more. Skipped (with a message)
//! when `/usr/bin/redis-server` is missing.

mod common;

use common::redis_server::{pair, Pair};
use common::wire::RawConn;
use common::TestNode;
use sdr_seeded::Rng;

struct Gen {
    rng: Rng,
}

impl Gen {
    fn below(&mut self, n: u64) -> u64 {
        self.rng.below(n)
    }
    fn chance(&mut self, p: f64) -> bool {
        self.rng.chance(p)
    }
    fn pick<'a>(&mut self, pool: &[&'a str]) -> &'a str {
        pool[self.below(pool.len() as u64) as usize]
    }
    fn key(&mut self) -> String {
        self.pick(&["a", "b", "c", "d", "l"]).to_string()
    }
    /// An index for BITCOUNT/BITPOS/GETRANGE: small, negative, huge, or not a number.
    fn index(&mut self) -> String {
        match self.below(10) {
            0..=4 => (self.below(40) as i64 - 8).to_string(),
            5 => (self.below(200) as i64 - 100).to_string(),
            6 => self
                .pick(&["9223372036854775807", "-9223372036854775808", "0", "-1"])
                .to_string(),
            7 => self.pick(&["x", "1.5", "", " 1", "+1"]).to_string(),
            _ => (self.below(80)).to_string(),
        }
    }
    fn bit_offset(&mut self) -> String {
        match self.below(12) {
            0..=7 => self.below(64).to_string(),
            8 => self.below(400).to_string(),
            9 => self
                .pick(&["-1", "4294967296", "4294967295x", "abc", ""])
                .to_string(),
            _ => self.below(1000).to_string(),
        }
    }
    fn bf_type(&mut self) -> String {
        match self.below(10) {
            0..=3 => format!("i{}", 1 + self.below(64)),
            4..=7 => format!("u{}", 1 + self.below(63)),
            8 => self.pick(&["i8", "u8", "i64", "u63", "i16"]).to_string(),
            _ => self
                .pick(&["u64", "i65", "I8", "x8", "i0", "u", "i"])
                .to_string(),
        }
    }
    fn bf_offset(&mut self) -> String {
        match self.below(8) {
            0..=4 => self.below(48).to_string(),
            5 => format!("#{}", self.below(6)),
            6 => self
                .pick(&["#-1", "-1", "#x", "#", "4294967290"])
                .to_string(),
            _ => self.below(200).to_string(),
        }
    }
    fn bf_value(&mut self) -> String {
        match self.below(8) {
            0..=3 => (self.below(600) as i64 - 300).to_string(),
            4 => self
                .pick(&[
                    "9223372036854775807",
                    "-9223372036854775808",
                    "127",
                    "-128",
                    "255",
                    "256",
                ])
                .to_string(),
            5 => self.pick(&["x", "1.0"]).to_string(),
            _ => self.below(5).to_string(),
        }
    }
}

fn w(v: &[&str]) -> Vec<Vec<u8>> {
    v.iter().map(|s| s.as_bytes().to_vec()).collect()
}

fn s(v: Vec<String>) -> Vec<Vec<u8>> {
    v.into_iter().map(String::into_bytes).collect()
}

fn gen_bitmaps(g: &mut Gen) -> Vec<Vec<u8>> {
    let k = g.key();
    match g.below(20) {
        0..=3 => s(vec![
            "setbit".into(),
            k,
            g.bit_offset(),
            g.pick(&["0", "1", "1", "2", "x"]).into(),
        ]),
        4 => s(vec!["getbit".into(), k, g.bit_offset()]),
        5 | 6 => {
            let mut v = vec!["bitcount".into(), k];
            if g.chance(0.8) {
                v.push(g.index());
                v.push(g.index());
                if g.chance(0.6) {
                    v.push(g.pick(&["bit", "BYTE", "byte", "BIT", "bits"]).into());
                }
            }
            s(v)
        }
        7..=9 => {
            let mut v = vec![
                "bitpos".into(),
                k,
                g.pick(&["0", "1", "1", "0", "2", "x"]).into(),
            ];
            let n = g.below(5);
            if n >= 1 {
                v.push(g.index());
            }
            if n >= 2 {
                v.push(g.index());
            }
            if n >= 3 {
                v.push(g.pick(&["bit", "byte", "BIT", "nope"]).into());
            }
            if n >= 4 {
                v.push("extra".into());
            }
            s(v)
        }
        10 | 11 => {
            let op = g.pick(&["and", "OR", "xor", "not", "not", "nand"]);
            let mut v = vec!["bitop".to_string(), op.into(), g.key()];
            for _ in 0..1 + g.below(3) {
                v.push(g.key());
            }
            s(v)
        }
        12..=14 => {
            let name = if g.chance(0.8) {
                "bitfield"
            } else {
                "bitfield_ro"
            };
            let mut v = vec![name.to_string(), k];
            for _ in 0..g.below(4) {
                match g.below(9) {
                    0..=2 => {
                        v.extend(["get".to_string(), g.bf_type(), g.bf_offset()]);
                    }
                    3 | 4 => {
                        v.extend(["set".to_string(), g.bf_type(), g.bf_offset(), g.bf_value()]);
                    }
                    5 | 6 => {
                        v.extend([
                            "incrby".to_string(),
                            g.bf_type(),
                            g.bf_offset(),
                            g.bf_value(),
                        ]);
                    }
                    7 => {
                        v.extend([
                            "overflow".to_string(),
                            g.pick(&["wrap", "SAT", "fail", "fail", "nope"]).into(),
                        ]);
                    }
                    _ => v.push(g.pick(&["get", "set", "bogus"]).into()),
                }
            }
            s(v)
        }
        15 => s(vec![
            "set".into(),
            k,
            g.pick(&["foobar", "\u{ff}\u{f0}\u{0}", "", "1234", "a"])
                .into(),
        ]),
        16 => s(vec!["get".into(), k]),
        17 => s(vec![
            "setrange".into(),
            k,
            g.below(20).to_string(),
            g.pick(&["\u{ff}", "ab", "\u{0}"]).into(),
        ]),
        18 => s(vec!["getrange".into(), k, g.index(), g.index()]),
        _ => match g.below(4) {
            0 => w(&["rpush", "l", "x"]),
            1 => s(vec!["strlen".into(), k]),
            2 => s(vec!["object".into(), "encoding".into(), k]),
            _ => s(vec!["del".into(), k]),
        },
    }
}

/// An element: mostly from a few hundred values, so adds repeat and sparse runs merge.
fn element(g: &mut Gen) -> String {
    match g.below(10) {
        0..=6 => format!("e{}", g.below(400)),
        7 => format!("x{}", g.below(1_000_000)),
        8 => g.below(100).to_string(),
        _ => String::new(),
    }
}

fn gen_hll(g: &mut Gen) -> Vec<Vec<u8>> {
    let k = g.pick(&["h1", "h2", "h3", "h4", "s", "l"]).to_string();
    match g.below(20) {
        0..=7 => {
            let mut v = vec!["pfadd".to_string(), k];
            let n = match g.below(10) {
                0 => 0,
                1 => 50 + g.below(300),
                _ => 1 + g.below(8),
            };
            for _ in 0..n {
                v.push(element(g));
            }
            s(v)
        }
        8..=11 => {
            let mut v = vec!["pfcount".to_string()];
            for _ in 0..1 + g.below(5) {
                v.push(g.pick(&["h1", "h2", "h3", "h4", "h1", "s", "nope"]).into());
            }
            s(v)
        }
        12 | 13 => {
            let mut v = vec!["pfmerge".to_string(), k];
            for _ in 0..g.below(4) {
                v.push(g.pick(&["h1", "h2", "h3", "h4", "nope", "s"]).into());
            }
            s(v)
        }
        14..=16 => s(vec!["get".into(), g.pick(&["h1", "h2", "h3", "h4"]).into()]),
        17 => w(&["set", "s", "not an hll"]),
        18 => {
            // A corrupted sparse HLL: a valid header and random opcodes.
            let mut v = b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80".to_vec();
            for _ in 0..g.below(6) {
                v.push(g.below(256) as u8);
            }
            if g.chance(0.5) {
                v.extend_from_slice(b"\x7f\xfe");
            }
            vec![b"set".to_vec(), b"s".to_vec(), v]
        }
        _ => match g.below(6) {
            0 => w(&["rpush", "l", "x"]),
            5 => s(vec!["object".into(), "encoding".into(), k]),
            1 => s(vec!["del".into(), k]),
            2 => s(vec!["strlen".into(), k]),
            _ => {
                let sub = g.pick(&["encoding", "decode", "todense", "getreg", "DECODE", "nope"]);
                s(vec!["pfdebug".into(), sub.into(), k])
            }
        },
    }
}

fn budget() -> (u64, usize) {
    if std::env::var("SDR_LONG").is_ok_and(|v| v == "1") {
        (40, 800)
    } else {
        (4, 250)
    }
}

fn show(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(400)]).replace("\r\n", "\\r\\n");
    if b.len() > 400 {
        format!("{s}... ({} bytes)", b.len())
    } else {
        s
    }
}

fn showcmd(argv: &[Vec<u8>]) -> String {
    let words: Vec<String> = argv
        .iter()
        .map(|a| {
            let t = String::from_utf8_lossy(a).into_owned();
            if t.len() > 40 {
                format!("{}...", &t[..40])
            } else {
                t
            }
        })
        .collect();
    let mut out = words.join(" ");
    if out.len() > 300 {
        out.truncate(300);
        out.push_str("...");
    }
    out
}

impl Pair {
    /// Sends `argv` to both and returns (redis, node) reply bytes.
    fn call(&mut self, argv: &[Vec<u8>]) -> (Vec<u8>, Vec<u8>) {
        let r = self.rc.call(argv).expect("redis reply");
        let n = self.nc.call(argv).expect("node reply");
        (r, n)
    }

    fn same(&mut self, argv: &[Vec<u8>], history: &[String]) {
        let (r, n) = self.call(argv);
        if r != n {
            let tail: Vec<&str> = history
                .iter()
                .rev()
                .take(25)
                .rev()
                .map(String::as_str)
                .collect();
            panic!(
                "{}\n  redis:    {}\n  sdr-node: {}\n  last commands:\n    {}",
                showcmd(argv),
                show(&r),
                show(&n),
                tail.join("\n    ")
            );
        }
    }
}

fn run_family(name: &str, gen: fn(&mut Gen) -> Vec<Vec<u8>>) {
    let Some(mut p) = pair() else {
        return;
    };
    let (seeds, per_seed) = budget();
    let mut compared = 0usize;
    for seed in 0..seeds {
        p.same(&w(&["flushall"]), &[]);
        let mut g = Gen {
            rng: Rng::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ name.len() as u64),
        };
        let mut history = Vec::new();
        for _ in 0..per_seed {
            let argv = gen(&mut g);
            history.push(showcmd(&argv));
            p.same(&argv, &history);
            compared += 1;
        }
    }
    eprintln!("differential {name}: {compared} commands over {seeds} seeds, all byte-identical");
}

#[test]
fn differential_bitmaps() {
    run_family("bitmaps", gen_bitmaps);
}

#[test]
fn differential_hyperloglog() {
    run_family("hyperloglog", gen_hll);
}

/// Large cardinalities: ~100k distinct elements (dense encoding, the estimator's large
/// range), PFCOUNT and GET after every batch, then unions with sparse and dense keys.
#[test]
fn differential_hyperloglog_large() {
    let Some(mut p) = pair() else {
        return;
    };
    let total: usize = if std::env::var("SDR_LONG").is_ok_and(|v| v == "1") {
        1_000_000
    } else {
        100_000
    };
    let mut history = Vec::new();
    let batch = 2_000;
    let mut n = 0;
    while n < total {
        let mut argv = vec![b"pfadd".to_vec(), b"big".to_vec()];
        argv.extend((n..n + batch).map(|i| format!("user:{i}").into_bytes()));
        history.push(format!("pfadd big user:{n}..{}", n + batch));
        p.same(&argv, &history);
        p.same(&w(&["pfcount", "big"]), &history);
        // The first batches cross the sparse -> dense promotion.
        if n < 20_000 || n % 20_000 == 0 {
            p.same(&w(&["get", "big"]), &history);
        }
        n += batch;
    }
    // Small sets near the sparse limits, then unions of every shape.
    for (key, count) in [("s1", 10usize), ("s2", 300), ("s3", 1_000), ("s4", 3_000)] {
        let mut argv = vec![b"pfadd".to_vec(), key.as_bytes().to_vec()];
        argv.extend((0..count).map(|i| format!("{key}-{i}").into_bytes()));
        p.same(&argv, &history);
        p.same(&w(&["get", key]), &history);
        p.same(&w(&["pfcount", key]), &history);
    }
    p.same(&w(&["pfcount", "s1", "s2"]), &history);
    p.same(&w(&["pfcount", "big", "s1", "s2", "s3", "s4"]), &history);
    p.same(&w(&["pfmerge", "m", "s1", "s2"]), &history);
    p.same(&w(&["get", "m"]), &history);
    p.same(&w(&["pfmerge", "m", "s3", "big"]), &history);
    p.same(&w(&["get", "m"]), &history);
    p.same(&w(&["pfcount", "m"]), &history);
    p.same(&w(&["get", "m"]), &history);
    p.same(&w(&["pfmerge", "s1", "s2"]), &history);
    p.same(&w(&["get", "s1"]), &history);

    // One element at a time across the sparse limit (hll-sparse-max-bytes, 3000): every
    // value near it compared, so the exact promotion point is checked.
    let mut i = 0;
    loop {
        let e = format!("grow-{i}");
        p.same(&w(&["pfadd", "grow", &e]), &history);
        let (r, _) = p.call(&w(&["strlen", "grow"]));
        let len: usize = String::from_utf8_lossy(&r[1..r.len() - 2])
            .parse()
            .expect("strlen reply");
        if len > 2_900 {
            p.same(&w(&["get", "grow"]), &history);
        }
        if len > 3_000 {
            break;
        }
        i += 1;
        assert!(i < 10_000, "never promoted");
    }
}

/// Bitmaps of a few hundred bytes with BITPOS/BITCOUNT over every small range and unit.
#[test]
fn differential_bit_ranges_exhaustive() {
    let Some(mut p) = pair() else {
        return;
    };
    let history = Vec::new();
    let values: [&[u8]; 5] = [
        b"\xff\xff\xff",
        b"\x00\x00\x00",
        b"\xff\xf0\x00\x0f",
        b"\x00\xff\x00\xff\x01",
        b"foobar",
    ];
    for v in values {
        p.same(&[b"set".to_vec(), b"k".to_vec(), v.to_vec()], &history);
        for unit in ["byte", "bit"] {
            let span = if unit == "bit" { 44 } else { 7 };
            for a in -span..span {
                for b in -span..span {
                    let (a, b) = (a.to_string(), b.to_string());
                    p.same(&w(&["bitcount", "k", &a, &b, unit]), &history);
                    p.same(&w(&["bitpos", "k", "0", &a, &b, unit]), &history);
                    p.same(&w(&["bitpos", "k", "1", &a, &b, unit]), &history);
                }
                let a = a.to_string();
                p.same(&w(&["bitpos", "k", "0", &a]), &history);
                p.same(&w(&["bitpos", "k", "1", &a]), &history);
            }
        }
    }
}

/// HLL and bitmap values are plain strings to the log and the snapshots: after kill -9 and a
/// restart (WAL replay) the bytes and counts are the same, and the cached count too.
#[test]
fn hll_and_bitmaps_survive_kill9_restart() {
    let mut node = TestNode::start(&[]);
    let mut c = RawConn::connect(node.port).expect("connect");
    let mut argv = vec![b"pfadd".to_vec(), b"dense".to_vec()];
    argv.extend((0..5_000).map(|i| format!("v{i}").into_bytes()));
    assert_eq!(c.call(&argv).expect("pfadd"), b":1\r\n");
    assert_eq!(
        c.call(&w(&["pfadd", "sparse", "a", "b", "c"]))
            .expect("pfadd"),
        b":1\r\n"
    );
    assert_eq!(
        c.call(&w(&["pfcount", "sparse"])).expect("pfcount"),
        b":3\r\n"
    );
    c.call(&w(&["setbit", "bits", "1000", "1"]))
        .expect("setbit");
    c.call(&w(&["bitfield", "bits", "set", "i16", "#3", "-77"]))
        .expect("bitfield");
    let keys = ["dense", "sparse", "bits"];
    let before: Vec<Vec<u8>> = keys
        .iter()
        .map(|k| c.call(&w(&["get", k])).expect("get"))
        .collect();
    let count = c
        .call(&w(&["pfcount", "dense", "sparse"]))
        .expect("pfcount");
    node.restart();
    let mut c = RawConn::connect(node.port).expect("reconnect");
    for (k, b) in keys.iter().zip(&before) {
        assert_eq!(&c.call(&w(&["get", k])).expect("get"), b, "{k}");
    }
    assert_eq!(
        c.call(&w(&["pfcount", "dense", "sparse"]))
            .expect("pfcount"),
        count
    );
    assert_eq!(
        c.call(&w(&["bitfield_ro", "bits", "get", "i16", "#3"]))
            .expect("bitfield_ro"),
        b"*1\r\n:-77\r\n"
    );
}
