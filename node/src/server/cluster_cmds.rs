//! CLUSTER subcommands for a node in a Raft group, in Redis Cluster's reply formats: the group
//! owns all 16384 slots, its leader is the master and the other voters are its replicas.
//! (Slot tables across several groups come with sharding.)

use std::sync::Arc;

use bytes::Bytes;

use crate::cluster::slot::{key_slot, SLOTS};
use crate::config::split_host_port;
use crate::raft::service;
use crate::resp::Frame;

use super::node::Node;

/// Redis Cluster node ids are 40 hex characters; ours are derived from the cluster id and the
/// Raft id so they are stable across restarts and identical on every member.
pub fn redis_node_id(cluster_id: &str, id: u64) -> String {
    // FNV-1a over the cluster id, then the Raft id in the low digits: readable and unique.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in cluster_id.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}{:08x}{id:016x}", 0u32)
}

fn cluster_id(node: &Node) -> &str {
    node.config
        .cluster
        .as_ref()
        .map(|c| c.id.as_str())
        .unwrap_or("standalone")
}

pub async fn execute(node: &Arc<Node>, argv: &[Bytes]) -> Frame {
    let sub = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
    if node.config.cluster.is_none() && sub != "keyslot" {
        return Frame::error("ERR This instance has cluster support disabled");
    }
    let st = service::status(&node.raft, &node.book, node.id).await;
    let cid = cluster_id(node).to_string();
    match (sub.as_str(), argv.len()) {
        ("keyslot", 3) => Frame::Integer(key_slot(&argv[2]) as i64),
        ("myid", 2) => Frame::bulk(redis_node_id(&cid, node.id)),
        ("info", 2) => {
            let ok = st.leader_id != 0;
            Frame::bulk(format!(
                "cluster_enabled:1\r\ncluster_state:{}\r\ncluster_slots_assigned:{SLOTS}\r\ncluster_slots_ok:{}\r\ncluster_slots_pfail:0\r\ncluster_slots_fail:{}\r\ncluster_known_nodes:{}\r\ncluster_size:1\r\ncluster_current_epoch:{}\r\ncluster_my_epoch:{}\r\nraft_leader_id:{}\r\nraft_role:{}\r\n",
                if ok { "ok" } else { "fail" },
                if ok { SLOTS } else { 0 },
                if ok { 0 } else { SLOTS },
                st.members.len(),
                st.term,
                st.term,
                st.leader_id,
                st.role,
            ))
        }
        ("nodes", 2) => {
            let leader_rid = redis_node_id(&cid, st.leader_id);
            let mut out = String::new();
            for m in &st.members {
                let rid = redis_node_id(&cid, m.id);
                let me = if m.id == node.id { "myself," } else { "" };
                let (host, port) = split_host_port(&m.client_addr).unwrap_or_default();
                let bus = split_host_port(&m.raft_addr).map(|(_, p)| p).unwrap_or(0);
                if m.id == st.leader_id {
                    out.push_str(&format!(
                        "{rid} {host}:{port}@{bus} {me}master - 0 0 {} connected 0-16383\n",
                        st.term
                    ));
                } else {
                    let role = if st.voters.contains(&m.id) {
                        "slave"
                    } else {
                        "slave,nofailover"
                    };
                    let master = if st.leader_id == 0 {
                        "-".to_string()
                    } else {
                        leader_rid.clone()
                    };
                    out.push_str(&format!(
                        "{rid} {host}:{port}@{bus} {me}{role} {master} 0 0 {} connected\n",
                        st.term
                    ));
                }
            }
            Frame::bulk(out)
        }
        ("slots", 2) => {
            if st.leader_id == 0 {
                return Frame::Array(vec![]);
            }
            let mut entry = vec![Frame::Integer(0), Frame::Integer(SLOTS as i64 - 1)];
            let mut ordered: Vec<_> = st
                .members
                .iter()
                .filter(|m| st.voters.contains(&m.id))
                .collect();
            ordered.sort_by_key(|m| (m.id != st.leader_id, m.id));
            for m in ordered {
                let (host, port) = split_host_port(&m.client_addr).unwrap_or_default();
                entry.push(Frame::Array(vec![
                    Frame::bulk(host),
                    Frame::Integer(port as i64),
                    Frame::bulk(redis_node_id(&cid, m.id)),
                ]));
            }
            Frame::Array(vec![Frame::Array(entry)])
        }
        _ => Frame::error(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLUSTER HELP.",
            String::from_utf8_lossy(&argv[1])
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_are_40_hex_and_distinct() {
        let a = redis_node_id("c", 1);
        let b = redis_node_id("c", 2);
        assert_eq!(a.len(), 40);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert_ne!(a, redis_node_id("d", 1));
    }
}
