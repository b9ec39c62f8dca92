//! CLIENT TRACKING (server-assisted client-side caching), as Redis 7.0.
//!
//! - **Default mode** remembers, per node, the keys each tracking client read (the
//!   [`Tracking`] table: key → client ids, bounded by `tracking-table-max-keys`; a key
//!   evicted from a full table is invalidated as if modified). When an applied write modifies
//!   a key, every client in its entry gets `invalidate [key]` and the entry is dropped (the
//!   client must read the key again to be told again).
//! - **BCAST mode** keeps prefixes instead: a modified key matching a prefix is sent to every
//!   client of that prefix, one message per prefix per applied batch with its keys sorted (as
//!   Redis sends them once per event-loop cycle).
//! - **Delivery.** RESP3 connections get a push `>2 invalidate [keys]`; with `REDIRECT id` the
//!   target gets it instead — as a push if it speaks RESP3, as a `message` on
//!   `__redis__:invalidate` if it is a RESP2 subscriber, and nothing otherwise. FLUSHALL and
//!   FLUSHDB send `invalidate` with a null to every tracking client. Messages travel through
//!   the connection's mailbox (the Pub/Sub one), so they are written between replies, after
//!   the reply of the command that caused them.
//! - **Where invalidations come from.** The state machine reports what each applied entry
//!   modified ([`crate::storage::Change`]) on every node, leader and followers alike: a
//!   client tracking reads it made on a follower (READONLY) is invalidated when that follower
//!   applies the write, as a Redis replica invalidates for what it applies. Nothing crosses
//!   nodes.
//! - **NOLOOP.** The applied entry does not say which connection proposed it, so a NOLOOP
//!   client registers the keys its batch writes while the batch is in flight
//!   ([`Tracking::expect_writes`]; the write's reply only returns after its apply reported
//!   the change) and invalidations of those keys are not sent to it.
//!
//! Not replicated state: the table lives on the node the client is connected to, as Redis's
//! lives in one process.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::resp::Frame;
use crate::storage::Change;

use super::pubsub::{Mailbox, PubSub};

/// `tracking-table-max-keys` (0 = unlimited), node-wide like the other runtime limits.
static MAX_KEYS: AtomicU64 = AtomicU64::new(1_000_000);

pub fn set_max_keys(n: u64) {
    MAX_KEYS.store(n, Ordering::Relaxed)
}

/// A tracking client's options (CLIENT TRACKING ON ...).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Client id invalidations go to; 0 = this connection.
    pub redirect: u64,
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    /// BCAST prefixes (sorted, distinct; `[""]` when none was given).
    pub prefixes: Vec<Bytes>,
}

struct Client {
    opts: Options,
    /// The redirect target went away (TRACKINGINFO `broken_redirect`).
    broken: bool,
}

#[derive(Default)]
struct Inner {
    /// The mailbox of every connected client (redirect targets and tracking clients).
    endpoints: HashMap<u64, Arc<Mailbox>>,
    clients: BTreeMap<u64, Client>,
    /// Default mode: key → the clients that read it.
    table: HashMap<Bytes, BTreeSet<u64>>,
    /// Keys in the order they entered `table` (may hold keys since dropped): eviction order.
    order: VecDeque<Bytes>,
    /// Client-key pairs in `table` (INFO `tracking_total_items`).
    items: usize,
    /// BCAST: prefix → clients.
    prefixes: BTreeMap<Bytes, BTreeSet<u64>>,
    /// NOLOOP clients' keys written by the batch they have in flight.
    self_writes: HashMap<u64, HashSet<Bytes>>,
}

/// The node's tracking state (see the module docs).
pub struct Tracking {
    inner: Mutex<Inner>,
    /// Clients with tracking on (the apply path's cheap check; INFO `tracking_clients`).
    count: AtomicUsize,
    pubsub: Arc<PubSub>,
}

/// `invalidate` payload: some keys, or null for "everything" (flush).
type Payload = Option<Vec<Bytes>>;

impl Tracking {
    pub fn new(pubsub: Arc<PubSub>) -> Arc<Tracking> {
        Arc::new(Tracking {
            inner: Mutex::default(),
            count: AtomicUsize::new(0),
            pubsub,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// A connection opened: it can be a redirect target from now on.
    pub fn connect(&self, id: u64, mailbox: Arc<Mailbox>) {
        self.lock().endpoints.insert(id, mailbox);
    }

    /// A connection closed: tracking off, no longer a target.
    pub fn disconnect(&self, id: u64) {
        let mut g = self.lock();
        g.endpoints.remove(&id);
        self.disable_locked(&mut g, id);
    }

    /// Whether client `id` exists (CLIENT TRACKING REDIRECT's check).
    pub fn client_exists(&self, id: u64) -> bool {
        self.lock().endpoints.contains_key(&id)
    }

    /// Tracking clients on this node.
    pub fn clients(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// (keys in the table, client-key items, BCAST prefixes) for INFO.
    pub fn totals(&self) -> (usize, usize, usize) {
        let g = self.lock();
        (g.table.len(), g.items, g.prefixes.len())
    }

    /// The options and broken-redirect flag of client `id`, if tracking.
    pub fn info(&self, id: u64) -> Option<(Options, bool)> {
        self.lock()
            .clients
            .get(&id)
            .map(|c| (c.opts.clone(), c.broken))
    }

    /// CLIENT TRACKING ON: checks Redis's rules against the current state, then enables
    /// (or updates) tracking. Returns the options in force.
    pub fn enable(&self, id: u64, mut opts: Options) -> Result<Options, Frame> {
        let mut g = self.lock();
        if !opts.bcast && !opts.prefixes.is_empty() {
            return Err(Frame::err(
                "PREFIX option requires BCAST mode to be enabled",
            ));
        }
        if let Some(cur) = g.clients.get(&id) {
            if cur.opts.bcast != opts.bcast {
                return Err(Frame::err("You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."));
            }
        }
        if opts.bcast && (opts.optin || opts.optout) {
            return Err(Frame::err("OPTIN and OPTOUT are not compatible with BCAST"));
        }
        if opts.optin && opts.optout {
            return Err(Frame::err(
                "You can't specify both OPTIN mode and OPTOUT mode",
            ));
        }
        if let Some(cur) = g.clients.get(&id) {
            if (opts.optin && cur.opts.optout) || (opts.optout && cur.opts.optin) {
                return Err(Frame::err("You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode."));
            }
        }
        let existing: Vec<Bytes> = g
            .clients
            .get(&id)
            .map(|c| c.opts.prefixes.clone())
            .unwrap_or_default();
        if opts.bcast {
            check_prefixes(&existing, &opts.prefixes)?;
            if opts.prefixes.is_empty() {
                opts.prefixes.push(Bytes::new());
            }
        }
        // Prefixes accumulate across CLIENT TRACKING ON calls, as Redis's do.
        let mut all: BTreeSet<Bytes> = existing.into_iter().collect();
        for p in &opts.prefixes {
            all.insert(p.clone());
            g.prefixes.entry(p.clone()).or_default().insert(id);
        }
        opts.prefixes = all.into_iter().collect();
        if g.clients
            .insert(
                id,
                Client {
                    opts: opts.clone(),
                    broken: false,
                },
            )
            .is_none()
        {
            self.count.fetch_add(1, Ordering::Relaxed);
        }
        Ok(opts)
    }

    /// CLIENT TRACKING OFF (a no-op if not tracking).
    pub fn disable(&self, id: u64) {
        let mut g = self.lock();
        self.disable_locked(&mut g, id);
    }

    fn disable_locked(&self, g: &mut Inner, id: u64) {
        let Some(c) = g.clients.remove(&id) else {
            return;
        };
        self.count.fetch_sub(1, Ordering::Relaxed);
        for p in &c.opts.prefixes {
            if let Some(set) = g.prefixes.get_mut(p) {
                set.remove(&id);
                if set.is_empty() {
                    g.prefixes.remove(p);
                }
            }
        }
        g.self_writes.remove(&id);
        // Its table entries go lazily (skipped when found, as Redis does).
    }

    /// Default mode: client `id` read `keys` (call before the read runs, so a write applied
    /// after it is never missed). Then keeps the table within `tracking-table-max-keys`.
    pub fn remember<'a>(&self, id: u64, keys: impl IntoIterator<Item = &'a Bytes>) {
        let mut g = self.lock();
        match g.clients.get(&id) {
            Some(c) if !c.opts.bcast => {}
            _ => return,
        }
        for k in keys {
            let inner = &mut *g;
            let set = match inner.table.get_mut(k) {
                Some(s) => s,
                None => {
                    inner.order.push_back(k.clone());
                    inner.table.entry(k.clone()).or_default()
                }
            };
            if set.insert(id) {
                inner.items += 1;
            }
        }
        let max = MAX_KEYS.load(Ordering::Relaxed) as usize;
        if max > 0 {
            while g.table.len() > max {
                let Some(k) = g.order.pop_front() else { break };
                // Evicted keys are invalidated as if modified (not sent to BCAST clients).
                self.invalidate_key(&mut g, &k);
            }
        }
        if g.order.len() > 2 * g.table.len() + 1024 {
            let inner = &mut *g;
            let mut seen = HashSet::new();
            let table = &inner.table;
            inner
                .order
                .retain(|k| table.contains_key(k) && seen.insert(k.clone()));
        }
    }

    /// NOLOOP: `keys` are written by client `id`'s batch now in flight.
    pub fn expect_writes(&self, id: u64, keys: Vec<Bytes>) {
        if keys.is_empty() {
            return;
        }
        self.lock().self_writes.entry(id).or_default().extend(keys);
    }

    /// The batch of client `id` completed (its writes' changes were reported).
    pub fn clear_writes(&self, id: u64) {
        let mut g = self.lock();
        if !g.self_writes.is_empty() {
            g.self_writes.remove(&id);
        }
    }

    /// Whether the apply path must report changes.
    pub fn active(&self) -> bool {
        self.clients() > 0
    }

    /// The apply hook: invalidates what `changes` modified (see the module docs).
    pub fn changed(&self, changes: &[Change]) {
        if !self.active() {
            return;
        }
        let mut g = self.lock();
        // BCAST: prefix → modified keys, sent once at the end.
        let mut bcast: BTreeMap<Bytes, BTreeSet<Bytes>> = BTreeMap::new();
        for change in changes {
            let keys: Vec<&Bytes> = match change {
                Change::Flush => {
                    let ids: Vec<u64> = g.clients.keys().copied().collect();
                    for id in ids {
                        self.send(&mut g, id, None);
                    }
                    g.table.clear();
                    g.order.clear();
                    g.items = 0;
                    continue;
                }
                // Tracking is by key name across databases, as Redis's.
                Change::Expired { keys, .. } => keys.iter().collect(),
                Change::Command { argv, keys, .. } => {
                    let mut v: Vec<&Bytes> = keys.iter().map(|k| &k.key).collect();
                    // Redis signals the destination of a list move before its source.
                    if argv.first().is_some_and(|n| {
                        [&b"lmove"[..], b"blmove", b"rpoplpush", b"brpoplpush"]
                            .iter()
                            .any(|m| n.eq_ignore_ascii_case(m))
                    }) {
                        v.reverse();
                    }
                    v
                }
            };
            for k in keys {
                for p in g.prefixes.keys() {
                    if k.starts_with(p) {
                        bcast.entry(p.clone()).or_default().insert(k.clone());
                    }
                }
                self.invalidate_key(&mut g, k);
            }
        }
        for (prefix, keys) in bcast {
            let ids: Vec<u64> = g
                .prefixes
                .get(&prefix)
                .map(|s| s.iter().copied().collect())
                .unwrap_or_default();
            for id in ids {
                let own = g.self_writes.get(&id);
                let noloop = g.clients.get(&id).is_some_and(|c| c.opts.noloop);
                let list: Vec<Bytes> = keys
                    .iter()
                    .filter(|k| !(noloop && own.is_some_and(|o| o.contains(*k))))
                    .cloned()
                    .collect();
                if !list.is_empty() {
                    self.send(&mut g, id, Some(list));
                }
            }
        }
    }

    /// Sends `invalidate [key]` to the default-mode clients that read `key`, and forgets it.
    fn invalidate_key(&self, g: &mut Inner, key: &Bytes) {
        let Some(ids) = g.table.remove(key) else {
            return;
        };
        g.items = g.items.saturating_sub(ids.len());
        for id in ids {
            let Some(c) = g.clients.get(&id) else {
                continue;
            };
            if c.opts.bcast {
                continue;
            }
            if c.opts.noloop && g.self_writes.get(&id).is_some_and(|o| o.contains(key)) {
                continue;
            }
            self.send(g, id, Some(vec![key.clone()]));
        }
    }

    /// Queues an invalidation for tracking client `id` where it must go (module docs).
    fn send(&self, g: &mut Inner, id: u64, keys: Payload) {
        let Some(c) = g.clients.get_mut(&id) else {
            return;
        };
        let redirect = c.opts.redirect;
        let target = if redirect != 0 {
            match g.endpoints.get(&redirect) {
                Some(mb) => mb.clone(),
                None => {
                    c.broken = true;
                    if let Some(own) = g.endpoints.get(&id) {
                        if own.is_resp3() {
                            let f = Frame::Push(vec![
                                Frame::bulk("tracking-redir-broken"),
                                Frame::Integer(redirect as i64),
                            ]);
                            self.pubsub.deliver(own, f, 48);
                        }
                    }
                    return;
                }
            }
        } else {
            match g.endpoints.get(&id) {
                Some(mb) => mb.clone(),
                None => return,
            }
        };
        let size = 32
            + keys
                .as_ref()
                .map(|k| k.iter().map(|k| k.len() as u64 + 16).sum::<u64>())
                .unwrap_or(0);
        let value = match keys {
            Some(keys) => Frame::Array(keys.into_iter().map(Frame::Bulk).collect()),
            None => Frame::Null,
        };
        let frame = if target.is_resp3() {
            Frame::Push(vec![Frame::bulk("invalidate"), value])
        } else if redirect != 0 && target.is_subscribed() {
            Frame::Push(vec![
                Frame::bulk("message"),
                Frame::bulk("__redis__:invalidate"),
                value,
            ])
        } else {
            return;
        };
        self.pubsub.deliver(&target, frame, size + 32);
    }
}

/// Redis's prefix-overlap rule: no new prefix may be a prefix of (or extend) an existing one
/// of the client, nor of another new one.
fn check_prefixes(existing: &[Bytes], new: &[Bytes]) -> Result<(), Frame> {
    let overlap = |a: &[u8], b: &[u8]| {
        let n = a.len().min(b.len());
        a[..n] == b[..n]
    };
    for (i, p) in new.iter().enumerate() {
        if let Some(e) = existing.iter().find(|e| overlap(e, p)) {
            return Err(Frame::err(format!(
                "Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                String::from_utf8_lossy(p),
                String::from_utf8_lossy(e)
            )));
        }
        if let Some(q) = new[i + 1..].iter().find(|q| overlap(p, q)) {
            return Err(Frame::err(format!(
                "Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                String::from_utf8_lossy(p),
                String::from_utf8_lossy(q)
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OutputLimit;
    use crate::storage::KeyChange;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn setup() -> (Arc<Tracking>, Arc<Mailbox>, Arc<Mailbox>) {
        let ps = PubSub::new(
            OutputLimit {
                hard: 0,
                soft: 0,
                soft_secs: 0,
            },
            None,
        );
        let t = Tracking::new(ps);
        let (a, r) = (Mailbox::new(), Mailbox::new());
        a.set_mode(true, false);
        r.set_mode(false, true);
        t.connect(1, a.clone());
        t.connect(2, r.clone());
        (t, a, r)
    }

    fn write(keys: &[&str]) -> Vec<Change> {
        vec![Change::Command {
            db: 0,
            argv: vec![b("SET")],
            keys: keys
                .iter()
                .map(|k| KeyChange {
                    key: b(k),
                    before: None,
                    after: Some("string"),
                })
                .collect(),
        }]
    }

    fn inval(keys: &[&str]) -> Frame {
        Frame::Push(vec![
            Frame::bulk("invalidate"),
            Frame::Array(keys.iter().map(|k| Frame::Bulk(b(k))).collect()),
        ])
    }

    #[test]
    fn default_mode_invalidates_once_per_read() {
        let (t, a, _) = setup();
        t.enable(1, Options::default()).unwrap();
        t.remember(1, &[b("k"), b("j")]);
        assert_eq!(t.totals(), (2, 2, 0));
        t.changed(&write(&["k", "other"]));
        assert_eq!(a.take(u64::MAX).0, vec![inval(&["k"])]);
        // Forgotten until read again.
        t.changed(&write(&["k"]));
        assert!(a.take(u64::MAX).0.is_empty());
        assert_eq!(t.totals(), (1, 1, 0));
        t.changed(&[Change::Flush]);
        assert_eq!(
            a.take(u64::MAX).0,
            vec![Frame::Push(vec![Frame::bulk("invalidate"), Frame::Null])]
        );
        assert_eq!(t.totals(), (0, 0, 0));
    }

    #[test]
    fn redirect_to_a_resp2_subscriber_is_a_message_and_broken_redirect_is_reported() {
        let (t, a, r) = setup();
        let opts = Options {
            redirect: 2,
            ..Options::default()
        };
        t.enable(1, opts).unwrap();
        t.remember(1, &[b("k")]);
        t.changed(&write(&["k"]));
        assert_eq!(
            r.take(u64::MAX).0,
            vec![Frame::Push(vec![
                Frame::bulk("message"),
                Frame::bulk("__redis__:invalidate"),
                Frame::Array(vec![Frame::Bulk(b("k"))]),
            ])]
        );
        t.disconnect(2);
        t.remember(1, &[b("k")]);
        t.changed(&write(&["k"]));
        assert_eq!(
            a.take(u64::MAX).0,
            vec![Frame::Push(vec![
                Frame::bulk("tracking-redir-broken"),
                Frame::Integer(2)
            ])]
        );
        assert!(t.info(1).unwrap().1);
    }

    #[test]
    fn bcast_sends_sorted_keys_per_prefix_and_noloop_skips_own_writes() {
        let (t, a, _) = setup();
        let opts = Options {
            bcast: true,
            noloop: true,
            prefixes: vec![b("a:"), b("b:")],
            ..Options::default()
        };
        t.enable(1, opts).unwrap();
        t.changed(&write(&["b:2", "a:2", "a:1", "c"]));
        assert_eq!(
            a.take(u64::MAX).0,
            vec![inval(&["a:1", "a:2"]), inval(&["b:2"])]
        );
        t.expect_writes(1, vec![b("a:1")]);
        t.changed(&write(&["a:1", "a:3"]));
        assert_eq!(a.take(u64::MAX).0, vec![inval(&["a:3"])]);
        t.clear_writes(1);
        t.changed(&write(&["a:1"]));
        assert_eq!(a.take(u64::MAX).0, vec![inval(&["a:1"])]);
    }

    #[test]
    fn option_rules_are_redis_s() {
        let (t, _, _) = setup();
        let err = |r: Result<Options, Frame>| match r {
            Err(Frame::Error(e)) => e.to_string(),
            other => panic!("{other:?}"),
        };
        let bc = |p: &[&str]| Options {
            bcast: true,
            prefixes: p.iter().map(|s| b(s)).collect(),
            ..Options::default()
        };
        assert_eq!(
            err(t.enable(
                1,
                Options {
                    prefixes: vec![b("a")],
                    ..Options::default()
                }
            )),
            "ERR PREFIX option requires BCAST mode to be enabled"
        );
        assert_eq!(
            err(t.enable(1, bc(&["ab", "a"]))),
            "ERR Prefix 'ab' overlaps with another provided prefix 'a'. Prefixes for a single client must not overlap."
        );
        t.enable(1, bc(&["foo"])).unwrap();
        assert_eq!(
            err(t.enable(1, bc(&["fo"]))),
            "ERR Prefix 'fo' overlaps with an existing prefix 'foo'. Prefixes for a single client must not overlap."
        );
        assert!(err(t.enable(1, Options::default())).starts_with("ERR You can't switch BCAST"));
        t.enable(1, bc(&["bar"])).unwrap();
        assert_eq!(t.info(1).unwrap().0.prefixes, vec![b("bar"), b("foo")]);
        assert_eq!(t.totals().2, 2);
        t.disable(1);
        assert_eq!((t.clients(), t.totals().2), (0, 0));
        assert_eq!(
            err(t.enable(
                1,
                Options {
                    optin: true,
                    optout: true,
                    ..Options::default()
                }
            )),
            "ERR You can't specify both OPTIN mode and OPTOUT mode"
        );
    }

    #[test]
    fn a_full_table_evicts_by_invalidating() {
        let (t, a, _) = setup();
        set_max_keys(2);
        t.enable(1, Options::default()).unwrap();
        t.remember(1, &[b("x"), b("y"), b("z")]);
        set_max_keys(1_000_000);
        assert_eq!(a.take(u64::MAX).0, vec![inval(&["x"])]);
        assert_eq!(t.totals().0, 2);
    }
}
