//! Typed node configuration: defaults, the YAML file (`--config`), CLI overrides, validation.
//!
//! Precedence: built-in defaults < YAML file < command-line flags. Unknown keys in the file are
//! an error naming the key (serde `deny_unknown_fields`). `config/default.yaml` documents every
//! option with its default; a test keeps it identical to [`Config::default`].

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

use crate::resp::Limits;
use crate::storage::FsyncPolicy;

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Everything a node needs to start. Field names map to kebab-case YAML keys.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Config {
    /// Address the RESP listener binds to. Unset: this member's `client` address in a cluster,
    /// else 127.0.0.1.
    pub bind: Option<String>,
    /// RESP port; 0 picks an ephemeral port (the chosen port is logged and written to
    /// `<data-dir>/port` so tests and tools can find it). Unset: this member's `client` port in
    /// a cluster, else 6379.
    pub port: Option<u16>,
    /// Where the WAL, vote and snapshots live; `{id}` is replaced by the node id, so one
    /// cluster file can serve every member.
    pub data_dir: PathBuf,
    /// WAL fsync policy: `always` (group commit), `everysec`, `no`.
    pub fsync: FsyncPolicy,
    /// A WAL segment is rolled once it exceeds this size.
    #[serde(deserialize_with = "de_bytes")]
    pub wal_segment_bytes: u64,
    /// Take a snapshot (and purge the WAL before it) every this many applied entries.
    pub snapshot_every: u64,
    /// Also take a snapshot once the log entries since the last one exceed this many bytes,
    /// and purge the log behind the previous snapshot once the live log does, so a log of
    /// large values stays bounded in memory and on disk (about twice this plus one WAL
    /// segment). Default 256mb.
    #[serde(deserialize_with = "de_bytes")]
    pub snapshot_log_bytes: u64,
    /// When set, clients must `AUTH` first (runtime-changeable).
    pub requirepass: Option<String>,
    /// `tracing` filter: error, warn, info, debug, trace, or a full filter expression.
    pub log_level: String,
    /// Connections beyond this are refused with `-ERR max number of clients reached`
    /// (runtime-changeable).
    pub maxclients: usize,
    /// Connections the peer (Raft/admin gRPC) port holds at once; more are closed on accept
    /// (`raft::peer_limits`, docs/security.md). Default 256.
    pub peer_max_connections: usize,
    /// Largest bulk string a client may send (runtime-changeable; applies to new connections).
    #[serde(deserialize_with = "de_bytes")]
    pub proto_max_bulk_len: u64,
    /// Largest unparsed input buffered per client before it is disconnected.
    #[serde(deserialize_with = "de_bytes")]
    pub client_query_buffer_limit: u64,
    /// Memory ceiling for the keyspace (0 = unlimited, as Redis; runtime-changeable). Above
    /// it, commands that may grow memory (`denyoom`) get `-OOM`.
    #[serde(deserialize_with = "de_bytes")]
    pub maxmemory: u64,
    /// What to do at `maxmemory`; only `noeviction` (refuse the write) is implemented.
    pub maxmemory_policy: MaxmemoryPolicy,
    /// Close connections idle for this many seconds (0 = never; runtime-changeable).
    pub timeout: u64,
    /// A client request that cannot be committed or confirmed within this long is answered
    /// with an error (`-TRYAGAIN`) instead of waiting forever.
    pub request_timeout_ms: u64,
    /// How often the leader looks for expired keys to delete through the log.
    pub active_expire_interval_ms: u64,
    /// Number of databases (SELECT 0 … n-1), as Redis's `databases`; startup only. Every
    /// member of a group must use the same value (MOVE/SWAPDB/COPY DB check it when applied).
    /// Sharded clusters have db 0 only, whatever this says.
    pub databases: u32,
    /// This node's Raft id.
    pub node_id: u64,
    /// Raft timing.
    pub raft: RaftTuning,
    /// Multi-node membership; absent = a one-member group.
    pub cluster: Option<ClusterConfig>,
    /// Planted bugs; settable only with the `--unsafe-test-faults` flag, never from a file.
    #[serde(skip)]
    pub unsafe_test_faults: crate::faults::TestFaults,
}

/// `maxmemory-policy`: Redis's names. Eviction is decided by the leader and carried out
/// through the log (see `server::eviction`), so replicas stay identical. The LFU policies are
/// not implemented (refused by `CONFIG SET` and at boot) rather than silently run as another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum MaxmemoryPolicy {
    #[serde(rename = "noeviction")]
    NoEviction,
    #[serde(rename = "allkeys-lru")]
    AllKeysLru,
    #[serde(rename = "allkeys-random")]
    AllKeysRandom,
    #[serde(rename = "volatile-lru")]
    VolatileLru,
    #[serde(rename = "volatile-random")]
    VolatileRandom,
    #[serde(rename = "volatile-ttl")]
    VolatileTtl,
}

impl MaxmemoryPolicy {
    /// Every accepted name, in Redis's documentation order.
    pub const NAMES: &'static str =
        "noeviction, allkeys-lru, allkeys-random, volatile-lru, volatile-random, volatile-ttl";

    pub fn as_str(self) -> &'static str {
        match self {
            MaxmemoryPolicy::NoEviction => "noeviction",
            MaxmemoryPolicy::AllKeysLru => "allkeys-lru",
            MaxmemoryPolicy::AllKeysRandom => "allkeys-random",
            MaxmemoryPolicy::VolatileLru => "volatile-lru",
            MaxmemoryPolicy::VolatileRandom => "volatile-random",
            MaxmemoryPolicy::VolatileTtl => "volatile-ttl",
        }
    }

    /// Parses a `CONFIG SET maxmemory-policy` value.
    pub fn parse(s: &str) -> Option<MaxmemoryPolicy> {
        Some(match s.to_ascii_lowercase().as_str() {
            "noeviction" => MaxmemoryPolicy::NoEviction,
            "allkeys-lru" => MaxmemoryPolicy::AllKeysLru,
            "allkeys-random" => MaxmemoryPolicy::AllKeysRandom,
            "volatile-lru" => MaxmemoryPolicy::VolatileLru,
            "volatile-random" => MaxmemoryPolicy::VolatileRandom,
            "volatile-ttl" => MaxmemoryPolicy::VolatileTtl,
            _ => return None,
        })
    }

    /// True for the policies that need per-key access times.
    pub fn tracks_access(self) -> bool {
        matches!(
            self,
            MaxmemoryPolicy::AllKeysLru | MaxmemoryPolicy::VolatileLru
        )
    }
}

/// One class of `client-output-buffer-limit`: a connection whose unsent output passes `hard`
/// bytes (0 = no limit) is closed; `soft`/`soft_secs` are accepted and reported as Redis
/// does (see docs/security.md for what the node enforces).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputLimit {
    pub hard: u64,
    pub soft: u64,
    pub soft_secs: u64,
}

/// `client-output-buffer-limit` for Redis's three client classes, with Redis 7's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputBufferLimits {
    pub normal: OutputLimit,
    pub replica: OutputLimit,
    pub pubsub: OutputLimit,
}

impl Default for OutputBufferLimits {
    fn default() -> Self {
        const MB: u64 = 1024 * 1024;
        OutputBufferLimits {
            normal: OutputLimit {
                hard: 0,
                soft: 0,
                soft_secs: 0,
            },
            replica: OutputLimit {
                hard: 256 * MB,
                soft: 64 * MB,
                soft_secs: 60,
            },
            pubsub: OutputLimit {
                hard: 32 * MB,
                soft: 8 * MB,
                soft_secs: 60,
            },
        }
    }
}

impl OutputBufferLimits {
    /// Redis's `CONFIG GET client-output-buffer-limit` form:
    /// `normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60`.
    pub fn format(&self) -> String {
        let one = |n: &str, l: &OutputLimit| format!("{n} {} {} {}", l.hard, l.soft, l.soft_secs);
        format!(
            "{} {} {}",
            one("normal", &self.normal),
            one("slave", &self.replica),
            one("pubsub", &self.pubsub)
        )
    }

    /// Applies a `CONFIG SET` value: one or more `<class> <hard> <soft> <soft-seconds>`
    /// groups (class `normal`, `replica`/`slave` or `pubsub`; sizes with Redis's units).
    /// Classes not named keep their limits. The error is Redis's reason text.
    pub fn apply(&self, value: &str) -> Result<OutputBufferLimits, &'static str> {
        let words: Vec<&str> = value.split_ascii_whitespace().collect();
        if words.is_empty() || !words.len().is_multiple_of(4) {
            return Err("Wrong number of arguments in buffer limit configuration.");
        }
        let mut out = *self;
        for g in words.chunks(4) {
            let (Ok(hard), Ok(soft), Ok(soft_secs)) =
                (parse_bytes(g[1]), parse_bytes(g[2]), g[3].parse::<u64>())
            else {
                return Err(
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration.",
                );
            };
            let limit = OutputLimit {
                hard,
                soft,
                soft_secs,
            };
            match g[0].to_ascii_lowercase().as_str() {
                "normal" => out.normal = limit,
                "replica" | "slave" => out.replica = limit,
                "pubsub" => out.pubsub = limit,
                _ => return Err("Invalid client class specified in buffer limit configuration."),
            }
        }
        Ok(out)
    }
}

/// The replicated group this node belongs to.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ClusterConfig {
    /// Peers with a different cluster id are rejected.
    pub id: String,
    /// Shared secret every peer RPC must carry (docs/security.md).
    pub secret: String,
    /// Where this node's Raft/admin gRPC listens; default: its own member `raft` address. Set
    /// it when peers reach this node through a proxy.
    #[serde(default)]
    pub raft_listen: Option<String>,
    /// Followers proxy keyed commands to the leader instead of answering `-MOVED`.
    #[serde(default)]
    pub forward_to_leader: bool,
    /// Every initial member of a one-group cluster: how this node reaches it (`raft`) and the
    /// address advertised to clients in `-MOVED` (`client`). Use either `members` or `shards`.
    #[serde(default)]
    pub members: Vec<MemberConfig>,
    /// A sharded cluster: several Raft groups, each owning the hash slots the placement
    /// assigns it (docs/sharding.md). Node ids are unique across all shards.
    #[serde(default)]
    pub shards: Vec<ShardConfig>,
}

/// One shard: a Raft group and its initial members.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ShardConfig {
    pub id: u64,
    pub members: Vec<MemberConfig>,
}

impl ClusterConfig {
    /// The Raft groups: the `shards` list, or the `members` list as shard 1.
    pub fn groups(&self) -> Vec<ShardConfig> {
        if self.shards.is_empty() {
            vec![ShardConfig {
                id: 1,
                members: self.members.clone(),
            }]
        } else {
            self.shards.clone()
        }
    }

    /// Every member of every shard.
    pub fn all_members(&self) -> Vec<MemberConfig> {
        self.groups().into_iter().flat_map(|g| g.members).collect()
    }

    /// The shard that `node_id` belongs to.
    pub fn shard_of(&self, node_id: u64) -> Option<ShardConfig> {
        self.groups()
            .into_iter()
            .find(|g| g.members.iter().any(|m| m.id == node_id))
    }
}

/// One member of the group.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MemberConfig {
    pub id: u64,
    pub raft: String,
    pub client: String,
}

/// Raft timers, in milliseconds.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct RaftTuning {
    pub heartbeat_interval_ms: u64,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
}

impl Default for RaftTuning {
    fn default() -> Self {
        RaftTuning {
            heartbeat_interval_ms: 100,
            election_timeout_min_ms: 300,
            election_timeout_max_ms: 600,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: None,
            port: None,
            data_dir: PathBuf::from("./data"),
            fsync: FsyncPolicy::Always,
            wal_segment_bytes: 64 * 1024 * 1024,
            snapshot_every: 100_000,
            snapshot_log_bytes: 256 * 1024 * 1024,
            requirepass: None,
            log_level: "info".to_string(),
            maxclients: 10_000,
            peer_max_connections: crate::raft::peer_limits::DEFAULT_MAX_CONNECTIONS,
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            maxmemory: 0,
            maxmemory_policy: MaxmemoryPolicy::NoEviction,
            timeout: 0,
            request_timeout_ms: 5_000,
            active_expire_interval_ms: 100,
            databases: 16,
            node_id: 1,
            raft: RaftTuning::default(),
            cluster: None,
            unsafe_test_faults: crate::faults::TestFaults::default(),
        }
    }
}

impl Config {
    /// Parses YAML text; `origin` names the file in error messages.
    pub fn from_yaml(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        let cfg: Config = serde_saphyr::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_path_buf(),
            message: e.to_string(),
        })?;
        Ok(cfg)
    }

    /// Reads and parses a YAML file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_yaml(&text, path)
    }

    /// Checks cross-field invariants; call after CLI overrides are applied.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.node_id == 0 {
            return bad("node-id must be at least 1".into());
        }
        if self.proto_max_bulk_len < 1024 {
            return bad(format!(
                "proto-max-bulk-len {} is below the minimum of 1024",
                self.proto_max_bulk_len
            ));
        }
        if self.client_query_buffer_limit < 1024 * 1024 {
            return bad("client-query-buffer-limit must be at least 1mb".into());
        }
        if self.wal_segment_bytes < 4096 {
            return bad("wal-segment-bytes must be at least 4096".into());
        }
        if self.snapshot_every == 0 {
            return bad("snapshot-every must be at least 1".into());
        }
        if self.snapshot_log_bytes < 1024 * 1024 {
            return bad("snapshot-log-bytes must be at least 1mb".into());
        }
        if self.peer_max_connections == 0 {
            return bad("peer-max-connections must be at least 1".into());
        }
        if self.maxclients == 0 {
            return bad("maxclients must be at least 1".into());
        }
        if self.databases == 0 || self.databases > 1_000_000 {
            return bad("databases must be between 1 and 1000000".into());
        }
        if self.request_timeout_ms == 0 || self.active_expire_interval_ms == 0 {
            return bad("request-timeout-ms and active-expire-interval-ms must be positive".into());
        }
        if let Some(c) = &self.cluster {
            if c.id.is_empty() || c.secret.is_empty() {
                return bad("cluster: id and secret must not be empty".into());
            }
            if c.members.is_empty() == c.shards.is_empty() {
                return bad(
                    "cluster: give either `members` (one group) or `shards`, not both or neither"
                        .into(),
                );
            }
            if c.groups().iter().any(|g| g.members.is_empty()) {
                return bad("cluster: every shard needs at least one member".into());
            }
            let mut shard_ids: Vec<u64> = c.groups().iter().map(|g| g.id).collect();
            shard_ids.sort_unstable();
            shard_ids.dedup();
            if shard_ids.len() != c.groups().len() {
                return bad("cluster: shard ids must be unique".into());
            }
            if c.groups().len() > crate::cluster::placement::MAX_SHARDS {
                return bad(format!(
                    "cluster: at most {} shards",
                    crate::cluster::placement::MAX_SHARDS
                ));
            }
            let all = c.all_members();
            let mut ids: Vec<u64> = all.iter().map(|m| m.id).collect();
            ids.sort_unstable();
            ids.dedup();
            if ids.len() != all.len() {
                return bad("cluster: member ids must be unique across all shards".into());
            }
            if !ids.contains(&self.node_id) {
                return bad(format!(
                    "cluster: node-id {} is not among the members {ids:?}",
                    self.node_id
                ));
            }
            for m in &all {
                if m.raft.parse::<std::net::SocketAddr>().is_err()
                    || split_host_port(&m.client).is_none()
                {
                    return bad(format!(
                        "cluster: member {} needs raft and client as host:port",
                        m.id
                    ));
                }
            }
        }
        let r = &self.raft;
        if r.heartbeat_interval_ms == 0 || r.election_timeout_min_ms <= r.heartbeat_interval_ms {
            return bad(
                "raft: election-timeout-min-ms must exceed heartbeat-interval-ms (> 0)".into(),
            );
        }
        if r.election_timeout_max_ms <= r.election_timeout_min_ms {
            return bad("raft: election-timeout-max-ms must exceed election-timeout-min-ms".into());
        }
        Ok(())
    }

    /// This node's entry in the cluster file.
    pub fn me(&self) -> Option<MemberConfig> {
        self.cluster
            .as_ref()?
            .all_members()
            .into_iter()
            .find(|m| m.id == self.node_id)
    }

    /// The initial members of this node's own Raft group.
    pub fn group_members(&self) -> Vec<MemberConfig> {
        self.cluster
            .as_ref()
            .and_then(|c| c.shard_of(self.node_id))
            .map(|g| g.members)
            .unwrap_or_default()
    }

    /// The RESP listen address: explicit `bind`/`port`, else this member's client address,
    /// else 127.0.0.1:6379.
    pub fn client_listen(&self) -> (String, u16) {
        let member = self.me().and_then(|m| split_host_port(&m.client));
        let host = self
            .bind
            .clone()
            .or_else(|| member.as_ref().map(|(h, _)| h.clone()));
        let port = self.port.or(member.map(|(_, p)| p));
        (
            host.unwrap_or_else(|| "127.0.0.1".to_string()),
            port.unwrap_or(6379),
        )
    }

    /// Where the peer gRPC server listens (cluster mode only).
    pub fn raft_listen(&self) -> Option<String> {
        let c = self.cluster.as_ref()?;
        c.raft_listen
            .clone()
            .or_else(|| self.me().map(|m| m.raft.clone()))
    }

    /// The data directory with `{id}` replaced by the node id.
    pub fn data_dir(&self) -> PathBuf {
        PathBuf::from(
            self.data_dir
                .to_string_lossy()
                .replace("{id}", &self.node_id.to_string()),
        )
    }

    /// RESP decoder limits derived from this configuration.
    pub fn limits(&self) -> Limits {
        Limits {
            max_bulk_len: self.proto_max_bulk_len,
            max_query_buffer: self.client_query_buffer_limit,
            ..Limits::default()
        }
    }
}

/// Splits `host:port` (the port must be a number).
pub fn split_host_port(s: &str) -> Option<(String, u16)> {
    let (h, p) = s.rsplit_once(':')?;
    Some((h.to_string(), p.parse().ok()?))
}

/// Parses a byte size: an integer, or a string like `64mb`, `1gb`, `512k` (Redis units:
/// k/kb = 1000/1024, m/mb, g/gb — as in redis.conf).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("invalid size '{s}'"))?;
    let mul: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => {
            return Err(format!(
                "invalid size unit in '{s}' (use k, kb, m, mb, g, gb)"
            ))
        }
    };
    n.checked_mul(mul)
        .ok_or_else(|| format!("size '{s}' overflows"))
}

fn de_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Int(u64),
        Str(String),
    }
    match Raw::deserialize(d)? {
        Raw::Int(n) => Ok(n),
        Raw::Str(s) => parse_bytes(&s).map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_yaml_matches_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/default.yaml");
        let cfg = Config::load(&path).expect("config/default.yaml parses");
        assert_eq!(cfg, Config::default());
        cfg.validate().expect("defaults are valid");
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::from_yaml("port: 1\nbogus-option: 3\n", Path::new("x.yaml")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("bogus-option"), "{msg}");
        assert!(msg.contains("x.yaml"), "{msg}");
    }

    #[test]
    fn sizes_accept_units() {
        let cfg = Config::from_yaml(
            "proto-max-bulk-len: 1mb\nwal-segment-bytes: 8192\n",
            Path::new("x"),
        )
        .unwrap();
        assert_eq!(cfg.proto_max_bulk_len, 1024 * 1024);
        assert_eq!(cfg.wal_segment_bytes, 8192);
        assert_eq!(parse_bytes("2gb"), Ok(2 * 1024 * 1024 * 1024));
        assert!(parse_bytes("12xb").is_err());
    }

    #[test]
    fn cluster_file_resolves_per_member() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/cluster-3.yaml");
        let mut cfg = Config::load(&path).expect("config/cluster-3.yaml parses");
        cfg.node_id = 2;
        cfg.validate().expect("valid");
        assert_eq!(cfg.client_listen(), ("127.0.0.1".to_string(), 7002));
        assert_eq!(cfg.raft_listen().as_deref(), Some("127.0.0.1:17002"));
        assert_eq!(cfg.data_dir(), PathBuf::from("./data/cluster/node-2"));
        cfg.port = Some(0);
        assert_eq!(
            cfg.client_listen().1,
            0,
            "flags override the member address"
        );
        cfg.node_id = 9;
        assert!(cfg
            .validate()
            .unwrap_err()
            .to_string()
            .contains("not among the members"));
    }

    #[test]
    fn validation_rejects_nonsense() {
        let cfg = Config {
            snapshot_every: 0,
            ..Config::default()
        };
        assert!(cfg.validate().is_err());
        let cfg = Config {
            raft: RaftTuning {
                heartbeat_interval_ms: 500,
                election_timeout_min_ms: 300,
                election_timeout_max_ms: 600,
            },
            ..Config::default()
        };
        assert!(cfg.validate().is_err());
    }
}
