//! [`LogStore`]: openraft's `RaftLogStorage` + `RaftLogReader` over the WAL.
//!
//! Reads are served from an in-memory copy of the live log (every entry after the last purge;
//! snapshots purge regularly, so this stays bounded by the snapshot interval). Writes update
//! that copy and then queue the on-disk work to the WAL writer thread, in the same order, while
//! holding the memory lock — so the order of the in-memory log, the channel and the files always
//! agree, and every write I/O is serialized as openraft requires.

use std::collections::VecDeque;
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{
    Entry, EntryPayload, ErrorSubject, ErrorVerb, LogId, LogState, OptionalSend, RaftLogReader,
    Vote,
};
use tokio::sync::oneshot;

use crate::raft::types::{NodeId, TypeConfig};
use crate::storage::codec;
use crate::storage::error::{RaftStorageError, Result, StorageError};
use crate::storage::fsutil::lock_dir;
use crate::storage::options::WalOptions;
use crate::storage::wal::{self, Completion, Op, WalHandle, WalStatsSnapshot};

/// The in-memory view of the log.
#[derive(Debug)]
struct LogMem {
    /// Entries after `last_purged`, consecutive.
    entries: VecDeque<Entry<TypeConfig>>,
    /// Running byte count ([`codec::entry_size_hint`]) parallel to `entries`: `cum[i]` is
    /// `base` plus the sizes of `entries[..=i]`, so the bytes of any suffix are one subtraction.
    cum: VecDeque<u64>,
    /// The running count just before `entries[0]`.
    base: u64,
    last_purged: Option<LogId<NodeId>>,
    committed: Option<LogId<NodeId>>,
    vote: Option<Vote<NodeId>>,
    /// Index the next append must start at; `None` for a log that never held anything.
    next_index: Option<u64>,
}

impl LogMem {
    fn push_back(&mut self, entries: impl IntoIterator<Item = Entry<TypeConfig>>) {
        for e in entries {
            let last = self.cum.back().copied().unwrap_or(self.base);
            self.cum.push_back(last + codec::entry_size_hint(&e) as u64);
            self.entries.push_back(e);
        }
    }

    fn pop_front(&mut self) {
        if self.entries.pop_front().is_some() {
            if let Some(c) = self.cum.pop_front() {
                self.base = c;
            }
        }
    }

    fn truncate(&mut self, keep: usize) {
        self.entries.truncate(keep);
        self.cum.truncate(keep);
    }

    fn first_index(&self) -> Option<u64> {
        self.entries.front().map(|e| e.log_id.index)
    }

    /// Bytes of the entries with an index above `after` (all of them for `None`).
    fn bytes_after(&self, after: Option<u64>) -> u64 {
        let end = self.cum.back().copied().unwrap_or(self.base);
        let start = match (after, self.first_index()) {
            (Some(a), Some(first)) if a >= first => {
                let i = (a - first) as usize;
                match self.cum.get(i) {
                    Some(&c) => c,
                    None => end,
                }
            }
            _ => self.base,
        };
        end - start
    }
}

struct LogInner {
    mem: RwLock<LogMem>,
    /// See [`QuorumChanges`]. Locked inside `mem`'s write lock (append, truncate), never the
    /// other way round.
    quorum: Mutex<QuorumChanges>,
    /// Woken after every append, for whoever bounds the log by bytes (`raft::log_budget`).
    appended: tokio::sync::Notify,
    // Dropped after `mem`; joins the writer thread (see `WalHandle`'s `Drop`).
    wal: WalHandle,
}

/// The storage-side record of what could change who forms a quorum, for the one-member read
/// fast path (`server::read_barrier`). Each field is updated *before* the change can have any
/// effect outside this node: the vote before it is written (so before any vote response, or
/// leadership built on it, leaves this node), a membership entry's index before the entry is
/// readable by replication or queued for the disk (so before it can commit). A reader that sees
/// the same values as in a Raft metrics snapshot knows no vote and no membership change was
/// started since the state that snapshot describes, however late the metrics are published.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QuorumChanges {
    /// The last vote this store was asked to save (the recovered vote at open).
    pub requested_vote: Option<Vote<NodeId>>,
    /// Index of the last membership entry appended since open and still in the log (entries
    /// recovered at open are part of the state openraft starts from, so they are not counted).
    pub last_membership_appended: Option<u64>,
}

/// The Raft log store. Cheap to clone; clones (including the `LogReader` openraft asks for)
/// share one in-memory log and one WAL writer. The writer thread stops, after writing
/// everything queued, when the last clone is dropped.
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<LogInner>,
}

impl Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore").finish_non_exhaustive()
    }
}

/// Completion of an [`LogStore::append_nowait`]: resolves once the entries are durable as the
/// fsync policy defines (fsynced for `always`, written for `everysec`/`no`).
#[derive(Debug)]
pub struct AppendTicket(oneshot::Receiver<std::result::Result<(), String>>);

impl AppendTicket {
    /// Waits for the append to complete.
    pub async fn wait(self) -> Result<()> {
        wal::wait(self.0).await
    }
}

impl LogStore {
    /// Opens (recovering) the log in `<dir>/wal` and the vote in `<dir>/vote`, takes the
    /// `<dir>/LOCK` flock and starts the writer thread. See [`wal::recover`] for the recovery
    /// rules (torn tails repaired, any other damage is an error naming file and offset).
    pub fn open(dir: &Path, opts: WalOptions) -> Result<LogStore> {
        std::fs::create_dir_all(dir).map_err(|e| StorageError::io("create directory", dir, e))?;
        let lock = lock_dir(dir)?;
        let mut rec = wal::recover(dir)?;
        let wal = WalHandle::start(dir, opts, &mut rec, Some(lock))?;
        tracing::info!(
            dir = %dir.display(),
            entries = rec.entries.len(),
            last_purged = ?rec.last_purged,
            vote = ?rec.vote,
            "opened WAL"
        );
        let mut mem = LogMem {
            entries: VecDeque::new(),
            cum: VecDeque::new(),
            base: 0,
            last_purged: rec.last_purged,
            committed: rec.committed,
            vote: rec.vote,
            next_index: rec.next_index,
        };
        let quorum = QuorumChanges {
            requested_vote: rec.vote,
            last_membership_appended: None,
        };
        mem.push_back(rec.entries);
        Ok(LogStore {
            inner: Arc::new(LogInner {
                mem: RwLock::new(mem),
                quorum: Mutex::new(quorum),
                appended: tokio::sync::Notify::new(),
                wal,
            }),
        })
    }

    /// The current [`QuorumChanges`].
    pub fn quorum_changes(&self) -> QuorumChanges {
        *self.quorum_mut()
    }

    fn quorum_mut(&self) -> std::sync::MutexGuard<'_, QuorumChanges> {
        // Plain data, consistent after any panic: a poisoned lock is still usable.
        self.inner.quorum.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn read(&self) -> Result<RwLockReadGuard<'_, LogMem>> {
        self.inner
            .mem
            .read()
            .map_err(|_| StorageError::Poisoned("log"))
    }

    fn write(&self) -> Result<RwLockWriteGuard<'_, LogMem>> {
        self.inner
            .mem
            .write()
            .map_err(|_| StorageError::Poisoned("log"))
    }

    /// Makes `entries` readable and queues them for the writer, which completes `done` once
    /// they are durable per the fsync policy. Rejects a batch that would leave a hole.
    fn append_inner(&self, mut entries: Vec<Entry<TypeConfig>>, done: Completion) -> Result<()> {
        for w in entries.windows(2) {
            if w[1].log_id.index != w[0].log_id.index + 1 {
                return Err(StorageError::InvalidOperation(format!(
                    "append batch is not consecutive: index {} follows {}",
                    w[1].log_id.index, w[0].log_id.index
                )));
            }
        }
        // Encode outside the lock; the writer thread only copies bytes.
        let (mut frames, mut offsets) = wal::encode_entry_frames(&entries)?;
        let mut mem = self.write()?;
        // Entries at or below the purge point are already covered by a snapshot (and, by log
        // matching, identical to what was purged): drop them instead of re-adding them.
        if let Some(p) = mem.last_purged {
            let skip = entries
                .iter()
                .take_while(|e| e.log_id.index <= p.index)
                .count();
            if skip > 0 {
                entries.drain(..skip);
                (frames, offsets) = wal::encode_entry_frames(&entries)?;
            }
        }
        let Some(first) = entries.first().map(|e| e.log_id.index) else {
            // Nothing to write, but the completion must still come after every earlier write
            // is durable: route it through the writer.
            return self.inner.wal.send(Op::Barrier { done });
        };
        if let Some(n) = mem.next_index {
            if first != n {
                return Err(StorageError::InvalidOperation(format!(
                    "append at index {first} but the log expects {n} (would leave a hole or overwrite)"
                )));
            }
        }
        if let Some(m) = entries
            .iter()
            .rev()
            .find(|e| matches!(e.payload, EntryPayload::Membership(_)))
        {
            // Before the entry is readable (replication) or queued (commit): see QuorumChanges.
            self.quorum_mut().last_membership_appended = Some(m.log_id.index);
        }
        let next = first + entries.len() as u64;
        mem.push_back(entries);
        mem.next_index = Some(next);
        let r = self.inner.wal.send(Op::Append {
            frames,
            offsets,
            first_index: first,
            done,
        });
        self.inner.appended.notify_one();
        r
    }

    /// Resolves after the next append (or at once if one happened since the last call).
    pub async fn appended(&self) {
        self.inner.appended.notified().await
    }

    /// Appends `entries` (which must continue the log) without waiting; the returned ticket
    /// resolves when they are durable. Entries are readable as soon as this returns. Safe to
    /// call from many tasks: calls are ordered by an internal lock, and concurrent callers
    /// share fsyncs (group commit).
    pub fn append_nowait(&self, entries: Vec<Entry<TypeConfig>>) -> Result<AppendTicket> {
        let (tx, rx) = oneshot::channel();
        self.append_inner(entries, Completion::Notify(tx))?;
        Ok(AppendTicket(rx))
    }

    /// Appends and waits until durable.
    pub async fn append_and_wait(&self, entries: Vec<Entry<TypeConfig>>) -> Result<()> {
        self.append_nowait(entries)?.wait().await
    }

    /// Index the next appended entry must carry (`None` for a log that never held an entry).
    pub fn next_index(&self) -> Result<Option<u64>> {
        Ok(self.read()?.next_index)
    }

    /// Writes and fsyncs everything queued so far, regardless of the fsync policy.
    pub async fn sync(&self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.inner.wal.send(Op::Sync { done: tx })?;
        wal::wait(rx).await
    }

    /// Group-commit counters of the writer.
    pub fn wal_stats(&self) -> WalStatsSnapshot {
        self.inner.wal.stats.snapshot()
    }

    /// Entries in `range` that are present (purged or future indexes are simply absent).
    pub fn entries<RB: RangeBounds<u64>>(&self, range: RB) -> Result<Vec<Entry<TypeConfig>>> {
        let mem = self.read()?;
        let Some(first) = mem.entries.front().map(|e| e.log_id.index) else {
            return Ok(Vec::new());
        };
        let end_excl = first + mem.entries.len() as u64;
        let lo = match range.start_bound() {
            Bound::Included(&s) => s,
            Bound::Excluded(&s) => s.saturating_add(1),
            Bound::Unbounded => 0,
        }
        .max(first);
        let hi = match range.end_bound() {
            Bound::Included(&e) => e.saturating_add(1),
            Bound::Excluded(&e) => e,
            Bound::Unbounded => u64::MAX,
        }
        .min(end_excl);
        if lo >= hi {
            return Ok(Vec::new());
        }
        Ok(mem
            .entries
            .range((lo - first) as usize..(hi - first) as usize)
            .cloned()
            .collect())
    }

    /// Entries from `start` (below `end`) that fit together in one peer message: at least one
    /// when `start` is present, then as many as fit in `max_bytes` by
    /// [`codec::entry_size_hint`]. This is what replication sends in one AppendEntries, so a
    /// lagging follower is fed batches that fit the gRPC limit instead of up to 300 large
    /// entries at once.
    pub fn entries_limited(
        &self,
        start: u64,
        end: u64,
        max_bytes: u64,
    ) -> Result<Vec<Entry<TypeConfig>>> {
        let mem = self.read()?;
        let Some(first) = mem.first_index() else {
            return Ok(Vec::new());
        };
        let avail_end = first + mem.entries.len() as u64;
        let (lo, hi) = (start.max(first), end.min(avail_end));
        if lo >= hi {
            return Ok(Vec::new());
        }
        let lo_i = (lo - first) as usize;
        let before = if lo_i == 0 {
            mem.base
        } else {
            mem.cum[lo_i - 1]
        };
        let mut n = 1;
        while lo_i + n < (hi - first) as usize && mem.cum[lo_i + n] - before <= max_bytes {
            n += 1;
        }
        Ok(mem.entries.range(lo_i..lo_i + n).cloned().collect())
    }

    /// Bytes ([`codec::entry_size_hint`]) of the live log entries with an index above `after`
    /// (every live entry for `None`): what a snapshot at `after` would let openraft purge.
    pub fn bytes_after(&self, after: Option<u64>) -> Result<u64> {
        Ok(self.read()?.bytes_after(after))
    }

    /// Last purged and last present log ids.
    pub fn log_state(&self) -> Result<LogState<TypeConfig>> {
        let mem = self.read()?;
        let last = mem.entries.back().map(|e| e.log_id).or(mem.last_purged);
        Ok(LogState {
            last_purged_log_id: mem.last_purged,
            last_log_id: last,
        })
    }

    /// The persisted vote.
    pub fn vote(&self) -> Result<Option<Vote<NodeId>>> {
        Ok(self.read()?.vote)
    }

    /// Persists `vote` (`<dir>/vote`: tmp, fsync, rename, fsync dir) after every write queued
    /// before it, and returns only once it is durable.
    pub async fn persist_vote(&self, vote: Vote<NodeId>) -> Result<()> {
        // Before the vote can have any effect: see QuorumChanges. A failed write leaves it set,
        // which only keeps the read fast path off.
        self.quorum_mut().requested_vote = Some(vote);
        let (tx, rx) = oneshot::channel();
        self.inner.wal.send(Op::SaveVote { vote, done: tx })?;
        wal::wait(rx).await?;
        self.write()?.vote = Some(vote);
        Ok(())
    }

    /// Removes entries `>= index`, durably (ftruncate + fsync) before returning.
    pub async fn truncate_from(&self, index: u64) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        {
            let mut mem = self.write()?;
            if let Some(p) = mem.last_purged {
                if index <= p.index {
                    return Err(StorageError::InvalidOperation(format!(
                        "truncate at {index} would remove purged entries (purged up to {})",
                        p.index
                    )));
                }
            }
            if mem.next_index.is_none_or(|n| index >= n) {
                return Ok(());
            }
            if let Some(first) = mem.first_index() {
                let keep = index.saturating_sub(first) as usize;
                mem.truncate(keep);
            }
            mem.next_index = Some(index);
            let mut q = self.quorum_mut();
            if q.last_membership_appended.is_some_and(|m| m >= index) {
                // The last membership entry left in memory (older ones are in the state
                // openraft started from, or in a snapshot): what the effective membership
                // falls back to.
                q.last_membership_appended = mem
                    .entries
                    .iter()
                    .rev()
                    .find(|e| matches!(e.payload, EntryPayload::Membership(_)))
                    .map(|e| e.log_id.index);
            }
            drop(q);
            self.inner.wal.send(Op::Truncate { index, done: tx })?;
        }
        wal::wait(rx).await
    }

    /// Drops entries `<= log_id.index`. The purged id is persisted and whole segments deleted by
    /// the writer in order with other writes; this returns once that is queued (openraft allows
    /// purge to complete in the background). A crash before it runs just leaves more log.
    pub fn purge_upto(&self, log_id: LogId<NodeId>) -> Result<()> {
        let mut mem = self.write()?;
        if mem.last_purged.is_some_and(|p| p.index >= log_id.index) {
            return Ok(());
        }
        while mem
            .entries
            .front()
            .is_some_and(|e| e.log_id.index <= log_id.index)
        {
            mem.pop_front();
        }
        mem.last_purged = Some(log_id);
        mem.next_index = Some(
            mem.next_index
                .map_or(log_id.index + 1, |n| n.max(log_id.index + 1)),
        );
        self.inner.wal.send(Op::Purge { log_id, done: None })
    }

    /// Like [`Self::purge_upto`] but waits until the purge is on disk.
    pub async fn purge_and_wait(&self, log_id: LogId<NodeId>) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        {
            let mut mem = self.write()?;
            if mem.last_purged.is_some_and(|p| p.index >= log_id.index) {
                return Ok(());
            }
            while mem
                .entries
                .front()
                .is_some_and(|e| e.log_id.index <= log_id.index)
            {
                mem.pop_front();
            }
            mem.last_purged = Some(log_id);
            mem.next_index = Some(
                mem.next_index
                    .map_or(log_id.index + 1, |n| n.max(log_id.index + 1)),
            );
            self.inner.wal.send(Op::Purge {
                log_id,
                done: Some(tx),
            })?;
        }
        wal::wait(rx).await
    }

    /// Records the committed log id: kept in memory and appended to the WAL as an advisory
    /// marker, without waiting and without an fsync of its own (it rides the next one). Losing
    /// it only means openraft re-learns the commit index from the leader after a restart.
    pub fn set_committed(&self, committed: Option<LogId<NodeId>>) -> Result<()> {
        let mut mem = self.write()?;
        if mem.committed == committed {
            return Ok(());
        }
        mem.committed = committed;
        let frame = wal::encode_committed_frame(&committed)?;
        self.inner.wal.send(Op::Committed { frame })
    }

    /// The last committed log id recorded (recovered from the WAL at open).
    pub fn committed(&self) -> Result<Option<LogId<NodeId>>> {
        Ok(self.read()?.committed)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> std::result::Result<Vec<Entry<TypeConfig>>, RaftStorageError> {
        self.entries(range).map_err(StorageError::read_logs)
    }

    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> std::result::Result<Vec<Entry<TypeConfig>>, RaftStorageError> {
        // Well below the peer message limit (64 MiB): openraft gives an AppendEntries one
        // heartbeat interval (100 ms by default) to complete, including the follower's fsync,
        // so a batch must be small enough to encode, send and persist in that time. One entry
        // is always sent, whatever its size.
        const REPLICATION_BATCH_BYTES: u64 = 8 * 1024 * 1024;
        self.entries_limited(start, end, REPLICATION_BATCH_BYTES)
            .map_err(StorageError::read_logs)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(
        &mut self,
    ) -> std::result::Result<LogState<TypeConfig>, RaftStorageError> {
        self.log_state().map_err(StorageError::read_logs)
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(
        &mut self,
        vote: &Vote<NodeId>,
    ) -> std::result::Result<(), RaftStorageError> {
        self.persist_vote(*vote)
            .await
            .map_err(|e| e.into_raft(ErrorSubject::Vote, ErrorVerb::Write))
    }

    async fn read_vote(&mut self) -> std::result::Result<Option<Vote<NodeId>>, RaftStorageError> {
        self.vote()
            .map_err(|e| e.into_raft(ErrorSubject::Vote, ErrorVerb::Read))
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<NodeId>>,
    ) -> std::result::Result<(), RaftStorageError> {
        self.set_committed(committed)
            .map_err(StorageError::write_logs)
    }

    async fn read_committed(
        &mut self,
    ) -> std::result::Result<Option<LogId<NodeId>>, RaftStorageError> {
        self.committed().map_err(StorageError::read_logs)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> std::result::Result<(), RaftStorageError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<_> = entries.into_iter().collect();
        self.append_inner(entries, Completion::Raft(callback))
            .map_err(StorageError::write_logs)
    }

    async fn truncate(
        &mut self,
        log_id: LogId<NodeId>,
    ) -> std::result::Result<(), RaftStorageError> {
        self.truncate_from(log_id.index)
            .await
            .map_err(StorageError::write_logs)
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> std::result::Result<(), RaftStorageError> {
        self.purge_upto(log_id)
            .map_err(|e| e.into_raft(ErrorSubject::Logs, ErrorVerb::Delete))
    }
}
