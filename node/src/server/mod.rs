//! The RESP server: accept loop, sessions, and the Raft-backed read and write paths.
//!
//! - [`run`]: [`run()`](run::run) opens storage, starts Raft, bootstraps the group, accepts
//!   connections and serves until shutdown.
//! - [`state`]: [`Node`], the shared state of a running node (settings, client registry), and
//!   [`Session`], one connection's state.
//! - [`session`]: one client connection — decode a batch of pipelined commands, execute them in
//!   order (writes proposed together so they share a group commit), encode all replies into one
//!   write.
//! - [`proposer`]: group commit above Raft — concurrent writes coalesced into one entry.
//! - [`write_path`]: proposing entries and mapping Raft outcomes to client replies.
//! - [`read_barrier`]: linearizable reads; concurrent readers share one leadership confirmation.
//! - [`server_cmds`]: commands answered by the server itself (PING, AUTH, HELLO, CLIENT, CONFIG,
//!   INFO, TIME, ...).
//! - [`transaction`]: MULTI/EXEC/DISCARD/WATCH/UNWATCH — one log entry per EXEC, WATCH by
//!   the replicated per-key versions.
//! - [`blocking`]: BLPOP & co. and CLIENT UNBLOCK — the registry of blocked clients keyed by
//!   key (woken by the state machine's apply) and a blocked client's wait / re-propose loop.
//! - [`wait`]: WAIT — how many other members hold the client's writes (Raft replication
//!   progress on the leader).
//! - [`pubsub`]: Pub/Sub state — the subscription registry, per-subscriber bounded mailboxes,
//!   the ordered, bounded links forwarding published messages to the other nodes.
//! - [`pubsub_cmds`]: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, (S)PUBLISH, PUBSUB, subscriber mode.
//! - [`debug_cmds`]: the DEBUG subset (OBJECT, RELOAD, SLEEP, SET-ACTIVE-EXPIRE, …), node-local.
//! - [`tracking`]: CLIENT TRACKING — the per-node table of keys tracking clients read, BCAST
//!   prefixes, invalidation messages (RESP3 push or RESP2 redirect).
//! - [`notify`]: keyspace notifications — `notify-keyspace-events` flags and Redis's event
//!   names for what each applied write modified.
//! - [`apply_hooks`]: the state machine's hook into the server (blocked-client wake-ups,
//!   tracking invalidations, keyspace notifications), run on every node for its own apply.
//! - [`cluster_cmds`]: CLUSTER INFO / MYID / NODES / KEYSLOT for the Raft group.
//! - [`forward`]: relaying commands to the leader for `forward-to-leader: true`.
//! - [`info`]: the INFO sections.
//! - [`config_params`]: Redis 7.0's CONFIG parameters the node stores and reports without
//!   acting on them (a leaf table).
//! - [`expiry`]: leader-driven active expiry through the log.
//! - [`eviction`]: `maxmemory-policy` eviction decided by the proposing node, carried out as
//!   `DEL` entries through the log; per-node access times for the LRU policies.
//! - [`stats`]: counters for INFO.
//! - [`fd_limit`]: `maxclients` fitted to `RLIMIT_NOFILE` (a leaf).
//!
//! Imports form a line from `run` down to `state`; a module uses only modules below it:
//!
//! ```text
//! run ─▶ session ─▶ transaction ─▶ server_cmds ─▶ cluster_cmds, debug_cmds, info, pubsub_cmds
//!  │        │  ├──▶ blocking ─▶ write_path  (server_cmds ─▶ blocking for CLIENT UNBLOCK)
//!  │        │  └──▶ forward, read_barrier, write_path, pubsub_cmds ─▶ pubsub
//!  └──▶ expiry ─────────┐
//!                       ▼
//!                     state (Node, Settings, Session) ─▶ eviction ─▶ proposer ─▶ write_path
//!                           ─▶ read_barrier, forward, stats, tracking ─▶ pubsub
//! run ─▶ apply_hooks ─▶ blocking, tracking, notify ─▶ pubsub
//! ```

pub mod apply_hooks;
pub mod blocking;
pub mod cluster_cmds;
pub mod config_params;
pub mod debug_cmds;
pub mod eviction;
pub mod expiry;
pub mod fd_limit;
pub mod forward;
pub mod info;
pub mod notify;
pub mod proposer;
pub mod pubsub;
pub mod pubsub_cmds;
pub mod read_barrier;
pub mod run;
pub mod server_cmds;
pub mod session;
pub mod state;
pub mod stats;
pub mod tracking;
pub mod transaction;
pub mod wait;
pub mod write_path;

pub use run::run;
pub use state::{Node, Session};
