//! Scenario files: the YAML schema of a chaos run (`docs/scenario-format.md`).
//!
//! Parsing is strict: unknown keys are errors that name the line and column
//! (serde-saphyr reports locations); semantic validation ([`Scenario::validate`])
//! runs after parsing and names the offending key path.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// YAML syntax or schema error; `line`/`column` are 1-based when known.
    #[error("{origin}:{}: {message}", loc_str(*.line, *.column))]
    Parse {
        origin: String,
        line: Option<u64>,
        column: Option<u64>,
        message: String,
    },
    /// The file parsed but a value is not allowed.
    #[error("{origin}: {key}: {message}")]
    Invalid {
        origin: String,
        key: String,
        message: String,
    },
}

fn loc_str(line: Option<u64>, column: Option<u64>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!("{l}:{c}"),
        (Some(l), None) => format!("{l}"),
        _ => "?".into(),
    }
}

/// A duration written with a unit: `500ms`, `10s`, `2m`, `1h` (also `1.5s`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Dur(pub Duration);

impl Dur {
    pub fn parse(s: &str) -> Result<Dur, String> {
        let s = s.trim();
        let split = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        if num.is_empty() {
            return Err(format!(
                "bad duration {s:?}: expected a number and a unit, like 500ms, 10s or 2m"
            ));
        }
        let n: f64 = num
            .parse()
            .map_err(|_| format!("bad duration {s:?}: {num:?} is not a number"))?;
        let mult = match unit.trim() {
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => {
                return Err(format!(
                    "bad duration {s:?}: a unit is required (ms, s, m, h)"
                ))
            }
            u => {
                return Err(format!(
                    "bad duration {s:?}: unknown unit {u:?} (use ms, s, m or h)"
                ))
            }
        };
        let secs = n * mult;
        if !secs.is_finite() || secs > 1e9 {
            return Err(format!("bad duration {s:?}: out of range"));
        }
        Ok(Dur(Duration::from_secs_f64(secs)))
    }
    pub fn as_duration(self) -> Duration {
        self.0
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms % 60_000 == 0 && ms > 0 {
            write!(f, "{}m", ms / 60_000)
        } else if ms % 1000 == 0 {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Dur, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration with a unit, like 500ms, 10s or 2m")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Dur, E> {
                Dur::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Dur, E> {
                Err(E::custom(format!(
                    "bad duration {v}: a unit is required (like {v}s or {v}ms)"
                )))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Dur, E> {
                Err(E::custom(format!(
                    "bad duration {v}: a unit is required (like {v}s or {v}ms)"
                )))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Dur, E> {
                Err(E::custom(format!(
                    "bad duration {v}: a unit is required (like {v}s)"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

/// A whole scenario.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Scenario {
    pub name: String,
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

/// `cluster:`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ClusterSpec {
    /// Total number of nodes (default: `shards × replicas`, else 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<u32>,
    /// Raft groups; each owns the slots the consistent-hash ring gives it.
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
}

impl Model {
    pub fn checker_kind(self) -> sdr_checker::models::ModelKind {
        use sdr_checker::models::ModelKind;
        match self {
            Model::Kv => ModelKind::Kv,
            Model::Register => ModelKind::Register,
            Model::List => ModelKind::List,
        }
    }
    /// Op names allowed in `mix`.
    pub fn ops(self) -> &'static [&'static str] {
        match self {
            Model::Kv => &["read", "write", "cas", "delete", "incr", "append"],
            Model::Register => &["read", "write", "cas"],
            Model::List => &["rpush", "lrange"],
        }
    }
    pub fn default_mix(self) -> BTreeMap<String, f64> {
        let pairs: &[(&str, f64)] = match self {
            Model::Kv => &[("read", 0.4), ("write", 0.3), ("cas", 0.2), ("incr", 0.1)],
            Model::Register => &[("read", 0.5), ("write", 0.3), ("cas", 0.2)],
            Model::List => &[("rpush", 0.6), ("lrange", 0.4)],
        };
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }
}

/// `workload:`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WorkloadSpec {
    pub model: Model,
    #[serde(default = "default_keys")]
    pub keys: u32,
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
}

fn default_keys() -> u32 {
    10
}
fn default_clients() -> u32 {
    5
}
fn default_rate() -> f64 {
    200.0
}
fn default_op_timeout() -> Dur {
    Dur(Duration::from_secs(2))
}

impl WorkloadSpec {
    /// The mix to use (the default for the model when `mix` is empty).
    pub fn effective_mix(&self) -> BTreeMap<String, f64> {
        if self.mix.is_empty() {
            self.model.default_mix()
        } else {
            self.mix.clone()
        }
    }
}

/// `expect:`.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Expect {
    Linearizable,
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

/// Which nodes (or links) a fault hits. Resolved at run time.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// One random node.
    One,
    /// The leader (of a random shard when sharded).
    Leader,
    /// The leader of shard N (`leader of shard N`).
    ShardLeader(u32),
    /// The leader of every shard.
    Leaders,
    /// A random majority of the nodes.
    Majority,
    /// A random minority (at least one node).
    Minority,
    All,
    /// Node by id (`n2` or `2`).
    Node(u32),
    // Partition shapes:
    /// Random halves: a majority side and a minority side.
    MajorityMinority,
    /// The leader alone on one side.
    IsolateLeader,
    /// Two halves joined by one node that sees both.
    Bridge,
    /// Each node sees only its ring neighbours.
    Ring,
    /// Random split into two non-empty sides.
    RandomHalves,
}

impl Target {
    pub fn parse(s: &str) -> Option<Target> {
        Some(match s {
            "one" | "random" => Target::One,
            "leader" => Target::Leader,
            "leaders" => Target::Leaders,
            "majority" => Target::Majority,
            "minority" => Target::Minority,
            "all" => Target::All,
            "majority-minority" => Target::MajorityMinority,
            "isolate-leader" => Target::IsolateLeader,
            "bridge" => Target::Bridge,
            "ring" => Target::Ring,
            "random-halves" => Target::RandomHalves,
            other if other.starts_with("leader of shard ") => {
                return other["leader of shard ".len()..]
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n| *n >= 1)
                    .map(Target::ShardLeader);
            }
            other => {
                let digits = other.strip_prefix('n').unwrap_or(other);
                return digits.parse().ok().filter(|n| *n >= 1).map(Target::Node);
            }
        })
    }
    pub fn is_partition_shape(&self) -> bool {
        matches!(
            self,
            Target::MajorityMinority
                | Target::IsolateLeader
                | Target::Bridge
                | Target::Ring
                | Target::RandomHalves
        ) || self.is_node_set()
    }
    pub fn is_node_set(&self) -> bool {
        matches!(
            self,
            Target::One
                | Target::Leader
                | Target::ShardLeader(_)
                | Target::Leaders
                | Target::Majority
                | Target::Minority
                | Target::All
                | Target::Node(_)
        )
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Target::One => "one",
            Target::Leader => "leader",
            Target::Majority => "majority",
            Target::Minority => "minority",
            Target::All => "all",
            Target::Node(n) => return write!(f, "n{n}"),
            Target::ShardLeader(n) => return write!(f, "leader of shard {n}"),
            Target::Leaders => "leaders",
            Target::MajorityMinority => "majority-minority",
            Target::IsolateLeader => "isolate-leader",
            Target::Bridge => "bridge",
            Target::Ring => "ring",
            Target::RandomHalves => "random-halves",
        };
        f.write_str(s)
    }
}

impl Serialize for Target {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Target, D::Error> {
        let s = String::deserialize(d)?;
        Target::parse(&s).ok_or_else(|| {
            de::Error::custom(format!(
                "unknown target {s:?}: expected one, leader, leaders, leader of shard N, majority, minority, all, n<ID>, \
                 majority-minority, isolate-leader, bridge, ring or random-halves"
            ))
        })
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

/// Node config keys the harness sets itself (not allowed under `node:`).
pub const RESERVED_NODE_KEYS: &[&str] = &["node-id", "data-dir", "bind", "port", "cluster"];

/// The `node:` key that becomes `sdr-node --unsafe-test-faults A,B` (a command-line
/// flag only: the node refuses it in its config file).
pub const UNSAFE_TEST_FAULTS: &str = "unsafe-test-faults";

impl Scenario {
    /// Parses and validates YAML text; `origin` names the file in messages.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
        let sc: Scenario = serde_saphyr::from_str(text).map_err(|e| {
            let loc = e.location();
            ScenarioError::Parse {
                origin: origin.to_string(),
                line: loc.map(|l| l.line()),
                column: loc.map(|l| l.column()),
                message: e.to_string(),
            }
        })?;
        sc.validate(origin)?;
        Ok(sc)
    }

    /// Reads, parses and validates a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Scenario::from_yaml(&text, &path.display().to_string())
    }

    /// The scenario as YAML (what the runner saves as `scenario.yaml`).
    pub fn to_yaml(&self) -> Result<String, ScenarioError> {
        serde_saphyr::to_string(self).map_err(|e| ScenarioError::Invalid {
            origin: self.name.clone(),
            key: "(serialize)".into(),
            message: e.to_string(),
        })
    }

    /// The planted bugs to enable (`node: {unsafe-test-faults: [..]}`), as given.
    pub fn unsafe_test_faults(&self) -> Vec<String> {
        match self.node.get(UNSAFE_TEST_FAULTS) {
            None => vec![],
            Some(Scalar::List(v)) => v.clone(),
            Some(other) => other
                .to_string()
                .split(',')
                .map(|x| x.trim().to_string())
                .collect(),
        }
    }

    /// Node options for the config files (without the command-line-only ones).
    pub fn node_config_options(&self) -> BTreeMap<String, Scalar> {
        self.node
            .iter()
            .filter(|(k, _)| *k != UNSAFE_TEST_FAULTS)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Semantic checks after parsing.
    pub fn validate(&self, origin: &str) -> Result<(), ScenarioError> {
        let bad = |key: &str, message: String| {
            Err(ScenarioError::Invalid {
                origin: origin.to_string(),
                key: key.to_string(),
                message,
            })
        };
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        {
            return bad(
                "name",
                format!(
                    "{:?} must be non-empty and use only [A-Za-z0-9._-]",
                    self.name
                ),
            );
        }
        let c = &self.cluster;
        if c.shards == 0 || c.shards > 8 {
            return bad(
                "cluster.shards",
                format!("{} is out of range 1..=8", c.shards),
            );
        }
        if let Some(nodes) = c.nodes {
            if !(1..=27).contains(&nodes) {
                return bad("cluster.nodes", format!("{nodes} is out of range 1..=27"));
            }
        }
        let r = c.replicas();
        if !(1..=9).contains(&r) {
            return bad("cluster.replicas", format!("{r} is out of range 1..=9"));
        }
        let n = c.total();
        if let Some(nodes) = c.nodes {
            if !(1..=27).contains(&nodes) {
                return bad("cluster.nodes", format!("{nodes} is out of range 1..=27"));
            }
            if nodes != c.shards * r {
                return bad(
                    "cluster.nodes",
                    format!("{nodes} must equal shards × replicas ({} × {r})", c.shards),
                );
            }
        }
        if c.spares > 0 && (c.shards != 1 || n < 2) {
            return bad(
                "cluster.spares",
                "spares need one shard of at least 2 nodes".into(),
            );
        }
        if n + c.spares > 27 {
            return bad(
                "cluster.spares",
                format!("{} nodes in all is more than 27", n + c.spares),
            );
        }
        for (k, v) in &self.node {
            if RESERVED_NODE_KEYS.contains(&k.as_str()) {
                return bad(
                    &format!("node.{k}"),
                    "is set by the harness for each node".into(),
                );
            }
            if k == UNSAFE_TEST_FAULTS {
                let list = self.unsafe_test_faults();
                if list.is_empty() || list.iter().any(|f| f.is_empty()) {
                    return bad(
                        &format!("node.{k}"),
                        "must be a non-empty list like [stale-reads]".into(),
                    );
                }
            } else if matches!(v, Scalar::List(_)) {
                return bad(
                    &format!("node.{k}"),
                    "must be a scalar (only unsafe-test-faults takes a list)".into(),
                );
            }
        }
        let w = &self.workload;
        if w.keys == 0 || w.keys > 100_000 {
            return bad(
                "workload.keys",
                format!("{} is out of range 1..=100000", w.keys),
            );
        }
        if w.clients == 0 || w.clients > 1000 {
            return bad(
                "workload.clients",
                format!("{} is out of range 1..=1000", w.clients),
            );
        }
        if !(w.rate.is_finite() && w.rate > 0.0) {
            return bad(
                "workload.rate",
                format!("{} must be a positive number of ops/s", w.rate),
            );
        }
        if w.op_timeout.0 < Duration::from_millis(10) {
            return bad(
                "workload.op-timeout",
                format!("{} is below the minimum of 10ms", w.op_timeout),
            );
        }
        let mut total = 0.0;
        for (op, weight) in &w.mix {
            if !w.model.ops().contains(&op.as_str()) {
                return bad(
                    &format!("workload.mix.{op}"),
                    format!(
                        "not an op of the {:?} model (allowed: {})",
                        w.model,
                        w.model.ops().join(", ")
                    ),
                );
            }
            if !(weight.is_finite() && *weight >= 0.0) {
                return bad(
                    &format!("workload.mix.{op}"),
                    format!("weight {weight} must be >= 0"),
                );
            }
            total += weight;
        }
        if !w.mix.is_empty() && total <= 0.0 {
            return bad("workload.mix", "the weights sum to 0".into());
        }
        if self.duration.0 < Duration::from_millis(100) {
            return bad(
                "duration",
                format!("{} is below the minimum of 100ms", self.duration),
            );
        }
        match &self.nemesis {
            NemesisSpec::None => {}
            NemesisSpec::Random(r) => {
                if r.every.0 < Duration::from_millis(100) {
                    return bad(
                        "nemesis.random.every",
                        format!("{} is below the minimum of 100ms", r.every),
                    );
                }
                if r.faults.is_empty() {
                    return bad("nemesis.random.faults", "is empty".into());
                }
                for f in &r.faults {
                    if !f.randomizable() {
                        return bad(
                            "nemesis.random.faults",
                            format!("{} cannot be random (use kill, pause, partition, latency, torn-wal)", f.name()),
                        );
                    }
                }
                if let Some(l) = r.lasts {
                    if l >= r.every {
                        return bad(
                            "nemesis.random.for",
                            format!("{l} must be shorter than every ({})", r.every),
                        );
                    }
                }
            }
            NemesisSpec::Schedule(steps) => {
                for (i, s) in steps.iter().enumerate() {
                    self.validate_step(origin, i, s)?;
                }
            }
        }
        Ok(())
    }

    fn validate_step(&self, origin: &str, i: usize, s: &Step) -> Result<(), ScenarioError> {
        let key = |k: &str| format!("nemesis[{i}].{k}");
        let bad = |k: &str, message: String| {
            Err(ScenarioError::Invalid {
                origin: origin.to_string(),
                key: key(k),
                message,
            })
        };
        match (s.at, s.every) {
            (Some(_), Some(_)) => return bad("at", "give either `at` or `every`, not both".into()),
            (None, None) => return bad("at", "one of `at` or `every` is required".into()),
            (Some(at), None) if at >= self.duration => {
                return bad(
                    "at",
                    format!("{at} is not before the end of the run ({})", self.duration),
                )
            }
            (None, Some(e)) if e.0 < Duration::from_millis(100) => {
                return bad("every", format!("{e} is below the minimum of 100ms"))
            }
            _ => {}
        }
        use FaultKind::*;
        let f = s.fault;
        let no = |k: &str, present: bool| -> Result<(), ScenarioError> {
            if present {
                Err(ScenarioError::Invalid {
                    origin: origin.to_string(),
                    key: key(k),
                    message: format!("does not apply to fault {}", f.name()),
                })
            } else {
                Ok(())
            }
        };
        no(
            "restart-after",
            s.restart_after.is_some() && !matches!(f, Kill | Terminate),
        )?;
        no("resume-after", s.resume_after.is_some() && f != Pause)?;
        no(
            "heal-after",
            s.heal_after.is_some() && !matches!(f, Partition | Latency),
        )?;
        no("mode", s.mode.is_some() && f != Partition)?;
        no("latency", s.latency.is_some() && f != Latency)?;
        no("tear", s.tear.is_some() && f != TornWal)?;
        no("bytes", s.bytes.is_some() && f != TornWal)?;
        no(
            "target",
            s.target.is_some() && matches!(f, Restart | Resume | Heal | RollingRestart),
        )?;
        no("cut-clients", s.cut_clients.is_some() && f != Partition)?;
        if f == AddNode && self.cluster.spares == 0 {
            return bad("fault", "add-node needs cluster.spares ≥ 1".into());
        }
        if matches!(f, AddNode | RemoveNode) && self.cluster.shards != 1 {
            return bad("fault", "membership faults need one shard".into());
        }
        if f == Latency && s.latency.is_none() {
            return bad("latency", "is required for fault latency".into());
        }
        if let Some(t) = &s.target {
            if f == Partition {
                if !t.is_partition_shape() {
                    return bad("target", format!("{t} is not a partition shape"));
                }
            } else if !t.is_node_set() {
                return bad(
                    "target",
                    format!("{t} is a partition shape; fault {} needs nodes", f.name()),
                );
            }
            let all = self.cluster.total() + self.cluster.spares;
            if let Target::Node(id) = t {
                if *id > all {
                    return bad(
                        "target",
                        format!("node {id} does not exist (cluster has {all})"),
                    );
                }
                if f == AddNode && *id <= self.cluster.total() {
                    return bad(
                        "target",
                        format!("node {id} is an initial member, not a spare"),
                    );
                }
            }
            if let Target::ShardLeader(sh) = t {
                if *sh > self.cluster.shards {
                    return bad(
                        "target",
                        format!(
                            "shard {sh} does not exist (cluster has {})",
                            self.cluster.shards
                        ),
                    );
                }
            }
            if f == AddNode && !matches!(t, Target::One | Target::Node(_)) {
                return bad(
                    "target",
                    "add-node takes `one` (a spare) or n<ID> of a spare".into(),
                );
            }
        }
        if let (Some(e), Some(after)) =
            (s.every, s.restart_after.or(s.resume_after).or(s.heal_after))
        {
            if after >= e {
                return bad(
                    "every",
                    format!("{e} must be longer than the fault lasts ({after})"),
                );
            }
        }
        if s.bytes == Some(0) {
            return bad("bytes", "must be at least 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name: partition-majority
cluster: {nodes: 5}
node: {fsync: always}
workload: {model: kv, keys: 20, clients: 10, rate: 500, mix: {read: 0.4, write: 0.3, cas: 0.2, incr: 0.1}}
duration: 60s
nemesis:
  - {at: 10s, fault: partition, target: majority-minority}
  - {at: 25s, fault: heal}
  - {every: 8s, fault: kill, target: leader, restart-after: 3s}
expect: linearizable
"#;

    #[test]
    fn parses_issue_example() {
        let s = Scenario::from_yaml(GOOD, "good.yaml").expect("parses");
        assert_eq!(s.name, "partition-majority");
        assert_eq!(s.cluster.total(), 5);
        assert_eq!(s.node.get("fsync"), Some(&Scalar::Str("always".into())));
        assert_eq!(s.workload.clients, 10);
        assert_eq!(s.workload.rate, 500.0);
        assert_eq!(s.duration, Dur(Duration::from_secs(60)));
        assert_eq!(s.expect, Expect::Linearizable);
        let NemesisSpec::Schedule(steps) = &s.nemesis else {
            panic!("schedule expected")
        };
        assert_eq!(steps.len(), 3);
        assert_eq!(steps[0].target, Some(Target::MajorityMinority));
        assert_eq!(steps[2].every, Some(Dur(Duration::from_secs(8))));
        assert_eq!(steps[2].restart_after, Some(Dur(Duration::from_secs(3))));
    }

    #[test]
    fn parses_random_nemesis_and_defaults() {
        let y = "name: r\nworkload: {model: register}\nduration: 2m\nexpect: violation\n\
                 nemesis: {random: {every: 5s, faults: [kill, pause, partition]}}\n";
        let s = Scenario::from_yaml(y, "r.yaml").expect("parses");
        assert_eq!(s.cluster.total(), 1);
        assert_eq!(s.workload.keys, 10);
        assert_eq!(s.duration.0, Duration::from_secs(120));
        let NemesisSpec::Random(r) = &s.nemesis else {
            panic!("random expected")
        };
        assert_eq!(
            r.faults,
            vec![FaultKind::Kill, FaultKind::Pause, FaultKind::Partition]
        );
        assert_eq!(r.every.0, Duration::from_secs(5));
    }

    #[test]
    fn sharded_spares_and_planted_bugs() {
        let y = "name: s\ncluster: {shards: 3, replicas: 3}\nnode: {fsync: always, unsafe-test-faults: [stale-reads, skip-fsync]}\n\
                 workload: {model: kv, pin-clients: true}\nduration: 10s\nexpect: violation\nnemesis:\n\
                 \x20 - {at: 1s, fault: kill, target: leader of shard 2, restart-after: 1s}\n\
                 \x20 - {at: 3s, fault: partition, target: leaders, cut-clients: true}\n";
        let s = Scenario::from_yaml(y, "s.yaml").expect("parses");
        assert_eq!(s.cluster.total(), 9);
        assert_eq!(s.cluster.replicas(), 3);
        assert!(s.workload.pin_clients);
        assert_eq!(
            s.unsafe_test_faults(),
            vec!["stale-reads".to_string(), "skip-fsync".to_string()]
        );
        assert!(!s.node_config_options().contains_key(UNSAFE_TEST_FAULTS));
        let NemesisSpec::Schedule(steps) = &s.nemesis else {
            panic!("schedule")
        };
        assert_eq!(steps[0].target, Some(Target::ShardLeader(2)));
        assert_eq!(steps[1].target, Some(Target::Leaders));
        let back =
            Scenario::from_yaml(&s.to_yaml().expect("yaml"), "back.yaml").expect("re-parses");
        assert_eq!(back, s);
        let y = "name: m\ncluster: {nodes: 3, spares: 2}\nworkload: {model: kv}\nduration: 10s\nexpect: linearizable\n\
                 nemesis:\n  - {at: 1s, fault: add-node}\n  - {at: 2s, fault: add-node, target: n5}\n  - {at: 3s, fault: remove-node, target: n1}\n";
        let m = Scenario::from_yaml(y, "m.yaml").expect("parses");
        assert_eq!(m.cluster.total(), 3);
        assert_eq!(m.cluster.spares, 2);
    }

    #[test]
    fn round_trips_through_yaml() {
        let mut s = Scenario::from_yaml(GOOD, "good.yaml").expect("parses");
        s.seed = Some(42);
        let y = s.to_yaml().expect("serializes");
        let back = Scenario::from_yaml(&y, "back.yaml").expect("re-parses");
        assert_eq!(back, s);
    }

    #[test]
    fn durations() {
        assert_eq!(Dur::parse("500ms").unwrap().0, Duration::from_millis(500));
        assert_eq!(Dur::parse("10s").unwrap().0, Duration::from_secs(10));
        assert_eq!(Dur::parse("2m").unwrap().0, Duration::from_secs(120));
        assert_eq!(Dur::parse("1.5s").unwrap().0, Duration::from_millis(1500));
        assert!(Dur::parse("10").unwrap_err().contains("unit is required"));
        assert!(Dur::parse("10 parsecs")
            .unwrap_err()
            .contains("unknown unit"));
        assert!(Dur::parse("s").is_err());
        assert_eq!(Dur(Duration::from_millis(1500)).to_string(), "1500ms");
        assert_eq!(Dur(Duration::from_secs(120)).to_string(), "2m");
    }

    fn parse_err(y: &str) -> ScenarioError {
        Scenario::from_yaml(y, "bad.yaml").expect_err("must be rejected")
    }

    #[test]
    fn unknown_top_level_key_has_line_and_column() {
        let y = "name: x\nworkload: {model: kv}\nduration: 1s\nexpect: linearizable\nbogus: 3\n";
        match parse_err(y) {
            ScenarioError::Parse {
                line,
                column,
                message,
                ..
            } => {
                assert_eq!(line, Some(5), "{message}");
                assert_eq!(column, Some(1), "{message}");
                assert!(message.contains("bogus"), "{message}");
            }
            e => panic!("wrong error {e}"),
        }
    }

    #[test]
    fn unknown_nested_key_has_line_and_column() {
        let y =
            "name: x\nworkload:\n  model: kv\n  clinets: 3\nduration: 1s\nexpect: linearizable\n";
        let e = parse_err(y);
        let msg = e.to_string();
        match e {
            ScenarioError::Parse { line, column, .. } => {
                assert_eq!((line, column), (Some(4), Some(3)), "{msg}");
                assert!(msg.contains("clinets"), "{msg}");
                assert!(msg.starts_with("bad.yaml:4:3:"), "{msg}");
            }
            e => panic!("wrong error {e}"),
        }
        let y = "name: x\nworkload: {model: kv}\nduration: 1s\nexpect: linearizable\nnemesis:\n  - {at: 1s, fault: kill, tagret: leader}\n";
        match parse_err(y) {
            ScenarioError::Parse { line, message, .. } => {
                assert_eq!(line, Some(6), "{message}");
                assert!(message.contains("tagret"), "{message}");
            }
            e => panic!("wrong error {e}"),
        }
        let y = "name: x\nworkload: {model: kv}\nduration: 1s\nexpect: linearizable\nnemesis:\n  random: {every: 1s, faults: [kill], evry: 2s}\n";
        match parse_err(y) {
            ScenarioError::Parse { line, message, .. } => {
                assert_eq!(line, Some(6), "{message}");
                assert!(message.contains("evry"), "{message}");
            }
            e => panic!("wrong error {e}"),
        }
    }

    #[test]
    fn bad_values_are_precise() {
        let base = |extra: &str| {
            format!(
                "name: x\nworkload: {{model: kv}}\nduration: 10s\nexpect: linearizable\n{extra}"
            )
        };
        let cases: &[(&str, &str)] = &[
            ("cluster: {nodes: 0}\n", "cluster.nodes"),
            ("cluster: {nodes: 3, shards: 2}\n", "cluster.nodes"),
            ("cluster: {shards: 9}\n", "cluster.shards"),
            ("cluster: {shards: 2, replicas: 3, spares: 1}\n", "cluster.spares"),
            ("node: {fsync: [a]}\n", "node.fsync"),
            ("node: {unsafe-test-faults: []}\n", "node.unsafe-test-faults"),
            ("cluster: {nodes: 3}\nnemesis:\n  - {at: 1s, fault: add-node}\n", "nemesis[0].fault"),
            ("cluster: {shards: 2, replicas: 3}\nnemesis:\n  - {at: 1s, fault: kill, target: leader of shard 3}\n", "nemesis[0].target"),
            ("nemesis:\n  - {at: 1s, fault: kill, cut-clients: true}\n", "nemesis[0].cut-clients"),
            ("node: {port: 1}\n", "node.port"),
            ("nemesis:\n  - {at: 20s, fault: kill}\n", "nemesis[0].at"),
            ("nemesis:\n  - {fault: kill}\n", "nemesis[0].at"),
            ("nemesis:\n  - {at: 1s, every: 2s, fault: kill}\n", "nemesis[0].at"),
            ("nemesis:\n  - {at: 1s, fault: heal, target: leader}\n", "nemesis[0].target"),
            ("nemesis:\n  - {at: 1s, fault: kill, target: ring}\n", "nemesis[0].target"),
            ("nemesis:\n  - {at: 1s, fault: kill, target: n4}\n", "nemesis[0].target"),
            ("nemesis:\n  - {at: 1s, fault: pause, restart-after: 1s}\n", "nemesis[0].restart-after"),
            ("nemesis:\n  - {every: 1s, fault: kill, restart-after: 2s}\n", "nemesis[0].every"),
            ("nemesis:\n  - {at: 1s, fault: latency}\n", "nemesis[0].latency"),
            ("nemesis: {random: {every: 1s, faults: []}}\n", "nemesis.random.faults"),
            ("nemesis: {random: {every: 1s, faults: [heal]}}\n", "nemesis.random.faults"),
        ];
        for (extra, key) in cases {
            match parse_err(&base(extra)) {
                ScenarioError::Invalid { key: k, .. } => assert_eq!(&k, key, "for {extra:?}"),
                e => panic!("for {extra:?}: wrong error {e}"),
            }
        }
        let y = "name: x\nworkload: {model: register, mix: {incr: 1}}\nduration: 10s\nexpect: linearizable\n";
        match parse_err(y) {
            ScenarioError::Invalid { key, message, .. } => {
                assert_eq!(key, "workload.mix.incr");
                assert!(message.contains("read, write, cas"), "{message}");
            }
            e => panic!("wrong error {e}"),
        }
    }

    #[test]
    fn bad_types_are_located() {
        let y = "name: x\nworkload: {model: kv}\nduration: 10\nexpect: linearizable\n";
        match parse_err(y) {
            ScenarioError::Parse { line, message, .. } => {
                assert_eq!(line, Some(3), "{message}");
                assert!(message.contains("unit is required"), "{message}");
            }
            e => panic!("wrong error {e}"),
        }
        let y = "name: x\nworkload: {model: sql}\nduration: 10s\nexpect: linearizable\n";
        assert!(matches!(
            parse_err(y),
            ScenarioError::Parse { line: Some(2), .. }
        ));
        let y = "name: x\nworkload: {model: kv}\nduration: 10s\nexpect: maybe\n";
        assert!(matches!(
            parse_err(y),
            ScenarioError::Parse { line: Some(4), .. }
        ));
        let y = "name: x\nworkload: {model: kv}\nduration: 10s\n";
        let e = parse_err(y);
        assert!(e.to_string().contains("expect"), "{e}");
    }
}
