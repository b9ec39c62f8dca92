//! Redis 7 functions: `FUNCTION LOAD|LIST|DELETE|FLUSH|DUMP|RESTORE|STATS|KILL|HELP`,
//! `FCALL`, `FCALL_RO` (docs/scripting.md, "Functions").
//!
//! - [`Registry`]: the libraries, replicated state held by the keyspace
//!   (`Keyspace::functions`) and carried by snapshots as the reserved record
//!   `keyspace::FUNCTIONS_KEY`, whose value is the [`Registry::dump`] payload.
//! - [`apply`]: FUNCTION as a log entry (`Request::Command`), deterministic on every replica:
//!   LOAD runs the library's top level in Redis's load environment
//!   ([`engine::register_library`]) with a fixed instruction budget.
//! - [`apply_fcall`]: a `Request::Script` entry with [`SCRIPT_FCALL`] (body = the function's
//!   name): the library is looked up at apply time and run by the scripting engine like EVAL.
//! - [`execute`]: the server side — FCALL proposing, FCALL_RO / `no-writes` functions on the
//!   read path, FUNCTION reads served from the node's applied state.
//!
//! Dump payload (a deviation: Redis's is RDB-based; this one is only read by sdr):
//! ```text
//! magic "SDRF" | version u8 (=1) | nlibs varint | (code:bytes){nlibs} | crc32c u32le
//! ```
//! (`bytes` = varint length + raw bytes, `crate::codec_core`). Libraries are in name order.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use crate::clock;
use crate::codec_core::{put_bytes, put_varint, Reader};
use crate::keyspace::{glob_match, Keyspace};
use crate::raft::types::{SCRIPT_FCALL, SCRIPT_SHARDED};
use crate::raft::Request;
use crate::resp::{parse_i64, ErrorCode, Frame};
use crate::server::state::Node;

use super::engine::{self, Access, Script};
use super::Limits;

const DUMP_MAGIC: &[u8; 4] = b"SDRF";
const DUMP_VERSION: u8 = 1;

/// Function flags, in the order Redis lists them.
pub const FLAG_NAMES: [&str; 5] = [
    "no-writes",
    "allow-oom",
    "allow-stale",
    "no-cluster",
    "allow-cross-slot-keys",
];
const NO_WRITES: u8 = 1;
const NO_CLUSTER: u8 = 1 << 3;

/// One registered function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionInfo {
    pub name: String,
    pub description: Option<Bytes>,
    /// Bit i = [`FLAG_NAMES`]`[i]`.
    pub flags: u8,
}

impl FunctionInfo {
    pub fn no_writes(&self) -> bool {
        self.flags & NO_WRITES != 0
    }
}

/// One library: its name, its code as loaded (metadata line included) and its functions
/// (sorted by name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Library {
    pub name: String,
    pub code: Bytes,
    pub functions: Vec<FunctionInfo>,
}

/// The libraries of a group (name order; function names are unique across them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Registry {
    libs: BTreeMap<String, Arc<Library>>,
}

/// Library names (and function names) as Redis: ASCII letters, digits, `_`, non-empty.
fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

const BAD_NAME: &str = "Library names can only contain letters, numbers, or underscores(_) and \
                        must be at least one character long";

/// The library name in a `#!lua name=<lib>` first line (Redis's
/// `functionExtractLibMetaData` and its error texts).
pub fn library_name(code: &[u8]) -> Result<String, String> {
    if !code.starts_with(b"#!") {
        return Err("Missing library metadata".into());
    }
    let Some(end) = code.iter().position(|&b| b == b'\n') else {
        return Err("Invalid library metadata".into());
    };
    let line = String::from_utf8_lossy(&code[..end]);
    let parts: Vec<&str> = line.split_ascii_whitespace().collect();
    let Some(first) = parts.first() else {
        return Err("Invalid library metadata".into());
    };
    let engine = &first[2..];
    let mut name = None;
    for p in &parts[1..] {
        if p.len() >= 5 && p[..5].eq_ignore_ascii_case("name=") {
            if name.is_some() {
                return Err(
                    "Invalid metadata value, name argument was given multiple times".into(),
                );
            }
            name = Some(p[5..].to_string());
            continue;
        }
        return Err(format!("Invalid metadata value given: {p}"));
    }
    let Some(name) = name else {
        return Err("Library name was not given".into());
    };
    if !valid_name(&name) {
        return Err(BAD_NAME.into());
    }
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(format!("Engine '{engine}' not found"));
    }
    Ok(name)
}

/// Compiles and runs a library's top level, returning the library (Redis's
/// `functionsCreateWithLibraryCtx` minus the collision checks).
pub fn compile_library(code: &Bytes) -> Result<Library, String> {
    let name = library_name(code)?;
    let registered = engine::register_library(code)?;
    if registered.is_empty() {
        return Err("No functions registered".into());
    }
    let mut functions: Vec<FunctionInfo> = registered
        .into_iter()
        .map(|r| FunctionInfo {
            name: r.name,
            description: r.description,
            flags: r.flags.iter().fold(0u8, |acc, f| {
                acc | FLAG_NAMES.iter().position(|n| n == f).map_or(0, |i| 1 << i)
            }),
        })
        .collect();
    functions.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Library {
        name,
        code: code.clone(),
        functions,
    })
}

/// Why a dump payload was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PayloadError {
    #[error("DUMP payload version or checksum are wrong")]
    VersionOrChecksum,
    #[error("{0}")]
    Library(String),
}

impl Registry {
    pub fn is_empty(&self) -> bool {
        self.libs.is_empty()
    }

    pub fn libraries(&self) -> impl Iterator<Item = &Library> {
        self.libs.values().map(|l| &**l)
    }

    pub fn functions_count(&self) -> usize {
        self.libs.values().map(|l| l.functions.len()).sum()
    }

    /// The function `name` (case-insensitive, as Redis's function dictionary) and its library.
    pub fn function(&self, name: &str) -> Option<(&Library, &FunctionInfo)> {
        self.libs.values().find_map(|l| {
            l.functions
                .iter()
                .find(|f| f.name.eq_ignore_ascii_case(name))
                .map(|f| (&**l, f))
        })
    }

    /// Adds `lib`: `Library '<name>' already exists` unless `replace`, and `Function <f>
    /// already exists` if another library has one of its functions.
    fn link(&mut self, lib: Library, replace: bool, quoted: bool) -> Result<(), String> {
        if self.libs.contains_key(&lib.name) && !replace {
            return Err(if quoted {
                format!("Library '{}' already exists", lib.name)
            } else {
                format!("Library {} already exists", lib.name)
            });
        }
        for f in &lib.functions {
            if let Some((other, _)) = self.function(&f.name) {
                if other.name != lib.name {
                    return Err(format!("Function {} already exists", f.name));
                }
            }
        }
        self.libs.insert(lib.name.clone(), Arc::new(lib));
        Ok(())
    }

    /// The dump payload (module docs); the same bytes on every replica.
    pub fn dump(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(DUMP_MAGIC);
        out.push(DUMP_VERSION);
        put_varint(&mut out, self.libs.len() as u64);
        for l in self.libs.values() {
            put_bytes(&mut out, &l.code);
        }
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// The library codes of a dump payload, checked (magic, version, checksum, lengths
    /// against the bytes present, no trailing bytes).
    pub fn parse_payload(payload: &[u8]) -> Result<Vec<Bytes>, PayloadError> {
        let bad = || PayloadError::VersionOrChecksum;
        if payload.len() < DUMP_MAGIC.len() + 1 + 1 + 4 {
            return Err(bad());
        }
        let (body, crc) = payload.split_at(payload.len() - 4);
        if &body[..4] != DUMP_MAGIC || body[4] != DUMP_VERSION {
            return Err(bad());
        }
        let stored = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
        if stored != crc32c::crc32c(body) {
            return Err(bad());
        }
        let mut r = Reader::at(body, 5);
        let n = r.count("library count", 1).map_err(|_| bad())?;
        let mut codes = Vec::new();
        for _ in 0..n {
            codes.push(Bytes::copy_from_slice(
                r.bytes("library code").map_err(|_| bad())?,
            ));
        }
        if r.remaining() != 0 {
            return Err(bad());
        }
        Ok(codes)
    }

    /// A registry from a dump payload (snapshot decode, FUNCTION RESTORE ... FLUSH).
    pub fn restore(payload: &[u8]) -> Result<Registry, PayloadError> {
        let mut reg = Registry::default();
        for code in Registry::parse_payload(payload)? {
            let lib = compile_library(&code).map_err(PayloadError::Library)?;
            reg.link(lib, false, false).map_err(PayloadError::Library)?;
        }
        Ok(reg)
    }
}

/// `ERR wrong number of arguments for 'function|<sub>' command`.
fn sub_arity(sub: &str) -> Frame {
    Frame::err(format!(
        "wrong number of arguments for 'function|{sub}' command"
    ))
}

/// Redis's `addReplySubcommandSyntaxError` (FLUSH and RESTORE with too many arguments).
fn sub_syntax(argv: &[Bytes]) -> Frame {
    Frame::err(format!(
        "unknown subcommand or wrong number of arguments for '{}'. Try FUNCTION HELP.",
        String::from_utf8_lossy(&argv[1])
    ))
}

fn lower(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_ascii_lowercase()
}

/// FUNCTION as the state machine applies it (a `Request::Command`, or inside a
/// transaction): every subcommand, deterministic. LIST/DUMP/STATS read the registry.
pub fn apply(ks: &mut Keyspace, argv: &[Bytes]) -> Frame {
    if argv.len() < 2 {
        return crate::cmd::wrong_args("function");
    }
    let sub = lower(&argv[1]);
    match sub.as_str() {
        "load" => {
            if argv.len() < 3 {
                return sub_arity("load");
            }
            let mut replace = false;
            for a in &argv[2..argv.len() - 1] {
                if lower(a) == "replace" {
                    replace = true;
                } else {
                    return Frame::err(format!(
                        "Unknown option given: {}",
                        String::from_utf8_lossy(a)
                    ));
                }
            }
            let code = &argv[argv.len() - 1];
            let name = match library_name(code) {
                Ok(n) => n,
                Err(e) => return Frame::err(e),
            };
            if !replace && ks.functions().libs.contains_key(&name) {
                return Frame::err(format!("Library '{name}' already exists"));
            }
            let lib = match compile_library(code) {
                Ok(l) => l,
                Err(e) => return Frame::err(e),
            };
            let mut reg = ks.functions().clone();
            if let Err(e) = reg.link(lib, replace, true) {
                return Frame::err(e);
            }
            ks.set_functions(reg);
            Frame::Bulk(Bytes::from(name))
        }
        "delete" => {
            if argv.len() != 3 {
                return sub_arity("delete");
            }
            let name = String::from_utf8_lossy(&argv[2]).into_owned();
            let mut reg = ks.functions().clone();
            if reg.libs.remove(&name).is_none() {
                return Frame::err("Library not found");
            }
            ks.set_functions(reg);
            Frame::ok()
        }
        "flush" => {
            if argv.len() > 3 {
                return sub_syntax(argv);
            }
            if argv.len() == 3 && !matches!(lower(&argv[2]).as_str(), "sync" | "async") {
                return Frame::err("FUNCTION FLUSH only supports SYNC|ASYNC option");
            }
            ks.set_functions(Registry::default());
            Frame::ok()
        }
        "restore" => {
            if argv.len() < 3 {
                return sub_arity("restore");
            }
            if argv.len() > 4 {
                return sub_syntax(argv);
            }
            let policy = match argv.get(3).map(|p| lower(p)) {
                None => "append".to_string(),
                Some(p) if matches!(p.as_str(), "append" | "replace" | "flush") => p,
                Some(_) => {
                    return Frame::err(
                        "Wrong restore policy given, value should be either FLUSH, APPEND or \
                         REPLACE.",
                    )
                }
            };
            let codes = match Registry::parse_payload(&argv[2]) {
                Ok(c) => c,
                Err(e) => return Frame::err(e.to_string()),
            };
            let mut incoming = Registry::default();
            for code in codes {
                let lib = match compile_library(&code) {
                    Ok(l) => l,
                    Err(e) => return Frame::err(e),
                };
                if let Err(e) = incoming.link(lib, false, false) {
                    return Frame::err(e);
                }
            }
            let reg = if policy == "flush" {
                incoming
            } else {
                let mut reg = ks.functions().clone();
                if policy == "replace" {
                    for name in incoming.libs.keys() {
                        reg.libs.remove(name);
                    }
                }
                for lib in incoming.libs.into_values() {
                    let lib = Arc::unwrap_or_clone(lib);
                    if let Err(e) = reg.link(lib, false, false) {
                        return Frame::err(e);
                    }
                }
                reg
            };
            ks.set_functions(reg);
            Frame::ok()
        }
        _ => read(ks.functions(), argv),
    }
}

/// The FUNCTION subcommands that change the libraries (log entries).
pub fn is_write(argv: &[Bytes]) -> bool {
    argv.len() >= 2
        && matches!(
            lower(&argv[1]).as_str(),
            "load" | "delete" | "flush" | "restore"
        )
}

/// FUNCTION LIST / DUMP / STATS / KILL / HELP against `reg` (no script is ever running here:
/// STATS's `running_script` is nil and KILL `NOTBUSY`; the server side answers those two
/// for the node's read-only runs).
pub fn read(reg: &Registry, argv: &[Bytes]) -> Frame {
    let sub = lower(&argv[1]);
    match sub.as_str() {
        "list" => list(reg, argv),
        "dump" if argv.len() == 2 => Frame::Bulk(Bytes::from(reg.dump())),
        "dump" => sub_arity("dump"),
        "stats" if argv.len() == 2 => stats(reg, None),
        "stats" => sub_arity("stats"),
        "kill" if argv.len() == 2 => {
            Frame::error(ErrorCode::NotBusy, "No scripts in execution right now.")
        }
        "kill" => sub_arity("kill"),
        "help" if argv.len() == 2 => help(),
        _ => Frame::err(format!(
            "unknown subcommand '{}'. Try FUNCTION HELP.",
            String::from_utf8_lossy(&argv[1])
        )),
    }
}

fn list(reg: &Registry, argv: &[Bytes]) -> Frame {
    let mut with_code = false;
    let mut pattern: Option<&Bytes> = None;
    let mut i = 2;
    while i < argv.len() {
        let a = lower(&argv[i]);
        if !with_code && a == "withcode" {
            with_code = true;
        } else if pattern.is_none() && a == "libraryname" {
            if i >= argv.len() - 1 {
                return Frame::err("library name argument was not given");
            }
            i += 1;
            pattern = Some(&argv[i]);
        } else {
            return Frame::err(format!(
                "Unknown argument {}",
                String::from_utf8_lossy(&argv[i])
            ));
        }
        i += 1;
    }
    let b = |s: &str| Frame::bulk(s.to_string());
    Frame::Array(
        reg.libraries()
            .filter(|l| pattern.is_none_or(|p| glob_nocase(p, l.name.as_bytes())))
            .map(|l| {
                let functions = l
                    .functions
                    .iter()
                    .map(|f| {
                        Frame::Map(vec![
                            (b("name"), b(&f.name)),
                            (
                                b("description"),
                                f.description.clone().map_or(Frame::Null, Frame::Bulk),
                            ),
                            (
                                b("flags"),
                                Frame::Set(
                                    FLAG_NAMES
                                        .iter()
                                        .enumerate()
                                        .filter(|(i, _)| f.flags & (1 << i) != 0)
                                        .map(|(_, n)| Frame::Simple((*n).to_string()))
                                        .collect(),
                                ),
                            ),
                        ])
                    })
                    .collect();
                let mut m = vec![
                    (b("library_name"), b(&l.name)),
                    (b("engine"), b("LUA")),
                    (b("functions"), Frame::Array(functions)),
                ];
                if with_code {
                    m.push((b("library_code"), Frame::Bulk(l.code.clone())));
                }
                Frame::Map(m)
            })
            .collect(),
    )
}

/// Redis matches LIBRARYNAME patterns case-insensitively (`stringmatchlen(..., nocase=1)`).
fn glob_nocase(pattern: &[u8], s: &[u8]) -> bool {
    glob_match(&pattern.to_ascii_lowercase(), &s.to_ascii_lowercase())
}

/// FUNCTION STATS; `running`: the name and argv of a function running now on this node.
fn stats(reg: &Registry, running: Option<(&str, &[Bytes])>) -> Frame {
    let b = |s: &str| Frame::bulk(s.to_string());
    let running = match running {
        None => Frame::Null,
        Some((name, argv)) => Frame::Map(vec![
            (b("name"), b(name)),
            (
                b("command"),
                Frame::Array(argv.iter().cloned().map(Frame::Bulk).collect()),
            ),
            (b("duration_ms"), Frame::Integer(0)),
        ]),
    };
    Frame::Map(vec![
        (b("running_script"), running),
        (
            b("engines"),
            Frame::Map(vec![(
                b("LUA"),
                Frame::Map(vec![
                    (b("libraries_count"), Frame::Integer(reg.libs.len() as i64)),
                    (
                        b("functions_count"),
                        Frame::Integer(reg.functions_count() as i64),
                    ),
                ]),
            )]),
        ),
    ])
}

fn help() -> Frame {
    const LINES: &[&str] = &[
        "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "LOAD [REPLACE] <FUNCTION CODE>",
        "    Create a new library with the given library name and code.",
        "DELETE <LIBRARY NAME>",
        "    Delete the given library.",
        "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
        "    Return general information on all the libraries:",
        "    * Library name",
        "    * The engine used to run the Library",
        "    * Library description",
        "    * Functions list",
        "    * Library code (if WITHCODE is given)",
        "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
        "STATS",
        "    Return information about the current function running:",
        "    * Function name",
        "    * Command used to run the function",
        "    * Duration in MS that the function is running",
        "    If no function is running, return nil",
        "    In addition, returns a list of available engines.",
        "KILL",
        "    Kill the current running function.",
        "FLUSH [ASYNC|SYNC]",
        "    Delete all the libraries.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the libraries.",
        "    * SYNC: Synchronously flush the libraries.",
        "DUMP",
        "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
        "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
        "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
        "    control how to handle existing libraries (default APPEND):",
        "    * FLUSH: delete all existing libraries.",
        "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
        "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
        "      libraries with the new libraries (notice that even on this option there is a chance of failure",
        "      in case of functions name collision with another library).",
        "HELP",
        "    Prints this help.",
    ];
    Frame::Array(
        LINES
            .iter()
            .map(|l| Frame::Simple((*l).to_string()))
            .collect(),
    )
}

/// FCALL's numkeys split, with Redis's FCALL error texts.
pub fn split_fcall(argv: &[Bytes]) -> Result<(&[Bytes], &[Bytes]), Frame> {
    let n = parse_i64(&argv[2]).ok_or_else(|| Frame::err("Bad number of keys provided"))?;
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

/// Applies a `Request::Script` entry flagged [`SCRIPT_FCALL`] (`name` = the function):
/// looked up now, at apply time, so every replica runs the library it holds at this index.
pub fn apply_fcall(
    ks: &mut Keyspace,
    name: &[u8],
    keys: &[Bytes],
    args: &[Bytes],
    now_ms: u64,
    budget: u64,
    flags: u8,
) -> Frame {
    let name = String::from_utf8_lossy(name).into_owned();
    let Some((lib, f)) = ks.functions().function(&name) else {
        return Frame::err("Function not found");
    };
    let code = lib.code.clone();
    let read_only = f.no_writes();
    engine::run(
        Access::Write(ks),
        &Script {
            body: &code,
            keys,
            args,
            now_ms,
            read_only,
            limits: Limits {
                budget,
                memory: super::MEMORY_LIMIT,
            },
            sharded: flags & SCRIPT_SHARDED != 0,
            kill: None,
            function: Some(&name),
        },
    )
}

/// An FCALL / FCALL_RO argv queued in a MULTI/EXEC transaction (constant budget, as EVAL's
/// there).
pub fn apply_fcall_argv(ks: &mut Keyspace, argv: &[Bytes], now_ms: u64) -> Frame {
    if argv.len() < 3 {
        return crate::cmd::wrong_args(&lower(&argv[0]));
    }
    let (keys, args) = match split_fcall(argv) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let budget = Limits::for_threshold_ms(5000).budget;
    apply_fcall(ks, &argv[1], keys, args, now_ms, budget, 0)
}

/// Runs FUNCTION or FCALL/FCALL_RO (arity checked and routed by the session). `local_read`:
/// a read-only function runs on local state without the barrier (READONLY on a follower).
pub async fn execute(node: &Arc<Node>, db: u32, argv: &[Bytes], local_read: bool) -> Frame {
    let name = lower(&argv[0]);
    if name == "function" {
        return function(node, argv).await;
    }
    let (keys, args) = match split_fcall(argv) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let fname = String::from_utf8_lossy(&argv[1]).into_owned();
    let (code, no_writes, no_cluster) = {
        let ks = match node.keyspace.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        match ks.functions().function(&fname) {
            Some((l, f)) => (l.code.clone(), f.no_writes(), f.flags & NO_CLUSTER != 0),
            None => return Frame::err("Function not found"),
        }
    };
    let ro_command = name == "fcall_ro";
    if ro_command && !no_writes {
        return Frame::err("Can not execute a script with write flag using *_ro command.");
    }
    if no_cluster && node.topology.is_some() {
        return Frame::err("Can not run script on cluster, 'no-cluster' flag is set.");
    }
    if no_writes {
        return super::commands::read_only_run(
            node,
            db,
            &code,
            keys,
            args,
            local_read,
            Some(&fname),
        )
        .await;
    }
    let bytes: usize = argv.iter().map(|a| a.len()).sum();
    if bytes > crate::errors::MAX_COMMAND_BYTES {
        return crate::errors::command_too_large(bytes);
    }
    let now_ms = match node.keyspace.read() {
        Ok(k) => k.timeline(clock::now_ms()),
        Err(p) => p.into_inner().timeline(clock::now_ms()),
    };
    let sharded = node.topology.as_ref().is_some_and(|t| t.is_sharded());
    let req = Request::Script {
        now_ms,
        body: argv[1].clone(),
        keys: keys.to_vec(),
        args: args.to_vec(),
        budget: super::commands::limits(node).budget,
        flags: SCRIPT_FCALL | if sharded { SCRIPT_SHARDED } else { 0 },
    };
    super::commands::propose(node, Request::in_db(db, req)).await
}

async fn function(node: &Arc<Node>, argv: &[Bytes]) -> Frame {
    if is_write(argv) {
        let now_ms = match node.keyspace.read() {
            Ok(k) => k.timeline(clock::now_ms()),
            Err(p) => p.into_inner().timeline(clock::now_ms()),
        };
        let req = Request::Command {
            now_ms,
            argv: argv.to_vec(),
        };
        return super::commands::propose(node, req).await;
    }
    let sub = lower(&argv[1]);
    match (sub.as_str(), argv.len()) {
        ("kill", 2) => super::commands::kill_reply(node),
        _ => {
            let ks = match node.keyspace.read() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            read(ks.functions(), argv)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn fx(ks: &mut Keyspace, args: &[&str]) -> Frame {
        let argv: Vec<Bytes> = args.iter().map(|a| b(a)).collect();
        crate::cmd::apply_argv(ks, &argv, 1000)
    }

    fn fcall(ks: &mut Keyspace, name: &str, keys: &[&str], args: &[&str]) -> Frame {
        let keys: Vec<Bytes> = keys.iter().map(|k| b(k)).collect();
        let args: Vec<Bytes> = args.iter().map(|k| b(k)).collect();
        apply_fcall(ks, name.as_bytes(), &keys, &args, 1000, 10_000_000, 0)
    }

    const LIB: &str = "#!lua name=mylib\n\
        redis.register_function('set_get', function(keys, args) \
          redis.call('set', keys[1], args[1]) return redis.call('get', keys[1]) end)\n\
        redis.register_function{function_name='ro', callback=function(keys) \
          return redis.call('get', keys[1]) end, flags={'no-writes'}, description='reads'}";

    #[test]
    fn metadata_errors_are_redis_texts() {
        assert_eq!(
            library_name(b"return 1"),
            Err("Missing library metadata".into())
        );
        assert_eq!(
            library_name(b"#!lua"),
            Err("Invalid library metadata".into())
        );
        assert_eq!(
            library_name(b"#!lua\nx"),
            Err("Library name was not given".into())
        );
        assert_eq!(
            library_name(b"#!lua name=a foo=bar\nx"),
            Err("Invalid metadata value given: foo=bar".into())
        );
        assert_eq!(
            library_name(b"#!py name=a\nx"),
            Err("Engine 'py' not found".into())
        );
        assert_eq!(library_name(b"#!lua name=a-b\nx"), Err(BAD_NAME.into()));
        assert_eq!(library_name(b"#!LUA name=ok_1\nx"), Ok("ok_1".into()));
    }

    #[test]
    fn load_call_replace_delete_flush() {
        let mut ks = Keyspace::new();
        assert_eq!(
            fx(&mut ks, &["function", "load", LIB]),
            Frame::bulk("mylib")
        );
        assert_eq!(
            fx(&mut ks, &["function", "load", LIB]),
            Frame::err("Library 'mylib' already exists")
        );
        assert_eq!(fcall(&mut ks, "set_get", &["k"], &["v"]), Frame::bulk("v"));
        assert_eq!(fcall(&mut ks, "ro", &["k"], &[]), Frame::bulk("v"));
        assert_eq!(
            fcall(&mut ks, "nope", &[], &[]),
            Frame::err("Function not found")
        );
        // A no-writes function refuses writes even on the write path.
        let lib2 = "#!lua name=lib2\nredis.register_function{function_name='w', \
                    callback=function(keys) return redis.call('set', keys[1], 1) end, \
                    flags={'no-writes'}}";
        assert_eq!(
            fx(&mut ks, &["function", "load", lib2]),
            Frame::bulk("lib2")
        );
        let r = fcall(&mut ks, "w", &["k"], &[]);
        assert!(
            matches!(&r, Frame::Error(e) if e.starts_with("ERR Write commands are not allowed from read-only scripts.") && e.ends_with("script: w, on @user_function:2.")),
            "{r:?}"
        );
        // A colliding function in another library.
        let clash = "#!lua name=other\nredis.register_function('ro', function() return 1 end)";
        assert_eq!(
            fx(&mut ks, &["function", "load", clash]),
            Frame::err("Function ro already exists")
        );
        // REPLACE swaps the code.
        let v2 = "#!lua name=mylib\nredis.register_function('set_get', function() return 2 end)";
        assert_eq!(
            fx(&mut ks, &["function", "load", "REPLACE", v2]),
            Frame::bulk("mylib")
        );
        assert_eq!(fcall(&mut ks, "set_get", &[], &[]), Frame::Integer(2));
        assert_eq!(
            fcall(&mut ks, "ro", &["k"], &[]),
            Frame::err("Function not found")
        );
        assert_eq!(
            fx(&mut ks, &["function", "delete", "nope"]),
            Frame::err("Library not found")
        );
        assert_eq!(fx(&mut ks, &["function", "delete", "lib2"]), Frame::ok());
        assert_eq!(ks.functions().libraries().count(), 1);
        assert_eq!(
            fx(&mut ks, &["function", "flush", "bad"]),
            Frame::err("FUNCTION FLUSH only supports SYNC|ASYNC option")
        );
        assert_eq!(fx(&mut ks, &["function", "flush"]), Frame::ok());
        assert!(ks.functions().is_empty());
        // FLUSHALL-proof bookkeeping: no record left, no dedup record counted.
        assert_eq!(ks.records_len(), 0);
    }

    #[test]
    fn load_errors_are_redis_texts() {
        let mut ks = Keyspace::new();
        let cases = [
            ("#!lua name=x\nreturn 1", "ERR No functions registered"),
            (
                "#!lua name=x\nredis.register_function('f2')",
                "ERR Error registering functions: ERR calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).",
            ),
            (
                "#!lua name=x\nredis.register_function{function_name='f', callback=function() end, flags={'bad'}}",
                "ERR Error registering functions: ERR unknown flag given",
            ),
            (
                "#!lua name=x\nstring.len('a')",
                "ERR Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'string'",
            ),
            (
                "#!lua name=x\n+",
                "ERR Error compiling function: user_function:2: unexpected symbol near '+'",
            ),
            (
                "#!lua name=x\nredis.register_function('f', function() end) redis.register_function('f', function() end)",
                "ERR Error registering functions: ERR Function already exists in the library",
            ),
            (
                "#!lua name=x\nredis.register_function('f-2', function() end)",
                &format!("ERR Error registering functions: ERR {BAD_NAME}"),
            ),
        ];
        for (code, want) in cases {
            assert_eq!(
                fx(&mut ks, &["function", "load", code]),
                Frame::Error(want.to_string()),
                "{code}"
            );
        }
        let r = fx(
            &mut ks,
            &["function", "load", "#!lua name=x\nwhile true do end"],
        );
        assert_eq!(
            r,
            Frame::err("Error registering functions: FUNCTION LOAD timeout")
        );
        assert!(ks.functions().is_empty());
    }

    #[test]
    fn dump_restore_policies_and_payload_checks() {
        let mut ks = Keyspace::new();
        fx(&mut ks, &["function", "load", LIB]);
        let Frame::Bulk(dump) = fx(&mut ks, &["function", "dump"]) else {
            panic!("dump is a bulk")
        };
        let dump = String::from_utf8_lossy(&dump).into_owned();
        // The payload is binary; go through bytes, not strings, from here on.
        let payload = ks.functions().dump();
        assert_eq!(Registry::parse_payload(&payload).map(|c| c.len()), Ok(1));
        for cut in 0..payload.len() {
            assert!(
                Registry::parse_payload(&payload[..cut]).is_err(),
                "prefix {cut}"
            );
        }
        let mut bad = payload.clone();
        bad[6] ^= 1;
        assert_eq!(
            Registry::parse_payload(&bad),
            Err(PayloadError::VersionOrChecksum)
        );
        let restore = |ks: &mut Keyspace, p: &[u8], policy: Option<&str>| {
            let mut argv = vec![b("function"), b("restore"), Bytes::copy_from_slice(p)];
            if let Some(x) = policy {
                argv.push(b(x));
            }
            crate::cmd::apply_argv(ks, &argv, 1)
        };
        assert_eq!(
            restore(&mut ks, &payload, None),
            Frame::err("Library mylib already exists")
        );
        assert_eq!(restore(&mut ks, &payload, Some("REPLACE")), Frame::ok());
        assert_eq!(
            restore(&mut ks, &payload, Some("bogus")),
            Frame::err(
                "Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE."
            )
        );
        assert_eq!(
            restore(&mut ks, b"garbage", None),
            Frame::err("DUMP payload version or checksum are wrong")
        );
        fx(&mut ks, &["function", "flush"]);
        assert_eq!(restore(&mut ks, &payload, None), Frame::ok());
        assert_eq!(fcall(&mut ks, "set_get", &["a"], &["1"]), Frame::bulk("1"));
        assert_eq!(
            restore(&mut ks, &Registry::default().dump(), Some("FLUSH")),
            Frame::ok()
        );
        assert!(ks.functions().is_empty());
        assert!(!dump.is_empty());
    }

    /// The libraries are part of the keyspace snapshot; a keyspace encoded before functions
    /// existed (no record) decodes with none.
    #[test]
    fn libraries_survive_the_snapshot_codec() {
        let mut ks = Keyspace::new();
        fx(&mut ks, &["set", "k", "v"]);
        let mut old = Vec::new();
        crate::keyspace::codec::encode(&ks, &mut old);
        fx(&mut ks, &["function", "load", LIB]);
        let mut buf = Vec::new();
        crate::keyspace::codec::encode(&ks, &mut buf);
        let mut back = crate::keyspace::codec::decode(&buf).expect("decodes");
        assert_eq!(back, ks);
        assert_eq!(back.functions(), ks.functions());
        assert_eq!(
            fcall(&mut back, "set_get", &["k"], &["w"]),
            Frame::bulk("w")
        );
        let older = crate::keyspace::codec::decode(&old).expect("decodes");
        assert!(older.functions().is_empty());
        assert_eq!(older.len(), 1);
        // FLUSHALL keeps the libraries (as Redis).
        fx(&mut ks, &["flushall"]);
        assert_eq!(ks.functions().libraries().count(), 1);
    }

    #[test]
    fn list_and_stats_replies() {
        let mut ks = Keyspace::new();
        fx(&mut ks, &["function", "load", LIB]);
        let bs = |s: &str| Frame::bulk(s.to_string());
        let r = fx(&mut ks, &["function", "list", "libraryname", "MY*"]);
        let Frame::Array(libs) = &r else {
            panic!("{r:?}")
        };
        assert_eq!(libs.len(), 1);
        let Frame::Map(m) = &libs[0] else {
            panic!("{r:?}")
        };
        assert_eq!(m[0], (bs("library_name"), bs("mylib")));
        assert_eq!(m.len(), 3);
        let Frame::Array(fs) = &m[2].1 else {
            panic!("{r:?}")
        };
        assert_eq!(
            fs[0],
            Frame::Map(vec![
                (bs("name"), bs("ro")),
                (bs("description"), bs("reads")),
                (
                    bs("flags"),
                    Frame::Set(vec![Frame::Simple("no-writes".into())])
                ),
            ])
        );
        assert_eq!(
            fx(&mut ks, &["function", "list", "libraryname", "x*"]),
            Frame::Array(vec![])
        );
        assert_eq!(
            fx(&mut ks, &["function", "list", "libraryname"]),
            Frame::err("library name argument was not given")
        );
        assert_eq!(
            fx(&mut ks, &["function", "list", "foo"]),
            Frame::err("Unknown argument foo")
        );
        assert_eq!(
            fx(&mut ks, &["function", "stats"]),
            Frame::Map(vec![
                (bs("running_script"), Frame::Null),
                (
                    bs("engines"),
                    Frame::Map(vec![(
                        bs("LUA"),
                        Frame::Map(vec![
                            (bs("libraries_count"), Frame::Integer(1)),
                            (bs("functions_count"), Frame::Integer(2)),
                        ])
                    )])
                ),
            ])
        );
    }

    #[test]
    fn fcall_entries_apply_alike_on_two_replicas() {
        let (mut a, mut c) = (Keyspace::new(), Keyspace::new());
        for ks in [&mut a, &mut c] {
            fx(ks, &["function", "load", LIB]);
        }
        let ra = fcall(&mut a, "set_get", &["x"], &["1"]);
        let rc = fcall(&mut c, "set_get", &["x"], &["1"]);
        assert_eq!(ra, rc);
        assert_eq!(a, c);
    }
}
