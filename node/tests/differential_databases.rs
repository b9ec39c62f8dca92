//! Differential test of numbered databases against a real `redis-server` 7.0: seeded random
//! sequences of SELECT / SET / GET / DEL / RPUSH / MOVE / SWAPDB / FLUSHDB / FLUSHALL /
//! DBSIZE / COPY … DB / SCAN / KEYS / EXISTS / MULTI-SELECT-EXEC / INFO keyspace go to both
//! servers over raw RESP2 sockets on one connection each, and the reply bytes must be
//! identical (KEYS and full-SCAN key sets are compared sorted: their order is the one
//! documented difference; INFO keyspace compares the `dbN:keys=…,expires=…` lines).
//!
//! Fixed seeds keep `make test` fast; `SDR_LONG=1` runs many more. Skipped (with a message)
//! when `/usr/bin/redis-server` is missing.

mod common;

use common::redis_server::{pair, Pair};
use sdr_seeded::Rng;

fn w(args: &[&str]) -> Vec<Vec<u8>> {
    args.iter().map(|a| a.as_bytes().to_vec()).collect()
}

fn s(args: Vec<String>) -> Vec<Vec<u8>> {
    args.into_iter().map(String::into_bytes).collect()
}

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
        self.pick(&["a", "b", "c", "l"]).to_string()
    }
    /// A database index: mostly valid, sometimes out of range or not a number.
    fn db(&mut self) -> String {
        match self.below(12) {
            0..=8 => self.below(4).to_string(),
            9 => self.pick(&["15", "16", "-1"]).to_string(),
            10 => self.pick(&["x", "1.5", "2147483648", ""]).to_string(),
            _ => self.below(16).to_string(),
        }
    }
}

/// One command; `Sorted` replies are compared as sorted element sets.
enum Check {
    Exact(Vec<Vec<u8>>),
    Sorted(Vec<Vec<u8>>),
    Keyspace,
}

fn gen(g: &mut Gen) -> Check {
    let k = g.key();
    Check::Exact(match g.below(22) {
        0..=2 => s(vec!["select".into(), g.db()]),
        3..=4 => s(vec!["set".into(), k, g.below(100).to_string()]),
        5 => s(vec!["set".into(), k, "v".into(), "ex".into(), "100".into()]),
        6..=7 => s(vec!["get".into(), k]),
        8 => s(vec!["rpush".into(), "l".into(), g.below(10).to_string()]),
        9 => s(vec!["lrange".into(), "l".into(), "0".into(), "-1".into()]),
        10..=11 => s(vec!["move".into(), k, g.db()]),
        12 => s(vec!["swapdb".into(), g.db(), g.db()]),
        13 => {
            if g.below(4) == 0 {
                w(&["flushdb"])
            } else {
                w(&["dbsize"])
            }
        }
        14 => w(&["dbsize"]),
        15 => {
            let mut v = vec!["copy".into(), k, g.key(), "db".into(), g.db()];
            if g.below(2) == 0 {
                v.push("replace".into());
            }
            s(v)
        }
        16 => s(vec!["exists".into(), k, g.key()]),
        17 => return Check::Sorted(w(&["keys", "*"])),
        18 => return Check::Keyspace,
        19 => s(vec!["type".into(), k]),
        20 => s(vec!["ttl".into(), k]),
        _ => {
            if g.below(8) == 0 {
                w(&["flushall"])
            } else {
                s(vec!["del".into(), k])
            }
        }
    })
}

fn budget() -> (u64, usize) {
    if std::env::var("SDR_LONG").is_ok_and(|v| v == "1") {
        (40, 800)
    } else {
        (4, 250)
    }
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(400)]).replace("\r\n", "\\r\\n")
}

fn showcmd(argv: &[Vec<u8>]) -> String {
    argv.iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The bulk strings of an array reply, sorted (KEYS: order differs by design).
fn sorted_elements(b: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(b);
    let mut lines = text.split("\r\n").skip(1);
    let mut out = Vec::new();
    while let (Some(len), Some(v)) = (lines.next(), lines.next()) {
        if len.starts_with('$') {
            out.push(v.to_string());
        }
    }
    out.sort();
    out
}

/// The `dbN:keys=…,expires=…` parts of INFO keyspace (avg_ttl is an estimate in Redis).
fn keyspace_lines(b: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(b)
        .split("\r\n")
        .filter(|l| l.starts_with("db"))
        .map(|l| l.split(",avg_ttl").next().unwrap_or(l).to_string())
        .collect()
}

impl Pair {
    fn call(&mut self, argv: &[Vec<u8>]) -> (Vec<u8>, Vec<u8>) {
        let r = self.rc.call(argv).expect("redis reply");
        let n = self.nc.call(argv).expect("node reply");
        (r, n)
    }

    fn check(&mut self, c: &Check, history: &[String]) {
        let (argv, r, n, same) = match c {
            Check::Exact(argv) => {
                let (r, n) = self.call(argv);
                let same = r == n;
                (argv.clone(), r, n, same)
            }
            Check::Sorted(argv) => {
                let (r, n) = self.call(argv);
                let same = sorted_elements(&r) == sorted_elements(&n);
                (argv.clone(), r, n, same)
            }
            Check::Keyspace => {
                let argv = w(&["info", "keyspace"]);
                let (r, n) = self.call(&argv);
                let same = keyspace_lines(&r) == keyspace_lines(&n);
                (argv, r, n, same)
            }
        };
        if !same {
            let tail: Vec<&str> = history
                .iter()
                .rev()
                .take(30)
                .rev()
                .map(String::as_str)
                .collect();
            panic!(
                "{}\n  redis:    {}\n  sdr-node: {}\n  last commands:\n    {}",
                showcmd(&argv),
                show(&r),
                show(&n),
                tail.join("\n    ")
            );
        }
    }
}

#[test]
fn differential_databases() {
    let Some(mut p) = pair() else {
        return;
    };
    let (seeds, per_seed) = budget();
    let mut compared = 0usize;
    for seed in 0..seeds {
        p.check(&Check::Exact(w(&["flushall"])), &[]);
        p.check(&Check::Exact(w(&["select", "0"])), &[]);
        let mut g = Gen {
            rng: Rng::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xdb),
        };
        let mut history = Vec::new();
        for _ in 0..per_seed {
            let c = gen(&mut g);
            history.push(match &c {
                Check::Exact(a) | Check::Sorted(a) => showcmd(a),
                Check::Keyspace => "info keyspace".into(),
            });
            p.check(&c, &history);
            compared += 1;
        }
        // Every database's contents, through SELECT + sorted KEYS.
        for db in 0..4 {
            p.check(
                &Check::Exact(s(vec!["select".into(), db.to_string()])),
                &history,
            );
            p.check(&Check::Sorted(w(&["keys", "*"])), &history);
        }
    }
    eprintln!("differential databases: {compared} commands over {seeds} seeds, all identical");
}

/// MULTI with SELECT inside: the commands after it run in the new database, and the
/// connection stays there after EXEC (as Redis).
#[test]
fn differential_select_inside_multi() {
    let Some(mut p) = pair() else {
        return;
    };
    let seq: &[&[&str]] = &[
        &["flushall"],
        &["multi"],
        &["set", "k", "0"],
        &["select", "2"],
        &["set", "k", "2"],
        &["select", "99"],
        &["get", "k"],
        &["exec"],
        &["get", "k"],
        &["select", "0"],
        &["get", "k"],
        &["multi"],
        &["select", "3"],
        &["get", "k"],
        &["exec"],
        &["dbsize"],
        &[
            "eval",
            "redis.call('select', 2) return redis.call('get', 'k')",
            "0",
        ],
        &["get", "k"],
        &["select", "2"],
        &["watch", "k"],
        &["swapdb", "2", "5"],
        &["multi"],
        &["get", "k"],
        &["exec"],
        &["select", "5"],
        &["get", "k"],
    ];
    let mut history = Vec::new();
    for argv in seq {
        history.push(argv.join(" "));
        p.check(&Check::Exact(w(argv)), &history);
    }
}
