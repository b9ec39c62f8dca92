//! List commands: LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP (with count) LRANGE LLEN LINDEX LPOS
//! LSET LTRIM LINSERT LREM, LMOVE RPOPLPUSH LMPOP, and the blocking forms BLPOP BRPOP BLMOVE
//! BRPOPLPUSH BLMPOP.
//!
//! A blocking command applies exactly like its non-blocking form with the blocking reply
//! shape (BLPOP: `[key, value]`); when nothing can be popped it replies the timeout reply
//! (nil array, nil for BLMOVE/BRPOPLPUSH) — which is Redis's answer inside MULTI and scripts.
//! Waiting for data is the server layer's job (`server::blocking`), never apply's.

use std::collections::VecDeque;

use bytes::Bytes;

use super::{bulk, int_arg, norm_range, reply, typed};
use crate::keyspace::{own, Keyspace, Value};
use crate::resp::parse_i64;
use crate::resp::Frame;

/// The read commands of this family: executed against `&Keyspace` after a read barrier.
#[derive(Clone, Debug, PartialEq)]
pub enum ListRead {
    Range(Bytes, i64, i64),
    Len(Bytes),
    /// The index, or its parse error: Redis looks the key up and checks its type first.
    Index(Bytes, Result<i64, Frame>),
    /// LPOS key element [RANK r] [COUNT n] [MAXLEN m].
    Pos {
        key: Bytes,
        element: Bytes,
        /// Non-zero; negative searches from the tail.
        rank: i64,
        /// `None` without COUNT (reply: one index or nil); `Some(0)` = all matches.
        count: Option<u64>,
        /// 0 = no limit on the elements compared.
        maxlen: u64,
    },
}

/// The write commands of this family: proposed to Raft, executed at apply time.
#[derive(Clone, Debug, PartialEq)]
pub enum ListWrite {
    /// LPUSH / RPUSH, and with `only_existing` LPUSHX / RPUSHX.
    Push {
        key: Bytes,
        values: Vec<Bytes>,
        left: bool,
        only_existing: bool,
    },
    /// LSET key index element; the index or its parse error (Redis checks the key first).
    Set(Bytes, Result<i64, Frame>, Bytes),
    /// LTRIM key start stop.
    Trim(Bytes, i64, i64),
    /// LINSERT key BEFORE|AFTER pivot element.
    Insert {
        key: Bytes,
        after: bool,
        pivot: Bytes,
        element: Bytes,
    },
    /// LREM key count element.
    Rem(Bytes, i64, Bytes),
    Pop {
        key: Bytes,
        left: bool,
        count: Option<usize>,
    },
    /// LMOVE / RPOPLPUSH / BLMOVE / BRPOPLPUSH: pop from `src`, push onto `dst`.
    Move {
        src: Bytes,
        dst: Bytes,
        from_left: bool,
        to_left: bool,
    },
    /// LMPOP / BLMPOP (`count` set: `[key, [values]]`) and BLPOP / BRPOP (`count` unset:
    /// `[key, value]`): pops from the first key of `keys` holding a list.
    MPop {
        keys: Vec<Bytes>,
        left: bool,
        count: Option<usize>,
    },
}

const NOT_POSITIVE: &str = "value is out of range, must be positive";

pub(super) fn parse(name: &str, argv: &[Bytes]) -> Result<super::Op, Frame> {
    let a = |i: usize| argv[i].clone();
    Ok(match name {
        "lpush" | "rpush" | "lpushx" | "rpushx" => ListWrite::Push {
            key: a(1),
            values: argv[2..].to_vec(),
            left: name.starts_with('l'),
            only_existing: name.ends_with('x'),
        }
        .into(),
        "lset" => ListWrite::Set(a(1), int_arg(&argv[2]), a(3)).into(),
        "ltrim" => ListWrite::Trim(a(1), int_arg(&argv[2])?, int_arg(&argv[3])?).into(),
        "linsert" => {
            let after = if super::eq(&argv[2], "after") {
                true
            } else if super::eq(&argv[2], "before") {
                false
            } else {
                return Err(super::syntax());
            };
            ListWrite::Insert {
                key: a(1),
                after,
                pivot: a(3),
                element: a(4),
            }
            .into()
        }
        "lrem" => ListWrite::Rem(a(1), int_arg(&argv[2])?, a(3)).into(),
        "lpos" => parse_lpos(argv)?.into(),
        "lpop" | "rpop" => {
            let count = match &argv[2..] {
                [] => None,
                [c] => {
                    let n = parse_i64(c)
                        .filter(|&n| n >= 0)
                        .ok_or_else(|| Frame::err(NOT_POSITIVE))?;
                    Some(n as usize)
                }
                _ => return Err(super::wrong_args(name)),
            };
            ListWrite::Pop {
                key: a(1),
                left: name == "lpop",
                count,
            }
            .into()
        }
        "lrange" => ListRead::Range(a(1), int_arg(&argv[2])?, int_arg(&argv[3])?).into(),
        "llen" => ListRead::Len(a(1)).into(),
        "lindex" => ListRead::Index(a(1), int_arg(&argv[2])).into(),
        _ => return parse_more(name, argv),
    })
}

/// LPOS's options, with Redis 7.0's checks and texts, all before the key is looked up.
fn parse_lpos(argv: &[Bytes]) -> Result<ListRead, Frame> {
    let (mut rank, mut count, mut maxlen) = (1i64, None, 0u64);
    let mut j = 3;
    while j < argv.len() {
        let more = j + 1 < argv.len();
        let opt = &argv[j];
        if super::eq(opt, "rank") && more {
            j += 1;
            rank = int_arg(&argv[j])?;
            // Redis 7.0 negates LONG_MIN to itself: a search from the tail that accepts the
            // first match, as RANK -1 does.
            if rank == i64::MIN {
                rank = -1;
            }
            if rank == 0 {
                return Err(Frame::err(
                    "RANK can't be zero: use 1 to start from the first match, 2 from the \
                     second ... or use negative to start from the end of the list",
                ));
            }
        } else if super::eq(opt, "count") && more {
            j += 1;
            count = Some(non_negative(&argv[j], "COUNT can't be negative")?);
        } else if super::eq(opt, "maxlen") && more {
            j += 1;
            maxlen = non_negative(&argv[j], "MAXLEN can't be negative")?;
        } else {
            return Err(super::syntax());
        }
        j += 1;
    }
    Ok(ListRead::Pos {
        key: argv[1].clone(),
        element: argv[2].clone(),
        rank,
        count,
        maxlen,
    })
}

/// Redis's `getPositiveLongFromObjectOrReply` with a message: the same text for a
/// non-integer and a negative value.
fn non_negative(b: &[u8], msg: &str) -> Result<u64, Frame> {
    parse_i64(b)
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| Frame::err(msg))
}

/// LPOS over `l`: positions (from the head) of the matches, from the `rank`-th match on,
/// at most `want` of them (0 = all), comparing at most `maxlen` elements (0 = all).
fn lpos(l: &VecDeque<Bytes>, element: &[u8], rank: i64, want: u64, maxlen: u64) -> Vec<i64> {
    let skip = rank.unsigned_abs() - 1;
    let limit = if maxlen == 0 {
        usize::MAX
    } else {
        maxlen as usize
    };
    let hits = |(i, x): (usize, &Bytes)| (x[..] == *element).then_some(i as i64);
    let found: Box<dyn Iterator<Item = i64>> = if rank > 0 {
        Box::new(l.iter().enumerate().take(limit).filter_map(hits))
    } else {
        Box::new(l.iter().enumerate().rev().take(limit).filter_map(hits))
    };
    let found = found.skip(skip as usize);
    if want == 0 {
        found.collect()
    } else {
        found.take(want as usize).collect()
    }
}

fn list_of(v: &Value) -> Option<&VecDeque<Bytes>> {
    match v {
        Value::List(l) => Some(l),
        _ => None,
    }
}

fn get_list<'a>(
    ks: &'a Keyspace,
    key: &[u8],
    now: u64,
) -> Result<Option<&'a VecDeque<Bytes>>, Frame> {
    typed(ks, key, now, list_of)
}

impl ListRead {
    pub(super) fn read(&self, ks: &Keyspace, now: u64) -> Frame {
        reply(match self {
            ListRead::Range(k, start, stop) => get_list(ks, k, now).map(|l| {
                let Some(l) = l else {
                    return Frame::Array(Vec::new());
                };
                match norm_range(*start, *stop, l.len()) {
                    None => Frame::Array(Vec::new()),
                    Some((s, e)) => Frame::Array(l.range(s..=e).map(bulk).collect()),
                }
            }),
            ListRead::Len(k) => {
                get_list(ks, k, now).map(|l| Frame::Integer(l.map_or(0, |l| l.len() as i64)))
            }
            ListRead::Index(k, idx) => get_list(ks, k, now).map(|l| {
                let Some(l) = l else {
                    return Frame::Null;
                };
                let idx = match idx {
                    Ok(i) => i,
                    Err(e) => return e.clone(),
                };
                let i = if *idx < 0 { l.len() as i64 + idx } else { *idx };
                if i < 0 {
                    return Frame::Null;
                }
                l.get(i as usize).map_or(Frame::Null, bulk)
            }),
            ListRead::Pos {
                key,
                element,
                rank,
                count,
                maxlen,
            } => get_list(ks, key, now).map(|l| {
                let Some(l) = l else {
                    return match count {
                        Some(_) => Frame::Array(Vec::new()),
                        None => Frame::Null,
                    };
                };
                let found = lpos(l, element, *rank, count.unwrap_or(1), *maxlen);
                match count {
                    Some(_) => Frame::Array(found.into_iter().map(Frame::Integer).collect()),
                    None => found.first().map_or(Frame::Null, |&i| Frame::Integer(i)),
                }
            }),
        })
    }
}

impl ListWrite {
    pub(super) fn write(&self, ks: &mut Keyspace, now: u64) -> Frame {
        reply(self.write_inner(ks, now))
    }

    fn write_inner(&self, ks: &mut Keyspace, now: u64) -> Result<Frame, Frame> {
        match self {
            ListWrite::Push {
                key,
                values,
                left,
                only_existing,
            } => {
                if get_list(ks, key, now)?.is_none() && *only_existing {
                    return Ok(Frame::Integer(0));
                }
                let n = ks
                    .update(
                        key,
                        now,
                        Some(|| Value::List(VecDeque::new())),
                        |v| match v {
                            Value::List(l) => {
                                for x in values {
                                    if *left {
                                        l.push_front(own(x));
                                    } else {
                                        l.push_back(own(x));
                                    }
                                }
                                l.len()
                            }
                            _ => 0,
                        },
                    )
                    .unwrap_or(0);
                Ok(Frame::Integer(n as i64))
            }
            ListWrite::Set(key, index, element) => {
                let Some(l) = get_list(ks, key, now)? else {
                    return Err(Frame::err("no such key"));
                };
                let index = index.clone()?;
                let i = if index < 0 {
                    l.len() as i64 + index
                } else {
                    index
                };
                if i < 0 || i >= l.len() as i64 {
                    return Err(Frame::err("index out of range"));
                }
                ks.update(key, now, None, |v| {
                    if let Value::List(l) = v {
                        l[i as usize] = own(element);
                    }
                });
                Ok(Frame::ok())
            }
            ListWrite::Trim(key, start, stop) => {
                let Some(l) = get_list(ks, key, now)? else {
                    return Ok(Frame::ok());
                };
                let keep = norm_range(*start, *stop, l.len());
                ks.update(key, now, None, |v| {
                    if let Value::List(l) = v {
                        match keep {
                            None => l.clear(),
                            Some((s, e)) => {
                                l.truncate(e + 1);
                                l.drain(..s);
                            }
                        }
                    }
                });
                Ok(Frame::ok())
            }
            ListWrite::Insert {
                key,
                after,
                pivot,
                element,
            } => {
                let Some(l) = get_list(ks, key, now)? else {
                    return Ok(Frame::Integer(0));
                };
                let Some(at) = l.iter().position(|x| x == pivot) else {
                    return Ok(Frame::Integer(-1));
                };
                let at = if *after { at + 1 } else { at };
                let n = ks
                    .update(key, now, None, |v| match v {
                        Value::List(l) => {
                            l.insert(at, own(element));
                            l.len()
                        }
                        _ => 0,
                    })
                    .unwrap_or(0);
                Ok(Frame::Integer(n as i64))
            }
            ListWrite::Rem(key, count, element) => {
                if get_list(ks, key, now)?.is_none() {
                    return Ok(Frame::Integer(0));
                }
                let removed = ks
                    .update(key, now, None, |v| match v {
                        Value::List(l) => list_rem(l, *count, element),
                        _ => 0,
                    })
                    .unwrap_or(0);
                Ok(Frame::Integer(removed as i64))
            }
            ListWrite::Pop { key, left, count } => {
                // Redis order: missing key (nil / nil array), type, then the count-0 exit.
                if get_list(ks, key, now)?.is_none() {
                    return Ok(if count.is_some() {
                        Frame::NullArray
                    } else {
                        Frame::Null
                    });
                }
                if *count == Some(0) {
                    return Ok(Frame::Array(Vec::new()));
                }
                let want = count.unwrap_or(1);
                let popped = ks
                    .update(key, now, None, |v| match v {
                        Value::List(l) => {
                            let n = want.min(l.len());
                            let mut out = Vec::with_capacity(n);
                            for _ in 0..n {
                                let x = if *left { l.pop_front() } else { l.pop_back() };
                                out.extend(x);
                            }
                            out
                        }
                        _ => Vec::new(),
                    })
                    .unwrap_or_default();
                Ok(match count {
                    Some(_) => Frame::Array(popped.iter().map(bulk).collect()),
                    None => popped.first().map_or(Frame::Null, bulk),
                })
            }
            ListWrite::Move {
                src,
                dst,
                from_left,
                to_left,
            } => {
                // Redis order: source type, missing source (nil), destination type.
                if get_list(ks, src, now)?.is_none() {
                    return Ok(Frame::Null);
                }
                get_list(ks, dst, now)?;
                let pop = ListWrite::Pop {
                    key: src.clone(),
                    left: *from_left,
                    count: None,
                };
                let value = match pop.write_inner(ks, now)? {
                    Frame::Bulk(v) => v,
                    other => return Ok(other),
                };
                let push = ListWrite::Push {
                    key: dst.clone(),
                    values: vec![value.clone()],
                    left: *to_left,
                    only_existing: false,
                };
                push.write_inner(ks, now)?;
                Ok(Frame::Bulk(value))
            }
            ListWrite::MPop { keys, left, count } => {
                // The first key holding a list; a wrong type before it is an error.
                let mut found = None;
                for k in keys {
                    if get_list(ks, k, now)?.is_some() {
                        found = Some(k);
                        break;
                    }
                }
                let Some(key) = found else {
                    return Ok(Frame::NullArray);
                };
                let pop = ListWrite::Pop {
                    key: key.clone(),
                    left: *left,
                    count: Some(count.unwrap_or(1)),
                };
                let Frame::Array(mut values) = pop.write_inner(ks, now)? else {
                    return Ok(Frame::NullArray);
                };
                let key = Frame::Bulk(key.clone());
                Ok(match count {
                    Some(_) => Frame::Array(vec![key, Frame::Array(values)]),
                    None => match values.pop() {
                        Some(v) => Frame::Array(vec![key, v]),
                        None => Frame::NullArray,
                    },
                })
            }
        }
    }
}

/// LREM on `l`: removes up to `|count|` elements equal to `element` (all when 0), from the
/// head for a positive count and from the tail for a negative one. Returns how many.
fn list_rem(l: &mut VecDeque<Bytes>, count: i64, element: &[u8]) -> usize {
    let limit = if count == 0 {
        usize::MAX
    } else {
        usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX)
    };
    let mut removed = 0;
    let old = std::mem::take(l);
    if count >= 0 {
        for x in old {
            if removed < limit && x[..] == *element {
                removed += 1;
            } else {
                l.push_back(x);
            }
        }
    } else {
        for x in old.into_iter().rev() {
            if removed < limit && x[..] == *element {
                removed += 1;
            } else {
                l.push_front(x);
            }
        }
    }
    removed
}

/// `LEFT` / `RIGHT` (Redis's `getListPositionFromObjectOrReply`): `true` for LEFT.
fn side(b: &[u8]) -> Result<bool, Frame> {
    if super::eq(b, "left") {
        Ok(true)
    } else if super::eq(b, "right") {
        Ok(false)
    } else {
        Err(super::syntax())
    }
}

/// LMPOP's arguments from `argv[0]` = the name's slot, `argv[1]` = numkeys (BLMPOP passes its
/// argv shifted by the timeout), in Redis's order: numkeys, where, COUNT.
fn parse_lmpop(argv: &[Bytes]) -> Result<ListWrite, Frame> {
    let n = parse_i64(&argv[1])
        .filter(|n| *n >= 1)
        .ok_or_else(|| Frame::err("numkeys should be greater than 0"))?;
    let where_idx = usize::try_from(n)
        .ok()
        .and_then(|n| n.checked_add(2))
        .filter(|w| *w < argv.len())
        .ok_or_else(super::syntax)?;
    let left = side(&argv[where_idx])?;
    let mut count = None;
    let mut j = where_idx + 1;
    while j < argv.len() {
        if count.is_none() && super::eq(&argv[j], "count") && j + 1 < argv.len() {
            let c = parse_i64(&argv[j + 1])
                .filter(|c| *c >= 1)
                .and_then(|c| usize::try_from(c).ok())
                .ok_or_else(|| Frame::err("count should be greater than 0"))?;
            count = Some(c);
            j += 2;
        } else {
            return Err(super::syntax());
        }
    }
    Ok(ListWrite::MPop {
        keys: argv[2..where_idx].to_vec(),
        left,
        count: Some(count.unwrap_or(1)),
    })
}

/// The list commands added with the blocking family (LMOVE, RPOPLPUSH, LMPOP and the
/// blocking forms), each validating its arguments in Redis's order.
fn parse_more(name: &str, argv: &[Bytes]) -> Result<super::Op, Frame> {
    let a = |i: usize| argv[i].clone();
    let timeout = |i: usize| super::parse_timeout(&argv[i]).map(|_| ());
    Ok(match name {
        "lmove" | "blmove" => {
            let from_left = side(&argv[3])?;
            let to_left = side(&argv[4])?;
            if name == "blmove" {
                timeout(5)?;
            }
            ListWrite::Move {
                src: a(1),
                dst: a(2),
                from_left,
                to_left,
            }
            .into()
        }
        "rpoplpush" | "brpoplpush" => {
            if name == "brpoplpush" {
                timeout(3)?;
            }
            ListWrite::Move {
                src: a(1),
                dst: a(2),
                from_left: false,
                to_left: true,
            }
            .into()
        }
        "lmpop" => parse_lmpop(argv)?.into(),
        "blmpop" => {
            let op = parse_lmpop(&argv[1..])?;
            timeout(1)?;
            op.into()
        }
        "blpop" | "brpop" => {
            timeout(argv.len() - 1)?;
            ListWrite::MPop {
                keys: argv[1..argv.len() - 1].to_vec(),
                left: name == "blpop",
                count: None,
            }
            .into()
        }
        _ => return Err(super::unknown_command(argv)),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use crate::keyspace::Keyspace;
    use crate::resp::Frame;

    #[test]
    fn list_commands() {
        let mut ks = Keyspace::new();
        assert_eq!(run(&mut ks, 0, &["rpush", "l", "a", "b", "c"]), i(3));
        assert_eq!(run(&mut ks, 0, &["lpush", "l", "y", "z"]), i(5));
        assert_eq!(
            run(&mut ks, 0, &["lrange", "l", "0", "-1"]),
            arr(&["z", "y", "a", "b", "c"])
        );
        assert_eq!(
            run(&mut ks, 0, &["lrange", "l", "-2", "100"]),
            arr(&["b", "c"])
        );
        assert_eq!(run(&mut ks, 0, &["lrange", "l", "3", "1"]), arr(&[]));
        assert_eq!(run(&mut ks, 0, &["lrange", "l", "-100", "0"]), arr(&["z"]));
        assert_eq!(run(&mut ks, 0, &["lrange", "l", "10", "20"]), arr(&[]));
        assert_eq!(run(&mut ks, 0, &["lrange", "nokey", "0", "-1"]), arr(&[]));
        assert_eq!(
            run(&mut ks, 0, &["lrange", "l", "x", "1"]),
            e("ERR value is not an integer or out of range")
        );
        assert_eq!(run(&mut ks, 0, &["llen", "l"]), i(5));
        assert_eq!(run(&mut ks, 0, &["llen", "nokey"]), i(0));
        assert_eq!(run(&mut ks, 0, &["lindex", "l", "0"]), b("z"));
        assert_eq!(run(&mut ks, 0, &["lindex", "l", "-1"]), b("c"));
        assert_eq!(run(&mut ks, 0, &["lindex", "l", "5"]), Frame::Null);
        assert_eq!(run(&mut ks, 0, &["lindex", "l", "-6"]), Frame::Null);
        assert_eq!(run(&mut ks, 0, &["lindex", "nokey", "0"]), Frame::Null);
        assert_eq!(run(&mut ks, 0, &["lpop", "l"]), b("z"));
        assert_eq!(run(&mut ks, 0, &["rpop", "l"]), b("c"));
        assert_eq!(run(&mut ks, 0, &["lpop", "l", "0"]), arr(&[]));
        assert_eq!(
            run(&mut ks, 0, &["lpop", "l", "-1"]),
            e("ERR value is out of range, must be positive")
        );
        assert_eq!(
            run(&mut ks, 0, &["lpop", "l", "x"]),
            e("ERR value is out of range, must be positive")
        );
        assert_eq!(
            run(&mut ks, 0, &["lpop", "l", "1", "2"]),
            e("ERR wrong number of arguments for 'lpop' command")
        );
        assert_eq!(run(&mut ks, 0, &["rpop", "l", "5"]), arr(&["b", "a", "y"]));
        assert_eq!(run(&mut ks, 0, &["exists", "l"]), i(0));
        assert_eq!(run(&mut ks, 0, &["lpop", "l"]), Frame::Null);
        assert_eq!(run(&mut ks, 0, &["lpop", "l", "2"]), Frame::NullArray);
        run(&mut ks, 0, &["rpush", "m", "1", "2"]);
        assert_eq!(run(&mut ks, 0, &["lpop", "m", "10"]), arr(&["1", "2"]));
        assert_eq!(run(&mut ks, 0, &["exists", "m"]), i(0));
        run(&mut ks, 0, &["set", "s", "v"]);
        let wt = e("WRONGTYPE Operation against a key holding the wrong kind of value");
        for cmd in [
            &["lmove", "s", "d", "left", "left"][..],
            &["lmpop", "1", "s", "left"],
            &["blpop", "s", "0"],
            &["lpush", "s", "a"][..],
            &["rpush", "s", "a"],
            &["lpop", "s"],
            &["rpop", "s", "1"],
            &["lrange", "s", "0", "1"],
            &["llen", "s"],
            &["lindex", "s", "0"],
        ] {
            assert_eq!(run(&mut ks, 0, cmd), wt, "{cmd:?}");
        }
    }

    #[test]
    fn edit_commands() {
        let mut ks = Keyspace::new();
        assert_eq!(run(&mut ks, 0, &["lpushx", "l", "a"]), i(0));
        assert_eq!(run(&mut ks, 0, &["exists", "l"]), i(0));
        run(&mut ks, 0, &["rpush", "l", "a", "b", "a", "c", "a"]);
        assert_eq!(run(&mut ks, 0, &["rpushx", "l", "z"]), i(6));
        assert_eq!(run(&mut ks, 0, &["lset", "l", "-1", "y"]), Frame::ok());
        assert_eq!(
            run(&mut ks, 0, &["lset", "l", "6", "y"]),
            e("ERR index out of range")
        );
        assert_eq!(
            run(&mut ks, 0, &["lset", "no", "0", "y"]),
            e("ERR no such key")
        );
        assert_eq!(run(&mut ks, 0, &["lpos", "l", "a"]), i(0));
        assert_eq!(run(&mut ks, 0, &["lpos", "l", "a", "rank", "2"]), i(2));
        assert_eq!(run(&mut ks, 0, &["lpos", "l", "a", "rank", "-1"]), i(4));
        assert_eq!(
            run(&mut ks, 0, &["lpos", "l", "a", "count", "0"]),
            Frame::Array(vec![i(0), i(2), i(4)])
        );
        assert_eq!(
            run(&mut ks, 0, &["lpos", "l", "a", "count", "2", "rank", "-1"]),
            Frame::Array(vec![i(4), i(2)])
        );
        assert_eq!(
            run(&mut ks, 0, &["lpos", "l", "a", "count", "0", "maxlen", "3"]),
            Frame::Array(vec![i(0), i(2)])
        );
        assert_eq!(run(&mut ks, 0, &["lpos", "l", "q"]), Frame::Null);
        assert_eq!(
            run(&mut ks, 0, &["lpos", "no", "q", "count", "1"]),
            arr(&[])
        );
        assert_eq!(
            run(&mut ks, 0, &["lpos", "l", "a", "rank", "0"]),
            e("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list")
        );
        assert_eq!(
            run(&mut ks, 0, &["lpos", "l", "a", "count", "-1"]),
            e("ERR COUNT can't be negative")
        );
        assert_eq!(
            run(&mut ks, 0, &["lpos", "l", "a", "rank"]),
            e("ERR syntax error")
        );
        assert_eq!(run(&mut ks, 0, &["linsert", "l", "before", "c", "x"]), i(7));
        assert_eq!(run(&mut ks, 0, &["linsert", "l", "after", "q", "x"]), i(-1));
        assert_eq!(run(&mut ks, 0, &["linsert", "no", "after", "q", "x"]), i(0));
        assert_eq!(
            run(&mut ks, 0, &["linsert", "l", "middle", "q", "x"]),
            e("ERR syntax error")
        );
        assert_eq!(
            run(&mut ks, 0, &["lrange", "l", "0", "-1"]),
            arr(&["a", "b", "a", "x", "c", "a", "y"])
        );
        assert_eq!(run(&mut ks, 0, &["lrem", "l", "-1", "a"]), i(1));
        assert_eq!(run(&mut ks, 0, &["lrem", "l", "0", "a"]), i(2));
        assert_eq!(
            run(&mut ks, 0, &["lrange", "l", "0", "-1"]),
            arr(&["b", "x", "c", "y"])
        );
        assert_eq!(run(&mut ks, 0, &["ltrim", "l", "1", "-2"]), Frame::ok());
        assert_eq!(
            run(&mut ks, 0, &["lrange", "l", "0", "-1"]),
            arr(&["x", "c"])
        );
        assert_eq!(run(&mut ks, 0, &["ltrim", "l", "5", "1"]), Frame::ok());
        assert_eq!(run(&mut ks, 0, &["exists", "l"]), i(0));
        assert_eq!(run(&mut ks, 0, &["ltrim", "no", "0", "1"]), Frame::ok());
    }

    #[test]
    fn move_and_mpop_commands() {
        let mut ks = Keyspace::new();
        run(&mut ks, 0, &["rpush", "a", "1", "2", "3"]);
        assert_eq!(
            run(&mut ks, 0, &["lmove", "a", "b", "left", "right"]),
            b("1")
        );
        assert_eq!(run(&mut ks, 0, &["rpoplpush", "a", "b"]), b("3"));
        assert_eq!(
            run(&mut ks, 0, &["lrange", "b", "0", "-1"]),
            arr(&["3", "1"])
        );
        // Rotation on one key.
        assert_eq!(
            run(&mut ks, 0, &["lmove", "b", "b", "left", "right"]),
            b("3")
        );
        assert_eq!(
            run(&mut ks, 0, &["lrange", "b", "0", "-1"]),
            arr(&["1", "3"])
        );
        assert_eq!(
            run(&mut ks, 0, &["lmove", "none", "b", "left", "left"]),
            Frame::Null
        );
        assert_eq!(
            run(&mut ks, 0, &["lmove", "a", "b", "up", "left"]),
            e("ERR syntax error")
        );
        run(&mut ks, 0, &["set", "s", "v"]);
        let wt = e("WRONGTYPE Operation against a key holding the wrong kind of value");
        // Destination type is checked before popping (nothing moves).
        assert_eq!(run(&mut ks, 0, &["lmove", "a", "s", "left", "left"]), wt);
        assert_eq!(run(&mut ks, 0, &["llen", "a"]), i(1));
        // Missing source: nil even when the destination has another type (Redis's order).
        assert_eq!(
            run(&mut ks, 0, &["lmove", "none", "s", "left", "left"]),
            Frame::Null
        );
        assert_eq!(
            run(
                &mut ks,
                0,
                &["lmpop", "3", "none", "a", "b", "left", "count", "5"]
            ),
            Frame::Array(vec![b("a"), arr(&["2"])])
        );
        assert_eq!(run(&mut ks, 0, &["exists", "a"]), i(0));
        assert_eq!(
            run(&mut ks, 0, &["lmpop", "1", "none", "right"]),
            Frame::NullArray
        );
        assert_eq!(run(&mut ks, 0, &["lmpop", "2", "s", "b", "right"]), wt);
        for (cmd, err) in [
            (
                &["lmpop", "0", "a", "left"][..],
                "ERR numkeys should be greater than 0",
            ),
            (&["lmpop", "2", "a", "left"], "ERR syntax error"),
            (&["lmpop", "1", "a", "up"], "ERR syntax error"),
            (
                &["lmpop", "1", "a", "left", "count", "0"],
                "ERR count should be greater than 0",
            ),
            (
                &["lmpop", "1", "a", "left", "count", "1", "count", "1"],
                "ERR syntax error",
            ),
            (&["blpop", "a", "-0.001"], "ERR timeout is negative"),
            (
                &["blpop", "a", "nan"],
                "ERR timeout is not a float or out of range",
            ),
            (
                &["blmpop", "x", "0", "a", "left"],
                "ERR numkeys should be greater than 0",
            ),
            (
                &["blmpop", "x", "1", "a", "left"],
                "ERR timeout is not a float or out of range",
            ),
        ] {
            assert_eq!(run(&mut ks, 0, cmd), e(err), "{cmd:?}");
        }
        // The blocking forms apply as their non-blocking form, with the blocking reply shape.
        run(&mut ks, 0, &["rpush", "l", "x", "y"]);
        assert_eq!(
            run(&mut ks, 0, &["blpop", "none", "l", "0"]),
            arr(&["l", "x"])
        );
        assert_eq!(run(&mut ks, 0, &["brpop", "none", "0"]), Frame::NullArray);
        assert_eq!(
            run(&mut ks, 0, &["brpoplpush", "none", "l", "0"]),
            Frame::Null
        );
        assert_eq!(
            run(&mut ks, 0, &["blmove", "l", "l", "right", "left", "0"]),
            b("y")
        );
        assert_eq!(
            run(&mut ks, 0, &["blmpop", "0", "1", "l", "left", "count", "9"]),
            Frame::Array(vec![b("l"), arr(&["y"])])
        );
    }
}
