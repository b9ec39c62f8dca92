//! GEOSEARCH, GEOSEARCHSTORE, GEORADIUS and GEORADIUSBYMEMBER (+ `_RO`): Redis 7.0's
//! `georadiusGeneric` — its argument walk (interleaved with the source key, so errors come in
//! Redis's order), its nine-cell search, its sorting (glibc's stable `qsort`, or Redis's
//! partial quicksort `pqsort` under COUNT) and its replies.

use bytes::Bytes;

use super::geohash::{self, Shape, ShapeKind};
use super::{lonlat_arg, member_position, unit_arg};
use crate::cmd::{eq, int_arg, syntax, zsets::parse_score};
use crate::keyspace::{own, Keyspace, Value, ZSet};
use crate::resp::Frame;

/// Which command of the family (Redis's `RADIUS_*` / `GEOSEARCH*` flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// GEORADIUS (`ro`: GEORADIUS_RO, which refuses STORE/STOREDIST).
    Radius {
        ro: bool,
    },
    /// GEORADIUSBYMEMBER (`ro`: its `_RO` form).
    RadiusByMember {
        ro: bool,
    },
    Search,
    SearchStore,
}

impl Variant {
    /// The argv index of the source key.
    pub fn source_index(self) -> usize {
        if self == Variant::SearchStore {
            2
        } else {
            1
        }
    }
    fn is_search(self) -> bool {
        matches!(self, Variant::Search | Variant::SearchStore)
    }
    fn no_store(self) -> bool {
        matches!(
            self,
            Variant::Radius { ro: true } | Variant::RadiusByMember { ro: true }
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// A parsed search against an existing source key.
struct Query {
    shape: Shape,
    sort: Sort,
    /// 0: unlimited.
    count: usize,
    any: bool,
    withdist: bool,
    withhash: bool,
    withcoord: bool,
    /// Destination and whether it stores distances (STOREDIST) instead of hashes.
    store: Option<(Bytes, bool)>,
}

/// What the arguments ask for, once checked.
enum Plan {
    /// The source key does not exist: an empty array, or (with a destination) delete the
    /// destination and answer 0.
    Missing {
        store: Option<Bytes>,
    },
    Run(Query),
}

const NEED_RADIUS: &str = "need numeric radius";

/// `extractDistanceOrReply`: radius (never negative) and its unit.
fn distance_arg(n: &[u8], unit: &[u8]) -> Result<(f64, f64), Frame> {
    let r = parse_score(n).ok_or_else(|| Frame::err(NEED_RADIUS))?;
    if r < 0.0 {
        return Err(Frame::err("radius cannot be negative"));
    }
    Ok((r, unit_arg(unit)?))
}

/// `extractBoxOrReply`: width, height (never negative) and their unit.
fn box_arg(w: &[u8], h: &[u8], unit: &[u8]) -> Result<(f64, f64, f64), Frame> {
    let w = parse_score(w).ok_or_else(|| Frame::err("need numeric width"))?;
    let h = parse_score(h).ok_or_else(|| Frame::err("need numeric height"))?;
    if h < 0.0 || w < 0.0 {
        return Err(Frame::err("height or width cannot be negative"));
    }
    Ok((w, h, unit_arg(unit)?))
}

/// Walks the arguments exactly as `georadiusGeneric` does, with the source sorted set (the
/// caller has already rejected a source of another type).
fn plan(v: Variant, argv: &[Bytes], z: Option<&ZSet>) -> Result<Plan, Frame> {
    let mut shape = Shape {
        xy: [0.0, 0.0],
        kind: ShapeKind::Radius(0.0),
        conversion: 1.0,
    };
    let mut store: Option<Bytes> = None;
    let mut storedist = false;
    let base = match v {
        Variant::Radius { .. } => {
            shape.xy = lonlat_arg(&argv[2], &argv[3])?;
            let (r, conv) = distance_arg(&argv[4], &argv[5])?;
            shape.kind = ShapeKind::Radius(r);
            shape.conversion = conv;
            6
        }
        Variant::RadiusByMember { .. } => {
            if let Some(z) = z {
                shape.xy = member_position(z, &argv[2])?;
                let (r, conv) = distance_arg(&argv[3], &argv[4])?;
                shape.kind = ShapeKind::Radius(r);
                shape.conversion = conv;
            }
            5
        }
        Variant::Search => 2,
        Variant::SearchStore => {
            store = Some(argv[1].clone());
            3
        }
    };
    let (mut withdist, mut withhash, mut withcoord, mut any) = (false, false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut sort = Sort::None;
    let mut count: i64 = 0;
    let opts = argv.get(base..).unwrap_or(&[]);
    let remaining = opts.len();
    let mut i = 0;
    while i < remaining {
        let a = &opts[i];
        let store_ok = !v.no_store() && !v.is_search();
        if eq(a, "withdist") {
            withdist = true;
        } else if eq(a, "withhash") {
            withhash = true;
        } else if eq(a, "withcoord") {
            withcoord = true;
        } else if eq(a, "any") {
            any = true;
        } else if eq(a, "asc") {
            sort = Sort::Asc;
        } else if eq(a, "desc") {
            sort = Sort::Desc;
        } else if eq(a, "count") && i + 1 < remaining {
            count = int_arg(&opts[i + 1])?;
            if count <= 0 {
                return Err(Frame::err("COUNT must be > 0"));
            }
            i += 1;
        } else if (eq(a, "store") || eq(a, "storedist")) && i + 1 < remaining && store_ok {
            store = Some(opts[i + 1].clone());
            storedist = eq(a, "storedist");
            i += 1;
        } else if eq(a, "storedist") && v == Variant::SearchStore {
            storedist = true;
        } else if eq(a, "frommember") && i + 1 < remaining && v.is_search() && !fromloc {
            if let Some(z) = z {
                shape.xy = member_position(z, &opts[i + 1])?;
            }
            frommember = true;
            i += 1;
        } else if eq(a, "fromlonlat") && i + 2 < remaining && v.is_search() && !frommember {
            shape.xy = lonlat_arg(&opts[i + 1], &opts[i + 2])?;
            fromloc = true;
            i += 2;
        } else if eq(a, "byradius") && i + 2 < remaining && v.is_search() && !bybox {
            let (r, conv) = distance_arg(&opts[i + 1], &opts[i + 2])?;
            shape.kind = ShapeKind::Radius(r);
            shape.conversion = conv;
            byradius = true;
            i += 2;
        } else if eq(a, "bybox") && i + 3 < remaining && v.is_search() && !byradius {
            let (w, h, conv) = box_arg(&opts[i + 1], &opts[i + 2], &opts[i + 3])?;
            shape.kind = ShapeKind::Box(w, h);
            shape.conversion = conv;
            bybox = true;
            i += 3;
        } else {
            return Err(syntax());
        }
        i += 1;
    }
    if store.is_some() && (withdist || withhash || withcoord) {
        let who = if v == Variant::SearchStore {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        };
        return Err(Frame::err(format!(
            "{who} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        )));
    }
    let name = String::from_utf8_lossy(&argv[0]);
    if v.is_search() && !(frommember || fromloc) {
        return Err(Frame::err(format!(
            "exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        )));
    }
    if v.is_search() && !(byradius || bybox) {
        return Err(Frame::err(format!(
            "exactly one of BYRADIUS and BYBOX can be specified for {name}"
        )));
    }
    if any && count == 0 {
        return Err(Frame::err("the ANY argument requires COUNT argument"));
    }
    if z.is_none() {
        return Ok(Plan::Missing { store });
    }
    if count != 0 && sort == Sort::None && !any {
        sort = Sort::Asc;
    }
    Ok(Plan::Run(Query {
        shape,
        sort,
        count: usize::try_from(count).unwrap_or(usize::MAX),
        any,
        withdist,
        withhash,
        withcoord,
        store: store.map(|s| (s, storedist)),
    }))
}

/// One match: decoded position, distance from the centre (meters), stored score, member.
#[derive(Clone, Debug)]
struct Point {
    lon: f64,
    lat: f64,
    dist: f64,
    score: f64,
    member: Bytes,
}

/// Members of `z` with scores in `[min, max)` inside the shape, appended to `out`, stopping
/// once `out` holds `limit` (0: no limit) points (`geoGetPointsInRange`).
fn points_in_range(
    z: &ZSet,
    min: f64,
    max: f64,
    shape: &Shape,
    out: &mut Vec<Point>,
    limit: usize,
) {
    for (m, score) in z.from_score(min) {
        if score >= max {
            break;
        }
        if let Some([lon, lat]) = geohash::decode_score(score) {
            if let Some(dist) = shape.contains(lon, lat) {
                out.push(Point {
                    lon,
                    lat,
                    dist,
                    score,
                    member: m.clone(),
                });
            }
        }
        if limit > 0 && out.len() >= limit {
            break;
        }
    }
}

/// The nine-cell search (`membersOfAllNeighbors`): cells in Redis's order, a cell equal to
/// the last searched one skipped (huge radii make neighbours coincide).
fn search(z: &ZSet, shape: &Shape, limit: usize) -> Vec<Point> {
    let cells = geohash::covering_cells(shape);
    let mut out = Vec::new();
    let mut last = 0usize;
    for (i, cell) in cells.iter().enumerate() {
        if cell.is_zero() {
            continue;
        }
        // As Redis: index 0 never counts as "processed before" (its test is `last && ...`).
        if last != 0 && *cell == cells[last] {
            continue;
        }
        if !out.is_empty() && limit > 0 && out.len() >= limit {
            break;
        }
        let min = cell.align52();
        let max = geohash::Hash {
            bits: cell.bits + 1,
            step: cell.step,
        }
        .align52();
        points_in_range(z, min as f64, max as f64, shape, &mut out, limit);
        last = i;
    }
    out
}

/// `sort_gp_asc` / `sort_gp_desc`.
fn compare(sort: Sort, a: &Point, b: &Point) -> i32 {
    let asc = if a.dist > b.dist {
        1
    } else if a.dist == b.dist {
        0
    } else {
        -1
    };
    if sort == Sort::Desc {
        -asc
    } else {
        asc
    }
}

/// Redis's `pqsort`: the Bentley–McIlroy quicksort (three-way partition, insertion sort under
/// 7 elements, median of three / ninther pivots) that only recurses into parts overlapping
/// `[lrange, rrange]`. Reproduced step for step so that points at equal distances come out in
/// Redis's order.
fn pqsort(v: &mut [Point], cmp: &dyn Fn(&Point, &Point) -> i32, lrange: usize, rrange: usize) {
    fn med3(
        v: &[Point],
        a: usize,
        b: usize,
        c: usize,
        cmp: &dyn Fn(&Point, &Point) -> i32,
    ) -> usize {
        if cmp(&v[a], &v[b]) < 0 {
            if cmp(&v[b], &v[c]) < 0 {
                b
            } else if cmp(&v[a], &v[c]) < 0 {
                c
            } else {
                a
            }
        } else if cmp(&v[b], &v[c]) > 0 {
            b
        } else if cmp(&v[a], &v[c]) < 0 {
            a
        } else {
            c
        }
    }
    fn vecswap(v: &mut [Point], a: usize, b: usize, n: usize) {
        for k in 0..n {
            v.swap(a + k, b + k);
        }
    }
    // (start, len) of the part being sorted; the tail call of the C code is the loop.
    fn part(
        v: &mut [Point],
        mut a: usize,
        mut n: usize,
        cmp: &dyn Fn(&Point, &Point) -> i32,
        lr: usize,
        rr: usize,
    ) {
        loop {
            if n < 7 {
                for pm in a + 1..a + n {
                    let mut pl = pm;
                    while pl > a && cmp(&v[pl - 1], &v[pl]) > 0 {
                        v.swap(pl, pl - 1);
                        pl -= 1;
                    }
                }
                return;
            }
            let mut pm = a + n / 2;
            if n > 7 {
                let mut pl = a;
                let mut pn = a + n - 1;
                if n > 40 {
                    let d = n / 8;
                    pl = med3(v, pl, pl + d, pl + 2 * d, cmp);
                    pm = med3(v, pm - d, pm, pm + d, cmp);
                    pn = med3(v, pn - 2 * d, pn - d, pn, cmp);
                }
                pm = med3(v, pl, pm, pn, cmp);
            }
            v.swap(a, pm);
            let (mut pa, mut pb) = (a + 1, a + 1);
            // pc/pd may step below `a + 1`; kept as signed positions.
            let (mut pc, mut pd) = ((a + n - 1) as isize, (a + n - 1) as isize);
            loop {
                while pb as isize <= pc {
                    let r = cmp(&v[pb], &v[a]);
                    if r > 0 {
                        break;
                    }
                    if r == 0 {
                        v.swap(pa, pb);
                        pa += 1;
                    }
                    pb += 1;
                }
                while pb as isize <= pc {
                    let r = cmp(&v[pc as usize], &v[a]);
                    if r < 0 {
                        break;
                    }
                    if r == 0 {
                        v.swap(pc as usize, pd as usize);
                        pd -= 1;
                    }
                    pc -= 1;
                }
                if pb as isize > pc {
                    break;
                }
                v.swap(pb, pc as usize);
                pb += 1;
                pc -= 1;
            }
            let pn = a + n;
            let r = (pa - a).min(pb - pa);
            vecswap(v, a, pb - r, r);
            let r = ((pd - pc) as usize).min(pn - pd as usize - 1);
            vecswap(v, pb, pn - r, r);
            let overlaps = |start: usize, len: usize| {
                let end = start + len; // exclusive
                !((lr < start && rr < start) || (lr >= end && rr >= end))
            };
            let left = pb - pa;
            if left > 1 && overlaps(a, left) {
                part(v, a, left, cmp, lr, rr);
            }
            let right = (pd - pc) as usize;
            if right > 1 {
                a = pn - right;
                n = right;
                if overlaps(a, n) {
                    continue;
                }
            }
            return;
        }
    }
    let n = v.len();
    part(v, 0, n, cmp, lrange, rrange);
}

/// Finds, sorts and truncates the matches of `q` in `z`.
fn matches(z: &ZSet, q: &Query) -> Vec<Point> {
    let mut pts = search(z, &q.shape, if q.any { q.count } else { 0 });
    let returned = if q.count == 0 || pts.len() < q.count {
        pts.len()
    } else {
        q.count
    };
    if q.sort != Sort::None {
        let s = q.sort;
        if returned == pts.len() {
            // glibc's qsort is a merge sort for arrays like these: stable.
            pts.sort_by(|a, b| compare(s, a, b).cmp(&0));
        } else if returned > 0 {
            pqsort(&mut pts, &|a, b| compare(s, a, b), 0, returned - 1);
        }
    }
    pts.truncate(returned);
    for p in &mut pts {
        p.dist /= q.shape.conversion;
    }
    pts
}

fn reply_points(pts: &[Point], q: &Query) -> Frame {
    let opts = usize::from(q.withdist) + usize::from(q.withhash) + usize::from(q.withcoord);
    Frame::Array(
        pts.iter()
            .map(|p| {
                let member = Frame::Bulk(p.member.clone());
                if opts == 0 {
                    return member;
                }
                let mut e = vec![member];
                if q.withdist {
                    e.push(Frame::bulk(geohash::format_distance(p.dist)));
                }
                if q.withhash {
                    e.push(Frame::Integer(p.score as i64));
                }
                if q.withcoord {
                    e.push(Frame::Array(vec![
                        Frame::bulk(geohash::format_coord(p.lon)),
                        Frame::bulk(geohash::format_coord(p.lat)),
                    ]));
                }
                Frame::Array(e)
            })
            .collect(),
    )
}

fn source<'a>(
    ks: &'a Keyspace,
    v: Variant,
    argv: &[Bytes],
    now: u64,
) -> Result<Option<&'a ZSet>, Frame> {
    crate::cmd::typed(ks, &argv[v.source_index()], now, |val| match val {
        Value::ZSet(z) => Some(z),
        _ => None,
    })
}

/// A search without a destination (the read variants; also GEORADIUS and GEORADIUSBYMEMBER
/// when the arguments name no STORE, which still run as writes, as in Redis).
pub(super) fn read(ks: &Keyspace, v: Variant, argv: &[Bytes], now: u64) -> Result<Frame, Frame> {
    let z = source(ks, v, argv, now)?;
    match plan(v, argv, z)? {
        Plan::Missing { .. } => Ok(Frame::Array(Vec::new())),
        Plan::Run(q) => {
            // Only write variants can carry a destination; `read` is not called for them.
            let z = z.ok_or_else(syntax)?;
            Ok(reply_points(&matches(z, &q), &q))
        }
    }
}

/// A search on the write path: with a destination the matches are stored (scores: hashes, or
/// distances in the request's unit with STOREDIST) and the reply is their count.
pub(super) fn write(
    ks: &mut Keyspace,
    v: Variant,
    argv: &[Bytes],
    now: u64,
) -> Result<Frame, Frame> {
    let z = source(ks, v, argv, now)?;
    let (dst, stored) = match plan(v, argv, z)? {
        Plan::Missing { store: None } => return Ok(Frame::Array(Vec::new())),
        Plan::Missing { store: Some(dst) } => (dst, ZSet::new()),
        Plan::Run(q) => {
            let z = z.ok_or_else(syntax)?;
            let pts = matches(z, &q);
            let Some((dst, storedist)) = q.store.clone() else {
                return Ok(reply_points(&pts, &q));
            };
            let mut out = ZSet::new();
            for p in pts {
                out.insert(p.member, if storedist { p.dist } else { p.score });
            }
            (dst, out)
        }
    };
    let n = stored.len() as i64;
    ks.remove(&dst);
    if n > 0 {
        ks.insert(own(&dst), Value::ZSet(stored), None, now);
    }
    Ok(Frame::Integer(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(dist: f64, tag: &str) -> Point {
        Point {
            lon: 0.0,
            lat: 0.0,
            dist,
            score: 0.0,
            member: Bytes::copy_from_slice(tag.as_bytes()),
        }
    }

    /// The partial sort puts the smallest `k` in order at the front, for every size around
    /// its insertion-sort and ninther thresholds.
    #[test]
    fn pqsort_orders_the_requested_prefix() {
        let mut rng = sdr_seeded::Rng::new(7);
        for n in [1usize, 2, 6, 7, 8, 20, 40, 41, 100, 333] {
            for k in [1usize, 2, 5, n / 2 + 1, n] {
                let k = k.min(n);
                let mut v: Vec<Point> = (0..n)
                    .map(|i| pt(rng.below(50) as f64, &i.to_string()))
                    .collect();
                let mut want: Vec<f64> = v.iter().map(|p| p.dist).collect();
                want.sort_by(|a, b| a.total_cmp(b));
                pqsort(&mut v, &|a, b| compare(Sort::Asc, a, b), 0, k - 1);
                let got: Vec<f64> = v[..k].iter().map(|p| p.dist).collect();
                assert_eq!(got, want[..k], "n={n} k={k}");
                let mut all: Vec<&Bytes> = v.iter().map(|p| &p.member).collect();
                all.sort();
                all.dedup();
                assert_eq!(all.len(), n, "a permutation");
            }
        }
    }
}
