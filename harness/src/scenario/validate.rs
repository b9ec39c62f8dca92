//! Semantic checks of a parsed scenario; each error names the key path.

use super::{
    CheckMode, FaultKind, NemesisSpec, NetworkKind, ReadFrom, Scalar, Scenario, ScenarioError,
    Step, SystemKind, Target, RESERVED_NODE_KEYS, UNSAFE_TEST_FAULTS,
};

/// `redis.conf` directives the Redis adapters set themselves (plus every `cluster-*`).
const REDIS_RESERVED: &[&str] = &[
    "bind",
    "bind-source-addr",
    "port",
    "dir",
    "daemonize",
    "protected-mode",
    "replicaof",
    "slaveof",
    "replica-announce-ip",
    "replica-announce-port",
    "slave-announce-ip",
    "slave-announce-port",
    "min-replicas-to-write",
];
use std::time::Duration;

impl Scenario {
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
        self.validate_system(origin)?;
        if self.check == CheckMode::Streaming {
            if self.workload.model.is_txn() {
                return bad(
                    "check",
                    "streaming checks independent keys one by one; a transactional model's \
                     transactions span keys (use check: end)"
                        .into(),
                );
            }
            if self.workload.ops_per_key() == 0 {
                return bad(
                    "check",
                    "streaming checks each key once it has retired; with ops-per-key: 0 keys \
                     never retire (set ops-per-key, or use check: end)"
                        .into(),
                );
            }
        }
        if self.network == NetworkKind::Netns && self.system.kind != SystemKind::Sdr {
            return bad(
                "network",
                format!(
                    "netns is implemented for system: sdr only (system {} runs on link proxies)",
                    self.system.kind.name()
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
        if w.keys() == 0 || w.keys() > 100_000 {
            return bad(
                "workload.keys",
                format!("{} is out of range 1..=100000", w.keys()),
            );
        }
        self.validate_txn(origin)?;
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

    /// `system:` and the combinations an external system cannot run: each error names the
    /// field and the system.
    fn validate_system(&self, origin: &str) -> Result<(), ScenarioError> {
        let bad = |key: &str, message: String| {
            Err(ScenarioError::Invalid {
                origin: origin.to_string(),
                key: key.to_string(),
                message,
            })
        };
        let sys = &self.system;
        let k = sys.kind;
        let name = k.name();
        // Which options apply to which systems.
        let redis = k.is_redis();
        let options: [(&str, bool, bool); 14] = [
            (
                "min-replicas-to-write",
                sys.min_replicas_to_write.is_some(),
                redis,
            ),
            ("wait", sys.wait.is_some(), redis),
            (
                "wait-timeout",
                sys.wait_timeout.is_some(),
                redis && sys.wait.is_some(),
            ),
            (
                "read-from",
                sys.read_from.is_some(),
                k == SystemKind::RedisSentinel
                    || (k != SystemKind::Sdr && sys.read_from() == ReadFrom::Primary),
            ),
            (
                "down-after",
                sys.down_after.is_some(),
                k == SystemKind::RedisSentinel,
            ),
            (
                "failover-timeout",
                sys.failover_timeout.is_some(),
                k == SystemKind::RedisSentinel,
            ),
            (
                "node-timeout",
                sys.node_timeout.is_some(),
                k == SystemKind::RedisCluster,
            ),
            ("server", sys.server.is_some(), redis),
            ("start", sys.start.is_some(), k == SystemKind::Command),
            ("stop", sys.stop.is_some(), k == SystemKind::Command),
            ("kill", sys.kill.is_some(), k == SystemKind::Command),
            ("pause", sys.pause.is_some(), k == SystemKind::Command),
            ("resume", sys.resume.is_some(), k == SystemKind::Command),
            ("leader", sys.leader.is_some(), k == SystemKind::Command),
        ];
        for (field, given, applies) in options {
            if given && !applies {
                let why = if field == "read-from" && k == SystemKind::RedisCluster {
                    "replica reads are not supported by the redis-cluster adapter (clients would need the slot map)".to_string()
                } else if field == "wait-timeout" && redis {
                    "only applies with `wait`".to_string()
                } else {
                    format!("does not apply to system {name}")
                };
                return bad(&format!("system.{field}"), why);
            }
        }
        if k == SystemKind::Sdr {
            return Ok(());
        }
        let c = &self.cluster;
        if c.spares > 0 {
            return bad(
                "cluster.spares",
                format!("spares (membership changes) exist only for system sdr, not {name}"),
            );
        }
        if !self.unsafe_test_faults().is_empty() {
            return bad(
                &format!("node.{UNSAFE_TEST_FAULTS}"),
                format!("planted bugs exist only in sdr-node, not in system {name}"),
            );
        }
        let members = c.replicas();
        match k {
            SystemKind::RedisSentinel => {
                if c.shards != 1 {
                    return bad(
                        "cluster.shards",
                        "system redis-sentinel has one primary (use system redis-cluster for shards)".into(),
                    );
                }
                if !(3..=9).contains(&c.total()) {
                    return bad(
                        "cluster.nodes",
                        format!("{}: system redis-sentinel needs 3..=9 servers (one primary, the rest replicas; Sentinels run on n1..n3)", c.total()),
                    );
                }
            }
            SystemKind::RedisCluster => {
                if !(3..=8).contains(&c.shards) {
                    return bad(
                        "cluster.shards",
                        format!("{}: system redis-cluster needs 3..=8 primaries (redis-cli --cluster create)", c.shards),
                    );
                }
                if !(2..=3).contains(&members) {
                    return bad(
                        "cluster.replicas",
                        format!("{members}: system redis-cluster takes 2 or 3 members per shard (a primary and 1–2 replicas)"),
                    );
                }
            }
            SystemKind::Command => {
                if c.shards != 1 {
                    return bad(
                        "cluster.shards",
                        "system command runs one group of nodes".into(),
                    );
                }
                if sys.start.as_deref().is_none_or(|s| s.trim().is_empty()) {
                    return bad(
                        "system.start",
                        "is required for system command (e.g. \"redis-server --port {port} --bind {ip}\")".into(),
                    );
                }
                if !self.node.is_empty() {
                    return bad(
                        "node",
                        "system command writes no config file: put options in system.start".into(),
                    );
                }
            }
            SystemKind::Sdr => {}
        }
        if let Some(w) = sys.wait {
            let replicas = if k == SystemKind::RedisCluster {
                members - 1
            } else {
                c.total() - 1
            };
            if w == 0 || w > replicas {
                return bad(
                    "system.wait",
                    format!(
                        "{w}: must be 1..={replicas} (the replicas of a primary in system {name})"
                    ),
                );
            }
        }
        if let Some(m) = sys.min_replicas_to_write {
            let replicas = if k == SystemKind::RedisCluster {
                members - 1
            } else {
                c.total() - 1
            };
            if m > replicas {
                return bad(
                    "system.min-replicas-to-write",
                    format!("{m}: a primary of system {name} has only {replicas} replicas"),
                );
            }
        }
        for key in self.node.keys() {
            if REDIS_RESERVED.contains(&key.as_str()) || key.starts_with("cluster-") {
                return bad(
                    &format!("node.{key}"),
                    format!("is set by the harness for every server of system {name}"),
                );
            }
        }
        let refuse = |f: FaultKind| -> Option<String> {
            match f {
                FaultKind::TornWal => Some(format!(
                    "disk faults need sdr-node's WAL; system {name} is not supported"
                )),
                FaultKind::AddNode | FaultKind::RemoveNode => Some(format!(
                    "membership changes use sdr-node admin; system {name} is not supported"
                )),
                _ => None,
            }
        };
        match &self.nemesis {
            NemesisSpec::None => {}
            NemesisSpec::Random(r) => {
                for f in &r.faults {
                    if let Some(m) = refuse(*f) {
                        return bad("nemesis.random.faults", format!("{}: {m}", f.name()));
                    }
                }
            }
            NemesisSpec::Schedule(steps) => {
                for (i, st) in steps.iter().enumerate() {
                    if let Some(m) = refuse(st.fault) {
                        return bad(
                            &format!("nemesis[{i}].fault"),
                            format!("{}: {m}", st.fault.name()),
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// The transactional models' options, and the expectation that fits the model.
    fn validate_txn(&self, origin: &str) -> Result<(), ScenarioError> {
        let bad = |key: &str, message: String| {
            Err(ScenarioError::Invalid {
                origin: origin.to_string(),
                key: key.to_string(),
                message,
            })
        };
        let w = &self.workload;
        let m = w.model;
        if !m.is_txn() {
            if w.txn_len.is_some() {
                return bad(
                    "workload.txn-len",
                    format!(
                        "only applies to the transactional models list-append and rw-register, not {}",
                        m.name()
                    ),
                );
            }
            if w.txn_groups.is_some() {
                return bad(
                    "workload.txn-groups",
                    format!(
                        "only applies to the transactional models list-append and rw-register, not {}",
                        m.name()
                    ),
                );
            }
            if self.expect == super::Expect::Valid {
                return bad(
                    "expect",
                    format!(
                        "`valid` is for the transactional models; {} expects linearizable or violation",
                        m.name()
                    ),
                );
            }
            return Ok(());
        }
        if self.expect == super::Expect::Linearizable {
            return bad(
                "expect",
                format!(
                    "{} histories are checked for transactional anomalies: expect valid or violation",
                    m.name()
                ),
            );
        }
        let l = w.txn_len();
        if !(1..=16).contains(&l.min) || !(1..=16).contains(&l.max) {
            return bad(
                "workload.txn-len",
                format!("{l}: micro-ops per transaction must be in 1..=16"),
            );
        }
        if l.min > l.max {
            return bad("workload.txn-len", format!("{l}: min is larger than max"));
        }
        if !(1..=64).contains(&w.txn_groups()) || w.txn_groups == Some(0) {
            return bad(
                "workload.txn-groups",
                format!("{} is out of range 1..=64", w.txn_groups.unwrap_or(0)),
            );
        }
        if m == super::Model::ListAppend && w.ops_per_key() == 0 {
            return bad(
                "workload.ops-per-key",
                "0 lets every list grow for the whole run (each read returns all of it): bound it, e.g. 64".into(),
            );
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
        no("mode", s.mode.is_some() && f != Partition)?;
        no("latency", s.latency.is_some() && f != Latency)?;
        no("tear", s.tear.is_some() && f != TornWal)?;
        no("bytes", s.bytes.is_some() && f != TornWal)?;
        no(
            "target",
            s.target.is_some() && matches!(f, Restart | Resume | Heal | RollingRestart),
        )?;
        no("cut-clients", s.cut_clients.is_some() && f != Partition)?;
        no("loss", s.loss.is_some() && f != Netem)?;
        no("delay", s.delay.is_some() && f != Netem)?;
        no("jitter", s.jitter.is_some() && f != Netem)?;
        no("duplicate", s.duplicate.is_some() && f != Netem)?;
        no("reorder", s.reorder.is_some() && f != Netem)?;
        no(
            "offset",
            s.offset.is_some() && !matches!(f, ClockSkew | ClockBump),
        )?;
        no(
            "heal-after",
            s.heal_after.is_some() && !matches!(f, Partition | Latency | Netem | ClockSkew),
        )?;
        if f == Netem {
            if self.network != NetworkKind::Netns {
                return bad(
                    "fault",
                    "netem needs `network: netns` (tc netem on the nodes' interfaces; root): \
                     the proxy backend cannot drop, delay or reorder packets inside a connection"
                        .into(),
                );
            }
            if s.loss.is_none() && s.delay.is_none() && s.duplicate.is_none() && s.reorder.is_none()
            {
                return bad(
                    "fault",
                    "netem needs at least one of loss, delay, duplicate, reorder".into(),
                );
            }
            if s.jitter.is_some() && s.delay.is_none() {
                return bad("jitter", "needs `delay` (jitter is ± around it)".into());
            }
        }
        if f == Latency && self.network == NetworkKind::Netns {
            return bad(
                "fault",
                "latency is a proxy fault; with `network: netns` use `fault: netem` with `delay`"
                    .into(),
            );
        }
        if matches!(f, ClockSkew | ClockBump) {
            if self.system.kind != SystemKind::Sdr {
                return bad(
                    "fault",
                    format!(
                        "{} needs system: sdr (nodes started under libfaketime); system {} cannot apply it",
                        f.name(),
                        self.system.kind.name()
                    ),
                );
            }
            if s.offset.is_none() {
                return bad("offset", format!("is required for fault {}", f.name()));
            }
        }
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
