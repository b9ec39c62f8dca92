//! The shared state of a running node ([`Node`], its runtime [`Settings`], the client
//! registry) and of one connection ([`Session`]). A leaf of `server`: it uses only the
//! proposer, the read barrier, the forwarder and the counters it holds, never the modules
//! that serve commands, so every other server module can depend on it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::cluster::members::AddressBook;
use crate::cluster::topology::Topology;
use crate::config::Config;
use crate::keyspace::SharedKeyspace;
use crate::raft::Raft;
use crate::resp::Protocol;

use super::forward::Forwarder;
use super::proposer::Proposer;
use super::read_barrier::ReadBarrier;
use super::stats::Stats;

/// Options that `CONFIG SET` may change while the node runs.
#[derive(Clone, Debug)]
pub struct Settings {
    pub requirepass: Option<String>,
    pub maxclients: usize,
    pub timeout_secs: u64,
    pub proto_max_bulk_len: u64,
    pub client_query_buffer_limit: u64,
    /// 0 = unlimited.
    pub maxmemory: u64,
    pub maxmemory_policy: crate::config::MaxmemoryPolicy,
    /// `client-output-buffer-limit` (the session enforces `normal`'s hard limit).
    pub output_limits: crate::config::OutputBufferLimits,
}

/// What `CLIENT LIST` / `CLIENT INFO` show about a connection.
#[derive(Clone, Debug)]
pub struct ClientEntry {
    pub addr: SocketAddr,
    pub name: String,
    pub lib_name: String,
    pub lib_ver: String,
    pub connected_at: Instant,
    pub last_command: String,
    /// The connection's protocol (`resp=` in CLIENT LIST), kept in step with the session's.
    pub protocol: Protocol,
    /// The selected database (`db=` in CLIENT LIST), kept in step with the session's.
    pub db: u32,
}

/// Shared state of a running node, handed to every session.
pub struct Node {
    pub id: u64,
    pub raft: Raft,
    pub keyspace: SharedKeyspace,
    pub reads: ReadBarrier,
    pub proposer: Proposer,
    /// `maxmemory-policy` eviction and the access times it uses.
    pub evictor: super::eviction::Evictor,
    /// Pub/Sub subscriptions, mailboxes and peer links.
    pub pubsub: Arc<super::pubsub::PubSub>,
    /// Clients blocked in BLPOP & co., keyed by key (woken by the state machine's apply).
    pub blocking: Arc<super::blocking::Registry>,
    /// CLIENT TRACKING's table and clients (invalidated by the state machine's apply).
    pub tracking: Arc<super::tracking::Tracking>,
    /// Redis parameters stored and reported only (`CONFIG SET save ""`, encodings, ...).
    pub config_params: super::config_params::StoredParams,
    /// The script cache EVALSHA resolves against (shared with the state machine).
    pub scripts: crate::scripting::ScriptCache,
    /// Read-only scripts running now, for SCRIPT KILL.
    pub scripting: crate::scripting::commands::Running,
    pub config: Config,
    pub settings: RwLock<Settings>,
    pub stats: Stats,
    pub started: Instant,
    pub local_addr: SocketAddr,
    pub clients: Mutex<BTreeMap<u64, ClientEntry>>,
    /// Member addresses (cluster file first, then the replicated membership).
    pub book: AddressBook,
    /// The shard map; `None` for a standalone node.
    pub topology: Option<Arc<Topology>>,
    /// `DEBUG SET-ACTIVE-EXPIRE`: whether this node's active expiry loop proposes deletions.
    pub active_expire: AtomicBool,
    pub(super) next_client_id: AtomicU64,
    pub(super) shutting_down: AtomicBool,
    pub(super) shutdown_tx: watch::Sender<bool>,
}

impl Node {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.config.request_timeout_ms)
    }

    pub fn settings(&self) -> Settings {
        match self.settings.read() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    pub fn update_settings(&self, f: impl FnOnce(&mut Settings)) {
        match self.settings.write() {
            Ok(mut s) => f(&mut s),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    pub fn next_client_id(&self) -> u64 {
        self.next_client_id.fetch_add(1, Ordering::Relaxed)
    }

    /// A receiver that flips to `true` when shutdown begins.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown_tx.subscribe()
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }

    /// Begins a graceful shutdown (also what `SHUTDOWN` would call).
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Relaxed);
        let _ = self.shutdown_tx.send(true);
    }

    pub fn with_clients<R>(&self, f: impl FnOnce(&mut BTreeMap<u64, ClientEntry>) -> R) -> R {
        match self.clients.lock() {
            Ok(mut c) => f(&mut c),
            Err(p) => f(&mut p.into_inner()),
        }
    }
}

/// Per-connection state, owned by the connection's task.
pub struct Session {
    pub id: u64,
    pub addr: SocketAddr,
    pub authenticated: bool,
    /// Set by QUIT: reply, then close.
    pub closing: bool,
    /// READONLY: reads on a follower are served from its local, possibly stale, state.
    pub readonly: bool,
    /// Link to the leader for `forward-to-leader`.
    pub forwarder: Forwarder,
    /// RESP2 until `HELLO 3`; every reply of the connection is encoded in it.
    pub protocol: Protocol,
    /// The transaction being queued (MULTI ... EXEC), if any.
    pub multi: Option<super::transaction::Multi>,
    /// WATCHed keys: (key, version seen, existed), sent with EXEC.
    pub watches: Vec<(bytes::Bytes, u64, bool)>,
    /// Pub/Sub subscriptions and the mailbox messages (and tracking invalidations) arrive in.
    pub subs: super::pubsub::Subscriptions,
    /// CLIENT TRACKING is on: its options (the node's [`super::tracking::Tracking`] holds the
    /// same; kept here so reads need no lock to know).
    pub tracking: Option<super::tracking::Options>,
    /// CLIENT CACHING YES (`Some(true)`) / NO (`Some(false)`), for the next command only.
    pub caching: Option<bool>,
    /// The previous command was CLIENT (which keeps CLIENT CACHING in force).
    pub last_was_client: bool,
    /// The selected database (SELECT; 0 on connect and after RESET).
    pub db: u32,
}
