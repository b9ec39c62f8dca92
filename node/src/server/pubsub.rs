//! Pub/Sub on one node: the subscription registry, each subscriber's bounded mailbox, and the
//! ordered, bounded links that carry published messages to the other nodes (docs/pubsub.md).
//!
//! A leaf of `server` (it knows nothing of sessions or commands): [`PubSub`] lives in
//! [`super::state::Node`], the commands in [`super::pubsub_cmds`] drive it, and the peer
//! service ([`crate::raft::pubsub_peer`]) hands it the messages other nodes forward.
//!
//! **Delivery guarantee.** At most once; messages from one node reach each other node in the
//! order that node published them (one FIFO link per peer, one batch in flight); no replay: a
//! message reaches only the subscribers registered when it arrives. Messages are never Raft
//! log entries and never touch the keyspace.
//!
//! **Bounded memory.** A subscriber's mailbox counts the bytes of the messages queued for it
//! (and those taken out but not yet written to its socket); passing
//! `client-output-buffer-limit pubsub`'s hard limit, or staying above the soft limit for its
//! seconds, kills the mailbox and its session closes the connection, as Redis closes such a
//! client. A peer link holds at most [`PEER_QUEUE_BYTES`]; a message that does not fit, or a
//! batch the peer does not accept, is dropped and counted (`sdr_pubsub_peer_dropped`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::{mpsc, Notify};

use crate::cmd::glob;
use crate::config::OutputLimit;
use crate::raft::pubsub_peer::{PeerLinkClient, PeerMessage, PeerSink};
use crate::raft::NodeId;
use crate::resp::Frame;

/// Most bytes of messages queued for one peer; more are dropped (and counted).
pub const PEER_QUEUE_BYTES: u64 = 16 * 1024 * 1024;
/// A batch sent to a peer holds about this many bytes at most (a larger message goes alone).
const PEER_BATCH_BYTES: usize = 1024 * 1024;
/// A batch holds at most this many messages.
const PEER_BATCH_MESSAGES: usize = 1024;

/// Which kind of subscription a command manages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// SUBSCRIBE / UNSUBSCRIBE: exact channel names.
    Channel,
    /// PSUBSCRIBE / PUNSUBSCRIBE: glob patterns.
    Pattern,
    /// SSUBSCRIBE / SUNSUBSCRIBE: shard channels (SPUBLISH).
    Shard,
}

/// What a subscriber is sent: the encoded-size estimate counts against its output limit.
fn push_size(items: &[&[u8]]) -> u64 {
    // "*N\r\n" plus "$len\r\n...\r\n" per item: 16 bytes of framing per item is an upper bound.
    8 + items.iter().map(|i| i.len() as u64 + 16).sum::<u64>()
}

#[derive(Default)]
struct MailboxState {
    frames: VecDeque<(Frame, u64)>,
    /// Bytes queued plus bytes taken but not yet reported written ([`Mailbox::sent`]).
    bytes: u64,
    over_soft_since: Option<Instant>,
    killed: bool,
}

/// One connection's queue of messages (Pub/Sub messages, tracking invalidations), filled by
/// publishers and drained by its session.
#[derive(Default)]
pub struct Mailbox {
    state: Mutex<MailboxState>,
    notify: Notify,
    /// The connection speaks RESP3 (kept current by its session; tracking picks the
    /// invalidation's form from it).
    resp3: std::sync::atomic::AtomicBool,
    /// The connection has a subscription (RESP2 redirect targets must be subscribers).
    subscribed: std::sync::atomic::AtomicBool,
}

impl Mailbox {
    pub fn new() -> Arc<Mailbox> {
        Arc::new(Mailbox::default())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MailboxState> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Queues `frame` (`size` bytes) unless that takes the mailbox past `limit`, which kills
    /// it (queue dropped, session told). Returns whether the frame was queued.
    fn push(&self, frame: Frame, size: u64, limit: OutputLimit) -> bool {
        let mut s = self.lock();
        if s.killed {
            return false;
        }
        let bytes = s.bytes + size;
        let over_hard = limit.hard > 0 && bytes > limit.hard;
        let over_soft_too_long = if limit.soft > 0 && bytes > limit.soft {
            let since = *s.over_soft_since.get_or_insert_with(Instant::now);
            since.elapsed().as_secs() >= limit.soft_secs
        } else {
            s.over_soft_since = None;
            false
        };
        if over_hard || over_soft_too_long {
            tracing::info!(
                bytes,
                "closing a pubsub client for overcoming of output buffer limits"
            );
            s.killed = true;
            s.frames.clear();
            s.bytes = 0;
            drop(s);
            self.notify.notify_one();
            return false;
        }
        s.bytes = bytes;
        s.frames.push_back((frame, size));
        drop(s);
        self.notify.notify_one();
        true
    }

    /// Takes queued frames, about `max_bytes` at most (at least one), with their total size;
    /// that size stays counted until [`Mailbox::sent`].
    pub fn take(&self, max_bytes: u64) -> (Vec<Frame>, u64) {
        let mut s = self.lock();
        let mut out = Vec::new();
        let mut total = 0;
        while let Some((_, size)) = s.frames.front() {
            if !out.is_empty() && total + size > max_bytes {
                break;
            }
            total += size;
            if let Some((f, _)) = s.frames.pop_front() {
                out.push(f);
            }
        }
        (out, total)
    }

    /// `bytes` taken with [`Mailbox::take`] have been written to the client.
    pub fn sent(&self, bytes: u64) {
        let mut s = self.lock();
        s.bytes = s.bytes.saturating_sub(bytes);
    }

    /// Records the connection's protocol and whether it has subscriptions.
    pub fn set_mode(&self, resp3: bool, subscribed: bool) {
        self.resp3.store(resp3, Ordering::Relaxed);
        self.subscribed.store(subscribed, Ordering::Relaxed);
    }

    pub fn is_resp3(&self) -> bool {
        self.resp3.load(Ordering::Relaxed)
    }

    pub fn is_subscribed(&self) -> bool {
        self.subscribed.load(Ordering::Relaxed)
    }

    pub fn is_killed(&self) -> bool {
        self.lock().killed
    }

    /// Resolves when something was queued or the mailbox was killed since the last call
    /// (a stored permit: nothing is missed between calls).
    pub async fn wait(&self) {
        self.notify.notified().await
    }

    /// Resolves once the mailbox is killed.
    pub async fn wait_killed(&self) {
        while !self.is_killed() {
            self.notify.notified().await;
        }
    }

    /// Bytes counted against the output limit now (queued + being written).
    pub fn queued_bytes(&self) -> u64 {
        self.lock().bytes
    }
}

type Subscribers = BTreeMap<Bytes, BTreeMap<u64, Arc<Mailbox>>>;

#[derive(Default)]
struct Registry {
    channels: Subscribers,
    patterns: Subscribers,
    shard: Subscribers,
}

impl Registry {
    fn of(&mut self, kind: Kind) -> &mut Subscribers {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }
}

/// Counters of the cross-node fan-out (INFO stats).
#[derive(Default)]
pub struct PeerStats {
    /// Messages handed to a peer that acknowledged them.
    pub sent: AtomicU64,
    /// Messages not delivered to a peer: its queue was full, the batch failed, or the message
    /// is larger than a peer message.
    pub dropped: AtomicU64,
    /// Messages received from peers.
    pub received: AtomicU64,
}

struct Link {
    addr: String,
    tx: mpsc::UnboundedSender<PeerMessage>,
    queued: Arc<AtomicU64>,
}

/// The node's Pub/Sub state. Cheap to share (`Arc`).
pub struct PubSub {
    registry: Mutex<Registry>,
    limit: Mutex<OutputLimit>,
    links: Mutex<BTreeMap<NodeId, Link>>,
    client: Option<PeerLinkClient>,
    pub peer_stats: Arc<PeerStats>,
}

impl PubSub {
    /// `client` is `None` for a node without peers (no cluster section).
    pub fn new(limit: OutputLimit, client: Option<PeerLinkClient>) -> Arc<PubSub> {
        Arc::new(PubSub {
            registry: Mutex::default(),
            limit: Mutex::new(limit),
            links: Mutex::default(),
            client,
            peer_stats: Arc::default(),
        })
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        match self.registry.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// `client-output-buffer-limit pubsub` changed (CONFIG SET).
    pub fn set_limit(&self, limit: OutputLimit) {
        match self.limit.lock() {
            Ok(mut l) => *l = limit,
            Err(p) => *p.into_inner() = limit,
        }
    }

    fn current_limit(&self) -> OutputLimit {
        match self.limit.lock() {
            Ok(l) => *l,
            Err(p) => *p.into_inner(),
        }
    }

    /// Queues `frame` (about `size` bytes) for one connection, under the same output limit as
    /// its Pub/Sub messages.
    pub fn deliver(&self, mb: &Mailbox, frame: Frame, size: u64) -> bool {
        mb.push(frame, size, self.current_limit())
    }

    /// Registers `client`'s mailbox for `name`; false if it already was.
    pub fn subscribe(&self, kind: Kind, name: &Bytes, client: u64, mb: &Arc<Mailbox>) -> bool {
        self.registry()
            .of(kind)
            .entry(name.clone())
            .or_default()
            .insert(client, mb.clone())
            .is_none()
    }

    /// Removes `client` from `name`; false if it was not subscribed.
    pub fn unsubscribe(&self, kind: Kind, name: &[u8], client: u64) -> bool {
        let mut r = self.registry();
        let map = r.of(kind);
        let Some(subs) = map.get_mut(name) else {
            return false;
        };
        let removed = subs.remove(&client).is_some();
        if subs.is_empty() {
            map.remove(name);
        }
        removed
    }

    /// Delivers a PUBLISH (`sharded` false: channel and pattern subscribers) or SPUBLISH
    /// (shard-channel subscribers) to this node's subscribers; returns how many received it.
    pub fn publish_local(&self, sharded: bool, channel: &Bytes, payload: &Bytes) -> u64 {
        let limit = self.current_limit();
        let r = self.registry();
        let mut n = 0;
        if sharded {
            if let Some(subs) = r.shard.get(channel) {
                let size = push_size(&[b"smessage", channel, payload]);
                let frame = Frame::Push(vec![
                    Frame::bulk("smessage"),
                    Frame::Bulk(channel.clone()),
                    Frame::Bulk(payload.clone()),
                ]);
                for mb in subs.values() {
                    n += u64::from(mb.push(frame.clone(), size, limit));
                }
            }
            return n;
        }
        if let Some(subs) = r.channels.get(channel) {
            let size = push_size(&[b"message", channel, payload]);
            let frame = Frame::Push(vec![
                Frame::bulk("message"),
                Frame::Bulk(channel.clone()),
                Frame::Bulk(payload.clone()),
            ]);
            for mb in subs.values() {
                n += u64::from(mb.push(frame.clone(), size, limit));
            }
        }
        for (pattern, subs) in &r.patterns {
            if !glob::matches(pattern, channel) {
                continue;
            }
            let size = push_size(&[b"pmessage", pattern, channel, payload]);
            let frame = Frame::Push(vec![
                Frame::bulk("pmessage"),
                Frame::Bulk(pattern.clone()),
                Frame::Bulk(channel.clone()),
                Frame::Bulk(payload.clone()),
            ]);
            for mb in subs.values() {
                n += u64::from(mb.push(frame.clone(), size, limit));
            }
        }
        n
    }

    /// Queues a message for every peer in `targets` (node id, peer gRPC address), each on its
    /// own ordered link; a peer whose queue is full loses it (counted).
    pub fn forward(&self, targets: &[(NodeId, String)], msg: PeerMessage) {
        let Some(client) = &self.client else {
            return;
        };
        if targets.is_empty() {
            return;
        }
        let size = msg.size() as u64;
        let mut links = match self.links.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        for (id, addr) in targets {
            let stale = links
                .get(id)
                .is_some_and(|l| &l.addr != addr || l.tx.is_closed());
            if stale {
                links.remove(id);
            }
            let link = links.entry(*id).or_insert_with(|| {
                let (tx, rx) = mpsc::unbounded_channel();
                let queued = Arc::new(AtomicU64::new(0));
                tokio::spawn(run_link(
                    client.clone(),
                    *id,
                    addr.clone(),
                    rx,
                    queued.clone(),
                    self.peer_stats.clone(),
                ));
                Link {
                    addr: addr.clone(),
                    tx,
                    queued,
                }
            });
            if link.queued.load(Ordering::Relaxed) + size > PEER_QUEUE_BYTES {
                self.peer_stats.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            link.queued.fetch_add(size, Ordering::Relaxed);
            if link.tx.send(msg.clone()).is_err() {
                link.queued.fetch_sub(size, Ordering::Relaxed);
                self.peer_stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Channels (`kind` Channel or Shard) with at least one subscriber, matching `pattern`
    /// if given, in byte order.
    pub fn active(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let mut r = self.registry();
        r.of(kind)
            .keys()
            .filter(|c| pattern.is_none_or(|p| glob::matches(p, c)))
            .cloned()
            .collect()
    }

    /// Subscribers of channel `name` on this node.
    pub fn count(&self, kind: Kind, name: &[u8]) -> usize {
        self.registry().of(kind).get(name).map_or(0, |s| s.len())
    }

    /// Distinct patterns subscribed on this node (PUBSUB NUMPAT).
    pub fn pattern_count(&self) -> usize {
        self.registry().patterns.len()
    }

    /// (channels, patterns, shard channels) with subscribers, for INFO.
    pub fn sizes(&self) -> (usize, usize, usize) {
        let r = self.registry();
        (r.channels.len(), r.patterns.len(), r.shard.len())
    }

    /// Bytes waiting in the peer links.
    pub fn peer_queued_bytes(&self) -> u64 {
        match self.links.lock() {
            Ok(l) => l.values().map(|l| l.queued.load(Ordering::Relaxed)).sum(),
            Err(_) => 0,
        }
    }
}

impl PeerSink for PubSub {
    fn deliver(&self, messages: Vec<PeerMessage>) -> u64 {
        self.peer_stats
            .received
            .fetch_add(messages.len() as u64, Ordering::Relaxed);
        messages
            .iter()
            .map(|m| self.publish_local(m.sharded, &m.channel, &m.payload))
            .sum()
    }
}

/// One peer link: sends batches in order, one at a time, until the link is dropped. A batch
/// that fails is dropped (at-most-once), never retried.
async fn run_link(
    client: PeerLinkClient,
    target: NodeId,
    addr: String,
    mut rx: mpsc::UnboundedReceiver<PeerMessage>,
    queued: Arc<AtomicU64>,
    stats: Arc<PeerStats>,
) {
    let mut peer = client.connect(target, &addr);
    while let Some(first) = rx.recv().await {
        let mut bytes = first.size();
        let mut batch = vec![first];
        while batch.len() < PEER_BATCH_MESSAGES && bytes < PEER_BATCH_BYTES {
            match rx.try_recv() {
                Ok(m) => {
                    bytes += m.size();
                    batch.push(m);
                }
                Err(_) => break,
            }
        }
        let n = batch.len() as u64;
        let ok = match &mut peer {
            Ok(p) => match p.deliver(batch).await {
                Ok(()) => true,
                Err(e) => {
                    tracing::debug!(target, error = %e, "pubsub delivery to a peer failed; messages dropped");
                    false
                }
            },
            Err(e) => {
                tracing::debug!(target, error = %e, "no pubsub link to a peer; messages dropped");
                false
            }
        };
        queued.fetch_sub(bytes as u64, Ordering::Relaxed);
        let counter = if ok { &stats.sent } else { &stats.dropped };
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// One session's subscriptions (the registry holds the same, keyed by channel).
#[derive(Default)]
pub struct Subscriptions {
    /// Created at the first subscription and kept for the session's life.
    pub mailbox: Option<Arc<Mailbox>>,
    pub channels: BTreeSet<Bytes>,
    pub patterns: BTreeSet<Bytes>,
    pub shard: BTreeSet<Bytes>,
}

impl Subscriptions {
    pub fn set(&mut self, kind: Kind) -> &mut BTreeSet<Bytes> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    /// Redis's count in (un)subscribe confirmations: channels + patterns for those, shard
    /// channels for SSUBSCRIBE/SUNSUBSCRIBE.
    pub fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Channel | Kind::Pattern => self.channels.len() + self.patterns.len(),
            Kind::Shard => self.shard.len(),
        }
    }

    /// Any subscription at all: a RESP2 connection is then in subscriber mode.
    pub fn any(&self) -> bool {
        !(self.channels.is_empty() && self.patterns.is_empty() && self.shard.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(hard: u64, soft: u64, soft_secs: u64) -> OutputLimit {
        OutputLimit {
            hard,
            soft,
            soft_secs,
        }
    }

    #[test]
    fn channel_and_pattern_subscribers_receive_and_are_counted() {
        let ps = PubSub::new(limit(0, 0, 0), None);
        let (a, b) = (Mailbox::new(), Mailbox::new());
        let ch = Bytes::from_static(b"news.tech");
        assert!(ps.subscribe(Kind::Channel, &ch, 1, &a));
        assert!(!ps.subscribe(Kind::Channel, &ch, 1, &a));
        assert!(ps.subscribe(Kind::Pattern, &Bytes::from_static(b"news.*"), 2, &b));
        assert!(ps.subscribe(Kind::Pattern, &Bytes::from_static(b"n*"), 2, &b));
        assert_eq!(ps.publish_local(false, &ch, &Bytes::from_static(b"hi")), 3);
        assert_eq!(ps.publish_local(true, &ch, &Bytes::from_static(b"hi")), 0);
        assert_eq!(a.take(1 << 20).0.len(), 1);
        let (frames, _) = b.take(1 << 20);
        assert_eq!(frames.len(), 2);
        assert_eq!(
            frames[0],
            Frame::Push(vec![
                Frame::bulk("pmessage"),
                Frame::bulk("n*"),
                Frame::bulk("news.tech"),
                Frame::bulk("hi"),
            ])
        );
        assert!(ps.unsubscribe(Kind::Channel, &ch, 1));
        assert!(!ps.unsubscribe(Kind::Channel, &ch, 1));
        assert_eq!(ps.active(Kind::Channel, None), Vec::<Bytes>::new());
        assert_eq!(ps.pattern_count(), 2);
    }

    #[test]
    fn hard_limit_kills_the_mailbox_and_frees_its_queue() {
        let ps = PubSub::new(limit(1200, 0, 0), None); // 364 bytes a message
        let mb = Mailbox::new();
        let ch = Bytes::from_static(b"c");
        ps.subscribe(Kind::Channel, &ch, 7, &mb);
        let payload = Bytes::from(vec![b'x'; 300]);
        assert_eq!(ps.publish_local(false, &ch, &payload), 1);
        assert_eq!(ps.publish_local(false, &ch, &payload), 1);
        assert_eq!(ps.publish_local(false, &ch, &payload), 1);
        assert!(!mb.is_killed());
        assert_eq!(
            ps.publish_local(false, &ch, &payload),
            0,
            "past the hard limit"
        );
        assert!(mb.is_killed());
        assert_eq!(mb.queued_bytes(), 0);
        assert!(mb.take(1 << 20).0.is_empty());
    }

    #[test]
    fn bytes_taken_count_until_sent() {
        let mb = Mailbox::new();
        assert!(mb.push(Frame::bulk("a"), 100, limit(250, 0, 0)));
        assert!(mb.push(Frame::bulk("b"), 100, limit(250, 0, 0)));
        let (frames, n) = mb.take(150);
        assert_eq!((frames.len(), n), (1, 100));
        assert!(
            !mb.push(Frame::bulk("c"), 100, limit(250, 0, 0)),
            "taken bytes still count"
        );
        assert!(mb.is_killed());
    }

    #[test]
    fn soft_limit_with_zero_seconds_closes_at_once() {
        let mb = Mailbox::new();
        assert!(mb.push(Frame::bulk("a"), 100, limit(0, 150, 5)));
        assert!(
            mb.push(Frame::bulk("b"), 100, limit(0, 150, 5)),
            "over soft, not for long"
        );
        assert!(!mb.push(Frame::bulk("c"), 100, limit(0, 150, 0)));
    }
}
