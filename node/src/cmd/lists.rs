//! List commands: LPUSH RPUSH LPOP RPOP (with count) LRANGE LLEN LINDEX, LMOVE RPOPLPUSH
//! LMPOP, and the blocking forms BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP.
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
}

/// The write commands of this family: proposed to Raft, executed at apply time.
#[derive(Clone, Debug, PartialEq)]
pub enum ListWrite {
    Push {
        key: Bytes,
        values: Vec<Bytes>,
        left: bool,
    },
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
        "lpush" | "rpush" => ListWrite::Push {
            key: a(1),
            values: argv[2..].to_vec(),
            left: name == "lpush",
        }
        .into(),
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
        })
    }
}

impl ListWrite {
    pub(super) fn write(&self, ks: &mut Keyspace, now: u64) -> Frame {
        reply(self.write_inner(ks, now))
    }

    fn write_inner(&self, ks: &mut Keyspace, now: u64) -> Result<Frame, Frame> {
        match self {
            ListWrite::Push { key, values, left } => {
                get_list(ks, key, now)?;
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
