//! The Lua ↔ RESP conversion rules of Redis 7.0 (the "Conversion between Lua and Redis data
//! types" section of Redis's EVAL documentation), and C's `%.17g` for numbers.
//!
//! Command reply → Lua (what `redis.call` returns), with the script in RESP2 (the default):
//! integer → number; bulk → string; nil bulk and nil array → `false`; array → table (nested);
//! status → `{ok=...}`; error → `{err=...}`. Frames that exist only in RESP3 reach a RESP2
//! script as RESP2 would carry them (map → flat array, set → array, double → its text,
//! boolean → 1/0). After `redis.setresp(3)`: null → nil, map → `{map={...}}`, set →
//! `{set={m=true}}`, double → `{double=n}`, boolean → boolean, big number →
//! `{big_number=s}`, verbatim → `{verbatim_string={format=, string=}}`.
//!
//! Lua → script reply: number → integer (truncated toward zero); string → bulk; `true` → 1
//! and `false` → nil in RESP2 (booleans in RESP3); a table with `err` (string) → error, `ok`
//! → status, `double`, `big_number`, `verbatim_string`, `map`, `set` → those; any other
//! table → an array of its elements 1, 2, ... up to the first nil; anything else → nil.

use bytes::Bytes;
use mlua::{Lua, Table, Value};

use crate::resp::Frame;

/// Deepest nesting of tables converted to a reply (a self-referencing table ends here with
/// Redis's `reached lua stack limit` error).
pub const MAX_REPLY_DEPTH: usize = 256;

/// A command's reply as the Lua value `redis.call` returns (see the module docs).
pub fn frame_to_lua(lua: &Lua, f: &Frame, resp3: bool) -> mlua::Result<Value> {
    Ok(match f {
        Frame::Simple(s) => single(lua, "ok", Value::String(lua.create_string(s)?))?,
        Frame::Error(s) => single(lua, "err", Value::String(lua.create_string(s)?))?,
        Frame::Integer(n) => Value::Number(*n as f64),
        Frame::Bulk(b) => Value::String(lua.create_string(b)?),
        Frame::Null | Frame::NullArray => {
            if resp3 {
                Value::Nil
            } else {
                Value::Boolean(false)
            }
        }
        Frame::Array(v) | Frame::Push(v) => array(lua, v.iter(), resp3)?,
        Frame::Set(v) if !resp3 => array(lua, v.iter(), resp3)?,
        Frame::Set(v) => {
            let t = lua.create_table()?;
            for m in v {
                t.raw_set(frame_to_lua(lua, m, resp3)?, true)?;
            }
            single(lua, "set", Value::Table(t))?
        }
        Frame::Pairs(pairs) => {
            // RESP2: flat; RESP3: one two-element table per pair (the wire shapes).
            let t = lua.create_table()?;
            for (i, (a, b)) in pairs.iter().enumerate() {
                if resp3 {
                    let pair = lua.create_table()?;
                    pair.raw_set(1, frame_to_lua(lua, a, resp3)?)?;
                    pair.raw_set(2, frame_to_lua(lua, b, resp3)?)?;
                    t.raw_set(i + 1, pair)?;
                } else {
                    t.raw_set(2 * i + 1, frame_to_lua(lua, a, resp3)?)?;
                    t.raw_set(2 * i + 2, frame_to_lua(lua, b, resp3)?)?;
                }
            }
            Value::Table(t)
        }
        Frame::ArrayMap(pairs) if !resp3 => {
            // RESP2: an array of `{key, value}` tables, as the wire shape.
            let t = lua.create_table()?;
            for (i, (k, v)) in pairs.iter().enumerate() {
                let pair = lua.create_table()?;
                pair.raw_set(1, frame_to_lua(lua, k, resp3)?)?;
                pair.raw_set(2, frame_to_lua(lua, v, resp3)?)?;
                t.raw_set(i + 1, pair)?;
            }
            Value::Table(t)
        }
        Frame::ArrayMap(pairs) => frame_to_lua(lua, &Frame::Map(pairs.clone()), resp3)?,
        Frame::Map(pairs) if !resp3 => {
            let t = lua.create_table()?;
            let mut i = 1;
            for (k, v) in pairs {
                t.raw_set(i, frame_to_lua(lua, k, resp3)?)?;
                t.raw_set(i + 1, frame_to_lua(lua, v, resp3)?)?;
                i += 2;
            }
            Value::Table(t)
        }
        Frame::Map(pairs) => {
            let t = lua.create_table()?;
            for (k, v) in pairs {
                t.raw_set(frame_to_lua(lua, k, resp3)?, frame_to_lua(lua, v, resp3)?)?;
            }
            single(lua, "map", Value::Table(t))?
        }
        Frame::Double(d) if !resp3 => {
            Value::String(lua.create_string(crate::resp::format_double(*d))?)
        }
        Frame::Double(d) => single(lua, "double", Value::Number(*d))?,
        Frame::Boolean(b) if !resp3 => Value::Number(if *b { 1.0 } else { 0.0 }),
        Frame::Boolean(b) => Value::Boolean(*b),
        Frame::BigNumber(s) if !resp3 => Value::String(lua.create_string(s)?),
        Frame::BigNumber(s) => single(lua, "big_number", Value::String(lua.create_string(s)?))?,
        Frame::Verbatim { text, .. } if !resp3 => Value::String(lua.create_string(text)?),
        Frame::Verbatim { format, text } => {
            let inner = lua.create_table()?;
            inner.raw_set("format", lua.create_string(format)?)?;
            inner.raw_set("string", lua.create_string(text)?)?;
            single(lua, "verbatim_string", Value::Table(inner))?
        }
    })
}

fn single(lua: &Lua, field: &str, v: Value) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    t.raw_set(field, v)?;
    Ok(Value::Table(t))
}

fn array<'a>(
    lua: &Lua,
    items: impl Iterator<Item = &'a Frame>,
    resp3: bool,
) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    for (i, f) in items.enumerate() {
        t.raw_set(i + 1, frame_to_lua(lua, f, resp3)?)?;
    }
    Ok(Value::Table(t))
}

/// A Lua number as a reply integer: C's `(long long)` cast, truncating toward zero; NaN and
/// values out of range give `i64::MIN`, as the x86-64 conversion Redis runs on does.
pub fn number_to_integer(n: f64) -> i64 {
    if n.is_nan() || n >= 9.223_372_036_854_775_807e18 || n < -9.223_372_036_854_775_808e18 {
        i64::MIN
    } else {
        n as i64
    }
}

/// The script's return value as the client's reply (see the module docs); `resp3` is the
/// script's protocol (`redis.setresp`).
pub fn lua_to_frame(v: &Value, resp3: bool) -> Frame {
    to_frame(v, resp3, 0)
}

fn to_frame(v: &Value, resp3: bool, depth: usize) -> Frame {
    match v {
        Value::String(s) => Frame::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Boolean(b) if resp3 => Frame::Boolean(*b),
        Value::Boolean(true) => Frame::Integer(1),
        Value::Boolean(false) => Frame::Null,
        Value::Number(n) => Frame::Integer(number_to_integer(*n)),
        Value::Integer(n) => Frame::Integer(*n as i64),
        Value::Table(t) if depth >= MAX_REPLY_DEPTH => {
            let _ = t;
            Frame::err("reached lua stack limit")
        }
        Value::Table(t) => table_to_frame(t, resp3, depth),
        _ => Frame::Null,
    }
}

fn table_to_frame(t: &Table, resp3: bool, depth: usize) -> Frame {
    let field = |name: &str| t.raw_get::<Value>(name).unwrap_or(Value::Nil);
    if let Value::String(s) = field("err") {
        return error_frame(&s.to_string_lossy());
    }
    if let Value::String(s) = field("ok") {
        let s = s.to_string_lossy().replace(['\r', '\n'], " ");
        return Frame::Simple(s);
    }
    if let Value::Number(d) = field("double") {
        return Frame::Double(d);
    }
    if let Value::Integer(d) = field("double") {
        return Frame::Double(d as f64);
    }
    if let Value::String(s) = field("big_number") {
        return Frame::BigNumber(s.to_string_lossy().replace(['\r', '\n'], " "));
    }
    if let Value::Table(vt) = field("verbatim_string") {
        if let (Ok(Value::String(fmt)), Ok(Value::String(text))) =
            (vt.raw_get::<Value>("format"), vt.raw_get::<Value>("string"))
        {
            let fb = fmt.as_bytes();
            let mut format = [b' '; 3];
            for (d, s) in format.iter_mut().zip(fb.iter()) {
                *d = *s;
            }
            return Frame::Verbatim {
                format,
                text: Bytes::copy_from_slice(&text.as_bytes()),
            };
        }
    }
    if let Value::Table(m) = field("map") {
        let mut out = Vec::new();
        for (k, v) in m.pairs::<Value, Value>().flatten() {
            out.push((
                to_frame(&k, resp3, depth + 1),
                to_frame(&v, resp3, depth + 1),
            ));
        }
        return Frame::Map(out);
    }
    if let Value::Table(s) = field("set") {
        let mut out = Vec::new();
        for (k, _) in s.pairs::<Value, Value>().flatten() {
            out.push(to_frame(&k, resp3, depth + 1));
        }
        return Frame::Set(out);
    }
    let mut out = Vec::new();
    let mut i = 1i64;
    loop {
        match t.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(v) => out.push(to_frame(&v, resp3, depth + 1)),
        }
        i += 1;
    }
    Frame::Array(out)
}

/// An error reply from a script's `{err=...}` text: the text's first word is its code, as
/// the script chose it (Redis sends it as given, CR/LF made spaces).
pub fn error_frame(text: &str) -> Frame {
    let t = text.strip_prefix('-').unwrap_or(text);
    Frame::Error(t.replace(['\r', '\n'], " "))
}

/// C's `printf("%.17g", x)`: how Redis turns a Lua number argument of `redis.call` into a
/// string (17 significant digits, trailing zeros dropped, exponent form below 1e-4 and from
/// 1e17).
pub fn fmt_g17(x: f64) -> String {
    if x.is_nan() && x.is_sign_negative() {
        return "-nan".to_string();
    }
    crate::resp::format_double(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g17_matches_c() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1"),
            (-3.0, "-3"),
            (3.14, "3.1400000000000001"),
            (0.1, "0.10000000000000001"),
            (1e17, "1e+17"),
            (12345678901234567.0, "12345678901234568"),
            (1e16, "10000000000000000"),
            (0.0001, "0.0001"),
            (0.00001, "1.0000000000000001e-05"),
            (2.5e-10, "2.5000000000000002e-10"),
            (1.5e300, "1.5000000000000001e+300"),
            (f64::INFINITY, "inf"),
            (0.0, "0"),
        ];
        for (x, want) in cases {
            assert_eq!(fmt_g17(*x), *want, "{x}");
        }
    }

    #[test]
    fn numbers_truncate_like_c() {
        assert_eq!(number_to_integer(3.99), 3);
        assert_eq!(number_to_integer(-3.99), -3);
        assert_eq!(number_to_integer(f64::NAN), i64::MIN);
        assert_eq!(number_to_integer(1e300), i64::MIN);
    }

    #[test]
    fn replies_to_lua_and_back() {
        let lua = Lua::new();
        let f = Frame::Array(vec![
            Frame::Integer(1),
            Frame::bulk("x"),
            Frame::Null,
            Frame::Simple("OK".into()),
        ]);
        let v = frame_to_lua(&lua, &f, false).expect("converts");
        // nil bulk -> false -> nil reply: the array does not stop at false.
        assert_eq!(
            lua_to_frame(&v, false),
            Frame::Array(vec![
                Frame::Integer(1),
                Frame::bulk("x"),
                Frame::Null,
                Frame::Simple("OK".into()),
            ])
        );
        // An error reply becomes {err=...} and back an error.
        let e = frame_to_lua(&lua, &Frame::err("boom"), false).expect("converts");
        assert_eq!(lua_to_frame(&e, false), Frame::err("boom"));
        // RESP3-only frames reach a RESP2 script as RESP2 carries them.
        let m = Frame::Map(vec![(Frame::bulk("a"), Frame::Double(1.5))]);
        let v = frame_to_lua(&lua, &m, false).expect("converts");
        assert_eq!(
            lua_to_frame(&v, false),
            Frame::Array(vec![Frame::bulk("a"), Frame::bulk("1.5")])
        );
        let v = frame_to_lua(&lua, &Frame::Boolean(true), true).expect("converts");
        assert_eq!(lua_to_frame(&v, true), Frame::Boolean(true));
        assert_eq!(lua_to_frame(&v, false), Frame::Integer(1));
    }

    #[test]
    fn lua_values_to_replies() {
        let lua = Lua::new();
        let eval = |src: &str| -> Frame {
            let v: Value = lua.load(src).eval().expect("evaluates");
            lua_to_frame(&v, false)
        };
        assert_eq!(eval("return 3.7"), Frame::Integer(3));
        assert_eq!(eval("return true"), Frame::Integer(1));
        assert_eq!(eval("return false"), Frame::Null);
        assert_eq!(eval("return nil"), Frame::Null);
        assert_eq!(
            eval("return {1, 2, nil, 4}"),
            Frame::Array(vec![Frame::Integer(1), Frame::Integer(2)])
        );
        assert_eq!(eval("return {ok='fine'}"), Frame::Simple("fine".into()));
        assert_eq!(
            eval("return {err='MY code'}"),
            Frame::Error("MY code".into())
        );
        assert_eq!(eval("return {double=1.5}"), Frame::Double(1.5));
        assert_eq!(
            eval("local t = {} t[1] = t return t"),
            nest(MAX_REPLY_DEPTH)
        );
    }

    fn nest(n: usize) -> Frame {
        if n == 0 {
            Frame::err("reached lua stack limit")
        } else {
            Frame::Array(vec![nest(n - 1)])
        }
    }
}
