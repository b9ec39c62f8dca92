//! Limits on what anything that reaches the peer port can make the node hold, beyond the
//! per-connection bounds tonic offers (`service::serve`, docs/security.md "Peer limits"):
//!
//! - **Connections:** [`LimitedIncoming`] accepts at most `peer-max-connections` connections
//!   at once; one more is accepted and closed at once (refused, counted in
//!   [`PeerLimits::refused`]), so the node's descriptors and per-connection buffers stay
//!   bounded and the connections it has keep being served. A connection that has not sent the
//!   24-byte HTTP/2 preface within [`PREFACE_DEADLINE`] is closed, so silent sockets cannot
//!   hold the slots for ever.
//! - **Message size per RPC kind:** [`MessageLimitLayer`] reads the 5-byte gRPC frame header
//!   of each request message as it arrives and fails the request with `RESOURCE_EXHAUSTED`
//!   when the declared length is above the limit of that RPC ([`message_limit`]): an
//!   AppendEntries may be 64 MiB, a vote only 64 KiB. The check runs on the header, before
//!   the body is buffered (at most one HTTP/2 flow-control window of it has arrived), and
//!   after the credentials interceptor (the body is read only by the handler).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::Frame;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::codegen::http;
use tonic::Status;

/// Default for `peer-max-connections`: far above what a cluster needs (each member keeps
/// one Raft channel and one Pub/Sub channel to each other member, plus an admin call now and
/// then), far below the descriptor limit.
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;

/// A new connection must send the HTTP/2 connection preface within this time.
pub const PREFACE_DEADLINE: Duration = Duration::from_secs(5);

/// The HTTP/2 client connection preface is 24 bytes.
const PREFACE_LEN: usize = 24;

/// Snapshot chunk size the sender uses (openraft's `snapshot_max_chunk_size`, set from this
/// in `server::run`), so the receiving limit below always fits what a member sends.
pub const SNAPSHOT_CHUNK_BYTES: u64 = 3 * 1024 * 1024;

/// Votes, admin calls and health checks carry ids and addresses: a few hundred bytes.
pub const SMALL_MESSAGE_LIMIT: usize = 64 * 1024;

/// The largest request message accepted for the gRPC method at `path`
/// (`/package.Service/Method`). Unknown methods get the small limit (tonic answers
/// `UNIMPLEMENTED` anyway).
pub fn message_limit(path: &str) -> usize {
    match path {
        "/sdr.raft.Raft/Append" | "/sdr.pubsub.PubSub/Deliver" => {
            super::network::PEER_MESSAGE_LIMIT
        }
        // One chunk plus the vote, meta and framing fields.
        "/sdr.raft.Raft/InstallSnapshot" => SNAPSHOT_CHUNK_BYTES as usize + SMALL_MESSAGE_LIMIT,
        _ => SMALL_MESSAGE_LIMIT,
    }
}

/// Counters of the peer port, shared with whoever reports them.
#[derive(Debug, Default)]
pub struct PeerLimits {
    /// Connections closed because `peer-max-connections` were open.
    pub refused: AtomicU64,
    /// Connections closed because they did not send the HTTP/2 preface in time.
    pub silent_closed: AtomicU64,
}

// ---- connections ----

/// The peer port's accept stream, bounded to `max` open connections (see the module docs).
pub struct LimitedIncoming {
    listener: TcpListener,
    slots: Arc<Semaphore>,
    stats: Arc<PeerLimits>,
    /// Set after an accept error (descriptors exhausted, ...): wait before accepting again
    /// instead of spinning.
    backoff: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl LimitedIncoming {
    pub fn new(listener: TcpListener, max: usize, stats: Arc<PeerLimits>) -> LimitedIncoming {
        LimitedIncoming {
            listener,
            slots: Arc::new(Semaphore::new(max.max(1))),
            stats,
            backoff: None,
        }
    }
}

impl tonic::codegen::tokio_stream::Stream for LimitedIncoming {
    type Item = io::Result<PeerConn>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(b) = self.backoff.as_mut() {
                ready!(b.as_mut().poll(cx));
                self.backoff = None;
            }
            match ready!(self.listener.poll_accept(cx)) {
                Ok((stream, peer)) => match Arc::clone(&self.slots).try_acquire_owned() {
                    Ok(permit) => {
                        let _ = stream.set_nodelay(true);
                        return Poll::Ready(Some(Ok(PeerConn::new(stream, permit))));
                    }
                    Err(_) => {
                        // Dropping the stream closes it: the peer sees the connection end.
                        let n = self.stats.refused.fetch_add(1, Ordering::Relaxed) + 1;
                        if n.is_power_of_two() {
                            tracing::warn!(%peer, refused = n, "peer-max-connections reached; connection refused");
                        }
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "peer port accept failed; retrying in 50 ms");
                    self.backoff = Some(Box::pin(tokio::time::sleep(Duration::from_millis(50))));
                }
            }
        }
    }
}

/// One accepted peer connection: holds its slot until it closes, and is closed if the
/// HTTP/2 preface does not arrive within [`PREFACE_DEADLINE`].
pub struct PeerConn {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
    preface_left: usize,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl PeerConn {
    fn new(stream: TcpStream, slot: OwnedSemaphorePermit) -> PeerConn {
        PeerConn {
            stream,
            _slot: slot,
            preface_left: PREFACE_LEN,
            deadline: Some(Box::pin(tokio::time::sleep(PREFACE_DEADLINE))),
        }
    }
}

impl tonic::transport::server::Connected for PeerConn {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.connect_info()
    }
}

impl AsyncRead for PeerConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(r) => {
                let got = buf.filled().len() - before;
                this.preface_left = this.preface_left.saturating_sub(got);
                if this.preface_left == 0 {
                    this.deadline = None;
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                if let Some(d) = this.deadline.as_mut() {
                    if d.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "peer did not send the HTTP/2 preface in time",
                        )));
                    }
                }
                Poll::Pending
            }
        }
    }
}

impl AsyncWrite for PeerConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

// ---- message size per RPC kind ----

/// Wraps every request body in a [`LimitedBody`] with the limit of its method.
#[derive(Clone, Copy, Debug, Default)]
pub struct MessageLimitLayer;

impl<S> tower_layer::Layer<S> for MessageLimitLayer {
    type Service = MessageLimit<S>;
    fn layer(&self, inner: S) -> MessageLimit<S> {
        MessageLimit { inner }
    }
}

/// The service [`MessageLimitLayer`] builds.
#[derive(Clone, Debug)]
pub struct MessageLimit<S> {
    inner: S,
}

impl<S> tonic::codegen::Service<http::Request<tonic::body::Body>> for MessageLimit<S>
where
    S: tonic::codegen::Service<http::Request<tonic::body::Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let limit = message_limit(req.uri().path());
        let (parts, body) = req.into_parts();
        let body = tonic::body::Body::new(LimitedBody::new(body, limit));
        self.inner.call(http::Request::from_parts(parts, body))
    }
}

/// A request body that fails with `RESOURCE_EXHAUSTED` as soon as a gRPC message header
/// declares more than `limit` bytes (the bytes already received pass through unchanged).
pub struct LimitedBody {
    inner: tonic::body::Body,
    frames: FrameScanner,
    failed: bool,
}

impl LimitedBody {
    pub fn new(inner: tonic::body::Body, limit: usize) -> LimitedBody {
        LimitedBody {
            inner,
            frames: FrameScanner::new(limit),
            failed: false,
        }
    }
}

impl http_body::Body for LimitedBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        if self.failed {
            return Poll::Ready(None);
        }
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        if let Some(Ok(f)) = &frame {
            if let Some(data) = f.data_ref() {
                if let Err(s) = self.frames.scan(data) {
                    self.failed = true;
                    return Poll::Ready(Some(Err(s)));
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Follows the gRPC length-prefixed framing (1 flag byte, 4-byte big-endian length, the
/// message) across arbitrary chunk boundaries and checks each declared length.
#[derive(Debug)]
struct FrameScanner {
    limit: usize,
    header: [u8; 5],
    have: usize,
    /// Message bytes still to skip before the next header.
    remaining: u64,
}

impl FrameScanner {
    fn new(limit: usize) -> FrameScanner {
        FrameScanner {
            limit,
            header: [0; 5],
            have: 0,
            remaining: 0,
        }
    }

    fn scan(&mut self, mut data: &[u8]) -> Result<(), Status> {
        while !data.is_empty() {
            if self.remaining > 0 {
                let n = (self.remaining).min(data.len() as u64) as usize;
                self.remaining -= n as u64;
                data = &data[n..];
                continue;
            }
            self.header[self.have] = data[0];
            self.have += 1;
            data = &data[1..];
            if self.have == self.header.len() {
                self.have = 0;
                let len = u32::from_be_bytes([
                    self.header[1],
                    self.header[2],
                    self.header[3],
                    self.header[4],
                ]);
                if len as usize > self.limit {
                    return Err(Status::resource_exhausted(format!(
                        "request message of {len} bytes exceeds this RPC's limit of {} bytes",
                        self.limit
                    )));
                }
                self.remaining = u64::from(len);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(len: u32, body_bytes: usize) -> Vec<u8> {
        let mut v = vec![0u8];
        v.extend_from_slice(&len.to_be_bytes());
        v.extend(std::iter::repeat_n(1u8, body_bytes));
        v
    }

    #[test]
    fn declared_lengths_are_checked_across_chunk_boundaries() {
        // Two messages under the limit, split at every possible point: accepted.
        let mut two = framed(10, 10);
        two.extend(framed(0, 0));
        two.extend(framed(100, 100));
        for cut in 0..two.len() {
            let mut s = FrameScanner::new(100);
            s.scan(&two[..cut]).expect("first part");
            s.scan(&two[cut..]).expect("second part");
        }
        // One over: refused from its header alone, wherever the header is split.
        let big = framed(10 * 1024 * 1024, 0);
        for cut in 0..big.len() {
            let mut s = FrameScanner::new(SMALL_MESSAGE_LIMIT);
            let r = s.scan(&big[..cut]).and_then(|()| s.scan(&big[cut..]));
            let err = r.expect_err("over the limit");
            assert_eq!(err.code(), tonic::Code::ResourceExhausted);
        }
        // A later message over the limit is caught too.
        let mut s = FrameScanner::new(100);
        let mut v = framed(5, 5);
        v.extend(framed(101, 0));
        assert!(s.scan(&v).is_err());
    }

    #[test]
    fn limits_by_rpc_kind() {
        assert_eq!(message_limit("/sdr.raft.Raft/Vote"), SMALL_MESSAGE_LIMIT);
        assert_eq!(
            message_limit("/sdr.raft.Raft/Append"),
            super::super::network::PEER_MESSAGE_LIMIT
        );
        assert!(message_limit("/sdr.raft.Raft/InstallSnapshot") > SNAPSHOT_CHUNK_BYTES as usize);
        assert_eq!(
            message_limit("/sdr.admin.Admin/Status"),
            SMALL_MESSAGE_LIMIT
        );
        assert_eq!(
            message_limit("/grpc.health.v1.Health/Check"),
            SMALL_MESSAGE_LIMIT
        );
        assert_eq!(message_limit("/nope"), SMALL_MESSAGE_LIMIT);
    }
}
