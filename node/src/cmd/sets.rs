//! Set commands: SADD SREM SMEMBERS SISMEMBER SCARD. Members are kept ordered, so SMEMBERS is
//! deterministic (sorted bytewise).

use std::collections::BTreeSet;

use bytes::Bytes;

use super::{bulk, reply, typed};
use crate::keyspace::{own, Keyspace, Value};
use crate::resp::Frame;

/// The read commands of this family: executed against `&Keyspace` after a read barrier.
#[derive(Clone, Debug, PartialEq)]
pub enum SetRead {
    Members(Bytes),
    IsMember(Bytes, Bytes),
    Card(Bytes),
}

/// The write commands of this family: proposed to Raft, executed at apply time.
#[derive(Clone, Debug, PartialEq)]
pub enum SetWrite {
    Add(Bytes, Vec<Bytes>),
    Rem(Bytes, Vec<Bytes>),
}

pub(super) fn parse(name: &str, argv: &[Bytes]) -> Result<super::Op, Frame> {
    let a = |i: usize| argv[i].clone();
    Ok(match name {
        "sadd" => SetWrite::Add(a(1), argv[2..].to_vec()).into(),
        "srem" => SetWrite::Rem(a(1), argv[2..].to_vec()).into(),
        "smembers" => SetRead::Members(a(1)).into(),
        "sismember" => SetRead::IsMember(a(1), a(2)).into(),
        "scard" => SetRead::Card(a(1)).into(),
        _ => return Err(super::unknown_command(argv)),
    })
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
            SetRead::Card(k) => {
                get_set(ks, k, now).map(|s| Frame::Integer(s.map_or(0, |s| s.len() as i64)))
            }
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
}
