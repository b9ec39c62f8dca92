//! Redis's geohash arithmetic (`geohash.c`, `geohash_helper.c` of Redis 7.0), so that scores,
//! positions, distances and the neighbour boxes of a search are bit-for-bit Redis's.
//!
//! A position is a 52-bit interleaved hash (26 steps of latitude and longitude bits,
//! latitude in the even bits) over latitude ±[`LAT_MAX`] and longitude ±180; it is stored as
//! the sorted-set score. Decoding yields the centre of the 26-step cell. Distances are the
//! haversine formula with Redis's Earth radius. Every computation uses the same IEEE double
//! operations in the same order as Redis, and `sin`/`cos`/`asin`/`sqrt` from the platform's
//! libm (glibc on Linux, as Redis), so results match to the last bit.

/// Redis's latitude limits (EPSG:900913): the poles cannot be encoded.
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
pub const LON_MIN: f64 = -180.0;
pub const LON_MAX: f64 = 180.0;
/// Steps of a stored position: 26 × 2 = 52 bits.
pub const STEP_MAX: u8 = 26;
/// Earth's quadratic mean radius for WGS-84, as Redis uses it.
pub const EARTH_RADIUS_M: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;
/// `M_PI / 180.0`, Redis's `D_R`.
const D_R: f64 = std::f64::consts::PI / 180.0;

/// A hash of `step` steps (2 × step significant bits). `step == 0 && bits == 0` is the
/// "zero" hash Redis uses to drop a neighbour box.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hash {
    pub bits: u64,
    pub step: u8,
}

impl Hash {
    pub const ZERO: Hash = Hash { bits: 0, step: 0 };

    pub fn is_zero(self) -> bool {
        self.bits == 0 && self.step == 0
    }

    /// The hash left-aligned to 52 bits (what a stored score holds).
    pub fn align52(self) -> u64 {
        self.bits << (52 - u32::from(self.step) * 2)
    }
}

/// A coordinate interval.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

/// The cell a hash names.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Area {
    pub lon: Range,
    pub lat: Range,
}

/// Redis's coordinate ranges: longitude ±180, latitude ±85.05112878.
pub const LON_RANGE: Range = Range {
    min: LON_MIN,
    max: LON_MAX,
};
pub const LAT_RANGE: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};

/// Spreads the low 32 bits of `x` to the even bits and of `y` to the odd bits.
fn interleave(x: u32, y: u32) -> u64 {
    fn spread(v: u32) -> u64 {
        let mut v = u64::from(v);
        v = (v | (v << 16)) & 0x0000_FFFF_0000_FFFF;
        v = (v | (v << 8)) & 0x00FF_00FF_00FF_00FF;
        v = (v | (v << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
        v = (v | (v << 2)) & 0x3333_3333_3333_3333;
        (v | (v << 1)) & 0x5555_5555_5555_5555
    }
    spread(x) | (spread(y) << 1)
}

/// The inverse of [`interleave`]: (even bits, odd bits).
fn deinterleave(v: u64) -> (u32, u32) {
    fn squash(mut v: u64) -> u32 {
        v &= 0x5555_5555_5555_5555;
        v = (v | (v >> 1)) & 0x3333_3333_3333_3333;
        v = (v | (v >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
        v = (v | (v >> 4)) & 0x00FF_00FF_00FF_00FF;
        v = (v | (v >> 8)) & 0x0000_FFFF_0000_FFFF;
        v = (v | (v >> 16)) & 0x0000_0000_FFFF_FFFF;
        v as u32
    }
    (squash(v), squash(v >> 1))
}

/// `geohashEncode`: `None` outside Redis's global limits or the given ranges, or for a step
/// outside 1..=32.
pub fn encode(lon_r: Range, lat_r: Range, lon: f64, lat: f64, step: u8) -> Option<Hash> {
    if step == 0 || step > 32 {
        return None;
    }
    if !(LON_MIN..=LON_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < lat_r.min || lat > lat_r.max || lon < lon_r.min || lon > lon_r.max {
        return None;
    }
    let mut lat_off = (lat - lat_r.min) / (lat_r.max - lat_r.min);
    let mut lon_off = (lon - lon_r.min) / (lon_r.max - lon_r.min);
    let scale = (1u64 << step) as f64;
    lat_off *= scale;
    lon_off *= scale;
    // C converts the doubles to uint32_t (truncation; the values are within 0..=2^step).
    Some(Hash {
        bits: interleave(lat_off as u32, lon_off as u32),
        step,
    })
}

/// Encodes in Redis's ranges.
pub fn encode_wgs84(lon: f64, lat: f64, step: u8) -> Option<Hash> {
    encode(LON_RANGE, LAT_RANGE, lon, lat, step)
}

/// `geohashDecode`: the cell of `h` (`None` for the zero hash).
pub fn decode(h: Hash) -> Option<Area> {
    if h.is_zero() {
        return None;
    }
    let (ilat, ilon) = deinterleave(h.bits);
    let lat_scale = LAT_RANGE.max - LAT_RANGE.min;
    let lon_scale = LON_RANGE.max - LON_RANGE.min;
    let div = (1u64 << h.step) as f64;
    // `ilat + 1` is 32-bit arithmetic in Redis (it wraps for a score past 2^52).
    let (lat0, lat1) = (f64::from(ilat), f64::from(ilat.wrapping_add(1)));
    let (lon0, lon1) = (f64::from(ilon), f64::from(ilon.wrapping_add(1)));
    Some(Area {
        lat: Range {
            min: LAT_RANGE.min + (lat0 * 1.0 / div) * lat_scale,
            max: LAT_RANGE.min + (lat1 * 1.0 / div) * lat_scale,
        },
        lon: Range {
            min: LON_RANGE.min + (lon0 * 1.0 / div) * lon_scale,
            max: LON_RANGE.min + (lon1 * 1.0 / div) * lon_scale,
        },
    })
}

/// The centre of a cell, clamped to Redis's limits: `[lon, lat]`.
pub fn area_center(a: &Area) -> [f64; 2] {
    let lon = ((a.lon.min + a.lon.max) / 2.0).clamp(LON_MIN, LON_MAX);
    let lat = ((a.lat.min + a.lat.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    [lon, lat]
}

/// Redis's `decodeGeohash`: a stored score (52-bit hash, converted from the double as C's
/// `(uint64_t)` cast does) to the centre of its cell, `[lon, lat]`.
pub fn decode_score(score: f64) -> Option<[f64; 2]> {
    // C's cast of a negative or NaN double to uint64_t is undefined; on x86-64 glibc builds
    // the conversion of such values yields 0 or wraps. Scores written by GEOADD are always in
    // 0..2^52; any other value is decoded as the cast on x86-64 gives it.
    let bits = c_double_to_u64(score);
    let a = decode(Hash {
        bits,
        step: STEP_MAX,
    })?;
    Some(area_center(&a))
}

/// `(uint64_t)d` as gcc emits it on x86-64: values below 2^63 through the signed conversion
/// (`cvttsd2si`, which yields 2^63 for NaN and out-of-range values), larger ones by
/// subtracting 2^63 first.
fn c_double_to_u64(d: f64) -> u64 {
    const TWO63: f64 = 9_223_372_036_854_775_808.0;
    let cvt = |x: f64| -> i64 {
        if x.is_nan() || !(-TWO63..TWO63).contains(&x) {
            i64::MIN
        } else {
            x as i64
        }
    };
    if d < TWO63 {
        cvt(d) as u64
    } else {
        (cvt(d - TWO63) as u64) ^ (1u64 << 63)
    }
}

/// The score GEOADD stores for a position (`None` outside the limits).
pub fn score_of(lon: f64, lat: f64) -> Option<f64> {
    encode_wgs84(lon, lat, STEP_MAX).map(|h| h.align52() as f64)
}

fn move_x(h: &mut Hash, d: i8) {
    if d == 0 {
        return;
    }
    let mut x = h.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = h.bits & 0x5555_5555_5555_5555;
    let shift = 64 - u32::from(h.step) * 2;
    let zz = 0x5555_5555_5555_5555u64 >> shift;
    if d > 0 {
        x = x.wrapping_add(zz + 1);
    } else {
        x |= zz;
        x = x.wrapping_sub(zz + 1);
    }
    x &= 0xaaaa_aaaa_aaaa_aaaau64 >> shift;
    h.bits = x | y;
}

fn move_y(h: &mut Hash, d: i8) {
    if d == 0 {
        return;
    }
    let x = h.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let mut y = h.bits & 0x5555_5555_5555_5555;
    let shift = 64 - u32::from(h.step) * 2;
    let zz = 0xaaaa_aaaa_aaaa_aaaau64 >> shift;
    if d > 0 {
        y = y.wrapping_add(zz + 1);
    } else {
        y |= zz;
        y = y.wrapping_sub(zz + 1);
    }
    y &= 0x5555_5555_5555_5555u64 >> shift;
    h.bits = x | y;
}

/// The eight neighbours of a cell, in the fields' names.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Neighbors {
    pub north: Hash,
    pub south: Hash,
    pub east: Hash,
    pub west: Hash,
    pub north_east: Hash,
    pub north_west: Hash,
    pub south_east: Hash,
    pub south_west: Hash,
}

/// `geohashNeighbors` (x moves longitude, y latitude; cells wrap at the edges as Redis's do).
pub fn neighbors(h: Hash) -> Neighbors {
    let at = |dx: i8, dy: i8| {
        let mut n = h;
        move_x(&mut n, dx);
        move_y(&mut n, dy);
        n
    };
    Neighbors {
        east: at(1, 0),
        west: at(-1, 0),
        south: at(0, -1),
        north: at(0, 1),
        north_west: at(-1, 1),
        north_east: at(1, 1),
        south_east: at(1, -1),
        south_west: at(-1, -1),
    }
}

fn deg_rad(a: f64) -> f64 {
    a * D_R
}

fn rad_deg(a: f64) -> f64 {
    a / D_R
}

/// `geohashEstimateStepsByRadius`: the step whose cells are about as large as the radius.
pub fn estimate_steps(range_m: f64, lat: f64) -> u8 {
    if range_m == 0.0 {
        return 26;
    }
    let mut range_m = range_m;
    let mut step: i32 = 1;
    while range_m < MERCATOR_MAX {
        range_m *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// `geohashGetLatDistance`: the distance between two latitudes on one meridian.
pub fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_M * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// `geohashGetDistance`: haversine distance in meters.
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let lon1r = deg_rad(lon1);
    let lon2r = deg_rad(lon2);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let lat1r = deg_rad(lat1);
    let lat2r = deg_rad(lat2);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_M * a.sqrt().asin()
}

/// The search shape (already in meters via `conversion`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ShapeKind {
    Radius(f64),
    /// Width, height.
    Box(f64, f64),
}

/// A search area: centre `[lon, lat]`, shape in the request's unit, unit-to-meters factor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shape {
    pub xy: [f64; 2],
    pub kind: ShapeKind,
    pub conversion: f64,
}

impl Shape {
    /// `geohashBoundingBox`: `[min_lon, min_lat, max_lon, max_lat]`.
    pub fn bounds(&self) -> [f64; 4] {
        let [lon, lat] = self.xy;
        let (h, w) = match self.kind {
            ShapeKind::Radius(r) => (r, r),
            ShapeKind::Box(w, h) => (h / 2.0, w / 2.0),
        };
        let height = self.conversion * h;
        let width = self.conversion * w;
        let lat_delta = rad_deg(height / EARTH_RADIUS_M);
        let lon_delta_top = rad_deg(width / EARTH_RADIUS_M / deg_rad(lat + lat_delta).cos());
        let lon_delta_bottom = rad_deg(width / EARTH_RADIUS_M / deg_rad(lat - lat_delta).cos());
        let south = lat < 0.0;
        let d = if south {
            lon_delta_bottom
        } else {
            lon_delta_top
        };
        [lon - d, lat - lat_delta, lon + d, lat + lat_delta]
    }

    /// `geoWithinShape` for a decoded position: its distance from the centre in meters when
    /// inside.
    pub fn contains(&self, x: f64, y: f64) -> Option<f64> {
        let [cx, cy] = self.xy;
        match self.kind {
            ShapeKind::Radius(r) => {
                let d = distance(cx, cy, x, y);
                (d <= r * self.conversion).then_some(d)
            }
            ShapeKind::Box(w, h) => {
                let (w, h) = (w * self.conversion, h * self.conversion);
                if lat_distance(y, cy) > h / 2.0 {
                    return None;
                }
                if distance(x, y, cx, y) > w / 2.0 {
                    return None;
                }
                Some(distance(cx, cy, x, y))
            }
        }
    }
}

/// The centre cell and its eight neighbours covering a shape
/// (`geohashCalculateAreasByShapeWGS84`), in Redis's search order: centre, N, S, E, W, NE,
/// NW, SE, SW; boxes that cannot intersect the shape are zero.
pub fn covering_cells(shape: &Shape) -> [Hash; 9] {
    let [min_lon, min_lat, max_lon, max_lat] = shape.bounds();
    let [lon, lat] = shape.xy;
    let mut radius_m = match shape.kind {
        ShapeKind::Radius(r) => r,
        ShapeKind::Box(w, h) => ((w / 2.0) * (w / 2.0) + (h / 2.0) * (h / 2.0)).sqrt(),
    };
    radius_m *= shape.conversion;
    let mut steps = estimate_steps(radius_m, lat);
    let cell = |steps| {
        let h = encode_wgs84(lon, lat, steps).unwrap_or(Hash {
            bits: 0,
            step: steps,
        });
        (h, neighbors(h), decode(h).unwrap_or_default())
    };
    let (mut hash, mut nb, mut area) = cell(steps);
    let d = |h: Hash| decode(h).unwrap_or_default();
    let decrease = d(nb.north).lat.max < max_lat
        || d(nb.south).lat.min > min_lat
        || d(nb.east).lon.max < max_lon
        || d(nb.west).lon.min > min_lon;
    if steps > 1 && decrease {
        steps -= 1;
        (hash, nb, area) = cell(steps);
    }
    if steps >= 2 {
        if area.lat.min < min_lat {
            nb.south = Hash::ZERO;
            nb.south_west = Hash::ZERO;
            nb.south_east = Hash::ZERO;
        }
        if area.lat.max > max_lat {
            nb.north = Hash::ZERO;
            nb.north_east = Hash::ZERO;
            nb.north_west = Hash::ZERO;
        }
        if area.lon.min < min_lon {
            nb.west = Hash::ZERO;
            nb.south_west = Hash::ZERO;
            nb.north_west = Hash::ZERO;
        }
        if area.lon.max > max_lon {
            nb.east = Hash::ZERO;
            nb.south_east = Hash::ZERO;
            nb.north_east = Hash::ZERO;
        }
    }
    [
        hash,
        nb.north,
        nb.south,
        nb.east,
        nb.west,
        nb.north_east,
        nb.north_west,
        nb.south_east,
        nb.south_west,
    ]
}

/// The standard 11-character geohash of a stored score (GEOHASH): decoded, re-encoded over
/// latitude ±90, the last character always `0` (only 52 bits exist).
pub fn standard_geohash(score: f64) -> Option<String> {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let [lon, lat] = decode_score(score)?;
    let h = encode(
        Range {
            min: -180.0,
            max: 180.0,
        },
        Range {
            min: -90.0,
            max: 90.0,
        },
        lon,
        lat,
        26,
    )
    .unwrap_or(Hash { bits: 0, step: 26 });
    let mut s = String::with_capacity(11);
    for i in 0..11 {
        let idx = if i == 10 {
            0
        } else {
            ((h.bits >> (52 - (i + 1) * 5)) & 0x1f) as usize
        };
        s.push(ALPHABET[idx] as char);
    }
    Some(s)
}

/// Redis's `addReplyDoubleDistance` (`fixedpoint_d2string` with 4 digits): `llrint` of
/// `d × 10⁴` (round half to even), printed with four decimals.
pub fn format_distance(d: f64) -> String {
    if d == 0.0 {
        return "0.0000".to_string();
    }
    let scaled = (d * 10_000.0).round_ties_even();
    // llrint of a value outside i64 yields i64::MIN on x86-64.
    let v: i64 = if scaled.is_finite()
        && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&scaled)
    {
        scaled as i64
    } else {
        i64::MIN
    };
    let neg = v < 0;
    let u = v.unsigned_abs();
    format!(
        "{}{}.{:04}",
        if neg { "-" } else { "" },
        u / 10_000,
        u % 10_000
    )
}

/// Redis's `addReplyHumanLongDouble` text (RESP2): `%.17Lf` of the value, trailing zeros and
/// a trailing dot removed, `-0` printed `0`.
pub fn format_coord(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    let mut s = format!("{d:.17}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".to_string();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleave_round_trips() {
        for (x, y) in [
            (0u32, 0u32),
            (1, 0),
            (0, 1),
            (0x3ff_ffff, 0x155_5555),
            (u32::MAX, 7),
        ] {
            assert_eq!(deinterleave(interleave(x, y)), (x, y));
        }
    }

    /// Vectors from Redis's tests/unit/geo.tcl and redis-server 7.0 replies.
    #[test]
    fn scores_positions_and_hashes_match_redis() {
        // GEOADD Sicily 13.361389 38.115556 Palermo: score 3479099956230698.
        assert_eq!(score_of(13.361389, 38.115556), Some(3479099956230698.0));
        assert_eq!(score_of(15.087269, 37.502669), Some(3479447370796909.0));
        let [x, y] = decode_score(3479099956230698.0).expect("decodes");
        assert_eq!(format_coord(x), "13.36138933897018433");
        assert_eq!(format_coord(y), "38.11555639549629859");
        assert_eq!(
            standard_geohash(3479099956230698.0).as_deref(),
            Some("sqc8b49rny0")
        );
        assert_eq!(
            standard_geohash(3479447370796909.0).as_deref(),
            Some("sqdtr74hyu0")
        );
        // geo.tcl "GEOHASH is able to return geohash strings": -5.6 42.6 -> ezs42e44yx0.
        let s = score_of(-5.6, 42.6).expect("in range");
        assert_eq!(standard_geohash(s).as_deref(), Some("ezs42e44yx0"));
        // Out of range positions do not encode.
        assert_eq!(score_of(181.0, 0.0), None);
        assert_eq!(score_of(0.0, 85.06), None);
    }

    #[test]
    fn distances_match_redis() {
        // GEODIST Sicily Palermo Catania km -> 166.2742 (geo.tcl and redis-server).
        let p = decode_score(3479099956230698.0).expect("decodes");
        let c = decode_score(3479447370796909.0).expect("decodes");
        let d = distance(p[0], p[1], c[0], c[1]);
        assert_eq!(format_distance(d / 1000.0), "166.2742");
        assert_eq!(format_distance(d), "166274.1516");
        assert_eq!(format_distance(0.0), "0.0000");
        assert_eq!(format_distance(0.00005), "0.0000");
        assert_eq!(format_distance(1.5), "1.5000");
        // Same longitude: the latitude shortcut.
        assert_eq!(distance(10.0, 1.0, 10.0, 2.0), lat_distance(1.0, 2.0));
    }

    #[test]
    fn steps_and_cells() {
        assert_eq!(estimate_steps(0.0, 0.0), 26);
        assert_eq!(estimate_steps(1.0, 0.0), 24);
        assert_eq!(estimate_steps(1.0, 70.0), 23);
        assert_eq!(estimate_steps(1.0, -81.0), 22);
        assert_eq!(estimate_steps(1e9, 0.0), 1);
        let shape = Shape {
            xy: [15.0, 37.0],
            kind: ShapeKind::Radius(200.0),
            conversion: 1000.0,
        };
        let cells = covering_cells(&shape);
        assert!(!cells[0].is_zero());
        // Neighbours of a cell decode to adjacent cells.
        let h = encode_wgs84(15.0, 37.0, 10).expect("encodes");
        let a = decode(h).expect("decodes");
        let n = decode(neighbors(h).north).expect("decodes");
        assert_eq!(a.lat.max, n.lat.min);
        let e = decode(neighbors(h).east).expect("decodes");
        assert_eq!(a.lon.max, e.lon.min);
    }

    #[test]
    fn coordinate_text() {
        assert_eq!(format_coord(1.5), "1.5");
        assert_eq!(format_coord(-0.0), "0");
        assert_eq!(format_coord(2.0), "2");
    }
}
