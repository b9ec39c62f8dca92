//! openraft integration: type configuration, log-entry payloads, and the network.
//!
//! - [`types`]: [`TypeConfig`], [`Request`] (what a log entry carries) and [`Response`].
//! - [`wire`]: the Raft messages (protobuf) to and from openraft's types, for both sides.
//! - [`network`]: outbound Raft RPCs over tonic (one cached channel per peer).
//! - [`service`]: inbound Raft and admin gRPC services; cluster status.
//! - [`pubsub_peer`]: the peer RPC carrying published messages between nodes (inbound service
//!   and outbound client).
//! - [`admin_client`]: leader discovery and membership changes for `sdr-node admin`.
//! - [`auth`]: cluster id + shared secret on every peer RPC.
//! - [`peer_limits`]: the peer port's connection limit and per-RPC-kind message sizes.
//! - [`bootstrap`]: forming the group exactly once.
//! - [`log_budget`]: snapshots and purges triggered by the log's bytes, not only its length.

pub mod admin_client;
pub mod auth;
pub mod bootstrap;
pub mod log_budget;
pub mod network;
pub mod peer_limits;
pub mod pubsub_peer;
pub mod service;
pub mod types;
pub mod wire;

pub use types::{NodeId, Raft, Request, Response, TypeConfig};
