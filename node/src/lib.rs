//! `sdr-node`: a Redis-compatible (RESP2 and RESP3) key-value server whose every write is a Raft log entry.
//!
//! Module map, in the order a command flows through them:
//!
//! - [`config`]: typed configuration (YAML file + CLI overrides), defaults, validation.
//! - [`resp`]: the RESP2/RESP3 wire protocol, re-exported from the `sdr-resp` crate — [`resp::Frame`],
//!   the command and reply decoders with their limits, the encoder, the error-code contract
//!   ([`resp::ErrorCode`]) and redirects.
//! - [`errors`]: every server-layer error reply (routing, auth, write/read path, forwarding),
//!   built from the `sdr-resp` error-code contract; unknown outcomes are always `-TIMEOUT`.
//! - [`cmd`]: the command table and one file per command family; parses an argv into a typed
//!   command and executes it against the keyspace.
//! - [`keyspace`]: the in-memory keyspace (strings, hashes, lists, sets, expiry, numbered databases) — pure data, no I/O.
//! - [`storage`]: durability — the write-ahead log (openraft log storage), vote file, snapshots
//!   and the openraft state machine over [`keyspace`].
//! - [`raft`]: the openraft type configuration, log-entry payloads, and the network.
//! - [`server`]: the TCP accept loop, per-connection sessions, the write proposer, the batched
//!   linearizable-read barrier, blocked clients (BLPOP & co.), active expiry, INFO and CONFIG.
//! - [`scripting`]: Lua scripting (EVAL family, SCRIPT) and Redis 7 functions (FUNCTION,
//!   FCALL) on Lua 5.1: the sandboxed engine, the Lua ↔ RESP conversions, the `cjson`/`bit`
//!   libraries, the replicated library registry, and the replicated script entry.
//! - [`cluster`]: hash slots and member addresses (for `-MOVED` and peer connections).
//! - [`codec_core`]: varints, length-prefixed bytes and the bounds-checked reader shared by
//!   [`keyspace::codec`] and [`storage::codec`].
//! - [`faults`]: planted bugs for chaos testing (`--unsafe-test-faults`, never in config).
//! - [`clock`]: wall-clock milliseconds, the one place the node reads the time of day.

pub use sdr_resp as resp;

pub mod clock;
pub mod cluster;
pub mod cmd;
pub mod codec_core;
pub mod config;
pub mod errors;
pub mod faults;
pub mod keyspace;
pub mod raft;
pub mod scripting;
pub mod server;
pub mod storage;
