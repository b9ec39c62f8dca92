//! The streaming decoder of client commands (the server side of RESP2).
//!
//! [`Decoder::decode_command`] parses client commands — multibulk arrays of bulk strings, or
//! inline commands — straight out of the connection's `BytesMut`. It is resumable: parse state
//! (the multibulk in progress, the pending bulk length, how far a header line has already
//! been searched for its terminator) is kept across calls, so a command that arrives one byte
//! at a time costs O(n) in total, never a rescan from the start. Completed arguments are split
//! off the buffer as `Bytes` without copying.
//!
//! Limits are enforced before anything is sized from the wire: counts and lengths are
//! range-checked when their header line is parsed, and header lines themselves are bounded.
//! For a pending bulk the decoder reserves buffer space incrementally, at most 1 MiB
//! ([`RESERVE_AHEAD`]) beyond what has been received, so a lying `$536870912` header costs
//! nothing until the bytes actually arrive. The buffered total (unparsed bytes plus the
//! arguments of an unfinished multibulk) is bounded by `max_query_buffer`.

use bytes::{Buf, Bytes, BytesMut};

/// Bytes reserved ahead of the received data while a large bulk is pending.
pub const RESERVE_AHEAD: usize = 1024 * 1024;

/// Parser limits; every length read from the wire is checked against these before any
/// allocation is sized from it.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest bulk string accepted (`proto-max-bulk-len`, default 512 MiB).
    pub max_bulk_len: u64,
    /// Largest multibulk element count (1,048,576, as Redis).
    pub max_multibulk_len: u64,
    /// Largest unparsed query buffer per client (`client-query-buffer-limit`, default 1 GiB).
    pub max_query_buffer: u64,
    /// Longest inline command line (64 KiB, Redis's PROTO_INLINE_MAX_SIZE).
    pub max_inline_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            max_multibulk_len: 1024 * 1024,
            max_query_buffer: 1024 * 1024 * 1024,
            max_inline_len: 64 * 1024,
        }
    }
}

/// A protocol violation. The connection replies with `-{message}` and closes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The exact Redis reply text without the leading `-`, e.g.
    /// `ERR Protocol error: invalid multibulk length`.
    #[error("{0}")]
    Protocol(String),
}

impl DecodeError {
    /// The reply sent before the connection is closed (`-ERR Protocol error: …`), built like
    /// every other error reply.
    pub fn to_frame(&self) -> crate::Frame {
        let DecodeError::Protocol(line) = self;
        crate::Frame::err(line.strip_prefix("ERR ").unwrap_or(line))
    }
}

pub(crate) fn proto(msg: &str) -> DecodeError {
    DecodeError::Protocol(format!("ERR Protocol error: {msg}"))
}

/// A multibulk whose header has been read but not all its bulks.
#[derive(Debug)]
struct Multibulk {
    remaining: usize,
    args: Vec<Bytes>,
    /// Length of the bulk whose `$len\r\n` header has been consumed.
    bulk_len: Option<usize>,
    /// Sum of the lengths of `args`, counted against `max_query_buffer`.
    args_bytes: u64,
}

/// Largest multibulk count accepted from a client that must authenticate and has not (Redis 7,
/// since CVE-2021-32675).
pub const UNAUTHENTICATED_MAX_MULTIBULK: i64 = 10;
/// Largest bulk length accepted from a client that must authenticate and has not.
pub const UNAUTHENTICATED_MAX_BULK: i64 = 16 * 1024;

/// Resumable command decoder for one connection.
#[derive(Debug, Default)]
pub struct Decoder {
    limits: Limits,
    /// The client must authenticate and has not: the much smaller pre-auth limits apply.
    unauthenticated: bool,
    /// Bytes at the front of the buffer already searched for a line terminator.
    scanned: usize,
    mb: Option<Multibulk>,
}

/// Redis's `string2ll`: optional `-`, no `+`, no leading zeros, no spaces, fits in i64.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if neg {
        if v > (i64::MAX as u64) + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else {
        i64::try_from(v).ok()
    }
}

impl Decoder {
    pub fn new(limits: Limits) -> Decoder {
        Decoder {
            limits,
            unauthenticated: false,
            scanned: 0,
            mb: None,
        }
    }

    /// Applies (or lifts) the pre-authentication limits: a multibulk of more than
    /// [`UNAUTHENTICATED_MAX_MULTIBULK`] arguments or a bulk longer than
    /// [`UNAUTHENTICATED_MAX_BULK`] is a protocol error, so an unauthenticated client cannot
    /// make the server buffer more than a few KiB. Takes effect from the next header parsed.
    pub fn set_unauthenticated(&mut self, on: bool) {
        self.unauthenticated = on;
    }

    /// The limits this decoder enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Takes one complete command (argv, never empty) off the front of `buf`, `Ok(None)` if
    /// more bytes are needed. Empty inline lines and `*0`/`*-1` are skipped. After an error
    /// the connection must be closed (the decoder state is unspecified).
    pub fn decode_command(
        &mut self,
        buf: &mut BytesMut,
    ) -> Result<Option<Vec<Bytes>>, DecodeError> {
        loop {
            if let Some(mb) = self.mb.as_mut() {
                if mb.remaining == 0 {
                    let args = std::mem::take(&mut mb.args);
                    self.mb = None;
                    return Ok(Some(args));
                }
                match mb.bulk_len {
                    None => {
                        let Some(&first) = buf.first() else {
                            return self.need_more(buf);
                        };
                        if first != b'$' {
                            return Err(DecodeError::Protocol(format!(
                                "ERR Protocol error: expected '$', got '{}'",
                                char::from(first)
                            )));
                        }
                        let Some(cr) = find(buf, b'\r', &mut self.scanned) else {
                            if buf.len() > self.limits.max_inline_len {
                                return Err(proto("too big bulk count string"));
                            }
                            return self.need_more(buf);
                        };
                        if cr + 1 >= buf.len() {
                            return self.need_more(buf);
                        }
                        let len = parse_i64(&buf[1..cr])
                            .filter(|&n| n >= 0 && (n as u64) <= self.limits.max_bulk_len)
                            .ok_or_else(|| proto("invalid bulk length"))?;
                        if self.unauthenticated && len > UNAUTHENTICATED_MAX_BULK {
                            return Err(proto("unauthenticated bulk length"));
                        }
                        buf.advance(cr + 2);
                        self.scanned = 0;
                        mb.bulk_len = Some(len as usize);
                    }
                    Some(n) => {
                        if buf.len() < n + 2 {
                            let want = (n + 2 - buf.len()).min(RESERVE_AHEAD);
                            buf.reserve(want);
                            return self.need_more(buf);
                        }
                        let arg = buf.split_to(n).freeze();
                        buf.advance(2);
                        mb.args_bytes += n as u64;
                        mb.args.push(arg);
                        mb.remaining -= 1;
                        mb.bulk_len = None;
                    }
                }
                continue;
            }
            let Some(&first) = buf.first() else {
                return Ok(None);
            };
            if first == b'*' {
                let Some(cr) = find(buf, b'\r', &mut self.scanned) else {
                    if buf.len() > self.limits.max_inline_len {
                        return Err(proto("too big mbulk count string"));
                    }
                    return self.need_more(buf);
                };
                if cr + 1 >= buf.len() {
                    return self.need_more(buf);
                }
                let n = parse_i64(&buf[1..cr])
                    .filter(|&n| {
                        n <= i64::from(i32::MAX)
                            && n as i128 <= self.limits.max_multibulk_len as i128
                    })
                    .ok_or_else(|| proto("invalid multibulk length"))?;
                if self.unauthenticated && n > UNAUTHENTICATED_MAX_MULTIBULK {
                    return Err(proto("unauthenticated multibulk length"));
                }
                buf.advance(cr + 2);
                self.scanned = 0;
                if n > 0 {
                    let n = n as usize;
                    self.mb = Some(Multibulk {
                        remaining: n,
                        args: Vec::with_capacity(n.min(1024)),
                        bulk_len: None,
                        args_bytes: 0,
                    });
                }
                continue;
            }
            // Inline command.
            let Some(nl) = find(buf, b'\n', &mut self.scanned) else {
                if buf.len() > self.limits.max_inline_len {
                    return Err(proto("too big inline request"));
                }
                return self.need_more(buf);
            };
            // The same bound whether the line arrived whole or in pieces: a long line read
            // in one go would otherwise skip the check above (and an inline line of 1 MiB
            // splits into half a million arguments, before authentication too).
            if nl > self.limits.max_inline_len {
                return Err(proto("too big inline request"));
            }
            let line = buf.split_to(nl + 1);
            self.scanned = 0;
            let mut end = nl;
            if end > 0 && line[end - 1] == b'\r' {
                end -= 1;
            }
            let args =
                split_args(&line[..end]).ok_or_else(|| proto("unbalanced quotes in request"))?;
            if !args.is_empty() {
                return Ok(Some(args));
            }
        }
    }

    /// `Ok(None)` unless the buffered bytes exceed `max_query_buffer`.
    fn need_more(&self, buf: &BytesMut) -> Result<Option<Vec<Bytes>>, DecodeError> {
        let held = self.mb.as_ref().map_or(0, |m| m.args_bytes);
        if buf.len() as u64 + held > self.limits.max_query_buffer {
            return Err(proto("client query buffer limit exceeded"));
        }
        Ok(None)
    }
}

/// Position of `byte` in `buf`, searching only past `*scanned`; on a miss records how far was
/// searched so the next call resumes there.
pub(crate) fn find(buf: &[u8], byte: u8, scanned: &mut usize) -> Option<usize> {
    let from = (*scanned).min(buf.len());
    match buf[from..].iter().position(|&b| b == byte) {
        Some(i) => {
            *scanned = from + i;
            Some(from + i)
        }
        None => {
            *scanned = buf.len();
            None
        }
    }
}

fn hex_val(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Redis's `sdssplitargs`: whitespace-separated words, `"..."` with `\n \r \t \b \a \xHH`
/// escapes, `'...'` with `\'`. `None` for unbalanced quotes or a closing quote not followed by
/// a space.
pub fn split_args(line: &[u8]) -> Option<Vec<Bytes>> {
    let mut out = Vec::new();
    let mut p = 0;
    let n = line.len();
    let at = |i: usize| line.get(i).copied();
    loop {
        while p < n && matches!(line[p], b' ' | b'\n' | b'\r' | b'\t' | 0x0b | 0x0c) {
            p += 1;
        }
        if p >= n {
            return Some(out);
        }
        let (mut inq, mut insq, mut done) = (false, false, false);
        let mut cur = Vec::new();
        while !done {
            let c = at(p);
            if inq {
                match c {
                    None => return None,
                    Some(b'\\')
                        if at(p + 1) == Some(b'x')
                            && at(p + 2).and_then(hex_val).is_some()
                            && at(p + 3).and_then(hex_val).is_some() =>
                    {
                        let h = at(p + 2).and_then(hex_val).unwrap_or(0);
                        let l = at(p + 3).and_then(hex_val).unwrap_or(0);
                        cur.push(h * 16 + l);
                        p += 3;
                    }
                    Some(b'\\') if p + 1 < n => {
                        p += 1;
                        cur.push(match line[p] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 0x08,
                            b'a' => 0x07,
                            other => other,
                        });
                    }
                    Some(b'"') => {
                        if matches!(at(p + 1), Some(c) if !c.is_ascii_whitespace()) {
                            return None;
                        }
                        done = true;
                    }
                    Some(c) => cur.push(c),
                }
            } else if insq {
                match c {
                    None => return None,
                    Some(b'\\') if at(p + 1) == Some(b'\'') => {
                        p += 1;
                        cur.push(b'\'');
                    }
                    Some(b'\'') => {
                        if matches!(at(p + 1), Some(c) if !c.is_ascii_whitespace()) {
                            return None;
                        }
                        done = true;
                    }
                    Some(c) => cur.push(c),
                }
            } else {
                match c {
                    None | Some(b' ' | b'\n' | b'\r' | b'\t' | 0) => done = true,
                    Some(b'"') => inq = true,
                    Some(b'\'') => insq = true,
                    Some(c) => cur.push(c),
                }
            }
            if p < n {
                p += 1;
            }
        }
        out.push(Bytes::from(cur));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Frame;
    use proptest::prelude::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn one(input: &[u8]) -> Result<Option<Vec<Bytes>>, DecodeError> {
        let mut buf = BytesMut::from(input);
        Decoder::new(Limits::default()).decode_command(&mut buf)
    }

    fn err(msg: &str) -> Result<Option<Vec<Bytes>>, DecodeError> {
        Err(DecodeError::Protocol(format!("ERR Protocol error: {msg}")))
    }

    fn encode_argv(argv: &[Bytes]) -> Vec<u8> {
        let f = Frame::Array(argv.iter().cloned().map(Frame::Bulk).collect());
        let mut out = BytesMut::new();
        f.encode(&mut out);
        out.to_vec()
    }

    #[test]
    fn multibulk_and_inline() {
        assert_eq!(
            one(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"),
            Ok(Some(vec![b("GET"), b("k")]))
        );
        assert_eq!(one(b"PING\r\n"), Ok(Some(vec![b("PING")])));
        assert_eq!(one(b"PING\n"), Ok(Some(vec![b("PING")])));
        assert_eq!(one(b"PING"), Ok(None));
        assert_eq!(one(b"\r\n\r\n"), Ok(None));
        assert_eq!(one(b"*0\r\n*-1\r\n"), Ok(None));
        assert_eq!(
            one(b"\r\n*0\r\nECHO x\r\n"),
            Ok(Some(vec![b("ECHO"), b("x")]))
        );
        assert_eq!(
            one(b"set \"a b\" 'c d' \"x\\ny\\x41\"\r\n"),
            Ok(Some(vec![b("set"), b("a b"), b("c d"), b("x\nyA")]))
        );
        assert_eq!(one(b"  a   b  \r\n"), Ok(Some(vec![b("a"), b("b")])));
        assert_eq!(one(b"a 'it\\'s'\r\n"), Ok(Some(vec![b("a"), b("it's")])));
        assert_eq!(one(b"a \"\"\r\n"), Ok(Some(vec![b("a"), b("")])));
        assert_eq!(one(b"a \"b\r\n"), err("unbalanced quotes in request"));
        assert_eq!(one(b"a 'b\r\n"), err("unbalanced quotes in request"));
        assert_eq!(one(b"a \"b\"c\r\n"), err("unbalanced quotes in request"));
    }

    #[test]
    fn several_commands_in_one_buffer() {
        let mut buf = BytesMut::from(&b"PING\r\n*1\r\n$4\r\nPING\r\nECHO hi\r\n"[..]);
        let mut d = Decoder::default();
        assert_eq!(d.decode_command(&mut buf), Ok(Some(vec![b("PING")])));
        assert_eq!(d.decode_command(&mut buf), Ok(Some(vec![b("PING")])));
        assert_eq!(
            d.decode_command(&mut buf),
            Ok(Some(vec![b("ECHO"), b("hi")]))
        );
        assert_eq!(d.decode_command(&mut buf), Ok(None));
        assert!(buf.is_empty());
    }

    #[test]
    fn limits() {
        assert_eq!(one(b"*2147483647\r\n"), err("invalid multibulk length"));
        assert_eq!(one(b"*1048577\r\n"), err("invalid multibulk length"));
        assert_eq!(one(b"*abc\r\n"), err("invalid multibulk length"));
        assert_eq!(one(b"*1048576\r\n"), Ok(None));
        assert_eq!(
            one(b"*1\r\n$9223372036854775807\r\n"),
            err("invalid bulk length")
        );
        assert_eq!(one(b"*1\r\n$536870913\r\n"), err("invalid bulk length"));
        assert_eq!(one(b"*1\r\n$-1\r\n"), err("invalid bulk length"));
        assert_eq!(one(b"*1\r\n$x\r\n"), err("invalid bulk length"));
        assert_eq!(one(b"*1\r\n+x\r\n"), err("expected '$', got '+'"));
        let long = vec![b'a'; 64 * 1024 + 1];
        assert_eq!(one(&long), err("too big inline request"));
        let mut mb = b"*".to_vec();
        mb.extend(vec![b'1'; 64 * 1024 + 1]);
        assert_eq!(one(&mb), err("too big mbulk count string"));
        let mut bulk = b"*1\r\n$".to_vec();
        bulk.extend(vec![b'1'; 64 * 1024 + 1]);
        assert_eq!(one(&bulk), err("too big bulk count string"));
        // A large announced bulk reserves at most RESERVE_AHEAD.
        let mut buf = BytesMut::from(&b"*1\r\n$536870912\r\n"[..]);
        let mut d = Decoder::default();
        assert_eq!(d.decode_command(&mut buf), Ok(None));
        assert!(
            buf.capacity() <= RESERVE_AHEAD + 64,
            "capacity {}",
            buf.capacity()
        );
        // Query buffer limit.
        let limits = Limits {
            max_query_buffer: 6,
            ..Limits::default()
        };
        let mut d = Decoder::new(limits);
        let mut buf = BytesMut::from(&b"*2\r\n$5\r\nhello\r\n$5\r\nwor"[..]);
        assert_eq!(
            d.decode_command(&mut buf),
            err("client query buffer limit exceeded")
        );
    }

    /// Found by the `resp_command_decoder` fuzz target: the inline limit held only for a line
    /// still waiting for its `\n`, so a long line read in one go passed (a 1 MiB line is half
    /// a million arguments, and the pre-auth limits do not cap inline commands otherwise).
    #[test]
    fn inline_limit_holds_when_the_line_arrives_whole() {
        let mut long = b"a ".repeat(32 * 1024 + 1);
        long.push(b'\n');
        assert_eq!(one(&long), err("too big inline request"));
        let mut d = Decoder::new(Limits::default());
        d.set_unauthenticated(true);
        assert_eq!(
            d.decode_command(&mut BytesMut::from(&long[..])),
            err("too big inline request")
        );
        let mut fits = b"a ".repeat(32 * 1024);
        fits.push(b'\n');
        assert_eq!(one(&fits).map(|c| c.map(|a| a.len())), Ok(Some(32 * 1024)));
        let small = Limits {
            max_inline_len: 8,
            ..Limits::default()
        };
        let d = || Decoder::new(small);
        assert_eq!(
            d().decode_command(&mut BytesMut::from(&b"a b c d e\n"[..])),
            err("too big inline request")
        );
        assert_eq!(
            d().decode_command(&mut BytesMut::from(&b"a b c d\r\n"[..])),
            Ok(Some(vec![b("a"), b("b"), b("c"), b("d")]))
        );
    }

    #[test]
    fn protocol_errors_become_err_replies() {
        assert_eq!(
            proto("invalid bulk length").to_frame(),
            Frame::Error("ERR Protocol error: invalid bulk length".into())
        );
    }

    #[test]
    fn unauthenticated_limits() {
        let mut d = Decoder::default();
        d.set_unauthenticated(true);
        let mut buf = BytesMut::from(&b"*11\r\n"[..]);
        assert_eq!(
            d.decode_command(&mut buf),
            err("unauthenticated multibulk length")
        );
        let mut d = Decoder::default();
        d.set_unauthenticated(true);
        let mut buf = BytesMut::from(&b"*2\r\n$4\r\nAUTH\r\n$16385\r\n"[..]);
        assert_eq!(
            d.decode_command(&mut buf),
            err("unauthenticated bulk length")
        );
        let mut d = Decoder::default();
        d.set_unauthenticated(true);
        let mut buf = BytesMut::from(&b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*11\r\n"[..]);
        assert_eq!(
            d.decode_command(&mut buf),
            Ok(Some(vec![b("AUTH"), b("pw")]))
        );
        d.set_unauthenticated(false);
        assert_eq!(d.decode_command(&mut buf), Ok(None));
    }

    #[test]
    fn byte_by_byte_is_linear() {
        let argv = vec![b("SET"), Bytes::from(vec![b'x'; 100_000]), b("v")];
        let wire = encode_argv(&argv);
        let mut d = Decoder::default();
        let mut buf = BytesMut::new();
        let mut got = None;
        for &c in &wire {
            buf.extend_from_slice(&[c]);
            if let Some(a) = d.decode_command(&mut buf).expect("valid") {
                got = Some(a);
            }
        }
        assert_eq!(got, Some(argv));
    }

    proptest! {
        #[test]
        fn commands_split_anywhere(argv in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..30).prop_map(Bytes::from), 1..6)) {
            let wire = encode_argv(&argv);
            let mut twice = wire.clone();
            twice.extend_from_slice(&wire);
            for split in 0..=twice.len() {
                let mut d = Decoder::default();
                let mut buf = BytesMut::from(&twice[..split]);
                let mut got = Vec::new();
                while let Some(a) = d.decode_command(&mut buf).expect("valid") {
                    got.push(a);
                }
                buf.extend_from_slice(&twice[split..]);
                while let Some(a) = d.decode_command(&mut buf).expect("valid") {
                    got.push(a);
                }
                prop_assert_eq!(got, vec![argv.clone(), argv.clone()]);
                prop_assert!(buf.is_empty());
            }
        }

        #[test]
        fn inline_words_round_trip(words in proptest::collection::vec("[a-z0-9]{1,8}", 1..6)) {
            let line = format!("{}\r\n", words.join(" "));
            let got = one(line.as_bytes()).expect("valid").expect("complete");
            let want: Vec<Bytes> = words.iter().map(|w| b(w)).collect();
            prop_assert_eq!(got, want);
        }

        #[test]
        fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut d = Decoder::default();
            let mut buf = BytesMut::from(&data[..]);
            while let Ok(Some(_)) = d.decode_command(&mut buf) {}
            let mut buf = BytesMut::from(&data[..]);
            let _ = crate::reply::decode_frame(&mut buf);
        }
    }
}
