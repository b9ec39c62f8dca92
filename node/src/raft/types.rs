//! The openraft type configuration and the application payload of a log entry.

use std::io::Cursor;

use bytes::Bytes;

use crate::resp::Frame;

/// A Raft member id.
pub type NodeId = u64;

openraft::declare_raft_types!(
    /// openraft types for this node: our [`Request`] in entries, a RESP [`Response`] back.
    pub TypeConfig:
        D = Request,
        R = Response,
        NodeId = NodeId,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// The Raft handle for [`TypeConfig`].
pub type Raft = openraft::Raft<TypeConfig>;

/// What a normal log entry carries. Every variant is applied deterministically: the state
/// machine reads time only from `now_ms`, which the leader stamped when it proposed the entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// A client's mutating command, re-parsed and executed at apply time. Relative expiry
    /// (`SET k v EX 10`) is resolved against `now_ms`, so all replicas agree on the deadline.
    Command { now_ms: u64, argv: Vec<Bytes> },
    /// Several client commands proposed together (group commit, see `server::proposer`),
    /// applied in order as if each were its own entry. The reply is a `Frame::Array` with one
    /// frame per command.
    Batch { now_ms: u64, cmds: Vec<Vec<Bytes>> },
    /// Leader-driven active expiry: remove each listed key whose deadline is `<= now_ms` at apply
    /// time (a key rewritten since the leader sampled it is left alone).
    Expire { now_ms: u64, keys: Vec<Bytes> },
    /// A MULTI/EXEC transaction: applied atomically (one entry, under one keyspace lock) iff
    /// no watched `(key, version seen, existed)` changed (`Keyspace::watch_broken`); then
    /// every command runs in order and the reply is their array (runtime errors are elements;
    /// the other commands still apply). A broken watch applies nothing and replies with the
    /// nil array. Appended last so the tags of older entries are unchanged.
    Transaction {
        now_ms: u64,
        watches: Vec<(Bytes, u64, bool)>,
        cmds: Vec<Vec<Bytes>>,
    },
    /// A Lua script that may write (EVAL/EVALSHA, or SCRIPT LOAD with
    /// [`SCRIPT_LOAD_ONLY`]): run at apply time by every replica, under the one keyspace
    /// lock, from its body (EVALSHA resolved it when proposing), with `now_ms` for time and
    /// an instruction `budget` (0 = none) so all replicas stop a runaway script at the same
    /// point (crate::scripting). Appended last so the tags of older entries are unchanged.
    Script {
        now_ms: u64,
        body: Bytes,
        keys: Vec<Bytes>,
        args: Vec<Bytes>,
        budget: u64,
        /// [`SCRIPT_SHARDED`] | [`SCRIPT_LOAD_ONLY`] | [`SCRIPT_FCALL`].
        flags: u8,
    },
    /// `inner` applied with database `db` selected (a client that ran SELECT; db 0 entries
    /// are never wrapped, so entries from before databases existed mean db 0). `inner` is
    /// never itself a `Db` (the codec refuses nesting). Appended last so the tags of older
    /// entries are unchanged.
    Db { db: u32, inner: Box<Request> },
}

impl Request {
    /// `req` for database `db`: as is for db 0, wrapped in [`Request::Db`] otherwise.
    pub fn in_db(db: u32, req: Request) -> Request {
        if db == 0 {
            req
        } else {
            Request::Db {
                db,
                inner: Box::new(req),
            }
        }
    }
}

/// `Request::Script` flag: the group is one shard of a sharded cluster (every key the script
/// touches must hash to one slot).
pub const SCRIPT_SHARDED: u8 = 1;
/// `Request::Script` flag: SCRIPT LOAD — only add the body to every replica's script cache;
/// the reply is its SHA1.
pub const SCRIPT_LOAD_ONLY: u8 = 2;
/// `Request::Script` flag: FCALL — `body` is the function's name, looked up in the group's
/// function libraries at apply time (crate::scripting::functions).
pub const SCRIPT_FCALL: u8 = 4;

/// The reply to a client, produced by applying the entry: the command's reply for `Command`, an
/// array of per-command replies for `Batch`, `Frame::Simple("OK")` for entries that have no
/// client (expiry, blank, membership).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response(pub Frame);

impl std::fmt::Display for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Request::Command { argv, .. } => {
                let name = argv
                    .first()
                    .map(|a| String::from_utf8_lossy(a).into_owned());
                write!(
                    f,
                    "command {} ({} args)",
                    name.unwrap_or_default(),
                    argv.len()
                )
            }
            Request::Batch { cmds, .. } => write!(f, "batch of {} commands", cmds.len()),
            Request::Expire { keys, .. } => write!(f, "expire {} keys", keys.len()),
            Request::Transaction { cmds, .. } => {
                write!(f, "transaction of {} commands", cmds.len())
            }
            Request::Script { body, keys, .. } => {
                write!(f, "script of {} bytes ({} keys)", body.len(), keys.len())
            }
            Request::Db { db, inner } => write!(f, "{inner} in db {db}"),
        }
    }
}
