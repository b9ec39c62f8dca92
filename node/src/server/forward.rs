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
use crate::resp::{encode_command, Frame, ReplyDecoder};

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
}

impl Forwarder {
    /// Sends `argv` to the leader at `addr` and returns its reply, within `timeout`.
    pub async fn forward(&mut self, addr: &str, argv: &[Bytes], timeout: Duration) -> Frame {
        match tokio::time::timeout(timeout, self.forward_inner(addr, argv)).await {
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
