//! RESTORE's decoder: an untrusted DUMP payload to a [`Value`].
//!
//! Accepts every object type Redis 7.0 loads except streams and modules: `STRING`, `LIST`,
//! `SET`, `ZSET`, `HASH`, `ZSET_2`, `LIST_ZIPLIST`, `SET_INTSET`, `ZSET_ZIPLIST`,
//! `HASH_ZIPLIST`, `LIST_QUICKLIST`, `HASH_LISTPACK`, `ZSET_LISTPACK`, `LIST_QUICKLIST_2`
//! (`HASH_ZIPMAP`, Redis 2.x, is refused). Everything is checked as Redis's
//! `sanitize-dump-payload yes` would: blob structure, no duplicate members or fields, no NaN
//! score, no empty aggregate. Lengths are bounded by the bytes left before anything is
//! allocated ([`super::Reader`]); LZF output by [`super::lzf::MAX_EXPANSION`]; there is no
//! recursion. Bytes between the object and the footer are ignored, as Redis ignores them.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;

use super::listpack::{self, LpValue};
use super::{crc64, intset, types, ziplist, RdbError, Reader, RDB_VERSION};
use crate::keyspace::{Value, ZSet};

/// `verifyDumpPayload` then `rdbLoadObjectType` + `rdbLoadObject`.
pub fn restore(payload: &[u8]) -> Result<Value, RdbError> {
    if payload.len() < 10 {
        return Err(RdbError::VersionOrChecksum);
    }
    let body_end = payload.len() - 10;
    let footer = &payload[body_end..];
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    if version > RDB_VERSION {
        return Err(RdbError::VersionOrChecksum);
    }
    let mut crc = [0u8; 8];
    crc.copy_from_slice(&footer[2..]);
    if crc64::crc64(0, &payload[..payload.len() - 8]) != u64::from_le_bytes(crc) {
        return Err(RdbError::VersionOrChecksum);
    }
    let mut r = Reader::new(&payload[..body_end]);
    let t = r.u8()?;
    load_object(t, &mut r)
}

fn bad<T>() -> Result<T, RdbError> {
    Err(RdbError::BadFormat)
}

fn non_empty(v: Value) -> Result<Value, RdbError> {
    if v.is_empty_aggregate() {
        bad()
    } else {
        Ok(v)
    }
}

fn score_of(v: LpValue) -> Result<f64, RdbError> {
    let s = match v {
        LpValue::Int(i) => i as f64,
        LpValue::Str(b) => parse_score(&b)?,
    };
    if s.is_nan() {
        return bad();
    }
    Ok(s)
}

/// A score written as text (listpack/ziplist entries, `ZSET`'s `rdbSaveDoubleValue`).
fn parse_score(b: &[u8]) -> Result<f64, RdbError> {
    let s = std::str::from_utf8(b).map_err(|_| RdbError::BadFormat)?;
    match s {
        "inf" | "+inf" => Ok(f64::INFINITY),
        "-inf" => Ok(f64::NEG_INFINITY),
        _ => s.parse::<f64>().map_err(|_| RdbError::BadFormat),
    }
}

fn pairs_to_hash(items: Vec<LpValue>) -> Result<Value, RdbError> {
    if items.len() % 2 != 0 {
        return bad();
    }
    let mut h = BTreeMap::new();
    let mut it = items.into_iter();
    while let (Some(f), Some(v)) = (it.next(), it.next()) {
        if h.insert(f.into_bytes(), v.into_bytes()).is_some() {
            return bad();
        }
    }
    non_empty(Value::Hash(h))
}

fn pairs_to_zset(items: Vec<LpValue>) -> Result<Value, RdbError> {
    if items.len() % 2 != 0 {
        return bad();
    }
    let mut z = ZSet::new();
    let mut it = items.into_iter();
    while let (Some(m), Some(s)) = (it.next(), it.next()) {
        let score = score_of(s)?;
        if z.insert(m.into_bytes(), score).is_some() {
            return bad();
        }
    }
    non_empty(Value::ZSet(z))
}

fn load_object(t: u8, r: &mut Reader<'_>) -> Result<Value, RdbError> {
    match t {
        types::STRING => Ok(Value::Str(r.string()?)),
        types::LIST => {
            let n = r.len()?;
            let mut l = VecDeque::new();
            for _ in 0..n {
                l.push_back(r.string()?);
            }
            non_empty(Value::List(l))
        }
        types::SET => {
            let n = r.len()?;
            let mut s = BTreeSet::new();
            for _ in 0..n {
                if !s.insert(r.string()?) {
                    return bad();
                }
            }
            non_empty(Value::Set(s))
        }
        types::ZSET | types::ZSET_2 => {
            let n = r.len()?;
            let mut z = ZSet::new();
            for _ in 0..n {
                let m = r.string()?;
                let score = if t == types::ZSET_2 {
                    let d = r.take(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(d);
                    f64::from_le_bytes(a)
                } else {
                    // rdbLoadDoubleValue: 253 NaN, 254 +inf, 255 -inf, else that many chars.
                    match r.u8()? {
                        253 => f64::NAN,
                        254 => f64::INFINITY,
                        255 => f64::NEG_INFINITY,
                        len => parse_score(r.take(u64::from(len))?)?,
                    }
                };
                if score.is_nan() || z.insert(m, score).is_some() {
                    return bad();
                }
            }
            non_empty(Value::ZSet(z))
        }
        types::HASH => {
            let n = r.len()?;
            let mut h = BTreeMap::new();
            for _ in 0..n {
                let f = r.string()?;
                let v = r.string()?;
                if h.insert(f, v).is_some() {
                    return bad();
                }
            }
            non_empty(Value::Hash(h))
        }
        types::LIST_ZIPLIST => {
            let items = ziplist::parse(&r.string()?)?;
            non_empty(Value::List(
                items.into_iter().map(LpValue::into_bytes).collect(),
            ))
        }
        types::SET_INTSET => {
            let ints = intset::parse(&r.string()?)?;
            let s: BTreeSet<Bytes> = ints
                .into_iter()
                .map(|i| Bytes::from(i.to_string()))
                .collect();
            non_empty(Value::Set(s))
        }
        types::ZSET_ZIPLIST => pairs_to_zset(ziplist::parse(&r.string()?)?),
        types::HASH_ZIPLIST => pairs_to_hash(ziplist::parse(&r.string()?)?),
        types::ZSET_LISTPACK => pairs_to_zset(listpack::parse(&r.string()?)?),
        types::HASH_LISTPACK => pairs_to_hash(listpack::parse(&r.string()?)?),
        types::LIST_QUICKLIST | types::LIST_QUICKLIST_2 => {
            let nodes = r.len()?;
            let mut l = VecDeque::new();
            for _ in 0..nodes {
                let container = if t == types::LIST_QUICKLIST_2 {
                    r.len()?
                } else {
                    // LIST_QUICKLIST nodes are ziplists.
                    0
                };
                let blob = r.string()?;
                match container {
                    0 => l.extend(ziplist::parse(&blob)?.into_iter().map(LpValue::into_bytes)),
                    // QUICKLIST_NODE_CONTAINER_PLAIN: the element itself.
                    1 => l.push_back(blob),
                    // QUICKLIST_NODE_CONTAINER_PACKED: a listpack (an empty one is skipped,
                    // as Redis skips it).
                    2 => l.extend(listpack::parse(&blob)?.into_iter().map(LpValue::into_bytes)),
                    _ => return bad(),
                }
            }
            non_empty(Value::List(l))
        }
        // HASH_ZIPMAP (Redis 2.x), modules and streams are not loaded here (docs/commands.md).
        types::HASH_ZIPMAP
        | types::MODULE
        | types::MODULE_2
        | types::STREAM_LISTPACKS
        | types::STREAM_LISTPACKS_2 => bad(),
        _ => bad(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::dump;
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    /// Payloads captured from redis-server 7.0.15 (`redis-cli --no-raw DUMP`).
    #[test]
    fn redis_payloads_restore_and_dump_back_identically() {
        let cases: Vec<(&[u8], Value, bool)> = vec![
            (
                b"\x00\xc3\t\x1e\x01aa\xe0\x11\x00\x01aa\n\x00Es|\xbb+d{\xbb",
                Value::Str(b(&"a".repeat(30))),
                false,
            ),
            (
                b"\x12\x01\x02\x14\x14\x00\x00\x00\x05\x00\x81a\x02\x81b\x02\x01\x01\x02\x01\xc1,\x02\xff\n\x00\x84!\xc7\x9f\xc0\xb8!\xfa",
                Value::List(["a", "b", "1", "2", "300"].into_iter().map(b).collect()),
                false,
            ),
            (
                b"\x0b\x0e\x02\x00\x00\x00\x03\x00\x00\x00\x01\x00\x02\x00,\x01\n\x00\xe5\x10\xb2\x8e{\x95)\xaa",
                Value::Set(["1", "2", "300"].into_iter().map(b).collect()),
                false,
            ),
        ];
        for (payload, want, large) in cases {
            assert_eq!(restore(payload).as_ref(), Ok(&want));
            assert_eq!(dump(&want, large).as_deref(), Ok(payload));
        }
    }

    #[test]
    fn every_type_roundtrips_both_encodings() {
        let mut z = ZSet::new();
        z.insert(b("a"), 1.5);
        z.insert(b("b"), -0.0);
        z.insert(b("c"), f64::INFINITY);
        z.insert(b("d"), 1e300);
        let values = vec![
            Value::Str(b("12345")),
            Value::Str(b(&"xy".repeat(500))),
            Value::List((0..3000).map(|i| b(&format!("item-{i}"))).collect()),
            Value::Set((0..10).map(|i| b(&i.to_string())).collect()),
            Value::Set(["x", "y"].into_iter().map(b).collect()),
            Value::Hash([(b("f"), b("1")), (b("g"), b("vvv"))].into_iter().collect()),
            Value::ZSet(z),
        ];
        for v in values {
            for large in [false, true] {
                let p = dump(&v, large).expect("dumpable");
                assert_eq!(restore(&p), Ok(v.clone()), "{v:?} large={large}");
            }
        }
    }

    #[test]
    fn refuses_what_redis_refuses() {
        let p = dump(&Value::Str(b("hello")), false).unwrap();
        let mut bad_crc = p.clone();
        let n = bad_crc.len();
        bad_crc[n - 1] ^= 1;
        assert_eq!(restore(&bad_crc), Err(RdbError::VersionOrChecksum));
        assert_eq!(restore(b"short"), Err(RdbError::VersionOrChecksum));
        // Version 11 with a correct CRC.
        let mut v11 = p[..p.len() - 10].to_vec();
        v11.extend_from_slice(&11u16.to_le_bytes());
        let crc = crc64::crc64(0, &v11);
        v11.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(restore(&v11), Err(RdbError::VersionOrChecksum));
        // A well-framed but truncated object, an empty set, an unknown type.
        for body in [
            &b"\x00\x05ab"[..],
            b"\x02\x00",
            b"\x63",
            b"\x02\x02\x01a\x01a",
        ] {
            let mut x = body.to_vec();
            x.extend_from_slice(&10u16.to_le_bytes());
            let crc = crc64::crc64(0, &x);
            x.extend_from_slice(&crc.to_le_bytes());
            assert_eq!(restore(&x), Err(RdbError::BadFormat), "{body:?}");
        }
    }
}
