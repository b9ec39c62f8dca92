//! Property tests for the storage codec: round trips, and arbitrary input never panics.

use bytes::Bytes;
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, Membership};
use proptest::prelude::*;
use sdr_node::raft::types::{Request, TypeConfig};
use sdr_node::storage::codec::{decode_entry, decode_snapshot_meta, decode_vote, encode_entry};
use std::collections::{BTreeMap, BTreeSet};

fn arb_bytes() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from)
}

fn arb_entry() -> impl Strategy<Value = Entry<TypeConfig>> {
    let payload = prop_oneof![
        Just(EntryPayload::Blank),
        (any::<u64>(), proptest::collection::vec(arb_bytes(), 0..6))
            .prop_map(|(now_ms, argv)| EntryPayload::Normal(Request::Command { now_ms, argv })),
        (any::<u64>(), proptest::collection::vec(arb_bytes(), 0..6))
            .prop_map(|(now_ms, keys)| EntryPayload::Normal(Request::Expire { now_ms, keys })),
        (
            proptest::collection::vec(proptest::collection::btree_set(0u64..8, 1..4), 1..3),
            proptest::collection::btree_map(0u64..12, "[a-z0-9:.]{0,12}", 0..4),
        )
            .prop_map(|(configs, extra)| {
                let mut nodes = BTreeMap::new();
                for (id, addr) in extra {
                    nodes.insert(id, openraft::BasicNode { addr });
                }
                let configs: Vec<BTreeSet<u64>> = configs;
                EntryPayload::Membership(Membership::new(configs, nodes))
            }),
    ];
    (any::<u64>(), any::<u64>(), any::<u64>(), payload).prop_map(|(t, n, i, payload)| Entry {
        log_id: LogId::new(CommittedLeaderId::new(t, n), i),
        payload,
    })
}

proptest! {
    #[test]
    fn entries_round_trip(e in arb_entry()) {
        let mut buf = Vec::new();
        encode_entry(&e, &mut buf);
        prop_assert_eq!(decode_entry(&buf).expect("decodes"), e);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode_entry(&data);
        let _ = decode_vote(&data);
        let _ = decode_snapshot_meta(&data);
        // With a valid version byte, too.
        let mut v = vec![1u8];
        v.extend_from_slice(&data);
        let _ = decode_entry(&v);
        let _ = decode_snapshot_meta(&v);
    }
}
