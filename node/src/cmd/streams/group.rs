//! Consumer groups: XGROUP, XREADGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM.
//!
//! The PEL, consumers, delivery counts and times are state-machine state
//! (`keyspace::stream::Group`): writes stamp them with the log's `now_ms`; the idle times
//! XPENDING reports are `now - delivery_time` with the serving node's group time.

use bytes::Bytes;

use super::id::{id_frame, loose_id, range_end, range_start, strict_id};
use super::{entry_frame, get_stream, with_stream, ReadArgs};
use crate::cmd::{eq, int_arg, SYNTAX};
use crate::keyspace::stream::{Group, Stream, StreamId, INVALID_ENTRIES_READ};
use crate::keyspace::{own, Keyspace, Value};
use crate::resp::{parse_i64, ErrorCode, Frame};

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn nogroup_key(key: &[u8], group: &[u8]) -> Frame {
    Frame::error(
        ErrorCode::NoGroup,
        format!(
            "No such key '{}' or consumer group '{}'",
            lossy(key),
            lossy(group)
        ),
    )
}

fn nogroup_for_key(group: &[u8], key: &[u8]) -> Frame {
    Frame::error(
        ErrorCode::NoGroup,
        format!(
            "No such consumer group '{}' for key name '{}'",
            lossy(group),
            lossy(key)
        ),
    )
}

/// `unknown subcommand or wrong number of arguments for '<sub>'. Try <CMD> HELP.`
pub(super) fn sub_syntax(cmd: &str, sub: &[u8]) -> Frame {
    Frame::err(format!(
        "unknown subcommand or wrong number of arguments for '{}'. Try {cmd} HELP.",
        lossy(&sub[..sub.len().min(128)])
    ))
}

/// A container's subcommand: its own arity, as Redis 7 checks before running it.
pub(super) fn container_sub(
    cmd: &str,
    argv: &[Bytes],
    subs: &[(&'static str, i64)],
) -> Result<&'static str, Frame> {
    let sub = &argv[1];
    let Some(&(name, arity)) = subs.iter().find(|(n, _)| eq(sub, n)) else {
        return Err(Frame::err(format!(
            "unknown subcommand '{}'. Try {cmd} HELP.",
            lossy(&sub[..sub.len().min(128)])
        )));
    };
    let argc = argv.len() as i64;
    if (arity >= 0 && argc != arity) || (arity < 0 && argc < -arity) {
        return Err(crate::cmd::wrong_args(&format!(
            "{}|{name}",
            cmd.to_ascii_lowercase()
        )));
    }
    Ok(name)
}

/// A help reply in `addReplyHelp`'s shape.
pub(super) fn help(cmd: &str, lines: &[&str]) -> Frame {
    let mut out = vec![Frame::Simple(format!(
        "{cmd} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ))];
    out.extend(lines.iter().map(|l| Frame::Simple((*l).to_string())));
    out.push(Frame::Simple("HELP".into()));
    out.push(Frame::Simple("    Prints this help.".into()));
    Frame::Array(out)
}

const XGROUP_HELP: &[&str] = &[
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
];

/// XGROUP, parsed up to what Redis checks before the key lookup.
#[derive(Clone, Debug, PartialEq)]
pub enum GroupOp {
    Help,
    /// Any key subcommand: `sub`, the full argv, MKSTREAM, ENTRIESREAD.
    Sub {
        sub: &'static str,
        argv: Vec<Bytes>,
        mkstream: bool,
        entries_read: i64,
    },
}

pub(super) fn parse_group(argv: &[Bytes]) -> Result<GroupOp, Frame> {
    let sub = container_sub(
        "XGROUP",
        argv,
        &[
            ("create", -5),
            ("setid", -5),
            ("destroy", 4),
            ("createconsumer", 5),
            ("delconsumer", 5),
            ("help", 2),
        ],
    )?;
    if sub == "help" {
        return Ok(GroupOp::Help);
    }
    let mut mkstream = false;
    let mut entries_read = INVALID_ENTRIES_READ;
    let mut i = 5;
    while i < argv.len() {
        if sub == "create" && eq(&argv[i], "mkstream") {
            mkstream = true;
            i += 1;
        } else if (sub == "create" || sub == "setid")
            && eq(&argv[i], "entriesread")
            && i + 1 < argv.len()
        {
            let n = int_arg(&argv[i + 1])?;
            if n < 0 && n != INVALID_ENTRIES_READ {
                return Err(Frame::err("value for ENTRIESREAD must be positive or -1"));
            }
            entries_read = n;
            i += 2;
        } else {
            return Err(sub_syntax("XGROUP", &argv[1]));
        }
    }
    Ok(GroupOp::Sub {
        sub,
        argv: argv.to_vec(),
        mkstream,
        entries_read,
    })
}

pub(super) fn xgroup(ks: &mut Keyspace, op: &GroupOp, now: u64) -> Result<Frame, Frame> {
    let GroupOp::Sub {
        sub,
        argv,
        mkstream,
        entries_read,
    } = op
    else {
        return Ok(help("XGROUP", XGROUP_HELP));
    };
    let key = &argv[2];
    let gname = &argv[3];
    let s = get_stream(ks, key, now)?;
    let exists = s.is_some();
    let has_group = s.is_some_and(|s| s.groups.contains_key(gname));
    let last_id = s.map_or(StreamId::MIN, |s| s.last_id);
    if !mkstream {
        if !exists {
            return Err(Frame::err(
                "The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.",
            ));
        }
        if !has_group && matches!(*sub, "setid" | "createconsumer" | "delconsumer") {
            return Err(nogroup_for_key(gname, key));
        }
    }
    match *sub {
        "create" if (5..=8).contains(&argv.len()) => {
            let id = if &argv[4][..] == b"$" {
                last_id
            } else {
                strict_id(&argv[4])?
            };
            if has_group {
                return Err(Frame::error(
                    ErrorCode::BusyGroup,
                    "Consumer Group name already exists",
                ));
            }
            let g = own(gname);
            let er = *entries_read;
            ks.update(key, now, Some(|| Value::Stream(Box::default())), |v| {
                if let Value::Stream(s) = v {
                    s.groups.insert(g, Group::new(id, er));
                }
            });
            Ok(Frame::ok())
        }
        "setid" if argv.len() == 5 || argv.len() == 7 => {
            let id = if &argv[4][..] == b"$" {
                last_id
            } else {
                loose_id(&argv[4], 0)?
            };
            let er = *entries_read;
            with_stream(ks, key, now, |s| {
                if let Some(g) = s.groups.get_mut(gname) {
                    g.last_id = id;
                    g.entries_read = er;
                }
            });
            Ok(Frame::ok())
        }
        "destroy" if argv.len() == 4 => {
            if !has_group {
                return Ok(Frame::Integer(0));
            }
            with_stream(ks, key, now, |s| s.groups.remove(gname));
            Ok(Frame::Integer(1))
        }
        "createconsumer" if argv.len() == 5 => {
            let c = own(&argv[4]);
            let created = with_stream(ks, key, now, |s| {
                s.groups
                    .get_mut(gname)
                    .is_some_and(|g| g.create_consumer(&c, now))
            })
            .unwrap_or(false);
            Ok(Frame::Integer(i64::from(created)))
        }
        "delconsumer" if argv.len() == 5 => {
            let n = with_stream(ks, key, now, |s| {
                s.groups
                    .get_mut(gname)
                    .and_then(|g| g.delete_consumer(&argv[4]))
                    .unwrap_or(0)
            })
            .unwrap_or(0);
            Ok(Frame::Integer(n as i64))
        }
        _ => Err(sub_syntax("XGROUP", &argv[1])),
    }
}

/// What one stream of an XREADGROUP reads.
enum Serve {
    /// The consumer's own pending entries after this ID.
    History(StreamId),
    /// New entries after this ID (the group's last delivered).
    New(StreamId),
}

pub(super) fn xreadgroup(ks: &mut Keyspace, r: &ReadArgs, now: u64) -> Result<Frame, Frame> {
    let Some((gname, cname)) = &r.group else {
        return Err(Frame::err("Missing GROUP option for XREADGROUP"));
    };
    let mut ids = Vec::with_capacity(r.keys.len());
    for (k, raw) in r.keys.iter().zip(&r.ids) {
        let s = get_stream(ks, k, now)?;
        if !s.is_some_and(|s| s.groups.contains_key(gname)) {
            return Err(Frame::error(
                ErrorCode::NoGroup,
                format!(
                    "No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                    lossy(k),
                    lossy(gname)
                ),
            ));
        }
        if &raw[..] == b"$" {
            return Err(Frame::err(
                "The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.",
            ));
        }
        ids.push(if &raw[..] == b">" {
            StreamId::MAX
        } else {
            strict_id(raw)?
        });
    }
    let count = if r.count == 0 {
        usize::MAX
    } else {
        r.count as usize
    };
    let cname = own(cname);
    let mut out = Vec::new();
    for (k, gt) in r.keys.iter().zip(ids) {
        let Some(s) = get_stream(ks, k, now)? else {
            continue;
        };
        let Some(g) = s.groups.get(gname) else {
            continue;
        };
        let serve = if gt != StreamId::MAX {
            Serve::History(gt)
        } else if !s.is_empty() && s.last_valid() > g.last_id {
            Serve::New(g.last_id)
        } else {
            continue;
        };
        let entries = with_stream(ks, k, now, |s| {
            serve_group(s, gname, &cname, serve, count, r.noack, now)
        })
        .unwrap_or_default();
        out.push((Frame::Bulk(k.clone()), Frame::Array(entries)));
    }
    // A map of key → entries for a RESP3 client, `[key, entries]` arrays in RESP2 (Redis 7).
    Ok(if out.is_empty() {
        Frame::NullArray
    } else {
        Frame::ArrayMap(out)
    })
}

fn serve_group(
    s: &mut Stream,
    gname: &[u8],
    cname: &Bytes,
    serve: Serve,
    count: usize,
    noack: bool,
    now: u64,
) -> Vec<Frame> {
    let Some(g) = s.groups.get_mut(gname) else {
        return Vec::new();
    };
    g.touch_consumer(cname, now);
    match serve {
        Serve::History(gt) => {
            let start = gt.incr().unwrap_or(StreamId::MIN);
            let ids: Vec<StreamId> = g
                .consumers
                .get(cname)
                .map(|c| c.pel.range(start..).take(count).copied().collect())
                .unwrap_or_default();
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                match s.get(id) {
                    Some(f) => {
                        out.push(entry_frame(id, f));
                        if let Some(n) = s.groups.get_mut(gname).and_then(|g| g.pel.get_mut(&id)) {
                            n.delivery_time = now;
                            n.delivery_count += 1;
                        }
                    }
                    None => out.push(Frame::Array(vec![id_frame(id), Frame::NullArray])),
                }
            }
            out
        }
        Serve::New(last) => {
            let start = last.incr().unwrap_or(StreamId::MIN);
            let picked: Vec<(StreamId, Vec<Bytes>)> = s
                .range(start, StreamId::MAX)
                .take(count)
                .map(|(id, f)| (*id, f.clone()))
                .collect();
            let mut out = Vec::with_capacity(picked.len());
            for (id, f) in picked {
                s.advance_group(gname, id);
                out.push(entry_frame(id, &f));
                if !noack {
                    if let Some(g) = s.groups.get_mut(gname) {
                        let n = g.assign(id, cname, now);
                        n.delivery_time = now;
                        n.delivery_count = 1;
                    }
                }
            }
            out
        }
    }
}

pub(super) fn xack(ks: &mut Keyspace, argv: &[Bytes], now: u64) -> Result<Frame, Frame> {
    let (key, gname) = (&argv[1], &argv[2]);
    let s = get_stream(ks, key, now)?;
    if !s.is_some_and(|s| s.groups.contains_key(gname)) {
        return Ok(Frame::Integer(0));
    }
    let ids = argv[3..]
        .iter()
        .map(|a| strict_id(a))
        .collect::<Result<Vec<_>, _>>()?;
    let pending = s.and_then(|s| s.groups.get(gname)).map_or(0, |g| {
        ids.iter().filter(|id| g.pel.contains_key(id)).count()
    });
    if pending == 0 {
        return Ok(Frame::Integer(0));
    }
    let n = with_stream(ks, key, now, |s| {
        s.groups
            .get_mut(gname)
            .map_or(0, |g| ids.iter().filter(|id| g.ack(**id)).count())
    })
    .unwrap_or(0);
    Ok(Frame::Integer(n as i64))
}

/// XPENDING's arguments (parsed before the lookup, as Redis does).
#[derive(Clone, Debug, PartialEq)]
pub struct PendingArgs {
    pub key: Bytes,
    pub group: Bytes,
    /// `None` for the summary form.
    pub range: Option<PendingRange>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PendingRange {
    pub start: StreamId,
    pub end: StreamId,
    pub count: u64,
    pub min_idle: i64,
    pub consumer: Option<Bytes>,
}

pub(super) fn parse_pending(argv: &[Bytes]) -> Result<PendingArgs, Frame> {
    let argc = argv.len();
    if argc != 3 && !(6..=9).contains(&argc) {
        return Err(Frame::err(SYNTAX));
    }
    let mut range = None;
    if argc >= 6 {
        let mut at = 3;
        let mut min_idle = 0;
        if eq(&argv[3], "idle") {
            min_idle = int_arg(&argv[4])?;
            if argc < 8 {
                return Err(Frame::err(SYNTAX));
            }
            at += 2;
        }
        let count = int_arg(&argv[at + 2])?.max(0) as u64;
        let start = range_start(&argv[at])?;
        let end = range_end(&argv[at + 1])?;
        range = Some(PendingRange {
            start,
            end,
            count,
            min_idle,
            consumer: argv.get(at + 3).cloned(),
        });
    }
    Ok(PendingArgs {
        key: argv[1].clone(),
        group: argv[2].clone(),
        range,
    })
}

fn idle(now: u64, then: u64) -> i64 {
    (now as i64).wrapping_sub(then as i64)
}

pub(super) fn pending(ks: &Keyspace, p: &PendingArgs, now: u64) -> Result<Frame, Frame> {
    let s = get_stream(ks, &p.key, now)?;
    let Some(g) = s.and_then(|s| s.groups.get(&p.group)) else {
        return Err(nogroup_key(&p.key, &p.group));
    };
    let Some(r) = &p.range else {
        let n = Frame::Integer(g.pel.len() as i64);
        let (Some(first), Some(last)) = (g.pel.keys().next(), g.pel.keys().next_back()) else {
            return Ok(Frame::Array(vec![
                n,
                Frame::Null,
                Frame::Null,
                Frame::NullArray,
            ]));
        };
        let consumers = g
            .consumers
            .iter()
            .filter(|(_, c)| !c.pel.is_empty())
            .map(|(name, c)| {
                Frame::Array(vec![
                    Frame::Bulk(name.clone()),
                    Frame::Bulk(Bytes::from(c.pel.len().to_string())),
                ])
            })
            .collect();
        return Ok(Frame::Array(vec![
            n,
            id_frame(*first),
            id_frame(*last),
            Frame::Array(consumers),
        ]));
    };
    let ids: Box<dyn Iterator<Item = StreamId>> = match &r.consumer {
        Some(c) => match g.consumers.get(c) {
            None => return Ok(Frame::Array(Vec::new())),
            Some(c) if r.start <= r.end => Box::new(c.pel.range(r.start..=r.end).copied()),
            Some(_) => Box::new(std::iter::empty()),
        },
        None if r.start <= r.end => Box::new(g.pel.range(r.start..=r.end).map(|(k, _)| *k)),
        None => Box::new(std::iter::empty()),
    };
    let mut out = Vec::new();
    let mut left = r.count;
    for id in ids {
        if left == 0 {
            break;
        }
        let Some(n) = g.pel.get(&id) else { continue };
        let this_idle = idle(now, n.delivery_time);
        if r.min_idle != 0 && this_idle < r.min_idle {
            continue;
        }
        left -= 1;
        out.push(Frame::Array(vec![
            id_frame(id),
            Frame::Bulk(n.consumer.clone()),
            Frame::Integer(this_idle.max(0)),
            Frame::Integer(n.delivery_count as i64),
        ]));
    }
    Ok(Frame::Array(out))
}

fn custom_int(arg: &[u8], msg: &str) -> Result<i64, Frame> {
    parse_i64(arg).ok_or_else(|| Frame::err(msg))
}

pub(super) fn xclaim(ks: &mut Keyspace, argv: &[Bytes], now: u64) -> Result<Frame, Frame> {
    let (key, gname) = (&argv[1], &argv[2]);
    let s = get_stream(ks, key, now)?;
    if !s.is_some_and(|s| s.groups.contains_key(gname)) {
        return Err(nogroup_key(key, gname));
    }
    let min_idle = custom_int(&argv[4], "Invalid min-idle-time argument for XCLAIM")?.max(0);
    let mut j = 5;
    let mut ids = Vec::new();
    while j < argv.len() {
        match super::id::parse_id(&argv[j], 0, true, false) {
            Some(p) => ids.push(p.id),
            None => break,
        }
        j += 1;
    }
    let (mut force, mut justid) = (false, false);
    let mut delivery: Option<i64> = None;
    let mut retry: Option<i64> = None;
    let mut last_id = StreamId::MIN;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        let o = &argv[j];
        if eq(o, "force") {
            force = true;
        } else if eq(o, "justid") {
            justid = true;
        } else if eq(o, "idle") && more > 0 {
            j += 1;
            let v = custom_int(&argv[j], "Invalid IDLE option argument for XCLAIM")?;
            delivery = Some((now as i64).wrapping_sub(v));
        } else if eq(o, "time") && more > 0 {
            j += 1;
            delivery = Some(custom_int(
                &argv[j],
                "Invalid TIME option argument for XCLAIM",
            )?);
        } else if eq(o, "retrycount") && more > 0 {
            j += 1;
            retry = Some(custom_int(
                &argv[j],
                "Invalid RETRYCOUNT option argument for XCLAIM",
            )?);
        } else if eq(o, "lastid") && more > 0 {
            j += 1;
            last_id = strict_id(&argv[j])?;
        } else {
            return Err(Frame::err(format!(
                "Unrecognized XCLAIM option '{}'",
                lossy(o)
            )));
        }
        j += 1;
    }
    let delivery = match delivery {
        Some(d) if d >= 0 && (d as u64) <= now => d as u64,
        _ => now,
    };
    let cname = own(&argv[3]);
    let out = with_stream(ks, key, now, |s| {
        if let Some(g) = s.groups.get_mut(gname) {
            if last_id > g.last_id {
                g.last_id = last_id;
            }
        }
        let mut out = Vec::new();
        let mut consumer_seen = false;
        for id in ids {
            let exists = s.contains(id);
            let Some(g) = s.groups.get_mut(gname) else {
                break;
            };
            if !exists {
                g.ack(id);
                continue;
            }
            let forced = match g.pel.get(&id) {
                Some(_) => false,
                None if force => true,
                None => continue,
            };
            if !forced && min_idle != 0 {
                if let Some(n) = g.pel.get(&id) {
                    if idle(now, n.delivery_time) < min_idle {
                        continue;
                    }
                }
            }
            if !consumer_seen {
                g.touch_consumer(&cname, now);
                consumer_seen = true;
            }
            let n = g.assign(id, &cname, now);
            n.delivery_time = delivery;
            match retry {
                Some(r) if r >= 0 => n.delivery_count = r as u64,
                _ if !justid => n.delivery_count += 1,
                _ => {}
            }
            if justid {
                out.push(id_frame(id));
            } else if let Some(f) = s.get(id) {
                out.push(entry_frame(id, f));
            }
        }
        out
    })
    .unwrap_or_default();
    Ok(Frame::Array(out))
}

/// XAUTOCLAIM's arguments (parsed before the lookup).
#[derive(Clone, Debug, PartialEq)]
pub struct AutoClaimArgs {
    pub key: Bytes,
    pub group: Bytes,
    pub consumer: Bytes,
    pub min_idle: i64,
    pub start: StreamId,
    pub count: u64,
    pub justid: bool,
}

pub(super) fn parse_autoclaim(argv: &[Bytes]) -> Result<AutoClaimArgs, Frame> {
    let min_idle = custom_int(&argv[4], "Invalid min-idle-time argument for XAUTOCLAIM")?.max(0);
    let start = range_start(&argv[5])?;
    let mut count = 100u64;
    let mut justid = false;
    let mut j = 6;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        if eq(&argv[j], "count") && more > 0 {
            let max = i64::MAX / 16;
            let n = custom_int(&argv[j + 1], "COUNT must be > 0")?;
            if !(1..=max).contains(&n) {
                return Err(Frame::err("COUNT must be > 0"));
            }
            count = n as u64;
            j += 1;
        } else if eq(&argv[j], "justid") {
            justid = true;
        } else {
            return Err(Frame::err(SYNTAX));
        }
        j += 1;
    }
    Ok(AutoClaimArgs {
        key: argv[1].clone(),
        group: argv[2].clone(),
        consumer: own(&argv[3]),
        min_idle,
        start,
        count,
        justid,
    })
}

pub(super) fn xautoclaim(ks: &mut Keyspace, a: &AutoClaimArgs, now: u64) -> Result<Frame, Frame> {
    let s = get_stream(ks, &a.key, now)?;
    if !s.is_some_and(|s| s.groups.contains_key(&a.group)) {
        return Err(nogroup_key(&a.key, &a.group));
    }
    let r = with_stream(ks, &a.key, now, |s| {
        let mut count = a.count;
        let mut attempts = count.saturating_mul(10);
        let mut claimed = Vec::new();
        let mut deleted = Vec::new();
        let mut cursor = Some(a.start);
        let mut consumer_seen = false;
        loop {
            if attempts == 0 {
                break;
            }
            attempts -= 1;
            if count == 0 {
                break;
            }
            let Some(from) = cursor else { break };
            let Some(g) = s.groups.get(&a.group) else {
                break;
            };
            let Some((&id, n)) = g.pel.range(from..).next() else {
                cursor = None;
                break;
            };
            let delivered = n.delivery_time;
            cursor = id.incr();
            let exists = s.contains(id);
            let Some(g) = s.groups.get_mut(&a.group) else {
                break;
            };
            if !exists {
                g.ack(id);
                deleted.push(id_frame(id));
                count -= 1;
                continue;
            }
            if a.min_idle != 0 && idle(now, delivered) < a.min_idle {
                continue;
            }
            if !consumer_seen {
                g.touch_consumer(&a.consumer, now);
                consumer_seen = true;
            }
            let n = g.assign(id, &a.consumer, now);
            n.delivery_time = now;
            if !a.justid {
                n.delivery_count += 1;
            }
            if a.justid {
                claimed.push(id_frame(id));
            } else if let Some(f) = s.get(id) {
                claimed.push(entry_frame(id, f));
            }
            count -= 1;
        }
        let next = cursor
            .and_then(|c| {
                s.groups
                    .get(&a.group)?
                    .pel
                    .range(c..)
                    .next()
                    .map(|(k, _)| *k)
            })
            .unwrap_or(StreamId::MIN);
        Frame::Array(vec![
            id_frame(next),
            Frame::Array(claimed),
            Frame::Array(deleted),
        ])
    });
    Ok(r.unwrap_or(Frame::Array(Vec::new())))
}
