//! Scenario files: the YAML schema of a chaos run (`docs/scenario-format.md`).
//!
//! Parsing is strict: unknown keys are errors that name the line and column
//! (serde-saphyr reports locations); semantic validation ([`Scenario::validate`])
//! runs after parsing and names the offending key path.
//!
//! - [`schema`] — the typed file: [`Scenario`] and its sections (cluster,
//!   workload, nemesis steps, expectation).
//! - [`duration`] — [`Dur`], durations written with a unit (`500ms`, `2m`).
//! - [`target`] — [`Target`], which nodes or links a fault hits.
//! - [`validate`] — the semantic checks ([`Scenario::validate`]).
//!
//! This file: loading, saving and the error type. Nothing here does I/O
//! beyond reading the file; the runner decides what a scenario means.

pub mod duration;
pub mod schema;
pub mod target;
pub mod validate;

pub use duration::{Dur, Offset, Percent};
pub use schema::{
    CheckMode, ClusterSpec, Expect, FaultKind, LinkMode, Model, NemesisSpec, NetworkKind,
    RandomSpec, ReadFrom, Scalar, Scenario, Step, SystemKind, SystemSpec, TearMode, TxnLen,
    WorkloadSpec, STREAMING_AFTER,
};
pub use target::Target;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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

/// Node config keys the harness sets itself (not allowed under `node:`).
pub const RESERVED_NODE_KEYS: &[&str] = &["node-id", "data-dir", "bind", "port", "cluster"];

/// The `node:` key that becomes `sdr-node --unsafe-test-faults A,B` (a command-line
/// flag only: the node refuses it in its config file).
pub const UNSAFE_TEST_FAULTS: &str = "unsafe-test-faults";

impl Scenario {
    /// Parses and validates YAML text; `origin` names the file in messages.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
        let mut sc: Scenario = serde_saphyr::from_str(text).map_err(|e| {
            let loc = e.location();
            ScenarioError::Parse {
                origin: origin.to_string(),
                line: loc.map(|l| l.line()),
                column: loc.map(|l| l.column()),
                message: e.to_string(),
            }
        })?;
        sc.validate(origin)?;
        if sc.workload.model.is_txn() && sc.cluster.shards > 1 && sc.workload.txn_groups.is_none() {
            // Spread transactions over every shard (docs/scenario-format.md, `txn-groups`).
            sc.workload.txn_groups = Some(4 * sc.cluster.shards);
        }
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

    /// The fault kinds the scenario's nemesis can use.
    pub fn fault_kinds(&self) -> Vec<FaultKind> {
        match &self.nemesis {
            NemesisSpec::None => vec![],
            NemesisSpec::Schedule(v) => v.iter().map(|s| s.fault).collect(),
            NemesisSpec::Random(r) => r.faults.clone(),
        }
    }

    /// Whether nodes must start under libfaketime (a clock fault is scheduled).
    pub fn uses_clock_faults(&self) -> bool {
        self.fault_kinds()
            .iter()
            .any(|k| matches!(k, FaultKind::ClockSkew | FaultKind::ClockBump))
    }

    /// The network backend the scenario needs, and why (for `validate`'s report):
    /// `netns` when it asks for it or uses `netem`, else `proxy`.
    pub fn needed_backend(&self) -> (NetworkKind, &'static str) {
        if self.fault_kinds().contains(&FaultKind::Netem) {
            (
                NetworkKind::Netns,
                "netem faults need network namespaces (root)",
            )
        } else if self.network == NetworkKind::Netns {
            (NetworkKind::Netns, "network: netns (root)")
        } else {
            (NetworkKind::Proxy, "link proxies (no root needed)")
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
        assert_eq!(s.workload.keys(), 10);
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
        let txn = |w: &str, rest: &str| {
            format!("name: x\n{rest}workload: {{{w}}}\nduration: 10s\nexpect: valid\n")
        };
        let txn_cases: &[(String, &str, &str)] = &[
            (
                txn("model: list-append, mix: {rpush: 1}", ""),
                "workload.mix.rpush",
                "append, r",
            ),
            (
                txn("model: rw-register, mix: {append: 1}", ""),
                "workload.mix.append",
                "w, r",
            ),
            (
                txn("model: list-append, txn-len: 0", ""),
                "workload.txn-len",
                "1..=16",
            ),
            (
                txn("model: list-append, txn-len: \"3..2\"", ""),
                "workload.txn-len",
                "min",
            ),
            (
                txn("model: list-append, txn-len: 17", ""),
                "workload.txn-len",
                "1..=16",
            ),
            (
                txn("model: kv, txn-len: 2", ""),
                "workload.txn-len",
                "list-append",
            ),
            (
                txn("model: register, txn-groups: 2", ""),
                "workload.txn-groups",
                "list-append",
            ),
            (
                txn("model: list-append, txn-groups: 0", ""),
                "workload.txn-groups",
                "1..=64",
            ),
            (
                txn("model: list-append, pin-clients: true, ops-per-key: 0", ""),
                "workload.ops-per-key",
                "grow",
            ),
            (
                "name: x\nworkload: {model: list-append}\nduration: 10s\nexpect: linearizable\n"
                    .into(),
                "expect",
                "valid",
            ),
            (
                "name: x\nworkload: {model: kv}\nduration: 10s\nexpect: valid\n".into(),
                "expect",
                "linearizable",
            ),
        ];
        for (y, want_key, want_msg) in txn_cases {
            match parse_err(y) {
                ScenarioError::Invalid { key, message, .. } => {
                    assert_eq!(&key, want_key, "{y}");
                    assert!(message.contains(want_msg), "{y}: {message}");
                }
                e => panic!("{y}: wrong error {e}"),
            }
        }
        match parse_err(y) {
            ScenarioError::Invalid { key, message, .. } => {
                assert_eq!(key, "workload.mix.incr");
                assert!(message.contains("read, write, cas"), "{message}");
            }
            e => panic!("wrong error {e}"),
        }
    }

    #[test]
    fn transactional_workloads_and_defaults() {
        let y = "name: t\nworkload: {model: list-append}\nduration: 5s\nexpect: valid\n";
        let s = Scenario::from_yaml(y, "t.yaml").expect("parses");
        let w = &s.workload;
        assert!(w.model.is_txn() && w.model.checker_kind().is_none());
        assert_eq!((w.keys(), w.ops_per_key(), w.txn_groups()), (6, 64, 1));
        assert_eq!(w.txn_len(), TxnLen { min: 1, max: 4 });
        assert_eq!(w.effective_mix().get("append"), Some(&0.5));
        let y = "name: t\ncluster: {shards: 2}\nworkload: {model: rw-register, keys: 3, txn-len: \"2..3\", ops-per-key: 9}\nduration: 5s\nexpect: violation\n";
        let s = Scenario::from_yaml(y, "t.yaml").expect("parses");
        let w = &s.workload;
        assert_eq!((w.keys(), w.ops_per_key(), w.txn_groups()), (3, 9, 8));
        assert_eq!(w.txn_len(), TxnLen { min: 2, max: 3 });
        // The saved copy parses back to the same scenario (txn-len as written).
        let again = Scenario::from_yaml(&s.to_yaml().expect("yaml"), "again").expect("parses");
        assert_eq!(again, s);
        let y =
            "name: t\nworkload: {model: rw-register, txn-len: 2}\nduration: 5s\nexpect: valid\n";
        let s = Scenario::from_yaml(y, "t.yaml").expect("parses");
        assert_eq!(s.workload.txn_len(), TxnLen { min: 2, max: 2 });
        // Non-transactional defaults are unchanged.
        let y = "name: t\nworkload: {model: kv}\nduration: 5s\nexpect: linearizable\n";
        let w = Scenario::from_yaml(y, "t.yaml").expect("parses").workload;
        assert_eq!((w.keys(), w.ops_per_key()), (10, 300));
    }

    #[test]
    fn check_mode_resolves_and_refuses_what_cannot_stream() {
        let base = |extra: &str, dur: &str| {
            format!("name: t\nworkload: {{model: register{extra}}}\nduration: {dur}\nexpect: linearizable\n")
        };
        let s = Scenario::from_yaml(&base("", "10s"), "t.yaml").expect("parses");
        assert_eq!(s.check, CheckMode::Auto);
        assert!(!s.streaming(), "short runs check at the end");
        assert!(Scenario::from_yaml(&base("", "10m"), "t.yaml")
            .expect("parses")
            .streaming());
        let y = base("", "10s") + "check: streaming\n";
        assert!(Scenario::from_yaml(&y, "t.yaml")
            .expect("parses")
            .streaming());
        let y = base("", "2h") + "check: end\n";
        assert!(!Scenario::from_yaml(&y, "t.yaml")
            .expect("parses")
            .streaming());
        // Keys that never retire cannot be closed; `auto` falls back, `streaming` is refused.
        assert!(
            !Scenario::from_yaml(&base(", ops-per-key: 0", "1h"), "t.yaml")
                .expect("parses")
                .streaming()
        );
        let y = base(", ops-per-key: 0", "10s") + "check: streaming\n";
        assert!(
            parse_err(&y).to_string().contains("ops-per-key: 0"),
            "{}",
            parse_err(&y)
        );
        let y = "name: t\nworkload: {model: list-append}\nduration: 5s\ncheck: streaming\nexpect: valid\n";
        assert!(
            parse_err(y).to_string().contains("transactional"),
            "{}",
            parse_err(y)
        );
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

    #[test]
    fn network_faults_and_clock_faults_are_validated() {
        let base = "name: x\ncluster: {nodes: 3}\nworkload: {model: kv}\nduration: 10s\nexpect: linearizable\n";
        let with = |extra: &str| format!("{base}{extra}");
        let invalid = |y: &str| match parse_err(y) {
            ScenarioError::Invalid { key, message, .. } => (key, message),
            e => panic!("wrong error {e}"),
        };
        // netem on the proxy backend: refused, naming the key and the backend it needs.
        let (key, msg) = invalid(&with(
            "nemesis:\n  - {at: 1s, fault: netem, target: leader, loss: 10%}\n",
        ));
        assert_eq!(key, "nemesis[0].fault");
        assert!(msg.contains("network: netns"), "{msg}");
        let ok = Scenario::from_yaml(
            &with("network: netns\nnemesis:\n  - {at: 1s, fault: netem, target: leader, loss: 10%, delay: 50ms, jitter: 20ms, duplicate: 1%, reorder: 5%, heal-after: 3s}\n"),
            "ok.yaml",
        )
        .expect("netem with netns is valid");
        assert_eq!(ok.needed_backend().0, NetworkKind::Netns);
        let e = parse_err(&with(
            "network: netns\nnemesis:\n  - {at: 1s, fault: netem, target: leader, loss: 200%}\n",
        ));
        assert!(e.to_string().contains("200% is not within"), "{e}");
        let (key, _) = invalid(&with(
            "network: netns\nnemesis:\n  - {at: 1s, fault: netem, target: leader, loss: 1%, jitter: 5ms}\n",
        ));
        assert_eq!(key, "nemesis[0].jitter");
        let (key, msg) = invalid(&with(
            "network: netns\nnemesis:\n  - {at: 1s, fault: latency, target: one, latency: 50ms}\n",
        ));
        assert_eq!(key, "nemesis[0].fault");
        assert!(msg.contains("netem"), "{msg}");
        let (key, _) = invalid(&with(
            "nemesis:\n  - {at: 1s, fault: kill, target: one, loss: 5%}\n",
        ));
        assert_eq!(key, "nemesis[0].loss");
        // Clock faults: an offset is required; only system: sdr.
        let (key, _) = invalid(&with(
            "nemesis:\n  - {at: 1s, fault: clock-bump, target: one}\n",
        ));
        assert_eq!(key, "nemesis[0].offset");
        let sc = Scenario::from_yaml(
            &with("nemesis:\n  - {at: 1s, fault: clock-skew, target: one, offset: -90s, heal-after: 2s}\n"),
            "ok.yaml",
        )
        .expect("clock-skew is valid");
        assert!(sc.uses_clock_faults());
        assert_eq!(sc.needed_backend().0, NetworkKind::Proxy);
        let (key, _) = invalid(&with(
            "nemesis:\n  - {at: 1s, fault: clock-bump, target: one, offset: +1s, heal-after: 2s}\n",
        ));
        assert_eq!(key, "nemesis[0].heal-after");
    }
}
