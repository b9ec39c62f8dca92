//! Ziplists (Redis ≤ 6.2's `ziplist.c`), read only: Redis 7.0 still loads the RDB types
//! built on them (`LIST_ZIPLIST`, `ZSET_ZIPLIST`, `HASH_ZIPLIST`, `LIST_QUICKLIST`), so
//! RESTORE accepts payloads from older servers.
//!
//! Layout: `zlbytes:u32le zltail:u32le zllen:u16le entry* 0xff`; an entry is
//! `prevlen (1 byte, or 0xfe + u32le) encoding data`. [`parse`] checks every field against
//! the blob (sizes, `zltail`, `prevlen` chain, count) before trusting it.

use super::listpack::LpValue;
use super::RdbError;
use bytes::Bytes;

const HEADER: usize = 10;

/// Every element of an untrusted ziplist blob.
pub fn parse(zl: &[u8]) -> Result<Vec<LpValue>, RdbError> {
    let bad = || RdbError::BadFormat;
    if zl.len() < HEADER + 1 {
        return Err(bad());
    }
    let zlbytes = u32::from_le_bytes([zl[0], zl[1], zl[2], zl[3]]) as usize;
    let zltail = u32::from_le_bytes([zl[4], zl[5], zl[6], zl[7]]) as usize;
    let zllen = u16::from_le_bytes([zl[8], zl[9]]);
    if zlbytes != zl.len() || zl[zl.len() - 1] != 0xff {
        return Err(bad());
    }
    let end = zl.len() - 1;
    let take = |p: usize, n: usize| -> Result<&[u8], RdbError> {
        match p.checked_add(n) {
            Some(e) if e <= end => Ok(&zl[p..e]),
            _ => Err(bad()),
        }
    };
    let mut out = Vec::new();
    let mut p = HEADER;
    let mut prev_size = 0usize;
    let mut last = HEADER;
    while p < end {
        let start = p;
        let (prevlen, n) = if zl[p] < 254 {
            (usize::from(zl[p]), 1)
        } else if zl[p] == 254 {
            let d = take(p + 1, 4)?;
            (u32::from_le_bytes([d[0], d[1], d[2], d[3]]) as usize, 5)
        } else {
            return Err(bad());
        };
        if prevlen != prev_size {
            return Err(bad());
        }
        p += n;
        let b = take(p, 1)?[0];
        let value = match b >> 6 {
            0 => {
                let n = usize::from(b & 0x3f);
                p += 1;
                let s = take(p, n)?;
                p += n;
                LpValue::Str(Bytes::copy_from_slice(s))
            }
            1 => {
                let lo = take(p + 1, 1)?[0];
                let n = (usize::from(b & 0x3f) << 8) | usize::from(lo);
                p += 2;
                let s = take(p, n)?;
                p += n;
                LpValue::Str(Bytes::copy_from_slice(s))
            }
            2 => {
                if b != 0x80 {
                    return Err(bad());
                }
                let d = take(p + 1, 4)?;
                let n = u32::from_be_bytes([d[0], d[1], d[2], d[3]]) as usize;
                p += 5;
                let s = take(p, n)?;
                p += n;
                LpValue::Str(Bytes::copy_from_slice(s))
            }
            _ => {
                p += 1;
                let (v, w) = match b {
                    0xc0 => {
                        let d = take(p, 2)?;
                        (i64::from(i16::from_le_bytes([d[0], d[1]])), 2)
                    }
                    0xd0 => {
                        let d = take(p, 4)?;
                        (i64::from(i32::from_le_bytes([d[0], d[1], d[2], d[3]])), 4)
                    }
                    0xe0 => {
                        let d = take(p, 8)?;
                        let mut a = [0u8; 8];
                        a.copy_from_slice(d);
                        (i64::from_le_bytes(a), 8)
                    }
                    0xf0 => {
                        let d = take(p, 3)?;
                        (i64::from(i32::from_le_bytes([0, d[0], d[1], d[2]]) >> 8), 3)
                    }
                    0xfe => (i64::from(take(p, 1)?[0] as i8), 1),
                    0xf1..=0xfd => (i64::from(b & 0x0f) - 1, 0),
                    _ => return Err(bad()),
                };
                p += w;
                LpValue::Int(v)
            }
        };
        prev_size = p - start;
        last = start;
        out.push(value);
    }
    if zltail != last || (zllen != u16::MAX && usize::from(zllen) != out.len()) {
        return Err(bad());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_redis_6_ziplist() {
        // Redis 6.2: RPUSH l a 1 300 → LIST_QUICKLIST node ziplist.
        // header(10) | 00 01 'a' | 03 f2 | 02 c0 2c 01 | ff
        let mut zl = vec![0u8; 10];
        zl.extend_from_slice(&[0x00, 0x01, b'a', 0x03, 0xf2, 0x02, 0xc0, 0x2c, 0x01, 0xff]);
        let n = zl.len() as u32;
        zl[0..4].copy_from_slice(&n.to_le_bytes());
        zl[4..8].copy_from_slice(&15u32.to_le_bytes());
        zl[8..10].copy_from_slice(&3u16.to_le_bytes());
        assert_eq!(
            parse(&zl),
            Ok(vec![
                LpValue::Str(Bytes::from_static(b"a")),
                LpValue::Int(1),
                LpValue::Int(300)
            ])
        );
        for cut in 0..zl.len() {
            assert!(parse(&zl[..cut]).is_err());
        }
        let mut bad = zl.clone();
        bad[13] = 9; // prevlen of the second entry
        assert!(parse(&bad).is_err());
    }
}
