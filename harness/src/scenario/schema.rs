//! The typed scenario file: every section and field, with its default.
//! Strict (`deny_unknown_fields`); semantic checks are in [`super::validate`].

use super::{Dur, Offset, Percent, Target};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// A whole scenario.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Scenario {
    pub name: String,
    /// The system under test: `sdr` (the default), or an adapter for a system we did not
    /// write (`redis-sentinel`, `redis-cluster`, `command`); see [`SystemSpec`].
    #[serde(
        default,
        deserialize_with = "system_field",
        skip_serializing_if = "SystemSpec::is_default"
    )]
    pub system: SystemSpec,
    /// The network backend: `proxy` (default: TCP proxies on 127.0.0.1) or `netns`
    /// (a network namespace per node; root; needed by `netem`).
    #[serde(default, skip_serializing_if = "NetworkKind::is_default")]
    pub network: NetworkKind,
    #[serde(default)]
    pub cluster: ClusterSpec,
    /// Options written into every node's config file (kebab-case node config keys).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node: BTreeMap<String, Scalar>,
    pub workload: WorkloadSpec,
    pub duration: Dur,
    #[serde(default)]
    pub nemesis: NemesisSpec,
    /// How long to wait for the cluster to recover after the fault phase.
    #[serde(default = "default_recovery")]
    pub recovery: Dur,
    pub expect: Expect,
    /// When the history is checked: `end` (all of it after the run), `streaming` (each
    /// independent key as soon as it has retired; memory stays flat in runs of hours), or
    /// `auto` (the default: streaming for runs longer than [`STREAMING_AFTER`] of a
    /// per-key model whose keys retire, else end).
    #[serde(default, skip_serializing_if = "CheckMode::is_default")]
    pub check: CheckMode,
    /// Set by the runner in the copy it saves (`scenario.yaml` "as run").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

fn default_recovery() -> Dur {
    Dur(Duration::from_secs(20))
}

/// A scalar node option value.
#[derive(Clone, Debug, PartialEq)]
pub enum Scalar {
    Bool(bool),
    Int(i64),
    Str(String),
    /// A list of strings (only for `unsafe-test-faults`).
    List(Vec<String>),
}

impl Serialize for Scalar {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Scalar::Bool(b) => s.serialize_bool(*b),
            Scalar::Int(i) => s.serialize_i64(*i),
            Scalar::Str(v) => s.serialize_str(v),
            Scalar::List(v) => v.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Scalar, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a scalar (string, integer or boolean)")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                i64::try_from(v)
                    .map(Scalar::Int)
                    .map_err(|_| E::custom("integer out of range"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Str(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = seq.next_element::<String>()? {
                    v.push(x);
                }
                Ok(Scalar::List(v))
            }
        }
        d.deserialize_any(V)
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Bool(b) => write!(f, "{b}"),
            Scalar::Int(i) => write!(f, "{i}"),
            Scalar::Str(s) => write!(f, "{s}"),
            Scalar::List(v) => write!(f, "{}", v.join(",")),
        }
    }
}

/// `network:`.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum NetworkKind {
    #[default]
    Proxy,
    Netns,
}

impl NetworkKind {
    pub fn is_default(&self) -> bool {
        *self == NetworkKind::Proxy
    }
    pub fn name(self) -> &'static str {
        match self {
            NetworkKind::Proxy => "proxy",
            NetworkKind::Netns => "netns",
        }
    }
}

/// `cluster:`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ClusterSpec {
    /// Total number of nodes (default: `shards × replicas`, else 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<u32>,
    /// Raft groups; each owns the slots the node's placement gives it.
    #[serde(default = "one")]
    pub shards: u32,
    /// Members per shard (default: `nodes` with one shard, else 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    /// Extra nodes started only when an `add-node` fault adds them (one shard only).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub spares: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl ClusterSpec {
    /// Members per shard.
    pub fn replicas(&self) -> u32 {
        match (self.replicas, self.nodes) {
            (Some(r), _) => r,
            (None, Some(n)) if self.shards <= 1 => n,
            (None, Some(n)) => n / self.shards.max(1),
            (None, None) if self.shards > 1 => 3,
            (None, None) => 1,
        }
    }
    /// Initial members over all shards.
    pub fn total(&self) -> u32 {
        self.nodes.unwrap_or(self.shards.max(1) * self.replicas())
    }
}

fn one() -> u32 {
    1
}

impl Default for ClusterSpec {
    fn default() -> Self {
        ClusterSpec {
            nodes: None,
            shards: 1,
            replicas: None,
            spares: 0,
        }
    }
}

/// Which checker model (and which commands) the workload uses.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Model {
    Kv,
    Register,
    List,
    /// Transactions (`MULTI … EXEC`) of appends (`RPUSH`) and reads (`LRANGE 0 -1`),
    /// checked by the transactional checker (`sdr_checker::txn`).
    ListAppend,
    /// Transactions of writes (`SET`) and reads (`GET`) on registers.
    RwRegister,
}

impl Model {
    /// The linearizability checker's model; `None` for the transactional models (checked by
    /// `sdr_checker::txn` instead).
    pub fn checker_kind(self) -> Option<sdr_checker::models::ModelKind> {
        use sdr_checker::models::ModelKind;
        match self {
            Model::Kv => Some(ModelKind::Kv),
            Model::Register => Some(ModelKind::Register),
            Model::List => Some(ModelKind::List),
            Model::ListAppend | Model::RwRegister => None,
        }
    }
    /// Whether ops are multi-key transactions (`f = "txn"`, docs/history-format.md).
    pub fn is_txn(self) -> bool {
        matches!(self, Model::ListAppend | Model::RwRegister)
    }
    /// The scenario's name for the model.
    pub fn name(self) -> &'static str {
        match self {
            Model::Kv => "kv",
            Model::Register => "register",
            Model::List => "list",
            Model::ListAppend => "list-append",
            Model::RwRegister => "rw-register",
        }
    }
    /// Op names allowed in `mix`.
    pub fn ops(self) -> &'static [&'static str] {
        match self {
            Model::Kv => &["read", "write", "cas", "delete", "incr", "append"],
            Model::Register => &["read", "write", "cas"],
            Model::List => &["rpush", "lrange"],
            // Micro-op kinds, named as in the history (`["append", k, v]`, `["r", k, null]`).
            Model::ListAppend => &["append", "r"],
            Model::RwRegister => &["w", "r"],
        }
    }
    pub fn default_mix(self) -> BTreeMap<String, f64> {
        let pairs: &[(&str, f64)] = match self {
            Model::Kv => &[("read", 0.4), ("write", 0.3), ("cas", 0.2), ("incr", 0.1)],
            Model::Register => &[("read", 0.5), ("write", 0.3), ("cas", 0.2)],
            Model::List => &[("rpush", 0.6), ("lrange", 0.4)],
            Model::ListAppend => &[("append", 0.5), ("r", 0.5)],
            Model::RwRegister => &[("w", 0.5), ("r", 0.5)],
        };
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }
}

/// `workload:`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WorkloadSpec {
    pub model: Model,
    /// Live keys (per hash-tag group for the transactional models); see [`WorkloadSpec::keys`]
    /// for the default.
    #[serde(default, rename = "keys", skip_serializing_if = "Option::is_none")]
    pub keys_set: Option<u32>,
    #[serde(default = "default_clients")]
    pub clients: u32,
    /// Target ops/s over all clients together.
    #[serde(default = "default_rate")]
    pub rate: f64,
    /// Relative weights of op kinds; default depends on the model.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mix: BTreeMap<String, f64>,
    /// Per-op client timeout: past it the outcome is unknown (`info`).
    #[serde(default = "default_op_timeout")]
    pub op_timeout: Dur,
    /// Each client sends every op to its home node first (reads reach followers;
    /// `-MOVED` still redirects), instead of staying where it was redirected to.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pin_clients: bool,
    /// Independent keys: a key retires after this many ops (by all clients
    /// together) and a fresh key takes its place, so per-key histories stay
    /// short however long the run; 0 = keys never retire.
    /// Default: [`DEFAULT_OPS_PER_KEY`], or [`DEFAULT_TXN_OPS_PER_KEY`] micro-ops for the
    /// transactional models (see [`WorkloadSpec::ops_per_key`]).
    #[serde(
        default,
        rename = "ops-per-key",
        skip_serializing_if = "Option::is_none"
    )]
    pub ops_per_key_set: Option<u32>,
    /// Transactional models: micro-ops per transaction, `"1..4"` (inclusive, the default) or
    /// one number for a fixed length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub txn_len: Option<TxnLen>,
    /// Transactional models: how many hash-tag groups of `keys` keys there are. A transaction
    /// draws one group and all its keys from it, so in a sharded cluster its keys share a slot
    /// (`{t2}k0`, `{t2}k1`); different transactions use different groups and so reach every
    /// shard. Default 1 (plain names `k0` …) without shards, `4 × shards` with them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub txn_groups: Option<u32>,
}

/// Micro-ops per transaction: `min..=max`, written `"1..4"` or `3`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxnLen {
    pub min: u32,
    pub max: u32,
}

impl Default for TxnLen {
    fn default() -> Self {
        TxnLen { min: 1, max: 4 }
    }
}

impl fmt::Display for TxnLen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{}..{}", self.min, self.max)
        }
    }
}

impl Serialize for TxnLen {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.min == self.max {
            s.serialize_u32(self.min)
        } else {
            s.serialize_str(&self.to_string())
        }
    }
}

impl<'de> Deserialize<'de> for TxnLen {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<TxnLen, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = TxnLen;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a micro-op count like 3, or an inclusive range like \"1..4\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<TxnLen, E> {
                let n = u32::try_from(v).map_err(|_| E::custom("txn-len out of range"))?;
                Ok(TxnLen { min: n, max: n })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<TxnLen, E> {
                let n = u32::try_from(v).map_err(|_| E::custom("txn-len must be positive"))?;
                Ok(TxnLen { min: n, max: n })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TxnLen, E> {
                let bad = || E::custom(format!("txn-len {v:?} is not N or \"MIN..MAX\""));
                let (a, b) = match v.split_once("..") {
                    Some((a, b)) => (a, b.strip_prefix('=').unwrap_or(b)),
                    None => (v, v),
                };
                let min = a.trim().parse().map_err(|_| bad())?;
                let max = b.trim().parse().map_err(|_| bad())?;
                Ok(TxnLen { min, max })
            }
        }
        d.deserialize_any(V)
    }
}

/// Live keys by default: 10, or 6 per group for the transactional models (few keys, so
/// transactions collide).
pub const DEFAULT_KEYS: u32 = 10;
pub const DEFAULT_TXN_KEYS: u32 = 6;
fn default_clients() -> u32 {
    5
}
fn default_rate() -> f64 {
    200.0
}
/// Long enough for a key to see every fault of a typical schedule, short
/// enough that the checker's per-key search stays small.
pub const DEFAULT_OPS_PER_KEY: u32 = 300;

/// Transactional models: micro-ops per key before it retires (Jepsen's list-append bounds
/// the appends per key the same way: reads stay short, version orders stay small).
pub const DEFAULT_TXN_OPS_PER_KEY: u32 = 64;
fn default_op_timeout() -> Dur {
    Dur(Duration::from_secs(2))
}

impl WorkloadSpec {
    /// Live keys (per group for the transactional models).
    pub fn keys(&self) -> u32 {
        self.keys_set.unwrap_or(if self.model.is_txn() {
            DEFAULT_TXN_KEYS
        } else {
            DEFAULT_KEYS
        })
    }
    /// Ops (micro-ops for the transactional models) per key before it retires; 0 = never.
    pub fn ops_per_key(&self) -> u32 {
        self.ops_per_key_set.unwrap_or(if self.model.is_txn() {
            DEFAULT_TXN_OPS_PER_KEY
        } else {
            DEFAULT_OPS_PER_KEY
        })
    }
    /// Micro-ops per transaction.
    pub fn txn_len(&self) -> TxnLen {
        self.txn_len.unwrap_or_default()
    }
    /// Hash-tag groups (1 = untagged key names).
    pub fn txn_groups(&self) -> u32 {
        self.txn_groups.unwrap_or(1).max(1)
    }
    /// The mix to use (the default for the model when `mix` is empty).
    pub fn effective_mix(&self) -> BTreeMap<String, f64> {
        if self.mix.is_empty() {
            self.model.default_mix()
        } else {
            self.mix.clone()
        }
    }
}

/// `check:` (see [`Scenario::check`]).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum CheckMode {
    #[default]
    Auto,
    End,
    Streaming,
}

impl CheckMode {
    pub fn is_default(&self) -> bool {
        *self == CheckMode::Auto
    }
}

/// Runs at least this long check by streaming under `check: auto`.
pub const STREAMING_AFTER: Duration = Duration::from_secs(300);

impl Scenario {
    /// Whether this run checks by streaming (`check:` resolved).
    pub fn streaming(&self) -> bool {
        let possible = !self.workload.model.is_txn() && self.workload.ops_per_key() > 0;
        match self.check {
            CheckMode::End => false,
            CheckMode::Streaming => possible,
            CheckMode::Auto => possible && self.duration.0 >= STREAMING_AFTER,
        }
    }
}

/// `expect:`.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Expect {
    /// Linearizable models: the history is linearizable.
    Linearizable,
    /// Transactional models: the transactional checker finds no anomaly.
    Valid,
    Violation,
}

/// Fault kinds.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// SIGKILL the target nodes (restart after `restart-after`, or at `restart`/the end).
    Kill,
    /// SIGTERM (clean shutdown) the target nodes.
    Terminate,
    /// Restart every node that is down.
    Restart,
    /// SIGSTOP the targets (SIGCONT after `resume-after`, or at `resume`/`heal`/the end).
    Pause,
    /// SIGCONT every paused node.
    Resume,
    /// Cut peer links (through the proxies) according to `target`.
    Partition,
    /// Heal every partition, remove latency, resume paused nodes.
    Heal,
    /// Add `latency` to every peer link of the targets.
    Latency,
    /// Kill the target, tear the tail of its newest WAL segment, restart it.
    TornWal,
    /// Restart every node one after the other (SIGTERM, start, wait ready).
    RollingRestart,
    /// Start a spare node and add it to the group (`sdr-node admin add`).
    AddNode,
    /// Remove a member from its group (`sdr-node admin remove`), then stop it.
    RemoveNode,
    /// `tc netem` on the targets' interfaces (loss, delay ± jitter, duplicate, reorder);
    /// `network: netns` only.
    Netem,
    /// Offset the targets' wall clocks by `offset` (libfaketime) until healed.
    ClockSkew,
    /// Jump the targets' wall clocks by `offset` at a moment (stays until the end).
    ClockBump,
}

impl FaultKind {
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Kill => "kill",
            FaultKind::Terminate => "terminate",
            FaultKind::Restart => "restart",
            FaultKind::Pause => "pause",
            FaultKind::Resume => "resume",
            FaultKind::Partition => "partition",
            FaultKind::Heal => "heal",
            FaultKind::Latency => "latency",
            FaultKind::TornWal => "torn-wal",
            FaultKind::RollingRestart => "rolling-restart",
            FaultKind::AddNode => "add-node",
            FaultKind::RemoveNode => "remove-node",
            FaultKind::Netem => "netem",
            FaultKind::ClockSkew => "clock-skew",
            FaultKind::ClockBump => "clock-bump",
        }
    }
    /// The faults allowed in `random.faults`.
    pub fn randomizable(self) -> bool {
        matches!(
            self,
            FaultKind::Kill
                | FaultKind::Pause
                | FaultKind::Partition
                | FaultKind::Latency
                | FaultKind::TornWal
        )
    }
}

/// How a partitioned link misbehaves.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum LinkMode {
    /// Close connections and refuse new ones.
    #[default]
    Reject,
    /// Keep connections open and drop every byte.
    Blackhole,
}

/// How a torn WAL tail is made.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum TearMode {
    /// Cut the last `bytes` bytes of the newest segment.
    #[default]
    Truncate,
    /// Flip one byte inside the last `bytes` bytes of the newest segment.
    Flip,
}

/// One scheduled fault: `{at: 10s, fault: kill, ...}` or `{every: 8s, fault: kill, ...}`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Step {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Dur>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<Dur>,
    pub fault: FaultKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<LinkMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Dur>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_after: Option<Dur>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_after: Option<Dur>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heal_after: Option<Dur>,
    /// torn-wal: `truncate` (default) or `flip`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tear: Option<TearMode>,
    /// torn-wal: how many tail bytes are affected (default 16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// partition: also cut the client links of nodes cut off from their shard's majority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut_clients: Option<bool>,
    /// netem: packet loss.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<Percent>,
    /// netem: added delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Dur>,
    /// netem: delay jitter (±).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<Dur>,
    /// netem: duplicated packets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<Percent>,
    /// netem: reordered packets (sent at once, ahead of delayed ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reorder: Option<Percent>,
    /// clock-skew / clock-bump: the signed wall-clock offset (`+30s`, `-2m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<Offset>,
}

/// `nemesis: {random: {...}}`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RandomSpec {
    pub every: Dur,
    pub faults: Vec<FaultKind>,
    /// How long each fault lasts before it is undone (default: half of `every`).
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    pub lasts: Option<Dur>,
    /// Partition link mode for random partitions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<LinkMode>,
}

/// `nemesis:` — a list of steps, or `{random: ...}`. Absent = no faults.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum NemesisSpec {
    #[default]
    None,
    Schedule(Vec<Step>),
    Random(RandomSpec),
}

impl Serialize for NemesisSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            NemesisSpec::None => s
                .serialize_seq(Some(0))
                .and_then(serde::ser::SerializeSeq::end),
            NemesisSpec::Schedule(v) => v.serialize(s),
            NemesisSpec::Random(r) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("random", r)?;
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for NemesisSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<NemesisSpec, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NemesisSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of fault steps, or {random: {every, faults}}")
            }
            fn visit_unit<E: de::Error>(self) -> Result<NemesisSpec, E> {
                Ok(NemesisSpec::None)
            }
            fn visit_none<E: de::Error>(self) -> Result<NemesisSpec, E> {
                Ok(NemesisSpec::None)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NemesisSpec, A::Error> {
                let mut v = Vec::new();
                while let Some(s) = seq.next_element::<Step>()? {
                    v.push(s);
                }
                Ok(if v.is_empty() {
                    NemesisSpec::None
                } else {
                    NemesisSpec::Schedule(v)
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NemesisSpec, A::Error> {
                let mut out = None;
                while let Some(k) = map.next_key::<String>()? {
                    if k != "random" {
                        return Err(de::Error::unknown_field(&k, &["random"]));
                    }
                    if out.is_some() {
                        return Err(de::Error::duplicate_field("random"));
                    }
                    out = Some(map.next_value::<RandomSpec>()?);
                }
                out.map(NemesisSpec::Random)
                    .ok_or_else(|| de::Error::missing_field("random"))
            }
        }
        d.deserialize_any(V)
    }
}

/// Which adapter runs the system under test (`harness/src/system/`).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SystemKind {
    /// `sdr-node` clusters (the harness's own system).
    #[default]
    Sdr,
    /// `redis-server` primary + replicas, failover by three `redis-sentinel`s.
    RedisSentinel,
    /// `redis-server --cluster-enabled yes`, created with `redis-cli --cluster create`.
    RedisCluster,
    /// Any RESP server, started and stopped by command templates.
    Command,
}

impl SystemKind {
    pub fn name(self) -> &'static str {
        match self {
            SystemKind::Sdr => "sdr",
            SystemKind::RedisSentinel => "redis-sentinel",
            SystemKind::RedisCluster => "redis-cluster",
            SystemKind::Command => "command",
        }
    }
    /// Redis-based adapters (options such as `wait` and `read-from` apply).
    pub fn is_redis(self) -> bool {
        matches!(self, SystemKind::RedisSentinel | SystemKind::RedisCluster)
    }
}

/// Where an external system's clients send reads.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ReadFrom {
    /// Reads go where writes go (the primary).
    #[default]
    Primary,
    /// Reads go to a replica (Sentinel: one from `SENTINEL replicas`; Cluster: `READONLY`
    /// connections to the slot's replica).
    Replicas,
}

/// `system:` — a name (`system: redis-sentinel`) or a map with `kind` and options.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SystemSpec {
    #[serde(default)]
    pub kind: SystemKind,
    /// Redis: the primaries' `min-replicas-to-write` (with `min-replicas-max-lag 10`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_replicas_to_write: Option<u32>,
    /// Redis: clients call `WAIT <wait> <wait-timeout>` after every write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<u32>,
    /// Redis: the WAIT timeout (default 500ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_timeout: Option<Dur>,
    /// External systems: where reads go (default `primary`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_from: Option<ReadFrom>,
    /// Sentinel: `down-after-milliseconds` (default 1000ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down_after: Option<Dur>,
    /// Sentinel: `failover-timeout` (default 3s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover_timeout: Option<Dur>,
    /// Cluster: `cluster-node-timeout` (default 2s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_timeout: Option<Dur>,
    /// Redis: the `redis-server` binary (default `redis-server` on PATH).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Command: the start template (`sh -c`), with `{id}`, `{ip}`, `{port}`, `{dir}`, `{peers}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// Command: clean stop (default SIGTERM to the started process). Also `{pid}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<String>,
    /// Command: crash (default SIGKILL). Also `{pid}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill: Option<String>,
    /// Command: freeze (default SIGSTOP). Also `{pid}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<String>,
    /// Command: thaw (default SIGCONT). Also `{pid}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<String>,
    /// Command: leader discovery — `any` (default: any running node), `role` (the node whose
    /// `INFO replication` says `role:master`), or a template whose output's first line is
    /// the leader's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<String>,
}

impl SystemSpec {
    pub fn is_default(&self) -> bool {
        *self == SystemSpec::default()
    }
    pub fn read_from(&self) -> ReadFrom {
        self.read_from.unwrap_or_default()
    }
    pub fn wait_timeout(&self) -> Duration {
        self.wait_timeout
            .map(|d| d.0)
            .unwrap_or(Duration::from_millis(500))
    }
}

/// `system:` as a bare name or a map (strict: unknown keys are errors with their location).
fn system_field<'de, D: Deserializer<'de>>(d: D) -> Result<SystemSpec, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = SystemSpec;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(
                "a system name (sdr, redis-sentinel, redis-cluster, command) or {kind: …, options}",
            )
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<SystemSpec, E> {
            let kind = SystemKind::deserialize(de::value::StrDeserializer::<E>::new(v))?;
            Ok(SystemSpec {
                kind,
                ..SystemSpec::default()
            })
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<SystemSpec, A::Error> {
            SystemSpec::deserialize(de::value::MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_any(V)
}
