//! Writes the committed seed corpus, `fuzz/corpus/<target>/seed-*`: a handful of valid
//! inputs per target, built with the node's own encoders (so they follow the formats as the
//! code writes them). Deterministic; rerun after a format change:
//!
//! ```text
//! cargo +nightly run --release --manifest-path fuzz/Cargo.toml --example gen_seeds
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use bytes::{Bytes, BytesMut};
use openraft::{BasicNode, CommittedLeaderId, Entry, EntryPayload, LogId, Membership};
use openraft::{SnapshotMeta, StoredMembership, Vote};
use prost::Message;
use sdr_node::keyspace::{codec as kcodec, Keyspace, Value};
use sdr_node::raft::{Request, TypeConfig};
use sdr_node::storage::codec;
use sdr_node::storage::wal::{segment_header, RECORD_COMMITTED, RECORD_ENTRY};
use sdr_proto::{admin as apb, raft as pb};
use sdr_resp::{encode_command, Frame};

fn write(target: &str, seeds: &[Vec<u8>]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    fs::create_dir_all(&dir).expect("create corpus dir");
    for (i, s) in seeds.iter().enumerate() {
        fs::write(dir.join(format!("seed-{i:02}")), s).expect("write seed");
    }
}

fn lid(t: u64, n: u64, i: u64) -> LogId<u64> {
    LogId::new(CommittedLeaderId::new(t, n), i)
}

fn argv(words: &[&str]) -> Vec<Bytes> {
    words
        .iter()
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect()
}

fn membership() -> Membership<u64, BasicNode> {
    let mut nodes = BTreeMap::new();
    for id in 1..=3u64 {
        nodes.insert(
            id,
            BasicNode {
                addr: format!("127.0.0.1:{}", 7000 + id),
            },
        );
    }
    Membership::new(vec![BTreeSet::from([1, 2, 3])], nodes)
}

fn entries(first: u64) -> Vec<Entry<TypeConfig>> {
    vec![
        Entry {
            log_id: lid(1, 1, first),
            payload: EntryPayload::Blank,
        },
        Entry {
            log_id: lid(1, 1, first + 1),
            payload: EntryPayload::Membership(membership()),
        },
        Entry {
            log_id: lid(1, 1, first + 2),
            payload: EntryPayload::Normal(Request::Command {
                now_ms: 1_700_000_000_000,
                argv: argv(&["set", "k", "v", "px", "100"]),
            }),
        },
        Entry {
            log_id: lid(2, 3, first + 3),
            payload: EntryPayload::Normal(Request::Batch {
                now_ms: 1_700_000_000_001,
                cmds: vec![argv(&["incr", "n"]), argv(&["del", "k"])],
            }),
        },
        Entry {
            log_id: lid(2, 3, first + 4),
            payload: EntryPayload::Normal(Request::Expire {
                now_ms: 1_700_000_000_002,
                keys: argv(&["a", "b"]),
            }),
        },
    ]
}

fn frame(out: &mut Vec<u8>, rtype: u8, body: &[u8]) {
    let mut payload = vec![rtype];
    payload.extend_from_slice(body);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
}

/// A segment starting at `first` with `n` of the sample entries and a committed marker.
fn segment(first: u64, n: usize) -> Vec<u8> {
    let mut out = segment_header(first).to_vec();
    for e in entries(first).iter().take(n) {
        let mut b = Vec::new();
        codec::encode_entry(e, &mut b);
        frame(&mut out, RECORD_ENTRY, &b);
    }
    let mut c = Vec::new();
    codec::encode_opt_log_id(&Some(lid(1, 1, first)), &mut c);
    frame(&mut out, RECORD_COMMITTED, &c);
    out
}

fn keyspace() -> Keyspace {
    let mut ks = Keyspace::new();
    let now = 1_700_000_000_000;
    ks.insert(
        Bytes::from_static(b"s"),
        Value::Str(Bytes::from_static(b"hello")),
        None,
        now,
    );
    ks.insert(
        Bytes::from_static(b"e"),
        Value::Str(Bytes::from_static(b"1")),
        Some(now + 5000),
        now,
    );
    ks.insert(
        Bytes::from_static(b"l"),
        Value::List([Bytes::from_static(b"a"), Bytes::from_static(b"b")].into()),
        None,
        now,
    );
    ks.insert(
        Bytes::from_static(b"h"),
        Value::Hash(BTreeMap::from([(
            Bytes::from_static(b"f"),
            Bytes::from_static(b"v"),
        )])),
        None,
        now,
    );
    ks.insert(
        Bytes::from_static(b"z"),
        Value::Set(
            [Bytes::from_static(b"m1"), Bytes::from_static(b"m2")]
                .into_iter()
                .collect(),
        ),
        None,
        now,
    );
    ks.advance_clock(now + 10);
    ks
}

fn with(sel: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![sel];
    v.extend_from_slice(body);
    v
}

fn main() {
    // resp_command_decoder: mode | split seed u16 | bytes.
    let mut pipeline = BytesMut::new();
    encode_command(&["SET", "key", "value"], &mut pipeline);
    encode_command(&["GET", "key"], &mut pipeline);
    encode_command(&["HSET", "h", "f", "v", "g", "w"], &mut pipeline);
    let pipeline = pipeline.to_vec();
    let mut cmd_seeds = Vec::new();
    for (mode, body) in [
        (0u8, pipeline.clone()),
        (1, pipeline.clone()),
        (2, pipeline.clone()),
        (
            0,
            b"PING\r\nSET k \"a b\\x41\" 'c d'\r\n\r\n*0\r\n*-1\r\nECHO x\n".to_vec(),
        ),
        (
            3,
            b"*2\r\n$4\r\nAUTH\r\n$6\r\nsecret\r\n*1\r\n$4\r\nPING\r\n".to_vec(),
        ),
        (1, b"*12\r\n$1\r\na\r\n".to_vec()),
    ] {
        let mut s = vec![mode, 0x5a, 0xa5];
        s.extend_from_slice(&body);
        cmd_seeds.push(s);
    }
    write("resp_command_decoder", &cmd_seeds);

    // resp_reply_decoder: even mode = bytes (split seed u16 first); odd = arbitrary frame.
    let mut replies = BytesMut::new();
    for f in [
        Frame::ok(),
        Frame::err("bad thing"),
        Frame::Integer(-42),
        Frame::bulk("payload"),
        Frame::Null,
        Frame::NullArray,
        Frame::Array(vec![
            Frame::bulk("a"),
            Frame::Array(vec![Frame::Integer(1)]),
            Frame::Array(vec![]),
        ]),
    ] {
        f.encode(&mut replies);
    }
    let replies = replies.to_vec();
    let mut reply_seeds = Vec::new();
    for mode in [0u8, 2] {
        let mut s = vec![mode, 0x13, 0x37];
        s.extend_from_slice(&replies);
        reply_seeds.push(s);
    }
    reply_seeds.push(b"\x01\x06hello\x00\x02world\x03\x05abc".to_vec());
    reply_seeds.push(b"\x01\x40\x01\x06\x06\x06\x02\x00\x00\x00\x00\x00\x00\x00\x07".to_vec());
    write("resp_reply_decoder", &reply_seeds);

    // command_apply: bytes for `arbitrary` (any bytes are valid; these mix the choices).
    let apply_seeds: Vec<Vec<u8>> = (0u32..6)
        .map(|i| {
            let mut x = 0x9e37_79b9u32.wrapping_mul(i + 1);
            (0..200)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect()
        })
        .collect();
    write("command_apply", &apply_seeds);

    // wal_recovery: flags | first | (len u16 | segment)* | last segment.
    let mut wal_seeds = Vec::new();
    wal_seeds.push([&[0u8, 1][..], &segment(1, 5)].concat());
    let mut torn = segment(1, 5);
    torn.truncate(torn.len() - 3);
    wal_seeds.push([&[0u8, 1][..], &torn].concat());
    let s1 = segment(1, 3);
    let s2 = segment(4, 2);
    let mut two = vec![1u8, 1];
    two.extend_from_slice(&(s1.len() as u16).to_le_bytes());
    two.extend_from_slice(&s1);
    two.extend_from_slice(&s2);
    wal_seeds.push(two);
    wal_seeds.push([&[0u8, 1][..], &segment(1, 0)].concat());
    wal_seeds.push(vec![0u8, 1, 0, 0, 0, 0]);
    write("wal_recovery", &wal_seeds);

    // storage_codec: selector | encoded value.
    let mut sc = Vec::new();
    for e in entries(7) {
        let mut b = Vec::new();
        codec::encode_entry(&e, &mut b);
        sc.push(with(0, &b));
    }
    let mut b = Vec::new();
    codec::encode_log_id(&lid(3, 2, 9), &mut b);
    sc.push(with(1, &b));
    let mut b = Vec::new();
    codec::encode_opt_log_id(&Some(lid(3, 2, 9)), &mut b);
    sc.push(with(2, &b));
    let mut b = Vec::new();
    codec::encode_vote(&Vote::new_committed(4, 2), &mut b);
    sc.push(with(3, &b));
    let mut b = Vec::new();
    codec::encode_membership(&membership(), &mut b);
    sc.push(with(4, &b));
    let sm = StoredMembership::new(Some(lid(1, 1, 2)), membership());
    let mut b = Vec::new();
    codec::encode_stored_membership(&sm, &mut b);
    sc.push(with(5, &b));
    let meta = SnapshotMeta {
        last_log_id: Some(lid(2, 1, 40)),
        last_membership: sm.clone(),
        snapshot_id: "2-1-40-1".into(),
    };
    let mut b = Vec::new();
    codec::encode_snapshot_meta(&meta, &mut b);
    sc.push(with(6, &b));
    let mut b = Vec::new();
    codec::encode_request(
        &Request::Command {
            now_ms: 5,
            argv: argv(&["append", "k", "x"]),
        },
        &mut b,
    );
    sc.push(with(7, &b));
    let mut snap = Vec::new();
    kcodec::encode(&keyspace(), &mut snap);
    sc.push(with(8, &snap));
    sc.push(with(9, &snap));
    write("storage_codec", &sc);

    // grpc_decoders: selector | protobuf message.
    let vote = {
        let mut b = Vec::new();
        codec::encode_vote(&Vote::new(5, 1), &mut b);
        b
    };
    let opt = |id: Option<LogId<u64>>| {
        let mut b = Vec::new();
        codec::encode_opt_log_id(&id, &mut b);
        b
    };
    let ents: Vec<Vec<u8>> = entries(10)
        .iter()
        .map(|e| {
            let mut b = Vec::new();
            codec::encode_entry(e, &mut b);
            b
        })
        .collect();
    let mut meta_b = Vec::new();
    codec::encode_snapshot_meta(&meta, &mut meta_b);
    let g = vec![
        with(
            0,
            &pb::VoteRequest {
                vote: vote.clone(),
                last_log_id: opt(Some(lid(4, 1, 9))),
            }
            .encode_to_vec(),
        ),
        with(
            1,
            &pb::AppendRequest {
                vote: vote.clone(),
                prev_log_id: opt(Some(lid(1, 1, 9))),
                entries: ents,
                leader_commit: opt(None),
            }
            .encode_to_vec(),
        ),
        with(
            2,
            &pb::SnapshotChunk {
                vote: vote.clone(),
                meta: meta_b,
                offset: 0,
                data: snap.clone(),
                done: true,
            }
            .encode_to_vec(),
        ),
        with(
            3,
            &pb::VoteResponse {
                vote: vote.clone(),
                vote_granted: true,
                last_log_id: opt(None),
            }
            .encode_to_vec(),
        ),
        with(
            4,
            &pb::AppendResponse {
                kind: 2,
                matching: opt(Some(lid(1, 1, 3))),
                vote: vec![],
            }
            .encode_to_vec(),
        ),
        with(
            5,
            &pb::SnapshotResponse {
                vote,
                mismatch: false,
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        with(
            6,
            &apb::AddLearnerRequest {
                member: Some(apb::Member {
                    id: 4,
                    ..Default::default()
                }),
            }
            .encode_to_vec(),
        ),
        with(
            7,
            &apb::ChangeMembershipRequest {
                voters: vec![1, 2, 3],
            }
            .encode_to_vec(),
        ),
    ];
    write("grpc_decoders", &g);
}
