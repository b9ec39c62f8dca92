//! List commands: LPUSH RPUSH LPOP RPOP (with count) LRANGE LLEN LINDEX.

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
        _ => return Err(super::unknown_command(argv)),
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
        }
    }
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
}
