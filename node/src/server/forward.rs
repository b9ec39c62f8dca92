//! Follower-side forwarding (`cluster.forward-to-leader: true`): for clients that are not
//! cluster-aware, a follower relays keyed commands to its group's leader over RESP and returns
//! the leader's reply verbatim, instead of answering `-MOVED`.
//!
//! One connection per client session, opened lazily and reopened when the leader changes.
//! Outcome semantics are the leader's: a reply relayed is exactly what the leader answered; if
//! the connection to the leader fails *after* the command was sent the outcome is unknown and
//! the client gets `-TIMEOUT …` (docs/error-semantics.md); if it fails before sending, the
//! client gets `-TRYAGAIN`, nothing having been applied.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::errors;
use crate::resp::{encode_command, Frame, Protocol, ReplyDecoder};

/// A session's link to the leader.
#[derive(Default)]
pub struct Forwarder {
    conn: Option<Link>,
}

/// An open connection to the leader at `addr`, with its reply decoder.
struct Link {
    addr: String,
    stream: TcpStream,
    buf: BytesMut,
    replies: ReplyDecoder,
    /// The protocol negotiated on this link (RESP2 until a `HELLO 3` was sent on it).
    protocol: Protocol,
}

impl Forwarder {
    /// Sends `argv` to the leader at `addr` and returns its reply, within `timeout`. The link
    /// is first switched (`HELLO 2|3`) to `protocol`, the client's, so the reply carries the
    /// RESP3 types the leader would have sent the client (a map stays a map, a null keeps
    /// its RESP2 flavour) and re-encoding it in that protocol reproduces the leader's bytes.
    pub async fn forward(
        &mut self,
        addr: &str,
        argv: &[Bytes],
        protocol: Protocol,
        timeout: Duration,
    ) -> Frame {
        let run = async {
            // A new link starts in RESP2; an open one to another address will be replaced.
            let link_protocol = match &self.conn {
                Some(l) if l.addr == addr => l.protocol,
                _ => Protocol::Resp2,
            };
            if link_protocol != protocol {
                let v = Bytes::from(protocol.version().to_string());
                let hello = [Bytes::from_static(b"HELLO"), v];
                let reply = self.forward_inner(addr, &hello).await;
                if reply.is_error() {
                    return reply;
                }
                if let Some(l) = self.conn.as_mut() {
                    l.protocol = protocol;
                }
            }
            self.forward_inner(addr, argv).await
        };
        match tokio::time::timeout(timeout, run).await {
            Ok(f) => f,
            Err(_) => {
                self.conn = None;
                errors::leader_timeout(addr, timeout)
            }
        }
    }

    async fn forward_inner(&mut self, addr: &str, argv: &[Bytes]) -> Frame {
        if self.conn.as_ref().is_none_or(|l| l.addr != addr) {
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    self.conn = Some(Link {
                        addr: addr.to_string(),
                        stream: s,
                        buf: BytesMut::with_capacity(4096),
                        replies: ReplyDecoder::default(),
                        protocol: Protocol::Resp2,
                    });
                }
                Err(e) => return errors::leader_unreachable(addr, e),
            }
        }
        let Some(Link {
            stream,
            buf,
            replies,
            ..
        }) = self.conn.as_mut()
        else {
            return errors::no_leader_link();
        };
        let mut out = BytesMut::new();
        encode_command(argv, &mut out);
        if let Err(e) = stream.write_all(&out).await {
            self.conn = None;
            return errors::leader_send_failed(addr, e);
        }
        loop {
            match replies.decode(buf) {
                Ok(Some(frame)) => return frame,
                Ok(None) => {}
                Err(e) => {
                    self.conn = None;
                    return errors::leader_malformed(addr, e);
                }
            }
            match stream.read_buf(buf).await {
                Ok(0) | Err(_) => {
                    self.conn = None;
                    return errors::leader_closed(addr);
                }
                Ok(_) => {}
            }
        }
    }
}
