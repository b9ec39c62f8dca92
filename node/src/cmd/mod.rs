//! The command table and the data commands.
//!
//! - this file: the public API — [`CommandSpec`], [`lookup`], [`check_arity`],
//!   [`key_indices`], [`unknown_command`], the typed [`Command`] (parse / apply / read),
//!   [`apply_argv`] — and helpers shared by the families (error texts, integer parsing).
//! - [`table`]: the static table of every command the node serves (data and server-layer)
//!   and the `COMMAND` / `COMMAND INFO|DOCS|COUNT|LIST|GETKEYS` replies.
//! - [`keys`]: generic keyspace commands (DEL, EXISTS, TYPE, KEYS, SCAN, RENAME, EXPIRE
//!   family, TTL family, PERSIST, DBSIZE, FLUSHDB/FLUSHALL).
//! - [`strings`]: string commands (GET, SET with all options, INCR family, APPEND, ...).
//! - [`hashes`], [`lists`], [`sets`]: the aggregate types.
//! - [`zsets`]: sorted sets (scores parsed and printed as Redis 7.0 does).
//! - [`geo`]: geo commands on sorted sets (Redis's 52-bit geohash, GEOADD ... GEOSEARCHSTORE).
//! - [`bitmaps`]: bit commands on strings (SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD).
//! - [`hyperloglog`]: PFADD, PFCOUNT, PFMERGE in Redis's exact HLL representation.
//! - [`streams`]: streams and consumer groups (XADD ... XINFO), IDs from the stamped time.
//! - [`sort`]: SORT and SORT_RO (BY / GET patterns, LIMIT, ALPHA, STORE).
//! - `random`: the random draws of SRANDMEMBER, HRANDFIELD, RANDOMKEY (read streams) and
//!   SPOP (seeded from the entry, so every replica pops the same members).
//! - [`glob`]: Redis glob-style pattern matching for KEYS and SCAN MATCH.
//!
//! Execution is deterministic given (keyspace, argv, now_ms): no clock, no randomness, and
//! every iteration that affects a write or a reply uses the keyspace's fixed orders.

pub mod bitmaps;
pub mod geo;
pub mod glob;
pub mod hashes;
pub mod hyperloglog;
pub mod idempotent;
pub mod keys;
pub mod lists;
pub(crate) mod random;
pub mod sets;
pub mod sort;
pub mod streams;
pub mod strings;
pub mod table;
pub mod zsets;

use bytes::Bytes;

use crate::keyspace::{Entry, Keyspace, Value};
use crate::resp::parse_i64;
use crate::resp::{ErrorCode, Frame};

pub use table::{command_reply, table};

/// Who executes a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Read-only data command: executed against `&Keyspace` after a read barrier.
    Read,
    /// Mutating data command: proposed to Raft and executed at apply time.
    Write,
    /// Handled by the connection/server layer (PING, HELLO, CONFIG, ...).
    Server,
}

/// A command's group: Redis's documentation group (what `COMMAND DOCS` reports), which also
/// names the family that parses a data command (see [`Command::parse`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// Keyspace-wide commands (DEL, EXPIRE, SCAN, ...): `keys`.
    Generic,
    /// String commands: `strings`.
    Str,
    Hash,
    List,
    Set,
    /// Sorted-set commands: `zsets`.
    SortedSet,
    /// Bit commands on strings: `bitmaps`.
    Bitmap,
    /// PFADD/PFCOUNT/PFMERGE: `hyperloglog`.
    HyperLogLog,
    /// Stream commands: `streams`.
    Stream,
    /// Geo commands (on sorted sets): `geo`.
    Geo,
    /// Server commands; the data ones (DBSIZE, FLUSHDB, FLUSHALL) are parsed by `keys`.
    Server,
    /// Connection commands (served by the server layer).
    Connection,
    /// CLUSTER (served by the server layer).
    Cluster,
    /// FUNCTION (served by the server layer; see docs/commands.md for what exists).
    Scripting,
    /// MULTI/EXEC/DISCARD/WATCH/UNWATCH (served by the session).
    Transactions,
    /// (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, (S)PUBLISH, PUBSUB (served by the session).
    PubSub,
    /// sdr's own commands (IDEMPOTENT).
    Sdr,
}

impl Group {
    /// The group name as Redis reports it.
    pub fn as_str(self) -> &'static str {
        match self {
            Group::Generic => "generic",
            Group::Str => "string",
            Group::Hash => "hash",
            Group::List => "list",
            Group::Set => "set",
            Group::SortedSet => "sorted-set",
            Group::Bitmap => "bitmap",
            Group::HyperLogLog => "hyperloglog",
            Group::Stream => "stream",
            Group::Geo => "geo",
            Group::Server => "server",
            Group::Connection => "connection",
            Group::Cluster => "cluster",
            Group::Scripting => "scripting",
            Group::Transactions => "transactions",
            Group::PubSub => "pubsub",
            Group::Sdr => "sdr",
        }
    }
}

/// One row of the command table; field meanings follow Redis's `COMMAND INFO`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandSpec {
    /// Lowercase name.
    pub name: &'static str,
    /// Exact argc if positive, minimum argc if negative (argv\[0\] included).
    pub arity: i64,
    pub flags: &'static [&'static str],
    pub first_key: i64,
    pub last_key: i64,
    pub step: i64,
    pub kind: Kind,
    pub group: Group,
    pub summary: &'static str,
    pub since: &'static str,
}

/// Finds a command by name, ASCII case-insensitively, without allocating (binary search over
/// the sorted table).
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    let t = table();
    t.binary_search_by(|spec| {
        let a = spec.name.as_bytes().iter().copied();
        let b = name.iter().map(|c| c.to_ascii_lowercase());
        a.cmp(b)
    })
    .ok()
    .map(|i| &t[i])
}

/// Redis 7's reply for an unknown command (arguments quoted, capped near 128 bytes).
pub fn unknown_command(argv: &[Bytes]) -> Frame {
    let name = argv.first().map(|n| lossy(n, 128)).unwrap_or_default();
    let mut args = String::new();
    for a in argv.iter().skip(1) {
        if args.len() >= 128 {
            break;
        }
        let room = 128 - args.len();
        args.push('\'');
        args.push_str(&lossy(a, room));
        args.push_str("' ");
    }
    Frame::err(sanitize(format!(
        "unknown command '{name}', with args beginning with: {args}"
    )))
}

/// At most `max` bytes of `b` as text.
fn lossy(b: &[u8], max: usize) -> String {
    String::from_utf8_lossy(&b[..b.len().min(max)]).into_owned()
}

/// Error replies must be one line: Redis replaces CR/LF with spaces.
fn sanitize(s: String) -> String {
    s.replace(['\r', '\n'], " ")
}

/// `ERR wrong number of arguments for '<name>' command`.
pub fn wrong_args(name: &str) -> Frame {
    Frame::err(format!("wrong number of arguments for '{name}' command"))
}

/// Checks argc against the spec's arity.
pub fn check_arity(spec: &CommandSpec, argv: &[Bytes]) -> Result<(), Frame> {
    let argc = argv.len() as i64;
    let ok = if spec.arity >= 0 {
        argc == spec.arity
    } else {
        argc >= -spec.arity
    };
    if ok {
        Ok(())
    } else {
        Err(wrong_args(spec.name))
    }
}

/// For a command that may grow memory (Redis's `denyoom` flag; for IDEMPOTENT, its wrapped
/// command's), the bytes it may add beyond its arguments when that is known from the
/// arguments alone: SETRANGE's `offset + len(value)` (the string it may create). `None` for a
/// command that cannot grow memory. Used by the `maxmemory` check before proposing.
pub fn oom_growth(spec: &CommandSpec, argv: &[Bytes]) -> Option<u64> {
    let (spec, argv) = if spec.name == "idempotent" {
        let inner = argv.get(3).and_then(|n| lookup(n))?;
        (inner, &argv[3..])
    } else {
        (spec, argv)
    };
    if !spec.flags.contains(&"denyoom") {
        return None;
    }
    if let Some(n) = bitmaps::oom_growth(spec.name, argv) {
        return Some(n);
    }
    if spec.name == "setrange" && argv.len() == 4 {
        let off = parse_i64(&argv[2]).and_then(|o| u64::try_from(o).ok());
        return Some(off.map_or(0, |o| o.saturating_add(argv[3].len() as u64)));
    }
    Some(0)
}

/// Commands whose keys follow a `numkeys` argument (Redis's `keynum` key-specs): name, index
/// of numkeys, and whether a destination key sits at index 1.
const NUMKEYS: &[(&str, usize, bool)] = &[
    ("blmpop", 2, false),
    ("bzmpop", 2, false),
    ("lmpop", 1, false),
    ("eval", 2, false),
    ("eval_ro", 2, false),
    ("evalsha", 2, false),
    ("evalsha_ro", 2, false),
    ("fcall", 2, false),
    ("fcall_ro", 2, false),
    ("sintercard", 1, false),
    ("zdiff", 1, false),
    ("zdiffstore", 2, true),
    ("zinter", 1, false),
    ("zintercard", 1, false),
    ("zinterstore", 2, true),
    ("zmpop", 1, false),
    ("zunion", 1, false),
    ("zunionstore", 2, true),
];

/// Positions of the key arguments in `argv` per first/last/step, or per [`NUMKEYS`] (keys
/// clamped to argv; the command's parser reports a bad count); empty when the command has no
/// keys or argv is too short.
pub fn key_indices(spec: &CommandSpec, argv: &[Bytes]) -> Vec<usize> {
    if spec.name == "idempotent" {
        return idempotent::IdemOp::inner_key_indices(argv);
    }
    if spec.name == "sort" || spec.name == "sort_ro" {
        return sort::key_indices(argv);
    }
    if spec.name == "object" {
        // A container (key spec 0 0 0 in COMMAND, as Redis); its key subcommands name argv[2].
        return if argv.len() >= 3 { vec![2] } else { Vec::new() };
    }
    if spec.name == "memory" {
        // Only MEMORY USAGE names a key (argv[2]), as `COMMAND GETKEYS memory usage k` says.
        return if argv.len() >= 3 && argv[1].eq_ignore_ascii_case(b"usage") {
            vec![2]
        } else {
            Vec::new()
        };
    }
    if let Some(keys) = streams::key_indices(spec.name, argv) {
        return keys;
    }
    if let Some(keys) = geo::key_indices(spec.name, argv) {
        return keys;
    }
    if let Some(&(_, nk, dst)) = NUMKEYS.iter().find(|r| r.0 == spec.name) {
        let n = argv
            .get(nk)
            .and_then(|a| parse_i64(a))
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0);
        let mut out: Vec<usize> = if dst { vec![1] } else { Vec::new() };
        out.extend((nk + 1..argv.len()).take(n));
        out.retain(|&i| i < argv.len());
        return out;
    }
    let argc = argv.len() as i64;
    if spec.first_key <= 0 || spec.step <= 0 {
        return Vec::new();
    }
    let last = if spec.last_key < 0 {
        argc + spec.last_key
    } else {
        spec.last_key.min(argc - 1)
    };
    let mut out = Vec::new();
    let mut i = spec.first_key;
    while i <= last && i < argc {
        out.push(i as usize);
        i += spec.step;
    }
    out
}

/// A parsed read command, family-typed: only these reach the read path.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ReadOp {
    Keys(keys::KeyRead),
    Str(strings::StrRead),
    Hash(hashes::HashRead),
    List(lists::ListRead),
    Set(sets::SetRead),
    ZSet(zsets::ZSetRead),
    Bits(bitmaps::BitRead),
    Hll(hyperloglog::HllRead),
    Stream(streams::StreamRead),
    Geo(geo::GeoRead),
}

/// A parsed write command, family-typed: only these are proposed and applied.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum WriteOp {
    Keys(keys::KeyWrite),
    Str(strings::StrWrite),
    Hash(hashes::HashWrite),
    List(lists::ListWrite),
    Set(sets::SetWrite),
    ZSet(zsets::ZSetWrite),
    Bits(bitmaps::BitWrite),
    Hll(hyperloglog::HllWrite),
    Stream(streams::StreamWrite),
    Geo(geo::GeoWrite),
    Idem(idempotent::IdemOp),
}

/// What a family's `parse` produces: a read or a write op.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Op {
    Read(ReadOp),
    Write(WriteOp),
}

macro_rules! family_ops {
    ($variant:ident, $read:ty, $write:ty) => {
        impl From<$read> for Op {
            fn from(r: $read) -> Op {
                Op::Read(ReadOp::$variant(r))
            }
        }
        impl From<$write> for Op {
            fn from(w: $write) -> Op {
                Op::Write(WriteOp::$variant(w))
            }
        }
    };
}
family_ops!(Keys, keys::KeyRead, keys::KeyWrite);
family_ops!(Str, strings::StrRead, strings::StrWrite);
family_ops!(Hash, hashes::HashRead, hashes::HashWrite);
family_ops!(List, lists::ListRead, lists::ListWrite);
family_ops!(Set, sets::SetRead, sets::SetWrite);
family_ops!(ZSet, zsets::ZSetRead, zsets::ZSetWrite);

/// A typed data command: a read or a write, decided by how it parsed (the table's
/// [`Kind`] agrees, which a test checks for every data command). Holds `Bytes`, so clones
/// are cheap.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Read(ReadCommand),
    Write(WriteCommand),
}

/// A read-only data command: runs against `&Keyspace`.
#[derive(Clone, Debug, PartialEq)]
pub struct ReadCommand {
    spec: &'static CommandSpec,
    op: ReadOp,
}

/// A mutating data command: goes through the Raft log, runs against `&mut Keyspace`.
#[derive(Clone, Debug, PartialEq)]
pub struct WriteCommand {
    spec: &'static CommandSpec,
    op: WriteOp,
}

impl Command {
    /// Parses `argv` (name included): unknown command, arity and syntax errors come back as
    /// the exact Redis error frame. Never touches the keyspace.
    pub fn parse(argv: &[Bytes]) -> Result<Command, Frame> {
        let Some(name) = argv.first() else {
            return Err(Frame::err("empty command"));
        };
        let spec = lookup(name).ok_or_else(|| unknown_command(argv))?;
        check_arity(spec, argv)?;
        let n = spec.name;
        if key_indices(spec, argv)
            .iter()
            .any(|&i| argv[i].starts_with(crate::keyspace::RESERVED_PREFIX))
        {
            return Err(Frame::err(RESERVED_KEY));
        }
        if spec.kind == Kind::Server {
            return Err(Frame::err(format!(
                "'{n}' is a server command, not a data command"
            )));
        }
        let op = match spec.group {
            Group::Str => strings::parse(n, argv)?,
            Group::Hash => hashes::parse(n, argv)?,
            Group::List => lists::parse(n, argv)?,
            Group::Set => sets::parse(n, argv)?,
            Group::SortedSet => zsets::parse(n, argv)?,
            Group::Bitmap => bitmaps::parse(n, argv)?,
            Group::HyperLogLog => hyperloglog::parse(n, argv)?,
            Group::Stream => streams::parse(n, argv)?,
            Group::Geo => geo::parse(n, argv)?,
            Group::Sdr => Op::Write(WriteOp::Idem(idempotent::parse(argv)?)),
            // DBSIZE, FLUSHDB and FLUSHALL are Redis "server" commands on the keyspace.
            Group::Generic | Group::Server => keys::parse(n, argv)?,
            Group::Connection
            | Group::Cluster
            | Group::Scripting
            | Group::Transactions
            | Group::PubSub => {
                return Err(Frame::err(format!(
                    "'{n}' is a server command, not a data command"
                )))
            }
        };
        Ok(match op {
            Op::Read(op) => Command::Read(ReadCommand { spec, op }),
            Op::Write(op) => Command::Write(WriteCommand { spec, op }),
        })
    }

    /// The table row of this command.
    pub fn spec(&self) -> &'static CommandSpec {
        match self {
            Command::Read(c) => c.spec,
            Command::Write(c) => c.spec,
        }
    }

    /// True if the command must go through the Raft log.
    pub fn is_write(&self) -> bool {
        matches!(self, Command::Write(_))
    }

    /// Executes at stamped time `now_ms` (a read runs as a read).
    pub fn apply(&self, ks: &mut Keyspace, now_ms: u64) -> Frame {
        match self {
            Command::Read(c) => c.read(ks, now_ms),
            Command::Write(c) => c.apply(ks, now_ms),
        }
    }
}

impl ReadCommand {
    /// The table row of this command.
    pub fn spec(&self) -> &'static CommandSpec {
        self.spec
    }

    /// Executes the read at time `now_ms`.
    pub fn read(&self, ks: &Keyspace, now_ms: u64) -> Frame {
        match &self.op {
            ReadOp::Keys(op) => op.read(ks, now_ms),
            ReadOp::Str(op) => op.read(ks, now_ms),
            ReadOp::Hash(op) => op.read(ks, now_ms),
            ReadOp::List(op) => op.read(ks, now_ms),
            ReadOp::Set(op) => op.read(ks, now_ms),
            ReadOp::ZSet(op) => op.read(ks, now_ms),
            ReadOp::Bits(op) => op.read(ks, now_ms),
            ReadOp::Hll(op) => op.read(ks, now_ms),
            ReadOp::Stream(op) => op.read(ks, now_ms),
            ReadOp::Geo(op) => op.read(ks, now_ms),
        }
    }
}

impl WriteCommand {
    /// The table row of this command.
    pub fn spec(&self) -> &'static CommandSpec {
        self.spec
    }

    /// Executes the write at stamped time `now_ms`.
    pub fn apply(&self, ks: &mut Keyspace, now_ms: u64) -> Frame {
        match &self.op {
            WriteOp::Keys(op) => op.write(ks, now_ms),
            WriteOp::Str(op) => op.write(ks, now_ms),
            WriteOp::Hash(op) => op.write(ks, now_ms),
            WriteOp::List(op) => op.write(ks, now_ms),
            WriteOp::Set(op) => op.write(ks, now_ms),
            WriteOp::ZSet(op) => op.write(ks, now_ms),
            WriteOp::Bits(op) => op.write(ks, now_ms),
            WriteOp::Hll(op) => op.write(ks, now_ms),
            WriteOp::Stream(op) => op.write(ks, now_ms),
            WriteOp::Geo(op) => op.write(ks, now_ms),
            WriteOp::Idem(op) => op.write(ks, now_ms),
        }
    }
}

/// Parses and applies `argv` at stamped time `now_ms` (the state machine's apply path); parse
/// errors become the reply. Each call is one write for WATCH versions.
pub fn apply_argv(ks: &mut Keyspace, argv: &[Bytes], now_ms: u64) -> Frame {
    ks.begin_write();
    if argv.first().is_some_and(|n| eq(n, "eval")) {
        // An EVAL queued in a transaction (its entry carries the body).
        return crate::scripting::commands::apply_eval_argv(ks, argv, now_ms);
    }
    if argv.first().is_some_and(|n| eq(n, "function")) {
        // FUNCTION LOAD/DELETE/FLUSH/RESTORE entries (and any FUNCTION in a transaction).
        return crate::scripting::functions::apply(ks, argv);
    }
    if argv
        .first()
        .is_some_and(|n| eq(n, "fcall") || eq(n, "fcall_ro"))
    {
        return crate::scripting::functions::apply_fcall_argv(ks, argv, now_ms);
    }
    match Command::parse(argv) {
        Ok(cmd) => cmd.apply(ks, now_ms),
        Err(f) => f,
    }
}

/// Applies a MULTI/EXEC transaction (`Request::Transaction`): nothing, with the nil-array
/// reply, if a watched key changed; otherwise every command in order, replies as an array.
/// Reads inside run against the state the earlier commands of the transaction left.
pub fn apply_transaction(
    ks: &mut Keyspace,
    watches: &[(Bytes, u64, bool)],
    cmds: &[Vec<Bytes>],
    now_ms: u64,
) -> Frame {
    if ks.watch_broken(watches, now_ms) {
        return Frame::NullArray;
    }
    // SELECT inside MULTI switches the database for the commands after it (as Redis); the
    // caller restores the entry's database afterwards.
    Frame::Array(
        cmds.iter()
            .map(|argv| match argv.first() {
                Some(n) if eq(n, "select") => apply_select(ks, argv),
                _ => apply_argv(ks, argv, now_ms),
            })
            .collect(),
    )
}

/// SELECT applied inside an entry (a transaction, a script): switches `ks`'s active database
/// if the index is valid; the reply is Redis's.
pub fn apply_select(ks: &mut Keyspace, argv: &[Bytes]) -> Frame {
    match argv.get(1).and_then(|b| parse_i64(b)) {
        None => Frame::err(NOT_INT),
        Some(n) => match select_target(argv, ks.db_count()) {
            Some(n) => {
                ks.select_db(n);
                Frame::ok()
            }
            None if i32::try_from(n).is_err() => Frame::err(keys::INT_RANGE),
            None => Frame::err(keys::DB_OUT_OF_RANGE),
        },
    }
}

/// The database a SELECT argv switches to, if it is one (`0 <= n < db_count`).
pub fn select_target(argv: &[Bytes], db_count: u32) -> Option<u32> {
    if !argv.first().is_some_and(|n| eq(n, "select")) || argv.len() != 2 {
        return None;
    }
    parse_i64(&argv[1])
        .and_then(|n| u32::try_from(n).ok())
        .filter(|&n| n < db_count)
}

/// Runs a read-only transaction against `ks` (the read path): the same rules as
/// [`apply_transaction`], every command a read.
pub fn read_transaction(
    ks: &Keyspace,
    watches: &[(Bytes, u64, bool)],
    cmds: &[ReadCommand],
    now_ms: u64,
) -> Frame {
    if ks.watch_broken(watches, now_ms) {
        return Frame::NullArray;
    }
    Frame::Array(cmds.iter().map(|c| c.read(ks, now_ms)).collect())
}

// ---- helpers shared by the families ----

// Messages of `-ERR` replies (the code is added by `Frame::err`).
pub(crate) const WRONGTYPE: &str = "Operation against a key holding the wrong kind of value";
pub(crate) const SYNTAX: &str = "syntax error";
pub(crate) const NOT_INT: &str = "value is not an integer or out of range";
pub(crate) const OVERFLOW: &str = "increment or decrement would overflow";
pub(crate) const NOT_FLOAT: &str = "value is not a valid float";
/// Largest string value (`proto-max-bulk-len`).
pub(crate) const MAX_STRING: usize = 512 * 1024 * 1024;
/// A key under `keyspace::RESERVED_PREFIX` named by a user command.
pub(crate) const RESERVED_KEY: &str =
    "keys starting with '\\x00sdr:' are reserved (IDEMPOTENT records, the group clock)";
pub(crate) const TOO_BIG: &str = "string exceeds maximum allowed size (proto-max-bulk-len)";

pub(crate) fn wrongtype() -> Frame {
    Frame::error(ErrorCode::WrongType, WRONGTYPE)
}

pub(crate) fn syntax() -> Frame {
    Frame::err(SYNTAX)
}

/// An integer argument, or `ERR value is not an integer or out of range`.
pub(crate) fn int_arg(b: &[u8]) -> Result<i64, Frame> {
    parse_i64(b).ok_or_else(|| Frame::err(NOT_INT))
}

/// A SCAN-family cursor parsed as Redis's `parseScanCursorOrReply` (C `strtoul`): optional
/// sign (a negative value wraps, so `-1` is the last position), digits, nothing else; an
/// empty string is cursor 0; overflow or a leading space is `ERR invalid cursor`.
pub(crate) fn scan_cursor(b: &[u8]) -> Result<u64, Frame> {
    let bad = || Frame::err("invalid cursor");
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() {
        return if b.is_empty() { Ok(0) } else { Err(bad()) };
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return Err(bad());
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(c - b'0')))
            .ok_or_else(bad)?;
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// One step of an element SCAN (SSCAN, HSCAN, ZSCAN over a large collection) from `cursor`:
/// elements are visited in order of `scan_hash(member)` (a position stable under inserts and
/// removals, like the keyspace SCAN), so every element present for the whole scan is returned
/// at least once. Visits about `count` elements (before MATCH filters them, as Redis), never
/// splitting elements that share a position across two calls. Returns the next cursor (0 when
/// done) and the visited elements that `keep` accepts. Costs O(n log n) per call.
pub(crate) fn scan_by_position<'a, T: Copy>(
    items: impl Iterator<Item = (&'a Bytes, T)>,
    cursor: u64,
    count: usize,
    mut keep: impl FnMut(&[u8]) -> bool,
) -> (u64, Vec<(&'a Bytes, T)>) {
    let mut pos: Vec<(u64, &Bytes, T)> = items
        .map(|(m, t)| (crate::keyspace::scan_hash(m), m, t))
        .filter(|(h, _, _)| *h >= cursor)
        .collect();
    pos.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    let mut out = Vec::new();
    let mut last = None;
    for (visited, (h, m, t)) in pos.into_iter().enumerate() {
        if visited >= count && last != Some(h) {
            return (h, out);
        }
        last = Some(h);
        if keep(m) {
            out.push((m, t));
        }
    }
    (0, out)
}

/// A blocking command's timeout in seconds (fractions allowed), as Redis's
/// `getTimeoutFromObjectOrReply`: `ceil(seconds * 1000)` milliseconds, `0` = wait forever.
/// Not a number: `ERR timeout is not a float or out of range`; negative:
/// `ERR timeout is negative` (also infinities and values past `i64` milliseconds, which
/// Redis's cast turns negative on x86-64).
pub fn parse_timeout(b: &[u8]) -> Result<u64, Frame> {
    let secs = strings::parse_float(b)
        .ok_or_else(|| Frame::err("timeout is not a float or out of range"))?;
    let ms = (secs * 1000.0).ceil();
    if !(0.0..9.2e18).contains(&ms) {
        return Err(Frame::err("timeout is negative"));
    }
    Ok(ms as u64)
}

/// The argv index of a blocking command's timeout (`None` for any other command): the last
/// argument, or argument 1 for BLMPOP / BZMPOP.
pub fn blocking_timeout_index(spec: &CommandSpec, argv: &[Bytes]) -> Option<usize> {
    if !spec.flags.contains(&"blocking") {
        return None;
    }
    match spec.name {
        "blmpop" | "bzmpop" => Some(1),
        _ => argv.len().checked_sub(1).filter(|&i| i >= 1),
    }
}

/// ASCII case-insensitive equality with a lowercase literal.
pub(crate) fn eq(arg: &[u8], lit: &str) -> bool {
    arg.eq_ignore_ascii_case(lit.as_bytes())
}

/// A bulk reply sharing `b`.
pub(crate) fn bulk(b: &Bytes) -> Frame {
    Frame::Bulk(b.clone())
}

/// An array of bulk replies.
pub(crate) fn bulk_array<'a>(items: impl IntoIterator<Item = &'a Bytes>) -> Frame {
    Frame::Array(items.into_iter().map(bulk).collect())
}

/// Looks up a live key and checks its type with `pick`: `Ok(None)` if absent,
/// `Err(WRONGTYPE)` if present with another type.
pub(crate) fn typed<'a, T>(
    ks: &'a Keyspace,
    key: &[u8],
    now_ms: u64,
    pick: impl FnOnce(&'a Value) -> Option<T>,
) -> Result<Option<T>, Frame> {
    match ks.get(key, now_ms) {
        None => Ok(None),
        Some(Entry { value, .. }) => pick(value).map(Some).ok_or_else(wrongtype),
    }
}

/// Collapses `Result<Frame, Frame>` into the reply.
pub(crate) fn reply(r: Result<Frame, Frame>) -> Frame {
    r.unwrap_or_else(|e| e)
}

/// Redis index normalisation for ranges (`LRANGE`, `GETRANGE`-like): returns the inclusive
/// `[start, end]` within `len`, or `None` when empty.
pub(crate) fn norm_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut s = if start < 0 { len + start } else { start };
    let mut e = if end < 0 { len + end } else { end };
    if s < 0 {
        s = 0;
    }
    if e >= len {
        e = len - 1;
    }
    if s > e || s >= len || e < 0 {
        return None;
    }
    Some((s as usize, e as usize))
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;

    /// Runs a command given as words at `now`, through the same path as the state machine
    /// (writes) or the read path (reads).
    pub fn run(ks: &mut Keyspace, now: u64, words: &[&str]) -> Frame {
        let argv: Vec<Bytes> = words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        match Command::parse(&argv) {
            Ok(Command::Write(c)) => c.apply(ks, now),
            Ok(Command::Read(c)) => c.read(ks, now),
            Err(f) => f,
        }
    }

    /// `f` as a RESP2 client reads it (doubles as bulks, pairs and maps flat, sets as
    /// arrays): for assertions written in RESP2 shapes.
    pub fn resp2(f: Frame) -> Frame {
        let mut out = bytes::BytesMut::new();
        f.encode_as(crate::resp::Protocol::Resp2, &mut out);
        match crate::resp::decode_frame(&mut out) {
            Ok(Some(f)) => f,
            other => panic!("re-decoding {f:?}: {other:?}"),
        }
    }

    /// [`run`], the reply in its RESP2 shape ([`resp2`]).
    pub fn run2(ks: &mut Keyspace, now: u64, words: &[&str]) -> Frame {
        resp2(run(ks, now, words))
    }

    pub fn b(s: &str) -> Frame {
        Frame::bulk(s)
    }

    pub fn i(n: i64) -> Frame {
        Frame::Integer(n)
    }

    pub fn e(s: &str) -> Frame {
        Frame::Error(s.to_string())
    }

    pub fn arr(items: &[&str]) -> Frame {
        Frame::Array(items.iter().map(Frame::bulk).collect())
    }

    /// A RESP3 map of bulk strings (HGETALL's reply type).
    pub fn map(pairs: &[(&str, &str)]) -> Frame {
        Frame::map(pairs.iter().map(|(k, v)| (Frame::bulk(k), Frame::bulk(v))))
    }

    /// A RESP3 set of bulk strings (SMEMBERS's reply type).
    pub fn set(items: &[&str]) -> Frame {
        Frame::set(items.iter().map(Frame::bulk))
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;

    fn argv(words: &[&str]) -> Vec<Bytes> {
        words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    /// `key_indices` is called on argv the arity check has not seen yet (routing, CROSSSLOT,
    /// WATCH, the fuzz model): for every command and every argv shape it must name only
    /// positions inside argv. (SORT with no argument once answered [1], found by fuzzing.)
    #[test]
    fn key_indices_stay_inside_argv_for_every_command_and_length() {
        let words = [
            "k",
            "1",
            "0",
            "-1",
            "2",
            "numkeys",
            "store",
            "by",
            "get",
            "limit",
            "streams",
            "block",
            "count",
            "key",
            "$",
            ">",
            "group",
            "idempotent",
            "set",
        ];
        for spec in table() {
            for len in 0..8usize {
                for start in 0..words.len() {
                    let mut a = vec![Bytes::copy_from_slice(spec.name.as_bytes())];
                    a.extend((0..len).map(|j| {
                        Bytes::copy_from_slice(words[(start + j * 7) % words.len()].as_bytes())
                    }));
                    for i in key_indices(spec, &a) {
                        assert!(i < a.len(), "{}: index {i} for argv {:?}", spec.name, a);
                        assert!(i > 0, "{}: index 0 (the name) for argv {:?}", spec.name, a);
                    }
                }
            }
        }
    }

    #[test]
    fn table_is_sorted_unique_and_lookup_is_case_insensitive() {
        let t = table();
        for w in t.windows(2) {
            assert!(w[0].name < w[1].name, "{} >= {}", w[0].name, w[1].name);
        }
        for s in t {
            assert_eq!(s.name, s.name.to_ascii_lowercase());
            assert_eq!(
                lookup(s.name.to_ascii_uppercase().as_bytes()).map(|x| x.name),
                Some(s.name)
            );
        }
        assert!(lookup(b"nosuch").is_none());
        for name in [
            "ping",
            "echo",
            "quit",
            "select",
            "hello",
            "auth",
            "client",
            "command",
            "info",
            "config",
            "time",
            "readonly",
            "readwrite",
            "cluster",
        ] {
            assert_eq!(
                lookup(name.as_bytes()).map(|s| s.kind),
                Some(Kind::Server),
                "{name}"
            );
        }
    }

    #[test]
    fn every_data_command_parses_with_minimal_arity() {
        for s in table().iter().filter(|s| s.kind != Kind::Server) {
            let n = s.arity.unsigned_abs() as usize;
            let mut a = vec![Bytes::from_static(s.name.as_bytes())];
            a.extend((1..n).map(|_| Bytes::from_static(b"1")));
            if let Err(f) = Command::parse(&a) {
                // Only syntax-level rejections of "1" as an argument are acceptable.
                assert!(
                    !matches!(&f, Frame::Error(m) if m.contains("wrong number")),
                    "{}: {f:?}",
                    s.name
                );
            }
        }
    }

    #[test]
    fn unknown_and_arity_errors() {
        assert_eq!(
            unknown_command(&argv(&["foo", "a", "b"])),
            e("ERR unknown command 'foo', with args beginning with: 'a' 'b' ")
        );
        assert_eq!(
            unknown_command(&argv(&["foo"])),
            e("ERR unknown command 'foo', with args beginning with: ")
        );
        let mut ks = Keyspace::new();
        assert_eq!(
            run(&mut ks, 0, &["GET"]),
            e("ERR wrong number of arguments for 'get' command")
        );
        assert_eq!(
            run(&mut ks, 0, &["get", "a", "b"]),
            e("ERR wrong number of arguments for 'get' command")
        );
        assert_eq!(
            run(&mut ks, 0, &["nope", "x"]),
            e("ERR unknown command 'nope', with args beginning with: 'x' ")
        );
        assert!(Command::parse(&argv(&["ping"])).is_err());
        assert_eq!(Command::parse(&[]), Err(e("ERR empty command")));
    }

    #[test]
    fn key_indices_follow_the_spec() {
        let spec = |n: &str| lookup(n.as_bytes()).expect("known");
        assert_eq!(key_indices(spec("get"), &argv(&["get", "k"])), vec![1]);
        assert_eq!(
            key_indices(spec("mset"), &argv(&["mset", "a", "1", "b", "2"])),
            vec![1, 3]
        );
        assert_eq!(
            key_indices(spec("del"), &argv(&["del", "a", "b", "c"])),
            vec![1, 2, 3]
        );
        assert_eq!(
            key_indices(spec("rename"), &argv(&["rename", "a", "b"])),
            vec![1, 2]
        );
        assert_eq!(
            key_indices(spec("set"), &argv(&["set", "a", "1", "EX", "5"])),
            vec![1]
        );
        assert_eq!(
            key_indices(spec("ping"), &argv(&["ping"])),
            Vec::<usize>::new()
        );
        assert_eq!(
            key_indices(
                spec("zunionstore"),
                &argv(&["zunionstore", "d", "2", "a", "b", "weights", "1", "2"])
            ),
            vec![1, 3, 4]
        );
        assert_eq!(
            key_indices(spec("zinter"), &argv(&["zinter", "3", "a", "b"])),
            vec![2, 3]
        );
        assert_eq!(
            key_indices(spec("zmpop"), &argv(&["zmpop", "2", "a", "b", "min"])),
            vec![2, 3]
        );
        assert_eq!(
            key_indices(
                spec("zrangestore"),
                &argv(&["zrangestore", "d", "s", "0", "1"])
            ),
            vec![1, 2]
        );
        let geo = |words: &[&str]| key_indices(spec(words[0]), &argv(words));
        assert_eq!(geo(&["georadius", "s", "1", "2", "3", "m"]), vec![1]);
        assert_eq!(
            geo(&[
                "georadius",
                "s",
                "1",
                "2",
                "3",
                "m",
                "store",
                "d",
                "storedist",
                "e"
            ]),
            vec![1, 9]
        );
        assert_eq!(
            geo(&["georadiusbymember", "s", "x", "3", "m", "STORE", "d"]),
            vec![1, 6]
        );
        assert_eq!(
            geo(&["georadius", "s", "1", "2", "3", "m", "store"]),
            vec![1]
        );
        assert_eq!(
            geo(&["georadius_ro", "s", "1", "2", "3", "m", "store", "d"]),
            vec![1]
        );
        assert_eq!(
            geo(&[
                "geosearchstore",
                "d",
                "s",
                "frommember",
                "x",
                "byradius",
                "1",
                "m"
            ]),
            vec![1, 2]
        );
    }

    #[test]
    fn writes_are_deterministic_across_replicas() {
        let script: &[&[&str]] = &[
            &["set", "a", "1", "ex", "10"],
            &["incr", "a"],
            &["rpush", "l", "x", "y", "z"],
            &["hset", "h", "f", "v", "g", "w"],
            &["sadd", "s", "m", "n"],
            &["expire", "l", "5"],
            &["set", "b", "v", "px", "1"],
            &["append", "b", "x"],
            &["lpop", "l"],
            &["pexpire", "h", "-1"],
            &["sadd", "p", "1", "2", "3", "4", "5", "6", "7", "8"],
            &["spop", "p"],
            &["spop", "p", "3"],
            &["sort", "p", "store", "sorted"],
        ];
        let mut a = Keyspace::new();
        let mut b = a.clone();
        for (t, cmd) in script.iter().enumerate() {
            let argv = argv(cmd);
            let now = 1_000 + t as u64;
            let ra = apply_argv(&mut a, &argv, now);
            let rb = apply_argv(&mut b, &argv, now);
            assert_eq!(ra, rb);
            assert_eq!(a, b);
        }
        assert_eq!(a.expires_len(), b.expires_len());
        let mut c = a.clone();
        let keys = a.sample_expired(20_000, 100);
        assert_eq!(
            a.remove_expired(&keys, 20_000),
            c.remove_expired(&keys, 20_000)
        );
        assert_eq!(a, c);
    }

    /// A write cannot reach the read path: it parses as `Command::Write`, which has no `read`.
    #[test]
    fn writes_parse_as_writes_and_reads_as_reads() {
        let c = Command::parse(&argv(&["set", "a", "b"])).expect("parses");
        assert!(matches!(c, Command::Write(_)));
        assert!(c.is_write());
        let r = Command::parse(&argv(&["get", "a"])).expect("parses");
        assert!(matches!(r, Command::Read(_)));
        assert!(!r.is_write());
        let mut ks = Keyspace::new();
        assert_eq!(r.apply(&mut ks, 0), Frame::Null);
    }

    /// For every data command in the table, a minimal valid argv parses into the variant its
    /// `Kind` names: the session dispatches on the parsed variant, COMMAND INFO reports the
    /// kind, and the two must agree.
    #[test]
    fn table_kind_agrees_with_parsed_variant() {
        let samples: &[&[&str]] = &[
            &["append", "k", "v"],
            &["bitcount", "k"],
            &["bitfield", "k", "set", "u8", "0", "1"],
            &["bitfield_ro", "k", "get", "u8", "0"],
            &["bitop", "and", "d", "k"],
            &["bitpos", "k", "1"],
            &["getbit", "k", "0"],
            &["setbit", "k", "0", "1"],
            &["pfadd", "k", "a"],
            &["pfcount", "k"],
            &["pfmerge", "d", "k"],
            &["pfdebug", "encoding", "k"],
            &["pfselftest"],
            &["object", "encoding", "k"],
            &["dump", "k"],
            &["restore", "k", "0", "payload", "replace"],
            &["memory", "usage", "k"],
            &["dbsize"],
            &["decr", "k"],
            &["decrby", "k", "1"],
            &["del", "k"],
            &["exists", "k"],
            &["expire", "k", "1"],
            &["expireat", "k", "1"],
            &["expiretime", "k"],
            &["flushall"],
            &["flushdb"],
            &["get", "k"],
            &["getdel", "k"],
            &["getex", "k"],
            &["getrange", "k", "0", "1"],
            &["getset", "k", "v"],
            &["hdel", "k", "f"],
            &["hexists", "k", "f"],
            &["hget", "k", "f"],
            &["hgetall", "k"],
            &["hincrby", "k", "f", "1"],
            &["hkeys", "k"],
            &["hlen", "k"],
            &["hmget", "k", "f"],
            &["hmset", "k", "f", "v"],
            &["hset", "k", "f", "v"],
            &["hsetnx", "k", "f", "v"],
            &["hstrlen", "k", "f"],
            &["hvals", "k"],
            &["idempotent", "c", "1", "set", "k", "v"],
            &["incr", "k"],
            &["incrby", "k", "1"],
            &["incrbyfloat", "k", "1.5"],
            &["keys", "*"],
            &["lindex", "k", "0"],
            &["llen", "k"],
            &["lpop", "k"],
            &["lpush", "k", "v"],
            &["lrange", "k", "0", "1"],
            &["mget", "k"],
            &["mset", "k", "v"],
            &["msetnx", "k", "v"],
            &["persist", "k"],
            &["pexpire", "k", "1"],
            &["pexpireat", "k", "1"],
            &["pexpiretime", "k"],
            &["psetex", "k", "1", "v"],
            &["pttl", "k"],
            &["rename", "k", "j"],
            &["renamenx", "k", "j"],
            &["move", "k", "1"],
            &["swapdb", "0", "1"],
            &["rpop", "k"],
            &["rpush", "k", "v"],
            &["sadd", "k", "m"],
            &["scan", "0"],
            &["scard", "k"],
            &["set", "k", "v"],
            &["setex", "k", "1", "v"],
            &["setnx", "k", "v"],
            &["setrange", "k", "0", "v"],
            &["sismember", "k", "m"],
            &["smembers", "k"],
            &["srem", "k", "m"],
            &["strlen", "k"],
            &["substr", "k", "0", "1"],
            &["ttl", "k"],
            &["type", "k"],
            &["unlink", "k"],
            &["substr", "k", "0", "1"],
            &["zadd", "k", "1", "m"],
            &["zcard", "k"],
            &["zcount", "k", "0", "1"],
            &["zincrby", "k", "1", "m"],
            &["zlexcount", "k", "-", "+"],
            &["zmscore", "k", "m"],
            &["zpopmax", "k"],
            &["zpopmin", "k"],
            &["zrange", "k", "0", "1"],
            &["zrangebylex", "k", "-", "+"],
            &["zrangebyscore", "k", "0", "1"],
            &["zrank", "k", "m"],
            &["zrem", "k", "m"],
            &["zremrangebylex", "k", "-", "+"],
            &["zremrangebyrank", "k", "0", "1"],
            &["zremrangebyscore", "k", "0", "1"],
            &["zrevrange", "k", "0", "1"],
            &["zrevrangebylex", "k", "+", "-"],
            &["zrevrangebyscore", "k", "1", "0"],
            &["zrevrank", "k", "m"],
            &["zscore", "k", "m"],
            &["zdiff", "1", "k"],
            &["zdiffstore", "d", "1", "k"],
            &["zinter", "1", "k"],
            &["zintercard", "1", "k"],
            &["zinterstore", "d", "1", "k"],
            &["zmpop", "1", "k", "min"],
            &["zrandmember", "k"],
            &["zrangestore", "d", "k", "0", "1"],
            &["zscan", "k", "0"],
            &["smismember", "k", "m"],
            &["sinter", "k", "k2"],
            &["sunion", "k"],
            &["sdiff", "k", "k2"],
            &["sinterstore", "d", "k"],
            &["sunionstore", "d", "k", "k2"],
            &["sdiffstore", "d", "k"],
            &["sintercard", "1", "k"],
            &["smove", "k", "d", "m"],
            &["sscan", "k", "0"],
            &["zunion", "1", "k"],
            &["zunionstore", "d", "1", "k"],
            &["xadd", "k", "*", "f", "v"],
            &["xlen", "k"],
            &["xrange", "k", "-", "+"],
            &["xrevrange", "k", "+", "-"],
            &["xdel", "k", "1-1"],
            &["xtrim", "k", "maxlen", "1"],
            &["xread", "streams", "k", "0"],
            &["xreadgroup", "group", "g", "c", "streams", "k", ">"],
            &["xgroup", "create", "k", "g", "$"],
            &["xack", "k", "g", "1-1"],
            &["xpending", "k", "g"],
            &["xclaim", "k", "g", "c", "0", "1-1"],
            &["xautoclaim", "k", "g", "c", "0", "0"],
            &["xinfo", "stream", "k"],
            &["xsetid", "k", "5-5"],
            &["copy", "k", "d"],
            &["hincrbyfloat", "k", "f", "1.5"],
            &["hrandfield", "k"],
            &["hscan", "k", "0"],
            &["linsert", "k", "before", "p", "e"],
            &["lpos", "k", "e"],
            &["lpushx", "k", "e"],
            &["rpushx", "k", "e"],
            &["lrem", "k", "0", "e"],
            &["lset", "k", "0", "e"],
            &["ltrim", "k", "0", "1"],
            &["randomkey"],
            &["sort", "k"],
            &["sort_ro", "k"],
            &["spop", "k"],
            &["srandmember", "k"],
            &["touch", "k"],
            &["lmove", "k", "d", "left", "right"],
            &["rpoplpush", "k", "d"],
            &["lmpop", "1", "k", "left"],
            &["blpop", "k", "0"],
            &["brpop", "k", "k2", "1.5"],
            &["blmove", "k", "d", "left", "right", "0"],
            &["brpoplpush", "k", "d", "0"],
            &["blmpop", "0", "1", "k", "right", "count", "2"],
            &["bzpopmin", "k", "0"],
            &["bzpopmax", "k", "0"],
            &["bzmpop", "0", "1", "k", "max"],
            &["geoadd", "k", "1", "2", "m"],
            &["geodist", "k", "a", "b"],
            &["geohash", "k", "a"],
            &["geopos", "k", "a"],
            &["georadius", "k", "1", "2", "3", "m"],
            &["georadius_ro", "k", "1", "2", "3", "m"],
            &["georadiusbymember", "k", "a", "3", "m"],
            &["georadiusbymember_ro", "k", "a", "3", "m"],
            &["geosearch", "k", "frommember", "a", "byradius", "1", "m"],
            &[
                "geosearchstore",
                "d",
                "k",
                "frommember",
                "a",
                "byradius",
                "1",
                "m",
            ],
        ];
        let mut covered = std::collections::BTreeSet::new();
        for words in samples {
            let Some(spec) = lookup(words[0].as_bytes()) else {
                continue;
            };
            let c = Command::parse(&argv(words)).unwrap_or_else(|e| panic!("{words:?}: {e:?}"));
            assert_eq!(c.is_write(), spec.kind == Kind::Write, "{}", spec.name);
            covered.insert(spec.name);
        }
        for spec in table() {
            if spec.kind != Kind::Server {
                assert!(covered.contains(spec.name), "no sample for {}", spec.name);
            }
        }
    }

    fn arb_command() -> impl proptest::strategy::Strategy<Value = Vec<String>> {
        use proptest::prelude::*;
        let key = prop_oneof![Just("a"), Just("b"), Just("c")].prop_map(String::from);
        let val = "[0-9a-z]{0,3}";
        let n = -3i64..30;
        let name = prop_oneof![
            Just("set"),
            Just("get"),
            Just("incr"),
            Just("append"),
            Just("del"),
            Just("rpush"),
            Just("lpop"),
            Just("hset"),
            Just("hdel"),
            Just("sadd"),
            Just("srem"),
            Just("expire"),
            Just("pexpire"),
            Just("persist"),
            Just("setrange"),
            Just("getex"),
            Just("rename"),
            Just("incrbyfloat"),
            Just("flushdb"),
        ];
        (name, key.clone(), key, val, n).prop_map(|(name, k, k2, v, n)| {
            let n = n.to_string();
            let words: Vec<&str> = match name {
                "set" => vec![name, &k, &v, "px", &n],
                "get" | "incr" | "del" | "persist" | "flushdb" => vec![name, &k],
                "expire" | "pexpire" | "incrbyfloat" => vec![name, &k, &n],
                "rename" => vec![name, &k, &k2],
                "lpop" => vec![name, &k, &n],
                "hset" => vec![name, &k, &v, &n],
                "setrange" => vec![name, &k, &n, &v],
                "getex" => vec![name, &k, "px", &n],
                _ => vec![name, &k, &v],
            };
            words.into_iter().map(String::from).collect()
        })
    }

    proptest::proptest! {
        /// Replicas applying the same log (argv + stamped time) stay identical, and every
        /// intermediate keyspace survives a snapshot round trip.
        #[test]
        fn replicas_converge_and_snapshots_round_trip(
            script in proptest::collection::vec((arb_command(), 0u64..20), 1..40)
        ) {
            let mut a = Keyspace::new();
            let mut b = Keyspace::new();
            let mut now = 1_000u64;
            for (cmd, dt) in &script {
                now += dt;
                let words: Vec<&str> = cmd.iter().map(String::as_str).collect();
                let argv = argv(&words);
                let ra = apply_argv(&mut a, &argv, now);
                let rb = apply_argv(&mut b, &argv, now);
                proptest::prop_assert_eq!(ra, rb);
                proptest::prop_assert_eq!(&a, &b);
                let expired = a.sample_expired(now, 2);
                proptest::prop_assert_eq!(
                    a.remove_expired(&expired, now),
                    b.remove_expired(&expired, now)
                );
                let mut snap = Vec::new();
                crate::keyspace::codec::encode(&a, &mut snap);
                let back = crate::keyspace::codec::decode(&snap).expect("round trip");
                proptest::prop_assert_eq!(&back, &a);
            }
        }
    }
}
