//! The binary-encoding core shared by [`crate::keyspace::codec`] (the keyspace image inside
//! snapshots) and [`crate::storage::codec`] (WAL entries, votes, log ids, snapshot metadata):
//! little-endian integers, LEB128 varints, length-prefixed bytes, and a bounds-checked
//! [`Reader`]. One implementation, so both formats agree on what a varint is and both check
//! every length against the remaining input before anything is sized from it.
//!
//! Each format keeps its own error type (they are part of its contract) and converts
//! [`ReadError`] into it.

/// Appends `v` as 8 little-endian bytes.
pub fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends `v` as an unsigned LEB128 varint (1..=10 bytes).
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends `b` as a varint length followed by the bytes.
pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Why a primitive could not be read. Offsets are relative to the start of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// The input ended inside a fixed-size field (`needed` bytes at `offset`).
    Truncated {
        what: &'static str,
        offset: usize,
        needed: u64,
        remaining: usize,
    },
    /// A varint longer than 10 bytes or overflowing u64, starting at `offset`.
    BadVarint { what: &'static str, offset: usize },
    /// A length or count (read at `offset`) claims `len` items that need `needed` bytes, more
    /// than the `remaining` input: refused before any allocation.
    TooLong {
        what: &'static str,
        offset: usize,
        len: u64,
        needed: u64,
        remaining: usize,
    },
}

/// A bounds-checked cursor over the input; every accessor names the field it reads so
/// errors say what was being decoded.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at `pos` in `buf` (`pos` is clamped to the input).
    pub fn at(buf: &'a [u8], pos: usize) -> Self {
        Reader {
            buf,
            pos: pos.min(buf.len()),
        }
    }

    pub fn new(buf: &'a [u8]) -> Self {
        Reader::at(buf, 0)
    }

    /// Offset of the next byte.
    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: u64, what: &'static str) -> Result<&'a [u8], ReadError> {
        if n > self.remaining() as u64 {
            return Err(ReadError::Truncated {
                what,
                offset: self.pos,
                needed: n,
                remaining: self.remaining(),
            });
        }
        let n = n as usize;
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8, ReadError> {
        Ok(self.take(1, what)?[0])
    }

    /// 8 little-endian bytes.
    pub fn u64(&mut self, what: &'static str) -> Result<u64, ReadError> {
        let s = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }

    /// An unsigned LEB128 varint of at most 10 bytes that fits in u64.
    pub fn varint(&mut self, what: &'static str) -> Result<u64, ReadError> {
        let start = self.pos;
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = self.u8(what)?;
            if i == 9 && b > 1 {
                return Err(ReadError::BadVarint {
                    what,
                    offset: start,
                });
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(ReadError::BadVarint {
            what,
            offset: start,
        })
    }

    /// A varint count of items each needing at least `min_item_bytes` (at least 1), checked
    /// against the remaining input, so a loop or `Vec::with_capacity` on it is bounded by the
    /// input size.
    pub fn count(&mut self, what: &'static str, min_item_bytes: u64) -> Result<u64, ReadError> {
        let offset = self.pos;
        let len = self.varint(what)?;
        let needed = len.saturating_mul(min_item_bytes.max(1));
        if needed > self.remaining() as u64 {
            return Err(ReadError::TooLong {
                what,
                offset,
                len,
                needed,
                remaining: self.remaining(),
            });
        }
        Ok(len)
    }

    /// Length-prefixed bytes (see [`put_bytes`]).
    pub fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], ReadError> {
        let n = self.count(what, 1)?;
        self.take(n, what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_reject_overlong() {
        for v in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            let mut r = Reader::new(&b);
            assert_eq!(r.varint("v"), Ok(v));
            assert_eq!(r.remaining(), 0);
        }
        let over = [0xff; 10];
        assert_eq!(
            Reader::new(&over).varint("v"),
            Err(ReadError::BadVarint {
                what: "v",
                offset: 0
            })
        );
    }

    #[test]
    fn lengths_are_checked_before_use() {
        let mut b = Vec::new();
        put_varint(&mut b, 1 << 40);
        b.extend_from_slice(b"abc");
        assert!(matches!(
            Reader::new(&b).bytes("key"),
            Err(ReadError::TooLong {
                what: "key",
                offset: 0,
                ..
            })
        ));
        assert!(matches!(
            Reader::new(&b[..0]).u64("x"),
            Err(ReadError::Truncated { needed: 8, .. })
        ));
        let mut b = Vec::new();
        put_bytes(&mut b, b"hello");
        assert_eq!(Reader::new(&b).bytes("s"), Ok(&b"hello"[..]));
    }
}
