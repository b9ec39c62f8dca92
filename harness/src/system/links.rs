//! The switchboard: one TCP proxy per external process that applies a *per directed link*
//! state, choosing the link by the connection's source address.
//!
//! Redis passes addresses around (a replica announces itself to the primary, Sentinel tells
//! replicas whom to follow, hello messages announce the sentinels), so every process must be
//! reachable at one address that everybody uses. To still cut single directed links, every
//! process of node `n` binds to its own loopback address `127.0.1.n` and sends from it
//! (`bind` + `bind-source-addr`); the switchboard in front of a process reads the source of
//! each accepted connection: `127.0.1.n` is node `n`'s link, anything else (the harness's
//! clients, `redis-cli`, which connect from 127.0.0.1) is the client link (`from` = 0).
//! Forwarding itself is the harness proxy's ([`crate::proxy`]): reject, blackhole, latency.

use crate::proxy::{forward, refuse, LinkState};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The loopback address node `id` binds to and sends from (`127.0.1.id`, ids 1..=254).
pub fn node_ip(id: u32) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 1, id.clamp(1, 254) as u8)
}

/// The node a connection comes from: `127.0.1.n` ⇒ `n`, anything else ⇒ 0 (a client).
pub fn node_of(ip: IpAddr) -> u32 {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            if o[0] == 127 && o[1] == 0 && o[2] == 1 && o[3] > 0 {
                u32::from(o[3])
            } else {
                0
            }
        }
        IpAddr::V6(_) => 0,
    }
}

struct Link {
    state: watch::Sender<LinkState>,
    latency_us: Arc<AtomicU64>,
}

/// A proxy in front of one process, with one link state per source node (0 = clients).
pub struct Switchboard {
    listen: SocketAddr,
    links: Arc<BTreeMap<u32, Link>>,
    accept: JoinHandle<()>,
}

impl Switchboard {
    /// Listens on an ephemeral 127.0.0.1 port and forwards to `upstream`; `sources` are the
    /// node ids that may connect (their links exist; unknown sources use the client link).
    /// `refusal`: the RESP error a client connection that cannot be forwarded is answered with.
    pub async fn start(
        upstream: SocketAddr,
        sources: &[u32],
        refusal: &[u8],
    ) -> std::io::Result<Switchboard> {
        let l = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let listen = l.local_addr()?;
        let mut links = BTreeMap::new();
        for id in std::iter::once(0).chain(sources.iter().copied()) {
            links.insert(
                id,
                Link {
                    state: watch::channel(LinkState::Pass).0,
                    latency_us: Arc::new(AtomicU64::new(0)),
                },
            );
        }
        let links = Arc::new(links);
        let refusal = Arc::new(refusal.to_vec());
        let accept = tokio::spawn(accept_loop(l, upstream, Arc::clone(&links), refusal));
        Ok(Switchboard {
            listen,
            links,
            accept,
        })
    }

    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
    }

    /// Sets the link from node `from` (0 = clients); false if there is no such source.
    pub fn set(&self, from: u32, s: LinkState) -> bool {
        match self.links.get(&from) {
            Some(l) => {
                l.state.send_replace(s);
                true
            }
            None => false,
        }
    }

    pub fn set_latency(&self, from: u32, d: Duration) -> bool {
        match self.links.get(&from) {
            Some(l) => {
                l.latency_us.store(
                    d.as_micros().min(u128::from(u64::MAX)) as u64,
                    Ordering::Relaxed,
                );
                true
            }
            None => false,
        }
    }

    pub fn state(&self, from: u32) -> Option<LinkState> {
        self.links.get(&from).map(|l| *l.state.borrow())
    }

    /// Every link passes again, without latency.
    pub fn heal(&self) {
        for l in self.links.values() {
            l.latency_us.store(0, Ordering::Relaxed);
            l.state.send_replace(LinkState::Pass);
        }
    }
}

impl Drop for Switchboard {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn accept_loop(
    l: TcpListener,
    upstream: SocketAddr,
    links: Arc<BTreeMap<u32, Link>>,
    refusal: Arc<Vec<u8>>,
) {
    loop {
        let Ok((down, peer)) = l.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let from = node_of(peer.ip());
        let Some(link) = links.get(&from).or_else(|| links.get(&0)) else {
            continue;
        };
        // Only the harness's own clients get a RESP refusal; a peer sees a closed socket,
        // as behind a REJECTing firewall.
        let refusal = (from == 0).then(|| Arc::clone(&refusal));
        if *link.state.borrow() == LinkState::Reject {
            if let Some(r) = refusal {
                tokio::spawn(async move { refuse(down, &r).await });
            }
            continue;
        }
        tokio::spawn(forward(
            down,
            upstream,
            link.state.subscribe(),
            Arc::clone(&link.latency_us),
            refusal,
        ));
    }
}
