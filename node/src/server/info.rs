//! INFO: Redis's sections (server, clients, memory, persistence, stats, replication, keyspace)
//! with Raft state reported under `replication`.

use std::fmt::Write as _;
use std::sync::Arc;

use bytes::Bytes;

use super::state::Node;
use super::stats::Stats;

/// The Redis version we claim in INFO and HELLO: clients gate features on it, and we implement
/// Redis 7 semantics.
pub const REDIS_VERSION: &str = "7.2.0";

/// What `INFO memory` reports as `mem_allocator`: the binary that installs a global allocator
/// names it here at start ([`set_mem_allocator`]); a library user that does not is on the
/// system allocator, `libc`, as Redis calls it.
static MEM_ALLOCATOR: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();

/// Names the process's global allocator for `INFO memory` (first call wins).
pub fn set_mem_allocator(name: &'static str) {
    let _ = MEM_ALLOCATOR.set(name);
}

fn mem_allocator() -> &'static str {
    MEM_ALLOCATOR.get().copied().unwrap_or("libc")
}

const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cluster",
    "keyspace",
];

/// Renders the requested sections (`INFO`, `INFO all`, `INFO default`, `INFO a b ...`).
pub async fn render(node: &Arc<Node>, args: &[Bytes]) -> String {
    let wanted: Vec<String> = args
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    let all = wanted.is_empty()
        || wanted
            .iter()
            .any(|w| matches!(w.as_str(), "all" | "everything" | "default"));
    let mut out = String::new();
    for section in DEFAULT_SECTIONS {
        if all || wanted.iter().any(|w| w == section) {
            if !out.is_empty() {
                out.push_str("\r\n");
            }
            section_text(node, section, &mut out).await;
        }
    }
    out
}

async fn section_text(node: &Arc<Node>, section: &str, out: &mut String) {
    let s = &node.stats;
    match section {
        "server" => {
            let uptime = node.started.elapsed().as_secs();
            let _ = write!(
                out,
                "# Server\r\nredis_version:{REDIS_VERSION}\r\nsdr_version:{}\r\nredis_mode:standalone\r\nos:{} {}\r\narch_bits:64\r\nmultiplexing_api:epoll\r\nprocess_id:{}\r\nrun_id:{:040x}\r\ntcp_port:{}\r\nuptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\nexecutable:{}\r\nconfig_file:\r\n",
                env!("CARGO_PKG_VERSION"),
                std::env::consts::OS,
                std::env::consts::ARCH,
                std::process::id(),
                (node.id as u128 * 0x9e37_79b9_7f4a_7c15u128) ^ std::process::id() as u128,
                node.local_addr.port(),
                uptime / 86_400,
                std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default(),
            );
        }
        "clients" => {
            let _ = write!(
                out,
                "# Clients\r\nconnected_clients:{}\r\nmaxclients:{}\r\nblocked_clients:{}\r\ntracking_clients:{}\r\n",
                Stats::get(&s.connected_clients),
                node.settings().maxclients,
                node.blocking.blocked_clients(),
                node.tracking.clients()
            );
        }
        "memory" => {
            let settings = node.settings();
            let used = node
                .keyspace
                .read()
                .map(|k| k.approx_memory_bytes())
                .unwrap_or(0);
            let rss = resident_bytes().unwrap_or(0);
            let _ = write!(
                out,
                "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nmaxmemory:{}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\nmem_allocator:{}\r\n",
                human(used as u64),
                human(rss),
                settings.maxmemory,
                human(settings.maxmemory),
                settings.maxmemory_policy.as_str(),
                mem_allocator(),
            );
        }
        "persistence" => {
            let m = node.raft.metrics().borrow().clone();
            let _ = write!(
                out,
                "# Persistence\r\nloading:0\r\naof_enabled:1\r\nsdr_fsync:{}\r\nsdr_snapshot_every:{}\r\nsdr_last_snapshot_index:{}\r\nsdr_purged_index:{}\r\nrdb_bgsave_in_progress:0\r\naof_rewrite_in_progress:0\r\n",
                node.config.fsync,
                node.config.snapshot_every,
                opt_index(m.snapshot.map(|l| l.index)),
                opt_index(m.purged.map(|l| l.index)),
            );
        }
        "stats" => {
            let _ = write!(
                out,
                "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\nevicted_keys:{}\r\ntotal_error_replies:0\r\nsdr_writes_proposed:{}\r\nsdr_reads_confirmed:{}\r\nsdr_read_barriers:{}\r\nsdr_reads_local:{}\r\nsdr_protocol_errors:{}\r\nsdr_proposer_queued_bytes:{}\r\nsdr_proposer_dropped_runs:{}\r\n",
                Stats::get(&s.connections_received),
                Stats::get(&s.commands_processed),
                Stats::get(&s.net_input_bytes),
                Stats::get(&s.net_output_bytes),
                Stats::get(&s.rejected_connections),
                Stats::get(&s.expired_keys),
                Stats::get(&s.evicted_keys),
                Stats::get(&s.writes_proposed),
                Stats::get(&s.reads_confirmed),
                Stats::get(&s.read_barriers),
                node.reads.local_confirmations(),
                Stats::get(&s.protocol_errors),
                node.proposer.queued_bytes(),
                node.proposer.dropped_runs(),
            );
            let (channels, patterns, shard) = node.pubsub.sizes();
            let peer = &node.pubsub.peer_stats;
            let _ = write!(
                out,
                "pubsub_channels:{channels}\r\npubsub_patterns:{patterns}\r\npubsubshard_channels:{shard}\r\nsdr_pubsub_peer_sent:{}\r\nsdr_pubsub_peer_dropped:{}\r\nsdr_pubsub_peer_received:{}\r\nsdr_pubsub_peer_queued_bytes:{}\r\n",
                Stats::get(&peer.sent),
                Stats::get(&peer.dropped),
                Stats::get(&peer.received),
                node.pubsub.peer_queued_bytes(),
            );
            let (keys, items, prefixes) = node.tracking.totals();
            let _ = write!(
                out,
                "tracking_total_keys:{keys}\r\ntracking_total_items:{items}\r\ntracking_total_prefixes:{prefixes}\r\n"
            );
        }
        "replication" => {
            let st = crate::raft::service::status(&node.raft, &node.book, node.id).await;
            let m = node.raft.metrics().borrow().clone();
            let role = if st.role == "leader" {
                "master"
            } else {
                "slave"
            };
            let _ = write!(out, "# Replication\r\nrole:{role}\r\n");
            if role == "slave" {
                let (host, port) =
                    crate::config::split_host_port(&st.leader_client_addr).unwrap_or_default();
                let _ = write!(
                    out,
                    "master_host:{host}\r\nmaster_port:{port}\r\nmaster_link_status:{}\r\n",
                    if st.leader_id != 0 { "up" } else { "down" }
                );
            }
            let _ = write!(out, "connected_slaves:{}\r\n", st.followers.len());
            for (i, f) in st.followers.iter().enumerate() {
                let addr = st
                    .members
                    .iter()
                    .find(|m| m.id == f.id)
                    .map(|m| m.client_addr.clone())
                    .unwrap_or_default();
                let (host, port) = crate::config::split_host_port(&addr).unwrap_or_default();
                let _ = write!(
                    out,
                    "slave{i}:id={},ip={host},port={port},state=online,offset={},lag={}\r\n",
                    f.id, f.matched, f.lag
                );
            }
            let voters: Vec<String> = st.voters.iter().map(|v| v.to_string()).collect();
            let _ = write!(
                out,
                "raft_node_id:{}\r\nraft_role:{}\r\nraft_term:{}\r\nraft_leader_id:{}\r\nraft_leader_addr:{}\r\nraft_voters:{}\r\nraft_last_log_index:{}\r\nraft_commit_index:{}\r\nraft_applied_index:{}\r\nraft_snapshot_index:{}\r\nraft_millis_since_quorum_ack:{}\r\n",
                st.node_id,
                st.role,
                st.term,
                if st.leader_id == 0 { String::new() } else { st.leader_id.to_string() },
                st.leader_client_addr,
                voters.join(","),
                st.last_log_index,
                st.committed_index,
                st.applied_index,
                opt_index(m.snapshot.map(|l| l.index)),
                m.millis_since_quorum_ack.map(|x| x.to_string()).unwrap_or_default(),
            );
        }
        "cluster" => {
            let enabled = u8::from(node.config.cluster.is_some());
            let _ = write!(out, "# Cluster\r\ncluster_enabled:{enabled}\r\n");
        }
        "keyspace" => {
            // One line per database that holds keys, in index order (as Redis).
            let dbs: Vec<(u32, usize, usize)> = node
                .keyspace
                .read()
                .map(|k| {
                    k.databases()
                        .into_iter()
                        .map(|(n, d)| (n, d.len(), d.expires_len()))
                        .collect()
                })
                .unwrap_or_default();
            out.push_str("# Keyspace\r\n");
            for (n, keys, expires) in dbs {
                let _ = write!(out, "db{n}:keys={keys},expires={expires},avg_ttl=0\r\n");
            }
        }
        _ => {}
    }
}

fn opt_index(i: Option<u64>) -> u64 {
    i.unwrap_or(0)
}

fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}G", b / (1024.0 * 1024.0 * 1024.0))
    } else if b >= 1024.0 * 1024.0 {
        format!("{:.2}M", b / (1024.0 * 1024.0))
    } else if b >= 1024.0 {
        format!("{:.2}K", b / 1024.0)
    } else {
        format!("{bytes}B")
    }
}

/// Resident set size from /proc (Linux); None elsewhere.
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}
