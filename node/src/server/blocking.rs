//! Blocking commands (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP) and
//! `CLIENT UNBLOCK`: the registry of blocked clients, keyed by key, and the wait loop of one
//! blocked client. See docs/blocking.md for the design; in short:
//!
//! - **The pop is a log entry.** A blocking command is proposed as it is; its apply
//!   (`cmd::lists` / `cmd::zsets`) pops like the non-blocking form when a key has data, and
//!   replies the timeout reply (nil / nil array) when none has. On that reply the client waits
//!   here, then proposes the command again, restricted to the key that got data. If another
//!   client won the race (the key is empty again at apply time), it simply waits again, until
//!   its deadline. Every replica applies the same entries, so the outcome is the same everywhere.
//! - **Wake-ups come from apply.** The state machine tells the [`Registry`] (through
//!   `storage::ReadyKeys`) which keys written by an applied entry now hold a non-empty list or
//!   sorted set. Each such key wakes the first client blocked on it that is not already
//!   re-proposing (first blocked, first served, as Redis); that client's own pop, if it leaves
//!   data, wakes the next one.
//! - **No lost wake-up.** A client registers before its first proposal, so a key that gets data
//!   after that proposal applied wakes it; one that got data before is seen by the apply.
//!   A woken client that leaves without popping (error, timeout, unblock, disconnect) hands the
//!   wake-up to the next client on that key.
//! - **Leader only.** Blocking commands are served by the group's leader; a follower answers
//!   `-MOVED` (also with `forward-to-leader`, whose relay has a request timeout). A blocked
//!   client whose node stops being leader gets `-MOVED <slot> <new leader>` (or `-TRYAGAIN` while
//!   none is known): nothing was proposed while it waited, so the redirect is exact. A
//!   proposal in flight is answered by the write path as any write (`-TIMEOUT` when unknown).
//! - **Bounded.** One registration per blocked connection (a connection runs one command at a
//!   time), removed when the wait ends for any reason, including the connection closing
//!   (watched while blocked) and the task being dropped ([`Registration`]'s `Drop`).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::Notify;

use crate::cmd::{self, Group};
use crate::errors;
use crate::resp::{ErrorCode, Frame};
use crate::storage::ReadyKeys;

use super::state::{Node, Session};
use super::write_path;

/// How `CLIENT UNBLOCK` ends a wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnblockMode {
    /// Reply as if the timeout expired.
    Timeout,
    /// Reply `-UNBLOCKED client unblocked via CLIENT UNBLOCK`.
    Error,
}

/// What a blocked client waits for: data of its command's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wants {
    List,
    ZSet,
}

struct Waiter {
    keys: Vec<Bytes>,
    wants: Wants,
    /// The key of the wake-up assigned to this client; while set, wake-ups go to the next
    /// client. Cleared when the re-proposal for it found nothing.
    woken: Option<Bytes>,
    /// The wake-up was taken: a re-proposal for it is (or was) in flight.
    consumed: bool,
    unblock: Option<UnblockMode>,
    notify: Arc<Notify>,
}

#[derive(Default)]
struct Inner {
    /// Client ids blocked on each key, in the order they blocked.
    by_key: HashMap<Bytes, VecDeque<u64>>,
    waiters: HashMap<u64, Waiter>,
}

impl Inner {
    /// Wakes the first client on `key` that wants `kind` and is not already woken.
    fn wake_first(&mut self, key: &Bytes, kind: Wants) {
        let Some(queue) = self.by_key.get(key) else {
            return;
        };
        for id in queue {
            if let Some(w) = self.waiters.get_mut(id) {
                if w.wants == kind && w.woken.is_none() {
                    w.woken = Some(key.clone());
                    w.notify.notify_one();
                    return;
                }
            }
        }
    }

    fn remove(&mut self, id: u64) -> Option<Waiter> {
        let w = self.waiters.remove(&id)?;
        for k in &w.keys {
            if let Some(q) = self.by_key.get_mut(k) {
                q.retain(|&x| x != id);
                if q.is_empty() {
                    self.by_key.remove(k);
                }
            }
        }
        Some(w)
    }
}

/// The blocked clients of this node, keyed by key. Shared by the sessions (register, wait,
/// unblock) and the state machine (wake-ups).
#[derive(Default)]
pub struct Registry {
    inner: Mutex<Inner>,
    /// Number of registered clients: the state machine's cheap "anyone waiting?" check.
    count: AtomicUsize,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Blocked clients (INFO `blocked_clients`).
    pub fn blocked_clients(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Keys with at least one blocked client (INFO `total_blocking_keys`).
    pub fn blocking_keys(&self) -> usize {
        self.lock().by_key.len()
    }

    fn register(&self, id: u64, keys: Vec<Bytes>, wants: Wants) -> Registration<'_> {
        let notify = Arc::new(Notify::new());
        let mut g = self.lock();
        if let Some(old) = g.remove(id) {
            // Cannot happen (one command at a time per connection); keep the count right.
            drop(old);
            self.count.fetch_sub(1, Ordering::Relaxed);
        }
        for k in &keys {
            let q = g.by_key.entry(k.clone()).or_default();
            if !q.contains(&id) {
                q.push_back(id);
            }
        }
        g.waiters.insert(
            id,
            Waiter {
                keys,
                wants,
                woken: None,
                consumed: false,
                unblock: None,
                notify: notify.clone(),
            },
        );
        self.count.fetch_add(1, Ordering::Relaxed);
        Registration {
            registry: self,
            id,
            notify,
        }
    }

    /// `CLIENT UNBLOCK id mode`: `true` if client `id` is blocked here (it then ends its wait
    /// with the reply of `mode`).
    pub fn unblock(&self, id: u64, mode: UnblockMode) -> bool {
        let mut g = self.lock();
        match g.waiters.get_mut(&id) {
            Some(w) => {
                w.unblock.get_or_insert(mode);
                w.notify.notify_one();
                true
            }
            None => false,
        }
    }
}

impl ReadyKeys for Registry {
    fn any_waiting(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 0
    }

    fn waits_on(&self, db: u32, key: &[u8]) -> bool {
        self.lock().by_key.contains_key(&watch_key(db, key)[..])
    }

    fn waited_keys(&self, db: u32) -> Vec<Bytes> {
        let g = self.lock();
        let mut v: Vec<Bytes> = g
            .by_key
            .keys()
            .filter_map(|q| {
                let (n, k) = split_waited(q);
                (n == db).then(|| Bytes::copy_from_slice(k))
            })
            .collect();
        v.sort();
        v
    }

    fn ready(&self, keys: Vec<(u32, Bytes, bool)>) {
        let mut g = self.lock();
        for (db, k, zset) in keys {
            g.wake_first(
                &watch_key(db, &k),
                if zset { Wants::ZSet } else { Wants::List },
            );
        }
    }
}

/// The registry's name of `key` in database `db` (the same naming as WATCH's: db 0 keys as
/// they are, so a blocked client in db 3 is woken by data in db 3 only).
fn watch_key(db: u32, key: &[u8]) -> Bytes {
    crate::keyspace::watch_key(db, key)
}

/// The database and key of a registry name.
fn split_waited(q: &[u8]) -> (u32, &[u8]) {
    crate::keyspace::split_watch_key(q).unwrap_or((0, q))
}

/// One blocked client's place in the registry; leaving it (drop) deregisters.
struct Registration<'a> {
    registry: &'a Registry,
    id: u64,
    notify: Arc<Notify>,
}

impl Registration<'_> {
    fn with<R>(&self, f: impl FnOnce(&mut Waiter) -> R) -> Option<R> {
        self.registry.lock().waiters.get_mut(&self.id).map(f)
    }

    /// Takes the wake-up assigned to this client, if any: the key to re-propose for. The
    /// client stays marked woken while that re-proposal is in flight.
    fn consume(&self) -> Option<Bytes> {
        self.with(|w| {
            if w.consumed {
                return None;
            }
            w.consumed = w.woken.is_some();
            w.woken.clone()
        })
        .flatten()
    }

    /// The re-proposal found nothing: the next wake-up may pick this client again.
    fn rearm(&self) {
        self.with(|w| {
            if w.consumed {
                w.woken = None;
                w.consumed = false;
            }
        });
    }

    fn unblocked(&self) -> Option<UnblockMode> {
        self.with(|w| w.unblock).flatten()
    }

    /// Leaves after popping. A wake-up taken for this pop needs no hand-over (the pop's own
    /// apply woke the next client if data remained, since this one was marked woken); one
    /// assigned while the first proposal was in flight is for data that came after it, and
    /// goes to the next client.
    fn served(self) {
        let mut g = self.registry.lock();
        let pass = g.waiters.get_mut(&self.id).and_then(|w| {
            let unconsumed = !w.consumed;
            w.consumed = false;
            w.woken.take().filter(|_| unconsumed).map(|k| (k, w.wants))
        });
        if let Some((k, wants)) = pass {
            if let Some(w) = g.remove(self.id) {
                drop(w);
                self.registry.count.fetch_sub(1, Ordering::Relaxed);
            }
            g.wake_first(&k, wants);
        }
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        let mut g = self.registry.lock();
        if let Some(w) = g.remove(self.id) {
            self.registry.count.fetch_sub(1, Ordering::Relaxed);
            // Woken but leaving without popping: hand the wake-up to the next client.
            if let Some(k) = w.woken {
                g.wake_first(&k, w.wants);
            }
        }
    }
}

/// The commands served here (`XREAD`/`XREADGROUP BLOCK` belong to the streams family).
pub fn serves(name: &str) -> bool {
    matches!(
        name,
        "blpop" | "brpop" | "blmove" | "brpoplpush" | "blmpop" | "bzpopmin" | "bzpopmax" | "bzmpop"
    )
}

/// Whether `argv` names a command served here (cheap: most commands fail the first-letter
/// test).
pub fn is_blocking(argv: &[Bytes]) -> bool {
    let Some(name) = argv.first() else {
        return false;
    };
    matches!(name.first(), Some(b'b' | b'B')) && cmd::lookup(name).is_some_and(|s| serves(s.name))
}

/// The connection of a blocked client, watched while it waits: its closing ends the wait, and
/// bytes it sends meanwhile are kept (up to the query-buffer limit) for the next commands.
pub struct ClientIo<'a> {
    pub stream: &'a mut TcpStream,
    pub inbuf: &'a mut BytesMut,
    pub max_buffer: u64,
}

/// The reply of a wait that ended without data: Redis's timeout reply for the command.
fn timeout_reply(name: &str) -> Frame {
    match name {
        "blmove" | "brpoplpush" => Frame::Null,
        _ => Frame::NullArray,
    }
}

fn unblocked_error() -> Frame {
    Frame::error(ErrorCode::Unblocked, "client unblocked via CLIENT UNBLOCK")
}

/// The command re-proposed after a wake-up for `key`: the same command with `key` as its only
/// source key (so it is served by the key that got data, as Redis serves it).
fn for_key(name: &str, argv: &[Bytes], key: &Bytes) -> Vec<Bytes> {
    match name {
        "blpop" | "brpop" | "bzpopmin" | "bzpopmax" => {
            let timeout = argv[argv.len() - 1].clone();
            vec![argv[0].clone(), key.clone(), timeout]
        }
        "blmpop" | "bzmpop" => {
            // BLMPOP timeout numkeys key... where [COUNT n]
            let n = crate::resp::parse_i64(&argv[2])
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(0);
            let rest = argv.get(3 + n..).unwrap_or_default();
            let mut out = vec![
                argv[0].clone(),
                argv[1].clone(),
                Bytes::from_static(b"1"),
                key.clone(),
            ];
            out.extend(rest.iter().cloned());
            out
        }
        // BLMOVE / BRPOPLPUSH wait on their one source key.
        _ => argv.to_vec(),
    }
}

/// Whether a reply means "nothing to pop": the blocking command's timeout reply.
fn is_empty_reply(f: &Frame) -> bool {
    matches!(f, Frame::Null | Frame::NullArray)
}

/// The reply for a blocked client whose node is no longer the leader: `-MOVED` to the new
/// leader, or `-TRYAGAIN` while none is known. Nothing was proposed while it waited.
fn lost_leadership(node: &Node, keys: &[Bytes]) -> Frame {
    let m = node.raft.metrics().borrow().clone();
    let slot = keys
        .first()
        .map(|k| crate::cluster::slot::key_slot(k))
        .unwrap_or(0);
    let addr = m.current_leader.filter(|&l| l != node.id).and_then(|l| {
        node.book
            .client_addr(l, m.membership_config.membership().get_node(&l))
    });
    match addr {
        Some(a) => errors::moved(slot, &a),
        None => errors::no_leader(),
    }
}

fn is_leader(node: &Node) -> bool {
    node.raft.metrics().borrow().state.is_leader()
}

/// Proposes one command through the proposer and waits for its reply, mapping failures as the
/// session's write path does.
async fn propose(node: &Node, db: u32, argv: Vec<Bytes>) -> Frame {
    let timeout = node.request_timeout();
    let rx = node.proposer.submit_run(db, vec![argv]);
    match tokio::time::timeout(timeout, rx).await {
        Ok(Ok(mut frames)) if frames.len() == 1 => frames.pop().unwrap_or(Frame::Null),
        Ok(Ok(_)) => errors::wrong_reply_count(),
        Ok(Err(_)) => errors::stopped_mid_write(),
        Err(_) => write_path::unknown_outcome_reply(timeout),
    }
}

/// Runs one blocking command outside MULTI on this (leader) node: propose; on the timeout
/// reply, wait for a wake-up, the deadline, `CLIENT UNBLOCK`, loss of leadership, shutdown or
/// the client leaving; re-propose on a wake-up. Parse errors are answered before anything is
/// proposed. A closed connection sets `session.closing` (the reply is then never sent).
pub async fn execute(
    node: &Arc<Node>,
    session: &mut Session,
    argv: &[Bytes],
    io: &mut Option<ClientIo<'_>>,
) -> Frame {
    let Some(spec) = cmd::lookup(&argv[0]) else {
        return cmd::unknown_command(argv);
    };
    if let Err(e) = cmd::Command::parse(argv) {
        return e;
    }
    let Some(ti) = cmd::blocking_timeout_index(spec, argv) else {
        return Frame::err("not a blocking command");
    };
    let timeout_ms = match cmd::parse_timeout(&argv[ti]) {
        Ok(ms) => ms,
        Err(e) => return e,
    };
    let name = spec.name;
    let wants = if spec.group == Group::SortedSet {
        Wants::ZSet
    } else {
        Wants::List
    };
    let all_keys: Vec<Bytes> = cmd::key_indices(spec, argv)
        .into_iter()
        .filter_map(|i| argv.get(i).cloned())
        .collect();
    // BLMOVE / BRPOPLPUSH wait on their source only.
    let wait_keys: Vec<Bytes> = match name {
        "blmove" | "brpoplpush" => all_keys.iter().take(1).cloned().collect(),
        _ => all_keys.clone(),
    };
    let deadline = (timeout_ms > 0).then(|| {
        tokio::time::Instant::now()
            + Duration::from_millis(timeout_ms.min(100 * 365 * 24 * 3600 * 1000))
    });
    let db = session.db;
    let qualified: Vec<Bytes> = wait_keys.iter().map(|k| watch_key(db, k)).collect();
    let reg = node.blocking.register(session.id, qualified, wants);
    // A wake-up names the key in the registry's terms; the command names it as the client did.
    let real = |q: &Bytes| Bytes::copy_from_slice(split_waited(q).1);
    let mut metrics = node.raft.metrics();
    let mut shutdown = node.shutdown_signal();
    let mut proposal = argv.to_vec();
    loop {
        let reply = propose(node, db, proposal).await;
        // Data, or an error such as BLMOVE's destination of another type (Redis replies
        // WRONGTYPE to the woken client too).
        if !is_empty_reply(&reply) {
            reg.served();
            return reply;
        }
        reg.rearm();
        if let Some(mode) = reg.unblocked() {
            return unblock_reply(mode, name);
        }
        if let Some(k) = reg.consume() {
            // Woken while the first proposal was in flight: data may be there now.
            proposal = for_key(name, argv, &real(&k));
            continue;
        }
        proposal = loop {
            if !is_leader(node) {
                return lost_leadership(node, &wait_keys);
            }
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            let closed = async {
                match io.as_mut() {
                    Some(c) if (c.inbuf.len() as u64) < c.max_buffer => {
                        matches!(c.stream.read_buf(c.inbuf).await, Ok(0) | Err(_))
                    }
                    _ => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = reg.notify.notified() => {
                    if let Some(mode) = reg.unblocked() {
                        return unblock_reply(mode, name);
                    }
                    if let Some(k) = reg.consume() {
                        break for_key(name, argv, &real(&k));
                    }
                }
                _ = sleep => return timeout_reply(name),
                c = closed => {
                    if c {
                        session.closing = true;
                        return timeout_reply(name);
                    }
                }
                r = async { metrics.wait_for(|m| !m.state.is_leader()).await.map(|_| ()) } => {
                    return match r {
                        Ok(()) => lost_leadership(node, &wait_keys),
                        Err(_) => errors::shutting_down(),
                    };
                }
                _ = shutdown.changed() => return errors::shutting_down(),
            }
        };
    }
}

fn unblock_reply(mode: UnblockMode, name: &str) -> Frame {
    match mode {
        UnblockMode::Timeout => timeout_reply(name),
        UnblockMode::Error => unblocked_error(),
    }
}
