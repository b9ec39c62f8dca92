//! The bytes of the WAL: segment names and headers, record frames (`len | crc32c | payload`),
//! record payloads, and the frame scanner used by recovery.

use std::path::PathBuf;

use openraft::{Entry, LogId};

use crate::raft::types::{NodeId, TypeConfig};
use crate::storage::codec::{self, CodecError};
use crate::storage::error::{Result, StorageError};

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
pub(super) const MAX_BATCH_OPS: usize = 16 * 1024;

/// `00000000000000000042.wal`.
pub fn segment_file_name(first_index: u64) -> String {
    format!("{first_index:020}.wal")
}

pub(super) fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".wal")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The header of a segment whose first entry is `first_index` (public for the fuzz seed
/// generator, `fuzz/examples/gen_seeds.rs`).
pub fn segment_header(first_index: u64) -> [u8; SEGMENT_HEADER_LEN] {
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    h[..6].copy_from_slice(SEGMENT_MAGIC);
    h[6] = SEGMENT_VERSION;
    h[7] = 0;
    h[8..16].copy_from_slice(&first_index.to_le_bytes());
    let crc = crc32c::crc32c(&h[..16]);
    h[16..20].copy_from_slice(&crc.to_le_bytes());
    h
}

pub(super) fn check_segment_header(h: &[u8], name_index: u64) -> std::result::Result<(), String> {
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
pub(super) fn put_frame(
    out: &mut Vec<u8>,
    rtype: u8,
    body: impl FnOnce(&mut Vec<u8>),
) -> Result<usize> {
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
pub(super) enum Record {
    Entry(Entry<TypeConfig>),
    Committed(Option<LogId<NodeId>>),
}

pub(super) fn decode_record(payload: &[u8]) -> std::result::Result<Record, CodecError> {
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
pub(super) fn parse_frame(data: &[u8], off: usize) -> std::result::Result<(&[u8], usize), String> {
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

/// Most payload bytes [`find_valid_frame`] checksums while looking past a bad frame (256 MiB,
/// a fraction of a second with hardware CRC32C). Without a bound, a crafted multi-MB value in
/// a torn tail (a plausible length field at every byte offset) costs a CRC of megabytes at
/// each of millions of offsets: hours of boot.
pub(super) const TAIL_SCAN_BUDGET: u64 = 256 * 1024 * 1024;

/// The largest payload a committed-marker record can have (type byte + an optional log id).
const MAX_COMMITTED_PAYLOAD: usize = 64;

/// What [`find_valid_frame`] found after a bad frame.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum TailScan {
    /// A complete, checksum-valid, decodable frame starts at this offset.
    Valid(usize),
    /// No valid frame starts at any later offset.
    Nothing,
    /// The checksum budget ran out; offsets from this one on were not examined.
    Bounded(usize),
}

/// Looks for a complete, checksum-valid, decodable frame after the bad frame at `bad`. Used to
/// tell a torn tail (nothing valid after the damage) from mid-log corruption. First the offset
/// right after the bad frame, if its length field is plausible (a flipped payload bit leaves
/// it intact), then every later byte offset, with cheap checks (length, record type) before
/// the checksum and at most [`TAIL_SCAN_BUDGET`] payload bytes checksummed in all.
pub(super) fn find_valid_frame(data: &[u8], bad: usize, budget: u64) -> TailScan {
    let valid =
        |pos: usize| matches!(parse_frame(data, pos), Ok((p, _)) if decode_record(p).is_ok());
    let mut spent: u64 = 0;
    if data.len() - bad >= FRAME_HEADER_LEN {
        let len = frame_len_at(data, bad);
        let next = bad + FRAME_HEADER_LEN + len;
        if len > 0 && next < data.len() {
            spent += len as u64;
            if valid(next) {
                return TailScan::Valid(next);
            }
        }
    }
    for pos in bad + 1..data.len() {
        let rem = data.len() - pos;
        if rem < FRAME_HEADER_LEN + 1 {
            break;
        }
        let len = frame_len_at(data, pos);
        if len == 0 || len > rem - FRAME_HEADER_LEN {
            continue;
        }
        match data[pos + FRAME_HEADER_LEN] {
            RECORD_ENTRY => {}
            RECORD_COMMITTED if len <= MAX_COMMITTED_PAYLOAD => {}
            _ => continue,
        }
        spent += len as u64;
        if spent > budget {
            return TailScan::Bounded(pos);
        }
        if valid(pos) {
            return TailScan::Valid(pos);
        }
    }
    TailScan::Nothing
}

fn frame_len_at(data: &[u8], off: usize) -> usize {
    u32::from_le_bytes([data[off], data[off + 1], data[off + 2], data[off + 3]]) as usize
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
    pub(super) fn next_index(&self) -> u64 {
        self.first_index + self.entry_offsets.len() as u64
    }

    /// Whether every entry this segment holds (or would hold next) is covered by `purged`.
    pub(super) fn fully_purged(&self, purged: u64) -> bool {
        if self.entry_offsets.is_empty() {
            self.first_index <= purged
        } else {
            self.next_index() <= purged + 1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn committed_frame() -> Vec<u8> {
        encode_committed_frame(&None).unwrap()
    }

    #[test]
    fn frame_after_a_bad_payload_is_found_directly() {
        let mut data = committed_frame();
        data.extend(committed_frame());
        data[FRAME_HEADER_LEN + 1] ^= 0x40; // payload bit flip; the length field is intact
        let next = committed_frame().len();
        assert_eq!(find_valid_frame(&data, 0, 0), TailScan::Valid(next));
    }

    #[test]
    fn crafted_tail_is_scanned_within_the_budget() {
        // A torn frame whose tail is 4 MiB of `01 00 10 00`: every fourth offset announces a
        // ~1 MiB entry record. Unbounded, that is ~10^12 checksummed bytes.
        let mut data = vec![0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0];
        for _ in 0..(1 << 20) {
            data.extend_from_slice(&[0x01, 0x00, 0x10, 0x00]);
        }
        let t = std::time::Instant::now();
        let r = find_valid_frame(&data, 0, TAIL_SCAN_BUDGET);
        assert!(matches!(r, TailScan::Bounded(_)), "{r:?}");
        assert!(
            t.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            t.elapsed()
        );
        // A clean torn tail (zeros) is scanned to the end.
        let zeros = vec![0u8; 1 << 20];
        assert_eq!(
            find_valid_frame(&zeros, 0, TAIL_SCAN_BUDGET),
            TailScan::Nothing
        );
    }
}
