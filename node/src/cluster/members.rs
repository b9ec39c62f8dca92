//! Where members are reached.
//!
//! openraft's `BasicNode.addr` is the only per-member data the Raft membership replicates, so it
//! carries both addresses as `"<raft host:port> <client host:port>"` (a single address means
//! Raft only). Addresses from the local cluster file take precedence for the Raft address, so a
//! node can reach a peer through a proxy while the membership keeps the peer's own address.

use std::collections::BTreeMap;

use openraft::BasicNode;

use crate::config::Config;
use crate::raft::NodeId;

/// Builds the replicated node record for a member.
pub fn basic_node(raft: &str, client: &str) -> BasicNode {
    BasicNode {
        addr: format!("{raft} {client}"),
    }
}

/// `(raft address, client address)` from a replicated node record.
pub fn split_node(node: &BasicNode) -> (String, Option<String>) {
    let mut parts = node.addr.split_whitespace();
    let raft = parts.next().unwrap_or_default().to_string();
    (raft, parts.next().map(str::to_string))
}

/// Address book resolved from the cluster file; falls back to the replicated records.
#[derive(Clone, Debug, Default)]
pub struct AddressBook {
    raft: BTreeMap<NodeId, String>,
    client: BTreeMap<NodeId, String>,
}

impl AddressBook {
    pub fn from_config(cfg: &Config) -> AddressBook {
        let mut book = AddressBook::default();
        if let Some(c) = &cfg.cluster {
            for m in c.all_members() {
                book.raft.insert(m.id, m.raft);
                book.client.insert(m.id, m.client);
            }
        }
        book
    }

    /// Where to dial `id`'s Raft service.
    pub fn raft_addr(&self, id: NodeId, node: Option<&BasicNode>) -> Option<String> {
        self.raft
            .get(&id)
            .cloned()
            .or_else(|| node.map(|n| split_node(n).0).filter(|a| !a.is_empty()))
    }

    /// The client address to advertise for `id` (in `-MOVED`).
    pub fn client_addr(&self, id: NodeId, node: Option<&BasicNode>) -> Option<String> {
        self.client
            .get(&id)
            .cloned()
            .or_else(|| node.and_then(|n| split_node(n).1))
    }
}
