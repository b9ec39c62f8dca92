//! etcd v3 gRPC client built from the hand-written `proto/etcd_kv.proto` subset.

use anyhow::{Context, Result};
use tonic::transport::{Channel, Endpoint};

/// Generated code for the etcd subset (package `etcdserverpb`).
#[allow(clippy::all)]
pub mod pb {
    tonic::include_proto!("etcdserverpb");
}

pub use pb::kv_client::KvClient;
pub use pb::maintenance_client::MaintenanceClient;

/// Opens one HTTP/2 connection to an etcd client URL (`http://127.0.0.1:PORT`).
pub async fn connect(url: &str) -> Result<Channel> {
    Endpoint::from_shared(url.to_string())
        .with_context(|| format!("bad etcd endpoint {url}"))?
        .tcp_nodelay(true)
        .connect_timeout(std::time::Duration::from_secs(2))
        .connect()
        .await
        .with_context(|| format!("connect to etcd at {url}"))
}

/// (this member's id, the leader's id) as reported by `Maintenance.Status`; leader 0 = none.
pub async fn status(url: &str) -> Result<(u64, u64)> {
    let mut c = MaintenanceClient::new(connect(url).await?);
    let r = c
        .status(pb::StatusRequest {})
        .await
        .with_context(|| format!("etcd Status on {url}"))?
        .into_inner();
    let me = r.header.map(|h| h.member_id).unwrap_or(0);
    Ok((me, r.leader))
}
