//! One client connection.
//!
//! Each read from the socket may carry many pipelined commands. They are executed in order with
//! these rules, which keep Redis's per-connection ordering while letting writes share commits:
//!
//! - consecutive writes are proposed back to back without waiting, so their entries are appended
//!   and fsynced together (group commit);
//! - a read waits for every earlier write of the connection to be applied, then for a
//!   linearizable-read confirmation, so it sees them (read-your-writes);
//! - a write that follows a read is proposed only after that read executed, so the read cannot
//!   observe it;
//! - server commands (PING, AUTH, CONFIG, ...) run at their position.
//!
//! All replies of a batch are encoded into one buffer and written with one `write`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::clock;
use crate::cmd::{self, Command, Kind};
use crate::resp::{Decoder, Frame, Limits};

use super::node::{ClientEntry, Node};
use super::proposer::ReplyRx;
use super::read_barrier::ReadError;
use super::stats::Stats;
use super::write_path;

/// Per-connection state that commands can change.
pub struct Session {
    pub id: u64,
    pub addr: SocketAddr,
    pub authenticated: bool,
    /// Set by QUIT: reply, then close.
    pub closing: bool,
    /// READONLY: reads on a follower are served from its local, possibly stale, state.
    pub readonly: bool,
}

enum Slot {
    Done(Frame),
    Write(ReplyRx),
    Read(Command),
}

/// Serves one connection until the client leaves, a protocol error, or shutdown.
pub async fn serve(node: Arc<Node>, mut stream: TcpStream, addr: SocketAddr) {
    let settings = node.settings();
    let connected = Stats::get(&node.stats.connected_clients);
    if connected as usize >= settings.maxclients {
        Stats::add(&node.stats.rejected_connections, 1);
        let _ = stream
            .write_all(b"-ERR max number of clients reached\r\n")
            .await;
        return;
    }
    Stats::add(&node.stats.connected_clients, 1);
    let _ = stream.set_nodelay(true);
    let mut session = Session {
        id: node.next_client_id(),
        addr,
        authenticated: settings.requirepass.is_none(),
        closing: false,
        readonly: false,
    };
    node.with_clients(|c| {
        c.insert(
            session.id,
            ClientEntry {
                addr,
                name: String::new(),
                lib_name: String::new(),
                lib_ver: String::new(),
                connected_at: Instant::now(),
                last_command: String::new(),
            },
        )
    });
    if let Err(e) = connection_loop(&node, &mut stream, &mut session, &settings).await {
        tracing::debug!(client = session.id, error = %e, "connection closed");
    }
    node.with_clients(|c| c.remove(&session.id));
    node.stats
        .connected_clients
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
}

async fn connection_loop(
    node: &Arc<Node>,
    stream: &mut TcpStream,
    session: &mut Session,
    settings: &super::node::Settings,
) -> std::io::Result<()> {
    let limits = Limits {
        max_bulk_len: settings.proto_max_bulk_len,
        max_query_buffer: settings.client_query_buffer_limit,
        ..Limits::default()
    };
    let mut decoder = Decoder::new(limits);
    let mut inbuf = BytesMut::with_capacity(16 * 1024);
    let mut outbuf = BytesMut::with_capacity(16 * 1024);
    let mut shutdown = node.shutdown_signal();
    let mut batch: Vec<Vec<Bytes>> = Vec::new();
    loop {
        let idle = node.settings().timeout_secs;
        let read = async {
            if idle == 0 {
                stream.read_buf(&mut inbuf).await
            } else {
                match tokio::time::timeout(Duration::from_secs(idle), stream.read_buf(&mut inbuf))
                    .await
                {
                    Ok(r) => r,
                    Err(_) => Ok(0),
                }
            }
        };
        let n = tokio::select! {
            r = read => r?,
            _ = shutdown.changed() => return Ok(()),
        };
        if n == 0 {
            return Ok(());
        }
        Stats::add(&node.stats.net_input_bytes, n as u64);

        let mut protocol_error = None;
        loop {
            match decoder.decode_command(&mut inbuf) {
                Ok(Some(argv)) => batch.push(argv),
                Ok(None) => break,
                Err(e) => {
                    protocol_error = Some(e);
                    break;
                }
            }
        }
        if !batch.is_empty() {
            execute_batch(node, session, std::mem::take(&mut batch), &mut outbuf).await;
        }
        if let Some(e) = &protocol_error {
            Stats::add(&node.stats.protocol_errors, 1);
            tracing::debug!(client = session.id, error = %e, "protocol error; closing connection");
            Frame::Error(e.to_string()).encode(&mut outbuf);
        }
        if !outbuf.is_empty() {
            Stats::add(&node.stats.net_output_bytes, outbuf.len() as u64);
            stream.write_all(&outbuf).await?;
            outbuf.clear();
            if outbuf.capacity() > 1024 * 1024 {
                outbuf = BytesMut::with_capacity(16 * 1024);
            }
        }
        if protocol_error.is_some() || session.closing || node.is_shutting_down() {
            return Ok(());
        }
    }
}

/// Executes one pipelined batch in order (see the module docs) and encodes every reply.
async fn execute_batch(
    node: &Arc<Node>,
    session: &mut Session,
    batch: Vec<Vec<Bytes>>,
    out: &mut BytesMut,
) {
    Stats::add(&node.stats.commands_processed, batch.len() as u64);
    let timeout = node.request_timeout();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut slots: Vec<Slot> = Vec::with_capacity(batch.len());
    // Index of the first slot not yet resolved to `Done`.
    let mut resolved = 0usize;
    let mut has_pending_read = false;

    if let Some(last) = batch.last().and_then(|a| a.first()) {
        let name = String::from_utf8_lossy(last).to_ascii_lowercase();
        node.with_clients(|c| {
            if let Some(e) = c.get_mut(&session.id) {
                e.last_command = name;
            }
        });
    }

    for argv in batch {
        if session.closing {
            break;
        }
        let Some(name) = argv.first() else { continue };
        let Some(spec) = cmd::lookup(name) else {
            slots.push(Slot::Done(cmd::unknown_command(&argv)));
            continue;
        };
        if !session.authenticated && !matches!(spec.name, "auth" | "hello" | "quit") {
            slots.push(Slot::Done(Frame::error("NOAUTH Authentication required.")));
            continue;
        }
        if let Err(e) = cmd::check_arity(spec, &argv) {
            slots.push(Slot::Done(e));
            continue;
        }
        if spec.kind != Kind::Server {
            if let Some(redirect) = route(node, spec, &argv, session.readonly) {
                slots.push(Slot::Done(redirect));
                continue;
            }
        }
        match spec.kind {
            Kind::Server => {
                let reply = super::server_cmds::execute(node, session, &argv).await;
                slots.push(Slot::Done(reply));
            }
            Kind::Read => match Command::parse(&argv) {
                // READONLY on a follower, or the planted `stale-reads` bug anywhere.
                Ok(c) if (session.readonly && !is_leader(node)) || node.config.unsafe_test_faults.stale_reads => {
                    let reply = stale_read(node, &c);
                    slots.push(Slot::Done(reply));
                }
                Ok(c) => {
                    slots.push(Slot::Read(c));
                    has_pending_read = true;
                }
                Err(e) => slots.push(Slot::Done(e)),
            },
            Kind::Write => match Command::parse(&argv) {
                Err(e) => slots.push(Slot::Done(e)),
                Ok(_) => {
                    if has_pending_read {
                        // Earlier reads must not observe this write: run them first.
                        resolve(node, &mut slots, &mut resolved, deadline, timeout).await;
                        has_pending_read = false;
                    }
                    Stats::add(&node.stats.writes_proposed, 1);
                    slots.push(Slot::Write(node.proposer.submit(argv)));
                }
            },
        }
    }
    resolve(node, &mut slots, &mut resolved, deadline, timeout).await;
    for slot in slots {
        if let Slot::Done(f) = slot {
            f.encode(out);
        }
    }
}

/// Resolves every slot from `*resolved` on: writes are awaited in order; each run of reads waits
/// for the writes before it, then shares one linearizable-read confirmation.
async fn resolve(
    node: &Arc<Node>,
    slots: &mut [Slot],
    resolved: &mut usize,
    deadline: tokio::time::Instant,
    timeout: Duration,
) {
    let mut i = *resolved;
    while i < slots.len() {
        match &slots[i] {
            Slot::Done(_) => i += 1,
            Slot::Write(_) => {
                let Slot::Write(p) = std::mem::replace(&mut slots[i], Slot::Done(Frame::Null))
                else {
                    unreachable!("matched Write above")
                };
                let reply = match tokio::time::timeout_at(deadline, p).await {
                    Ok(Ok(f)) => f,
                    // The proposer answers every command it accepted; a dropped sender means the
                    // node is stopping with the write in an unknown state.
                    Ok(Err(_)) => Frame::error("ERR the node stopped before the write completed; it may or may not be applied"),
                    Err(_) => write_path::unknown_outcome_reply(timeout),
                };
                slots[i] = Slot::Done(reply);
                i += 1;
            }
            Slot::Read(_) => {
                // The run of reads (and already-done slots) up to the next write.
                let end = slots[i..]
                    .iter()
                    .position(|s| matches!(s, Slot::Write(_)))
                    .map_or(slots.len(), |p| i + p);
                let barrier = tokio::time::timeout_at(deadline, node.reads.wait()).await;
                let outcome = match barrier {
                    Err(_) => Err(ReadError::Timeout),
                    Ok(r) => r,
                };
                Stats::add(&node.stats.read_barriers, 1);
                match outcome {
                    Ok(()) => {
                        let now = clock::now_ms();
                        let ks = match node.keyspace.read() {
                            Ok(g) => g,
                            Err(p) => p.into_inner(),
                        };
                        for slot in &mut slots[i..end] {
                            if let Slot::Read(c) = slot {
                                *slot = Slot::Done(c.read(&ks, now));
                                Stats::add(&node.stats.reads_confirmed, 1);
                            }
                        }
                    }
                    Err(e) => {
                        let reply = read_error_reply(&e, timeout);
                        for slot in &mut slots[i..end] {
                            if let Slot::Read(_) = slot {
                                *slot = Slot::Done(reply.clone());
                            }
                        }
                    }
                }
                i = end;
            }
        }
    }
    *resolved = i;
}

fn is_leader(node: &Node) -> bool {
    node.raft.metrics().borrow().state.is_leader()
}

fn stale_read(node: &Node, c: &Command) -> Frame {
    let ks = match node.keyspace.read() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    c.read(&ks, clock::now_ms())
}

/// Where a keyed command must go when this node is not the leader: `-MOVED <slot> <leader>`
/// (Redis Cluster's redirect, followed by `redis-cli -c` and cluster clients), or
/// `-CLUSTERDOWN` while no leader is known. `None` = serve it here. This is a fast path only:
/// a leader that lost its leadership is still caught by Raft (the write cannot commit, the
/// read cannot be confirmed).
fn route(node: &Node, spec: &cmd::CommandSpec, argv: &[Bytes], readonly: bool) -> Option<Frame> {
    let slots: Vec<u16> = cmd::key_indices(spec, argv)
        .into_iter()
        .filter_map(|i| argv.get(i))
        .map(|k| crate::cluster::slot::key_slot(k))
        .collect();
    let slot = slots.first().copied().unwrap_or(0);
    if let Some(topo) = &node.topology {
        if topo.is_sharded() {
            // Redis Cluster's rule: a multi-key command must stay within one slot.
            if slots.iter().any(|&s| s != slot) {
                return Some(Frame::error("CROSSSLOT Keys in request don't hash to the same slot"));
            }
            let shard = topo.shard_for_slot(slot);
            if !slots.is_empty() && shard != topo.my_shard {
                return Some(match topo.client_addr_of(shard) {
                    Some(a) => Frame::error(format!("MOVED {slot} {a}")),
                    None => Frame::error("CLUSTERDOWN The cluster is down"),
                });
            }
        }
    }
    let m = node.raft.metrics().borrow().clone();
    let local_read = readonly || node.config.unsafe_test_faults.stale_reads;
    if m.state.is_leader() || (local_read && spec.kind == Kind::Read) {
        return None;
    }
    let leader = m.current_leader.filter(|&l| l != node.id);
    let addr = leader.and_then(|l| node.book.client_addr(l, m.membership_config.membership().get_node(&l)));
    Some(match addr {
        Some(a) => Frame::error(format!("MOVED {slot} {a}")),
        None => Frame::error("CLUSTERDOWN The cluster is down"),
    })
}

fn read_error_reply(e: &ReadError, timeout: Duration) -> Frame {
    match e {
        ReadError::NotLeader { .. } => write_path::no_leader_reply(),
        ReadError::Timeout => Frame::error(format!(
            "TRYAGAIN the read could not be confirmed as linearizable within {} ms",
            timeout.as_millis()
        )),
        ReadError::ShuttingDown => Frame::error("ERR the node is shutting down"),
    }
}
