//! One client connection.
//!
//! Each read from the socket may carry many pipelined commands. They are executed in order with
//! these rules, which keep Redis's per-connection ordering while letting writes share commits:
//!
//! - consecutive writes are proposed together without waiting (one proposer unit per run, see
//!   `proposer`), so they are appended and fsynced together (group commit);
//! - a read waits for every earlier write of the connection to be applied, then for a
//!   linearizable-read confirmation, so it sees them (read-your-writes);
//! - a write that follows a read is proposed only after that read executed, so the read cannot
//!   observe it;
//! - server commands (PING, AUTH, CONFIG, ...) run at their position.
//! - a blocking command (BLPOP, ...) runs in a batch of its own after the earlier replies were
//!   sent, and waits in `blocking` while the session watches the socket for the client leaving.
//!
//! All replies of a batch are encoded into one buffer and written with one `write`.
//!
//! **Bounded output.** A batch holds at most [`MAX_BATCH_COMMANDS`] commands, and replies are
//! written out whenever the encoded buffer passes [`OUTPUT_FLUSH_BYTES`]; writing waits for the
//! client to read, so a client that pipelines without reading stalls itself (TCP backpressure)
//! instead of growing the node's memory: per connection, at most one batch of replies plus
//! about one encoded reply is held. `client-output-buffer-limit`'s `normal` hard limit (0 by
//! default, as Redis) closes a connection whose unsent output passes it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::clock;
use crate::cmd::{self, Command, CommandSpec, Group, Kind, ReadCommand};
use crate::errors;
use crate::resp::{Decoder, Frame, Limits, Protocol};

use super::proposer::ReplyRx;
use super::pubsub_cmds;
use super::read_barrier::ReadError;
use super::state::{ClientEntry, Node, Session};
use super::stats::Stats;
use super::write_path;

/// The place of one command's reply in a batch, in command order: a reply already known, the
/// replies of a run of writes, or a pending proposal or read (not a hash slot).
enum ReplySlot {
    Done(Frame),
    /// Replies of a run of writes, in order (a resolved `Writes`).
    DoneRun(Vec<Frame>),
    /// A run of consecutive writes submitted together; `usize` = how many.
    Writes(ReplyRx, usize),
    /// A read and the database it reads.
    Read(ReadCommand, u32),
}

/// Submits the buffered run of consecutive writes (if any) as one proposer unit. Called before
/// anything that is not a write takes its place in `slots`, so slot order = command order.
fn flush_run(node: &Node, run: &mut Run, slots: &mut Vec<ReplySlot>) {
    if !run.cmds.is_empty() {
        let n = run.cmds.len();
        slots.push(ReplySlot::Writes(
            node.proposer
                .submit_run(run.db, std::mem::take(&mut run.cmds)),
            n,
        ));
    }
}

/// Consecutive writes not yet submitted, and the database they run in (SELECT is a server
/// command, before which the run is flushed: one run, one database).
#[derive(Default)]
struct Run {
    db: u32,
    cmds: Vec<Vec<Bytes>>,
}

fn push_slot(node: &Node, run: &mut Run, slots: &mut Vec<ReplySlot>, slot: ReplySlot) {
    flush_run(node, run, slots);
    slots.push(slot);
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
        forwarder: Default::default(),
        protocol: Protocol::Resp2,
        multi: None,
        watches: Vec::new(),
        subs: Default::default(),
        tracking: None,
        caching: None,
        last_was_client: false,
        db: 0,
    };
    // Every connection has a mailbox: Pub/Sub messages and tracking invalidations (its own,
    // or those redirected to it) arrive there.
    let mailbox = super::pubsub::Mailbox::new();
    session.subs.mailbox = Some(mailbox.clone());
    node.tracking.connect(session.id, mailbox);
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
                protocol: Protocol::Resp2,
                db: 0,
            },
        )
    });
    if let Err(e) = connection_loop(&node, &mut stream, &mut session, &settings).await {
        tracing::debug!(client = session.id, error = %e, "connection closed");
    }
    super::pubsub_cmds::unsubscribe_all(&node, &mut session);
    node.tracking.disconnect(session.id);
    node.with_clients(|c| c.remove(&session.id));
    node.stats
        .connected_clients
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
}

async fn connection_loop(
    node: &Arc<Node>,
    stream: &mut TcpStream,
    session: &mut Session,
    settings: &super::state::Settings,
) -> std::io::Result<()> {
    let limits = Limits {
        max_bulk_len: settings.proto_max_bulk_len,
        max_query_buffer: settings.client_query_buffer_limit,
        ..Limits::default()
    };
    let mut decoder = Decoder::new(limits);
    let mut inbuf = BytesMut::with_capacity(16 * 1024);
    let mut outbuf = BytesMut::with_capacity(16 * 1024);
    let mut replies: Vec<(Protocol, Frame)> = Vec::new();
    let mut shutdown = node.shutdown_signal();
    let mut batch: Vec<Vec<Bytes>> = Vec::new();
    loop {
        // Backpressure: while the proposer's queue is full, read nothing more (see proposer).
        node.proposer.wait_for_room().await;
        // Redis's `timeout` does not apply to a subscriber waiting for messages.
        let idle = if session.subs.any() {
            0
        } else {
            node.settings().timeout_secs
        };
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
        let mailbox = session.subs.mailbox.clone();
        let mail = async {
            match &mailbox {
                Some(mb) => mb.wait().await,
                None => std::future::pending().await,
            }
        };
        let n = tokio::select! {
            r = read => r?,
            _ = mail => {
                if !deliver_mail(node, stream, session, &mut outbuf).await? {
                    return Ok(());
                }
                continue;
            }
            _ = shutdown.changed() => return Ok(()),
        };
        if n == 0 {
            return Ok(());
        }
        Stats::add(&node.stats.net_input_bytes, n as u64);
        // Messages queued before these commands arrived go out before their replies (as a
        // Redis server has already buffered them), whichever branch the select took.
        if !deliver_mail(node, stream, session, &mut outbuf).await? {
            return Ok(());
        }

        let mut protocol_error = None;
        loop {
            decoder.set_unauthenticated(!session.authenticated);
            match decoder.decode_command(&mut inbuf) {
                Ok(Some(argv)) => {
                    // A command that may block runs in a batch of its own, after the replies
                    // of the commands before it were sent (a blocked client has them, as in
                    // Redis); it watches the connection while it waits.
                    let blocks = super::blocking::is_blocking(&argv);
                    if blocks && !batch.is_empty() {
                        let io = None;
                        execute_batch(node, session, std::mem::take(&mut batch), &mut replies, io)
                            .await;
                        if !write_replies(node, stream, &mut replies, &mut outbuf).await? {
                            return Ok(());
                        }
                        if session.closing {
                            break;
                        }
                    }
                    batch.push(argv);
                    // Until the client is authenticated, commands run one at a time, so a
                    // successful AUTH lifts the pre-auth limits for the very next command
                    // (as Redis does) and nothing more is buffered for a client that is not.
                    if !session.authenticated || batch.len() >= MAX_BATCH_COMMANDS || blocks {
                        if blocks {
                            flush_output(node, stream, &mut outbuf).await?;
                        }
                        let io = blocks.then_some(super::blocking::ClientIo {
                            stream: &mut *stream,
                            inbuf: &mut inbuf,
                            max_buffer: settings.client_query_buffer_limit,
                        });
                        execute_batch(node, session, std::mem::take(&mut batch), &mut replies, io)
                            .await;
                        if !write_replies(node, stream, &mut replies, &mut outbuf).await? {
                            return Ok(());
                        }
                        if session.closing {
                            break;
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    protocol_error = Some(e);
                    break;
                }
            }
        }
        if !batch.is_empty() {
            execute_batch(
                node,
                session,
                std::mem::take(&mut batch),
                &mut replies,
                None,
            )
            .await;
        }
        if let Some(e) = &protocol_error {
            Stats::add(&node.stats.protocol_errors, 1);
            tracing::debug!(client = session.id, error = %e, "protocol error; closing connection");
            replies.push((session.protocol, e.to_frame()));
        }
        if !write_replies(node, stream, &mut replies, &mut outbuf).await? {
            return Ok(());
        }
        flush_output(node, stream, &mut outbuf).await?;
        if protocol_error.is_some() || session.closing || node.is_shutting_down() {
            return Ok(());
        }
        if !deliver_mail(node, stream, session, &mut outbuf).await? {
            return Ok(());
        }
    }
}

/// Most commands executed as one batch (their replies are held until it completes).
pub const MAX_BATCH_COMMANDS: usize = 1024;
/// Encoded output written to the socket as soon as it passes this size.
pub const OUTPUT_FLUSH_BYTES: usize = 1024 * 1024;

/// Encodes `replies` (draining it) and writes the output whenever it passes
/// [`OUTPUT_FLUSH_BYTES`]. Returns `false` when the connection must be closed because the
/// unsent output passed `client-output-buffer-limit normal`'s hard limit (Redis closes such a
/// client without a reply).
async fn write_replies(
    node: &Node,
    stream: &mut TcpStream,
    replies: &mut Vec<(Protocol, Frame)>,
    outbuf: &mut BytesMut,
) -> std::io::Result<bool> {
    let hard = node.settings().output_limits.normal.hard;
    for (protocol, f) in replies.drain(..) {
        f.encode_as(protocol, outbuf);
        if hard > 0 && outbuf.len() as u64 > hard {
            tracing::info!(
                bytes = outbuf.len(),
                "closing a client for overcoming of output buffer limits"
            );
            outbuf.clear();
            return Ok(false);
        }
        if outbuf.len() >= OUTPUT_FLUSH_BYTES {
            flush_output(node, stream, outbuf).await?;
        }
    }
    Ok(true)
}

/// Writes the Pub/Sub messages waiting in the session's mailbox, encoded in its protocol (an
/// array in RESP2, a push in RESP3), between batches so a message never splits a reply.
/// Their bytes count against `client-output-buffer-limit pubsub` until written. Returns
/// `false` when the mailbox was killed for passing that limit (also while a write to a
/// client that does not read is pending): the connection must be closed.
async fn deliver_mail(
    node: &Node,
    stream: &mut TcpStream,
    session: &Session,
    outbuf: &mut BytesMut,
) -> std::io::Result<bool> {
    let Some(mb) = session.subs.mailbox.clone() else {
        return Ok(true);
    };
    loop {
        if mb.is_killed() {
            return Ok(false);
        }
        let (frames, bytes) = mb.take(OUTPUT_FLUSH_BYTES as u64);
        if frames.is_empty() {
            return Ok(true);
        }
        for f in &frames {
            f.encode_as(session.protocol, outbuf);
        }
        tokio::select! {
            r = flush_output(node, stream, outbuf) => r?,
            _ = mb.wait_killed() => return Ok(false),
        }
        mb.sent(bytes);
    }
}

/// Writes the buffered output (waiting for the client to read it).
async fn flush_output(
    node: &Node,
    stream: &mut TcpStream,
    outbuf: &mut BytesMut,
) -> std::io::Result<()> {
    if !outbuf.is_empty() {
        Stats::add(&node.stats.net_output_bytes, outbuf.len() as u64);
        stream.write_all(outbuf).await?;
        outbuf.clear();
        if outbuf.capacity() > 4 * OUTPUT_FLUSH_BYTES {
            *outbuf = BytesMut::with_capacity(16 * 1024);
        }
    }
    Ok(())
}

/// Executes one pipelined batch in order (see the module docs) and appends every reply to
/// `out`, in command order.
async fn execute_batch(
    node: &Arc<Node>,
    session: &mut Session,
    batch: Vec<Vec<Bytes>>,
    out: &mut Vec<(Protocol, Frame)>,
    mut io: Option<super::blocking::ClientIo<'_>>,
) {
    Stats::add(&node.stats.commands_processed, batch.len() as u64);
    let timeout = node.request_timeout();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut slots: Vec<ReplySlot> = Vec::with_capacity(batch.len());
    // Index of the first slot not yet resolved to `Done`.
    let mut resolved = 0usize;
    let mut has_pending_read = false;
    let (maxmemory, policy) = {
        let s = node.settings();
        (s.maxmemory, s.maxmemory_policy)
    };
    // Access times for the LRU policies (see eviction): the keyspace size bounds their map.
    let track_access = policy.tracks_access().then(|| match node.keyspace.read() {
        Ok(k) => k.len(),
        Err(p) => p.into_inner().len(),
    });
    // Replies are encoded after the whole batch ran, each in the protocol in force when its
    // command ran: the protocol at the start, then (slot index, protocol) for every HELLO that
    // switched it (HELLO's own reply is in the new protocol, as in Redis).
    let start_protocol = session.protocol;
    let mut switches: Vec<(usize, Protocol)> = Vec::new();

    if let Some(last) = batch.last().and_then(|a| a.first()) {
        // Allocates only when the command name changes (benchmarks repeat one command).
        node.with_clients(|c| {
            if let Some(e) = c.get_mut(&session.id) {
                if !e.last_command.as_bytes().eq_ignore_ascii_case(last) {
                    e.last_command = String::from_utf8_lossy(last).to_ascii_lowercase();
                }
            }
        });
    }

    // NOLOOP: the keys this batch (and a transaction it may run) writes are this client's
    // own while the batch is in flight (server::tracking).
    let noloop = session.tracking.as_ref().is_some_and(|t| t.noloop);
    if noloop {
        node.tracking
            .expect_writes(session.id, written_keys(session, &batch));
    }

    // Consecutive writes not yet submitted (see `flush_run`).
    let mut run = Run::default();
    for argv in batch {
        if session.closing {
            break;
        }
        let Some(name) = argv.first() else { continue };
        // CLIENT CACHING holds for the next command (or transaction) only; any CLIENT
        // subcommand in between keeps it, as in Redis.
        if session.multi.is_none() {
            if !session.last_was_client {
                session.caching = None;
            }
            session.last_was_client = name.eq_ignore_ascii_case(b"client");
        }
        if session.multi.is_some() && session.authenticated {
            if let Some(reply) = queue_in_multi(node, session, &argv) {
                // A read queued in the transaction is remembered now (before EXEC runs it).
                let read = cmd::lookup(name).filter(|s| s.kind == Kind::Read);
                if let (Some(spec), false) = (read, matches!(reply, Frame::Error(_))) {
                    if track_reads(session) {
                        let keys = cmd::key_indices(spec, &argv);
                        node.tracking
                            .remember(session.id, keys.iter().map(|&i| &argv[i]));
                    }
                }
                push_slot(node, &mut run, &mut slots, ReplySlot::Done(reply));
                continue;
            }
        }
        let Some(spec) = cmd::lookup(name) else {
            push_slot(
                node,
                &mut run,
                &mut slots,
                ReplySlot::Done(cmd::unknown_command(&argv)),
            );
            continue;
        };
        if !session.authenticated && !matches!(spec.name, "auth" | "hello" | "quit") {
            let reply = errors::noauth();
            push_slot(node, &mut run, &mut slots, ReplySlot::Done(reply));
            continue;
        }
        if let Err(e) = cmd::check_arity(spec, &argv) {
            push_slot(node, &mut run, &mut slots, ReplySlot::Done(e));
            continue;
        }
        if pubsub_cmds::in_subscriber_mode(session) {
            let reply = if !pubsub_cmds::allowed_in_subscriber_mode(spec.name) {
                Some(pubsub_cmds::refused_in_subscriber_mode(spec.name, &argv))
            } else if spec.name == "ping" {
                Some(pubsub_cmds::subscriber_ping(&argv))
            } else {
                None
            };
            if let Some(reply) = reply {
                push_slot(node, &mut run, &mut slots, ReplySlot::Done(reply));
                continue;
            }
        }
        if spec.kind != Kind::Server {
            if let Some(len) = track_access {
                for i in cmd::key_indices(spec, &argv) {
                    node.evictor.access.touch(&argv[i], len);
                }
            }
            match route(node, spec, &argv, session.readonly) {
                None => {}
                Some(Route::Reply(f)) => {
                    push_slot(node, &mut run, &mut slots, ReplySlot::Done(f));
                    continue;
                }
                Some(Route::ToLeader { slot, addr }) => {
                    let forward = node
                        .config
                        .cluster
                        .as_ref()
                        .is_some_and(|c| c.forward_to_leader);
                    // A blocking command is never relayed: the relay has a request timeout.
                    let forward = forward && !super::blocking::serves(spec.name);
                    // The relay link does not carry SELECT: a client in another database is
                    // redirected instead (its command must not land in db 0 on the leader).
                    let forward = forward && session.db == 0;
                    let reply = if forward {
                        // Inline, in command order: on a follower nothing else of this batch
                        // is pending locally except already-answered server commands. The
                        // link speaks the client's protocol, so the leader's reply has the
                        // types it would have sent the client directly.
                        session
                            .forwarder
                            .forward(&addr, &argv, session.protocol, node.request_timeout())
                            .await
                    } else {
                        errors::moved(slot, &addr)
                    };
                    push_slot(node, &mut run, &mut slots, ReplySlot::Done(reply));
                    continue;
                }
            }
        }
        if spec.group == Group::Transactions && spec.name == "watch" {
            // WATCH is keyed: routed like a read (MOVED/CROSSSLOT), never forwarded.
            match route(node, spec, &argv, false) {
                None => {}
                Some(Route::Reply(f)) => {
                    push_slot(node, &mut run, &mut slots, ReplySlot::Done(f));
                    continue;
                }
                Some(Route::ToLeader { slot, addr }) => {
                    let reply = errors::moved(slot, &addr);
                    push_slot(node, &mut run, &mut slots, ReplySlot::Done(reply));
                    continue;
                }
            }
        }
        if spec.kind == Kind::Read && track_reads(session) {
            // Remembered before the read runs: a write applied after it invalidates.
            let keys = cmd::key_indices(spec, &argv);
            node.tracking
                .remember(session.id, keys.iter().map(|&i| &argv[i]));
        }
        match spec.kind {
            Kind::Server if spec.group == Group::Transactions => {
                // EXEC and WATCH see every earlier command of the batch applied.
                flush_run(node, &mut run, &mut slots);
                resolve(node, &mut slots, &mut resolved, deadline, timeout).await;
                has_pending_read = false;
                let reply = super::transaction::execute(node, session, &argv).await;
                slots.push(ReplySlot::Done(reply));
                resolved = slots.len();
            }
            Kind::Server if spec.group == Group::Scripting => {
                // A script sees every earlier command of the batch applied.
                flush_run(node, &mut run, &mut slots);
                resolve(node, &mut slots, &mut resolved, deadline, timeout).await;
                has_pending_read = false;
                let reply = script_command(node, session, spec, &argv).await;
                slots.push(ReplySlot::Done(reply));
                resolved = slots.len();
            }
            Kind::Server if spec.group == Group::PubSub => {
                flush_run(node, &mut run, &mut slots);
                let mut frames = pubsub_cmds::execute(node, session, &argv);
                if spec.name == "publish" || spec.name == "spublish" {
                    // A message this connection receives from its own PUBLISH goes before the
                    // reply, as in Redis (only RESP3 connections can be subscribed here).
                    if let Some(mb) = &session.subs.mailbox {
                        let (mut mail, bytes) = mb.take(u64::MAX);
                        mb.sent(bytes);
                        mail.append(&mut frames);
                        frames = mail;
                    }
                }
                slots.push(ReplySlot::DoneRun(frames));
            }
            Kind::Server if spec.name == "wait" => {
                // WAIT counts the members holding every earlier write of the connection.
                flush_run(node, &mut run, &mut slots);
                resolve(node, &mut slots, &mut resolved, deadline, timeout).await;
                has_pending_read = false;
                let reply = super::wait::execute(node, &argv).await;
                slots.push(ReplySlot::Done(reply));
                resolved = slots.len();
            }
            Kind::Server => {
                // Earlier writes are submitted before a server command runs.
                flush_run(node, &mut run, &mut slots);
                let before = session.protocol;
                let reply = super::server_cmds::execute(node, session, &argv).await;
                if session.protocol != before {
                    switches.push((slots.len(), session.protocol));
                }
                slots.push(ReplySlot::Done(reply));
            }
            // Outside MULTI (queued above), a blocking command waits for data on the leader
            // (server::blocking); earlier commands of the batch complete first.
            Kind::Write if super::blocking::serves(spec.name) => {
                flush_run(node, &mut run, &mut slots);
                resolve(node, &mut slots, &mut resolved, deadline, timeout).await;
                has_pending_read = false;
                let reply = super::blocking::execute(node, session, &argv, &mut io).await;
                slots.push(ReplySlot::Done(reply));
                resolved = slots.len();
            }
            // Dispatched on how the command parsed, so the read path can only be handed a
            // `ReadCommand` (the table's kind agrees; `cmd` tests check it).
            // A sharded cluster has db 0 only: Redis Cluster's refusals.
            Kind::Read | Kind::Write
                if super::server_cmds::single_db(node)
                    && cluster_refusal(spec.name, &argv).is_some() =>
            {
                let reply = cluster_refusal(spec.name, &argv).unwrap_or_else(Frame::ok);
                push_slot(node, &mut run, &mut slots, ReplySlot::Done(reply));
            }
            Kind::Read | Kind::Write => match Command::parse(&argv) {
                Err(e) => push_slot(node, &mut run, &mut slots, ReplySlot::Done(e)),
                // READONLY on a follower, or the planted `stale-reads` bug anywhere.
                Ok(Command::Read(c))
                    if (session.readonly && !is_leader(node))
                        || node.config.unsafe_test_faults.stale_reads =>
                {
                    let reply = stale_read(node, &c, session.db);
                    push_slot(node, &mut run, &mut slots, ReplySlot::Done(reply));
                }
                Ok(Command::Read(c)) => {
                    push_slot(node, &mut run, &mut slots, ReplySlot::Read(c, session.db));
                    has_pending_read = true;
                }
                Ok(Command::Write(_))
                    if argv.iter().map(|a| a.len()).sum::<usize>() > errors::MAX_COMMAND_BYTES =>
                {
                    let n = argv.iter().map(|a| a.len()).sum::<usize>();
                    push_slot(
                        node,
                        &mut run,
                        &mut slots,
                        ReplySlot::Done(errors::command_too_large(n)),
                    )
                }
                Ok(Command::Write(_)) => {
                    if let Some(growth) = over_maxmemory(node, maxmemory, spec, &argv) {
                        // Earlier writes go first (eviction must not reorder them), then
                        // the policy makes room through the log, or the write is refused.
                        flush_run(node, &mut run, &mut slots);
                        let (fits, evicted) = node
                            .evictor
                            .make_room(
                                &node.keyspace,
                                &node.proposer,
                                policy,
                                maxmemory,
                                growth,
                                timeout,
                            )
                            .await;
                        Stats::add(&node.stats.evicted_keys, evicted);
                        if !fits {
                            push_slot(node, &mut run, &mut slots, ReplySlot::Done(errors::oom()));
                            continue;
                        }
                    }
                    if has_pending_read {
                        // Earlier reads must not observe this write: run them first. (`run`
                        // is empty here: pushing the read flushed it.)
                        resolve(node, &mut slots, &mut resolved, deadline, timeout).await;
                        has_pending_read = false;
                    }
                    Stats::add(&node.stats.writes_proposed, 1);
                    // A run becomes (part of) one Raft entry: close it before it would exceed
                    // what one peer message carries. Large writes only (small ones cannot).
                    let n: usize = argv.iter().map(|a| a.len()).sum();
                    if n >= 1 << 20
                        && run.cmds.iter().flatten().map(|a| a.len()).sum::<usize>() + n
                            > errors::MAX_COMMAND_BYTES
                    {
                        flush_run(node, &mut run, &mut slots);
                    }
                    run.db = session.db;
                    run.cmds.push(argv);
                }
            },
        }
    }
    flush_run(node, &mut run, &mut slots);
    resolve(node, &mut slots, &mut resolved, deadline, timeout).await;
    if noloop {
        node.tracking.clear_writes(session.id);
    }
    if let Some(mb) = &session.subs.mailbox {
        mb.set_mode(session.protocol == Protocol::Resp3, session.subs.any());
    }
    let mut protocol = start_protocol;
    let mut switches = switches.into_iter().peekable();
    for (i, slot) in slots.into_iter().enumerate() {
        while let Some(&(_, p)) = switches.peek().filter(|(at, _)| *at == i) {
            protocol = p;
            switches.next();
        }
        match slot {
            ReplySlot::Done(f) => out.push((protocol, f)),
            ReplySlot::DoneRun(frames) => out.extend(frames.into_iter().map(|f| (protocol, f))),
            ReplySlot::Writes(..) | ReplySlot::Read(..) => {}
        }
    }
}

/// Whether a read by this connection is remembered in the tracking table: default-mode
/// tracking, and OPTIN with CLIENT CACHING YES / OPTOUT without CLIENT CACHING NO (Redis's
/// rule).
fn track_reads(session: &Session) -> bool {
    match &session.tracking {
        Some(t) if !t.bcast => {
            !((t.optin && session.caching != Some(true))
                || (t.optout && session.caching == Some(false)))
        }
        _ => false,
    }
}

/// The keys the write commands of `batch` name, and those of the transaction being queued
/// (NOLOOP's own writes).
fn written_keys(session: &Session, batch: &[Vec<Bytes>]) -> Vec<Bytes> {
    let queued: &[Vec<Bytes>] = session.multi.as_ref().map_or(&[], |m| &m.cmds[..]);
    let mut out = Vec::new();
    for argv in batch.iter().chain(queued.iter()) {
        let Some(spec) = argv.first().and_then(|n| cmd::lookup(n)) else {
            continue;
        };
        if spec.kind == Kind::Write || matches!(spec.name, "eval" | "evalsha" | "fcall") {
            for i in cmd::key_indices(spec, argv) {
                if let Some(k) = argv.get(i) {
                    out.push(k.clone());
                }
            }
        }
    }
    out
}

/// Inside MULTI: queue `argv` (`+QUEUED`) after Redis's queue-time checks — unknown command,
/// arity, and cluster routing (`-MOVED`/`-CROSSSLOT` here, also on a follower with
/// `forward-to-leader`) — each of which is answered and marks the transaction for EXECABORT.
/// `None` for the commands that run at once (EXEC, DISCARD, MULTI, WATCH, QUIT).
fn queue_in_multi(node: &Node, session: &mut Session, argv: &[Bytes]) -> Option<Frame> {
    use super::transaction as tx;
    let Some(spec) = cmd::lookup(&argv[0]) else {
        tx::flag(session);
        return Some(cmd::unknown_command(argv));
    };
    if tx::runs_inside_multi(spec.name) {
        return None;
    }
    if spec.group == Group::PubSub && !matches!(spec.name, "publish" | "spublish" | "pubsub") {
        // A deviation (docs/commands.md): Redis queues these and answers inside EXEC's array.
        tx::flag(session);
        return Some(Frame::err(format!(
            "Command not allowed inside a transaction: '{}'",
            spec.name
        )));
    }
    if let Err(e) = cmd::check_arity(spec, argv) {
        tx::flag(session);
        return Some(e);
    }
    if matches!(spec.name, "eval" | "evalsha") {
        // Queued as an EVAL of its body (EVALSHA resolved now, NOSCRIPT otherwise): the
        // transaction's entry runs it at apply time (crate::scripting::commands).
        return Some(match crate::scripting::commands::forwardable(node, argv) {
            Ok(a) => {
                if spec.name == "eval" {
                    node.scripts.insert(&argv[1]);
                }
                tx::queue(session, a)
            }
            Err(e) => {
                tx::flag(session);
                e
            }
        });
    }
    if spec.group == Group::Scripting && !matches!(spec.name, "function" | "fcall") {
        // A deviation (docs/scripting.md): Redis queues these too.
        tx::flag(session);
        return Some(Frame::err(format!(
            "Command not allowed inside a transaction: '{}'",
            spec.name
        )));
    }
    if spec.kind != Kind::Server {
        // The planted `stale-read-in-multi` bug queues reads on any member (crate::faults).
        let local_reads = node.config.unsafe_test_faults.stale_read_in_multi;
        match route(node, spec, argv, local_reads) {
            None => {}
            Some(Route::Reply(f)) => {
                tx::flag(session);
                return Some(f);
            }
            Some(Route::ToLeader { slot, addr }) => {
                tx::flag(session);
                return Some(errors::moved(slot, &addr));
            }
        }
    }
    Some(tx::queue(session, argv.to_vec()))
}

/// EVAL* and SCRIPT (crate::scripting::commands), routed: the keys of an EVAL name its slot
/// (`-MOVED`/`-CROSSSLOT` as Redis Cluster); a script that may write, and SCRIPT LOAD (a log
/// entry), go to the leader — `-MOVED`, or forwarded with `forward-to-leader` (an EVALSHA
/// travels as an EVAL of the body this node holds); EVAL_RO/EVALSHA_RO after READONLY run
/// on a follower's local state.
async fn script_command(
    node: &Arc<Node>,
    session: &mut Session,
    spec: &'static CommandSpec,
    argv: &[Bytes],
) -> Frame {
    use crate::scripting::commands as sc;
    let load = spec.name == "script" && argv.len() == 3 && cmd::eq(&argv[1], "load");
    if spec.name == "script" && !load {
        return sc::execute(node, session.db, argv, false).await;
    }
    // FUNCTION LOAD/DELETE/FLUSH/RESTORE are log entries (to the leader); the other
    // subcommands answer from this node's applied libraries.
    if spec.name == "function" && !crate::scripting::functions::is_write(argv) {
        return sc::execute(node, session.db, argv, false).await;
    }
    let ro = sc::is_ro_command(spec.name);
    match route(node, spec, argv, false) {
        None => sc::execute(node, session.db, argv, false).await,
        Some(Route::Reply(f)) => f,
        Some(Route::ToLeader { .. }) if ro && session.readonly => {
            sc::execute(node, session.db, argv, true).await
        }
        Some(Route::ToLeader { slot, addr }) => {
            let forward = node
                .config
                .cluster
                .as_ref()
                .is_some_and(|c| c.forward_to_leader);
            // The relay link does not carry SELECT (see execute_batch): redirect instead.
            if !forward || session.db != 0 {
                return errors::moved(slot, &addr);
            }
            let argv = match sc::forwardable(node, argv) {
                Ok(a) => a,
                Err(e) => return e,
            };
            session
                .forwarder
                .forward(&addr, &argv, session.protocol, node.request_timeout())
                .await
        }
    }
}

/// `maxmemory`: a command that may grow memory (Redis's `denyoom`) when the keyspace's memory
/// estimate is above the limit, as Redis does, or when the string it may create (SETRANGE's
/// offset + value) would not fit under it: returns the bytes it may add, for the eviction
/// policy to make room (`noeviction` refuses it with `-OOM`). Checked on the node that
/// proposes, before a log entry exists; replicas apply whatever was committed.
fn over_maxmemory(node: &Node, maxmemory: u64, spec: &CommandSpec, argv: &[Bytes]) -> Option<u64> {
    if maxmemory == 0 {
        return None;
    }
    let growth = cmd::oom_growth(spec, argv)?;
    let used = match node.keyspace.read() {
        Ok(ks) => ks.approx_memory_bytes() as u64,
        Err(p) => p.into_inner().approx_memory_bytes() as u64,
    };
    (used > maxmemory || used.saturating_add(growth) > maxmemory).then_some(growth)
}

/// Resolves every slot from `*resolved` on: writes are awaited in order; each run of reads waits
/// for the writes before it, then shares one linearizable-read confirmation.
async fn resolve(
    node: &Arc<Node>,
    slots: &mut [ReplySlot],
    resolved: &mut usize,
    deadline: tokio::time::Instant,
    timeout: Duration,
) {
    let mut i = *resolved;
    while i < slots.len() {
        match &slots[i] {
            ReplySlot::Done(_) | ReplySlot::DoneRun(_) => i += 1,
            ReplySlot::Writes(..) => {
                let ReplySlot::Writes(p, n) =
                    std::mem::replace(&mut slots[i], ReplySlot::Done(Frame::Null))
                else {
                    unreachable!("matched Writes above")
                };
                let replies = match tokio::time::timeout_at(deadline, p).await {
                    Ok(Ok(frames)) if frames.len() == n => frames,
                    Ok(Ok(_)) => vec![errors::wrong_reply_count(); n],
                    // The proposer answers every command it accepted; a dropped sender means the
                    // node is stopping with the write in an unknown state.
                    Ok(Err(_)) => vec![errors::stopped_mid_write(); n],
                    Err(_) => vec![write_path::unknown_outcome_reply(timeout); n],
                };
                slots[i] = ReplySlot::DoneRun(replies);
                i += 1;
            }
            ReplySlot::Read(..) => {
                // The run of reads (and already-done slots) up to the next write.
                let end = slots[i..]
                    .iter()
                    .position(|s| matches!(s, ReplySlot::Writes(..)))
                    .map_or(slots.len(), |p| i + p);
                let barrier = tokio::time::timeout_at(deadline, node.reads.wait()).await;
                let outcome = match barrier {
                    Err(_) => Err(ReadError::Timeout),
                    Ok(r) => r,
                };
                Stats::add(&node.stats.read_barriers, 1);
                match outcome {
                    Ok(()) => {
                        let ks = match node.keyspace.read() {
                            Ok(g) => g,
                            Err(p) => p.into_inner(),
                        };
                        let now = ks.timeline(clock::now_ms());
                        for slot in &mut slots[i..end] {
                            if let ReplySlot::Read(c, db) = slot {
                                *slot = ReplySlot::Done(c.read(ks.db(*db), now));
                                Stats::add(&node.stats.reads_confirmed, 1);
                            }
                        }
                    }
                    Err(e) => {
                        let reply = read_error_reply(&e, timeout);
                        for slot in &mut slots[i..end] {
                            if let ReplySlot::Read(..) = slot {
                                *slot = ReplySlot::Done(reply.clone());
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

/// In a sharded cluster (db 0 only), Redis Cluster's error for MOVE, SWAPDB and COPY … DB.
fn cluster_refusal(name: &str, argv: &[Bytes]) -> Option<Frame> {
    match name {
        "move" => Some(Frame::err("MOVE is not allowed in cluster mode")),
        "swapdb" => Some(Frame::err("SWAPDB is not allowed in cluster mode")),
        "copy" if argv.iter().skip(3).any(|a| cmd::eq(a, "db")) => Some(Frame::err(
            "Copying to another database is not allowed in cluster mode",
        )),
        _ => None,
    }
}

fn is_leader(node: &Node) -> bool {
    node.raft.metrics().borrow().state.is_leader()
}

fn stale_read(node: &Node, c: &ReadCommand, db: u32) -> Frame {
    let ks = match node.keyspace.read() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    c.read(ks.db(db), ks.timeline(clock::now_ms()))
}

/// Where a keyed command must go when this node is not the leader: `-MOVED <slot> <leader>`
/// (Redis Cluster's redirect, followed by `redis-cli -c` and cluster clients), or
/// `-CLUSTERDOWN` while no leader is known. `None` = serve it here. This is a fast path only:
/// a leader that lost its leadership is still caught by Raft (the write cannot commit, the
/// read cannot be confirmed).
///
/// This runs for every keyed command, so the common case (unsharded, this node leads) costs one
/// borrow of the metrics channel: key slots are only hashed when a topology or a redirect needs
/// them, and the metrics are cloned only to build a redirect.
/// Where a command goes when it is not served here.
enum Route {
    /// Answer with this frame (another shard's `-MOVED`, `-CROSSSLOT`, `-CLUSTERDOWN`).
    Reply(Frame),
    /// Our own group's leader serves it: `-MOVED`, or forwarded with `forward-to-leader`.
    ToLeader { slot: u16, addr: String },
}

fn route(node: &Node, spec: &cmd::CommandSpec, argv: &[Bytes], readonly: bool) -> Option<Route> {
    let local_read = readonly || node.config.unsafe_test_faults.stale_reads;
    let sharded = node.topology.as_ref().is_some_and(|t| t.is_sharded());
    if !sharded && (local_read && spec.kind == Kind::Read || is_leader(node)) {
        return None;
    }
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
                return Some(Route::Reply(errors::cross_slot()));
            }
            // Redis Cluster refuses SORT's key patterns: they may name keys of other shards.
            if spec.name == "sort" || spec.name == "sort_ro" {
                if let Some(denied) = cmd::sort::cluster_denial(argv) {
                    return Some(Route::Reply(denied));
                }
            }
            let shard = topo.shard_for_slot(slot);
            if !slots.is_empty() && shard != topo.my_shard {
                return Some(Route::Reply(match topo.client_addr_of(shard) {
                    Some(a) => errors::moved(slot, &a),
                    None => errors::cluster_down(),
                }));
            }
        }
    }
    if is_leader(node) || (local_read && spec.kind == Kind::Read) {
        return None;
    }
    let m = node.raft.metrics().borrow().clone();
    let leader = m.current_leader.filter(|&l| l != node.id);
    let addr = leader.and_then(|l| {
        node.book
            .client_addr(l, m.membership_config.membership().get_node(&l))
    });
    Some(match addr {
        Some(addr) => Route::ToLeader { slot, addr },
        None => Route::Reply(errors::cluster_down()),
    })
}

fn read_error_reply(e: &ReadError, timeout: Duration) -> Frame {
    match e {
        ReadError::NotLeader { .. } => write_path::no_leader_reply(),
        ReadError::Timeout => errors::read_unconfirmed(timeout),
        ReadError::ShuttingDown => errors::shutting_down(),
    }
}
