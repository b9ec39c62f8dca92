//! Fuzzes WAL recovery: arbitrary bytes as one to three consecutive segment files, each
//! checked with `storage::wal::recovery::scan_segment` (the in-memory core of `recover`,
//! which reads each file and calls it), chained the way `recover` chains them.
//!
//! Input: `flags u8 | first u8 | (len u16le | segment bytes)* | last segment bytes`.
//! - `flags & 3` + 1 segments; `flags & 4`: rewrite the header and frame checksums first,
//!   so the scanner gets past them into the records; `flags & 8`: take each segment's index
//!   (its "file name") from its own header bytes instead of the previous segment's end.
//! - `first`: index of the first segment (0..=3, or near `u64::MAX` when >= 250).
//!
//! Asserts: never a panic; on success, a clean prefix of valid records: consecutive entry
//! indexes from the segment's first index, frame offsets increasing and inside the valid
//! prefix, the valid prefix is the whole file unless a torn tail was cut (last segment only),
//! and rescanning just the valid prefix gives the same entries and no torn tail; on failure,
//! an error whose offset lies inside the file and whose reason is not empty.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sdr_node::storage::wal::recovery::scan_segment;
use sdr_node::storage::wal::{FRAME_HEADER_LEN, SEGMENT_HEADER_LEN};

/// Rewrites the header CRC and every frame CRC it can reach.
fn fix_checksums(seg: &mut [u8]) {
    if seg.len() < SEGMENT_HEADER_LEN {
        return;
    }
    let crc = crc32c::crc32c(&seg[..16]);
    seg[16..20].copy_from_slice(&crc.to_le_bytes());
    let mut off = SEGMENT_HEADER_LEN;
    while seg.len() - off >= FRAME_HEADER_LEN {
        let len = u32::from_le_bytes([seg[off], seg[off + 1], seg[off + 2], seg[off + 3]]) as usize;
        if len == 0 || len > seg.len() - off - FRAME_HEADER_LEN {
            break;
        }
        let p = off + FRAME_HEADER_LEN;
        let crc = crc32c::crc32c(&seg[p..p + len]);
        seg[off + 4..off + 8].copy_from_slice(&crc.to_le_bytes());
        off = p + len;
    }
}

fn header_index(seg: &[u8]) -> Option<u64> {
    let b: [u8; 8] = seg.get(8..16)?.try_into().ok()?;
    Some(u64::from_le_bytes(b))
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 2 {
        return;
    }
    let flags = input[0];
    let first = match input[1] {
        b @ 0..=249 => u64::from(b % 4),
        b => u64::MAX - u64::from(b - 250),
    };
    let nseg = usize::from(flags & 3) + 1;
    let mut rest = &input[2..];
    let mut segs: Vec<Vec<u8>> = Vec::new();
    for i in 0..nseg {
        if i + 1 == nseg {
            segs.push(rest.to_vec());
            break;
        }
        if rest.len() < 2 {
            segs.push(rest.to_vec());
            break;
        }
        let n = usize::from(u16::from_le_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        segs.push(rest[2..2 + n].to_vec());
        rest = &rest[2 + n..];
    }
    if flags & 4 != 0 {
        segs.iter_mut().for_each(|s| fix_checksums(s));
    }

    let mut prev_next: Option<u64> = None;
    let n = segs.len();
    for (i, seg) in segs.iter().enumerate() {
        let is_last = i + 1 == n;
        let index = if flags & 8 != 0 {
            header_index(seg).unwrap_or(first)
        } else {
            prev_next.unwrap_or(first)
        };
        match scan_segment(seg, index, is_last, prev_next) {
            Ok(scan) => {
                if scan.torn_header {
                    assert!(is_last && seg.len() < SEGMENT_HEADER_LEN);
                    assert!(scan.entries.is_empty() && scan.valid_len == 0);
                    return;
                }
                let valid = scan.valid_len as usize;
                assert!(valid >= SEGMENT_HEADER_LEN && valid <= seg.len());
                assert_eq!(scan.entries.len(), scan.entry_offsets.len());
                if scan.torn.is_none() {
                    assert_eq!(valid, seg.len(), "untorn segment not read to its end");
                } else {
                    assert!(
                        is_last,
                        "torn tail accepted in a segment that is not the last"
                    );
                    assert!(valid < seg.len());
                }
                for (k, e) in scan.entries.iter().enumerate() {
                    assert_eq!(
                        e.log_id.index,
                        index + k as u64,
                        "entry indexes not consecutive"
                    );
                }
                assert!(scan.entry_offsets.windows(2).all(|w| w[0] < w[1]));
                assert!(scan.entry_offsets.iter().all(|&o| (o as usize) < valid));
                // The valid prefix alone is a clean segment with the same records.
                let again = scan_segment(&seg[..valid], index, false, prev_next)
                    .expect("the valid prefix must scan cleanly");
                assert!(again.torn.is_none());
                assert_eq!(again.valid_len, scan.valid_len);
                assert_eq!(again.entries, scan.entries);
                assert_eq!(again.entry_offsets, scan.entry_offsets);
                assert_eq!(again.committed, scan.committed);
                prev_next = Some(index + scan.entries.len() as u64);
            }
            Err(e) => {
                assert!(
                    e.offset as usize <= seg.len(),
                    "error offset outside the file"
                );
                assert!(!e.reason.is_empty());
                return;
            }
        }
    }
});
