//! The peer RPC that carries published messages between nodes (`proto/pubsub.proto`): the
//! inbound service, which hands each batch to a [`PeerSink`] (the node's Pub/Sub registry),
//! and the outbound client one peer link uses.
//!
//! Behind the same peer authentication (an interceptor checks the cluster id and secret before
//! the body is read) and server limits as the Raft service (`service::serve`); a message
//! larger than [`PUBSUB_MESSAGE_LIMIT`] is refused by the receiver's decoder and never sent by
//! the sender. Transport only: ordering and dropping are the sender's link's business
//! (`server::pubsub`).

use std::time::Duration;

use bytes::Bytes;
use sdr_proto::pubsub as pb;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};

use super::auth::PeerAuth;
use super::NodeId;

/// Largest Deliver request accepted (and sent): a batch of messages, or one large message.
pub const PUBSUB_MESSAGE_LIMIT: usize = super::network::PEER_MESSAGE_LIMIT;
/// Largest reply (one integer).
const REPLY_LIMIT: usize = 1024;
/// A Deliver that takes longer is abandoned (its messages dropped).
const DELIVER_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// Protobuf framing room per message and per request.
const MESSAGE_OVERHEAD: usize = 32;

/// One published message as it travels between nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerMessage {
    /// SPUBLISH (shard channel) rather than PUBLISH.
    pub sharded: bool,
    pub channel: Bytes,
    pub payload: Bytes,
}

impl PeerMessage {
    /// Bytes it takes in a Deliver request (an upper bound).
    pub fn size(&self) -> usize {
        self.channel.len() + self.payload.len() + MESSAGE_OVERHEAD
    }
}

/// Where received messages go: delivered to this node's subscribers; returns how many
/// received them.
pub trait PeerSink: Send + Sync + 'static {
    fn deliver(&self, messages: Vec<PeerMessage>) -> u64;
}

/// The inbound Pub/Sub service.
pub struct PubSubService {
    sink: std::sync::Arc<dyn PeerSink>,
}

impl PubSubService {
    pub fn new(sink: std::sync::Arc<dyn PeerSink>) -> PubSubService {
        PubSubService { sink }
    }

    /// The tonic server with its size limits (wrap it in the auth interceptor).
    pub fn server(self) -> pb::pub_sub_server::PubSubServer<PubSubService> {
        pb::pub_sub_server::PubSubServer::new(self)
            .max_decoding_message_size(PUBSUB_MESSAGE_LIMIT)
            .max_encoding_message_size(REPLY_LIMIT)
    }
}

#[tonic::async_trait]
impl pb::pub_sub_server::PubSub for PubSubService {
    async fn deliver(
        &self,
        req: Request<pb::DeliverRequest>,
    ) -> Result<Response<pb::DeliverResponse>, Status> {
        let messages = req
            .into_inner()
            .messages
            .into_iter()
            .map(|m| PeerMessage {
                sharded: m.sharded,
                channel: Bytes::from(m.channel),
                payload: Bytes::from(m.payload),
            })
            .collect();
        let receivers = self.sink.deliver(messages);
        Ok(Response::new(pb::DeliverResponse { receivers }))
    }
}

/// Makes per-peer clients; cheap to clone.
#[derive(Clone)]
pub struct PeerLinkClient {
    auth: PeerAuth,
    from: NodeId,
}

impl PeerLinkClient {
    pub fn new(auth: PeerAuth, from: NodeId) -> PeerLinkClient {
        PeerLinkClient { auth, from }
    }

    /// A lazily connected client for the peer at `addr` (its Raft/gRPC address).
    pub fn connect(&self, target: NodeId, addr: &str) -> Result<PeerClient, String> {
        let channel = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| format!("invalid address '{addr}' for node {target}: {e}"))?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .connect_lazy();
        Ok(PeerClient {
            client: pb::pub_sub_client::PubSubClient::new(channel)
                .max_encoding_message_size(PUBSUB_MESSAGE_LIMIT)
                .max_decoding_message_size(REPLY_LIMIT),
            auth: self.auth.clone(),
            from: self.from,
        })
    }
}

/// Deliver RPCs to one peer.
pub struct PeerClient {
    client: pb::pub_sub_client::PubSubClient<Channel>,
    auth: PeerAuth,
    from: NodeId,
}

impl PeerClient {
    /// Sends one batch; `Err` means it may not have been delivered (the caller drops it).
    pub async fn deliver(&mut self, batch: Vec<PeerMessage>) -> Result<(), String> {
        let size: usize = batch.iter().map(PeerMessage::size).sum::<usize>() + MESSAGE_OVERHEAD;
        if size > PUBSUB_MESSAGE_LIMIT {
            return Err(format!(
                "a batch of {size} bytes exceeds the peer message limit of {PUBSUB_MESSAGE_LIMIT}"
            ));
        }
        let mut req = Request::new(pb::DeliverRequest {
            from: self.from,
            messages: batch
                .into_iter()
                .map(|m| pb::Message {
                    sharded: m.sharded,
                    channel: m.channel.to_vec(),
                    payload: m.payload.to_vec(),
                })
                .collect(),
        });
        req.set_timeout(DELIVER_TIMEOUT);
        self.auth
            .stamp(&mut req)
            .map_err(|s| s.message().to_string())?;
        match tokio::time::timeout(DELIVER_TIMEOUT, self.client.deliver(req)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(s)) => Err(format!("{}: {}", s.code(), s.message())),
            Err(_) => Err("timed out".to_string()),
        }
    }
}
