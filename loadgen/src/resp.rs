//! A tiny RESP2 codec: just enough to send `SET`/`INFO` and read one reply.
//!
//! Why hand-rolled instead of the `redis` crate: the load generator must see every `-MOVED`,
//! `-TRYAGAIN` and `-CLUSTERDOWN` reply as it arrives (to follow redirects and count retries
//! itself), keep exactly one request in flight per connection, and add no client-side
//! machinery to the measured latency.

use thiserror::Error;

/// One decoded RESP2 reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `+...`
    Simple(String),
    /// `-...` (the whole line, e.g. `MOVED 866 127.0.0.1:7002`).
    Error(String),
    /// `:...`
    Integer(i64),
    /// `$...`; `None` is the null bulk string `$-1`.
    Bulk(Option<Vec<u8>>),
    /// `*...`; `None` is the null array `*-1`.
    Array(Option<Vec<Reply>>),
}

/// The server sent bytes that are not RESP2.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RespError {
    #[error("unknown RESP type byte {0:#04x}")]
    UnknownType(u8),
    #[error("bad length or integer in RESP header: {0:?}")]
    InvalidNumber(String),
    #[error("bulk string not terminated by CRLF")]
    MissingCrlf,
}

/// Encodes a command as a RESP2 array of bulk strings.
pub fn encode_command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Parses one reply from the front of `buf`.
///
/// Returns `Ok(None)` when `buf` holds only part of a reply (read more and call again), or the
/// reply and how many bytes it used.
pub fn parse_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, RespError> {
    let Some(line_end) = find_crlf(buf) else {
        return Ok(None);
    };
    let Some(&kind) = buf.first() else {
        return Ok(None);
    };
    let line = &buf[1..line_end];
    let after = line_end + 2;
    let text = || String::from_utf8_lossy(line).into_owned();
    match kind {
        b'+' => Ok(Some((Reply::Simple(text()), after))),
        b'-' => Ok(Some((Reply::Error(text()), after))),
        b':' => Ok(Some((Reply::Integer(number(line)?), after))),
        b'$' => {
            let n = number(line)?;
            if n < 0 {
                return Ok(Some((Reply::Bulk(None), after)));
            }
            let n = n as usize;
            if buf.len() < after + n + 2 {
                return Ok(None);
            }
            if &buf[after + n..after + n + 2] != b"\r\n" {
                return Err(RespError::MissingCrlf);
            }
            Ok(Some((
                Reply::Bulk(Some(buf[after..after + n].to_vec())),
                after + n + 2,
            )))
        }
        b'*' => {
            let n = number(line)?;
            if n < 0 {
                return Ok(Some((Reply::Array(None), after)));
            }
            let mut items = Vec::with_capacity(n.min(1024) as usize);
            let mut pos = after;
            for _ in 0..n {
                match parse_reply(&buf[pos..])? {
                    Some((item, used)) => {
                        items.push(item);
                        pos += used;
                    }
                    None => return Ok(None),
                }
            }
            Ok(Some((Reply::Array(Some(items)), pos)))
        }
        other => Err(RespError::UnknownType(other)),
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

fn number(line: &[u8]) -> Result<i64, RespError> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| RespError::InvalidNumber(String::from_utf8_lossy(line).into_owned()))
}

/// The `host:port` a `-MOVED <slot> <host:port>` error points at, if it is one.
pub fn moved_target(err: &str) -> Option<&str> {
    let mut parts = err.split_whitespace();
    (parts.next()? == "MOVED").then_some(())?;
    parts.next()?;
    parts.next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_reply_kind() {
        assert_eq!(
            parse_reply(b"+OK\r\n"),
            Ok(Some((Reply::Simple("OK".into()), 5)))
        );
        assert_eq!(
            parse_reply(b"-MOVED 866 127.0.0.1:7002\r\nrest"),
            Ok(Some((Reply::Error("MOVED 866 127.0.0.1:7002".into()), 27)))
        );
        assert_eq!(parse_reply(b":-42\r\n"), Ok(Some((Reply::Integer(-42), 6))));
        assert_eq!(
            parse_reply(b"$5\r\nhe\r\no\r\n"),
            Ok(Some((Reply::Bulk(Some(b"he\r\no".to_vec())), 11)))
        );
        assert_eq!(parse_reply(b"$-1\r\n"), Ok(Some((Reply::Bulk(None), 5))));
        assert_eq!(
            parse_reply(b"*2\r\n:1\r\n$1\r\nx\r\n"),
            Ok(Some((
                Reply::Array(Some(vec![
                    Reply::Integer(1),
                    Reply::Bulk(Some(b"x".to_vec()))
                ])),
                15
            )))
        );
    }

    #[test]
    fn incomplete_input_asks_for_more() {
        for partial in [
            &b""[..],
            b"+O",
            b"+OK\r",
            b"$5\r\nhel",
            b"$5\r\nhello\r",
            b"*2\r\n:1\r\n",
        ] {
            assert_eq!(parse_reply(partial), Ok(None), "{partial:?}");
        }
    }

    #[test]
    fn garbage_is_an_error() {
        assert_eq!(parse_reply(b"?x\r\n"), Err(RespError::UnknownType(b'?')));
        assert!(matches!(
            parse_reply(b"$x\r\n"),
            Err(RespError::InvalidNumber(_))
        ));
        assert_eq!(parse_reply(b"$1\r\nabc\r\n"), Err(RespError::MissingCrlf));
    }

    #[test]
    fn encodes_and_reads_moved() {
        assert_eq!(
            encode_command(&[b"SET", b"k", b"vv"]),
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nvv\r\n".to_vec()
        );
        assert_eq!(
            moved_target("MOVED 866 127.0.0.1:7002"),
            Some("127.0.0.1:7002")
        );
        assert_eq!(moved_target("TRYAGAIN no leader"), None);
    }
}
