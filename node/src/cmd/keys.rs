//! Generic keyspace commands: DEL UNLINK EXISTS TOUCH TYPE KEYS SCAN RANDOMKEY RENAME RENAMENX
//! COPY EXPIRE PEXPIRE EXPIREAT PEXPIREAT TTL PTTL EXPIRETIME PEXPIRETIME PERSIST DBSIZE
//! FLUSHDB FLUSHALL OBJECT DUMP RESTORE, and SORT / SORT_RO (parsed and run by
//! [`super::sort`]). DUMP and RESTORE use Redis's RDB value format
//! ([`crate::keyspace::rdb`]).

use bytes::Bytes;

use super::{bulk_array, eq, glob, int_arg, syntax};
use crate::keyspace::rdb::{self, RdbError};
use crate::keyspace::{Keyspace, Value};
use crate::resp::ErrorCode;
use crate::resp::{parse_i64, Frame};

/// Conditions of the EXPIRE family (Redis 7).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExpireCond {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
}

/// The read commands of this family: executed against `&Keyspace` after a read barrier.
#[derive(Clone, Debug, PartialEq)]
pub enum KeyRead {
    Exists(Vec<Bytes>),
    Type(Bytes),
    Keys(Bytes),
    Scan {
        cursor: u64,
        pattern: Option<Bytes>,
        count: usize,
        type_name: Option<Bytes>,
    },
    Ttl {
        key: Bytes,
        ms: bool,
    },
    ExpireTime {
        key: Bytes,
        ms: bool,
    },
    DbSize,
    /// `OBJECT ENCODING|REFCOUNT|FREQ key` ([`ObjectSub`]).
    Object(ObjectSub, Bytes),
    /// `OBJECT HELP`.
    ObjectHelp,
    /// RANDOMKEY (draws from the per-process read stream).
    RandomKey,
    /// `MEMORY USAGE|STATS|DOCTOR|MALLOC-STATS|PURGE|HELP` ([`MemorySub`]).
    Memory(MemorySub),
    /// SORT_RO.
    Sort(super::sort::Sort),
    /// `DUMP key`: the RDB payload, nil for a missing key.
    Dump(Bytes),
}

/// The `OBJECT` subcommands that name a key. `IDLETIME` is not served: the node keeps no
/// per-key access time unless an LRU `maxmemory-policy` is set (docs/commands.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectSub {
    Encoding,
    Refcount,
    Freq,
}

/// The `MEMORY` subcommands. Sizes are the keyspace's own estimate (the one `maxmemory`
/// accounting uses: key bytes, a fixed per-key overhead, string bytes, a per-element constant
/// for aggregates), not allocator figures: the node does not run on jemalloc, so, like a Redis
/// built with libc malloc, it has no allocator statistics to report (docs/commands.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemorySub {
    /// `MEMORY USAGE key [SAMPLES count]`: the sample count is accepted and ignored, since the
    /// estimate is O(1) and needs no sampling.
    Usage(Bytes),
    Stats,
    Doctor,
    MallocStats,
    Purge,
    Help,
}

/// `MEMORY HELP`, as Redis 7.0 prints it.
const MEMORY_HELP: &[&str] = &[
    "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
    "HELP",
    "    Prints this help.",
];

/// Redis 7.0's `MEMORY DOCTOR` answer for an instance whose issue detector has too little
/// data (Redis needs 5 MB of used memory before it reports anything else).
const MEMORY_DOCTOR_EMPTY: &str = "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.";
const MEMORY_DOCTOR_FINE: &str = "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.";

fn parse_memory(argv: &[Bytes]) -> Result<KeyRead, Frame> {
    let sub = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
    let fixed = |want: usize, name: &str, s: MemorySub| {
        if argv.len() == want {
            Ok(KeyRead::Memory(s))
        } else {
            Err(super::wrong_args(&format!("memory|{name}")))
        }
    };
    match sub.as_str() {
        "help" => fixed(2, "help", MemorySub::Help),
        "stats" => fixed(2, "stats", MemorySub::Stats),
        "doctor" => fixed(2, "doctor", MemorySub::Doctor),
        "malloc-stats" => fixed(2, "malloc-stats", MemorySub::MallocStats),
        "purge" => fixed(2, "purge", MemorySub::Purge),
        "usage" => {
            if argv.len() < 3 {
                return Err(super::wrong_args("memory|usage"));
            }
            let mut j = 3;
            while j < argv.len() {
                if argv[j].eq_ignore_ascii_case(b"samples") && j + 1 < argv.len() {
                    let n = super::int_arg(&argv[j + 1])?;
                    if n < 0 {
                        return Err(super::syntax());
                    }
                    j += 2;
                } else {
                    return Err(super::syntax());
                }
            }
            Ok(KeyRead::Memory(MemorySub::Usage(argv[2].clone())))
        }
        _ => Err(Frame::err(format!(
            "unknown subcommand '{}'. Try MEMORY HELP.",
            String::from_utf8_lossy(&argv[1][..argv[1].len().min(128)])
        ))),
    }
}

/// `OBJECT HELP`, as Redis 7.0 prints it (without IDLETIME, which is not served).
const OBJECT_HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Print this help.",
];

/// Redis 7.0 shares the integer objects 0..9999 (`OBJ_SHARED_INTEGERS`) and reports their
/// reference count as `OBJ_SHARED_REFCOUNT` (`INT_MAX`).
const SHARED_INTEGERS: i64 = 10_000;
const SHARED_REFCOUNT: i64 = i32::MAX as i64;

fn parse_object(argv: &[Bytes]) -> Result<KeyRead, Frame> {
    let sub = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
    // Redis 7 checks a subcommand's own arity before running it.
    let (want, name) = match sub.as_str() {
        "help" => (2, "help"),
        "encoding" => (3, "encoding"),
        "refcount" => (3, "refcount"),
        "freq" => (3, "freq"),
        _ => {
            return Err(Frame::err(format!(
                "unknown subcommand '{}'. Try OBJECT HELP.",
                String::from_utf8_lossy(&argv[1][..argv[1].len().min(128)])
            )))
        }
    };
    if argv.len() != want {
        return Err(super::wrong_args(&format!("object|{name}")));
    }
    Ok(match name {
        "help" => KeyRead::ObjectHelp,
        "encoding" => KeyRead::Object(ObjectSub::Encoding, argv[2].clone()),
        "refcount" => KeyRead::Object(ObjectSub::Refcount, argv[2].clone()),
        _ => KeyRead::Object(ObjectSub::Freq, argv[2].clone()),
    })
}

/// The write commands of this family: proposed to Raft, executed at apply time.
#[derive(Clone, Debug, PartialEq)]
pub enum KeyWrite {
    Del(Vec<Bytes>),
    Rename {
        src: Bytes,
        dst: Bytes,
        nx: bool,
    },
    Expire {
        key: Bytes,
        when: i64,
        /// `when` is in seconds (EXPIRE/EXPIREAT).
        seconds: bool,
        /// `when` is absolute (EXPIREAT/PEXPIREAT).
        absolute: bool,
        cond: ExpireCond,
        name: &'static str,
    },
    Persist(Bytes),
    /// FLUSHDB: the active database.
    Flush,
    /// FLUSHALL: every database.
    FlushAll,
    /// COPY src dst [DB n] [REPLACE].
    Copy {
        src: Bytes,
        dst: Bytes,
        replace: bool,
        db: Option<i64>,
    },
    /// MOVE key db.
    Move {
        key: Bytes,
        db: i64,
    },
    /// SWAPDB a b (indexes as given; range-checked at apply).
    SwapDb(i64, i64),
    /// SORT (a write: with STORE it creates a key).
    Sort(super::sort::Sort),
    /// `RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f]`. The options are
    /// checked when parsed; the TTL and the payload at apply, after the BUSYKEY check, in
    /// Redis's order. IDLETIME and FREQ are validated and not kept (docs/commands.md).
    Restore {
        key: Bytes,
        ttl: Bytes,
        payload: Bytes,
        replace: bool,
        absttl: bool,
    },
}

/// Redis's reply for a database index at or beyond `databases` (or negative).
pub const DB_OUT_OF_RANGE: &str = "DB index is out of range";
/// Redis's `getIntFromObjectOrReply` for an integer beyond a C int (SELECT, MOVE, COPY DB).
pub const INT_RANGE: &str = "value is out of range, value must between -2147483648 and 2147483647";
/// COPY/MOVE onto the very same key.
const SAME_OBJECT: &str = "source and destination objects are the same";

/// A database index argument (MOVE's, COPY's DB): an integer, else Redis's not-an-integer
/// error; its range is checked at apply time against the keyspace's `databases`.
fn db_index(b: &[u8]) -> Result<i64, Frame> {
    // Redis reads it as a C int: beyond its range, its range error.
    int_arg(b).and_then(|n| {
        i32::try_from(n)
            .map(i64::from)
            .map_err(|_| Frame::err(INT_RANGE))
    })
}

/// `n` as a database index of `ks` (`0 <= n < databases`).
fn in_range(ks: &Keyspace, n: i64) -> Option<u32> {
    u32::try_from(n).ok().filter(|&n| n < ks.db_count())
}

/// The databases a SWAPDB argv names, when both parse and differ (wake-ups after apply).
pub fn swapdb_targets(argv: &[Bytes]) -> Vec<u32> {
    let p = |i: usize| {
        argv.get(i)
            .and_then(|b| parse_i64(b))
            .and_then(|n| u32::try_from(n).ok())
    };
    match (p(1), p(2)) {
        (Some(a), Some(b)) if a != b => vec![a, b],
        _ => Vec::new(),
    }
}

/// The destination database of a MOVE argv.
pub fn move_target(argv: &[Bytes]) -> Option<u32> {
    argv.get(2)
        .and_then(|b| parse_i64(b))
        .and_then(|n| u32::try_from(n).ok())
}

/// The explicit destination database of a COPY argv (`DB n`).
pub fn copy_target(argv: &[Bytes]) -> Option<u32> {
    let i = argv.iter().skip(3).position(|a| eq(a, "db"))? + 3;
    argv.get(i + 1)
        .and_then(|b| parse_i64(b))
        .and_then(|n| u32::try_from(n).ok())
}

/// SCAN's default COUNT.
const SCAN_DEFAULT_COUNT: usize = 10;

pub(super) fn parse(name: &str, argv: &[Bytes]) -> Result<super::Op, Frame> {
    let a = |i: usize| argv[i].clone();
    Ok(match name {
        "del" | "unlink" => KeyWrite::Del(argv[1..].to_vec()).into(),
        "exists" | "touch" => KeyRead::Exists(argv[1..].to_vec()).into(),
        "randomkey" => KeyRead::RandomKey.into(),
        "sort" => KeyWrite::Sort(super::sort::parse(argv, false)?).into(),
        "sort_ro" => KeyRead::Sort(super::sort::parse(argv, true)?).into(),
        "copy" => {
            let mut replace = false;
            let mut db = None;
            let mut j = 3;
            while j < argv.len() {
                if eq(&argv[j], "replace") {
                    replace = true;
                } else if eq(&argv[j], "db") && j + 1 < argv.len() {
                    // Range-checked against `databases` at apply time (the keyspace knows it).
                    db = Some(db_index(&argv[j + 1])?);
                    j += 1;
                } else {
                    return Err(syntax());
                }
                j += 1;
            }
            // Redis compares the names only when the database is the same (checked at apply
            // for an explicit DB).
            if argv[1] == argv[2] && db.is_none() {
                return Err(Frame::err(SAME_OBJECT));
            }
            KeyWrite::Copy {
                src: a(1),
                dst: a(2),
                replace,
                db,
            }
            .into()
        }
        "move" => KeyWrite::Move {
            key: a(1),
            db: db_index(&argv[2])?,
        }
        .into(),
        "swapdb" => {
            let int = |b: &[u8], msg: &str| {
                parse_i64(b)
                    .filter(|n| i32::try_from(*n).is_ok())
                    .ok_or_else(|| Frame::err(msg))
            };
            let x = int(&argv[1], "invalid first DB index")?;
            let y = int(&argv[2], "invalid second DB index")?;
            KeyWrite::SwapDb(x, y).into()
        }
        "type" => KeyRead::Type(a(1)).into(),
        "dump" => KeyRead::Dump(a(1)).into(),
        "restore" => parse_restore(argv)?.into(),
        "object" => parse_object(argv)?.into(),
        "memory" => parse_memory(argv)?.into(),
        "keys" => KeyRead::Keys(a(1)).into(),
        "scan" => {
            let cursor = super::scan_cursor(&argv[1])?;
            let (mut pattern, mut count, mut type_name) = (None, SCAN_DEFAULT_COUNT, None);
            let mut i = 2;
            while i < argv.len() {
                let Some(v) = argv.get(i + 1) else {
                    return Err(syntax());
                };
                if eq(&argv[i], "match") {
                    pattern = Some(v.clone());
                } else if eq(&argv[i], "count") {
                    let n = int_arg(v)?;
                    if n < 1 {
                        return Err(syntax());
                    }
                    count = n as usize;
                } else if eq(&argv[i], "type") {
                    type_name = Some(v.clone());
                } else {
                    return Err(syntax());
                }
                i += 2;
            }
            KeyRead::Scan {
                cursor,
                pattern,
                count,
                type_name,
            }
            .into()
        }
        "rename" | "renamenx" => KeyWrite::Rename {
            src: a(1),
            dst: a(2),
            nx: name == "renamenx",
        }
        .into(),
        "expire" | "pexpire" | "expireat" | "pexpireat" => {
            // Redis checks the options before the time value.
            let mut cond = ExpireCond::default();
            for o in &argv[3..] {
                if eq(o, "nx") {
                    cond.nx = true;
                } else if eq(o, "xx") {
                    cond.xx = true;
                } else if eq(o, "gt") {
                    cond.gt = true;
                } else if eq(o, "lt") {
                    cond.lt = true;
                } else {
                    return Err(Frame::err(format!(
                        "Unsupported option {}",
                        String::from_utf8_lossy(o)
                    )));
                }
            }
            if cond.nx && (cond.xx || cond.gt || cond.lt) {
                return Err(Frame::err(
                    "NX and XX, GT or LT options at the same time are not compatible",
                ));
            }
            if cond.gt && cond.lt {
                return Err(Frame::err(
                    "GT and LT options at the same time are not compatible",
                ));
            }
            let when = int_arg(&argv[2])?;
            let name = match name {
                "expire" => "expire",
                "pexpire" => "pexpire",
                "expireat" => "expireat",
                _ => "pexpireat",
            };
            KeyWrite::Expire {
                key: a(1),
                when,
                seconds: !name.starts_with('p'),
                absolute: name.ends_with("at"),
                cond,
                name,
            }
            .into()
        }
        "ttl" | "pttl" => KeyRead::Ttl {
            key: a(1),
            ms: name == "pttl",
        }
        .into(),
        "expiretime" | "pexpiretime" => KeyRead::ExpireTime {
            key: a(1),
            ms: name == "pexpiretime",
        }
        .into(),
        "persist" => KeyWrite::Persist(a(1)).into(),
        "dbsize" => KeyRead::DbSize.into(),
        "flushdb" | "flushall" => {
            match &argv[1..] {
                [] => {}
                [o] if eq(o, "async") || eq(o, "sync") => {}
                _ => return Err(syntax()),
            }
            if name == "flushall" {
                KeyWrite::FlushAll.into()
            } else {
                KeyWrite::Flush.into()
            }
        }
        _ => return Err(super::unknown_command(argv)),
    })
}

/// RESTORE's options, checked as `restoreCommand` does (before anything else).
fn parse_restore(argv: &[Bytes]) -> Result<KeyWrite, Frame> {
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq) = (false, false);
    let mut j = 4;
    while j < argv.len() {
        let more = j + 1 < argv.len();
        if eq(&argv[j], "replace") {
            replace = true;
        } else if eq(&argv[j], "absttl") {
            absttl = true;
        } else if eq(&argv[j], "idletime") && more && !freq {
            if int_arg(&argv[j + 1])? < 0 {
                return Err(Frame::err("Invalid IDLETIME value, must be >= 0"));
            }
            idle = true;
            j += 1;
        } else if eq(&argv[j], "freq") && more && !idle {
            if !(0..=255).contains(&int_arg(&argv[j + 1])?) {
                return Err(Frame::err("Invalid FREQ value, must be >= 0 and <= 255"));
            }
            freq = true;
            j += 1;
        } else {
            return Err(syntax());
        }
        j += 1;
    }
    Ok(KeyWrite::Restore {
        key: argv[1].clone(),
        ttl: argv[2].clone(),
        payload: argv[3].clone(),
        replace,
        absttl,
    })
}

/// The reply to a refused payload or value, from [`RdbError`]'s Redis text.
fn rdb_error(e: RdbError) -> Frame {
    Frame::err(e.to_string())
}

/// RANDOMKEY: a live key at a random SCAN position (the first at or after a random cursor,
/// wrapping around), or nil for an empty keyspace. O(log n) per probe; a few probes skip
/// positions whose keys have all expired before falling back to the first live key.
fn random_key(ks: &Keyspace, now: u64) -> Frame {
    let mut rng = super::random::read_rng(now);
    for _ in 0..8 {
        let (_, keys) = ks.scan(rng.next_u64(), 1, now, |_, _| true);
        if let Some(k) = keys.into_iter().next() {
            return Frame::Bulk(k);
        }
    }
    ks.keys(now)
        .next()
        .map_or(Frame::Null, |(k, _)| Frame::Bulk(k.clone()))
}

fn memory_reply(sub: &MemorySub, ks: &Keyspace, now: u64) -> Frame {
    let simple_lines =
        |lines: &[&str]| Frame::Array(lines.iter().map(|l| Frame::Simple((*l).into())).collect());
    match sub {
        MemorySub::Help => simple_lines(MEMORY_HELP),
        MemorySub::Usage(k) => ks
            .memory_usage(k, now)
            .map_or(Frame::Null, |n| Frame::Integer(n as i64)),
        MemorySub::Doctor => Frame::Bulk(Bytes::from_static(
            if ks.approx_memory_bytes() < 5 << 20 {
                MEMORY_DOCTOR_EMPTY
            } else {
                MEMORY_DOCTOR_FINE
            }
            .as_bytes(),
        )),
        MemorySub::MallocStats => Frame::bulk("Stats not supported for the current allocator"),
        MemorySub::Purge => Frame::ok(),
        MemorySub::Stats => {
            let dataset = ks.approx_memory_bytes();
            let keys = ks.len();
            let int = |n: usize| Frame::Integer(n as i64);
            let field = |name: &str| Frame::bulk(name);
            Frame::map([
                (field("keys.count"), int(keys)),
                (
                    field("keys.bytes-per-key"),
                    int(if keys == 0 { 0 } else { dataset / keys }),
                ),
                (field("dataset.bytes"), int(dataset)),
                (
                    field("db.0"),
                    Frame::map([
                        (field("overhead.hashtable.main"), int(keys * 24)),
                        (
                            field("overhead.hashtable.expires"),
                            int(ks.expires_len() * 24),
                        ),
                    ]),
                ),
            ])
        }
    }
}

impl KeyRead {
    pub(super) fn read(&self, ks: &Keyspace, now: u64) -> Frame {
        match self {
            KeyRead::Exists(keys) => {
                Frame::Integer(keys.iter().filter(|k| ks.contains(k, now)).count() as i64)
            }
            KeyRead::ObjectHelp => Frame::Array(
                OBJECT_HELP
                    .iter()
                    .map(|l| Frame::Simple((*l).into()))
                    .collect(),
            ),
            KeyRead::Memory(sub) => memory_reply(sub, ks, now),
            KeyRead::Object(sub, k) => {
                let Some(e) = ks.get(k, now) else {
                    return Frame::Null;
                };
                match sub {
                    ObjectSub::Encoding => ks
                        .encoding(k, now)
                        .map_or(Frame::Null, |n| Frame::Bulk(Bytes::from_static(n.as_bytes()))),
                    ObjectSub::Refcount => {
                        let shared = matches!(&e.value, Value::Str(s)
                            if ks.encoding(k, now) == Some("int")
                                && parse_i64(s).is_some_and(|n| (0..SHARED_INTEGERS).contains(&n)));
                        Frame::Integer(if shared { SHARED_REFCOUNT } else { 1 })
                    }
                    ObjectSub::Freq => Frame::err(
                        "An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
                    ),
                }
            }
            KeyRead::Type(k) => Frame::Simple(
                ks.get(k, now)
                    .map_or("none", |e| e.value.type_name())
                    .to_string(),
            ),
            KeyRead::Keys(p) => {
                let all = p.as_ref() == b"*";
                bulk_array(
                    ks.keys(now)
                        .map(|(k, _)| k)
                        .filter(|k| all || glob::matches(p, k)),
                )
            }
            KeyRead::Scan {
                cursor,
                pattern,
                count,
                type_name,
            } => {
                let (next, keys) = ks.scan(*cursor, *count, now, |k, e| {
                    pattern.as_ref().is_none_or(|p| glob::matches(p, k))
                        && type_name
                            .as_ref()
                            .is_none_or(|t| t.eq_ignore_ascii_case(e.value.type_name().as_bytes()))
                });
                Frame::Array(vec![Frame::bulk(next.to_string()), bulk_array(&keys)])
            }
            KeyRead::Ttl { key, ms } => Frame::Integer(match ks.get(key, now) {
                None => -2,
                Some(e) => match e.expire_at {
                    None => -1,
                    Some(d) => {
                        let left = d.saturating_sub(now) as i64;
                        if *ms {
                            left
                        } else {
                            (left + 500) / 1000
                        }
                    }
                },
            }),
            KeyRead::ExpireTime { key, ms } => Frame::Integer(match ks.get(key, now) {
                None => -2,
                Some(e) => match e.expire_at {
                    None => -1,
                    Some(d) if *ms => d as i64,
                    Some(d) => (d / 1000) as i64,
                },
            }),
            KeyRead::DbSize => Frame::Integer(ks.len() as i64),
            KeyRead::RandomKey => random_key(ks, now),
            KeyRead::Sort(s) => s.read(ks, now),
            KeyRead::Dump(k) => match ks.get(k, now) {
                None => Frame::Null,
                Some(e) => match rdb::dump(&e.value, ks.encoding_sticky(k)) {
                    Ok(p) => Frame::Bulk(Bytes::from(p)),
                    Err(e) => rdb_error(e),
                },
            },
        }
    }
}

impl KeyWrite {
    pub(super) fn write(&self, ks: &mut Keyspace, now: u64) -> Frame {
        match self {
            KeyWrite::Del(keys) => Frame::Integer(
                keys.iter()
                    .filter(|k| ks.remove_live(k, now).is_some())
                    .count() as i64,
            ),
            KeyWrite::Rename { src, dst, nx } => {
                if !ks.contains(src, now) {
                    ks.purge_if_expired(src, now);
                    return Frame::err("no such key");
                }
                if *nx && ks.contains(dst, now) {
                    return Frame::Integer(0);
                }
                if src != dst {
                    // The object moves as it is: a converted encoding stays converted.
                    let large = ks.encoding_sticky(src);
                    if let Some(e) = ks.remove(src) {
                        // The entry's `Arc` moves: a value a snapshot image shares is not copied.
                        ks.insert_entry(dst.clone(), e, now);
                        ks.set_encoding_sticky(dst, large);
                    }
                }
                if *nx {
                    Frame::Integer(1)
                } else {
                    Frame::ok()
                }
            }
            KeyWrite::Expire {
                key,
                when,
                seconds,
                absolute,
                cond,
                name,
            } => {
                let invalid = || Frame::err(format!("invalid expire time in '{name}' command"));
                let mut at = *when;
                if *seconds {
                    match at.checked_mul(1000) {
                        Some(v) => at = v,
                        None => return invalid(),
                    }
                }
                if !*absolute {
                    match at.checked_add(now as i64) {
                        Some(v) => at = v,
                        None => return invalid(),
                    }
                }
                let Some(entry) = ks.get(key, now) else {
                    ks.purge_if_expired(key, now);
                    return Frame::Integer(0);
                };
                let current = entry.expire_at.map(|d| d as i64);
                let blocked = (cond.nx && current.is_some())
                    || (cond.xx && current.is_none())
                    || (cond.gt && current.is_none_or(|c| at <= c))
                    || (cond.lt && current.is_some_and(|c| at >= c));
                if blocked {
                    return Frame::Integer(0);
                }
                if at <= now as i64 {
                    ks.remove(key);
                } else {
                    ks.set_expire(key, Some(at as u64), now);
                }
                Frame::Integer(1)
            }
            KeyWrite::Persist(key) => {
                let has = ks.get(key, now).is_some_and(|e| e.expire_at.is_some());
                if has {
                    ks.set_expire(key, None, now);
                } else {
                    ks.purge_if_expired(key, now);
                }
                Frame::Integer(i64::from(has))
            }
            KeyWrite::Flush => {
                ks.clear();
                Frame::ok()
            }
            KeyWrite::FlushAll => {
                ks.clear_all();
                Frame::ok()
            }
            KeyWrite::Copy {
                src,
                dst,
                replace,
                db,
            } => {
                let target = match db {
                    None => ks.active_db(),
                    Some(n) => match in_range(ks, *n) {
                        Some(n) => n,
                        None => return Frame::err(DB_OUT_OF_RANGE),
                    },
                };
                if target == ks.active_db() && src == dst {
                    return Frame::err(SAME_OBJECT);
                }
                let Some(e) = ks.get(src, now) else {
                    ks.purge_if_expired(src, now);
                    return Frame::Integer(0);
                };
                let (value, expire_at) = (e.value.clone(), e.expire_at);
                // The copy keeps the source's encoding, as Redis's dup functions do.
                let large = ks.encoding_sticky(src);
                if target != ks.active_db() {
                    let entry = crate::keyspace::Entry { value, expire_at };
                    return Frame::Integer(i64::from(
                        ks.copy_into_db(target, dst, entry, *replace, now),
                    ));
                }
                if !*replace && ks.contains(dst, now) {
                    return Frame::Integer(0);
                }
                ks.insert(dst.clone(), value, expire_at, now);
                ks.set_encoding_sticky(dst, large);
                Frame::Integer(1)
            }
            KeyWrite::Move { key, db } => {
                let Some(n) = in_range(ks, *db) else {
                    return Frame::err(DB_OUT_OF_RANGE);
                };
                if n == ks.active_db() {
                    return Frame::err(SAME_OBJECT);
                }
                Frame::Integer(i64::from(ks.move_to_db(key, n, now)))
            }
            KeyWrite::SwapDb(a, b) => match (in_range(ks, *a), in_range(ks, *b)) {
                (Some(a), Some(b)) => {
                    ks.swap_dbs(a, b);
                    Frame::ok()
                }
                _ => Frame::err(DB_OUT_OF_RANGE),
            },
            KeyWrite::Sort(s) => s.write(ks, now),
            KeyWrite::Restore {
                key,
                ttl,
                payload,
                replace,
                absttl,
            } => {
                if !*replace && ks.contains(key, now) {
                    return Frame::error(ErrorCode::BusyKey, "Target key name already exists.");
                }
                let Some(ttl) = parse_i64(ttl) else {
                    return Frame::err(super::NOT_INT);
                };
                if ttl < 0 {
                    return Frame::err("Invalid TTL value, must be >= 0");
                }
                let value = match rdb::restore(payload) {
                    Ok(v) => v,
                    Err(e) => return rdb_error(e),
                };
                let expire_at = match (ttl, *absttl) {
                    (0, _) => None,
                    (t, true) => Some(t as u64),
                    (t, false) => Some((now as i64).saturating_add(t) as u64),
                };
                // A deadline already past: the key is not stored (and a replaced one is gone),
                // the reply is still OK, as Redis.
                ks.remove(key);
                ks.insert(key.clone(), value, expire_at, now);
                Frame::ok()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use crate::keyspace::Keyspace;
    use crate::resp::Frame;

    fn seeded() -> Keyspace {
        let mut ks = Keyspace::new();
        run(&mut ks, 0, &["mset", "a", "1", "b", "2", "c", "3"]);
        run(&mut ks, 0, &["rpush", "l", "x"]);
        run(&mut ks, 0, &["hset", "h", "f", "v"]);
        run(&mut ks, 0, &["sadd", "s", "m"]);
        ks
    }

    #[test]
    fn memory_usage_grows_with_the_value_and_is_nil_for_missing_or_expired_keys() {
        let mut ks = seeded();
        let small = match run(&mut ks, 0, &["memory", "usage", "a"]) {
            Frame::Integer(n) => n,
            other => panic!("{other:?}"),
        };
        assert!(small > 0);
        let big = "x".repeat(40_000);
        run(&mut ks, 0, &["set", "a", &big]);
        let Frame::Integer(n) = run(&mut ks, 0, &["MEMORY", "USAGE", "a", "SAMPLES", "0"]) else {
            panic!()
        };
        assert!(n >= 40_000 && n < 42_000, "{n}");
        assert_eq!(run(&mut ks, 0, &["memory", "usage", "zz"]), Frame::Null);
        run(&mut ks, 0, &["pexpireat", "b", "10"]);
        assert_eq!(run(&mut ks, 20, &["memory", "usage", "b"]), Frame::Null);
        // Redis 7.0's errors.
        assert_eq!(
            run(&mut ks, 0, &["memory", "usage", "a", "samples", "-1"]),
            e("ERR syntax error")
        );
        assert_eq!(
            run(&mut ks, 0, &["memory", "usage", "a", "samples", "x"]),
            e("ERR value is not an integer or out of range")
        );
        assert_eq!(
            run(&mut ks, 0, &["memory", "usage", "a", "bogus"]),
            e("ERR syntax error")
        );
        assert_eq!(
            run(&mut ks, 0, &["memory", "usage"]),
            e("ERR wrong number of arguments for 'memory|usage' command")
        );
        assert_eq!(
            run(&mut ks, 0, &["memory", "stats", "x"]),
            e("ERR wrong number of arguments for 'memory|stats' command")
        );
        assert_eq!(
            run(&mut ks, 0, &["memory", "nope"]),
            e("ERR unknown subcommand 'nope'. Try MEMORY HELP.")
        );
        assert_eq!(run(&mut ks, 0, &["memory", "purge"]), Frame::ok());
        assert!(matches!(run(&mut ks, 0, &["memory", "help"]), Frame::Array(l) if l.len() == 14));
        assert!(
            matches!(run(&mut ks, 0, &["memory", "doctor"]), Frame::Bulk(b) if b.starts_with(b"Hi Sam"))
        );
    }

    #[test]
    fn del_exists_type() {
        let mut ks = seeded();
        assert_eq!(run(&mut ks, 0, &["exists", "a", "a", "zz", "b"]), i(3));
        assert_eq!(run(&mut ks, 0, &["del", "a", "zz", "a"]), i(1));
        assert_eq!(run(&mut ks, 0, &["unlink", "b", "c"]), i(2));
        for (k, t) in [("l", "list"), ("h", "hash"), ("s", "set"), ("a", "none")] {
            assert_eq!(run(&mut ks, 0, &["type", k]), Frame::Simple(t.into()));
        }
        run(&mut ks, 0, &["set", "str", "v"]);
        assert_eq!(
            run(&mut ks, 0, &["type", "str"]),
            Frame::Simple("string".into())
        );
        assert_eq!(run(&mut ks, 0, &["dbsize"]), i(4));
        assert_eq!(run(&mut ks, 0, &["flushdb", "async"]), Frame::ok());
        assert_eq!(
            run(&mut ks, 0, &["flushall", "bogus"]),
            e("ERR syntax error")
        );
        assert_eq!(run(&mut ks, 0, &["flushall", "sync"]), Frame::ok());
        assert_eq!(run(&mut ks, 0, &["dbsize"]), i(0));
    }

    #[test]
    fn keys_and_scan() {
        let mut ks = seeded();
        let Frame::Array(mut all) = run(&mut ks, 0, &["keys", "*"]) else {
            panic!()
        };
        all.sort_by_key(|f| format!("{f:?}"));
        assert_eq!(Frame::Array(all), arr(&["a", "b", "c", "h", "l", "s"]));
        assert_eq!(run(&mut ks, 0, &["keys", "[h-l]"]).clone(), {
            let Frame::Array(v) = run(&mut ks, 0, &["keys", "[h-l]"]) else {
                panic!()
            };
            assert_eq!(v.len(), 2);
            Frame::Array(v)
        });
        // Full scan with COUNT 1 collects every key exactly once when nothing changes.
        let mut cursor = "0".to_string();
        let mut seen = Vec::new();
        loop {
            let Frame::Array(parts) = run(&mut ks, 0, &["scan", &cursor, "count", "1"]) else {
                panic!()
            };
            let (Frame::Bulk(c), Frame::Array(keys)) = (&parts[0], &parts[1]) else {
                panic!()
            };
            seen.extend(keys.clone());
            cursor = String::from_utf8(c.to_vec()).expect("utf8");
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(seen.len(), 6);
        let Frame::Array(parts) = run(&mut ks, 0, &["scan", "0", "count", "100", "type", "HASH"])
        else {
            panic!()
        };
        assert_eq!(parts, vec![b("0"), arr(&["h"])]);
        let Frame::Array(parts) = run(&mut ks, 0, &["scan", "0", "match", "[ab]", "count", "100"])
        else {
            panic!()
        };
        assert_eq!(parts[0], b("0"));
        assert_eq!(run(&mut ks, 0, &["scan", "x"]), e("ERR invalid cursor"));
        assert_eq!(
            run(&mut ks, 0, &["scan", "0", "count", "0"]),
            e("ERR syntax error")
        );
        assert_eq!(
            run(&mut ks, 0, &["scan", "0", "count"]),
            e("ERR syntax error")
        );
        assert_eq!(
            run(&mut ks, 0, &["scan", "0", "bogus", "1"]),
            e("ERR syntax error")
        );
        assert_eq!(
            run(&mut ks, 0, &["scan", "0", "count", "x"]),
            e("ERR value is not an integer or out of range")
        );
    }

    #[test]
    fn rename() {
        let mut ks = seeded();
        run(&mut ks, 0, &["expire", "a", "100"]);
        assert_eq!(run(&mut ks, 0, &["rename", "a", "z"]), Frame::ok());
        assert_eq!(run(&mut ks, 0, &["get", "z"]), b("1"));
        assert_eq!(run(&mut ks, 0, &["ttl", "z"]), i(100));
        assert_eq!(run(&mut ks, 0, &["rename", "a", "z"]), e("ERR no such key"));
        assert_eq!(run(&mut ks, 0, &["rename", "z", "z"]), Frame::ok());
        assert_eq!(run(&mut ks, 0, &["renamenx", "z", "b"]), i(0));
        assert_eq!(run(&mut ks, 0, &["renamenx", "z", "y"]), i(1));
        assert_eq!(run(&mut ks, 0, &["rename", "l", "b"]), Frame::ok());
        assert_eq!(
            run(&mut ks, 0, &["type", "b"]),
            Frame::Simple("list".into())
        );
    }

    #[test]
    fn expire_family() {
        let mut ks = seeded();
        let now = 1_000_000;
        assert_eq!(run(&mut ks, now, &["ttl", "nokey"]), i(-2));
        assert_eq!(run(&mut ks, now, &["pttl", "a"]), i(-1));
        assert_eq!(run(&mut ks, now, &["expiretime", "a"]), i(-1));
        assert_eq!(run(&mut ks, now, &["expire", "nokey", "10"]), i(0));
        assert_eq!(run(&mut ks, now, &["expire", "a", "10", "xx"]), i(0));
        assert_eq!(run(&mut ks, now, &["expire", "a", "10", "gt"]), i(0));
        assert_eq!(run(&mut ks, now, &["expire", "a", "10", "lt"]), i(1));
        assert_eq!(run(&mut ks, now, &["ttl", "a"]), i(10));
        assert_eq!(run(&mut ks, now, &["expire", "a", "20", "nx"]), i(0));
        assert_eq!(run(&mut ks, now, &["expire", "a", "5", "gt"]), i(0));
        assert_eq!(run(&mut ks, now, &["expire", "a", "20", "gt"]), i(1));
        assert_eq!(run(&mut ks, now, &["expire", "a", "30", "lt"]), i(0));
        assert_eq!(
            run(&mut ks, now, &["pexpire", "a", "1500", "xx", "lt"]),
            i(1)
        );
        assert_eq!(run(&mut ks, now, &["pttl", "a"]), i(1500));
        assert_eq!(run(&mut ks, now, &["ttl", "a"]), i(2));
        assert_eq!(run(&mut ks, now, &["pexpiretime", "a"]), i(1_001_500));
        assert_eq!(run(&mut ks, now, &["expiretime", "a"]), i(1001));
        assert_eq!(run(&mut ks, now, &["expireat", "b", "2000"]), i(1));
        assert_eq!(run(&mut ks, now, &["pexpiretime", "b"]), i(2_000_000));
        assert_eq!(run(&mut ks, now, &["pexpireat", "c", "2000000"]), i(1));
        assert_eq!(run(&mut ks, now, &["persist", "c"]), i(1));
        assert_eq!(run(&mut ks, now, &["persist", "c"]), i(0));
        assert_eq!(run(&mut ks, now, &["persist", "nokey"]), i(0));
        // Past deadlines delete.
        assert_eq!(run(&mut ks, now, &["expire", "c", "-1"]), i(1));
        assert_eq!(run(&mut ks, now, &["exists", "c"]), i(0));
        assert_eq!(run(&mut ks, now, &["pexpireat", "l", "5"]), i(1));
        assert_eq!(run(&mut ks, now, &["exists", "l"]), i(0));
        // Logical expiry at the stamped time.
        assert_eq!(run(&mut ks, now + 1499, &["exists", "a"]), i(1));
        assert_eq!(run(&mut ks, now + 1500, &["exists", "a"]), i(0));
        assert_eq!(run(&mut ks, now + 1500, &["ttl", "a"]), i(-2));
        // Errors.
        assert_eq!(
            run(&mut ks, now, &["expire", "b", "1", "nx", "xx"]),
            e("ERR NX and XX, GT or LT options at the same time are not compatible")
        );
        assert_eq!(
            run(&mut ks, now, &["expire", "b", "1", "gt", "lt"]),
            e("ERR GT and LT options at the same time are not compatible")
        );
        assert_eq!(
            run(&mut ks, now, &["expire", "b", "1", "foo"]),
            e("ERR Unsupported option foo")
        );
        assert_eq!(
            run(&mut ks, now, &["expire", "b", "x"]),
            e("ERR value is not an integer or out of range")
        );
        assert_eq!(
            run(&mut ks, now, &["expire", "b", "9223372036854775807"]),
            e("ERR invalid expire time in 'expire' command")
        );
        assert_eq!(
            run(&mut ks, now, &["pexpire", "b", "9223372036854775807"]),
            e("ERR invalid expire time in 'pexpire' command")
        );
        assert_eq!(
            run(&mut ks, now, &["expireat", "b", "-9223372036854775808"]),
            e("ERR invalid expire time in 'expireat' command")
        );
    }

    #[test]
    fn copy_touch_randomkey() {
        let mut ks = Keyspace::new();
        assert_eq!(run(&mut ks, 0, &["randomkey"]), Frame::Null);
        run(&mut ks, 0, &["set", "a", "1", "px", "5000"]);
        run(&mut ks, 0, &["rpush", "l", "x"]);
        assert_eq!(run(&mut ks, 0, &["copy", "a", "b"]), i(1));
        assert_eq!(run(&mut ks, 0, &["pttl", "b"]), i(5000));
        assert_eq!(run(&mut ks, 0, &["copy", "l", "b"]), i(0));
        assert_eq!(run(&mut ks, 0, &["copy", "l", "b", "replace"]), i(1));
        assert_eq!(run(&mut ks, 0, &["lrange", "b", "0", "-1"]), arr(&["x"]));
        assert_eq!(run(&mut ks, 0, &["rpush", "b", "y"]), i(2));
        assert_eq!(
            run(&mut ks, 0, &["llen", "l"]),
            i(1),
            "the copy is independent"
        );
        assert_eq!(run(&mut ks, 0, &["copy", "no", "c"]), i(0));
        assert_eq!(
            run(&mut ks, 0, &["copy", "a", "a"]),
            e("ERR source and destination objects are the same")
        );
        assert_eq!(
            run(&mut ks, 0, &["copy", "a", "c", "db", "16"]),
            e("ERR DB index is out of range")
        );
        assert_eq!(run(&mut ks, 0, &["copy", "a", "c", "db", "0"]), i(1));
        assert_eq!(
            run(&mut ks, 0, &["copy", "a", "c", "bogus"]),
            e("ERR syntax error")
        );
        assert_eq!(run(&mut ks, 0, &["touch", "a", "a", "zz"]), i(2));
        let Frame::Bulk(k) = run(&mut ks, 0, &["randomkey"]) else {
            panic!("randomkey")
        };
        assert!(["a", "b", "c", "l"].contains(&&*String::from_utf8_lossy(&k)));
        // Only expired keys left: nil, never an expired name.
        let mut ks = Keyspace::new();
        run(&mut ks, 0, &["set", "gone", "1", "px", "10"]);
        assert_eq!(run(&mut ks, 100, &["randomkey"]), Frame::Null);
    }
}
