//! SORT and SORT_RO, as Redis 7.0's `sortCommandGeneric`.
//!
//! `SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA]
//! [STORE destination]` sorts a list, set or sorted set by its elements (numerically by
//! default, bytewise with ALPHA) or by the values of other keys named by a pattern (`*` is
//! replaced by the element; `key->field` reads a hash field), and returns or stores the
//! elements, or values looked up through GET patterns (`#` is the element itself).
//!
//! SORT is a write (its STORE form creates a key), so it always goes through the log, as
//! Redis flags it `write`; SORT_RO is the read-only form. Ties sort as Redis breaks them
//! (numeric ties bytewise by element); a set sorted with a constant BY pattern (no sorting)
//! comes back in the set's bytewise order (Redis: its hash-table order, which it does not
//! specify). In a sharded cluster the server layer refuses BY and GET patterns with Redis
//! Cluster's errors ([`cluster_denial`]): the keys a pattern names may live on another shard.

use std::cmp::Ordering;

use bytes::Bytes;

use super::{eq, int_arg, syntax, wrongtype};
use crate::keyspace::{own, Keyspace, Value};
use crate::resp::Frame;

/// A parsed SORT / SORT_RO.
#[derive(Clone, Debug, PartialEq)]
pub struct Sort {
    key: Bytes,
    /// The last BY pattern.
    by: Option<Bytes>,
    /// Some BY pattern had no `*` (Redis never clears this flag, even if a later BY has one).
    dontsort: bool,
    /// Some BY pattern had a `*` (what Redis Cluster refuses).
    by_star: bool,
    /// LIMIT offset count (count `-1` = all), as given.
    limit: (i64, i64),
    gets: Vec<Bytes>,
    desc: bool,
    alpha: bool,
    store: Option<Bytes>,
}

/// `SORT`'s error for elements (or BY values) that are not numbers.
const NOT_DOUBLE: &str = "One or more scores can't be converted into double";

/// Parses SORT (`readonly` false) or SORT_RO (`readonly` true): STORE is a syntax error for
/// SORT_RO, as in Redis.
pub fn parse(argv: &[Bytes], readonly: bool) -> Result<Sort, Frame> {
    let mut s = Sort {
        key: argv[1].clone(),
        by: None,
        dontsort: false,
        by_star: false,
        limit: (0, -1),
        gets: Vec::new(),
        desc: false,
        alpha: false,
        store: None,
    };
    let mut j = 2;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        let a = &argv[j];
        if eq(a, "asc") {
            s.desc = false;
        } else if eq(a, "desc") {
            s.desc = true;
        } else if eq(a, "alpha") {
            s.alpha = true;
        } else if eq(a, "limit") && left >= 2 {
            s.limit = (int_arg(&argv[j + 1])?, int_arg(&argv[j + 2])?);
            j += 2;
        } else if !readonly && eq(a, "store") && left >= 1 {
            s.store = Some(argv[j + 1].clone());
            j += 1;
        } else if eq(a, "by") && left >= 1 {
            let p = &argv[j + 1];
            if p.contains(&b'*') {
                s.by_star = true;
            } else {
                s.dontsort = true;
            }
            s.by = Some(p.clone());
            j += 1;
        } else if eq(a, "get") && left >= 1 {
            s.gets.push(argv[j + 1].clone());
            j += 1;
        } else {
            return Err(syntax());
        }
        j += 1;
    }
    Ok(s)
}

/// The argv positions of SORT's keys: the sorted key and the STORE destination — the last
/// one, which is the one SORT writes, as Redis's `sortGetKeys` reports (the keys BY/GET
/// patterns name are not known before the command runs, as in Redis).
pub fn key_indices(argv: &[Bytes]) -> Vec<usize> {
    if argv.len() < 2 {
        return Vec::new();
    }
    let mut out = vec![1];
    let mut store = None;
    let mut j = 2;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        if eq(&argv[j], "limit") && left >= 2 {
            j += 2;
        } else if (eq(&argv[j], "by") || eq(&argv[j], "get")) && left >= 1 {
            j += 1;
        } else if eq(&argv[j], "store") && left >= 1 {
            store = Some(j + 1);
            j += 1;
        }
        j += 1;
    }
    out.extend(store);
    out
}

/// Redis Cluster's refusal of key patterns in SORT (a sharded cluster cannot look up keys
/// of other shards while applying): `None` if the command has none.
pub fn cluster_denial(argv: &[Bytes]) -> Option<Frame> {
    let readonly = argv.first().is_some_and(|n| eq(n, "sort_ro"));
    let s = parse(argv, readonly).ok()?;
    if s.by_star {
        return Some(Frame::err("BY option of SORT denied in Cluster mode."));
    }
    if !s.gets.is_empty() {
        return Some(Frame::err("GET option of SORT denied in Cluster mode."));
    }
    None
}

/// One element being sorted: the element, its numeric weight, and its BY value for ALPHA.
struct Item {
    elem: Bytes,
    score: f64,
    cmp: Option<Bytes>,
}

impl Sort {
    /// Runs the sort at time `now` and builds the reply (or the STORE result): elements or
    /// GET values in order; for STORE, the list to store (GET misses stored as "").
    fn run(&self, ks: &Keyspace, now: u64) -> Result<Vec<Option<Bytes>>, Frame> {
        let value = ks.get(&self.key, now).map(|e| &e.value);
        let mut dontsort = self.dontsort;
        let (mut alpha, mut by) = (self.alpha, self.by.as_ref());
        if dontsort && self.store.is_some() && matches!(value, Some(Value::Set(_))) {
            // Redis sorts a set anyway when storing, so the stored list is deterministic.
            dontsort = false;
            alpha = true;
            by = None;
        }
        let len = match value {
            None => 0,
            Some(Value::List(l)) => l.len(),
            Some(Value::Set(s)) => s.len(),
            Some(Value::ZSet(z)) => z.len(),
            Some(_) => return Err(wrongtype()),
        };
        let (start, end) = limits(self.limit, len);
        let mut items: Vec<Item> = Vec::new();
        let item = |b: &Bytes| Item {
            elem: b.clone(),
            score: 0.0,
            cmp: None,
        };
        let (mut start, mut end) = (start, end);
        match value {
            Some(Value::List(l)) if dontsort => {
                if end >= start {
                    let n = (end - start + 1) as usize;
                    if self.desc {
                        let top = len - 1 - start as usize;
                        items.extend(l.iter().take(top + 1).rev().take(n).map(item));
                    } else {
                        items.extend(l.iter().skip(start as usize).take(n).map(item));
                    }
                }
                end -= start;
                start = 0;
            }
            Some(Value::ZSet(z)) if dontsort => {
                if end >= start {
                    let n = (end - start + 1) as usize;
                    if self.desc {
                        let all: Vec<&Bytes> = z.iter().map(|(m, _)| m).collect();
                        let top = len - 1 - start as usize;
                        items.extend(all[..=top].iter().rev().take(n).map(|m| item(m)));
                    } else {
                        items.extend(z.iter().skip(start as usize).take(n).map(|(m, _)| item(m)));
                    }
                }
                end -= start;
                start = 0;
            }
            Some(Value::List(l)) => items.extend(l.iter().map(item)),
            Some(Value::Set(s)) => items.extend(s.iter().map(item)),
            Some(Value::ZSet(z)) => items.extend(z.iter().map(|(m, _)| item(m))),
            _ => {}
        }
        if !dontsort {
            let mut bad = false;
            for it in &mut items {
                let byval = match by {
                    Some(p) => match lookup(ks, p, &it.elem, now) {
                        Some(v) => v,
                        None => continue,
                    },
                    None => it.elem.clone(),
                };
                if alpha {
                    if by.is_some() {
                        it.cmp = Some(byval);
                    }
                } else {
                    match strtod(&byval) {
                        Some(d) => it.score = d,
                        None => bad = true,
                    }
                }
            }
            if bad {
                return Err(Frame::err(NOT_DOUBLE));
            }
            let by_pattern = by.is_some();
            items.sort_by(|a, b| {
                let c = compare(a, b, alpha, by_pattern);
                if self.desc {
                    c.reverse()
                } else {
                    c
                }
            });
        }
        let mut out = Vec::new();
        if end < start {
            return Ok(out);
        }
        for it in items
            .iter()
            .skip(start as usize)
            .take((end - start + 1) as usize)
        {
            if self.gets.is_empty() {
                out.push(Some(it.elem.clone()));
            }
            for g in &self.gets {
                out.push(lookup(ks, g, &it.elem, now));
            }
        }
        Ok(out)
    }

    /// SORT_RO, or SORT without STORE run as a read (the reply).
    pub fn read(&self, ks: &Keyspace, now: u64) -> Frame {
        match self.run(ks, now) {
            Err(e) => e,
            Ok(vals) => Frame::Array(
                vals.into_iter()
                    .map(|v| v.map_or(Frame::Null, Frame::Bulk))
                    .collect(),
            ),
        }
    }

    /// SORT at apply time: the reply, or with STORE the stored list's length (the
    /// destination is replaced, its deadline dropped; an empty result deletes it).
    pub fn write(&self, ks: &mut Keyspace, now: u64) -> Frame {
        let Some(dst) = &self.store else {
            return self.read(ks, now);
        };
        match self.run(ks, now) {
            Err(e) => e,
            Ok(vals) => {
                let n = vals.len();
                ks.remove(dst);
                if n > 0 {
                    let list = vals
                        .into_iter()
                        .map(|v| v.map_or_else(Bytes::new, |b| own(&b)));
                    ks.insert(own(dst), Value::List(list.collect()), None, now);
                }
                Frame::Integer(n as i64)
            }
        }
    }
}

/// Redis's LIMIT normalisation: the inclusive `[start, end]` of the output (`end < start`
/// when empty).
fn limits((offset, count): (i64, i64), len: usize) -> (i64, i64) {
    let len = len as i64;
    let start = offset.max(0).min(len);
    let count = count.max(-1).min(len);
    let mut end = if count < 0 {
        len - 1
    } else {
        start + count - 1
    };
    let start = if start >= len {
        end = len - 2;
        len - 1
    } else {
        start
    };
    if end >= len {
        end = len - 1;
    }
    (start, end)
}

/// Redis's `sortCompare`: numeric by weight with ties bytewise by element; ALPHA by the BY
/// value (a missing one first) or by the element.
fn compare(a: &Item, b: &Item, alpha: bool, by_pattern: bool) -> Ordering {
    if !alpha {
        return a
            .score
            .partial_cmp(&b.score)
            .unwrap_or(Ordering::Equal)
            .then_with(|| a.elem.cmp(&b.elem));
    }
    if by_pattern {
        return match (&a.cmp, &b.cmp) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) => x.cmp(y),
        };
    }
    a.elem.cmp(&b.elem)
}

/// Redis's `lookupKeyByPattern`: `#` is the element; otherwise the first `*` is replaced by
/// the element and the key read as a string, or with `->field` after the `*` as a hash
/// field. A pattern without `*`, a missing key or a key of another type is `None`.
fn lookup(ks: &Keyspace, pattern: &[u8], elem: &Bytes, now: u64) -> Option<Bytes> {
    if pattern == b"#" {
        return Some(elem.clone());
    }
    let star = pattern.iter().position(|&c| c == b'*')?;
    let after = &pattern[star + 1..];
    let arrow = after
        .windows(2)
        .position(|w| w == b"->")
        .filter(|&i| i + 2 < after.len());
    let (suffix, field) = match arrow {
        Some(i) => (&after[..i], Some(&after[i + 2..])),
        None => (after, None),
    };
    let mut key = Vec::with_capacity(pattern.len() + elem.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(suffix);
    let v = &ks.get(&key, now)?.value;
    match (v, field) {
        (Value::Hash(h), Some(f)) => h.get(f).cloned(),
        (Value::Str(s), None) => Some(s.clone()),
        _ => None,
    }
}

/// C `strtod` as SORT uses it: leading white space, then the whole rest must be a number;
/// the empty string is 0; overflow, underflow (`ERANGE`) and NaN are errors. (Hexadecimal
/// floats, which strtod also accepts, are not: docs/commands.md.)
fn strtod(b: &[u8]) -> Option<f64> {
    if b.is_empty() {
        return Some(0.0);
    }
    let start = b
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))?;
    let s = std::str::from_utf8(&b[start..]).ok()?;
    let v: f64 = s.parse().ok()?;
    if v.is_nan() {
        return None;
    }
    let lower = s.to_ascii_lowercase();
    let named_inf = lower.trim_start_matches(['+', '-']).starts_with("inf");
    if v.is_infinite() && !named_inf {
        return None;
    }
    let mantissa = lower.split('e').next().unwrap_or("");
    if v == 0.0 && mantissa.bytes().any(|c| (b'1'..=b'9').contains(&c)) {
        return None;
    }
    if v != 0.0 && v.is_finite() && v.abs() < f64::MIN_POSITIVE {
        return None;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn numeric_alpha_limit_desc() {
        let mut ks = Keyspace::new();
        run(&mut ks, 0, &["rpush", "l", "3", "10", "1", "2.5", "-1"]);
        assert_eq!(
            run(&mut ks, 0, &["sort", "l"]),
            arr(&["-1", "1", "2.5", "3", "10"])
        );
        assert_eq!(
            run(&mut ks, 0, &["sort", "l", "desc", "limit", "1", "2"]),
            arr(&["3", "2.5"])
        );
        assert_eq!(
            run(&mut ks, 0, &["sort", "l", "alpha"]),
            arr(&["-1", "1", "10", "2.5", "3"])
        );
        assert_eq!(run(&mut ks, 0, &["sort", "l", "limit", "9", "2"]), arr(&[]));
        assert_eq!(run(&mut ks, 0, &["sort", "nokey"]), arr(&[]));
        run(&mut ks, 0, &["rpush", "bad", "1", "x"]);
        assert_eq!(
            run(&mut ks, 0, &["sort", "bad"]),
            e("ERR One or more scores can't be converted into double")
        );
        assert_eq!(run(&mut ks, 0, &["sort", "bad", "alpha"]), arr(&["1", "x"]));
        run(&mut ks, 0, &["set", "s", "v"]);
        assert_eq!(
            run(&mut ks, 0, &["sort", "s"]),
            e("WRONGTYPE Operation against a key holding the wrong kind of value")
        );
        assert_eq!(
            run(&mut ks, 0, &["sort", "l", "bogus"]),
            e("ERR syntax error")
        );
        assert_eq!(
            run(&mut ks, 0, &["sort_ro", "l", "store", "d"]),
            e("ERR syntax error")
        );
    }

    #[test]
    fn by_get_and_store() {
        let mut ks = Keyspace::new();
        run(&mut ks, 0, &["sadd", "ids", "1", "2", "3"]);
        run(&mut ks, 0, &["mset", "w_1", "30", "w_2", "10", "w_3", "20"]);
        run(&mut ks, 0, &["hset", "h_1", "name", "a"]);
        run(&mut ks, 0, &["hset", "h_3", "name", "c"]);
        assert_eq!(
            run(&mut ks, 0, &["sort", "ids", "by", "w_*"]),
            arr(&["2", "3", "1"])
        );
        assert_eq!(
            run(
                &mut ks,
                0,
                &["sort", "ids", "by", "w_*", "get", "#", "get", "h_*->name"]
            ),
            Frame::Array(vec![b("2"), Frame::Null, b("3"), b("c"), b("1"), b("a")])
        );
        assert_eq!(
            run(&mut ks, 0, &["sort", "ids", "by", "nosort", "store", "dst"]),
            i(3)
        );
        assert_eq!(
            run(&mut ks, 0, &["lrange", "dst", "0", "-1"]),
            arr(&["1", "2", "3"])
        );
        assert_eq!(
            run(
                &mut ks,
                0,
                &["sort", "ids", "get", "h_*->name", "store", "dst"]
            ),
            i(3)
        );
        assert_eq!(
            run(&mut ks, 0, &["lrange", "dst", "0", "-1"]),
            arr(&["a", "", "c"])
        );
        assert_eq!(run(&mut ks, 0, &["sort", "nokey", "store", "dst"]), i(0));
        assert_eq!(run(&mut ks, 0, &["exists", "dst"]), i(0));
    }

    #[test]
    fn nosort_keeps_native_order_with_limit_and_desc() {
        let mut ks = Keyspace::new();
        run(&mut ks, 0, &["rpush", "l", "c", "a", "b", "d"]);
        assert_eq!(
            run(&mut ks, 0, &["sort", "l", "by", "x", "limit", "1", "2"]),
            arr(&["a", "b"])
        );
        assert_eq!(
            run(
                &mut ks,
                0,
                &["sort", "l", "by", "x", "desc", "limit", "1", "2"]
            ),
            arr(&["b", "a"])
        );
        // As in Redis, a constant BY turns sorting off even if a later BY has a `*`.
        assert_eq!(
            run(&mut ks, 0, &["sort", "l", "by", "x", "by", "w_*", "alpha"]),
            arr(&["c", "a", "b", "d"])
        );
        run(&mut ks, 0, &["zadd", "z", "1", "p", "2", "q", "3", "r"]);
        assert_eq!(
            run(&mut ks, 0, &["sort", "z", "by", "x", "desc"]),
            arr(&["r", "q", "p"])
        );
    }

    #[test]
    fn strtod_matches_c() {
        assert_eq!(strtod(b""), Some(0.0));
        assert_eq!(strtod(b"  1.5"), Some(1.5));
        assert_eq!(strtod(b"   "), None);
        assert_eq!(strtod(b"1.5 "), None);
        assert_eq!(strtod(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(strtod(b"nan"), None);
        assert_eq!(strtod(b"1e400"), None);
        assert_eq!(strtod(b"1e-400"), None);
        assert_eq!(strtod(b"0e5"), Some(0.0));
    }

    #[test]
    fn keys_and_cluster_denial() {
        let v = |w: &[&str]| {
            w.iter()
                .map(|s| Bytes::from(s.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            key_indices(&v(&["sort", "k", "by", "store", "store", "d"])),
            vec![1, 5]
        );
        assert_eq!(key_indices(&v(&["sort", "k", "limit", "0", "1"])), vec![1]);
        assert_eq!(
            key_indices(&v(&[
                "sort", "abc", "store", "invalid", "store", "stillbad", "store", "def"
            ])),
            vec![1, 7]
        );
        assert!(cluster_denial(&v(&["sort", "k", "by", "nosort"])).is_none());
        assert!(cluster_denial(&v(&["sort", "k", "by", "w_*"])).is_some());
        assert!(cluster_denial(&v(&["sort_ro", "k", "get", "#"])).is_some());
    }
}
