//! Fuzzes command parsing and execution: bytes become a short sequence of argv (biased to
//! the real command names of `sdr_node::cmd::table()`, a few keys, numbers and option words),
//! each parsed with `Command::parse` and applied to a `Keyspace` the way the state machine
//! does (`advance_clock`, then apply at the stamped time).
//!
//! Asserts:
//! - no panic, and every reply is one well-formed RESP frame (no CR/LF inside a simple
//!   string or an error: no forged extra reply) that decodes back to itself;
//! - determinism: the same sequence applied to two fresh keyspaces gives identical replies
//!   and identical keyspaces (and identical snapshot bytes);
//! - the keyspace survives a snapshot round trip (`keyspace::codec`): decode(encode(ks)) == ks
//!   and re-encoding gives the same bytes;
//! - a reference model of the string/key subset (GET, SET k v, DEL, APPEND, INCR, EXISTS,
//!   STRLEN) agrees with the node's replies on every key whose state it knows (keys touched by
//!   other commands become "unknown" until a plain SET or a DEL makes them known again);
//! - bounded memory: like a node with `maxmemory` set, a `denyoom` command whose
//!   `cmd::oom_growth` exceeds 64 KiB, or any `denyoom` command once the keyspace holds more
//!   than 4 MiB, is refused before it is applied (the target runs under
//!   `-malloc_limit_mb`, so a command that allocates hugely from a small input crashes it).
#![no_main]

use std::collections::BTreeMap;

use arbitrary::{Result as AResult, Unstructured};
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use sdr_node::cmd::{self, key_indices, lookup, Command};
use sdr_node::keyspace::{codec, Keyspace, RESERVED_PREFIX};
use sdr_resp::{decode_frame, Frame, Protocol};

const KEYS: &[&[u8]] = &[
    b"k0",
    b"k1",
    b"k2",
    b"{k}3",
    b"\0sdr:req:x",
    b"\0sdr:clock",
    b"",
];
const WORDS: &[&[u8]] = &[
    b"NX", b"XX", b"EX", b"PX", b"EXAT", b"PXAT", b"KEEPTTL", b"GET", b"GT", b"LT", b"COUNT",
    b"MATCH", b"TYPE", b"PERSIST", b"ASYNC", b"SYNC", b"string", b"list", b"hash", b"set", b"*",
    b"k*", b"?0", b"[a-z]", b"\\", b"\r\n+OK", b"\n",
    // Bitmaps and HyperLogLog: BITFIELD/BITOP words and HLL headers (an empty sparse HLL, a
    // truncated XZERO, a dense header of the wrong size) that APPEND/SETRANGE then corrupt.
    b"i8", b"u63", b"i64", b"#1", b"OVERFLOW", b"FAIL", b"SAT", b"INCRBY", b"BIT", b"BYTE",
    b"AND", b"NOT",
    b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80\x7f\xff",
    b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80\x40",
    b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80\x80\x7f\xfe",
    b"HYLL\x00\0\0\0\0\0\0\0\0\0\0\x80",
];
const NUMS: &[&[u8]] = &[
    b"0",
    b"1",
    b"-1",
    b"2",
    b"3",
    b"10",
    b"100",
    b"1000000",
    b"-100",
    b"1.5",
    b"-0",
    b"007",
    b"+1",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"9223372036854775808",
    b"536870911",
    b"536870912",
    b"1e3",
    b"inf",
    b"-inf",
    b"nan",
    b" 1",
    b"4294967296",
    b"18446744073709551615",
];
/// Most growth a single command may ask for (the maxmemory gate of the node, emulated).
const MAX_GROWTH: u64 = 64 << 10;
/// Keyspace size above which denyoom commands are refused.
const MAX_MEMORY: usize = 4 << 20;
const START_MS: u64 = 1_700_000_000_000;

fn names() -> &'static [&'static str] {
    static NAMES: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| cmd::table().iter().map(|s| s.name).collect())
}

fn gen_arg(u: &mut Unstructured) -> AResult<Bytes> {
    Ok(match u.int_in_range(0u8..=9)? {
        0..=3 => Bytes::from_static(u.choose(KEYS)?),
        4 | 5 => Bytes::from_static(u.choose(NUMS)?),
        6 => Bytes::from_static(u.choose(WORDS)?),
        7 => Bytes::from(u.int_in_range(-1000i64..=1000)?.to_string()),
        _ => {
            let n = u.int_in_range(0usize..=24)?;
            Bytes::copy_from_slice(u.bytes(n.min(u.len()))?)
        }
    })
}

fn gen_argv(u: &mut Unstructured, names: &[&'static str]) -> AResult<Vec<Bytes>> {
    let mut argv = Vec::new();
    let name: Bytes = match u.int_in_range(0u8..=15)? {
        0..=5 => Bytes::from_static(
            u.choose(&["get", "set", "del", "append", "incr", "exists", "strlen"])?
                .as_bytes(),
        ),
        6..=13 => {
            let n = u.choose(names)?;
            if u.arbitrary()? {
                Bytes::from(n.to_ascii_uppercase())
            } else {
                Bytes::from_static(n.as_bytes())
            }
        }
        14 => Bytes::from_static(b"idempotent"),
        _ => gen_arg(u)?,
    };
    let is_idem = name.eq_ignore_ascii_case(b"idempotent");
    argv.push(name);
    if is_idem {
        // IDEMPOTENT client seq <command...>: nest a real command more often than not.
        argv.push(Bytes::from_static(u.choose(&[&b"c"[..], b"c2", b""])?));
        argv.push(Bytes::from_static(u.choose(NUMS)?));
        if u.arbitrary()? {
            argv.push(Bytes::from_static(u.choose(names)?.as_bytes()));
        }
    }
    let n = u.int_in_range(0usize..=6)?;
    for _ in 0..n {
        argv.push(gen_arg(u)?);
    }
    Ok(argv)
}

/// One step of the sequence: the argv and how far the stamped clock moves first (it may
/// also go back: the keyspace's clock floor must absorb that).
struct Step {
    argv: Vec<Bytes>,
    dt: i64,
}

fn gen_steps(data: &[u8]) -> Vec<Step> {
    let names = names();
    let mut u = Unstructured::new(data);
    let mut steps = Vec::new();
    while steps.len() < 12 && !u.is_empty() {
        let Ok(argv) = gen_argv(&mut u, names) else {
            break;
        };
        let dt = match u.int_in_range(0u8..=3).unwrap_or(0) {
            0 => 0,
            1 => u.int_in_range(0i64..=2_000).unwrap_or(0),
            2 => u.int_in_range(0i64..=20_000_000).unwrap_or(0),
            _ => -u.int_in_range(0i64..=5_000).unwrap_or(0),
        };
        steps.push(Step { argv, dt });
    }
    steps
}

/// What the state machine would do with one proposed argv; `None` if the node refuses it
/// before proposing (the emulated maxmemory gate).
fn apply(ks: &mut Keyspace, argv: &[Bytes], stamp: u64) -> Option<Frame> {
    if let Some(spec) = lookup(&argv[0]) {
        if let Some(growth) = cmd::oom_growth(spec, argv) {
            if growth > MAX_GROWTH || ks.approx_memory_bytes() > MAX_MEMORY {
                return None;
            }
        }
    }
    let now = ks.advance_clock(stamp);
    Some(match Command::parse(argv) {
        Ok(c) => c.apply(ks, now),
        Err(f) => f,
    })
}

/// A reply is one frame: no CR/LF in simple strings or errors, and it decodes to itself.
fn check_reply(f: &Frame) {
    let mut stack = vec![f];
    while let Some(f) = stack.pop() {
        match f {
            Frame::Simple(s) | Frame::Error(s) => {
                assert!(
                    !s.contains(['\r', '\n']),
                    "reply line contains CR/LF: {s:?}"
                );
                if let Frame::Error(s) = f {
                    assert!(!s.is_empty(), "empty error reply");
                }
            }
            Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
                stack.extend(items.iter())
            }
            Frame::Map(pairs) | Frame::Pairs(pairs) | Frame::ArrayMap(pairs) => {
                for (k, v) in pairs {
                    stack.push(k);
                    stack.push(v);
                }
            }
            _ => {}
        }
    }
    // In both protocols the reply is one frame that re-encodes to the same bytes.
    for proto in [Protocol::Resp2, Protocol::Resp3] {
        let mut out = BytesMut::new();
        f.encode_as(proto, &mut out);
        let wire = out.clone();
        let back = match decode_frame(&mut out) {
            Ok(Some(back)) => back,
            other => panic!("reply does not decode ({proto:?}): {other:?}"),
        };
        assert!(out.is_empty(), "reply is more than one frame ({proto:?})");
        let mut again = BytesMut::new();
        back.encode_as(proto, &mut again);
        assert_eq!(again, wire, "reply does not decode to itself ({proto:?})");
    }
}

// ---- the reference model of the string/key subset ----

#[derive(Clone, Debug, PartialEq)]
enum Known {
    /// A string without a deadline.
    Str(Vec<u8>),
    /// A key of another type without a deadline.
    Other,
}

/// What the model knows per key: `Some(Some(state))`, `Some(None)` (known absent) or `None`
/// (unknown). Keys missing from `keys` are known absent while `all_known`, else unknown.
struct Model {
    keys: BTreeMap<Vec<u8>, Option<Option<Known>>>,
    /// False after a keyless write (FLUSHDB, IDEMPOTENT…) the model does not follow.
    all_known: bool,
}

impl Model {
    fn get(&self, k: &[u8]) -> Option<Option<&Known>> {
        match self.keys.get(k) {
            Some(Some(s)) => Some(s.as_ref()),
            Some(None) => None,
            None if self.all_known => Some(None),
            None => None,
        }
    }
    fn set(&mut self, k: &[u8], s: Option<Known>) {
        self.keys.insert(k.to_vec(), Some(s));
    }
    fn unknown(&mut self, k: &[u8]) {
        self.keys.insert(k.to_vec(), None);
    }
}

fn wrongtype() -> Frame {
    Frame::Error("WRONGTYPE Operation against a key holding the wrong kind of value".into())
}

/// Redis's string2ll, written independently of the node's parser.
fn strict_i64(s: &[u8]) -> Option<i64> {
    let t = std::str::from_utf8(s).ok()?;
    let digits = t.strip_prefix('-').unwrap_or(t);
    let canonical = t == "0"
        || (!digits.is_empty()
            && digits.len() <= 19
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0'));
    if !canonical {
        return None;
    }
    t.parse().ok()
}

/// Checks the node's reply to `argv` against the model (where it can) and updates the model.
fn model_step(m: &mut Model, argv: &[Bytes], reply: Option<&Frame>) {
    let name = String::from_utf8_lossy(&argv[0]).to_ascii_lowercase();
    let Some(reply) = reply else {
        // Refused before proposing: nothing changed.
        return;
    };
    let spec = lookup(&argv[0]);
    let keys: Vec<usize> = spec.map(|s| key_indices(s, argv)).unwrap_or_default();
    if keys.iter().any(|&i| argv[i].starts_with(RESERVED_PREFIX)) {
        assert!(
            reply.is_error(),
            "reserved key accepted by {name}: {reply:?}"
        );
        return;
    }
    let argc = argv.len();
    let subset = matches!(
        (name.as_str(), argc),
        ("get", 2) | ("set", 3) | ("append", 3) | ("incr", 2) | ("strlen", 2)
    ) || (matches!(name.as_str(), "del" | "exists") && argc >= 2);
    if !subset {
        match spec {
            Some(s) if s.kind == cmd::Kind::Write => {
                if keys.is_empty() && !reply.is_error() && s.name != "idempotent" {
                    // FLUSHDB/FLUSHALL and the like.
                    m.keys.clear();
                    m.all_known = false;
                }
                let ok = !reply.is_error();
                let push = matches!(s.name, "lpush" | "rpush" | "hset" | "sadd" | "hmset");
                for &i in &keys {
                    let k = &argv[i];
                    // A successful push makes a known key an aggregate without a deadline.
                    if push && ok && i == 1 && m.get(k).is_some() {
                        m.set(k, Some(Known::Other));
                    } else {
                        m.unknown(k);
                    }
                }
                if s.name == "idempotent" {
                    // The wrapped command may be keyless (FLUSHDB).
                    m.keys.clear();
                    m.all_known = false;
                }
            }
            _ => {}
        }
        return;
    }
    let k = &argv[1];
    match name.as_str() {
        "get" => {
            if let Some(st) = m.get(k) {
                let want = match st {
                    None => Frame::Null,
                    Some(Known::Str(v)) => Frame::Bulk(Bytes::copy_from_slice(v)),
                    Some(Known::Other) => wrongtype(),
                };
                assert_eq!(reply, &want, "GET {k:?}");
            }
        }
        "set" => {
            assert_eq!(reply, &Frame::ok(), "SET");
            m.set(k, Some(Known::Str(argv[2].to_vec())));
        }
        "strlen" => {
            if let Some(st) = m.get(k) {
                let want = match st {
                    None => Frame::Integer(0),
                    Some(Known::Str(v)) => Frame::Integer(v.len() as i64),
                    Some(Known::Other) => wrongtype(),
                };
                assert_eq!(reply, &want, "STRLEN {k:?}");
            }
        }
        "append" => match m.get(k) {
            Some(st) => {
                let (want, next) = match st {
                    None => (Frame::Integer(argv[2].len() as i64), Some(argv[2].to_vec())),
                    Some(Known::Str(v)) => {
                        let mut v = v.clone();
                        v.extend_from_slice(&argv[2]);
                        (Frame::Integer(v.len() as i64), Some(v))
                    }
                    Some(Known::Other) => (wrongtype(), None),
                };
                assert_eq!(reply, &want, "APPEND {k:?}");
                if let Some(v) = next {
                    m.set(k, Some(Known::Str(v)));
                }
            }
            None => {}
        },
        "incr" => match m.get(k) {
            Some(st) => {
                let cur = match st {
                    None => Some(Ok(0)),
                    Some(Known::Str(v)) => Some(strict_i64(v).ok_or(())),
                    Some(Known::Other) => None,
                };
                match cur {
                    None => assert_eq!(reply, &wrongtype(), "INCR {k:?}"),
                    Some(Err(())) => assert_eq!(
                        reply,
                        &Frame::Error("ERR value is not an integer or out of range".into()),
                        "INCR {k:?}"
                    ),
                    Some(Ok(n)) => match n.checked_add(1) {
                        None => assert_eq!(
                            reply,
                            &Frame::Error("ERR increment or decrement would overflow".into()),
                            "INCR {k:?}"
                        ),
                        Some(n) => {
                            assert_eq!(reply, &Frame::Integer(n), "INCR {k:?}");
                            m.set(k, Some(Known::Str(n.to_string().into_bytes())));
                        }
                    },
                }
            }
            None => {}
        },
        "exists" => {
            let mut n = 0;
            let mut known = true;
            for a in &argv[1..] {
                match m.get(a) {
                    Some(Some(_)) => n += 1,
                    Some(None) => {}
                    None => known = false,
                }
            }
            if known {
                assert_eq!(reply, &Frame::Integer(n), "EXISTS");
            }
        }
        "del" => {
            let mut n = 0;
            let mut known = true;
            for a in &argv[1..] {
                match m.get(a) {
                    Some(Some(_)) => n += 1,
                    Some(None) => {}
                    None => known = false,
                }
                m.set(a, None);
            }
            if known {
                assert_eq!(reply, &Frame::Integer(n), "DEL");
            }
        }
        _ => unreachable!(),
    }
}

/// RANDOMKEY, SRANDMEMBER, HRANDFIELD, ZRANDMEMBER: reads whose draws come from the
/// per-process read stream (docs/commands.md), so two keyspaces may answer them differently.
fn is_random_read(argv: &[Bytes]) -> bool {
    ["randomkey", "srandmember", "hrandfield", "zrandmember"]
        .iter()
        .any(|n| argv[0].eq_ignore_ascii_case(n.as_bytes()))
}

fn snapshot(ks: &Keyspace) -> Vec<u8> {
    let mut out = Vec::new();
    codec::encode(ks, &mut out);
    out
}

fuzz_target!(|data: &[u8]| {
    let steps = gen_steps(data);
    let mut a = Keyspace::new();
    let mut b = Keyspace::new();
    let mut model = Model {
        keys: BTreeMap::new(),
        all_known: true,
    };
    let mut stamp = START_MS;
    for s in &steps {
        stamp = stamp.saturating_add_signed(s.dt);
        let ra = apply(&mut a, &s.argv, stamp);
        let rb = apply(&mut b, &s.argv, stamp);
        if is_random_read(&s.argv) {
            // Reads that draw from the per-process read stream may answer differently on two
            // replicas (only writes must be deterministic): compare the reply types only.
            assert_eq!(
                ra.as_ref().map(std::mem::discriminant),
                rb.as_ref().map(std::mem::discriminant),
                "reply types differ for {:?}",
                s.argv
            );
        } else {
            assert_eq!(ra, rb, "replies differ for {:?}", s.argv);
        }
        if let Some(r) = &ra {
            check_reply(r);
        }
        model_step(&mut model, &s.argv, ra.as_ref());
    }
    assert!(a == b, "keyspaces differ after the same sequence");
    assert_eq!(a.clock_floor(), b.clock_floor());
    let snap = snapshot(&a);
    assert_eq!(snap, snapshot(&b), "equal keyspaces encode differently");
    let back = codec::decode(&snap).expect("a snapshot the node wrote must decode");
    assert!(back == a, "snapshot round trip changed the keyspace");
    assert_eq!(
        back.clock_floor(),
        a.clock_floor(),
        "snapshot lost the clock floor"
    );
    assert_eq!(snapshot(&back), snap, "re-encoding differs");
});
