//! openraft integration: type configuration, log-entry payloads, and the network.
//!
//! - [`types`]: [`TypeConfig`], [`Request`] (what a log entry carries) and [`Response`].
//! - [`network`]: the `RaftNetworkFactory` (a one-member group never dials out; replication adds
//!   the tonic client).

pub mod network;
pub mod types;

pub use types::{NodeId, Raft, Request, Response, TypeConfig};
