//! Redis 7.0's `CONFIG` parameters that the node stores and reports but does not act on:
//! encoding thresholds, persistence (`save`, `appendonly`), replication and cluster tuning,
//! TLS, and the rest. Tooling and Redis's own test suite set them freely (`CONFIG SET save ""`,
//! `CONFIG SET list-max-listpack-size 4`), so each is accepted, validated by the type its
//! default shows (yes/no, integer, memory size), kept per node, and reported by `CONFIG GET`;
//! none changes behaviour (docs/commands.md, "CONFIG"). The parameters the node does act on
//! (`maxmemory`, `requirepass`, `timeout`, ...) are handled in `server_cmds` and take
//! precedence over this table.
//!
//! [`PARAMS`] is Redis 7.0.15's `CONFIG GET *` on a default `redis-server` (names, defaults)
//! and which of them its `CONFIG SET` refuses as immutable, except `appendonly`, reported as
//! `yes` by default because every write goes to the write-ahead log.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// One parameter: its name, Redis's default, and whether `CONFIG SET` may change it.
#[derive(Clone, Copy, Debug)]
pub struct Param {
    pub name: &'static str,
    pub default: &'static str,
    pub mutable: bool,
}

/// Sorted by name.
pub const PARAMS: &[Param] = &[
    Param {
        name: "acl-pubsub-default",
        default: "resetchannels",
        mutable: true,
    },
    Param {
        name: "aclfile",
        default: "",
        mutable: false,
    },
    Param {
        name: "acllog-max-len",
        default: "128",
        mutable: true,
    },
    Param {
        name: "active-defrag-cycle-max",
        default: "25",
        mutable: true,
    },
    Param {
        name: "active-defrag-cycle-min",
        default: "1",
        mutable: true,
    },
    Param {
        name: "active-defrag-ignore-bytes",
        default: "104857600",
        mutable: true,
    },
    Param {
        name: "active-defrag-max-scan-fields",
        default: "1000",
        mutable: true,
    },
    Param {
        name: "active-defrag-threshold-lower",
        default: "10",
        mutable: true,
    },
    Param {
        name: "active-defrag-threshold-upper",
        default: "100",
        mutable: true,
    },
    Param {
        name: "active-expire-effort",
        default: "1",
        mutable: true,
    },
    Param {
        name: "activedefrag",
        default: "no",
        mutable: true,
    },
    Param {
        name: "activerehashing",
        default: "yes",
        mutable: true,
    },
    Param {
        name: "always-show-logo",
        default: "no",
        mutable: false,
    },
    Param {
        name: "aof-disable-auto-gc",
        default: "no",
        mutable: true,
    },
    Param {
        name: "aof-load-truncated",
        default: "yes",
        mutable: true,
    },
    Param {
        name: "aof-rewrite-incremental-fsync",
        default: "yes",
        mutable: true,
    },
    Param {
        name: "aof-timestamp-enabled",
        default: "no",
        mutable: true,
    },
    Param {
        name: "aof-use-rdb-preamble",
        default: "yes",
        mutable: true,
    },
    Param {
        name: "aof_rewrite_cpulist",
        default: "",
        mutable: false,
    },
    Param {
        name: "appenddirname",
        default: "appendonlydir",
        mutable: false,
    },
    Param {
        name: "appendfilename",
        default: "appendonly.aof",
        mutable: false,
    },
    Param {
        name: "appendonly",
        default: "yes",
        mutable: true,
    },
    Param {
        name: "auto-aof-rewrite-min-size",
        default: "67108864",
        mutable: true,
    },
    Param {
        name: "auto-aof-rewrite-percentage",
        default: "100",
        mutable: true,
    },
    Param {
        name: "bgsave_cpulist",
        default: "",
        mutable: false,
    },
    Param {
        name: "bind-source-addr",
        default: "",
        mutable: true,
    },
    Param {
        name: "bio_cpulist",
        default: "",
        mutable: false,
    },
    Param {
        name: "busy-reply-threshold",
        default: "5000",
        mutable: true,
    },
    Param {
        name: "cluster-allow-pubsubshard-when-down",
        default: "yes",
        mutable: true,
    },
    Param {
        name: "cluster-allow-reads-when-down",
        default: "no",
        mutable: true,
    },
    Param {
        name: "cluster-allow-replica-migration",
        default: "yes",
        mutable: true,
    },
    Param {
        name: "cluster-announce-bus-port",
        default: "0",
        mutable: true,
    },
    Param {
        name: "cluster-announce-hostname",
        default: "",
        mutable: true,
    },
    Param {
        name: "cluster-announce-ip",
        default: "",
        mutable: true,
    },
    Param {
        name: "cluster-announce-port",
        default: "0",
        mutable: true,
    },
    Param {
        name: "cluster-announce-tls-port",
        default: "0",
        mutable: true,
    },
    Param {
        name: "cluster-config-file",
        default: "nodes.conf",
        mutable: false,
    },
    Param {
        name: "cluster-enabled",
        default: "no",
        mutable: false,
    },
    Param {
        name: "cluster-link-sendbuf-limit",
        default: "0",
        mutable: true,
    },
    Param {
        name: "cluster-migration-barrier",
        default: "1",
        mutable: true,
    },
    Param {
        name: "cluster-node-timeout",
        default: "15000",
        mutable: true,
    },
    Param {
        name: "cluster-port",
        default: "0",
        mutable: false,
    },
    Param {
        name: "cluster-preferred-endpoint-type",
        default: "ip",
        mutable: true,
    },
    Param {
        name: "cluster-replica-no-failover",
        default: "no",
        mutable: true,
    },
    Param {
        name: "cluster-replica-validity-factor",
        default: "10",
        mutable: true,
    },
    Param {
        name: "cluster-require-full-coverage",
        default: "yes",
        mutable: true,
    },
    Param {
        name: "cluster-slave-no-failover",
        default: "no",
        mutable: true,
    },
    Param {
        name: "cluster-slave-validity-factor",
        default: "10",
        mutable: true,
    },
    Param {
        name: "crash-log-enabled",
        default: "yes",
        mutable: true,
    },
    Param {
        name: "crash-memcheck-enabled",
        default: "yes",
        mutable: true,
    },
    Param {
        name: "daemonize",
        default: "no",
        mutable: false,
    },
    Param {
        name: "dbfilename",
        default: "dump.rdb",
        mutable: true,
    },
    Param {
        name: "disable-thp",
        default: "yes",
        mutable: false,
    },
    Param {
        name: "dynamic-hz",
        default: "yes",
        mutable: true,
    },
    Param {
        name: "enable-debug-command",
        default: "no",
        mutable: false,
    },
    Param {
        name: "enable-module-command",
        default: "no",
        mutable: false,
    },
    Param {
        name: "enable-protected-configs",
        default: "no",
        mutable: false,
    },
    Param {
        name: "hash-max-listpack-entries",
        default: "512",
        mutable: true,
    },
    Param {
        name: "hash-max-listpack-value",
        default: "64",
        mutable: true,
    },
    Param {
        name: "hash-max-ziplist-entries",
        default: "512",
        mutable: true,
    },
    Param {
        name: "hash-max-ziplist-value",
        default: "64",
        mutable: true,
    },
    Param {
        name: "hll-sparse-max-bytes",
        default: "3000",
        mutable: true,
    },
    Param {
        name: "hz",
        default: "10",
        mutable: true,
    },
    Param {
        name: "ignore-warnings",
        default: "",
        mutable: true,
    },
    Param {
        name: "io-threads",
        default: "1",
        mutable: false,
    },
    Param {
        name: "io-threads-do-reads",
        default: "no",
        mutable: false,
    },
    Param {
        name: "jemalloc-bg-thread",
        default: "yes",
        mutable: true,
    },
    Param {
        name: "latency-monitor-threshold",
        default: "0",
        mutable: true,
    },
    Param {
        name: "latency-tracking",
        default: "yes",
        mutable: true,
    },
    Param {
        name: "latency-tracking-info-percentiles",
        default: "50 99 99.9",
        mutable: true,
    },
    Param {
        name: "lazyfree-lazy-eviction",
        default: "no",
        mutable: true,
    },
    Param {
        name: "lazyfree-lazy-expire",
        default: "no",
        mutable: true,
    },
    Param {
        name: "lazyfree-lazy-server-del",
        default: "no",
        mutable: true,
    },
    Param {
        name: "lazyfree-lazy-user-del",
        default: "no",
        mutable: true,
    },
    Param {
        name: "lazyfree-lazy-user-flush",
        default: "no",
        mutable: true,
    },
    Param {
        name: "lfu-decay-time",
        default: "1",
        mutable: true,
    },
    Param {
        name: "lfu-log-factor",
        default: "10",
        mutable: true,
    },
    Param {
        name: "list-compress-depth",
        default: "0",
        mutable: true,
    },
    Param {
        name: "list-max-listpack-size",
        default: "-2",
        mutable: true,
    },
    Param {
        name: "list-max-ziplist-size",
        default: "-2",
        mutable: true,
    },
    Param {
        name: "logfile",
        default: "",
        mutable: false,
    },
    Param {
        name: "loglevel",
        default: "notice",
        mutable: true,
    },
    Param {
        name: "lua-time-limit",
        default: "5000",
        mutable: true,
    },
    Param {
        name: "masterauth",
        default: "",
        mutable: true,
    },
    Param {
        name: "masteruser",
        default: "",
        mutable: true,
    },
    Param {
        name: "maxmemory-clients",
        default: "0",
        mutable: true,
    },
    Param {
        name: "maxmemory-eviction-tenacity",
        default: "10",
        mutable: true,
    },
    Param {
        name: "maxmemory-samples",
        default: "5",
        mutable: true,
    },
    Param {
        name: "min-replicas-max-lag",
        default: "10",
        mutable: true,
    },
    Param {
        name: "min-replicas-to-write",
        default: "0",
        mutable: true,
    },
    Param {
        name: "min-slaves-max-lag",
        default: "10",
        mutable: true,
    },
    Param {
        name: "min-slaves-to-write",
        default: "0",
        mutable: true,
    },
    Param {
        name: "no-appendfsync-on-rewrite",
        default: "no",
        mutable: true,
    },
    Param {
        name: "notify-keyspace-events",
        default: "",
        mutable: true,
    },
    Param {
        name: "oom-score-adj",
        default: "no",
        mutable: true,
    },
    Param {
        name: "oom-score-adj-values",
        default: "0 200 800",
        mutable: true,
    },
    Param {
        name: "pidfile",
        default: "",
        mutable: false,
    },
    Param {
        name: "proc-title-template",
        default: "{title} {listen-addr} {server-mode}",
        mutable: true,
    },
    Param {
        name: "propagation-error-behavior",
        default: "ignore",
        mutable: true,
    },
    Param {
        name: "protected-mode",
        default: "yes",
        mutable: true,
    },
    Param {
        name: "rdb-del-sync-files",
        default: "no",
        mutable: true,
    },
    Param {
        name: "rdb-save-incremental-fsync",
        default: "yes",
        mutable: true,
    },
    Param {
        name: "rdbchecksum",
        default: "yes",
        mutable: false,
    },
    Param {
        name: "rdbcompression",
        default: "yes",
        mutable: true,
    },
    Param {
        name: "repl-backlog-size",
        default: "1048576",
        mutable: true,
    },
    Param {
        name: "repl-backlog-ttl",
        default: "3600",
        mutable: true,
    },
    Param {
        name: "repl-disable-tcp-nodelay",
        default: "no",
        mutable: true,
    },
    Param {
        name: "repl-diskless-load",
        default: "disabled",
        mutable: true,
    },
    Param {
        name: "repl-diskless-sync",
        default: "yes",
        mutable: true,
    },
    Param {
        name: "repl-diskless-sync-delay",
        default: "5",
        mutable: true,
    },
    Param {
        name: "repl-diskless-sync-max-replicas",
        default: "0",
        mutable: true,
    },
    Param {
        name: "repl-ping-replica-period",
        default: "10",
        mutable: true,
    },
    Param {
        name: "repl-ping-slave-period",
        default: "10",
        mutable: true,
    },
    Param {
        name: "repl-timeout",
        default: "60",
        mutable: true,
    },
    Param {
        name: "replica-announce-ip",
        default: "",
        mutable: true,
    },
    Param {
        name: "replica-announce-port",
        default: "0",
        mutable: true,
    },
    Param {
        name: "replica-announced",
        default: "yes",
        mutable: true,
    },
    Param {
        name: "replica-ignore-disk-write-errors",
        default: "no",
        mutable: true,
    },
    Param {
        name: "replica-ignore-maxmemory",
        default: "yes",
        mutable: true,
    },
    Param {
        name: "replica-lazy-flush",
        default: "no",
        mutable: true,
    },
    Param {
        name: "replica-priority",
        default: "100",
        mutable: true,
    },
    Param {
        name: "replica-read-only",
        default: "yes",
        mutable: true,
    },
    Param {
        name: "replica-serve-stale-data",
        default: "yes",
        mutable: true,
    },
    Param {
        name: "replicaof",
        default: "",
        mutable: false,
    },
    Param {
        name: "sanitize-dump-payload",
        default: "no",
        mutable: true,
    },
    Param {
        name: "save",
        default: "",
        mutable: true,
    },
    Param {
        name: "server_cpulist",
        default: "",
        mutable: false,
    },
    Param {
        name: "set-max-intset-entries",
        default: "512",
        mutable: true,
    },
    Param {
        name: "set-proc-title",
        default: "yes",
        mutable: false,
    },
    Param {
        name: "shutdown-on-sigint",
        default: "default",
        mutable: true,
    },
    Param {
        name: "shutdown-on-sigterm",
        default: "default",
        mutable: true,
    },
    Param {
        name: "shutdown-timeout",
        default: "10",
        mutable: true,
    },
    Param {
        name: "slave-announce-ip",
        default: "",
        mutable: true,
    },
    Param {
        name: "slave-announce-port",
        default: "0",
        mutable: true,
    },
    Param {
        name: "slave-ignore-maxmemory",
        default: "yes",
        mutable: true,
    },
    Param {
        name: "slave-lazy-flush",
        default: "no",
        mutable: true,
    },
    Param {
        name: "slave-priority",
        default: "100",
        mutable: true,
    },
    Param {
        name: "slave-read-only",
        default: "yes",
        mutable: true,
    },
    Param {
        name: "slave-serve-stale-data",
        default: "yes",
        mutable: true,
    },
    Param {
        name: "slaveof",
        default: "",
        mutable: false,
    },
    Param {
        name: "slowlog-log-slower-than",
        default: "10000",
        mutable: true,
    },
    Param {
        name: "slowlog-max-len",
        default: "128",
        mutable: true,
    },
    Param {
        name: "socket-mark-id",
        default: "0",
        mutable: false,
    },
    Param {
        name: "stop-writes-on-bgsave-error",
        default: "yes",
        mutable: true,
    },
    Param {
        name: "stream-node-max-bytes",
        default: "4096",
        mutable: true,
    },
    Param {
        name: "stream-node-max-entries",
        default: "100",
        mutable: true,
    },
    Param {
        name: "supervised",
        default: "no",
        mutable: false,
    },
    Param {
        name: "syslog-enabled",
        default: "no",
        mutable: false,
    },
    Param {
        name: "syslog-facility",
        default: "local0",
        mutable: false,
    },
    Param {
        name: "syslog-ident",
        default: "redis",
        mutable: false,
    },
    Param {
        name: "tcp-backlog",
        default: "511",
        mutable: false,
    },
    Param {
        name: "tcp-keepalive",
        default: "300",
        mutable: true,
    },
    Param {
        name: "tls-auth-clients",
        default: "yes",
        mutable: true,
    },
    Param {
        name: "tls-ca-cert-dir",
        default: "",
        mutable: true,
    },
    Param {
        name: "tls-ca-cert-file",
        default: "",
        mutable: true,
    },
    Param {
        name: "tls-cert-file",
        default: "",
        mutable: true,
    },
    Param {
        name: "tls-ciphers",
        default: "",
        mutable: true,
    },
    Param {
        name: "tls-ciphersuites",
        default: "",
        mutable: true,
    },
    Param {
        name: "tls-client-cert-file",
        default: "",
        mutable: true,
    },
    Param {
        name: "tls-client-key-file",
        default: "",
        mutable: true,
    },
    Param {
        name: "tls-client-key-file-pass",
        default: "",
        mutable: true,
    },
    Param {
        name: "tls-cluster",
        default: "no",
        mutable: true,
    },
    Param {
        name: "tls-dh-params-file",
        default: "",
        mutable: true,
    },
    Param {
        name: "tls-key-file",
        default: "",
        mutable: true,
    },
    Param {
        name: "tls-key-file-pass",
        default: "",
        mutable: true,
    },
    Param {
        name: "tls-port",
        default: "0",
        mutable: true,
    },
    Param {
        name: "tls-prefer-server-ciphers",
        default: "no",
        mutable: true,
    },
    Param {
        name: "tls-protocols",
        default: "",
        mutable: true,
    },
    Param {
        name: "tls-replication",
        default: "no",
        mutable: true,
    },
    Param {
        name: "tls-session-cache-size",
        default: "20480",
        mutable: true,
    },
    Param {
        name: "tls-session-cache-timeout",
        default: "300",
        mutable: true,
    },
    Param {
        name: "tls-session-caching",
        default: "yes",
        mutable: true,
    },
    Param {
        name: "tracking-table-max-keys",
        default: "1000000",
        mutable: true,
    },
    Param {
        name: "unixsocket",
        default: "",
        mutable: false,
    },
    Param {
        name: "unixsocketperm",
        default: "0",
        mutable: false,
    },
    Param {
        name: "zset-max-listpack-entries",
        default: "128",
        mutable: true,
    },
    Param {
        name: "zset-max-listpack-value",
        default: "64",
        mutable: true,
    },
    Param {
        name: "zset-max-ziplist-entries",
        default: "128",
        mutable: true,
    },
    Param {
        name: "zset-max-ziplist-value",
        default: "64",
        mutable: true,
    },
];

/// Parameters whose values are memory sizes (`1mb`, `64kb`, plain bytes), reported in bytes.
const MEMORY: &[&str] = &[
    "active-defrag-ignore-bytes",
    "auto-aof-rewrite-min-size",
    "hash-max-listpack-value",
    "hash-max-ziplist-value",
    "hll-sparse-max-bytes",
    "maxmemory-clients",
    "repl-backlog-size",
    "stream-node-max-bytes",
];

/// The parameter `name` (lowercase). Redis 7.0 lists its old names (`slaveof`,
/// `hash-max-ziplist-entries`, ...) as parameters of their own, and so does this table.
pub fn find(name: &str) -> Option<&'static Param> {
    PARAMS
        .binary_search_by(|p| p.name.cmp(name))
        .ok()
        .map(|i| &PARAMS[i])
}

/// Checks `value` against the type `p`'s default shows and returns what `CONFIG GET` will
/// report; the error is Redis's reason text (after "CONFIG SET failed (...) - ").
pub fn validate(p: &Param, value: &str) -> Result<String, String> {
    if p.name == "notify-keyspace-events" {
        // Stored in Redis's normal form (what CONFIG GET shows).
        return super::notify::parse(value)
            .map(super::notify::format)
            .ok_or_else(|| "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".into());
    }
    if p.name == "tracking-table-max-keys" {
        return match value.trim().parse::<i64>() {
            Ok(n) if n >= 0 => Ok(n.to_string()),
            Ok(_) => Err("argument must be between 0 and 9223372036854775807 inclusive".into()),
            Err(_) => Err("argument couldn't be parsed into an integer".into()),
        };
    }
    if p.default == "yes" || p.default == "no" {
        return match value.to_ascii_lowercase().as_str() {
            "yes" => Ok("yes".into()),
            "no" => Ok("no".into()),
            _ => Err("argument must be 'yes' or 'no'".into()),
        };
    }
    if MEMORY.contains(&p.name) {
        return crate::config::parse_bytes(value)
            .map(|n| n.to_string())
            .map_err(|_| "argument must be a memory value".into());
    }
    if p.default.parse::<i64>().is_ok() {
        return value
            .trim()
            .parse::<i64>()
            .map(|n| n.to_string())
            .map_err(|_| "argument couldn't be parsed into an integer".into());
    }
    Ok(value.to_string())
}

/// Redis 7.0's alias pairs (`createXConfig(name, alias, …)` in config.c): one value under two
/// names, so setting either changes what both report.
const ALIASES: &[(&str, &str)] = &[
    ("busy-reply-threshold", "lua-time-limit"),
    ("cluster-replica-no-failover", "cluster-slave-no-failover"),
    (
        "cluster-replica-validity-factor",
        "cluster-slave-validity-factor",
    ),
    ("hash-max-listpack-entries", "hash-max-ziplist-entries"),
    ("hash-max-listpack-value", "hash-max-ziplist-value"),
    ("list-max-listpack-size", "list-max-ziplist-size"),
    ("min-replicas-max-lag", "min-slaves-max-lag"),
    ("min-replicas-to-write", "min-slaves-to-write"),
    ("repl-ping-replica-period", "repl-ping-slave-period"),
    ("replica-announce-ip", "slave-announce-ip"),
    ("replica-announce-port", "slave-announce-port"),
    ("replica-ignore-maxmemory", "slave-ignore-maxmemory"),
    ("replica-lazy-flush", "slave-lazy-flush"),
    ("replica-priority", "slave-priority"),
    ("replica-read-only", "slave-read-only"),
    ("replica-serve-stale-data", "slave-serve-stale-data"),
    ("replicaof", "slaveof"),
    ("zset-max-listpack-entries", "zset-max-ziplist-entries"),
    ("zset-max-listpack-value", "zset-max-ziplist-value"),
];

/// The other name of an aliased parameter.
fn alias_of(name: &str) -> Option<&'static str> {
    ALIASES.iter().find_map(|&(a, b)| {
        if a == name {
            Some(b)
        } else if b == name {
            Some(a)
        } else {
            None
        }
    })
}

/// The values set on this node (defaults for the rest).
#[derive(Debug, Default)]
pub struct StoredParams(Mutex<BTreeMap<&'static str, String>>);

impl StoredParams {
    fn with<R>(&self, f: impl FnOnce(&mut BTreeMap<&'static str, String>) -> R) -> R {
        match self.0.lock() {
            Ok(mut m) => f(&mut m),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// (name, current value, mutable) of every parameter, by name.
    pub fn entries(&self) -> Vec<(&'static str, String, bool)> {
        self.with(|m| {
            PARAMS
                .iter()
                .map(|p| {
                    let v = m
                        .get(p.name)
                        .cloned()
                        .unwrap_or_else(|| p.default.to_string());
                    (p.name, v, p.mutable)
                })
                .collect()
        })
    }

    /// Stores already validated values. The encoding thresholds
    /// (`hash-max-listpack-entries`, …) also take effect for `OBJECT ENCODING`
    /// ([`crate::keyspace::encoding`]).
    pub fn set(&self, changes: Vec<(&'static str, String)>) {
        use crate::keyspace::encoding;
        self.with(|m| {
            for (k, v) in changes {
                if let (Some(l), Ok(n)) = (encoding::limit_for_param(k), v.parse::<usize>()) {
                    encoding::set_limit(l, n);
                }
                match k {
                    "notify-keyspace-events" => {
                        super::notify::set_flags(super::notify::parse(&v).unwrap_or(0))
                    }
                    "tracking-table-max-keys" => {
                        super::tracking::set_max_keys(v.parse::<u64>().unwrap_or(0))
                    }
                    _ => {}
                }
                if let Some(other) = alias_of(k).and_then(|a| find(a)) {
                    m.insert(other.name, v.clone());
                }
                m.insert(k, v);
            }
        })
    }

    /// The current value of `name` (its default if never set); `None` for an unknown name.
    pub fn value(&self, name: &str) -> Option<String> {
        let p = find(name)?;
        Some(
            self.with(|m| m.get(p.name).cloned())
                .unwrap_or_else(|| p.default.to_string()),
        )
    }

    /// Back to Redis's defaults.
    pub fn reset(&self) {
        self.with(|m| m.clear());
        super::notify::set_flags(0);
        super::tracking::set_max_keys(1_000_000);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_aliases_resolve() {
        for w in PARAMS.windows(2) {
            assert!(w[0].name < w[1].name, "{} >= {}", w[0].name, w[1].name);
        }
        assert_eq!(find("save").map(|p| p.default), Some(""));
        assert!(find("list-max-ziplist-size").is_some());
        assert!(find("daemonize").is_some_and(|p| !p.mutable));
        assert!(find("no-such-thing").is_none());
    }

    #[test]
    fn values_are_checked_by_type() {
        let p = |n| find(n).expect("known");
        assert_eq!(validate(p("appendonly"), "YES"), Ok("yes".into()));
        assert!(validate(p("appendonly"), "maybe").is_err());
        assert_eq!(validate(p("hz"), "50"), Ok("50".into()));
        assert!(validate(p("hz"), "fast").is_err());
        assert_eq!(
            validate(p("repl-backlog-size"), "2mb"),
            Ok("2097152".into())
        );
        assert_eq!(validate(p("save"), ""), Ok(String::new()));
        let s = StoredParams::default();
        s.set(vec![("hz", "50".into())]);
        assert!(s.entries().iter().any(|(n, v, _)| *n == "hz" && v == "50"));
        s.reset();
        assert!(s.entries().iter().any(|(n, v, _)| *n == "hz" && v == "10"));
    }
}
