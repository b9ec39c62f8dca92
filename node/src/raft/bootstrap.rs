//! Forming the group exactly once.
//!
//! A one-member group initializes itself on first start. In a cluster, only the member with the
//! lowest id initializes, and only when (a) its own Raft state is pristine and (b) no reachable
//! peer reports an initialized group — so members may start in any order or all at once, a
//! restart with existing data never re-initializes, and a wiped lowest-id member rejoins the
//! existing group instead of founding a second one. Until the lowest-id member is up, the
//! others wait (they cannot elect anyone without it joining the initial configuration).

use std::collections::BTreeMap;
use std::time::Duration;

use sdr_proto::admin as apb;

use crate::cluster::members::basic_node;
use crate::config::Config;

use super::auth::PeerAuth;
use super::types::Raft;

/// Why bootstrapping failed.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("raft stopped during boot: {0}")]
    Stopped(String),
    #[error("cannot initialize the raft group: {0}")]
    Initialize(String),
}

/// Initializes the group if this node is responsible for it and nobody has yet.
pub async fn bootstrap(raft: &Raft, cfg: &Config, client_addr: &str) -> Result<(), BootstrapError> {
    if raft
        .is_initialized()
        .await
        .map_err(|e| BootstrapError::Stopped(e.to_string()))?
    {
        return Ok(());
    }
    let mut members = BTreeMap::new();
    match &cfg.cluster {
        None => {
            members.insert(cfg.node_id, basic_node("-", client_addr));
        }
        Some(c) => {
            let group = cfg.group_members();
            let lowest = group.iter().map(|m| m.id).min();
            if lowest != Some(cfg.node_id) {
                tracing::info!("waiting for member {lowest:?} to form the group");
                return Ok(());
            }
            let auth = PeerAuth {
                cluster_id: c.id.clone(),
                secret: c.secret.clone(),
            };
            for m in group.iter().filter(|m| m.id != cfg.node_id) {
                if peer_initialized(&m.raft, &auth).await {
                    tracing::info!(peer = m.id, "peer already belongs to an initialized group; joining it instead of initializing");
                    return Ok(());
                }
            }
            for m in &group {
                members.insert(m.id, basic_node(&m.raft, &m.client));
            }
        }
    }
    match raft.initialize(members).await {
        Ok(()) => {
            tracing::info!("initialized the raft group");
            Ok(())
        }
        Err(openraft::error::RaftError::APIError(
            openraft::error::InitializeError::NotAllowed(_),
        )) => Ok(()),
        Err(e) => Err(BootstrapError::Initialize(e.to_string())),
    }
}

/// True when the peer at `addr` answers and reports an initialized group.
async fn peer_initialized(addr: &str, auth: &PeerAuth) -> bool {
    let attempt = async {
        let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}")).ok()?;
        let channel = endpoint
            .connect_timeout(Duration::from_millis(300))
            .connect()
            .await
            .ok()?;
        let mut client = apb::admin_client::AdminClient::new(channel);
        let mut req = tonic::Request::new(apb::StatusRequest {});
        auth.stamp(&mut req).ok()?;
        let status = client.status(req).await.ok()?.into_inner();
        Some(status.initialized)
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(1), attempt).await,
        Ok(Some(true))
    )
}
