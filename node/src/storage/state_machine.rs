//! [`StateMachineStore`]: openraft's `RaftStateMachine` + `RaftSnapshotBuilder` over the shared
//! in-memory [`Keyspace`].
//!
//! The state machine is not persisted on apply; durability comes from the WAL plus periodic
//! snapshots (openraft re-applies committed entries after the snapshot at boot).
//!
//! Consistency between the keyspace and `last_applied`/`last_membership`: those two are only
//! changed while the keyspace *write* lock is held, so anyone holding the *read* lock (the
//! snapshot builder) sees a keyspace and an applied log id that belong together.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use openraft::storage::RaftStateMachine;
use openraft::{
    BasicNode, Entry, EntryPayload, ErrorSubject, ErrorVerb, LogId, OptionalSend,
    RaftSnapshotBuilder, Snapshot, StoredMembership,
};

use crate::keyspace::SharedKeyspace;
use crate::raft::types::{NodeId, Request, Response, TypeConfig};
use crate::resp::Frame;
use crate::storage::error::{RaftStorageError, Result, StorageError};
use crate::storage::snapshot::{self, Meta, SnapshotDir};

#[derive(Debug, Clone, Default)]
struct Applied {
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
}

/// The snapshot `get_current_snapshot` returns.
#[derive(Debug, Clone)]
struct Current {
    meta: Meta,
    /// File holding it; `None` for a snapshot of the empty state, kept in `image` instead.
    path: Option<PathBuf>,
    image: Option<Arc<Vec<u8>>>,
}

/// Told, after each applied batch of entries, what they did to the keyspace: which keys they
/// wrote that now hold a non-empty list (`false`) or sorted set (`true`) and have a client
/// blocked on them ([`ReadyKeys::ready`]), and — when asked for — every key each write
/// modified ([`ReadyKeys::changed`], for CLIENT TRACKING invalidation and keyspace
/// notifications). Implemented by `server` (storage never uses `server`); a cheap
/// notification, not part of the replicated state. Every node calls it for what it applies
/// itself (leader and followers alike), as a Redis replica fires for what it applies.
pub trait ReadyKeys: Send + Sync {
    /// Whether any client is blocked at all (checked once per applied batch).
    fn any_waiting(&self) -> bool;
    /// Whether a client is blocked on `key` of database `db`.
    fn waits_on(&self, db: u32, key: &[u8]) -> bool;
    /// The keys clients wait on in database `db`, in a deterministic order (SWAPDB checks
    /// them all).
    fn waited_keys(&self, db: u32) -> Vec<bytes::Bytes>;
    /// The (database, key)s that got data, in apply order, each once.
    fn ready(&self, keys: Vec<(u32, bytes::Bytes, bool)>);
    /// Whether [`ReadyKeys::changed`] wants the batch's changes (checked once per batch;
    /// collecting them costs a type lookup per key before and after each write).
    fn observes_changes(&self) -> bool {
        false
    }
    /// What the batch changed, in apply order.
    fn changed(&self, _changes: Vec<Change>) {}
}

/// One key a write modified (its WATCH version moved): its type before and after the write
/// (`None`: missing or expired).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyChange {
    pub key: bytes::Bytes,
    pub before: Option<&'static str>,
    pub after: Option<&'static str>,
}

/// What one applied command (or active-expiry entry) changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A write command and the keys among its key arguments that it modified, in argument
    /// order (each once), in database `db`. Scripts and functions report their declared keys.
    Command {
        db: u32,
        argv: Vec<bytes::Bytes>,
        keys: Vec<KeyChange>,
    },
    /// Keys removed by active expiry (`Request::Expire`) from database `db`.
    Expired { db: u32, keys: Vec<bytes::Bytes> },
    /// FLUSHALL / FLUSHDB emptied the keyspace.
    Flush,
}

/// The type of `key` at `now` (`None`: missing or expired).
fn type_of(ks: &crate::keyspace::Keyspace, key: &[u8], now: u64) -> Option<&'static str> {
    ks.get(key, now).map(|e| e.value.type_name())
}

/// Applies one command and, if `out` is given, records what it modified: the keys of its key
/// arguments whose version the write moved (see `keyspace::versions`) or that it created, or
/// [`Change::Flush`].
fn apply_observed(
    ks: &mut crate::keyspace::Keyspace,
    argv: &[bytes::Bytes],
    now: u64,
    out: Option<&mut Vec<Change>>,
) -> Frame {
    let Some(out) = out else {
        return crate::cmd::apply_argv(ks, argv, now);
    };
    let keys = changed_key_args(argv);
    let before: Vec<Option<&'static str>> = keys.iter().map(|k| type_of(ks, k, now)).collect();
    let seq = ks.versions().seq();
    let reply = crate::cmd::apply_argv(ks, argv, now);
    if is_flush(argv) && !matches!(reply, Frame::Error(_)) {
        out.push(Change::Flush);
        return reply;
    }
    // A refused write, or one whose reply says it changed nothing, modified nothing (some
    // writes rewrite a key in place even then, moving its version).
    if matches!(reply, Frame::Error(_)) || (reply == Frame::Integer(0) && noop_on_zero(argv)) {
        return reply;
    }
    let mut changed = Vec::new();
    for (k, before) in keys.into_iter().zip(before) {
        // A key created fresh moves no version (WATCH sees creation by existence).
        let after = type_of(ks, &k, now);
        if ks.versions().changed_since(&k, seq) || before.is_none() != after.is_none() {
            changed.push(KeyChange {
                key: k,
                before,
                after,
            });
        }
    }
    if !changed.is_empty() {
        out.push(Change::Command {
            db: ks.active_db(),
            argv: argv.to_vec(),
            keys: changed,
        });
    }
    reply
}

/// Writes whose integer reply 0 means "nothing changed" (Redis signals no modification then).
fn noop_on_zero(argv: &[bytes::Bytes]) -> bool {
    const NAMES: &[&[u8]] = &[
        b"hdel",
        b"srem",
        b"zrem",
        b"lrem",
        b"zremrangebyscore",
        b"zremrangebyrank",
        b"zremrangebylex",
        b"smove",
        b"hsetnx",
        b"setnx",
        b"msetnx",
        b"renamenx",
        b"expire",
        b"pexpire",
        b"expireat",
        b"pexpireat",
        b"persist",
        b"lpushx",
        b"rpushx",
        b"copy",
        b"sadd",
        b"xdel",
        b"xtrim",
        b"del",
        b"unlink",
        b"linsert",
    ];
    argv.first()
        .is_some_and(|n| NAMES.iter().any(|m| n.eq_ignore_ascii_case(m)))
}

fn is_flush(argv: &[bytes::Bytes]) -> bool {
    argv.first()
        .is_some_and(|n| n.eq_ignore_ascii_case(b"flushall") || n.eq_ignore_ascii_case(b"flushdb"))
}

/// The distinct key arguments of a write command, in argument order (scripts and functions:
/// their declared keys); empty for anything else.
fn changed_key_args(argv: &[bytes::Bytes]) -> Vec<bytes::Bytes> {
    let Some(spec) = argv.first().and_then(|n| crate::cmd::lookup(n)) else {
        return Vec::new();
    };
    let script = matches!(spec.name, "eval" | "evalsha" | "fcall");
    if spec.kind != crate::cmd::Kind::Write && !script {
        return Vec::new();
    }
    let mut keys: Vec<bytes::Bytes> = Vec::new();
    let idx: Vec<usize> = if script {
        // name body|sha|function numkeys key...
        let n = argv
            .get(2)
            .and_then(|n| crate::resp::parse_i64(n))
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0);
        (3..argv.len().min(3usize.saturating_add(n))).collect()
    } else {
        crate::cmd::key_indices(spec, argv)
    };
    for i in idx {
        if let Some(k) = argv.get(i) {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    keys
}

/// The keys of `argv` (a write, applied in `ks`'s active database) that have a waiter and
/// hold a non-empty list or sorted set. SWAPDB and MOVE bring data into other databases:
/// their keys there are checked too (SWAPDB: every waited key of both databases).
fn collect_ready(
    w: &dyn ReadyKeys,
    ks: &crate::keyspace::Keyspace,
    argv: &[bytes::Bytes],
    now: u64,
    out: &mut Vec<(u32, bytes::Bytes, bool)>,
) {
    let Some(spec) = argv.first().and_then(|n| crate::cmd::lookup(n)) else {
        return;
    };
    if spec.kind != crate::cmd::Kind::Write {
        return;
    }
    let db = ks.active_db();
    if spec.name == "swapdb" {
        for n in crate::cmd::keys::swapdb_targets(argv) {
            for k in w.waited_keys(n) {
                push_ready(w, ks.db(n), n, &k, now, out);
            }
        }
        return;
    }
    if spec.name == "move" {
        if let (Some(k), Some(n)) = (argv.get(1), crate::cmd::keys::move_target(argv)) {
            push_ready(w, ks.db(n), n, k, now, out);
        }
        return;
    }
    if spec.name == "copy" {
        if let (Some(k), Some(n)) = (argv.get(2), crate::cmd::keys::copy_target(argv)) {
            push_ready(w, ks.db(n), n, k, now, out);
            return;
        }
    }
    for i in crate::cmd::key_indices(spec, argv) {
        let Some(k) = argv.get(i) else { continue };
        push_ready(w, ks, db, k, now, out);
    }
}

fn push_ready(
    w: &dyn ReadyKeys,
    ks: &crate::keyspace::Keyspace,
    db: u32,
    k: &bytes::Bytes,
    now: u64,
    out: &mut Vec<(u32, bytes::Bytes, bool)>,
) {
    use crate::keyspace::Value;
    if out.iter().any(|(d, o, _)| *d == db && o == k) || !w.waits_on(db, k) {
        return;
    }
    match ks.get(k, now).map(|e| &e.value) {
        Some(Value::List(l)) if !l.is_empty() => out.push((db, k.clone(), false)),
        Some(Value::ZSet(z)) if !z.is_empty() => out.push((db, k.clone(), true)),
        _ => {}
    }
}

struct SmInner {
    keyspace: SharedKeyspace,
    /// Wake-ups for blocked clients (set once by the server).
    ready: std::sync::OnceLock<Arc<dyn ReadyKeys>>,
    /// Mutated only under the keyspace write lock (see module docs).
    applied: Mutex<Applied>,
    current: Mutex<Option<Current>>,
    snapshots: SnapshotDir,
    /// Serializes snapshot builds and installs (file writes and `current`).
    snapshot_lock: tokio::sync::Mutex<()>,
    snapshot_seq: AtomicU64,
    /// The node's script cache: every applied script entry adds its body (not replicated
    /// state: an entry always carries its body; see crate::scripting).
    scripts: crate::scripting::ScriptCache,
}

/// The Raft state machine. Cheap to clone; the snapshot builder is a clone.
#[derive(Clone)]
pub struct StateMachineStore {
    inner: Arc<SmInner>,
}

impl std::fmt::Debug for StateMachineStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateMachineStore").finish_non_exhaustive()
    }
}

fn sm_err(e: StorageError) -> RaftStorageError {
    e.into_raft(ErrorSubject::StateMachine, ErrorVerb::Write)
}

fn snap_err(e: StorageError) -> RaftStorageError {
    e.into_raft(ErrorSubject::Snapshot(None), ErrorVerb::Write)
}

impl StateMachineStore {
    /// Opens the snapshot directory under `dir` and loads the newest valid snapshot into
    /// `keyspace` (replacing its contents in place).
    pub fn open(dir: &Path, keyspace: SharedKeyspace) -> Result<StateMachineStore> {
        let snapshots = SnapshotDir::open(dir)?;
        let mut applied = Applied::default();
        let mut current = None;
        if let Some((meta, ks, path)) = snapshots.load_newest_valid()? {
            tracing::info!(file = %path.display(), %meta, keys = ks.len(), "loaded snapshot");
            keyspace
                .write()
                .map_err(|_| StorageError::Poisoned("keyspace"))?
                .replace_with(ks);
            applied = Applied {
                last_applied: meta.last_log_id,
                membership: meta.last_membership.clone(),
            };
            current = Some(Current {
                meta,
                path: Some(path),
                image: None,
            });
        }
        let seq = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Ok(StateMachineStore {
            inner: Arc::new(SmInner {
                keyspace,
                ready: std::sync::OnceLock::new(),
                applied: Mutex::new(applied),
                current: Mutex::new(current),
                snapshots,
                snapshot_lock: tokio::sync::Mutex::new(()),
                snapshot_seq: AtomicU64::new(seq),
                scripts: crate::scripting::ScriptCache::default(),
            }),
        })
    }

    /// Installs the blocked-client wake-ups (once; later calls are ignored).
    pub fn set_ready_keys(&self, r: Arc<dyn ReadyKeys>) {
        let _ = self.inner.ready.set(r);
    }

    /// The shared keyspace this state machine applies to.
    pub fn keyspace(&self) -> SharedKeyspace {
        self.inner.keyspace.clone()
    }

    /// The node's script cache (shared with the server, which serves EVALSHA from it).
    pub fn scripts(&self) -> crate::scripting::ScriptCache {
        self.inner.scripts.clone()
    }

    /// The last applied log id (for INFO).
    pub fn last_applied(&self) -> Option<LogId<NodeId>> {
        self.applied().map(|a| a.last_applied).unwrap_or(None)
    }

    /// The last applied membership.
    pub fn last_membership(&self) -> StoredMembership<NodeId, BasicNode> {
        self.applied().map(|a| a.membership).unwrap_or_default()
    }

    /// Metadata of the current snapshot, if any.
    pub fn current_snapshot_meta(&self) -> Option<Meta> {
        self.inner
            .current
            .lock()
            .ok()
            .and_then(|c| c.as_ref().map(|c| c.meta.clone()))
    }

    /// Log indexes of the snapshot files on disk (at most [`snapshot::KEEP_SNAPSHOTS`]); empty
    /// if the directory cannot be listed.
    pub fn snapshot_indexes(&self) -> Vec<u64> {
        self.inner
            .snapshots
            .list()
            .map(|v| v.into_iter().map(|((_, index), _)| index).collect())
            .unwrap_or_default()
    }

    fn applied(&self) -> Result<Applied> {
        Ok(self
            .inner
            .applied
            .lock()
            .map_err(|_| StorageError::Poisoned("applied state"))?
            .clone())
    }

    /// Applies committed entries, returning one response per entry. Takes the keyspace write
    /// lock once for the whole batch.
    pub fn apply_entries<I>(&self, entries: I) -> Result<Vec<Response>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>>,
    {
        let mut ks = self
            .inner
            .keyspace
            .write()
            .map_err(|_| StorageError::Poisoned("keyspace"))?;
        let mut applied = self
            .inner
            .applied
            .lock()
            .map_err(|_| StorageError::Poisoned("applied state"))?;
        let iter = entries.into_iter();
        let mut out = Vec::with_capacity(iter.size_hint().0);
        let hooks = self.inner.ready.get();
        let waiters = hooks.filter(|r| r.any_waiting());
        let mut ready = Vec::new();
        let observer = hooks.filter(|r| r.observes_changes());
        let mut changes: Vec<Change> = Vec::new();
        for e in iter {
            let obs = observer.is_some().then_some(&mut changes);
            let reply = match e.payload {
                EntryPayload::Normal(req) => {
                    self.apply_request(&mut ks, req, waiters.map(|w| w.as_ref()), &mut ready, obs)
                }
                EntryPayload::Blank => Frame::ok(),
                EntryPayload::Membership(m) => {
                    applied.membership = StoredMembership::new(Some(e.log_id), m);
                    Frame::ok()
                }
            };
            applied.last_applied = Some(e.log_id);
            out.push(Response(reply));
        }
        drop(applied);
        drop(ks);
        if let (Some(w), false) = (waiters, ready.is_empty()) {
            w.ready(ready);
        }
        if let (Some(o), false) = (observer, changes.is_empty()) {
            o.changed(changes);
        }
        Ok(out)
    }

    /// Applies one request to `ks` (with its database active: a [`Request::Db`] selects its
    /// database for `inner` and goes back to db 0 after), collecting wake-ups into `ready`.
    fn apply_request(
        &self,
        ks: &mut crate::keyspace::Keyspace,
        req: Request,
        waiters: Option<&dyn ReadyKeys>,
        ready: &mut Vec<(u32, bytes::Bytes, bool)>,
        obs: Option<&mut Vec<Change>>,
    ) -> Frame {
        match req {
            // Every stamp is floored by the largest applied so far (monotonic per group).
            Request::Command { now_ms, argv } => {
                let now = ks.advance_clock(now_ms);
                let r = apply_observed(ks, &argv, now, obs);
                if let Some(w) = waiters {
                    collect_ready(w, ks, &argv, now, ready);
                }
                r
            }
            Request::Batch { now_ms, cmds } => {
                let now = ks.advance_clock(now_ms);
                let mut obs = obs;
                let r = Frame::Array(
                    cmds.iter()
                        .map(|argv| apply_observed(ks, argv, now, obs.as_deref_mut()))
                        .collect(),
                );
                if let Some(w) = waiters {
                    for argv in &cmds {
                        collect_ready(w, ks, argv, now, ready);
                    }
                }
                r
            }
            Request::Expire { now_ms, keys } => {
                let now = ks.advance_clock(now_ms);
                ks.begin_write();
                match obs {
                    None => {
                        ks.remove_expired(&keys, now);
                    }
                    Some(obs) => {
                        let gone = ks.remove_expired_keys(&keys, now);
                        if !gone.is_empty() {
                            obs.push(Change::Expired {
                                db: ks.active_db(),
                                keys: gone,
                            });
                        }
                    }
                }
                Frame::ok()
            }
            Request::Transaction {
                now_ms,
                watches,
                cmds,
            } => {
                let now = ks.advance_clock(now_ms);
                let start = ks.active_db();
                let r = match obs {
                    None => crate::cmd::apply_transaction(ks, &watches, &cmds, now),
                    // The same as `apply_transaction`, one command at a time.
                    Some(obs) if !ks.watch_broken(&watches, now) => Frame::Array(
                        cmds.iter()
                            .map(|argv| match argv.first() {
                                Some(n) if n.eq_ignore_ascii_case(b"select") => {
                                    crate::cmd::apply_select(ks, argv)
                                }
                                _ => apply_observed(ks, argv, now, Some(&mut *obs)),
                            })
                            .collect(),
                    ),
                    Some(_) => Frame::NullArray,
                };
                if let Some(w) = waiters {
                    // SELECT inside the transaction: each command's keys in its database.
                    ks.select_db(start);
                    for argv in &cmds {
                        if let Some(n) = crate::cmd::select_target(argv, ks.db_count()) {
                            ks.select_db(n);
                        }
                        collect_ready(w, ks, argv, now, ready);
                    }
                }
                ks.select_db(start);
                r
            }
            Request::Script {
                now_ms,
                body,
                keys,
                args,
                budget,
                flags,
            } => {
                let now = ks.advance_clock(now_ms);
                if flags & crate::raft::types::SCRIPT_FCALL == 0 {
                    self.inner.scripts.insert(&body);
                }
                let start = ks.active_db();
                let seq = ks.versions().seq();
                let before: Vec<Option<&'static str>> = match &obs {
                    Some(_) => keys.iter().map(|k| type_of(ks, k, now)).collect(),
                    None => Vec::new(),
                };
                let r = crate::scripting::commands::apply_script(
                    ks, &body, &keys, &args, now, budget, flags,
                );
                // A script's own SELECT ends with it: its declared keys are the entry's db's.
                ks.select_db(start);
                if let Some(obs) = obs {
                    let mut changed: Vec<KeyChange> = Vec::new();
                    for (k, before) in keys.iter().zip(before) {
                        let after = type_of(ks, k, now);
                        if (ks.versions().changed_since(k, seq)
                            || before.is_none() != after.is_none())
                            && !changed.iter().any(|c| &c.key == k)
                        {
                            changed.push(KeyChange {
                                key: k.clone(),
                                before,
                                after,
                            });
                        }
                    }
                    if !changed.is_empty() {
                        obs.push(Change::Command {
                            db: start,
                            argv: vec![bytes::Bytes::from_static(b"EVAL")],
                            keys: changed,
                        });
                    }
                }
                r
            }
            Request::Db { db, inner } => {
                let before = ks.active_db();
                ks.select_db(db);
                let r = self.apply_request(ks, *inner, waiters, ready, obs);
                ks.select_db(before);
                r
            }
        }
    }

    /// Builds, persists and records a snapshot of the current state (blocking; run it on a
    /// blocking thread). Only the image ([`crate::keyspace::Keyspace::image`], one pointer
    /// copy per key) is taken under the keyspace's *read* lock; the encode and the file write
    /// run with no lock held, so applies go on meanwhile (docs/benchmarks.md, "Snapshot
    /// stall").
    fn build_blocking(&self) -> Result<Snapshot<TypeConfig>> {
        let (meta, image) = {
            let ks = self
                .inner
                .keyspace
                .read()
                .map_err(|_| StorageError::Poisoned("keyspace"))?;
            let applied = self.applied()?;
            let seq = self.inner.snapshot_seq.fetch_add(1, Ordering::Relaxed);
            let snapshot_id = match applied.last_applied {
                Some(l) => format!("{}-{}-{}", l.leader_id.term, l.index, seq),
                None => format!("none-{seq}"),
            };
            let meta = Meta {
                last_log_id: applied.last_applied,
                last_membership: applied.membership,
                snapshot_id,
            };
            (meta, ks.image())
        };
        // The keyspace lock is released: applies go on while the image is encoded (an entry
        // they change is copied first, so the image stays the state at `last_applied`).
        let image = snapshot::encode_snapshot_file(&meta, &image);
        let path = self.inner.snapshots.write(&meta, &image)?;
        let image = Arc::new(image);
        self.set_current(&meta, path, &image)?;
        tracing::info!(%meta, bytes = image.len(), "built snapshot");
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(image.as_ref().clone())),
        })
    }

    fn set_current(&self, meta: &Meta, path: Option<PathBuf>, image: &Arc<Vec<u8>>) -> Result<()> {
        let mut cur = self
            .inner
            .current
            .lock()
            .map_err(|_| StorageError::Poisoned("snapshot"))?;
        if cur
            .as_ref()
            .is_some_and(|c| c.meta.last_log_id > meta.last_log_id)
        {
            return Ok(());
        }
        let image = if path.is_none() {
            Some(image.clone())
        } else {
            None
        };
        *cur = Some(Current {
            meta: meta.clone(),
            path,
            image,
        });
        Ok(())
    }

    /// Verifies and installs a snapshot image received from the leader (blocking): persists the
    /// file first, then replaces the keyspace contents in place (the `Arc` is shared with the
    /// server) and the applied state.
    fn install_blocking(&self, meta: &Meta, image: Vec<u8>) -> Result<()> {
        let (file_meta, ks) =
            snapshot::decode_snapshot_file(&image).map_err(|(offset, reason)| {
                StorageError::Snapshot(format!(
                    "received snapshot is invalid at byte {offset}: {reason}"
                ))
            })?;
        if &file_meta != meta {
            return Err(StorageError::Snapshot(format!(
                "received snapshot metadata {file_meta} does not match the announced {meta}"
            )));
        }
        let path = self.inner.snapshots.write(meta, &image)?;
        {
            let mut guard = self
                .inner
                .keyspace
                .write()
                .map_err(|_| StorageError::Poisoned("keyspace"))?;
            let mut applied = self
                .inner
                .applied
                .lock()
                .map_err(|_| StorageError::Poisoned("applied state"))?;
            guard.replace_with(ks);
            *applied = Applied {
                last_applied: meta.last_log_id,
                membership: meta.last_membership.clone(),
            };
        }
        let image = Arc::new(image);
        let mut cur = self
            .inner
            .current
            .lock()
            .map_err(|_| StorageError::Poisoned("snapshot"))?;
        let image = if path.is_none() { Some(image) } else { None };
        *cur = Some(Current {
            meta: meta.clone(),
            path,
            image,
        });
        tracing::info!(%meta, "installed snapshot");
        Ok(())
    }

    fn current_blocking(&self) -> Result<Option<Snapshot<TypeConfig>>> {
        let cur = self
            .inner
            .current
            .lock()
            .map_err(|_| StorageError::Poisoned("snapshot"))?
            .clone();
        let Some(cur) = cur else { return Ok(None) };
        let image = match (&cur.path, &cur.image) {
            (_, Some(img)) => img.as_ref().clone(),
            (Some(p), None) => {
                let (meta, img) = self.inner.snapshots.read_verified(p)?;
                if meta != cur.meta {
                    return Err(StorageError::Snapshot(format!(
                        "{} holds {meta}, expected {}",
                        p.display(),
                        cur.meta
                    )));
                }
                img
            }
            (None, None) => return Ok(None),
        };
        Ok(Some(Snapshot {
            meta: cur.meta,
            snapshot: Box::new(Cursor::new(image)),
        }))
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StorageError::Snapshot(format!("snapshot task failed: {e}")))?
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    async fn build_snapshot(
        &mut self,
    ) -> std::result::Result<Snapshot<TypeConfig>, RaftStorageError> {
        let _g = self.inner.snapshot_lock.lock().await;
        let this = self.clone();
        blocking(move || this.build_blocking())
            .await
            .map_err(snap_err)
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = StateMachineStore;

    async fn applied_state(
        &mut self,
    ) -> std::result::Result<
        (Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>),
        RaftStorageError,
    > {
        let a = self
            .applied()
            .map_err(|e| e.into_raft(ErrorSubject::StateMachine, ErrorVerb::Read))?;
        Ok((a.last_applied, a.membership))
    }

    async fn apply<I>(&mut self, entries: I) -> std::result::Result<Vec<Response>, RaftStorageError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        self.apply_entries(entries).map_err(sm_err)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> std::result::Result<Box<Cursor<Vec<u8>>>, RaftStorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &Meta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> std::result::Result<(), RaftStorageError> {
        let _g = self.inner.snapshot_lock.lock().await;
        let this = self.clone();
        let meta2 = meta.clone();
        let image = snapshot.into_inner();
        blocking(move || this.install_blocking(&meta2, image))
            .await
            .map_err(|e| {
                e.into_raft(
                    ErrorSubject::Snapshot(Some(meta.signature())),
                    ErrorVerb::Write,
                )
            })
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> std::result::Result<Option<Snapshot<TypeConfig>>, RaftStorageError> {
        let this = self.clone();
        blocking(move || this.current_blocking())
            .await
            .map_err(|e| e.into_raft(ErrorSubject::Snapshot(None), ErrorVerb::Read))
    }
}
