//! Binary snapshot encoding of a whole [`Keyspace`] (also described in
//! `docs/keyspace-encoding.md`).
//!
//! ```text
//! snapshot  := magic "SDRK" | version u8 (=1) | nkeys varint | entry* | crc u32le
//! entry     := tag u8 | [deadline u64le if tag & 0x80] | key:bytes | value
//! tag       := type (low 7 bits: 0 string, 1 list, 2 hash, 3 set, 4 zset) | 0x80 if a deadline follows
//! value     := string: bytes
//!            | list:   n varint | bytes{n}          (head to tail)
//!            | hash:   n varint | (field:bytes value:bytes){n}   (fields ascending)
//!            | set:    n varint | bytes{n}          (members ascending)
//!            | zset:   n varint | (member:bytes score:f64 bits u64le){n}  ((score, member) ascending)
//! bytes     := len varint | len raw bytes
//! varint    := unsigned LEB128, at most 10 bytes, value < 2^64
//! crc       := CRC-32C of every preceding byte
//! ```
//!
//! After the user keys and the dedup records comes the WATCH version table as the reserved
//! string record `\0sdr:versions` (`keyspace::versions`), once anything was written.
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
        ]
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
