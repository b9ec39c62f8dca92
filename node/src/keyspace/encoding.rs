//! `OBJECT ENCODING`: the name Redis 7.0 would give a value's internal representation.
//!
//! The node stores every type in one structure (strings as bytes, hashes and sets as ordered
//! trees, sorted sets as a member map plus an ordered index), so the encoding is not a
//! property of the data here; it is *derived*, to answer as Redis 7.0 does — clients, tools
//! and Redis's own test suite branch on it. Redis 7.0's rules:
//!
//! | type   | small encoding | converts to | when |
//! |--------|----------------|-------------|------|
//! | string | `int` (a canonical 64-bit integer), else `embstr` (≤ 44 bytes) | `raw` | longer than 44 bytes, or modified in place (`APPEND`, `SETRANGE`, `SETBIT`, …) |
//! | list   | `quicklist` always (7.0 has no small list encoding) | | |
//! | hash   | `listpack` | `hashtable` | more than `hash-max-listpack-entries` fields, or a field or value longer than `hash-max-listpack-value` |
//! | set    | `intset` (only canonical integers) | `hashtable` | a non-integer member, or more than `set-max-intset-entries` members |
//! | zset   | `listpack` | `skiplist` | more than `zset-max-listpack-entries` members, or a member longer than `zset-max-listpack-value` |
//! | stream | `stream` always | | |
//!
//! Redis decides an encoding when it writes a value and never re-examines it when a threshold
//! changes; conversions are one way (a hash that became a `hashtable` stays one when it
//! shrinks) until the key is deleted or replaced, or the server reloads its data, which
//! re-derives every encoding from contents. The keyspace keeps a *sticky* set of keys whose
//! value is in its large encoding: a fresh value is judged by contents ([`starts_large`]), an
//! in-place update converts by Redis's insertion rules, RENAME moves the flag. The set is not
//! part of snapshots: a restart or a snapshot install re-derives it from contents — Redis's
//! reload behaviour.
//!
//! One difference remains, documented in docs/commands.md: lowering a `*-value` threshold
//! while a key holds longer elements converts that key at its next growing write, where
//! Redis checks only the elements that write adds.
//!
//! The thresholds are this node's configuration (`CONFIG SET hash-max-listpack-entries …`),
//! held in process-wide atomics ([`set_limit`]). They influence only `OBJECT ENCODING`
//! replies, never a value or another reply, so replicas with different settings still hold
//! identical data (docs/commands.md, "OBJECT").

use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;

use super::{Keyspace, Value};
use crate::resp::parse_i64;

/// Longest string Redis 7.0 keeps as `embstr` (`OBJ_ENCODING_EMBSTR_SIZE_LIMIT`).
pub const EMBSTR_MAX: usize = 44;

/// The encoding thresholds `CONFIG SET` can change (defaults: Redis 7.0's compiled-in values,
/// hash 512 entries / 64 bytes, set 512, zset 128 / 64 — its sample redis.conf says 128 for
/// hashes, but a server started without that file uses 512).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    HashEntries,
    HashValue,
    SetIntsetEntries,
    ZsetEntries,
    ZsetValue,
}

static HASH_ENTRIES: AtomicUsize = AtomicUsize::new(512);
static HASH_VALUE: AtomicUsize = AtomicUsize::new(64);
static SET_INTSET_ENTRIES: AtomicUsize = AtomicUsize::new(512);
static ZSET_ENTRIES: AtomicUsize = AtomicUsize::new(128);
static ZSET_VALUE: AtomicUsize = AtomicUsize::new(64);

/// Beyond this many elements a value counts as converted without looking at its elements,
/// so deriving an encoding never scans a large aggregate (only reachable with a threshold
/// configured above it).
const SCAN_CAP: usize = 8192;

fn cell(l: Limit) -> &'static AtomicUsize {
    match l {
        Limit::HashEntries => &HASH_ENTRIES,
        Limit::HashValue => &HASH_VALUE,
        Limit::SetIntsetEntries => &SET_INTSET_ENTRIES,
        Limit::ZsetEntries => &ZSET_ENTRIES,
        Limit::ZsetValue => &ZSET_VALUE,
    }
}

/// Sets a threshold (from `CONFIG SET` or the configuration at start-up).
pub fn set_limit(l: Limit, v: usize) {
    cell(l).store(v, Ordering::Relaxed);
}

/// The current value of a threshold.
pub fn limit(l: Limit) -> usize {
    cell(l).load(Ordering::Relaxed)
}

/// The threshold a `CONFIG` parameter name sets, if it is one (both the 7.0 `listpack` names
/// and their `ziplist` aliases).
pub fn limit_for_param(name: &str) -> Option<Limit> {
    Some(match name {
        "hash-max-listpack-entries" | "hash-max-ziplist-entries" => Limit::HashEntries,
        "hash-max-listpack-value" | "hash-max-ziplist-value" => Limit::HashValue,
        "set-max-intset-entries" => Limit::SetIntsetEntries,
        "zset-max-listpack-entries" | "zset-max-ziplist-entries" => Limit::ZsetEntries,
        "zset-max-listpack-value" | "zset-max-ziplist-value" => Limit::ZsetValue,
        _ => return None,
    })
}

/// The element count of an aggregate (bytes are not elements: 0 for a string).
pub fn elements(v: &Value) -> usize {
    match v {
        Value::Str(_) => 0,
        Value::List(l) => l.len(),
        Value::Hash(h) => h.len(),
        Value::Set(s) => s.len(),
        Value::ZSet(z) => z.len(),
        Value::Stream(s) => s.len(),
    }
}

/// True if Redis would hold `v` in its large encoding, judging by contents alone.
pub fn exceeds_small(v: &Value) -> bool {
    match v {
        Value::Str(s) => s.len() > EMBSTR_MAX && parse_i64(s).is_none(),
        Value::List(_) => false,
        Value::Hash(h) => {
            let (n, w) = (limit(Limit::HashEntries), limit(Limit::HashValue));
            h.len() > n || h.len() > SCAN_CAP || h.iter().any(|(f, x)| f.len() > w || x.len() > w)
        }
        Value::Set(s) => {
            s.len() > limit(Limit::SetIntsetEntries)
                || s.len() > SCAN_CAP
                || s.iter().any(|m| parse_i64(m).is_none())
        }
        Value::ZSet(z) => {
            let (n, w) = (limit(Limit::ZsetEntries), limit(Limit::ZsetValue));
            z.len() > n || z.len() > SCAN_CAP || z.iter().any(|(m, _)| m.len() > w)
        }
        Value::Stream(_) => false,
    }
}

/// The `OBJECT ENCODING` name of `v`. `large` = the key's flag: for an aggregate, it
/// converted when it was written (Redis never re-examines a value when a threshold changes
/// later); for a string, it was modified in place.
pub fn name(v: &Value, large: bool) -> &'static str {
    match v {
        Value::Str(s) => {
            if large || (s.len() > EMBSTR_MAX && parse_i64(s).is_none()) {
                "raw"
            } else if parse_i64(s).is_some() {
                "int"
            } else {
                "embstr"
            }
        }
        Value::List(_) => "quicklist",
        Value::Hash(_) if large => "hashtable",
        Value::Hash(_) => "listpack",
        Value::Set(_) if large => "hashtable",
        Value::Set(_) => "intset",
        Value::ZSet(_) if large => "skiplist",
        Value::ZSet(_) => "listpack",
        Value::Stream(_) => "stream",
    }
}

/// Whether a value changed in place converts (`before_n` = its element count before; the
/// caller asks only for keys not already converted): a string so changed is `raw` from now
/// on; an aggregate converts when the write *added* to it (Redis checks only on insertion:
/// removing never converts, nor does updating a sorted-set score or a set member already
/// present; a hash converts also when a field is overwritten with a longer value) and it now
/// crosses a threshold.
pub fn converts_in_place(v: &Value, before_n: usize) -> bool {
    let n = elements(v);
    match v {
        Value::Str(_) => true,
        Value::List(_) | Value::Stream(_) => false,
        // Same count: a field overwritten (HSET) converts only by value length.
        Value::Hash(h) if n == before_n => {
            let w = limit(Limit::HashValue);
            h.len() <= SCAN_CAP && h.iter().any(|(f, x)| f.len() > w || x.len() > w)
        }
        v => n > before_n && exceeds_small(v),
    }
}

/// Whether a value written afresh (SET-like replacement, a `*STORE` destination, a snapshot
/// or restart loading it) starts in its large encoding: judged by contents, as Redis does
/// when it builds a new object or loads one.
pub fn starts_large(v: &Value) -> bool {
    !matches!(v, Value::Str(_)) && exceeds_small(v)
}

impl Keyspace {
    /// `OBJECT ENCODING key`: `None` if the key is absent at `now_ms`.
    pub fn encoding(&self, key: &[u8], now_ms: u64) -> Option<&'static str> {
        let e = self.get(key, now_ms)?;
        Some(name(&e.value, self.sticky.contains(key)))
    }

    /// Whether `key`'s value is in its large encoding (RENAME moves the object as it is).
    pub fn encoding_sticky(&self, key: &[u8]) -> bool {
        self.sticky.contains(key)
    }

    /// Sets `key`'s large-encoding flag (the destination of a RENAME takes the source's).
    pub fn set_encoding_sticky(&mut self, key: &Bytes, large: bool) {
        if !large {
            self.sticky.remove(&key[..]);
        } else if self.map.contains_key(&key[..]) {
            self.sticky.insert(key.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn strings() {
        assert_eq!(name(&Value::Str(b("12345")), false), "int");
        assert_eq!(name(&Value::Str(b("-7")), false), "int");
        assert_eq!(name(&Value::Str(b("007")), false), "embstr");
        assert_eq!(name(&Value::Str(b("hello")), false), "embstr");
        assert_eq!(name(&Value::Str(b(&"x".repeat(44))), false), "embstr");
        assert_eq!(name(&Value::Str(b(&"x".repeat(45))), false), "raw");
        assert_eq!(name(&Value::Str(b("12345")), true), "raw");
    }

    #[test]
    fn aggregates_follow_the_default_thresholds() {
        let small: BTreeSet<Bytes> = (0..512).map(|i| b(&i.to_string())).collect();
        let fresh = |v: Value| name(&v, starts_large(&v));
        assert_eq!(fresh(Value::Set(small.clone())), "intset");
        let mut big = small;
        big.insert(b("512"));
        assert_eq!(fresh(Value::Set(big)), "hashtable");
        let words: BTreeSet<Bytes> = [b("a")].into_iter().collect();
        assert_eq!(fresh(Value::Set(words)), "hashtable");

        let mut h = BTreeMap::new();
        h.insert(b("f"), b(&"v".repeat(64)));
        assert_eq!(fresh(Value::Hash(h.clone())), "listpack");
        h.insert(b("g"), b(&"v".repeat(65)));
        assert_eq!(fresh(Value::Hash(h)), "hashtable");
        assert_eq!(fresh(Value::List(Default::default())), "quicklist");
    }

    #[test]
    fn conversion_is_sticky_until_the_key_is_replaced() {
        let mut ks = Keyspace::new();
        let k = b("h");
        let long = b(&"v".repeat(100));
        ks.update(&k, 0, Some(|| Value::Hash(BTreeMap::new())), |v| {
            if let Value::Hash(h) = v {
                h.insert(b("f"), long.clone());
            }
        });
        assert_eq!(ks.encoding(b"h", 0), Some("hashtable"));
        ks.update(&k, 0, None, |v| {
            if let Value::Hash(h) = v {
                h.insert(b("f"), b("short"));
            }
        });
        // Shrinking does not convert back (Redis 7.0).
        assert_eq!(ks.encoding(b"h", 0), Some("hashtable"));
        let mut fresh = BTreeMap::new();
        fresh.insert(b("f"), b("short"));
        ks.insert(k.clone(), Value::Hash(fresh), None, 0);
        assert_eq!(ks.encoding(b"h", 0), Some("listpack"));
        ks.insert(k, Value::Str(b("1")), None, 0);
        assert_eq!(ks.encoding(b"h", 0), Some("int"));
        assert_eq!(ks.encoding(b"missing", 0), None);
    }
}
