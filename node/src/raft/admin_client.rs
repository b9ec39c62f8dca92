//! The client side of the admin service, used by `sdr-node admin ...`: finds the leader through
//! any reachable member and applies membership changes there.

use std::collections::BTreeSet;
use std::time::Duration;

use sdr_proto::admin as apb;
use tonic::transport::{Channel, Endpoint};

use crate::config::Config;

use super::auth::PeerAuth;

/// Why an admin operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("the config has no cluster section; admin commands need a cluster file")]
    NoCluster,
    #[error("no member answered (tried {0})")]
    NoMemberReachable(String),
    #[error("no leader is known; try again once the group has elected one")]
    NoLeader,
    #[error("{addr}: {status}")]
    Rpc { addr: String, status: String },
    #[error("{0}")]
    Refused(String),
}

/// A connection to the cluster described by a cluster file.
pub struct Admin {
    auth: PeerAuth,
    /// Raft addresses of the members in the file.
    seeds: Vec<(u64, String)>,
}

async fn connect(addr: &str) -> Result<Channel, AdminError> {
    let rpc = |e: String| AdminError::Rpc {
        addr: addr.to_string(),
        status: e,
    };
    Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| rpc(e.to_string()))?
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(60))
        .connect()
        .await
        .map_err(|e| rpc(e.to_string()))
}

impl Admin {
    /// An admin client for the members `seeds` (id, raft address).
    pub fn new(auth: PeerAuth, seeds: Vec<(u64, String)>) -> Admin {
        Admin { auth, seeds }
    }

    /// The leader id reported by the first member that knows one (short timeouts; `None` when
    /// nobody answers or no leader is known).
    pub async fn find_leader_id(&self) -> Option<u64> {
        for (_, addr) in &self.seeds {
            let attempt =
                tokio::time::timeout(Duration::from_millis(400), self.status_of(addr)).await;
            if let Ok(Ok(st)) = attempt {
                if st.leader_id != 0 {
                    return Some(st.leader_id);
                }
            }
        }
        None
    }

    /// Talks to shard `shard` of the cluster file (a one-group file is shard 1).
    pub fn from_config(cfg: &Config, shard: u64) -> Result<Admin, AdminError> {
        let c = cfg.cluster.as_ref().ok_or(AdminError::NoCluster)?;
        let group = c
            .groups()
            .into_iter()
            .find(|g| g.id == shard)
            .ok_or_else(|| AdminError::Refused(format!("the cluster file has no shard {shard}")))?;
        Ok(Admin {
            auth: PeerAuth {
                cluster_id: c.id.clone(),
                secret: c.secret.clone(),
            },
            seeds: group
                .members
                .iter()
                .map(|m| (m.id, m.raft.clone()))
                .collect(),
        })
    }

    fn request<T>(&self, msg: T) -> Result<tonic::Request<T>, AdminError> {
        let mut req = tonic::Request::new(msg);
        self.auth
            .stamp(&mut req)
            .map_err(|s| AdminError::Refused(s.message().to_string()))?;
        Ok(req)
    }

    /// Status of the member at `addr`.
    pub async fn status_of(&self, addr: &str) -> Result<apb::StatusReply, AdminError> {
        let mut client = apb::admin_client::AdminClient::new(connect(addr).await?);
        let reply = client
            .status(self.request(apb::StatusRequest {})?)
            .await
            .map_err(|s| AdminError::Rpc {
                addr: addr.to_string(),
                status: s.message().to_string(),
            })?;
        Ok(reply.into_inner())
    }

    /// Status of every member in the file (`Err` for those that did not answer).
    pub async fn status_all(&self) -> Vec<(u64, String, Result<apb::StatusReply, AdminError>)> {
        let mut out = Vec::new();
        for (id, addr) in &self.seeds {
            out.push((*id, addr.clone(), self.status_of(addr).await));
        }
        out
    }

    /// The leader's raft address and its status.
    async fn leader(&self) -> Result<(String, apb::StatusReply), AdminError> {
        let mut tried = Vec::new();
        for (_, addr) in &self.seeds {
            match self.status_of(addr).await {
                Ok(st) if st.leader_id == 0 => return Err(AdminError::NoLeader),
                Ok(st) => {
                    let leader_addr = self
                        .seeds
                        .iter()
                        .find(|(id, _)| *id == st.leader_id)
                        .map(|(_, a)| a.clone())
                        .or_else(|| {
                            st.members
                                .iter()
                                .find(|m| m.id == st.leader_id)
                                .map(|m| m.raft_addr.clone())
                        })
                        .ok_or(AdminError::NoLeader)?;
                    let leader_status = self.status_of(&leader_addr).await?;
                    return Ok((leader_addr, leader_status));
                }
                Err(e) => tried.push(e.to_string()),
            }
        }
        Err(AdminError::NoMemberReachable(tried.join("; ")))
    }

    async fn admin_client(
        &self,
        addr: &str,
    ) -> Result<apb::admin_client::AdminClient<Channel>, AdminError> {
        Ok(apb::admin_client::AdminClient::new(connect(addr).await?))
    }

    fn check(
        addr: &str,
        r: Result<tonic::Response<apb::AdminReply>, tonic::Status>,
    ) -> Result<(), AdminError> {
        let r = r
            .map_err(|s| AdminError::Rpc {
                addr: addr.to_string(),
                status: s.message().to_string(),
            })?
            .into_inner();
        if r.ok {
            Ok(())
        } else {
            Err(AdminError::Refused(r.error))
        }
    }

    /// Adds a member: as a learner first (returns once it has caught up), then as a voter.
    pub async fn add(&self, id: u64, raft_addr: &str, client_addr: &str) -> Result<(), AdminError> {
        let (addr, st) = self.leader().await?;
        let mut client = self.admin_client(&addr).await?;
        let member = apb::Member {
            id,
            raft_addr: raft_addr.to_string(),
            client_addr: client_addr.to_string(),
        };
        Self::check(
            &addr,
            client
                .add_learner(self.request(apb::AddLearnerRequest {
                    member: Some(member),
                })?)
                .await,
        )?;
        let mut voters: BTreeSet<u64> = st.voters.into_iter().collect();
        voters.insert(id);
        let req = apb::ChangeMembershipRequest {
            voters: voters.into_iter().collect(),
        };
        Self::check(&addr, client.change_membership(self.request(req)?).await)
    }

    /// Removes a member from the voters (and from the group).
    pub async fn remove(&self, id: u64) -> Result<(), AdminError> {
        let (addr, st) = self.leader().await?;
        let all = st.voters.clone();
        let mut voters: BTreeSet<u64> = st.voters.into_iter().collect();
        if !voters.remove(&id) {
            return Err(AdminError::Refused(format!(
                "node {id} is not a voter (voters: {all:?})"
            )));
        }
        let mut client = self.admin_client(&addr).await?;
        let req = apb::ChangeMembershipRequest {
            voters: voters.into_iter().collect(),
        };
        Self::check(&addr, client.change_membership(self.request(req)?).await)
    }
}
