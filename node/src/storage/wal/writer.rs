//! The group-commit writer thread: the only place that writes WAL, vote and purge files, fed
//! by a FIFO channel of [`Op`]s, and the [`WalHandle`] that owns it.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use openraft::storage::LogFlushed;
use openraft::{LogId, Vote};
use tokio::sync::oneshot;

use super::format::*;
use super::recovery::Recovered;
use crate::raft::types::{NodeId, TypeConfig};
use crate::storage::codec::{self};
use crate::storage::error::{Result, StorageError};
use crate::storage::fsutil::{fsync_dir, tmp_path, write_small_file};
use crate::storage::options::{FsyncPolicy, WalOptions};

// ---------------------------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------------------------

/// Counters for observing group commit (INFO, benchmarks).
#[derive(Debug, Default)]
pub struct WalStats {
    /// Append operations accepted by the writer.
    pub appends: AtomicU64,
    /// Entries written.
    pub entries: AtomicU64,
    /// Batches processed (one per wake-up of the writer).
    pub batches: AtomicU64,
    /// Log fsyncs performed.
    pub fsyncs: AtomicU64,
    /// Bytes written to segments.
    pub bytes: AtomicU64,
}

/// A plain copy of [`WalStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalStatsSnapshot {
    pub appends: u64,
    pub entries: u64,
    pub batches: u64,
    pub fsyncs: u64,
    pub bytes: u64,
}

impl WalStats {
    pub fn snapshot(&self) -> WalStatsSnapshot {
        WalStatsSnapshot {
            appends: self.appends.load(Ordering::Relaxed),
            entries: self.entries.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            fsyncs: self.fsyncs.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }
}

/// Result delivered to waiters; the error is the writer's message (it is shared by many).
pub(crate) type Done = oneshot::Sender<std::result::Result<(), String>>;

/// How an append's completion is reported.
pub(crate) enum Completion {
    /// openraft's callback.
    Raft(LogFlushed<TypeConfig>),
    /// A plain channel (tests, benchmarks, [`super::LogStore::append_nowait`]).
    Notify(Done),
}

impl Completion {
    fn complete(self, r: std::result::Result<(), &str>) {
        match self {
            Completion::Raft(cb) => cb.log_io_completed(r.map_err(std::io::Error::other)),
            Completion::Notify(tx) => {
                let _ = tx.send(r.map_err(str::to_string));
            }
        }
    }
}

/// One unit of work for the writer thread; processed strictly in channel order.
pub(crate) enum Op {
    /// Pre-encoded entry frames (`offsets` relative to `frames`), entries `first_index..`.
    Append {
        frames: Vec<u8>,
        offsets: Vec<usize>,
        first_index: u64,
        done: Completion,
    },
    /// A committed-log-id frame; fire-and-forget (advisory, no fsync of its own).
    Committed { frame: Vec<u8> },
    /// Remove entries `>= index`; durable before `done`.
    Truncate { index: u64, done: Done },
    /// Persist the purged log id, then delete fully purged segments.
    Purge {
        log_id: LogId<NodeId>,
        done: Option<Done>,
    },
    /// Persist the vote; durable before `done`.
    SaveVote { vote: Vote<NodeId>, done: Done },
    /// Write and fsync everything queued before it, whatever the policy.
    Sync { done: Done },
    /// Complete `done` like an append with no entries: once everything before it is durable
    /// per the fsync policy.
    Barrier { done: Completion },
}

/// State owned by the writer thread.
struct Writer {
    wal_dir: PathBuf,
    vote_path: PathBuf,
    opts: WalOptions,
    segments: Vec<Segment>,
    /// Append handle of `segments.last()`.
    active: Option<File>,
    next_index: Option<u64>,
    /// Bytes for the active segment not yet written.
    buf: Vec<u8>,
    /// Completions of the buffered (or written but not yet synced) appends.
    pending: Vec<Completion>,
    /// Written to the active segment but not fsynced.
    dirty: bool,
    last_sync: Instant,
    /// Set on the first I/O failure; every later operation fails with it. Not set by a
    /// segment creation that fails for lack of descriptors or space: that is retried (see
    /// [`Self::roll`]).
    failed: Option<String>,
    /// Set when the handle is dropped, so a retry loop gives up instead of blocking shutdown.
    stopping: Arc<AtomicBool>,
    stats: Arc<WalStats>,
    _lock: Option<File>,
}

impl Writer {
    fn fail(&mut self, err: StorageError) -> String {
        let msg = err.to_string();
        tracing::error!(error = %msg, "WAL write failed; the WAL refuses further writes");
        self.failed = Some(msg.clone());
        for c in self.pending.drain(..) {
            c.complete(Err(&msg));
        }
        self.buf.clear();
        msg
    }

    fn active_path(&self) -> PathBuf {
        self.segments
            .last()
            .map(|s| s.path.clone())
            .unwrap_or_else(|| self.wal_dir.clone())
    }

    /// Writes the buffer, fsyncs if the policy (or `force_sync`) says so, then completes the
    /// pending appends. Returns false if the WAL has failed.
    fn flush(&mut self, force_sync: bool) -> bool {
        if self.failed.is_some() || !self.flush_keep_pending() {
            return false;
        }
        if self.dirty
            && (force_sync || self.opts.fsync == FsyncPolicy::Always)
            && !self.sync_active()
        {
            return false;
        }
        for c in self.pending.drain(..) {
            c.complete(Ok(()));
        }
        true
    }

    /// After a batch: normally [`Self::flush`]. Under the planted `skip-fsync` fault (chaos
    /// testing only, `WalOptions::unsafe_skip_fsync`) the batch is acknowledged while still in
    /// this process's memory and written out (never fsynced) at most about once a second, so a
    /// crash loses acknowledged writes — which the chaos harness must detect.
    fn flush_after_batch(&mut self) {
        if !self.opts.unsafe_skip_fsync {
            self.flush(false);
            return;
        }
        if self.failed.is_none() && self.last_sync.elapsed() < Duration::from_secs(1) {
            for c in self.pending.drain(..) {
                c.complete(Ok(()));
            }
            return;
        }
        self.flush(false);
        self.last_sync = Instant::now();
    }

    fn sync_active(&mut self) -> bool {
        let path = self.active_path();
        if let Some(f) = self.active.as_ref() {
            if let Err(e) = f.sync_data() {
                self.fail(StorageError::io("fsync", &path, e));
                return false;
            }
            self.stats.fsyncs.fetch_add(1, Ordering::Relaxed);
        }
        self.dirty = false;
        self.last_sync = Instant::now();
        true
    }

    /// Creates segment `first_index` (header via tmp + rename, dir fsynced) and makes it active.
    /// The previous active segment must already be flushed and synced.
    fn create_segment(&mut self, first_index: u64) -> Result<()> {
        let path = self.wal_dir.join(segment_file_name(first_index));
        let tmp = tmp_path(&path);
        {
            let mut f = File::create(&tmp).map_err(|e| StorageError::io("create", &tmp, e))?;
            f.write_all(&segment_header(first_index))
                .map_err(|e| StorageError::io("write", &tmp, e))?;
            f.sync_all()
                .map_err(|e| StorageError::io("fsync", &tmp, e))?;
        }
        fs::rename(&tmp, &path).map_err(|e| StorageError::io("rename into", &path, e))?;
        fsync_dir(&self.wal_dir)?;
        let f = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| StorageError::io("open", &path, e))?;
        self.active = Some(f);
        self.dirty = false;
        self.segments.push(Segment {
            first_index,
            path,
            len: SEGMENT_HEADER_LEN as u64,
            entry_offsets: Vec::new(),
        });
        Ok(())
    }

    /// Opens `segments.last()` for appending (after recovery or a truncate).
    fn reopen_last(&mut self) -> Result<()> {
        self.active = None;
        if let Some(s) = self.segments.last() {
            let f = OpenOptions::new()
                .append(true)
                .open(&s.path)
                .map_err(|e| StorageError::io("open", &s.path, e))?;
            self.active = Some(f);
        }
        Ok(())
    }

    /// Rolls to a new segment: flush + fsync the current one first (whatever the policy), so a
    /// later segment never exists on disk with an earlier one incomplete.
    ///
    /// Creating the segment can fail because the process is out of descriptors (`EMFILE`) or
    /// the disk is full (`ENOSPC`). That used to mark the WAL failed for good, and openraft
    /// treats a failed log write as fatal: the node refused writes until restarted. Such a
    /// failure is now retried here, with backoff (10 ms doubling to 1 s), holding this append
    /// and everything queued behind it: their clients time out (`TIMEOUT`, outcome unknown: the
    /// entry is still in the in-memory log and commits once the segment exists), nothing is
    /// acknowledged before it is durable, and no record is half-written (the segment header is
    /// written to a `.tmp` file and renamed; records go only into a segment that exists).
    /// Other errors, and a handle dropped during the wait, still fail the WAL.
    fn roll(&mut self, first_index: u64) -> Result<()> {
        if self.active.is_some()
            && !(self.flush_keep_pending() && (!self.dirty || self.sync_active()))
        {
            return Err(StorageError::WriterFailed(
                self.failed.clone().unwrap_or_default(),
            ));
        }
        // The previous segment is complete and synced: close it first, so creating the next one
        // needs no descriptor beyond the one it frees.
        self.active = None;
        let mut delay = Duration::from_millis(10);
        let mut last_warn: Option<Instant> = None;
        loop {
            match self.create_segment(first_index) {
                Ok(()) => {
                    if last_warn.is_some() {
                        tracing::info!(first_index, "created the next WAL segment after retrying");
                    }
                    return Ok(());
                }
                Err(e)
                    if e.is_transient_resource_error()
                        && !self.stopping.load(Ordering::Relaxed) =>
                {
                    if last_warn.is_none_or(|t| t.elapsed() >= Duration::from_secs(5)) {
                        tracing::warn!(error = %e, first_index, "cannot create the next WAL segment; writes wait and retry");
                        last_warn = Some(Instant::now());
                    }
                    let path = self.wal_dir.join(segment_file_name(first_index));
                    let _ = fs::remove_file(tmp_path(&path));
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(1));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes the buffer without completing callbacks (they complete after the batch's sync).
    fn flush_keep_pending(&mut self) -> bool {
        if self.buf.is_empty() {
            return self.failed.is_none();
        }
        let path = self.active_path();
        let res = match self.active.as_mut() {
            Some(f) => f
                .write_all(&self.buf)
                .map_err(|e| StorageError::io("write", &path, e)),
            None => Err(StorageError::WriterFailed(
                "no active segment for buffered records".into(),
            )),
        };
        if let Err(e) = res {
            self.fail(e);
            return false;
        }
        self.stats
            .bytes
            .fetch_add(self.buf.len() as u64, Ordering::Relaxed);
        self.buf.clear();
        self.dirty = true;
        true
    }

    fn append(&mut self, frames: Vec<u8>, offsets: Vec<usize>, first_index: u64, done: Completion) {
        if let Some(msg) = &self.failed {
            done.complete(Err(msg));
            return;
        }
        if let Some(n) = self.next_index {
            if n != first_index {
                let msg =
                    format!("internal: append at index {first_index} but the WAL expects {n}");
                done.complete(Err(&msg));
                self.fail(StorageError::InvalidOperation(msg));
                return;
            }
        }
        let need_new = match self.segments.last() {
            None => true,
            Some(s) => {
                self.active.is_none()
                    || (!s.entry_offsets.is_empty() && s.len >= self.opts.segment_bytes)
            }
        };
        if need_new {
            if let Err(e) = self.roll(first_index) {
                let msg = self.fail(e);
                done.complete(Err(&msg));
                return;
            }
        }
        let Some(seg) = self.segments.last_mut() else {
            done.complete(Err("internal: no active segment"));
            return;
        };
        let base = seg.len;
        seg.entry_offsets
            .extend(offsets.iter().map(|&o| base + o as u64));
        seg.len += frames.len() as u64;
        self.buf.extend_from_slice(&frames);
        self.pending.push(done);
        self.next_index = Some(first_index + offsets.len() as u64);
        self.stats.appends.fetch_add(1, Ordering::Relaxed);
        self.stats
            .entries
            .fetch_add(offsets.len() as u64, Ordering::Relaxed);
    }

    fn committed(&mut self, frame: Vec<u8>) {
        if self.failed.is_some() {
            return;
        }
        // With no segment (empty log) the marker has nowhere to live; it is advisory, skip it.
        if let (Some(seg), Some(_)) = (self.segments.last_mut(), self.active.as_ref()) {
            seg.len += frame.len() as u64;
            self.buf.extend_from_slice(&frame);
        }
    }

    fn truncate(&mut self, index: u64) -> Result<()> {
        if self.next_index.is_none_or(|n| index >= n) {
            return Ok(());
        }
        let Some(oldest) = self.segments.first().map(|s| s.first_index) else {
            return Ok(());
        };
        // Delete whole segments from `delete_from` on; cut the one before if it holds `index`.
        // Cutting at or before the oldest segment's first entry empties the log: every file
        // goes, and the next append creates a segment named after its own index.
        let delete_from = if index <= oldest {
            0
        } else {
            match self.segments.iter().position(|s| index < s.next_index()) {
                Some(k) if index == self.segments[k].first_index => k,
                Some(k) => k + 1,
                None => return Ok(()),
            }
        };
        self.active = None;
        let doomed: Vec<Segment> = self.segments.drain(delete_from..).collect();
        for s in doomed.iter().rev() {
            fs::remove_file(&s.path).map_err(|e| StorageError::io("remove", &s.path, e))?;
        }
        if let Some(s) = self.segments.last_mut() {
            if s.first_index <= index && index < s.next_index() {
                let cut = s.entry_offsets[(index - s.first_index) as usize];
                let f = OpenOptions::new()
                    .write(true)
                    .open(&s.path)
                    .map_err(|e| StorageError::io("open", &s.path, e))?;
                f.set_len(cut)
                    .map_err(|e| StorageError::io("truncate", &s.path, e))?;
                f.sync_all()
                    .map_err(|e| StorageError::io("fsync", &s.path, e))?;
                s.len = cut;
                s.entry_offsets.truncate((index - s.first_index) as usize);
            }
        }
        if !doomed.is_empty() {
            fsync_dir(&self.wal_dir)?;
        }
        self.reopen_last()?;
        self.dirty = false;
        self.next_index = Some(index);
        Ok(())
    }

    fn purge(&mut self, log_id: LogId<NodeId>) -> Result<()> {
        let mut payload = Vec::with_capacity(32);
        codec::encode_log_id(&log_id, &mut payload);
        write_small_file(&self.wal_dir.join("purged"), PURGED_MAGIC, &payload)?;
        let mut removed = false;
        while self
            .segments
            .first()
            .is_some_and(|s| s.fully_purged(log_id.index))
        {
            let s = self.segments.remove(0);
            if self.segments.is_empty() {
                self.active = None;
                self.dirty = false;
            }
            fs::remove_file(&s.path).map_err(|e| StorageError::io("remove", &s.path, e))?;
            removed = true;
        }
        if removed {
            fsync_dir(&self.wal_dir)?;
        }
        self.next_index = Some(
            self.next_index
                .map_or(log_id.index + 1, |n| n.max(log_id.index + 1)),
        );
        Ok(())
    }

    fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<()> {
        let mut payload = Vec::with_capacity(24);
        codec::encode_vote(vote, &mut payload);
        write_small_file(&self.vote_path, VOTE_MAGIC, &payload)
    }

    /// Runs a synchronous operation after flushing the queued appends, reporting to `done`.
    fn barrier_op(&mut self, done: Option<Done>, op: impl FnOnce(&mut Self) -> Result<()>) {
        if !self.flush(false) {
            if let Some(d) = done {
                let _ = d.send(Err(self.failed.clone().unwrap_or_default()));
            }
            return;
        }
        let r = match op(self) {
            Ok(()) => Ok(()),
            Err(e) => Err(self.fail(e)),
        };
        if let Some(d) = done {
            let _ = d.send(r);
        }
    }

    fn process(&mut self, op: Op) {
        match op {
            Op::Append {
                frames,
                offsets,
                first_index,
                done,
            } => self.append(frames, offsets, first_index, done),
            Op::Committed { frame } => self.committed(frame),
            Op::Barrier { done } => match &self.failed {
                Some(msg) => done.complete(Err(msg)),
                None => self.pending.push(done),
            },
            Op::Truncate { index, done } => self.barrier_op(Some(done), |w| w.truncate(index)),
            Op::Purge { log_id, done } => self.barrier_op(done, |w| w.purge(log_id)),
            Op::SaveVote { vote, done } => self.barrier_op(Some(done), |w| w.save_vote(&vote)),
            Op::Sync { done } => {
                let ok = self.flush(true);
                let _ = done.send(if ok {
                    Ok(())
                } else {
                    Err(self.failed.clone().unwrap_or_default())
                });
            }
        }
    }

    fn run(mut self, rx: Receiver<Op>) {
        let mut batch = Vec::new();
        loop {
            let first = if self.dirty && self.opts.fsync == FsyncPolicy::Everysec {
                let wait = Duration::from_secs(1).saturating_sub(self.last_sync.elapsed());
                match rx.recv_timeout(wait) {
                    Ok(op) => Some(op),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            } else {
                match rx.recv() {
                    Ok(op) => Some(op),
                    Err(_) => break,
                }
            };
            if let Some(op) = first {
                batch.push(op);
                while batch.len() < MAX_BATCH_OPS {
                    match rx.try_recv() {
                        Ok(op) => batch.push(op),
                        Err(_) => break,
                    }
                }
                self.stats.batches.fetch_add(1, Ordering::Relaxed);
                for op in batch.drain(..) {
                    self.process(op);
                }
                self.flush_after_batch();
            }
            if self.dirty
                && self.opts.fsync == FsyncPolicy::Everysec
                && self.last_sync.elapsed() >= Duration::from_secs(1)
                && self.failed.is_none()
            {
                self.sync_active();
            }
        }
        // Channel closed: the store was dropped. Write what is queued; sync unless policy `no`.
        let sync = self.opts.fsync != FsyncPolicy::No;
        self.flush(sync);
    }
}

/// The sending side of the writer thread. Dropping it closes the channel and joins the thread,
/// so the data directory lock is released and every queued write is on disk when drop returns.
pub(crate) struct WalHandle {
    tx: Option<Sender<Op>>,
    thread: Option<JoinHandle<()>>,
    stopping: Arc<AtomicBool>,
    pub stats: Arc<WalStats>,
}

impl WalHandle {
    /// Starts the writer over the recovered segments.
    pub(crate) fn start(
        dir: &Path,
        opts: WalOptions,
        rec: &mut Recovered,
        lock: Option<File>,
    ) -> Result<Self> {
        let stats = Arc::new(WalStats::default());
        let stopping = Arc::new(AtomicBool::new(false));
        let mut w = Writer {
            wal_dir: dir.join("wal"),
            vote_path: dir.join("vote"),
            opts,
            segments: std::mem::take(&mut rec.segments),
            active: None,
            next_index: rec.next_index,
            buf: Vec::new(),
            pending: Vec::new(),
            dirty: false,
            last_sync: Instant::now(),
            failed: None,
            stopping: stopping.clone(),
            stats: stats.clone(),
            _lock: lock,
        };
        w.reopen_last()?;
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("sdr-wal-writer".into())
            .spawn(move || w.run(rx))
            .map_err(|e| StorageError::io("spawn WAL writer thread for", dir, e))?;
        Ok(WalHandle {
            tx: Some(tx),
            thread: Some(thread),
            stopping,
            stats,
        })
    }

    /// Queues `op`; fails only if the writer thread is gone.
    pub(crate) fn send(&self, op: Op) -> Result<()> {
        match &self.tx {
            Some(tx) => tx
                .send(op)
                .map_err(|_| StorageError::WriterFailed("writer thread has exited".into())),
            None => Err(StorageError::WriterFailed("WAL is closed".into())),
        }
    }
}

impl Drop for WalHandle {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::Relaxed);
        self.tx = None;
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("WAL writer thread panicked");
            }
        }
    }
}

/// Awaits a writer reply.
pub(crate) async fn wait(rx: oneshot::Receiver<std::result::Result<(), String>>) -> Result<()> {
    match rx.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(msg)) => Err(StorageError::WriterFailed(msg)),
        Err(_) => Err(StorageError::WriterFailed(
            "writer thread dropped the request".into(),
        )),
    }
}
