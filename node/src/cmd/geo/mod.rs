//! Geo commands on sorted sets (Redis 7.0): GEOADD (NX/XX/CH), GEODIST, GEOHASH, GEOPOS,
//! GEOSEARCH, GEOSEARCHSTORE, GEORADIUS, GEORADIUSBYMEMBER and their `_RO` forms.
//!
//! - this file: parsing, the read/write ops, GEOADD/GEODIST/GEOHASH/GEOPOS, argument helpers
//!   shared with the searches (coordinates, units, member positions) and [`key_indices`] for
//!   GEORADIUS's STORE/STOREDIST keys.
//! - [`geohash`]: Redis's 52-bit geohash, cell centres, neighbours, haversine distance, the
//!   covering cells of a search, and the reply texts of distances and coordinates.
//! - [`search`]: the search commands (`georadiusGeneric`).
//!
//! A position is a sorted-set member whose score is its geohash, so GEOADD is a ZADD of the
//! computed scores (it goes through the log as that write) and every sorted-set command works
//! on geo keys. GEORADIUS and GEORADIUSBYMEMBER are writes (they may STORE), as in Redis;
//! GEOSEARCHSTORE and the STORE forms replace the destination with a sorted set (no TTL).
//! The searches parse their options at execution time, interleaved with reading the source
//! key, because that is where Redis reports each error (WRONGTYPE first, a missing FROMMEMBER
//! member before later syntax errors, a missing source key before the radius is read for
//! GEORADIUSBYMEMBER). Replies keep their RESP2 shape after `HELLO 3` (see docs/commands.md).

pub mod geohash;
pub mod search;

use bytes::Bytes;

use super::zsets::{geo_add, parse_score};
use super::{eq, reply, syntax, typed, Op, ReadOp, WriteOp, NOT_FLOAT};
use crate::keyspace::{Keyspace, Value, ZSet};
use crate::resp::Frame;
pub use search::Variant;

/// The read commands of this family.
#[derive(Clone, Debug, PartialEq)]
pub enum GeoRead {
    Pos(Bytes, Vec<Bytes>),
    Hash(Bytes, Vec<Bytes>),
    /// Key, two members, unit-to-meters factor.
    Dist(Bytes, Bytes, Bytes, f64),
    /// GEOSEARCH, GEORADIUS_RO, GEORADIUSBYMEMBER_RO (argv as sent).
    Search(Variant, Vec<Bytes>),
}

/// The write commands of this family (GEOADD parses into a sorted-set ZADD instead).
#[derive(Clone, Debug, PartialEq)]
pub enum GeoWrite {
    /// GEORADIUS, GEORADIUSBYMEMBER, GEOSEARCHSTORE (argv as sent).
    Search(Variant, Vec<Bytes>),
}

impl From<GeoRead> for Op {
    fn from(r: GeoRead) -> Op {
        Op::Read(ReadOp::Geo(r))
    }
}

impl From<GeoWrite> for Op {
    fn from(w: GeoWrite) -> Op {
        Op::Write(WriteOp::Geo(w))
    }
}

const UNIT: &str = "unsupported unit provided. please use M, KM, FT, MI";

/// `extractUnitOrReply`: meters per unit.
pub(crate) fn unit_arg(u: &[u8]) -> Result<f64, Frame> {
    if eq(u, "m") {
        Ok(1.0)
    } else if eq(u, "km") {
        Ok(1000.0)
    } else if eq(u, "ft") {
        Ok(0.3048)
    } else if eq(u, "mi") {
        Ok(1609.34)
    } else {
        Err(Frame::err(UNIT))
    }
}

/// `extractLongLatOrReply`: two doubles inside Redis's limits.
pub(crate) fn lonlat_arg(lon: &[u8], lat: &[u8]) -> Result<[f64; 2], Frame> {
    let x = parse_score(lon).ok_or_else(|| Frame::err(NOT_FLOAT))?;
    let y = parse_score(lat).ok_or_else(|| Frame::err(NOT_FLOAT))?;
    if !(geohash::LON_MIN..=geohash::LON_MAX).contains(&x)
        || !(geohash::LAT_MIN..=geohash::LAT_MAX).contains(&y)
    {
        return Err(Frame::err(format!(
            "invalid longitude,latitude pair {},{}",
            c_fixed6(x),
            c_fixed6(y)
        )));
    }
    Ok([x, y])
}

/// C's `%f` (six decimals; `inf`, `-inf`).
fn c_fixed6(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    format!("{d:.6}")
}

/// `longLatFromMember`: the decoded position of a member, or Redis's error.
pub(crate) fn member_position(z: &ZSet, member: &[u8]) -> Result<[f64; 2], Frame> {
    z.score(member)
        .and_then(geohash::decode_score)
        .ok_or_else(|| Frame::err("could not decode requested zset member"))
}

/// GEOADD: options NX / XX / CH (in any order, before the triples), then
/// `longitude latitude member` triples, all checked before the key is read; the result is
/// the ZADD of the computed scores.
fn parse_add(argv: &[Bytes]) -> Result<Op, Frame> {
    let (mut nx, mut xx, mut ch) = (false, false, false);
    let mut at = 2;
    while at < argv.len() {
        let a = &argv[at];
        if eq(a, "nx") {
            nx = true;
        } else if eq(a, "xx") {
            xx = true;
        } else if eq(a, "ch") {
            ch = true;
        } else {
            break;
        }
        at += 1;
    }
    let rest = &argv[at..];
    if !rest.len().is_multiple_of(3) || (xx && nx) || rest.is_empty() {
        return Err(syntax());
    }
    let mut pairs = Vec::with_capacity(rest.len() / 3);
    for t in rest.chunks_exact(3) {
        let [x, y] = lonlat_arg(&t[0], &t[1])?;
        let score = geohash::score_of(x, y).ok_or_else(syntax)?;
        pairs.push((score, t[2].clone()));
    }
    Ok(geo_add(argv[1].clone(), nx, xx, ch, pairs).into())
}

pub(super) fn parse(name: &str, argv: &[Bytes]) -> Result<Op, Frame> {
    let key = argv[1].clone();
    Ok(match name {
        "geoadd" => return parse_add(argv),
        "geopos" => GeoRead::Pos(key, argv[2..].to_vec()).into(),
        "geohash" => GeoRead::Hash(key, argv[2..].to_vec()).into(),
        "geodist" => {
            let conv = match argv.len() {
                4 => 1.0,
                5 => unit_arg(&argv[4])?,
                _ => return Err(syntax()),
            };
            GeoRead::Dist(key, argv[2].clone(), argv[3].clone(), conv).into()
        }
        "georadius" => GeoWrite::Search(Variant::Radius { ro: false }, argv.to_vec()).into(),
        "georadius_ro" => GeoRead::Search(Variant::Radius { ro: true }, argv.to_vec()).into(),
        "georadiusbymember" => {
            GeoWrite::Search(Variant::RadiusByMember { ro: false }, argv.to_vec()).into()
        }
        "georadiusbymember_ro" => {
            GeoRead::Search(Variant::RadiusByMember { ro: true }, argv.to_vec()).into()
        }
        "geosearch" => GeoRead::Search(Variant::Search, argv.to_vec()).into(),
        "geosearchstore" => GeoWrite::Search(Variant::SearchStore, argv.to_vec()).into(),
        _ => return Err(super::unknown_command(argv)),
    })
}

/// Key positions of GEORADIUS / GEORADIUSBYMEMBER (`georadiusGetKeys`): the source, and the
/// last `STORE`/`STOREDIST` argument's key from argv\[5\] on. `None` for other commands.
pub fn key_indices(name: &str, argv: &[Bytes]) -> Option<Vec<usize>> {
    if name != "georadius" && name != "georadiusbymember" {
        return None;
    }
    if argv.len() < 2 {
        return Some(Vec::new());
    }
    let mut stored = None;
    let mut i = 5;
    while i < argv.len() {
        if (eq(&argv[i], "store") || eq(&argv[i], "storedist")) && i + 1 < argv.len() {
            stored = Some(i + 1);
            i += 1;
        }
        i += 1;
    }
    let mut out = vec![1];
    out.extend(stored);
    Some(out)
}

fn zset_of(v: &Value) -> Option<&ZSet> {
    match v {
        Value::ZSet(z) => Some(z),
        _ => None,
    }
}

impl GeoRead {
    pub(super) fn read(&self, ks: &Keyspace, now: u64) -> Frame {
        reply(self.read_inner(ks, now))
    }

    fn read_inner(&self, ks: &Keyspace, now: u64) -> Result<Frame, Frame> {
        Ok(match self {
            GeoRead::Pos(key, members) => {
                let z = typed(ks, key, now, zset_of)?;
                Frame::Array(
                    members
                        .iter()
                        .map(
                            |m| match z.and_then(|z| z.score(m)).and_then(geohash::decode_score) {
                                None => Frame::NullArray,
                                Some([x, y]) => Frame::Array(vec![
                                    Frame::bulk(geohash::format_coord(x)),
                                    Frame::bulk(geohash::format_coord(y)),
                                ]),
                            },
                        )
                        .collect(),
                )
            }
            GeoRead::Hash(key, members) => {
                let z = typed(ks, key, now, zset_of)?;
                Frame::Array(
                    members
                        .iter()
                        .map(|m| {
                            z.and_then(|z| z.score(m))
                                .and_then(geohash::standard_geohash)
                                .map_or(Frame::Null, Frame::bulk)
                        })
                        .collect(),
                )
            }
            GeoRead::Dist(key, a, b, conv) => {
                let Some(z) = typed(ks, key, now, zset_of)? else {
                    return Ok(Frame::Null);
                };
                let (Some(sa), Some(sb)) = (z.score(a), z.score(b)) else {
                    return Ok(Frame::Null);
                };
                match (geohash::decode_score(sa), geohash::decode_score(sb)) {
                    (Some([x1, y1]), Some([x2, y2])) => Frame::bulk(geohash::format_distance(
                        geohash::distance(x1, y1, x2, y2) / conv,
                    )),
                    _ => Frame::Null,
                }
            }
            GeoRead::Search(v, argv) => search::read(ks, *v, argv, now)?,
        })
    }
}

impl GeoWrite {
    pub(super) fn write(&self, ks: &mut Keyspace, now: u64) -> Frame {
        match self {
            GeoWrite::Search(v, argv) => reply(search::write(ks, *v, argv, now)),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::cmd::testutil::*;
    use crate::keyspace::Keyspace;
    use crate::resp::Frame;

    fn sicily(ks: &mut Keyspace) {
        assert_eq!(
            run(
                ks,
                0,
                &[
                    "geoadd",
                    "Sicily",
                    "13.361389",
                    "38.115556",
                    "Palermo",
                    "15.087269",
                    "37.502669",
                    "Catania"
                ]
            ),
            i(2)
        );
    }

    /// The examples of Redis's documentation and tests/unit/geo.tcl, replies as redis-server
    /// 7.0 sends them.
    #[test]
    fn documented_examples() {
        let mut ks = Keyspace::new();
        sicily(&mut ks);
        assert_eq!(
            run2(&mut ks, 0, &["zscore", "Sicily", "Palermo"]),
            b("3479099956230698")
        );
        assert_eq!(
            run(&mut ks, 0, &["geodist", "Sicily", "Palermo", "Catania"]),
            b("166274.1516")
        );
        assert_eq!(
            run(
                &mut ks,
                0,
                &["geodist", "Sicily", "Palermo", "Catania", "km"]
            ),
            b("166.2742")
        );
        assert_eq!(
            run(
                &mut ks,
                0,
                &["geodist", "Sicily", "Palermo", "Catania", "mi"]
            ),
            b("103.3182")
        );
        assert_eq!(
            run(&mut ks, 0, &["geodist", "Sicily", "Foo", "Bar"]),
            Frame::Null
        );
        assert_eq!(
            run(
                &mut ks,
                0,
                &["geohash", "Sicily", "Palermo", "Catania", "x"]
            ),
            Frame::Array(vec![b("sqc8b49rny0"), b("sqdtr74hyu0"), Frame::Null])
        );
        assert_eq!(
            run(&mut ks, 0, &["geopos", "Sicily", "Palermo", "NonExisting"]),
            Frame::Array(vec![
                arr(&["13.36138933897018433", "38.11555639549629859"]),
                Frame::NullArray
            ])
        );
        assert_eq!(
            run(
                &mut ks,
                0,
                &[
                    "geosearch",
                    "Sicily",
                    "fromlonlat",
                    "15",
                    "37",
                    "byradius",
                    "200",
                    "km",
                    "asc"
                ]
            ),
            arr(&["Catania", "Palermo"])
        );
        assert_eq!(
            run(
                &mut ks,
                0,
                &[
                    "georadius",
                    "Sicily",
                    "15",
                    "37",
                    "200",
                    "km",
                    "withdist",
                    "withhash",
                    "withcoord",
                    "desc"
                ]
            ),
            Frame::Array(vec![
                Frame::Array(vec![
                    b("Palermo"),
                    b("190.4424"),
                    i(3479099956230698),
                    arr(&["13.36138933897018433", "38.11555639549629859"])
                ]),
                Frame::Array(vec![
                    b("Catania"),
                    b("56.4413"),
                    i(3479447370796909),
                    arr(&["15.08726745843887329", "37.50266842333162032"])
                ]),
            ])
        );
        assert_eq!(
            run(
                &mut ks,
                0,
                &[
                    "geosearch",
                    "Sicily",
                    "frommember",
                    "Palermo",
                    "bybox",
                    "400",
                    "400",
                    "km",
                    "asc",
                    "count",
                    "1"
                ]
            ),
            arr(&["Palermo"])
        );
        assert_eq!(
            run(
                &mut ks,
                0,
                &[
                    "geosearchstore",
                    "d",
                    "Sicily",
                    "fromlonlat",
                    "15",
                    "37",
                    "byradius",
                    "200",
                    "km",
                    "storedist"
                ]
            ),
            i(2)
        );
        assert_eq!(
            run2(&mut ks, 0, &["zrange", "d", "0", "-1", "withscores"]),
            arr(&[
                "Catania",
                "56.441257870158204",
                "Palermo",
                "190.44242984775784"
            ])
        );
    }

    #[test]
    fn errors_in_redis_order() {
        let mut ks = Keyspace::new();
        sicily(&mut ks);
        run(&mut ks, 0, &["set", "str", "x"]);
        for (cmd, err) in [
            (&["geoadd", "k", "200", "100", "m"][..], "ERR invalid longitude,latitude pair 200.000000,100.000000"),
            (&["geoadd", "k", "xx", "nx", "1", "1", "m"], "ERR syntax error"),
            (&["geoadd", "k", "gt", "1", "1", "m"], "ERR syntax error"),
            (&["geoadd", "k", "x", "1", "m"], "ERR value is not a valid float"),
            (&["geoadd", "str", "1", "1", "m"], "WRONGTYPE Operation against a key holding the wrong kind of value"),
            (&["geodist", "Sicily", "a", "b", "yd"], "ERR unsupported unit provided. please use M, KM, FT, MI"),
            (&["geodist", "Sicily", "a", "b", "m", "x"], "ERR syntax error"),
            (&["geosearch", "str", "fromlonlat", "1", "1", "asc", "desc"], "WRONGTYPE Operation against a key holding the wrong kind of value"),
            (&["geosearch", "Sicily", "fromlonlat", "1", "1", "bybox", "1", "1"], "ERR syntax error"),
            (&["geosearch", "Sicily", "frommember", "x", "byradius", "1", "m"], "ERR could not decode requested zset member"),
            (&["GEOSEARCH", "Sicily", "byradius", "1", "m", "asc", "desc"], "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for GEOSEARCH"),
            (&["geosearch", "Sicily", "fromlonlat", "1", "1", "asc", "desc"], "ERR exactly one of BYRADIUS and BYBOX can be specified for geosearch"),
            (&["geosearch", "Sicily", "fromlonlat", "1", "1", "byradius", "1", "m", "any"], "ERR the ANY argument requires COUNT argument"),
            (&["geosearch", "Sicily", "fromlonlat", "1", "1", "byradius", "-1", "m"], "ERR radius cannot be negative"),
            (&["geosearch", "Sicily", "fromlonlat", "1", "1", "byradius", "x", "m"], "ERR need numeric radius"),
            (&["geosearch", "Sicily", "fromlonlat", "1", "1", "bybox", "1", "x", "m"], "ERR need numeric height"),
            (&["geosearch", "Sicily", "fromlonlat", "1", "1", "bybox", "-1", "1", "m"], "ERR height or width cannot be negative"),
            (&["geosearch", "Sicily", "fromlonlat", "1", "1", "byradius", "1", "m", "count", "0"], "ERR COUNT must be > 0"),
            (&["geosearch", "Sicily", "fromlonlat", "1", "1", "byradius", "1", "m", "store", "d"], "ERR syntax error"),
            (&["georadius_ro", "Sicily", "1", "1", "1", "m", "store", "d"], "ERR syntax error"),
            (&["georadius", "Sicily", "1", "1", "1", "m", "store", "d", "withdist"], "ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options"),
            (&["geosearchstore", "d", "Sicily", "fromlonlat", "1", "1", "byradius", "1", "m", "withcoord"], "ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options"),
            (&["georadiusbymember", "Sicily", "x", "1", "m"], "ERR could not decode requested zset member"),
        ] {
            assert_eq!(run(&mut ks, 0, cmd), e(err), "{cmd:?}");
        }
        // A missing source: an empty reply before the radius is even read (BYMEMBER).
        assert_eq!(
            run(
                &mut ks,
                0,
                &["georadiusbymember", "nokey", "x", "bad", "unit"]
            ),
            Frame::Array(vec![])
        );
        run(&mut ks, 0, &["set", "d", "x"]);
        assert_eq!(
            run(
                &mut ks,
                0,
                &["georadius", "nokey", "1", "1", "1", "m", "store", "d"]
            ),
            i(0)
        );
        assert_eq!(run(&mut ks, 0, &["exists", "d"]), i(0));
    }
}
