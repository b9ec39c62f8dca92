//! `DEBUG`: the subcommands tools and Redis's test suite rely on, each node-local (it acts on
//! the node that receives it; nothing goes through the log; docs/commands.md "DEBUG").
//!
//! - `OBJECT key`: Redis's line (`Value at:… refcount:… encoding:… serializedlength:… lru:…
//!   lru_seconds_idle:…`, plus the `ql_*` figures for a list); `serializedlength` is the RDB
//!   object's size ([`crate::keyspace::rdb::serialized_len`]).
//! - `RELOAD`: triggers a Raft snapshot, then rebuilds the keyspace from its snapshot encoding
//!   (under the write lock, so no apply is lost), which re-derives every `OBJECT ENCODING`
//!   from contents as Redis's reload does.
//! - `SLEEP s`: this connection waits (the node keeps serving others).
//! - `SET-ACTIVE-EXPIRE 0|1`: this node's leader-side active expiry loop.
//! - `CHANGE-REPL-ID`, `QUICKLIST-PACKED-THRESHOLD size`: accepted (validated) no-ops.
//! - `HELP`; anything else gets Redis's unknown-subcommand error.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use crate::cmd;
use crate::keyspace::{codec, rdb, Value};
use crate::resp::Frame;

use super::state::Node;

/// `DEBUG HELP` lines for the subcommands served, in Redis 7.0's words and order.
const HELP: &[&str] = &[
    "CHANGE-REPL-ID",
    "    Change the replication IDs of the instance.",
    "    Dangerous: should be used only for testing the replication subsystem.",
    "OBJECT <key>",
    "    Show low level info about `key` and associated value.",
    "RELOAD [option ...]",
    "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
    "    * MERGE: conflicting keys will be loaded from RDB.",
    "    * NOFLUSH: the existing database will not be removed before load, but",
    "      conflicting keys will generate an exception and kill the server.",
    "    * NOSAVE: the database will be loaded from an existing RDB file.",
    "    Examples:",
    "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
    "      the database.",
    "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
    "      existing RDB file.",
    "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
    "      file to the database.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in background when they are not",
    "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
    "    default.",
    "QUICKLIST-PACKED-THRESHOLD <size>",
    "    Sets the threshold for elements to be inserted as plain vs packed nodes",
    "    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
];

fn lower(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_ascii_lowercase()
}

/// C's `atoi`: optional sign and leading digits, 0 when there are none.
fn atoi(b: &[u8]) -> i64 {
    let s = String::from_utf8_lossy(b);
    let t = s.trim_start();
    let (neg, rest) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let digits: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .take(18)
        .collect();
    let v = digits.parse::<i64>().unwrap_or(0);
    if neg {
        -v
    } else {
        v
    }
}

/// C's `strtod` prefix parse as DEBUG SLEEP uses it (an unparsable argument is 0).
fn strtod(b: &[u8]) -> f64 {
    let s = String::from_utf8_lossy(b);
    let t = s.trim();
    (1..=t.len())
        .rev()
        .find_map(|n| t.get(..n).and_then(|p| p.parse::<f64>().ok()))
        .unwrap_or(0.0)
}

fn syntax_error(sub: &[u8]) -> Frame {
    Frame::err(format!(
        "unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
        String::from_utf8_lossy(&sub[..sub.len().min(128)])
    ))
}

/// Runs `DEBUG …` (argv\[0\] is DEBUG; arity ≥ 2 checked by the caller) for a client whose
/// selected database is `db`.
pub async fn execute(node: &Arc<Node>, argv: &[Bytes], db: u32) -> Frame {
    let sub = lower(&argv[1]);
    match (sub.as_str(), argv.len()) {
        ("help", 2) => {
            let mut lines = vec![Frame::Simple(
                "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:".into(),
            )];
            lines.extend(HELP.iter().map(|l| Frame::Simple((*l).into())));
            lines.push(Frame::Simple("HELP".into()));
            lines.push(Frame::Simple("    Print this help.".into()));
            Frame::Array(lines)
        }
        ("object", 3) => object(node, &argv[2], db),
        ("reload", _) => {
            for o in &argv[2..] {
                let o = lower(o);
                if !matches!(o.as_str(), "merge" | "noflush" | "nosave") {
                    return Frame::err(
                        "DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.",
                    );
                }
            }
            reload(node).await
        }
        ("sleep", 3) => {
            let secs = strtod(&argv[2]);
            let micros = (secs * 1_000_000.0) as i64;
            if micros > 0 {
                tokio::time::sleep(std::time::Duration::from_micros(micros as u64)).await;
            }
            Frame::ok()
        }
        ("set-active-expire", 3) => {
            node.active_expire
                .store(atoi(&argv[2]) != 0, Ordering::Relaxed);
            Frame::ok()
        }
        ("quicklist-packed-threshold", 3) => {
            let ok = crate::config::parse_bytes(&String::from_utf8_lossy(&argv[2]))
                .is_ok_and(|sz| sz <= (1u64 << 32) - (1 << 20));
            if ok {
                Frame::ok()
            } else {
                Frame::err("argument must be a memory value bigger than 1 and smaller than 4gb")
            }
        }
        ("change-repl-id", 2) => Frame::ok(),
        _ => syntax_error(&argv[1]),
    }
}

fn object(node: &Node, key: &Bytes, db: u32) -> Frame {
    let now = node_now(node);
    let root = match node.keyspace.read() {
        Ok(k) => k,
        Err(p) => p.into_inner(),
    };
    let ks = root.db(db);
    let Some(e) = ks.get(key, now) else {
        return Frame::err("no such key");
    };
    let large = ks.encoding_sticky(key);
    let encoding = ks.encoding(key, now).unwrap_or("raw");
    let refcount = match cmd::Command::parse(&[
        Bytes::from_static(b"object"),
        Bytes::from_static(b"refcount"),
        key.clone(),
    ]) {
        Ok(cmd::Command::Read(r)) => match r.read(&ks, now) {
            Frame::Integer(n) => n,
            _ => 1,
        },
        _ => 1,
    };
    // Streams are not RDB-encoded here (DUMP refuses them): their length reads 0.
    let serialized = rdb::serialized_len(&e.value, large).unwrap_or(0);
    // Access times exist only while an LRU policy tracks them; otherwise idle 0.
    let started_ms = node.started.elapsed().as_millis() as u64;
    let idle_ms = node.evictor.access.idle(key);
    let idle_s = if idle_ms > started_ms {
        0
    } else {
        idle_ms / 1000
    };
    let lru = ((now / 1000).saturating_sub(idle_s)) & ((1 << 24) - 1);
    let mut extra = String::new();
    if let Value::List(l) = &e.value {
        let (nodes, bytes) = rdb::save::list_layout(l);
        let avg = if nodes == 0 {
            0.0
        } else {
            l.len() as f64 / nodes as f64
        };
        extra = format!(
            " ql_nodes:{nodes} ql_avg_node:{avg:.2} ql_listpack_max:-2 ql_compressed:0 ql_uncompressed_size:{bytes}"
        );
    }
    let addr = e as *const crate::keyspace::Entry as usize;
    Frame::Simple(format!(
        "Value at:0x{addr:x} refcount:{refcount} encoding:{encoding} serializedlength:{serialized} lru:{lru} lru_seconds_idle:{idle_s}{extra}"
    ))
}

fn node_now(node: &Node) -> u64 {
    let ks = match node.keyspace.read() {
        Ok(k) => k,
        Err(p) => p.into_inner(),
    };
    ks.timeline(crate::clock::now_ms())
}

/// Snapshot, then reload the keyspace from its own snapshot encoding.
async fn reload(node: &Arc<Node>) -> Frame {
    if node.raft.trigger().snapshot().await.is_err() {
        return Frame::err("Error trying to load the RDB dump");
    }
    let mut ks = match node.keyspace.write() {
        Ok(k) => k,
        Err(p) => p.into_inner(),
    };
    let mut buf = Vec::new();
    codec::encode(&ks, &mut buf);
    match codec::decode(&buf) {
        Ok(fresh) if fresh == *ks => {
            // Keeps this node's `databases` config (the encoding does not carry it).
            ks.replace_with(fresh);
            Frame::ok()
        }
        Ok(_) | Err(_) => Frame::err("Error trying to load the RDB dump"),
    }
}
