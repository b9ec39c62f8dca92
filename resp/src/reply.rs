//! The streaming decoder of replies (the client side of RESP2 and RESP3), used by the harness
//! client, the load generator and the node's forward-to-leader link.
//!
//! [`ReplyDecoder::decode`] is resumable like the command decoder: a completed leaf (simple
//! string, error, integer, bulk, and the RESP3 null, double, boolean, big number, verbatim
//! string and blob error) is taken off the buffer at once, and the aggregates it belongs to
//! (arrays, and RESP3 maps, sets, pushes and attributes) are kept on an explicit stack, so a
//! reply that arrives in pieces is never re-parsed from its start, and nesting costs heap,
//! not call stack. Every length read from the wire is checked against [`ReplyLimits`] before
//! anything is sized from it: bulk and aggregate lengths (a map of N pairs counts as 2N
//! elements), the nesting depth (every aggregate kind counts), header lines, and the total of
//! buffered plus already-decoded bytes.
//!
//! RESP3 specifics: `_` decodes as [`Frame::Null`]; a blob error `!` as [`Frame::Error`]; an
//! attribute (`|N`) is decoded under the same limits and dropped (the value after it is the
//! reply, as the RESP3 spec lets a client that does not use attributes do); streamed strings
//! and aggregates (`$?`, `*?`), which Redis never sends, are protocol errors.

use bytes::{Buf, BytesMut};

use crate::command::{find, parse_i64, proto, DecodeError, RESERVE_AHEAD};
use crate::Frame;

/// Default maximum nesting of arrays in one reply.
pub const MAX_REPLY_DEPTH: usize = 64;

/// Limits a reply must respect; a reply beyond any of them is a protocol error.
#[derive(Clone, Copy, Debug)]
pub struct ReplyLimits {
    /// Largest bulk string (default 512 MiB, the server's `proto-max-bulk-len`).
    pub max_bulk_len: u64,
    /// Largest array element count (default 16M).
    pub max_array_len: u64,
    /// Deepest nesting of arrays (default [`MAX_REPLY_DEPTH`]).
    pub max_depth: usize,
    /// Longest header, simple-string or error line (default 64 KiB).
    pub max_line_len: usize,
    /// Bytes buffered plus bytes already decoded into an unfinished reply (default 1 GiB).
    pub max_total: u64,
}

impl Default for ReplyLimits {
    fn default() -> Self {
        ReplyLimits {
            max_bulk_len: 512 * 1024 * 1024,
            max_array_len: 16 * 1024 * 1024,
            max_depth: MAX_REPLY_DEPTH,
            max_line_len: 64 * 1024,
            max_total: 1024 * 1024 * 1024,
        }
    }
}

/// Which aggregate an [`OpenArray`] is building.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AggKind {
    Array,
    Map,
    Set,
    Push,
    /// Decoded and dropped (see the module docs).
    Attribute,
}

/// An aggregate whose header has been read but not all its elements (a map or an
/// attribute of N pairs waits for 2N).
#[derive(Debug)]
struct OpenArray {
    kind: AggKind,
    remaining: usize,
    items: Vec<Frame>,
}

/// What the body after a `$`/`=`/`!` header becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BlobKind {
    Bulk,
    Verbatim,
    Error,
}

/// Resumable reply decoder for one connection. After an error the connection must be
/// closed (the decoder state is unspecified).
#[derive(Debug, Default)]
pub struct ReplyDecoder {
    limits: ReplyLimits,
    /// Bytes at the front of the buffer already searched for a line terminator.
    scanned: usize,
    /// Length and kind of the blob whose `$len\r\n` (or `=` / `!`) header has been consumed.
    bulk_len: Option<usize>,
    blob: Option<BlobKind>,
    stack: Vec<OpenArray>,
    /// Approximate bytes held in `stack`, counted against `max_total`.
    held: u64,
}

impl ReplyDecoder {
    pub fn new(limits: ReplyLimits) -> ReplyDecoder {
        ReplyDecoder {
            limits,
            ..ReplyDecoder::default()
        }
    }

    /// Takes one complete reply off the front of `buf`; `Ok(None)` if more bytes are needed
    /// (the bytes of the reply consumed so far are kept by the decoder, so call again with the
    /// same decoder once more bytes were appended to `buf`).
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        loop {
            let leaf = match self.bulk_len {
                Some(n) => {
                    if buf.len() < n + 2 {
                        let want = (n + 2 - buf.len()).min(RESERVE_AHEAD);
                        buf.reserve(want);
                        return self.need_more(buf);
                    }
                    if &buf[n..n + 2] != b"\r\n" {
                        return Err(proto("bulk string not terminated by CRLF"));
                    }
                    let b = buf.split_to(n).freeze();
                    buf.advance(2);
                    self.bulk_len = None;
                    match self.blob.take().unwrap_or(BlobKind::Bulk) {
                        BlobKind::Bulk => Frame::Bulk(b),
                        // A blob error may carry CR/LF; as a `Frame::Error` it would be
                        // re-encoded as a one-line `-` error, so line breaks become spaces
                        // (a forwarded reply must never turn into two).
                        BlobKind::Error => {
                            Frame::Error(String::from_utf8_lossy(&b).replace(['\r', '\n'], " "))
                        }
                        BlobKind::Verbatim => {
                            // The header checked n >= 4; the format is 3 bytes and a ':'.
                            if b.get(3) != Some(&b':') {
                                return Err(proto("invalid verbatim string format"));
                            }
                            let mut format = [0u8; 3];
                            format.copy_from_slice(&b[..3]);
                            Frame::Verbatim {
                                format,
                                text: b.slice(4..),
                            }
                        }
                    }
                }
                None => {
                    let Some(&tag) = buf.first() else {
                        return self.need_more(buf);
                    };
                    // The type byte is checked first: a line that is only `\r\n` has no
                    // body to slice, and garbage is refused without waiting for a CRLF.
                    if !matches!(
                        tag,
                        b'+' | b'-'
                            | b':'
                            | b'$'
                            | b'*'
                            | b'%'
                            | b'~'
                            | b'>'
                            | b'|'
                            | b'_'
                            | b','
                            | b'#'
                            | b'('
                            | b'='
                            | b'!'
                    ) {
                        return Err(unexpected_type(tag));
                    }
                    let Some(cr) = self.find_crlf(buf) else {
                        if buf.len() > self.limits.max_line_len {
                            return Err(proto("too big inline request"));
                        }
                        return self.need_more(buf);
                    };
                    // The same bound whether the line arrived whole or byte by byte (the
                    // check above sees at most `cr + 1` bytes of it before the `\n`).
                    if cr + 1 > self.limits.max_line_len {
                        return Err(proto("too big inline request"));
                    }
                    let body = &buf[1..cr];
                    let text = || String::from_utf8_lossy(body).into_owned();
                    let leaf = match tag {
                        b'+' => Some(Frame::Simple(text())),
                        b'-' => Some(Frame::Error(text())),
                        b':' => Some(Frame::Integer(
                            parse_i64(body).ok_or_else(|| proto("invalid integer"))?,
                        )),
                        b'$' | b'=' | b'!' => {
                            let n = parse_i64(body).ok_or_else(|| proto("invalid bulk length"))?;
                            if n == -1 && tag == b'$' {
                                Some(Frame::Null)
                            } else if n < 0 || n as u64 > self.limits.max_bulk_len {
                                return Err(proto("invalid bulk length"));
                            } else if tag == b'=' && n < 4 {
                                return Err(proto("invalid verbatim string format"));
                            } else {
                                self.bulk_len = Some(n as usize);
                                self.blob = Some(match tag {
                                    b'=' => BlobKind::Verbatim,
                                    b'!' => BlobKind::Error,
                                    _ => BlobKind::Bulk,
                                });
                                None
                            }
                        }
                        b'_' if body.is_empty() => Some(Frame::Null),
                        b'_' => return Err(proto("invalid null")),
                        b'#' => match body {
                            b"t" => Some(Frame::Boolean(true)),
                            b"f" => Some(Frame::Boolean(false)),
                            _ => return Err(proto("invalid boolean")),
                        },
                        b',' => Some(Frame::Double(
                            parse_double(body).ok_or_else(|| proto("invalid double"))?,
                        )),
                        b'(' => {
                            let digits = body.strip_prefix(b"-").unwrap_or(body);
                            if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                                return Err(proto("invalid big number"));
                            }
                            Some(Frame::BigNumber(text()))
                        }
                        b'*' | b'%' | b'~' | b'>' | b'|' => {
                            let kind = match tag {
                                b'*' => AggKind::Array,
                                b'%' => AggKind::Map,
                                b'~' => AggKind::Set,
                                b'>' => AggKind::Push,
                                _ => AggKind::Attribute,
                            };
                            let n =
                                parse_i64(body).ok_or_else(|| proto("invalid multibulk length"))?;
                            if n == -1 && kind == AggKind::Array {
                                Some(Frame::NullArray)
                            } else if n < 0 || elements(kind, n as u64) > self.limits.max_array_len
                            {
                                // A map or attribute of n pairs holds 2n frames: the element
                                // bound applies to those (found by the reply fuzz target).
                                return Err(proto("invalid multibulk length"));
                            } else if self.stack.len() >= self.limits.max_depth {
                                return Err(proto("too deeply nested array"));
                            } else if n == 0 && kind == AggKind::Attribute {
                                buf.advance(cr + 2);
                                self.scanned = 0;
                                continue;
                            } else if n == 0 {
                                Some(close(kind, Vec::new()))
                            } else {
                                let pairs = matches!(kind, AggKind::Map | AggKind::Attribute);
                                let n = n as usize * if pairs { 2 } else { 1 };
                                self.stack.push(OpenArray {
                                    kind,
                                    remaining: n,
                                    items: Vec::with_capacity(n.min(1024)),
                                });
                                None
                            }
                        }
                        other => return Err(unexpected_type(other)),
                    };
                    buf.advance(cr + 2);
                    self.scanned = 0;
                    match leaf {
                        Some(f) => f,
                        None => continue,
                    }
                }
            };
            if let Some(done) = self.place(leaf) {
                return Ok(Some(done));
            }
        }
    }

    /// Adds a completed value to the innermost open array (closing every array it completes);
    /// returns the whole reply once the outermost one is complete.
    fn place(&mut self, mut value: Frame) -> Option<Frame> {
        loop {
            let Some(top) = self.stack.last_mut() else {
                self.held = 0;
                return Some(value);
            };
            self.held += held_size(&value);
            top.items.push(value);
            top.remaining -= 1;
            if top.remaining > 0 {
                return None;
            }
            let Some(done) = self.stack.pop() else {
                return None;
            };
            if done.kind == AggKind::Attribute {
                // Dropped: the next value takes its place in the parent.
                return None;
            }
            value = close(done.kind, done.items);
        }
    }

    /// Position of the `\r` of the first `\r\n` in `buf`, resuming the search where the last
    /// call stopped.
    fn find_crlf(&mut self, buf: &[u8]) -> Option<usize> {
        loop {
            let cr = find(buf, b'\r', &mut self.scanned)?;
            match buf.get(cr + 1) {
                Some(b'\n') => return Some(cr),
                Some(_) => self.scanned = cr + 1,
                None => return None,
            }
        }
    }

    fn need_more(&self, buf: &BytesMut) -> Result<Option<Frame>, DecodeError> {
        if buf.len() as u64 + self.held > self.limits.max_total {
            return Err(proto("reply exceeds the client's buffer limit"));
        }
        Ok(None)
    }
}

/// The frame of a completed aggregate (`items` of a map alternate keys and values).
fn close(kind: AggKind, items: Vec<Frame>) -> Frame {
    match kind {
        AggKind::Array | AggKind::Attribute => Frame::Array(items),
        AggKind::Set => Frame::Set(items),
        AggKind::Push => Frame::Push(items),
        AggKind::Map => {
            let mut pairs = Vec::with_capacity(items.len() / 2);
            let mut it = items.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                pairs.push((k, v));
            }
            Frame::Map(pairs)
        }
    }
}

/// A RESP3 double: `inf`, `-inf`, `nan` or a decimal / exponent number.
fn parse_double(body: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(body).ok()?;
    match s {
        "inf" | "+inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        "nan" | "-nan" => Some(f64::NAN),
        _ if s.is_empty()
            || s.bytes()
                .any(|c| c.is_ascii_alphabetic() && c != b'e' && c != b'E') =>
        {
            None
        }
        _ => s.parse().ok(),
    }
}

fn unexpected_type(tag: u8) -> DecodeError {
    DecodeError::Protocol(format!(
        "ERR Protocol error: unexpected frame type '{}'",
        char::from(tag)
    ))
}

/// Bytes a decoded value stands for, for the `max_total` account (arrays were counted as
/// their elements were placed).
fn held_size(f: &Frame) -> u64 {
    match f {
        Frame::Simple(s) | Frame::Error(s) | Frame::BigNumber(s) => s.len() as u64 + 3,
        Frame::Bulk(b) | Frame::Verbatim { text: b, .. } => b.len() as u64 + 8,
        Frame::Integer(_)
        | Frame::Null
        | Frame::NullArray
        | Frame::Double(_)
        | Frame::Boolean(_)
        | Frame::Array(_)
        | Frame::Map(_)
        | Frame::Pairs(_)
        | Frame::ArrayMap(_)
        | Frame::Set(_)
        | Frame::Push(_) => 8,
    }
}

/// Decodes one whole reply off the front of `buf` with default [`ReplyLimits`]; `Ok(None)`
/// (and `buf` untouched) if `buf` does not hold a whole reply yet. For one-shot use on stored
/// bytes; a connection keeps a [`ReplyDecoder`] instead, which never re-parses.
/// The frames an aggregate header of `n` announces: `n`, or `2n` for a map or attribute.
fn elements(kind: AggKind, n: u64) -> u64 {
    match kind {
        AggKind::Map | AggKind::Attribute => n.saturating_mul(2),
        _ => n,
    }
}

pub fn decode_frame(buf: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
    decode_frame_with(buf, ReplyLimits::default())
}

/// [`decode_frame`] with explicit limits.
pub fn decode_frame_with(
    buf: &mut BytesMut,
    limits: ReplyLimits,
) -> Result<Option<Frame>, DecodeError> {
    let mut tmp = buf.clone();
    match ReplyDecoder::new(limits).decode(&mut tmp)? {
        Some(f) => {
            let used = buf.len() - tmp.len();
            buf.advance(used);
            Ok(Some(f))
        }
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use proptest::prelude::*;

    #[test]
    fn decode_frame_all_types() {
        let mut buf =
            BytesMut::from(&b"+OK\r\n-ERR x\r\n:-5\r\n$-1\r\n*-1\r\n*2\r\n$1\r\na\r\n*0\r\n"[..]);
        assert_eq!(decode_frame(&mut buf), Ok(Some(Frame::ok())));
        assert_eq!(decode_frame(&mut buf), Ok(Some(Frame::err("x"))));
        assert_eq!(decode_frame(&mut buf), Ok(Some(Frame::Integer(-5))));
        assert_eq!(decode_frame(&mut buf), Ok(Some(Frame::Null)));
        assert_eq!(decode_frame(&mut buf), Ok(Some(Frame::NullArray)));
        assert_eq!(
            decode_frame(&mut buf),
            Ok(Some(Frame::Array(vec![
                Frame::bulk("a"),
                Frame::Array(vec![])
            ])))
        );
        assert_eq!(decode_frame(&mut buf), Ok(None));
        let mut bad = BytesMut::from(&b"$9223372036854775807\r\n"[..]);
        assert_eq!(decode_frame(&mut bad), Err(proto("invalid bulk length")));
        let mut bad = BytesMut::from(&b"*2147483647\r\n"[..]);
        assert_eq!(
            decode_frame(&mut bad),
            Err(proto("invalid multibulk length"))
        );
        let mut bad = BytesMut::from(&b"?x\r\n"[..]);
        assert!(decode_frame(&mut bad).is_err());
    }

    fn arb_frame() -> impl Strategy<Value = Frame> {
        let text = "[a-zA-Z0-9 ]{0,12}";
        let leaf = prop_oneof![
            text.prop_map(Frame::Simple),
            text.prop_map(|s| Frame::Error(format!("ERR {s}"))),
            any::<i64>().prop_map(Frame::Integer),
            proptest::collection::vec(any::<u8>(), 0..20).prop_map(|v| Frame::Bulk(Bytes::from(v))),
            Just(Frame::Null),
            Just(Frame::NullArray),
        ];
        leaf.prop_recursive(3, 24, 5, |inner| {
            proptest::collection::vec(inner, 0..5).prop_map(Frame::Array)
        })
    }

    proptest! {
        #[test]
        fn frames_split_anywhere(frame in arb_frame()) {
            let mut wire = BytesMut::new();
            frame.encode(&mut wire);
            for split in 0..=wire.len() {
                let mut buf = BytesMut::from(&wire[..split]);
                let first = decode_frame(&mut buf).expect("valid prefix");
                if split < wire.len() {
                    prop_assert_eq!(first, None);
                    buf.extend_from_slice(&wire[split..]);
                    prop_assert_eq!(decode_frame(&mut buf).expect("valid"), Some(frame.clone()));
                } else {
                    prop_assert_eq!(first, Some(frame.clone()));
                }
                prop_assert!(buf.is_empty());
            }
        }


        #[test]
        fn streamed_frames_split_anywhere(frame in arb_frame()) {
            let mut wire = BytesMut::new();
            frame.encode(&mut wire);
            frame.encode(&mut wire);
            for split in 0..=wire.len() {
                let mut d = ReplyDecoder::default();
                let mut buf = BytesMut::from(&wire[..split]);
                let mut got = Vec::new();
                while let Some(f) = d.decode(&mut buf).expect("valid prefix") {
                    got.push(f);
                }
                buf.extend_from_slice(&wire[split..]);
                while let Some(f) = d.decode(&mut buf).expect("valid") {
                    got.push(f);
                }
                prop_assert_eq!(got, vec![frame.clone(), frame.clone()]);
                prop_assert!(buf.is_empty());
            }
        }

        #[test]
        fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut d = ReplyDecoder::default();
            let mut buf = BytesMut::from(&data[..]);
            while let Ok(Some(_)) = d.decode(&mut buf) {}
        }
    }

    fn arb_frame3() -> impl Strategy<Value = Frame> {
        let text = "[a-zA-Z0-9 ]{0,12}";
        let leaf = prop_oneof![
            text.prop_map(Frame::Simple),
            text.prop_map(|s| Frame::Error(format!("ERR {s}"))),
            any::<i64>().prop_map(Frame::Integer),
            proptest::collection::vec(any::<u8>(), 0..20).prop_map(|v| Frame::Bulk(Bytes::from(v))),
            Just(Frame::Null),
            any::<f64>()
                .prop_filter("no NaN", |d| !d.is_nan())
                .prop_map(Frame::Double),
            any::<bool>().prop_map(Frame::Boolean),
            "-?[1-9][0-9]{0,40}".prop_map(Frame::BigNumber),
            proptest::collection::vec(any::<u8>(), 0..20).prop_map(|v| Frame::Verbatim {
                format: *b"txt",
                text: Bytes::from(v)
            }),
        ];
        leaf.prop_recursive(3, 24, 5, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Frame::Array),
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Frame::Set),
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Frame::Push),
                proptest::collection::vec((inner.clone(), inner), 0..4).prop_map(Frame::Map),
            ]
        })
    }

    proptest! {
        /// Every RESP3 frame survives encode → decode, split at any byte.
        #[test]
        fn resp3_frames_split_anywhere(frame in arb_frame3()) {
            let mut wire = BytesMut::new();
            frame.encode_as(crate::Protocol::Resp3, &mut wire);
            for split in 0..=wire.len() {
                let mut d = ReplyDecoder::default();
                let mut buf = BytesMut::from(&wire[..split]);
                let first = d.decode(&mut buf).expect("valid prefix");
                let got = match first {
                    Some(f) => f,
                    None => {
                        buf.extend_from_slice(&wire[split..]);
                        d.decode(&mut buf).expect("valid").expect("complete")
                    }
                };
                prop_assert_eq!(&got, &frame);
                prop_assert!(buf.is_empty());
            }
        }
    }

    #[test]
    fn decodes_every_resp3_type() {
        let wire = b"%2\r\n+a\r\n:1\r\n$1\r\nb\r\n_\r\n~1\r\n#t\r\n,-1.5e3\r\n,inf\r\n\
            (-12345678901234567890\r\n=8\r\ntxt:abcd\r\n>1\r\n#f\r\n!5\r\nERR x\r\n\
            |1\r\n+key\r\n+val\r\n:7\r\n*2\r\n|0\r\n:1\r\n:2\r\n%0\r\n";
        let mut buf = BytesMut::from(&wire[..]);
        let mut d = ReplyDecoder::default();
        let mut got = Vec::new();
        while let Some(f) = d.decode(&mut buf).expect("valid") {
            got.push(f);
        }
        assert_eq!(
            got,
            vec![
                Frame::Map(vec![
                    (Frame::Simple("a".into()), Frame::Integer(1)),
                    (Frame::bulk("b"), Frame::Null)
                ]),
                Frame::Set(vec![Frame::Boolean(true)]),
                Frame::Double(-1500.0),
                Frame::Double(f64::INFINITY),
                Frame::BigNumber("-12345678901234567890".into()),
                Frame::Verbatim {
                    format: *b"txt",
                    text: Bytes::from_static(b"abcd")
                },
                Frame::Push(vec![Frame::Boolean(false)]),
                Frame::Error("ERR x".into()),
                Frame::Integer(7),
                Frame::Array(vec![Frame::Integer(1), Frame::Integer(2)]),
                Frame::Map(vec![]),
            ]
        );
        for bad in [
            &b"_x\r\n"[..],
            b"#x\r\n",
            b",abc\r\n",
            b",\r\n",
            b"(12a\r\n",
            b"(\r\n",
            b"=3\r\ntxt\r\n",
            b"=5\r\ntxt-x\r\n",
            b"%-1\r\n",
            b"~-1\r\n",
            b"$?\r\n",
            b"%9223372036854775807\r\n",
        ] {
            let mut buf = BytesMut::from(bad);
            assert!(
                ReplyDecoder::default().decode(&mut buf).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn resp3_depth_and_sizes_are_bounded() {
        for tag in [&b"%1\r\n:1\r\n"[..], b"~1\r\n", b">1\r\n", b"|1\r\n:1\r\n"] {
            let wire = tag.repeat(10_000);
            let mut buf = BytesMut::from(&wire[..]);
            assert_eq!(
                ReplyDecoder::default().decode(&mut buf),
                Err(proto("too deeply nested array"))
            );
        }
        let limits = ReplyLimits {
            max_array_len: 3,
            max_bulk_len: 10,
            ..ReplyLimits::default()
        };
        let mut buf = BytesMut::from(&b"%4\r\n"[..]);
        assert_eq!(
            ReplyDecoder::new(limits).decode(&mut buf),
            Err(proto("invalid multibulk length"))
        );
        let mut buf = BytesMut::from(&b"=11\r\n"[..]);
        assert_eq!(
            ReplyDecoder::new(limits).decode(&mut buf),
            Err(proto("invalid bulk length"))
        );
        let mut buf = BytesMut::from(&b"!11\r\n"[..]);
        assert_eq!(
            ReplyDecoder::new(limits).decode(&mut buf),
            Err(proto("invalid bulk length"))
        );
    }

    fn proto(msg: &str) -> DecodeError {
        crate::command::proto(msg)
    }

    #[test]
    fn depth_is_bounded_without_recursion() {
        let mut wire = b"*1\r\n".repeat(100_000);
        wire.extend_from_slice(b":1\r\n");
        let mut buf = BytesMut::from(&wire[..]);
        assert_eq!(
            ReplyDecoder::default().decode(&mut buf),
            Err(proto("too deeply nested array"))
        );
        let mut ok = b"*1\r\n".repeat(MAX_REPLY_DEPTH);
        ok.extend_from_slice(b":1\r\n");
        let mut buf = BytesMut::from(&ok[..]);
        assert!(matches!(
            ReplyDecoder::default().decode(&mut buf),
            Ok(Some(Frame::Array(_)))
        ));
    }

    /// Found by the `resp_reply_decoder` fuzz target: a reply starting with `\r\n` sliced
    /// `buf[1..0]` and panicked (a server or a forwarding leader could crash the client).
    #[test]
    fn a_line_without_a_type_byte_is_an_error() {
        for input in [&b"\r\n"[..], b"\r\n+OK\r\n", b"\r", b"\n:1\r\n"] {
            let mut buf = BytesMut::from(input);
            let got = ReplyDecoder::default().decode(&mut buf);
            let tag = char::from(input[0]);
            assert_eq!(
                got,
                Err(DecodeError::Protocol(format!(
                    "ERR Protocol error: unexpected frame type '{tag}'"
                ))),
                "{input:?}"
            );
        }
        let mut buf = BytesMut::from(&b"+OK\r\n\r\n"[..]);
        assert_eq!(decode_frame(&mut buf), Ok(Some(Frame::ok())));
        assert!(decode_frame(&mut buf).is_err());
    }

    /// Found by the `resp_reply_decoder` fuzz target: the line limit held only for a line
    /// still waiting for its CRLF, so a long line read in one go passed.
    #[test]
    fn line_limit_holds_however_the_line_arrives() {
        let limits = ReplyLimits {
            max_line_len: 8,
            ..ReplyLimits::default()
        };
        let mut buf = BytesMut::from(&b"+1234567\r\n"[..]);
        assert_eq!(
            ReplyDecoder::new(limits).decode(&mut buf),
            Err(proto("too big inline request"))
        );
        let mut buf = BytesMut::from(&b"+123456\r\n"[..]);
        assert_eq!(
            ReplyDecoder::new(limits).decode(&mut buf),
            Ok(Some(Frame::Simple("123456".into())))
        );
        // Byte by byte, the same line fails at the same bound.
        let mut d = ReplyDecoder::new(limits);
        let mut buf = BytesMut::new();
        let mut got = Ok(None);
        for &b in b"+1234567\r\n" {
            buf.extend_from_slice(&[b]);
            got = d.decode(&mut buf);
            if got.is_err() {
                break;
            }
        }
        assert_eq!(got, Err(proto("too big inline request")));
    }

    #[test]
    fn sizes_are_bounded() {
        let limits = ReplyLimits {
            max_bulk_len: 10,
            max_array_len: 3,
            max_total: 64,
            ..ReplyLimits::default()
        };
        let mut buf = BytesMut::from(&b"$11\r\n"[..]);
        assert_eq!(
            ReplyDecoder::new(limits).decode(&mut buf),
            Err(proto("invalid bulk length"))
        );
        let mut buf = BytesMut::from(&b"*4\r\n"[..]);
        assert_eq!(
            ReplyDecoder::new(limits).decode(&mut buf),
            Err(proto("invalid multibulk length"))
        );
        let mut d = ReplyDecoder::new(limits);
        let mut buf = BytesMut::from(&b"*3\r\n$10\r\n0123456789\r\n$10\r\n0123456789\r\n"[..]);
        assert_eq!(d.decode(&mut buf), Ok(None));
        // A simple string still waiting for its CRLF.
        buf.extend_from_slice(b"+");
        buf.extend_from_slice(&[b'x'; 40]);
        assert_eq!(
            d.decode(&mut buf),
            Err(proto("reply exceeds the client's buffer limit"))
        );
        // A lying bulk header reserves at most RESERVE_AHEAD.
        let mut buf = BytesMut::from(&b"$536870912\r\n"[..]);
        assert_eq!(ReplyDecoder::default().decode(&mut buf), Ok(None));
        assert!(buf.capacity() <= RESERVE_AHEAD + 64);
    }

    #[test]
    fn partial_input_is_not_reparsed() {
        // Elements completed before a split are consumed from the buffer at once.
        let mut d = ReplyDecoder::default();
        let mut buf = BytesMut::from(&b"*3\r\n:1\r\n$3\r\nabc\r\n:"[..]);
        assert_eq!(d.decode(&mut buf), Ok(None));
        assert_eq!(&buf[..], b":");
        buf.extend_from_slice(b"3\r\n+rest");
        assert_eq!(
            d.decode(&mut buf),
            Ok(Some(Frame::Array(vec![
                Frame::Integer(1),
                Frame::Bulk(Bytes::from_static(b"abc")),
                Frame::Integer(3)
            ])))
        );
        assert_eq!(&buf[..], b"+rest");
    }

    /// Found by the `resp_reply_decoder` fuzz target: a RESP3 blob error whose body holds
    /// CRLF decoded into an error frame with a line break, which re-encodes as two replies.
    #[test]
    fn a_blob_error_decodes_to_one_line() {
        let mut d = ReplyDecoder::new(ReplyLimits::default());
        let mut buf = BytesMut::from(&b"!13\r\nERR a\r\n+OK\r\nx\r\n"[..]);
        let f = d.decode(&mut buf).expect("decodes").expect("complete");
        assert_eq!(f, Frame::Error("ERR a  +OK  x".to_string()));
        let mut out = BytesMut::new();
        f.encode(&mut out);
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
    }

    /// Found by the `resp_reply_decoder` fuzz target: a map of n pairs was bounded by n, not by
    /// the 2n frames it holds.
    #[test]
    fn a_map_counts_both_frames_of_each_pair_against_the_limit() {
        let limits = ReplyLimits {
            max_array_len: 3,
            ..ReplyLimits::default()
        };
        let mut ok = BytesMut::from(&b"%1\r\n:1\r\n:2\r\n"[..]);
        assert!(ReplyDecoder::new(limits)
            .decode(&mut ok)
            .expect("fits")
            .is_some());
        let mut big = BytesMut::from(&b"%2\r\n:1\r\n:2\r\n:3\r\n:4\r\n"[..]);
        assert!(ReplyDecoder::new(limits).decode(&mut big).is_err());
    }
}
