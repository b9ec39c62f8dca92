//! Binary encoding of the openraft types this node persists or ships: log entries (with our
//! [`Request`] payload), log ids, votes, memberships and snapshot metadata.
//!
//! The codec is self-contained (no serde) so that the on-disk WAL, the vote file, the snapshot
//! header and the gRPC transport all share one precisely specified format (see
//! `docs/storage-format.md`).
//!
//! Conventions:
//! - Fixed-width integers (`u8`, `u64`) are little-endian.
//! - Lengths and element counts are unsigned LEB128 varints (at most 10 bytes, canonical
//!   overflow rejected).
//! - Every top-level `encode_*` writes a one-byte format version ([`FORMAT_VERSION`]) first, and
//!   the matching `decode_*` rejects other versions and any trailing bytes.
//! - Decoding never trusts a length: each length or count is checked against the remaining input
//!   *before* anything is allocated, so hostile input cannot trigger a huge allocation.
//! - Decoding never panics; every failure is a [`CodecError`] carrying the byte offset.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use openraft::{
    BasicNode, CommittedLeaderId, Entry, EntryPayload, LeaderId, LogId, Membership, SnapshotMeta,
    StoredMembership, Vote,
};

use crate::codec_core::{self, put_bytes, put_u64, put_varint, ReadError};
use crate::raft::types::{NodeId, Request, TypeConfig};

/// The current (and only) format version byte.
pub const FORMAT_VERSION: u8 = 1;

/// Entry payload tags.
const PAYLOAD_BLANK: u8 = 0;
const PAYLOAD_NORMAL: u8 = 1;
const PAYLOAD_MEMBERSHIP: u8 = 2;

/// Request tags.
const REQUEST_COMMAND: u8 = 1;
const REQUEST_EXPIRE: u8 = 2;
/// `Request::Batch`: varint command count, then per command a varint argument count and the
/// arguments as length-prefixed bytes.
const REQUEST_BATCH: u8 = 3;
/// `Request::Transaction`: varint watch count, per watch the key as bytes, its seen version
/// (u64le) and a u8 existed flag (0/1); then the commands as in `Request::Batch`.
const REQUEST_TRANSACTION: u8 = 4;
/// `Request::Script`: the body as bytes, the budget (u64le), the flags (u8), then the keys
/// and the arguments, each a varint count and length-prefixed bytes.
const REQUEST_SCRIPT: u8 = 5;
/// `Request::Db`: the database index in the u64 slot other requests use for `now_ms`, then
/// the inner request (tag and all; never another `Db`).
const REQUEST_DB: u8 = 6;

/// A decoding failure. Offsets are relative to the start of the slice given to `decode_*`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The input ended in the middle of a field.
    #[error("truncated input: {what} at byte {offset} needs {needed} bytes, {remaining} left")]
    Truncated {
        what: &'static str,
        offset: usize,
        needed: u64,
        remaining: usize,
    },
    /// The leading format byte is not one this build understands.
    #[error("unsupported format version {found} at byte {offset} (this build reads version {FORMAT_VERSION})")]
    UnsupportedVersion { found: u8, offset: usize },
    /// An enum tag byte has no meaning.
    #[error("invalid {what} tag {tag} at byte {offset}")]
    InvalidTag {
        what: &'static str,
        tag: u8,
        offset: usize,
    },
    /// A varint is longer than 10 bytes or overflows u64.
    #[error("malformed varint ({what}) at byte {offset}")]
    BadVarint { what: &'static str, offset: usize },
    /// A string field is not UTF-8.
    #[error("{what} at byte {offset} is not valid UTF-8")]
    InvalidUtf8 { what: &'static str, offset: usize },
    /// Bytes remain after a complete value.
    #[error("{count} trailing bytes after {what} at byte {offset}")]
    TrailingBytes {
        what: &'static str,
        offset: usize,
        count: usize,
    },
    /// A structurally valid value that violates an invariant (e.g. an empty membership config).
    #[error("invalid {what} at byte {offset}: {reason}")]
    Invalid {
        what: &'static str,
        offset: usize,
        reason: String,
    },
}

// ---------------------------------------------------------------------------------------------
// Writer helpers
// ---------------------------------------------------------------------------------------------

fn put_u8(out: &mut Vec<u8>, v: u8) {
    out.push(v);
}

fn put_log_id(out: &mut Vec<u8>, id: &LogId<NodeId>) {
    put_u64(out, id.leader_id.term);
    put_u64(out, id.leader_id.node_id);
    put_u64(out, id.index);
}

fn put_opt_log_id(out: &mut Vec<u8>, id: &Option<LogId<NodeId>>) {
    match id {
        None => put_u8(out, 0),
        Some(id) => {
            put_u8(out, 1);
            put_log_id(out, id);
        }
    }
}

fn put_vote(out: &mut Vec<u8>, v: &Vote<NodeId>) {
    put_u64(out, v.leader_id.term);
    put_u64(out, v.leader_id.node_id);
    put_u8(out, u8::from(v.committed));
}

fn put_membership(out: &mut Vec<u8>, m: &Membership<NodeId, BasicNode>) {
    let configs = m.get_joint_config();
    put_varint(out, configs.len() as u64);
    for c in configs {
        put_varint(out, c.len() as u64);
        for id in c {
            put_u64(out, *id);
        }
    }
    let nodes: Vec<(&NodeId, &BasicNode)> = m.nodes().collect();
    put_varint(out, nodes.len() as u64);
    for (id, node) in nodes {
        put_u64(out, *id);
        put_bytes(out, node.addr.as_bytes());
    }
}

fn put_stored_membership(out: &mut Vec<u8>, m: &StoredMembership<NodeId, BasicNode>) {
    put_opt_log_id(out, m.log_id());
    put_membership(out, m.membership());
}

fn put_request(out: &mut Vec<u8>, r: &Request) {
    let (tag, now_ms, items) = match r {
        Request::Command { now_ms, argv } => (REQUEST_COMMAND, now_ms, argv),
        Request::Expire { now_ms, keys } => (REQUEST_EXPIRE, now_ms, keys),
        Request::Batch { now_ms, cmds } => {
            put_u8(out, REQUEST_BATCH);
            put_u64(out, *now_ms);
            put_varint(out, cmds.len() as u64);
            for argv in cmds {
                put_varint(out, argv.len() as u64);
                for arg in argv {
                    put_bytes(out, arg);
                }
            }
            return;
        }
        Request::Transaction {
            now_ms,
            watches,
            cmds,
        } => {
            put_u8(out, REQUEST_TRANSACTION);
            put_u64(out, *now_ms);
            put_varint(out, watches.len() as u64);
            for (key, seen, existed) in watches {
                put_bytes(out, key);
                put_u64(out, *seen);
                put_u8(out, u8::from(*existed));
            }
            put_cmds(out, cmds);
            return;
        }
        Request::Db { db, inner } => {
            put_u8(out, REQUEST_DB);
            put_u64(out, u64::from(*db));
            put_request(out, inner);
            return;
        }
        Request::Script {
            now_ms,
            body,
            keys,
            args,
            budget,
            flags,
        } => {
            put_u8(out, REQUEST_SCRIPT);
            put_u64(out, *now_ms);
            put_bytes(out, body);
            put_u64(out, *budget);
            put_u8(out, *flags);
            for list in [keys, args] {
                put_varint(out, list.len() as u64);
                for item in list {
                    put_bytes(out, item);
                }
            }
            return;
        }
    };
    put_u8(out, tag);
    put_u64(out, *now_ms);
    put_varint(out, items.len() as u64);
    for item in items {
        put_bytes(out, item);
    }
}

fn put_cmds(out: &mut Vec<u8>, cmds: &[Vec<Bytes>]) {
    put_varint(out, cmds.len() as u64);
    for argv in cmds {
        put_varint(out, argv.len() as u64);
        for arg in argv {
            put_bytes(out, arg);
        }
    }
}

fn put_entry(out: &mut Vec<u8>, e: &Entry<TypeConfig>) {
    put_log_id(out, &e.log_id);
    match &e.payload {
        EntryPayload::Blank => put_u8(out, PAYLOAD_BLANK),
        EntryPayload::Normal(r) => {
            put_u8(out, PAYLOAD_NORMAL);
            put_request(out, r);
        }
        EntryPayload::Membership(m) => {
            put_u8(out, PAYLOAD_MEMBERSHIP);
            put_membership(out, m);
        }
    }
}

fn put_snapshot_meta(out: &mut Vec<u8>, m: &SnapshotMeta<NodeId, BasicNode>) {
    put_opt_log_id(out, &m.last_log_id);
    put_stored_membership(out, &m.last_membership);
    put_bytes(out, m.snapshot_id.as_bytes());
}

// ---------------------------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------------------------

/// The shared bounds-checked cursor ([`codec_core::Reader`]) with this format's field readers.
struct Reader<'a> {
    inner: codec_core::Reader<'a>,
}

impl From<ReadError> for CodecError {
    fn from(e: ReadError) -> CodecError {
        match e {
            ReadError::Truncated {
                what,
                offset,
                needed,
                remaining,
            }
            | ReadError::TooLong {
                what,
                offset,
                needed,
                remaining,
                ..
            } => CodecError::Truncated {
                what,
                offset,
                needed,
                remaining,
            },
            ReadError::BadVarint { what, offset } => CodecError::BadVarint { what, offset },
        }
    }
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader {
            inner: codec_core::Reader::new(buf),
        }
    }

    fn pos(&self) -> usize {
        self.inner.pos()
    }

    fn remaining(&self) -> usize {
        self.inner.remaining()
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, CodecError> {
        Ok(self.inner.u8(what)?)
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, CodecError> {
        Ok(self.inner.u64(what)?)
    }

    /// A count of elements each at least `min_size` bytes long, validated against the remaining
    /// input so `Vec::with_capacity(count)` is bounded by the input size.
    fn count(&mut self, what: &'static str, min_size: u64) -> Result<usize, CodecError> {
        Ok(self.inner.count(what, min_size)? as usize)
    }

    fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], CodecError> {
        Ok(self.inner.bytes(what)?)
    }

    fn string(&mut self, what: &'static str) -> Result<String, CodecError> {
        let offset = self.pos();
        let b = self.bytes(what)?;
        String::from_utf8(b.to_vec()).map_err(|_| CodecError::InvalidUtf8 { what, offset })
    }

    fn version(&mut self) -> Result<(), CodecError> {
        let offset = self.pos();
        let v = self.u8("format version")?;
        if v != FORMAT_VERSION {
            return Err(CodecError::UnsupportedVersion { found: v, offset });
        }
        Ok(())
    }

    fn finish(&self, what: &'static str) -> Result<(), CodecError> {
        if self.remaining() != 0 {
            return Err(CodecError::TrailingBytes {
                what,
                offset: self.pos(),
                count: self.remaining(),
            });
        }
        Ok(())
    }

    fn log_id(&mut self) -> Result<LogId<NodeId>, CodecError> {
        let term = self.u64("log id term")?;
        let node_id = self.u64("log id node id")?;
        let index = self.u64("log id index")?;
        Ok(LogId::new(CommittedLeaderId::new(term, node_id), index))
    }

    fn opt_log_id(&mut self) -> Result<Option<LogId<NodeId>>, CodecError> {
        let offset = self.pos();
        match self.u8("optional log id tag")? {
            0 => Ok(None),
            1 => Ok(Some(self.log_id()?)),
            tag => Err(CodecError::InvalidTag {
                what: "optional log id",
                tag,
                offset,
            }),
        }
    }

    fn vote(&mut self) -> Result<Vote<NodeId>, CodecError> {
        let term = self.u64("vote term")?;
        let node_id = self.u64("vote node id")?;
        let offset = self.pos();
        let committed = match self.u8("vote committed flag")? {
            0 => false,
            1 => true,
            tag => {
                return Err(CodecError::InvalidTag {
                    what: "vote committed flag",
                    tag,
                    offset,
                })
            }
        };
        Ok(Vote {
            leader_id: LeaderId::new(term, node_id),
            committed,
        })
    }

    fn membership(&mut self) -> Result<Membership<NodeId, BasicNode>, CodecError> {
        let offset = self.pos();
        // Each config costs at least its count byte; each id 8 bytes.
        let n_configs = self.count("membership config count", 1)?;
        let mut configs = Vec::with_capacity(n_configs);
        for _ in 0..n_configs {
            let n = self.count("membership voter count", 8)?;
            let mut set = BTreeSet::new();
            for _ in 0..n {
                set.insert(self.u64("membership voter id")?);
            }
            configs.push(set);
        }
        // Each node: 8-byte id + at least a 1-byte address length.
        let n_nodes = self.count("membership node count", 9)?;
        let mut nodes = BTreeMap::new();
        for _ in 0..n_nodes {
            let id = self.u64("membership node id")?;
            let addr = self.string("membership node address")?;
            nodes.insert(id, BasicNode { addr });
        }
        // Every voter must be listed in `nodes`, since the encoder writes all of them; a missing
        // one means the input was not produced by `put_membership`.
        for c in &configs {
            for id in c {
                if !nodes.contains_key(id) {
                    return Err(CodecError::Invalid {
                        what: "membership",
                        offset,
                        reason: format!("voter {id} has no node entry"),
                    });
                }
            }
        }
        Ok(Membership::new(configs, nodes))
    }

    fn stored_membership(&mut self) -> Result<StoredMembership<NodeId, BasicNode>, CodecError> {
        let log_id = self.opt_log_id()?;
        let m = self.membership()?;
        Ok(StoredMembership::new(log_id, m))
    }

    fn request(&mut self) -> Result<Request, CodecError> {
        self.request_in(false)
    }

    /// One request; `nested` inside a `Request::Db` (which may not nest: no recursion on
    /// input beyond one level).
    fn request_in(&mut self, nested: bool) -> Result<Request, CodecError> {
        let offset = self.pos();
        let tag = self.u8("request tag")?;
        let now_ms = self.u64("request now_ms")?;
        if tag == REQUEST_DB && !nested {
            let Ok(db) = u32::try_from(now_ms) else {
                return Err(CodecError::InvalidTag {
                    what: "request database",
                    tag,
                    offset,
                });
            };
            let inner = Box::new(self.request_in(true)?);
            return Ok(Request::Db { db, inner });
        }
        if tag == REQUEST_BATCH {
            // Each command costs at least its 1-byte argument count.
            let n = self.count("batch command count", 1)?;
            let mut cmds = Vec::with_capacity(n);
            for _ in 0..n {
                let argc = self.count("batch argument count", 1)?;
                let mut argv = Vec::with_capacity(argc);
                for _ in 0..argc {
                    argv.push(Bytes::copy_from_slice(self.bytes("batch argument")?));
                }
                cmds.push(argv);
            }
            return Ok(Request::Batch { now_ms, cmds });
        }
        if tag == REQUEST_TRANSACTION {
            // Each watch costs at least 1 + 8 + 1 bytes.
            let w = self.count("transaction watch count", 10)?;
            let mut watches = Vec::with_capacity(w);
            for _ in 0..w {
                let key = Bytes::copy_from_slice(self.bytes("watched key")?);
                let seen = self.u64("watched version")?;
                let existed = match self.u8("watched existence")? {
                    0 => false,
                    1 => true,
                    tag => {
                        return Err(CodecError::InvalidTag {
                            what: "watched existence",
                            tag,
                            offset: self.pos() - 1,
                        })
                    }
                };
                watches.push((key, seen, existed));
            }
            let n = self.count("transaction command count", 1)?;
            let mut cmds = Vec::with_capacity(n);
            for _ in 0..n {
                let argc = self.count("transaction argument count", 1)?;
                let mut argv = Vec::with_capacity(argc);
                for _ in 0..argc {
                    argv.push(Bytes::copy_from_slice(self.bytes("transaction argument")?));
                }
                cmds.push(argv);
            }
            return Ok(Request::Transaction {
                now_ms,
                watches,
                cmds,
            });
        }
        if tag == REQUEST_SCRIPT {
            let body = Bytes::copy_from_slice(self.bytes("script body")?);
            let budget = self.u64("script budget")?;
            let flags = self.u8("script flags")?;
            let mut lists = [Vec::new(), Vec::new()];
            for list in &mut lists {
                let n = self.count("script item count", 1)?;
                list.reserve(n);
                for _ in 0..n {
                    list.push(Bytes::copy_from_slice(self.bytes("script item")?));
                }
            }
            let [keys, args] = lists;
            return Ok(Request::Script {
                now_ms,
                body,
                keys,
                args,
                budget,
                flags,
            });
        }
        // Each item costs at least its 1-byte length.
        let n = self.count("request item count", 1)?;
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push(Bytes::copy_from_slice(self.bytes("request item")?));
        }
        match tag {
            REQUEST_COMMAND => Ok(Request::Command {
                now_ms,
                argv: items,
            }),
            REQUEST_EXPIRE => Ok(Request::Expire {
                now_ms,
                keys: items,
            }),
            tag => Err(CodecError::InvalidTag {
                what: "request",
                tag,
                offset,
            }),
        }
    }

    fn entry(&mut self) -> Result<Entry<TypeConfig>, CodecError> {
        let log_id = self.log_id()?;
        let offset = self.pos();
        let payload = match self.u8("entry payload tag")? {
            PAYLOAD_BLANK => EntryPayload::Blank,
            PAYLOAD_NORMAL => EntryPayload::Normal(self.request()?),
            PAYLOAD_MEMBERSHIP => EntryPayload::Membership(self.membership()?),
            tag => {
                return Err(CodecError::InvalidTag {
                    what: "entry payload",
                    tag,
                    offset,
                })
            }
        };
        Ok(Entry { log_id, payload })
    }

    fn snapshot_meta(&mut self) -> Result<SnapshotMeta<NodeId, BasicNode>, CodecError> {
        let last_log_id = self.opt_log_id()?;
        let last_membership = self.stored_membership()?;
        let snapshot_id = self.string("snapshot id")?;
        Ok(SnapshotMeta {
            last_log_id,
            last_membership,
            snapshot_id,
        })
    }
}

/// Runs `f` over `buf` framed as `version | value`, rejecting trailing bytes.
fn decode_versioned<T>(
    buf: &[u8],
    what: &'static str,
    f: impl FnOnce(&mut Reader<'_>) -> Result<T, CodecError>,
) -> Result<T, CodecError> {
    let mut r = Reader::new(buf);
    r.version()?;
    let v = f(&mut r)?;
    r.finish(what)?;
    Ok(v)
}

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

/// Appends `version | log_id | payload` for a log entry to `out`.
pub fn encode_entry(e: &Entry<TypeConfig>, out: &mut Vec<u8>) {
    put_u8(out, FORMAT_VERSION);
    put_entry(out, e);
}

/// An upper bound, for normal entries, of the bytes [`encode_entry`] writes (log id, tags and
/// every argument with a 10-byte length prefix), computed without encoding. Used to bound the
/// log and replication batches by bytes; memberships count as a flat 64 KiB.
pub fn entry_size_hint(e: &Entry<TypeConfig>) -> usize {
    const FIXED: usize = 64;
    FIXED
        + match &e.payload {
            EntryPayload::Blank => 0,
            EntryPayload::Membership(_) => 64 * 1024,
            EntryPayload::Normal(r) => request_size_hint(r),
        }
}

fn request_size_hint(r: &Request) -> usize {
    let args =
        |argv: &[bytes::Bytes]| -> usize { 10 + argv.iter().map(|a| a.len() + 10).sum::<usize>() };
    match r {
        Request::Command { argv, .. } => args(argv),
        Request::Expire { keys, .. } => args(keys),
        Request::Batch { cmds, .. } => 10 + cmds.iter().map(|c| args(c)).sum::<usize>(),
        Request::Transaction { watches, cmds, .. } => {
            20 + watches.iter().map(|(k, _, _)| k.len() + 20).sum::<usize>()
                + cmds.iter().map(|c| args(c)).sum::<usize>()
        }
        Request::Script {
            body,
            keys,
            args: a,
            ..
        } => 30 + body.len() + args(keys) + args(a),
        Request::Db { inner, .. } => 10 + request_size_hint(inner),
    }
}

/// Decodes exactly one entry written by [`encode_entry`].
pub fn decode_entry(buf: &[u8]) -> Result<Entry<TypeConfig>, CodecError> {
    decode_versioned(buf, "entry", |r| r.entry())
}

/// Appends `version | term u64 | node_id u64 | index u64`.
pub fn encode_log_id(id: &LogId<NodeId>, out: &mut Vec<u8>) {
    put_u8(out, FORMAT_VERSION);
    put_log_id(out, id);
}

/// Decodes a log id written by [`encode_log_id`].
pub fn decode_log_id(buf: &[u8]) -> Result<LogId<NodeId>, CodecError> {
    decode_versioned(buf, "log id", |r| r.log_id())
}

/// Appends `version | 0` for `None` or `version | 1 | log id` for `Some`.
pub fn encode_opt_log_id(id: &Option<LogId<NodeId>>, out: &mut Vec<u8>) {
    put_u8(out, FORMAT_VERSION);
    put_opt_log_id(out, id);
}

/// Decodes a value written by [`encode_opt_log_id`].
pub fn decode_opt_log_id(buf: &[u8]) -> Result<Option<LogId<NodeId>>, CodecError> {
    decode_versioned(buf, "optional log id", |r| r.opt_log_id())
}

/// Appends `version | term u64 | node_id u64 | committed u8`.
pub fn encode_vote(v: &Vote<NodeId>, out: &mut Vec<u8>) {
    put_u8(out, FORMAT_VERSION);
    put_vote(out, v);
}

/// Decodes a vote written by [`encode_vote`].
pub fn decode_vote(buf: &[u8]) -> Result<Vote<NodeId>, CodecError> {
    decode_versioned(buf, "vote", |r| r.vote())
}

/// Appends `version | configs | nodes` (see the format doc).
pub fn encode_membership(m: &Membership<NodeId, BasicNode>, out: &mut Vec<u8>) {
    put_u8(out, FORMAT_VERSION);
    put_membership(out, m);
}

/// Decodes a membership written by [`encode_membership`].
pub fn decode_membership(buf: &[u8]) -> Result<Membership<NodeId, BasicNode>, CodecError> {
    decode_versioned(buf, "membership", |r| r.membership())
}

/// Appends `version | optional log id | membership`.
pub fn encode_stored_membership(m: &StoredMembership<NodeId, BasicNode>, out: &mut Vec<u8>) {
    put_u8(out, FORMAT_VERSION);
    put_stored_membership(out, m);
}

/// Decodes a value written by [`encode_stored_membership`].
pub fn decode_stored_membership(
    buf: &[u8],
) -> Result<StoredMembership<NodeId, BasicNode>, CodecError> {
    decode_versioned(buf, "stored membership", |r| r.stored_membership())
}

/// Appends `version | last_log_id | last_membership | snapshot_id`.
pub fn encode_snapshot_meta(m: &SnapshotMeta<NodeId, BasicNode>, out: &mut Vec<u8>) {
    put_u8(out, FORMAT_VERSION);
    put_snapshot_meta(out, m);
}

/// Decodes snapshot metadata written by [`encode_snapshot_meta`].
pub fn decode_snapshot_meta(buf: &[u8]) -> Result<SnapshotMeta<NodeId, BasicNode>, CodecError> {
    decode_versioned(buf, "snapshot meta", |r| r.snapshot_meta())
}

/// Appends `version | request` (the application payload alone, without a log id).
pub fn encode_request(req: &Request, out: &mut Vec<u8>) {
    put_u8(out, FORMAT_VERSION);
    put_request(out, req);
}

/// Decodes a request written by [`encode_request`].
pub fn decode_request(buf: &[u8]) -> Result<Request, CodecError> {
    decode_versioned(buf, "request", |r| r.request())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lid(t: u64, n: u64, i: u64) -> LogId<NodeId> {
        LogId::new(CommittedLeaderId::new(t, n), i)
    }

    fn entries() -> Vec<Entry<TypeConfig>> {
        let mut nodes = BTreeMap::new();
        nodes.insert(
            1,
            BasicNode {
                addr: "127.0.0.1:1".into(),
            },
        );
        nodes.insert(
            2,
            BasicNode {
                addr: "h2:2".into(),
            },
        );
        nodes.insert(
            9,
            BasicNode {
                addr: "learner".into(),
            },
        );
        let cfg = vec![BTreeSet::from([1, 2]), BTreeSet::from([2])];
        vec![
            Entry {
                log_id: lid(1, 2, 3),
                payload: EntryPayload::Blank,
            },
            Entry {
                log_id: lid(u64::MAX, 7, u64::MAX),
                payload: EntryPayload::Normal(Request::Command {
                    now_ms: 1234,
                    argv: vec![
                        Bytes::from_static(b"SET"),
                        Bytes::from_static(b"k"),
                        Bytes::new(),
                    ],
                }),
            },
            Entry {
                log_id: lid(3, 1, 5),
                payload: EntryPayload::Normal(Request::Db {
                    db: 3,
                    inner: Box::new(Request::Batch {
                        now_ms: 77,
                        cmds: vec![vec![Bytes::from_static(b"SET"), Bytes::from_static(b"k")]],
                    }),
                }),
            },
            Entry {
                log_id: lid(2, 0, 4),
                payload: EntryPayload::Normal(Request::Expire {
                    now_ms: 9,
                    keys: vec![],
                }),
            },
            Entry {
                log_id: lid(3, 1, 5),
                payload: EntryPayload::Membership(Membership::new(cfg, nodes)),
            },
        ]
    }

    #[test]
    fn entry_round_trip_and_every_truncation_fails() {
        for e in entries() {
            let mut buf = Vec::new();
            encode_entry(&e, &mut buf);
            assert_eq!(decode_entry(&buf).unwrap(), e);
            for cut in 0..buf.len() {
                assert!(decode_entry(&buf[..cut]).is_err(), "cut {cut}");
            }
            let mut longer = buf.clone();
            longer.push(0);
            assert!(matches!(
                decode_entry(&longer),
                Err(CodecError::TrailingBytes { .. })
            ));
        }
    }

    /// A db-0 request is never wrapped, so its bytes are those written before databases
    /// existed (old logs decode unchanged: the tags did not move); a `Db` may not nest.
    #[test]
    fn db_entries_wrap_and_old_entries_keep_their_bytes() {
        let cmd = Request::Command {
            now_ms: 5,
            argv: vec![Bytes::from_static(b"GET"), Bytes::from_static(b"k")],
        };
        assert_eq!(Request::in_db(0, cmd.clone()), cmd);
        let nested = Request::Db {
            db: 1,
            inner: Box::new(Request::Db {
                db: 2,
                inner: Box::new(cmd),
            }),
        };
        let e = Entry {
            log_id: lid(1, 1, 1),
            payload: EntryPayload::Normal(nested),
        };
        let mut buf = Vec::new();
        encode_entry(&e, &mut buf);
        assert!(decode_entry(&buf).is_err(), "nested Db must be refused");
    }

    #[test]
    fn other_values_round_trip() {
        let v = Vote {
            leader_id: LeaderId::new(5, 3),
            committed: true,
        };
        let mut b = Vec::new();
        encode_vote(&v, &mut b);
        assert_eq!(decode_vote(&b).unwrap(), v);

        let meta = SnapshotMeta {
            last_log_id: Some(lid(4, 1, 100)),
            last_membership: StoredMembership::new(
                Some(lid(1, 1, 1)),
                Membership::new(vec![BTreeSet::from([1])], None),
            ),
            snapshot_id: "4-100-x".into(),
        };
        let mut b = Vec::new();
        encode_snapshot_meta(&meta, &mut b);
        assert_eq!(decode_snapshot_meta(&b).unwrap(), meta);

        let mut b = Vec::new();
        encode_opt_log_id(&None, &mut b);
        assert_eq!(decode_opt_log_id(&b).unwrap(), None);
    }

    #[test]
    fn hostile_lengths_do_not_allocate() {
        // version | log id | normal | command | now | count = 2^62
        let mut b = vec![FORMAT_VERSION];
        put_log_id(&mut b, &lid(1, 1, 1));
        b.push(PAYLOAD_NORMAL);
        b.push(REQUEST_COMMAND);
        put_u64(&mut b, 0);
        put_varint(&mut b, 1 << 62);
        assert!(matches!(
            decode_entry(&b),
            Err(CodecError::Truncated { .. })
        ));
        // Overlong varint.
        let mut b = vec![FORMAT_VERSION, 0];
        b.extend_from_slice(&[0xff; 11]);
        assert!(decode_opt_log_id(&b).is_err());
        assert!(matches!(
            decode_vote(&[9]),
            Err(CodecError::UnsupportedVersion { found: 9, .. })
        ));
    }
}
