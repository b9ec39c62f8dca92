//! The write-ahead log: segment files, record framing, crash recovery and the group-commit
//! writer thread.
//!
//! Layout (see `docs/storage-format.md` for the bytes):
//!
//! ```text
//! <dir>/wal/00000000000000000001.wal   segment; name = index of its first entry (20 digits)
//! <dir>/wal/00000000000000004711.wal
//! <dir>/wal/purged                     last purged log id (small checksummed file)
//! <dir>/vote                           the vote (small checksummed file)
//! ```
//!
//! A segment is `header | frame*`; a frame is `len u32 | crc32c(payload) u32 | payload`, and a
//! payload is `type u8 | body` (an entry, or a committed log id).
//!
//! **Truncation is physical**: `truncate(i)` cuts the segment holding entry `i` at that entry's
//! offset (`ftruncate` + fsync) and deletes later segments, so the files only ever contain the
//! current log. **Purge is logical then physical**: the purged log id is written to `wal/purged`
//! first (durably), then fully purged segments are deleted; entries at or below the purged index
//! that remain in a partially purged segment are skipped at recovery.
//!
//! All write I/O (appends, committed markers, truncate, purge, vote) goes through one writer
//! thread fed by a FIFO channel, which is what serializes it as openraft requires. The writer
//! drains everything queued, writes it with one `write(2)` per segment, fsyncs once (policy
//! `always`) and then completes every callback of the batch: that is group commit.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use openraft::storage::LogFlushed;
use openraft::{Entry, LogId, Vote};
use tokio::sync::oneshot;

use crate::raft::types::{NodeId, TypeConfig};
use crate::storage::codec::{self, CodecError};
use crate::storage::error::{Result, StorageError};
use crate::storage::fsutil::{fsync_dir, read_small_file, tmp_path, write_small_file};
use crate::storage::options::{FsyncPolicy, WalOptions};

/// Segment header magic.
pub const SEGMENT_MAGIC: &[u8; 6] = b"SDRWAL";
/// Segment format version.
pub const SEGMENT_VERSION: u8 = 1;
/// `magic[6] | version u8 | reserved u8 = 0 | first_index u64 | crc32c(bytes 0..16) u32`.
pub const SEGMENT_HEADER_LEN: usize = 20;
/// `len u32 | crc32c u32`.
pub const FRAME_HEADER_LEN: usize = 8;
/// Record type: a log entry (`codec::encode_entry`).
pub const RECORD_ENTRY: u8 = 1;
/// Record type: the committed log id (`codec::encode_opt_log_id`).
pub const RECORD_COMMITTED: u8 = 2;

/// Magic of the `wal/purged` file.
pub(crate) const PURGED_MAGIC: &[u8; 4] = b"SDRP";
/// Magic of the `vote` file.
pub(crate) const VOTE_MAGIC: &[u8; 4] = b"SDRV";

/// Most operations the writer takes in one batch (bounds the latency of the first one).
const MAX_BATCH_OPS: usize = 16 * 1024;

/// `00000000000000000042.wal`.
pub fn segment_file_name(first_index: u64) -> String {
    format!("{first_index:020}.wal")
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".wal")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn segment_header(first_index: u64) -> [u8; SEGMENT_HEADER_LEN] {
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    h[..6].copy_from_slice(SEGMENT_MAGIC);
    h[6] = SEGMENT_VERSION;
    h[7] = 0;
    h[8..16].copy_from_slice(&first_index.to_le_bytes());
    let crc = crc32c::crc32c(&h[..16]);
    h[16..20].copy_from_slice(&crc.to_le_bytes());
    h
}

fn check_segment_header(h: &[u8], name_index: u64) -> std::result::Result<(), String> {
    if &h[..6] != SEGMENT_MAGIC {
        return Err(format!("bad segment magic {:02x?}", &h[..6]));
    }
    let crc = u32::from_le_bytes([h[16], h[17], h[18], h[19]]);
    if crc != crc32c::crc32c(&h[..16]) {
        return Err("segment header checksum mismatch".into());
    }
    if h[6] != SEGMENT_VERSION {
        return Err(format!(
            "unsupported segment version {} (this build reads {SEGMENT_VERSION})",
            h[6]
        ));
    }
    let mut a = [0u8; 8];
    a.copy_from_slice(&h[8..16]);
    let first = u64::from_le_bytes(a);
    if first != name_index {
        return Err(format!(
            "header says first index {first}, file name says {name_index}"
        ));
    }
    Ok(())
}

/// Appends one frame (`len | crc | type | body`) to `out`, returning the frame's offset in
/// `out`. Fails only if the payload exceeds `u32::MAX` bytes.
fn put_frame(out: &mut Vec<u8>, rtype: u8, body: impl FnOnce(&mut Vec<u8>)) -> Result<usize> {
    let start = out.len();
    out.extend_from_slice(&[0u8; FRAME_HEADER_LEN]);
    out.push(rtype);
    body(out);
    let len = out.len() - start - FRAME_HEADER_LEN;
    let Ok(len32) = u32::try_from(len) else {
        out.truncate(start);
        return Err(StorageError::InvalidOperation(format!(
            "WAL record of {len} bytes exceeds the 4 GiB frame limit"
        )));
    };
    let crc = crc32c::crc32c(&out[start + FRAME_HEADER_LEN..]);
    out[start..start + 4].copy_from_slice(&len32.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    Ok(start)
}

/// Encodes `entries` as consecutive entry frames. Returns the bytes and each frame's offset.
pub(crate) fn encode_entry_frames(entries: &[Entry<TypeConfig>]) -> Result<(Vec<u8>, Vec<usize>)> {
    let mut buf = Vec::with_capacity(entries.len() * 64);
    let mut offsets = Vec::with_capacity(entries.len());
    for e in entries {
        offsets.push(put_frame(&mut buf, RECORD_ENTRY, |o| {
            codec::encode_entry(e, o)
        })?);
    }
    Ok((buf, offsets))
}

/// Encodes a committed-log-id frame.
pub(crate) fn encode_committed_frame(c: &Option<LogId<NodeId>>) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(40);
    put_frame(&mut buf, RECORD_COMMITTED, |o| {
        codec::encode_opt_log_id(c, o)
    })?;
    Ok(buf)
}

/// A decoded WAL record.
enum Record {
    Entry(Entry<TypeConfig>),
    Committed(Option<LogId<NodeId>>),
}

fn decode_record(payload: &[u8]) -> std::result::Result<Record, CodecError> {
    match payload.first() {
        Some(&RECORD_ENTRY) => Ok(Record::Entry(codec::decode_entry(&payload[1..])?)),
        Some(&RECORD_COMMITTED) => Ok(Record::Committed(codec::decode_opt_log_id(&payload[1..])?)),
        Some(&tag) => Err(CodecError::InvalidTag {
            what: "WAL record type",
            tag,
            offset: 0,
        }),
        None => Err(CodecError::Truncated {
            what: "WAL record type",
            offset: 0,
            needed: 1,
            remaining: 0,
        }),
    }
}

/// Parses the frame at `off`: `Ok((payload, frame_len))` or why it is not a frame.
fn parse_frame(data: &[u8], off: usize) -> std::result::Result<(&[u8], usize), String> {
    let rem = data.len() - off;
    if rem < FRAME_HEADER_LEN {
        return Err(format!("incomplete frame header ({rem} bytes left)"));
    }
    let len = u32::from_le_bytes([data[off], data[off + 1], data[off + 2], data[off + 3]]) as usize;
    let crc = u32::from_le_bytes([data[off + 4], data[off + 5], data[off + 6], data[off + 7]]);
    if len == 0 {
        return Err("zero-length frame".into());
    }
    if len > rem - FRAME_HEADER_LEN {
        return Err(format!(
            "frame length {len} exceeds the {} bytes left in the file",
            rem - FRAME_HEADER_LEN
        ));
    }
    let payload = &data[off + FRAME_HEADER_LEN..off + FRAME_HEADER_LEN + len];
    let actual = crc32c::crc32c(payload);
    if actual != crc {
        return Err(format!(
            "checksum mismatch (stored {crc:#010x}, computed {actual:#010x})"
        ));
    }
    Ok((payload, FRAME_HEADER_LEN + len))
}

/// The first offset `>= from` at which a complete, checksum-valid, decodable frame starts.
/// Used to tell a torn tail (nothing valid after the damage) from mid-log corruption.
fn find_valid_frame(data: &[u8], from: usize) -> Option<usize> {
    (from..data.len())
        .find(|&pos| matches!(parse_frame(data, pos), Ok((p, _)) if decode_record(p).is_ok()))
}

/// What the writer knows about one segment file.
#[derive(Debug)]
pub(crate) struct Segment {
    pub first_index: u64,
    pub path: PathBuf,
    /// Logical length in bytes, including bytes still buffered in the writer.
    pub len: u64,
    /// File offset of each entry frame; entry `first_index + i` is at `entry_offsets[i]`.
    pub entry_offsets: Vec<u64>,
}

impl Segment {
    /// One past the last entry index in this segment.
    fn next_index(&self) -> u64 {
        self.first_index + self.entry_offsets.len() as u64
    }

    /// Whether every entry this segment holds (or would hold next) is covered by `purged`.
    fn fully_purged(&self, purged: u64) -> bool {
        if self.entry_offsets.is_empty() {
            self.first_index <= purged
        } else {
            self.next_index() <= purged + 1
        }
    }
}

/// The durable state found by [`recover`].
pub(crate) struct Recovered {
    /// Entries above the purged index, in order.
    pub entries: VecDeque<Entry<TypeConfig>>,
    pub last_purged: Option<LogId<NodeId>>,
    pub committed: Option<LogId<NodeId>>,
    pub vote: Option<Vote<NodeId>>,
    pub segments: Vec<Segment>,
    /// Index the next appended entry must have; `None` for a log that never held anything.
    pub next_index: Option<u64>,
}

/// Reads the purged-log-id file.
fn read_purged(path: &Path) -> Result<Option<LogId<NodeId>>> {
    match read_small_file(path, PURGED_MAGIC)? {
        None => Ok(None),
        Some(p) => codec::decode_log_id(&p)
            .map(Some)
            .map_err(|e| StorageError::Corrupt {
                path: path.to_path_buf(),
                offset: 8,
                reason: e.to_string(),
            }),
    }
}

/// Reads the vote file.
pub(crate) fn read_vote(path: &Path) -> Result<Option<Vote<NodeId>>> {
    match read_small_file(path, VOTE_MAGIC)? {
        None => Ok(None),
        Some(p) => codec::decode_vote(&p)
            .map(Some)
            .map_err(|e| StorageError::Corrupt {
                path: path.to_path_buf(),
                offset: 8,
                reason: e.to_string(),
            }),
    }
}

/// Scans the WAL directory and rebuilds the log. Repairs a torn tail of the last segment
/// (truncating it, with a warning); fails on any other damage, naming the file and offset.
pub(crate) fn recover(dir: &Path) -> Result<Recovered> {
    let wal_dir = dir.join("wal");
    fs::create_dir_all(&wal_dir).map_err(|e| StorageError::io("create directory", &wal_dir, e))?;
    let last_purged = read_purged(&wal_dir.join("purged"))?;
    let vote = read_vote(&dir.join("vote"))?;

    let mut names = Vec::new();
    let rd = fs::read_dir(&wal_dir).map_err(|e| StorageError::io("list", &wal_dir, e))?;
    for ent in rd {
        let ent = ent.map_err(|e| StorageError::io("list", &wal_dir, e))?;
        let name = ent.file_name().to_string_lossy().into_owned();
        let path = ent.path();
        if name.ends_with(".tmp") {
            tracing::warn!(file = %path.display(), "removing leftover temporary file");
            fs::remove_file(&path).map_err(|e| StorageError::io("remove", &path, e))?;
        } else if let Some(idx) = parse_segment_name(&name) {
            names.push((idx, path));
        } else if name != "purged" {
            tracing::warn!(file = %path.display(), "ignoring unknown file in WAL directory");
        }
    }
    names.sort();

    let mut segments: Vec<Segment> = Vec::with_capacity(names.len());
    let mut entries = VecDeque::new();
    let mut committed = None;
    let n = names.len();
    for (i, (first_index, path)) in names.into_iter().enumerate() {
        let is_last = i + 1 == n;
        let corrupt = |offset: u64, reason: String| StorageError::Corrupt {
            path: path.clone(),
            offset,
            reason,
        };
        let data = fs::read(&path).map_err(|e| StorageError::io("read", &path, e))?;
        if data.len() < SEGMENT_HEADER_LEN {
            if is_last && data.iter().all(|&b| b == 0) {
                tracing::warn!(file = %path.display(), len = data.len(), "removing WAL segment with torn header");
                fs::remove_file(&path).map_err(|e| StorageError::io("remove", &path, e))?;
                fsync_dir(&wal_dir)?;
                continue;
            }
            return Err(corrupt(
                0,
                format!("segment is {} bytes, shorter than its header", data.len()),
            ));
        }
        check_segment_header(&data[..SEGMENT_HEADER_LEN], first_index)
            .map_err(|r| corrupt(0, r))?;
        if let Some(prev) = segments.last() {
            if first_index != prev.next_index() {
                return Err(corrupt(
                    0,
                    format!(
                        "gap: segment starts at index {first_index} but the previous segment ends before {}",
                        prev.next_index()
                    ),
                ));
            }
        }

        let mut off = SEGMENT_HEADER_LEN;
        let mut offsets = Vec::new();
        let mut next = first_index;
        while off < data.len() {
            match parse_frame(&data, off) {
                Ok((payload, frame_len)) => {
                    match decode_record(payload) {
                        Ok(Record::Entry(e)) => {
                            if e.log_id.index != next {
                                return Err(corrupt(
                                    off as u64,
                                    format!(
                                        "expected entry index {next}, found {}",
                                        e.log_id.index
                                    ),
                                ));
                            }
                            offsets.push(off as u64);
                            next += 1;
                            if last_purged.is_none_or(|p| e.log_id.index > p.index) {
                                entries.push_back(e);
                            }
                        }
                        Ok(Record::Committed(c)) => committed = c,
                        Err(e) => {
                            return Err(corrupt(
                                off as u64,
                                format!("record has a valid checksum but does not decode: {e}"),
                            ))
                        }
                    }
                    off += frame_len;
                }
                Err(reason) => {
                    if !is_last {
                        return Err(corrupt(
                            off as u64,
                            format!("{reason} (not the last segment)"),
                        ));
                    }
                    if let Some(later) = find_valid_frame(&data, off + 1) {
                        return Err(corrupt(
                            off as u64,
                            format!("{reason}; a valid record follows at byte {later}"),
                        ));
                    }
                    tracing::warn!(
                        file = %path.display(),
                        offset = off,
                        dropped_bytes = data.len() - off,
                        %reason,
                        "truncating torn WAL tail"
                    );
                    let f = OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .map_err(|e| StorageError::io("open", &path, e))?;
                    f.set_len(off as u64)
                        .map_err(|e| StorageError::io("truncate", &path, e))?;
                    f.sync_all()
                        .map_err(|e| StorageError::io("fsync", &path, e))?;
                    break;
                }
            }
        }
        segments.push(Segment {
            first_index,
            path,
            len: off as u64,
            entry_offsets: offsets,
        });
    }

    // Finish an interrupted purge: delete segments wholly at or below the purged index.
    if let Some(p) = last_purged {
        let mut removed = false;
        while segments.first().is_some_and(|s| s.fully_purged(p.index)) {
            let s = segments.remove(0);
            fs::remove_file(&s.path).map_err(|e| StorageError::io("remove", &s.path, e))?;
            removed = true;
        }
        if removed {
            fsync_dir(&wal_dir)?;
        }
        if let Some(s) = segments.first() {
            if s.first_index > p.index + 1 {
                return Err(StorageError::Corrupt {
                    path: s.path.clone(),
                    offset: 0,
                    reason: format!(
                        "gap: log purged up to index {} but this segment starts at {}",
                        p.index, s.first_index
                    ),
                });
            }
        }
    } else if let Some(s) = segments.first() {
        if s.first_index > 1 {
            return Err(StorageError::Corrupt {
                path: s.path.clone(),
                offset: 0,
                reason: format!(
                    "gap: nothing was purged but the log starts at index {}",
                    s.first_index
                ),
            });
        }
    }

    let next_index = match (segments.last(), last_purged) {
        (Some(s), Some(p)) => Some(s.next_index().max(p.index + 1)),
        (Some(s), None) => Some(s.next_index()),
        (None, Some(p)) => Some(p.index + 1),
        (None, None) => None,
    };

    // The committed marker is advisory; drop one that points past the log we have.
    if let Some(c) = committed {
        let last = entries.back().map(|e| e.log_id).or(last_purged);
        let ok = match last {
            Some(l) if c.index <= l.index => entries
                .iter()
                .find(|e| e.log_id.index == c.index)
                .is_none_or(|e| e.log_id == c),
            _ => false,
        };
        if !ok {
            tracing::warn!(committed = %c, "ignoring committed marker that does not match the recovered log");
            committed = None;
        }
    }

    Ok(Recovered {
        entries,
        last_purged,
        committed,
        vote,
        segments,
        next_index,
    })
}

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
    /// Set on the first I/O failure; every later operation fails with it.
    failed: Option<String>,
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
    fn roll(&mut self, first_index: u64) -> Result<()> {
        if self.active.is_some()
            && !(self.flush_keep_pending() && (!self.dirty || self.sync_active()))
        {
            return Err(StorageError::WriterFailed(
                self.failed.clone().unwrap_or_default(),
            ));
        }
        self.create_segment(first_index)
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
