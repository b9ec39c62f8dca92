//! String commands: GET SET SETNX SETEX PSETEX GETSET GETDEL GETEX MGET MSET MSETNX INCR DECR
//! INCRBY DECRBY INCRBYFLOAT APPEND STRLEN GETRANGE SETRANGE.

use bytes::{Bytes, BytesMut};

use super::{
    bulk, eq, int_arg, reply, syntax, typed, wrong_args, MAX_STRING, NOT_FLOAT, NOT_INT, OVERFLOW,
    TOO_BIG,
};
use crate::keyspace::{own, Keyspace, Value};
use crate::resp::parse_i64;
use crate::resp::Frame;

/// An expiry given on the command line, resolved against `now_ms` at apply time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpiryArg {
    /// Milliseconds from now (EX/PX, already scaled; > 0).
    Relative(i64),
    /// Absolute unix milliseconds (EXAT/PXAT, already scaled; > 0).
    Absolute(i64),
}

impl ExpiryArg {
    /// The absolute deadline, or `ERR invalid expire time in '<cmd>' command` on overflow.
    fn resolve(self, now_ms: u64, cmd: &str) -> Result<u64, Frame> {
        let at = match self {
            ExpiryArg::Relative(ms) => (now_ms as i64).checked_add(ms),
            ExpiryArg::Absolute(ms) => Some(ms),
        };
        at.filter(|&t| t > 0)
            .map(|t| t as u64)
            .ok_or_else(|| invalid_expire(cmd))
    }
}

fn invalid_expire(cmd: &str) -> Frame {
    Frame::err(format!("invalid expire time in '{cmd}' command"))
}

/// Parses the value of EX/PX/EXAT/PXAT (`unit` 1000 for seconds).
fn expiry_arg(opt: &[u8], val: &[u8], cmd: &str) -> Result<ExpiryArg, Frame> {
    let n = int_arg(val)?;
    let (scale, absolute) = if eq(opt, "ex") {
        (1000, false)
    } else if eq(opt, "px") {
        (1, false)
    } else if eq(opt, "exat") {
        (1000, true)
    } else {
        (1, true)
    };
    if n <= 0 {
        return Err(invalid_expire(cmd));
    }
    let ms = n.checked_mul(scale).ok_or_else(|| invalid_expire(cmd))?;
    Ok(if absolute {
        ExpiryArg::Absolute(ms)
    } else {
        ExpiryArg::Relative(ms)
    })
}

fn is_expiry_opt(a: &[u8]) -> bool {
    eq(a, "ex") || eq(a, "px") || eq(a, "exat") || eq(a, "pxat")
}

#[derive(Clone, Debug, PartialEq)]
pub enum SetCond {
    Always,
    Nx,
    Xx,
    /// Compare-and-set (Redis 8.4 / Valkey 8.1): set only if the current string value equals.
    IfEq(Bytes),
}

#[derive(Clone, Debug, PartialEq)]
pub enum SetTtl {
    /// Clear any deadline.
    Clear,
    KeepTtl,
    At(ExpiryArg),
}

#[derive(Clone, Debug, PartialEq)]
pub enum GetExOpt {
    Keep,
    Persist,
    /// The expiry, or the error its value gets: Redis validates the value only after finding
    /// the key (a missing key replies nil even for `EX -1`), so the error waits for apply.
    At(Result<ExpiryArg, Frame>),
}

/// The read commands of this family: executed against `&Keyspace` after a read barrier.
#[derive(Clone, Debug, PartialEq)]
pub enum StrRead {
    Get(Bytes),
    MGet(Vec<Bytes>),
    Strlen(Bytes),
    GetRange(Bytes, i64, i64),
}

/// The write commands of this family: proposed to Raft, executed at apply time.
#[derive(Clone, Debug, PartialEq)]
pub enum StrWrite {
    Set {
        key: Bytes,
        value: Bytes,
        cond: SetCond,
        ttl: SetTtl,
        get: bool,
    },
    SetNx(Bytes, Bytes),
    /// SETEX / PSETEX; `name` for the error text.
    SetEx {
        key: Bytes,
        value: Bytes,
        ttl: ExpiryArg,
        name: &'static str,
    },
    GetSet(Bytes, Bytes),
    GetDel(Bytes),
    GetEx(Bytes, GetExOpt),
    MSet(Vec<(Bytes, Bytes)>),
    MSetNx(Vec<(Bytes, Bytes)>),
    IncrBy(Bytes, i64),
    IncrByFloat(Bytes, f64),
    Append(Bytes, Bytes),
    SetRange(Bytes, usize, Bytes),
}

fn pairs(name: &str, argv: &[Bytes]) -> Result<Vec<(Bytes, Bytes)>, Frame> {
    if argv.len() & 1 == 0 {
        return Err(wrong_args(name));
    }
    Ok(argv[1..]
        .chunks_exact(2)
        .map(|c| (c[0].clone(), c[1].clone()))
        .collect())
}

/// Redis's `string2ld`-like float parsing: no surrounding spaces, no NaN.
pub(crate) fn parse_float(b: &[u8]) -> Option<f64> {
    if b.is_empty() || b.len() > 5 * 1024 || b[0].is_ascii_whitespace() {
        return None;
    }
    let s = std::str::from_utf8(b).ok()?;
    let v: f64 = s.parse().ok()?;
    if v.is_nan() {
        None
    } else {
        Some(v)
    }
}

/// Formats a float result: shortest representation that round-trips, no exponent, `0` for
/// negative zero.
pub(crate) fn format_float(v: f64) -> String {
    if v == 0.0 {
        "0".to_string()
    } else {
        format!("{v}")
    }
}

pub(super) fn parse(name: &str, argv: &[Bytes]) -> Result<super::Op, Frame> {
    let a = |i: usize| argv[i].clone();
    Ok(match name {
        "get" => StrRead::Get(a(1)).into(),
        "set" => parse_set(argv)?.into(),
        "setnx" => StrWrite::SetNx(a(1), a(2)).into(),
        "setex" | "psetex" => {
            let opt: &[u8] = if name == "setex" { b"ex" } else { b"px" };
            let ttl = expiry_arg(opt, &argv[2], name)?;
            let name = if name == "setex" { "setex" } else { "psetex" };
            StrWrite::SetEx {
                key: a(1),
                value: a(3),
                ttl,
                name,
            }
            .into()
        }
        "getset" => StrWrite::GetSet(a(1), a(2)).into(),
        "getdel" => StrWrite::GetDel(a(1)).into(),
        "getex" => {
            let mut opt = GetExOpt::Keep;
            let mut i = 2;
            while i < argv.len() {
                let o = &argv[i];
                if is_expiry_opt(o) && matches!(opt, GetExOpt::Keep) && i + 1 < argv.len() {
                    opt = GetExOpt::At(expiry_arg(o, &argv[i + 1], "getex"));
                    i += 2;
                } else if eq(o, "persist") && matches!(opt, GetExOpt::Keep) {
                    opt = GetExOpt::Persist;
                    i += 1;
                } else {
                    return Err(syntax());
                }
            }
            StrWrite::GetEx(a(1), opt).into()
        }
        "mget" => StrRead::MGet(argv[1..].to_vec()).into(),
        "mset" => StrWrite::MSet(pairs(name, argv)?).into(),
        "msetnx" => StrWrite::MSetNx(pairs(name, argv)?).into(),
        "incr" => StrWrite::IncrBy(a(1), 1).into(),
        "decr" => StrWrite::IncrBy(a(1), -1).into(),
        "incrby" => StrWrite::IncrBy(a(1), int_arg(&argv[2])?).into(),
        "decrby" => match int_arg(&argv[2])? {
            // Redis refuses it before looking at the key (negating it would overflow).
            i64::MIN => return Err(Frame::err("decrement would overflow")),
            n => StrWrite::IncrBy(a(1), -n).into(),
        },
        "incrbyfloat" => StrWrite::IncrByFloat(
            a(1),
            parse_float(&argv[2]).ok_or_else(|| Frame::err(NOT_FLOAT))?,
        )
        .into(),
        "append" => StrWrite::Append(a(1), a(2)).into(),
        "strlen" => StrRead::Strlen(a(1)).into(),
        "getrange" | "substr" => {
            StrRead::GetRange(a(1), int_arg(&argv[2])?, int_arg(&argv[3])?).into()
        }
        "setrange" => {
            let off = int_arg(&argv[2])?;
            if off < 0 {
                return Err(Frame::err("offset is out of range"));
            }
            // Checked here, not only at apply: a string beyond the limit is refused before it
            // costs a log entry (and an allocation on every replica and every replay).
            if !argv[3].is_empty()
                && (off as u64).saturating_add(argv[3].len() as u64) > MAX_STRING as u64
            {
                return Err(Frame::err(TOO_BIG));
            }
            StrWrite::SetRange(a(1), off as usize, a(3)).into()
        }
        _ => return Err(super::unknown_command(argv)),
    })
}

fn parse_set(argv: &[Bytes]) -> Result<StrWrite, Frame> {
    let mut cond = SetCond::Always;
    let mut ttl = SetTtl::Clear;
    let mut get = false;
    // The expiry value is checked after every option parsed, as Redis does (a syntax error
    // later in the line wins over a bad number).
    let mut expiry: Option<(&Bytes, &Bytes)> = None;
    let mut i = 3;
    while i < argv.len() {
        let o = &argv[i];
        let next = argv.get(i + 1);
        // As Redis, repeating a flag is allowed (`XX XX`, `GET GET`, `EX 1 EX 2`: last wins);
        // only conflicting ones are syntax errors.
        if eq(o, "nx") && matches!(cond, SetCond::Always | SetCond::Nx) {
            cond = SetCond::Nx;
        } else if eq(o, "xx") && matches!(cond, SetCond::Always | SetCond::Xx) {
            cond = SetCond::Xx;
        } else if eq(o, "ifeq") && cond == SetCond::Always && next.is_some() {
            cond = SetCond::IfEq(next.cloned().unwrap_or_default());
            i += 1;
        } else if eq(o, "get") {
            get = true;
        } else if eq(o, "keepttl") && expiry.is_none() {
            ttl = SetTtl::KeepTtl;
        } else if is_expiry_opt(o)
            && ttl == SetTtl::Clear
            && expiry.is_none_or(|(prev, _)| prev.eq_ignore_ascii_case(o))
        {
            let Some(v) = next else {
                return Err(syntax());
            };
            expiry = Some((o, v));
            i += 1;
        } else {
            return Err(syntax());
        }
        i += 1;
    }
    if let Some((o, v)) = expiry {
        ttl = SetTtl::At(expiry_arg(o, v, "set")?);
    }
    Ok(StrWrite::Set {
        key: argv[1].clone(),
        value: argv[2].clone(),
        cond,
        ttl,
        get,
    })
}

fn str_of(v: &Value) -> Option<&Bytes> {
    match v {
        Value::Str(s) => Some(s),
        _ => None,
    }
}

/// The live string at `key`: `Ok(None)` if absent, WRONGTYPE if another type (shared with
/// the bitmap commands, which work on strings).
pub(super) fn get_str<'a>(
    ks: &'a Keyspace,
    key: &[u8],
    now: u64,
) -> Result<Option<&'a Bytes>, Frame> {
    typed(ks, key, now, str_of)
}

fn opt_bulk(v: Option<&Bytes>) -> Frame {
    v.map_or(Frame::Null, bulk)
}

/// The current deadline of a live key.
fn deadline(ks: &Keyspace, key: &[u8], now: u64) -> Option<u64> {
    ks.get(key, now).and_then(|e| e.expire_at)
}

impl StrRead {
    pub(super) fn read(&self, ks: &Keyspace, now: u64) -> Frame {
        reply(match self {
            StrRead::Get(k) => get_str(ks, k, now).map(opt_bulk),
            StrRead::MGet(keys) => Ok(Frame::Array(
                keys.iter()
                    .map(|k| match ks.get(k, now).map(|e| &e.value) {
                        Some(Value::Str(s)) => bulk(s),
                        _ => Frame::Null,
                    })
                    .collect(),
            )),
            StrRead::Strlen(k) => {
                get_str(ks, k, now).map(|s| Frame::Integer(s.map_or(0, |s| s.len() as i64)))
            }
            StrRead::GetRange(k, start, end) => get_str(ks, k, now).map(|s| {
                let s = s.map(|b| &b[..]).unwrap_or_default();
                Frame::Bulk(getrange(s, *start, *end))
            }),
        })
    }
}

impl StrWrite {
    pub(super) fn write(&self, ks: &mut Keyspace, now: u64) -> Frame {
        reply(self.write_inner(ks, now))
    }

    fn write_inner(&self, ks: &mut Keyspace, now: u64) -> Result<Frame, Frame> {
        match self {
            StrWrite::Set {
                key,
                value,
                cond,
                ttl,
                get,
            } => {
                let at = match ttl {
                    SetTtl::At(e) => Some(e.resolve(now, "set")?),
                    SetTtl::KeepTtl => deadline(ks, key, now),
                    SetTtl::Clear => None,
                };
                let exists = ks.contains(key, now);
                let old = if *get || matches!(cond, SetCond::IfEq(_)) {
                    get_str(ks, key, now)?.cloned()
                } else {
                    None
                };
                let go = match cond {
                    SetCond::Always => true,
                    SetCond::Nx => !exists,
                    SetCond::Xx => exists,
                    SetCond::IfEq(want) => old.as_ref() == Some(want),
                };
                if go {
                    ks.insert(key.clone(), Value::Str(own(value)), at, now);
                }
                Ok(match (*get, go) {
                    (true, _) => opt_bulk(old.as_ref()),
                    (false, true) => Frame::ok(),
                    (false, false) => Frame::Null,
                })
            }
            StrWrite::SetNx(key, value) => {
                if ks.contains(key, now) {
                    return Ok(Frame::Integer(0));
                }
                ks.insert(key.clone(), Value::Str(own(value)), None, now);
                Ok(Frame::Integer(1))
            }
            StrWrite::SetEx {
                key,
                value,
                ttl,
                name,
            } => {
                let at = ttl.resolve(now, name)?;
                ks.insert(key.clone(), Value::Str(own(value)), Some(at), now);
                Ok(Frame::ok())
            }
            StrWrite::GetSet(key, value) => {
                let old = get_str(ks, key, now)?.cloned();
                ks.insert(key.clone(), Value::Str(own(value)), None, now);
                Ok(opt_bulk(old.as_ref()))
            }
            StrWrite::GetDel(key) => {
                let old = get_str(ks, key, now)?.cloned();
                if old.is_some() {
                    ks.remove(key);
                }
                Ok(opt_bulk(old.as_ref()))
            }
            StrWrite::GetEx(key, opt) => {
                let Some(old) = get_str(ks, key, now)?.cloned() else {
                    return Ok(Frame::Null);
                };
                let at = match opt {
                    GetExOpt::At(e) => Some(e.clone()?.resolve(now, "getex")?),
                    _ => None,
                };
                match opt {
                    GetExOpt::Keep => {}
                    GetExOpt::Persist => {
                        ks.set_expire(key, None, now);
                    }
                    GetExOpt::At(_) => {
                        ks.set_expire(key, at, now);
                    }
                }
                Ok(bulk(&old))
            }
            StrWrite::MSet(pairs) => {
                for (k, v) in pairs {
                    ks.insert(k.clone(), Value::Str(own(v)), None, now);
                }
                Ok(Frame::ok())
            }
            StrWrite::MSetNx(pairs) => {
                if pairs.iter().any(|(k, _)| ks.contains(k, now)) {
                    return Ok(Frame::Integer(0));
                }
                for (k, v) in pairs {
                    ks.insert(k.clone(), Value::Str(own(v)), None, now);
                }
                Ok(Frame::Integer(1))
            }
            StrWrite::IncrBy(key, delta) => incr_by(ks, key, *delta, now),
            StrWrite::IncrByFloat(key, delta) => {
                let cur = match get_str(ks, key, now)? {
                    None => 0.0,
                    Some(s) => parse_float(s).ok_or_else(|| Frame::err(NOT_FLOAT))?,
                };
                let v = cur + delta;
                if !v.is_finite() {
                    return Err(Frame::err("increment would produce NaN or Infinity"));
                }
                let s = Bytes::from(format_float(v));
                replace_str(ks, key, s.clone(), now);
                Ok(Frame::Bulk(s))
            }
            StrWrite::Append(key, value) => {
                let cur = get_str(ks, key, now)?;
                let Some(cur_len) = cur.map(|s| s.len()) else {
                    // A new key is stored like SET stores it (Redis encodes it afresh).
                    ks.insert(key.clone(), Value::Str(own(value)), None, now);
                    return Ok(Frame::Integer(value.len() as i64));
                };
                if cur_len + value.len() > MAX_STRING {
                    return Err(Frame::err(TOO_BIG));
                }
                let r = ks.update(key, now, Some(|| Value::Str(Bytes::new())), |v| {
                    if let Value::Str(s) = v {
                        let mut m = BytesMut::from(std::mem::take(s));
                        m.extend_from_slice(value);
                        *s = m.freeze();
                        s.len()
                    } else {
                        0
                    }
                });
                Ok(Frame::Integer(r.unwrap_or(0) as i64))
            }
            StrWrite::SetRange(key, off, value) => {
                let cur = get_str(ks, key, now)?;
                let cur_len = cur.map_or(0, |s| s.len());
                if value.is_empty() {
                    return Ok(Frame::Integer(cur_len as i64));
                }
                if off.saturating_add(value.len()) > MAX_STRING {
                    return Err(Frame::err(TOO_BIG));
                }
                let r = ks.update(key, now, Some(|| Value::Str(Bytes::new())), |v| {
                    if let Value::Str(s) = v {
                        let mut m = BytesMut::from(std::mem::take(s));
                        let end = off + value.len();
                        if m.len() < end {
                            m.resize(end, 0);
                        }
                        m[*off..end].copy_from_slice(value);
                        *s = m.freeze();
                        s.len()
                    } else {
                        0
                    }
                });
                Ok(Frame::Integer(r.unwrap_or(0) as i64))
            }
        }
    }
}

/// The stored integer (0 if absent).
fn get_int(ks: &Keyspace, key: &[u8], now: u64) -> Result<i64, Frame> {
    match get_str(ks, key, now)? {
        None => Ok(0),
        Some(s) => parse_i64(s).ok_or_else(|| Frame::err(NOT_INT)),
    }
}

fn incr_by(ks: &mut Keyspace, key: &Bytes, delta: i64, now: u64) -> Result<Frame, Frame> {
    let cur = get_int(ks, key, now)?;
    let v = cur.checked_add(delta).ok_or_else(|| Frame::err(OVERFLOW))?;
    replace_str(ks, key, Bytes::from(v.to_string()), now);
    Ok(Frame::Integer(v))
}

/// Stores a new string value keeping the key's deadline (INCR family semantics).
fn replace_str(ks: &mut Keyspace, key: &Bytes, value: Bytes, now: u64) {
    let at = deadline(ks, key, now);
    ks.insert(key.clone(), Value::Str(value), at, now);
}

/// Redis 7 GETRANGE index rules.
fn getrange(s: &[u8], start: i64, end: i64) -> Bytes {
    let len = s.len() as i64;
    if start < 0 && end < 0 && start > end {
        return Bytes::new();
    }
    let mut st = if start < 0 { len + start } else { start };
    let mut en = if end < 0 { len + end } else { end };
    st = st.max(0);
    en = en.max(0);
    if en >= len {
        en = len - 1;
    }
    if st > en || len == 0 {
        return Bytes::new();
    }
    Bytes::copy_from_slice(&s[st as usize..=en as usize])
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use crate::keyspace::Keyspace;
    use crate::resp::Frame;

    const WT: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

    #[test]
    fn get_set_basics() {
        let mut ks = Keyspace::new();
        assert_eq!(run(&mut ks, 0, &["get", "k"]), Frame::Null);
        assert_eq!(run(&mut ks, 0, &["set", "k", "v"]), Frame::ok());
        assert_eq!(run(&mut ks, 0, &["GET", "k"]), b("v"));
        assert_eq!(run(&mut ks, 0, &["set", "k", "w", "nx"]), Frame::Null);
        assert_eq!(run(&mut ks, 0, &["set", "k", "w", "xx"]), Frame::ok());
        assert_eq!(run(&mut ks, 0, &["set", "j", "w", "xx"]), Frame::Null);
        assert_eq!(run(&mut ks, 0, &["set", "k", "x", "get"]), b("w"));
        assert_eq!(
            run(&mut ks, 0, &["set", "n", "x", "nx", "get"]),
            Frame::Null
        );
        assert_eq!(run(&mut ks, 0, &["get", "n"]), b("x"));
        assert_eq!(run(&mut ks, 0, &["rpush", "l", "a"]), i(1));
        assert_eq!(run(&mut ks, 0, &["get", "l"]), e(WT));
        assert_eq!(run(&mut ks, 0, &["set", "l", "x", "get"]), e(WT));
        assert_eq!(run(&mut ks, 0, &["set", "l", "x"]), Frame::ok());
    }

    #[test]
    fn set_option_errors() {
        let mut ks = Keyspace::new();
        for bad in [
            &["set", "k", "v", "nx", "xx"][..],
            &["set", "k", "v", "ex", "1", "px", "1"],
            &["set", "k", "v", "keepttl", "ex", "1"],
            &["set", "k", "v", "ex"],
            &["set", "k", "v", "bogus"],
            &["set", "k", "v", "ifeq", "a", "nx"],
            &["set", "k", "v", "xx", "ifeq", "a"],
            &["set", "k", "v", "ifeq"],
        ] {
            assert_eq!(run(&mut ks, 0, bad), e("ERR syntax error"), "{bad:?}");
        }
        // Repeated flags are accepted, as redis-server 7.0 does (the differential test
        // found it): the last expiry wins.
        assert_eq!(
            run(&mut ks, 0, &["set", "k", "v", "get", "get"]),
            Frame::Null
        );
        assert_eq!(
            run(
                &mut ks,
                0,
                &["set", "k", "w", "xx", "xx", "ex", "1", "EX", "2"]
            ),
            Frame::ok()
        );
        assert_eq!(run(&mut ks, 0, &["pttl", "k"]), i(2000));
        run(&mut ks, 0, &["del", "k"]);
        assert_eq!(
            run(&mut ks, 0, &["set", "k", "v", "ex", "x"]),
            e("ERR value is not an integer or out of range")
        );
        assert_eq!(
            run(&mut ks, 0, &["set", "k", "v", "ex", "0"]),
            e("ERR invalid expire time in 'set' command")
        );
        assert_eq!(
            run(&mut ks, 0, &["set", "k", "v", "px", "-5"]),
            e("ERR invalid expire time in 'set' command")
        );
        assert_eq!(
            run(&mut ks, 0, &["set", "k", "v", "ex", "9223372036854775807"]),
            e("ERR invalid expire time in 'set' command")
        );
        assert_eq!(
            run(&mut ks, 10, &["set", "k", "v", "px", "9223372036854775807"]),
            e("ERR invalid expire time in 'set' command")
        );
        assert!(ks.is_empty());
    }

    #[test]
    fn set_expiry_options() {
        let mut ks = Keyspace::new();
        assert_eq!(
            run(&mut ks, 1000, &["set", "k", "v", "ex", "10"]),
            Frame::ok()
        );
        assert_eq!(run(&mut ks, 1000, &["pttl", "k"]), i(10_000));
        assert_eq!(
            run(&mut ks, 1000, &["set", "k", "w", "keepttl"]),
            Frame::ok()
        );
        assert_eq!(run(&mut ks, 1000, &["pttl", "k"]), i(10_000));
        assert_eq!(run(&mut ks, 1000, &["set", "k", "w"]), Frame::ok());
        assert_eq!(run(&mut ks, 1000, &["pttl", "k"]), i(-1));
        assert_eq!(
            run(&mut ks, 1000, &["set", "k", "w", "pxat", "5000"]),
            Frame::ok()
        );
        assert_eq!(run(&mut ks, 1000, &["pexpiretime", "k"]), i(5000));
        assert_eq!(
            run(&mut ks, 1000, &["set", "k", "w", "exat", "7"]),
            Frame::ok()
        );
        assert_eq!(run(&mut ks, 1000, &["pexpiretime", "k"]), i(7000));
        assert_eq!(run(&mut ks, 6999, &["get", "k"]), b("w"));
        assert_eq!(run(&mut ks, 7000, &["get", "k"]), Frame::Null);
        // A deadline already in the past stores nothing.
        assert_eq!(
            run(&mut ks, 9000, &["set", "p", "v", "pxat", "100"]),
            Frame::ok()
        );
        assert_eq!(run(&mut ks, 9000, &["exists", "p"]), i(0));
        assert_eq!(
            run(&mut ks, 9000, &["set", "k", "v", "px", "5"]),
            Frame::ok()
        );
        assert_eq!(run(&mut ks, 9005, &["set", "k", "x", "xx"]), Frame::Null);
    }

    #[test]
    fn set_ifeq() {
        let mut ks = Keyspace::new();
        assert_eq!(
            run(&mut ks, 0, &["set", "k", "v", "ifeq", "x"]),
            Frame::Null
        );
        assert_eq!(run(&mut ks, 0, &["exists", "k"]), i(0));
        run(&mut ks, 0, &["set", "k", "a"]);
        assert_eq!(
            run(&mut ks, 0, &["set", "k", "b", "ifeq", "x"]),
            Frame::Null
        );
        assert_eq!(
            run(&mut ks, 0, &["set", "k", "b", "IFEQ", "a"]),
            Frame::ok()
        );
        assert_eq!(run(&mut ks, 0, &["get", "k"]), b("b"));
        assert_eq!(
            run(&mut ks, 0, &["set", "k", "c", "ifeq", "z", "get"]),
            b("b")
        );
        assert_eq!(
            run(&mut ks, 0, &["set", "k", "c", "ifeq", "b", "get"]),
            b("b")
        );
        assert_eq!(run(&mut ks, 0, &["get", "k"]), b("c"));
        run(&mut ks, 0, &["sadd", "s", "m"]);
        assert_eq!(run(&mut ks, 0, &["set", "s", "c", "ifeq", "m"]), e(WT));
    }

    #[test]
    fn setnx_setex_getset_getdel_getex() {
        let mut ks = Keyspace::new();
        assert_eq!(run(&mut ks, 0, &["setnx", "k", "1"]), i(1));
        assert_eq!(run(&mut ks, 0, &["setnx", "k", "2"]), i(0));
        assert_eq!(
            run(&mut ks, 0, &["setex", "k", "0", "v"]),
            e("ERR invalid expire time in 'setex' command")
        );
        assert_eq!(
            run(&mut ks, 0, &["psetex", "k", "-1", "v"]),
            e("ERR invalid expire time in 'psetex' command")
        );
        assert_eq!(
            run(&mut ks, 0, &["setex", "k", "x", "v"]),
            e("ERR value is not an integer or out of range")
        );
        assert_eq!(run(&mut ks, 0, &["setex", "k", "5", "v"]), Frame::ok());
        assert_eq!(run(&mut ks, 0, &["ttl", "k"]), i(5));
        assert_eq!(run(&mut ks, 0, &["psetex", "k", "1500", "v"]), Frame::ok());
        assert_eq!(run(&mut ks, 0, &["pttl", "k"]), i(1500));
        assert_eq!(run(&mut ks, 0, &["getset", "k", "w"]), b("v"));
        assert_eq!(run(&mut ks, 0, &["ttl", "k"]), i(-1));
        assert_eq!(run(&mut ks, 0, &["getset", "new", "w"]), Frame::Null);
        assert_eq!(run(&mut ks, 0, &["getdel", "k"]), b("w"));
        assert_eq!(run(&mut ks, 0, &["getdel", "k"]), Frame::Null);
        assert_eq!(run(&mut ks, 0, &["getex", "k"]), Frame::Null);
        assert_eq!(run(&mut ks, 0, &["getex", "new", "ex", "10"]), b("w"));
        assert_eq!(run(&mut ks, 0, &["ttl", "new"]), i(10));
        assert_eq!(run(&mut ks, 0, &["getex", "new", "persist"]), b("w"));
        assert_eq!(run(&mut ks, 0, &["ttl", "new"]), i(-1));
        assert_eq!(
            run(&mut ks, 0, &["getex", "new", "persist", "ex", "1"]),
            e("ERR syntax error")
        );
        assert_eq!(
            run(&mut ks, 0, &["getex", "new", "ex"]),
            e("ERR syntax error")
        );
        assert_eq!(
            run(&mut ks, 0, &["getex", "new", "ex", "0"]),
            e("ERR invalid expire time in 'getex' command")
        );
        assert_eq!(run(&mut ks, 50, &["getex", "new", "pxat", "10"]), b("w"));
        assert_eq!(run(&mut ks, 50, &["exists", "new"]), i(0));
        run(&mut ks, 0, &["hset", "h", "f", "v"]);
        assert_eq!(run(&mut ks, 0, &["getdel", "h"]), e(WT));
        assert_eq!(run(&mut ks, 0, &["getex", "h"]), e(WT));
        assert_eq!(run(&mut ks, 0, &["getset", "h", "x"]), e(WT));
    }

    #[test]
    fn multi_key() {
        let mut ks = Keyspace::new();
        assert_eq!(run(&mut ks, 0, &["mset", "a", "1", "b", "2"]), Frame::ok());
        assert_eq!(
            run(&mut ks, 0, &["mset", "a", "1", "b"]),
            e("ERR wrong number of arguments for 'mset' command")
        );
        run(&mut ks, 0, &["sadd", "s", "x"]);
        assert_eq!(
            run(&mut ks, 0, &["mget", "a", "b", "c", "s"]),
            Frame::Array(vec![b("1"), b("2"), Frame::Null, Frame::Null])
        );
        assert_eq!(run(&mut ks, 0, &["msetnx", "c", "3", "a", "9"]), i(0));
        assert_eq!(run(&mut ks, 0, &["get", "c"]), Frame::Null);
        assert_eq!(run(&mut ks, 0, &["msetnx", "c", "3", "d", "4"]), i(1));
        assert_eq!(
            run(&mut ks, 0, &["msetnx", "c"]),
            e("ERR wrong number of arguments for 'msetnx' command")
        );
    }

    #[test]
    fn counters() {
        let mut ks = Keyspace::new();
        assert_eq!(run(&mut ks, 0, &["incr", "n"]), i(1));
        assert_eq!(run(&mut ks, 0, &["incrby", "n", "10"]), i(11));
        assert_eq!(run(&mut ks, 0, &["decr", "n"]), i(10));
        assert_eq!(run(&mut ks, 0, &["decrby", "n", "20"]), i(-10));
        assert_eq!(run(&mut ks, 0, &["get", "n"]), b("-10"));
        assert_eq!(
            run(&mut ks, 0, &["incrby", "n", "x"]),
            e("ERR value is not an integer or out of range")
        );
        run(&mut ks, 0, &["set", "s", "abc"]);
        assert_eq!(
            run(&mut ks, 0, &["incr", "s"]),
            e("ERR value is not an integer or out of range")
        );
        run(&mut ks, 0, &["set", "s", " 1"]);
        assert_eq!(
            run(&mut ks, 0, &["incr", "s"]),
            e("ERR value is not an integer or out of range")
        );
        run(&mut ks, 0, &["set", "m", "9223372036854775807"]);
        assert_eq!(
            run(&mut ks, 0, &["incr", "m"]),
            e("ERR increment or decrement would overflow")
        );
        assert_eq!(
            run(&mut ks, 0, &["decrby", "m", "-9223372036854775808"]),
            e("ERR decrement would overflow")
        );
        // Before the key is looked at: a non-integer or another type gets the same error.
        run(&mut ks, 0, &["set", "txt", "abc"]);
        assert_eq!(
            run(&mut ks, 0, &["decrby", "txt", "-9223372036854775808"]),
            e("ERR decrement would overflow")
        );
        run(&mut ks, 0, &["rpush", "l", "a"]);
        assert_eq!(run(&mut ks, 0, &["incr", "l"]), e(WT));
        // INCR keeps the deadline.
        run(&mut ks, 0, &["set", "t", "1", "ex", "100"]);
        run(&mut ks, 0, &["incr", "t"]);
        assert_eq!(run(&mut ks, 0, &["ttl", "t"]), i(100));
    }

    #[test]
    fn incrbyfloat() {
        let mut ks = Keyspace::new();
        assert_eq!(run(&mut ks, 0, &["incrbyfloat", "f", "10.5"]), b("10.5"));
        assert_eq!(run(&mut ks, 0, &["incrbyfloat", "f", "0.1"]), b("10.6"));
        assert_eq!(run(&mut ks, 0, &["incrbyfloat", "f", "-5.6"]), b("5"));
        assert_eq!(run(&mut ks, 0, &["incrbyfloat", "f", "5.0e3"]), b("5005"));
        assert_eq!(
            run(&mut ks, 0, &["incrbyfloat", "f", "abc"]),
            e("ERR value is not a valid float")
        );
        assert_eq!(
            run(&mut ks, 0, &["incrbyfloat", "f", "nan"]),
            e("ERR value is not a valid float")
        );
        assert_eq!(
            run(&mut ks, 0, &["incrbyfloat", "f", "inf"]),
            e("ERR increment would produce NaN or Infinity")
        );
        run(&mut ks, 0, &["set", "s", "x"]);
        assert_eq!(
            run(&mut ks, 0, &["incrbyfloat", "s", "1"]),
            e("ERR value is not a valid float")
        );
        run(&mut ks, 0, &["set", "z", "1"]);
        assert_eq!(run(&mut ks, 0, &["incrbyfloat", "z", "-1"]), b("0"));
    }

    #[test]
    fn append_strlen_ranges() {
        let mut ks = Keyspace::new();
        assert_eq!(run(&mut ks, 0, &["append", "k", "Hello"]), i(5));
        assert_eq!(run(&mut ks, 0, &["append", "k", " World"]), i(11));
        assert_eq!(run(&mut ks, 0, &["strlen", "k"]), i(11));
        assert_eq!(run(&mut ks, 0, &["strlen", "nope"]), i(0));
        assert_eq!(run(&mut ks, 0, &["getrange", "k", "0", "4"]), b("Hello"));
        assert_eq!(run(&mut ks, 0, &["getrange", "k", "-5", "-1"]), b("World"));
        assert_eq!(run(&mut ks, 0, &["getrange", "k", "-1", "-5"]), b(""));
        assert_eq!(run(&mut ks, 0, &["getrange", "k", "5", "100"]), b(" World"));
        assert_eq!(run(&mut ks, 0, &["getrange", "k", "100", "200"]), b(""));
        assert_eq!(run(&mut ks, 0, &["getrange", "nope", "0", "-1"]), b(""));
        assert_eq!(
            run(&mut ks, 0, &["getrange", "k", "a", "1"]),
            e("ERR value is not an integer or out of range")
        );
        assert_eq!(run(&mut ks, 0, &["setrange", "k", "6", "Redis"]), i(11));
        assert_eq!(run(&mut ks, 0, &["get", "k"]), b("Hello Redis"));
        assert_eq!(run(&mut ks, 0, &["setrange", "p", "3", "x"]), i(4));
        assert_eq!(run(&mut ks, 0, &["get", "p"]), Frame::bulk(b"\0\0\0x"));
        assert_eq!(run(&mut ks, 0, &["setrange", "q", "3", ""]), i(0));
        assert_eq!(run(&mut ks, 0, &["exists", "q"]), i(0));
        assert_eq!(run(&mut ks, 0, &["setrange", "k", "0", ""]), i(11));
        assert_eq!(
            run(&mut ks, 0, &["setrange", "k", "-1", "x"]),
            e("ERR offset is out of range")
        );
        assert_eq!(
            run(&mut ks, 0, &["setrange", "k", "536870912", "x"]),
            e("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
        );
        assert_eq!(run(&mut ks, 0, &["setrange", "k", "536870911", ""]), i(11));
        run(&mut ks, 0, &["rpush", "l", "a"]);
        assert_eq!(run(&mut ks, 0, &["append", "l", "x"]), e(WT));
        assert_eq!(run(&mut ks, 0, &["strlen", "l"]), e(WT));
        assert_eq!(run(&mut ks, 0, &["setrange", "l", "0", "x"]), e(WT));
        assert_eq!(run(&mut ks, 0, &["getrange", "l", "0", "1"]), e(WT));
    }
}
