//! Conversions between the Raft transport's protobuf messages (`proto/raft.proto`) and
//! openraft's types, in both directions the node decodes: requests a peer sends to
//! [`super::service`], and responses a peer returns to [`super::network`].
//!
//! Pure functions of the message, so the same code serves the gRPC handlers and the
//! `grpc_decoders` fuzz target. Every field is decoded with the bounds-checked
//! [`crate::storage::codec`]; malformed input is a [`WireError`] naming the field, never a
//! panic.

use openraft::error::SnapshotMismatch;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::SnapshotSegmentId;
use sdr_proto::raft as pb;

use crate::storage::codec;

use super::types::{NodeId, TypeConfig};

/// A message field that does not decode: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {what}: {reason}")]
pub struct WireError {
    pub what: String,
    pub reason: String,
}

fn bad(what: impl Into<String>, e: impl std::fmt::Display) -> WireError {
    WireError {
        what: what.into(),
        reason: e.to_string(),
    }
}

/// An inbound `Vote` request.
pub fn vote_request(m: &pb::VoteRequest) -> Result<VoteRequest<NodeId>, WireError> {
    let vote = codec::decode_vote(&m.vote).map_err(|e| bad("vote", e))?;
    let last_log_id =
        codec::decode_opt_log_id(&m.last_log_id).map_err(|e| bad("last log id", e))?;
    Ok(VoteRequest { vote, last_log_id })
}

/// An inbound `Append` request.
pub fn append_request(
    m: &pb::AppendRequest,
) -> Result<AppendEntriesRequest<TypeConfig>, WireError> {
    let vote = codec::decode_vote(&m.vote).map_err(|e| bad("vote", e))?;
    let prev_log_id =
        codec::decode_opt_log_id(&m.prev_log_id).map_err(|e| bad("prev log id", e))?;
    let leader_commit =
        codec::decode_opt_log_id(&m.leader_commit).map_err(|e| bad("leader commit", e))?;
    let mut entries = Vec::with_capacity(m.entries.len());
    for (i, e) in m.entries.iter().enumerate() {
        entries.push(codec::decode_entry(e).map_err(|err| bad(format!("entry #{i}"), err))?);
    }
    Ok(AppendEntriesRequest {
        vote,
        prev_log_id,
        entries,
        leader_commit,
    })
}

/// An inbound `InstallSnapshot` chunk.
pub fn snapshot_request(
    m: pb::SnapshotChunk,
) -> Result<InstallSnapshotRequest<TypeConfig>, WireError> {
    let vote = codec::decode_vote(&m.vote).map_err(|e| bad("vote", e))?;
    let meta = codec::decode_snapshot_meta(&m.meta).map_err(|e| bad("snapshot meta", e))?;
    Ok(InstallSnapshotRequest {
        vote,
        meta,
        offset: m.offset,
        data: m.data,
        done: m.done,
    })
}

/// A peer's reply to `Vote`.
pub fn vote_response(m: &pb::VoteResponse) -> Result<VoteResponse<NodeId>, WireError> {
    let vote = codec::decode_vote(&m.vote).map_err(|e| bad("vote", e))?;
    let last_log_id =
        codec::decode_opt_log_id(&m.last_log_id).map_err(|e| bad("vote last log id", e))?;
    Ok(VoteResponse {
        vote,
        vote_granted: m.vote_granted,
        last_log_id,
    })
}

/// A peer's reply to `Append`.
pub fn append_response(m: &pb::AppendResponse) -> Result<AppendEntriesResponse<NodeId>, WireError> {
    use pb::append_response::Kind;
    match Kind::try_from(m.kind) {
        Ok(Kind::Success) => Ok(AppendEntriesResponse::Success),
        Ok(Kind::Conflict) => Ok(AppendEntriesResponse::Conflict),
        Ok(Kind::PartialSuccess) => codec::decode_opt_log_id(&m.matching)
            .map(AppendEntriesResponse::PartialSuccess)
            .map_err(|e| bad("append matching log id", e)),
        Ok(Kind::HigherVote) => codec::decode_vote(&m.vote)
            .map(AppendEntriesResponse::HigherVote)
            .map_err(|e| bad("append vote", e)),
        Err(_) => Err(bad("append response", format!("unknown kind {}", m.kind))),
    }
}

/// A peer's reply to `InstallSnapshot`: the response, or the chunk mismatch it reports.
pub fn snapshot_response(
    m: &pb::SnapshotResponse,
) -> Result<Result<InstallSnapshotResponse<NodeId>, SnapshotMismatch>, WireError> {
    if m.mismatch {
        return Ok(Err(SnapshotMismatch {
            expect: SnapshotSegmentId {
                id: m.expect_id.clone(),
                offset: m.expect_offset,
            },
            got: SnapshotSegmentId {
                id: m.got_id.clone(),
                offset: m.got_offset,
            },
        }));
    }
    let vote = codec::decode_vote(&m.vote).map_err(|e| bad("snapshot vote", e))?;
    Ok(Ok(InstallSnapshotResponse { vote }))
}

#[cfg(test)]
mod tests {
    use openraft::{CommittedLeaderId, LogId, Vote};

    use super::*;

    fn vote_bytes(v: &Vote<NodeId>) -> Vec<u8> {
        let mut b = Vec::new();
        codec::encode_vote(v, &mut b);
        b
    }

    #[test]
    fn requests_convert_and_malformed_fields_are_named() {
        let mut last = Vec::new();
        let id = Some(LogId::new(CommittedLeaderId::new(2, 1), 7));
        codec::encode_opt_log_id(&id, &mut last);
        let m = pb::VoteRequest {
            vote: vote_bytes(&Vote::new(3, 1)),
            last_log_id: last.clone(),
        };
        let r = vote_request(&m).unwrap();
        assert_eq!((r.vote, r.last_log_id), (Vote::new(3, 1), id));
        let bad = pb::VoteRequest {
            vote: vec![1, 2],
            last_log_id: last.clone(),
        };
        let e = vote_request(&bad).unwrap_err();
        assert_eq!(e.what, "vote");
        assert!(e.to_string().starts_with("malformed vote: "), "{e}");
        let a = pb::AppendRequest {
            vote: vote_bytes(&Vote::new(3, 1)),
            prev_log_id: last.clone(),
            entries: vec![vec![9]],
            leader_commit: last,
        };
        assert_eq!(append_request(&a).unwrap_err().what, "entry #0");
    }

    #[test]
    fn responses_convert() {
        use pb::append_response::Kind;
        let ok = pb::AppendResponse {
            kind: Kind::Success as i32,
            ..Default::default()
        };
        assert_eq!(
            append_response(&ok).unwrap(),
            AppendEntriesResponse::Success
        );
        let unknown = pb::AppendResponse {
            kind: 99,
            ..Default::default()
        };
        assert!(append_response(&unknown)
            .unwrap_err()
            .reason
            .contains("unknown kind 99"));
        let mm = pb::SnapshotResponse {
            mismatch: true,
            expect_id: "a".into(),
            got_offset: 5,
            ..Default::default()
        };
        let got = snapshot_response(&mm).unwrap().unwrap_err();
        assert_eq!((got.expect.id.as_str(), got.got.offset), ("a", 5));
        let v = pb::VoteResponse {
            vote: vote_bytes(&Vote::new_committed(4, 2)),
            vote_granted: true,
            last_log_id: vec![],
        };
        assert_eq!(vote_response(&v).unwrap_err().what, "vote last log id");
    }
}
