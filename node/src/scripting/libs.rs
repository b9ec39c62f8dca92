//! The libraries Redis ships to scripts, as far as sdr has them: `bit` (LuaBitOp 1.0.2
//! semantics, in Rust), `cjson` (lua-cjson 2.1's encode/decode with Redis's defaults, in
//! Lua: [`CJSON_LUA`]) and Redis's `math.random` / `math.randomseed` ([`Rand48`]). `struct`
//! and `cmsgpack` are not provided (docs/scripting.md).

use std::cell::Cell;
use std::rc::Rc;

use mlua::{Lua, Table, Variadic};

/// Redis's `redisLrand48` generator (rand.c): a 48-bit LCG, `x = a*x + c mod 2^48`.
#[derive(Clone, Debug)]
pub struct Rand48 {
    x: u64,
}

const A: u64 = 0x5_DEEC_E66D;
const C: u64 = 0xB;
const MASK48: u64 = (1 << 48) - 1;
/// `REDIS_LRAND48_MAX` (= `INT32_MAX`).
pub const LRAND48_MAX: u64 = i32::MAX as u64;

impl Rand48 {
    /// `redisSrand48(seed)`.
    pub fn seeded(seed: i32) -> Rand48 {
        let s = seed as u32 as u64;
        Rand48 {
            x: ((s >> 16) & 0xFFFF) << 32 | (s & 0xFFFF) << 16 | 0x330E,
        }
    }

    /// `redisLrand48()`: the next 31-bit value.
    pub fn next(&mut self) -> u64 {
        self.x = (A.wrapping_mul(self.x).wrapping_add(C)) & MASK48;
        self.x >> 17
    }

    /// `math.random`'s `r`, in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() % LRAND48_MAX) as f64 / LRAND48_MAX as f64
    }
}

/// Installs `math.random` and `math.randomseed` over one generator, reseeded with 0 for every
/// run (Redis ≤ 6.2's per-script rule; what keeps a replicated script deterministic).
pub fn install_random(lua: &Lua, math: &Table) -> mlua::Result<()> {
    let rng = Rc::new(Cell::new(Rand48::seeded(0).x));
    let r = rng.clone();
    let random = lua.create_function(move |_, args: Variadic<f64>| {
        let mut g = Rand48 { x: r.get() };
        let u = g.unit();
        r.set(g.x);
        // luaL_checkint truncates toward zero.
        match args.len() {
            0 => Ok(u),
            1 => {
                let up = args[0] as i32;
                if up < 1 {
                    return Err(mlua::Error::runtime(
                        "bad argument #1 to 'random' (interval is empty)",
                    ));
                }
                Ok((u * up as f64).floor() + 1.0)
            }
            2 => {
                let (l, up) = (args[0] as i32, args[1] as i32);
                if l > up {
                    return Err(mlua::Error::runtime(
                        "bad argument #2 to 'random' (interval is empty)",
                    ));
                }
                Ok((u * (up as f64 - l as f64 + 1.0)).floor() + l as f64)
            }
            _ => Err(mlua::Error::runtime("wrong number of arguments")),
        }
    })?;
    let r = rng;
    let seed = lua.create_function(move |_, s: f64| {
        r.set(Rand48::seeded(s as i32).x);
        Ok(())
    })?;
    math.raw_set("random", random)?;
    math.raw_set("randomseed", seed)?;
    Ok(())
}

/// LuaBitOp's `barg`: a number to its 32-bit two's complement bits (by the 2^52+2^51 trick,
/// so 2^32 wraps to 0 and fractions round to nearest even).
fn tobit(n: f64) -> u32 {
    (n + 6_755_399_441_055_744.0).to_bits() as u32
}

fn out(b: u32) -> f64 {
    f64::from(b as i32)
}

/// The `bit` table (LuaBitOp 1.0.2).
pub fn bit_table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("tobit", lua.create_function(|_, x: f64| Ok(out(tobit(x))))?)?;
    t.raw_set("bnot", lua.create_function(|_, x: f64| Ok(out(!tobit(x))))?)?;
    t.raw_set(
        "bswap",
        lua.create_function(|_, x: f64| Ok(out(tobit(x).swap_bytes())))?,
    )?;
    type Fold = fn(u32, u32) -> u32;
    let folds: [(&str, Fold); 3] = [
        ("band", |a, b| a & b),
        ("bor", |a, b| a | b),
        ("bxor", |a, b| a ^ b),
    ];
    for (name, f) in folds {
        t.raw_set(
            name,
            lua.create_function(move |_, (first, rest): (f64, Variadic<f64>)| {
                Ok(out(rest
                    .iter()
                    .fold(tobit(first), |acc, &x| f(acc, tobit(x)))))
            })?,
        )?;
    }
    type Shift = fn(u32, u32) -> u32;
    let shifts: [(&str, Shift); 5] = [
        ("lshift", |b, n| b << n),
        ("rshift", |b, n| b >> n),
        ("arshift", |b, n| ((b as i32) >> n) as u32),
        ("rol", |b, n| b.rotate_left(n)),
        ("ror", |b, n| b.rotate_right(n)),
    ];
    for (name, f) in shifts {
        t.raw_set(
            name,
            lua.create_function(move |_, (x, n): (f64, f64)| Ok(out(f(tobit(x), tobit(n) & 31))))?,
        )?;
    }
    t.raw_set(
        "tohex",
        lua.create_function(|lua, (x, n): (f64, Option<f64>)| {
            let mut b = tobit(x);
            let mut n = n.map_or(8, |n| tobit(n) as i32);
            let digits: &[u8; 16] = if n < 0 {
                n = n.saturating_neg();
                b"0123456789ABCDEF"
            } else {
                b"0123456789abcdef"
            };
            let n = n.min(8) as usize;
            let mut buf = vec![b'0'; n];
            for i in (0..n).rev() {
                buf[i] = digits[(b & 15) as usize];
                b >>= 4;
            }
            lua.create_string(&buf)
        })?,
    )?;
    Ok(t)
}

/// lua-cjson's `encode` / `decode` with Redis's defaults (numbers as `%.14g`, `/` escaped,
/// sparse arrays refused past ratio 2 / safe 10, nesting at most 1000), in Lua so that
/// key order is `next`'s, as the C library's. Evaluates to the `cjson` table.
pub const CJSON_LUA: &str = r#"
local type, pairs, next, floor, huge = type, pairs, next, math.floor, math.huge
local format, byte, char, sub, concat = string.format, string.byte, string.char, string.sub, table.concat
local error, tostring, tonumber, newproxy = error, tostring, tonumber, newproxy
local cjson = {}
local null = newproxy(false)
cjson.null = null
local esc = { ['"'] = '\\"', ['\\'] = '\\\\', ['/'] = '\\/', ['\b'] = '\\b', ['\f'] = '\\f',
  ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t', ['\127'] = '\\u007f' }
for i = 0, 31 do local c = char(i) if not esc[c] then esc[c] = format('\\u%04x', i) end end
local function estr(s) return '"' .. s:gsub('[%c"\\/]', esc) .. '"' end
local function enum(n)
  if n ~= n or n == huge or n == -huge then error('Cannot serialise number: must not be NaN or Inf', 0) end
  return format('%.14g', n)
end
local encode
local function arraylen(t)
  local max, items = 0, 0
  for k in pairs(t) do
    if type(k) == 'number' and k ~= 0 and floor(k) == k and k >= 1 then
      if k > max then max = k end
      items = items + 1
    else
      return -1
    end
  end
  if max > items * 2 and max > 10 then error('Cannot serialise table: excessively sparse array', 0) end
  return max
end
encode = function(v, depth, out)
  local t = type(v)
  if t == 'string' then out[#out + 1] = estr(v)
  elseif t == 'number' then out[#out + 1] = enum(v)
  elseif t == 'boolean' then out[#out + 1] = tostring(v)
  elseif t == 'nil' or v == null then out[#out + 1] = 'null'
  elseif t == 'table' then
    depth = depth + 1
    if depth > 1000 then error(format('Cannot serialise, excessive nesting (%d)', depth), 0) end
    local len = arraylen(v)
    if len > 0 then
      out[#out + 1] = '['
      for i = 1, len do
        if i > 1 then out[#out + 1] = ',' end
        encode(v[i], depth, out)
      end
      out[#out + 1] = ']'
    else
      out[#out + 1] = '{'
      local first = true
      for k, x in pairs(v) do
        if not first then out[#out + 1] = ',' end
        first = false
        local kt = type(k)
        if kt == 'string' then out[#out + 1] = estr(k)
        elseif kt == 'number' then out[#out + 1] = '"' .. enum(k) .. '"'
        else error('Cannot serialise ' .. kt .. ': table key must be a number or string', 0) end
        out[#out + 1] = ':'
        encode(x, depth, out)
      end
      out[#out + 1] = '}'
    end
  else
    error('Cannot serialise ' .. t .. ': type not supported', 0)
  end
end
function cjson.encode(...)
  if select('#', ...) ~= 1 then error("bad argument #1 to 'encode' (expected 1 argument)", 0) end
  local out = {}
  encode((...), 0, out)
  return concat(out)
end
local function perr(what, found, pos)
  error(format('Expected %s but found %s at character %d', what, found, pos), 0)
end
local ws = { [' '] = true, ['\t'] = true, ['\n'] = true, ['\r'] = true }
local function skip(s, i)
  while ws[sub(s, i, i)] do i = i + 1 end
  return i
end
local decode_value
local function utf8(cp)
  if cp < 0x80 then return char(cp)
  elseif cp < 0x800 then return char(0xC0 + floor(cp / 64), 0x80 + cp % 64)
  elseif cp < 0x10000 then return char(0xE0 + floor(cp / 4096), 0x80 + floor(cp / 64) % 64, 0x80 + cp % 64)
  else return char(0xF0 + floor(cp / 262144), 0x80 + floor(cp / 4096) % 64, 0x80 + floor(cp / 64) % 64, 0x80 + cp % 64) end
end
local unesc = { ['"'] = '"', ['\\'] = '\\', ['/'] = '/', b = '\b', f = '\f', n = '\n', r = '\r', t = '\t' }
local function decode_string(s, i)
  local parts, j = {}, i + 1
  while true do
    local c = sub(s, j, j)
    if c == '' then perr('value', 'invalid token', i) end
    if c == '"' then return concat(parts), j + 1 end
    if c == '\\' then
      local e = sub(s, j + 1, j + 1)
      if e == 'u' then
        local cp = tonumber(sub(s, j + 2, j + 5), 16)
        if not cp or #sub(s, j + 2, j + 5) ~= 4 then perr('value', 'invalid token', i) end
        j = j + 6
        if cp >= 0xD800 and cp <= 0xDBFF and sub(s, j, j + 1) == '\\u' then
          local lo = tonumber(sub(s, j + 2, j + 5), 16)
          if lo and lo >= 0xDC00 and lo <= 0xDFFF then
            cp = 0x10000 + (cp - 0xD800) * 1024 + (lo - 0xDC00)
            j = j + 6
          end
        end
        parts[#parts + 1] = utf8(cp)
      elseif unesc[e] then
        parts[#parts + 1] = unesc[e]
        j = j + 2
      else
        perr('value', 'invalid token', i)
      end
    else
      local k = j
      while true do
        local d = sub(s, k, k)
        if d == '"' or d == '\\' or d == '' then break end
        k = k + 1
      end
      parts[#parts + 1] = sub(s, j, k - 1)
      j = k
    end
  end
end
decode_value = function(s, i, depth)
  i = skip(s, i)
  local c = sub(s, i, i)
  if c == '' then perr('value', 'T_END', i) end
  if c == '{' or c == '[' then
    depth = depth + 1
    if depth > 1000 then error(format('Found too many nested data structures (%d) at character %d', depth, i), 0) end
  end
  if c == '{' then
    local t = {}
    i = skip(s, i + 1)
    if sub(s, i, i) == '}' then return t, i + 1 end
    while true do
      i = skip(s, i)
      if sub(s, i, i) ~= '"' then perr('object key string', sub(s, i, i) == '' and 'T_END' or 'invalid token', i) end
      local k
      k, i = decode_string(s, i)
      i = skip(s, i)
      if sub(s, i, i) ~= ':' then perr('colon', sub(s, i, i) == '' and 'T_END' or 'invalid token', i) end
      local v
      v, i = decode_value(s, i + 1, depth)
      t[k] = v
      i = skip(s, i)
      local d = sub(s, i, i)
      if d == '}' then return t, i + 1 end
      if d ~= ',' then perr('comma or object end', d == '' and 'T_END' or 'invalid token', i) end
      i = i + 1
    end
  elseif c == '[' then
    local t, n = {}, 0
    i = skip(s, i + 1)
    if sub(s, i, i) == ']' then return t, i + 1 end
    while true do
      local v
      v, i = decode_value(s, i, depth)
      n = n + 1
      t[n] = v
      i = skip(s, i)
      local d = sub(s, i, i)
      if d == ']' then return t, i + 1 end
      if d ~= ',' then perr('comma or array end', d == '' and 'T_END' or 'invalid token', i) end
      i = i + 1
    end
  elseif c == '"' then
    return decode_string(s, i)
  elseif sub(s, i, i + 3) == 'true' then return true, i + 4
  elseif sub(s, i, i + 4) == 'false' then return false, i + 5
  elseif sub(s, i, i + 3) == 'null' then return null, i + 4
  else
    local num = s:match('^-?%d+%.?%d*[eE]?[-+]?%d*', i)
    local n = num and tonumber(num)
    if not n then perr('value', 'invalid token', i) end
    return n, i + #num
  end
end
function cjson.decode(...)
  if select('#', ...) ~= 1 then error("bad argument #1 to 'decode' (expected 1 argument)", 0) end
  local s = ...
  if type(s) ~= 'string' then s = tostring(s) end
  local v, i = decode_value(s, 1, 0)
  i = skip(s, i)
  if i <= #s then perr('the end', 'invalid token', i) end
  return v
end
return cjson
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rand48_is_redis_lrand48() {
        // srand48(0): x = 0x330E; the first values of glibc's lrand48 after srand48(0).
        let mut g = Rand48::seeded(0);
        assert_eq!(g.next(), 366_850_414);
        assert_eq!(g.next(), 1_610_402_240);
    }

    #[test]
    fn bit_ops_follow_luabitop() {
        let lua = Lua::new();
        lua.globals()
            .set("bit", bit_table(&lua).expect("bit"))
            .expect("set");
        let v = |src: &str| -> String { lua.load(src).eval::<String>().expect(src) };
        assert_eq!(v("return tostring(bit.tobit(0xffffffff))"), "-1");
        assert_eq!(v("return tostring(bit.tobit(2^32 + 1))"), "1");
        assert_eq!(v("return tostring(bit.band(0x12345678, 0xff))"), "120");
        assert_eq!(v("return tostring(bit.bor(1, 2, 4))"), "7");
        assert_eq!(v("return tostring(bit.lshift(1, 31))"), "-2147483648");
        assert_eq!(v("return tostring(bit.rshift(-1, 28))"), "15");
        assert_eq!(v("return tostring(bit.arshift(-256, 4))"), "-16");
        assert_eq!(v("return bit.tohex(255)"), "000000ff");
        assert_eq!(v("return bit.tohex(-1, -4)"), "FFFF");
        assert_eq!(v("return tostring(bit.bnot(0))"), "-1");
        assert_eq!(v("return tostring(bit.rol(0x12345678, 8))"), "878082066");
    }

    #[test]
    fn cjson_round_trips() {
        let lua = Lua::new();
        let cjson: Table = lua.load(CJSON_LUA).eval().expect("cjson");
        lua.globals().set("cjson", cjson).expect("set");
        let v = |src: &str| -> String { lua.load(src).eval::<String>().expect(src) };
        assert_eq!(v("return cjson.encode({1, 2, 'a/b'})"), r#"[1,2,"a\/b"]"#);
        assert_eq!(v("return cjson.encode({})"), "{}");
        assert_eq!(v("return cjson.encode(0.1)"), "0.1");
        assert_eq!(
            v("return cjson.encode({a={b=true}})"),
            r#"{"a":{"b":true}}"#
        );
        assert_eq!(v("return cjson.encode('\\n\\1')"), r#""\n\u0001""#);
        assert_eq!(
            v(
                r#"local t = cjson.decode('{"a":[1,2,{"b":null}],"c":"\\u00e9"}') return t.a[2] .. tostring(t.a[3].b == cjson.null) .. t.c"#
            ),
            "2true\u{e9}"
        );
        let e = lua.load("return cjson.decode('[1,')").eval::<String>();
        assert!(e.is_err());
        let e = lua
            .load("local t = {} t[20] = 1 return cjson.encode(t)")
            .eval::<String>();
        assert!(format!("{e:?}").contains("excessively sparse array"));
    }
}
