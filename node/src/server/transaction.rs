//! MULTI / EXEC / DISCARD / WATCH / UNWATCH, as Redis 7 (docs/commands.md, "Transactions").
//!
//! The session queues commands between MULTI and EXEC (queue-time checks — unknown command,
//! arity, cluster routing — are made by the session, which calls [`flag`] on an error).
//! EXEC turns the queued data commands into ONE `Request::Transaction` log entry carrying the
//! `(key, version seen, existed)` of every watched key; the state machine applies all of it
//! atomically, or nothing when a watched key changed (`Keyspace::watch_broken`), on every
//! replica alike. A transaction of reads only takes the read path: one linearizable-read
//! barrier, then every command under one keyspace read lock. Server commands queued in the
//! transaction (PING, CLIENT, ...) run after the data commands, their replies at their
//! positions.
//!
//! Two planted bugs live here (crate::faults, `--unsafe-test-faults` only): `non-atomic-exec`
//! proposes each data command as its own entry, one after the other; `stale-read-in-multi`
//! answers a read-only transaction from local state without the barrier.
//!
//! WATCH reads the version table through the read path (barrier, then one read lock), so the
//! versions it records are those of a committed state, and EXEC's check runs at apply time
//! against the replicated table: exact across failover.

use std::sync::Arc;

use bytes::Bytes;

use crate::clock;
use crate::cmd::{self, Command, Kind};
use crate::errors;
use crate::raft::Request;
use crate::resp::{ErrorCode, Frame};

use super::read_barrier::ReadError;
use super::state::{Node, Session};
use super::write_path;

/// A transaction being queued (between MULTI and EXEC).
#[derive(Debug, Default)]
pub struct Multi {
    /// Queued commands, in order.
    pub cmds: Vec<Vec<Bytes>>,
    /// A queue-time error happened: EXEC answers `EXECABORT`.
    pub errored: bool,
}

/// Commands that run at once inside MULTI instead of being queued (Redis's list).
pub fn runs_inside_multi(name: &str) -> bool {
    matches!(name, "exec" | "discard" | "multi" | "watch" | "quit")
}

/// Marks the session's transaction as failed at queue time (EXEC will answer EXECABORT).
pub fn flag(session: &mut Session) {
    if let Some(m) = session.multi.as_mut() {
        m.errored = true;
    }
}

/// `+QUEUED`, after queueing `argv`.
pub fn queue(session: &mut Session, argv: Vec<Bytes>) -> Frame {
    if let Some(m) = session.multi.as_mut() {
        m.cmds.push(argv);
    }
    Frame::Simple("QUEUED".into())
}

/// Runs MULTI, EXEC, DISCARD, WATCH or UNWATCH (arity checked; for WATCH the session has
/// already routed the keys here).
pub async fn execute(node: &Arc<Node>, session: &mut Session, argv: &[Bytes]) -> Frame {
    let name = String::from_utf8_lossy(&argv[0]).to_ascii_lowercase();
    match name.as_str() {
        "multi" => {
            if session.multi.is_some() {
                return Frame::err("MULTI calls can not be nested");
            }
            session.multi = Some(Multi::default());
            Frame::ok()
        }
        "discard" => {
            if session.multi.take().is_none() {
                return Frame::err("DISCARD without MULTI");
            }
            session.watches.clear();
            Frame::ok()
        }
        "unwatch" => {
            session.watches.clear();
            Frame::ok()
        }
        "watch" => {
            if session.multi.is_some() {
                return Frame::err("WATCH inside MULTI is not allowed");
            }
            watch(node, session, &argv[1..]).await
        }
        "exec" => {
            let Some(multi) = session.multi.take() else {
                return Frame::err("EXEC without MULTI");
            };
            let watches = std::mem::take(&mut session.watches);
            if multi.errored {
                return Frame::error(
                    ErrorCode::ExecAbort,
                    "Transaction discarded because of previous errors.",
                );
            }
            exec(node, session, multi.cmds, watches).await
        }
        other => Frame::err(format!("unknown command '{other}'")),
    }
}

/// Waits for a linearizable-read confirmation (at most the request timeout), then read-locks
/// the keyspace; the error is the reply for an unconfirmed read.
async fn confirmed_keyspace(
    node: &Node,
) -> Result<std::sync::RwLockReadGuard<'_, crate::keyspace::Keyspace>, Frame> {
    let timeout = node.request_timeout();
    match tokio::time::timeout(timeout, node.reads.wait()).await {
        Err(_) => return Err(errors::read_unconfirmed(timeout)),
        Ok(Err(e)) => return Err(read_error(&e, timeout)),
        Ok(Ok(())) => {}
    }
    Ok(match node.keyspace.read() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    })
}

/// Records the current version and existence of every key, after a read barrier.
async fn watch(node: &Arc<Node>, session: &mut Session, keys: &[Bytes]) -> Frame {
    let ks = match confirmed_keyspace(node).await {
        Ok(ks) => ks,
        Err(e) => return e,
    };
    let now = ks.timeline(clock::now_ms());
    // A key of the selected database (WATCH then SELECT watches the first database's key).
    let db = ks.db(session.db);
    let seq = db.versions().seq();
    for k in keys {
        let name = crate::keyspace::watch_key(session.db, k);
        session.watches.push((name, seq, db.contains(k, now)));
    }
    Frame::ok()
}

fn read_error(e: &ReadError, timeout: std::time::Duration) -> Frame {
    match e {
        ReadError::NotLeader { .. } => write_path::no_leader_reply(),
        ReadError::Timeout => errors::read_unconfirmed(timeout),
        ReadError::ShuttingDown => errors::shutting_down(),
    }
}

/// One queued command, as EXEC runs it.
enum Item {
    /// A data command (read or write) or one that failed to parse: goes to the entry or the
    /// read path; `Err` is its runtime error reply.
    Data(Result<Command, Frame>, Vec<Bytes>),
    /// SELECT: part of the entry (the commands after it run in its database, as Redis), and
    /// the session's database afterwards.
    Select(Vec<Bytes>),
    Server(Vec<Bytes>),
}

async fn exec(
    node: &Arc<Node>,
    session: &mut Session,
    cmds: Vec<Vec<Bytes>>,
    watches: Vec<(Bytes, u64, bool)>,
) -> Frame {
    // Redis Cluster checks the keys of all queued commands at EXEC: one slot.
    if node.topology.as_ref().is_some_and(|t| t.is_sharded()) {
        let mut slot = None;
        for argv in &cmds {
            let Some(spec) = cmd::lookup(&argv[0]) else {
                continue;
            };
            for i in cmd::key_indices(spec, argv) {
                let s = crate::cluster::slot::key_slot(&argv[i]);
                if *slot.get_or_insert(s) != s {
                    return errors::cross_slot();
                }
            }
        }
    }
    let single_db = super::server_cmds::single_db(node);
    let start_db = session.db;
    let items: Vec<Item> = cmds
        .into_iter()
        .map(|argv| match cmd::lookup(&argv[0]) {
            // In a sharded cluster SELECT answers as Redis Cluster (a server command there).
            Some(spec) if spec.name == "select" && !single_db => Item::Select(argv),
            // A queued EVAL, FCALL or FUNCTION (crate::scripting) is data: it runs in the
            // transaction's entry.
            Some(spec)
                if spec.kind == Kind::Server
                    && !matches!(spec.name, "eval" | "fcall" | "function") =>
            {
                Item::Server(argv)
            }
            _ => Item::Data(Command::parse(&argv), argv),
        })
        .collect();
    let has_write = items.iter().any(|i| match i {
        Item::Data(Ok(c), _) => c.is_write(),
        Item::Data(Err(_), argv) => ["eval", "fcall", "function"]
            .iter()
            .any(|n| cmd::eq(&argv[0], n)),
        Item::Select(_) | Item::Server(_) => false,
    });
    let timeout = node.request_timeout();
    let data: Vec<Frame> = if has_write {
        let data_cmds: Vec<Vec<Bytes>> = items
            .iter()
            .filter_map(|i| match i {
                Item::Data(_, argv) | Item::Select(argv) => Some(argv.clone()),
                Item::Server(_) => None,
            })
            .collect();
        let bytes: usize = data_cmds.iter().flatten().map(|a| a.len()).sum();
        if bytes > errors::MAX_COMMAND_BYTES {
            return errors::command_too_large(bytes);
        }
        let now_ms = match node.keyspace.read() {
            Ok(k) => k.timeline(clock::now_ms()),
            Err(p) => p.into_inner().timeline(clock::now_ms()),
        };
        if node.config.unsafe_test_faults.non_atomic_exec {
            return finish(
                node,
                session,
                items,
                non_atomic(node, start_db, now_ms, watches, data_cmds).await,
            )
            .await;
        }
        let req = Request::Transaction {
            now_ms,
            watches,
            cmds: data_cmds,
        };
        let req = Request::in_db(start_db, req);
        let deadline = tokio::time::Instant::now() + timeout;
        let p = match write_path::propose(&node.raft, req).await {
            Ok(p) => p,
            Err(f) => return f,
        };
        match write_path::await_reply(p, deadline, timeout).await {
            Frame::Array(replies) => replies,
            // Aborted by WATCH (nil array), or the write path's error (TIMEOUT, TRYAGAIN...).
            other => return other,
        }
    } else {
        let ks = if node.config.unsafe_test_faults.stale_read_in_multi {
            // Planted bug: no barrier, whatever this member holds now.
            match node.keyspace.read() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            }
        } else {
            match confirmed_keyspace(node).await {
                Ok(ks) => ks,
                Err(e) => return e,
            }
        };
        let now = ks.timeline(clock::now_ms());
        if ks.watch_broken(&watches, now) {
            return Frame::NullArray;
        }
        let mut db = start_db;
        items
            .iter()
            .filter_map(|i| match i {
                Item::Data(Ok(Command::Read(c)), _) => Some(c.read(ks.db(db), now)),
                Item::Data(Ok(Command::Write(_)), _) => None,
                Item::Data(Err(e), _) => Some(e.clone()),
                Item::Select(argv) => Some(match cmd::select_target(argv, ks.db_count()) {
                    Some(n) => {
                        db = n;
                        Frame::ok()
                    }
                    None => select_error(argv),
                }),
                Item::Server(_) => None,
            })
            .collect()
    };
    finish(node, session, items, Ok(data)).await
}

/// The reply of a SELECT that does not switch (the read path's; the entry's apply gives the
/// same, `cmd::apply_select`).
fn select_error(argv: &[Bytes]) -> Frame {
    let mut ks = crate::keyspace::Keyspace::new();
    cmd::apply_select(&mut ks, argv)
}

/// EXEC's reply: the data commands' replies at their positions, the server commands run now.
/// `Err` (an abort or the write path's error) is the whole reply.
async fn finish(
    node: &Arc<Node>,
    session: &mut Session,
    items: Vec<Item>,
    data: Result<Vec<Frame>, Frame>,
) -> Frame {
    let data = match data {
        Ok(d) => d,
        Err(f) => return f,
    };
    let mut data = data.into_iter();
    let mut out = Vec::with_capacity(items.len());
    let db_count = node.config.databases;
    for item in items {
        match item {
            Item::Data(..) => out.push(data.next().unwrap_or_else(errors::wrong_reply_count)),
            Item::Select(argv) => {
                let reply = data.next().unwrap_or_else(errors::wrong_reply_count);
                if let (Some(n), false) = (cmd::select_target(&argv, db_count), reply.is_error()) {
                    super::server_cmds::set_db(node, session, n);
                }
                out.push(reply);
            }
            Item::Server(argv) => {
                out.push(Box::pin(super::server_cmds::execute(node, session, &argv)).await)
            }
        }
    }
    Frame::Array(out)
}

/// The planted `non-atomic-exec` bug: every data command is proposed as an entry of its own
/// (the watches go with the first), awaited before the next, so other clients' entries
/// interleave. An abort or error stops it there, with what came before applied.
async fn non_atomic(
    node: &Arc<Node>,
    db: u32,
    now_ms: u64,
    watches: Vec<(Bytes, u64, bool)>,
    cmds: Vec<Vec<Bytes>>,
) -> Result<Vec<Frame>, Frame> {
    let timeout = node.request_timeout();
    let mut watches = Some(watches);
    let mut out = Vec::with_capacity(cmds.len());
    for argv in cmds {
        let req = Request::Transaction {
            now_ms,
            watches: watches.take().unwrap_or_default(),
            cmds: vec![argv],
        };
        let req = Request::in_db(db, req);
        let deadline = tokio::time::Instant::now() + timeout;
        let p = write_path::propose(&node.raft, req).await?;
        match write_path::await_reply(p, deadline, timeout).await {
            Frame::Array(mut r) if r.len() == 1 => out.extend(r.pop()),
            other => return Err(other),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use crate::cmd::{apply_argv, apply_transaction};
    use crate::keyspace::{codec, Keyspace};
    use crate::raft::Request;
    use crate::resp::Frame;
    use crate::storage::codec::{decode_request, encode_request};

    fn argv(words: &[&str]) -> Vec<Bytes> {
        words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    /// What WATCH records for `key`.
    fn watch(ks: &Keyspace, key: &str, now: u64) -> (Bytes, u64, bool) {
        (
            Bytes::copy_from_slice(key.as_bytes()),
            ks.versions().seq(),
            ks.contains(key.as_bytes(), now),
        )
    }

    fn tx(ks: &mut Keyspace, w: &[(Bytes, u64, bool)], cmds: &[&[&str]], now: u64) -> Frame {
        let cmds: Vec<Vec<Bytes>> = cmds.iter().map(|c| argv(c)).collect();
        apply_transaction(ks, w, &cmds, now)
    }

    #[test]
    fn applies_all_with_runtime_errors_as_elements() {
        let mut ks = Keyspace::new();
        let r = tx(
            &mut ks,
            &[],
            &[
                &["set", "a", "x"],
                &["incr", "a"],
                &["append", "a", "y"],
                &["get", "a"],
            ],
            1,
        );
        assert_eq!(
            r,
            Frame::Array(vec![
                Frame::ok(),
                Frame::err("value is not an integer or out of range"),
                Frame::Integer(2),
                Frame::bulk("xy"),
            ])
        );
    }

    #[test]
    fn watch_aborts_on_any_modification_and_applies_nothing() {
        // (what happens between WATCH and EXEC, does EXEC abort?)
        let cases: &[(&[&str], bool)] = &[
            (&["set", "k", "2"], true),
            (&["set", "other", "2"], false),
            (&["expire", "k", "100"], true),
            (&["del", "k"], true),
            (&["flushdb"], true),
            (&["rename", "k", "k2"], true),
            (&["get", "k"], false),
        ];
        for (between, aborts) in cases {
            let mut ks = Keyspace::new();
            apply_argv(&mut ks, &argv(&["set", "k", "1"]), 1);
            let w = [watch(&ks, "k", 1)];
            apply_argv(&mut ks, &argv(between), 2);
            let before = ks.clone();
            let r = tx(&mut ks, &w, &[&["set", "out", "1"]], 3);
            if *aborts {
                assert_eq!(r, Frame::NullArray, "{between:?}");
                assert_eq!(ks, before, "{between:?}: nothing applied");
            } else {
                assert_eq!(r, Frame::Array(vec![Frame::ok()]), "{between:?}");
            }
        }
    }

    #[test]
    fn watch_sees_expiry_and_creation_of_a_missing_key() {
        let mut ks = Keyspace::new();
        apply_argv(&mut ks, &argv(&["set", "k", "1", "px", "10"]), 100);
        let w = [watch(&ks, "k", 100)];
        // Logically expired at 200 with no write in between: the transaction aborts.
        assert_eq!(tx(&mut ks, &w, &[&["get", "k"]], 200), Frame::NullArray);
        let mut ks = Keyspace::new();
        let w = [watch(&ks, "missing", 1)];
        apply_argv(&mut ks, &argv(&["set", "missing", "v"]), 2);
        apply_argv(&mut ks, &argv(&["del", "missing"]), 3);
        assert_eq!(tx(&mut ks, &w, &[&["get", "x"]], 4), Frame::NullArray);
        let w = [watch(&ks, "missing", 4)];
        assert_eq!(
            tx(&mut ks, &w, &[&["get", "x"]], 5),
            Frame::Array(vec![Frame::Null])
        );
    }

    #[test]
    fn versions_survive_snapshots_so_replicas_decide_alike() {
        let mut ks = Keyspace::new();
        apply_argv(&mut ks, &argv(&["set", "k", "1"]), 1);
        let w = [watch(&ks, "k", 1)];
        apply_argv(&mut ks, &argv(&["incr", "k"]), 2);
        let mut snap = Vec::new();
        codec::encode(&ks, &mut snap);
        let mut restored = codec::decode(&snap).expect("decodes");
        assert_eq!(restored, ks);
        assert_eq!(
            tx(&mut restored, &w, &[&["incr", "k"]], 3),
            Frame::NullArray
        );
        assert_eq!(tx(&mut ks, &w, &[&["incr", "k"]], 3), Frame::NullArray);
        let w2 = [watch(&restored, "k", 3)];
        assert_eq!(
            tx(&mut restored, &w2, &[&["incr", "k"]], 4),
            Frame::Array(vec![Frame::Integer(3)])
        );
    }

    #[test]
    fn transaction_entries_round_trip_through_the_log_codec() {
        let req = Request::Transaction {
            now_ms: 42,
            watches: vec![
                (Bytes::from_static(b"k"), 7, true),
                (Bytes::new(), 0, false),
            ],
            cmds: vec![argv(&["set", "k", "v"]), argv(&["incr", "n"])],
        };
        let mut buf = Vec::new();
        encode_request(&req, &mut buf);
        assert_eq!(decode_request(&buf), Ok(req));
        for cut in 0..buf.len() {
            assert!(decode_request(&buf[..cut]).is_err(), "prefix {cut}");
        }
    }
}
