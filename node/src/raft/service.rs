//! Inbound gRPC: the Raft transport service and the admin service, behind peer
//! authentication. A malformed request is answered with `INVALID_ARGUMENT`, never a panic.

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::AppendEntriesResponse;
use sdr_proto::admin as apb;
use sdr_proto::raft as pb;
use tonic::{Request, Response, Status};

use crate::cluster::members::{basic_node, split_node, AddressBook};
use crate::storage::codec;

use super::auth::PeerAuth;
use super::types::{NodeId, Raft};
use super::wire;

/// A request that does not decode (`malformed <field>: <why>`).
fn invalid(e: wire::WireError) -> Status {
    Status::invalid_argument(e.to_string())
}

fn raft_failure<E: std::fmt::Display>(e: E) -> Status {
    Status::unavailable(format!("raft: {e}"))
}

/// Serves the Raft transport for one node.
pub struct RaftService {
    raft: Raft,
    auth: PeerAuth,
}

impl RaftService {
    pub fn new(raft: Raft, auth: PeerAuth) -> RaftService {
        RaftService { raft, auth }
    }
}

#[tonic::async_trait]
impl pb::raft_server::Raft for RaftService {
    async fn vote(
        &self,
        req: Request<pb::VoteRequest>,
    ) -> Result<Response<pb::VoteResponse>, Status> {
        self.auth.check(&req)?;
        let rpc = wire::vote_request(&req.into_inner()).map_err(invalid)?;
        let resp = self.raft.vote(rpc).await.map_err(raft_failure)?;
        let mut vote = Vec::new();
        codec::encode_vote(&resp.vote, &mut vote);
        let mut last = Vec::new();
        codec::encode_opt_log_id(&resp.last_log_id, &mut last);
        Ok(Response::new(pb::VoteResponse {
            vote,
            vote_granted: resp.vote_granted,
            last_log_id: last,
        }))
    }

    async fn append(
        &self,
        req: Request<pb::AppendRequest>,
    ) -> Result<Response<pb::AppendResponse>, Status> {
        self.auth.check(&req)?;
        let rpc = wire::append_request(&req.into_inner()).map_err(invalid)?;
        let resp = self.raft.append_entries(rpc).await.map_err(raft_failure)?;
        use pb::append_response::Kind;
        let mut out = pb::AppendResponse::default();
        match resp {
            AppendEntriesResponse::Success => out.kind = Kind::Success as i32,
            AppendEntriesResponse::Conflict => out.kind = Kind::Conflict as i32,
            AppendEntriesResponse::PartialSuccess(m) => {
                out.kind = Kind::PartialSuccess as i32;
                codec::encode_opt_log_id(&m, &mut out.matching);
            }
            AppendEntriesResponse::HigherVote(v) => {
                out.kind = Kind::HigherVote as i32;
                codec::encode_vote(&v, &mut out.vote);
            }
        }
        Ok(Response::new(out))
    }

    async fn install_snapshot(
        &self,
        req: Request<pb::SnapshotChunk>,
    ) -> Result<Response<pb::SnapshotResponse>, Status> {
        self.auth.check(&req)?;
        let rpc = wire::snapshot_request(req.into_inner()).map_err(invalid)?;
        match self.raft.install_snapshot(rpc).await {
            Ok(resp) => {
                let mut vote = Vec::new();
                codec::encode_vote(&resp.vote, &mut vote);
                Ok(Response::new(pb::SnapshotResponse {
                    vote,
                    ..Default::default()
                }))
            }
            Err(RaftError::APIError(InstallSnapshotError::SnapshotMismatch(mm))) => {
                Ok(Response::new(pb::SnapshotResponse {
                    mismatch: true,
                    expect_id: mm.expect.id,
                    expect_offset: mm.expect.offset,
                    got_id: mm.got.id,
                    got_offset: mm.got.offset,
                    ..Default::default()
                }))
            }
            Err(e) => Err(raft_failure(e)),
        }
    }
}

/// Membership changes and status (`sdr-node admin ...`).
pub struct AdminService {
    raft: Raft,
    auth: PeerAuth,
    book: AddressBook,
    id: NodeId,
}

impl AdminService {
    pub fn new(raft: Raft, auth: PeerAuth, book: AddressBook, id: NodeId) -> AdminService {
        AdminService {
            raft,
            auth,
            book,
            id,
        }
    }

    fn not_leader(&self) -> Option<apb::AdminReply> {
        let m = self.raft.metrics().borrow().clone();
        if m.state.is_leader() {
            return None;
        }
        let leader = m.current_leader;
        let addr = leader
            .and_then(|l| {
                self.book
                    .raft_addr(l, m.membership_config.membership().get_node(&l))
            })
            .unwrap_or_default();
        Some(apb::AdminReply {
            ok: false,
            error: "not the leader".into(),
            leader_id: leader.unwrap_or(0),
            leader_raft_addr: addr,
        })
    }
}

fn reply_result<E: std::fmt::Display>(r: Result<(), E>) -> apb::AdminReply {
    match r {
        Ok(()) => apb::AdminReply {
            ok: true,
            ..Default::default()
        },
        Err(e) => apb::AdminReply {
            ok: false,
            error: e.to_string(),
            ..Default::default()
        },
    }
}

/// A status snapshot of `raft` (also used by INFO and the health check).
pub async fn status(raft: &Raft, book: &AddressBook, id: NodeId) -> apb::StatusReply {
    let m = raft.metrics().borrow().clone();
    let committed = raft
        .with_raft_state(|st| st.committed.map(|l| l.index))
        .await
        .ok()
        .flatten();
    let membership = m.membership_config.membership().clone();
    let members = membership
        .nodes()
        .map(|(nid, n)| {
            let (raft_addr, client) = split_node(n);
            apb::Member {
                id: *nid,
                raft_addr: book.raft_addr(*nid, Some(n)).unwrap_or(raft_addr),
                client_addr: book
                    .client_addr(*nid, Some(n))
                    .or(client)
                    .unwrap_or_default(),
            }
        })
        .collect();
    let last = m.last_log_index.unwrap_or(0);
    let followers = m
        .replication
        .as_ref()
        .map(|r| {
            r.iter()
                .filter(|(nid, _)| **nid != id)
                .map(|(nid, matched)| {
                    let matched = matched.map(|l| l.index).unwrap_or(0);
                    apb::Progress {
                        id: *nid,
                        matched,
                        lag: last.saturating_sub(matched),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let leader_client_addr = m
        .current_leader
        .and_then(|l| book.client_addr(l, membership.get_node(&l)))
        .unwrap_or_default();
    apb::StatusReply {
        node_id: id,
        role: role_name(&m.state, membership.voter_ids().any(|v| v == id)).to_string(),
        term: m.current_term,
        leader_id: m.current_leader.unwrap_or(0),
        leader_client_addr,
        last_log_index: last,
        committed_index: committed.unwrap_or(0),
        applied_index: m.last_applied.map(|l| l.index).unwrap_or(0),
        members,
        voters: membership.voter_ids().collect(),
        initialized: m.membership_config.log_id().is_some() || m.current_term > 0,
        followers,
    }
}

/// leader | follower | candidate | learner.
pub fn role_name(state: &openraft::ServerState, is_voter: bool) -> &'static str {
    match state {
        openraft::ServerState::Leader => "leader",
        openraft::ServerState::Candidate => "candidate",
        openraft::ServerState::Follower if is_voter => "follower",
        openraft::ServerState::Follower | openraft::ServerState::Learner => "learner",
        openraft::ServerState::Shutdown => "shutdown",
    }
}

#[tonic::async_trait]
impl apb::admin_server::Admin for AdminService {
    async fn add_learner(
        &self,
        req: Request<apb::AddLearnerRequest>,
    ) -> Result<Response<apb::AdminReply>, Status> {
        self.auth.check(&req)?;
        let m = req
            .into_inner()
            .member
            .ok_or_else(|| Status::invalid_argument("member is required"))?;
        if m.id == 0 || m.raft_addr.is_empty() || m.client_addr.is_empty() {
            return Err(Status::invalid_argument(
                "member needs a non-zero id, raft_addr and client_addr",
            ));
        }
        if let Some(r) = self.not_leader() {
            return Ok(Response::new(r));
        }
        // Blocks until the learner has caught up (by log or snapshot).
        let r = self
            .raft
            .add_learner(m.id, basic_node(&m.raft_addr, &m.client_addr), true)
            .await;
        Ok(Response::new(reply_result(r.map(|_| ()))))
    }

    async fn change_membership(
        &self,
        req: Request<apb::ChangeMembershipRequest>,
    ) -> Result<Response<apb::AdminReply>, Status> {
        self.auth.check(&req)?;
        let voters: std::collections::BTreeSet<NodeId> =
            req.into_inner().voters.into_iter().collect();
        if voters.is_empty() {
            return Err(Status::invalid_argument("at least one voter is required"));
        }
        if let Some(r) = self.not_leader() {
            return Ok(Response::new(r));
        }
        let r = self.raft.change_membership(voters, false).await;
        Ok(Response::new(reply_result(r.map(|_| ()))))
    }

    async fn status(
        &self,
        req: Request<apb::StatusRequest>,
    ) -> Result<Response<apb::StatusReply>, Status> {
        self.auth.check(&req)?;
        Ok(Response::new(status(&self.raft, &self.book, self.id).await))
    }
}

/// True when the node can serve: a leader is known and this node has applied everything it
/// knows to be committed. This is what the gRPC health endpoint reports as SERVING.
pub async fn is_healthy(raft: &Raft) -> bool {
    let m = raft.metrics().borrow().clone();
    if m.current_leader.is_none() {
        return false;
    }
    let committed = raft
        .with_raft_state(|st| st.committed.map(|l| l.index))
        .await
        .ok()
        .flatten();
    m.last_applied.map(|l| l.index) >= committed
}

/// Keeps the standard gRPC health service (`grpc.health.v1.Health`, service name "") in step
/// with [`is_healthy`]. Health checks need no credentials: they reveal only this bit.
async fn report_health(raft: Raft, reporter: tonic_health::server::HealthReporter) {
    use tonic_health::ServingStatus;
    let mut last = None;
    loop {
        let healthy = is_healthy(&raft).await;
        if last != Some(healthy) {
            let status = if healthy {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            reporter.set_service_status("", status).await;
            last = Some(healthy);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if raft.metrics().borrow().state == openraft::ServerState::Shutdown {
            return;
        }
    }
}

/// Largest AppendEntries (and any Raft RPC) message a peer may send: see
/// [`super::network::PEER_MESSAGE_LIMIT`].
const RAFT_MESSAGE_LIMIT: usize = super::network::PEER_MESSAGE_LIMIT;
/// Admin requests are a member address or a voter list.
const ADMIN_MESSAGE_LIMIT: usize = super::peer_limits::SMALL_MESSAGE_LIMIT;
/// Concurrent HTTP/2 streams (RPCs in flight) one peer connection may open. Raft sends one
/// AppendEntries at a time per follower plus votes and snapshot chunks; the admin tool one call.
const MAX_STREAMS_PER_CONNECTION: u32 = 16;
/// Requests served at once per connection (tower concurrency limit): others wait.
const CONCURRENCY_PER_CONNECTION: usize = 16;
/// Largest header block (metadata): the credentials are a few dozen bytes.
const MAX_HEADER_LIST_BYTES: u32 = 16 * 1024;
/// A request (including reading its body) that takes longer than this is cancelled. Well above
/// openraft's own deadlines (the snapshot timeout defaults to 200 ms per chunk, AppendEntries to
/// one heartbeat), so it cuts only a client that trickles a body.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Serves the Raft, admin, Pub/Sub delivery and health services on `addr` until `shutdown` resolves.
///
/// Peer credentials are checked by an interceptor before a request body is read; connections
/// (at most `max_connections`), streams and concurrency per connection, header size and
/// message sizes per RPC kind are bounded ([`super::peer_limits`], docs/security.md).
#[allow(clippy::too_many_arguments)]
pub async fn serve(
    addr: std::net::SocketAddr,
    max_connections: usize,
    raft: Raft,
    auth: PeerAuth,
    book: AddressBook,
    id: NodeId,
    pubsub: std::sync::Arc<dyn super::pubsub_peer::PeerSink>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    use tonic::service::interceptor::InterceptedService;
    let raft_svc = InterceptedService::new(
        pb::raft_server::RaftServer::new(RaftService::new(raft.clone(), auth.clone()))
            .max_decoding_message_size(RAFT_MESSAGE_LIMIT)
            .max_encoding_message_size(64 * 1024),
        auth.clone(),
    );
    let admin_svc = InterceptedService::new(
        apb::admin_server::AdminServer::new(AdminService::new(
            raft.clone(),
            auth.clone(),
            book,
            id,
        ))
        .max_decoding_message_size(ADMIN_MESSAGE_LIMIT),
        auth.clone(),
    );
    let pubsub_svc = InterceptedService::new(
        super::pubsub_peer::PubSubService::new(pubsub).server(),
        auth,
    );
    let (reporter, health_svc) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::NotServing)
        .await;
    tokio::spawn(report_health(raft, reporter));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    let incoming = super::peer_limits::LimitedIncoming::new(
        listener,
        max_connections,
        std::sync::Arc::default(),
    );
    tonic::transport::Server::builder()
        .layer(super::peer_limits::MessageLimitLayer)
        .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION)
        .concurrency_limit_per_connection(CONCURRENCY_PER_CONNECTION)
        .http2_max_header_list_size(MAX_HEADER_LIST_BYTES)
        .timeout(REQUEST_TIMEOUT)
        .add_service(health_svc)
        .add_service(raft_svc)
        .add_service(admin_svc)
        .add_service(pubsub_svc)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await?;
    Ok(())
}

/// Why the peer gRPC server stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen for peers on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("peer gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
}
