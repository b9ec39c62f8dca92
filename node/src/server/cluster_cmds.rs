//! CLUSTER subcommands in Redis Cluster's reply formats. Each shard (Raft group) is presented
//! as one master — its Raft leader — with the other members as its replicas, owning the slot
//! ranges the placement gives it (all 16384 for a one-group cluster).

use std::sync::Arc;

use bytes::Bytes;

use crate::clock;
use crate::cluster::slot::{key_slot, SLOTS};
use crate::config::split_host_port;
use crate::raft::service;
use crate::resp::Frame;

use super::state::Node;

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

/// One member as CLUSTER replies show it.
struct MemberView {
    id: u64,
    host: String,
    port: u16,
    bus_port: u16,
    voter: bool,
}

/// One shard: its leader (if known), members and slot ranges.
struct ShardView {
    leader: Option<u64>,
    members: Vec<MemberView>,
    ranges: Vec<(u16, u16)>,
    applied: u64,
}

fn member_view(id: u64, client: &str, raft: &str, voter: bool) -> MemberView {
    let (host, port) = split_host_port(client).unwrap_or_default();
    let bus_port = split_host_port(raft).map(|(_, p)| p).unwrap_or(0);
    MemberView {
        id,
        host,
        port,
        bus_port,
        voter,
    }
}

async fn shard_views(node: &Arc<Node>) -> Vec<ShardView> {
    let Some(topo) = &node.topology else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (shard, members) in &topo.shards {
        let ranges = if topo.shards.len() == 1 {
            vec![(0, SLOTS - 1)]
        } else {
            topo.ranges_of(*shard)
        };
        if *shard == topo.my_shard {
            // Our own group: live membership (includes members added at run time).
            let st = service::status(&node.raft, &node.book, node.id).await;
            out.push(ShardView {
                leader: (st.leader_id != 0).then_some(st.leader_id),
                members: st
                    .members
                    .iter()
                    .map(|m| {
                        member_view(
                            m.id,
                            &m.client_addr,
                            &m.raft_addr,
                            st.voters.contains(&m.id),
                        )
                    })
                    .collect(),
                ranges,
                applied: st.applied_index,
            });
        } else {
            out.push(ShardView {
                leader: topo.leader_of(*shard),
                members: members
                    .iter()
                    .map(|m| member_view(m.id, &m.client, &m.raft, true))
                    .collect(),
                ranges,
                applied: 0,
            });
        }
    }
    out
}

fn cluster_id(node: &Node) -> &str {
    node.config
        .cluster
        .as_ref()
        .map(|c| c.id.as_str())
        .unwrap_or("standalone")
}

/// The member presented as master: the leader, or (no leader known) the first member, so that
/// every slot still has an owner clients can be sent to.
fn master_of(v: &ShardView) -> Option<u64> {
    v.leader.or_else(|| v.members.first().map(|m| m.id))
}

fn node_entry(cid: &str, m: &MemberView) -> Frame {
    Frame::Array(vec![
        Frame::bulk(&m.host),
        Frame::Integer(m.port as i64),
        Frame::bulk(redis_node_id(cid, m.id)),
    ])
}

pub async fn execute(node: &Arc<Node>, argv: &[Bytes]) -> Frame {
    let sub = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
    if sub == "keyslot" && argv.len() == 3 {
        return Frame::Integer(key_slot(&argv[2]) as i64);
    }
    if node.config.cluster.is_none() {
        return Frame::err("This instance has cluster support disabled");
    }
    let cid = cluster_id(node).to_string();
    match (sub.as_str(), argv.len()) {
        ("myid", 2) => Frame::bulk(redis_node_id(&cid, node.id)),
        ("info", 2) => {
            let views = shard_views(node).await;
            let ok = views.iter().all(|v| v.leader.is_some());
            let st = service::status(&node.raft, &node.book, node.id).await;
            let known: usize = views.iter().map(|v| v.members.len()).sum();
            Frame::verbatim_text(format!(
                "cluster_enabled:1\r\ncluster_state:{}\r\ncluster_slots_assigned:{SLOTS}\r\ncluster_slots_ok:{SLOTS}\r\ncluster_slots_pfail:0\r\ncluster_slots_fail:0\r\ncluster_known_nodes:{known}\r\ncluster_size:{}\r\ncluster_current_epoch:{}\r\ncluster_my_epoch:{}\r\nraft_leader_id:{}\r\nraft_role:{}\r\n",
                if ok { "ok" } else { "fail" },
                views.len(),
                st.term,
                st.term,
                st.leader_id,
                st.role,
            ))
        }
        ("nodes", 2) => {
            let mut out = String::new();
            for v in shard_views(node).await {
                let master = master_of(&v);
                for m in &v.members {
                    let rid = redis_node_id(&cid, m.id);
                    let me = if m.id == node.id { "myself," } else { "" };
                    let addr = format!("{}:{}@{}", m.host, m.port, m.bus_port);
                    if Some(m.id) == master {
                        let slots: Vec<String> = v
                            .ranges
                            .iter()
                            .map(|(a, b)| {
                                if a == b {
                                    a.to_string()
                                } else {
                                    format!("{a}-{b}")
                                }
                            })
                            .collect();
                        let fail = if v.leader.is_none() { ",fail?" } else { "" };
                        out.push_str(&format!(
                            "{rid} {addr} {me}master{fail} - 0 0 1 connected {}\n",
                            slots.join(" ")
                        ));
                    } else {
                        let role = if m.voter { "slave" } else { "slave,nofailover" };
                        let of = master
                            .map(|x| redis_node_id(&cid, x))
                            .unwrap_or_else(|| "-".into());
                        out.push_str(&format!("{rid} {addr} {me}{role} {of} 0 0 1 connected\n"));
                    }
                }
            }
            Frame::verbatim_text(out)
        }
        ("slots", 2) => {
            let mut out = Vec::new();
            for v in shard_views(node).await {
                let master = master_of(&v);
                let mut ordered: Vec<&MemberView> = v.members.iter().filter(|m| m.voter).collect();
                ordered.sort_by_key(|m| (Some(m.id) != master, m.id));
                for (a, b) in &v.ranges {
                    let mut entry = vec![Frame::Integer(*a as i64), Frame::Integer(*b as i64)];
                    entry.extend(ordered.iter().map(|m| node_entry(&cid, m)));
                    out.push(Frame::Array(entry));
                }
            }
            Frame::Array(out)
        }
        ("shards", 2) => {
            let mut out = Vec::new();
            for v in shard_views(node).await {
                let master = master_of(&v);
                let slots = v
                    .ranges
                    .iter()
                    .flat_map(|(a, b)| [Frame::Integer(*a as i64), Frame::Integer(*b as i64)])
                    .collect();
                let nodes = v
                    .members
                    .iter()
                    .map(|m| {
                        let role = if Some(m.id) == master {
                            "master"
                        } else {
                            "replica"
                        };
                        let health = if v.leader.is_some() { "online" } else { "fail" };
                        Frame::Array(vec![
                            Frame::bulk("id"),
                            Frame::bulk(redis_node_id(&cid, m.id)),
                            Frame::bulk("port"),
                            Frame::Integer(m.port as i64),
                            Frame::bulk("ip"),
                            Frame::bulk(&m.host),
                            Frame::bulk("endpoint"),
                            Frame::bulk(&m.host),
                            Frame::bulk("role"),
                            Frame::bulk(role),
                            Frame::bulk("replication-offset"),
                            Frame::Integer(v.applied as i64),
                            Frame::bulk("health"),
                            Frame::bulk(health),
                        ])
                    })
                    .collect();
                out.push(Frame::Array(vec![
                    Frame::bulk("slots"),
                    Frame::Array(slots),
                    Frame::bulk("nodes"),
                    Frame::Array(nodes),
                ]));
            }
            Frame::Array(out)
        }
        ("countkeysinslot", 3) | ("getkeysinslot", 4) => {
            let Some(slot) = std::str::from_utf8(&argv[2])
                .ok()
                .and_then(|s| s.parse::<u16>().ok())
                .filter(|s| *s < SLOTS)
            else {
                return Frame::err("Invalid slot");
            };
            let limit = if argv.len() == 4 {
                match std::str::from_utf8(&argv[3])
                    .ok()
                    .and_then(|s| s.parse::<i64>().ok())
                {
                    Some(n) if n >= 0 => n as usize,
                    _ => return Frame::err("Invalid number of keys"),
                }
            } else {
                usize::MAX
            };
            let ks = match node.keyspace.read() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            // The keyspace's slot index: O(keys in the slot) under the lock, not a scan of
            // every key (docs/security.md). Live keys only, in byte order.
            let keys = ks.keys_in_slot(slot, ks.timeline(clock::now_ms()));
            if argv.len() == 3 {
                Frame::Integer(keys.count() as i64)
            } else {
                Frame::Array(keys.take(limit).cloned().map(Frame::Bulk).collect())
            }
        }
        _ => Frame::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try CLUSTER HELP.",
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
