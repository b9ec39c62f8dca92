//! Stream commands (Redis 7.0): XADD XRANGE XREVRANGE XLEN XDEL XTRIM XREAD XSETID here;
//! consumer groups (XGROUP XREADGROUP XACK XPENDING XCLAIM XAUTOCLAIM) in [`group`]; XINFO
//! in [`info`]; ID arguments in [`id`].
//!
//! Arguments are checked in Redis's order, including the checks Redis makes only after
//! looking the key up (so WRONGTYPE and NOGROUP come before a bad ID where Redis's do): ops
//! whose arguments Redis parses only after the lookup keep their raw argv and parse at
//! execution. Every time is the caller's `now_ms` (the stamped time for writes, the serving
//! node's group time for reads), so replicas apply identically.

pub mod group;
pub mod id;
pub mod info;

use bytes::Bytes;

use super::{eq, int_arg, reply, typed, wrong_args, SYNTAX};
use crate::keyspace::stream::{Stream, StreamId, Trim};
use crate::keyspace::{own, Keyspace, Value};
use crate::resp::Frame;
use id::{id_frame, parse_id, range_end, range_start, strict_id};

/// The read commands of this family.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamRead {
    Len(Bytes),
    /// XRANGE / XREVRANGE (`rev`): bounds already resolved to inclusive IDs.
    Range {
        key: Bytes,
        start: StreamId,
        end: StreamId,
        /// `None` = no COUNT; `Some(0)` = COUNT 0 or negative (a nil reply).
        count: Option<u64>,
        rev: bool,
    },
    /// XREAD (options parsed; IDs are parsed per key after its lookup, as Redis does).
    Read(ReadArgs),
    Pending(group::PendingArgs),
    Info(Vec<Bytes>),
}

/// The write commands of this family.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamWrite {
    Add(AddArgs),
    Trim {
        key: Bytes,
        trim: TrimArgs,
    },
    /// XDEL key id...: IDs parsed after the lookup.
    Del(Bytes, Vec<Bytes>),
    SetId {
        key: Bytes,
        id: StreamId,
        entries_added: Option<u64>,
        max_deleted: StreamId,
    },
    Group(group::GroupOp),
    ReadGroup(ReadArgs),
    /// XACK key group id...
    Ack(Vec<Bytes>),
    /// XCLAIM: everything after the group lookup.
    Claim(Vec<Bytes>),
    AutoClaim(group::AutoClaimArgs),
}

impl From<StreamRead> for super::Op {
    fn from(r: StreamRead) -> super::Op {
        super::Op::Read(super::ReadOp::Stream(r))
    }
}
impl From<StreamWrite> for super::Op {
    fn from(w: StreamWrite) -> super::Op {
        super::Op::Write(super::WriteOp::Stream(w))
    }
}

/// MAXLEN/MINID options of XADD and XTRIM.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TrimArgs {
    pub how: Option<Trim>,
    pub approx: bool,
    pub limit: u64,
}

/// XADD's parsed arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct AddArgs {
    pub key: Bytes,
    pub trim: TrimArgs,
    pub nomkstream: bool,
    /// `None` for `*`.
    pub id: Option<id::ParsedId>,
    pub fields: Vec<Bytes>,
}

/// XREAD/XREADGROUP options.
#[derive(Clone, Debug, PartialEq)]
pub struct ReadArgs {
    pub count: u64,
    pub block: bool,
    pub group: Option<(Bytes, Bytes)>,
    pub noack: bool,
    pub keys: Vec<Bytes>,
    pub ids: Vec<Bytes>,
}

/// Positions of the keys of XREAD/XREADGROUP (after STREAMS), XGROUP/XINFO (argv\[2\]);
/// `None` for other commands.
pub fn key_indices(name: &str, argv: &[Bytes]) -> Option<Vec<usize>> {
    match name {
        "xgroup" | "xinfo" => Some(if argv.len() >= 3 { vec![2] } else { Vec::new() }),
        "xread" | "xreadgroup" => {
            let mut i = 1;
            while i < argv.len() {
                let a = &argv[i];
                if eq(a, "streams") {
                    let n = (argv.len() - i - 1) / 2;
                    return Some((i + 1..i + 1 + n).collect());
                } else if eq(a, "block") || eq(a, "count") {
                    i += 2;
                } else if eq(a, "group") {
                    i += 3;
                } else {
                    i += 1;
                }
            }
            Some(Vec::new())
        }
        _ => None,
    }
}

pub(crate) fn stream_of(v: &Value) -> Option<&Stream> {
    match v {
        Value::Stream(s) => Some(s),
        _ => None,
    }
}

pub(crate) fn get_stream<'a>(
    ks: &'a Keyspace,
    key: &[u8],
    now: u64,
) -> Result<Option<&'a Stream>, Frame> {
    typed(ks, key, now, stream_of)
}

/// Runs `f` on the stream at `key` (which the caller checked exists and is a stream).
pub(crate) fn with_stream<R>(
    ks: &mut Keyspace,
    key: &Bytes,
    now: u64,
    f: impl FnOnce(&mut Stream) -> R,
) -> Option<R> {
    ks.update(key, now, None, |v| match v {
        Value::Stream(s) => Some(f(s)),
        _ => None,
    })
    .flatten()
}

fn new_stream() -> Value {
    Value::Stream(Box::default())
}

/// `[id, [field, value, ...]]`.
pub(crate) fn entry_frame(id: StreamId, fields: &[Bytes]) -> Frame {
    Frame::Array(vec![
        id_frame(id),
        Frame::Array(fields.iter().map(|f| Frame::Bulk(f.clone())).collect()),
    ])
}

pub(super) fn parse(name: &str, argv: &[Bytes]) -> Result<super::Op, Frame> {
    let a = |i: usize| argv[i].clone();
    Ok(match name {
        "xlen" => StreamRead::Len(a(1)).into(),
        "xrange" | "xrevrange" => parse_range(name == "xrevrange", argv)?.into(),
        "xadd" => StreamWrite::Add(parse_add(argv)?).into(),
        "xtrim" => {
            let (trim, _, _) = parse_trim(argv, false)?;
            StreamWrite::Trim { key: a(1), trim }.into()
        }
        "xdel" => StreamWrite::Del(a(1), argv[2..].to_vec()).into(),
        "xsetid" => parse_setid(argv)?.into(),
        "xread" => StreamRead::Read(parse_read(false, argv)?).into(),
        "xreadgroup" => StreamWrite::ReadGroup(parse_read(true, argv)?).into(),
        "xgroup" => StreamWrite::Group(group::parse_group(argv)?).into(),
        "xack" => StreamWrite::Ack(argv.to_vec()).into(),
        "xpending" => StreamRead::Pending(group::parse_pending(argv)?).into(),
        "xclaim" => StreamWrite::Claim(argv.to_vec()).into(),
        "xautoclaim" => StreamWrite::AutoClaim(group::parse_autoclaim(argv)?).into(),
        "xinfo" => StreamRead::Info(info::parse_info(argv)?).into(),
        _ => return Err(super::unknown_command(argv)),
    })
}

fn parse_range(rev: bool, argv: &[Bytes]) -> Result<StreamRead, Frame> {
    let (sarg, earg) = if rev {
        (&argv[3], &argv[2])
    } else {
        (&argv[2], &argv[3])
    };
    let start = range_start(sarg)?;
    let end = range_end(earg)?;
    let mut count = None;
    let mut j = 4;
    while j < argv.len() {
        if eq(&argv[j], "count") && j + 1 < argv.len() {
            count = Some(int_arg(&argv[j + 1])?.max(0) as u64);
            j += 2;
        } else {
            return Err(Frame::err(SYNTAX));
        }
    }
    Ok(StreamRead::Range {
        key: argv[1].clone(),
        start,
        end,
        count,
        rev,
    })
}

/// Redis's `streamParseAddOrTrimArgsOrReply`: returns the trim options and, for XADD, the
/// index of the ID argument.
fn parse_trim(
    argv: &[Bytes],
    xadd: bool,
) -> Result<(TrimArgs, usize, Option<id::ParsedId>), Frame> {
    let mut t = TrimArgs::default();
    let mut given = None;
    let mut limit_given = false;
    let mut i = 2;
    let both = "syntax error, MAXLEN and MINID options at the same time are not compatible";
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        let opt = &argv[i];
        if xadd && &opt[..] == b"*" {
            break;
        } else if eq(opt, "maxlen") && more > 0 {
            if t.how.is_some() {
                return Err(Frame::err(both));
            }
            t.approx = false;
            let next = &argv[i + 1];
            if more >= 2 && &next[..] == b"~" {
                t.approx = true;
                i += 1;
            } else if more >= 2 && &next[..] == b"=" {
                i += 1;
            }
            let n = int_arg(&argv[i + 1])?;
            if n < 0 {
                return Err(Frame::err("The MAXLEN argument must be >= 0."));
            }
            i += 1;
            t.how = Some(Trim::MaxLen(n as u64));
        } else if eq(opt, "minid") && more > 0 {
            if t.how.is_some() {
                return Err(Frame::err(both));
            }
            t.approx = false;
            let next = &argv[i + 1];
            if more >= 2 && &next[..] == b"~" {
                t.approx = true;
                i += 1;
            } else if more >= 2 && &next[..] == b"=" {
                i += 1;
            }
            let id = strict_id(&argv[i + 1])?;
            i += 1;
            t.how = Some(Trim::MinId(id));
        } else if eq(opt, "limit") && more > 0 {
            let n = int_arg(&argv[i + 1])?;
            if n < 0 {
                return Err(Frame::err("The LIMIT argument must be >= 0."));
            }
            t.limit = n as u64;
            limit_given = true;
            i += 1;
        } else if xadd && eq(opt, "nomkstream") {
            // Recorded by parse_add.
        } else if xadd {
            // Not an option: the ID (an error here comes before the LIMIT checks).
            given = Some(parse_id(opt, 0, true, true).ok_or_else(id::invalid_id)?);
            break;
        } else {
            return Err(Frame::err(SYNTAX));
        }
        i += 1;
    }
    if t.limit != 0 && t.how.is_none() {
        return Err(Frame::err(
            "syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && t.how.is_none() {
        return Err(Frame::err(
            "syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    if limit_given {
        if !t.approx {
            return Err(Frame::err(
                "syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
    } else if t.approx {
        // 100 * stream-node-max-entries, Redis's default cap on approximate trimming.
        t.limit = 100 * crate::keyspace::stream::NODE_MAX_ENTRIES;
    }
    Ok((t, i, given))
}

fn parse_add(argv: &[Bytes]) -> Result<AddArgs, Frame> {
    let (trim, idpos, id) = parse_trim(argv, true)?;
    let nomkstream = argv[2..idpos.min(argv.len())]
        .iter()
        .any(|a| eq(a, "nomkstream"));
    let field_pos = idpos + 1;
    if argv.len() < field_pos + 2 || (argv.len() - field_pos) % 2 == 1 {
        return Err(wrong_args("xadd"));
    }
    if let Some(p) = id {
        if p.seq_given && p.id.is_zero() {
            return Err(Frame::err(
                "The ID specified in XADD must be greater than 0-0",
            ));
        }
    }
    Ok(AddArgs {
        key: argv[1].clone(),
        trim,
        nomkstream,
        id,
        fields: argv[field_pos..].iter().map(|f| own(f)).collect(),
    })
}

fn parse_setid(argv: &[Bytes]) -> Result<StreamWrite, Frame> {
    let id = strict_id(&argv[2])?;
    let mut entries_added = None;
    let mut max_deleted = StreamId::MIN;
    let mut i = 3;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        if eq(&argv[i], "entriesadded") && more > 0 {
            let n = int_arg(&argv[i + 1])?;
            if n < 0 {
                return Err(Frame::err("entries_added must be positive"));
            }
            entries_added = Some(n as u64);
            i += 2;
        } else if eq(&argv[i], "maxdeletedid") && more > 0 {
            max_deleted = strict_id(&argv[i + 1])?;
            if id < max_deleted {
                return Err(Frame::err(
                    "The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
            i += 2;
        } else {
            return Err(Frame::err(SYNTAX));
        }
    }
    Ok(StreamWrite::SetId {
        key: argv[1].clone(),
        id,
        entries_added,
        max_deleted,
    })
}

/// Redis's `getTimeoutFromObjectOrReply` in milliseconds (the value itself is not used: see
/// [`ReadArgs::block`]).
fn parse_block(arg: &[u8]) -> Result<(), Frame> {
    let t = super::parse_i64(arg)
        .ok_or_else(|| Frame::err("timeout is not an integer or out of range"))?;
    if t < 0 {
        return Err(Frame::err("timeout is negative"));
    }
    Ok(())
}

fn parse_read(xreadgroup: bool, argv: &[Bytes]) -> Result<ReadArgs, Frame> {
    let mut r = ReadArgs {
        count: 0,
        block: false,
        group: None,
        noack: false,
        keys: Vec::new(),
        ids: Vec::new(),
    };
    let mut streams_at = None;
    let mut i = 1;
    while i < argv.len() {
        let more = argv.len() - i - 1;
        let o = &argv[i];
        if eq(o, "block") && more > 0 {
            i += 1;
            parse_block(&argv[i])?;
            r.block = true;
        } else if eq(o, "count") && more > 0 {
            i += 1;
            r.count = int_arg(&argv[i])?.max(0) as u64;
        } else if eq(o, "streams") && more > 0 {
            let n = argv.len() - (i + 1);
            if n % 2 != 0 {
                return Err(Frame::err(
                    "Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
                ));
            }
            streams_at = Some(i + 1);
            break;
        } else if eq(o, "group") && more >= 2 {
            if !xreadgroup {
                return Err(Frame::err(
                    "The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            r.group = Some((argv[i + 1].clone(), argv[i + 2].clone()));
            i += 2;
        } else if eq(o, "noack") {
            if !xreadgroup {
                return Err(Frame::err(
                    "The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            r.noack = true;
        } else {
            return Err(Frame::err(SYNTAX));
        }
        i += 1;
    }
    let Some(at) = streams_at else {
        return Err(Frame::err(SYNTAX));
    };
    if xreadgroup && r.group.is_none() {
        return Err(Frame::err("Missing GROUP option for XREADGROUP"));
    }
    let n = (argv.len() - at) / 2;
    r.keys = argv[at..at + n].to_vec();
    r.ids = argv[at + n..].to_vec();
    Ok(r)
}

impl StreamRead {
    pub(super) fn read(&self, ks: &Keyspace, now: u64) -> Frame {
        reply(self.read_inner(ks, now))
    }

    fn read_inner(&self, ks: &Keyspace, now: u64) -> Result<Frame, Frame> {
        match self {
            StreamRead::Len(k) => Ok(Frame::Integer(
                get_stream(ks, k, now)?.map_or(0, |s| s.len() as i64),
            )),
            StreamRead::Range {
                key,
                start,
                end,
                count,
                rev,
            } => {
                let Some(s) = get_stream(ks, key, now)? else {
                    return Ok(Frame::Array(Vec::new()));
                };
                if *count == Some(0) {
                    return Ok(Frame::NullArray);
                }
                let n = count.map_or(usize::MAX, |c| c as usize);
                let it = s.range(*start, *end);
                let out: Vec<Frame> = if *rev {
                    it.rev()
                        .take(n)
                        .map(|(id, f)| entry_frame(*id, f))
                        .collect()
                } else {
                    it.take(n).map(|(id, f)| entry_frame(*id, f)).collect()
                };
                Ok(Frame::Array(out))
            }
            StreamRead::Read(r) => xread(ks, r, now),
            StreamRead::Pending(p) => group::pending(ks, p, now),
            StreamRead::Info(argv) => info::info(ks, argv, now),
        }
    }
}

/// XREAD (no group): every stream with an entry after its ID, in argument order.
fn xread(ks: &Keyspace, r: &ReadArgs, now: u64) -> Result<Frame, Frame> {
    let mut after = Vec::with_capacity(r.keys.len());
    for (k, raw) in r.keys.iter().zip(&r.ids) {
        let s = get_stream(ks, k, now)?;
        let id = if &raw[..] == b"$" {
            s.map_or(StreamId::MIN, |s| s.last_id)
        } else if &raw[..] == b">" {
            return Err(Frame::err(
                "The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
            ));
        } else {
            strict_id(raw)?
        };
        after.push(id);
    }
    let mut out = Vec::new();
    for (k, gt) in r.keys.iter().zip(after) {
        let Some(s) = get_stream(ks, k, now)? else {
            continue;
        };
        if s.is_empty() || s.last_valid() <= gt {
            continue;
        }
        let start = gt.incr().unwrap_or(StreamId::MIN);
        let n = if r.count == 0 {
            usize::MAX
        } else {
            r.count as usize
        };
        let entries: Vec<Frame> = s
            .range(start, StreamId::MAX)
            .take(n)
            .map(|(id, f)| entry_frame(*id, f))
            .collect();
        out.push((Frame::Bulk(k.clone()), Frame::Array(entries)));
    }
    // Nothing to serve: Redis would block with BLOCK; this node answers as Redis does for a
    // client that cannot block (docs/commands.md, "XREAD BLOCK").
    // A map of key → entries for a RESP3 client, `[key, entries]` arrays in RESP2 (Redis 7).
    Ok(if out.is_empty() {
        Frame::NullArray
    } else {
        Frame::ArrayMap(out)
    })
}

impl StreamWrite {
    pub(super) fn write(&self, ks: &mut Keyspace, now: u64) -> Frame {
        reply(self.write_inner(ks, now))
    }

    fn write_inner(&self, ks: &mut Keyspace, now: u64) -> Result<Frame, Frame> {
        match self {
            StreamWrite::Add(a) => xadd(ks, a, now),
            StreamWrite::Trim { key, trim } => {
                if get_stream(ks, key, now)?.is_none() {
                    return Ok(Frame::Integer(0));
                }
                let n = with_stream(ks, key, now, |s| apply_trim(s, trim)).unwrap_or(0);
                Ok(Frame::Integer(n as i64))
            }
            StreamWrite::Del(key, raw) => {
                if get_stream(ks, key, now)?.is_none() {
                    return Ok(Frame::Integer(0));
                }
                let ids = raw
                    .iter()
                    .map(|r| strict_id(r))
                    .collect::<Result<Vec<_>, _>>()?;
                let n = with_stream(ks, key, now, |s| {
                    let mut deleted = 0;
                    let mut first = false;
                    for id in &ids {
                        if s.delete(*id) {
                            first |= *id == s.first_id;
                            if *id > s.max_deleted_id {
                                s.max_deleted_id = *id;
                            }
                            deleted += 1;
                        }
                    }
                    if deleted > 0 {
                        if s.is_empty() {
                            s.first_id = StreamId::MIN;
                        } else if first {
                            s.refresh_first();
                        }
                    }
                    deleted
                })
                .unwrap_or(0);
                Ok(Frame::Integer(n))
            }
            StreamWrite::SetId {
                key,
                id,
                entries_added,
                max_deleted,
            } => {
                let Some(s) = get_stream(ks, key, now)? else {
                    return Err(Frame::err("no such key"));
                };
                if !s.is_empty() {
                    if *id < s.last_valid() {
                        return Err(Frame::err(
                            "The ID specified in XSETID is smaller than the target stream top item",
                        ));
                    }
                    if entries_added.is_some_and(|n| (s.len() as u64) > n) {
                        return Err(Frame::err(
                            "The entries_added specified in XSETID is smaller than the target stream length",
                        ));
                    }
                }
                with_stream(ks, key, now, |s| {
                    s.last_id = *id;
                    if let Some(n) = entries_added {
                        s.entries_added = *n;
                    }
                    if !max_deleted.is_zero() {
                        s.max_deleted_id = *max_deleted;
                    }
                });
                Ok(Frame::ok())
            }
            StreamWrite::Group(g) => group::xgroup(ks, g, now),
            StreamWrite::ReadGroup(r) => group::xreadgroup(ks, r, now),
            StreamWrite::Ack(argv) => group::xack(ks, argv, now),
            StreamWrite::Claim(argv) => group::xclaim(ks, argv, now),
            StreamWrite::AutoClaim(a) => group::xautoclaim(ks, a, now),
        }
    }
}

fn apply_trim(s: &mut Stream, t: &TrimArgs) -> u64 {
    match t.how {
        Some(how) => s.trim(how, t.approx, t.limit),
        None => 0,
    }
}

fn xadd(ks: &mut Keyspace, a: &AddArgs, now: u64) -> Result<Frame, Frame> {
    let existing = get_stream(ks, &a.key, now)?;
    if existing.is_none() && a.nomkstream {
        return Ok(Frame::Null);
    }
    let last = existing.map_or(StreamId::MIN, |s| s.last_id);
    if last == StreamId::MAX {
        return Err(Frame::err(
            "The stream has exhausted the last possible ID, unable to add more items",
        ));
    }
    let smaller = || {
        Frame::err("The ID specified in XADD is equal or smaller than the target stream top item")
    };
    let id = match a.id {
        // Auto ID from the stamped time (the leader's clock, in the log entry).
        None => {
            if now > last.ms {
                StreamId::new(now, 0)
            } else {
                last.incr().ok_or_else(smaller)?
            }
        }
        Some(p) if !p.seq_given => {
            if last.ms == p.id.ms {
                last.incr()
                    .filter(|n| n.ms == p.id.ms)
                    .ok_or_else(smaller)?
            } else {
                p.id
            }
        }
        Some(p) => p.id,
    };
    if id <= last {
        return Err(smaller());
    }
    let total: usize = a.fields.iter().map(|f| f.len()).sum();
    if total > (1 << 30) {
        return Err(Frame::err("Elements are too large to be stored"));
    }
    let fields = a.fields.clone();
    let trim = a.trim.clone();
    ks.update(&a.key, now, Some(new_stream), move |v| {
        if let Value::Stream(s) = v {
            s.append(id, fields);
            apply_trim(s, &trim);
        }
    });
    Ok(id_frame(id))
}

#[cfg(test)]
mod tests;
