//! Hash commands: HSET HMSET HSETNX HGET HMGET HDEL HGETALL HLEN HEXISTS HINCRBY HINCRBYFLOAT
//! HKEYS HVALS HSTRLEN HRANDFIELD HSCAN. Fields are kept ordered, so replies are deterministic
//! (HRANDFIELD, a read, draws from the per-process read stream).

use std::collections::BTreeMap;

use bytes::Bytes;

use super::{bulk, bulk_array, int_arg, reply, typed, wrong_args, OVERFLOW};
use crate::keyspace::{own, Keyspace, Value};
use crate::resp::parse_i64;
use crate::resp::Frame;

/// The read commands of this family: executed against `&Keyspace` after a read barrier.
#[derive(Clone, Debug, PartialEq)]
pub enum HashRead {
    Get(Bytes, Bytes),
    MGet(Bytes, Vec<Bytes>),
    GetAll(Bytes),
    Len(Bytes),
    Exists(Bytes, Bytes),
    Keys(Bytes),
    Vals(Bytes),
    Strlen(Bytes, Bytes),
    /// HRANDFIELD key [count [WITHVALUES]].
    RandField {
        key: Bytes,
        count: Option<i64>,
        withvalues: bool,
    },
    /// HSCAN key cursor [MATCH p] [COUNT n]; options are reported only for a hash that
    /// exists, as Redis (it parses them after the key lookup).
    Scan {
        key: Bytes,
        cursor: u64,
        opts: Result<(Option<Bytes>, usize), Frame>,
    },
}

/// The write commands of this family: proposed to Raft, executed at apply time.
#[derive(Clone, Debug, PartialEq)]
pub enum HashWrite {
    /// HSET (reply: fields added) / HMSET (reply: OK).
    Set {
        key: Bytes,
        pairs: Vec<(Bytes, Bytes)>,
        ok_reply: bool,
    },
    SetNx(Bytes, Bytes, Bytes),
    Del(Bytes, Vec<Bytes>),
    IncrBy(Bytes, Bytes, i64),
    IncrByFloat(Bytes, Bytes, f64),
}

pub(super) fn parse(name: &str, argv: &[Bytes]) -> Result<super::Op, Frame> {
    let a = |i: usize| argv[i].clone();
    Ok(match name {
        "hset" | "hmset" => {
            if argv.len() & 1 == 1 {
                return Err(wrong_args(name));
            }
            let pairs = argv[2..]
                .chunks_exact(2)
                .map(|c| (c[0].clone(), c[1].clone()))
                .collect();
            HashWrite::Set {
                key: a(1),
                pairs,
                ok_reply: name == "hmset",
            }
            .into()
        }
        "hsetnx" => HashWrite::SetNx(a(1), a(2), a(3)).into(),
        "hget" => HashRead::Get(a(1), a(2)).into(),
        "hmget" => HashRead::MGet(a(1), argv[2..].to_vec()).into(),
        "hdel" => HashWrite::Del(a(1), argv[2..].to_vec()).into(),
        "hgetall" => HashRead::GetAll(a(1)).into(),
        "hlen" => HashRead::Len(a(1)).into(),
        "hexists" => HashRead::Exists(a(1), a(2)).into(),
        "hincrby" => HashWrite::IncrBy(a(1), a(2), int_arg(&argv[3])?).into(),
        "hkeys" => HashRead::Keys(a(1)).into(),
        "hvals" => HashRead::Vals(a(1)).into(),
        "hstrlen" => HashRead::Strlen(a(1), a(2)).into(),
        "hincrbyfloat" => {
            let d = super::strings::parse_float(&argv[3])
                .ok_or_else(|| Frame::err(super::NOT_FLOAT))?;
            if d.is_infinite() {
                return Err(Frame::err("value is NaN or Infinity"));
            }
            HashWrite::IncrByFloat(a(1), a(2), d).into()
        }
        "hrandfield" => {
            let count = match argv.get(2) {
                None => None,
                Some(c) => Some(super::random::count_arg(c)?),
            };
            let withvalues = match &argv[2.min(argv.len())..] {
                [] | [_] => false,
                [_, w] if super::eq(w, "withvalues") => true,
                _ => return Err(super::syntax()),
            };
            if withvalues && count.is_some_and(|n| !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&n)) {
                return Err(Frame::err("value is out of range"));
            }
            HashRead::RandField {
                key: a(1),
                count,
                withvalues,
            }
            .into()
        }
        "hscan" => HashRead::Scan {
            key: a(1),
            cursor: super::scan_cursor(&argv[2])?,
            opts: super::zsets::parse_scan_opts(&argv[3..]),
        }
        .into(),
        _ => return Err(super::unknown_command(argv)),
    })
}

fn hash_of(v: &Value) -> Option<&BTreeMap<Bytes, Bytes>> {
    match v {
        Value::Hash(h) => Some(h),
        _ => None,
    }
}

fn get_hash<'a>(
    ks: &'a Keyspace,
    key: &[u8],
    now: u64,
) -> Result<Option<&'a BTreeMap<Bytes, Bytes>>, Frame> {
    typed(ks, key, now, hash_of)
}

fn new_hash() -> Value {
    Value::Hash(BTreeMap::new())
}

impl HashRead {
    pub(super) fn read(&self, ks: &Keyspace, now: u64) -> Frame {
        reply(match self {
            HashRead::Get(k, f) => {
                get_hash(ks, k, now).map(|h| h.and_then(|h| h.get(f)).map_or(Frame::Null, bulk))
            }
            HashRead::MGet(k, fs) => get_hash(ks, k, now).map(|h| {
                Frame::Array(
                    fs.iter()
                        .map(|f| h.and_then(|h| h.get(f)).map_or(Frame::Null, bulk))
                        .collect(),
                )
            }),
            HashRead::GetAll(k) => get_hash(ks, k, now)
                .map(|h| Frame::map(h.into_iter().flatten().map(|(f, v)| (bulk(f), bulk(v))))),
            HashRead::Len(k) => {
                get_hash(ks, k, now).map(|h| Frame::Integer(h.map_or(0, |h| h.len() as i64)))
            }
            HashRead::Exists(k, f) => get_hash(ks, k, now)
                .map(|h| Frame::Integer(i64::from(h.is_some_and(|h| h.contains_key(f))))),
            HashRead::Keys(k) => {
                get_hash(ks, k, now).map(|h| bulk_array(h.into_iter().flat_map(|h| h.keys())))
            }
            HashRead::Vals(k) => {
                get_hash(ks, k, now).map(|h| bulk_array(h.into_iter().flat_map(|h| h.values())))
            }
            HashRead::Strlen(k, f) => get_hash(ks, k, now)
                .map(|h| Frame::Integer(h.and_then(|h| h.get(f)).map_or(0, |v| v.len() as i64))),
            HashRead::RandField {
                key,
                count,
                withvalues,
            } => get_hash(ks, key, now).and_then(|h| {
                rand_field(h, *count, *withvalues, &mut super::random::read_rng(now))
            }),
            HashRead::Scan { key, cursor, opts } => match get_hash(ks, key, now) {
                Err(e) => Err(e),
                Ok(None) => Ok(Frame::Array(vec![
                    Frame::bulk("0"),
                    Frame::Array(Vec::new()),
                ])),
                Ok(Some(h)) => opts.clone().map(|(pattern, count)| {
                    let listpack = ks.encoding(key, now) == Some("listpack");
                    hscan(h, listpack, *cursor, pattern.as_deref(), count)
                }),
            },
        })
    }
}

impl HashWrite {
    pub(super) fn write(&self, ks: &mut Keyspace, now: u64) -> Frame {
        reply(self.write_inner(ks, now))
    }

    fn write_inner(&self, ks: &mut Keyspace, now: u64) -> Result<Frame, Frame> {
        match self {
            HashWrite::Set {
                key,
                pairs,
                ok_reply,
            } => {
                get_hash(ks, key, now)?;
                let added = ks
                    .update(key, now, Some(new_hash), |v| match v {
                        Value::Hash(h) => pairs
                            .iter()
                            .filter(|(f, val)| h.insert(own(f), own(val)).is_none())
                            .count(),
                        _ => 0,
                    })
                    .unwrap_or(0);
                Ok(if *ok_reply {
                    Frame::ok()
                } else {
                    Frame::Integer(added as i64)
                })
            }
            HashWrite::SetNx(key, f, val) => {
                if get_hash(ks, key, now)?.is_some_and(|h| h.contains_key(f)) {
                    return Ok(Frame::Integer(0));
                }
                ks.update(key, now, Some(new_hash), |v| {
                    if let Value::Hash(h) = v {
                        h.insert(own(f), own(val));
                    }
                });
                Ok(Frame::Integer(1))
            }
            HashWrite::Del(key, fs) => {
                if get_hash(ks, key, now)?.is_none() {
                    return Ok(Frame::Integer(0));
                }
                let n = ks
                    .update(key, now, None, |v| match v {
                        Value::Hash(h) => fs.iter().filter(|f| h.remove(*f).is_some()).count(),
                        _ => 0,
                    })
                    .unwrap_or(0);
                Ok(Frame::Integer(n as i64))
            }
            HashWrite::IncrBy(key, f, delta) => {
                let cur = match get_hash(ks, key, now)?.and_then(|h| h.get(f)) {
                    None => 0,
                    Some(v) => {
                        parse_i64(v).ok_or_else(|| Frame::err("hash value is not an integer"))?
                    }
                };
                let n = cur
                    .checked_add(*delta)
                    .ok_or_else(|| Frame::err(OVERFLOW))?;
                ks.update(key, now, Some(new_hash), |v| {
                    if let Value::Hash(h) = v {
                        h.insert(own(f), Bytes::from(n.to_string()));
                    }
                });
                Ok(Frame::Integer(n))
            }
            HashWrite::IncrByFloat(key, f, delta) => {
                let cur = match get_hash(ks, key, now)?.and_then(|h| h.get(f)) {
                    None => 0.0,
                    Some(v) => super::strings::parse_float(v)
                        .ok_or_else(|| Frame::err("hash value is not a float"))?,
                };
                let n = cur + delta;
                if !n.is_finite() {
                    return Err(Frame::err("increment would produce NaN or Infinity"));
                }
                let text = Bytes::from(super::strings::format_float(n));
                ks.update(key, now, Some(new_hash), |v| {
                    if let Value::Hash(h) = v {
                        h.insert(own(f), text.clone());
                    }
                });
                Ok(Frame::Bulk(text))
            }
        }
    }
}

/// HRANDFIELD: a bulk (or nil) without a count; with one, an array per Redis's count rules,
/// with WITHVALUES `[field, value]` pairs (flat in RESP2, nested in RESP3, as Redis 7.0).
fn rand_field(
    h: Option<&BTreeMap<Bytes, Bytes>>,
    count: Option<i64>,
    withvalues: bool,
    rng: &mut sdr_seeded::Rng,
) -> Result<Frame, Frame> {
    let Some(count) = count else {
        return Ok(h.map_or(Frame::Null, |h| {
            let i = rng.below(h.len() as u64) as usize;
            h.keys().nth(i).map_or(Frame::Null, bulk)
        }));
    };
    let Some(h) = h else {
        return Ok(Frame::Array(Vec::new()));
    };
    if count < 0 && count.unsigned_abs() > super::random::MAX_REPEAT {
        return Err(super::random::too_many_repeats());
    }
    let all: Vec<(&Bytes, &Bytes)> = h.iter().collect();
    let picks = super::random::pick(rng, all.len(), count);
    Ok(if withvalues {
        Frame::Pairs(
            picks
                .into_iter()
                .map(|i| (bulk(all[i].0), bulk(all[i].1)))
                .collect(),
        )
    } else {
        Frame::Array(picks.into_iter().map(|i| bulk(all[i].0)).collect())
    })
}

/// HSCAN. A hash Redis would hold as a `listpack` comes back whole with cursor 0, as Redis
/// does; a `hashtable` one is walked by [`super::scan_by_position`]. Replies `field, value`
/// pairs; MATCH filters on the field.
fn hscan(
    h: &BTreeMap<Bytes, Bytes>,
    listpack: bool,
    cursor: u64,
    pattern: Option<&[u8]>,
    count: usize,
) -> Frame {
    let keep = |f: &[u8]| pattern.is_none_or(|p| super::glob::matches(p, f));
    let (next, visited): (u64, Vec<(&Bytes, &Bytes)>) = if listpack {
        (0, h.iter().filter(|(f, _)| keep(f)).collect())
    } else {
        super::scan_by_position(h.iter(), cursor, count, keep)
    };
    let mut out = Vec::with_capacity(visited.len() * 2);
    for (f, v) in visited {
        out.push(bulk(f));
        out.push(bulk(v));
    }
    Frame::Array(vec![Frame::bulk(next.to_string()), Frame::Array(out)])
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use crate::keyspace::Keyspace;
    use crate::resp::Frame;

    #[test]
    fn hash_commands() {
        let mut ks = Keyspace::new();
        assert_eq!(run(&mut ks, 0, &["hset", "h", "a", "1", "b", "2"]), i(2));
        assert_eq!(run(&mut ks, 0, &["hset", "h", "a", "3", "c", "4"]), i(1));
        assert_eq!(
            run(&mut ks, 0, &["hset", "h", "a"]),
            e("ERR wrong number of arguments for 'hset' command")
        );
        assert_eq!(
            run(&mut ks, 0, &["hset", "h", "a", "1", "b"]),
            e("ERR wrong number of arguments for 'hset' command")
        );
        assert_eq!(run(&mut ks, 0, &["hmset", "h", "d", "5"]), Frame::ok());
        assert_eq!(run(&mut ks, 0, &["hget", "h", "a"]), b("3"));
        assert_eq!(run(&mut ks, 0, &["hget", "h", "zz"]), Frame::Null);
        assert_eq!(run(&mut ks, 0, &["hget", "nokey", "a"]), Frame::Null);
        assert_eq!(
            run(&mut ks, 0, &["hmget", "h", "a", "zz", "b"]),
            Frame::Array(vec![b("3"), Frame::Null, b("2")])
        );
        assert_eq!(
            run(&mut ks, 0, &["hmget", "nokey", "a"]),
            Frame::Array(vec![Frame::Null])
        );
        assert_eq!(run(&mut ks, 0, &["hlen", "h"]), i(4));
        assert_eq!(run(&mut ks, 0, &["hexists", "h", "a"]), i(1));
        assert_eq!(run(&mut ks, 0, &["hexists", "h", "q"]), i(0));
        assert_eq!(run(&mut ks, 0, &["hkeys", "h"]), arr(&["a", "b", "c", "d"]));
        assert_eq!(run(&mut ks, 0, &["hvals", "h"]), arr(&["3", "2", "4", "5"]));
        assert_eq!(
            run(&mut ks, 0, &["hgetall", "h"]),
            map(&[("a", "3"), ("b", "2"), ("c", "4"), ("d", "5")])
        );
        assert_eq!(run(&mut ks, 0, &["hgetall", "nokey"]), map(&[]));
        assert_eq!(run(&mut ks, 0, &["hstrlen", "h", "a"]), i(1));
        assert_eq!(run(&mut ks, 0, &["hsetnx", "h", "a", "x"]), i(0));
        assert_eq!(run(&mut ks, 0, &["hsetnx", "h", "e", "x"]), i(1));
        assert_eq!(run(&mut ks, 0, &["hincrby", "h", "a", "10"]), i(13));
        assert_eq!(run(&mut ks, 0, &["hincrby", "h", "new", "-2"]), i(-2));
        assert_eq!(
            run(&mut ks, 0, &["hincrby", "h", "e", "1"]),
            e("ERR hash value is not an integer")
        );
        assert_eq!(
            run(&mut ks, 0, &["hincrby", "h", "a", "x"]),
            e("ERR value is not an integer or out of range")
        );
        run(&mut ks, 0, &["hset", "h", "max", "9223372036854775807"]);
        assert_eq!(
            run(&mut ks, 0, &["hincrby", "h", "max", "1"]),
            e("ERR increment or decrement would overflow")
        );
        assert_eq!(run(&mut ks, 0, &["hdel", "h", "a", "a", "zz"]), i(1));
        assert_eq!(run(&mut ks, 0, &["hdel", "nokey", "a"]), i(0));
        assert_eq!(
            run(&mut ks, 0, &["hdel", "h", "b", "c", "d", "e", "new", "max"]),
            i(6)
        );
        assert_eq!(run(&mut ks, 0, &["exists", "h"]), i(0));
        run(&mut ks, 0, &["set", "s", "v"]);
        let wt = e("WRONGTYPE Operation against a key holding the wrong kind of value");
        for cmd in [
            &["hset", "s", "a", "1"][..],
            &["hget", "s", "a"],
            &["hgetall", "s"],
            &["hdel", "s", "a"],
            &["hincrby", "s", "a", "1"],
            &["hlen", "s"],
            &["hkeys", "s"],
        ] {
            assert_eq!(run(&mut ks, 0, cmd), wt, "{cmd:?}");
        }
    }

    #[test]
    fn float_increments_random_fields_and_scan() {
        let mut ks = Keyspace::new();
        assert_eq!(
            run(&mut ks, 0, &["hincrbyfloat", "h", "f", "1.5"]),
            b("1.5")
        );
        assert_eq!(
            run(&mut ks, 0, &["hincrbyfloat", "h", "f", "-0.25"]),
            b("1.25")
        );
        assert_eq!(
            run(&mut ks, 0, &["hincrbyfloat", "h", "f", "inf"]),
            e("ERR value is NaN or Infinity")
        );
        assert_eq!(
            run(&mut ks, 0, &["hincrbyfloat", "h", "f", "x"]),
            e("ERR value is not a valid float")
        );
        run(
            &mut ks,
            0,
            &["hset", "h", "s", "abc", "big", "1.7976931348623157e308"],
        );
        assert_eq!(
            run(&mut ks, 0, &["hincrbyfloat", "h", "s", "1"]),
            e("ERR hash value is not a float")
        );
        assert_eq!(
            run(
                &mut ks,
                0,
                &["hincrbyfloat", "h", "big", "1.7976931348623157e308"]
            ),
            e("ERR increment would produce NaN or Infinity")
        );
        assert_eq!(run(&mut ks, 0, &["hrandfield", "no"]), Frame::Null);
        assert_eq!(run(&mut ks, 0, &["hrandfield", "no", "3"]), arr(&[]));
        assert_eq!(
            run2(&mut ks, 0, &["hrandfield", "h", "10", "withvalues"]),
            arr(&["big", "1.7976931348623157e308", "f", "1.25", "s", "abc"])
        );
        match run2(&mut ks, 0, &["hrandfield", "h", "-7", "withvalues"]) {
            Frame::Array(v) => assert_eq!(v.len(), 14),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            run(&mut ks, 0, &["hrandfield", "h", "1", "bogus"]),
            e("ERR syntax error")
        );
        assert_eq!(
            run(&mut ks, 0, &["hscan", "h", "0", "match", "b*"]),
            Frame::Array(vec![b("0"), arr(&["big", "1.7976931348623157e308"])])
        );
        assert_eq!(
            run(&mut ks, 0, &["hscan", "h", "x"]),
            e("ERR invalid cursor")
        );
        // A hashtable-encoded hash walks by position: every field exactly once overall.
        let mut w = vec!["hset".to_string(), "big2".to_string()];
        for n in 0..600 {
            w.push(format!("f{n}"));
            w.push("v".to_string());
        }
        let refs: Vec<&str> = w.iter().map(|s| s.as_str()).collect();
        run(&mut ks, 0, &refs);
        let (mut cursor, mut seen) = ("0".to_string(), std::collections::BTreeSet::new());
        loop {
            let Frame::Array(r) = run(&mut ks, 0, &["hscan", "big2", &cursor, "count", "50"])
            else {
                panic!("hscan reply")
            };
            let (Frame::Bulk(c), Frame::Array(items)) = (&r[0], &r[1]) else {
                panic!("hscan shape")
            };
            for pair in items.chunks(2) {
                if let Frame::Bulk(f) = &pair[0] {
                    seen.insert(f.clone());
                }
            }
            cursor = String::from_utf8_lossy(c).into_owned();
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(seen.len(), 600);
    }
}
