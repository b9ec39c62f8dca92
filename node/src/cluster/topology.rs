//! The shard map: which Raft group owns each slot, who is in each group, and each group's
//! current leader.
//!
//! Placement comes from the cluster file alone (`Placement::new` over the shard ids), so every
//! node computes the same map without coordination. Leaders change, so each node learns
//! the other groups' leaders by asking their members' admin service (`Status`) in the
//! background, every [`REFRESH`]; its own group's leader comes from its local Raft metrics.
//! A stale entry is harmless: the node it names answers `-MOVED` to the right place.

use std::collections::BTreeMap;
use std::sync::RwLock;
use std::time::Duration;

use crate::config::{Config, MemberConfig};
use crate::raft::admin_client::Admin;
use crate::raft::auth::PeerAuth;

use super::placement::{Placement, PlacementError};
use super::slot::SLOTS;

/// How often other groups' leaders are refreshed.
pub const REFRESH: Duration = Duration::from_millis(500);

/// The cluster's shard map as this node sees it.
pub struct Topology {
    /// The group this node belongs to.
    pub my_shard: u64,
    pub placement: Placement,
    /// Initial members of every group, from the cluster file.
    pub shards: BTreeMap<u64, Vec<MemberConfig>>,
    leaders: RwLock<BTreeMap<u64, u64>>,
}

impl Topology {
    /// `None` for a node without a cluster section (a standalone one-member group).
    pub fn from_config(cfg: &Config) -> Result<Option<Topology>, PlacementError> {
        let Some(c) = &cfg.cluster else {
            return Ok(None);
        };
        let groups = c.groups();
        let ids: Vec<u64> = groups.iter().map(|g| g.id).collect();
        let my_shard = c.shard_of(cfg.node_id).map(|g| g.id).unwrap_or(0);
        Ok(Some(Topology {
            my_shard,
            placement: Placement::new(&ids)?,
            shards: groups.into_iter().map(|g| (g.id, g.members)).collect(),
            leaders: RwLock::new(BTreeMap::new()),
        }))
    }

    /// More than one group: cross-slot commands are refused and slots may live elsewhere.
    pub fn is_sharded(&self) -> bool {
        self.shards.len() > 1
    }

    pub fn shard_for_slot(&self, slot: u16) -> u64 {
        self.placement.owner(slot)
    }

    /// The last known leader of `shard` (other groups only; see the module docs).
    pub fn leader_of(&self, shard: u64) -> Option<u64> {
        self.leaders
            .read()
            .ok()
            .and_then(|l| l.get(&shard).copied())
    }

    pub fn set_leader(&self, shard: u64, leader: u64) {
        if let Ok(mut l) = self.leaders.write() {
            l.insert(shard, leader);
        }
    }

    /// Where to send a client for `shard`: its leader's client address if known, else its
    /// first member (which will redirect again if it is not the leader).
    pub fn client_addr_of(&self, shard: u64) -> Option<String> {
        let members = self.shards.get(&shard)?;
        let leader = self.leader_of(shard);
        members
            .iter()
            .find(|m| Some(m.id) == leader)
            .or(members.first())
            .map(|m| m.client.clone())
    }

    /// Slot ranges `(first, last)` owned by `shard`.
    pub fn ranges_of(&self, shard: u64) -> Vec<(u16, u16)> {
        self.placement
            .ranges()
            .into_iter()
            .filter(|r| r.2 == shard)
            .map(|r| (r.0, r.1))
            .collect()
    }

    /// Number of slots owned by `shard`.
    pub fn slot_count(&self, shard: u64) -> usize {
        if self.shards.len() == 1 {
            return SLOTS as usize;
        }
        self.placement.count(shard)
    }
}

/// Keeps the other groups' leaders fresh until `stop` flips.
pub async fn refresh_leaders(
    topo: std::sync::Arc<Topology>,
    auth: PeerAuth,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let others: Vec<(u64, Admin)> = topo
        .shards
        .iter()
        .filter(|(id, _)| **id != topo.my_shard)
        .map(|(id, members)| {
            (
                *id,
                Admin::new(
                    auth.clone(),
                    members.iter().map(|m| (m.id, m.raft.clone())).collect(),
                ),
            )
        })
        .collect();
    if others.is_empty() {
        return;
    }
    loop {
        for (shard, admin) in &others {
            if let Some(leader) = admin.find_leader_id().await {
                topo.set_leader(*shard, leader);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(REFRESH) => {}
            _ = stop.changed() => return,
        }
    }
}
