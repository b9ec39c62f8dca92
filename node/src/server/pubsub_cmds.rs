//! The Pub/Sub commands, as Redis 7.0 (docs/pubsub.md): (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE,
//! PUBLISH, SPUBLISH, PUBSUB, plus RESP2 subscriber mode (which commands a subscribed
//! connection may run, PING's reply there). Arity has been checked by the caller.
//!
//! PUBLISH delivers to this node's subscribers and forwards the message to every other node
//! of the cluster; SPUBLISH to the members of the group that owns the channel's slot (this
//! node's group: another group's slot is `-MOVED`, as for a key). Both reply with the number
//! of receivers on this node, as Redis Cluster does. PUBSUB introspection is per node, as in
//! Redis Cluster.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::cluster::slot::key_slot;
use crate::errors;
use crate::raft::pubsub_peer::PeerMessage;
use crate::raft::NodeId;
use crate::resp::{Frame, Protocol};

use super::pubsub::{Kind, Mailbox};
use super::state::{Node, Session};

fn lower(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_ascii_lowercase()
}

/// A RESP2 connection with any subscription is in subscriber mode (RESP3 ones never are).
pub fn in_subscriber_mode(session: &Session) -> bool {
    session.protocol == Protocol::Resp2 && session.subs.any()
}

/// The commands Redis accepts in subscriber mode.
pub fn allowed_in_subscriber_mode(name: &str) -> bool {
    matches!(
        name,
        "ping"
            | "subscribe"
            | "ssubscribe"
            | "psubscribe"
            | "unsubscribe"
            | "sunsubscribe"
            | "punsubscribe"
            | "quit"
            | "reset"
    )
}

/// Container commands whose full name includes the subcommand (`config|get`).
const CONTAINERS: &[&str] = &[
    "client", "cluster", "command", "config", "function", "pubsub", "object", "memory", "script",
    "xinfo", "acl", "latency", "slowlog", "module", "xgroup",
];

/// Redis's refusal of `argv` in subscriber mode (the command's full name, lowercase).
pub fn refused_in_subscriber_mode(name: &str, argv: &[Bytes]) -> Frame {
    let full = match argv.get(1) {
        Some(sub) if CONTAINERS.contains(&name) => format!("{name}|{}", lower(sub)),
        _ => name.to_string(),
    };
    Frame::err(format!(
        "Can't execute '{full}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
    ))
}

/// PING in subscriber mode: `["pong", message or ""]`.
pub fn subscriber_ping(argv: &[Bytes]) -> Frame {
    Frame::Array(vec![
        Frame::bulk("pong"),
        Frame::Bulk(argv.get(1).cloned().unwrap_or_default()),
    ])
}

/// Runs one Pub/Sub command; the subscribe family answers one frame per channel.
pub fn execute(node: &Node, session: &mut Session, argv: &[Bytes]) -> Vec<Frame> {
    let name = lower(&argv[0]);
    let args = &argv[1..];
    match name.as_str() {
        "subscribe" => subscribe(node, session, Kind::Channel, args),
        "psubscribe" => subscribe(node, session, Kind::Pattern, args),
        "ssubscribe" => match shard_route(node, args) {
            Some(e) => vec![e],
            None => subscribe(node, session, Kind::Shard, args),
        },
        "unsubscribe" => unsubscribe(node, session, Kind::Channel, args),
        "punsubscribe" => unsubscribe(node, session, Kind::Pattern, args),
        "sunsubscribe" => match shard_route(node, args) {
            Some(e) => vec![e],
            None => unsubscribe(node, session, Kind::Shard, args),
        },
        _ => vec![execute_one(node, argv)],
    }
}

/// The Pub/Sub commands with one reply (PUBLISH, SPUBLISH, PUBSUB), also run inside EXEC.
pub fn execute_one(node: &Node, argv: &[Bytes]) -> Frame {
    match lower(&argv[0]).as_str() {
        "publish" => publish(node, false, &argv[1], &argv[2]),
        "spublish" => match shard_route(node, &argv[1..2]) {
            Some(e) => e,
            None => publish(node, true, &argv[1], &argv[2]),
        },
        "pubsub" => pubsub(node, argv),
        other => Frame::err(format!(
            "Command not allowed inside a transaction: '{other}'"
        )),
    }
}

fn kind_name(kind: Kind, subscribe: bool) -> &'static str {
    match (kind, subscribe) {
        (Kind::Channel, true) => "subscribe",
        (Kind::Pattern, true) => "psubscribe",
        (Kind::Shard, true) => "ssubscribe",
        (Kind::Channel, false) => "unsubscribe",
        (Kind::Pattern, false) => "punsubscribe",
        (Kind::Shard, false) => "sunsubscribe",
    }
}

fn subscribe(node: &Node, session: &mut Session, kind: Kind, names: &[Bytes]) -> Vec<Frame> {
    let mb = session
        .subs
        .mailbox
        .get_or_insert_with(Mailbox::new)
        .clone();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        if session.subs.set(kind).insert(name.clone()) {
            node.pubsub.subscribe(kind, name, session.id, &mb);
        }
        out.push(Frame::Push(vec![
            Frame::bulk(kind_name(kind, true)),
            Frame::Bulk(name.clone()),
            Frame::Integer(session.subs.count(kind) as i64),
        ]));
    }
    out
}

/// Without names: every subscription of the kind (in byte order), or one confirmation with
/// a nil name when there is none, as Redis.
fn unsubscribe(node: &Node, session: &mut Session, kind: Kind, names: &[Bytes]) -> Vec<Frame> {
    let names: Vec<Bytes> = if names.is_empty() {
        session.subs.set(kind).iter().cloned().collect()
    } else {
        names.to_vec()
    };
    let verb = kind_name(kind, false);
    if names.is_empty() {
        return vec![Frame::Push(vec![
            Frame::bulk(verb),
            Frame::Null,
            Frame::Integer(session.subs.count(kind) as i64),
        ])];
    }
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        if session.subs.set(kind).remove(&name) {
            node.pubsub.unsubscribe(kind, &name, session.id);
        }
        out.push(Frame::Push(vec![
            Frame::bulk(verb),
            Frame::Bulk(name),
            Frame::Integer(session.subs.count(kind) as i64),
        ]));
    }
    out
}

/// Drops every subscription of the session (disconnect, RESET).
pub fn unsubscribe_all(node: &Node, session: &mut Session) {
    for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
        for name in std::mem::take(session.subs.set(kind)) {
            node.pubsub.unsubscribe(kind, &name, session.id);
        }
    }
}

/// In a sharded cluster, shard channels live with their slot: `-CROSSSLOT` for channels of
/// several slots, `-MOVED` for a slot of another group. `None` = serve here.
fn shard_route(node: &Node, channels: &[Bytes]) -> Option<Frame> {
    let topo = node.topology.as_ref().filter(|t| t.is_sharded())?;
    let slot = key_slot(channels.first()?);
    if channels.iter().any(|c| key_slot(c) != slot) {
        return Some(errors::cross_slot());
    }
    let shard = topo.shard_for_slot(slot);
    if shard == topo.my_shard {
        return None;
    }
    Some(match topo.client_addr_of(shard) {
        Some(a) => errors::moved(slot, &a),
        None => errors::cluster_down(),
    })
}

fn publish(node: &Node, sharded: bool, channel: &Bytes, payload: &Bytes) -> Frame {
    let n = node.pubsub.publish_local(sharded, channel, payload);
    let targets = peers(node, sharded);
    node.pubsub.forward(
        &targets,
        PeerMessage {
            sharded,
            channel: channel.clone(),
            payload: payload.clone(),
        },
    );
    Frame::Integer(n as i64)
}

/// The other nodes a message goes to, with their peer (gRPC) addresses: every member of every
/// group for PUBLISH, this node's group for SPUBLISH. Members come from the cluster file and
/// from this group's replicated membership (members added at run time).
fn peers(node: &Node, sharded: bool) -> Vec<(NodeId, String)> {
    let mut out: BTreeMap<NodeId, String> = BTreeMap::new();
    let Some(topo) = &node.topology else {
        return Vec::new();
    };
    for (shard, members) in &topo.shards {
        if sharded && *shard != topo.my_shard {
            continue;
        }
        for m in members {
            let addr = node
                .book
                .raft_addr(m.id, None)
                .unwrap_or_else(|| m.raft.clone());
            out.insert(m.id, addr);
        }
    }
    {
        let metrics = node.raft.metrics();
        let m = metrics.borrow();
        for (id, n) in m.membership_config.membership().nodes() {
            if let Some(a) = node.book.raft_addr(*id, Some(n)) {
                out.insert(*id, a);
            }
        }
    }
    out.remove(&node.id);
    out.into_iter().collect()
}

const HELP: &[&str] = &[
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
];

/// PUBSUB CHANNELS | NUMSUB | NUMPAT | SHARDCHANNELS | SHARDNUMSUB | HELP, over this node's
/// subscriptions; channel lists in byte order.
fn pubsub(node: &Node, argv: &[Bytes]) -> Frame {
    let sub = lower(&argv[1]);
    let bulks = |v: Vec<Bytes>| Frame::Array(v.into_iter().map(Frame::Bulk).collect());
    let numsub = |kind: Kind| {
        let mut out = Vec::with_capacity(2 * (argv.len() - 2));
        for ch in &argv[2..] {
            out.push(Frame::Bulk(ch.clone()));
            out.push(Frame::Integer(node.pubsub.count(kind, ch) as i64));
        }
        Frame::Array(out)
    };
    match (sub.as_str(), argv.len()) {
        ("channels", 2 | 3) => bulks(
            node.pubsub
                .active(Kind::Channel, argv.get(2).map(|p| &p[..])),
        ),
        ("shardchannels", 2 | 3) => {
            bulks(node.pubsub.active(Kind::Shard, argv.get(2).map(|p| &p[..])))
        }
        ("numsub", _) => numsub(Kind::Channel),
        ("shardnumsub", _) => numsub(Kind::Shard),
        ("numpat", 2) => Frame::Integer(node.pubsub.pattern_count() as i64),
        ("help", 2) => Frame::Array(HELP.iter().map(|l| Frame::Simple(l.to_string())).collect()),
        ("numpat" | "help", _) => Frame::err(format!(
            "wrong number of arguments for 'pubsub|{sub}' command"
        )),
        ("channels" | "shardchannels", _) => Frame::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
            String::from_utf8_lossy(&argv[1])
        )),
        _ => Frame::err(format!(
            "unknown subcommand '{}'. Try PUBSUB HELP.",
            String::from_utf8_lossy(&argv[1])
        )),
    }
}
