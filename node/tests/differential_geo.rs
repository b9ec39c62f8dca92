//! Differential test of the geo commands against a real `redis-server` 7.0: seeded random
//! GEOADD / GEODIST / GEOPOS / GEOHASH / GEOSEARCH / GEOSEARCHSTORE / GEORADIUS(BYMEMBER)
//! (+ `_RO`, STORE / STOREDIST) sequences go to both servers over raw RESP2 sockets and the
//! reply bytes must be identical: scores, decoded coordinates (`%.17Lf`), distances (`%.4f`),
//! the members each search finds and their order (stable sort, or Redis's `pqsort` under
//! COUNT, ties included: positions are often shared), stored results (read back with
//! ZRANGE WITHSCORES) and every error text. No normalisation is allowed.
//!
//! Fixed seeds keep `make test` fast; `SDR_LONG=1` runs many more. Skipped (with a message)
//! when `/usr/bin/redis-server` is missing.

mod common;

use common::redis_server::{pair, Pair};
use sdr_seeded::Rng;

struct Gen {
    rng: Rng,
}

impl Gen {
    fn below(&mut self, n: u64) -> u64 {
        self.rng.below(n)
    }
    fn pick<'a>(&mut self, pool: &[&'a str]) -> &'a str {
        pool[self.below(pool.len() as u64) as usize]
    }
    fn key(&mut self) -> String {
        self.pick(&["g", "g", "g", "h", "s", "none"]).to_string()
    }
    fn member(&mut self) -> String {
        format!("m{}", self.below(30))
    }
    /// A number in `[lo, hi]` with up to 6 decimals.
    fn num(&mut self, lo: f64, hi: f64) -> String {
        let span = ((hi - lo) * 1e6) as u64;
        let v = lo + self.below(span + 1) as f64 / 1e6;
        format!("{v:.6}")
    }
    /// Longitude/latitude: mostly around a few centres (searches find things), sometimes
    /// anywhere, shared positions (ties), the limits, or invalid.
    fn lonlat(&mut self) -> (String, String) {
        match self.below(20) {
            0..=9 => {
                let (cx, cy) = [(13.0, 38.0), (-73.9, 40.7), (151.2, -33.8), (179.9, 0.1)]
                    [self.below(4) as usize];
                (self.num(cx - 1.0, cx + 1.0), self.num(cy - 1.0, cy + 1.0))
            }
            10..=12 => (self.num(-180.0, 180.0), self.num(-85.0, 85.0)),
            13..=15 => {
                let p = self.pick(&[
                    "13.5 38.2",
                    "13.5 38.2",
                    "-73.9 40.7",
                    "0 0",
                    "180 85.05112878",
                    "-180 -85.05112878",
                ]);
                let (a, b) = p.split_once(' ').unwrap_or((p, p));
                (a.to_string(), b.to_string())
            }
            16 => (self.num(-180.0, 180.0), self.num(60.0, 85.05)),
            17 => (self.num(-180.0, 180.0), self.num(-85.05, -60.0)),
            18 => {
                let p = self.pick(&[
                    "181 0", "0 86", "-180.1 1", "x 1", "1 y", "inf 0", "1e999 1", " 1 1",
                ]);
                let (a, b) = p.split_once(' ').unwrap_or((p, p));
                (a.to_string(), b.to_string())
            }
            _ => (self.num(-10.0, 10.0), self.num(-10.0, 10.0)),
        }
    }
    fn unit(&mut self) -> String {
        self.pick(&["m", "km", "km", "KM", "ft", "mi", "mi", "yd"])
            .to_string()
    }
    fn radius(&mut self) -> String {
        match self.below(12) {
            0..=4 => self.below(300).to_string(),
            5..=7 => self.num(0.0, 50.0),
            8 => self
                .pick(&["0", "20000", "5000", "-1", "x", "inf"])
                .to_string(),
            _ => (self.below(3_000_000)).to_string(),
        }
    }
    /// The trailing options of a search (in random order).
    fn options(&mut self, store_words: bool, search: bool) -> Vec<String> {
        let mut o: Vec<Vec<String>> = Vec::new();
        let mut add = |g: &mut Gen, v: &[&str]| {
            let _ = g;
            o.push(v.iter().map(|s| s.to_string()).collect());
        };
        if self.below(3) == 0 {
            add(self, &["withdist"]);
        }
        if self.below(4) == 0 {
            add(self, &["withcoord"]);
        }
        if self.below(5) == 0 {
            add(self, &["withhash"]);
        }
        match self.below(4) {
            0 => add(self, &["asc"]),
            1 => add(self, &["desc"]),
            _ => {}
        }
        if self.below(3) == 0 {
            let n = self.pick(&["1", "2", "3", "5", "8", "0", "-1", "x"]);
            add(self, &["count", n]);
            if self.below(3) == 0 {
                add(self, &["any"]);
            }
        } else if self.below(25) == 0 {
            add(self, &["any"]);
        }
        if store_words && self.below(3) == 0 {
            let w = if self.below(2) == 0 {
                "store"
            } else {
                "storedist"
            };
            let d = self.pick(&["dst", "dst", "s"]);
            add(self, &[w, d]);
        }
        if search && self.below(30) == 0 {
            add(self, &["store", "dst"]);
        }
        if self.below(40) == 0 {
            add(self, &["bogus"]);
        }
        // Shuffle.
        for i in (1..o.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            o.swap(i, j);
        }
        o.into_iter().flatten().collect()
    }
    fn from(&mut self) -> Vec<String> {
        if self.below(2) == 0 {
            vec!["frommember".into(), self.member()]
        } else {
            let (x, y) = self.lonlat();
            vec!["fromlonlat".into(), x, y]
        }
    }
    fn by(&mut self) -> Vec<String> {
        if self.below(2) == 0 {
            vec!["byradius".into(), self.radius(), self.unit()]
        } else {
            vec!["bybox".into(), self.radius(), self.radius(), self.unit()]
        }
    }
}

fn gen_geo(g: &mut Gen) -> Vec<Vec<u8>> {
    let k = g.key();
    let mut v: Vec<String> = match g.below(24) {
        0..=5 => {
            let mut v = vec!["geoadd".into(), k];
            for _ in 0..g.below(3) {
                v.push(g.pick(&["nx", "xx", "ch", "CH"]).into());
            }
            for _ in 0..1 + g.below(5) {
                let (x, y) = g.lonlat();
                v.extend([x, y, g.member()]);
            }
            if g.below(30) == 0 {
                v.pop();
            }
            v
        }
        6 => {
            let mut v = vec!["geodist".into(), k, g.member(), g.member()];
            if g.below(2) == 0 {
                v.push(g.unit());
            }
            if g.below(20) == 0 {
                v.push("x".into());
            }
            v
        }
        7 => {
            let mut v = vec![g.pick(&["geopos", "geohash"]).into(), k];
            for _ in 0..1 + g.below(4) {
                v.push(g.member());
            }
            v
        }
        8..=12 => {
            let mut v = vec!["geosearch".into(), k];
            let mut parts = vec![g.from(), g.by()];
            if g.below(2) == 0 {
                parts.swap(0, 1);
            }
            if g.below(25) == 0 {
                parts.pop();
            }
            if g.below(25) == 0 {
                parts.push(g.from());
            }
            for p in parts {
                v.extend(p);
            }
            v.extend(g.options(false, true));
            v
        }
        13..=14 => {
            let mut v = vec![
                "geosearchstore".into(),
                g.pick(&["dst", "dst", "s"]).into(),
                k,
            ];
            v.extend(g.from());
            v.extend(g.by());
            if g.below(2) == 0 {
                v.push("storedist".into());
            }
            if g.below(10) == 0 {
                v.push("withdist".into());
            }
            v.extend(
                g.options(false, false)
                    .into_iter()
                    .filter(|o| !o.starts_with("with")),
            );
            v
        }
        15..=18 => {
            let name = g.pick(&["georadius", "georadius_ro"]);
            let (x, y) = g.lonlat();
            let mut v = vec![name.into(), k, x, y, g.radius(), g.unit()];
            v.extend(g.options(true, false));
            v
        }
        19..=21 => {
            let name = g.pick(&["georadiusbymember", "georadiusbymember_ro"]);
            let mut v = vec![name.into(), k, g.member(), g.radius(), g.unit()];
            v.extend(g.options(true, false));
            v
        }
        22 => vec![
            "zrange".into(),
            "dst".into(),
            "0".into(),
            "-1".into(),
            "withscores".into(),
        ],
        _ => match g.below(4) {
            0 => vec!["set".into(), "s".into(), "str".into()],
            1 => vec![
                "zadd".into(),
                "h".into(),
                g.pick(&["-1", "inf", "4503599627370496", "12345", "1e300"])
                    .into(),
                g.member(),
            ],
            2 => vec!["type".into(), "dst".into()],
            _ => vec!["zrem".into(), "g".into(), g.member()],
        },
    };
    if v.len() > 64 {
        v.truncate(64);
    }
    v.into_iter().map(String::into_bytes).collect()
}

fn w(v: &[&str]) -> Vec<Vec<u8>> {
    v.iter().map(|s| s.as_bytes().to_vec()).collect()
}

fn show(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(600)]).replace("\r\n", "\\r\\n");
    if b.len() > 600 {
        format!("{s}... ({} bytes)", b.len())
    } else {
        s
    }
}

fn showcmd(argv: &[Vec<u8>]) -> String {
    argv.iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

impl Pair {
    fn same(&mut self, argv: &[Vec<u8>], history: &[String]) -> Vec<u8> {
        let r = self.rc.call(argv).expect("redis reply");
        let n = self.nc.call(argv).expect("node reply");
        if r != n {
            let start = history.len().saturating_sub(30);
            panic!(
                "{}\n  redis:    {}\n  sdr-node: {}\n  last commands:\n    {}",
                showcmd(argv),
                show(&r),
                show(&n),
                history[start..].join("\n    ")
            );
        }
        r
    }
}

#[test]
fn differential_geo() {
    let Some(mut p) = pair() else {
        return;
    };
    let (seeds, per_seed) = if std::env::var("SDR_LONG").is_ok_and(|v| v == "1") {
        (60u64, 1_000usize)
    } else {
        (6, 250)
    };
    let mut compared = 0usize;
    let mut nonempty_searches = 0usize;
    for seed in 0..seeds {
        p.same(&w(&["flushall"]), &[]);
        let mut g = Gen {
            rng: Rng::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x6e0),
        };
        let mut history = Vec::new();
        // A populated start so that searches have material.
        for _ in 0..40 {
            let (x, y) = g.lonlat();
            let m = g.member();
            let argv: Vec<Vec<u8>> = ["geoadd", "g", &x, &y, &m]
                .iter()
                .map(|s| s.as_bytes().to_vec())
                .collect();
            history.push(showcmd(&argv));
            p.same(&argv, &history);
        }
        for _ in 0..per_seed {
            let argv = gen_geo(&mut g);
            history.push(showcmd(&argv));
            let r = p.same(&argv, &history);
            compared += 1;
            if argv[0].starts_with(b"geo")
                && argv[0] != b"geoadd"
                && r.starts_with(b"*")
                && !r.starts_with(b"*0")
                && !r.starts_with(b"*-")
            {
                nonempty_searches += 1;
            }
        }
    }
    eprintln!("differential geo: {compared} commands, {nonempty_searches} non-empty array replies, all byte-identical");
    assert!(
        nonempty_searches > compared / 10,
        "the generator must find things"
    );
}
