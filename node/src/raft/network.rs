//! Outbound Raft RPCs over tonic gRPC.
//!
//! One lazily-connected channel per peer, cached by node id and shared by every RPC to it (a
//! tonic `Channel` multiplexes and reconnects by itself, with its own backoff). Each request
//! carries the cluster credentials and openraft's per-RPC deadline. Transport failures become
//! `Unreachable` (peer down: openraft backs off) or `Network` errors; a malformed reply is a
//! `Network` error, never a panic.
//!
//! An AppendEntries batch that would not fit in one peer message ([`PEER_MESSAGE_LIMIT`], the
//! receiver's decoding limit) is not sent: it becomes openraft's `PayloadTooLarge` with the
//! number of leading entries that do fit, and openraft retries at once with that many (for its
//! next 10 RPCs). Without this a lagging follower fed, say, 30 entries of 4 MB would be sent
//! the same oversized range forever. A peer that still answers "message too large" (a smaller
//! limit on its side) is handled the same way, halving the batch.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, PayloadTooLarge, RPCError, RaftError, RemoteError,
    Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use sdr_proto::raft as pb;
use tonic::transport::{Channel, Endpoint};

use crate::cluster::members::AddressBook;
use crate::storage::codec;

use super::auth::PeerAuth;
use super::types::{NodeId, TypeConfig};
use super::wire;

/// Largest gRPC message a peer accepts for AppendEntries (its decoding limit, see
/// `service::serve`). Every single entry fits: writes above `errors::MAX_COMMAND_BYTES`
/// (60 MiB) are refused before they are proposed, and proposer batches stop short of it.
pub const PEER_MESSAGE_LIMIT: usize = 64 * 1024 * 1024;

/// Room left in an AppendEntries message for the vote, log ids and framing (a few dozen bytes
/// in practice).
const APPEND_OVERHEAD: usize = 1024;

/// Protobuf cost of one `repeated bytes` element of `len` bytes: tag, length varint, bytes.
fn bytes_field_len(len: usize) -> usize {
    let mut varint = 1;
    let mut v = len >> 7;
    while v > 0 {
        varint += 1;
        v >>= 7;
    }
    1 + varint + len
}

/// How many leading entries of encoded lengths `lens` fit in one AppendEntries message of at
/// most `limit` bytes; `lens.len()` when all do.
pub fn entries_that_fit(lens: impl IntoIterator<Item = usize>, limit: usize) -> usize {
    let mut total = APPEND_OVERHEAD;
    let mut n = 0;
    for len in lens {
        total += bytes_field_len(len);
        if total > limit {
            break;
        }
        n += 1;
    }
    n
}

/// The error for an AppendEntries batch of `sent` entries of which only the first `fit` can be
/// sent in one message: openraft's `PayloadTooLarge`, so it retries with `fit` entries. `fit`
/// of 0 (one entry alone is too large, which the write-size limit prevents) cannot be helped by
/// shrinking and is a plain network error.
fn too_large<E: std::error::Error>(
    target: NodeId,
    sent: usize,
    fit: usize,
) -> RPCError<NodeId, BasicNode, RaftError<NodeId, E>> {
    if fit == 0 {
        return network(format!(
            "node {target}: the first of {sent} entries alone exceeds the peer message limit of {PEER_MESSAGE_LIMIT} bytes"
        ));
    }
    tracing::debug!(
        target,
        sent,
        fit,
        "append entries batch exceeds the peer message limit; asking openraft for a smaller one"
    );
    RPCError::PayloadTooLarge(PayloadTooLarge::new_entries_hint(fit as u64))
}

/// True for tonic's "encoded/decoded message length too large" (sender or receiver limit).
fn is_message_too_large(s: &tonic::Status) -> bool {
    matches!(
        s.code(),
        tonic::Code::OutOfRange | tonic::Code::ResourceExhausted
    ) && s.message().contains("message length too large")
}

/// How long to wait for a TCP connection to a peer.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// Largest reply accepted from a peer (replies are a few dozen bytes).
const PEER_REPLY_LIMIT: usize = 64 * 1024;

/// Creates [`PeerClient`]s; cheap to clone.
#[derive(Clone)]
pub struct GrpcNetwork {
    auth: Option<PeerAuth>,
    book: AddressBook,
    channels: Arc<Mutex<HashMap<(NodeId, String), Channel>>>,
}

impl GrpcNetwork {
    /// `auth` is `None` for a one-member group, which never dials anyone.
    pub fn new(auth: Option<PeerAuth>, book: AddressBook) -> GrpcNetwork {
        GrpcNetwork {
            auth,
            book,
            channels: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn channel(&self, target: NodeId, addr: &str) -> Result<Channel, String> {
        let mut map = self
            .channels
            .lock()
            .map_err(|_| "channel cache poisoned".to_string())?;
        if let Some(c) = map.get(&(target, addr.to_string())) {
            return Ok(c.clone());
        }
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| format!("invalid address '{addr}' for node {target}: {e}"))?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true);
        let channel = endpoint.connect_lazy();
        map.insert((target, addr.to_string()), channel.clone());
        Ok(channel)
    }
}

/// RPCs to one peer.
pub struct PeerClient {
    target: NodeId,
    client: Result<pb::raft_client::RaftClient<Channel>, String>,
    auth: Option<PeerAuth>,
}

impl RaftNetworkFactory<TypeConfig> for GrpcNetwork {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Self::Network {
        let client = match self.book.raft_addr(target, Some(node)) {
            None => Err(format!("no address known for node {target}")),
            Some(addr) => self.channel(target, &addr).map(|c| {
                pb::raft_client::RaftClient::new(c)
                    .max_encoding_message_size(PEER_MESSAGE_LIMIT)
                    .max_decoding_message_size(PEER_REPLY_LIMIT)
            }),
        };
        PeerClient {
            target,
            client,
            auth: self.auth.clone(),
        }
    }
}

type RpcErr<E = openraft::error::Infallible> = RPCError<NodeId, BasicNode, RaftError<NodeId, E>>;

fn unreachable<E: std::error::Error>(
    msg: String,
) -> RPCError<NodeId, BasicNode, RaftError<NodeId, E>> {
    RPCError::Unreachable(Unreachable::new(&std::io::Error::other(msg)))
}

fn network<E: std::error::Error>(msg: String) -> RPCError<NodeId, BasicNode, RaftError<NodeId, E>> {
    RPCError::Network(NetworkError::new(&std::io::Error::other(msg)))
}

fn status_error<E: std::error::Error>(
    target: NodeId,
    s: tonic::Status,
) -> RPCError<NodeId, BasicNode, RaftError<NodeId, E>> {
    let msg = format!("node {target}: {}: {}", s.code(), s.message());
    match s.code() {
        tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => {
            unreachable(msg)
        }
        _ => network(msg),
    }
}

fn decode_err<E: std::error::Error>(
    target: NodeId,
    e: wire::WireError,
) -> RPCError<NodeId, BasicNode, RaftError<NodeId, E>> {
    network(format!("node {target} sent a {e}"))
}

// openraft's `RPCError` is large by design; boxing it here would only be unboxed again.
#[allow(clippy::result_large_err)]
impl PeerClient {
    fn request<T, E: std::error::Error>(
        &self,
        msg: T,
        option: &RPCOption,
    ) -> Result<tonic::Request<T>, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>> {
        let mut req = tonic::Request::new(msg);
        req.set_timeout(option.hard_ttl());
        if let Some(a) = &self.auth {
            a.stamp(&mut req)
                .map_err(|s| network(s.message().to_string()))?;
        }
        Ok(req)
    }

    fn client<E: std::error::Error>(
        &self,
    ) -> Result<
        pb::raft_client::RaftClient<Channel>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, E>>,
    > {
        self.client.clone().map_err(unreachable)
    }
}

fn vote_bytes(v: &openraft::Vote<NodeId>) -> Vec<u8> {
    let mut b = Vec::with_capacity(24);
    codec::encode_vote(v, &mut b);
    b
}

fn opt_log_id_bytes(id: &Option<openraft::LogId<NodeId>>) -> Vec<u8> {
    let mut b = Vec::with_capacity(24);
    codec::encode_opt_log_id(id, &mut b);
    b
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RpcErr> {
        // Encode until the message would exceed the limit: a batch that cannot be sent whole
        // is refused before anything is sent (and without encoding the rest of it).
        let sent = rpc.entries.len();
        let mut entries = Vec::with_capacity(sent);
        let mut total = APPEND_OVERHEAD;
        for e in &rpc.entries {
            let mut b = Vec::new();
            codec::encode_entry(e, &mut b);
            total += bytes_field_len(b.len());
            if total > PEER_MESSAGE_LIMIT {
                return Err(too_large(self.target, sent, entries.len()));
            }
            entries.push(b);
        }
        let msg = pb::AppendRequest {
            vote: vote_bytes(&rpc.vote),
            prev_log_id: opt_log_id_bytes(&rpc.prev_log_id),
            entries,
            leader_commit: opt_log_id_bytes(&rpc.leader_commit),
        };
        let req = self.request(msg, &option)?;
        let resp = match self.client()?.append(req).await {
            Ok(r) => r.into_inner(),
            Err(s) if is_message_too_large(&s) && sent > 0 => {
                return Err(too_large(self.target, sent, sent / 2));
            }
            Err(s) => return Err(status_error(self.target, s)),
        };
        wire::append_response(&resp).map_err(|e| decode_err(self.target, e))
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RpcErr<InstallSnapshotError>> {
        let mut meta = Vec::new();
        codec::encode_snapshot_meta(&rpc.meta, &mut meta);
        let msg = pb::SnapshotChunk {
            vote: vote_bytes(&rpc.vote),
            meta,
            offset: rpc.offset,
            data: rpc.data,
            done: rpc.done,
        };
        let req = self.request(msg, &option)?;
        let resp = self
            .client()?
            .install_snapshot(req)
            .await
            .map_err(|s| status_error(self.target, s))?
            .into_inner();
        match wire::snapshot_response(&resp).map_err(|e| decode_err(self.target, e))? {
            Ok(r) => Ok(r),
            Err(mismatch) => Err(RPCError::RemoteError(RemoteError::new(
                self.target,
                RaftError::APIError(InstallSnapshotError::SnapshotMismatch(mismatch)),
            ))),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RpcErr> {
        let msg = pb::VoteRequest {
            vote: vote_bytes(&rpc.vote),
            last_log_id: opt_log_id_bytes(&rpc.last_log_id),
        };
        let req = self.request(msg, &option)?;
        let resp = self
            .client()?
            .vote(req)
            .await
            .map_err(|s| status_error(self.target, s))?
            .into_inner();
        wire::vote_response(&resp).map_err(|e| decode_err(self.target, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type E = RPCError<NodeId, BasicNode, RaftError<NodeId>>;

    #[test]
    fn batch_of_large_entries_is_cut_to_what_fits() {
        let mb4 = 4 * 1024 * 1024;
        // 300 entries of 4 MiB: 15 fit in 64 MiB (16 would need 64 MiB plus framing).
        assert_eq!(entries_that_fit(vec![mb4; 300], PEER_MESSAGE_LIMIT), 15);
        assert_eq!(entries_that_fit(vec![100; 300], PEER_MESSAGE_LIMIT), 300);
        assert_eq!(entries_that_fit(Vec::<usize>::new(), PEER_MESSAGE_LIMIT), 0);
        assert_eq!(
            entries_that_fit(vec![PEER_MESSAGE_LIMIT], PEER_MESSAGE_LIMIT),
            0
        );
        // The largest write the node accepts (60 MiB) always fits alone.
        assert_eq!(
            entries_that_fit(
                vec![crate::errors::MAX_COMMAND_BYTES + 4096],
                PEER_MESSAGE_LIMIT
            ),
            1
        );
    }

    #[test]
    fn protobuf_length_accounting_matches_varint_sizes() {
        assert_eq!(bytes_field_len(0), 2);
        assert_eq!(bytes_field_len(127), 1 + 1 + 127);
        assert_eq!(bytes_field_len(128), 1 + 2 + 128);
        assert_eq!(bytes_field_len(1 << 21), 1 + 4 + (1 << 21));
    }

    #[test]
    fn too_large_maps_to_payload_too_large_with_entries_hint() {
        match too_large::<openraft::error::Infallible>(2, 300, 15) {
            E::PayloadTooLarge(p) => {
                assert_eq!(p.action(), openraft::RPCTypes::AppendEntries);
                assert_eq!(p.entries_hint(), 15);
            }
            other => panic!("expected PayloadTooLarge, got {other:?}"),
        }
        // Nothing fits: shrinking cannot help, so it is not a PayloadTooLarge (which openraft
        // would retry at once, forever).
        assert!(matches!(
            too_large::<openraft::error::Infallible>(2, 1, 0),
            E::Network(_)
        ));
    }

    #[test]
    fn tonic_message_too_large_is_recognised() {
        let recv = tonic::Status::out_of_range(
            "Error, decoded message length too large: found 70000000 bytes, the limit is: 67108864 bytes",
        );
        let send = tonic::Status::out_of_range(
            "Error, encoded message length too large: found 70000000 bytes, the limit is: 67108864 bytes",
        );
        assert!(is_message_too_large(&recv));
        assert!(is_message_too_large(&send));
        assert!(!is_message_too_large(&tonic::Status::out_of_range(
            "index out of range"
        )));
        assert!(!is_message_too_large(&tonic::Status::unavailable(
            "message length too large"
        )));
    }
}
