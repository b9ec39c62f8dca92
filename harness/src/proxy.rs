//! A harness-owned TCP proxy per directed link (`from → to`). Every peer link
//! of a multi-node cluster goes through one, so a partition is a set of
//! "grudges" applied to proxies:
//! - [`LinkState::Reject`]: close every open connection and refuse new ones
//!   (accepted then closed immediately) — like a firewall REJECT;
//! - [`LinkState::Blackhole`]: keep connections open but drop every byte in
//!   both directions — like lost packets;
//! - added latency (per forwarded chunk), and heal.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What a link does with traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LinkState {
    #[default]
    Pass,
    Reject,
    Blackhole,
}

/// One directed link.
pub struct Proxy {
    listen: SocketAddr,
    upstream: SocketAddr,
    state: watch::Sender<LinkState>,
    latency_us: Arc<AtomicU64>,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// Listens on an ephemeral 127.0.0.1 port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Proxy> {
        Proxy::start_on(
            "127.0.0.1:0".parse().map_err(std::io::Error::other)?,
            upstream,
        )
        .await
    }

    /// Listens on `listen` and forwards to `upstream`.
    pub async fn start_on(listen: SocketAddr, upstream: SocketAddr) -> std::io::Result<Proxy> {
        Proxy::start_with(listen, upstream, None).await
    }

    /// A client → node link (RESP). A new connection that cannot be forwarded —
    /// the node refuses it, or the link rejects — reads the client's first
    /// command and answers it with `refusal` (a RESP error), then closes: the
    /// command never reached the node, as with a refused direct connection, so
    /// the client can record a definite failure instead of an unknown outcome.
    pub async fn start_client(upstream: SocketAddr, refusal: &[u8]) -> std::io::Result<Proxy> {
        let any = "127.0.0.1:0".parse().map_err(std::io::Error::other)?;
        Proxy::start_with(any, upstream, Some(Arc::new(refusal.to_vec()))).await
    }

    async fn start_with(
        listen: SocketAddr,
        upstream: SocketAddr,
        refusal: Option<Arc<Vec<u8>>>,
    ) -> std::io::Result<Proxy> {
        let l = TcpListener::bind(listen).await?;
        let listen = l.local_addr()?;
        let (state, _) = watch::channel(LinkState::Pass);
        let latency_us = Arc::new(AtomicU64::new(0));
        let accept = tokio::spawn(accept_loop(
            l,
            upstream,
            state.subscribe(),
            Arc::clone(&latency_us),
            refusal,
        ));
        Ok(Proxy {
            listen,
            upstream,
            state,
            latency_us,
            accept,
        })
    }

    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
    }
    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }
    pub fn state(&self) -> LinkState {
        *self.state.borrow()
    }
    pub fn set(&self, s: LinkState) {
        self.state.send_replace(s);
    }
    pub fn set_latency(&self, d: Duration) {
        self.latency_us.store(
            d.as_micros().min(u64::MAX as u128) as u64,
            Ordering::Relaxed,
        );
    }
    /// Pass traffic again, without added latency.
    pub fn heal(&self) {
        self.set_latency(Duration::ZERO);
        self.set(LinkState::Pass);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        // Connection tasks see the sender go away and stop.
    }
}

/// Answers the first command of a connection that was never forwarded, then closes it.
pub(crate) async fn refuse(mut down: TcpStream, reply: &[u8]) {
    let mut b = [0u8; 4096];
    // Read (part of) the command first: closing with unread input would reset the
    // connection and could discard the reply.
    if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(5), down.read(&mut b)).await {
        if n > 0 {
            let _ = down.write_all(reply).await;
            let _ = down.shutdown().await;
            let _ = tokio::time::timeout(Duration::from_millis(200), down.read(&mut b)).await;
        }
    }
}

async fn accept_loop(
    l: TcpListener,
    upstream: SocketAddr,
    state: watch::Receiver<LinkState>,
    lat: Arc<AtomicU64>,
    refusal: Option<Arc<Vec<u8>>>,
) {
    loop {
        let Ok((down, _)) = l.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        if *state.borrow() == LinkState::Reject {
            match &refusal {
                Some(r) => {
                    let r = Arc::clone(r);
                    tokio::spawn(async move { refuse(down, &r).await });
                }
                None => drop(down),
            }
            continue;
        }
        tokio::spawn(forward(
            down,
            upstream,
            state.clone(),
            Arc::clone(&lat),
            refusal.clone(),
        ));
    }
}

/// Forwards one accepted connection to `upstream` under the link `state` and latency `lat`
/// (the caller has already refused it if the link rejects). A connection that cannot reach
/// `upstream` is answered with `refusal` when given (a client link), else closed. Shared with
/// the source-aware switchboard of the external-system adapters (`system::links`).
pub(crate) async fn forward(
    down: TcpStream,
    upstream: SocketAddr,
    state: watch::Receiver<LinkState>,
    lat: Arc<AtomicU64>,
    refusal: Option<Arc<Vec<u8>>>,
) {
    let up = match tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(upstream)).await
    {
        Ok(Ok(s)) => s,
        _ => {
            if let Some(r) = refusal {
                refuse(down, &r).await;
            }
            return;
        }
    };
    let _ = down.set_nodelay(true);
    let _ = up.set_nodelay(true);
    let (dr, dw) = down.into_split();
    let (ur, uw) = up.into_split();
    let a = tokio::spawn(pump(dr, uw, state.clone(), Arc::clone(&lat)));
    let b = tokio::spawn(pump(ur, dw, state, lat));
    let _ = tokio::join!(a, b);
}

/// Copies `src` to `dst` according to the link state; returns when either side
/// closes, the link rejects, or the proxy is dropped.
async fn pump(
    mut src: tokio::net::tcp::OwnedReadHalf,
    mut dst: tokio::net::tcp::OwnedWriteHalf,
    mut state: watch::Receiver<LinkState>,
    lat: Arc<AtomicU64>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if *state.borrow_and_update() == LinkState::Reject {
            return;
        }
        tokio::select! {
            r = src.read(&mut buf) => {
                let n = match r { Ok(0) | Err(_) => { let _ = dst.shutdown().await; return; } Ok(n) => n };
                match *state.borrow() {
                    LinkState::Reject => return,
                    LinkState::Blackhole => continue,
                    LinkState::Pass => {}
                }
                let us = lat.load(Ordering::Relaxed);
                if us > 0 {
                    tokio::time::sleep(Duration::from_micros(us)).await;
                    // The link may have been cut while the bytes were "in flight".
                    match *state.borrow() {
                        LinkState::Reject => return,
                        LinkState::Blackhole => continue,
                        LinkState::Pass => {}
                    }
                }
                if dst.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
            c = state.changed() => {
                if c.is_err() {
                    return; // proxy dropped
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn echo_server() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut b = [0u8; 1024];
                    loop {
                        match s.read(&mut b).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                if s.write_all(&b[..n]).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
        addr
    }

    /// Sends `msg` and waits up to `wait` for the echo. `None` = nothing (or closed).
    async fn roundtrip(s: &mut TcpStream, msg: &[u8], wait: Duration) -> Option<Vec<u8>> {
        s.write_all(msg).await.ok()?;
        let mut got = Vec::new();
        let mut b = [0u8; 64];
        let deadline = tokio::time::Instant::now() + wait;
        while got.len() < msg.len() {
            match tokio::time::timeout_at(deadline, s.read(&mut b)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => {
                    return if got.is_empty() { None } else { Some(got) }
                }
                Ok(Ok(n)) => got.extend_from_slice(&b[..n]),
            }
        }
        Some(got)
    }

    async fn is_closed(s: &mut TcpStream, wait: Duration) -> bool {
        let mut b = [0u8; 8];
        matches!(
            tokio::time::timeout(wait, s.read(&mut b)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }

    #[tokio::test]
    async fn blackhole_carries_nothing_and_heal_restores() {
        let echo = echo_server().await;
        let p = Proxy::start(echo).await.expect("proxy");
        let mut s = TcpStream::connect(p.listen_addr()).await.expect("connect");
        assert_eq!(
            roundtrip(&mut s, b"hello", Duration::from_secs(2))
                .await
                .as_deref(),
            Some(&b"hello"[..])
        );

        p.set(LinkState::Blackhole);
        assert_eq!(
            roundtrip(&mut s, b"lost", Duration::from_millis(300)).await,
            None,
            "bytes crossed a blackhole"
        );
        // The connection stays open.
        assert!(!is_closed(&mut s, Duration::from_millis(100)).await);
        let mut fresh = TcpStream::connect(p.listen_addr())
            .await
            .expect("connect during blackhole");
        assert_eq!(
            roundtrip(&mut fresh, b"x", Duration::from_millis(300)).await,
            None
        );

        p.heal();
        assert_eq!(
            roundtrip(&mut s, b"back", Duration::from_secs(2))
                .await
                .as_deref(),
            Some(&b"back"[..])
        );
        assert_eq!(
            roundtrip(&mut fresh, b"again", Duration::from_secs(2))
                .await
                .as_deref(),
            Some(&b"again"[..])
        );
    }

    #[tokio::test]
    async fn reject_closes_and_refuses_then_heal_restores() {
        let echo = echo_server().await;
        let p = Proxy::start(echo).await.expect("proxy");
        let mut s = TcpStream::connect(p.listen_addr()).await.expect("connect");
        assert!(roundtrip(&mut s, b"hi", Duration::from_secs(2))
            .await
            .is_some());

        p.set(LinkState::Reject);
        assert!(
            is_closed(&mut s, Duration::from_secs(2)).await,
            "open connection survived reject"
        );
        // New connections are closed at once and carry nothing.
        if let Ok(mut n) = TcpStream::connect(p.listen_addr()).await {
            assert_eq!(
                roundtrip(&mut n, b"no", Duration::from_millis(300)).await,
                None
            );
        }

        p.heal();
        let mut s = TcpStream::connect(p.listen_addr())
            .await
            .expect("connect after heal");
        assert_eq!(
            roundtrip(&mut s, b"ok", Duration::from_secs(2))
                .await
                .as_deref(),
            Some(&b"ok"[..])
        );
    }

    #[tokio::test]
    async fn client_link_answers_refused_connections() {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let dead = l.local_addr().expect("addr");
        drop(l);
        let p = Proxy::start_client(dead, b"-CLUSTERDOWN refused\r\n")
            .await
            .expect("proxy");
        let mut s = TcpStream::connect(p.listen_addr()).await.expect("connect");
        let got = roundtrip(&mut s, b"*1\r\n$4\r\nPING\r\n", Duration::from_secs(3))
            .await
            .expect("a reply");
        assert!(
            got.starts_with(b"-CLUSTERDOWN"),
            "{:?}",
            String::from_utf8_lossy(&got)
        );
        let echo = echo_server().await;
        let p = Proxy::start_client(echo, b"-CLUSTERDOWN cut\r\n")
            .await
            .expect("proxy");
        p.set(LinkState::Reject);
        let mut s = TcpStream::connect(p.listen_addr()).await.expect("connect");
        let got = roundtrip(&mut s, b"hello", Duration::from_secs(3))
            .await
            .expect("a reply");
        assert!(got.starts_with(b"-CLUSTERDOWN cut"));
    }

    #[tokio::test]
    async fn latency_delays_traffic() {
        let echo = echo_server().await;
        let p = Proxy::start(echo).await.expect("proxy");
        p.set_latency(Duration::from_millis(150));
        let mut s = TcpStream::connect(p.listen_addr()).await.expect("connect");
        let t = std::time::Instant::now();
        assert!(roundtrip(&mut s, b"slow", Duration::from_secs(3))
            .await
            .is_some());
        // Both directions are delayed.
        assert!(
            t.elapsed() >= Duration::from_millis(290),
            "{:?}",
            t.elapsed()
        );
    }
}
