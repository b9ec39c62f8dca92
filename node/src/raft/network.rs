//! Outbound Raft RPCs over tonic gRPC.
//!
//! One lazily-connected channel per peer, cached by node id and shared by every RPC to it (a
//! tonic `Channel` multiplexes and reconnects by itself, with its own backoff). Each request
//! carries the cluster credentials and openraft's per-RPC deadline. Transport failures become
//! `Unreachable` (peer down: openraft backs off) or `Network` errors; a malformed reply is a
//! `Network` error, never a panic.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
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

/// How long to wait for a TCP connection to a peer.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

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
            Some(addr) => self
                .channel(target, &addr)
                .map(pb::raft_client::RaftClient::new),
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
        let entries = rpc
            .entries
            .iter()
            .map(|e| {
                let mut b = Vec::new();
                codec::encode_entry(e, &mut b);
                b
            })
            .collect();
        let msg = pb::AppendRequest {
            vote: vote_bytes(&rpc.vote),
            prev_log_id: opt_log_id_bytes(&rpc.prev_log_id),
            entries,
            leader_commit: opt_log_id_bytes(&rpc.leader_commit),
        };
        let req = self.request(msg, &option)?;
        let resp = self
            .client()?
            .append(req)
            .await
            .map_err(|s| status_error(self.target, s))?
            .into_inner();
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
