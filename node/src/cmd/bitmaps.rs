//! Bitmap commands on string values: SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD
//! BITFIELD_RO, with Redis 7.0's replies, error texts and index quirks (bitops.c).
//!
//! Bit 0 is the most significant bit of byte 0. A string is zero-padded on the right as far
//! as a command reads; writes grow it with zero bytes. Offsets are bounded by
//! `proto-max-bulk-len` (512 MiB, so a bit offset is below 2^32) and checked when parsed, so
//! nothing is allocated from an unchecked length; the size a write may grow to is reported
//! to the `maxmemory` check by [`oom_growth`].

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};

use super::strings::get_str;
use super::{eq, reply, syntax, MAX_STRING, NOT_INT};
use crate::keyspace::{Keyspace, Value};
use crate::resp::parse_i64;
use crate::resp::Frame;

const BAD_OFFSET: &str = "bit offset is not an integer or out of range";
const BAD_BIT: &str = "bit is not an integer or out of range";
const BAD_TYPE: &str =
    "Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

/// A bit offset as Redis's `getBitOffsetFromArgument`: an integer (with `hash`, `#N` means
/// `N * bits`), not negative, whose byte is inside `proto-max-bulk-len`.
fn bit_offset(arg: &[u8], hash_bits: Option<u32>) -> Result<u64, Frame> {
    let bad = || Frame::err(BAD_OFFSET);
    let (digits, mul) = match hash_bits {
        Some(bits) if arg.first() == Some(&b'#') => (&arg[1..], Some(bits)),
        _ => (arg, None),
    };
    let mut off = parse_i64(digits).ok_or_else(bad)?;
    if let Some(bits) = mul {
        // C multiplies in `long long`; wrapping keeps the (always rejected) overflow an error.
        off = off.wrapping_mul(i64::from(bits));
    }
    if off < 0 || (off >> 3) >= MAX_STRING as i64 {
        return Err(bad());
    }
    Ok(off as u64)
}

/// A BITFIELD type (`i1`..`i64`, `u1`..`u63`; case-sensitive, read up to a NUL as C does).
fn bitfield_type(arg: &[u8]) -> Result<(bool, u32), Frame> {
    let bad = || Frame::err(BAD_TYPE);
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(bad()),
    };
    let rest = &arg[1..];
    let rest = &rest[..rest.iter().position(|&c| c == 0).unwrap_or(rest.len())];
    let bits = parse_i64(rest).ok_or_else(bad)?;
    if bits < 1 || (signed && bits > 64) || (!signed && bits > 63) {
        return Err(bad());
    }
    Ok((signed, bits as u32))
}

/// BITFIELD overflow behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overflow {
    Wrap,
    Sat,
    Fail,
}

/// One BITFIELD operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldOp {
    Get,
    Set(i64),
    IncrBy(i64),
}

/// A parsed BITFIELD subcommand with the overflow mode in force when it was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub op: FieldOp,
    pub signed: bool,
    pub bits: u32,
    pub offset: u64,
    pub overflow: Overflow,
}

/// BITCOUNT / BITPOS range: start, optional end, and BIT (true) or BYTE units. The unit
/// argument is kept raw: Redis looks at it only after the key and the other arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct RangeArgs {
    pub start: Bytes,
    pub end: Option<Bytes>,
    pub unit: Option<Bytes>,
}

/// The BITOP operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// The read commands of this family.
#[derive(Clone, Debug, PartialEq)]
pub enum BitRead {
    GetBit(Bytes, u64),
    /// Key and the raw arguments after it (Redis checks the key before parsing them).
    BitCount(Bytes, Vec<Bytes>),
    /// Key, the bit, and the raw range arguments.
    BitPos(Bytes, bool, Vec<Bytes>),
    /// BITFIELD_RO.
    FieldGet(Bytes, Vec<Field>),
}

/// The write commands of this family.
#[derive(Clone, Debug, PartialEq)]
pub enum BitWrite {
    SetBit(Bytes, u64, bool),
    BitOp(BitOp, Bytes, Vec<Bytes>),
    Field(Bytes, Vec<Field>),
}

impl From<BitRead> for super::Op {
    fn from(r: BitRead) -> super::Op {
        super::Op::Read(super::ReadOp::Bits(r))
    }
}

impl From<BitWrite> for super::Op {
    fn from(w: BitWrite) -> super::Op {
        super::Op::Write(super::WriteOp::Bits(w))
    }
}

pub(super) fn parse(name: &str, argv: &[Bytes]) -> Result<super::Op, Frame> {
    let a = |i: usize| argv[i].clone();
    Ok(match name {
        "getbit" => BitRead::GetBit(a(1), bit_offset(&argv[2], None)?).into(),
        "setbit" => {
            let off = bit_offset(&argv[2], None)?;
            let on = match parse_i64(&argv[3]) {
                Some(0) => false,
                Some(1) => true,
                _ => return Err(Frame::err(BAD_BIT)),
            };
            BitWrite::SetBit(a(1), off, on).into()
        }
        "bitcount" => BitRead::BitCount(a(1), argv[2..].to_vec()).into(),
        "bitpos" => {
            let bit = match parse_i64(&argv[2]) {
                None => return Err(Frame::err(NOT_INT)),
                Some(0) => false,
                Some(1) => true,
                Some(_) => return Err(Frame::err("The bit argument must be 1 or 0.")),
            };
            BitRead::BitPos(a(1), bit, argv[3..].to_vec()).into()
        }
        "bitop" => {
            let op = if eq(&argv[1], "and") {
                BitOp::And
            } else if eq(&argv[1], "or") {
                BitOp::Or
            } else if eq(&argv[1], "xor") {
                BitOp::Xor
            } else if eq(&argv[1], "not") {
                BitOp::Not
            } else {
                return Err(syntax());
            };
            if op == BitOp::Not && argv.len() != 4 {
                return Err(Frame::err(
                    "BITOP NOT must be called with a single source key.",
                ));
            }
            BitWrite::BitOp(op, a(2), argv[3..].to_vec()).into()
        }
        "bitfield" | "bitfield_ro" => {
            let fields = parse_fields(&argv[2..])?;
            let writes = fields.iter().any(|f| f.op != FieldOp::Get);
            // BITFIELD is a write whatever its subcommands (its table kind), so a GET-only
            // BITFIELD goes through the log too; BITFIELD_RO is the read.
            match (name, writes) {
                ("bitfield", _) => BitWrite::Field(a(1), fields).into(),
                (_, false) => BitRead::FieldGet(a(1), fields).into(),
                (_, true) => {
                    return Err(Frame::err("BITFIELD_RO only supports the GET subcommand"))
                }
            }
        }
        _ => return Err(super::unknown_command(argv)),
    })
}

/// Parses BITFIELD subcommands in order, with Redis's error precedence.
fn parse_fields(args: &[Bytes]) -> Result<Vec<Field>, Frame> {
    let mut out = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 0;
    while j < args.len() {
        let rem = args.len() - j - 1;
        let sub = &args[j];
        let op = if eq(sub, "get") && rem >= 2 {
            0
        } else if eq(sub, "set") && rem >= 3 {
            1
        } else if eq(sub, "incrby") && rem >= 3 {
            2
        } else if eq(sub, "overflow") && rem >= 1 {
            let t = &args[j + 1];
            overflow = if eq(t, "wrap") {
                Overflow::Wrap
            } else if eq(t, "sat") {
                Overflow::Sat
            } else if eq(t, "fail") {
                Overflow::Fail
            } else {
                return Err(Frame::err("Invalid OVERFLOW type specified"));
            };
            j += 2;
            continue;
        } else {
            return Err(syntax());
        };
        let (signed, bits) = bitfield_type(&args[j + 1])?;
        let offset = bit_offset(&args[j + 2], Some(bits))?;
        let op = match op {
            0 => FieldOp::Get,
            _ => {
                let v = parse_i64(&args[j + 3]).ok_or_else(|| Frame::err(NOT_INT))?;
                if op == 1 {
                    FieldOp::Set(v)
                } else {
                    FieldOp::IncrBy(v)
                }
            }
        };
        out.push(Field {
            op,
            signed,
            bits,
            offset,
            overflow,
        });
        j += if op == FieldOp::Get { 3 } else { 4 };
    }
    Ok(out)
}

/// The bytes a write may grow a string to (SETBIT, BITFIELD), for the `maxmemory` check
/// before proposing; `None` when the arguments do not parse (the parser reports the error).
pub fn oom_growth(name: &str, argv: &[Bytes]) -> Option<u64> {
    match name {
        "setbit" => bit_offset(argv.get(2)?, None).ok().map(|o| (o >> 3) + 1),
        "bitfield" => {
            let fields = parse_fields(argv.get(2..)?).ok()?;
            fields
                .iter()
                .filter(|f| f.op != FieldOp::Get)
                .map(|f| ((f.offset + u64::from(f.bits) - 1) >> 3) + 1)
                .max()
        }
        _ => None,
    }
}

/// Redis's `redisBitpos`: the first bit equal to `bit` in `s`; not found is -1 for a set bit
/// and `8 * len` (the zero padding to the right) for a clear bit.
fn first_bit(s: &[u8], bit: bool) -> i64 {
    let skip = if bit { 0u8 } else { 0xff };
    match s.iter().position(|&b| b != skip) {
        Some(i) => {
            let b = if bit { s[i] } else { !s[i] };
            (i as i64) * 8 + i64::from(b.leading_zeros() as u8)
        }
        None if bit => -1,
        None => s.len() as i64 * 8,
    }
}

fn popcount(s: &[u8]) -> i64 {
    s.iter().map(|b| i64::from(b.count_ones() as u8)).sum()
}

/// Parses a BYTE|BIT unit: true for BIT.
fn unit_is_bit(u: Option<&Bytes>) -> Result<bool, Frame> {
    match u {
        None => Ok(false),
        Some(u) if eq(u, "bit") => Ok(true),
        Some(u) if eq(u, "byte") => Ok(false),
        Some(_) => Err(syntax()),
    }
}

fn ll(b: &[u8]) -> Result<i64, Frame> {
    parse_i64(b).ok_or_else(|| Frame::err(NOT_INT))
}

/// The masks of the partial first and last bytes of a BIT range, and the range in bytes.
fn bit_edges(start: i64, end: i64) -> (u8, u8, i64, i64) {
    let first = !((1u16 << (8 - (start & 7))) - 1) as u8;
    let last = ((1u16 << (7 - (end & 7))) - 1) as u8;
    (first, last, start >> 3, end >> 3)
}

fn bitcount(s: &[u8], args: &[Bytes]) -> Result<i64, Frame> {
    let strlen = s.len() as i64;
    let (mut start, mut end);
    let (mut first_mask, mut last_mask) = (0u8, 0u8);
    match args.len() {
        0 => {
            start = 0;
            end = strlen - 1;
        }
        2 | 3 => {
            let mut totlen = strlen;
            start = ll(&args[0])?;
            end = ll(&args[1])?;
            if start < 0 && end < 0 && start > end {
                return Ok(0);
            }
            let isbit = unit_is_bit(args.get(2))?;
            if isbit {
                totlen <<= 3;
            }
            if start < 0 {
                start += totlen;
            }
            if end < 0 {
                end += totlen;
            }
            start = start.max(0);
            end = end.max(0);
            if end >= totlen {
                end = totlen - 1;
            }
            if isbit && start <= end {
                (first_mask, last_mask, start, end) = bit_edges(start, end);
            }
        }
        _ => return Err(syntax()),
    }
    if start > end {
        return Ok(0);
    }
    let (st, en) = (start as usize, end as usize);
    let mut count = popcount(&s[st..=en]);
    count -= popcount(&[s[st] & first_mask, s[en] & last_mask]);
    Ok(count)
}

fn bitpos(s: &[u8], bit: bool, args: &[Bytes]) -> Result<i64, Frame> {
    let strlen = s.len() as i64;
    let (mut start, mut end);
    let mut end_given = false;
    let (mut first_mask, mut last_mask) = (0u8, 0u8);
    match args.len() {
        0 => {
            start = 0;
            end = strlen - 1;
        }
        1..=3 => {
            let mut totlen = strlen;
            start = ll(&args[0])?;
            let isbit = if args.len() == 3 {
                unit_is_bit(args.get(2))?
            } else {
                false
            };
            if args.len() >= 2 {
                end = ll(&args[1])?;
                end_given = true;
            } else if isbit {
                end = (totlen << 3) + 7;
            } else {
                end = totlen - 1;
            }
            if isbit {
                totlen <<= 3;
            }
            if start < 0 {
                start += totlen;
            }
            if end < 0 {
                end += totlen;
            }
            start = start.max(0);
            end = end.max(0);
            if end >= totlen {
                end = totlen - 1;
            }
            if isbit && start <= end {
                (first_mask, last_mask, start, end) = bit_edges(start, end);
            }
        }
        _ => return Err(syntax()),
    }
    if start > end {
        return Ok(-1);
    }
    // A literal rendering of bitposCommand's three segments (partial first byte, whole
    // bytes, partial last byte), so its edge cases come out the same.
    let mut bytes = end - start + 1;
    let pos;
    'result: {
        if first_mask != 0 {
            let mut t = s[start as usize];
            t = if bit { t & !first_mask } else { t | first_mask };
            if last_mask != 0 && bytes == 1 {
                t = if bit { t & !last_mask } else { t | last_mask };
            }
            let p = first_bit(&[t], bit);
            if bytes == 1 || (p != -1 && p != 8) {
                pos = p;
                break 'result;
            }
            start += 1;
            bytes -= 1;
        }
        let cur = bytes - i64::from(last_mask != 0);
        if cur > 0 {
            let p = first_bit(&s[start as usize..(start + cur) as usize], bit);
            if bytes == cur || (p != -1 && p != cur << 3) {
                pos = p;
                break 'result;
            }
            start += cur;
            bytes -= cur;
        }
        let t = s[end as usize];
        let t = if bit { t & !last_mask } else { t | last_mask };
        pos = first_bit(&[t], bit);
    }
    if end_given && !bit && pos == bytes << 3 {
        return Ok(-1);
    }
    Ok(if pos != -1 { pos + (start << 3) } else { pos })
}

// ---- bitfield integers (bitops.c semantics) ----

/// The bytes of a string under BITFIELD: a base string with an overlay of modified bytes
/// (so a write that changes nothing leaves the key untouched) and a logical length.
struct Overlay<'a> {
    base: &'a [u8],
    changed: BTreeMap<usize, u8>,
    len: usize,
}

impl Overlay<'_> {
    fn byte(&self, i: usize) -> u8 {
        match self.changed.get(&i) {
            Some(&b) => b,
            None => self.base.get(i).copied().unwrap_or(0),
        }
    }

    fn set_byte(&mut self, i: usize, b: u8) {
        self.changed.insert(i, b);
    }

    fn get_unsigned(&self, mut offset: u64, bits: u32) -> u64 {
        let mut v = 0u64;
        for _ in 0..bits {
            let byte = self.byte((offset >> 3) as usize);
            let bit = 7 - (offset & 7);
            v = (v << 1) | u64::from((byte >> bit) & 1);
            offset += 1;
        }
        v
    }

    fn get_signed(&self, offset: u64, bits: u32) -> i64 {
        let mut v = self.get_unsigned(offset, bits) as i64;
        if bits < 64 && v & (1i64 << (bits - 1)) != 0 {
            v |= -1i64 << bits;
        }
        v
    }

    fn set_unsigned(&mut self, mut offset: u64, bits: u32, value: u64) {
        for j in 0..bits {
            let bitval = (value >> (bits - 1 - j)) & 1;
            let i = (offset >> 3) as usize;
            let bit = 7 - (offset & 7);
            let mut b = self.byte(i);
            b &= !(1u8 << bit);
            b |= (bitval as u8) << bit;
            self.set_byte(i, b);
            offset += 1;
        }
    }

    /// True if the final bytes differ from the base (or the string grew).
    fn differs(&self) -> bool {
        self.len != self.base.len()
            || self
                .changed
                .iter()
                .any(|(&i, &b)| self.base.get(i).copied().unwrap_or(0) != b)
    }
}

/// `checkUnsignedBitfieldOverflow`: 0 fits, 1 over, -1 under; the limit per `ow`.
fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> (i32, u64) {
    let max = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = (value as i64).wrapping_neg();
    let wrap = || {
        let mask = if bits >= 64 { 0 } else { u64::MAX << bits };
        value.wrapping_add(incr as u64) & !mask
    };
    if value > max || (incr > 0 && incr > maxincr) {
        let lim = match ow {
            Overflow::Wrap => wrap(),
            Overflow::Sat => max,
            Overflow::Fail => 0,
        };
        (1, lim)
    } else if incr < 0 && incr < minincr {
        let lim = match ow {
            Overflow::Wrap => wrap(),
            Overflow::Sat => 0,
            Overflow::Fail => 0,
        };
        (-1, lim)
    } else {
        (0, 0)
    }
}

/// `checkSignedBitfieldOverflow`.
fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> (i32, i64) {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let wrap = || {
        let msb = 1u64 << (bits - 1);
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & msb != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    if value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
        let lim = match ow {
            Overflow::Wrap => wrap(),
            Overflow::Sat => max,
            Overflow::Fail => 0,
        };
        (1, lim)
    } else if value < min
        || (bits != 64 && incr < minincr)
        || (value < 0 && incr < 0 && incr < minincr)
    {
        let lim = match ow {
            Overflow::Wrap => wrap(),
            Overflow::Sat => min,
            Overflow::Fail => 0,
        };
        (-1, lim)
    } else {
        (0, 0)
    }
}

/// Runs BITFIELD operations over `ov`, returning the reply array.
fn run_fields(ov: &mut Overlay<'_>, fields: &[Field]) -> Frame {
    let mut out = Vec::with_capacity(fields.len());
    for f in fields {
        let reply = match f.op {
            FieldOp::Get => {
                if f.signed {
                    Frame::Integer(ov.get_signed(f.offset, f.bits))
                } else {
                    Frame::Integer(ov.get_unsigned(f.offset, f.bits) as i64)
                }
            }
            FieldOp::Set(v) | FieldOp::IncrBy(v) => {
                let incr = matches!(f.op, FieldOp::IncrBy(_));
                if f.signed {
                    let old = ov.get_signed(f.offset, f.bits);
                    let (of, wrapped, newval, ret);
                    if incr {
                        (of, wrapped) = signed_overflow(old, v, f.bits, f.overflow);
                        newval = if of != 0 {
                            wrapped
                        } else {
                            old.wrapping_add(v)
                        };
                        ret = newval;
                    } else {
                        (of, wrapped) = signed_overflow(v, 0, f.bits, f.overflow);
                        newval = if of != 0 { wrapped } else { v };
                        ret = old;
                    }
                    if of != 0 && f.overflow == Overflow::Fail {
                        Frame::Null
                    } else {
                        ov.set_unsigned(f.offset, f.bits, newval as u64);
                        Frame::Integer(ret)
                    }
                } else {
                    let old = ov.get_unsigned(f.offset, f.bits);
                    let (of, wrapped, newval, ret);
                    if incr {
                        (of, wrapped) = unsigned_overflow(old, v, f.bits, f.overflow);
                        newval = if of != 0 {
                            wrapped
                        } else {
                            old.wrapping_add(v as u64)
                        };
                        ret = newval;
                    } else {
                        (of, wrapped) = unsigned_overflow(v as u64, 0, f.bits, f.overflow);
                        newval = if of != 0 { wrapped } else { v as u64 };
                        ret = old;
                    }
                    if of != 0 && f.overflow == Overflow::Fail {
                        Frame::Null
                    } else {
                        ov.set_unsigned(f.offset, f.bits, newval);
                        Frame::Integer(ret as i64)
                    }
                }
            }
        };
        out.push(reply);
    }
    Frame::Array(out)
}

/// Writes the overlay back into `key` (created if absent; its deadline kept), in place.
fn commit(ks: &mut Keyspace, key: &Bytes, now: u64, len: usize, changed: &BTreeMap<usize, u8>) {
    ks.update(key, now, Some(|| Value::Str(Bytes::new())), |v| {
        if let Value::Str(s) = v {
            let mut m = BytesMut::from(std::mem::take(s));
            if m.len() < len {
                m.resize(len, 0);
            }
            for (&i, &b) in changed {
                if let Some(slot) = m.get_mut(i) {
                    *slot = b;
                }
            }
            *s = m.freeze();
        }
    });
}

impl BitRead {
    pub(super) fn read(&self, ks: &Keyspace, now: u64) -> Frame {
        reply(self.read_inner(ks, now))
    }

    fn read_inner(&self, ks: &Keyspace, now: u64) -> Result<Frame, Frame> {
        match self {
            BitRead::GetBit(k, off) => {
                let s = get_str(ks, k, now)?.map(|b| &b[..]).unwrap_or_default();
                let byte = (off >> 3) as usize;
                let bit = 7 - (off & 7);
                let v = s.get(byte).is_some_and(|b| (b >> bit) & 1 == 1);
                Ok(Frame::Integer(i64::from(v)))
            }
            BitRead::BitCount(k, args) => match get_str(ks, k, now)? {
                None => Ok(Frame::Integer(0)),
                Some(s) => bitcount(s, args).map(Frame::Integer),
            },
            BitRead::BitPos(k, bit, args) => match get_str(ks, k, now)? {
                None => Ok(Frame::Integer(if *bit { -1 } else { 0 })),
                Some(s) => bitpos(s, *bit, args).map(Frame::Integer),
            },
            BitRead::FieldGet(k, fields) => {
                let s = get_str(ks, k, now)?.map(|b| &b[..]).unwrap_or_default();
                let mut ov = Overlay {
                    base: s,
                    changed: BTreeMap::new(),
                    len: s.len(),
                };
                Ok(run_fields(&mut ov, fields))
            }
        }
    }
}

impl BitWrite {
    pub(super) fn write(&self, ks: &mut Keyspace, now: u64) -> Frame {
        reply(self.write_inner(ks, now))
    }

    fn write_inner(&self, ks: &mut Keyspace, now: u64) -> Result<Frame, Frame> {
        match self {
            BitWrite::SetBit(k, off, on) => {
                let cur = get_str(ks, k, now)?;
                let byte = (off >> 3) as usize;
                let bit = 7 - (off & 7) as u8;
                let old = cur
                    .and_then(|s| s.get(byte))
                    .is_some_and(|b| (b >> bit) & 1 == 1);
                let grows = cur.is_none_or(|s| s.len() <= byte);
                if grows || old != *on {
                    let mut changed = BTreeMap::new();
                    let b = cur.and_then(|s| s.get(byte)).copied().unwrap_or(0);
                    changed.insert(byte, if *on { b | (1 << bit) } else { b & !(1 << bit) });
                    commit(ks, k, now, byte + 1, &changed);
                } else {
                    // Redis unshares the value (making it `raw`) even when no bit changes.
                    ks.set_encoding_sticky(k, true);
                }
                Ok(Frame::Integer(i64::from(old)))
            }
            BitWrite::BitOp(op, dest, srcs) => {
                let mut inputs: Vec<Bytes> = Vec::with_capacity(srcs.len());
                for k in srcs {
                    inputs.push(get_str(ks, k, now)?.cloned().unwrap_or_default());
                }
                let maxlen = inputs.iter().map(Bytes::len).max().unwrap_or(0);
                if maxlen == 0 {
                    ks.remove(dest);
                    return Ok(Frame::Integer(0));
                }
                let mut res = vec![0u8; maxlen];
                for (j, out) in res.iter_mut().enumerate() {
                    let at = |s: &Bytes| s.get(j).copied().unwrap_or(0);
                    let mut o = at(&inputs[0]);
                    match op {
                        BitOp::Not => o = !o,
                        BitOp::And => inputs[1..].iter().for_each(|s| o &= at(s)),
                        BitOp::Or => inputs[1..].iter().for_each(|s| o |= at(s)),
                        BitOp::Xor => inputs[1..].iter().for_each(|s| o ^= at(s)),
                    }
                    *out = o;
                }
                ks.insert(dest.clone(), Value::Str(Bytes::from(res)), None, now);
                // Redis builds the result as a `raw` string object whatever its length.
                ks.set_encoding_sticky(dest, true);
                Ok(Frame::Integer(maxlen as i64))
            }
            BitWrite::Field(k, fields) => {
                if fields.iter().all(|f| f.op == FieldOp::Get) {
                    return BitRead::FieldGet(k.clone(), fields.clone()).read_inner(ks, now);
                }
                let cur = get_str(ks, k, now)?;
                let created = cur.is_none();
                let base = cur.cloned().unwrap_or_default();
                let highest = fields
                    .iter()
                    .filter(|f| f.op != FieldOp::Get)
                    .map(|f| f.offset + u64::from(f.bits) - 1)
                    .max()
                    .unwrap_or(0);
                let need = ((highest >> 3) + 1) as usize;
                let mut ov = Overlay {
                    base: &base,
                    changed: BTreeMap::new(),
                    len: base.len().max(need),
                };
                let r = run_fields(&mut ov, fields);
                if created || ov.differs() {
                    let (len, changed) = (ov.len, std::mem::take(&mut ov.changed));
                    commit(ks, k, now, len, &changed);
                } else {
                    ks.set_encoding_sticky(k, true);
                }
                Ok(r)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use crate::keyspace::Keyspace;
    use crate::resp::Frame;

    const WT: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

    fn ints(v: &[i64]) -> Frame {
        Frame::Array(v.iter().map(|&n| Frame::Integer(n)).collect())
    }

    #[test]
    fn setbit_getbit() {
        let mut ks = Keyspace::new();
        assert_eq!(run(&mut ks, 0, &["setbit", "k", "7", "1"]), i(0));
        assert_eq!(run(&mut ks, 0, &["get", "k"]), Frame::bulk(b"\x01"));
        assert_eq!(run(&mut ks, 0, &["setbit", "k", "7", "1"]), i(1));
        assert_eq!(run(&mut ks, 0, &["setbit", "k", "0", "1"]), i(0));
        assert_eq!(run(&mut ks, 0, &["get", "k"]), Frame::bulk(b"\x81"));
        assert_eq!(run(&mut ks, 0, &["setbit", "k", "17", "0"]), i(0));
        assert_eq!(run(&mut ks, 0, &["strlen", "k"]), i(3));
        assert_eq!(run(&mut ks, 0, &["getbit", "k", "0"]), i(1));
        assert_eq!(run(&mut ks, 0, &["getbit", "k", "1"]), i(0));
        assert_eq!(run(&mut ks, 0, &["getbit", "k", "100000"]), i(0));
        assert_eq!(run(&mut ks, 0, &["getbit", "nope", "3"]), i(0));
        let off = "bit offset is not an integer or out of range";
        assert_eq!(
            run(&mut ks, 0, &["setbit", "k", "-1", "1"]),
            e(&format!("ERR {off}"))
        );
        assert_eq!(
            run(&mut ks, 0, &["setbit", "k", "4294967296", "1"]),
            e(&format!("ERR {off}"))
        );
        assert_eq!(
            run(&mut ks, 0, &["getbit", "k", "x"]),
            e(&format!("ERR {off}"))
        );
        assert_eq!(
            run(&mut ks, 0, &["setbit", "k", "1", "2"]),
            e("ERR bit is not an integer or out of range")
        );
        run(&mut ks, 0, &["rpush", "l", "a"]);
        assert_eq!(run(&mut ks, 0, &["setbit", "l", "1", "1"]), e(WT));
        assert_eq!(run(&mut ks, 0, &["getbit", "l", "1"]), e(WT));
        // SETBIT keeps the deadline.
        run(&mut ks, 0, &["set", "t", "a", "ex", "100"]);
        run(&mut ks, 0, &["setbit", "t", "100", "1"]);
        assert_eq!(run(&mut ks, 0, &["ttl", "t"]), i(100));
    }

    #[test]
    fn bitcount_ranges() {
        let mut ks = Keyspace::new();
        run(&mut ks, 0, &["set", "k", "foobar"]);
        assert_eq!(run(&mut ks, 0, &["bitcount", "k"]), i(26));
        assert_eq!(run(&mut ks, 0, &["bitcount", "k", "0", "0"]), i(4));
        assert_eq!(run(&mut ks, 0, &["bitcount", "k", "1", "1"]), i(6));
        assert_eq!(run(&mut ks, 0, &["bitcount", "k", "1", "1", "byte"]), i(6));
        assert_eq!(run(&mut ks, 0, &["bitcount", "k", "5", "30", "BIT"]), i(17));
        assert_eq!(run(&mut ks, 0, &["bitcount", "k", "-2", "-1"]), i(7));
        assert_eq!(run(&mut ks, 0, &["bitcount", "k", "-1", "-2"]), i(0));
        assert_eq!(
            run(&mut ks, 0, &["bitcount", "k", "0"]),
            e("ERR syntax error")
        );
        assert_eq!(
            run(&mut ks, 0, &["bitcount", "k", "0", "1", "bits"]),
            e("ERR syntax error")
        );
        assert_eq!(
            run(&mut ks, 0, &["bitcount", "k", "a", "1"]),
            e("ERR value is not an integer or out of range")
        );
        // A missing key answers 0 before its arguments are looked at (Redis 7.0).
        assert_eq!(run(&mut ks, 0, &["bitcount", "no", "a"]), i(0));
    }

    #[test]
    fn bitpos_cases() {
        let mut ks = Keyspace::new();
        run(&mut ks, 0, &["set", "k", "\u{7f}"]);
        assert_eq!(run(&mut ks, 0, &["bitpos", "k", "0"]), i(0));
        assert_eq!(run(&mut ks, 0, &["bitpos", "k", "1"]), i(1));
        run(&mut ks, 0, &["setbit", "f", "7", "1"]);
        run(&mut ks, 0, &["setbit", "f", "0", "1"]);
        run(&mut ks, 0, &["bitop", "not", "ff", "missing"]);
        assert_eq!(run(&mut ks, 0, &["bitpos", "nope", "0"]), i(0));
        assert_eq!(run(&mut ks, 0, &["bitpos", "nope", "1"]), i(-1));
        run(&mut ks, 0, &["set", "ones", "\u{7f}\u{7f}"]);
        run(&mut ks, 0, &["setbit", "ones", "0", "1"]);
        run(&mut ks, 0, &["setbit", "ones", "8", "1"]);
        // All ones: clear bit search past the end unless an end is given.
        assert_eq!(run(&mut ks, 0, &["bitpos", "ones", "0"]), i(16));
        assert_eq!(run(&mut ks, 0, &["bitpos", "ones", "0", "1"]), i(16));
        assert_eq!(run(&mut ks, 0, &["bitpos", "ones", "0", "0", "-1"]), i(-1));
        assert_eq!(
            run(&mut ks, 0, &["bitpos", "ones", "1", "3", "7", "bit"]),
            i(3)
        );
        assert_eq!(
            run(&mut ks, 0, &["bitpos", "ones", "2"]),
            e("ERR The bit argument must be 1 or 0.")
        );
        assert_eq!(
            run(&mut ks, 0, &["bitpos", "ones", "1", "0", "1", "x"]),
            e("ERR syntax error")
        );
        run(&mut ks, 0, &["set", "z", "\0\0\0"]);
        assert_eq!(run(&mut ks, 0, &["bitpos", "z", "1"]), i(-1));
        assert_eq!(
            run(&mut ks, 0, &["bitpos", "z", "1", "2", "20", "bit"]),
            i(-1)
        );
        assert_eq!(
            run(&mut ks, 0, &["bitpos", "z", "0", "9", "-1", "bit"]),
            i(9)
        );
    }

    #[test]
    fn bitop_family() {
        let mut ks = Keyspace::new();
        run(&mut ks, 0, &["set", "a", "foobar"]);
        run(&mut ks, 0, &["set", "b", "abcdef"]);
        assert_eq!(run(&mut ks, 0, &["bitop", "and", "d", "a", "b"]), i(6));
        assert_eq!(run(&mut ks, 0, &["get", "d"]), b("`bc`ab"));
        assert_eq!(run(&mut ks, 0, &["bitop", "or", "d", "a", "b"]), i(6));
        assert_eq!(run(&mut ks, 0, &["get", "d"]), b("goofev"));
        assert_eq!(run(&mut ks, 0, &["bitop", "xor", "d", "a", "nope"]), i(6));
        assert_eq!(run(&mut ks, 0, &["get", "d"]), b("foobar"));
        run(&mut ks, 0, &["set", "s", "a"]);
        assert_eq!(run(&mut ks, 0, &["bitop", "and", "d", "a", "s"]), i(6));
        assert_eq!(run(&mut ks, 0, &["get", "d"]), Frame::bulk(b"`\0\0\0\0\0"));
        assert_eq!(run(&mut ks, 0, &["bitop", "not", "d", "s"]), i(1));
        assert_eq!(run(&mut ks, 0, &["get", "d"]), Frame::bulk(b"\x9e"));
        assert_eq!(
            run(&mut ks, 0, &["bitop", "not", "d", "a", "b"]),
            e("ERR BITOP NOT must be called with a single source key.")
        );
        assert_eq!(
            run(&mut ks, 0, &["bitop", "nand", "d", "a"]),
            e("ERR syntax error")
        );
        // An empty result deletes the destination.
        assert_eq!(run(&mut ks, 0, &["bitop", "or", "d", "x", "y"]), i(0));
        assert_eq!(run(&mut ks, 0, &["exists", "d"]), i(0));
        run(&mut ks, 0, &["rpush", "l", "a"]);
        assert_eq!(run(&mut ks, 0, &["bitop", "or", "d", "a", "l"]), e(WT));
    }

    #[test]
    fn bitfield_ops() {
        let mut ks = Keyspace::new();
        assert_eq!(
            run(
                &mut ks,
                0,
                &["bitfield", "k", "set", "i8", "0", "-100", "get", "u4", "0"]
            ),
            ints(&[0, 9])
        );
        assert_eq!(
            run(&mut ks, 0, &["bitfield", "k", "incrby", "i8", "0", "-100"]),
            ints(&[56])
        );
        assert_eq!(
            run(
                &mut ks,
                0,
                &["bitfield", "k", "overflow", "sat", "incrby", "i8", "0", "-200"]
            ),
            ints(&[-128])
        );
        assert_eq!(
            run(
                &mut ks,
                0,
                &["bitfield", "k", "overflow", "fail", "incrby", "i8", "0", "-1"]
            ),
            Frame::Array(vec![Frame::Null])
        );
        assert_eq!(
            run(
                &mut ks,
                0,
                &[
                    "bitfield", "c", "incrby", "u2", "100", "1", "overflow", "sat", "incrby", "u2",
                    "102", "1"
                ]
            ),
            ints(&[1, 1])
        );
        for _ in 0..3 {
            run(
                &mut ks,
                0,
                &[
                    "bitfield", "c", "incrby", "u2", "100", "1", "overflow", "sat", "incrby", "u2",
                    "102", "1",
                ],
            );
        }
        assert_eq!(
            run(
                &mut ks,
                0,
                &["bitfield", "c", "get", "u2", "100", "get", "u2", "102"]
            ),
            ints(&[0, 3])
        );
        assert_eq!(
            run(
                &mut ks,
                0,
                &["bitfield", "p", "set", "u8", "#2", "255", "get", "u8", "16"]
            ),
            ints(&[0, 255])
        );
        assert_eq!(run(&mut ks, 0, &["strlen", "p"]), i(3));
        assert_eq!(
            run(
                &mut ks,
                0,
                &["bitfield", "p", "set", "i64", "0", "-1", "get", "i64", "0", "get", "u63", "1"]
            ),
            ints(&[0xff << 40, -1, i64::MAX])
        );
        let bt = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
        assert_eq!(
            run(&mut ks, 0, &["bitfield", "k", "get", "u64", "0"]),
            e(bt)
        );
        assert_eq!(run(&mut ks, 0, &["bitfield", "k", "get", "I8", "0"]), e(bt));
        assert_eq!(run(&mut ks, 0, &["bitfield", "k", "get", "i0", "0"]), e(bt));
        assert_eq!(
            run(&mut ks, 0, &["bitfield", "k", "get", "i8"]),
            e("ERR syntax error")
        );
        assert_eq!(
            run(&mut ks, 0, &["bitfield", "k", "overflow", "up"]),
            e("ERR Invalid OVERFLOW type specified")
        );
        assert_eq!(
            run(&mut ks, 0, &["bitfield", "k", "get", "i8", "#-1"]),
            e("ERR bit offset is not an integer or out of range")
        );
        assert_eq!(
            run(&mut ks, 0, &["bitfield_ro", "k", "set", "i8", "0", "1"]),
            e("ERR BITFIELD_RO only supports the GET subcommand")
        );
        assert_eq!(
            run(&mut ks, 0, &["bitfield_ro", "k", "get", "i8", "0"]),
            ints(&[-128])
        );
        assert_eq!(run(&mut ks, 0, &["bitfield", "nope"]), Frame::Array(vec![]));
        assert_eq!(run(&mut ks, 0, &["exists", "nope"]), i(0));
        run(&mut ks, 0, &["rpush", "l", "a"]);
        assert_eq!(run(&mut ks, 0, &["bitfield", "l", "get", "i8", "0"]), e(WT));
        // Wrap for unsigned and signed.
        assert_eq!(
            run(
                &mut ks,
                0,
                &[
                    "bitfield", "w", "set", "u8", "0", "257", "set", "i8", "8", "128", "get", "u8",
                    "0", "get", "i8", "8"
                ]
            ),
            ints(&[0, 0, 1, -128])
        );
    }

    #[test]
    fn oom_growth_reports_bitmap_writes() {
        use bytes::Bytes;
        let argv =
            |w: &[&str]| -> Vec<Bytes> { w.iter().map(|s| Bytes::from(s.to_string())).collect() };
        assert_eq!(
            super::oom_growth("setbit", &argv(&["setbit", "k", "8000000", "1"])),
            Some(1_000_001)
        );
        assert_eq!(
            super::oom_growth(
                "bitfield",
                &argv(&["bitfield", "k", "get", "u8", "9999", "set", "u8", "#3", "1"])
            ),
            Some(4)
        );
        assert_eq!(
            super::oom_growth("setbit", &argv(&["setbit", "k", "-1", "1"])),
            None
        );
    }
}
