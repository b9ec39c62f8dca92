//! Sorted-set commands (Redis 7.0): ZADD (NX/XX/GT/LT/CH/INCR) ZINCRBY ZREM ZCARD ZSCORE
//! ZMSCORE ZRANK ZREVRANK ZCOUNT ZLEXCOUNT ZRANGE (BYSCORE/BYLEX/REV/LIMIT/WITHSCORES)
//! ZRANGEBYSCORE ZREVRANGEBYSCORE ZRANGEBYLEX ZREVRANGEBYLEX ZREVRANGE
//! ZREMRANGEBYRANK|SCORE|LEX ZPOPMIN ZPOPMAX ZMPOP ZRANGESTORE ZUNION ZINTER ZDIFF
//! (+STORE, WEIGHTS, AGGREGATE) ZINTERCARD ZRANDMEMBER ZSCAN.
//!
//! ZRANDMEMBER is a read (never in the log): it draws from a `sdr_seeded::Rng` seeded per
//! call from the read's time and a process-wide call counter, so replies vary between calls
//! as Redis's do while replicated state never depends on randomness.
//!
//! Scores are IEEE doubles parsed as Redis parses them ([`parse_score`]: C `strtod` with
//! `string2d`'s checks; range bounds with `zslParseRange`'s looser ones) and printed through
//! the one function [`score_reply`] (Redis 7.0's RESP2 `%.17g`, `inf`/`-inf`), so a protocol
//! change (RESP3 doubles) touches one place. Lexicographic ranges follow Redis's listpack
//! walk (first member `>= min` in score order, then while `<= max`), which is what Redis does
//! for every small sorted set, including the unspecified mixed-score case.
//! Errors are checked in Redis's order: syntax and numbers when parsed, then the key.

use bytes::Bytes;

use super::{eq, norm_range, reply, syntax, typed, NOT_FLOAT, NOT_INT};
use crate::keyspace::{own, Keyspace, Value, ZSet};
use crate::resp::{parse_i64, Frame};

const NAN_SCORE: &str = "resulting score is not a number (NaN)";
const NOT_FLOAT_RANGE: &str = "min or max is not a float";
const NOT_LEX_RANGE: &str = "min or max not valid string range item";
const NOT_POSITIVE: &str = "value is out of range, must be positive";

// ---- scores: parsing and the one reply function ----

/// A score reply. The only place a score becomes a frame: a double (RESP3 `,%.17g`, RESP2 a
/// bulk of the same text, as Redis 7.0's `addReplyDouble`).
pub(crate) fn score_reply(s: f64) -> Frame {
    Frame::Double(s)
}

/// C's `%.17g` (what Redis 7.0's `addReplyDouble` prints), with `inf`/`-inf`: the RESP2
/// text of a score, shared with the encoder's RESP3 doubles.
pub(crate) fn format_score(d: f64) -> String {
    crate::resp::format_double(d)
}

/// C `isspace`.
fn c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// The whole of `s` as a decimal or `inf`/`infinity` literal (what `strtod` accepts, minus
/// hex floats); `None` if anything is left over.
fn strtod_all(s: &[u8]) -> Option<f64> {
    std::str::from_utf8(s).ok()?.parse::<f64>().ok()
}

/// A score argument as Redis's `getDoubleFromObject` (`string2d`): no leading space, whole
/// string, not NaN, no overflow to infinity or underflow to zero (`1e400`, `1e-400`).
pub(crate) fn parse_score(b: &[u8]) -> Option<f64> {
    if b.is_empty() || c_space(b[0]) {
        return None;
    }
    let v = strtod_all(b)?;
    if v.is_nan() {
        return None;
    }
    let mantissa = b
        .iter()
        .take_while(|&&c| c != b'e' && c != b'E')
        .collect::<Vec<_>>();
    let literal_inf = b.iter().any(|c| c.eq_ignore_ascii_case(&b'i'));
    if v.is_infinite() && !literal_inf {
        return None;
    }
    if v == 0.0 && mantissa.iter().any(|&&c| (b'1'..=b'9').contains(&c)) {
        return None;
    }
    Some(v)
}

/// A range bound's number as `zslParseRange`'s `strtod` sees it: a C string (stops at NUL),
/// leading spaces skipped, empty is 0, overflow is infinity, only NaN and leftovers refused.
fn parse_range_number(b: &[u8]) -> Option<f64> {
    let b = &b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())];
    if b.is_empty() {
        return Some(0.0);
    }
    let t = &b[b.iter().position(|&c| !c_space(c))?..];
    let v = strtod_all(t)?;
    (!v.is_nan()).then_some(v)
}

/// A score interval (`min`/`max` with `(` for exclusive), as `zrangespec`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreRange {
    min: f64,
    max: f64,
    minex: bool,
    maxex: bool,
}

impl ScoreRange {
    fn parse(min: &[u8], max: &[u8]) -> Result<ScoreRange, Frame> {
        let one = |b: &[u8]| -> Option<(f64, bool)> {
            match b.strip_prefix(b"(") {
                Some(rest) => Some((parse_range_number(rest)?, true)),
                None => Some((parse_range_number(b)?, false)),
            }
        };
        match (one(min), one(max)) {
            (Some((min, minex)), Some((max, maxex))) => Ok(ScoreRange {
                min,
                max,
                minex,
                maxex,
            }),
            _ => Err(Frame::err(NOT_FLOAT_RANGE)),
        }
    }
    fn gte_min(&self, s: f64) -> bool {
        if self.minex {
            s > self.min
        } else {
            s >= self.min
        }
    }
    fn lte_max(&self, s: f64) -> bool {
        if self.maxex {
            s < self.max
        } else {
            s <= self.max
        }
    }
    fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.minex || self.maxex))
    }
}

/// One end of a lexicographic range.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Lex {
    /// `-`: below every member.
    Min,
    /// `+`: above every member.
    Max,
    /// `[m` (`excl` false) or `(m`.
    Member { m: Bytes, excl: bool },
}

/// A lexicographic interval, as `zlexrangespec`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LexRange {
    min: Lex,
    max: Lex,
}

impl Lex {
    fn parse(b: &[u8]) -> Option<Lex> {
        match b.first()? {
            b'+' if b.len() == 1 => Some(Lex::Max),
            b'-' if b.len() == 1 => Some(Lex::Min),
            b'(' => Some(Lex::Member {
                m: own(&b[1..]),
                excl: true,
            }),
            b'[' => Some(Lex::Member {
                m: own(&b[1..]),
                excl: false,
            }),
            _ => None,
        }
    }
    /// Redis's `sdscmplex`: `-` < every string < `+`.
    fn cmp_member(&self, m: &[u8]) -> std::cmp::Ordering {
        use std::cmp::Ordering::*;
        match self {
            Lex::Min => Less,
            Lex::Max => Greater,
            Lex::Member { m: x, .. } => x[..].cmp(m),
        }
    }
    fn excl(&self) -> bool {
        !matches!(self, Lex::Member { excl: false, .. })
    }
}

impl LexRange {
    fn parse(min: &[u8], max: &[u8]) -> Result<LexRange, Frame> {
        match (Lex::parse(min), Lex::parse(max)) {
            (Some(min), Some(max)) => Ok(LexRange { min, max }),
            _ => Err(Frame::err(NOT_LEX_RANGE)),
        }
    }
    fn gte_min(&self, m: &[u8]) -> bool {
        let c = self.min.cmp_member(m);
        if self.min.excl() {
            c.is_lt()
        } else {
            c.is_le()
        }
    }
    fn lte_max(&self, m: &[u8]) -> bool {
        let c = self.max.cmp_member(m);
        if self.max.excl() {
            c.is_gt()
        } else {
            c.is_ge()
        }
    }
    fn is_empty(&self) -> bool {
        use std::cmp::Ordering::*;
        let c = match (&self.min, &self.max) {
            (Lex::Min, Lex::Min) | (Lex::Max, Lex::Max) => Equal,
            (Lex::Min, _) | (_, Lex::Max) => Less,
            (Lex::Max, _) | (_, Lex::Min) => Greater,
            (Lex::Member { m: a, .. }, Lex::Member { m: b, .. }) => a.cmp(b),
        };
        c == Greater || (c == Equal && (self.min.excl() || self.max.excl()))
    }
}

// ---- range selection over a ZSet ----

/// Which members a range command selects.
#[derive(Clone, Debug, PartialEq)]
pub enum RangeSel {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

type It<'a> = Box<dyn Iterator<Item = (&'a Bytes, f64)> + 'a>;

/// The members `sel` selects, in ascending order or, with `rev`, descending.
fn select<'a>(z: &'a ZSet, sel: &RangeSel, rev: bool) -> It<'a> {
    match sel {
        RangeSel::Rank(start, end) => {
            let Some((s, e)) = norm_range(*start, *end, z.len()) else {
                return Box::new(std::iter::empty());
            };
            if rev {
                Box::new(z.iter().rev().skip(s).take(e - s + 1))
            } else {
                Box::new(z.iter().skip(s).take(e - s + 1))
            }
        }
        RangeSel::Score(r) => {
            let r = *r;
            if r.is_empty() {
                return Box::new(std::iter::empty());
            }
            if rev {
                let below: It<'a> = match r.max.next_up() {
                    up if up.is_nan() || r.max == f64::INFINITY => Box::new(z.iter().rev()),
                    up => Box::new(z.below_score(up).rev()),
                };
                Box::new(
                    below
                        .skip_while(move |(_, s)| !r.lte_max(*s))
                        .take_while(move |(_, s)| r.gte_min(*s)),
                )
            } else {
                Box::new(
                    z.from_score(r.min)
                        .skip_while(move |(_, s)| !r.gte_min(*s))
                        .take_while(move |(_, s)| r.lte_max(*s)),
                )
            }
        }
        RangeSel::Lex(r) => {
            let (Some(first), Some(last)) = (z.iter().next(), z.iter().next_back()) else {
                return Box::new(std::iter::empty());
            };
            // zzlIsInLexRange: ranges that cannot match anything.
            if r.is_empty() || !r.gte_min(last.0) || !r.lte_max(first.0) {
                return Box::new(std::iter::empty());
            }
            let r = r.clone();
            if rev {
                let r2 = r.clone();
                Box::new(
                    z.iter()
                        .rev()
                        .skip_while(move |(m, _)| !r.lte_max(m))
                        .take_while(move |(m, _)| r2.gte_min(m)),
                )
            } else {
                let r2 = r.clone();
                Box::new(
                    z.iter()
                        .skip_while(move |(m, _)| !r.gte_min(m))
                        .take_while(move |(m, _)| r2.lte_max(m)),
                )
            }
        }
    }
}

/// A parsed ZRANGE-family read.
#[derive(Clone, Debug, PartialEq)]
pub struct RangeSpec {
    sel: RangeSel,
    rev: bool,
    /// LIMIT offset (0 without LIMIT). Negative selects nothing, as Redis's `offset--` loop.
    offset: i64,
    /// LIMIT count; negative is unlimited (-1 without LIMIT).
    limit: i64,
    withscores: bool,
}

impl RangeSpec {
    fn members<'a>(&self, z: &'a ZSet) -> Vec<(&'a Bytes, f64)> {
        if self.offset < 0 {
            return Vec::new();
        }
        let it = select(z, &self.sel, self.rev).skip(self.offset as usize);
        match usize::try_from(self.limit) {
            Ok(n) => it.take(n).collect(),
            Err(_) => it.collect(),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeBy {
    Rank,
    Score,
    Lex,
}

/// `zrangeGenericCommand`'s argument parsing. `by`/`rev` preset by the legacy commands (which
/// then refuse the BYSCORE/BYLEX/REV words); `argv[1]` is the key, `argv[2..4]` the range.
fn parse_range(
    argv: &[Bytes],
    by: Option<RangeBy>,
    rev: Option<bool>,
    store: bool,
) -> Result<RangeSpec, Frame> {
    let (mut by_opt, mut rev_opt) = (by, rev);
    let (mut withscores, mut offset, mut limit) = (false, 0i64, -1i64);
    let mut j = 4;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        let a = &argv[j];
        if !store && eq(a, "withscores") {
            withscores = true;
        } else if eq(a, "limit") && left >= 2 {
            offset = parse_i64(&argv[j + 1]).ok_or_else(|| Frame::err(NOT_INT))?;
            limit = parse_i64(&argv[j + 2]).ok_or_else(|| Frame::err(NOT_INT))?;
            j += 2;
        } else if rev_opt.is_none() && eq(a, "rev") {
            rev_opt = Some(true);
        } else if by_opt.is_none() && eq(a, "bylex") {
            by_opt = Some(RangeBy::Lex);
        } else if by_opt.is_none() && eq(a, "byscore") {
            by_opt = Some(RangeBy::Score);
        } else {
            return Err(syntax());
        }
        j += 1;
    }
    let rev = rev_opt.unwrap_or(false);
    let by = by_opt.unwrap_or(RangeBy::Rank);
    // Redis tests only the count (`LIMIT 5 -1` passes, and rank ranges ignore the offset).
    if limit != -1 && by == RangeBy::Rank {
        return Err(Frame::err(
            "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && by == RangeBy::Lex {
        return Err(Frame::err(
            "syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    if by == RangeBy::Rank {
        offset = 0;
    }
    let (lo, hi) = if rev && by != RangeBy::Rank {
        (&argv[3], &argv[2])
    } else {
        (&argv[2], &argv[3])
    };
    let sel = match by {
        RangeBy::Rank => RangeSel::Rank(
            parse_i64(lo).ok_or_else(|| Frame::err(NOT_INT))?,
            parse_i64(hi).ok_or_else(|| Frame::err(NOT_INT))?,
        ),
        RangeBy::Score => RangeSel::Score(ScoreRange::parse(lo, hi)?),
        RangeBy::Lex => RangeSel::Lex(LexRange::parse(lo, hi)?),
    };
    Ok(RangeSpec {
        sel,
        rev,
        offset,
        limit,
        withscores,
    })
}

// ---- ops ----

/// ZADD's flags (ZINCRBY is ZADD with `incr`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// The ZADD that GEOADD performs: `pairs` of (geohash score, member) with NX / XX / CH.
pub(crate) fn geo_add(
    key: Bytes,
    nx: bool,
    xx: bool,
    ch: bool,
    pairs: Vec<(f64, Bytes)>,
) -> ZSetWrite {
    ZSetWrite::Add {
        key,
        flags: AddFlags {
            nx,
            xx,
            ch,
            ..AddFlags::default()
        },
        pairs,
    }
}

/// The read commands of this family: executed against `&Keyspace` after a read barrier.
#[derive(Clone, Debug, PartialEq)]
pub enum ZSetRead {
    Card(Bytes),
    Score(Bytes, Bytes),
    MScore(Bytes, Vec<Bytes>),
    Rank {
        key: Bytes,
        member: Bytes,
        rev: bool,
    },
    Count(Bytes, ScoreRange),
    LexCount(Bytes, LexRange),
    Range(Bytes, RangeSpec),
    /// ZUNION / ZINTER / ZDIFF (`store` None) and ZINTERCARD.
    Combine(Combine),
    RandMember {
        key: Bytes,
        /// `None`: one member, bulk reply.
        count: Option<i64>,
        withscores: bool,
    },
    /// `opts` (MATCH pattern, COUNT) or their error: Redis parses them only after finding
    /// the key, so a missing key answers an empty scan whatever follows.
    Scan {
        key: Bytes,
        cursor: u64,
        opts: Result<(Option<Bytes>, usize), Frame>,
    },
}

/// The write commands of this family: proposed to Raft, executed at apply time.
#[derive(Clone, Debug, PartialEq)]
pub enum ZSetWrite {
    Add {
        key: Bytes,
        flags: AddFlags,
        pairs: Vec<(f64, Bytes)>,
    },
    Rem(Bytes, Vec<Bytes>),
    RemRange(Bytes, RangeSel),
    Pop {
        key: Bytes,
        max: bool,
        count: Option<u64>,
    },
    /// ZMPOP: the first non-empty key of `keys`.
    MPop {
        keys: Vec<Bytes>,
        max: bool,
        count: u64,
    },
    /// BZPOPMIN / BZPOPMAX: one member from the first key holding a sorted set, replied as
    /// `[key, member, score]` (nil array when none holds one: the timeout reply).
    BPop {
        keys: Vec<Bytes>,
        max: bool,
    },
    /// ZRANGESTORE dst src ...
    RangeStore {
        dst: Bytes,
        src: Bytes,
        spec: RangeSpec,
    },
    /// ZUNIONSTORE / ZINTERSTORE / ZDIFFSTORE (`store` set).
    Combine(Combine),
}

/// Which set operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetOp {
    Union,
    Inter,
    Diff,
}

/// How scores of a member found in several inputs combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aggregate {
    Sum,
    Min,
    Max,
}

/// The options after the keys of a set operation.
#[derive(Clone, Debug, PartialEq)]
pub struct CombineOpts {
    weights: Vec<f64>,
    aggregate: Aggregate,
    withscores: bool,
    /// ZINTERCARD LIMIT (0: none).
    limit: u64,
}

/// A parsed set operation. As in Redis, the inputs' types are checked before the options, so
/// an option error waits in `opts` until the keys have been looked at.
#[derive(Clone, Debug, PartialEq)]
pub struct Combine {
    op: SetOp,
    store: Option<Bytes>,
    card_only: bool,
    keys: Vec<Bytes>,
    opts: Result<CombineOpts, Frame>,
}

/// `zaddGenericCommand`'s parsing; ZINCRBY arrives with `incr` preset (and, as in Redis,
/// also goes through the flag loop).
fn parse_add(argv: &[Bytes], incr: bool) -> Result<ZSetWrite, Frame> {
    let mut f = AddFlags {
        incr,
        ..AddFlags::default()
    };
    let mut i = 2;
    while i < argv.len() {
        let o = &argv[i];
        if eq(o, "nx") {
            f.nx = true;
        } else if eq(o, "xx") {
            f.xx = true;
        } else if eq(o, "ch") {
            f.ch = true;
        } else if eq(o, "incr") {
            f.incr = true;
        } else if eq(o, "gt") {
            f.gt = true;
        } else if eq(o, "lt") {
            f.lt = true;
        } else {
            break;
        }
        i += 1;
    }
    let rest = &argv[i..];
    if rest.is_empty() || rest.len() % 2 != 0 {
        return Err(syntax());
    }
    if f.nx && f.xx {
        return Err(Frame::err(
            "XX and NX options at the same time are not compatible",
        ));
    }
    if (f.gt && f.nx) || (f.lt && f.nx) || (f.gt && f.lt) {
        return Err(Frame::err(
            "GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if f.incr && rest.len() > 2 {
        return Err(Frame::err(
            "INCR option supports a single increment-element pair",
        ));
    }
    let pairs = rest
        .chunks_exact(2)
        .map(|c| {
            parse_score(&c[0])
                .map(|s| (s, c[1].clone()))
                .ok_or_else(|| Frame::err(NOT_FLOAT))
        })
        .collect::<Result<Vec<_>, Frame>>()?;
    Ok(ZSetWrite::Add {
        key: argv[1].clone(),
        flags: f,
        pairs,
    })
}

pub(super) fn parse(name: &str, argv: &[Bytes]) -> Result<super::Op, Frame> {
    let a = |i: usize| argv[i].clone();
    Ok(match name {
        "zadd" => parse_add(argv, false)?.into(),
        "zincrby" => parse_add(argv, true)?.into(),
        "zrem" => ZSetWrite::Rem(a(1), argv[2..].to_vec()).into(),
        "zcard" => ZSetRead::Card(a(1)).into(),
        "zscore" => ZSetRead::Score(a(1), a(2)).into(),
        "zmscore" => ZSetRead::MScore(a(1), argv[2..].to_vec()).into(),
        "zrank" | "zrevrank" => ZSetRead::Rank {
            key: a(1),
            member: a(2),
            rev: name == "zrevrank",
        }
        .into(),
        "zcount" => ZSetRead::Count(a(1), ScoreRange::parse(&argv[2], &argv[3])?).into(),
        "zlexcount" => ZSetRead::LexCount(a(1), LexRange::parse(&argv[2], &argv[3])?).into(),
        "zrange" => ZSetRead::Range(a(1), parse_range(argv, None, None, false)?).into(),
        "zrevrange" => ZSetRead::Range(
            a(1),
            parse_range(argv, Some(RangeBy::Rank), Some(true), false)?,
        )
        .into(),
        "zrangebyscore" | "zrevrangebyscore" => {
            let rev = name == "zrevrangebyscore";
            ZSetRead::Range(
                a(1),
                parse_range(argv, Some(RangeBy::Score), Some(rev), false)?,
            )
            .into()
        }
        "zrangebylex" | "zrevrangebylex" => {
            let rev = name == "zrevrangebylex";
            ZSetRead::Range(
                a(1),
                parse_range(argv, Some(RangeBy::Lex), Some(rev), false)?,
            )
            .into()
        }
        "zremrangebyrank" => ZSetWrite::RemRange(
            a(1),
            RangeSel::Rank(
                parse_i64(&argv[2]).ok_or_else(|| Frame::err(NOT_INT))?,
                parse_i64(&argv[3]).ok_or_else(|| Frame::err(NOT_INT))?,
            ),
        )
        .into(),
        "zremrangebyscore" => ZSetWrite::RemRange(
            a(1),
            RangeSel::Score(ScoreRange::parse(&argv[2], &argv[3])?),
        )
        .into(),
        "zremrangebylex" => {
            ZSetWrite::RemRange(a(1), RangeSel::Lex(LexRange::parse(&argv[2], &argv[3])?)).into()
        }
        "zpopmin" | "zpopmax" => {
            if argv.len() > 3 {
                return Err(syntax());
            }
            let count = match argv.get(2) {
                None => None,
                Some(c) => Some(
                    parse_i64(c)
                        .and_then(|n| u64::try_from(n).ok())
                        .ok_or_else(|| Frame::err(NOT_POSITIVE))?,
                ),
            };
            ZSetWrite::Pop {
                key: a(1),
                max: name == "zpopmax",
                count,
            }
            .into()
        }
        "zunion" | "zinter" | "zdiff" | "zintercard" => {
            let op = match name {
                "zunion" => SetOp::Union,
                "zdiff" => SetOp::Diff,
                _ => SetOp::Inter,
            };
            ZSetRead::Combine(parse_combine(argv, name, op, None, name == "zintercard")?).into()
        }
        "zunionstore" | "zinterstore" | "zdiffstore" => {
            let op = match name {
                "zunionstore" => SetOp::Union,
                "zdiffstore" => SetOp::Diff,
                _ => SetOp::Inter,
            };
            ZSetWrite::Combine(parse_combine(argv, name, op, Some(a(1)), false)?).into()
        }
        "zrangestore" => ZSetWrite::RangeStore {
            dst: a(1),
            src: a(2),
            spec: parse_range(&argv[1..], None, None, true)?,
        }
        .into(),
        "zmpop" => parse_mpop(argv)?.into(),
        "zrandmember" => {
            let mut withscores = false;
            let count = match argv.get(2) {
                None => None,
                Some(c) => {
                    let n = parse_i64(c).ok_or_else(|| Frame::err(NOT_INT))?;
                    if n == i64::MIN {
                        return Err(Frame::err(
                            "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
                        ));
                    }
                    if argv.len() > 4 || (argv.len() == 4 && !eq(&argv[3], "withscores")) {
                        return Err(syntax());
                    }
                    if argv.len() == 4 {
                        withscores = true;
                        if !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&n) {
                            return Err(Frame::err("value is out of range"));
                        }
                    }
                    Some(n)
                }
            };
            ZSetRead::RandMember {
                key: a(1),
                count,
                withscores,
            }
            .into()
        }
        "zscan" => {
            let cursor = super::scan_cursor(&argv[2])?;
            ZSetRead::Scan {
                key: a(1),
                cursor,
                opts: parse_scan_opts(&argv[3..]),
            }
            .into()
        }
        _ => return parse_blocking(name, argv),
    })
}

/// ZSCAN's and SSCAN's `[MATCH pattern] [COUNT n]` (Redis's `scanGenericCommand`).
pub(super) fn parse_scan_opts(argv: &[Bytes]) -> Result<(Option<Bytes>, usize), Frame> {
    {
        {
            let (mut pattern, mut count) = (None, 10usize);
            let mut i = 0;
            while i < argv.len() {
                let Some(v) = argv.get(i + 1) else {
                    return Err(syntax());
                };
                if eq(&argv[i], "count") {
                    let n = parse_i64(v).ok_or_else(|| Frame::err(NOT_INT))?;
                    if n < 1 {
                        return Err(syntax());
                    }
                    count = usize::try_from(n).unwrap_or(usize::MAX);
                } else if eq(&argv[i], "match") {
                    pattern = Some(v.clone());
                } else {
                    return Err(syntax());
                }
                i += 2;
            }
            Ok((pattern, count))
        }
    }
}

/// Where the numkeys argument of a set operation is: 1, or 2 after a destination.
fn parse_combine(
    argv: &[Bytes],
    name: &str,
    op: SetOp,
    store: Option<Bytes>,
    card_only: bool,
) -> Result<Combine, Frame> {
    let nk = if store.is_some() { 2 } else { 1 };
    let n = parse_i64(&argv[nk]).ok_or_else(|| Frame::err(NOT_INT))?;
    if n < 1 {
        return Err(Frame::err(format!(
            "at least 1 input key is needed for '{name}' command"
        )));
    }
    let avail = argv.len() - nk - 1;
    let n = match usize::try_from(n) {
        Ok(n) if n <= avail => n,
        _ => return Err(syntax()),
    };
    let keys = argv[nk + 1..nk + 1 + n].to_vec();
    let opts = parse_combine_opts(&argv[nk + 1 + n..], n, op, store.is_some(), card_only);
    Ok(Combine {
        op,
        store,
        card_only,
        keys,
        opts,
    })
}

fn parse_combine_opts(
    rest: &[Bytes],
    n: usize,
    op: SetOp,
    store: bool,
    card_only: bool,
) -> Result<CombineOpts, Frame> {
    let mut o = CombineOpts {
        weights: vec![1.0; n],
        aggregate: Aggregate::Sum,
        withscores: false,
        limit: 0,
    };
    let mut j = 0;
    while j < rest.len() {
        let left = rest.len() - j;
        let a = &rest[j];
        if op != SetOp::Diff && !card_only && left > n && eq(a, "weights") {
            for i in 0..n {
                o.weights[i] = parse_score(&rest[j + 1 + i])
                    .ok_or_else(|| Frame::err("weight value is not a float"))?;
            }
            j += 1 + n;
        } else if op != SetOp::Diff && !card_only && left >= 2 && eq(a, "aggregate") {
            let v = &rest[j + 1];
            o.aggregate = if eq(v, "sum") {
                Aggregate::Sum
            } else if eq(v, "min") {
                Aggregate::Min
            } else if eq(v, "max") {
                Aggregate::Max
            } else {
                return Err(syntax());
            };
            j += 2;
        } else if !store && !card_only && eq(a, "withscores") {
            o.withscores = true;
            j += 1;
        } else if card_only && left >= 2 && eq(a, "limit") {
            o.limit = parse_i64(&rest[j + 1])
                .and_then(|l| u64::try_from(l).ok())
                .ok_or_else(|| Frame::err("LIMIT can't be negative"))?;
            j += 2;
        } else {
            return Err(syntax());
        }
    }
    Ok(o)
}

/// ZMPOP numkeys key... MIN|MAX [COUNT n].
fn parse_mpop(argv: &[Bytes]) -> Result<ZSetWrite, Frame> {
    let n = parse_i64(&argv[1])
        .filter(|n| *n >= 1)
        .ok_or_else(|| Frame::err("numkeys should be greater than 0"))?;
    let where_idx = usize::try_from(n)
        .ok()
        .and_then(|n| n.checked_add(2))
        .filter(|w| *w < argv.len())
        .ok_or_else(syntax)?;
    let max = if eq(&argv[where_idx], "min") {
        false
    } else if eq(&argv[where_idx], "max") {
        true
    } else {
        return Err(syntax());
    };
    let mut count = None;
    let mut j = where_idx + 1;
    while j < argv.len() {
        if count.is_none() && eq(&argv[j], "count") && j + 1 < argv.len() {
            count = Some(
                parse_i64(&argv[j + 1])
                    .filter(|c| *c >= 1)
                    .and_then(|c| u64::try_from(c).ok())
                    .ok_or_else(|| Frame::err("count should be greater than 0"))?,
            );
            j += 2;
        } else {
            return Err(syntax());
        }
    }
    Ok(ZSetWrite::MPop {
        keys: argv[2..where_idx].to_vec(),
        max,
        count: count.unwrap_or(1),
    })
}

fn zset_of(v: &Value) -> Option<&ZSet> {
    match v {
        Value::ZSet(z) => Some(z),
        _ => None,
    }
}

fn get_zset<'a>(ks: &'a Keyspace, key: &[u8], now: u64) -> Result<Option<&'a ZSet>, Frame> {
    typed(ks, key, now, zset_of)
}

fn new_zset() -> Value {
    Value::ZSet(ZSet::new())
}

/// Members, or with scores `[member, score]` pairs: flat in RESP2, nested in RESP3 (Redis
/// 7.0's range, pop-with-count and random-member replies).
fn members_reply<'a>(items: impl IntoIterator<Item = (&'a Bytes, f64)>, withscores: bool) -> Frame {
    if withscores {
        Frame::Pairs(
            items
                .into_iter()
                .map(|(m, s)| (Frame::Bulk(m.clone()), score_reply(s)))
                .collect(),
        )
    } else {
        Frame::Array(
            items
                .into_iter()
                .map(|(m, _)| Frame::Bulk(m.clone()))
                .collect(),
        )
    }
}

impl ZSetRead {
    pub(super) fn read(&self, ks: &Keyspace, now: u64) -> Frame {
        reply(self.read_inner(ks, now))
    }

    fn read_inner(&self, ks: &Keyspace, now: u64) -> Result<Frame, Frame> {
        Ok(match self {
            ZSetRead::Card(k) => {
                Frame::Integer(get_zset(ks, k, now)?.map_or(0, |z| z.len() as i64))
            }
            ZSetRead::Score(k, m) => get_zset(ks, k, now)?
                .and_then(|z| z.score(m))
                .map_or(Frame::Null, score_reply),
            ZSetRead::MScore(k, ms) => {
                let z = get_zset(ks, k, now)?;
                Frame::Array(
                    ms.iter()
                        .map(|m| z.and_then(|z| z.score(m)).map_or(Frame::Null, score_reply))
                        .collect(),
                )
            }
            ZSetRead::Rank { key, member, rev } => {
                let Some(z) = get_zset(ks, key, now)? else {
                    return Ok(Frame::Null);
                };
                match z.rank(member) {
                    None => Frame::Null,
                    Some(r) if *rev => Frame::Integer((z.len() - 1 - r) as i64),
                    Some(r) => Frame::Integer(r as i64),
                }
            }
            ZSetRead::Count(k, r) => Frame::Integer(
                get_zset(ks, k, now)?
                    .map_or(0, |z| select(z, &RangeSel::Score(*r), false).count() as i64),
            ),
            ZSetRead::LexCount(k, r) => Frame::Integer(get_zset(ks, k, now)?.map_or(0, |z| {
                select(z, &RangeSel::Lex(r.clone()), false).count() as i64
            })),
            ZSetRead::Range(k, spec) => match get_zset(ks, k, now)? {
                None => Frame::Array(Vec::new()),
                Some(z) => members_reply(spec.members(z), spec.withscores),
            },
            ZSetRead::Combine(c) => {
                let (z, opts) = c.compute(ks, now)?;
                if c.card_only {
                    Frame::Integer(z.len() as i64)
                } else {
                    members_reply(z.iter(), opts.withscores)
                }
            }
            ZSetRead::RandMember {
                key,
                count,
                withscores,
            } => rand_member(get_zset(ks, key, now)?, *count, *withscores, now),
            ZSetRead::Scan { key, cursor, opts } => match get_zset(ks, key, now)? {
                None => Frame::Array(vec![Frame::bulk("0"), Frame::Array(Vec::new())]),
                Some(z) => {
                    let (pattern, count) = opts.clone()?;
                    zscan(z, *cursor, pattern.as_deref(), count)
                }
            },
        })
    }
}

/// Applies ZADD's pairs to `z` (`zsetAdd` per pair); the reply, or the NaN error.
fn zadd(z: &mut ZSet, f: AddFlags, pairs: &[(f64, Bytes)]) -> Result<Frame, Frame> {
    let (mut added, mut updated, mut processed) = (0i64, 0i64, 0usize);
    let mut last = 0.0;
    for (score, m) in pairs {
        let mut score = *score;
        match z.score(m) {
            Some(cur) => {
                if f.nx {
                    continue;
                }
                if f.incr {
                    score += cur;
                    if score.is_nan() {
                        return Err(Frame::err(NAN_SCORE));
                    }
                }
                if (f.lt && score >= cur) || (f.gt && score <= cur) {
                    continue;
                }
                if score != cur {
                    z.insert(own(m), score);
                    updated += 1;
                }
            }
            None => {
                if f.xx {
                    continue;
                }
                z.insert(own(m), score);
                added += 1;
            }
        }
        processed += 1;
        last = score;
    }
    Ok(if f.incr {
        if processed > 0 {
            score_reply(last)
        } else {
            Frame::Null
        }
    } else {
        Frame::Integer(if f.ch { added + updated } else { added })
    })
}

impl ZSetWrite {
    pub(super) fn write(&self, ks: &mut Keyspace, now: u64) -> Frame {
        reply(self.write_inner(ks, now))
    }

    fn write_inner(&self, ks: &mut Keyspace, now: u64) -> Result<Frame, Frame> {
        match self {
            ZSetWrite::Add { key, flags, pairs } => {
                if get_zset(ks, key, now)?.is_none() && flags.xx {
                    return Ok(if flags.incr {
                        Frame::Null
                    } else {
                        Frame::Integer(0)
                    });
                }
                ks.update(key, now, Some(new_zset), |v| match v {
                    Value::ZSet(z) => zadd(z, *flags, pairs),
                    _ => Err(super::wrongtype()),
                })
                .unwrap_or(Ok(Frame::Integer(0)))
            }
            ZSetWrite::Rem(key, ms) => {
                if get_zset(ks, key, now)?.is_none() {
                    return Ok(Frame::Integer(0));
                }
                let n = ks
                    .update(key, now, None, |v| match v {
                        Value::ZSet(z) => ms.iter().filter(|m| z.remove(m).is_some()).count(),
                        _ => 0,
                    })
                    .unwrap_or(0);
                Ok(Frame::Integer(n as i64))
            }
            ZSetWrite::RemRange(key, sel) => {
                let Some(z) = get_zset(ks, key, now)? else {
                    return Ok(Frame::Integer(0));
                };
                let doomed: Vec<Bytes> = select(z, sel, false).map(|(m, _)| m.clone()).collect();
                if doomed.is_empty() {
                    return Ok(Frame::Integer(0));
                }
                ks.update(key, now, None, |v| {
                    if let Value::ZSet(z) = v {
                        for m in &doomed {
                            z.remove(m);
                        }
                    }
                });
                Ok(Frame::Integer(doomed.len() as i64))
            }
            ZSetWrite::Pop { key, max, count } => {
                // Redis order: type check, then missing key or count 0 (both empty).
                let Some(z) = get_zset(ks, key, now)? else {
                    return Ok(Frame::Array(Vec::new()));
                };
                if *count == Some(0) {
                    return Ok(Frame::Array(Vec::new()));
                }
                let n = usize::try_from(count.unwrap_or(1)).unwrap_or(usize::MAX);
                let picked: Vec<(Bytes, f64)> = if *max {
                    z.iter()
                        .rev()
                        .take(n)
                        .map(|(m, s)| (m.clone(), s))
                        .collect()
                } else {
                    z.iter().take(n).map(|(m, s)| (m.clone(), s)).collect()
                };
                ks.update(key, now, None, |v| {
                    if let Value::ZSet(z) = v {
                        for (m, _) in &picked {
                            z.remove(m);
                        }
                    }
                });
                if count.is_none() {
                    // `ZPOPMIN k`: one flat `[member, score]` in both protocols (Redis's
                    // `use_nested_array` is off without a count).
                    let mut flat = Vec::with_capacity(2);
                    for (m, s) in &picked {
                        flat.push(Frame::Bulk(m.clone()));
                        flat.push(score_reply(*s));
                    }
                    return Ok(Frame::Array(flat));
                }
                Ok(members_reply(picked.iter().map(|(m, s)| (m, *s)), true))
            }
            ZSetWrite::MPop { keys, max, count } => {
                // The first key holding a sorted set; a wrong type before it is an error.
                let mut found = None;
                for k in keys {
                    if get_zset(ks, k, now)?.is_some() {
                        found = Some(k);
                        break;
                    }
                }
                let Some(key) = found else {
                    return Ok(Frame::NullArray);
                };
                let pop = ZSetWrite::Pop {
                    key: key.clone(),
                    max: *max,
                    count: Some(*count),
                };
                let pairs = match pop.write_inner(ks, now)? {
                    Frame::Pairs(p) => p
                        .into_iter()
                        .map(|(m, s)| Frame::Array(vec![m, s]))
                        .collect(),
                    _ => Vec::new(),
                };
                Ok(Frame::Array(vec![
                    Frame::Bulk(key.clone()),
                    Frame::Array(pairs),
                ]))
            }
            ZSetWrite::RangeStore { dst, src, spec } => {
                let out = match get_zset(ks, src, now)? {
                    None => ZSet::new(),
                    Some(z) => {
                        let mut out = ZSet::new();
                        for (m, s) in spec.members(z) {
                            out.insert(m.clone(), s);
                        }
                        out
                    }
                };
                Ok(store(ks, dst, out, now))
            }
            ZSetWrite::Combine(c) => {
                let (z, _) = c.compute(ks, now)?;
                let dst = c.store.clone().unwrap_or_default();
                Ok(store(ks, &dst, z, now))
            }
            ZSetWrite::BPop { keys, max } => {
                let mut found = None;
                for k in keys {
                    if get_zset(ks, k, now)?.is_some() {
                        found = Some(k);
                        break;
                    }
                }
                let Some(key) = found else {
                    return Ok(Frame::NullArray);
                };
                let pop = ZSetWrite::Pop {
                    key: key.clone(),
                    max: *max,
                    count: None,
                };
                let Frame::Array(mut flat) = pop.write_inner(ks, now)? else {
                    return Ok(Frame::NullArray);
                };
                if flat.len() != 2 {
                    return Ok(Frame::NullArray);
                }
                flat.insert(0, Frame::Bulk(key.clone()));
                Ok(Frame::Array(flat))
            }
        }
    }
}

/// The blocking sorted-set pops (BZPOPMIN, BZPOPMAX, BZMPOP). Each applies like its
/// non-blocking form and replies the nil array when nothing can be popped (Redis's reply
/// inside MULTI); waiting is the server layer's (`server::blocking`). Arguments are checked
/// in Redis's order (BZMPOP: numkeys, where, COUNT, then the timeout).
fn parse_blocking(name: &str, argv: &[Bytes]) -> Result<super::Op, Frame> {
    Ok(match name {
        "bzpopmin" | "bzpopmax" => {
            let last = argv.len() - 1;
            super::parse_timeout(&argv[last])?;
            ZSetWrite::BPop {
                keys: argv[1..last].to_vec(),
                max: name == "bzpopmax",
            }
            .into()
        }
        "bzmpop" => {
            let op = parse_mpop(&argv[1..])?;
            super::parse_timeout(&argv[1])?;
            op.into()
        }
        _ => return Err(super::unknown_command(argv)),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    // The assertions below are in RESP2 shapes; `resp3_reply_shapes` checks RESP3's.
    use super::super::testutil::run2 as run;
    use super::*;
    use crate::keyspace::Keyspace;

    const WT: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

    /// Redis 7.0's RESP3 reply types: scores are doubles; WITHSCORES ranges, pops with a
    /// count and ZRANDMEMBER WITHSCORES nest `[member, score]` pairs; ZPOPMIN without a count
    /// and BZPOPMIN stay flat; ZMPOP nests in both protocols.
    #[test]
    fn resp3_reply_shapes() {
        use super::super::testutil::run as raw;
        let mut ks = Keyspace::new();
        raw(&mut ks, 0, &["zadd", "z", "1", "a", "2.5", "b", "3", "c"]);
        let pair = |m: &str, s: f64| (Frame::bulk(m), Frame::Double(s));
        assert_eq!(raw(&mut ks, 0, &["zscore", "z", "b"]), Frame::Double(2.5));
        assert_eq!(
            raw(&mut ks, 0, &["zmscore", "z", "a", "x"]),
            Frame::Array(vec![Frame::Double(1.0), Frame::Null])
        );
        assert_eq!(
            raw(&mut ks, 0, &["zincrby", "z", "1", "a"]),
            Frame::Double(2.0)
        );
        assert_eq!(
            raw(&mut ks, 0, &["zrange", "z", "0", "1", "withscores"]),
            Frame::Pairs(vec![pair("a", 2.0), pair("b", 2.5)])
        );
        assert_eq!(
            raw(&mut ks, 0, &["zrange", "z", "0", "0"]),
            Frame::Array(vec![Frame::bulk("a")])
        );
        assert_eq!(
            raw(&mut ks, 0, &["zpopmin", "z"]),
            Frame::Array(vec![Frame::bulk("a"), Frame::Double(2.0)])
        );
        assert_eq!(
            raw(&mut ks, 0, &["zpopmax", "z", "1"]),
            Frame::Pairs(vec![pair("c", 3.0)])
        );
        assert_eq!(
            raw(&mut ks, 0, &["zmpop", "1", "z", "min"]),
            Frame::Array(vec![
                Frame::bulk("z"),
                Frame::Array(vec![Frame::Array(vec![
                    Frame::bulk("b"),
                    Frame::Double(2.5)
                ])])
            ])
        );
        let mut out = bytes::BytesMut::new();
        Frame::Pairs(vec![pair("a", 1.5)]).encode_as(crate::resp::Protocol::Resp3, &mut out);
        assert_eq!(&out[..], b"*1\r\n*2\r\n$1\r\na\r\n,1.5\r\n");
        out.clear();
        Frame::Pairs(vec![pair("a", 1.5)]).encode_as(crate::resp::Protocol::Resp2, &mut out);
        assert_eq!(&out[..], b"*2\r\n$1\r\na\r\n$3\r\n1.5\r\n");
    }

    #[test]
    fn score_formatting_is_percent_17g() {
        for (v, s) in [
            (1.5, "1.5"),
            (0.1, "0.10000000000000001"),
            (1.0, "1"),
            (-0.0, "-0"),
            (1e17, "1e+17"),
            (1e16, "10000000000000000"),
            (123456789.0, "123456789"),
            (0.0001, "0.0001"),
            (0.00001, "1.0000000000000001e-05"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "4.9406564584124654e-324"),
            (-2.5, "-2.5"),
        ] {
            assert_eq!(format_score(v), s, "{v:e}");
        }
    }

    #[test]
    fn score_parsing_follows_string2d_and_zslparserange() {
        for (t, v) in [
            ("1", Some(1.0)),
            ("-1.5", Some(-1.5)),
            ("+inf", Some(f64::INFINITY)),
            ("-Infinity", Some(f64::NEG_INFINITY)),
            (".5", Some(0.5)),
            ("5.", Some(5.0)),
            ("1e-310", Some(1e-310)),
            ("nan", None),
            ("", None),
            (" 1", None),
            ("1 ", None),
            ("1e400", None),
            ("1e-400", None),
            ("abc", None),
        ] {
            assert_eq!(parse_score(t.as_bytes()), v, "{t:?}");
        }
        assert_eq!(parse_range_number(b""), Some(0.0));
        assert_eq!(parse_range_number(b" 2"), Some(2.0));
        assert_eq!(parse_range_number(b"1e400"), Some(f64::INFINITY));
        assert_eq!(parse_range_number(b"  "), None);
        assert_eq!(parse_range_number(b"nan"), None);
    }

    #[test]
    fn zadd_flags_and_errors() {
        let mut ks = Keyspace::new();
        assert_eq!(run(&mut ks, 0, &["zadd", "z", "1", "a", "2", "b"]), i(2));
        assert_eq!(
            run(
                &mut ks,
                0,
                &["zadd", "z", "ch", "1", "a", "3", "b", "0", "c"]
            ),
            i(2)
        );
        assert_eq!(
            run(&mut ks, 0, &["zadd", "z", "nx", "9", "a", "4", "d"]),
            i(1)
        );
        assert_eq!(
            run(&mut ks, 0, &["zadd", "z", "xx", "ch", "5", "a", "4", "e"]),
            i(1)
        );
        assert_eq!(
            run(&mut ks, 0, &["zadd", "z", "gt", "ch", "1", "a", "9", "b"]),
            i(1)
        );
        assert_eq!(
            run(&mut ks, 0, &["zadd", "z", "lt", "ch", "1", "a", "10", "b"]),
            i(1)
        );
        assert_eq!(
            run(&mut ks, 0, &["zadd", "z", "incr", "1.5", "a"]),
            b("2.5")
        );
        assert_eq!(
            run(&mut ks, 0, &["zadd", "z", "incr", "gt", "-1", "a"]),
            Frame::Null
        );
        assert_eq!(
            run(&mut ks, 0, &["zadd", "nokey", "xx", "incr", "1", "a"]),
            Frame::Null
        );
        assert_eq!(run(&mut ks, 0, &["zadd", "nokey", "xx", "1", "a"]), i(0));
        assert_eq!(run(&mut ks, 0, &["exists", "nokey"]), i(0));
        assert_eq!(
            run(&mut ks, 0, &["zadd", "z", "1", "a", "2"]),
            e("ERR syntax error")
        );
        assert_eq!(
            run(&mut ks, 0, &["zadd", "z", "nx", "xx", "1", "a"]),
            e("ERR XX and NX options at the same time are not compatible")
        );
        assert_eq!(
            run(&mut ks, 0, &["zadd", "z", "gt", "lt", "1", "a"]),
            e("ERR GT, LT, and/or NX options at the same time are not compatible")
        );
        assert_eq!(
            run(&mut ks, 0, &["zadd", "z", "incr", "1", "a", "2", "b"]),
            e("ERR INCR option supports a single increment-element pair")
        );
        assert_eq!(
            run(&mut ks, 0, &["zadd", "z", "nan", "a"]),
            e("ERR value is not a valid float")
        );
        assert_eq!(run(&mut ks, 0, &["zadd", "z", "inf", "i"]), i(1));
        assert_eq!(
            run(&mut ks, 0, &["zincrby", "z", "-inf", "i"]),
            e("ERR resulting score is not a number (NaN)")
        );
        assert_eq!(
            run(&mut ks, 0, &["zincrby", "z", "0.1", "new"]),
            b("0.10000000000000001")
        );
        assert_eq!(
            run(&mut ks, 0, &["zincrby", "z", "nx", "a"]),
            e("ERR syntax error")
        );
        run(&mut ks, 0, &["set", "s", "v"]);
        assert_eq!(run(&mut ks, 0, &["zadd", "s", "1", "a"]), e(WT));
        assert_eq!(
            run(&mut ks, 0, &["zadd", "s", "x", "a"]),
            e("ERR value is not a valid float")
        );
    }

    #[test]
    fn reads_ranks_and_scores() {
        let mut ks = Keyspace::new();
        run(
            &mut ks,
            0,
            &[
                "zadd", "z", "1", "a", "2", "b", "3", "c", "-inf", "m", "+inf", "p",
            ],
        );
        assert_eq!(run(&mut ks, 0, &["zcard", "z"]), i(5));
        assert_eq!(run(&mut ks, 0, &["zcard", "no"]), i(0));
        assert_eq!(run(&mut ks, 0, &["zscore", "z", "m"]), b("-inf"));
        assert_eq!(run(&mut ks, 0, &["zscore", "z", "x"]), Frame::Null);
        assert_eq!(
            run(&mut ks, 0, &["zmscore", "z", "a", "x"]),
            Frame::Array(vec![b("1"), Frame::Null])
        );
        assert_eq!(
            run(&mut ks, 0, &["zmscore", "no", "a"]),
            Frame::Array(vec![Frame::Null])
        );
        assert_eq!(run(&mut ks, 0, &["zrank", "z", "b"]), i(2));
        assert_eq!(run(&mut ks, 0, &["zrevrank", "z", "b"]), i(2));
        assert_eq!(run(&mut ks, 0, &["zrevrank", "z", "p"]), i(0));
        assert_eq!(run(&mut ks, 0, &["zrank", "z", "zz"]), Frame::Null);
        assert_eq!(run(&mut ks, 0, &["zcount", "z", "(1", "3"]), i(2));
        assert_eq!(run(&mut ks, 0, &["zcount", "z", "-inf", "+inf"]), i(5));
        assert_eq!(
            run(&mut ks, 0, &["zcount", "z", "x", "1"]),
            e("ERR min or max is not a float")
        );
        assert_eq!(
            run(&mut ks, 0, &["zrange", "z", "0", "-1"]),
            arr(&["m", "a", "b", "c", "p"])
        );
        assert_eq!(
            run(&mut ks, 0, &["zrange", "z", "1", "2", "withscores"]),
            arr(&["a", "1", "b", "2"])
        );
        assert_eq!(
            run(&mut ks, 0, &["zrange", "z", "0", "0", "rev"]),
            arr(&["p"])
        );
        assert_eq!(
            run(
                &mut ks,
                0,
                &["zrange", "z", "(1", "+inf", "byscore", "limit", "1", "2"]
            ),
            arr(&["c", "p"])
        );
        assert_eq!(
            run(&mut ks, 0, &["zrange", "z", "3", "(1", "byscore", "rev"]),
            arr(&["c", "b"])
        );
        assert_eq!(
            run(
                &mut ks,
                0,
                &["zrevrangebyscore", "z", "+inf", "-inf", "limit", "-1", "2"]
            ),
            arr(&[])
        );
        assert_eq!(run(&mut ks, 0, &["zrangebyscore", "z", "2", "1"]), arr(&[]));
        assert_eq!(
            run(&mut ks, 0, &["zrevrange", "z", "0", "1", "withscores"]),
            arr(&["p", "inf", "c", "3"])
        );
        assert_eq!(run(&mut ks, 0, &["zrange", "z", "0", "1", "limit", "0", "1"]),
            e("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"));
        assert_eq!(
            run(
                &mut ks,
                0,
                &["zrange", "z", "-", "+", "bylex", "withscores"]
            ),
            e("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
        );
        assert_eq!(
            run(&mut ks, 0, &["zrangebyscore", "z", "0", "1", "rev"]),
            e("ERR syntax error")
        );
        assert_eq!(run(&mut ks, 0, &["zrange", "no", "0", "-1"]), arr(&[]));
        assert_eq!(
            run(&mut ks, 0, &["zrange", "z", "a", "1"]),
            e("ERR value is not an integer or out of range")
        );
        run(&mut ks, 0, &["set", "s", "v"]);
        for cmd in [
            &["zcard", "s"][..],
            &["zscore", "s", "a"],
            &["zrange", "s", "0", "1"],
            &["zrank", "s", "a"],
            &["zmscore", "s", "a"],
            &["zcount", "s", "0", "1"],
        ] {
            assert_eq!(run(&mut ks, 0, cmd), e(WT), "{cmd:?}");
        }
    }

    #[test]
    fn lex_ranges() {
        let mut ks = Keyspace::new();
        run(
            &mut ks,
            0,
            &["zadd", "z", "0", "a", "0", "b", "0", "c", "0", "d"],
        );
        assert_eq!(
            run(&mut ks, 0, &["zrangebylex", "z", "-", "+"]),
            arr(&["a", "b", "c", "d"])
        );
        assert_eq!(
            run(&mut ks, 0, &["zrangebylex", "z", "(a", "[c"]),
            arr(&["b", "c"])
        );
        assert_eq!(
            run(
                &mut ks,
                0,
                &["zrevrangebylex", "z", "[c", "-", "limit", "1", "5"]
            ),
            arr(&["b", "a"])
        );
        assert_eq!(run(&mut ks, 0, &["zlexcount", "z", "[b", "+"]), i(3));
        assert_eq!(run(&mut ks, 0, &["zlexcount", "z", "+", "-"]), i(0));
        assert_eq!(
            run(&mut ks, 0, &["zlexcount", "z", "a", "+"]),
            e("ERR min or max not valid string range item")
        );
        assert_eq!(run(&mut ks, 0, &["zremrangebylex", "z", "[b", "(d"]), i(2));
        assert_eq!(
            run(&mut ks, 0, &["zrange", "z", "0", "-1"]),
            arr(&["a", "d"])
        );
    }

    #[test]
    fn removals_and_pops() {
        let mut ks = Keyspace::new();
        run(
            &mut ks,
            0,
            &[
                "zadd", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e",
            ],
        );
        assert_eq!(run(&mut ks, 0, &["zrem", "z", "a", "x"]), i(1));
        assert_eq!(run(&mut ks, 0, &["zremrangebyrank", "z", "-1", "-1"]), i(1));
        assert_eq!(run(&mut ks, 0, &["zremrangebyscore", "z", "(2", "3"]), i(1));
        assert_eq!(
            run(&mut ks, 0, &["zrange", "z", "0", "-1", "withscores"]),
            arr(&["b", "2", "d", "4"])
        );
        assert_eq!(run(&mut ks, 0, &["zpopmax", "z"]), arr(&["d", "4"]));
        assert_eq!(run(&mut ks, 0, &["zpopmin", "z", "0"]), arr(&[]));
        assert_eq!(
            run(&mut ks, 0, &["zpopmin", "z", "-1"]),
            e("ERR value is out of range, must be positive")
        );
        assert_eq!(
            run(&mut ks, 0, &["zpopmin", "z", "1", "2"]),
            e("ERR syntax error")
        );
        assert_eq!(run(&mut ks, 0, &["zpopmin", "z", "10"]), arr(&["b", "2"]));
        assert_eq!(run(&mut ks, 0, &["exists", "z"]), i(0));
        assert_eq!(run(&mut ks, 0, &["zpopmin", "z"]), arr(&[]));
        assert_eq!(run(&mut ks, 0, &["zrem", "z", "a"]), i(0));
        assert_eq!(
            run(&mut ks, 0, &["type", "z"]),
            Frame::Simple("none".into())
        );
        run(&mut ks, 0, &["zadd", "z", "1", "a"]);
        assert_eq!(
            run(&mut ks, 0, &["type", "z"]),
            Frame::Simple("zset".into())
        );
    }

    #[test]
    fn set_operations_and_stores() {
        let mut ks = Keyspace::new();
        run(&mut ks, 0, &["zadd", "a", "1", "x", "2", "y", "3", "z"]);
        run(&mut ks, 0, &["zadd", "b", "10", "y", "20", "z", "30", "w"]);
        run(&mut ks, 0, &["sadd", "s", "z", "q"]);
        assert_eq!(
            run(&mut ks, 0, &["zunion", "2", "a", "b", "withscores"]),
            arr(&["x", "1", "y", "12", "z", "23", "w", "30"])
        );
        assert_eq!(
            run(
                &mut ks,
                0,
                &[
                    "zinter",
                    "2",
                    "a",
                    "b",
                    "weights",
                    "2",
                    "0.5",
                    "aggregate",
                    "max",
                    "withscores"
                ]
            ),
            arr(&["y", "5", "z", "10"])
        );
        assert_eq!(
            run(
                &mut ks,
                0,
                &[
                    "zinter",
                    "3",
                    "a",
                    "b",
                    "s",
                    "aggregate",
                    "min",
                    "withscores"
                ]
            ),
            arr(&["z", "1"])
        );
        assert_eq!(
            run(&mut ks, 0, &["zdiff", "2", "a", "b", "withscores"]),
            arr(&["x", "1"])
        );
        assert_eq!(
            run(&mut ks, 0, &["zintercard", "2", "a", "b", "limit", "1"]),
            i(1)
        );
        assert_eq!(
            run(&mut ks, 0, &["zintercard", "2", "a", "b", "limit", "-1"]),
            e("ERR LIMIT can't be negative")
        );
        assert_eq!(
            run(&mut ks, 0, &["zunion", "0", "a"]),
            e("ERR at least 1 input key is needed for 'zunion' command")
        );
        assert_eq!(
            run(&mut ks, 0, &["zunion", "3", "a", "b"]),
            e("ERR syntax error")
        );
        assert_eq!(
            run(&mut ks, 0, &["zdiff", "1", "a", "weights", "1"]),
            e("ERR syntax error")
        );
        assert_eq!(
            run(&mut ks, 0, &["zunion", "1", "a", "weights", "x"]),
            e("ERR weight value is not a float")
        );
        run(&mut ks, 0, &["set", "str", "v"]);
        // Types are checked before options, as Redis does.
        assert_eq!(
            run(&mut ks, 0, &["zunion", "2", "a", "str", "bogus"]),
            e(WT)
        );
        assert_eq!(run(&mut ks, 0, &["zunionstore", "d", "2", "a", "b"]), i(4));
        assert_eq!(run(&mut ks, 0, &["zscore", "d", "w"]), b("30"));
        assert_eq!(
            run(&mut ks, 0, &["zinterstore", "str", "2", "a", "nokey"]),
            i(0)
        );
        assert_eq!(run(&mut ks, 0, &["exists", "str"]), i(0));
        assert_eq!(
            run(
                &mut ks,
                0,
                &["zinter", "2", "a", "b", "weights", "inf", "0", "withscores"]
            ),
            arr(&["y", "inf", "z", "inf"])
        );
        assert_eq!(
            run(
                &mut ks,
                0,
                &[
                    "zrangestore",
                    "r",
                    "a",
                    "(1",
                    "+inf",
                    "byscore",
                    "limit",
                    "0",
                    "1"
                ]
            ),
            i(1)
        );
        assert_eq!(
            run(&mut ks, 0, &["zrange", "r", "0", "-1", "withscores"]),
            arr(&["y", "2"])
        );
        assert_eq!(
            run(
                &mut ks,
                0,
                &["zrangestore", "r", "a", "0", "1", "withscores"]
            ),
            e("ERR syntax error")
        );
        assert_eq!(
            run(&mut ks, 0, &["zrangestore", "r", "nokey", "0", "-1"]),
            i(0)
        );
        assert_eq!(run(&mut ks, 0, &["exists", "r"]), i(0));
    }

    #[test]
    fn mpop_randmember_scan() {
        let mut ks = Keyspace::new();
        run(&mut ks, 0, &["zadd", "b", "1", "x", "2", "y", "3", "z"]);
        assert_eq!(
            run(&mut ks, 0, &["zmpop", "2", "a", "b", "max", "count", "2"]),
            Frame::Array(vec![
                b("b"),
                Frame::Array(vec![arr(&["z", "3"]), arr(&["y", "2"])])
            ])
        );
        assert_eq!(
            run(&mut ks, 0, &["zmpop", "1", "a", "min"]),
            Frame::NullArray
        );
        assert_eq!(
            run(&mut ks, 0, &["zmpop", "0", "a", "min"]),
            e("ERR numkeys should be greater than 0")
        );
        assert_eq!(
            run(&mut ks, 0, &["zmpop", "1", "a", "mid"]),
            e("ERR syntax error")
        );
        assert_eq!(
            run(&mut ks, 0, &["zmpop", "1", "b", "min", "count", "0"]),
            e("ERR count should be greater than 0")
        );
        assert_eq!(run(&mut ks, 0, &["zrandmember", "b"]), b("x"));
        assert_eq!(
            run(&mut ks, 0, &["zrandmember", "b", "5", "withscores"]),
            arr(&["x", "1"])
        );
        assert_eq!(
            run(&mut ks, 0, &["zrandmember", "b", "-3"]),
            arr(&["x", "x", "x"])
        );
        assert_eq!(run(&mut ks, 0, &["zrandmember", "no", "-3"]), arr(&[]));
        assert_eq!(run(&mut ks, 0, &["zrandmember", "no"]), Frame::Null);
        assert_eq!(
            run(&mut ks, 0, &["zrandmember", "b", "1", "x"]),
            e("ERR syntax error")
        );
        run(&mut ks, 0, &["zadd", "b", "1.5", "y", "1e17", "z"]);
        let mut seen: Vec<Frame> = Vec::new();
        for _ in 0..50 {
            if let Frame::Array(v) = run(&mut ks, 0, &["zrandmember", "b", "2"]) {
                assert_eq!(v.len(), 2);
                assert_ne!(v[0], v[1]);
                for f in v {
                    if !seen.contains(&f) {
                        seen.push(f);
                    }
                }
            }
        }
        assert_eq!(seen.len(), 3, "distinct picks cover the set");
        assert_eq!(
            run(&mut ks, 0, &["zscan", "b", "0"]),
            Frame::Array(vec![
                b("0"),
                arr(&["x", "1", "y", "1.5", "z", "100000000000000000"])
            ])
        );
        assert_eq!(
            run(&mut ks, 0, &["zscan", "b", "0", "match", "y*"]),
            Frame::Array(vec![b("0"), arr(&["y", "1.5"])])
        );
        assert_eq!(
            run(&mut ks, 0, &["zscan", "no", "0"]),
            Frame::Array(vec![b("0"), arr(&[])])
        );
        assert_eq!(
            run(&mut ks, 0, &["zscan", "b", "x"]),
            e("ERR invalid cursor")
        );
        // A large set is walked by member-hash positions; every member comes back once.
        let mut cmd = vec!["zadd".to_string(), "big".to_string()];
        for n in 0..300 {
            cmd.push(n.to_string());
            cmd.push(format!("m{n}"));
        }
        let words: Vec<&str> = cmd.iter().map(String::as_str).collect();
        run(&mut ks, 0, &words);
        let (mut cursor, mut got) = ("0".to_string(), std::collections::BTreeSet::new());
        loop {
            let Frame::Array(r) = run(&mut ks, 0, &["zscan", "big", &cursor, "count", "7"]) else {
                panic!("zscan reply")
            };
            let (Frame::Bulk(c), Frame::Array(items)) = (&r[0], &r[1]) else {
                panic!()
            };
            for pair in items.chunks(2) {
                let Frame::Bulk(m) = &pair[0] else {
                    panic!("member")
                };
                assert!(got.insert(m.clone()), "no duplicates");
            }
            cursor = String::from_utf8(c.to_vec()).unwrap_or_default();
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(got.len(), 300);
    }

    #[test]
    fn blocking_pops_apply_as_their_non_blocking_form() {
        let mut ks = Keyspace::new();
        run(&mut ks, 0, &["zadd", "z", "1", "a", "2", "b", "3", "c"]);
        assert_eq!(
            run(&mut ks, 0, &["bzpopmin", "none", "z", "0"]),
            arr(&["z", "a", "1"])
        );
        assert_eq!(
            run(&mut ks, 0, &["bzpopmax", "z", "0"]),
            arr(&["z", "c", "3"])
        );
        assert_eq!(
            run(&mut ks, 0, &["bzpopmax", "none", "0"]),
            Frame::NullArray
        );
        assert_eq!(
            run(&mut ks, 0, &["bzmpop", "0", "1", "z", "min", "count", "5"]),
            Frame::Array(vec![b("z"), Frame::Array(vec![arr(&["b", "2"])])])
        );
        assert_eq!(run(&mut ks, 0, &["exists", "z"]), i(0));
        assert_eq!(
            run(&mut ks, 0, &["bzmpop", "0", "1", "z", "min"]),
            Frame::NullArray
        );
        run(&mut ks, 0, &["set", "s", "v"]);
        assert_eq!(
            run(&mut ks, 0, &["bzpopmin", "s", "0"]),
            e("WRONGTYPE Operation against a key holding the wrong kind of value")
        );
        for (cmd, err) in [
            (&["bzpopmin", "z", "-1"][..], "ERR timeout is negative"),
            (
                &["bzpopmin", "z", "x"],
                "ERR timeout is not a float or out of range",
            ),
            (
                &["bzmpop", "x", "0", "z", "min"],
                "ERR numkeys should be greater than 0",
            ),
            (
                &["bzmpop", "x", "1", "z", "min"],
                "ERR timeout is not a float or out of range",
            ),
            (&["bzmpop", "0", "1", "z", "mid"], "ERR syntax error"),
        ] {
            assert_eq!(run(&mut ks, 0, cmd), e(err), "{cmd:?}");
        }
    }
}

// ---- set operations, random members, scan ----

/// Replaces `dst` with `z` (no deadline), or deletes it when `z` is empty; replies the size.
fn store(ks: &mut Keyspace, dst: &Bytes, z: ZSet, now: u64) -> Frame {
    let n = z.len() as i64;
    ks.remove(dst);
    if n > 0 {
        ks.insert(own(dst), Value::ZSet(z), None, now);
    }
    Frame::Integer(n)
}

/// One input of a set operation: a sorted set, or a plain set (every score 1).
enum Input<'a> {
    Missing,
    Z(&'a ZSet),
    S(&'a std::collections::BTreeSet<Bytes>),
}

impl Input<'_> {
    fn len(&self) -> usize {
        match self {
            Input::Missing => 0,
            Input::Z(z) => z.len(),
            Input::S(s) => s.len(),
        }
    }
    fn score(&self, m: &[u8]) -> Option<f64> {
        match self {
            Input::Missing => None,
            Input::Z(z) => z.score(m),
            Input::S(s) => s.contains(m).then_some(1.0),
        }
    }
    fn members(&self) -> Vec<(Bytes, f64)> {
        match self {
            Input::Missing => Vec::new(),
            Input::Z(z) => z.iter().map(|(m, s)| (m.clone(), s)).collect(),
            Input::S(s) => s.iter().map(|m| (m.clone(), 1.0)).collect(),
        }
    }
}

/// `weight * score`, with Redis's convention that `0 * inf` counts as 0.
fn weighted(w: f64, s: f64) -> f64 {
    let v = w * s;
    if v.is_nan() {
        0.0
    } else {
        v
    }
}

fn aggregate(a: Aggregate, acc: f64, v: f64) -> f64 {
    match a {
        Aggregate::Sum => {
            let r = acc + v;
            if r.is_nan() {
                0.0
            } else {
                r
            }
        }
        Aggregate::Min => acc.min(v),
        Aggregate::Max => acc.max(v),
    }
}

impl Combine {
    /// Looks the inputs up (types first, as Redis), then applies the options.
    fn compute(&self, ks: &Keyspace, now: u64) -> Result<(ZSet, CombineOpts), Frame> {
        let mut inputs = Vec::with_capacity(self.keys.len());
        for k in &self.keys {
            inputs.push(match ks.get(k, now).map(|e| &e.value) {
                None => Input::Missing,
                Some(Value::ZSet(z)) => Input::Z(z),
                Some(Value::Set(s)) => Input::S(s),
                Some(_) => return Err(super::wrongtype()),
            });
        }
        let opts = self.opts.clone()?;
        let mut out = ZSet::new();
        match self.op {
            SetOp::Union => {
                let mut acc: std::collections::BTreeMap<Bytes, f64> = Default::default();
                for (inp, w) in inputs.iter().zip(&opts.weights) {
                    for (m, s) in inp.members() {
                        let v = weighted(*w, s);
                        acc.entry(m)
                            .and_modify(|a| *a = aggregate(opts.aggregate, *a, v))
                            .or_insert(v);
                    }
                }
                for (m, s) in acc {
                    out.insert(m, s);
                }
            }
            SetOp::Inter => {
                // Smallest input first (a stable sort, as glibc's qsort on small arrays).
                let mut order: Vec<usize> = (0..inputs.len()).collect();
                order.sort_by_key(|&i| inputs[i].len());
                let first = order[0];
                let mut n = 0u64;
                'members: for (m, s) in inputs[first].members() {
                    let mut score = weighted(opts.weights[first], s);
                    for &j in &order[1..] {
                        match inputs[j].score(&m) {
                            Some(v) => {
                                score =
                                    aggregate(opts.aggregate, score, weighted(opts.weights[j], v))
                            }
                            None => continue 'members,
                        }
                    }
                    out.insert(m, score);
                    n += 1;
                    if self.card_only && opts.limit > 0 && n >= opts.limit {
                        break;
                    }
                }
            }
            SetOp::Diff => {
                for (m, s) in inputs[0].members() {
                    if inputs[1..].iter().all(|i| i.score(&m).is_none()) {
                        out.insert(m, s);
                    }
                }
            }
        }
        Ok((out, opts))
    }
}

/// ZRANDMEMBER: a bulk (or nil) without a count; with one, members per Redis's count rules
/// (`super::random`, shared with SRANDMEMBER and HRANDFIELD).
fn rand_member(z: Option<&ZSet>, count: Option<i64>, withscores: bool, now: u64) -> Frame {
    let mut rng = super::random::read_rng(now);
    let Some(count) = count else {
        return match z {
            None => Frame::Null,
            Some(z) => {
                let i = rng.below(z.len() as u64) as usize;
                z.iter()
                    .nth(i)
                    .map_or(Frame::Null, |(m, _)| Frame::Bulk(m.clone()))
            }
        };
    };
    let Some(z) = z else {
        return Frame::Array(Vec::new());
    };
    if count < 0 && count.unsigned_abs() > super::random::MAX_REPEAT {
        return super::random::too_many_repeats();
    }
    let all: Vec<(&Bytes, f64)> = z.iter().collect();
    let picks = super::random::pick(&mut rng, all.len(), count);
    members_reply(picks.into_iter().map(|i| all[i]), withscores)
}

/// A score as Redis 7.0 stores it in a listpack and ZSCAN prints it (`d2string`): an
/// integral value in `long long` range as an integer, otherwise `%.17g`.
fn scan_score(s: f64) -> Bytes {
    if s.is_finite() && s == s.trunc() && s.abs() < 9.2e18 && s != 0.0 {
        Bytes::from((s as i64).to_string())
    } else {
        Bytes::from(format_score(s))
    }
}

/// Redis keeps a sorted set of at most 128 members of at most 64 bytes in a listpack and
/// returns it whole from any ZSCAN call.
fn is_small(z: &ZSet) -> bool {
    z.len() <= 128 && z.iter().all(|(m, _)| m.len() <= 64)
}

/// ZSCAN: a small set whole (cursor 0) in score order, as Redis; a large one by
/// [`super::scan_by_position`].
fn zscan(z: &ZSet, cursor: u64, pattern: Option<&[u8]>, count: usize) -> Frame {
    let keep = |m: &[u8]| pattern.is_none_or(|p| super::glob::matches(p, m));
    let mut out = Vec::new();
    let mut next = 0u64;
    if is_small(z) {
        for (m, s) in z.iter().filter(|(m, _)| keep(m)) {
            out.push(Frame::Bulk(m.clone()));
            out.push(Frame::Bulk(scan_score(s)));
        }
    } else {
        let (n, visited) = super::scan_by_position(z.by_member(), cursor, count, keep);
        next = n;
        for (m, s) in visited {
            out.push(Frame::Bulk(m.clone()));
            out.push(Frame::Bulk(scan_score(s)));
        }
    }
    Frame::Array(vec![Frame::bulk(next.to_string()), Frame::Array(out)])
}
