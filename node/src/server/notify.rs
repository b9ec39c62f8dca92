//! Keyspace notifications (`notify-keyspace-events`), as Redis 7.0: for each key an applied
//! write modified, the events Redis fires for that command, published to this node's
//! subscribers of `__keyspace@<db>__:<key>` (message: the event) and
//! `__keyevent@<db>__:<event>` (message: the key).
//!
//! **Where events come from.** Every node fires for what it applies itself — the leader and
//! each follower, from the same log, as a Redis replica fires for the commands its primary
//! sends it — so a subscriber on any member of the group sees the group's events, and nothing
//! crosses nodes (unlike PUBLISH). The state machine reports each write's modified keys with
//! their type before and after ([`crate::storage::Change`]); [`events`] turns that into Redis's
//! per-command event names (learnt from Redis's `notifyKeyspaceEvent` calls), `new` when a
//! key was created, and `del` when a write left an aggregate empty. `expired` fires when the
//! node removes an expired key (active expiry entries); `evicted` is not fired: eviction
//! deletes keys with a replicated `DEL`, so the members fire `del` (docs/commands.md).
//!
//! The flags are node-local configuration (CONFIG SET is per node, as in Redis), held in one
//! atomic so the apply path reads them without a lock.

use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;

use crate::storage::{Change, KeyChange};

use super::pubsub::PubSub;

pub const KEYSPACE: u32 = 1 << 0;
pub const KEYEVENT: u32 = 1 << 1;
pub const GENERIC: u32 = 1 << 2;
pub const STRING: u32 = 1 << 3;
pub const LIST: u32 = 1 << 4;
pub const SET: u32 = 1 << 5;
pub const HASH: u32 = 1 << 6;
pub const ZSET: u32 = 1 << 7;
pub const EXPIRED: u32 = 1 << 8;
pub const EVICTED: u32 = 1 << 9;
pub const STREAM: u32 = 1 << 10;
pub const KEY_MISS: u32 = 1 << 11;
pub const MODULE: u32 = 1 << 13;
pub const NEW: u32 = 1 << 14;
/// `A`: every class except key-miss and new (as Redis).
pub const ALL: u32 =
    GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

static FLAGS: AtomicU32 = AtomicU32::new(0);

/// The configured flags.
pub fn flags() -> u32 {
    FLAGS.load(Ordering::Relaxed)
}

/// Whether any event can be published (some class and at least one of K/E).
pub fn enabled() -> bool {
    let f = flags();
    f & (KEYSPACE | KEYEVENT) != 0 && f & !(KEYSPACE | KEYEVENT) != 0
}

pub fn set_flags(f: u32) {
    FLAGS.store(f, Ordering::Relaxed)
}

/// Redis's flag letters to flags; `None` for a letter Redis does not know.
pub fn parse(classes: &str) -> Option<u32> {
    let mut f = 0;
    for c in classes.chars() {
        f |= match c {
            'A' => ALL,
            'g' => GENERIC,
            '$' => STRING,
            'l' => LIST,
            's' => SET,
            'h' => HASH,
            'z' => ZSET,
            'x' => EXPIRED,
            'e' => EVICTED,
            'K' => KEYSPACE,
            'E' => KEYEVENT,
            't' => STREAM,
            'm' => KEY_MISS,
            'd' => MODULE,
            'n' => NEW,
            _ => return None,
        };
    }
    Some(f)
}

/// The flags as CONFIG GET shows them (Redis's normal form: `A` for all classes, then K E m).
pub fn format(f: u32) -> String {
    let mut s = String::new();
    if f & ALL == ALL {
        s.push('A');
    } else {
        for (bit, c) in [
            (GENERIC, 'g'),
            (STRING, '$'),
            (LIST, 'l'),
            (SET, 's'),
            (HASH, 'h'),
            (ZSET, 'z'),
            (EXPIRED, 'x'),
            (EVICTED, 'e'),
            (STREAM, 't'),
            (MODULE, 'd'),
            (NEW, 'n'),
        ] {
            if f & bit != 0 {
                s.push(c);
            }
        }
    }
    for (bit, c) in [(KEYSPACE, 'K'), (KEYEVENT, 'E'), (KEY_MISS, 'm')] {
        if f & bit != 0 {
            s.push(c);
        }
    }
    s
}

/// The database a change happened in (FLUSHALL/FLUSHDB fire no keyspace event).
fn db_of(change: &Change) -> u32 {
    match change {
        Change::Command { db, .. } | Change::Expired { db, .. } => *db,
        Change::Flush => 0,
    }
}

/// One event: its class, name and key.
pub type Event = (u32, &'static str, Bytes);

/// Whether an argument after the command name and the key is `word`.
fn arg_is(argv: &[Bytes], word: &str) -> bool {
    argv.iter()
        .skip(2)
        .any(|a| a.eq_ignore_ascii_case(word.as_bytes()))
}

fn lower(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_ascii_lowercase()
}

/// "lpop"/"rpop" for a LEFT/RIGHT argument (`None`: not one).
fn side(arg: Option<&Bytes>, left: &'static str, right: &'static str) -> Option<&'static str> {
    let a = arg?;
    if a.eq_ignore_ascii_case(b"left") {
        Some(left)
    } else if a.eq_ignore_ascii_case(b"right") {
        Some(right)
    } else {
        None
    }
}

/// The MIN/MAX argument of ZMPOP/BZMPOP (after numkeys and the keys).
fn zmpop_event(argv: &[Bytes], first_key: usize) -> &'static str {
    let n = argv
        .get(first_key - 1)
        .and_then(|n| crate::resp::parse_i64(n))
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0);
    match argv.get(first_key.saturating_add(n)) {
        Some(a) if a.eq_ignore_ascii_case(b"max") => "zpopmax",
        _ => "zpopmin",
    }
}

/// Redis's events for the write `argv` having modified `kc` (the `pos`-th modified key), in
/// Redis's order, without `new` and the trailing `del` (added by [`events`]). A store
/// command that left its destination empty fires only `del`, handled here too.
fn command_events(argv: &[Bytes], kc: &KeyChange) -> Vec<(u32, &'static str)> {
    let name = lower(&argv[0]);
    let is_key = |i: usize| argv.get(i).is_some_and(|k| *k == kc.key);
    let gone = kc.after.is_none();
    let store = |class: u32, ev: &'static str| {
        if gone {
            vec![(GENERIC, "del")]
        } else {
            vec![(class, ev)]
        }
    };
    let expire_opt = || ["ex", "px", "exat", "pxat"].iter().any(|o| arg_is(argv, o));
    match name.as_str() {
        "set" => {
            let mut v = vec![(STRING, "set")];
            if argv.len() > 3
                && argv[3..].iter().any(|a| {
                    ["ex", "px", "exat", "pxat"]
                        .iter()
                        .any(|o| a.eq_ignore_ascii_case(o.as_bytes()))
                })
            {
                v.push((GENERIC, "expire"));
            }
            v
        }
        "setex" | "psetex" => vec![(STRING, "set"), (GENERIC, "expire")],
        "setnx" | "getset" => vec![(STRING, "set")],
        // One `set` per pair naming the key (MSET k 1 k 2 sets it twice).
        "mset" | "msetnx" => argv
            .iter()
            .skip(1)
            .step_by(2)
            .filter(|k| **k == kc.key)
            .map(|_| (STRING, "set"))
            .collect(),
        "getex" => {
            if gone {
                vec![(GENERIC, "del")]
            } else if arg_is(argv, "persist") {
                vec![(GENERIC, "persist")]
            } else if expire_opt() {
                vec![(GENERIC, "expire")]
            } else {
                vec![]
            }
        }
        "getdel" | "del" | "unlink" => vec![(GENERIC, "del")],
        "setrange" => vec![(STRING, "setrange")],
        "append" => vec![(STRING, "append")],
        "incr" | "decr" | "incrby" | "decrby" => vec![(STRING, "incrby")],
        "incrbyfloat" => vec![(STRING, "incrbyfloat")],
        "setbit" | "bitfield" => vec![(STRING, "setbit")],
        "bitop" => store(STRING, "set"),
        "pfadd" | "pfmerge" => vec![(STRING, "pfadd")],
        "expire" | "pexpire" | "expireat" | "pexpireat" => {
            if gone {
                vec![(GENERIC, "del")]
            } else {
                vec![(GENERIC, "expire")]
            }
        }
        "persist" => vec![(GENERIC, "persist")],
        "rename" | "renamenx" => {
            if is_key(1) {
                vec![(GENERIC, "rename_from")]
            } else {
                vec![(GENERIC, "rename_to")]
            }
        }
        "copy" => {
            if is_key(2) {
                vec![(GENERIC, "copy_to")]
            } else {
                vec![]
            }
        }
        "restore" => vec![(GENERIC, "restore")],
        "sort" => store(LIST, "sortstore"),
        "lpush" | "lpushx" => vec![(LIST, "lpush")],
        "rpush" | "rpushx" => vec![(LIST, "rpush")],
        "linsert" => vec![(LIST, "linsert")],
        "lset" => vec![(LIST, "lset")],
        "lpop" | "blpop" => vec![(LIST, "lpop")],
        "rpop" | "brpop" => vec![(LIST, "rpop")],
        "ltrim" => vec![(LIST, "ltrim")],
        "lrem" => vec![(LIST, "lrem")],
        "lmpop" => vec![(LIST, lmpop_event(argv, 2))],
        "blmpop" => vec![(LIST, lmpop_event(argv, 3))],
        "lmove" | "blmove" | "rpoplpush" | "brpoplpush" => {
            let (pop, push) = if name.ends_with("move") {
                (
                    side(argv.get(3), "lpop", "rpop").unwrap_or("lpop"),
                    side(argv.get(4), "lpush", "rpush").unwrap_or("lpush"),
                )
            } else {
                ("rpop", "lpush")
            };
            // The push on the destination is signalled before the pop on the source.
            let mut v = Vec::new();
            if is_key(2) {
                v.push((LIST, push));
            }
            if is_key(1) {
                v.push((LIST, pop));
            }
            v
        }
        "sadd" => vec![(SET, "sadd")],
        "srem" => vec![(SET, "srem")],
        "smove" => {
            if is_key(1) {
                vec![(SET, "srem")]
            } else {
                vec![(SET, "sadd")]
            }
        }
        "spop" => vec![(SET, "spop")],
        "sinterstore" => store(SET, "sinterstore"),
        "sunionstore" => store(SET, "sunionstore"),
        "sdiffstore" => store(SET, "sdiffstore"),
        "hset" | "hsetnx" | "hmset" => vec![(HASH, "hset")],
        "hincrby" => vec![(HASH, "hincrby")],
        "hincrbyfloat" => vec![(HASH, "hincrbyfloat")],
        "hdel" => vec![(HASH, "hdel")],
        "zadd" => {
            // The options come before the first score.
            let opts = argv.iter().skip(2).take_while(|a| {
                ["nx", "xx", "gt", "lt", "ch", "incr"]
                    .iter()
                    .any(|o| a.eq_ignore_ascii_case(o.as_bytes()))
            });
            if opts.into_iter().any(|a| a.eq_ignore_ascii_case(b"incr")) {
                vec![(ZSET, "zincr")]
            } else {
                vec![(ZSET, "zadd")]
            }
        }
        "geoadd" => vec![(ZSET, "zadd")],
        "zincrby" => vec![(ZSET, "zincr")],
        "zrem" => vec![(ZSET, "zrem")],
        "zremrangebyscore" => vec![(ZSET, "zremrangebyscore")],
        "zremrangebyrank" => vec![(ZSET, "zremrangebyrank")],
        "zremrangebylex" => vec![(ZSET, "zremrangebylex")],
        "zpopmin" | "bzpopmin" => vec![(ZSET, "zpopmin")],
        "zpopmax" | "bzpopmax" => vec![(ZSET, "zpopmax")],
        "zmpop" => vec![(ZSET, zmpop_event(argv, 2))],
        "bzmpop" => vec![(ZSET, zmpop_event(argv, 3))],
        "zunionstore" => store(ZSET, "zunionstore"),
        "zinterstore" => store(ZSET, "zinterstore"),
        "zdiffstore" => store(ZSET, "zdiffstore"),
        "zrangestore" => store(ZSET, "zrangestore"),
        "georadius" | "georadiusbymember" => store(ZSET, "georadiusstore"),
        "geosearchstore" => store(ZSET, "geosearchstore"),
        "xadd" => vec![(STREAM, "xadd")],
        "xtrim" => vec![(STREAM, "xtrim")],
        "xdel" => vec![(STREAM, "xdel")],
        "xsetid" => vec![(STREAM, "xsetid")],
        "xgroup" => match argv.get(1).map(|s| lower(s)).as_deref() {
            Some("create") => vec![(STREAM, "xgroup-create")],
            Some("setid") => vec![(STREAM, "xgroup-setid")],
            Some("destroy") => vec![(STREAM, "xgroup-destroy")],
            Some("createconsumer") => vec![(STREAM, "xgroup-createconsumer")],
            Some("delconsumer") => vec![(STREAM, "xgroup-delconsumer")],
            _ => vec![],
        },
        _ => vec![],
    }
}

/// LMPOP/BLMPOP's LEFT/RIGHT (after numkeys, at `numkeys_at`, and the keys).
fn lmpop_event(argv: &[Bytes], first_key: usize) -> &'static str {
    let n = argv
        .get(first_key - 1)
        .and_then(|n| crate::resp::parse_i64(n))
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0);
    side(argv.get(first_key.saturating_add(n)), "lpop", "rpop").unwrap_or("lpop")
}

/// Every event of `change`, in the order Redis fires them.
pub fn events(change: &Change) -> Vec<Event> {
    match change {
        Change::Flush => Vec::new(),
        Change::Expired { keys, .. } => keys
            .iter()
            .map(|k| (EXPIRED, "expired", k.clone()))
            .collect(),
        Change::Command { argv, keys, .. } => {
            let mut out = Vec::new();
            if argv.is_empty() {
                return out;
            }
            let name = lower(&argv[0]);
            let mut order: Vec<&KeyChange> = keys.iter().collect();
            if matches!(
                name.as_str(),
                "lmove" | "blmove" | "rpoplpush" | "brpoplpush"
            ) {
                // The destination is created and pushed to before the source's pop.
                order.reverse();
            }
            if matches!(name.as_str(), "rename" | "renamenx") {
                // The destination is (re)added first: `new` fires for it even if it existed.
                if let Some(dst) = keys.iter().find(|k| argv.get(2) == Some(&k.key)) {
                    out.push((NEW, "new", dst.key.clone()));
                }
                for kc in order {
                    for (class, ev) in command_events(argv, kc) {
                        out.push((class, ev, kc.key.clone()));
                    }
                }
                return out;
            }
            for kc in order {
                // A write that found and left nothing fired nothing in Redis.
                if kc.before.is_none() && kc.after.is_none() {
                    continue;
                }
                if kc.before.is_none() {
                    out.push((NEW, "new", kc.key.clone()));
                }
                let evs = command_events(argv, kc);
                let had_del = evs.iter().any(|(_, e)| *e == "del" || *e == "rename_from");
                for (class, ev) in evs {
                    out.push((class, ev, kc.key.clone()));
                }
                if kc.before.is_some() && kc.after.is_none() && !had_del {
                    out.push((GENERIC, "del", kc.key.clone()));
                }
            }
            out
        }
    }
}

/// Publishes the events of `changes` that the configured flags select to this node's
/// subscribers.
pub fn publish(pubsub: &PubSub, changes: &[Change]) {
    let f = flags();
    if f & (KEYSPACE | KEYEVENT) == 0 {
        return;
    }
    for change in changes {
        let db = db_of(change);
        for (class, ev, key) in events(change) {
            if f & class == 0 {
                continue;
            }
            if f & KEYSPACE != 0 {
                let mut chan = format!("__keyspace@{db}__:").into_bytes();
                chan.extend_from_slice(&key);
                pubsub.publish_local(
                    false,
                    &Bytes::from(chan),
                    &Bytes::from_static(ev.as_bytes()),
                );
            }
            if f & KEYEVENT != 0 {
                let chan = Bytes::from(format!("__keyevent@{db}__:{ev}"));
                pubsub.publish_local(false, &chan, &key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(a: &[&str]) -> Vec<Bytes> {
        a.iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    fn kc(k: &str, before: Option<&'static str>, after: Option<&'static str>) -> KeyChange {
        KeyChange {
            key: Bytes::copy_from_slice(k.as_bytes()),
            before,
            after,
        }
    }

    fn names(c: &Change) -> Vec<(String, String)> {
        events(c)
            .into_iter()
            .map(|(_, e, k)| (e.to_string(), String::from_utf8_lossy(&k).into_owned()))
            .collect()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn flags_round_trip_as_redis_normalises_them() {
        assert_eq!(parse("KEA").map(format).as_deref(), Some("AKE"));
        assert_eq!(parse("Elg$").map(format).as_deref(), Some("g$lE"));
        assert_eq!(parse("nKx").map(format).as_deref(), Some("xnK"));
        assert_eq!(parse("Am").map(format).as_deref(), Some("Am"));
        assert_eq!(parse("").map(format).as_deref(), Some(""));
        assert_eq!(parse("Kq"), None);
        // `A` does not include new or key-miss.
        assert_eq!(parse("A").unwrap() & (NEW | KEY_MISS), 0);
    }

    #[test]
    fn set_on_a_new_key_is_new_then_set_then_expire() {
        let c = Change::Command {
            db: 0,
            argv: argv(&["SET", "k", "v", "EX", "10"]),
            keys: vec![kc("k", None, Some("string"))],
        };
        assert_eq!(
            names(&c),
            pairs(&[("new", "k"), ("set", "k"), ("expire", "k")])
        );
    }

    #[test]
    fn emptying_pops_fire_the_pop_then_del() {
        let c = Change::Command {
            db: 0,
            argv: argv(&["RPOPLPUSH", "src", "dst"]),
            keys: vec![
                kc("src", Some("list"), None),
                kc("dst", Some("list"), Some("list")),
            ],
        };
        // The destination's push first, as Redis signals it.
        assert_eq!(
            names(&c),
            pairs(&[("lpush", "dst"), ("rpop", "src"), ("del", "src")])
        );
        let c = Change::Command {
            db: 0,
            argv: argv(&["HDEL", "h", "f"]),
            keys: vec![kc("h", Some("hash"), None)],
        };
        assert_eq!(names(&c), pairs(&[("hdel", "h"), ("del", "h")]));
    }

    #[test]
    fn rename_and_store_and_expire_in_the_past() {
        let c = Change::Command {
            db: 0,
            argv: argv(&["RENAME", "a", "b"]),
            keys: vec![kc("a", Some("string"), None), kc("b", None, Some("string"))],
        };
        assert_eq!(
            names(&c),
            pairs(&[("new", "b"), ("rename_from", "a"), ("rename_to", "b")])
        );
        let c = Change::Command {
            db: 0,
            argv: argv(&["SINTERSTORE", "d", "x", "y"]),
            keys: vec![kc("d", Some("set"), None)],
        };
        assert_eq!(names(&c), pairs(&[("del", "d")]));
        let c = Change::Command {
            db: 0,
            argv: argv(&["EXPIRE", "k", "-1"]),
            keys: vec![kc("k", Some("string"), None)],
        };
        assert_eq!(names(&c), pairs(&[("del", "k")]));
        let c = Change::Command {
            db: 0,
            argv: argv(&["ZADD", "z", "INCR", "1", "m"]),
            keys: vec![kc("z", Some("zset"), Some("zset"))],
        };
        assert_eq!(names(&c), pairs(&[("zincr", "z")]));
        let c = Change::Command {
            db: 0,
            argv: argv(&["INCRBY", "n", "2"]),
            keys: vec![kc("n", Some("string"), Some("string"))],
        };
        assert_eq!(names(&c), pairs(&[("incrby", "n")]));
    }

    #[test]
    fn expiry_fires_expired_and_flush_fires_nothing() {
        let c = Change::Expired {
            db: 0,
            keys: vec![Bytes::from_static(b"k")],
        };
        assert_eq!(names(&c), pairs(&[("expired", "k")]));
        assert!(events(&Change::Flush).is_empty());
    }
}
