//! Fuzzes the on-disk / on-wire decoders of `storage::codec` (log entries, log ids, votes,
//! memberships, snapshot metadata, requests) and the keyspace snapshot decoder
//! (`keyspace::codec::decode`).
//!
//! Input: `selector u8 | bytes`. The selector picks the decoder; for the keyspace snapshot,
//! an odd selector first rewrites the trailing CRC-32C so the decoder gets past the checksum
//! into the body.
//! Asserts: no panic and no oversized allocation (run under `-malloc_limit_mb`); whatever
//! decodes re-encodes to bytes that decode to the same value, and re-encoding is stable
//! (`encode(decode(encode(v))) == encode(v)`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sdr_node::keyspace::codec as kcodec;
use sdr_node::storage::codec;

/// Decode, and on success check the round trip through the matching encoder.
macro_rules! round_trip {
    ($data:expr, $decode:path, $encode:path) => {{
        if let Ok(v) = $decode($data) {
            let mut enc = Vec::new();
            $encode(&v, &mut enc);
            let back = $decode(&enc).expect("re-encoded value must decode");
            assert_eq!(back, v, "round trip changed the value");
            let mut enc2 = Vec::new();
            $encode(&back, &mut enc2);
            assert_eq!(enc2, enc, "re-encoding is not stable");
        }
    }};
}

fuzz_target!(|input: &[u8]| {
    let Some((&sel, data)) = input.split_first() else {
        return;
    };
    match sel % 10 {
        0 => round_trip!(data, codec::decode_entry, codec::encode_entry),
        1 => round_trip!(data, codec::decode_log_id, codec::encode_log_id),
        2 => round_trip!(data, codec::decode_opt_log_id, codec::encode_opt_log_id),
        3 => round_trip!(data, codec::decode_vote, codec::encode_vote),
        4 => round_trip!(data, codec::decode_membership, codec::encode_membership),
        5 => round_trip!(
            data,
            codec::decode_stored_membership,
            codec::encode_stored_membership
        ),
        6 => round_trip!(
            data,
            codec::decode_snapshot_meta,
            codec::encode_snapshot_meta
        ),
        7 => round_trip!(data, codec::decode_request, codec::encode_request),
        _ => {
            let mut buf = data.to_vec();
            if sel & 1 == 1 && buf.len() >= 4 {
                let n = buf.len() - 4;
                let crc = crc32c::crc32c(&buf[..n]);
                buf[n..].copy_from_slice(&crc.to_le_bytes());
            }
            if let Ok(ks) = kcodec::decode(&buf) {
                let mut enc = Vec::new();
                kcodec::encode(&ks, &mut enc);
                let back = kcodec::decode(&enc).expect("re-encoded snapshot must decode");
                assert!(back == ks, "snapshot round trip changed the keyspace");
                assert_eq!(back.clock_floor(), ks.clock_floor());
                assert_eq!(back.records_len(), ks.records_len());
                let mut enc2 = Vec::new();
                kcodec::encode(&back, &mut enc2);
                assert_eq!(enc2, enc, "snapshot re-encoding is not stable");
            }
        }
    }
});
