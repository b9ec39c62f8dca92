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

/// Why [`scan_segment`] refused a segment: the byte offset of the damage and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanError {
    pub offset: u64,
    pub reason: String,
}

/// What [`scan_segment`] found in the bytes of one segment.
#[derive(Debug)]
pub struct SegmentScan {
    /// Every entry of the segment, in order (indexes `first_index..`), purged ones included.
    pub entries: Vec<Entry<TypeConfig>>,
    /// Byte offset of each entry's frame.
    pub entry_offsets: Vec<u64>,
    /// The last committed marker in the segment, if it holds one.
    pub committed: Option<Option<LogId<NodeId>>>,
    /// Length of the valid prefix (header and whole, checksum-valid frames); the file is cut
    /// there when `torn` is set.
    pub valid_len: u64,
    /// Why the bytes after `valid_len` were treated as a torn tail (last segment only).
    pub torn: Option<String>,
    /// The torn tail scan ran out of budget ([`TAIL_SCAN_BUDGET`]) at this offset.
    pub scan_bounded_at: Option<usize>,
    /// The segment is shorter than its header and all zeros: a torn segment creation, to be
    /// removed (`valid_len` is 0, nothing else is set).
    pub torn_header: bool,
}

/// Checks one segment's bytes, in memory, by the rules of `docs/storage-format.md`: the
/// header (magic, checksum, version, first index = `first_index`, the index the file name
/// gives), continuity with the previous segment (`prev_next`: one past its last entry), then
/// every frame. A damaged frame in the last segment (`is_last`) with no valid record after it
/// is a torn tail (`torn`); any other damage is a [`ScanError`] with its offset. Never
/// panics, and allocates only for what the bytes hold (every length is checked against the
/// bytes left first). [`recover`] reads each file and calls this; it is public so the fuzz
/// target can drive it without a file system.
pub fn scan_segment(
    data: &[u8],
    first_index: u64,
    is_last: bool,
    prev_next: Option<u64>,
) -> std::result::Result<SegmentScan, ScanError> {
    let corrupt = |offset: u64, reason: String| ScanError { offset, reason };
    let mut scan = SegmentScan {
        entries: Vec::new(),
        entry_offsets: Vec::new(),
        committed: None,
        valid_len: 0,
        torn: None,
        scan_bounded_at: None,
        torn_header: false,
    };
    if data.len() < SEGMENT_HEADER_LEN {
        if is_last && data.iter().all(|&b| b == 0) {
            scan.torn_header = true;
            return Ok(scan);
        }
        return Err(corrupt(
            0,
            format!("segment is {} bytes, shorter than its header", data.len()),
        ));
    }
    check_segment_header(&data[..SEGMENT_HEADER_LEN], first_index).map_err(|r| corrupt(0, r))?;
    if let Some(prev_next) = prev_next {
        if first_index != prev_next {
            return Err(corrupt(
                0,
                format!(
                    "gap: segment starts at index {first_index} but the previous segment ends before {prev_next}"
                ),
            ));
        }
    }

    let mut off = SEGMENT_HEADER_LEN;
    let mut next = first_index;
    while off < data.len() {
        match parse_frame(data, off) {
            Ok((payload, frame_len)) => {
                match decode_record(payload) {
                    Ok(Record::Entry(e)) => {
                        if e.log_id.index != next {
                            return Err(corrupt(
                                off as u64,
                                format!("expected entry index {next}, found {}", e.log_id.index),
                            ));
                        }
                        scan.entry_offsets.push(off as u64);
                        next = next.checked_add(1).ok_or_else(|| {
                            corrupt(off as u64, "entry index overflows u64".into())
                        })?;
                        scan.entries.push(e);
                    }
                    Ok(Record::Committed(c)) => scan.committed = Some(c),
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
                match find_valid_frame(data, off, TAIL_SCAN_BUDGET) {
                    TailScan::Valid(later) => {
                        return Err(corrupt(
                            off as u64,
                            format!("{reason}; a valid record follows at byte {later}"),
                        ))
                    }
                    TailScan::Nothing => {}
                    TailScan::Bounded(stopped) => scan.scan_bounded_at = Some(stopped),
                }
                scan.torn = Some(reason);
                break;
            }
        }
    }
    scan.valid_len = off as u64;
    Ok(scan)
}

/// Reads and checks one segment ([`scan_segment`]). Entries above the purged index go to
/// `entries`, the last committed marker to `committed`. A torn tail of the last segment is
/// cut off (with a warning); a segment that is only a torn header is removed (`Ok(None)`);
/// any other damage is an error naming the file and offset.
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
    let data = fs::read(&path).map_err(|e| StorageError::io("read", &path, e))?;
    let scan =
        scan_segment(&data, first_index, is_last, prev.map(Segment::next_index)).map_err(|e| {
            StorageError::Corrupt {
                path: path.clone(),
                offset: e.offset,
                reason: e.reason,
            }
        })?;
    if scan.torn_header {
        tracing::warn!(file = %path.display(), len = data.len(), "removing WAL segment with torn header");
        fs::remove_file(&path).map_err(|e| StorageError::io("remove", &path, e))?;
        fsync_dir(wal_dir)?;
        return Ok(None);
    }
    entries.extend(
        scan.entries
            .into_iter()
            .filter(|e| last_purged.is_none_or(|p| e.log_id.index > p.index)),
    );
    if let Some(c) = scan.committed {
        *committed = c;
    }
    if let Some(reason) = scan.torn {
        if let Some(stopped) = scan.scan_bounded_at {
            tracing::warn!(
                file = %path.display(),
                offset = scan.valid_len,
                stopped_at = stopped,
                budget_bytes = TAIL_SCAN_BUDGET,
                "torn-tail scan bounded: the checksum budget ran out before the end of the segment; treating the rest as torn"
            );
        }
        tracing::warn!(
            file = %path.display(),
            offset = scan.valid_len,
            dropped_bytes = data.len() as u64 - scan.valid_len,
            %reason,
            "truncating torn WAL tail"
        );
        truncate_at(&path, scan.valid_len)?;
    }
    Ok(Some(Segment {
        first_index,
        path,
        len: scan.valid_len,
        entry_offsets: scan.entry_offsets,
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

#[cfg(test)]
mod tests {
    use openraft::{CommittedLeaderId, EntryPayload};

    use super::*;

    fn blank(index: u64) -> Entry<TypeConfig> {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Blank,
        }
    }

    fn segment(first: u64, n: u64) -> Vec<u8> {
        let entries: Vec<_> = (first..first + n).map(blank).collect();
        let mut data = segment_header(first).to_vec();
        data.extend(encode_entry_frames(&entries).unwrap().0);
        data
    }

    #[test]
    fn scan_segment_reads_a_clean_segment_and_cuts_a_torn_tail() {
        let data = segment(1, 3);
        let s = scan_segment(&data, 1, false, None).unwrap();
        assert_eq!(s.entries, vec![blank(1), blank(2), blank(3)]);
        assert_eq!(s.valid_len, data.len() as u64);
        assert!(s.torn.is_none());
        // Torn in the last entry: the prefix of two entries is kept, in the last segment only.
        let cut = &data[..data.len() - 2];
        let s = scan_segment(cut, 1, true, None).unwrap();
        assert_eq!(s.entries.len(), 2);
        assert_eq!(
            s.valid_len,
            s.entry_offsets[1] + (s.entry_offsets[1] - s.entry_offsets[0])
        );
        assert!(s.torn.is_some());
        let e = scan_segment(cut, 1, false, None).unwrap_err();
        assert!(e.reason.contains("not the last segment"), "{e:?}");
        // Continuity with the previous segment and the name's index are checked.
        assert!(scan_segment(&data, 1, true, Some(4))
            .unwrap_err()
            .reason
            .contains("gap"));
        assert!(scan_segment(&data, 2, true, None).is_err());
        // A torn header (all zeros, last segment) is a segment to remove.
        assert!(scan_segment(&[0; 7], 1, true, None).unwrap().torn_header);
        assert!(scan_segment(&[0; 7], 1, false, None).is_err());
    }

    /// Found while writing the `wal_recovery` fuzz target: an entry at index `u64::MAX`
    /// overflowed the next-index counter (a panic with overflow checks, a wrap to 0 without).
    #[test]
    fn entry_index_overflow_is_an_error() {
        let mut data = segment_header(u64::MAX).to_vec();
        data.extend(encode_entry_frames(&[blank(u64::MAX)]).unwrap().0);
        let e = scan_segment(&data, u64::MAX, true, None).unwrap_err();
        assert_eq!(e.offset, SEGMENT_HEADER_LEN as u64);
        assert!(e.reason.contains("overflows"), "{e:?}");
    }

    /// `recover` (files) and `scan_segment` (bytes) agree, and the torn tail is cut on disk.
    #[test]
    fn recover_uses_scan_segment() {
        let dir = tempfile::tempdir().unwrap();
        let wal = dir.path().join("wal");
        fs::create_dir_all(&wal).unwrap();
        let mut data = segment(1, 3);
        data.extend_from_slice(&[7, 0, 0]);
        let path = wal.join(segment_file_name(1));
        fs::write(&path, &data).unwrap();
        let scan = scan_segment(&data, 1, true, None).unwrap();
        let r = recover(dir.path()).unwrap();
        assert_eq!(Vec::from(r.entries), scan.entries);
        assert_eq!(fs::metadata(&path).unwrap().len(), scan.valid_len);
        assert_eq!(r.next_index, Some(4));
    }
}
