//! Fuzzes the peer transport's decoders: the protobuf messages of `proto/raft.proto` decoded
//! with prost from arbitrary bytes, exactly as tonic hands them to the node, then converted
//! into openraft's types by `raft::wire` — the conversions `raft::service` (requests) and
//! `raft::network` (responses) run. Admin messages (`proto/admin.proto`) are decoded too.
//!
//! Input: `selector u8 | protobuf bytes`.
//! Asserts: no panic, no oversized allocation; a message prost accepts re-encodes to a
//! message equal to it; a converted request's votes and log ids re-encode with
//! `storage::codec` to bytes that decode to the same values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use sdr_node::raft::wire;
use sdr_node::storage::codec;
use sdr_proto::{admin as apb, raft as pb};

/// prost decode; if it succeeds, the message round-trips through prost's encoder.
fn decode<M: Message + Default + PartialEq + std::fmt::Debug>(data: &[u8]) -> Option<M> {
    let m = M::decode(data).ok()?;
    let again = M::decode(m.encode_to_vec().as_slice()).expect("re-encoded message must decode");
    assert_eq!(again, m, "prost round trip changed the message");
    Some(m)
}

fn check_vote(v: &openraft::Vote<u64>) {
    let mut b = Vec::new();
    codec::encode_vote(v, &mut b);
    assert_eq!(&codec::decode_vote(&b).expect("vote re-decodes"), v);
}

fn check_opt_log_id(id: &Option<openraft::LogId<u64>>) {
    let mut b = Vec::new();
    codec::encode_opt_log_id(id, &mut b);
    assert_eq!(
        &codec::decode_opt_log_id(&b).expect("log id re-decodes"),
        id
    );
}

fuzz_target!(|input: &[u8]| {
    let Some((&sel, data)) = input.split_first() else {
        return;
    };
    match sel % 10 {
        0 => {
            if let Some(m) = decode::<pb::VoteRequest>(data) {
                if let Ok(r) = wire::vote_request(&m) {
                    check_vote(&r.vote);
                    check_opt_log_id(&r.last_log_id);
                }
            }
        }
        1 => {
            if let Some(m) = decode::<pb::AppendRequest>(data) {
                if let Ok(r) = wire::append_request(&m) {
                    check_vote(&r.vote);
                    check_opt_log_id(&r.prev_log_id);
                    check_opt_log_id(&r.leader_commit);
                    assert_eq!(r.entries.len(), m.entries.len());
                    for e in &r.entries {
                        let mut b = Vec::new();
                        codec::encode_entry(e, &mut b);
                        assert_eq!(&codec::decode_entry(&b).expect("entry re-decodes"), e);
                    }
                }
            }
        }
        2 => {
            if let Some(m) = decode::<pb::SnapshotChunk>(data) {
                let (offset, len, done) = (m.offset, m.data.len(), m.done);
                if let Ok(r) = wire::snapshot_request(m) {
                    check_vote(&r.vote);
                    assert_eq!((r.offset, r.data.len(), r.done), (offset, len, done));
                    let mut b = Vec::new();
                    codec::encode_snapshot_meta(&r.meta, &mut b);
                    assert_eq!(
                        codec::decode_snapshot_meta(&b).expect("meta re-decodes"),
                        r.meta
                    );
                }
            }
        }
        3 => {
            if let Some(m) = decode::<pb::VoteResponse>(data) {
                if let Ok(r) = wire::vote_response(&m) {
                    check_vote(&r.vote);
                    check_opt_log_id(&r.last_log_id);
                    assert_eq!(r.vote_granted, m.vote_granted);
                }
            }
        }
        4 => {
            if let Some(m) = decode::<pb::AppendResponse>(data) {
                let _ = wire::append_response(&m);
            }
        }
        5 => {
            if let Some(m) = decode::<pb::SnapshotResponse>(data) {
                if let Ok(Ok(r)) = wire::snapshot_response(&m) {
                    check_vote(&r.vote);
                }
            }
        }
        6 => {
            let _ = decode::<apb::AddLearnerRequest>(data);
        }
        7 => {
            let _ = decode::<apb::ChangeMembershipRequest>(data);
        }
        8 => {
            let _ = decode::<apb::StatusReply>(data);
        }
        _ => {
            let _ = decode::<apb::AdminReply>(data);
        }
    }
});
