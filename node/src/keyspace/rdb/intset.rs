//! Intsets (Redis's `intset.c`): `encoding:u32le length:u32le` then the members ascending,
//! little-endian, all in the width `encoding` (2, 4 or 8 bytes).
//!
//! [`build`] chooses the smallest width that holds every member, as an intset built by
//! insertions does (Redis upgrades the width on insert and never downgrades it, so a set that
//! once held a wider member than it holds now dumps wider in Redis: documented in
//! docs/commands.md). [`parse`] validates an untrusted blob: a known width, a length that
//! matches the blob, members strictly ascending.

use super::RdbError;

/// The intset blob of `members` (any order; duplicates are the caller's concern).
pub fn build(members: &mut [i64]) -> Vec<u8> {
    members.sort_unstable();
    let width: usize = if members
        .iter()
        .all(|&v| (i64::from(i16::MIN)..=i64::from(i16::MAX)).contains(&v))
    {
        2
    } else if members
        .iter()
        .all(|&v| (i64::from(i32::MIN)..=i64::from(i32::MAX)).contains(&v))
    {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + members.len() * width);
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(members.len() as u32).to_le_bytes());
    for &v in members.iter() {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    out
}

/// The members of an intset blob, ascending.
pub fn parse(blob: &[u8]) -> Result<Vec<i64>, RdbError> {
    let head = blob.get(..8).ok_or(RdbError::BadFormat)?;
    let width = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
    if !matches!(width, 2 | 4 | 8)
        || (blob.len() - 8) / width != len
        || (blob.len() - 8) % width != 0
    {
        return Err(RdbError::BadFormat);
    }
    let mut out: Vec<i64> = Vec::with_capacity(len);
    for c in blob[8..].chunks_exact(width) {
        let v = match width {
            2 => i64::from(i16::from_le_bytes([c[0], c[1]])),
            4 => i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            _ => i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]),
        };
        if out.last().is_some_and(|&p| p >= v) {
            return Err(RdbError::BadFormat);
        }
        out.push(v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_redis_bytes() {
        // redis-server 7.0: SADD s 1 2 300 → DUMP s holds this intset.
        let blob = build(&mut [300, 1, 2]);
        assert_eq!(
            blob,
            b"\x02\x00\x00\x00\x03\x00\x00\x00\x01\x00\x02\x00,\x01".to_vec()
        );
        assert_eq!(parse(&blob), Ok(vec![1, 2, 300]));
        assert_eq!(parse(&build(&mut [1, 1 << 40])), Ok(vec![1, 1 << 40]));
    }

    #[test]
    fn refuses_bad_blobs() {
        assert!(parse(b"\x03\x00\x00\x00\x00\x00\x00\x00").is_err());
        assert!(parse(b"\x02\x00\x00\x00\x02\x00\x00\x00\x01\x00").is_err());
        assert!(parse(b"\x02\x00\x00\x00\x02\x00\x00\x00\x02\x00\x01\x00").is_err());
        assert!(parse(b"\x02\x00\x00").is_err());
    }
}
