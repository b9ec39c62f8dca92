//! The RESP2 value type and its encoding.
//!
//! The encoder never lets a simple string or an error reply span lines: CR and LF inside them
//! are replaced by spaces (as Redis does for error strings), so no bytes a client sent can be
//! echoed back as a forged extra reply.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error_code::ErrorCode;

/// One RESP2 value. Replies are built as frames and encoded with [`Frame::encode`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// `+OK\r\n`
    Simple(String),
    /// `-ERR message\r\n`; the string includes the error prefix (`ERR`, `WRONGTYPE`, ...).
    Error(String),
    /// `:42\r\n`
    Integer(i64),
    /// `$3\r\nfoo\r\n`
    Bulk(Bytes),
    /// `$-1\r\n` (nil bulk string)
    Null,
    /// `*-1\r\n` (nil array)
    NullArray,
    /// `*N\r\n...`
    Array(Vec<Frame>),
}

impl Frame {
    /// `+OK`
    pub fn ok() -> Frame {
        Frame::Simple("OK".to_string())
    }

    /// The error reply `-CODE msg`; CR and LF in `msg` become spaces. Every error the node
    /// sends is built here or by [`Frame::err`], so each carries a code of the contract
    /// ([`crate::error_code::TABLE`]).
    pub fn error(code: ErrorCode, msg: impl AsRef<str>) -> Frame {
        let msg = msg.as_ref();
        let mut s = String::with_capacity(code.as_str().len() + 1 + msg.len());
        s.push_str(code.as_str());
        if !msg.is_empty() {
            s.push(' ');
            push_one_line(&mut s, msg);
        }
        Frame::Error(s)
    }

    /// `-ERR msg` (the generic, no-effect code).
    pub fn err(msg: impl AsRef<str>) -> Frame {
        Frame::error(ErrorCode::Err, msg)
    }

    /// The code of an error reply (`None` for other frames or a code not in the table).
    pub fn error_code(&self) -> Option<ErrorCode> {
        match self {
            Frame::Error(s) => ErrorCode::of_reply(s),
            _ => None,
        }
    }

    /// A bulk string copied from `b`.
    pub fn bulk(b: impl AsRef<[u8]>) -> Frame {
        Frame::Bulk(Bytes::copy_from_slice(b.as_ref()))
    }

    /// True for `Frame::Error`.
    pub fn is_error(&self) -> bool {
        matches!(self, Frame::Error(_))
    }

    /// Appends the RESP2 encoding of `self` to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        match self {
            Frame::Simple(s) => {
                out.put_u8(b'+');
                put_one_line(out, s);
                out.put_slice(b"\r\n");
            }
            Frame::Error(s) => {
                out.put_u8(b'-');
                put_one_line(out, s);
                out.put_slice(b"\r\n");
            }
            Frame::Integer(n) => {
                out.put_u8(b':');
                put_decimal(out, *n);
                out.put_slice(b"\r\n");
            }
            Frame::Bulk(b) => {
                out.reserve(b.len() + 16);
                out.put_u8(b'$');
                put_decimal(out, b.len() as i64);
                out.put_slice(b"\r\n");
                out.put_slice(b);
                out.put_slice(b"\r\n");
            }
            Frame::Null => out.put_slice(b"$-1\r\n"),
            Frame::NullArray => out.put_slice(b"*-1\r\n"),
            Frame::Array(items) => {
                out.put_u8(b'*');
                put_decimal(out, items.len() as i64);
                out.put_slice(b"\r\n");
                for item in items {
                    item.encode(out);
                }
            }
        }
    }
}

/// Appends `s` with CR and LF replaced by spaces.
fn put_one_line(out: &mut BytesMut, s: &str) {
    for (i, part) in s.split(['\r', '\n']).enumerate() {
        if i > 0 {
            out.put_u8(b' ');
        }
        out.put_slice(part.as_bytes());
    }
}

fn push_one_line(out: &mut String, s: &str) {
    out.extend(
        s.chars()
            .map(|c| if c == '\r' || c == '\n' { ' ' } else { c }),
    );
}

/// Appends a command (`*N` array of bulk strings) to `out`: what a client sends.
pub fn encode_command<A: AsRef<[u8]>>(args: &[A], out: &mut BytesMut) {
    out.reserve(16 + args.iter().map(|a| a.as_ref().len() + 16).sum::<usize>());
    out.put_u8(b'*');
    put_decimal(out, args.len() as i64);
    out.put_slice(b"\r\n");
    for a in args {
        let a = a.as_ref();
        out.put_u8(b'$');
        put_decimal(out, a.len() as i64);
        out.put_slice(b"\r\n");
        out.put_slice(a);
        out.put_slice(b"\r\n");
    }
}

fn put_decimal(out: &mut BytesMut, n: i64) {
    let mut buf = itoa_buf();
    let s = format_i64(&mut buf, n);
    out.put_slice(s);
}

fn itoa_buf() -> [u8; 20] {
    [0u8; 20]
}

/// Formats `n` into `buf` without allocating; returns the used tail.
fn format_i64(buf: &mut [u8; 20], n: i64) -> &[u8] {
    let neg = n < 0;
    let mut v = n.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if neg {
        // i64::MIN has 19 digits, so one slot is always left for the sign.
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(f: Frame) -> Vec<u8> {
        let mut b = BytesMut::new();
        f.encode(&mut b);
        b.to_vec()
    }

    #[test]
    fn encodes_every_type() {
        assert_eq!(enc(Frame::ok()), b"+OK\r\n");
        assert_eq!(enc(Frame::err("x")), b"-ERR x\r\n");
        assert_eq!(enc(Frame::error(ErrorCode::Timeout, "")), b"-TIMEOUT\r\n");
        assert_eq!(enc(Frame::Integer(i64::MIN)), b":-9223372036854775808\r\n");
        assert_eq!(enc(Frame::Integer(0)), b":0\r\n");
        assert_eq!(enc(Frame::bulk("foo")), b"$3\r\nfoo\r\n");
        assert_eq!(enc(Frame::Null), b"$-1\r\n");
        assert_eq!(enc(Frame::NullArray), b"*-1\r\n");
        assert_eq!(
            enc(Frame::Array(vec![Frame::Integer(1), Frame::bulk("")])),
            b"*2\r\n:1\r\n$0\r\n\r\n"
        );
    }

    #[test]
    fn no_line_breaks_in_simple_strings_or_errors() {
        assert_eq!(enc(Frame::err("a\r\n+OK")), b"-ERR a  +OK\r\n");
        assert_eq!(Frame::err("a\r\n:1"), Frame::Error("ERR a  :1".to_string()));
        assert_eq!(enc(Frame::Error("X\n+OK".into())), b"-X +OK\r\n");
        assert_eq!(enc(Frame::Simple("a\rb".into())), b"+a b\r\n");
    }

    #[test]
    fn encodes_commands() {
        let mut b = BytesMut::new();
        encode_command(&[&b"SET"[..], b"k", b"vv"], &mut b);
        assert_eq!(&b[..], b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nvv\r\n");
    }
}
