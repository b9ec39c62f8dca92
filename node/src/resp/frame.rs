//! The RESP2 value type and its encoding.

use bytes::{BufMut, Bytes, BytesMut};

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

    /// An error reply; `msg` must carry its prefix (`ERR ...`, `WRONGTYPE ...`).
    pub fn error(msg: impl Into<String>) -> Frame {
        Frame::Error(msg.into())
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
                out.put_slice(s.as_bytes());
                out.put_slice(b"\r\n");
            }
            Frame::Error(s) => {
                out.put_u8(b'-');
                out.put_slice(s.as_bytes());
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
        assert_eq!(enc(Frame::error("ERR x")), b"-ERR x\r\n");
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
}
