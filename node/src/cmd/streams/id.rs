//! Stream ID arguments, parsed exactly as Redis 7.0's `streamGenericParseIDOrReply`:
//! `ms-seq`, `ms` (the sequence filled in), `-`/`+` where allowed, `ms-*` for XADD, and the
//! `(` exclusive prefix of range bounds. Numbers follow Redis's `string2ull` (a strict
//! integer first, then C `strtoull`: leading blanks, a sign — a negative wraps — and decimal
//! digits).

use bytes::Bytes;

use crate::keyspace::stream::StreamId;
use crate::resp::parse_i64;
use crate::resp::Frame;

pub(crate) const INVALID_ID: &str = "Invalid stream ID specified as stream command argument";

pub(crate) fn invalid_id() -> Frame {
    Frame::err(INVALID_ID)
}

/// Redis's `string2ull`.
fn string2ull(s: &[u8]) -> Option<u64> {
    if let Some(v) = parse_i64(s) {
        return u64::try_from(v).ok();
    }
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    if i >= s.len() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in &s[i..] {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// A parsed ID argument. `seq_given` is false only for the `ms-*` form (XADD).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParsedId {
    pub id: StreamId,
    pub seq_given: bool,
}

/// The general parser. `strict` rejects `-` and `+`; `star` accepts `ms-*`.
pub(crate) fn parse_id(arg: &[u8], missing_seq: u64, strict: bool, star: bool) -> Option<ParsedId> {
    if arg.len() > 127 {
        return None;
    }
    // The C code works on a NUL-terminated copy.
    let buf = match arg.iter().position(|&c| c == 0) {
        Some(n) => &arg[..n],
        None => arg,
    };
    if buf == b"-" || buf == b"+" {
        if strict {
            return None;
        }
        let id = if buf == b"-" {
            StreamId::MIN
        } else {
            StreamId::MAX
        };
        return Some(ParsedId {
            id,
            seq_given: true,
        });
    }
    let (ms_part, seq_part) = match buf.iter().position(|&c| c == b'-') {
        Some(d) => (&buf[..d], Some(&buf[d + 1..])),
        None => (buf, None),
    };
    let ms = string2ull(ms_part)?;
    let (seq, seq_given) = match seq_part {
        Some(b"*") if star => (0, false),
        Some(p) => (string2ull(p)?, true),
        None => (missing_seq, true),
    };
    Some(ParsedId {
        id: StreamId::new(ms, seq),
        seq_given,
    })
}

/// A strict ID (`-`/`+` rejected), or the invalid-ID error.
pub(crate) fn strict_id(arg: &[u8]) -> Result<StreamId, Frame> {
    parse_id(arg, 0, true, false)
        .map(|p| p.id)
        .ok_or_else(invalid_id)
}

/// An ID where `-` and `+` are allowed.
pub(crate) fn loose_id(arg: &[u8], missing_seq: u64) -> Result<StreamId, Frame> {
    parse_id(arg, missing_seq, false, false)
        .map(|p| p.id)
        .ok_or_else(invalid_id)
}

/// A range start (`(` excludes: the next ID), as XRANGE/XPENDING/XAUTOCLAIM take it.
pub(crate) fn range_start(arg: &[u8]) -> Result<StreamId, Frame> {
    if arg.len() > 1 && arg[0] == b'(' {
        let id = parse_id(&arg[1..], 0, true, false)
            .ok_or_else(invalid_id)?
            .id;
        id.incr()
            .ok_or_else(|| Frame::err("invalid start ID for the interval"))
    } else {
        loose_id(arg, 0)
    }
}

/// A range end (`(` excludes: the previous ID); an incomplete ID ends at the last sequence.
pub(crate) fn range_end(arg: &[u8]) -> Result<StreamId, Frame> {
    if arg.len() > 1 && arg[0] == b'(' {
        let id = parse_id(&arg[1..], u64::MAX, true, false)
            .ok_or_else(invalid_id)?
            .id;
        id.decr()
            .ok_or_else(|| Frame::err("invalid end ID for the interval"))
    } else {
        loose_id(arg, u64::MAX)
    }
}

/// The reply form of an ID.
pub(crate) fn id_frame(id: StreamId) -> Frame {
    Frame::Bulk(Bytes::from(id.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Option<(u64, u64)> {
        parse_id(s.as_bytes(), 0, true, false).map(|p| (p.id.ms, p.id.seq))
    }

    #[test]
    fn parses_like_redis() {
        assert_eq!(p("1-2"), Some((1, 2)));
        assert_eq!(p("5"), Some((5, 0)));
        assert_eq!(p("01-02"), Some((1, 2)));
        assert_eq!(p("+7-1"), Some((7, 1)));
        assert_eq!(p("1--1"), None);
        assert_eq!(p("1- 1"), Some((1, 1)));
        assert_eq!(p("1- -1"), Some((1, u64::MAX)));
        assert_eq!(
            p("18446744073709551615-18446744073709551615"),
            Some((u64::MAX, u64::MAX))
        );
        assert_eq!(p("18446744073709551616"), None);
        assert_eq!(p("-"), None);
        assert_eq!(p(""), None);
        assert_eq!(p("1-"), None);
        assert_eq!(p("x"), None);
        assert_eq!(p("1-*"), None);
        let star = parse_id(b"3-*", 0, true, true).expect("parses");
        assert_eq!((star.id, star.seq_given), (StreamId::new(3, 0), false));
        assert_eq!(loose_id(b"+", 0), Ok(StreamId::MAX));
        assert_eq!(range_end(b"5"), Ok(StreamId::new(5, u64::MAX)));
        assert_eq!(range_start(b"(5-1"), Ok(StreamId::new(5, 2)));
        assert_eq!(range_end(b"(5-0"), Ok(StreamId::new(4, u64::MAX)));
        assert_eq!(
            range_end(b"(0-0"),
            Err(Frame::err("invalid end ID for the interval"))
        );
        assert_eq!(range_start(b"(-"), Err(invalid_id()));
    }
}
