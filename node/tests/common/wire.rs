//! A raw RESP2 client for differential tests: sends argv as a multibulk and returns the exact
//! bytes of one reply (and a parsed tree for the few documented normalisations).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Deepest reply nesting accepted (replies here are at most two levels deep).
const MAX_DEPTH: usize = 8;

/// One RESP2 reply, parsed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reply {
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The canonical RESP2 bytes (RESP2 has exactly one encoding per reply).
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Reply::Simple(s) => {
                out.push(b'+');
                out.extend_from_slice(s);
            }
            Reply::Error(s) => {
                out.push(b'-');
                out.extend_from_slice(s);
            }
            Reply::Int(n) => out.extend_from_slice(format!(":{n}").as_bytes()),
            Reply::Bulk(None) => out.extend_from_slice(b"$-1"),
            Reply::Bulk(Some(b)) => {
                out.extend_from_slice(format!("${}\r\n", b.len()).as_bytes());
                out.extend_from_slice(b);
            }
            Reply::Array(None) => out.extend_from_slice(b"*-1"),
            Reply::Array(Some(items)) => {
                out.extend_from_slice(format!("*{}\r\n", items.len()).as_bytes());
                for i in items {
                    i.encode(out);
                }
                return;
            }
        }
        out.extend_from_slice(b"\r\n");
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }

    /// Parses one complete reply from `bytes`.
    pub fn parse(bytes: &[u8]) -> std::io::Result<Reply> {
        read_reply(&mut BufReader::new(bytes), &mut Vec::new(), 0)
    }
}

/// A connection speaking raw RESP2.
pub struct RawConn {
    r: BufReader<TcpStream>,
}

impl RawConn {
    pub fn connect(port: u16) -> std::io::Result<RawConn> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        s.set_nodelay(true)?;
        Ok(RawConn {
            r: BufReader::new(s),
        })
    }

    /// Sends `argv` as a RESP2 multibulk and returns the raw bytes of the reply.
    pub fn call(&mut self, argv: &[Vec<u8>]) -> std::io::Result<Vec<u8>> {
        self.send(argv)?;
        self.read()
    }

    /// Sends `argv` without reading the reply (for blocking commands; see [`read`](Self::read)).
    pub fn send(&mut self, argv: &[Vec<u8>]) -> std::io::Result<()> {
        let mut req = format!("*{}\r\n", argv.len()).into_bytes();
        for a in argv {
            req.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            req.extend_from_slice(a);
            req.extend_from_slice(b"\r\n");
        }
        self.r.get_mut().write_all(&req)
    }

    /// Reads the raw bytes of one reply.
    pub fn read(&mut self) -> std::io::Result<Vec<u8>> {
        let mut raw = Vec::new();
        read_reply(&mut self.r, &mut raw, 0)?;
        Ok(raw)
    }

    /// Changes the read timeout (10 s by default).
    pub fn set_read_timeout(&mut self, t: Duration) -> std::io::Result<()> {
        self.r.get_ref().set_read_timeout(Some(t))
    }
}

fn bad(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string())
}

/// Reads one reply, appending its exact bytes to `raw`.
fn read_reply<R: BufRead>(r: &mut R, raw: &mut Vec<u8>, depth: usize) -> std::io::Result<Reply> {
    if depth > MAX_DEPTH {
        return Err(bad("reply nested too deep"));
    }
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    raw.extend_from_slice(&line);
    if line.len() < 3 || !line.ends_with(b"\r\n") {
        return Err(bad("truncated reply line"));
    }
    let body = line[1..line.len() - 2].to_vec();
    let num = || -> std::io::Result<i64> {
        std::str::from_utf8(&body)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("bad number in reply"))
    };
    Ok(match line[0] {
        b'+' => Reply::Simple(body.clone()),
        b'-' => Reply::Error(body.clone()),
        b':' => Reply::Int(num()?),
        b'$' => {
            let n = num()?;
            if n < 0 {
                Reply::Bulk(None)
            } else {
                let n = usize::try_from(n).map_err(|_| bad("bulk length"))?;
                if n > 64 << 20 {
                    return Err(bad("bulk too large for a test reply"));
                }
                let mut b = vec![0u8; n + 2];
                r.read_exact(&mut b)?;
                raw.extend_from_slice(&b);
                b.truncate(n);
                Reply::Bulk(Some(b))
            }
        }
        b'*' => {
            let n = num()?;
            if n < 0 {
                Reply::Array(None)
            } else {
                let n = usize::try_from(n).map_err(|_| bad("array length"))?;
                let mut items = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    items.push(read_reply(r, raw, depth + 1)?);
                }
                Reply::Array(Some(items))
            }
        }
        _ => return Err(bad("unknown reply type")),
    })
}
