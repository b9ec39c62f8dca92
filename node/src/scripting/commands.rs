//! The server side of scripting: EVAL / EVALSHA / EVAL_RO / EVALSHA_RO and SCRIPT
//! (docs/scripting.md).
//!
//! - A script that may write becomes ONE `Request::Script` log entry carrying its body
//!   (EVALSHA resolves the SHA1 against this node's cache when proposing; `NOSCRIPT` if it
//!   is not there); [`apply_script`] runs it on every replica at apply time.
//! - `EVAL_RO`/`EVALSHA_RO` and `#!lua flags=no-writes` scripts take the read path: one
//!   linearizable-read barrier, then the run under a keyspace read lock (write commands are
//!   refused with Redis's error). With READONLY on a follower they run on local state.
//! - `SCRIPT LOAD` is a log entry too (flag `SCRIPT_LOAD_ONLY`) so every replica caches the
//!   body; `SCRIPT EXISTS`/`FLUSH` act on this node's cache; `SCRIPT KILL` stops a running
//!   read-only script, and answers `UNKILLABLE` for one in the log.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::clock;
use crate::errors;
use crate::keyspace::Keyspace;
use crate::raft::types::{SCRIPT_FCALL, SCRIPT_LOAD_ONLY, SCRIPT_SHARDED};
use crate::raft::Request;
use crate::resp::{parse_i64, ErrorCode, Frame};
use crate::server::read_barrier::ReadError;
use crate::server::state::Node;
use crate::server::write_path;

use super::engine::{self, Access, Script};
use super::Limits;

/// Replicated scripts being applied in this process now (for SCRIPT KILL's `UNKILLABLE`).
static APPLYING: AtomicUsize = AtomicUsize::new(0);

/// Read-only script runs in progress on this node, each with its kill flag.
#[derive(Debug, Default)]
pub struct Running {
    next: AtomicU64,
    runs: Mutex<BTreeMap<u64, Arc<AtomicBool>>>,
}

impl Running {
    fn with<R>(&self, f: impl FnOnce(&mut BTreeMap<u64, Arc<AtomicBool>>) -> R) -> R {
        match self.runs.lock() {
            Ok(mut m) => f(&mut m),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    fn start(&self) -> (u64, Arc<AtomicBool>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let flag = Arc::new(AtomicBool::new(false));
        self.with(|m| m.insert(id, flag.clone()));
        (id, flag)
    }

    fn end(&self, id: u64) {
        self.with(|m| m.remove(&id));
    }

    /// Flags every running read-only script; false if there was none.
    fn kill_all(&self) -> bool {
        self.with(|m| {
            for f in m.values() {
                f.store(true, Ordering::Relaxed);
            }
            !m.is_empty()
        })
    }
}

/// Applies a `Request::Script` entry (the state machine's apply arm).
pub fn apply_script(
    ks: &mut Keyspace,
    body: &Bytes,
    keys: &[Bytes],
    args: &[Bytes],
    now_ms: u64,
    budget: u64,
    flags: u8,
) -> Frame {
    if flags & SCRIPT_LOAD_ONLY != 0 {
        return Frame::Bulk(Bytes::from(super::sha1hex(body)));
    }
    APPLYING.fetch_add(1, Ordering::Relaxed);
    if flags & SCRIPT_FCALL != 0 {
        let reply = super::functions::apply_fcall(ks, body, keys, args, now_ms, budget, flags);
        APPLYING.fetch_sub(1, Ordering::Relaxed);
        return reply;
    }
    let reply = engine::run(
        Access::Write(ks),
        &Script {
            body,
            keys,
            args,
            now_ms,
            read_only: false,
            limits: Limits {
                budget,
                memory: super::MEMORY_LIMIT,
            },
            sharded: flags & SCRIPT_SHARDED != 0,
            kill: None,
            function: None,
        },
    );
    APPLYING.fetch_sub(1, Ordering::Relaxed);
    reply
}

/// Applies an `EVAL body numkeys ...` argv queued in a MULTI/EXEC transaction (its entry
/// carries the body): the budget is the default `busy-reply-threshold`'s (5000 ms), a
/// constant so that every replica agrees.
pub fn apply_eval_argv(ks: &mut Keyspace, argv: &[Bytes], now_ms: u64) -> Frame {
    if argv.len() < 3 {
        return crate::cmd::wrong_args("eval");
    }
    let (keys, args) = match split_keys(argv) {
        Ok(x) => x,
        Err(e) => return e,
    };
    APPLYING.fetch_add(1, Ordering::Relaxed);
    let reply = engine::run(
        Access::Write(ks),
        &Script {
            body: &argv[1],
            keys,
            args,
            now_ms,
            read_only: false,
            limits: Limits::for_threshold_ms(5000),
            sharded: false,
            kill: None,
            function: None,
        },
    );
    APPLYING.fetch_sub(1, Ordering::Relaxed);
    reply
}

/// The keys and arguments of an EVAL-family argv (`name body numkeys key... arg...`), or
/// Redis's error for a bad `numkeys`.
pub fn split_keys(argv: &[Bytes]) -> Result<(&[Bytes], &[Bytes]), Frame> {
    let n =
        parse_i64(&argv[2]).ok_or_else(|| Frame::err("value is not an integer or out of range"))?;
    let rest = &argv[3..];
    if n > rest.len() as i64 {
        return Err(Frame::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    if n < 0 {
        return Err(Frame::err("Number of keys can't be negative"));
    }
    Ok(rest.split_at(n as usize))
}

/// The script EVALSHA names, from this node's cache, or `NOSCRIPT`.
pub fn resolve_sha(node: &Node, sha: &[u8]) -> Result<Bytes, Frame> {
    node.scripts
        .get(sha)
        .ok_or_else(|| Frame::error(ErrorCode::NoScript, "No matching script. Please use EVAL."))
}

/// The argv to forward to the leader for an EVALSHA received here: an EVAL of the body this
/// node holds (so the leader need not have it), or `NOSCRIPT`. Other argvs unchanged.
pub fn forwardable(node: &Node, argv: &[Bytes]) -> Result<Vec<Bytes>, Frame> {
    let name = argv[0].to_ascii_lowercase();
    let eval = match name.as_slice() {
        b"evalsha" => "EVAL",
        b"evalsha_ro" => "EVAL_RO",
        _ => return Ok(argv.to_vec()),
    };
    let body = resolve_sha(node, &argv[1])?;
    let mut out = argv.to_vec();
    out[0] = Bytes::from_static(eval.as_bytes());
    out[1] = body;
    Ok(out)
}

/// True for the EVAL-family commands that take the read path whatever the script says.
pub fn is_ro_command(name: &str) -> bool {
    matches!(name, "eval_ro" | "evalsha_ro" | "fcall_ro")
}

/// Runs EVAL* or SCRIPT (arity checked and routed by the session). `local_read`: serve a
/// read-only script from local state without the barrier (READONLY on a follower).
///
/// `db` is the client's selected database: a script runs in it (a script entry is wrapped in
/// `Request::Db`), and `redis.call('SELECT', n)` switches only for the rest of the script.
pub async fn execute(node: &Arc<Node>, db: u32, argv: &[Bytes], local_read: bool) -> Frame {
    let name = String::from_utf8_lossy(&argv[0]).to_ascii_lowercase();
    match name.as_str() {
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" => {
            eval(node, db, &name, argv, local_read).await
        }
        "script" => script(node, argv).await,
        "function" | "fcall" | "fcall_ro" => {
            super::functions::execute(node, db, argv, local_read).await
        }
        other => Frame::err(format!("unknown command '{other}'")),
    }
}

pub(crate) fn limits(node: &Node) -> Limits {
    let ms = node
        .config_params
        .value("busy-reply-threshold")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(5000);
    Limits::for_threshold_ms(ms)
}

fn sharded(node: &Node) -> bool {
    node.topology.as_ref().is_some_and(|t| t.is_sharded())
}

async fn eval(node: &Arc<Node>, db: u32, name: &str, argv: &[Bytes], local_read: bool) -> Frame {
    let (keys, args) = match split_keys(argv) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let body = if name.starts_with("evalsha") {
        match resolve_sha(node, &argv[1]) {
            Ok(b) => b,
            Err(e) => return e,
        }
    } else {
        argv[1].clone()
    };
    let sb = match engine::check(&body) {
        Ok(sb) => sb,
        Err(e) => return e,
    };
    if !name.starts_with("evalsha") {
        node.scripts.insert(&body);
    }
    let ro_command = is_ro_command(name);
    if sb.present && !sb.no_writes && ro_command {
        return Frame::err("Can not execute a script with write flag using *_ro command.");
    }
    if sb.no_cluster && node.topology.is_some() {
        return Frame::err("Can not run script on cluster, 'no-cluster' flag is set.");
    }
    if ro_command || sb.no_writes {
        return read_only_run(node, db, &body, keys, args, local_read, None).await;
    }
    let bytes: usize = argv.iter().map(|a| a.len()).sum::<usize>() + body.len();
    if bytes > errors::MAX_COMMAND_BYTES {
        return errors::command_too_large(bytes);
    }
    let now_ms = match node.keyspace.read() {
        Ok(k) => k.timeline(clock::now_ms()),
        Err(p) => p.into_inner().timeline(clock::now_ms()),
    };
    let req = Request::Script {
        now_ms,
        body,
        keys: keys.to_vec(),
        args: args.to_vec(),
        budget: limits(node).budget,
        flags: if sharded(node) { SCRIPT_SHARDED } else { 0 },
    };
    propose(node, Request::in_db(db, req)).await
}

pub(crate) async fn propose(node: &Arc<Node>, req: Request) -> Frame {
    let timeout = node.request_timeout();
    let deadline = tokio::time::Instant::now() + timeout;
    let p = match write_path::propose(&node.raft, req).await {
        Ok(p) => p,
        Err(f) => return f,
    };
    write_path::await_reply(p, deadline, timeout).await
}

/// Runs a read-only script (or, with `function`, the named function of library `body`) on
/// the read path: a linearizable-read barrier unless `local_read`, then a keyspace read lock.
pub(crate) async fn read_only_run(
    node: &Arc<Node>,
    db: u32,
    body: &Bytes,
    keys: &[Bytes],
    args: &[Bytes],
    local_read: bool,
    function: Option<&str>,
) -> Frame {
    let timeout = node.request_timeout();
    if !local_read {
        match tokio::time::timeout(timeout, node.reads.wait()).await {
            Err(_) => return errors::read_unconfirmed(timeout),
            Ok(Err(ReadError::NotLeader { .. })) => return write_path::no_leader_reply(),
            Ok(Err(ReadError::Timeout)) => return errors::read_unconfirmed(timeout),
            Ok(Err(ReadError::ShuttingDown)) => return errors::shutting_down(),
            Ok(Ok(())) => {}
        }
    }
    let (id, kill) = node.scripting.start();
    let reply = {
        let ks = match node.keyspace.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let now = ks.timeline(clock::now_ms());
        engine::run(
            Access::Read(&ks, db),
            &Script {
                body,
                keys,
                args,
                now_ms: now,
                read_only: true,
                limits: limits(node),
                sharded: sharded(node),
                kill: Some(&kill),
                function,
            },
        )
    };
    node.scripting.end(id);
    reply
}

/// SCRIPT KILL / FUNCTION KILL: stops the running read-only runs; `UNKILLABLE` for a
/// replicated one; `NOTBUSY` when nothing runs (Redis's reply).
pub(crate) fn kill_reply(node: &Node) -> Frame {
    if node.scripting.kill_all() {
        Frame::ok()
    } else if APPLYING.load(Ordering::Relaxed) > 0 {
        Frame::error(
            ErrorCode::Unkillable,
            "The busy script runs in the replicated log on every replica and cannot be \
             killed; it stops at its instruction budget (busy-reply-threshold).",
        )
    } else {
        Frame::error(ErrorCode::NotBusy, "No scripts in execution right now.")
    }
}

async fn script(node: &Arc<Node>, argv: &[Bytes]) -> Frame {
    let sub = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
    match (sub.as_str(), argv.len()) {
        ("help", 2) => Frame::Array(
            [
                "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "EXISTS <sha1> [<sha1> ...]",
                "    Return information about the existence of the scripts in the script cache.",
                "FLUSH [ASYNC|SYNC]",
                "    Flush the Lua scripts cache. Very dangerous on replicas.",
                "    When called without the optional mode argument, the behavior is determined by the",
                "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
                "    * ASYNC: Asynchronously flush the scripts cache.",
                "    * SYNC: Synchronously flush the scripts cache.",
                "KILL",
                "    Kill the currently executing Lua script.",
                "LOAD <script>",
                "    Load a script into the scripts cache without executing it.",
                "HELP",
                "    Print this help.",
            ]
            .iter()
            .map(|l| Frame::Simple((*l).to_string()))
            .collect(),
        ),
        ("flush", 2) => {
            node.scripts.flush();
            Frame::ok()
        }
        ("flush", 3) if matches!(argv[2].to_ascii_lowercase().as_slice(), b"sync" | b"async") => {
            node.scripts.flush();
            Frame::ok()
        }
        ("flush", _) => Frame::err("SCRIPT FLUSH only support SYNC|ASYNC option"),
        ("exists", n) if n >= 3 => Frame::Array(
            argv[2..]
                .iter()
                .map(|s| Frame::Integer(i64::from(node.scripts.contains(s))))
                .collect(),
        ),
        ("load", 3) => {
            if let Err(e) = engine::check(&argv[2]) {
                return e;
            }
            node.scripts.insert(&argv[2]);
            let now_ms = clock::now_ms();
            let req = Request::Script {
                now_ms,
                body: argv[2].clone(),
                keys: Vec::new(),
                args: Vec::new(),
                budget: 0,
                flags: SCRIPT_LOAD_ONLY,
            };
            propose(node, req).await
        }
        ("kill", 2) => kill_reply(node),
        _ => Frame::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try SCRIPT HELP.",
            String::from_utf8_lossy(&argv[1])
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::codec::{decode_request, encode_request};

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn numkeys_is_checked_as_redis() {
        let argv = [b("eval"), b("return 1"), b("2"), b("k")];
        assert_eq!(
            split_keys(&argv).err(),
            Some(Frame::err(
                "Number of keys can't be greater than number of args"
            ))
        );
        let argv = [b("eval"), b("return 1"), b("-1")];
        assert_eq!(
            split_keys(&argv).err(),
            Some(Frame::err("Number of keys can't be negative"))
        );
        let argv = [b("eval"), b("x"), b("1"), b("k"), b("a")];
        let (k, a) = split_keys(&argv).expect("splits");
        assert_eq!((k, a), (&argv[3..4], &argv[4..5]));
    }

    #[test]
    fn script_entries_round_trip_and_apply_alike() {
        let req = Request::Script {
            now_ms: 7,
            body: b("redis.call('incr', KEYS[1]) return redis.call('get', KEYS[1]) .. ARGV[1]"),
            keys: vec![b("n")],
            args: vec![b("!")],
            budget: 1_000_000,
            flags: SCRIPT_SHARDED,
        };
        let mut buf = Vec::new();
        encode_request(&req, &mut buf);
        assert_eq!(decode_request(&buf), Ok(req.clone()));
        for cut in 0..buf.len() {
            assert!(decode_request(&buf[..cut]).is_err(), "prefix {cut}");
        }
        let Request::Script {
            now_ms,
            body,
            keys,
            args,
            budget,
            flags,
        } = req
        else {
            unreachable!()
        };
        let (mut a, mut c) = (Keyspace::new(), Keyspace::new());
        let ra = apply_script(&mut a, &body, &keys, &args, now_ms, budget, flags);
        let rc = apply_script(&mut c, &body, &keys, &args, now_ms, budget, flags);
        assert_eq!(ra, Frame::bulk("1!"));
        assert_eq!(ra, rc);
        assert_eq!(a, c);
        assert_eq!(
            apply_script(&mut a, &b("return 1"), &[], &[], 1, 0, SCRIPT_LOAD_ONLY),
            Frame::bulk("e0e1f9fabfc9d4800c877a703b823ac0578ff8db")
        );
    }

    /// SPOP draws from a stream seeded by the entry, so a writing script may call it and
    /// replicas still agree; the read-side random commands stay refused there.
    #[test]
    fn spop_in_a_writing_script_pops_alike_on_every_replica() {
        let body = b("redis.call('sadd', KEYS[1], 'a', 'b', 'c', 'd', 'e', 'f') \
                      local p = redis.call('spop', KEYS[1], 2) \
                      redis.call('set', KEYS[2], table.concat(p, ',')) return p");
        let keys = [b("{s}set"), b("{s}out")];
        let (mut a, mut c) = (Keyspace::new(), Keyspace::new());
        let ra = apply_script(&mut a, &body, &keys, &[], 42, 1_000_000, 0);
        let rc = apply_script(&mut c, &body, &keys, &[], 42, 1_000_000, 0);
        assert!(matches!(&ra, Frame::Array(v) if v.len() == 2), "{ra:?}");
        assert_eq!(ra, rc);
        assert_eq!(a, c);
        let r = apply_script(
            &mut a,
            &b("return redis.call('srandmember', KEYS[1])"),
            &keys[..1],
            &[],
            43,
            1_000_000,
            0,
        );
        assert!(matches!(r, Frame::Error(_)), "{r:?}");
    }

    #[test]
    fn undeclared_cross_slot_keys_are_refused_when_sharded() {
        let mut ks = Keyspace::new();
        let r = apply_script(
            &mut ks,
            &b("redis.call('set', '{a}1', 1) return redis.call('set', '{b}2', 1)"),
            &[],
            &[],
            1,
            0,
            SCRIPT_SHARDED,
        );
        assert!(
            matches!(&r, Frame::Error(e) if e.starts_with("ERR Script attempted to access keys that do not hash to the same slot")),
            "{r:?}"
        );
    }
}
