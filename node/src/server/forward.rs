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

use crate::resp::{decode, Frame};

/// A session's link to the leader.
#[derive(Default)]
pub struct Forwarder {
    conn: Option<(String, TcpStream, BytesMut)>,
}

fn encode_command(argv: &[Bytes], out: &mut BytesMut) {
    Frame::Array(argv.iter().cloned().map(Frame::Bulk).collect()).encode(out);
}

impl Forwarder {
    /// Sends `argv` to the leader at `addr` and returns its reply, within `timeout`.
    pub async fn forward(&mut self, addr: &str, argv: &[Bytes], timeout: Duration) -> Frame {
        match tokio::time::timeout(timeout, self.forward_inner(addr, argv)).await {
            Ok(f) => f,
            Err(_) => {
                self.conn = None;
                Frame::error(format!(
                    "TIMEOUT the leader at {addr} did not answer within {} ms; the command may or may not be applied",
                    timeout.as_millis()
                ))
            }
        }
    }

    async fn forward_inner(&mut self, addr: &str, argv: &[Bytes]) -> Frame {
        if self.conn.as_ref().is_none_or(|(a, _, _)| a != addr) {
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    self.conn = Some((addr.to_string(), s, BytesMut::with_capacity(4096)));
                }
                Err(e) => {
                    return Frame::error(format!(
                    "TRYAGAIN cannot reach the leader at {addr} ({e}); the command was not applied"
                ))
                }
            }
        }
        let Some((_, stream, buf)) = self.conn.as_mut() else {
            return Frame::error(
                "TRYAGAIN no connection to the leader; the command was not applied",
            );
        };
        let mut out = BytesMut::new();
        encode_command(argv, &mut out);
        if let Err(e) = stream.write_all(&out).await {
            self.conn = None;
            return Frame::error(format!(
                "TIMEOUT lost the connection to the leader at {addr} while sending ({e}); the command may or may not be applied"
            ));
        }
        loop {
            match decode::decode_frame(buf) {
                Ok(Some(frame)) => return frame,
                Ok(None) => {}
                Err(e) => {
                    self.conn = None;
                    return Frame::error(format!(
                        "ERR malformed reply from the leader at {addr}: {e}"
                    ));
                }
            }
            match stream.read_buf(buf).await {
                Ok(0) | Err(_) => {
                    self.conn = None;
                    return Frame::error(format!(
                        "TIMEOUT the leader at {addr} closed the connection; the command may or may not be applied"
                    ));
                }
                Ok(_) => {}
            }
        }
    }
}
