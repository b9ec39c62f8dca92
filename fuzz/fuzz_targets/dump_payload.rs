//! Fuzzes RESTORE's decoder (`keyspace::rdb::restore`) on arbitrary payloads.
//!
//! Input: `selector u8 | bytes`. An odd selector appends a valid footer (RDB version 10 and
//! the CRC-64 of the bytes) so the decoder gets past the checksum into the object; an even
//! one hands the bytes over as they are.
//! Asserts: no panic and no oversized allocation (run under `-malloc_limit_mb`); a payload
//! that decodes re-encodes (DUMP, in the small and in the large encoding) to a payload that
//! decodes to the same value, and DUMP of that value is stable (decode → DUMP → decode →
//! DUMP gives the same bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sdr_node::keyspace::rdb;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let mut payload = body.to_vec();
    if sel & 1 == 1 {
        payload.extend_from_slice(&rdb::RDB_VERSION.to_le_bytes());
        let crc = rdb::crc64::crc64(0, &payload);
        payload.extend_from_slice(&crc.to_le_bytes());
    }
    let Ok(v) = rdb::restore(&payload) else {
        return;
    };
    for large in [false, true] {
        let dumped = rdb::dump(&v, large).expect("a decoded value is dumpable");
        let back = rdb::restore(&dumped).expect("a dumped payload must decode");
        assert_eq!(back, v, "decode -> DUMP -> decode changed the value");
        let again = rdb::dump(&back, large).expect("dumpable");
        assert_eq!(again, dumped, "DUMP is not stable");
        assert_eq!(
            rdb::serialized_len(&v, large).ok(),
            Some(dumped.len() - 11),
            "serializedlength = payload minus type byte and footer"
        );
    }
});
