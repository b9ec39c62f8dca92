//! Crash recovery: reads the segments, the purged-id and vote files back into the durable
//! state ([`Recovered`]), cutting a torn tail and refusing real corruption.

use std::collections::VecDeque;
use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};

use openraft::{Entry, LogId, Vote};

use super::format::*;
use crate::raft::types::{NodeId, TypeConfig};
use crate::storage::codec::{self};
use crate::storage::error::{Result, StorageError};
use crate::storage::fsutil::{fsync_dir, read_small_file};

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
pub(super) fn read_purged(path: &Path) -> Result<Option<LogId<NodeId>>> {
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

    let names = list_segments(&wal_dir)?;
    let mut segments: Vec<Segment> = Vec::with_capacity(names.len());
    let mut entries = VecDeque::new();
    let mut committed = None;
    let n = names.len();
    for (i, (first_index, path)) in names.into_iter().enumerate() {
        let is_last = i + 1 == n;
        if let Some(seg) = read_segment(
            &wal_dir,
            first_index,
            path,
            is_last,
            segments.last(),
            last_purged,
            &mut entries,
            &mut committed,
        )? {
            segments.push(seg);
        }
    }
    finish_purge(&wal_dir, &mut segments, last_purged)?;

    let next_index = match (segments.last(), last_purged) {
        (Some(s), Some(p)) => Some(s.next_index().max(p.index + 1)),
        (Some(s), None) => Some(s.next_index()),
        (None, Some(p)) => Some(p.index + 1),
        (None, None) => None,
    };

    let committed = check_committed(committed, &entries, last_purged);

    Ok(Recovered {
        entries,
        last_purged,
        committed,
        vote,
        segments,
        next_index,
    })
}

/// The segment files of `wal_dir`, sorted by first index; leftover temporary files are
/// removed, unknown files ignored (with a warning).
fn list_segments(wal_dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut names = Vec::new();
    let rd = fs::read_dir(wal_dir).map_err(|e| StorageError::io("list", wal_dir, e))?;
    for ent in rd {
        let ent = ent.map_err(|e| StorageError::io("list", wal_dir, e))?;
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

    Ok(names)
}

/// Reads and checks one segment: header, index continuity with `prev`, every frame. Entries
/// above the purged index go to `entries`, the last committed marker to `committed`. A torn
/// tail of the last segment is cut off (with a warning); a segment that is only a torn header
/// is removed (`Ok(None)`); any other damage is an error naming the file and offset.
#[allow(clippy::too_many_arguments)]
fn read_segment(
    wal_dir: &Path,
    first_index: u64,
    path: PathBuf,
    is_last: bool,
    prev: Option<&Segment>,
    last_purged: Option<LogId<NodeId>>,
    entries: &mut VecDeque<Entry<TypeConfig>>,
    committed: &mut Option<LogId<NodeId>>,
) -> Result<Option<Segment>> {
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
            fsync_dir(wal_dir)?;
            return Ok(None);
        }
        return Err(corrupt(
            0,
            format!("segment is {} bytes, shorter than its header", data.len()),
        ));
    }
    check_segment_header(&data[..SEGMENT_HEADER_LEN], first_index).map_err(|r| corrupt(0, r))?;
    if let Some(prev) = prev {
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
                                format!("expected entry index {next}, found {}", e.log_id.index),
                            ));
                        }
                        offsets.push(off as u64);
                        next += 1;
                        if last_purged.is_none_or(|p| e.log_id.index > p.index) {
                            entries.push_back(e);
                        }
                    }
                    Ok(Record::Committed(c)) => *committed = c,
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
                match find_valid_frame(&data, off, TAIL_SCAN_BUDGET) {
                    TailScan::Valid(later) => {
                        return Err(corrupt(
                            off as u64,
                            format!("{reason}; a valid record follows at byte {later}"),
                        ))
                    }
                    TailScan::Nothing => {}
                    TailScan::Bounded(stopped) => tracing::warn!(
                        file = %path.display(),
                        offset = off,
                        stopped_at = stopped,
                        budget_bytes = TAIL_SCAN_BUDGET,
                        "torn-tail scan bounded: the checksum budget ran out before the end of the segment; treating the rest as torn"
                    ),
                }
                tracing::warn!(
                    file = %path.display(),
                    offset = off,
                    dropped_bytes = data.len() - off,
                    %reason,
                    "truncating torn WAL tail"
                );
                truncate_at(&path, off as u64)?;
                break;
            }
        }
    }
    Ok(Some(Segment {
        first_index,
        path,
        len: off as u64,
        entry_offsets: offsets,
    }))
}

/// Cuts `path` to `len` bytes, durably.
fn truncate_at(path: &Path, len: u64) -> Result<()> {
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| StorageError::io("open", path, e))?;
    f.set_len(len)
        .map_err(|e| StorageError::io("truncate", path, e))?;
    f.sync_all().map_err(|e| StorageError::io("fsync", path, e))
}

/// Finishes an interrupted purge (deletes segments wholly at or below the purged index) and
/// checks that the log starts right after the purged index (or at 1).
fn finish_purge(
    wal_dir: &Path,
    segments: &mut Vec<Segment>,
    last_purged: Option<LogId<NodeId>>,
) -> Result<()> {
    if let Some(p) = last_purged {
        let mut removed = false;
        while segments.first().is_some_and(|s| s.fully_purged(p.index)) {
            let s = segments.remove(0);
            fs::remove_file(&s.path).map_err(|e| StorageError::io("remove", &s.path, e))?;
            removed = true;
        }
        if removed {
            fsync_dir(wal_dir)?;
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
    Ok(())
}

/// The committed marker is advisory: one that points past (or disagrees with) the recovered
/// log is dropped.
fn check_committed(
    committed: Option<LogId<NodeId>>,
    entries: &VecDeque<Entry<TypeConfig>>,
    last_purged: Option<LogId<NodeId>>,
) -> Option<LogId<NodeId>> {
    let c = committed?;
    let last = entries.back().map(|e| e.log_id).or(last_purged);
    let ok = match last {
        Some(l) if c.index <= l.index => entries
            .iter()
            .find(|e| e.log_id.index == c.index)
            .is_none_or(|e| e.log_id == c),
        _ => false,
    };
    if ok {
        Some(c)
    } else {
        tracing::warn!(committed = %c, "ignoring committed marker that does not match the recovered log");
        None
    }
}
