//! Redis's RDB value encoding, for `DUMP` / `RESTORE` (and `DEBUG OBJECT`'s
//! `serializedlength`): payloads move between redis-server 7.0 and this store.
//!
//! - this file: [`RdbError`], the payload frame ([`dump`] / [`restore`]: object type byte,
//!   object, 2-byte RDB version little-endian, CRC-64 of everything before it), RDB lengths
//!   and strings (integer encodings, LZF) shared by both directions.
//! - [`save`]: a [`Value`] in the RDB type Redis 7.0 would write for it.
//! - [`load`]: every RDB object type Redis 7.0 loads except streams and modules, from an
//!   untrusted payload (every length bounded by the bytes left, no recursion, no panic).
//! - [`listpack`]: Redis 7.0 listpacks, built byte for byte as `lpAppend` does, and parsed.
//! - [`ziplist`]: Redis ≤ 6.2 ziplists (parsed only: older payloads).
//! - [`intset`]: intsets, built and parsed.
//! - [`lzf`]: LZF compression identical to Redis's `lzf_c.c`, and decompression.
//! - [`crc64`]: Redis's CRC-64 (Jones polynomial, reflected).
//!
//! Where the store's layout cannot tell what Redis's would have (hash field order, dict
//! order of large sets and hashes, list node boundaries after non-tail pushes, intset width
//! after removals), the payload is a valid one Redis loads to the same value, not
//! byte-identical; docs/commands.md lists those cases.

pub mod crc64;
pub mod intset;
pub mod listpack;
pub mod load;
pub mod lzf;
pub mod save;
pub mod ziplist;

use bytes::Bytes;

use crate::resp::parse_i64;

pub use load::restore;
pub use save::{dump, serialized_len};

/// The RDB version Redis 7.0 writes (and the highest it loads).
pub const RDB_VERSION: u16 = 10;

/// RDB object types (`rdb.h`).
pub mod types {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const MODULE: u8 = 6;
    pub const MODULE_2: u8 = 7;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;
}

/// Why a payload was refused or a value cannot be dumped; each maps to one Redis reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RdbError {
    /// Shorter than its footer, a newer RDB version, or a CRC mismatch.
    #[error("DUMP payload version or checksum are wrong")]
    VersionOrChecksum,
    /// The object does not decode (truncated, inconsistent, empty aggregate, duplicates,
    /// an unknown type, or a type this store does not load: streams, modules).
    #[error("Bad data format")]
    BadFormat,
    /// DUMP of a value this store cannot encode yet (streams; docs/commands.md).
    #[error("DUMP of a {0} value is not supported by this server")]
    Unsupported(&'static str),
}

const ENC_INT8: u8 = 0;
const ENC_INT16: u8 = 1;
const ENC_INT32: u8 = 2;
const ENC_LZF: u8 = 3;
/// `RDB_ENCVAL << 6`: the length byte announces a special string encoding.
const ENCVAL: u8 = 0xc0;

/// `rdbSaveLen`.
pub(crate) fn put_len(out: &mut Vec<u8>, n: u64) {
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.extend_from_slice(&[((n >> 8) as u8) | 0x40, n as u8]);
    } else if n <= u64::from(u32::MAX) {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// `rdbSaveRawString` with `rdbcompression yes`: a canonical integer of at most 11 characters
/// that fits 32 bits as `RDB_ENC_INT8/16/32`; longer than 20 bytes LZF-compressed when that
/// saves at least 4 bytes; otherwise length + bytes.
pub(crate) fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    if s.len() <= 11 {
        if let Some(v) = parse_i64(s) {
            if let Ok(b) = i8::try_from(v) {
                out.extend_from_slice(&[ENCVAL | ENC_INT8, b as u8]);
                return;
            }
            if let Ok(h) = i16::try_from(v) {
                out.push(ENCVAL | ENC_INT16);
                out.extend_from_slice(&h.to_le_bytes());
                return;
            }
            if let Ok(w) = i32::try_from(v) {
                out.push(ENCVAL | ENC_INT32);
                out.extend_from_slice(&w.to_le_bytes());
                return;
            }
        }
    }
    if s.len() > 20 {
        if let Some(c) = lzf::compress(s, s.len() - 4) {
            out.push(ENCVAL | ENC_LZF);
            put_len(out, c.len() as u64);
            put_len(out, s.len() as u64);
            out.extend_from_slice(&c);
            return;
        }
    }
    put_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// A bounds-checked cursor over an untrusted payload.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// A length or a special string encoding, as `rdbLoadLenByRef` reports it.
enum Len {
    Plain(u64),
    Encoded(u8),
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn take(&mut self, n: u64) -> Result<&'a [u8], RdbError> {
        let n = usize::try_from(n).map_err(|_| RdbError::BadFormat)?;
        if n > self.remaining() {
            return Err(RdbError::BadFormat);
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, RdbError> {
        Ok(self.take(1)?[0])
    }

    fn len_or_enc(&mut self) -> Result<Len, RdbError> {
        let b = self.u8()?;
        Ok(match b >> 6 {
            0 => Len::Plain(u64::from(b & 0x3f)),
            1 => Len::Plain((u64::from(b & 0x3f) << 8) | u64::from(self.u8()?)),
            3 => Len::Encoded(b & 0x3f),
            _ => match b {
                0x80 => {
                    let d = self.take(4)?;
                    Len::Plain(u64::from(u32::from_be_bytes([d[0], d[1], d[2], d[3]])))
                }
                0x81 => {
                    let d = self.take(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(d);
                    Len::Plain(u64::from_be_bytes(a))
                }
                _ => return Err(RdbError::BadFormat),
            },
        })
    }

    /// `rdbLoadLen`: a plain length (an encoded-string marker here is malformed).
    pub(crate) fn len(&mut self) -> Result<u64, RdbError> {
        match self.len_or_enc()? {
            Len::Plain(n) => Ok(n),
            Len::Encoded(_) => Err(RdbError::BadFormat),
        }
    }

    /// `rdbGenericLoadStringObject`: plain, integer-encoded or LZF-compressed.
    pub(crate) fn string(&mut self) -> Result<Bytes, RdbError> {
        match self.len_or_enc()? {
            Len::Plain(n) => Ok(Bytes::copy_from_slice(self.take(n)?)),
            Len::Encoded(ENC_INT8) => Ok(Bytes::from((self.u8()? as i8).to_string())),
            Len::Encoded(ENC_INT16) => {
                let d = self.take(2)?;
                Ok(Bytes::from(i16::from_le_bytes([d[0], d[1]]).to_string()))
            }
            Len::Encoded(ENC_INT32) => {
                let d = self.take(4)?;
                Ok(Bytes::from(
                    i32::from_le_bytes([d[0], d[1], d[2], d[3]]).to_string(),
                ))
            }
            Len::Encoded(ENC_LZF) => {
                let clen = self.len()?;
                let ulen = usize::try_from(self.len()?).map_err(|_| RdbError::BadFormat)?;
                let c = self.take(clen)?;
                lzf::decompress(c, ulen)
                    .map(Bytes::from)
                    .ok_or(RdbError::BadFormat)
            }
            Len::Encoded(_) => Err(RdbError::BadFormat),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_strings_roundtrip() {
        for n in [
            0u64,
            63,
            64,
            16383,
            16384,
            u64::from(u32::MAX),
            u64::from(u32::MAX) + 1,
        ] {
            let mut out = Vec::new();
            put_len(&mut out, n);
            assert_eq!(Reader::new(&out).len(), Ok(n));
        }
        for s in [
            &b""[..],
            b"0",
            b"-128",
            b"127",
            b"128",
            b"-32769",
            b"2147483647",
            b"2147483648",
            b"007",
            b"hello",
            &[b'z'; 100][..],
        ] {
            let mut out = Vec::new();
            put_string(&mut out, s);
            let mut r = Reader::new(&out);
            assert_eq!(r.string().as_deref(), Ok(s));
            assert_eq!(r.remaining(), 0);
        }
        let mut out = Vec::new();
        put_string(&mut out, b"-5");
        assert_eq!(out, vec![0xc0, 0xfb]);
        put_string(&mut out, b"2147483648");
        assert_eq!(out[2], 10, "beyond 32 bits: a plain string");
    }
}
