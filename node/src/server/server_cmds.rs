//! Commands the server answers itself, without the keyspace or the log: connection state,
//! introspection and configuration. Arity has been checked by the caller.

use std::sync::Arc;

use bytes::Bytes;

use crate::cmd;
use crate::config::{parse_bytes, MaxmemoryPolicy};
use crate::errors;
use crate::resp::{parse_i64, Frame, Protocol};

use super::state::{Node, Session};

fn lower(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_ascii_lowercase()
}

/// Runs a server command for `session`.
pub async fn execute(node: &Arc<Node>, session: &mut Session, argv: &[Bytes]) -> Frame {
    let name = lower(&argv[0]);
    match name.as_str() {
        "ping" => match argv.len() {
            1 => Frame::Simple("PONG".into()),
            _ => Frame::Bulk(argv[1].clone()),
        },
        "echo" => Frame::Bulk(argv[1].clone()),
        "quit" => {
            session.closing = true;
            Frame::ok()
        }
        "select" => select(node, session, &argv[1]),
        "auth" => auth(node, session, &argv[1..]),
        "hello" => hello(node, session, &argv[1..]),
        "client" => client(node, session, argv),
        "command" => cmd::command_reply(argv),
        "info" => Frame::verbatim_text(super::info::render(node, &argv[1..]).await),
        "config" => config(node, argv),
        "time" => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            Frame::Array(vec![
                Frame::bulk(now.as_secs().to_string()),
                Frame::bulk(now.subsec_micros().to_string()),
            ])
        }
        "readonly" => {
            session.readonly = true;
            Frame::ok()
        }
        "readwrite" => {
            session.readonly = false;
            Frame::ok()
        }
        "cluster" => super::cluster_cmds::execute(node, argv).await,
        "debug" => super::debug_cmds::execute(node, argv, session.db).await,
        "reset" => reset(node, session),
        // Inside EXEC (the session runs the subscribe family itself and refuses it in MULTI).
        "publish" | "spublish" | "pubsub" => super::pubsub_cmds::execute_one(node, argv),
        other => Frame::err(format!("unknown command '{other}'")),
    }
}

/// `SELECT n`, as Redis 7.0: not an integer, or beyond a C int (Redis's two errors); in a sharded
/// cluster only db 0 exists (Redis Cluster's error); otherwise `0 <= n < databases`.
fn select(node: &Node, session: &mut Session, arg: &[u8]) -> Frame {
    let Some(n) = parse_i64(arg) else {
        return Frame::err(cmd::NOT_INT);
    };
    if i32::try_from(n).is_err() {
        return Frame::err(cmd::keys::INT_RANGE);
    }
    if n != 0 && single_db(node) {
        return Frame::err("SELECT is not allowed in cluster mode");
    }
    match u32::try_from(n) {
        Ok(n) if n < node.config.databases => {
            set_db(node, session, n);
            Frame::ok()
        }
        _ => Frame::err("DB index is out of range"),
    }
}

/// Whether this node has db 0 only: one shard of a sharded cluster (Redis Cluster's rule).
pub fn single_db(node: &Node) -> bool {
    node.topology.as_ref().is_some_and(|t| t.is_sharded())
}

/// Selects database `n` for the session (and CLIENT LIST's `db=`).
pub fn set_db(node: &Node, session: &mut Session, n: u32) {
    session.db = n;
    node.with_clients(|c| {
        if let Some(e) = c.get_mut(&session.id) {
            e.db = n;
        }
    });
}

/// `RESET`, as Redis 7: discards the transaction and the watched keys, leaves every Pub/Sub
/// subscription, returns to RESP2, READWRITE and the default (unauthenticated when
/// `requirepass` is set) user, clears the name; replies `+RESET` (in RESP2).
fn reset(node: &Node, session: &mut Session) -> Frame {
    session.multi = None;
    session.watches.clear();
    super::pubsub_cmds::unsubscribe_all(node, session);
    node.tracking.disable(session.id);
    session.tracking = None;
    session.caching = None;
    session.protocol = Protocol::Resp2;
    session.readonly = false;
    session.authenticated = node.settings().requirepass.is_none();
    session.db = 0;
    node.with_clients(|c| {
        if let Some(e) = c.get_mut(&session.id) {
            e.db = 0;
            e.name.clear();
            e.protocol = Protocol::Resp2;
        }
    });
    Frame::Simple("RESET".into())
}

fn auth(node: &Node, session: &mut Session, args: &[Bytes]) -> Frame {
    match args {
        [pass] => match node.settings().requirepass {
            None => Frame::err(
                "AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
            ),
            Some(_) => check_user(node, session, b"default", pass),
        },
        [user, pass] => check_user(node, session, user, pass),
        _ => cmd::syntax(),
    }
}

/// The only user is `default`; without `requirepass` it accepts any password (Redis's
/// `nopass`), otherwise exactly `requirepass`.
fn check_user(node: &Node, session: &mut Session, user: &[u8], pass: &[u8]) -> Frame {
    let ok = user == b"default"
        && match node.settings().requirepass {
            None => true,
            Some(p) => constant_time_eq(p.as_bytes(), pass),
        };
    if ok {
        session.authenticated = true;
        Frame::ok()
    } else {
        errors::wrongpass()
    }
}

/// Compares without an early exit, so the time taken does not reveal how long a prefix of the
/// password a guess got right (only, at most, whether the lengths differ).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
    }
    std::hint::black_box(diff) == 0
}

/// `HELLO [protover [AUTH user pass] [SETNAME name]]`, in Redis 7's order: the version is
/// checked first (`NOPROTO` for anything but 2 or 3), then the options (SETNAME's name is
/// validated while parsing), then AUTH, then the connection must be authenticated; only
/// then are the name and the protocol set. The reply is a map (a flat array in RESP2), in
/// the protocol just selected. Without a version the protocol stays as it is.
fn hello(node: &Node, session: &mut Session, args: &[Bytes]) -> Frame {
    let mut i = 0;
    let mut version = None;
    if let Some(v) = args.first() {
        match parse_i64(v) {
            Some(2) => version = Some(Protocol::Resp2),
            Some(3) => version = Some(Protocol::Resp3),
            Some(_) => return errors::noproto(),
            None => return Frame::err("Protocol version is not an integer or out of range"),
        }
        i = 1;
    }
    let mut setname = None;
    let mut auth = None;
    while i < args.len() {
        let more = args.len() - 1 - i;
        match lower(&args[i]).as_str() {
            "auth" if more >= 2 => {
                auth = Some((&args[i + 1], &args[i + 2]));
                i += 3;
            }
            "setname" if more >= 1 => {
                let name = String::from_utf8_lossy(&args[i + 1]).into_owned();
                if let Err(e) = valid_client_name(&name) {
                    return e;
                }
                setname = Some(name);
                i += 2;
            }
            _ => {
                return Frame::err(format!(
                    "Syntax error in HELLO option '{}'",
                    String::from_utf8_lossy(&args[i])
                ))
            }
        }
    }
    if let Some((user, pass)) = auth {
        let reply = check_user(node, session, user, pass);
        if reply.is_error() {
            return reply;
        }
    }
    if !session.authenticated {
        return errors::hello_noauth();
    }
    if let Some(v) = version {
        session.protocol = v;
    }
    let protocol = session.protocol;
    node.with_clients(|c| {
        if let Some(e) = c.get_mut(&session.id) {
            if let Some(n) = setname {
                e.name = n;
            }
            e.protocol = protocol;
        }
    });
    let mode = if node.config.cluster.is_some() {
        "cluster"
    } else {
        "standalone"
    };
    let role = if node.raft.metrics().borrow().state.is_leader() {
        "master"
    } else {
        "replica"
    };
    Frame::str_map([
        ("server", Frame::bulk("redis")),
        ("version", Frame::bulk(super::info::REDIS_VERSION)),
        ("proto", Frame::Integer(protocol.version())),
        ("id", Frame::Integer(session.id as i64)),
        ("mode", Frame::bulk(mode)),
        ("role", Frame::bulk(role)),
        ("modules", Frame::Array(vec![])),
    ])
}

/// Redis's rule for client names (CLIENT SETNAME, HELLO SETNAME): printable ASCII, no spaces.
fn valid_client_name(name: &str) -> Result<(), Frame> {
    if name.bytes().any(|b| b <= b' ' || b > b'~') {
        Err(Frame::err(
            "Client names cannot contain spaces, newlines or special characters.",
        ))
    } else {
        Ok(())
    }
}

fn client_line(node: &Node, id: u64) -> String {
    node.with_clients(|c| match c.get(&id) {
        Some(e) => format!(
            "id={id} addr={} laddr={} fd=0 name={} age={} idle=0 flags=N db={} sub=0 psub=0 ssub=0 multi=-1 watch=0 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={}\n",
            e.addr,
            node.local_addr,
            e.name,
            e.connected_at.elapsed().as_secs(),
            e.db,
            if e.last_command.is_empty() { "NULL" } else { &e.last_command },
            e.protocol.version(),
            e.lib_name,
            e.lib_ver
        ),
        None => String::new(),
    })
}

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p]... [BCAST] [OPTIN] [OPTOUT] [NOLOOP], with
/// Redis 7.0's checks in its order (options parsed first, then ON/OFF).
fn client_tracking(node: &Node, session: &mut Session, args: &[Bytes]) -> Frame {
    let mut opts = super::tracking::Options::default();
    let mut i = 1;
    while i < args.len() {
        let more = i + 1 < args.len();
        match lower(&args[i]).as_str() {
            "redirect" if more => {
                i += 1;
                if opts.redirect != 0 {
                    return Frame::err("A client can only redirect to a single other client");
                }
                let Some(id) = crate::resp::parse_i64(&args[i]) else {
                    return Frame::err("value is not an integer or out of range");
                };
                if id == 0 {
                    // Redis treats 0 as "no redirect" (ids start at 1).
                    i += 1;
                    continue;
                }
                match u64::try_from(id) {
                    Ok(id) if node.tracking.client_exists(id) => opts.redirect = id,
                    _ => return Frame::err("The client ID you want redirect to does not exist"),
                }
            }
            "bcast" => opts.bcast = true,
            "optin" => opts.optin = true,
            "optout" => opts.optout = true,
            "noloop" => opts.noloop = true,
            "prefix" if more => {
                i += 1;
                opts.prefixes.push(args[i].clone());
            }
            _ => return cmd::syntax(),
        }
        i += 1;
    }
    match lower(&args[0]).as_str() {
        "on" => match node.tracking.enable(session.id, opts) {
            Ok(o) => {
                session.tracking = Some(o);
                Frame::ok()
            }
            Err(e) => e,
        },
        "off" => {
            node.tracking.disable(session.id);
            session.tracking = None;
            session.caching = None;
            Frame::ok()
        }
        _ => cmd::syntax(),
    }
}

/// CLIENT TRACKINGINFO: flags, redirect, prefixes (a map).
fn tracking_info(node: &Node, session: &Session) -> Frame {
    let info = node.tracking.info(session.id);
    let mut flags = Vec::new();
    let (redirect, prefixes) = match &info {
        None => {
            flags.push(Frame::bulk("off"));
            (-1, Vec::new())
        }
        Some((o, broken)) => {
            flags.push(Frame::bulk("on"));
            if o.bcast {
                flags.push(Frame::bulk("bcast"));
            }
            if o.optin {
                flags.push(Frame::bulk("optin"));
                if session.caching == Some(true) {
                    flags.push(Frame::bulk("caching-yes"));
                }
            }
            if o.optout {
                flags.push(Frame::bulk("optout"));
                if session.caching == Some(false) {
                    flags.push(Frame::bulk("caching-no"));
                }
            }
            if o.noloop {
                flags.push(Frame::bulk("noloop"));
            }
            if *broken {
                flags.push(Frame::bulk("broken_redirect"));
            }
            let prefixes = if o.bcast {
                o.prefixes.iter().cloned().map(Frame::Bulk).collect()
            } else {
                Vec::new()
            };
            (o.redirect as i64, prefixes)
        }
    };
    Frame::str_map(vec![
        ("flags", Frame::Set(flags)),
        ("redirect", Frame::Integer(redirect)),
        ("prefixes", Frame::Array(prefixes)),
    ])
}

fn client(node: &Node, session: &mut Session, argv: &[Bytes]) -> Frame {
    let sub = lower(&argv[1]);
    let wrong_args = || {
        Frame::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
            String::from_utf8_lossy(&argv[1])
        ))
    };
    match (sub.as_str(), argv.len()) {
        ("id", 2) => Frame::Integer(session.id as i64),
        ("getname", 2) => {
            let name = node.with_clients(|c| {
                c.get(&session.id)
                    .map(|e| e.name.clone())
                    .unwrap_or_default()
            });
            if name.is_empty() {
                Frame::Null
            } else {
                Frame::bulk(name)
            }
        }
        ("setname", 3) => {
            let name = String::from_utf8_lossy(&argv[2]).into_owned();
            if let Err(e) = valid_client_name(&name) {
                return e;
            }
            node.with_clients(|c| {
                if let Some(e) = c.get_mut(&session.id) {
                    e.name = name;
                }
            });
            Frame::ok()
        }
        ("setinfo", 4) => {
            let attr = lower(&argv[2]);
            let value = String::from_utf8_lossy(&argv[3]).into_owned();
            if value.bytes().any(|b| b <= b' ' || b > b'~') && !value.is_empty() {
                return Frame::err(format!(
                    "{} cannot contain spaces, newlines or special characters.",
                    attr
                ));
            }
            let known = node.with_clients(|c| match c.get_mut(&session.id) {
                Some(e) => match attr.as_str() {
                    "lib-name" => {
                        e.lib_name = value;
                        true
                    }
                    "lib-ver" => {
                        e.lib_ver = value;
                        true
                    }
                    _ => false,
                },
                None => true,
            });
            if known {
                Frame::ok()
            } else {
                Frame::err(format!(
                    "Unrecognized option '{}'",
                    String::from_utf8_lossy(&argv[2])
                ))
            }
        }
        ("unblock", 3 | 4) => {
            let Some(id) = crate::resp::parse_i64(&argv[2]) else {
                return Frame::err("value is not an integer or out of range");
            };
            let mode = match argv.get(3).map(|m| lower(m)) {
                None => super::blocking::UnblockMode::Timeout,
                Some(m) if m == "timeout" => super::blocking::UnblockMode::Timeout,
                Some(m) if m == "error" => super::blocking::UnblockMode::Error,
                Some(_) => {
                    return Frame::err("CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
                }
            };
            let done = u64::try_from(id).is_ok_and(|id| node.blocking.unblock(id, mode));
            Frame::Integer(i64::from(done))
        }
        ("tracking", n) if n >= 3 => client_tracking(node, session, &argv[2..]),
        ("caching", n) if n >= 3 => {
            let Some(t) = &session.tracking else {
                return Frame::err("CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled");
            };
            match lower(&argv[2]).as_str() {
                "yes" if t.optin => session.caching = Some(true),
                "yes" => {
                    return Frame::err(
                        "CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
                    )
                }
                "no" if t.optout => session.caching = Some(false),
                "no" => {
                    return Frame::err(
                        "CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
                    )
                }
                _ => return cmd::syntax(),
            }
            Frame::ok()
        }
        ("getredir", 2) => Frame::Integer(match &session.tracking {
            Some(t) => t.redirect as i64,
            None => -1,
        }),
        ("trackinginfo", 2) => tracking_info(node, session),
        ("info", 2) => Frame::verbatim_text(client_line(node, session.id)),
        ("list", 2) => {
            let ids: Vec<u64> = node.with_clients(|c| c.keys().copied().collect());
            let text: String = ids.into_iter().map(|id| client_line(node, id)).collect();
            Frame::verbatim_text(text)
        }
        ("help", 2) => Frame::Array(
            [
                "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "ID",
                "    Return the ID of the current connection.",
                "GETNAME",
                "    Return the name of the current connection.",
                "SETNAME <name>",
                "    Assign the name <name> to the current connection.",
                "SETINFO <option> <value>",
                "    Set client meta attr (LIB-NAME, LIB-VER).",
                "INFO",
                "    Return information about the current client connection.",
                "UNBLOCK <clientid> [TIMEOUT|ERROR]",
                "    Unblock the specified blocked client.",
                "LIST",
                "    Return information about client connections.",
            ]
            .iter()
            .map(|s| Frame::Simple(s.to_string()))
            .collect(),
        ),
        _ => wrong_args(),
    }
}

/// One validated `CONFIG SET` change, applied only after every pair validated.
type SettingChange = Box<dyn FnOnce(&mut super::state::Settings)>;

/// (name, value, runtime-changeable) for every option CONFIG GET reports.
fn config_entries(node: &Node) -> Vec<(&'static str, String, bool)> {
    let s = node.settings();
    let c = &node.config;
    let mut entries = vec![
        ("bind", node.local_addr.ip().to_string(), false),
        ("port", node.local_addr.port().to_string(), false),
        ("dir", c.data_dir().display().to_string(), false),
        ("data-dir", c.data_dir().display().to_string(), false),
        ("fsync", c.fsync.to_string(), false),
        ("appendfsync", c.fsync.to_string(), false),
        ("databases", "1".to_string(), false),
        ("wal-segment-bytes", c.wal_segment_bytes.to_string(), false),
        ("snapshot-every", c.snapshot_every.to_string(), false),
        (
            "snapshot-log-bytes",
            c.snapshot_log_bytes.to_string(),
            false,
        ),
        (
            "requirepass",
            s.requirepass.clone().unwrap_or_default(),
            true,
        ),
        ("maxclients", s.maxclients.to_string(), true),
        ("timeout", s.timeout_secs.to_string(), true),
        ("proto-max-bulk-len", s.proto_max_bulk_len.to_string(), true),
        (
            "client-query-buffer-limit",
            s.client_query_buffer_limit.to_string(),
            true,
        ),
        ("maxmemory", s.maxmemory.to_string(), true),
        ("client-output-buffer-limit", s.output_limits.format(), true),
        (
            "maxmemory-policy",
            s.maxmemory_policy.as_str().to_string(),
            true,
        ),
        (
            "request-timeout-ms",
            c.request_timeout_ms.to_string(),
            false,
        ),
        (
            "active-expire-interval-ms",
            c.active_expire_interval_ms.to_string(),
            false,
        ),
        ("databases", c.databases.to_string(), false),
        ("node-id", c.node_id.to_string(), false),
        ("log-level", c.log_level.clone(), false),
    ];
    // Redis's other parameters, stored and reported only (see config_params).
    for p in node.config_params.entries() {
        if !entries.iter().any(|(n, _, _)| *n == p.0) {
            entries.push(p);
        }
    }
    entries
}

/// `FUNCTION`: Redis 7 functions are not implemented (docs/commands.md). With no library ever
/// loaded, `FLUSH` has nothing to remove and `LIST` nothing to show, so those two answer as
/// Redis does on an empty registry (tools and Redis's test suite call `FUNCTION FLUSH` before
/// every test); everything else is refused with an explicit error.
fn config(node: &Node, argv: &[Bytes]) -> Frame {
    let sub = lower(&argv[1]);
    match sub.as_str() {
        "get" if argv.len() >= 3 => {
            let entries = config_entries(node);
            let mut out = Vec::new();
            let mut seen = std::collections::BTreeSet::new();
            for pat in &argv[2..] {
                for (name, value, _) in &entries {
                    if crate::keyspace::glob_match(&pat.to_ascii_lowercase(), name.as_bytes())
                        && seen.insert(*name)
                    {
                        out.push((Frame::bulk(name), Frame::bulk(value)));
                    }
                }
            }
            Frame::map(out)
        }
        "set" if argv.len() >= 4 && argv.len().is_multiple_of(2) => {
            let entries = config_entries(node);
            // Validate everything first so a failing pair changes nothing.
            let mut changes = Vec::new();
            for pair in argv[2..].chunks(2) {
                let name = lower(&pair[0]);
                let value = String::from_utf8_lossy(&pair[1]).into_owned();
                match entries.iter().find(|(n, _, _)| *n == name) {
                    None => {
                        return Frame::err(format!(
                            "Unknown option or number of arguments for CONFIG SET - '{name}'"
                        ))
                    }
                    Some((_, _, false)) => {
                        return Frame::err(format!(
                            "CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config"
                        ))
                    }
                    Some(_) => changes.push((name, value)),
                }
            }
            let mut parsed: Vec<SettingChange> = Vec::new();
            let mut stored: Vec<(&'static str, String)> = Vec::new();
            for (name, value) in changes {
                let invalid = |why: &str| {
                    Frame::err(format!(
                        "CONFIG SET failed (possibly related to argument '{name}') - {why}"
                    ))
                };
                match name.as_str() {
                    "requirepass" => {
                        let v = if value.is_empty() { None } else { Some(value) };
                        parsed.push(Box::new(move |s| s.requirepass = v));
                    }
                    "maxclients" => match value.parse::<usize>() {
                        Ok(n) if n >= 1 => {
                            let fits = super::fd_limit::fit_maxclients(n);
                            if fits < n {
                                return invalid(&format!(
                                    "The operating system is not able to handle the specified number of clients, try with {fits}"
                                ));
                            }
                            parsed.push(Box::new(move |s| s.maxclients = n))
                        }
                        _ => return invalid("argument must be a positive integer"),
                    },
                    "timeout" => match value.parse::<u64>() {
                        Ok(n) => parsed.push(Box::new(move |s| s.timeout_secs = n)),
                        _ => return invalid("argument couldn't be parsed into an integer"),
                    },
                    "proto-max-bulk-len" => match parse_bytes(&value) {
                        Ok(n) if n >= 1024 => {
                            parsed.push(Box::new(move |s| s.proto_max_bulk_len = n))
                        }
                        _ => return invalid("argument must be a memory value of at least 1024"),
                    },
                    "client-query-buffer-limit" => match parse_bytes(&value) {
                        Ok(n) if n >= 1024 * 1024 => {
                            parsed.push(Box::new(move |s| s.client_query_buffer_limit = n))
                        }
                        _ => return invalid("argument must be a memory value of at least 1mb"),
                    },
                    "client-output-buffer-limit" => {
                        let current = node.settings().output_limits;
                        match current.apply(&value) {
                            Ok(l) => parsed.push(Box::new(move |s| s.output_limits = l)),
                            Err(why) => return invalid(why),
                        }
                    }
                    "maxmemory" => match parse_bytes(&value) {
                        Ok(n) => parsed.push(Box::new(move |s| s.maxmemory = n)),
                        _ => return invalid("argument must be a memory value"),
                    },
                    "maxmemory-policy" => match MaxmemoryPolicy::parse(&value) {
                        Some(p) => parsed.push(Box::new(move |s| s.maxmemory_policy = p)),
                        None => {
                            return invalid(&format!(
                                "argument(s) must be one of the following: {}",
                                MaxmemoryPolicy::NAMES
                            ))
                        }
                    },
                    _ => match super::config_params::find(&name) {
                        Some(p) => match super::config_params::validate(p, &value) {
                            Ok(v) => stored.push((p.name, v)),
                            Err(why) => return invalid(&why),
                        },
                        None => return invalid("can't set immutable config"),
                    },
                }
            }
            node.update_settings(|s| {
                for f in parsed {
                    f(s);
                }
            });
            node.config_params.set(stored);
            node.pubsub.set_limit(node.settings().output_limits.pubsub);
            Frame::ok()
        }
        "resetstat" if argv.len() == 2 => {
            node.stats.reset();
            node.reads.reset_stats();
            Frame::ok()
        }
        // Redis 7.0: `config|set` has arity -4, and pairs must be complete.
        "set" if argv.len() < 4 => crate::cmd::wrong_args("config|set"),
        "set" => Frame::err("syntax error"),
        "rewrite" if argv.len() == 2 => {
            Frame::err("CONFIG REWRITE is not supported: edit the YAML config file instead")
        }
        _ => Frame::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try CONFIG HELP.",
            String::from_utf8_lossy(&argv[1])
        )),
    }
}
