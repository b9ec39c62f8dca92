//! One script run: a fresh Lua 5.1 state per run, sandboxed as Redis 7.0's (no `os`, `io`,
//! `loadfile`, `dofile`, `print`, `require`; globals and library tables read-only; reading
//! an undefined global is an error), the `redis` API, `KEYS`/`ARGV`, and `redis.call`
//! running the command through `cmd` against the keyspace this run is handed.
//!
//! Determinism (a run that may write is replicated as its body and executed on every
//! replica): the only inputs are the keyspace, the script, KEYS/ARGV, the entry's `now_ms`
//! (also `TIME` inside the script) and its [`Limits`]; `math.random` is reseeded to 0 per
//! run; commands whose reply is random are refused in a run that may write; the budget is
//! counted in Lua instructions, so every replica aborts a runaway script at the same one.
//!
//! A fresh state per run costs some microseconds, and buys isolation: nothing a script
//! does survives it, so one script cannot change what another sees.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use mlua::{HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, VmState};

use crate::cmd::{self, Command, Kind};
use crate::keyspace::Keyspace;
use crate::resp::Frame;

use super::convert::{error_frame, fmt_g17, frame_to_lua, lua_to_frame};
use super::{libs, sha1hex, Limits, Shebang};

/// The keyspace a run works on: the state machine's (a replicated run, writes allowed
/// unless the script is read-only) or a read lock's (the read path: writes refused).
pub enum Access<'a> {
    /// The root keyspace with the entry's database active (`redis.call('SELECT', n)`
    /// switches it; the state machine restores the entry's database afterwards).
    Write(&'a mut Keyspace),
    /// The root keyspace at rest and the database the script reads (SELECT switches it for
    /// the rest of the script only).
    Read(&'a Keyspace, u32),
}

/// Everything one run needs besides the keyspace.
pub struct Script<'a> {
    /// The body as the client sent it (shebang included).
    pub body: &'a [u8],
    pub keys: &'a [Bytes],
    pub args: &'a [Bytes],
    pub now_ms: u64,
    /// EVAL_RO / EVALSHA_RO or a `no-writes` script: write commands are refused.
    pub read_only: bool,
    pub limits: Limits,
    /// A sharded cluster: every key the script touches must hash to one slot.
    pub sharded: bool,
    /// Set by SCRIPT KILL (only runs on the read path have one).
    pub kill: Option<&'a AtomicBool>,
    /// FCALL: `body` is a function library (`#!lua name=...` first line) and this names the
    /// function it registers that the run calls with `(keys, args)` (no KEYS/ARGV globals).
    pub function: Option<&'a str>,
}

/// Lua instructions between two looks at the budget and the kill flag.
const HOOK_EVERY: u32 = 1000;

/// Commands whose reply is random: refused in a run that may write (its replicas would draw
/// differently), served in read-only runs. SPOP is not one: its draw is seeded from the
/// entry (`cmd::random::write_rng`), so every replica pops the same members.
const RANDOM_COMMANDS: &[&str] = &["hrandfield", "randomkey", "srandmember", "zrandmember"];

/// The Redis version scripts see (`redis.REDIS_VERSION`), the one sdr is compared with.
const REDIS_VERSION: &str = "7.0.15";
const REDIS_VERSION_NUM: f64 = 0x0007_000f as f64;

/// Checks a script before it becomes a log entry or runs: its shebang and that it compiles.
/// The error is Redis's reply.
pub fn check(body: &[u8]) -> Result<Shebang, Frame> {
    let sb = Shebang::parse(body).map_err(Frame::err)?;
    let lua = Lua::new_with(StdLib::NONE, LuaOptions::new())
        .map_err(|e| Frame::err(format!("Error creating the Lua state: {e}")))?;
    compile(&lua, body, &sb)?;
    Ok(sb)
}

fn compile(lua: &Lua, body: &[u8], sb: &Shebang) -> Result<mlua::Function, Frame> {
    compile_named(lua, body, sb, "@user_script")
}

fn compile_named(
    lua: &Lua,
    body: &[u8],
    sb: &Shebang,
    chunk: &str,
) -> Result<mlua::Function, Frame> {
    // The shebang line is skipped but its newline kept, so line numbers stay the user's.
    let src = &body[sb.len.min(body.len())..];
    lua.load(src)
        .set_name(chunk)
        .set_mode(mlua::ChunkMode::Text)
        .into_function()
        .map_err(|e| {
            let msg = match &e {
                mlua::Error::SyntaxError { message, .. } => message.clone(),
                other => other.to_string(),
            };
            Frame::err(format!("Error compiling script (new function): {msg}"))
        })
}

/// Per-run state shared by the Rust callbacks.
struct RunState {
    resp3: Cell<bool>,
    /// Instructions counted so far (in steps of [`HOOK_EVERY`]).
    executed: Cell<u64>,
    /// The budget ran out or SCRIPT KILL asked: every later hook and protected call errors.
    stopped: Cell<Option<Stop>>,
    /// The slot of the first key used (sharded clusters).
    slot: Cell<Option<u16>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    Budget,
    Killed,
}

/// Runs `s` against `access` and returns the client's reply. Never panics on script input:
/// every failure is an error reply.
pub fn run(access: Access<'_>, s: &Script<'_>) -> Frame {
    let sb = match s.function {
        // A library's first line is its metadata (checked by FUNCTION LOAD); the function's
        // flags arrive as `read_only`.
        Some(_) => Shebang {
            present: true,
            len: s
                .body
                .iter()
                .position(|&b| b == b'\n')
                .unwrap_or(s.body.len()),
            ..Shebang::default()
        },
        None => match Shebang::parse(s.body) {
            Ok(sb) => sb,
            Err(e) => return Frame::err(e),
        },
    };
    let read_only = s.read_only || sb.no_writes;
    // Errors name the script by SHA1, or the function by its name (as Redis).
    let sha = match s.function {
        Some(f) => f.to_string(),
        None => sha1hex(s.body),
    };
    let may_write = matches!(access, Access::Write(_)) && !read_only;
    let ks = RefCell::new(access);
    let state = Rc::new(RunState {
        resp3: Cell::new(false),
        executed: Cell::new(0),
        stopped: Cell::new(None),
        // Declared keys were routed to this slot; undeclared ones must agree with them.
        slot: Cell::new(if s.sharded {
            s.keys.first().map(|k| crate::cluster::slot::key_slot(k))
        } else {
            None
        }),
    });
    match run_inner(&ks, s, &sb, &sha, read_only, may_write, &state) {
        Ok(f) => f,
        Err(e) => match state.stopped.get() {
            Some(stop) => stopped_reply(stop, s.limits),
            None => match e {
                mlua::Error::MemoryError(_) => memory_reply(s.limits),
                other => Frame::err(format!("Error running script {sha}: {other}")),
            },
        },
    }
}

fn stopped_reply(stop: Stop, limits: Limits) -> Frame {
    match stop {
        Stop::Budget => Frame::err(format!(
            "Script exceeded its budget of {} Lua instructions (busy-reply-threshold) and was \
             aborted; the writes it made before stay applied",
            limits.budget
        )),
        Stop::Killed => Frame::err("Script killed by user with SCRIPT KILL..."),
    }
}

fn memory_reply(limits: Limits) -> Frame {
    Frame::err(format!(
        "Script ran out of memory (limit {} bytes) and was aborted",
        limits.memory
    ))
}

fn run_inner(
    ks: &RefCell<Access<'_>>,
    s: &Script<'_>,
    sb: &Shebang,
    sha: &str,
    read_only: bool,
    may_write: bool,
    state: &Rc<RunState>,
) -> mlua::Result<Frame> {
    // SAFETY: `debug` is loaded for the error handler only; the API chunk keeps a private
    // reference to `debug.getinfo` and removes `debug` from the globals before user code runs.
    let lua = unsafe {
        Lua::unsafe_new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG,
            LuaOptions::new(),
        )
    };
    lua.set_memory_limit(s.limits.memory)?;
    let chunk = if s.function.is_some() {
        "@user_function"
    } else {
        "@user_script"
    };
    let f = match compile_named(&lua, s.body, sb, chunk) {
        Ok(f) => f,
        Err(reply) => return Ok(reply),
    };
    let g = lua.globals();
    for name in ["dofile", "loadfile", "print", "module", "require"] {
        g.raw_set(name, Value::Nil)?;
    }
    let math: Table = g.raw_get("math")?;
    libs::install_random(&lua, &math)?;
    g.raw_set("bit", libs::bit_table(&lua)?)?;
    let cjson: Table = lua.load(libs::CJSON_LUA).set_name("@cjson").eval()?;
    for name in ["encode", "decode"] {
        let f: mlua::Function = cjson.raw_get(name)?;
        cjson.raw_set(name, as_c_function(&lua, f)?)?;
    }
    g.raw_set("cjson", cjson)?;
    let keys = string_array(&lua, s.keys)?;
    let args = string_array(&lua, s.args)?;
    if s.function.is_none() {
        g.raw_set("KEYS", keys.clone())?;
        g.raw_set("ARGV", args.clone())?;
    }

    // The budget and SCRIPT KILL: checked every HOOK_EVERY instructions; once stopped, every
    // check fails again, and the protected-call wrappers re-raise, so pcall cannot catch it.
    let budget = s.limits.budget;
    let hs = state.clone();
    let kill_flag = s.kill.map(|k| k as *const AtomicBool);
    let check_stop = move |hs: &RunState| -> bool {
        if hs.stopped.get().is_some() {
            return true;
        }
        // SAFETY: `kill` outlives the run (it borrows from the caller of `run`), and the
        // hook is removed with the Lua state at the end of `run_inner`.
        if let Some(k) = kill_flag {
            if unsafe { &*k }.load(Ordering::Relaxed) {
                hs.stopped.set(Some(Stop::Killed));
                return true;
            }
        }
        if budget > 0 && hs.executed.get() > budget {
            hs.stopped.set(Some(Stop::Budget));
            return true;
        }
        false
    };
    let hook_check = check_stop.clone();
    lua.set_hook(
        HookTriggers::new().every_nth_instruction(HOOK_EVERY),
        move |_, _| {
            hs.executed.set(hs.executed.get() + u64::from(HOOK_EVERY));
            if hook_check(&hs) {
                Err(mlua::Error::runtime("script stopped"))
            } else {
                Ok(VmState::Continue)
            }
        },
    );

    let result = lua.scope(|scope| {
        // redis.call is a C function as in Redis (so `return redis.call(...)` keeps the
        // script's frame for the error's line); its error travels as a `CallError`.
        let st = state.clone();
        let call = scope.create_function(move |lua, mv: MultiValue| {
            let reply = call_command(ks, s, &st, read_only, may_write, mv);
            if let Frame::Error(e) = &reply {
                return Err(mlua::Error::external(CallError(e.clone())));
            }
            frame_to_lua(lua, &reply, st.resp3.get())
        })?;
        let st = state.clone();
        let pcall = scope.create_function(move |lua, mv: MultiValue| {
            let reply = call_command(ks, s, &st, read_only, may_write, mv);
            frame_to_lua(lua, &reply, st.resp3.get())
        })?;
        let err_text = lua.create_function(|_, v: Value| Ok(call_error_text(&v)))?;
        let st = state.clone();
        let stopped = scope.create_function(move |_, ()| Ok(check_stop(&st)))?;
        let st = state.clone();
        let setresp = scope.create_function(move |_, n: u8| {
            st.resp3.set(n == 3);
            Ok(())
        })?;
        let sha1 = lua.create_function(|_, v: Value| {
            let b = match &v {
                Value::String(s) => s.as_bytes().to_vec(),
                Value::Number(n) => fmt_lua_number(*n).into_bytes(),
                Value::Integer(n) => n.to_string().into_bytes(),
                _ => Vec::new(),
            };
            Ok(sha1hex(&b))
        })?;
        let log = lua.create_function(|_, (level, msg): (u8, mlua::String)| {
            let msg = msg.to_string_lossy();
            match level {
                0 => tracing::debug!(target: "sdr::script", "{msg}"),
                1 | 2 => tracing::info!(target: "sdr::script", "{msg}"),
                _ => tracing::warn!(target: "sdr::script", "{msg}"),
            }
            Ok(())
        })?;
        let api: mlua::Function = lua.load(API_LUA).set_name("@sdr_api").into_function()?;
        let register: Value = match s.function {
            Some(_) => {
                let t: Table = lua.load(REGISTER_LUA).set_name("@sdr_register").call(())?;
                t.raw_get("register")?
            }
            None => Value::Nil,
        };
        let runner: mlua::Function = api.call((
            call,
            pcall,
            err_text,
            sha1,
            log,
            setresp,
            stopped,
            REDIS_VERSION,
            REDIS_VERSION_NUM,
            register,
        ))?;
        let (ok, v): (bool, Value) = runner.call((f, s.function, keys, args))?;
        if let Some(stop) = state.stopped.get() {
            return Ok(stopped_reply(stop, s.limits));
        }
        if ok {
            return Ok(lua_to_frame(&v, state.resp3.get()));
        }
        Ok(error_reply(&v, sha, s.limits))
    });
    lua.remove_hook();
    result
}

/// `f` behind a Rust (C) function, as the C libraries Redis ships are: a script's tail call
/// to it keeps the script's frame, and its error is `ERR <source>:<line>: <message>` at the
/// calling line, as `luaL_error` reports from lua-cjson.
fn as_c_function(lua: &Lua, f: mlua::Function) -> mlua::Result<mlua::Function> {
    lua.create_function(
        move |lua, args: MultiValue| match f.call::<MultiValue>(args) {
            Ok(v) => Ok(v),
            Err(e) => {
                fn message(e: &mlua::Error) -> Option<String> {
                    match e {
                        // mlua appends a traceback to errors of functions called from Rust.
                        mlua::Error::RuntimeError(m) => Some(
                            m.split("\nstack traceback:")
                                .next()
                                .unwrap_or(m)
                                .to_string(),
                        ),
                        mlua::Error::CallbackError { cause, .. } => message(cause),
                        _ => None,
                    }
                }
                let Some(msg) = message(&e) else {
                    return Err(e);
                };
                let place = lua
                    .inspect_stack(1)
                    .map(|d| {
                        let src = d
                            .source()
                            .short_src
                            .map(|s| s.into_owned())
                            .unwrap_or_default();
                        format!("{src}:{}: ", d.curr_line())
                    })
                    .unwrap_or_default();
                Err(mlua::Error::external(CallError(format!(
                    "ERR {place}{msg}"
                ))))
            }
        },
    )
}

/// A command error raised by `redis.call` (its reply text, code first).
#[derive(Debug)]
struct CallError(String);

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CallError {}

/// The text of a `CallError` raised by `redis.call`, as the error value Lua holds for it.
fn call_error_text(v: &Value) -> Option<String> {
    fn walk(e: &mlua::Error) -> Option<String> {
        match e {
            mlua::Error::CallbackError { cause, .. } => walk(cause),
            mlua::Error::WithContext { cause, .. } => walk(cause),
            mlua::Error::ExternalError(x) => x.downcast_ref::<CallError>().map(|c| c.0.clone()),
            _ => None,
        }
    }
    match v {
        Value::Error(e) => walk(e),
        _ => None,
    }
}

/// The reply for a script that raised an error: `{err=, source=, line=}` from the error
/// handler becomes `-<err> script: <sha>, on <source>:<line>.` as in Redis 7.0.
fn error_reply(v: &Value, sha: &str, limits: Limits) -> Frame {
    match v {
        Value::Table(t) => {
            let msg = match t.raw_get::<Value>("err") {
                Ok(Value::String(s)) => s.to_string_lossy(),
                _ => "ERR unknown error".to_string(),
            };
            let source = t.raw_get::<Option<String>>("source").ok().flatten();
            let line = t.raw_get::<Value>("line").ok();
            let line = match line {
                Some(Value::Number(n)) => Some(fmt_lua_number(n)),
                Some(Value::Integer(n)) => Some(n.to_string()),
                Some(Value::String(s)) => Some(s.to_string_lossy()),
                _ => None,
            };
            match (source, line) {
                (Some(src), Some(line)) => {
                    error_frame(&format!("{msg} script: {sha}, on {src}:{line}."))
                }
                _ => error_frame(&msg),
            }
        }
        Value::String(s) if s.to_string_lossy() == "not enough memory" => memory_reply(limits),
        other => {
            let msg = match other {
                Value::String(s) => s.to_string_lossy(),
                _ => "execution failure".to_string(),
            };
            let msg: String = msg.chars().take(100).collect();
            Frame::err(format!("Error running script f_{sha}, {msg}"))
        }
    }
}

/// A number as Lua 5.1's `tostring` prints it (`%.14g`).
fn fmt_lua_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        fmt_g17(n)
    }
}

fn string_array(lua: &Lua, items: &[Bytes]) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, b) in items.iter().enumerate() {
        t.raw_set(i + 1, lua.create_string(b)?)?;
    }
    Ok(t)
}

fn script_err(msg: &str) -> Frame {
    Frame::err(msg)
}

/// `redis.call` / `redis.pcall`'s command: Redis's checks, then the command through `cmd`.
fn call_command(
    ks: &RefCell<Access<'_>>,
    s: &Script<'_>,
    st: &RunState,
    read_only: bool,
    may_write: bool,
    mv: MultiValue,
) -> Frame {
    if mv.is_empty() {
        return script_err("Please specify at least one argument for this redis lib call");
    }
    let mut argv = Vec::with_capacity(mv.len());
    for v in mv.iter() {
        match v {
            Value::String(s) => argv.push(Bytes::copy_from_slice(&s.as_bytes())),
            Value::Number(n) => argv.push(Bytes::from(fmt_g17(*n))),
            Value::Integer(n) => argv.push(Bytes::from(n.to_string())),
            _ => return script_err("Lua redis lib command arguments must be strings or integers"),
        }
    }
    let Some(spec) = cmd::lookup(&argv[0]) else {
        return script_err("Unknown Redis command called from script");
    };
    if cmd::check_arity(spec, &argv).is_err() {
        return script_err("Wrong number of args calling Redis command from script");
    }
    if spec.flags.contains(&"noscript") {
        return script_err("This Redis command is not allowed from script");
    }
    if spec.name == "select" {
        // Redis 7: SELECT inside a script affects only the script.
        let mut guard = ks.borrow_mut();
        return match &mut *guard {
            Access::Write(k) => cmd::apply_select(k, &argv),
            Access::Read(k, db) => match cmd::select_target(&argv, k.db_count()) {
                Some(n) => {
                    *db = n;
                    Frame::ok()
                }
                None => cmd::apply_select(&mut Keyspace::new(), &argv),
            },
        };
    }
    if spec.kind == Kind::Server {
        return server_command(spec.name, &argv, s.now_ms);
    }
    if read_only && spec.kind == Kind::Write {
        return script_err("Write commands are not allowed from read-only scripts.");
    }
    if may_write && RANDOM_COMMANDS.contains(&spec.name) {
        return script_err(
            "Commands with a random reply are not allowed in scripts that may write: the \
             script runs on every replica (use EVAL_RO or a no-writes script)",
        );
    }
    if s.sharded {
        for i in cmd::key_indices(spec, &argv) {
            let slot = crate::cluster::slot::key_slot(&argv[i]);
            match st.slot.get() {
                None => st.slot.set(Some(slot)),
                Some(first) if first != slot => {
                    return script_err(
                        "Script attempted to access keys that do not hash to the same slot",
                    )
                }
                Some(_) => {}
            }
        }
    }
    let mut guard = ks.borrow_mut();
    match &mut *guard {
        Access::Write(k) => cmd::apply_argv(k, &argv, s.now_ms),
        Access::Read(k, db) => match Command::parse(&argv) {
            Ok(Command::Read(c)) => c.read(k.db(*db), s.now_ms),
            Ok(Command::Write(_)) => {
                script_err("Write commands are not allowed from read-only scripts.")
            }
            Err(e) => e,
        },
    }
}

/// The server commands a script may call: the deterministic keyless ones. `TIME` is the
/// entry's stamped time, the same on every replica.
fn server_command(name: &str, argv: &[Bytes], now_ms: u64) -> Frame {
    match name {
        "ping" if argv.len() == 1 => Frame::Simple("PONG".into()),
        "ping" if argv.len() == 2 => Frame::Bulk(argv[1].clone()),
        "ping" => cmd::wrong_args("ping"),
        "echo" => Frame::Bulk(argv[1].clone()),
        "time" => Frame::Array(vec![
            Frame::bulk((now_ms / 1000).to_string()),
            Frame::bulk(((now_ms % 1000) * 1000).to_string()),
        ]),
        _ => script_err("This Redis command is not allowed from script"),
    }
}

/// The `redis` table, Redis's `pcall` wrapper, the error handler and the read-only globals,
/// in Lua. Called with the Rust primitives; returns the runner `function(f)` that calls the
/// user's function under the error handler and returns `ok, value`.
const API_LUA: &str = r#"
local raw_call, raw_pcall, err_text, raw_sha1, raw_log, raw_setresp, stopped, version, version_num, register = ...
local type, error, select, tostring, rawget, rawset, setmetatable, pairs, next =
      type, error, select, tostring, rawget, rawset, setmetatable, pairs, next
local unpack, rawpcall, rawxpcall, resume = unpack, pcall, xpcall, coroutine.resume
local getinfo = debug.getinfo
local G = _G
G.debug = nil

local function err_table(msg)
  -- luaPushErrorBuff: "-CODE msg" keeps CODE, anything else gets ERR.
  local code, text = 'ERR', msg
  if msg:sub(1, 1) == '-' then
    local sp = msg:find(' ', 1, true)
    if sp then code, text = msg:sub(2, sp - 1), msg:sub(sp + 1)
    else text = msg:sub(2) end
  end
  text = text:gsub('^[\r\n]+', ''):gsub('[\r\n]+$', '')
  return { err = code .. ' ' .. text }
end

local redis = {}
redis.call = raw_call
redis.pcall = raw_pcall
redis.sha1hex = function(...)
  if select('#', ...) ~= 1 then error(err_table('wrong number of arguments')) end
  return raw_sha1((...))
end
redis.error_reply = function(...)
  local e = ...
  if select('#', ...) ~= 1 or type(e) ~= 'string' then
    return err_table('wrong number or type of arguments')
  end
  if e:sub(1, 1) ~= '-' then e = '-' .. e end
  return err_table(e)
end
redis.status_reply = function(...)
  local s = ...
  if select('#', ...) ~= 1 or type(s) ~= 'string' then
    return err_table('wrong number or type of arguments')
  end
  return { ok = s }
end
redis.log = function(...)
  local n = select('#', ...)
  if n < 2 then error(err_table('redis.log() requires two arguments or more.')) end
  local level = ...
  if type(level) ~= 'number' and not (type(level) == 'string' and tonumber(level)) then
    error(err_table('First argument must be a number (log level).'))
  end
  level = tonumber(level) - tonumber(level) % 1
  if level < 0 or level > 3 then error(err_table('Invalid debug level.')) end
  local parts = {}
  for i = 2, n do
    local v = select(i, ...)
    if type(v) == 'string' or type(v) == 'number' then parts[#parts + 1] = tostring(v) end
  end
  raw_log(level, table.concat(parts, ' '))
end
redis.setresp = function(...)
  if select('#', ...) ~= 1 then error(err_table('redis.setresp() requires one argument.')) end
  local n = tonumber((...))
  if n ~= 2 and n ~= 3 then error(err_table('RESP version must be 2 or 3.')) end
  raw_setresp(n)
end
redis.set_repl = function(...)
  if select('#', ...) ~= 1 then error(err_table('redis.set_repl() requires two arguments.')) end
  local f = tonumber((...))
  if not f or f < 0 or f > 3 or f % 1 ~= 0 then
    error(err_table('Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.'))
  end
end
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.REDIS_VERSION, redis.REDIS_VERSION_NUM = version, version_num
local registered = register and register(nil)
if register then redis.register_function = register end
G.redis = redis

-- Protected calls cannot catch a stopped run (budget or SCRIPT KILL); a pcall'd error
-- table gives its message, as Redis's pcall.
local function pack(...) return { n = select('#', ...), ... } end
local function finish(r)
  if stopped() then error('script stopped', 0) end
  if not r[1] then
    local m = err_text(r[2])
    if m then r[2] = m
    elseif type(r[2]) == 'table' and type(rawget(r[2], 'err')) == 'string' then
      r[2] = rawget(r[2], 'err')
    end
  end
  return unpack(r, 1, r.n)
end
G.pcall = function(...) return finish(pack(rawpcall(...))) end
G.xpcall = function(f, h)
  local r = pack(rawxpcall(f, h))
  if stopped() then error('script stopped', 0) end
  return unpack(r, 1, r.n)
end
coroutine.resume = function(...)
  local r = pack(resume(...))
  if stopped() then error('script stopped', 0) end
  return unpack(r, 1, r.n)
end

-- Read-only tables: every table reachable from the globals, and the globals themselves.
local protected = setmetatable({}, { __mode = 'k' })
local function readonly() error('Attempt to modify a readonly table', 2) end
local function protect(t, missing)
  local store = {}
  for k, v in pairs(t) do store[k] = v end
  for k in pairs(store) do rawset(t, k, nil) end
  local mt = { __newindex = readonly }
  if missing then
    mt.__index = function(_, k)
      local v = store[k]
      if v == nil then
        error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
      end
      return v
    end
  else
    mt.__index = store
  end
  setmetatable(t, mt)
  protected[t] = store
  return store
end
local store = protect(G, true)
store._G = G
for name, v in pairs(store) do
  if type(v) == 'table' and v ~= G and name ~= 'KEYS' and name ~= 'ARGV' then protect(v, false) end
end
local rawsetmt, rawnext = setmetatable, next
store.setmetatable = function(t, mt)
  if protected[t] then error('Attempt to modify a readonly table', 0) end
  return rawsetmt(t, mt)
end
store.rawset = function(t, k, v)
  if protected[t] then error('Attempt to modify a readonly table', 0) end
  return rawset(t, k, v)
end
-- pairs/next over a protected table walk what it holds.
store.next = function(t, k)
  local s = protected[t]
  if s then return rawnext(s, k) end
  return rawnext(t, k)
end
store.pairs = function(t)
  return store.next, t, nil
end

local function handler(err)
  local info
  for level = 2, 64 do
    local i = getinfo(level, 'Sl')
    if not i then break end
    if i.source == '@user_script' or i.source == '@user_function' then info = i break end
  end
  local m = err_text(err)
  if m then err = { err = m }
  elseif type(err) ~= 'table' then err = { err = 'ERR ' .. tostring(err) } end
  if info then
    rawset(err, 'source', info.source)
    rawset(err, 'line', info.currentline)
  end
  return err
end
return function(f, fname, keys, args)
  if not fname then return rawxpcall(f, handler) end
  -- FCALL: run the library so it registers its functions, then call the one named.
  local ok, e = rawxpcall(f, handler)
  if not ok then return ok, e end
  local cb = registered[fname]
  if not cb then return false, { err = 'ERR Function not found' } end
  return rawxpcall(function() return cb(keys, args) end, handler)
end
"#;

/// `redis.register_function` as Redis 7.0's `luaRegisterFunction` (positional and named
/// forms, its error texts). Returns `{ register = f }`; `register(nil)` (an internal call)
/// returns the table name → callback, and `register(false)` the registrations in order,
/// each `{ name =, desc =, flags = { ... } }`.
const REGISTER_LUA: &str = r#"
local type, error, select, next, tostring, lower, find =
      type, error, select, next, tostring, string.lower, string.find
local registered, order = {}, {}
local valid = { ['no-writes'] = true, ['allow-oom'] = true, ['allow-stale'] = true,
                ['no-cluster'] = true, ['allow-cross-slot-keys'] = true }
local function fail(msg) error({ err = 'ERR ' .. msg }, 0) end
local function str(v)
  if type(v) == 'string' then return v end
  if type(v) == 'number' then return tostring(v) end
  return nil
end
local function register(...)
  local n = select('#', ...)
  if n == 1 then
    local a = ...
    if a == nil then return registered end
    if a == false then return order end
  end
  if n < 1 or n > 2 then fail('wrong number of arguments to redis.register_function') end
  local name, cb, desc, flags
  if n == 1 then
    local t = ...
    if type(t) ~= 'table' then
      fail('calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).')
    end
    for k, v in next, t do
      if type(k) ~= 'string' then fail('named argument key given to redis.register_function is not a string') end
      local lk = lower(k)
      if lk == 'function_name' then
        name = str(v)
        if not name then fail('function_name argument given to redis.register_function must be a string') end
      elseif lk == 'description' then
        desc = str(v)
        if not desc then fail('description argument given to redis.register_function must be a string') end
      elseif lk == 'callback' then
        if type(v) ~= 'function' then fail('callback argument given to redis.register_function must be a function') end
        cb = v
      elseif lk == 'flags' then
        if type(v) ~= 'table' then fail('flags argument to redis.register_function must be a table representing function flags') end
        flags = {}
        for _, f in next, v do
          if type(f) ~= 'string' or not valid[f] then fail('unknown flag given') end
          flags[#flags + 1] = f
        end
      else
        fail('unknown argument given to redis.register_function')
      end
    end
    if not name then fail('redis.register_function must get a function name argument') end
    if not cb then fail('redis.register_function must get a callback argument') end
  else
    local a, b = ...
    name = str(a)
    if not name then fail('first argument to redis.register_function must be a string') end
    if type(b) ~= 'function' then fail('second argument to redis.register_function must be a function') end
    cb = b
  end
  if name == '' or find(name, '[^%w_]') then
    fail('Library names can only contain letters, numbers, or underscores(_) and must be at least one character long')
  end
  if registered[name] then fail('Function already exists in the library') end
  registered[name] = cb
  order[#order + 1] = { name = name, desc = desc, flags = flags or {} }
end
return { register = register }
"#;

/// The environment a library's top level runs in at FUNCTION LOAD (Redis 7.0's library
/// API): only `redis` with `register_function`, `log`, the `LOG_*` levels and the version;
/// any other global is Redis's nonexistent-global error, and no global can be set.
const LOAD_ENV_LUA: &str = r#"
local register, raw_log, version, version_num = ...
local error, tostring, select, type, setmetatable = error, tostring, select, type, setmetatable
local redis = {
  register_function = register,
  log = function(...)
    if select('#', ...) < 2 then error({ err = 'ERR redis.log() requires two arguments or more.' }, 0) end
    local level, msg = ...
    raw_log(tonumber(level) or 0, tostring(msg))
  end,
  LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
  REDIS_VERSION = version, REDIS_VERSION_NUM = version_num,
}
local function readonly() error('Attempt to modify a readonly table', 2) end
-- Both tables carry Redis's error metatable: a missing name is the nonexistent-global error.
local function guarded(store)
  local t = {}
  setmetatable(t, {
    __index = function(_, k)
      local v = store[k]
      if v == nil then
        error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
      end
      return v
    end,
    __newindex = readonly,
  })
  return t
end
return guarded({ redis = guarded(redis) })
"#;

/// One function a library registered at FUNCTION LOAD.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registered {
    pub name: String,
    pub description: Option<Bytes>,
    /// Redis's flag names, as given.
    pub flags: Vec<String>,
}

/// Lua instructions a library's top level may run at FUNCTION LOAD (Redis's 500 ms load
/// timeout at [`super::INSTRUCTIONS_PER_MS`]); deterministic, so every replica agrees.
pub const LOAD_BUDGET: u64 = 500 * super::INSTRUCTIONS_PER_MS;

/// Runs a library's top level (`code` is the whole library, metadata line included) in the
/// load environment and returns what it registered, or Redis's error text (without `ERR `).
pub fn register_library(code: &[u8]) -> Result<Vec<Registered>, String> {
    let lua = Lua::new_with(StdLib::STRING | StdLib::TABLE, LuaOptions::new())
        .map_err(|e| format!("Error creating the Lua state: {e}"))?;
    lua.set_memory_limit(super::MEMORY_LIMIT)
        .map_err(|e| e.to_string())?;
    let inner = || -> mlua::Result<Result<Vec<Registered>, String>> {
        let reg: Table = lua.load(REGISTER_LUA).set_name("@sdr_register").call(())?;
        let register: mlua::Function = reg.raw_get("register")?;
        let log = lua.create_function(|_, (level, msg): (f64, mlua::String)| {
            tracing::info!(target: "sdr::script", level, "{}", msg.to_string_lossy());
            Ok(())
        })?;
        let env: Table = lua.load(LOAD_ENV_LUA).set_name("@sdr_load").call((
            register.clone(),
            log,
            REDIS_VERSION,
            REDIS_VERSION_NUM,
        ))?;
        let len = code.iter().position(|&b| b == b'\n').unwrap_or(code.len());
        let f = match lua
            .load(&code[len..])
            .set_name("@user_function")
            .set_mode(mlua::ChunkMode::Text)
            .set_environment(env)
            .into_function()
        {
            Ok(f) => f,
            Err(e) => {
                let msg = match &e {
                    mlua::Error::SyntaxError { message, .. } => message.clone(),
                    other => other.to_string(),
                };
                return Ok(Err(format!("Error compiling function: {msg}")));
            }
        };
        let executed = Rc::new(Cell::new(0u64));
        let ex = executed.clone();
        lua.set_hook(
            HookTriggers::new().every_nth_instruction(HOOK_EVERY),
            move |_, _| {
                ex.set(ex.get() + u64::from(HOOK_EVERY));
                if ex.get() > LOAD_BUDGET {
                    Err(mlua::Error::runtime("FUNCTION LOAD timeout"))
                } else {
                    Ok(VmState::Continue)
                }
            },
        );
        let runner: mlua::Function = lua
            .load(
                r#"local f = ...
                local ok, e = pcall(f)
                if ok then return true end
                if type(e) == 'table' and type(rawget(e, 'err')) == 'string' then return false, rawget(e, 'err') end
                return false, 'ERR ' .. tostring(e)"#,
            )
            .set_name("@sdr_load_runner")
            .into_function()?;
        let (ok, err): (bool, Option<String>) = runner.call(f)?;
        lua.remove_hook();
        if executed.get() > LOAD_BUDGET {
            return Ok(Err(
                "Error registering functions: FUNCTION LOAD timeout".into()
            ));
        }
        if !ok {
            let msg = err.unwrap_or_default();
            let msg = msg
                .split("\nstack traceback:")
                .next()
                .unwrap_or("")
                .to_string();
            return Ok(Err(format!("Error registering functions: {msg}")));
        }
        let order: Table = register.call(false)?;
        let mut out = Vec::new();
        for item in order.sequence_values::<Table>() {
            let item = item?;
            let name: String = item.raw_get("name")?;
            let description: Option<mlua::String> = item.raw_get("desc")?;
            let flags: Table = item.raw_get("flags")?;
            let flags = flags
                .sequence_values::<String>()
                .collect::<mlua::Result<Vec<String>>>()?;
            out.push(Registered {
                name,
                description: description.map(|d| Bytes::copy_from_slice(&d.as_bytes())),
                flags,
            });
        }
        Ok(Ok(out))
    };
    match inner() {
        Ok(r) => r,
        Err(mlua::Error::MemoryError(_)) => {
            Err("Error registering functions: not enough memory".into())
        }
        Err(e) => Err(format!("Error registering functions: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn eval(ks: &mut Keyspace, body: &str, keys: &[&str], args: &[&str]) -> Frame {
        let keys: Vec<Bytes> = keys.iter().map(|k| b(k)).collect();
        let args: Vec<Bytes> = args.iter().map(|k| b(k)).collect();
        run(
            Access::Write(ks),
            &Script {
                body: body.as_bytes(),
                keys: &keys,
                args: &args,
                now_ms: 1_000_000,
                read_only: false,
                limits: Limits::for_threshold_ms(100),
                sharded: false,
                kill: None,
                function: None,
            },
        )
    }

    #[test]
    fn calls_commands_and_converts() {
        let mut ks = Keyspace::new();
        assert_eq!(
            eval(
                &mut ks,
                "return redis.call('set', KEYS[1], ARGV[1])",
                &["k"],
                &["v"]
            ),
            Frame::ok()
        );
        assert_eq!(
            eval(&mut ks, "return redis.call('get', 'k')", &[], &[]),
            Frame::bulk("v")
        );
        assert_eq!(
            eval(&mut ks, "return redis.call('get', 'nope')", &[], &[]),
            Frame::Null
        );
        assert_eq!(
            eval(&mut ks, "return redis.call('incrby', 'n', 2.0)", &[], &[]),
            Frame::Integer(2)
        );
        assert_eq!(
            eval(&mut ks, "return {1, 'two', {3}, nil, 5}", &[], &[]),
            Frame::Array(vec![
                Frame::Integer(1),
                Frame::bulk("two"),
                Frame::Array(vec![Frame::Integer(3)])
            ])
        );
    }

    #[test]
    fn errors_carry_script_and_line() {
        let mut ks = Keyspace::new();
        eval(&mut ks, "return redis.call('set', 's', 'x')", &[], &[]);
        let body = "local a = 1\nreturn redis.call('incr', 's')";
        let sha = sha1hex(body.as_bytes());
        assert_eq!(
            eval(&mut ks, body, &[], &[]),
            Frame::Error(format!(
                "ERR value is not an integer or out of range script: {sha}, on @user_script:2."
            ))
        );
        let body = "return x";
        assert_eq!(
            eval(&mut ks, body, &[], &[]),
            Frame::Error(format!(
                "ERR user_script:1: Script attempted to access nonexistent global variable 'x' script: {}, on @user_script:1.",
                sha1hex(body.as_bytes())
            ))
        );
        let body = "x = 5";
        assert_eq!(
            eval(&mut ks, body, &[], &[]),
            Frame::Error(format!(
                "ERR user_script:1: Attempt to modify a readonly table script: {}, on @user_script:1.",
                sha1hex(body.as_bytes())
            ))
        );
        let r = eval(&mut ks, "return redis.pcall('incr', 's')", &[], &[]);
        assert_eq!(r, Frame::err("value is not an integer or out of range"));
        assert_eq!(
            eval(&mut ks, "return redis.error_reply('MY boom')", &[], &[]),
            Frame::Error("MY boom".into())
        );
        assert_eq!(
            eval(&mut ks, "return os", &[], &[]).error_code().is_some(),
            true
        );
        assert!(matches!(
            eval(&mut ks, "return +", &[], &[]),
            Frame::Error(e) if e.starts_with("ERR Error compiling script (new function): user_script:1:")
        ));
    }

    #[test]
    fn runaway_scripts_stop_at_the_same_instruction() {
        let mut ks = Keyspace::new();
        let body = "redis.call('incr', 'n') while true do end";
        let r = eval(&mut ks, body, &[], &[]);
        assert!(
            matches!(&r, Frame::Error(e) if e.contains("budget")),
            "{r:?}"
        );
        let body = "while true do pcall(function() while true do end end) end";
        let r = eval(&mut ks, body, &[], &[]);
        assert!(
            matches!(&r, Frame::Error(e) if e.contains("budget")),
            "{r:?}"
        );
        // Writes before the abort stay (as Redis keeps a failed script's writes).
        assert_eq!(
            eval(&mut ks, "return redis.call('get', 'n')", &[], &[]),
            Frame::bulk("1")
        );
        let r = eval(
            &mut ks,
            "local t = {} while true do t[#t + 1] = string.rep('x', 1000) end",
            &[],
            &[],
        );
        assert!(
            matches!(&r, Frame::Error(e) if e.contains("memory") || e.contains("budget")),
            "{r:?}"
        );
    }

    #[test]
    fn read_only_runs_refuse_writes() {
        let mut ks = Keyspace::new();
        let keys: Vec<Bytes> = Vec::new();
        let r = run(
            Access::Read(&ks, 0),
            &Script {
                body: b"return redis.call('set', 'a', 1)",
                keys: &keys,
                args: &keys,
                now_ms: 1,
                read_only: true,
                limits: Limits::for_threshold_ms(100),
                sharded: false,
                kill: None,
                function: None,
            },
        );
        assert!(
            matches!(&r, Frame::Error(e) if e.starts_with("ERR Write commands are not allowed from read-only scripts.")),
            "{r:?}"
        );
        let r = eval(
            &mut ks,
            "#!lua flags=no-writes\nreturn redis.call('set', 'a', 1)",
            &[],
            &[],
        );
        assert!(
            matches!(&r, Frame::Error(e) if e.contains("on @user_script:2.")),
            "{r:?}"
        );
    }

    #[test]
    fn random_is_deterministic_per_run() {
        let mut ks = Keyspace::new();
        let a = eval(
            &mut ks,
            "return {math.random(100), math.random(100)}",
            &[],
            &[],
        );
        let b = eval(
            &mut ks,
            "return {math.random(100), math.random(100)}",
            &[],
            &[],
        );
        assert_eq!(a, b);
        assert_eq!(
            eval(&mut ks, "return redis.call('time')[1]", &[], &[]),
            Frame::bulk("1000")
        );
    }
}
