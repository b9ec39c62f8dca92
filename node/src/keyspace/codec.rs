//! Binary snapshot encoding of a whole [`Keyspace`] (also described in
//! `docs/keyspace-encoding.md`).
//!
//! ```text
//! snapshot  := magic "SDRK" | version u8 (=1) | nkeys varint | entry* | crc u32le
//! entry     := tag u8 | [deadline u64le if tag & 0x80] | key:bytes | value
//! tag       := type (low 7 bits: 0 string, 1 list, 2 hash, 3 set, 4 zset, 5 stream) | 0x80 if a deadline follows
//! value     := string: bytes
//!            | list:   n varint | bytes{n}          (head to tail)
//!            | hash:   n varint | (field:bytes value:bytes){n}   (fields ascending)
//!            | set:    n varint | bytes{n}          (members ascending)
//!            | zset:   n varint | (member:bytes score:f64 bits u64le){n}  ((score, member) ascending)
//!            | stream: last:id first:id max_deleted:id entries_added u64le
//!                      n varint | (id nfields varint bytes{2*nfields}){n}        (IDs ascending)
//!                      nodes varint | (master:id valid varint deleted varint last:id
//!                                      lp_bytes varint nnames varint bytes{nnames}){nodes}
//!                      groups varint | (name:bytes last:id entries_read i64le
//!                                       npel varint (id consumer:bytes time u64le count u64le){npel}
//!                                       nconsumers varint (name:bytes seen u64le){nconsumers}){groups}
//! id        := ms u64le | seq u64le
//! bytes     := len varint | len raw bytes
//! varint    := unsigned LEB128, at most 10 bytes, value < 2^64
//! crc       := CRC-32C of every preceding byte
//! ```
//!
//! After the user keys and the dedup records comes the WATCH version table as the reserved
//! string record `\0sdr:versions` (`keyspace::versions`), once anything was written.
//!
//! A stream's consumer indexes are not written: each consumer's PEL is rebuilt from the group
//! PEL's owner names (a NACK naming no consumer of its group is rejected). The node shape
//! (`keyspace::stream`) is written because replies depend on it.
//!
//! Entries are written in SCAN order, hashes and sets in ascending order, so equal keyspaces
//! encode to identical bytes. Deadlines are absolute milliseconds since the epoch and are kept
//! even if already past (the state machine expires them by its own log-stamped time).
//!
//! Decoding treats the input as untrusted: the checksum is verified first, every length or
//! count is checked against the bytes that remain before anything is allocated or reserved,
//! and duplicate keys/fields/members, empty aggregates, unknown tags and trailing bytes are
//! rejected with a [`CodecError`], never a panic.

use bytes::Bytes;

use super::stream::{Group, Nack, Node, Stream, StreamId};
use super::{Entry, Keyspace, KeyspaceImage, Value, ZSet};
use crate::codec_core::{put_bytes, put_varint, ReadError, Reader};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

const MAGIC: &[u8; 4] = b"SDRK";
const VERSION: u8 = 1;
const TAG_STR: u8 = 0;
const TAG_LIST: u8 = 1;
const TAG_HASH: u8 = 2;
const TAG_SET: u8 = 3;
const TAG_ZSET: u8 = 4;
/// Added after the first release: older snapshots never hold it, so they decode unchanged.
const TAG_STREAM: u8 = 5;
const TAG_DEADLINE: u8 = 0x80;

/// Why a snapshot could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    #[error("keyspace snapshot too short: {0} bytes, need at least 10")]
    TooShort(usize),
    #[error("keyspace snapshot has bad magic (expected \"SDRK\")")]
    BadMagic,
    #[error("keyspace snapshot version {0} is not supported (expected 1)")]
    UnsupportedVersion(u8),
    #[error(
        "keyspace snapshot checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"
    )]
    Checksum { stored: u32, computed: u32 },
    #[error("keyspace snapshot truncated at offset {offset}: {what}")]
    Truncated { offset: usize, what: &'static str },
    #[error("keyspace snapshot has a malformed varint at offset {0}")]
    BadVarint(usize),
    #[error("keyspace snapshot {what} length {len} at offset {offset} exceeds the {remaining} remaining bytes")]
    LengthOutOfBounds {
        what: &'static str,
        len: u64,
        offset: usize,
        remaining: usize,
    },
    #[error("keyspace snapshot has unknown value type tag {tag:#04x} at offset {offset}")]
    UnknownTag { tag: u8, offset: usize },
    #[error("keyspace snapshot has an empty {0} value")]
    EmptyAggregate(&'static str),
    #[error("keyspace snapshot has a NaN score for a sorted-set member")]
    NanScore,
    #[error("keyspace snapshot has a duplicate {0}")]
    Duplicate(&'static str),
    #[error("keyspace snapshot has {0} trailing bytes after the last key")]
    TrailingBytes(usize),
}

/// Appends the encoding of `ks` to `out`.
pub fn encode(ks: &Keyspace, out: &mut Vec<u8>) {
    encode_image(&ks.image(), out)
}

/// Appends the encoding of an image ([`Keyspace::image`]) to `out`: the same bytes
/// [`encode`] writes for the keyspace the image was taken from. Needs no lock.
pub fn encode_image(img: &KeyspaceImage, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    put_varint(out, img.len() as u64);
    for (key, e) in img.records() {
        let ty = match &e.value {
            Value::Str(_) => TAG_STR,
            Value::List(_) => TAG_LIST,
            Value::Hash(_) => TAG_HASH,
            Value::Set(_) => TAG_SET,
            Value::ZSet(_) => TAG_ZSET,
            Value::Stream(_) => TAG_STREAM,
        };
        match e.expire_at {
            Some(d) => {
                out.push(ty | TAG_DEADLINE);
                out.extend_from_slice(&d.to_le_bytes());
            }
            None => out.push(ty),
        }
        put_bytes(out, key);
        match &e.value {
            Value::Str(s) => put_bytes(out, s),
            Value::List(l) => {
                put_varint(out, l.len() as u64);
                l.iter().for_each(|x| put_bytes(out, x));
            }
            Value::Hash(h) => {
                put_varint(out, h.len() as u64);
                for (f, v) in h {
                    put_bytes(out, f);
                    put_bytes(out, v);
                }
            }
            Value::Set(s) => {
                put_varint(out, s.len() as u64);
                s.iter().for_each(|x| put_bytes(out, x));
            }
            Value::ZSet(z) => {
                put_varint(out, z.len() as u64);
                for (m, s) in z.iter() {
                    put_bytes(out, m);
                    out.extend_from_slice(&s.to_bits().to_le_bytes());
                }
            }
            Value::Stream(s) => encode_stream(s, out),
        }
    }
    let crc = crc32c::crc32c(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// Decodes a snapshot produced by [`encode`].
pub fn decode(input: &[u8]) -> Result<Keyspace, CodecError> {
    if input.len() < MAGIC.len() + 1 + 1 + 4 {
        return Err(CodecError::TooShort(input.len()));
    }
    let (body, crc_bytes) = input.split_at(input.len() - 4);
    if &body[..4] != MAGIC {
        return Err(CodecError::BadMagic);
    }
    if body[4] != VERSION {
        return Err(CodecError::UnsupportedVersion(body[4]));
    }
    let stored = u32::from_le_bytes([crc_bytes[0], crc_bytes[1], crc_bytes[2], crc_bytes[3]]);
    let computed = crc32c::crc32c(body);
    if stored != computed {
        return Err(CodecError::Checksum { stored, computed });
    }
    let mut r = Reader::at(body, 5);
    let nkeys = r.count("key count", 3)?;
    let mut ks = Keyspace::new();
    for _ in 0..nkeys {
        let tag_off = r.pos();
        let tag = r.u8("value type tag")?;
        let expire_at = if tag & TAG_DEADLINE != 0 {
            Some(r.u64("deadline")?)
        } else {
            None
        };
        let key = owned(&mut r, "key")?;
        let value = match tag & !TAG_DEADLINE {
            TAG_STR => Value::Str(owned(&mut r, "string value")?),
            TAG_LIST => {
                let n = r.count("list length", 1)?;
                let mut l = VecDeque::new();
                for _ in 0..n {
                    l.push_back(owned(&mut r, "list element")?);
                }
                Value::List(l)
            }
            TAG_HASH => {
                let n = r.count("hash length", 2)?;
                let mut h = BTreeMap::new();
                for _ in 0..n {
                    let f = owned(&mut r, "hash field")?;
                    let v = owned(&mut r, "hash value")?;
                    if h.insert(f, v).is_some() {
                        return Err(CodecError::Duplicate("hash field"));
                    }
                }
                Value::Hash(h)
            }
            TAG_SET => {
                let n = r.count("set length", 1)?;
                let mut s = BTreeSet::new();
                for _ in 0..n {
                    if !s.insert(owned(&mut r, "set member")?) {
                        return Err(CodecError::Duplicate("set member"));
                    }
                }
                Value::Set(s)
            }
            TAG_ZSET => {
                let n = r.count("zset length", 9)?;
                let mut z = ZSet::new();
                for _ in 0..n {
                    let m = owned(&mut r, "zset member")?;
                    let s = f64::from_bits(r.u64("zset score")?);
                    if s.is_nan() {
                        return Err(CodecError::NanScore);
                    }
                    if z.insert(m, s).is_some() {
                        return Err(CodecError::Duplicate("zset member"));
                    }
                }
                Value::ZSet(z)
            }
            TAG_STREAM => Value::Stream(Box::new(decode_stream(&mut r)?)),
            _ => {
                return Err(CodecError::UnknownTag {
                    tag,
                    offset: tag_off,
                })
            }
        };
        if value.is_empty_aggregate() {
            return Err(CodecError::EmptyAggregate(value.type_name()));
        }
        if ks.contains_raw(&key[..]) {
            return Err(CodecError::Duplicate("key"));
        }
        ks.insert_raw(key, Entry { value, expire_at });
    }
    if r.remaining() != 0 {
        return Err(CodecError::TrailingBytes(r.remaining()));
    }
    Ok(ks)
}

fn put_id(out: &mut Vec<u8>, id: StreamId) {
    out.extend_from_slice(&id.ms.to_le_bytes());
    out.extend_from_slice(&id.seq.to_le_bytes());
}

fn encode_stream(s: &Stream, out: &mut Vec<u8>) {
    put_id(out, s.last_id);
    put_id(out, s.first_id);
    put_id(out, s.max_deleted_id);
    out.extend_from_slice(&s.entries_added.to_le_bytes());
    put_varint(out, s.len() as u64);
    for (id, fields) in s.entries() {
        put_id(out, *id);
        put_varint(out, (fields.len() / 2) as u64);
        fields.iter().for_each(|f| put_bytes(out, f));
    }
    put_varint(out, s.node_count() as u64);
    for (master, n) in s.nodes() {
        put_id(out, *master);
        put_varint(out, n.valid);
        put_varint(out, n.deleted);
        put_id(out, n.last);
        put_varint(out, n.lp_bytes as u64);
        put_varint(out, n.master_fields.len() as u64);
        n.master_fields.iter().for_each(|f| put_bytes(out, f));
    }
    put_varint(out, s.groups.len() as u64);
    for (name, g) in &s.groups {
        put_bytes(out, name);
        put_id(out, g.last_id);
        out.extend_from_slice(&g.entries_read.to_le_bytes());
        put_varint(out, g.pel.len() as u64);
        for (id, n) in &g.pel {
            put_id(out, *id);
            put_bytes(out, &n.consumer);
            out.extend_from_slice(&n.delivery_time.to_le_bytes());
            out.extend_from_slice(&n.delivery_count.to_le_bytes());
        }
        put_varint(out, g.consumers.len() as u64);
        for (cname, c) in &g.consumers {
            put_bytes(out, cname);
            out.extend_from_slice(&c.seen_time.to_le_bytes());
        }
    }
}

fn get_id(r: &mut Reader<'_>, what: &'static str) -> Result<StreamId, CodecError> {
    Ok(StreamId::new(r.u64(what)?, r.u64(what)?))
}

fn decode_stream(r: &mut Reader<'_>) -> Result<Stream, CodecError> {
    let mut s = Stream::new();
    s.last_id = get_id(r, "stream last id")?;
    s.first_id = get_id(r, "stream first id")?;
    s.max_deleted_id = get_id(r, "stream max deleted id")?;
    s.entries_added = r.u64("stream entries added")?;
    let n = r.count("stream length", 17)?;
    let mut prev: Option<StreamId> = None;
    for _ in 0..n {
        let id = get_id(r, "stream entry id")?;
        if prev.is_some_and(|p| p >= id) || id > s.last_id {
            return Err(CodecError::Duplicate("stream entry id (out of order)"));
        }
        prev = Some(id);
        let nf = r.count("stream entry fields", 2)?;
        let mut fields = Vec::new();
        for _ in 0..nf * 2 {
            fields.push(owned(r, "stream field")?);
        }
        s.insert_raw(id, fields);
    }
    let nodes = r.count("stream nodes", 36)?;
    let mut live = 0u64;
    for _ in 0..nodes {
        let master = get_id(r, "stream node id")?;
        let valid = r.varint("stream node valid")?;
        let deleted = r.varint("stream node deleted")?;
        let last = get_id(r, "stream node last id")?;
        let lp_bytes = r.varint("stream node bytes")? as usize;
        let nn = r.count("stream node fields", 1)?;
        let mut master_fields = Vec::new();
        for _ in 0..nn {
            master_fields.push(owned(r, "stream node field")?);
        }
        live = live.saturating_add(valid);
        let node = Node {
            valid,
            deleted,
            last,
            master_fields,
            lp_bytes,
        };
        if !s.insert_node_raw(master, node) {
            return Err(CodecError::Duplicate("stream node"));
        }
    }
    if live != s.len() as u64 {
        return Err(CodecError::Duplicate(
            "stream node count (disagrees with entries)",
        ));
    }
    let ng = r.count("stream groups", 34)?;
    for _ in 0..ng {
        let name = owned(r, "stream group name")?;
        let last = get_id(r, "stream group last id")?;
        let entries_read = r.u64("stream group entries read")? as i64;
        let mut g = Group::new(last, entries_read);
        let np = r.count("stream group pel", 33)?;
        let mut pel = Vec::new();
        for _ in 0..np {
            let id = get_id(r, "stream pel id")?;
            let consumer = owned(r, "stream pel consumer")?;
            let delivery_time = r.u64("stream pel time")?;
            let delivery_count = r.u64("stream pel count")?;
            pel.push((
                id,
                Nack {
                    consumer,
                    delivery_time,
                    delivery_count,
                },
            ));
        }
        let nc = r.count("stream consumers", 9)?;
        for _ in 0..nc {
            let cname = owned(r, "stream consumer name")?;
            let seen = r.u64("stream consumer seen time")?;
            if !g.create_consumer(&cname, seen) {
                return Err(CodecError::Duplicate("stream consumer"));
            }
        }
        for (id, nack) in pel {
            let Some(c) = g.consumers.get_mut(&nack.consumer) else {
                return Err(CodecError::Duplicate("stream pel entry of no consumer"));
            };
            c.pel.insert(id);
            if g.pel.insert(id, nack).is_some() {
                return Err(CodecError::Duplicate("stream pel id"));
            }
        }
        if s.groups.insert(name, g).is_some() {
            return Err(CodecError::Duplicate("stream group"));
        }
    }
    Ok(s)
}

/// Length-prefixed bytes, copied out of the snapshot buffer.
fn owned(r: &mut Reader<'_>, what: &'static str) -> Result<Bytes, CodecError> {
    Ok(Bytes::copy_from_slice(r.bytes(what)?))
}

impl From<ReadError> for CodecError {
    fn from(e: ReadError) -> CodecError {
        match e {
            ReadError::Truncated { offset, what, .. } => CodecError::Truncated { offset, what },
            ReadError::BadVarint { offset, .. } => CodecError::BadVarint(offset),
            ReadError::TooLong {
                what,
                offset,
                len,
                remaining,
                ..
            } => CodecError::LengthOutOfBounds {
                what,
                len,
                offset,
                remaining,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_bytes() -> impl Strategy<Value = Bytes> {
        proptest::collection::vec(any::<u8>(), 0..12).prop_map(Bytes::from)
    }

    /// Scores with the edge cases that must survive bit for bit (-0, infinities, subnormals).
    fn arb_score() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>().prop_filter("not NaN", |s| !s.is_nan()),
            Just(-0.0),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(5e-324),
            (-5i32..5).prop_map(f64::from),
        ]
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            arb_bytes().prop_map(Value::Str),
            proptest::collection::vec_deque(arb_bytes(), 1..5).prop_map(Value::List),
            proptest::collection::btree_map(arb_bytes(), arb_bytes(), 1..5).prop_map(Value::Hash),
            proptest::collection::btree_set(arb_bytes(), 1..5).prop_map(Value::Set),
            proptest::collection::btree_map(arb_bytes(), arb_score(), 1..5).prop_map(|m| {
                let mut z = ZSet::new();
                for (k, s) in m {
                    z.insert(k, s);
                }
                Value::ZSet(z)
            }),
            arb_stream(),
        ]
    }

    /// Streams with entries, deletions (node counts, max deleted ID) and a group with a
    /// pending entry.
    fn arb_stream() -> impl Strategy<Value = Value> {
        use crate::keyspace::stream::{Group, Stream, StreamId};
        (
            proptest::collection::vec((1u64..50, arb_bytes()), 0..6),
            any::<bool>(),
            any::<u64>(),
            any::<bool>(),
        )
            .prop_map(|(ids, grp, t, del)| {
                let mut s = Stream::new();
                let mut ms = 0;
                for (d, v) in ids {
                    ms += d;
                    s.append(StreamId::new(ms, 0), vec![Bytes::from_static(b"f"), v]);
                }
                if grp {
                    let mut g = Group::new(s.last_id, -1);
                    let c = Bytes::from_static(b"c");
                    g.create_consumer(&c, t);
                    g.create_consumer(&Bytes::from_static(b"idle"), t / 2);
                    if let Some((id, _)) = s.entries().next() {
                        let id = *id;
                        g.assign(id, &c, t).delivery_count = 2;
                    }
                    s.groups.insert(Bytes::from_static(b"g"), g);
                }
                if del && ms > 0 {
                    s.delete(StreamId::new(ms, 0));
                    s.max_deleted_id = StreamId::new(ms, 0);
                    s.refresh_first();
                }
                Value::Stream(Box::new(s))
            })
    }

    fn arb_keyspace() -> impl Strategy<Value = Keyspace> {
        proptest::collection::vec(
            (arb_bytes(), arb_value(), proptest::option::of(any::<u64>())),
            0..20,
        )
        .prop_map(|entries| {
            let mut ks = Keyspace::new();
            for (k, value, expire_at) in entries {
                ks.insert_raw(k, Entry { value, expire_at });
            }
            ks
        })
    }

    proptest! {
        /// An image taken before writes encodes the state it was taken at, byte for byte,
        /// whatever the keyspace does afterwards (the snapshot encodes outside the lock).
        #[test]
        fn image_is_unaffected_by_later_writes(ks in arb_keyspace(), new in arb_value(), pick in any::<usize>()) {
            let mut expected = Vec::new();
            encode(&ks, &mut expected);
            let mut live = ks.clone();
            let img = live.image();
            let keys: Vec<Bytes> = live.keys(0).map(|(k, _)| k.clone()).collect();
            if !keys.is_empty() {
                let k = keys[pick % keys.len()].clone();
                live.update(&k, 0, None, |v| *v = Value::Str(Bytes::from_static(b"changed")));
                live.set_expire(&k, Some(99), 0);
                let other = keys[(pick / 2) % keys.len()].clone();
                live.remove(&other);
            }
            live.insert(Bytes::from_static(b"added"), new, None, 0);
            let mut got = Vec::new();
            encode_image(&img, &mut got);
            prop_assert_eq!(got, expected);
        }

        #[test]
        fn round_trips(ks in arb_keyspace()) {
            let mut out = Vec::new();
            encode(&ks, &mut out);
            let back = decode(&out).expect("decodes");
            prop_assert_eq!(&back, &ks);
            prop_assert_eq!(back.expires_len(), ks.expires_len());
            let mut again = Vec::new();
            encode(&back, &mut again);
            prop_assert_eq!(again, out);
        }

        #[test]
        fn truncation_and_corruption_are_errors(ks in arb_keyspace(), cut in any::<usize>(), flip in any::<usize>(), bit in 0u8..8) {
            let mut out = Vec::new();
            encode(&ks, &mut out);
            let cut = cut % out.len();
            prop_assert!(decode(&out[..cut]).is_err());
            let mut bad = out.clone();
            let i = flip % bad.len();
            bad[i] ^= 1 << bit;
            prop_assert!(decode(&bad).is_err());
        }
    }

    /// Builds a body with a valid checksum so the structural checks are exercised.
    fn seal(mut body: Vec<u8>) -> Vec<u8> {
        let crc = crc32c::crc32c(&body);
        body.extend_from_slice(&crc.to_le_bytes());
        body
    }

    #[test]
    fn several_databases_round_trip_and_old_snapshots_load_into_db_0() {
        let mut ks = Keyspace::new();
        ks.begin_write();
        ks.insert(
            Bytes::from_static(b"a"),
            Value::Str(Bytes::from_static(b"0")),
            None,
            0,
        );
        ks.with_db(3, |d| {
            d.begin_write();
            d.insert(
                Bytes::from_static(b"a"),
                Value::Str(Bytes::from_static(b"3")),
                Some(9_999),
                0,
            );
            d.versions.touch(b"a");
        });
        ks.with_db(15, |d| {
            d.insert(
                Bytes::from_static(b"l"),
                Value::List([Bytes::from_static(b"x")].into()),
                None,
                0,
            )
        });
        let mut out = Vec::new();
        encode(&ks, &mut out);
        let back = decode(&out).expect("decode");
        assert_eq!(back, ks);
        assert_eq!(
            back.db(3).get(b"a", 0).map(|e| e.expire_at),
            Some(Some(9_999))
        );
        assert_eq!(back.db(3).versions(), ks.db(3).versions());
        assert_eq!(back.db(15).len(), 1);
        // A snapshot written before databases existed (db 0 only) decodes as db 0.
        let mut old = Keyspace::new();
        old.insert(
            Bytes::from_static(b"k"),
            Value::Str(Bytes::from_static(b"v")),
            None,
            0,
        );
        let mut out = Vec::new();
        encode(&old, &mut out);
        let back = decode(&out).expect("decode");
        assert_eq!(back.databases().len(), 1);
        assert!(back.db(0).contains(b"k", 0));
    }

    #[test]
    fn rejects_lying_lengths_without_allocating() {
        let mut body = b"SDRK\x01".to_vec();
        put_varint(&mut body, u64::MAX);
        assert!(matches!(
            decode(&seal(body)),
            Err(CodecError::LengthOutOfBounds { .. })
        ));

        let mut body = b"SDRK\x01".to_vec();
        put_varint(&mut body, 1);
        body.push(TAG_STR);
        put_varint(&mut body, 1 << 40);
        body.extend_from_slice(b"abc");
        assert!(matches!(
            decode(&seal(body)),
            Err(CodecError::LengthOutOfBounds { what: "key", .. })
        ));
    }

    #[test]
    fn rejects_structural_errors() {
        assert_eq!(decode(b"SDR"), Err(CodecError::TooShort(3)));
        assert_eq!(
            decode(&seal(b"XXXX\x01\x00".to_vec())),
            Err(CodecError::BadMagic)
        );
        assert_eq!(
            decode(&seal(b"SDRK\x02\x00".to_vec())),
            Err(CodecError::UnsupportedVersion(2))
        );
        assert_eq!(
            decode(&seal(b"SDRK\x01\x00\x00".to_vec())),
            Err(CodecError::TrailingBytes(1))
        );
        assert!(matches!(
            decode(&seal(b"SDRK\x01\x01\x07\x01k\x01v".to_vec())),
            Err(CodecError::UnknownTag { tag: 7, .. })
        ));
        assert_eq!(
            decode(&seal(b"SDRK\x01\x01\x01\x01k\x00".to_vec())),
            Err(CodecError::EmptyAggregate("list"))
        );
        assert_eq!(
            decode(&seal(b"SDRK\x01\x02\x00\x01k\x01v\x00\x01k\x01v".to_vec())),
            Err(CodecError::Duplicate("key"))
        );
        assert_eq!(
            decode(&seal(
                b"SDRK\x01\x01\x00\x01k\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f".to_vec()
            )),
            Err(CodecError::BadVarint(9))
        );
        let mut ok = Vec::new();
        encode(&Keyspace::new(), &mut ok);
        assert_eq!(decode(&ok), Ok(Keyspace::new()));
        ok[5] ^= 1;
        assert!(matches!(decode(&ok), Err(CodecError::Checksum { .. })));
    }
}
