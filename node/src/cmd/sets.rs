//! Set commands: SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD, the set algebra SINTER SUNION
//! SDIFF (+STORE) and SINTERCARD, SMOVE, SSCAN, SPOP, SRANDMEMBER. Members are kept ordered (a
//! `BTreeSet`), so every multi-member reply is deterministic: ascending bytewise (Redis:
//! encoding order — the differential test compares those replies as multisets,
//! docs/commands.md).
//!
//! SPOP is a write: the members it removes are drawn from [`super::random::write_rng`]
//! (seeded by the entry's stamped time, the key and the set's size), so every replica removes
//! the same ones. SRANDMEMBER is a read and draws from the per-process read stream.

use std::collections::BTreeSet;

use bytes::Bytes;

use super::{bulk, eq, reply, syntax, typed};
use crate::keyspace::{own, Keyspace, Value};
use crate::resp::{parse_i64, Frame};

/// The read commands of this family: executed against `&Keyspace` after a read barrier.
#[derive(Clone, Debug, PartialEq)]
pub enum SetRead {
    Members(Bytes),
    IsMember(Bytes, Bytes),
    MIsMember(Bytes, Vec<Bytes>),
    Card(Bytes),
    /// SINTER / SUNION / SDIFF key...
    Combine(SetOp, Vec<Bytes>),
    /// SINTERCARD numkeys key... [LIMIT n]; `limit` 0 = no limit.
    InterCard {
        keys: Vec<Bytes>,
        limit: u64,
    },
    /// SSCAN key cursor [MATCH p] [COUNT n]; bad options are reported only for a set that
    /// exists, as Redis (it parses them after the key lookup).
    Scan {
        key: Bytes,
        cursor: u64,
        opts: Result<(Option<Bytes>, usize), Frame>,
    },
    /// SRANDMEMBER key [count] (count checked at parse time, as Redis checks it first).
    RandMember(Bytes, Option<i64>),
}

/// The write commands of this family: proposed to Raft, executed at apply time.
#[derive(Clone, Debug, PartialEq)]
pub enum SetWrite {
    Add(Bytes, Vec<Bytes>),
    Rem(Bytes, Vec<Bytes>),
    /// SINTERSTORE / SUNIONSTORE / SDIFFSTORE dst key...
    Store {
        op: SetOp,
        dst: Bytes,
        keys: Vec<Bytes>,
    },
    /// SMOVE src dst member.
    Move {
        src: Bytes,
        dst: Bytes,
        member: Bytes,
    },
    /// SPOP key [count].
    Pop(Bytes, Option<u64>),
}

/// The set algebra operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetOp {
    Inter,
    Union,
    Diff,
}

pub(super) fn parse(name: &str, argv: &[Bytes]) -> Result<super::Op, Frame> {
    let a = |i: usize| argv[i].clone();
    Ok(match name {
        "sadd" => SetWrite::Add(a(1), argv[2..].to_vec()).into(),
        "srem" => SetWrite::Rem(a(1), argv[2..].to_vec()).into(),
        "smembers" => SetRead::Members(a(1)).into(),
        "sismember" => SetRead::IsMember(a(1), a(2)).into(),
        "smismember" => SetRead::MIsMember(a(1), argv[2..].to_vec()).into(),
        "scard" => SetRead::Card(a(1)).into(),
        "sinter" => SetRead::Combine(SetOp::Inter, argv[1..].to_vec()).into(),
        "sunion" => SetRead::Combine(SetOp::Union, argv[1..].to_vec()).into(),
        "sdiff" => SetRead::Combine(SetOp::Diff, argv[1..].to_vec()).into(),
        "sinterstore" | "sunionstore" | "sdiffstore" => SetWrite::Store {
            op: match name {
                "sinterstore" => SetOp::Inter,
                "sunionstore" => SetOp::Union,
                _ => SetOp::Diff,
            },
            dst: a(1),
            keys: argv[2..].to_vec(),
        }
        .into(),
        "sintercard" => parse_intercard(argv)?.into(),
        "smove" => SetWrite::Move {
            src: a(1),
            dst: a(2),
            member: a(3),
        }
        .into(),
        "sscan" => SetRead::Scan {
            key: a(1),
            cursor: super::scan_cursor(&argv[2])?,
            opts: super::zsets::parse_scan_opts(&argv[3..]),
        }
        .into(),
        "spop" => SetWrite::Pop(
            a(1),
            match &argv[2..] {
                [] => None,
                [c] => Some(
                    parse_i64(c)
                        .and_then(|n| u64::try_from(n).ok())
                        .ok_or_else(|| Frame::err("value is out of range, must be positive"))?,
                ),
                _ => return Err(syntax()),
            },
        )
        .into(),
        "srandmember" => SetRead::RandMember(
            a(1),
            match &argv[2..] {
                [] => None,
                [c] => Some(super::random::count_arg(c)?),
                _ => return Err(syntax()),
            },
        )
        .into(),
        _ => return Err(super::unknown_command(argv)),
    })
}

/// SINTERCARD numkeys key... [LIMIT n], with Redis 7.0's error texts (a non-integer numkeys
/// or LIMIT gets the same text as an out-of-range one).
fn parse_intercard(argv: &[Bytes]) -> Result<SetRead, Frame> {
    let n = parse_i64(&argv[1])
        .filter(|&n| n >= 1)
        .ok_or_else(|| Frame::err("numkeys should be greater than 0"))?;
    let n = match usize::try_from(n) {
        Ok(n) if n <= argv.len() - 2 => n,
        _ => {
            return Err(Frame::err(
                "Number of keys can't be greater than number of args",
            ))
        }
    };
    let keys = argv[2..2 + n].to_vec();
    let mut limit = 0u64;
    let mut j = 2 + n;
    while j < argv.len() {
        if eq(&argv[j], "limit") && j + 1 < argv.len() {
            limit = parse_i64(&argv[j + 1])
                .and_then(|l| u64::try_from(l).ok())
                .ok_or_else(|| Frame::err("LIMIT can't be negative"))?;
            j += 2;
        } else {
            return Err(syntax());
        }
    }
    Ok(SetRead::InterCard { keys, limit })
}

fn set_of(v: &Value) -> Option<&BTreeSet<Bytes>> {
    match v {
        Value::Set(s) => Some(s),
        _ => None,
    }
}

fn get_set<'a>(
    ks: &'a Keyspace,
    key: &[u8],
    now: u64,
) -> Result<Option<&'a BTreeSet<Bytes>>, Frame> {
    typed(ks, key, now, set_of)
}

impl SetRead {
    pub(super) fn read(&self, ks: &Keyspace, now: u64) -> Frame {
        reply(match self {
            SetRead::Members(k) => {
                get_set(ks, k, now).map(|s| Frame::set(s.into_iter().flatten().map(bulk)))
            }
            SetRead::IsMember(k, m) => get_set(ks, k, now)
                .map(|s| Frame::Integer(i64::from(s.is_some_and(|s| s.contains(m))))),
            SetRead::MIsMember(k, ms) => get_set(ks, k, now).map(|s| {
                Frame::Array(
                    ms.iter()
                        .map(|m| Frame::Integer(i64::from(s.is_some_and(|s| s.contains(m)))))
                        .collect(),
                )
            }),
            SetRead::Card(k) => {
                get_set(ks, k, now).map(|s| Frame::Integer(s.map_or(0, |s| s.len() as i64)))
            }
            SetRead::Combine(op, keys) => {
                combine(ks, *op, keys, now).map(|out| Frame::set(out.iter().map(bulk)))
            }
            SetRead::InterCard { keys, limit } => {
                inter_card(ks, keys, *limit, now).map(|n| Frame::Integer(n as i64))
            }
            SetRead::Scan { key, cursor, opts } => match get_set(ks, key, now) {
                Err(e) => Err(e),
                Ok(None) => Ok(Frame::Array(vec![
                    Frame::bulk("0"),
                    Frame::Array(Vec::new()),
                ])),
                Ok(Some(s)) => opts.clone().map(|(pattern, count)| {
                    let intset = ks.encoding(key, now) == Some("intset");
                    sscan(s, intset, *cursor, pattern.as_deref(), count)
                }),
            },
            SetRead::RandMember(key, count) => get_set(ks, key, now)
                .and_then(|s| rand_member(s, *count, &mut super::random::read_rng(now))),
        })
    }
}

impl SetWrite {
    pub(super) fn write(&self, ks: &mut Keyspace, now: u64) -> Frame {
        reply(self.write_inner(ks, now))
    }

    fn write_inner(&self, ks: &mut Keyspace, now: u64) -> Result<Frame, Frame> {
        match self {
            SetWrite::Add(key, ms) => {
                get_set(ks, key, now)?;
                let n = ks
                    .update(
                        key,
                        now,
                        Some(|| Value::Set(BTreeSet::new())),
                        |v| match v {
                            Value::Set(s) => ms.iter().filter(|m| s.insert(own(m))).count(),
                            _ => 0,
                        },
                    )
                    .unwrap_or(0);
                Ok(Frame::Integer(n as i64))
            }
            SetWrite::Store { op, dst, keys } => {
                let out = combine(ks, *op, keys, now)?;
                let n = out.len() as i64;
                // Replaced whole, deadline dropped (Redis's setKey); an empty result deletes.
                ks.remove(dst);
                if n > 0 {
                    ks.insert(own(dst), Value::Set(out), None, now);
                }
                Ok(Frame::Integer(n))
            }
            SetWrite::Move { src, dst, member } => {
                // Redis's order: a missing source answers 0 before the destination's type
                // is checked; the same key is a membership test.
                let Some(s) = get_set(ks, src, now)? else {
                    return Ok(Frame::Integer(0));
                };
                let has = s.contains(member);
                get_set(ks, dst, now)?;
                if src == dst || !has {
                    return Ok(Frame::Integer(i64::from(has)));
                }
                ks.update(src, now, None, |v| {
                    if let Value::Set(s) = v {
                        s.remove(member);
                    }
                });
                ks.update(dst, now, Some(|| Value::Set(BTreeSet::new())), |v| {
                    if let Value::Set(s) = v {
                        s.insert(own(member));
                    }
                });
                Ok(Frame::Integer(1))
            }
            SetWrite::Pop(key, count) => {
                let Some(s) = get_set(ks, key, now)? else {
                    return Ok(match count {
                        None => Frame::Null,
                        Some(_) => Frame::set(Vec::new()),
                    });
                };
                if *count == Some(0) {
                    return Ok(Frame::set(Vec::new()));
                }
                let mut rng = super::random::write_rng(now, key, s.len());
                let want = count.unwrap_or(1).min(s.len() as u64) as i64;
                let mut idx = super::random::pick(&mut rng, s.len(), want);
                idx.sort_unstable();
                let chosen: Vec<Bytes> = {
                    let mut it = s.iter().enumerate();
                    idx.iter()
                        .filter_map(|&i| it.find(|(j, _)| *j == i).map(|(_, m)| m.clone()))
                        .collect()
                };
                ks.update(key, now, None, |v| {
                    if let Value::Set(s) = v {
                        for m in &chosen {
                            s.remove(m);
                        }
                    }
                });
                Ok(match count {
                    None => chosen.first().map_or(Frame::Null, bulk),
                    Some(_) => Frame::set(chosen.iter().map(bulk)),
                })
            }
            SetWrite::Rem(key, ms) => {
                if get_set(ks, key, now)?.is_none() {
                    return Ok(Frame::Integer(0));
                }
                let n = ks
                    .update(key, now, None, |v| match v {
                        Value::Set(s) => ms.iter().filter(|m| s.remove(*m)).count(),
                        _ => 0,
                    })
                    .unwrap_or(0);
                Ok(Frame::Integer(n as i64))
            }
        }
    }
}

/// SRANDMEMBER: a bulk (or nil) without a count; with one, an array per Redis's count rules.
fn rand_member(
    s: Option<&BTreeSet<Bytes>>,
    count: Option<i64>,
    rng: &mut sdr_seeded::Rng,
) -> Result<Frame, Frame> {
    let Some(count) = count else {
        return Ok(s.map_or(Frame::Null, |s| {
            let i = rng.below(s.len() as u64) as usize;
            s.iter().nth(i).map_or(Frame::Null, bulk)
        }));
    };
    let Some(s) = s else {
        return Ok(Frame::Array(Vec::new()));
    };
    if count < 0 && count.unsigned_abs() > super::random::MAX_REPEAT {
        return Err(super::random::too_many_repeats());
    }
    let all: Vec<&Bytes> = s.iter().collect();
    let idx = super::random::pick(rng, all.len(), count);
    Ok(Frame::Array(
        idx.into_iter().map(|i| bulk(all[i])).collect(),
    ))
}

/// The sets named by `keys` (`None` = missing), or WRONGTYPE if any of them — not only the
/// first — holds another type: Redis looks every key up before computing.
fn inputs<'a>(
    ks: &'a Keyspace,
    keys: &[Bytes],
    now: u64,
) -> Result<Vec<Option<&'a BTreeSet<Bytes>>>, Frame> {
    keys.iter().map(|k| get_set(ks, k, now)).collect()
}

/// SINTER / SUNION / SDIFF of `keys` (missing keys are empty sets).
fn combine(ks: &Keyspace, op: SetOp, keys: &[Bytes], now: u64) -> Result<BTreeSet<Bytes>, Frame> {
    let sets = inputs(ks, keys, now)?;
    Ok(match op {
        SetOp::Inter => {
            let Some(present) = sets.iter().copied().collect::<Option<Vec<_>>>() else {
                return Ok(BTreeSet::new());
            };
            let Some(smallest) = present.iter().copied().min_by_key(|s| s.len()) else {
                return Ok(BTreeSet::new());
            };
            smallest
                .iter()
                .filter(|m| present.iter().all(|s| s.contains(*m)))
                .cloned()
                .collect()
        }
        SetOp::Union => sets
            .iter()
            .flatten()
            .flat_map(|s| s.iter())
            .cloned()
            .collect(),
        SetOp::Diff => {
            let Some(Some(first)) = sets.first() else {
                return Ok(BTreeSet::new());
            };
            let rest: Vec<&BTreeSet<Bytes>> = sets[1..].iter().flatten().copied().collect();
            first
                .iter()
                .filter(|m| !rest.iter().any(|s| s.contains(*m)))
                .cloned()
                .collect()
        }
    })
}

/// SINTERCARD: the intersection's size, counting stopped at `limit` (0 = no limit).
fn inter_card(ks: &Keyspace, keys: &[Bytes], limit: u64, now: u64) -> Result<u64, Frame> {
    let sets = inputs(ks, keys, now)?;
    let Some(present) = sets.into_iter().collect::<Option<Vec<_>>>() else {
        return Ok(0);
    };
    let Some(smallest) = present.iter().copied().min_by_key(|s| s.len()) else {
        return Ok(0);
    };
    let mut n = 0u64;
    for m in smallest {
        if present.iter().all(|s| s.contains(m)) {
            n += 1;
            if n == limit {
                break;
            }
        }
    }
    Ok(n)
}

/// SSCAN. A set Redis would hold as an `intset` (canonical integers, at most
/// `set-max-intset-entries`; see `keyspace::encoding`) comes back whole with cursor 0, in
/// ascending numeric order, as Redis does. A `hashtable` one is walked by
/// [`super::scan_by_position`].
fn sscan(
    s: &BTreeSet<Bytes>,
    intset: bool,
    cursor: u64,
    pattern: Option<&[u8]>,
    count: usize,
) -> Frame {
    let keep = |m: &[u8]| pattern.is_none_or(|p| super::glob::matches(p, m));
    let mut out = Vec::new();
    let mut next = 0u64;
    if intset {
        let mut nums: Vec<(i64, &Bytes)> = s
            .iter()
            .filter(|m| keep(m))
            .map(|m| (parse_i64(m).unwrap_or(0), m))
            .collect();
        nums.sort();
        out.extend(nums.into_iter().map(|(_, m)| bulk(m)));
    } else {
        let (n, visited) = super::scan_by_position(s.iter().map(|m| (m, ())), cursor, count, keep);
        next = n;
        out.extend(visited.into_iter().map(|(m, ())| bulk(m)));
    }
    Frame::Array(vec![Frame::bulk(next.to_string()), Frame::Array(out)])
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use crate::keyspace::Keyspace;

    #[test]
    fn set_commands() {
        let mut ks = Keyspace::new();
        assert_eq!(run(&mut ks, 0, &["sadd", "s", "b", "a", "b"]), i(2));
        assert_eq!(run(&mut ks, 0, &["sadd", "s", "c", "a"]), i(1));
        assert_eq!(run(&mut ks, 0, &["smembers", "s"]), set(&["a", "b", "c"]));
        assert_eq!(run(&mut ks, 0, &["smembers", "nokey"]), set(&[]));
        assert_eq!(run(&mut ks, 0, &["sismember", "s", "a"]), i(1));
        assert_eq!(run(&mut ks, 0, &["sismember", "s", "z"]), i(0));
        assert_eq!(run(&mut ks, 0, &["sismember", "nokey", "z"]), i(0));
        assert_eq!(run(&mut ks, 0, &["scard", "s"]), i(3));
        assert_eq!(run(&mut ks, 0, &["scard", "nokey"]), i(0));
        assert_eq!(run(&mut ks, 0, &["srem", "s", "a", "z"]), i(1));
        assert_eq!(run(&mut ks, 0, &["srem", "nokey", "a"]), i(0));
        assert_eq!(run(&mut ks, 0, &["srem", "s", "b", "c"]), i(2));
        assert_eq!(run(&mut ks, 0, &["exists", "s"]), i(0));
        assert_eq!(
            run(&mut ks, 0, &["sadd", "s"]),
            e("ERR wrong number of arguments for 'sadd' command")
        );
        run(&mut ks, 0, &["set", "str", "v"]);
        let wt = e("WRONGTYPE Operation against a key holding the wrong kind of value");
        for cmd in [
            &["sadd", "str", "a"][..],
            &["srem", "str", "a"],
            &["smembers", "str"],
            &["sismember", "str", "a"],
            &["scard", "str"],
        ] {
            assert_eq!(run(&mut ks, 0, cmd), wt, "{cmd:?}");
        }
    }
    fn ints(v: &[i64]) -> crate::resp::Frame {
        crate::resp::Frame::Array(v.iter().map(|&n| i(n)).collect())
    }

    #[test]
    fn smismember_and_algebra() {
        let mut ks = Keyspace::new();
        run(&mut ks, 0, &["sadd", "a", "1", "2", "3", "x"]);
        run(&mut ks, 0, &["sadd", "b", "2", "3", "4"]);
        run(&mut ks, 0, &["set", "str", "v"]);
        assert_eq!(
            run(&mut ks, 0, &["smismember", "a", "1", "4", "x"]),
            ints(&[1, 0, 1])
        );
        assert_eq!(run(&mut ks, 0, &["smismember", "nokey", "1"]), ints(&[0]));
        assert_eq!(run(&mut ks, 0, &["sinter", "a", "b"]), set(&["2", "3"]));
        assert_eq!(run(&mut ks, 0, &["sinter", "a", "nokey"]), set(&[]));
        assert_eq!(
            run(&mut ks, 0, &["sunion", "a", "b", "nokey"]),
            set(&["1", "2", "3", "4", "x"])
        );
        assert_eq!(
            run(&mut ks, 0, &["sdiff", "a", "b", "nokey"]),
            set(&["1", "x"])
        );
        assert_eq!(run(&mut ks, 0, &["sdiff", "nokey", "a"]), set(&[]));
        let wt = e("WRONGTYPE Operation against a key holding the wrong kind of value");
        // Every key is type-checked, even after a missing one or a missing first key.
        assert_eq!(run(&mut ks, 0, &["sinter", "nokey", "str"]), wt);
        assert_eq!(run(&mut ks, 0, &["sdiff", "nokey", "str"]), wt);
        assert_eq!(run(&mut ks, 0, &["sunion", "a", "str"]), wt);
        assert_eq!(run(&mut ks, 0, &["sintercard", "2", "nokey", "str"]), wt);
        assert_eq!(run(&mut ks, 0, &["sinterstore", "d", "a", "str"]), wt);
        assert_eq!(run(&mut ks, 0, &["exists", "d"]), i(0));
        // Stores: replace any type, drop the deadline, empty result deletes.
        run(&mut ks, 0, &["set", "d", "old", "ex", "100"]);
        assert_eq!(run(&mut ks, 0, &["sunionstore", "d", "a", "b"]), i(5));
        assert_eq!(
            run(&mut ks, 0, &["smembers", "d"]),
            set(&["1", "2", "3", "4", "x"])
        );
        assert_eq!(run(&mut ks, 0, &["ttl", "d"]), i(-1));
        assert_eq!(run(&mut ks, 0, &["sinterstore", "d", "d", "b"]), i(3));
        assert_eq!(run(&mut ks, 0, &["sdiffstore", "d", "d", "b"]), i(0));
        assert_eq!(run(&mut ks, 0, &["exists", "d"]), i(0));
        assert_eq!(run(&mut ks, 0, &["sdiffstore", "d", "a", "b"]), i(2));
        assert_eq!(
            run(&mut ks, 0, &["object", "encoding", "d"]),
            b("hashtable")
        );
        assert_eq!(run(&mut ks, 0, &["sinterstore", "d", "a", "nokey"]), i(0));
        assert_eq!(run(&mut ks, 0, &["exists", "d"]), i(0));
        assert_eq!(run(&mut ks, 0, &["sinterstore", "i", "a", "b"]), i(2));
        assert_eq!(run(&mut ks, 0, &["object", "encoding", "i"]), b("intset"));
    }

    #[test]
    fn sintercard_arguments() {
        let mut ks = Keyspace::new();
        run(&mut ks, 0, &["sadd", "a", "1", "2", "3"]);
        run(&mut ks, 0, &["sadd", "b", "1", "2", "3", "4"]);
        assert_eq!(run(&mut ks, 0, &["sintercard", "2", "a", "b"]), i(3));
        assert_eq!(
            run(&mut ks, 0, &["sintercard", "2", "a", "b", "limit", "2"]),
            i(2)
        );
        assert_eq!(
            run(&mut ks, 0, &["sintercard", "2", "a", "b", "LIMIT", "0"]),
            i(3)
        );
        assert_eq!(
            run(&mut ks, 0, &["sintercard", "2", "a", "b", "limit", "9"]),
            i(3)
        );
        assert_eq!(
            run(&mut ks, 0, &["sintercard", "1", "a", "b"]),
            e("ERR syntax error")
        );
        assert_eq!(run(&mut ks, 0, &["sintercard", "2", "a", "nokey"]), i(0));
        let nk = e("ERR numkeys should be greater than 0");
        assert_eq!(run(&mut ks, 0, &["sintercard", "0", "a"]), nk);
        assert_eq!(run(&mut ks, 0, &["sintercard", "-1", "a"]), nk);
        assert_eq!(run(&mut ks, 0, &["sintercard", "x", "a"]), nk);
        assert_eq!(
            run(&mut ks, 0, &["sintercard", "3", "a", "b"]),
            e("ERR Number of keys can't be greater than number of args")
        );
        let neg = e("ERR LIMIT can't be negative");
        assert_eq!(
            run(&mut ks, 0, &["sintercard", "1", "a", "limit", "-1"]),
            neg
        );
        assert_eq!(
            run(&mut ks, 0, &["sintercard", "1", "a", "limit", "x"]),
            neg
        );
        assert_eq!(
            run(&mut ks, 0, &["sintercard", "1", "a", "limit"]),
            e("ERR syntax error")
        );
    }

    #[test]
    fn smove() {
        let mut ks = Keyspace::new();
        run(&mut ks, 0, &["sadd", "s", "a", "b"]);
        run(&mut ks, 0, &["set", "str", "v"]);
        let wt = e("WRONGTYPE Operation against a key holding the wrong kind of value");
        assert_eq!(run(&mut ks, 0, &["smove", "nokey", "str", "a"]), i(0));
        assert_eq!(run(&mut ks, 0, &["smove", "s", "str", "a"]), wt);
        assert_eq!(run(&mut ks, 0, &["smove", "str", "s", "a"]), wt);
        assert_eq!(run(&mut ks, 0, &["smove", "s", "s", "a"]), i(1));
        assert_eq!(run(&mut ks, 0, &["smove", "s", "s", "z"]), i(0));
        assert_eq!(run(&mut ks, 0, &["smove", "s", "d", "z"]), i(0));
        assert_eq!(run(&mut ks, 0, &["exists", "d"]), i(0));
        assert_eq!(run(&mut ks, 0, &["smove", "s", "d", "a"]), i(1));
        assert_eq!(run(&mut ks, 0, &["smembers", "d"]), set(&["a"]));
        assert_eq!(run(&mut ks, 0, &["smove", "s", "d", "b"]), i(1));
        assert_eq!(run(&mut ks, 0, &["exists", "s"]), i(0));
        assert_eq!(run(&mut ks, 0, &["smembers", "d"]), set(&["a", "b"]));
        assert_eq!(run(&mut ks, 0, &["smove", "s", "d", "a"]), i(0));
    }

    #[test]
    fn sscan() {
        let mut ks = Keyspace::new();
        run(&mut ks, 0, &["sadd", "n", "10", "9", "-3"]);
        // An intset comes back whole, numerically ordered, cursor 0, COUNT ignored.
        assert_eq!(
            run(&mut ks, 0, &["sscan", "n", "0", "count", "1"]),
            crate::resp::Frame::Array(vec![b("0"), arr(&["-3", "9", "10"])])
        );
        assert_eq!(
            run(&mut ks, 0, &["sscan", "n", "0", "match", "1*"]),
            crate::resp::Frame::Array(vec![b("0"), arr(&["10"])])
        );
        let empty = crate::resp::Frame::Array(vec![b("0"), arr(&[])]);
        assert_eq!(run(&mut ks, 0, &["sscan", "nokey", "0"]), empty);
        // Options are checked only for an existing set; the cursor always.
        assert_eq!(run(&mut ks, 0, &["sscan", "nokey", "0", "bad"]), empty);
        assert_eq!(
            run(&mut ks, 0, &["sscan", "n", "0", "bad"]),
            e("ERR syntax error")
        );
        assert_eq!(
            run(&mut ks, 0, &["sscan", "n", "0", "count", "0"]),
            e("ERR syntax error")
        );
        assert_eq!(
            run(&mut ks, 0, &["sscan", "nokey", "x"]),
            e("ERR invalid cursor")
        );
        run(&mut ks, 0, &["set", "str", "v"]);
        assert_eq!(
            run(&mut ks, 0, &["sscan", "str", "0"]),
            e("WRONGTYPE Operation against a key holding the wrong kind of value")
        );
        // A hashtable set: iterating with small COUNTs returns every member exactly once.
        let members: Vec<String> = (0..300).map(|n| format!("m{n}")).collect();
        let mut w = vec!["sadd", "big"];
        w.extend(members.iter().map(|s| s.as_str()));
        run(&mut ks, 0, &w);
        let mut seen = Vec::new();
        let mut cursor = "0".to_string();
        let mut calls = 0;
        loop {
            let crate::resp::Frame::Array(r) =
                run(&mut ks, 0, &["sscan", "big", &cursor, "count", "7"])
            else {
                panic!("sscan reply")
            };
            let (crate::resp::Frame::Bulk(c), crate::resp::Frame::Array(items)) = (&r[0], &r[1])
            else {
                panic!("sscan shape")
            };
            assert!(items.len() <= 8, "count bounds a call");
            for it in items {
                let crate::resp::Frame::Bulk(m) = it else {
                    panic!("member")
                };
                seen.push(String::from_utf8_lossy(m).into_owned());
            }
            cursor = String::from_utf8_lossy(c).into_owned();
            calls += 1;
            if cursor == "0" {
                break;
            }
        }
        assert!(calls > 10);
        seen.sort();
        let mut want = members.clone();
        want.sort();
        assert_eq!(seen, want);
    }
    /// Routing and CROSSSLOT see every key: numkeys-style for SINTERCARD, ranges otherwise.
    #[test]
    fn key_positions() {
        use super::super::{key_indices, lookup};
        let keys = |w: &[&str]| {
            let argv: Vec<bytes::Bytes> = w
                .iter()
                .map(|s| bytes::Bytes::from(s.to_string()))
                .collect();
            let spec = lookup(w[0].as_bytes()).expect("in the table");
            key_indices(spec, &argv)
        };
        assert_eq!(
            keys(&["sintercard", "2", "a", "b", "limit", "1"]),
            vec![2, 3]
        );
        assert_eq!(keys(&["sinterstore", "d", "a", "b"]), vec![1, 2, 3]);
        assert_eq!(keys(&["sdiff", "a", "b", "c"]), vec![1, 2, 3]);
        assert_eq!(keys(&["smove", "a", "b", "m"]), vec![1, 2]);
        assert_eq!(keys(&["sscan", "a", "0", "count", "5"]), vec![1]);
        assert_eq!(keys(&["smismember", "a", "m", "n"]), vec![1]);
    }

    #[test]
    fn spop_and_srandmember() {
        use crate::resp::Frame;
        let mut ks = Keyspace::new();
        assert_eq!(run(&mut ks, 0, &["spop", "no"]), Frame::Null);
        assert_eq!(run(&mut ks, 0, &["spop", "no", "2"]), set(&[]));
        assert_eq!(run(&mut ks, 0, &["srandmember", "no"]), Frame::Null);
        assert_eq!(run(&mut ks, 0, &["srandmember", "no", "2"]), arr(&[]));
        run(&mut ks, 0, &["sadd", "s", "a", "b", "c", "d", "e"]);
        assert_eq!(
            run(&mut ks, 0, &["spop", "s", "-1"]),
            e("ERR value is out of range, must be positive")
        );
        assert_eq!(
            run(&mut ks, 0, &["spop", "s", "1", "2"]),
            e("ERR syntax error")
        );
        assert_eq!(run(&mut ks, 0, &["spop", "s", "0"]), set(&[]));
        let Frame::Bulk(one) = run(&mut ks, 7, &["spop", "s"]) else {
            panic!("spop reply")
        };
        assert_eq!(
            run(
                &mut ks,
                0,
                &["sismember", "s", &String::from_utf8_lossy(&one)]
            ),
            i(0)
        );
        match run(&mut ks, 7, &["spop", "s", "2"]) {
            Frame::Set(v) => assert_eq!(v.len(), 2),
            other => panic!("{other:?}"),
        }
        assert_eq!(run(&mut ks, 0, &["scard", "s"]), i(2));
        match run(&mut ks, 0, &["srandmember", "s", "-6"]) {
            Frame::Array(v) => assert_eq!(v.len(), 6),
            other => panic!("{other:?}"),
        }
        match run(&mut ks, 0, &["srandmember", "s", "6"]) {
            Frame::Array(v) => assert_eq!(v.len(), 2),
            other => panic!("{other:?}"),
        }
        match run(&mut ks, 0, &["spop", "s", "9"]) {
            Frame::Set(v) => assert_eq!(v.len(), 2),
            other => panic!("{other:?}"),
        }
        assert_eq!(run(&mut ks, 0, &["exists", "s"]), i(0));
    }
}
