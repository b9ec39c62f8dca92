//! Generated protobuf and tonic code; nothing hand-written lives here.
//!
//! - [`raft`]: the Raft transport service (`proto/raft.proto`).
//! - [`admin`]: cluster administration (`proto/admin.proto`).
//! - [`pubsub`]: cross-node Pub/Sub delivery (`proto/pubsub.proto`).

/// Raft transport between members of one group.
pub mod raft {
    tonic::include_proto!("sdr.raft");
}

/// Cluster formation, membership change and status.
pub mod admin {
    tonic::include_proto!("sdr.admin");
}

/// Cross-node Pub/Sub message delivery.
pub mod pubsub {
    tonic::include_proto!("sdr.pubsub");
}
