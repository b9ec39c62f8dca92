//! Lua scripting: `EVAL`, `EVALSHA`, `EVAL_RO`, `EVALSHA_RO`, `SCRIPT LOAD|EXISTS|FLUSH|KILL`
//! on Lua 5.1 (`mlua`, vendored), as Redis 7.0 runs them (design: docs/scripting.md).
//!
//! - this file: the script cache ([`ScriptCache`]), SHA1 names, shebang flags ([`Shebang`]),
//!   the limits every run is held to ([`Limits`]).
//! - [`engine`]: one script run — a fresh sandboxed Lua state, the `redis` API, `KEYS`/`ARGV`,
//!   the deterministic instruction budget and memory limit, and `redis.call` executing
//!   through the normal command path (`cmd`) against the keyspace it is handed.
//! - [`convert`]: the Lua ↔ RESP conversion rules of Redis 7.0, and `%.17g` for numbers.
//! - [`libs`]: the libraries Redis ships that scripts see (`cjson`, `bit`) and Redis's
//!   `math.random` (rand48, reseeded to 0 for every run).
//! - [`functions`]: Redis 7 functions — the replicated, snapshotted library registry,
//!   FUNCTION as log entries, FCALL/FCALL_RO run by the same engine.
//! - [`commands`]: the server side — EVAL* proposing a `Request::Script` log entry (or taking
//!   the read path for read-only scripts), EVALSHA resolving its body, SCRIPT.
//!
//! A script that may write is replicated as its body (never its effects): every replica runs
//! it at apply time under the one keyspace write lock, with the entry's `now_ms`, budget and
//! a `math.random` seed fixed by Redis's rule, so all of them compute the same result.

pub mod commands;
pub mod convert;
pub mod engine;
pub mod functions;
pub mod libs;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

/// Lua instructions a script may run per millisecond of `busy-reply-threshold`: the
/// deterministic stand-in for Redis's wall-clock limit (about the speed of Lua 5.1 here).
pub const INSTRUCTIONS_PER_MS: u64 = 20_000;

/// The most memory one script run's Lua state may allocate.
pub const MEMORY_LIMIT: usize = 64 * 1024 * 1024;

/// The bounds of one run; part of the log entry for replicated runs, so every replica stops
/// at the same instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Lua instructions before the run is aborted (0 = no limit, Redis's threshold 0).
    pub budget: u64,
    pub memory: usize,
}

impl Limits {
    /// The limits for a `busy-reply-threshold` of `ms` milliseconds.
    pub fn for_threshold_ms(ms: u64) -> Limits {
        Limits {
            budget: ms.saturating_mul(INSTRUCTIONS_PER_MS),
            memory: MEMORY_LIMIT,
        }
    }
}

/// The lowercase hex SHA1 of `body` (Redis's script name, `redis.sha1hex`).
pub fn sha1hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

/// A node's script cache: SHA1 → body, filled by `SCRIPT LOAD` and `EVAL` on this node and
/// by every script entry it applies (so EVALSHA works on followers for scripts run through
/// the leader). It is not replicated state: a log entry always carries the body, so what a
/// replica's cache holds never changes what an entry does. Lost on restart, as in Redis.
#[derive(Clone, Debug, Default)]
pub struct ScriptCache(Arc<Mutex<BTreeMap<String, Bytes>>>);

impl ScriptCache {
    fn with<R>(&self, f: impl FnOnce(&mut BTreeMap<String, Bytes>) -> R) -> R {
        match self.0.lock() {
            Ok(mut m) => f(&mut m),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// Caches `body`, returning its SHA1.
    pub fn insert(&self, body: &Bytes) -> String {
        let sha = sha1hex(body);
        self.with(|m| {
            m.entry(sha.clone()).or_insert_with(|| body.clone());
        });
        sha
    }

    /// The body named by `sha` (case-insensitive, as Redis).
    pub fn get(&self, sha: &[u8]) -> Option<Bytes> {
        if sha.len() != 40 {
            return None;
        }
        let key = String::from_utf8_lossy(sha).to_ascii_lowercase();
        self.with(|m| m.get(&key).cloned())
    }

    pub fn contains(&self, sha: &[u8]) -> bool {
        self.get(sha).is_some()
    }

    pub fn flush(&self) {
        self.with(|m| m.clear())
    }

    pub fn len(&self) -> usize {
        self.with(|m| m.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The flags of a `#!lua flags=...` first line (Redis 7's script flags).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shebang {
    /// The script had a shebang (not Redis's "eval compatibility mode").
    pub present: bool,
    pub no_writes: bool,
    pub allow_oom: bool,
    pub allow_stale: bool,
    pub no_cluster: bool,
    pub allow_cross_slot_keys: bool,
    /// Bytes of the first line (without its newline), which is not compiled.
    pub len: usize,
}

impl Shebang {
    /// Parses the shebang of `body` as Redis's `evalExtractShebangFlags`; the error is
    /// Redis's message.
    pub fn parse(body: &[u8]) -> Result<Shebang, String> {
        if !body.starts_with(b"#!") {
            return Ok(Shebang::default());
        }
        let Some(end) = body.iter().position(|&b| b == b'\n') else {
            return Err("Invalid script shebang".into());
        };
        let line = String::from_utf8_lossy(&body[..end]);
        let parts: Vec<&str> = line.split_ascii_whitespace().collect();
        let Some(engine) = parts.first() else {
            return Err("Invalid engine in script shebang".into());
        };
        if *engine != "#!lua" {
            return Err(format!("Unexpected engine in script shebang: {engine}"));
        }
        let mut s = Shebang {
            present: true,
            len: end,
            ..Shebang::default()
        };
        for p in &parts[1..] {
            let Some(flags) = p.strip_prefix("flags=") else {
                return Err(format!("Unknown lua shebang option: {p}"));
            };
            for f in flags.split(',') {
                match f {
                    "no-writes" => s.no_writes = true,
                    "allow-oom" => s.allow_oom = true,
                    "allow-stale" => s.allow_stale = true,
                    "no-cluster" => s.no_cluster = true,
                    "allow-cross-slot-keys" => s.allow_cross_slot_keys = true,
                    // Redis splits on ',' and accepts an empty element as no flag.
                    "" if flags.is_empty() => {}
                    other => return Err(format!("Unexpected flag in script shebang: {other}")),
                }
            }
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_matches_redis() {
        // redis-cli SCRIPT LOAD "return 1"
        assert_eq!(
            sha1hex(b"return 1"),
            "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
        );
        assert_eq!(sha1hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    }

    #[test]
    fn shebang_flags() {
        let s = Shebang::parse(b"#!lua flags=no-writes,allow-oom\nreturn 1").expect("ok");
        assert!(s.present && s.no_writes && s.allow_oom && !s.no_cluster);
        assert_eq!(s.len, "#!lua flags=no-writes,allow-oom".len());
        assert_eq!(Shebang::parse(b"return 1"), Ok(Shebang::default()));
        assert_eq!(
            Shebang::parse(b"#!lua"),
            Err("Invalid script shebang".to_string())
        );
        assert_eq!(
            Shebang::parse(b"#!py\n"),
            Err("Unexpected engine in script shebang: #!py".to_string())
        );
        assert_eq!(
            Shebang::parse(b"#!lua flags=bad\n"),
            Err("Unexpected flag in script shebang: bad".to_string())
        );
        assert_eq!(
            Shebang::parse(b"#!lua x=1\n"),
            Err("Unknown lua shebang option: x=1".to_string())
        );
    }

    #[test]
    fn cache_is_case_insensitive() {
        let c = ScriptCache::default();
        let sha = c.insert(&Bytes::from_static(b"return 1"));
        assert!(c.contains(sha.to_ascii_uppercase().as_bytes()));
        assert!(!c.contains(b"nope"));
        c.flush();
        assert!(c.is_empty());
    }
}
